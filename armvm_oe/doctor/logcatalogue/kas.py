"""TODO"""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S

PATTERNS = (
    P("log.kas-container-root", "kas-container was run as root", "error", 3,
      r"Running as root - may break certain recipes",
      "kas-container refuses to start its build as root (you ran it with sudo, usually "
      "because your user may not use the Docker socket)",
      "Give your user Docker access instead of using sudo: sudo usermod -aG docker $USER, "
      "then log out and in (or newgrp docker), and run kas-container as yourself; "
      "KAS_ALLOW_ROOT=yes only hides the problem",
      "Error: Running as root - may break certain recipes.\nBetter give a regular user docker "
      "access. Set KAS_ALLOW_ROOT=yes to override.", ("Running as root",),
      check="host.root", phase="setup"),
    P("log.kas-dirty", "kas skipped a dirty repo", "warn", 3,
      r"Repo (?P<repo>\S+) is dirty - no (?P<what>checkout|patching)",
      "repo {repo} has local changes, so kas did no {what}: the build goes on with whatever "
      "is checked out, not the pinned revision",
      "Commit or stash the changes in {repo}, or kas checkout --force-checkout (discards "
      "them)", "WARNING - Repo poky is dirty - no checkout", ("is dirty - no",),
      check="checkout.dirty", phase="setup"),
    P("log.kas-version", "the kas config needs a newer kas", "error", 3,
      r"This version of kas is compatible with version (?P<lo>\d+) to (?P<hi>\d+), file has "
      r"version (?P<v>\d+)",
      "the configuration uses format version {v}, the installed kas reads {lo} to {hi}",
      "Install the kas pinned by armvm-oe (pip install -e .)",
      "kas.includehandler.IncludeException: This version of kas is compatible with version 1 "
      "to 19, file has version 23", ("This version of kas is compatible",),
      check="kas.header-version", phase="setup"),
    P("log.kas-invalid", "the kas config is invalid", "error", 3,
      r"Config file validation Error:?\s*(?P<detail>.*)|Configuration file is not valid YAML|"
      r"Error\(s\) occured while validating the config file",
      "the kas configuration does not match kas's schema or is not YAML{detail}",
      "Fix the key kas names (or an empty/wrong file); 'armvm-oe doctor CONFIG' shows the "
      "key and line", "ERROR - Config file validation Error:\n'repo' is a required property",
      ("Config file validation Error", "not valid YAML", "while validating the config"),
      check="kas.schema", phase="setup",
      fields=lambda g, c: {"detail": f": {g['detail'].strip()}" if (g.get("detail") or
                                                                    "").strip() else ""}),
    P("log.kas-unknown-repo", "a kas patch or layer names a repo that is not defined", "error",
      3, r"Could not find referenced repo\. \(missing repo: (?P<repo>[^,]+), repo: "
      r"(?P<in>[^,]+)",
      "the kas config refers to repo '{repo}' (in repo '{in}'), but no repos: entry has that "
      "name (a typo, or the include that defines it is missing)",
      "Define repos: {repo}: in the config (or fix the name)",
      "ERROR - Could not find referenced repo. (missing repo: my-patches, repo: poky, patch "
      "entry: fix)", ("Could not find referenced repo",), phase="setup"),
    P("log.kas-no-init-env", "no repo of the kas config has oe-init-build-env", "error", 3,
      r"Did not find any init-build-env script|Multiple init scripts found",
      "kas found no oe-init-build-env in the checked-out repos: poky/openembedded-core is "
      "missing from repos:, its clone failed, or its path: is wrong (or two repos have one)",
      "Add the core repo (poky, or openembedded-core with bitbake) to repos: in the kas "
      "config, and check the first error of its clone above",
      "ERROR - Did not find any init-build-env script", ("init-build-env script",
                                                          "Multiple init scripts"),
      check="checkout.repo-missing", phase="setup"),
    P("log.kas-patch", "kas could not apply a patch", "error", 3,
      r"Could not apply patch\.?|Could not find patch\. \(patch path: (?P<path>[^,]+)|"
      r"patch does not apply|error: patch failed: (?P<file>\S+)|apply_patches_async|"
      r"PatchApplyError|PatchFileNotFound",
      "a patch from the kas config does not apply to the checked-out revision{where} (the "
      "patch is for another revision, was already applied, or its file/series is wrong)",
      "Rebase the patch onto the pinned revision (git -C <repo> apply --check <patch>), or "
      "pin the revision it was made for; a repo left half-patched needs git checkout . first",
      "ERROR - Could not apply patch. Please fix repos and patches:",
      ("Could not apply patch", "Could not find patch", "patch does not apply",
       "patch failed:", "apply_patches", "PatchApplyError", "PatchFileNotFound"),
      phase="setup",
      fields=lambda g, c: {"where": f" ({g.get('path') or g.get('file')})"
                           if (g.get("path") or g.get("file")) else ""}),
)

"""kas (5.x: kas/repos.py, includehandler.py, libkas.py, kasusererror.py)
and kas-container (the shell script): kas prints every KasUserError as
``<time> - ERROR    - <message>``, kas-container as
``kas-container: Error: <message>``. :data:`EXCEPTIONS` says which family
each KasUserError class is."""

from __future__ import annotations

import re

from armvm_oe.doctor.logcatalogue._base import P, S, attach
from armvm_oe.doctor.logcatalogue.bitbake_fetch2 import f_ref

PATTERNS = (
    P("log.remote-ref-missing.kas", "a branch, tag or pinned commit is missing upstream",
      "error", 3,
      r"Branch \"(?P<kref>[^\"]+)\" cannot be found in repository \"(?P<repo>[^\"]+)\"|"
      r"Tag \"(?P<ktag>[^\"]+)\" cannot be found in repository \"(?P<repo2>[^\"]+)\"|"
      r"Branch \"(?P<branch>[^\"]+)\" in repository \"(?P<repo3>[^\"]+)\" does not contain "
      r"commit \"(?P<rev>[^\"]+)\"",
      "the remote has no {what}: {hint}",
      "Fix the repo's branch/tag/commit in the kas config (or its lock file) so the commit is "
      "on the branch upstream, or update the lock (kas lock)",
      "ERROR    - Branch \"main\" in repository \"meta-x\" does not contain commit "
      "\"0123456789abcdef0123456789abcdef01234567\"",
      # kas's messages are long and get wrapped: two disjoint keys per message,
      # so a line break anywhere leaves one whole
      ("cannot be found", "in repository \"", "\" does not contain"),
      family="log.remote-ref-missing", fields=f_ref, phase="setup"),
    P("log.kas-ref", "a kas repo's refs are contradictory or missing", "error", 3,
      r"Both tag \"[^\"]*\" and branch \"[^\"]*\" cannot be specified|No commit, tag or branch "
      r"specified for repository|Provided tag \"[^\"]*\" \(\"[^\"]*\"\) does not match provided "
      r"commit|Unsupported mixture of legacy refspec|Could not compute diff for repository|Parsed commit \S+ differs suspiciously|"
      r"Repository \S+ is not signed with a trusted key",
      "the kas config gives repo refs kas refuses: {line}",
      "Give each repo one consistent pin: commit (plus branch), or tag (plus its commit); "
      "regenerate the lock file (kas lock) after changing them",
      "ERROR    - No commit, tag or branch specified for repository \"meta-x\". This is only "
      "allowed for local repositories.", ("cannot be specified", "No commit, tag or branch",
                                           "does not match provided commit",
                                           "legacy refspec", "differs suspiciously",
                                           "Could not compute diff",
                                           "signed with a trusted key"), phase="setup",
      fields=lambda g, c: {"line": c.model.lines[c.idx].text if c else ""}),
    P("log.kas-include", "a kas include is missing", "error", 3,
      r"Could not fetch all repos needed by includes\. Missing repos: (?P<repos>.+)|"
      r"Configuration file not found: (?P<file>\S+)|configuration file '(?P<file2>[^']+)' not "
      r"found|include (?P<inc>\S+) resolves outside repository|Include references unknown "
      r"repo: (?P<repos2>\S+)|No such file or directory: '(?P<file3>[^']+\.ya?ml)'",
      "{what}", "{how}",
      "ERROR    - Could not fetch all repos needed by includes. Missing repos: meta-foo",
      ("needed by includes", "Configuration file not found", "not found",
       "resolves outside repository", "Include references unknown repo", ".yml'", ".yaml'"), check="kas.config-missing", phase="setup",
      fields=lambda g, c: (
          {"what": f"an includes: entry names repo(s) {(g.get('repos') or g['repos2']).strip()} "
                   "that no repos: "
                   "entry of the configuration defines (a typo, or the file that defines it is "
                   "not included)",
           "how": "Define the repo under repos: (with url and commit/branch) in the top "
                  "configuration, or fix the repo: name in includes:"}
          if (g.get("repos") or g.get("repos2")) else
          {"what": "an included kas file does not exist: "
                   f"{g.get('file') or g.get('file2') or g.get('file3')} "
                   "(a typo in includes:, a path relative to the wrong repo, or the file is on "
                   "another branch of that repo)",
           "how": "Fix the path in includes: (paths are relative to the including file's "
                  "repo) or check out the branch that has it"}
          if (g.get("file") or g.get("file2") or g.get("file3")) else
          {"what": f"include {g.get('inc')} points outside its repository",
           "how": "Use a repo-relative path inside the repository"})),
    P("log.kas-fetch", "kas could not fetch a repository", "error", 2,
      r"Fetching of repo: \"(?P<repo>[^\"]+)\" failed(?:: (?P<out>.*))?",
      "kas could not fetch repo {repo}{reason}",
      "Fix what git says (see the line above/below: URL, network, proxy, credentials), then "
      "run kas again", "ERROR    - Fetching of repo: \"meta-x\" failed: error: Server does not "
      "allow request for unadvertised object 0123abcd",
      ("Fetching of repo",), check="checkout.remote-unreachable", phase="setup",
      fields=lambda g, c: {"reason": f": {g['out'].strip()}" if (g.get("out") or "").strip()
                           else (f": {c.nearby_error()}" if c and c.nearby_error() else "")}),
    P("log.kas-buildtools", "kas could not install buildtools", "error", 3,
      r"Could not (?:download|run) buildtools installer|sha256sum mismatch: installer may be "
      r"corrupted|Invalid or misconfigured buildtools package",
      "kas's buildtools: step failed ({line})",
      "Check buildtools: version/base_url/sha256sum in the kas config and the network; "
      "delete the partial download in KAS_BUILDTOOLS_DIR",
      "ERROR    - sha256sum mismatch: installer may be corrupted",
      ("buildtools installer", "installer may be corrupted", "buildtools package"),
      phase="setup", fields=lambda g, c: {"line": c.model.lines[c.idx].text if c else ""}),
    P("log.kas-usage", "kas refused its command line or environment", "error", 3,
      r"(?P<msg>(?:Invalid combination of arguments|No artifact found for|Environment variable "
      r"\"[^\"]+\" is set, but the|Module \"[^\"]+\" is required for|Could not import key|"
      r"Repo type \"[^\"]+\" not supported|hg is required for Mercurial|No repo specified for "
      r"patch entry|Configuration file does not contain a dictionary|Cannot merge using "
      r"non-dict|All concatenated config files must belong|is only allowed in the top-level "
      r"kas configuration|Config file extension not recognized|\"file\" is not specified|"
      r"--preserve-env can only be run from a tty|Configuration variable \S+ uses unsupported "
      r"type|Variable \S+ must be of string type|kas-container: Error: ).*)",
      "kas stopped before doing anything: {msg}",
      "Fix the option, environment variable or config entry the message names (kas --help; "
      "the kas config reference)",
      "ERROR    - Invalid combination of arguments: --inplace requires --lock",
      ("Invalid combination of arguments", "No artifact found for", "is set, but the",
       "is required for", "Could not import key", "not supported", "hg is required",
       "No repo specified for patch", "does not contain a dictionary", "merge using non-dict",
       "concatenated config files", "only allowed in the top-level", "extension not recognized",
       "is not specified", "can only be run from a tty", "uses unsupported type",
       "must be of string type"), phase="setup"),
    P("log.kas-usage.container", "kas-container refused to start", "error", 2,
      r"kas-container: Error: (?P<msg>.*)",
      "kas-container stopped before starting the container: {msg}",
      "Fix what it names (the container engine, the variable or path it names), see "
      "kas-container --help", "kas-container: Error: Docker rootless requires read-only repo.",
      ("kas-container: Error: ",), family="log.kas-usage", phase="setup"),
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
      r"This version of kas is compatible with version (?P<lo>[\w.]+) to (?P<hi>[\w.]+), file "
      r"has version (?P<v>[\w.]+)",
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
      r"error: (?P<file2>[^:\n]+): patch does not apply|"
      r"Could not (?:add patched files|commit patch changes)|error: patch failed: (?P<file>\S+)|"
      r"apply_patches_async|"
      r"PatchApplyError|PatchFileNotFound",
      "a patch from the kas config does not apply to the checked-out revision{where} (the "
      "patch is for another revision, was already applied, or its file/series is wrong)",
      "Rebase the patch onto the pinned revision (git -C <repo> apply --check <patch>), or "
      "pin the revision it was made for; a repo left half-patched needs git checkout . first",
      "ERROR - Could not apply patch. Please fix repos and patches:",
      ("Could not apply patch", "Could not find patch", "Could not add patched files",
       "Could not commit patch changes", "patch does not apply",
       "patch failed:", "apply_patches", "PatchApplyError", "PatchFileNotFound"),
      phase="setup",
      fields=lambda g, c: {"where": f" ({g.get('path') or g.get('file') or g.get('file2')})"
                           if (g.get("path") or g.get("file") or g.get("file2")) else ""}),
)

_R, _I, _L = "kas/repos.py", "kas/includehandler.py", "kas/libkas.py"
SOURCES = {
    "log.remote-ref-missing.kas": (
        S("kas", _R, 'Branch "{}" cannot be found in repository "{}"'),
        S("kas", _R, 'Tag "{}" cannot be found in repository "{}"'),
        S("kas", _R, 'Branch "{}" in repository "{}" does not contain commit "{}"')),
    "log.kas-ref": (
        S("kas", _R, 'Both tag "{}" and branch "{}" cannot be specified for repository "{}"'),
        S("kas", _R, 'No commit, tag or branch specified for repository "{}". This is only '
          'allowed for local repositories.'),
        S("kas", _R, 'Provided tag "{}" ("{}") does not match provided commit "{}" in '
          'repository "{}", aborting!')),
    "log.kas-include": (
        S("kas", "kas/libcmds.py", "Could not fetch all repos needed by includes. Missing "
          "repos: {}"),
        S("kas", _I, "Configuration file not found", "Configuration file not found: "
          "/w/kas/missing.yml"),
        S("kas", "kas-container", "configuration file '${FILE}' not found",
          "kas-container: Error: configuration file 'kas/x.yml' not found")),
    "log.kas-fetch": (S("kas", _R, 'Fetching of repo: "{}" failed: {}'),),
    "log.kas-buildtools": (S("kas", _L, "sha256sum mismatch: installer may be corrupted"),
                           S("kas", _L, "Could not download buildtools installer")),
    "log.kas-usage": (S("kas", "kas/kasusererror.py", "Invalid combination of arguments: {}"),),
    "log.kas-container-root": (S("kas", "kas-container", "Running as root - may break certain "
                                 "recipes."),),
    "log.kas-dirty": (S("kas", _R, "Repo %s is dirty - no checkout"),),
    "log.kas-version": (S("kas", _I, "This version of kas is compatible with version {} to {}, "
                          "file has version {}"),),
    "log.kas-invalid": (S("kas", _I, "Config file validation Error:\n%s",
                          "Config file validation Error:\n'repo' is a required property"),
                        S("kas", _I, "Configuration file is not valid YAML: {}")),
    "log.kas-unknown-repo": (S("kas", _R, "Could not find referenced repo. (missing repo: {}, "
                               "repo: {}, patch entry: {})"),),
    "log.kas-no-init-env": (S("kas", _L, "Did not find any init-build-env script"),),
    "log.kas-patch": (S("kas", _R, "Could not apply patch. Please fix repos and patches:\n"
                        "patch path: {}, repo: {}, patch entry: {}"),
                      S("kas", _R, "Could not find patch. (patch path: {}, repo: {}, patch "
                        "entry: {})")),
}

# which family each KasUserError subclass is (the test fails on a class it
# does not know, or a class whose messages no family matches)
EXCEPTIONS = {"RepoRefError": "log.kas-ref", "RepoFetchError": "log.kas-fetch",
              "PatchApplyError": "log.kas-patch", "PatchFileNotFound": "log.kas-patch",
              "PatchMappingError": "log.kas-unknown-repo",
              "IncludeException": "log.kas-include", "LoadConfigException": "log.kas-invalid",
              "InitBuildEnvError": "log.kas-no-init-env", "ArgsCombinationError": "log.kas-usage",
              "ArtifactNotFoundError": "log.kas-usage", "EnvSetButNotFoundError": "log.kas-usage",
              "MissingModuleError": "log.kas-usage", "KeyImportError": "log.kas-usage",
              "UnsupportedRepoTypeError": "log.kas-usage", "EnvNotValidError": "log.kas-usage",
              "VariableTypeError": "log.kas-usage", "KConfigLoadError": "log.kas-usage",
              "OutputFormatError": "log.kas-usage", "CommandExecError": None,
              "TaskExecError": None}    # None: a wrapper (the command's own error is above)

PATTERNS = attach(PATTERNS, SOURCES)

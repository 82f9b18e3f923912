"""Configurations kas 5.5 refuses (or turns into a tree that depends on the
clone's history), refused here with kas's own reason, so that a kas file
means the same to armvm-oe as to kas. Each rule cites the kas code it
follows (kas/includehandler.py, kas/repos.py of kas 5.5); armvm_oe.kasconfig
calls them while it reads a configuration. The differential tests in
tests/checkout/test_kas_refusals.py run real kas on each case."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from armvm_oe.errors import InputError

SAME_REPO = ("All concatenated config files must belong to the same repository or all must be "
             "outside of versioning control")


def header_version_string(where: str, raw) -> None:
    """kas 5.5's schema accepts the old string version '0.10' (ConfigFile.load
    maps it to 1), but IncludeHandler.get_config then merges the files with
    ``int(cfg.config['header']['version'])``, which fails: every kas command
    on such a file stops with an internal error."""
    if raw == "0.10":
        raise InputError(
            f"{where}: header version '0.10' cannot be used with kas 5.5",
            "kas 5.5's schema still accepts the old string version '0.10', but kas then fails "
            "while merging the configuration (\"invalid literal for int() with base 10: "
            "'0.10'\"), so no kas command runs on this file",
            "Write an integer version, e.g. 'header: version: 14' (14 or later allows "
            "'commit' together with 'branch')")


def _vcs_root(directory: Path) -> str | None:
    """kas's Repo.get_root_path(dir, fallback=False): the git top level (the
    superproject's for a submodule), else the Mercurial root, else None."""
    try:
        r = subprocess.run(["git", "rev-parse", "--show-toplevel",
                            "--show-superproject-working-tree"], cwd=directory,
                           capture_output=True, text=True)
    except OSError:
        return None
    if r.returncode == 0 and r.stdout.strip():
        return sorted(r.stdout.strip().split("\n"))[0]
    if shutil.which("hg"):
        try:
            h = subprocess.run(["hg", "root"], cwd=directory, capture_output=True, text=True)
        except OSError:
            return None
        if h.returncode == 0:
            return h.stdout.strip()
    return None


def same_repository(tops: list[Path]) -> None:
    """kas's IncludeHandler.ensure_from_same_repo for 'a.yml:b.yml'."""
    if len(tops) < 2:
        return
    roots = {_vcs_root(p.parent) if p.parent.is_dir() else None for p in tops}
    if len(roots) > 1:
        where = ", ".join(f"{p} ({_vcs_root(p.parent) or 'no repository'})"
                          for p in tops if p.parent.is_dir())
        raise InputError(
            f"The configuration files given together are in different repositories: {where}",
            f"kas refuses this (\"{SAME_REPO}\"): the includes of every file are resolved "
            "against the first file's repository",
            "Put the files in one repository (or all outside version control), or include "
            "the other repository's file with 'includes: - repo: <id> file: <path>'")


def absolute_refs(where: str, rid: str, name: str, branch, commit, refspec) -> None:
    """Absolute ref names (``refs/...``) in 'refspec:' and 'branch:', as kas
    5.5's GitRepo handles them (remove_ref_prefix strips only 'refs/')."""
    if refspec is not None and str(refspec).startswith("refs/"):
        short = str(refspec)[len("refs/"):]
        raise InputError(
            f"{where}: repo '{rid}' uses the absolute legacy refspec '{refspec}'",
            "kas 5.5 deprecates 'refspec' (\"You should migrate to commit/tag/branch\") and "
            f"checks an absolute one out as 'git checkout {short}': a new local branch "
            f"literally named '{short}', or, where the clone already has a local branch of that "
            "name, a detached HEAD at that local branch, which can be older than the server's; "
            "the tree depends on the clone's history, not on the configuration",
            "Replace it by 'branch: <name>' (and a 'commit:' pin)"
            + (f", i.e. 'branch: {short[len('heads/'):]}'" if short.startswith("heads/")
               else ""))
    if branch is None or not str(branch).startswith("refs/"):
        return
    branch = str(branch)
    if not branch.startswith("refs/heads/"):
        raise InputError(
            f"{where}: repo '{rid}' names '{branch}' as its branch",
            f"kas 5.5 fetches it to 'origin/{branch[5:]}' and checks it out as a local branch "
            f"named '{branch[5:]}': not a branch of the server",
            "Use 'branch:' for branches and 'tag:' (with 'commit:') for tags")
    # kas's default (full-clone) mode; with KAS_CLONE_DEPTH kas skips the
    # check, which armvm-oe does not read (docs/checkout.md)
    if commit is not None:
        raise InputError(
            f"{where}: repo '{rid}' pins commit {str(commit)[:12]} on the absolute branch "
            f"'{branch}'",
            "kas 5.5 refuses this: it looks for the commit on the remote branch "
            f"'origin/{branch}', which never exists, and stops with \"Branch \"{branch}\" in "
            f"repository \"{name}\" does not contain commit \"{commit}\"\"",
            f"Write 'branch: {branch[len('refs/heads/'):]}' (kas and armvm-oe check the commit "
            "against that branch)")

"""``patches:`` applied exactly as kas 5.x applies them (kas/repos.py,
``RepoImpl.apply_patches_async`` and ``GitRepo``'s commands).

For each repo with patches, after its checkout:

* the files are collected in kas's order: patch entries sorted by id; an
  entry's ``path`` (relative to the repo named by its ``repo:``) is a patch
  file, or a directory with a quilt ``series`` file (lines starting with
  ``#`` skipped, `` #`` comments cut, every listed file must exist);
* ``git checkout -q -B patched-<commit or tag/branch>``;
* per file ``git apply --whitespace=nowarn``, ``git add -A`` and ``git
  commit -a --author 'kas <kas@example.com>' -m 'kas: <id>\\n\\npatch <path>
  applied by kas' --date <d>`` with ``GIT_COMMITTER_DATE=<d>``, where ``<d>``
  is the patch's ``Date:`` header (line 3, ``git format-patch``) or the
  file's mtime; the committer is kas's "kas User <kas@example.com>", and
  the user's global git configuration is not read (kas runs git with its own
  HOME). Same inputs, same commit ids: a tree kas patched and one armvm-oe
  patched have the same HEAD, and re-running either tool reproduces it.

A missing patch or one that does not apply is an error (exit 2), as in kas.
"""

from __future__ import annotations

import linecache
import os
import subprocess
from datetime import datetime
from pathlib import Path

from armvm_oe.errors import InputError
from armvm_oe.kasconfig import KasProject, RepoSpec

KAS_AUTHOR = "kas <kas@example.com>"
KAS_USER_NAME = "kas User"       # kas.libcmds.KAS_USER_NAME
KAS_USER_EMAIL = "kas@example.com"


def _remove_ref_prefix(ref: str) -> str:
    return ref[len("refs/"):] if ref.startswith("refs/") else ref


def patch_files(repo: RepoSpec, project: KasProject) -> list[tuple[str, str]]:
    """(absolute patch file, patch id) in the order kas applies them."""
    files = []
    by_id = {r.id: r for r in project.repos}
    for patch in repo.patches:
        other = by_id.get(patch["repo"])
        if other is None:
            raise InputError(f"Patch entry '{patch['id']}' of repo '{repo.id}' names repo "
                             f"'{patch['repo']}', which the configuration does not declare",
                             "kas: \"Could not find referenced repo\"",
                             "Fix 'repo:' of the patch entry")
        path = os.path.join(other.path, patch["path"])
        if os.path.isfile(path):
            files.append((path, patch["id"]))
        elif os.path.isdir(path) and os.path.isfile(os.path.join(path, "series")):
            with open(os.path.join(path, "series")) as f:
                for line in f:
                    if line.startswith("#"):
                        continue
                    p = os.path.join(path, line.split(" #")[0].rstrip())
                    if not os.path.isfile(p):
                        raise InputError(f"The patch {p} listed in {path}/series does not exist",
                                         f"repo '{repo.id}', patch entry '{patch['id']}' (kas "
                                         "stops with PatchFileNotFound)",
                                         "Fix the series file or add the patch")
                    files.append((p, patch["id"]))
        else:
            raise InputError(f"The patch {path} of repo '{repo.id}' (entry '{patch['id']}') "
                             "does not exist",
                             "it is neither a file nor a directory with a 'series' file "
                             "(kas: \"Could not find patch\")",
                             "Fix 'path:' of the patch entry")
    return files


def _timestamp(path: str) -> str:
    date = linecache.getline(path, 3)
    linecache.clearcache()
    if date and date.startswith("Date: "):
        return date.replace("Date: ", "").strip()
    dt = datetime.fromtimestamp(os.path.getmtime(path))
    return dt.astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")


def _env(date: str | None = None) -> dict:
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
               GIT_COMMITTER_NAME=KAS_USER_NAME, GIT_COMMITTER_EMAIL=KAS_USER_EMAIL)
    if date:
        env["GIT_COMMITTER_DATE"] = date
    return env


def _run(cmd: list[str], cwd: Path, what: str, env: dict | None = None) -> None:
    r = subprocess.run(cmd, cwd=cwd, env=env or _env(), capture_output=True, text=True)
    if r.returncode:
        msg = " ".join((r.stderr or r.stdout).split())[-600:]
        raise InputError(what, f"{' '.join(cmd)} said: {msg or 'nothing'}",
                         "Fix the repo or the patch (kas stops the same way, "
                         "PatchApplyError)")


def apply_patches(repo: RepoSpec, project: KasProject) -> list[str]:
    """Apply ``repo``'s patches on its checked-out pin; returns the files applied."""
    if not repo.patches or repo.is_local:
        return []
    files = patch_files(repo, project)
    ref = repo.commit or _remove_ref_prefix(repo.tag or repo.branch or repo.refspec or "")
    _run(["git", "checkout", "-q", "-B", f"patched-{ref}"], repo.path,
         f"Cannot create the branch patched-{ref} in {repo.path}")
    for path, pid in files:
        _run(["git", "apply", "--whitespace=nowarn", path], repo.path,
             f"The patch {path} (repo '{repo.id}', patch entry '{pid}') does not apply")
        _run(["git", "add", "-A"], repo.path, f"Cannot add the patched files of repo '{repo.id}'")
        date = _timestamp(path)
        msg = f"kas: {pid}\n\npatch {path} applied by kas"
        _run(["git", "commit", "-q", "-a", "--author", KAS_AUTHOR, "-m", msg, "--date", date],
             repo.path, f"Cannot commit patch {path} in repo '{repo.id}'", env=_env(date))
    return [p for p, _ in files]


def base_of_patched(repo_path: Path) -> str | None:
    """If HEAD is a ``patched-*`` branch made of kas patch commits, the commit
    they sit on (what the pin must equal); else None."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=repo_path, capture_output=True,
                              text=True).stdout.strip()
    if not git("symbolic-ref", "-q", "HEAD").startswith("refs/heads/patched-"):
        return None
    sha = git("rev-parse", "HEAD")
    for _ in range(1000):
        info = git("log", "-1", "--format=%an <%ae>%x00%s%x00%P", sha).split("\0")
        if len(info) < 3 or info[0] != KAS_AUTHOR or not info[1].startswith("kas: "):
            return sha
        sha = info[2].split()[0] if info[2].split() else ""
        if not sha:
            return None
    return None

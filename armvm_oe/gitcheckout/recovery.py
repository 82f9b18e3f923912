"""What a killed run leaves in an existing repository, and how to undo it.

A SIGKILL can hit ``git fetch`` (left: ``shallow.lock``, ``*.lock`` under
``refs/``, ``tmp_pack_*``) or ``git checkout`` (left: ``index.lock``, the old
index and HEAD, and a work tree that is half the old commit, half the new).
Git never removes those locks by itself: every later git command stops with
"Unable to create '.../index.lock': File exists".

* :func:`stale_locks` / :func:`clear_stale_locks`: the lock files, removed
  only when no process holds them open and no git process works in the
  repository (``/proc``), so a concurrent ``git`` or ``kas`` is never broken.
* the journal (``.git/armvm-oe-update.json``, written right before the
  checkout moves the tree, removed after it): names the commit the tree
  moved from and the one it moved to. :func:`interrupted_tree_is_ours` checks
  that every file that differs from the index holds exactly the content of
  one of those two commits (or is absent in one of them, or is a prefix of
  the new content: the one file git was writing in place): then the
  differences are the interrupted checkout's, not the user's, and the next
  run finishes the move (``git checkout -f``). Any other difference is a
  user's edit and the tree is not touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from armvm_oe.lib import atomic_write

JOURNAL = "armvm-oe-update.json"


def git_dir(path: Path) -> Path:
    return Path(path) / ".git"


# --------------------------------------------------------------------------
# stale lock files

def stale_locks(gitdir: Path) -> list[Path]:
    """git's lock files in ``gitdir`` (top level, refs/, logs/ and the
    objects/info lists); objects/ itself is not walked (it is large and git
    writes no ``*.lock`` there)."""
    found = list(gitdir.glob("*.lock"))
    for sub in ("refs", "logs"):
        d = gitdir / sub
        if d.is_dir():
            found.extend(d.rglob("*.lock"))
    found.extend((gitdir / "objects" / "info").glob("*.lock"))
    return sorted(p for p in found if p.is_file())


def holders(repo_path: Path, locks: list[Path]) -> list[tuple[int, str]]:
    """Processes that hold one of ``locks`` open, or git processes whose
    working directory is inside ``repo_path`` (pid, command line)."""
    repo_path = Path(repo_path).resolve()
    want = {str(p.resolve()) for p in locks}
    me = os.getpid()
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except OSError:
            continue
        hit = False
        try:
            for fd in os.scandir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(fd.path) in want:
                        hit = True
                        break
                except OSError:
                    continue
        except OSError:
            pass
        if not hit and os.path.basename(cmd.split(" ")[0]).startswith("git"):
            try:
                cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
                hit = cwd == repo_path or repo_path in cwd.parents
            except OSError:
                pass
        if hit:
            out.append((pid, cmd[:200]))
    return out


def clear_stale_locks(repo_path: Path) -> tuple[list[Path], list[tuple[int, str]]]:
    """Remove the lock files nobody holds. Returns (removed, holders); when
    some process holds them, nothing is removed."""
    locks = stale_locks(git_dir(repo_path))
    if not locks:
        return [], []
    busy = holders(repo_path, locks)
    if busy:
        return [], busy
    removed = []
    for p in locks:
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed, []


# --------------------------------------------------------------------------
# the update journal

def write_journal(repo_path: Path, old: str | None, new: str, branch: str | None) -> None:
    atomic_write(git_dir(repo_path) / JOURNAL,
                 json.dumps({"from": old, "to": new, "branch": branch}) + "\n")


def read_journal(repo_path: Path) -> dict | None:
    try:
        data = json.loads((git_dir(repo_path) / JOURNAL).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("to") else None


def clear_journal(repo_path: Path) -> None:
    try:
        (git_dir(repo_path) / JOURNAL).unlink()
    except FileNotFoundError:
        pass


def _tree(r, commit: str | None) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob id) of ``commit``'s tree (empty if unknown)."""
    if not commit:
        return {}
    out = r.git.ls_tree("-r", "-z", "--full-tree", commit)
    entries = {}
    for rec in out.split("\0"):
        if not rec:
            continue
        meta, path = rec.split("\t", 1)
        mode, _type, sha = meta.split()
        entries[path] = (mode, sha)
    return entries


def _blob_id(path: Path) -> tuple[str, str] | None:
    """(mode, blob id) of a work-tree file as git would store it (no filters)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        data, mode = os.readlink(path).encode(), "120000"
    elif stat.S_ISREG(st.st_mode):
        data = path.read_bytes()
        mode = "100755" if st.st_mode & 0o100 else "100644"
    else:
        return ("dir", "")
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return mode, h.hexdigest()


def _is_prefix(r, path: Path, blob: str) -> bool:
    """Is the work-tree file a (possibly empty) prefix of ``blob``?"""
    try:
        data = path.read_bytes()
        full = r.odb.stream(bytes.fromhex(blob)).read()
    except (OSError, ValueError, Exception):  # noqa: BLE001 - unreadable: not ours
        return False
    return full.startswith(data)


def interrupted_tree_is_ours(r, repo_path: Path, journal: dict) -> tuple[bool, list[str]]:
    """Is every difference between the work tree and the index the content
    of the journal's old or new commit? Returns (ours, paths that are not)."""
    old, new = _tree(r, journal.get("from")), _tree(r, journal["to"])
    # work tree vs index, and index vs HEAD (a kill after git wrote the new
    # index but before it moved HEAD leaves the move staged)
    changed = [p for args in (("--name-only",), ("--cached", "--name-only"))
               for p in r.git.diff(*args, "-z", "--no-renames").split("\0") if p]
    # new files of the target the killed checkout already wrote are untracked now
    untracked = [p for p in r.git.ls_files("-z", "--others", "--exclude-standard").split("\0")
                 if p and p in new]
    foreign = []
    for p in dict.fromkeys(changed + untracked):
        actual = _blob_id(Path(repo_path) / p)
        candidates = [old.get(p), new.get(p)]
        if actual is None:
            # deleted by the checkout, or unlinked and not yet rewritten (git
            # removes a file before writing its new version); git has the
            # content either way, so nothing a user made is lost
            continue
        if actual is not None and actual in candidates:
            continue
        if actual is not None and actual[1] in {c[1] for c in candidates if c}:
            continue  # content right, only the executable bit lags
        if actual is not None and new.get(p) and _is_prefix(r, Path(repo_path) / p, new[p][1]):
            continue  # the file git was writing when it was killed (git writes in place)
        foreign.append(p)
    return not foreign, foreign

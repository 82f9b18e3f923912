"""Shared pieces of the checkout: kas's naming, git helpers, progress.

Everything here is either a pure function or a thin gitpython wrapper; the
modules ``checkout`` (new clones, the include loop), ``update`` (moving an
existing tree, crash recovery), ``patches``, ``status`` and ``lock`` build on it.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from armvm_oe import ui
from armvm_oe.kasconfig import HEX40, RepoSpec

PARTIAL = ".armvm-oe-partial."
LOCKSUFFIX = ".armvm-oe.lock"
# git's messages when a server will not serve a commit by id
REFUSED = re.compile(r"not our ref|unadvertised object|allowReachableSHA1InWant|"
                     r"want .* not valid|couldn't find remote ref|does not support shallow|"
                     r"dumb http transport does not support shallow", re.I)


@dataclass
class RepoResult:
    id: str
    path: str
    action: str                 # cloned | present | updated | local | dirty | missing-local
    commit: str | None = None   # HEAD after the run
    pinned: str | None = None
    fetch: str = "none"         # none | shallow | full | mirror
    objects: int = 0
    bytes: int = 0
    seconds: float = 0.0
    stash: str | None = None
    dirty_files: list[str] = field(default_factory=list)
    message: str = ""
    patches: list[str] = field(default_factory=list)  # patch files applied (kas order)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# --------------------------------------------------------------------------
# naming shared with kas

def effective_url(url: str) -> str:
    """kas's KAS_PREMIRRORS rewrite ("<regex> <replacement>" per line)."""
    for line in os.environ.get("KAS_PREMIRRORS", "").split("\n"):
        try:
            expr, subst = line.split()
        except ValueError:
            continue
        if re.match(expr, url):
            return re.sub(expr, subst, url)
    return url


def qualified_name(url: str) -> str:
    """kas's name for a repo in KAS_REPO_REF_DIR: netloc+path, '@:/*' -> '.'."""
    u = urlparse(url)
    return re.sub(r"[@:/*]", ".", f"{u.netloc}{u.path}")


def find_mirror(repo: RepoSpec, mirror_dirs: list[Path]) -> Path | None:
    """A local clone of ``repo`` in one of ``mirror_dirs`` (kas naming first,
    then ``<name>.git`` / ``<name>``); returns its objects directory's repo."""
    for d in mirror_dirs:
        for cand in (qualified_name(repo.url), f"{repo.name}.git", repo.name):
            p = Path(d) / cand
            if (p / "objects").is_dir() or (p / ".git" / "objects").is_dir():
                return p
    return None


def _objects_dir(repo_dir: Path) -> Path:
    return repo_dir / "objects" if (repo_dir / "objects").is_dir() else repo_dir / ".git" / "objects"


# --------------------------------------------------------------------------
# progress

def _git():
    """gitpython, imported on first use: the warm path never needs it."""
    import git
    return git


def _progress_cls():
    from git.util import RemoteProgress

    class _Progress(_ProgressMixin, RemoteProgress):
        pass
    return _Progress


class _ProgressMixin:
    """gitpython progress -> one tqdm bar per repository (objects, bytes) on a
    TTY; on a non-TTY the caller prints plain lines."""

    SIZE = re.compile(r"([\d.]+)\s*(bytes|KiB|MiB|GiB)")
    UNIT = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}

    def __init__(self, label: str):
        super().__init__()  # RemoteProgress
        self.label = label
        self.bar = ui.progress(desc=label, unit="obj", total=None)
        self.objects = 0
        self.bytes = 0
        self.errors: list[str] = []

    def update(self, op_code, cur_count, max_count=None, message=""):
        stage = op_code & self.OP_MASK
        if stage == self.RECEIVING:
            self.objects = int(max_count or cur_count or 0) if op_code & self.END \
                else int(cur_count or 0)
            m = self.SIZE.search(message or "")
            if m:
                self.bytes = int(float(m.group(1)) * self.UNIT[m.group(2)])
            if max_count:
                self.bar.total = int(max_count)
            self.bar.n = int(cur_count or 0)
            self.bar.set_postfix_str(_human(self.bytes) if self.bytes else "", refresh=False)
            self.bar.refresh()
        elif stage == self.RESOLVING:
            self.bar.set_description_str(f"{self.label} (resolving deltas)", refresh=True)

    def line_dropped(self, line):
        if line.strip():
            self.errors.append(line.strip())

    def close(self):
        self.bar.close()


def _human(n: float) -> str:
    from armvm_oe.ui import human_size
    return human_size(n, ("B", "KiB", "MiB", "GiB"))


def _say(msg: str) -> None:
    """Plain progress line (always to stderr; machine output stays on stdout)."""
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# git helpers (gitpython)

class FetchRefused(Exception):
    pass


def _fetch(repo, label: str, args: list[str]) -> tuple[int, int, str]:
    """``git fetch --progress <args>`` with a progress bar; returns (objects,
    bytes, stderr). Raises git.GitCommandError on failure."""
    from git.cmd import handle_process_output

    git = _git()
    prog = _progress_cls()(label)
    stderr_lines: list[str] = []

    def on_err(line):
        stderr_lines.append(line)
        prog._parse_progress_line(line)

    proc = repo.git.fetch("--progress", "--no-tags", "--no-write-fetch-head", *args,
                          as_process=True, with_stdout=False, universal_newlines=True)
    rc = 0
    try:
        handle_process_output(proc, None, on_err, finalizer=None, decode_streams=False)
        try:
            proc.wait(stderr="")
        except git.GitCommandError as exc:
            rc = exc.status or 1
    finally:
        prog.close()
    errtext = "\n".join(line.rstrip() for line in stderr_lines
                        if line.strip() and "%" not in line).strip()
    if rc != 0:
        raise git.GitCommandError(["git", "fetch", *args], rc, errtext)
    return prog.objects, prog.bytes, errtext


def _has_commit(repo, sha: str) -> bool:
    git = _git()
    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
        return True
    except git.GitCommandError:
        return False


def _rev(repo, ref: str) -> str | None:
    git = _git()
    try:
        return repo.git.rev_parse("--verify", "-q", f"{ref}^{{commit}}").strip() or None
    except git.GitCommandError:
        return None


def _object_stats(r) -> tuple[int, int]:
    """(objects, bytes) stored in the repository itself (alternates excluded)."""
    out = dict(line.split(": ", 1) for line in r.git.count_objects("-v").splitlines()
               if ": " in line)
    objs = int(out.get("count", 0)) + int(out.get("in-pack", 0))
    kib = int(out.get("size", 0)) + int(out.get("size-pack", 0))
    return objs, kib * 1024


def _read_ref(gitdir: Path, ref: str) -> str | None:
    try:
        val = (gitdir / ref).read_text().strip()
        if HEX40.match(val):
            return val
    except (OSError, ValueError):
        pass
    try:
        for line in (gitdir / "packed-refs").read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref and HEX40.match(parts[0]):
                return parts[0]
    except OSError:
        pass
    return None


def read_head(path: Path) -> str | None:
    """The commit checked out in the work tree at ``path`` (file reads only)."""
    gitdir = Path(path) / ".git"
    if gitdir.is_file():  # worktree / submodule: "gitdir: <path>"
        txt = gitdir.read_text().strip()
        if txt.startswith("gitdir:"):
            gitdir = (Path(path) / txt[7:].strip()).resolve()
    try:
        head = (gitdir / "HEAD").read_text().strip()
    except OSError:
        return None
    if head.startswith("ref:"):
        return _read_ref(gitdir, head[4:].strip())
    return head if HEX40.match(head) else None


def _strip_heads(branch: str) -> str:
    b = branch[len("refs/"):] if branch.startswith("refs/") else branch
    return b[len("heads/"):] if b.startswith("heads/") else b


@contextmanager
def _locked(parent: Path, name: str):
    parent.mkdir(parents=True, exist_ok=True)
    lockpath = parent / f".{name}{LOCKSUFFIX}"
    fd = os.open(lockpath, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"{name}: waiting for another armvm-oe checkout of {parent / name}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def partial_dirs(path: Path) -> list[Path]:
    """Leftovers of interrupted clones of ``path`` (hidden siblings)."""
    parent = path.parent
    if not parent.is_dir():
        return []
    prefix = f".{path.name}{PARTIAL}"
    return sorted(p for p in parent.iterdir() if p.name.startswith(prefix))


def dirty_files(repo) -> list[str]:
    """Tracked files with changes (staged or not); untracked files do not
    count, as in kas (``git diff``), since moving HEAD leaves them alone."""
    out = repo.git.status("--porcelain", "--untracked-files=no")
    return [line[3:] for line in out.splitlines() if line.strip()]



def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass

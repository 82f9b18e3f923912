"""Materialise the repositories of a kas project, pinned, atomically.

Layout: exactly kas's (``<work_dir>/<name or id>`` unless ``path:`` says
otherwise), and the git state kas looks for, so that ``kas checkout`` /
``kas build`` afterwards find everything and fetch nothing:

* ``origin`` points at the (KAS_PREMIRRORS-rewritten) URL,
* the pinned commit is present and checked out on local branch ``<branch>``
  (kas runs ``git checkout <commit>^{commit} -B <branch>``; a tag pin is a
  detached HEAD at the tag, with ``refs/tags/<tag>``),
* ``refs/remotes/origin/<branch>`` exists and contains the commit (kas checks
  ``git branch -r origin/<branch> --contains <commit>``; after a shallow
  fetch it is set to the pinned commit, the newest commit we know is on it).

Fetching takes only what the pin needs: ``git fetch --depth 1 origin <sha>``
(servers with uploadpack.allowReachableSHA1InWant / allowAnySHA1InWant, which
GitHub, GitLab and cgit/git-http-backend with protocol v2 have); if the server
refuses, a full fetch of the branch (and of all branches and tags if the
commit is still missing). A mirror directory (``--mirror-dir`` or
``KAS_REPO_REF_DIR``, kas's naming ``<host>.<path>`` with '/' -> '.') is used
as git alternates, like kas's ``git clone --reference``, and nothing is
fetched at all when it already holds the commit.

Atomicity: a new repository is built in a hidden sibling directory
``.<name>.armvm-oe-partial.<pid>`` and renamed into place only when the
pinned commit is checked out, under an flock on ``.<name>.armvm-oe.lock``.
Leftover partial siblings (a killed run, SIGKILL included) are removed by the
next run, which then starts over. So a directory at the repo's path is
always a complete checkout.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml

from armvm_oe import ui
from armvm_oe.errors import InputError, ProblemFound
from armvm_oe.kasconfig import (HEX40, KasProject, RepoSpec, load_config, lock_file_for,
                                split_configs, write_lock)

log = logging.getLogger(__name__)

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
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def _say(msg: str) -> None:
    """Plain progress line (always to stderr; machine output stays on stdout)."""
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# git helpers (gitpython)

class FetchRefused(Exception):
    pass


def _fetch(repo: git.Repo, label: str, args: list[str]) -> tuple[int, int, str]:
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


def _has_commit(repo: git.Repo, sha: str) -> bool:
    git = _git()
    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
        return True
    except git.GitCommandError:
        return False


def _rev(repo: git.Repo, ref: str) -> str | None:
    git = _git()
    try:
        return repo.git.rev_parse("--verify", "-q", f"{ref}^{{commit}}").strip() or None
    except git.GitCommandError:
        return None


def _object_stats(r: git.Repo) -> tuple[int, int]:
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


def dirty_files(repo: git.Repo) -> list[str]:
    """Tracked files with changes (staged or not); untracked files do not
    count, as in kas (``git diff``), since moving HEAD leaves them alone."""
    out = repo.git.status("--porcelain", "--untracked-files=no")
    return [line[3:] for line in out.splitlines() if line.strip()]


# --------------------------------------------------------------------------
# the checkout

class Checkout:
    def __init__(self, project: KasProject, mirror_dirs: list[Path] | None = None,
                 force: bool = False, quiet: bool = False):
        self.project = project
        self.force = force
        self.quiet = quiet
        dirs = list(mirror_dirs or [])
        if os.environ.get("KAS_REPO_REF_DIR"):
            dirs.append(Path(os.environ["KAS_REPO_REF_DIR"]))
        self.mirror_dirs = [Path(d).absolute() for d in dirs]
        self.tty = ui.interactive(sys.stderr)

    def say(self, msg: str) -> None:
        if not self.quiet:
            _say(msg)

    def run(self) -> list[RepoResult]:
        results = []
        for repo in self.project.repos:
            results.append(self.one(repo))
        return results

    # -- one repository ---------------------------------------------------
    def one(self, repo: RepoSpec) -> RepoResult:
        t0 = time.monotonic()
        if repo.is_local:
            head = read_head(repo.path)
            action = "local" if repo.path.is_dir() else "missing-local"
            if action == "missing-local":
                raise InputError(f"Repo '{repo.id}' has no URL and its path {repo.path} "
                                 "does not exist",
                                 "repos without 'url:' are used in place, never cloned",
                                 "Fix 'path:' in the configuration or add a 'url:'")
            return RepoResult(repo.id, str(repo.path), action, head, None)
        if self._fast_present(repo):
            self.say(f"{repo.id}: already at {repo.commit[:12]} in {repo.path}")
            return RepoResult(repo.id, str(repo.path), "present", repo.commit, repo.pin,
                              seconds=round(time.monotonic() - t0, 3))
        with _locked(repo.path.parent, repo.path.name):
            for stale in partial_dirs(repo.path):
                self.say(f"{repo.id}: removing {stale.name} left by an interrupted checkout")
                shutil.rmtree(stale, ignore_errors=True)
            if repo.path.exists() and not (repo.path / ".git").exists():
                if repo.path.is_dir() and not any(repo.path.iterdir()):
                    repo.path.rmdir()
                else:
                    raise ProblemFound(
                        f"{repo.path} exists but is not a git checkout, so repo '{repo.id}' "
                        "cannot be checked out there",
                        "armvm-oe never overwrites a directory it did not create",
                        f"Move it away (mv {repo.path} {repo.path}.old) and run the "
                        "command again")
            if repo.path.exists():
                res = self._existing(repo)
            else:
                res = self._clone(repo)
        res.seconds = round(time.monotonic() - t0, 3)
        return res

    def _fast_present(self, repo: RepoSpec) -> bool:
        """Everything in place? Pure file reads (no git process, no gitpython):
        HEAD at the pinned commit, origin at the URL, origin/<branch> present,
        and no leftover partial clone to clean up."""
        if not (repo.commit and (repo.path / ".git").is_dir()) or partial_dirs(repo.path):
            return False
        gitdir = repo.path / ".git"
        if read_head(repo.path) != repo.commit:
            return False
        if repo.branch and not _read_ref(gitdir, f"refs/remotes/origin/"
                                                 f"{_strip_heads(repo.branch)}"):
            return False
        try:
            cfg = (gitdir / "config").read_text()
        except OSError:
            return False
        m = re.search(r'\[remote "origin"\][^\[]*?^\s*url\s*=\s*(\S+)\s*$', cfg, re.M)
        return bool(m) and m.group(1) == effective_url(repo.url)

    def _target_ref(self, repo: RepoSpec) -> str:
        if repo.commit:
            return repo.commit
        return repo.tag or repo.branch  # resolved after the fetch

    def _fetch_pin(self, r: git.Repo, repo: RepoSpec, url: str, res: RepoResult,
                   repo_dir: Path) -> str:
        """Get the pinned commit into ``r``; returns its id."""
        git = _git()
        label = repo.id
        branch = _strip_heads(repo.branch) if repo.branch else None
        empty = not any((_objects_dir(repo_dir) / "pack").glob("*.pack"))
        before = (0, 0) if empty else _object_stats(r)
        if repo.commit and (res.fetch == "mirror" or not empty) and _has_commit(r, repo.commit):
            res.fetch = "mirror" if res.fetch == "mirror" else "none"
            return repo.commit
        try:
            if repo.commit and branch:
                # straight into the remote-tracking ref kas checks (no update-ref later)
                args = ["--depth", "1", "origin", f"+{repo.commit}:refs/remotes/origin/{branch}"]
            elif repo.commit:
                args = ["--depth", "1", "origin", repo.commit]
            elif repo.tag:
                args = ["--depth", "1", "origin", f"+refs/tags/{repo.tag}:refs/tags/{repo.tag}"]
            else:
                args = ["--depth", "1", "origin",
                        f"+refs/heads/{branch}:refs/remotes/origin/{branch}"]
            self.say(f"{label}: fetching {self._target_ref(repo)[:12]} (shallow) from {url}")
            objs, nbytes, _ = _fetch(r, label, args)
            res.fetch = "shallow"
        except git.GitCommandError as exc:
            msg = str(exc.stderr or exc).strip()
            if not REFUSED.search(msg):
                raise self._fetch_error(repo, url, msg)
            self.say(f"{label}: the server refused a fetch by commit id "
                     f"({msg.splitlines()[-1].strip()}); fetching the full branch instead")
            try:
                refspecs = [f"+refs/heads/{branch}:refs/remotes/origin/{branch}"] if branch \
                    else ["+refs/heads/*:refs/remotes/origin/*"]
                if repo.tag:
                    refspecs.append(f"+refs/tags/{repo.tag}:refs/tags/{repo.tag}")
                objs, nbytes, _ = _fetch(r, label, ["origin", *refspecs])
                if repo.commit and not _has_commit(r, repo.commit):
                    o2, b2, _ = _fetch(r, label, ["origin", "+refs/heads/*:refs/remotes/origin/*",
                                                  "+refs/tags/*:refs/tags/*"])
                    objs, nbytes = objs + o2, nbytes + b2
            except git.GitCommandError as exc2:
                raise self._fetch_error(repo, url, str(exc2.stderr or exc2).strip())
            res.fetch = "full"
        after = _object_stats(r) if not (objs and nbytes) else (0, 0)
        res.objects += max(objs, after[0] - before[0])
        res.bytes += max(nbytes, after[1] - before[1])
        if repo.commit:
            if res.fetch == "full" and not _has_commit(r, repo.commit):
                raise ProblemFound(
                    f"Repo '{repo.id}': commit {repo.commit} is not on the server {url}",
                    "the fetch succeeded but did not bring the pinned commit "
                    "(a rewritten branch, or a typo in the pin)",
                    f"Check the pin in {repo.source or 'the configuration'} or run "
                    "'armvm-oe lock --update'")
            return repo.commit
        ref = f"refs/tags/{repo.tag}" if repo.tag else f"refs/remotes/origin/{branch}"
        sha = _rev(r, ref)
        if not sha:
            raise ProblemFound(f"Repo '{repo.id}': {ref} was not found on {url}",
                               "the tag or branch does not exist on the server",
                               "Fix the tag/branch in the configuration")
        return sha

    def _fetch_error(self, repo: RepoSpec, url: str, msg: str) -> InputError:
        last = " ".join(msg.split())[-600:] or "no message"
        return InputError(
            f"Cannot fetch repo '{repo.id}' from {url}",
            f"git said: {last}",
            "Check the URL and your network or proxy (git:// is blocked by many "
            "firewalls and disabled by GitHub and git.yoctoproject.org; use https), "
            "use --mirror-dir for air-gapped sites, and run 'armvm-oe doctor' to "
            "diagnose the host", check_id=None)

    def _set_refs(self, r: git.Repo, repo: RepoSpec, sha: str, url: str,
                  fresh: bool = False) -> None:
        """The refs kas expects, then check out ``sha``."""
        if not fresh:
            self._config_origin(r, url)
        if repo.branch:
            b = _strip_heads(repo.branch)
            rref = f"refs/remotes/origin/{b}"
            cur = _read_ref(Path(r.git_dir), rref) or _rev(r, rref)
            if cur is None or (cur != sha and not self._is_ancestor(r, sha, cur)):
                # shallow: the newest commit known to be on the branch is the pin
                r.git.update_ref(rref, sha)
            r.git.checkout("-q", "-B", b, f"{sha}^{{commit}}")
        else:
            if repo.tag and _rev(r, f"refs/tags/{repo.tag}") is None:
                r.git.update_ref(f"refs/tags/{repo.tag}", sha)
            r.git.checkout("-q", "--detach", f"{sha}^{{commit}}")

    @staticmethod
    def _config_origin(r, url: str) -> None:
        with r.config_writer() as cw:
            cw.set_value('remote "origin"', "url", url)
            if not cw.has_option('remote "origin"', "fetch"):
                cw.set_value('remote "origin"', "fetch", "+refs/heads/*:refs/remotes/origin/*")

    @staticmethod
    def _is_ancestor(r: git.Repo, a: str, b: str) -> bool:
        git = _git()
        try:
            r.git.merge_base("--is-ancestor", a, b)
            return True
        except git.GitCommandError:
            return False

    def _clone(self, repo: RepoSpec) -> RepoResult:
        git = _git()
        url = effective_url(repo.url)
        res = RepoResult(repo.id, str(repo.path), "cloned", pinned=repo.pin)
        tmp = repo.path.parent / f".{repo.path.name}{PARTIAL}{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            r = git.Repo.init(tmp)
            with r.config_writer() as cw:
                cw.set_value('remote "origin"', "url", url)
                cw.set_value('remote "origin"', "fetch", "+refs/heads/*:refs/remotes/origin/*")
            mirror = find_mirror(repo, self.mirror_dirs)
            if mirror:
                alt = _objects_dir(tmp) / "info" / "alternates"
                alt.parent.mkdir(parents=True, exist_ok=True)
                alt.write_text(str(_objects_dir(mirror).resolve()) + "\n")
                res.fetch = "mirror"
                self.say(f"{repo.id}: using mirror {mirror}")
            sha = self._fetch_pin(r, repo, url, res, tmp)
            self._set_refs(r, repo, sha, url, fresh=True)
            if read_head(tmp) != sha:  # pragma: no cover - git guarantees it
                raise ProblemFound(f"Repo '{repo.id}': HEAD is not {sha} after checkout")
            r.close()
            os.rename(tmp, repo.path)   # the only step that makes it visible
            _fsync_dir(repo.path.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        res.commit = sha
        self.say(f"{repo.id}: checked out {sha[:12]}"
                 f"{' on ' + _strip_heads(repo.branch) if repo.branch else ''} in {repo.path}"
                 f" ({res.fetch} fetch, {res.objects} objects, {_human(res.bytes)})")
        return res

    def _existing(self, repo: RepoSpec) -> RepoResult:
        git = _git()
        url = effective_url(repo.url)
        res = RepoResult(repo.id, str(repo.path), "present", pinned=repo.pin)
        r = git.Repo(repo.path)
        head = read_head(repo.path)
        want = repo.commit
        if want and head == want:
            self._ensure_kas_refs(r, repo, want, url)
            res.commit = head
            self.say(f"{repo.id}: already at {head[:12]} in {repo.path}")
            return res
        if want is None:
            # tag/branch pin without commit: resolve what we have, fetch only if absent
            ref = f"refs/tags/{repo.tag}" if repo.tag else \
                f"refs/remotes/origin/{_strip_heads(repo.branch)}"
            have = _rev(r, ref)
            if have and head == have and repo.tag:
                res.commit = head
                self.say(f"{repo.id}: already at {repo.tag} ({head[:12]})")
                return res
        changed = dirty_files(r)
        if changed and not self.force:
            res.action = "dirty"
            res.commit = head
            res.dirty_files = changed
            self.say(f"{repo.id}: NOT moved: {repo.path} has local changes in "
                     f"{len(changed)} file(s): {', '.join(changed[:10])}"
                     f"{' ...' if len(changed) > 10 else ''}")
            return res
        sha = self._fetch_pin(r, repo, url, res, repo.path)
        if head == sha:
            self._ensure_kas_refs(r, repo, sha, url)
            res.commit = head
            return res
        if changed:
            label = (f"armvm-oe checkout {time.strftime('%Y-%m-%dT%H:%M:%S')}: "
                     f"local changes on {head[:12] if head else '?'} before moving to {sha[:12]}")
            r.git.stash("push", "-m", label)
            res.stash = f"stash@{{0}}: {label}"
            self.say(f"{repo.id}: --force: stashed {len(changed)} changed file(s) as "
                     f"'{label}' (git -C {repo.path} stash list)")
        self._set_refs(r, repo, sha, url)
        res.action = "updated"
        res.commit = read_head(repo.path)
        self.say(f"{repo.id}: moved {head[:12] if head else '?'} -> {sha[:12]} in {repo.path}")
        return res

    def _ensure_kas_refs(self, r: git.Repo, repo: RepoSpec, sha: str, url: str) -> None:
        """Cheap local repairs so kas finds what it checks (no network)."""
        try:
            cur_url = r.remotes.origin.url
        except (AttributeError, IndexError):
            cur_url = None
        if cur_url != url:
            with r.config_writer() as cw:
                cw.set_value('remote "origin"', "url", url)
        if repo.branch:
            rref = f"refs/remotes/origin/{_strip_heads(repo.branch)}"
            cur = _rev(r, rref)
            if cur is None or (cur != sha and not self._is_ancestor(r, sha, cur)):
                r.git.update_ref(rref, sha)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


# --------------------------------------------------------------------------
# status

@dataclass
class RepoStatus:
    id: str
    path: str
    url: str | None
    pinned: str | None
    actual: str | None
    state: str          # ok | missing | wrong-commit | not-git | local
    dirty: bool = False
    dirty_files: list[str] = field(default_factory=list)
    branch: str | None = None
    partial: list[str] = field(default_factory=list)

    @property
    def problem(self) -> bool:
        return self.state in ("missing", "wrong-commit", "not-git") or \
            (self.dirty and self.state != "local")

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["problem"] = self.problem
        return d


def status(project: KasProject) -> list[RepoStatus]:
    git = _git()
    out = []
    for repo in project.repos:
        st = RepoStatus(repo.id, str(repo.path), repo.url, repo.commit or repo.tag or repo.branch,
                        None, "ok", branch=repo.branch,
                        partial=[str(p) for p in partial_dirs(repo.path)])
        if not repo.path.exists():
            st.state = "missing"
        elif not (repo.path / ".git").exists() and not repo.is_local:
            st.state = "not-git"
        else:
            try:
                r = git.Repo(repo.path, search_parent_directories=repo.is_local)
                st.actual = read_head(Path(r.working_tree_dir))
                st.dirty_files = dirty_files(r)
                st.dirty = bool(st.dirty_files)
                if repo.is_local:
                    st.state = "local"
                elif repo.commit and HEX40.match(repo.commit):
                    st.state = "ok" if st.actual == repo.commit else "wrong-commit"
                else:
                    ref = f"refs/tags/{repo.tag}" if repo.tag else \
                        f"refs/remotes/origin/{_strip_heads(repo.branch or 'HEAD')}"
                    st.state = "ok" if _rev(r, ref) == st.actual else "wrong-commit"
            except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
                st.state = "local" if repo.is_local else "not-git"
        out.append(st)
    return out


# --------------------------------------------------------------------------
# lock files (armvm-oe lock)

@dataclass
class LockChange:
    id: str
    ref: str | None
    old: str | None
    new: str | None
    lock_file: str | None

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["changed"] = self.changed
        return d


def remote_commit(repo: RepoSpec) -> str:
    """The commit the repo's branch (or tag) points at on its server."""
    git = _git()
    url = effective_url(repo.url)
    if repo.branch:
        b = repo.branch[len("refs/heads/"):] if repo.branch.startswith("refs/heads/") \
            else repo.branch
        refs = [f"refs/heads/{b}"]
    elif repo.tag:
        refs = [f"refs/tags/{repo.tag}^{{}}", f"refs/tags/{repo.tag}"]
    else:
        return repo.commit
    try:
        out = git.cmd.Git().ls_remote(url, *refs)
    except git.GitCommandError as exc:
        raise InputError(f"Cannot read repo '{repo.id}' from {url}",
                         f"git said: {' '.join(str(exc.stderr).split())[-500:]}",
                         "Check the URL and your network or proxy, and run 'armvm-oe doctor'")
    found = dict(reversed(line.split("\t")) for line in out.splitlines() if "\t" in line)
    for ref in refs:
        if ref in found and HEX40.match(found[ref]):
            return found[ref]
    raise InputError(f"Repo '{repo.id}': {refs[0]} does not exist on {url}",
                     "the branch or tag in the configuration is not on the server",
                     "Fix 'branch:'/'tag:' in the configuration")


def _lock_entries(path: Path) -> dict:
    data = yaml.safe_load(path.read_text()) or {}
    return ((data.get("overrides") or {}).get("repos") or {}), \
        int((data.get("header") or {}).get("version", 14))


def lock(config, update: bool = False, work_dir=None) -> list[LockChange]:
    project: KasProject = load_config(config, work_dir=work_dir)
    top_lock = lock_file_for(split_configs(config)[0])
    own = [p for p in project.lock_files if p.is_relative_to(project.top_repo_path)]
    entries = {p: _lock_entries(p)[0] for p in own}
    plan: dict[Path, dict[str, str]] = {}
    comments: dict[Path, dict[str, str]] = {}
    changes = []
    for repo in project.remote_repos:
        holder = next((p for p in reversed(own) if repo.id in entries[p]), None)
        old = repo.commit
        if update or not old or holder is None:
            new = remote_commit(repo) if (update or not old) else old
        else:
            new = old
        target = holder or top_lock
        plan.setdefault(target, {})[repo.id] = new
        ref = f"branch {repo.branch}" if repo.branch else (f"tag {repo.tag}" if repo.tag else None)
        if ref:
            comments.setdefault(target, {})[repo.id] = ref
        changes.append(LockChange(repo.id, ref, old, new, str(target)))
    for path, commits in plan.items():
        existing, version = _lock_entries(path) if path.exists() else ({}, 14)
        merged = {k: v["commit"] for k, v in existing.items()
                  if isinstance(v, dict) and v.get("commit")}
        if merged == {**merged, **commits} and path.exists():
            continue
        merged.update(commits)
        write_lock(path, merged, header_version=version, comments=comments.get(path))
    return changes

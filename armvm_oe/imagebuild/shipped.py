"""The kas configurations and meta-armvm of the running armvm-oe, usable from
any directory.

A non-editable install ships ``kas/`` and ``meta-armvm/`` as package data
(``armvm_oe/_source``, symlinks in the checkout). kas needs them in a git
repository (it finds the top repository, the root of its include paths and
of the url-less ``armvm-oe`` repo, with ``git rev-parse --show-toplevel``),
and the build container sees only the project and the work dir. So armvm-oe
writes them into the work dir as ``<work>/armvm-oe``, a git repository with
one commit of exactly the installed files (fixed author and date: the same
installed files give the same commit id), and uses it:

* as the project, when ``armvm-oe build`` runs in a directory that holds no
  armvm-oe project (e.g. an empty one) and armvm-oe is not run from a checkout;
* for a user's own kas file that declares ``repos: armvm-oe: path: armvm-oe``
  (kas reads a relative ``path`` from the work dir) and includes
  ``repo: armvm-oe, file: kas/armvm-aarch64.yml`` (docs/build.md).

A ``<work>/armvm-oe`` that armvm-oe did not write (a clone of yours) is used
as it is; one it wrote for another version is replaced when it has no local
changes, and refused otherwise (the user's edits are never discarded).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from armvm_oe.errors import ProblemFound

SHIPPED_DIR = "armvm-oe"                      # in the work dir
PARTS = ("kas", "meta-armvm")
MARKER = "armvm-oe-shipped"                   # in .git/: the digest of the files written
DEFAULT_CONFIG = "kas/armvm-aarch64.yml"
_SKIP = ("__pycache__",)
_DATE = "1790467200 +0000"                    # containers/Dockerfile's SOURCE_DATE_EPOCH


def _pkg() -> Path:
    return Path(__file__).resolve().parent.parent


def layer_source() -> Optional[Path]:
    """The directory holding this armvm-oe's ``kas/`` and ``meta-armvm/``: the
    checkout it runs from, else the copy shipped in the package."""
    pkg = _pkg()
    for cand in (pkg.parent, pkg / "_source"):
        if (cand / DEFAULT_CONFIG).is_file() and (cand / "meta-armvm" / "conf" / "layer.conf").is_file():
            return cand
    return None


def runs_from_checkout() -> bool:
    src = layer_source()
    return src is not None and src == _pkg().parent


def files_of(root: Path) -> list[tuple[str, int, bytes]]:
    """(relative path, mode, bytes) of every file of the shipped parts, sorted."""
    out = []
    for part in PARTS:
        for dirpath, dirnames, filenames in os.walk(root / part):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP)
            for fn in filenames:
                if fn.endswith((".pyc", ".pyo")):
                    continue
                p = Path(dirpath) / fn
                mode = 0o755 if os.stat(p).st_mode & 0o100 else 0o644
                out.append((p.relative_to(root).as_posix(), mode, p.read_bytes()))
    return sorted(out)


def digest(files: list[tuple[str, int, bytes]]) -> str:
    h = hashlib.sha256(b"armvm-oe shipped v1\0")
    for name, mode, data in files:
        h.update(f"{name}\0{mode:o}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, GIT_AUTHOR_NAME="armvm-oe", GIT_AUTHOR_EMAIL="armvm-oe@localhost",
               GIT_COMMITTER_NAME="armvm-oe", GIT_COMMITTER_EMAIL="armvm-oe@localhost",
               GIT_AUTHOR_DATE=_DATE, GIT_COMMITTER_DATE=_DATE,
               GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    env.pop("GIT_DIR", None)
    # -c safe.directory: a root caller reads a copy it handed to the build user
    return subprocess.run(["git", "-c", f"safe.directory={repo}", "-C", str(repo), *args],
                          env=env, capture_output=True, text=True, check=check)


def wanted_by(chain: str, work_dir: Path) -> bool:
    """Does a top file of ``chain`` declare a url-less repo whose ``path`` is
    ``<work>/armvm-oe``? (The file is read the way the config loader reads it;
    a bad file raises the loader's own error.)"""
    from armvm_oe.kasconfig import _read_file, split_configs
    target = (work_dir / SHIPPED_DIR).absolute()
    for top in split_configs(chain):
        if not top.is_file():
            continue
        repos = _read_file(top).data.get("repos") or {}
        for rc in repos.values() if isinstance(repos, dict) else ():
            if not isinstance(rc, dict) or rc.get("url") or not isinstance(rc.get("path"), str):
                continue
            p = Path(rc["path"])
            if Path(os.path.normpath(p if p.is_absolute() else work_dir / p)) == target:
                return True
    return False


def materialize(work_dir: Path, owner: Optional[tuple[int, int]] = None,
                source: Optional[Path] = None, say=None) -> Path:
    """``<work>/armvm-oe`` holding this armvm-oe's kas/ and meta-armvm/ as one
    git commit; written (atomically: a temporary directory renamed into place)
    when missing or when it is an earlier copy without local changes. ``owner``:
    (uid, gid) to hand the copy to (a root caller's container build user)."""
    from armvm_oe import __version__
    src = source or layer_source()
    dest = Path(work_dir).absolute() / SHIPPED_DIR
    if src is None:
        from armvm_oe.container.errors import SourceTreeMissing
        raise SourceTreeMissing(f"{_pkg().parent} and {_pkg() / '_source'} (kas/, meta-armvm/)")
    files = files_of(src)
    want = digest(files)
    if dest.exists() or dest.is_symlink():
        marker = dest / ".git" / MARKER
        if not marker.is_file():
            return dest                     # the user's own armvm-oe tree: used as it is
        if marker.read_text().split()[0:1] == [want]:
            return dest
        st = _git(dest, "status", "--porcelain", "--untracked-files=all", check=False)
        if st.returncode != 0 or st.stdout.strip():
            changed = ", ".join(ln[3:] for ln in st.stdout.splitlines()[:5]) or st.stderr.strip()
            raise ProblemFound(
                f"{dest} holds the kas files and meta-armvm of another armvm-oe version, with "
                f"local changes ({changed})",
                f"armvm-oe {__version__} would replace it with its own copy, and that would "
                "discard your changes",
                f"Move it away (mv {dest} {dest}.mine) and run the command again; to keep "
                "changes, make your own project on top of meta-armvm (docs/build.md)")
    tmp = dest.parent / f".{SHIPPED_DIR}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    for name, mode, data in files:
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        p.chmod(mode)
    _git(tmp, "init", "-q", "-b", "main")
    _git(tmp, "add", "-A")
    _git(tmp, "commit", "-q", "-m",
         f"armvm-oe {__version__}: kas/ and meta-armvm/ as installed\n\n"
         f"Written by armvm-oe from {src}; content sha256 {want}.")
    (tmp / ".git" / MARKER).write_text(f"{want} {__version__}\n")
    if owner:
        for dirpath, dirnames, filenames in os.walk(tmp):
            for n in dirnames + filenames:
                os.lchown(os.path.join(dirpath, n), *owner)
        os.lchown(tmp, *owner)
    if dest.exists():
        old = dest.parent / f".{SHIPPED_DIR}.old-{os.getpid()}"
        dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(dest)
    if say:
        say(f"build: wrote armvm-oe {__version__}'s kas/ and meta-armvm/ to {dest} "
            f"(commit {_git(dest, 'rev-parse', '--short=12', 'HEAD').stdout.strip()})")
    return dest

"""A real non-editable install of this tree, as scripts/install.sh makes it:
the files git tracks (a clone, with their working-tree content, so local
changes are tested too; symlinks kept as symlinks, as a clone has them) are
built into a wheel by pip and installed with ``pip install --no-deps
--target`` (the dependencies come from the test's interpreter). Cached under
``lib.cache_dir()/installed/<hash of those files>``; run it as
``python -m armvm_oe`` with PYTHONPATH = the returned directory."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from armvm_oe import lib

ROOT = Path(__file__).resolve().parents[2]


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True,
                         check=True).stdout.decode()
    return sorted(p for p in out.split("\0") if p and os.path.lexists(ROOT / p))


def tree_key(files: list[str]) -> str:
    h = hashlib.sha256(b"armvm-oe installed v1\0")
    for rel in files:
        p = ROOT / rel
        st = p.lstat()
        data = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
        h.update(f"{rel}\0{st.st_mode & 0o170100:o}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:16]


def installed_package() -> Path:
    """The directory holding the installed ``armvm_oe`` (and its dist-info)."""
    files = tracked_files()
    base = lib.cache_dir() / "installed"
    base.mkdir(parents=True, exist_ok=True)
    dest = base / tree_key(files)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dest / ".complete").exists():
            return dest
        shutil.rmtree(dest, ignore_errors=True)
        src = base / f".src-{os.getpid()}"
        shutil.rmtree(src, ignore_errors=True)
        for rel in files:
            p, q = ROOT / rel, src / rel
            q.parent.mkdir(parents=True, exist_ok=True)
            if p.is_symlink():
                q.symlink_to(os.readlink(p))
            else:
                shutil.copy2(p, q)
        try:
            r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                                "--disable-pip-version-check", "--no-compile", "--target",
                                str(dest), str(src)], capture_output=True, text=True,
                               timeout=900)
            if r.returncode != 0:
                raise RuntimeError(f"pip install --target {dest} failed:\n{r.stderr[-3000:]}")
        finally:
            shutil.rmtree(src, ignore_errors=True)
        (dest / ".complete").write_text("\n".join(files) + "\n")
    return dest


def shipped_files(root: Path) -> dict[str, bytes]:
    """kas/ and meta-armvm/ under ``root`` (a checkout, an install's _source, a
    work dir's armvm-oe/): relative path -> bytes."""
    out = {}
    for part in ("kas", "meta-armvm"):
        for p in sorted((root / part).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc"):
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out

"""Shared helpers: directories, host tools, subprocesses."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from armvm_oe.errors import ToolMissing

APP = "armvm-oe"


def cache_dir() -> Path:
    """Downloads and built fixtures, keyed by their inputs (safe to delete)."""
    base = os.environ.get("ARMVM_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    path = Path(base) / (APP if not os.environ.get("ARMVM_CACHE_DIR") else "") if base \
        else Path.home() / ".cache" / APP
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Per-user state that must survive (VM instances and their UEFI variable
    stores): never deleted by armvm-oe."""
    base = os.environ.get("ARMVM_DATA_DIR")
    if base:
        path = Path(base)
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        path = (Path(xdg) if xdg else Path.home() / ".local" / "share") / APP
    path.mkdir(parents=True, exist_ok=True)
    return path


def require_tool(tool: str, package: str, purpose: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise ToolMissing(tool, package, purpose)
    return found


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run with text output captured and check=True by default."""
    kwargs.setdefault("check", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("capture_output", True)
    return subprocess.run([str(c) for c in cmd], **kwargs)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write via a sibling temp file and rename, so readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    mode = "w" if isinstance(data, str) else "wb"
    with open(tmp, mode) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

"""Read files from an ext2/3/4 partition with e2fsprogs' ``debugfs`` (no
mount, no root, read-only, catastrophic mode so corrupt bitmaps do not stop it).

A partition of a raw image file is handed to debugfs in place
(``image?offset=N``, e2fsprogs' unix I/O manager syntax), so nothing is
copied; a partition of a compressed or converted image is first written to a
sparse temporary file. Every debugfs call runs under an address-space limit
and, as backstops far above what a real call costs (milliseconds), a CPU
limit and a hang guard.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from armvm_oe.errors import ToolMissing
from armvm_oe.image.source import FileSource, SliceSource, Source, copy_to_file

EXT_MAGIC = 0xEF53
DEBUGFS_MEMORY = 768 << 20       # address space of one debugfs (a corrupt fs made it take 1.5 GB)
DEBUGFS_CPU = 60                 # CPU s of one debugfs: a backstop (a real call takes ms)
CALL_SECONDS = 300.0             # hang guard per call (wall), not a time budget
TOTAL_SECONDS = 900.0            # hang guard for all debugfs calls on one filesystem


def _limit_memory() -> None:      # runs in the child before exec
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (DEBUGFS_MEMORY, DEBUGFS_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (DEBUGFS_CPU, DEBUGFS_CPU))


class Ext4Error(Exception):
    """debugfs could not read the filesystem or the file (message says why)."""


class Ext4TooLarge(Ext4Error):
    """A file is larger than the caller's read limit."""


def is_ext(src: Source) -> bool:
    sb = src.read(1024, 1024)
    return len(sb) >= 58 + 2 and struct.unpack_from("<H", sb, 56)[0] == EXT_MAGIC


@dataclass
class ExtEntry:
    name: str
    mode: int
    size: int

    @property
    def is_dir(self) -> bool:
        return (self.mode & 0o170000) == 0o040000


class Ext4:
    """An ext2/3/4 filesystem in ``src`` (a partition slice or a whole source)."""

    def __init__(self, src: Source, timeout: float = CALL_SECONDS) -> None:
        self.timeout = timeout
        self.spent = 0.0
        self._exe = shutil.which("debugfs") or next(
            (p for p in ("/sbin/debugfs", "/usr/sbin/debugfs") if os.path.exists(p)), None)
        if not self._exe:
            raise ToolMissing("debugfs", "e2fsprogs", "read files from the ext4 root partition")
        self._tmpdir: str | None = None
        self._src = src
        if not is_ext(src):
            raise Ext4Error("no ext2/3/4 superblock (magic 0xEF53) in the partition")
        parent, offset = src, 0
        if isinstance(src, SliceSource):
            parent, offset = src.parent, src.offset
        if isinstance(parent, FileSource) and os.path.exists(parent.name) and \
                not getattr(parent, "_tmpdir", None):
            self.spec = f"{parent.name}?offset={offset}" if offset else parent.name
        elif isinstance(parent, FileSource):          # qemu-img converted raw file
            self.spec = f"{parent._tmpdir}/image.raw?offset={offset}"  # type: ignore[attr-defined]
        else:
            self._tmpdir = tempfile.mkdtemp(prefix="armvm-ext4-")
            path = Path(self._tmpdir) / "root.ext4"
            with open(path, "wb") as f:
                copy_to_file(src, f)
            self.spec = str(path)
        self.bytes_out = 0

    def _run(self, request: str) -> subprocess.CompletedProcess:
        return self._run_args(["-R", request], request)

    def _run_args(self, args: list[str], request: str) -> subprocess.CompletedProcess:
        if self.spent >= TOTAL_SECONDS:
            raise Ext4Error(f"debugfs used its {TOTAL_SECONDS:.0f} s budget for this "
                            "filesystem: giving up")
        t0 = time.monotonic()
        try:
            proc = subprocess.run([self._exe, "-c", *args, self.spec],
                                  capture_output=True, timeout=self.timeout,
                                  stdin=subprocess.DEVNULL, preexec_fn=_limit_memory)
        except subprocess.TimeoutExpired:
            raise Ext4Error(f"debugfs did not finish '{request}' within {self.timeout:.0f} s")
        finally:
            self.spent += time.monotonic() - t0
        if proc.returncode < 0 or (proc.returncode and b"Cannot allocate" in proc.stderr):
            raise Ext4Error(f"debugfs stopped on '{request}' (signal, or over its "
                            f"{DEBUGFS_MEMORY >> 20} MiB memory or {DEBUGFS_CPU} s CPU "
                            "limit): the filesystem is corrupt")
        self.bytes_out += len(proc.stdout)
        return proc

    @staticmethod
    def _quote(path: str) -> str:
        if any(c in path for c in '"\n'):
            raise Ext4Error(f"unsupported character in path {path!r}")
        return f'"{path}"'

    def listdir(self, path: str) -> list[ExtEntry]:
        proc = self._run(f"ls -p {self._quote(path)}")
        err = proc.stderr.decode("utf-8", "replace")
        out: list[ExtEntry] = []
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            f = line.strip().split("/")      # /inode/mode/uid/gid/name/size/
            if len(f) != 8 or not f[1].isdigit():
                continue
            name = f[5]
            if name in (".", ".."):
                continue
            try:
                out.append(ExtEntry(name, int(f[2], 8), int(f[6] or 0)))
            except ValueError:
                continue
        if not out and ("not found" in err or "File not found" in err):
            raise FileNotFoundError(path)
        return out

    def listdirs(self, paths: list[str]) -> dict[str, list[ExtEntry]]:
        """Several directories in one debugfs run (``-f`` command file):
        {path: entries} for those that exist."""
        for p in paths:
            self._quote(p)
        with tempfile.NamedTemporaryFile("w", suffix=".cmds", delete=False) as f:
            f.write("".join(f"ls -p {self._quote(p)}\n" for p in paths))
            cmds = f.name
        try:
            proc = self._run_args(["-f", cmds], f"ls of {len(paths)} directories")
        finally:
            os.unlink(cmds)
        out: dict[str, list[ExtEntry]] = {}
        cur = None
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            if line.startswith("debugfs: ls -p "):
                cur = line[len("debugfs: ls -p "):].strip().strip('"')
                continue
            f = line.strip().split("/")
            if cur is None or len(f) != 8 or not f[1].isdigit() or f[5] in (".", ".."):
                continue
            try:
                out.setdefault(cur, []).append(ExtEntry(f[5], int(f[2], 8), int(f[6] or 0)))
            except ValueError:
                continue
        return out

    def exists(self, path: str) -> bool:
        proc = self._run(f"stat {self._quote(path)}")
        return proc.returncode == 0 and b"Inode:" in proc.stdout

    def read(self, path: str, max_bytes: int = 64 << 20) -> bytes:
        """File content; FileNotFoundError when absent, Ext4Error when over
        ``max_bytes`` or unreadable."""
        entries = None
        parent, _, name = path.rstrip("/").rpartition("/")
        try:
            entries = self.listdir(parent or "/")
        except FileNotFoundError:
            raise FileNotFoundError(path) from None
        match = next((e for e in entries if e.name == name), None)
        if match is None:
            raise FileNotFoundError(path)
        if match.size > max_bytes:
            raise Ext4TooLarge(f"{path} is {match.size} bytes, over the {max_bytes} byte limit")
        proc = self._run(f"cat {self._quote(path)}")
        return proc.stdout[:max_bytes]

    def close(self) -> None:
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

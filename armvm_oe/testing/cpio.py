"""A minimal ``newc`` cpio writer: deterministic (fixed mtimes, sorted order)
and able to create device nodes without root, which the cpio tool cannot."""

from __future__ import annotations

import gzip
import stat
from pathlib import Path


class Cpio:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, bytes, int]] = {}   # path -> (mode, data, rdev)

    def dir(self, path: str, mode: int = 0o755) -> None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self._entries.setdefault("/".join(parts[:i]), (stat.S_IFDIR | mode, b"", 0))

    def file(self, path: str, data: bytes | Path, mode: int = 0o644) -> None:
        if isinstance(data, Path):
            data = data.read_bytes()
        self.dir(str(Path(path).parent)) if "/" in path.strip("/") else None
        self._entries[path.strip("/")] = (stat.S_IFREG | mode, data, 0)

    def symlink(self, path: str, target: str) -> None:
        self.dir(str(Path(path).parent)) if "/" in path.strip("/") else None
        self._entries[path.strip("/")] = (stat.S_IFLNK | 0o777, target.encode(), 0)

    def chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entries[path.strip("/")] = (stat.S_IFCHR | mode, b"", (major << 8) | minor)

    def _header(self, ino: int, name: bytes, mode: int, size: int, rdev: int) -> bytes:
        fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, rdev >> 8, rdev & 0xFF, len(name) + 1, 0]
        return b"070701" + b"".join(b"%08X" % f for f in fields)

    def to_bytes(self) -> bytes:
        out = bytearray()

        def pad4():
            out.extend(b"\0" * (-len(out) % 4))

        for ino, path in enumerate(sorted(self._entries), 1):
            mode, data, rdev = self._entries[path]
            name = path.encode()
            out += self._header(ino, name, mode, len(data), rdev) + name + b"\0"
            pad4()
            out += data
            pad4()
        out += self._header(0, b"TRAILER!!!", 0, 0, 0) + b"TRAILER!!!\0"
        pad4()
        return bytes(out)

    def write_gz(self, path: Path) -> Path:
        with open(path, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz:
                gz.write(self.to_bytes())
        return Path(path)

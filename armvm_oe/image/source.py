"""Byte sources: random-access, read-only, counted views of a disk image.

Every reader in :mod:`armvm_oe.image` goes through a :class:`Source`, so the
number of bytes actually read from the image is known (``source.bytes_read``)
and a benchmark can prove that verifying a 16 GiB image reads a few MiB.

* :class:`FileSource` — a raw image (``.wic``, ``.img``, ``.raw``): ``pread``.
* :class:`BytesSource` — an in-memory image (tests, fuzzing).
* :class:`StreamSource` — a compressed image (``.gz``, ``.bz2``, ``.zst``,
  ``.xz``) decompressed once, as a stream (memory bounded by one 1 MiB chunk),
  into a sparse temporary file: all-zero 4 KiB blocks are holes, never
  written; the output is bounded per format by rules that depend on the
  input alone (:mod:`armvm_oe.image.limits`), so a decompression bomb is
  refused the same way on every machine.
* :func:`open_source` picks one by content (magic bytes), converting
  ``.qcow2`` through ``qemu-img`` (:class:`armvm_oe.errors.ToolMissing` when
  absent).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO, Callable

from armvm_oe.errors import InputError, ToolMissing
from armvm_oe.image.limits import (CONTRACT_INPUT, NONZERO_FLOOR, TOTAL_FLOOR,  # noqa: F401
                                   ExpansionLimit, ZstdScan, cpu_backstop, expansion_limits,
                                   qcow2_compressed_bytes, requested_expansion,
                                   zstd_scan, zstd_sequence_limit)
from armvm_oe.lib import regular_file

CHUNK = 1 << 20
_ZERO_CHUNK = bytes(CHUNK)
BLOCK = 4096                     # zero runs are skipped at this granularity (fs block size)
_ZERO_BLOCK = bytes(BLOCK)

MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"QFI\xfb", "qcow2"),
)


class Source:
    """Read-only random access to an image, counting the bytes it reads."""

    name: str = "?"
    format: str = "raw"

    def __init__(self) -> None:
        self.bytes_read = 0

    @property
    def size(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read(self, offset: int, length: int) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (short at the end of the image)."""
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        if offset >= self.size or length == 0:
            return b""
        length = min(length, self.size - offset)
        data = self._read(offset, length)
        self.bytes_read += len(data)
        return data

    def read_exact(self, offset: int, length: int, what: str = "data") -> bytes:
        data = self.read(offset, length)
        if len(data) != length:
            raise TruncatedImage(f"{what} at byte {offset} lies beyond the end of the image "
                                 f"({self.size} bytes)")
        return data

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TruncatedImage(Exception):
    """A structure the image names lies (partly) beyond its end."""


class BytesSource(Source):
    def __init__(self, data: bytes | bytearray | memoryview, name: str = "<memory>") -> None:
        super().__init__()
        self._data = memoryview(data)
        self.name = name

    @property
    def size(self) -> int:
        return len(self._data)

    def _read(self, offset: int, length: int) -> bytes:
        return bytes(self._data[offset:offset + length])


class FileSource(Source):
    """A raw image file read with ``os.pread`` (sparse files cost nothing)."""

    def __init__(self, path: str | os.PathLike, fmt: str = "raw") -> None:
        super().__init__()
        self.name = str(path)
        self.format = fmt
        self._fd = os.open(path, os.O_RDONLY)
        self._size = os.fstat(self._fd).st_size

    @property
    def size(self) -> int:
        return self._size

    def _read(self, offset: int, length: int) -> bytes:
        parts = []
        while length > 0:
            block = os.pread(self._fd, length, offset)
            if not block:
                break
            parts.append(block)
            offset += len(block)
            length -= len(block)
        return b"".join(parts)

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _decompressor(fmt: str, raw: BinaryIO, scan: ZstdScan | None = None) -> BinaryIO:
    if fmt == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if fmt == "bzip2":
        return bz2.BZ2File(raw, mode="rb")
    if fmt == "xz":
        return lzma.LZMAFile(raw, mode="rb")
    if fmt == "zstd":
        return _ZstdReader(raw, scan)
    raise ValueError(fmt)


ZSTD_MAX_WINDOW = 1 << 27        # zstd's own default limit: a fixed memory ceiling


class _ZstdReader:
    """Multi-frame zstd stream with a fixed memory ceiling (stream_reader
    returns at most what is asked; the window is capped), and truncation
    reported as an error (the header walk, :func:`zstd_scan`, done once:
    ``scan`` when the caller has it)."""

    def __init__(self, raw: BinaryIO, scan: ZstdScan | None = None) -> None:
        import zstandard
        self._z = zstandard
        self._raw = raw
        self._scan = scan
        self._r = None

    def read(self, n: int) -> bytes:
        if self._r is None:
            scan = self._scan or zstd_scan(self._raw.name)
            if scan.problem:
                raise ValueError(scan.problem)
            self._raw.seek(0)
            d = self._z.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
            self._r = d.stream_reader(self._raw, read_size=1 << 17, read_across_frames=True)
        try:
            return self._r.read(n)
        except self._z.ZstdError as err:
            raise ValueError(str(err) or "corrupt zstd data") from None

    def close(self) -> None:
        if self._r is not None:
            self._r.close()


class StreamSource(FileSource):
    """A compressed image, decompressed once as a forward stream into a sparse
    temporary file, then read with ``pread`` like a raw image (debugfs reads
    that file directly: no second decompression).

    All-zero 4 KiB blocks are holes (never written), so the file's allocated
    size is the image's non-zero data. The output is bounded while it is
    produced (:func:`expansion_limits`): total and non-zero bytes, per format,
    from the compressed file's size; a bomb is refused (:class:`ExpansionLimit`,
    exit 2) as soon as it passes either cap. A zstd file whose block headers
    declare more sequences than :func:`zstd_sequence_limit` is refused before
    anything is decoded."""

    def __init__(self, path: str | os.PathLike, fmt: str, max_size: int = 1 << 42,
                 max_expansion: float | None = None) -> None:
        Source.__init__(self)
        self.name = str(path)
        self.format = fmt
        self._fd = -1
        self.compressed_size = os.stat(path).st_size
        self.limit_total, self.limit_nonzero = expansion_limits(fmt, self.compressed_size,
                                                                max_expansion)
        self.cpu_backstop = cpu_backstop(self.compressed_size, max_expansion)
        self.nonzero_bytes = 0
        self.zstd: ZstdScan | None = None
        if fmt == "zstd":
            self.zstd = zstd_scan(path)
            limit = zstd_sequence_limit(self.compressed_size, max_expansion)
            if not self.zstd.problem and self.zstd.sequences > limit:
                raise ExpansionLimit(self.name, fmt, self.compressed_size, "sequences",
                                     limit, self.zstd.sequences)
        self._tmpdir: str | None = tempfile.mkdtemp(prefix="armvm-stream-")
        try:
            self._fd = os.open(Path(self._tmpdir) / "image.raw",
                               os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            self._size = self._unpack(path, max_size)
        except BaseException:
            self.close()
            raise

    def _chunks(self, stream: BinaryIO):
        while True:
            try:
                parts, want = [], CHUNK
                while want:
                    b = stream.read(want)
                    if not b:
                        break
                    parts.append(b)
                    want -= len(b)
                data = parts[0] if len(parts) == 1 else b"".join(parts)
            except InputError:
                raise
            except Exception as err:  # OSError, EOFError, LZMAError, ValueError, ZstdError
                raise InputError(f"{self.name} could not be decompressed ({self.format})",
                                 f"the stream is corrupt or truncated: {err}",
                                 "Re-create or re-download the image") from None
            if not data:
                return
            yield data

    def _write(self, view: memoryview, pos: int) -> None:
        try:
            while view:
                n = os.pwrite(self._fd, view, pos)
                view, pos = view[n:], pos + n
        except OSError as err:
            raise InputError(f"{self.name} could not be decompressed into "
                             f"{tempfile.gettempdir()}", err.strerror or str(err),
                             "Free space there or point TMPDIR at a larger directory, or "
                             "decompress the image yourself and verify the raw file") from None

    def _unpack(self, path: str | os.PathLike, max_size: int) -> int:
        total = 0
        cpu0 = time.process_time()
        with open(path, "rb") as raw:
            stream = _decompressor(self.format, raw, self.zstd)
            try:
                for data in self._chunks(stream):
                    n = len(data)
                    if data != (_ZERO_CHUNK if n == CHUNK else _ZERO_CHUNK[:n]):   # memcmp
                        view = memoryview(data)
                        start = None                     # a run of non-zero 4 KiB blocks
                        for off in range(0, n, BLOCK):
                            if view[off:off + BLOCK] != _ZERO_BLOCK[:min(BLOCK, n - off)]:
                                if start is None:
                                    start = off
                            elif start is not None:
                                self._write(view[start:off], total + start)
                                self.nonzero_bytes += off - start
                                start = None
                        if start is not None:
                            self._write(view[start:], total + start)
                            self.nonzero_bytes += n - start
                    total += n
                    if total > max_size:
                        raise InputError(f"{self.name} decompresses to more than {max_size} "
                                         "bytes", "that is larger than any disk image "
                                         "armvm-oe accepts",
                                         "Check that the file is a compressed disk image")
                    if self.nonzero_bytes > self.limit_nonzero:
                        raise ExpansionLimit(self.name, self.format, self.compressed_size,
                                             "non-zero", self.limit_nonzero, self.nonzero_bytes)
                    if total > self.limit_total:
                        raise ExpansionLimit(self.name, self.format, self.compressed_size,
                                             "output", self.limit_total, total)
                    if time.process_time() - cpu0 > self.cpu_backstop:     # not a limit
                        raise ExpansionLimit(self.name, self.format, self.compressed_size,
                                             "cpu", self.cpu_backstop, total)
            finally:
                try:
                    stream.close()
                except Exception:   # noqa: BLE001 - closing a broken stream
                    pass
        os.ftruncate(self._fd, total)
        return total

    def close(self) -> None:
        super().close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


# -- qcow2 backing files: refused unless asked for, never over a network -----
QCOW2_MAX_CHAIN = 8
QEMU_IMG_TIMEOUT = float(os.environ.get("ARMVM_QEMU_IMG_TIMEOUT", "600"))
_PROTOCOL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")     # nbd:, http://, json:, ...


def qcow2_references(path: str | os.PathLike) -> tuple[str | None, bool]:
    """(backing file name or None, has an external data file) from a qcow2
    header, read directly (qemu-img is never asked, so nothing is opened)."""
    with open(path, "rb") as f:
        head = f.read(104)
        if len(head) < 72 or head[:4] != b"QFI\xfb":
            return None, False
        version, = struct.unpack_from(">I", head, 4)
        off, size = struct.unpack_from(">QI", head, 8)
        incompatible = struct.unpack_from(">Q", head, 72)[0] if version >= 3 and \
            len(head) >= 80 else 0
        name = None
        if off and size:
            f.seek(off)
            name = f.read(min(size, 4096)).decode("utf-8", "replace")
    return name, bool(incompatible & 0x4)     # bit 2: external data file


def check_backing_chain(path: str | os.PathLike, allow_backing: bool) -> list[Path]:
    """Refuse (InputError) a qcow2 that names a backing or external data file,
    unless ``allow_backing``; even then refuse protocols (nbd:, http:, json:
    ...), files the caller could not read itself (os.access uses the real
    uid), non-regular files and chains deeper than QCOW2_MAX_CHAIN. Returns
    the chain, ``path`` first."""
    cur = Path(path)
    chain = [cur]
    for _ in range(QCOW2_MAX_CHAIN):
        backing, data_file = qcow2_references(cur)
        if data_file:
            raise InputError(f"{cur} keeps its data in an external file",
                             "verify does not open files a qcow2 names",
                             "Convert it to a self-contained image: qemu-img convert -O qcow2 "
                             f"{cur} standalone.qcow2")
        if backing is None:
            return chain
        if not allow_backing:
            raise InputError(f"{cur} has a backing file ({backing!r})",
                             "reading it would make verify open whatever file (or network "
                             "address) the image names",
                             "Check the backing file, then pass --allow-backing, or flatten the "
                             "image: qemu-img convert -O qcow2 IMAGE standalone.qcow2")
        if _PROTOCOL.match(backing) and not backing.startswith("file:"):
            raise InputError(f"{cur} names the backing {backing!r}, a network or pseudo "
                             "protocol", "verify never follows those, even with --allow-backing",
                             "Flatten the image with qemu-img convert")
        nxt = Path(backing.removeprefix("file:"))
        if not nxt.is_absolute():
            nxt = cur.parent / nxt
        st = None
        try:
            st = nxt.stat()
        except OSError:
            pass
        if st is None or not S_ISREG(st.st_mode) or not os.access(nxt, os.R_OK):
            raise InputError(f"{cur} names the backing file {nxt}, which is missing, not a "
                             "regular file or not readable by you", None,
                             "Flatten the image with qemu-img convert")
        cur = nxt
        chain.append(cur)
    raise InputError(f"{path}: the backing chain is deeper than {QCOW2_MAX_CHAIN}", None,
                     "Flatten the image with qemu-img convert")


def _child_cpu(pid: int) -> float:
    """User + system CPU seconds of a running child, from /proc (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _bounded_convert(cmd: list[str], raw: Path, name: str, fmt: str,
                     max_expansion: float | None, compressed: int,
                     inflated: int = 0) -> None:
    """Run ``qemu-img convert`` into ``raw`` under the same rules as the
    compressed streams, all in bytes. qcow2 (zlib/zstd clusters) and
    streamOptimized VMDK compress, so a 1.7 MB qcow2 holds 1 GiB of 0xFF:
    ``inflated`` (the bytes the compressed clusters of the file and its
    backing chain inflate to, :func:`qcow2_compressed_bytes`) is held to
    gzip's total-output cap before qemu-img starts; convert writes sparse, so
    the file's allocated size is the non-zero output, capped while it runs
    and once it has exited at the files' own size (uncompressed clusters are
    1:1) plus gzip's non-zero cap. The CPU backstop and the wall timeout (a
    backing file that never answers) are safety stops, not limits.
    ``compressed``: the bytes of the file and its backing chain."""
    total, nonzero = expansion_limits("gzip", compressed, max_expansion)
    if inflated > total:
        raise ExpansionLimit(name, fmt, compressed, "output", total, inflated)
    cap = compressed + nonzero
    budget = cpu_backstop(compressed, max_expansion)
    deadline = time.monotonic() + QEMU_IMG_TIMEOUT
    with tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
        try:
            while True:
                try:
                    proc.wait(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    pass
                try:
                    alloc = raw.stat().st_blocks * 512
                except OSError:
                    alloc = 0
                if alloc > cap:
                    raise ExpansionLimit(name, fmt, compressed, "non-zero", cap, alloc)
                if _child_cpu(proc.pid) > budget:                  # not a limit
                    raise ExpansionLimit(name, fmt, compressed, "cpu", budget)
                if time.monotonic() > deadline:
                    raise InputError(f"qemu-img did not convert {name} within "
                                     f"{QEMU_IMG_TIMEOUT:.0f} s",
                                     "it may be waiting for a network backing file or a very "
                                     "large image", "Convert it to raw yourself (qemu-img "
                                     "convert -O raw), or raise ARMVM_QEMU_IMG_TIMEOUT")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        errf.seek(0)
        out = errf.read().decode(errors="replace").strip()
    if proc.returncode != 0:
        raise InputError(f"qemu-img could not read {name} as {fmt}",
                         out.splitlines()[-1] if out else "no reason given",
                         "Check the file with 'qemu-img check' or convert it to raw")
    # the last writes may land between two polls
    alloc = raw.stat().st_blocks * 512
    if alloc > cap:
        raise ExpansionLimit(name, fmt, compressed, "non-zero", cap, alloc)


class QemuImgSource(FileSource):
    """A qcow2 (or other qemu-img format) image converted to a sparse raw
    temporary file with ``qemu-img convert`` (only allocated data is written),
    with a timeout, after :func:`check_backing_chain`."""

    def __init__(self, path: str | os.PathLike, fmt: str = "qcow2",
                 allow_backing: bool = False, max_expansion: float | None = None) -> None:
        exe = shutil.which("qemu-img")
        if not exe:
            raise ToolMissing("qemu-img", "qemu-utils", f"read the {fmt} image {path}")
        chain = [Path(path)]
        if fmt == "qcow2":
            chain = check_backing_chain(path, allow_backing)
        self._tmpdir = tempfile.mkdtemp(prefix="armvm-verify-")
        raw = Path(self._tmpdir) / "image.raw"
        cmd = [exe, "convert", "-q", "-f", fmt, "-O", "raw", str(path), str(raw)]
        try:
            _bounded_convert(cmd, raw, str(path), fmt, max_expansion,
                             sum(os.stat(c).st_size for c in chain),
                             sum(qcow2_compressed_bytes(c) for c in chain)
                             if fmt == "qcow2" else 0)
        except BaseException:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            raise
        super().__init__(raw, fmt)
        self.name = str(path)

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)


def sniff(path: str | os.PathLike) -> str:
    """The container format of ``path`` by its magic bytes: raw, gzip, bzip2,
    zstd, xz or qcow2."""
    with open(path, "rb") as f:
        head = f.read(8)
    for magic, fmt in MAGIC:
        if head.startswith(magic):
            return fmt
    return "raw"


def open_source(path: str | os.PathLike, fmt: str | None = None,
                allow_backing: bool = False, max_expansion: float | None = None) -> Source:
    """Open ``path`` as a :class:`Source`, detecting the format by content.

    Raises :class:`InputError` (exit 2) for a missing, unreadable, empty or
    undecompressable file, :class:`ExpansionLimit` (exit 2) for a compressed
    file beyond :func:`expansion_limits` (``max_expansion`` raises them) and
    :class:`ToolMissing` for qcow2 without qemu-img."""
    p = Path(path)
    try:
        if p.is_dir():
            raise InputError(f"{p} is a directory", "verify needs a disk image file",
                             "Pass the .wic/.img/.qcow2 file itself")
        regular_file(p, "The image", "Pass the .wic/.img/.qcow2 file itself")
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{p} does not exist", None,
                         "Check the path (Yocto puts images in tmp/deploy/images/<machine>/)") \
            from None
    except OSError as err:
        raise InputError(f"{p} cannot be read", str(err), "Check the path and its permissions") \
            from None
    if st.st_size == 0:
        raise InputError(f"{p} is empty (0 bytes)", "an interrupted build or copy leaves "
                         "zero-length files", "Rebuild or copy the image again")
    try:
        fmt = fmt or sniff(p)
    except OSError as err:
        raise InputError(f"{p} cannot be read", str(err), "Check its permissions") from None
    if fmt == "raw":
        from armvm_oe.image import containers    # VMDK/VHD/VHDX/OVA (armvm-oe export)
        kind = containers.detect(p)
        if kind:
            return containers.open_container(p, kind)
        return FileSource(p)
    if fmt == "qcow2":
        return QemuImgSource(p, allow_backing=allow_backing, max_expansion=max_expansion)
    src = StreamSource(p, fmt, max_expansion=max_expansion)
    if src.size == 0:
        raise InputError(f"{p} decompresses to nothing", f"the {fmt} stream is empty",
                         "Rebuild or copy the image again")
    return src


class SliceSource(Source):
    """A window (partition) of another source; reads count on the parent too."""

    def __init__(self, parent: Source, offset: int, length: int, name: str = "") -> None:
        super().__init__()
        self.parent = parent
        self.offset = offset
        self._size = max(0, min(length, parent.size - offset))
        self.declared_size = length
        self.name = name or f"{parent.name}@{offset}"

    @property
    def size(self) -> int:
        return self._size

    def _read(self, offset: int, length: int) -> bytes:
        return self.parent.read(self.offset + offset, length)


def copy_to_file(src: Source, dest: BinaryIO, progress: Callable[[int], None] | None = None) -> None:
    """Copy ``src`` into ``dest`` keeping all-zero chunks as holes (sparse)."""
    pos = 0
    while pos < src.size:
        data = src.read(pos, CHUNK)
        if not data:
            break
        if data != _ZERO_CHUNK[:len(data)]:
            dest.seek(pos)
            dest.write(data)
        pos += len(data)
        if progress:
            progress(pos)
    dest.truncate(src.size)

"""Block maps in bmaptool's XML format (version 2.0) and the compressed
image they go with.

``bmaptool copy image.wic.xz /dev/sdX`` writes only the blocks the ``.bmap``
lists (and checks each range's SHA256), so flashing an 8 GiB image with
300 MiB of data writes 300 MiB. The mapped ranges are the file's allocated
extents, found with ``lseek(SEEK_DATA/SEEK_HOLE)`` the way ``bmaptool
create`` finds them; a file system without hole reporting maps everything
(correct, just not faster to flash)."""

from __future__ import annotations

import hashlib
import lzma
import os
from pathlib import Path
from typing import Callable, Iterator

BLOCK = 4096
ZERO = bytes(1 << 20)
BMAP_VERSION = "2.0"


def data_ranges(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) byte ranges holding data, in order (end exclusive)."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:                      # ENXIO: only a hole remains
            return
        try:
            end = os.lseek(fd, start, os.SEEK_HOLE)
        except OSError:
            end = size
        end = min(end, size)
        if end <= start:
            return
        yield start, end
        pos = end


def block_ranges(fd: int, size: int, block: int = BLOCK) -> list[tuple[int, int]]:
    """Mapped block ranges (first, last inclusive), extents widened to whole
    blocks and merged when they touch."""
    out: list[list[int]] = []
    for start, end in data_ranges(fd, size):
        first, last = start // block, (end - 1) // block
        if out and first <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return [(a, b) for a, b in out]


def _human(n: float) -> str:
    from armvm_oe.ui import human_size
    return human_size(n, ("bytes", "KiB", "MiB", "GiB", "TiB"))   # bmaptool's words


def bmap_xml(size: int, ranges: list[tuple[int, int, str]], block: int = BLOCK) -> str:
    """The bmap document; ``ranges`` are (first, last, sha256 hex) blocks.
    The file checksum is filled in by :func:`finish_checksum`."""
    blocks = -(-size // block)
    mapped = sum(b - a + 1 for a, b, _ in ranges)
    pct = 100.0 * mapped / blocks if blocks else 0.0
    lines = [
        '<?xml version="1.0" ?>',
        "<!-- Block map of an image (bmaptool's format): the mapped blocks are",
        "     the ones holding data; 'bmaptool copy' writes only those. -->",
        f'<bmap version="{BMAP_VERSION}">',
        f"    <!-- Image size in bytes: {_human(size)} -->",
        f"    <ImageSize> {size} </ImageSize>",
        "    <!-- Size of a block in bytes -->",
        f"    <BlockSize> {block} </BlockSize>",
        "    <!-- Count of blocks in the image file -->",
        f"    <BlocksCount> {blocks} </BlocksCount>",
        f"    <!-- Count of mapped blocks: {_human(mapped * block)} or {pct:.1f}% -->",
        f"    <MappedBlocksCount> {mapped} </MappedBlocksCount>",
        "    <!-- Type of checksum used in this file -->",
        "    <ChecksumType> sha256 </ChecksumType>",
        "    <!-- The checksum of this bmap file, computed with this value all '0' -->",
        f"    <BmapFileChecksum> {'0' * 64} </BmapFileChecksum>",
        "    <BlockMap>",
    ]
    for a, b, digest in ranges:
        span = f"{a}" if a == b else f"{a}-{b}"
        lines.append(f'        <Range chksum="{digest}"> {span} </Range>')
    lines += ["    </BlockMap>", "</bmap>", ""]
    return finish_checksum("\n".join(lines))


def finish_checksum(text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return text.replace("0" * 64, digest, 1)


SPLIT_HOLE = 1 << 20          # holes this large end the current xz stream
ZERO_STREAM_MAX = 64 << 20    # largest precompressed all-zero stream


class _ZeroStreams:
    """Precompressed xz streams of all-zero data, by length.

    An .xz file may be several streams back to back (xz(1), liblzma and
    Python's lzma read them as one), so a hole of any size is written as
    copies of a few cached streams (64 MiB, then powers of two of the block
    size) instead of pushing gigabytes of zeros through the compressor."""

    def __init__(self, preset: int) -> None:
        self.preset = preset
        self._cache: dict[int, bytes] = {}

    def stream(self, n: int) -> bytes:
        if n not in self._cache:
            c = lzma.LZMACompressor(format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                                    preset=self.preset)
            parts = []
            left = n
            while left:
                k = min(left, len(ZERO))
                parts.append(c.compress(ZERO[:k]))
                left -= k
            parts.append(c.flush())
            self._cache[n] = b"".join(parts)
        return self._cache[n]

    def pieces(self, n: int) -> Iterator[tuple[int, bytes]]:
        while n >= ZERO_STREAM_MAX:
            yield ZERO_STREAM_MAX, self.stream(ZERO_STREAM_MAX)
            n -= ZERO_STREAM_MAX
        bit = ZERO_STREAM_MAX >> 1
        while n >= BLOCK and bit >= BLOCK:
            if n >= bit:
                yield bit, self.stream(bit)
                n -= bit
            bit >>= 1
        if n:
            yield n, self.stream(n)


def compress_with_bmap(raw: Path, out_xz, preset: int = 6,
                       progress: Callable[[int], None] | None = None) -> str:
    """Write ``raw`` as xz to the file object ``out_xz`` and return the
    bmap of ``raw``. One pass: each mapped range is hashed as it is
    compressed; holes are never read: small ones are fed to the compressor
    as zeros, large ones become cached all-zero xz streams."""
    size = raw.stat().st_size
    zeros = _ZeroStreams(preset)
    comp: lzma.LZMACompressor | None = None
    pos = 0
    out_ranges = []

    def tick() -> None:
        if progress:
            progress(pos)

    def compress(data: bytes) -> None:
        nonlocal comp
        if comp is None:
            comp = lzma.LZMACompressor(format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                                       preset=preset)
        out_xz.write(comp.compress(data))

    def end_stream() -> None:
        nonlocal comp
        if comp is not None:
            out_xz.write(comp.flush())
            comp = None

    def hole(n: int) -> None:
        nonlocal pos
        if n < SPLIT_HOLE:
            while n > 0:
                k = min(n, len(ZERO))
                compress(ZERO[:k])
                n -= k
                pos += k
            return
        end_stream()
        for k, blob in zeros.pieces(n):
            out_xz.write(blob)
            pos += k
            tick()

    fd = os.open(raw, os.O_RDONLY)
    try:
        for first, last in block_ranges(fd, size):
            start, end = first * BLOCK, min((last + 1) * BLOCK, size)
            hole(start - pos)
            h = hashlib.sha256()
            while pos < end:
                data = os.pread(fd, min(4 << 20, end - pos), pos)
                if not data:
                    raise OSError(f"{raw} ended early at byte {pos}")
                h.update(data)
                compress(data)
                pos += len(data)
                tick()
            out_ranges.append((first, last, h.hexdigest()))
        hole(size - pos)
        end_stream()
        if size == 0:
            out_xz.write(zeros.stream(0))
    finally:
        os.close(fd)
    return bmap_xml(size, out_ranges)


def bmap_name(out: Path) -> Path:
    """``image.wic.xz`` -> ``image.wic.bmap`` (Yocto's and bmaptool's pairing)."""
    name = out.name[:-3] if out.name.endswith(".xz") else out.name
    return out.with_name(name + ".bmap")

"""How much a compressed image may cost to open: every refusal a function
of the input alone (its size, the bytes it decodes to, the non-zero bytes,
the zstd sequences its block headers declare, the qcow2 clusters its tables
map), so the same file gets the same answer on every machine, idle or busy.

A compressed image is decompressed once into a sparse temporary file (zero
4 KiB blocks are holes, never written). Two caps per format on the output,
from the compressed file's size C:

    total output    <= TOTAL_FLOOR[fmt] + TOTAL_SLOPE * max(0, C - CONTRACT_INPUT)
    non-zero output <= NONZERO_FLOOR[fmt] + NONZERO_SLOPE[fmt] * max(0, C - CONTRACT_INPUT)

Below CONTRACT_INPUT the floors are the whole budget, sized from each
format's throughput (benchmarks/expansion.py) so that the worst input a
compressor can write costs about a second: zeros come out at ~0.95 GB/s of
CPU (gzip), 0.39 (bzip2), 0.49 (xz), 7 (zstd); repetitive non-zero data at
2.6-7 GB/s except bzip2 (~35 ns per non-zero byte, the inverse BWT). Real
disk data compresses a few :1, so the slopes are generous above 10 MiB.

zstd's decoding cost is per *sequence* as much as per byte: a hand-made
frame of 43690 three-byte matches per block, coded in RLE mode (0 bits per
sequence), is 588 KB for 6 GiB of zeros and 2.1 G sequences (~17 s of
CPU), inside the byte caps. The sequence counts are in the block headers
(RFC 8878 3.1.1.3: literals section header, then Number_of_Sequences), so
:func:`zstd_scan` reads them without decoding, before the first byte is
decompressed, and the stream is refused when they exceed
ZSTD_SEQ_FLOOR + ZSTD_SEQ_PER_BYTE * C. zstd itself writes at most ~1
sequence per compressed byte (measured at levels --fast=5 to 19 on disk
images, text, sparse noise and two-symbol data; the fixture 0.16-0.28, the
Debian image 0.2); the hand-made frame has 3640.

qcow2: :func:`qcow2_compressed_bytes` counts the clusters the L2 tables map
as compressed (each inflates to one cluster); their total is held to the
gzip total-output cap before qemu-img runs, and the converted file's
allocated size (the non-zero bytes written) to the file's size plus gzip's
non-zero cap while it runs.

The CPU backstop (:func:`cpu_backstop`) is not a limit: it is >= 10x the
most CPU any input the rules accept costs (measured on the 2-core CI machine
at load ~20, where CPU seconds inflate: the worst, bzip2 just under both
caps, 2.95 s; gzip 1.84, zstd 1.26, xz 0.91; ~0.66 us per compressed byte
above 10 MiB), for decoder costs nobody has found yet; no test or real image
reaches it.
"""

from __future__ import annotations

import mmap
import os
import struct

from armvm_oe.errors import InputError

CONTRACT_INPUT = 10 << 20
TOTAL_FLOOR = {"gzip": 640 << 20, "bzip2": 192 << 20, "xz": 320 << 20, "zstd": 6 << 30}
NONZERO_FLOOR = {"gzip": 256 << 20, "bzip2": 24 << 20, "xz": 128 << 20, "zstd": 256 << 20}
TOTAL_SLOPE = 256
NONZERO_SLOPE = {"gzip": 32, "bzip2": 8, "xz": 32, "zstd": 32}
ZSTD_SEQ_FLOOR = 32 << 20       # ~0.3 s of decoding at ~8 ns per sequence
ZSTD_SEQ_PER_BYTE = 8           # 8x the most a zstd compressor writes
BACKSTOP_CPU = 60.0             # CPU s below CONTRACT_INPUT: 20x the worst accepted case (2.95 s at load 20)
BACKSTOP_CPU_PER_BYTE = 8e-6    # above it (>= 10x the worst accepted case per byte)


def requested_expansion(max_expansion: float | None) -> float | None:
    """The ratio the caller asked for: ``--max-expansion``, else
    ARMVM_MAX_RATIO, else None."""
    if max_expansion is None:
        env = os.environ.get("ARMVM_MAX_RATIO")
        if env:
            try:
                max_expansion = float(env)
            except ValueError:
                raise InputError(f"ARMVM_MAX_RATIO={env!r} is not a number", None,
                                 "Set it to a ratio such as 2000, or inf") from None
    return max_expansion


def expansion_limits(fmt: str, compressed: int,
                     max_expansion: float | None = None) -> tuple[float, float]:
    """(total, non-zero) output allowed from a ``fmt`` file of ``compressed``
    bytes. ``max_expansion`` (``--max-expansion``, else ARMVM_MAX_RATIO) only
    raises them: both become at least ``max_expansion * compressed``."""
    over = max(0, compressed - CONTRACT_INPUT)
    total = TOTAL_FLOOR[fmt] + TOTAL_SLOPE * over
    nonzero = NONZERO_FLOOR[fmt] + NONZERO_SLOPE[fmt] * over
    max_expansion = requested_expansion(max_expansion)
    if max_expansion is not None:
        total = max(total, max_expansion * compressed)
        nonzero = max(nonzero, max_expansion * compressed)
    return total, min(nonzero, total)


def zstd_sequence_limit(compressed: int, max_expansion: float | None = None) -> float:
    """Sequences a zstd file of ``compressed`` bytes may declare. A raised
    ratio raises it to what that output could need (a sequence is >= 3 bytes)."""
    limit = float(ZSTD_SEQ_FLOOR + ZSTD_SEQ_PER_BYTE * compressed)
    max_expansion = requested_expansion(max_expansion)
    if max_expansion is not None:
        limit = max(limit, max_expansion * compressed / 3)
    return limit


def cpu_backstop(compressed: int, max_expansion: float | None = None) -> float:
    """CPU seconds after which decompression stops (see the module docstring:
    a safety stop that no file within the limits meets); none when the caller
    raised the limits explicitly ("I trust this file")."""
    if requested_expansion(max_expansion) is not None:
        return float("inf")
    return BACKSTOP_CPU + BACKSTOP_CPU_PER_BYTE * max(0, compressed - CONTRACT_INPUT)


# -- zstd: frame and block headers, walked without decoding ------------------
ZSTD_MAGIC = 0xFD2FB528


class ZstdScan:
    """What the headers of a zstd file declare: frames, blocks, sequences."""

    def __init__(self) -> None:
        self.frames = 0
        self.blocks = 0
        self.compressed_blocks = 0
        self.sequences = 0
        self.problem: str | None = None


def _literals_size(b, p: int, end: int) -> int | None:
    """Bytes of the literals section of a compressed block at ``p`` (RFC 8878
    3.1.1.3.1), header included; None when it does not fit the block."""
    if p >= end:
        return None
    b0 = b[p]
    ltype, sf = b0 & 3, (b0 >> 2) & 3
    if ltype < 2:                                         # Raw / RLE literals
        if sf in (0, 2):
            hs, regen = 1, b0 >> 3
        elif sf == 1:
            hs, regen = 2, (b0 >> 4) + (b[p + 1] << 4) if p + 1 < end else -1
        else:
            hs, regen = 3, ((b0 >> 4) + (b[p + 1] << 4) + (b[p + 2] << 12)
                            if p + 2 < end else -1)
        if regen < 0:
            return None
        return hs + (regen if ltype == 0 else 1)
    hs, shift, mask = {0: (3, 14, 0x3FF), 1: (3, 14, 0x3FF), 2: (4, 18, 0x3FFF),
                       3: (5, 22, 0x3FFFF)}[sf]
    if p + hs > end:
        return None
    return hs + ((int.from_bytes(b[p:p + hs], "little") >> shift) & mask)


def _sequences(b, p: int, end: int) -> int | None:
    """Number_of_Sequences of the sequences section header at ``p``."""
    if p >= end:
        return None
    s0 = b[p]
    if s0 < 128:
        return s0
    if s0 < 255:
        return ((s0 - 128) << 8) + b[p + 1] if p + 1 < end else None
    return b[p + 1] + (b[p + 2] << 8) + 0x7F00 if p + 2 < end else None


def zstd_scan(path: str | os.PathLike) -> ZstdScan:
    """Walk every frame and block header of a zstd file (a few bytes per
    block, no decoding): the sequences its compressed blocks declare, and
    why the stream is incomplete or not zstd (``problem``; zstandard's
    stream_reader stops silently at a truncated frame)."""
    scan = ZstdScan()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return scan
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as b:
            scan.problem = _walk(b, size, scan)
    return scan


def _walk(b, size: int, scan: ZstdScan) -> str | None:
    pos = 0
    while pos < size:
        if pos + 4 > size:
            return f"the stream ends inside a frame header at byte {pos}"
        magic = int.from_bytes(b[pos:pos + 4], "little")
        pos += 4
        if 0x184D2A50 <= magic <= 0x184D2A5F:            # skippable frame
            if pos + 4 > size:
                return "the stream ends inside a skippable frame"
            pos += 4 + int.from_bytes(b[pos:pos + 4], "little")
            if pos > size:
                return "a skippable frame runs past the end of the file"
            continue
        if magic != ZSTD_MAGIC:
            return f"no zstd frame at byte {pos - 4}" + (" (trailing garbage)"
                                                          if scan.frames else "")
        if pos >= size:
            return "the stream ends inside a frame header"
        fhd = b[pos]
        single = (fhd >> 5) & 1
        pos += 1 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + \
            ((1 if single else 0), 2, 4, 8)[fhd >> 6]
        while True:
            if pos + 3 > size:
                return "the zstd stream ends in the middle of a frame (truncated)"
            v = int.from_bytes(b[pos:pos + 3], "little")
            pos += 3
            btype, bsize = (v >> 1) & 3, v >> 3
            scan.blocks += 1
            if btype == 3:
                return f"reserved block type at byte {pos - 3}"
            end = pos + (1 if btype == 1 else bsize)
            if end > size:
                return "the zstd stream ends in the middle of a frame (truncated)"
            if btype == 2:
                scan.compressed_blocks += 1
                lits = _literals_size(b, pos, end)
                n = None if lits is None else _sequences(b, pos + lits, end)
                if n is None:
                    return f"corrupt compressed block at byte {pos - 3}"
                scan.sequences += n
            pos = end
            if v & 1:
                break
        if (fhd >> 2) & 1:
            pos += 4
            if pos > size:
                return "the zstd stream ends inside a frame checksum (truncated)"
        scan.frames += 1
    return None


# -- qcow2: compressed clusters, from the L1/L2 tables -----------------------
def qcow2_compressed_bytes(path: str | os.PathLike) -> int:
    """Bytes the compressed clusters of a qcow2's active L1/L2 tables inflate
    to (each is one cluster; an L2 table that several L1 entries share
    counts each time, as qemu-img reads it). 0 for anything unreadable:
    qemu-img then says what is wrong."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(104)
            if len(head) < 72 or head[:4] != b"QFI\xfb":
                return 0
            version, = struct.unpack_from(">I", head, 4)
            cluster_bits, = struct.unpack_from(">I", head, 20)
            l1_size, l1_off = struct.unpack_from(">IQ", head, 36)
            extended = version >= 3 and len(head) >= 80 and \
                bool(struct.unpack_from(">Q", head, 72)[0] & 0x10)
            if not 9 <= cluster_bits <= 21 or l1_off + 8 * l1_size > size:
                return 0
            cluster = 1 << cluster_bits
            f.seek(l1_off)
            l1 = struct.unpack(f">{l1_size}Q", f.read(8 * l1_size))
            per_table: dict[int, int] = {}
            total = 0
            for e in l1:
                off = e & 0x00FFFFFFFFFFFE00
                if not off or off + cluster > size:
                    continue
                if off not in per_table:
                    f.seek(off)
                    table = f.read(cluster)
                    step = 16 if extended else 8
                    per_table[off] = sum(1 for i in range(0, cluster, step)
                                         if table[i] & 0x40)     # bit 62: compressed
                total += per_table[off]
    except (OSError, struct.error):
        return 0
    return total * cluster


# -- the refusal -------------------------------------------------------------
def _size_text(n: float) -> str:
    if n == float("inf"):
        return "unlimited"
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.4g} {unit}"
    return f"{n:.0f} bytes"


_UNPACK = {
    "gzip": "gunzip -c {src} | dd of={out} bs=1M conv=sparse status=none",
    "bzip2": "bunzip2 -c {src} | dd of={out} bs=1M conv=sparse status=none",
    "xz": "xz -dc {src} | dd of={out} bs=1M conv=sparse status=none",
    "zstd": "zstd -d {src} -o {out}",
}
_SUFFIX = {"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz", "zstd": ".zst", "qcow2": ".qcow2",
           "vmdk": ".vmdk", "vhdx": ".vhdx", "vpc": ".vhd"}
for _f in ("qcow2", "vmdk", "vhdx", "vpc"):        # qemu-img writes a sparse raw file
    _UNPACK[_f] = f"qemu-img convert -f {_f} -O raw {{src}} {{out}}"


class ExpansionLimit(InputError):
    """A compressed image would cost more to open than its size allows (exit 2).
    ``kind``: "output" / "non-zero" (bytes), "sequences" (zstd), "cpu" (the
    backstop); ``found``: the sequences declared, or the bytes decoded (or
    written) when it stopped."""

    def __init__(self, name: str, fmt: str, compressed: int, kind: str, limit: float,
                 found: float | None = None) -> None:
        out = name[:-len(_SUFFIX[fmt])] if name.endswith(_SUFFIX[fmt]) else name + ".raw"
        of = f"{_size_text(compressed)} of {fmt}"
        if kind == "sequences":
            what = (f"{name} ({of}) declares {found:.0f} zstd sequences in its block "
                    f"headers, more than the {limit:.0f} allowed for its size: verify did "
                    "not decompress it")
            why = ("decoding costs CPU per sequence, and zstd writes at most about one "
                   "sequence per compressed byte; many more means a stream made by hand "
                   "to cost CPU (a decompression bomb)")
        elif kind == "cpu":
            what = (f"decompressing {name} ({of}) used more than {limit:.0f} s of CPU, the "
                    "safety stop: verify stopped decompressing it")
            why = ("that is more than 10 times what any file within the byte limits has "
                   "cost; the stream is made to be slow to decode")
        else:
            what = (f"{name} expands to more than {_size_text(limit)}"
                    + (" of non-zero data" if kind == "non-zero" else "")
                    + f" from {of}: verify stopped decompressing it")
            why = ("the output allowed grows with the compressed size (below 10 MiB: a "
                   "fixed budget that opens in about a second); a decompression bomb, or an "
                   "almost empty sparse image, expands more")
        super().__init__(
            what, why,
            f"Decompress it yourself and verify the raw file, which is read without cost "
            f"even when it is large and sparse ({_UNPACK[fmt].format(src=name, out=out)}), "
            f"or, if you trust the file, raise the limit with --max-expansion RATIO "
            f"(output allowed per compressed byte, 'inf' for none; or ARMVM_MAX_RATIO)")
        self.kind = kind
        self.limit = limit
        self.found = found

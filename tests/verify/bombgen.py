"""Compressed inputs for the expansion bound (issue 16), made as concatenated
streams: every reader takes multi-member gzip/bzip2/xz and multi-frame zstd
(as do gunzip, bunzip2, xz and zstd), so a 64 MiB piece is compressed once and
repeated, and multi-GiB outputs cost seconds to make. Disks are real GPT
disks (sgdisk) with an empty FAT ESP (mkfs.vfat), made sparse, compressed
piece by piece (holes found with SEEK_DATA). Everything is cached under
~/.cache/armvm-oe/hostile-v2 with every parameter in the file name.

Used by tests/verify/test_bounded.py and benchmarks/expansion.py."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from pathlib import Path

from armvm_oe import diskimage

MiB = 1 << 20
GiB = 1 << 30
PIECE = 64 * MiB
FORMATS = ("gzip", "bzip2", "xz", "zstd")
TOOLS = {"gzip": ["gzip", "-6", "-c"], "bzip2": ["bzip2", "-9", "-c"],
         "xz": ["xz", "-1", "-T2", "-c"], "zstd": ["zstd", "-3", "-q", "-c", "-T2"]}
SUFFIX = {"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz", "zstd": ".zst"}
_REP_BLOCK = random.Random(16).randbytes(30000)    # a repeated random block (~137:1 in gzip)


def cache_root() -> Path:
    from armvm_oe.lib import cache_dir
    d = cache_dir() / "hostile-v2"
    d.mkdir(parents=True, exist_ok=True)
    return d


def cached(name: str, make) -> Path:
    p = cache_root() / name
    if not p.exists():
        tmp = p.with_name(p.name + f".tmp-{os.getpid()}")
        make(tmp)
        os.replace(tmp, p)
    return p


def pattern(kind: str, n: int, seed: int = 0) -> bytes:
    """``n`` bytes of zeros, 0xFF, the repeated random block, or random."""
    if kind == "zero":
        return bytes(n)
    if kind == "ff":
        return b"\xff" * n
    if kind == "rep":
        return (_REP_BLOCK * (n // len(_REP_BLOCK) + 1))[:n]
    if kind == "random":
        return random.Random(seed).randbytes(n)
    raise ValueError(kind)


_MEMO: dict[tuple, bytes] = {}      # (format, key of a piece) -> compressed


class _Compressor:
    """Compress one piece with the format's tool; pieces with the same key
    (kind and size, or a digest) once per process."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt

    def __call__(self, data: bytes, key=None) -> bytes:
        if key is None:
            key = hashlib.blake2b(data, digest_size=16).digest()
        key = (self.fmt, key)
        if key not in _MEMO:
            out = subprocess.run(TOOLS[self.fmt], input=data, capture_output=True,
                                 check=True).stdout
            if len(out) > (16 << 20):          # keep the small ones (zeros, patterns)
                return out
            _MEMO[key] = out
        return _MEMO[key]

    def piece(self, kind: str, n: int, seed: int) -> bytes:
        key = None if kind == "random" else (kind, n)
        if key is not None and (self.fmt, key) in _MEMO:
            return _MEMO[(self.fmt, key)]
        return self(pattern(kind, n, seed), key or ("random", n, seed))


def write_stream(fmt: str, parts: list[tuple[str, int]], out: Path) -> Path:
    """A stream of ``parts`` ((kind, bytes) in order), PIECE by PIECE."""
    comp = _Compressor(fmt)
    with open(out, "wb") as f:
        seed = 0
        for kind, n in parts:
            while n > 0:
                k = min(PIECE, n)
                seed += 1
                f.write(comp.piece(kind, k, seed))
                n -= k
    return out


def compress_file(fmt: str, raw: Path, out: Path) -> Path:
    """Compress a (sparse) file piece by piece; pieces without data are the
    one compressed zero piece, repeated."""
    comp = _Compressor(fmt)
    size = raw.stat().st_size
    fd = os.open(raw, os.O_RDONLY)
    try:
        with open(out, "wb") as f:
            for pos in range(0, size, PIECE):
                k = min(PIECE, size - pos)
                try:
                    data_at = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:                      # ENXIO: only a hole follows
                    data_at = size
                if data_at >= pos + k:
                    f.write(comp.piece("zero", k, 0))
                else:
                    f.write(comp(os.pread(fd, k, pos)))
    finally:
        os.close(fd)
    return out


def sparse_disk(raw: Path, total: int, fill: str = "", fill_bytes: int = 0) -> Path:
    """A GPT disk of ``total`` bytes (MiB multiple) with an empty 34 MiB FAT32
    ESP; ``fill_bytes`` of ``fill`` data at 64 MiB (unpartitioned space, the
    pattern restarting every PIECE so equal pieces compress once)."""
    esp = diskimage.make_fat(raw.with_name(raw.name + ".esp"), 34, {}, fat_bits=32)
    extra = total // MiB - 1 - 34 - 1
    diskimage.assemble_gpt(raw, [diskimage.Partition("ESP", diskimage.ESP_TYPE, esp)],
                           extra_mib=extra)
    esp.unlink()
    assert raw.stat().st_size == total, (raw.stat().st_size, total)
    with open(raw, "r+b") as f:
        pos, left, seed = 64 * MiB, fill_bytes, 100
        while left > 0:
            k = min(PIECE, left)
            seed += 1
            f.seek(pos)
            f.write(pattern(fill, k, seed))
            pos += k
            left -= k
    return raw


def disk(fmt: str, total: int, fill: str = "", fill_bytes: int = 0) -> Path:
    """sparse_disk(...) compressed with ``fmt``, cached."""
    name = f"disk-{total >> 20}M-{fill or 'none'}-{fill_bytes >> 20}M{SUFFIX[fmt]}"

    def make(out: Path) -> None:
        raw = out.with_name(out.name + ".raw")
        try:
            sparse_disk(raw, total, fill, fill_bytes)
            compress_file(fmt, raw, out)
        finally:
            raw.unlink(missing_ok=True)
    return cached(name, make)


def stream(fmt: str, parts: list[tuple[str, int]]) -> Path:
    """write_stream(...) cached."""
    name = "stream-" + "-".join(f"{k}{n >> 20}M" for k, n in parts) + SUFFIX[fmt]
    return cached(name, lambda out: write_stream(fmt, parts, out))


def zstd_min_matches(out_bytes: int) -> Path:
    """A hand-made zstd frame no zstd compressor writes: after 8 literal
    zeros, blocks of 43690 three-byte matches (the minimum length) whose
    literal-length, offset and match-length codes are all in RLE mode with no
    extra bits, so a sequence costs 0 bits and a 12-byte block decodes to
    131070 zeros. The decoder's cost is per sequence, not per byte:
    ~2.9 s of CPU per GiB (libzstd 1.5), against ~0.15 s for a zero stream
    that zstd itself writes. Format: RFC 8878 sections 3.1.1.2-3.1.1.3."""
    per_block = 43690 * 3
    blocks = out_bytes // per_block

    def make(out: Path) -> None:
        nseq = 43690 - 0x7F00                    # Number_of_Sequences, 3-byte form
        block = bytes([(9 << 3) | (2 << 1), 0, 0,           # compressed block, 9 bytes
                       0x00,                                 # raw literals, size 0
                       0xFF, nseq & 0xFF, nseq >> 8,         # 43690 sequences
                       0x54, 0, 0, 0,                        # LL/OF/ML in RLE mode: codes 0
                       0x01])                                # empty bitstream, end marker
        with open(out, "wb") as f:
            f.write(b"\x28\xb5\x2f\xfd" + b"\x00\x38")       # magic; window 128 KiB
            f.write(bytes([8 << 3, 0, 0]) + bytes(8))        # raw block: 8 zeros
            f.write(block * blocks)
            f.write(bytes([1, 0, 0]))                        # last block, raw, empty
    return cached(f"zstd-min-matches-{blocks}.zst", make)


def qcow2_compressed(pattern_byte: int, size: int, cluster: str) -> Path:
    """A qcow2 whose first ``size`` bytes are compressed clusters of one byte
    value, written by QEMU's own qemu-io (``write -c``): 1 GiB in 64 KiB
    clusters is 1.6 MB (2 MiB clusters come out larger: ~11 MB per GiB);
    converting zero clusters costs CPU but no disk (qemu-img writes sparse)."""
    def make(out: Path) -> None:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o",
                        f"cluster_size={cluster}", str(out), str(size + (64 << 20))],
                       check=True)
        cmds = []                               # qemu-io writes at most ~2 GiB per command
        for off in range(0, size, 1 << 30):
            cmds += ["-c", f"write -c -P {pattern_byte} {off} {min(1 << 30, size - off)}"]
        subprocess.run(["qemu-io", "-f", "qcow2", *cmds, str(out)], check=True,
                       capture_output=True)
    return cached(f"qcow2-c-{pattern_byte:02x}-{size}-{cluster}.qcow2", make)

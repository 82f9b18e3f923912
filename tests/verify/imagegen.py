"""Small images for the verify tests, made with the real tools (sgdisk,
mkfs.vfat, mtools) through armvm_oe.diskimage, plus corruption helpers that
work on COPIES of the shared fixtures (armvm_oe.testing.fixtures)."""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from armvm_oe import diskimage
from armvm_oe.image import open_image

MT = dict(os.environ, MTOOLS_SKIP_CHECK="1")


def copy(src: Path, dst: Path) -> Path:
    """A writable sparse copy of a (read-only, cached) fixture image."""
    subprocess.run(["cp", "--sparse=always", str(src), str(dst)], check=True)
    os.chmod(dst, 0o644)
    return dst


def esp_offset(img: Path) -> int:
    with open_image(img) as im:
        return im.esp().offset


def mtools(cmd: str, img: Path, *args: str) -> subprocess.CompletedProcess:
    off = esp_offset(img)
    return subprocess.run([cmd, "-i", f"{img}@@{off}", *args], env=MT, check=True,
                          capture_output=True, text=True)


def patch(img: Path, offset: int, data: bytes) -> None:
    with open(img, "r+b") as f:
        f.seek(offset)
        f.write(data)


def read(img: Path, offset: int, n: int) -> bytes:
    with open(img, "rb") as f:
        f.seek(offset)
        return f.read(n)


def fix_gpt_crcs(img: Path, lba: int = 1) -> None:
    """Recompute the entry-array and header CRC32s of the header at ``lba``
    (so a test can change an entry and still have a CRC-valid table)."""
    hdr = bytearray(read(img, lba * 512, 512))
    hsize, = struct.unpack_from("<I", hdr, 12)
    elba, = struct.unpack_from("<Q", hdr, 72)
    n, size = struct.unpack_from("<II", hdr, 80)
    entries = read(img, elba * 512, n * size)
    struct.pack_into("<I", hdr, 88, zlib.crc32(entries) & 0xFFFFFFFF)
    struct.pack_into("<I", hdr, 16, 0)
    struct.pack_into("<I", hdr, 16, zlib.crc32(bytes(hdr[:hsize])) & 0xFFFFFFFF)
    patch(img, lba * 512, bytes(hdr))


def small_esp_disk(tmp: Path, files: dict[str, Path | bytes], fat_bits: int | None = 32,
                   esp_mib: int = 34, name: str = "small.wic",
                   type_guid: str = diskimage.ESP_TYPE) -> Path:
    """A GPT disk with only an ESP (FAT made by mkfs.vfat, files by mcopy)."""
    esp = diskimage.make_fat(tmp / f"{name}.esp", esp_mib, files, fat_bits=fat_bits)
    disk = diskimage.assemble_gpt(tmp / name, [diskimage.Partition("ESP", type_guid, esp)])
    esp.unlink()
    return disk


def fake_arm64_kernel(config_text: str | None, release: str = "6.1.0-test-arm64") -> bytes:
    """An uncompressed arm64 Image-like blob: header magic 'ARM\\x64' at 0x38,
    a Linux banner and, optionally, the kernel's IKCONFIG block."""
    head = bytearray(64)
    head[0x38:0x3C] = b"ARM\x64"
    body = b"\0" * 1024 + f"Linux version {release} (test@armvm) #1 SMP\n".encode() + b"\0" * 64
    if config_text is not None:
        body += b"IKCFG_ST" + gzip.compress(config_text.encode(), mtime=0) + b"IKCFG_ED"
    return bytes(head) + body + b"\0" * 4096


def fake_zimage(inner: bytes, fmt: str) -> bytes:
    """A zImage-like blob: ARM zImage magic at 0x24, a 'decompressor' of
    noise, then ``inner`` compressed with ``fmt`` (gzip/xz/lzma/bzip2/zstd),
    like the kernel's piggy data."""
    import bz2
    import lzma
    import random

    if fmt == "gzip":
        payload = gzip.compress(inner, mtime=0)
    elif fmt == "xz":
        payload = lzma.compress(inner, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    elif fmt == "lzma":
        payload = lzma.compress(inner, format=lzma.FORMAT_ALONE)
    elif fmt == "bzip2":
        payload = bz2.compress(inner)
    elif fmt == "zstd":
        import zstandard
        payload = zstandard.ZstdCompressor().compress(inner)
    else:
        raise ValueError(fmt)
    rnd = random.Random(4)
    head = bytearray(rnd.randbytes(16384).replace(b"\x1f\x8b", b"\0\0").replace(b"\x5d\0\0", b"\0\0\0"))
    struct.pack_into("<I", head, 0x24, 0x016F2818)
    return bytes(head) + payload + struct.pack("<I", len(inner))


def have(tool: str) -> bool:
    return shutil.which(tool) is not None

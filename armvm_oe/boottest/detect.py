"""Guess a disk image's guest architecture from its ESP's removable-media
boot file (BOOTAA64.EFI / BOOTARM.EFI, IMG-REMOVABLE-PATH)."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

ESP_TYPE = uuid.UUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
NAMES = {"aarch64": b"BOOTAA64EFI", "arm": b"BOOTARM EFI"}


def esp_range(image: Path) -> tuple[int, int] | None:
    """(offset, length) in bytes of the first EFI System Partition."""
    with open(image, "rb") as f:
        f.seek(512)
        hdr = f.read(92)
        if hdr[:8] != b"EFI PART":
            return None
        entries_lba, count, size = struct.unpack_from("<QII", hdr, 72)
        f.seek(entries_lba * 512)
        table = f.read(count * size)
    for i in range(count):
        e = table[i * size:(i + 1) * size]
        if len(e) < 48:
            break
        if uuid.UUID(bytes_le=e[:16]) == ESP_TYPE:
            first, last = struct.unpack_from("<QQ", e, 32)
            return first * 512, (last - first + 1) * 512
    return None


def guess_arch(image: Path, limit: int = 8 << 20) -> str | None:
    """"aarch64", "arm" or None: looks for the 8.3 directory entry of the
    removable boot file in the first ``limit`` bytes of the ESP."""
    rng = esp_range(image)
    if not rng:
        return None
    off, length = rng
    with open(image, "rb") as f:
        f.seek(off)
        data = f.read(min(length, limit))
    found = [a for a, n in NAMES.items() if n in data]
    return found[0] if len(found) == 1 else None

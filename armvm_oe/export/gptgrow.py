"""Grow a raw GPT disk image and move the backup GPT to the new end.

A GPT keeps a backup header in the disk's last sector and the backup entry
array just before it (UEFI 2.10, 5.3.2). Growing a disk file (``truncate``,
``qemu-img resize``, a VHD size rounded up to 1 MiB) leaves the backup where
the old end was: firmware then finds no backup header at the last LBA, and
the primary header's AlternateLBA and LastUsableLBA are wrong. This module
does what ``sgdisk -e`` does: writes the backup entry array and header at
the new end, updates the primary header (AlternateLBA, LastUsableLBA, CRC)
and the protective MBR's size, and zeroes the stale backup. The partitions
themselves are not touched (they keep their sizes; the new space is free)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from armvm_oe.errors import InputError
from armvm_oe.image.gpt import GPT_SIGNATURE, SECTOR, read_gpt
from armvm_oe.image.source import FileSource


def _crc(header: bytes, size: int) -> int:
    return zlib.crc32(header[:16] + b"\0\0\0\0" + header[20:size]) & 0xFFFFFFFF


def _with_crc(header: bytearray, size: int) -> bytes:
    struct.pack_into("<I", header, 16, _crc(bytes(header), size))
    return bytes(header)


def grow(path: str | os.PathLike, new_size: int) -> dict:
    """Grow the raw GPT image ``path`` (a private copy: it is written in
    place) to ``new_size`` bytes and relocate the backup GPT. Returns what
    changed. Raises :class:`InputError` for a disk without a valid primary
    GPT or a size that is not a whole number of sectors or would shrink it."""
    path = Path(path)
    old_size = path.stat().st_size
    if new_size % SECTOR:
        raise InputError(f"the new disk size {new_size} is not a multiple of {SECTOR} bytes",
                         "a disk is a whole number of sectors", "Give a size such as 4G or 1024M")
    if new_size < old_size:
        raise InputError(f"--size {new_size} bytes is smaller than the image ({old_size} bytes)",
                         "shrinking would cut off partitions and the backup GPT",
                         "Give a size at least as large as the image")
    with FileSource(path) as src:
        gpt = read_gpt(src)
    primary = gpt.primary
    if primary is None or not primary.valid:
        why = "; ".join(primary.problems if primary else gpt.problems) or "no GPT found"
        raise InputError(f"{path} has no valid primary GPT, so it cannot be grown safely",
                         why, "Repair the image (sgdisk -v / gdisk) or export it without --size")
    if new_size == old_size and primary.backup_lba == old_size // SECTOR - 1:
        return {"grown": False, "old_size": old_size, "new_size": new_size}

    with open(path, "r+b") as f:
        f.seek(SECTOR)
        raw_primary = f.read(SECTOR)
        hsize = struct.unpack_from("<I", raw_primary, 12)[0]
        table_bytes = primary.num_entries * primary.entry_size
        table_sectors = -(-table_bytes // SECTOR)
        f.seek(primary.entries_lba * SECTOR)
        entries = f.read(table_sectors * SECTOR)

        new_last = new_size // SECTOR - 1
        backup_entries_lba = new_last - table_sectors
        last_usable = backup_entries_lba - 1
        last_used = max((p.last_lba for p in primary.entries), default=0)
        if last_used > last_usable:          # cannot happen when growing; be safe
            raise InputError("the grown disk would not hold the partitions and the backup GPT",
                             None, "Give a larger --size")
        old_backup = primary.backup_lba
        old_entries_lba = old_backup - table_sectors

        f.truncate(new_size)
        # zero the stale backup (header and array): it now lies in free space
        # past the last partition, and a scan for "EFI PART" must not find it
        if 0 < old_entries_lba and old_backup < new_last and old_entries_lba > last_used:
            f.seek(old_entries_lba * SECTOR)
            f.write(bytes((table_sectors + 1) * SECTOR))

        hdr = bytearray(raw_primary)
        struct.pack_into("<Q", hdr, 32, new_last)        # AlternateLBA
        struct.pack_into("<Q", hdr, 48, last_usable)     # LastUsableLBA
        new_primary = _with_crc(hdr, hsize)

        bak = bytearray(new_primary)
        struct.pack_into("<Q", bak, 24, new_last)        # MyLBA
        struct.pack_into("<Q", bak, 32, 1)               # AlternateLBA
        struct.pack_into("<Q", bak, 72, backup_entries_lba)
        new_backup = _with_crc(bak, hsize)

        f.seek(backup_entries_lba * SECTOR)
        f.write(entries)
        f.seek(new_last * SECTOR)
        f.write(new_backup)
        f.seek(SECTOR)
        f.write(new_primary)

        # protective MBR: the 0xEE entry covers the disk (capped at 2^32-1)
        f.seek(0)
        mbr = bytearray(f.read(SECTOR))
        for i in range(4):
            off = 446 + 16 * i
            if mbr[off + 4] == 0xEE:
                struct.pack_into("<I", mbr, off + 12, min(new_size // SECTOR - 1, 0xFFFFFFFF))
        f.seek(0)
        f.write(mbr)
        f.flush()
        os.fsync(f.fileno())
    assert new_primary[:8] == GPT_SIGNATURE
    return {"grown": True, "old_size": old_size, "new_size": new_size,
            "backup_lba": new_last, "last_usable_lba": last_usable}

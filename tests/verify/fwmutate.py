"""Structural mutations of a compliant image that UEFI firmware (edk2) or
GRUB refuse, each made on a writable COPY of a real fixture (imagegen.copy):
the FAT boot sector, the FAT itself, the GPT headers, the boot
application's PE headers. Each function patches ``img`` in place."""

from __future__ import annotations

import struct
from pathlib import Path

from armvm_oe.image import open_image
from tests.verify import imagegen as g

BOOT_APP = "/EFI/BOOT/BOOTAA64.EFI"


def _esp(img: Path):
    """(partition offset, FatFs) of the ESP; the FatFs only for its BPB
    fields (the image is closed again)."""
    with open_image(img) as im:
        esp = im.esp()
        fs = im.fat(esp)
        return esp.offset, fs


def fat_version(img: Path, version: int = 0x0001) -> None:
    """BPB_FSVer (offset 42) not 0.0: edk2 and GRUB refuse the volume."""
    off, _ = _esp(img)
    g.patch(img, off + 42, struct.pack("<H", version))


def fat_ext_flags(img: Path, flags: int, loop_active: bool = False) -> None:
    """BPB_ExtFlags (offset 40): bit 7 = mirroring disabled, bits 0-3 the
    active FAT. ``loop_active``: the active FAT's root-directory chain points
    back at itself (FAT 0 stays intact)."""
    off, fs = _esp(img)
    g.patch(img, off + 40, struct.pack("<H", flags))
    if loop_active:
        active = flags & 0x0F
        fat = off + (fs.reserved_sectors + active * fs.fat_sectors) * fs.bytes_per_sector
        g.patch(img, fat + 4 * fs.root_cluster, struct.pack("<I", fs.root_cluster))


def cross_link(img: Path, path: str = BOOT_APP, into: str = "/Image") -> tuple[int, int]:
    """The second cluster of ``path`` chains into ``into``'s first cluster
    (in both FAT copies): the boot application is cross-linked into the
    kernel. Returns (the patched cluster, the kernel's first cluster)."""
    with open_image(img) as im:
        esp = im.esp()
        fs = im.fat(esp)
        off = esp.offset
        a, b = fs.lookup(path), fs.lookup(into)
        chain = fs.chain(a.first_cluster, path, max_clusters=2)
    for copy in range(fs.num_fats):
        fat = off + (fs.reserved_sectors + copy * fs.fat_sectors) * fs.bytes_per_sector
        g.patch(img, fat + 4 * chain[1], struct.pack("<I", b.first_cluster))
    return chain[1], b.first_cluster


def gpt_field(img: Path, which: str, offset: int, fmt: str, value: int) -> None:
    """Set one field of the primary or backup GPT header and recompute its CRCs."""
    import os
    lba = 1 if which == "primary" else os.path.getsize(img) // 512 - 1
    g.patch(img, lba * 512 + offset, struct.pack(fmt, value))
    g.fix_gpt_crcs(img, lba)


def gpt_header(img: Path, which: str) -> dict:
    import os
    lba = 1 if which == "primary" else os.path.getsize(img) // 512 - 1
    raw = g.read(img, lba * 512, 92)
    fu, lu, _, elba, n, size = struct.unpack_from("<QQ16sQII", raw, 40)
    return {"lba": lba, "first_usable": fu, "last_usable": lu, "entries_lba": elba,
            "entries": n, "entry_size": size}


def pe_patch(img: Path, tmp: Path, edit) -> bytes:
    """Take the boot application out of the ESP (mtools), let ``edit(data,
    pe_offset)`` change the bytearray, put it back. Returns the new bytes."""
    app = tmp / "app.efi"
    g.mtools("mcopy", img, f"::{BOOT_APP}", str(app))
    data = bytearray(app.read_bytes())
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    edit(data, pe)
    app.write_bytes(bytes(data))
    g.mtools("mdel", img, f"::{BOOT_APP}")
    g.mtools("mcopy", img, str(app), f"::{BOOT_APP}")
    return bytes(data)


# PE header field offsets from the "PE\0\0" signature
NUMBER_OF_SECTIONS = 6
SECTION_ALIGNMENT = 24 + 32
SIZE_OF_IMAGE = 24 + 56
SIZE_OF_HEADERS = 24 + 60


def pe_u16(data: bytearray, pe: int, field: int, value: int) -> None:
    struct.pack_into("<H", data, pe + field, value)


def pe_u32(data: bytearray, pe: int, field: int, value: int) -> None:
    struct.pack_into("<I", data, pe + field, value)


def pe_get(data: bytes, pe: int, field: int, fmt: str = "<I") -> int:
    return struct.unpack_from(fmt, data, pe + field)[0]


def last_section_va(data: bytes, pe: int) -> int:
    n = pe_get(data, pe, NUMBER_OF_SECTIONS, "<H")
    opt = pe_get(data, pe, 20, "<H")
    table = pe + 24 + opt
    return max(struct.unpack_from("<I", data, table + 40 * i + 12)[0] for i in range(n))

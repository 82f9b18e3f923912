"""Seeded mutation of small in-memory disk images for the fuzz test.

Base images are made once with the real tools (mkfs.vfat, mtools, sgdisk via
armvm_oe.diskimage; Debian's GRUB EFI binaries from the shared fixtures);
each mutated image is an overlay (:class:`PatchedSource`) over the base bytes,
so thousands of variants cost no copies."""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass

from armvm_oe import diskimage
from armvm_oe.image import BytesSource, DiskImage, Source
from tests.verify import imagegen as g


class PatchedSource(Source):
    def __init__(self, base: bytes, patches: list[tuple[int, bytes]], size: int) -> None:
        super().__init__()
        self._base = memoryview(base)
        self._patches = patches
        self._size = size
        self.name = "<fuzz>"

    @property
    def size(self) -> int:
        return self._size

    def _read(self, offset: int, length: int) -> bytes:
        end = offset + length
        data = self._base[offset:end]
        if not any(o < end and o + len(p) > offset for o, p in self._patches):
            return bytes(data)
        buf = bytearray(data)
        buf.extend(bytes(max(0, length - len(buf))))
        for o, p in self._patches:
            lo, hi = max(o, offset), min(o + len(p), end)
            if lo < hi:
                buf[lo - offset:hi - offset] = p[lo - o:hi - o]
        return bytes(buf)


@dataclass
class Base:
    name: str
    data: bytes
    regions: list[tuple[int, int]]     # interesting (offset, length) ranges
    cluster_count: int


def _regions(data: bytes) -> tuple[list[tuple[int, int]], int]:
    img = DiskImage(BytesSource(data))
    esp = img.esp()
    fs = img.fat(esp)
    size = len(data)
    r = [(0, 512), (512, 92), (1024, 512), (size - 512, 92)]
    e = esp.offset
    r += [(e, 512), (e + 512, 512)]
    fat0 = e + fs.reserved_sectors * fs.bytes_per_sector
    r += [(fat0, 4096)]
    r += [(fat0 + fs.fat_sectors * fs.bytes_per_sector, 1024)]          # second FAT
    root = (e + (fs.reserved_sectors + fs.num_fats * fs.fat_sectors) * fs.bytes_per_sector
            if fs.fat_type != 32 else e + fs.cluster_offset(fs.root_cluster))
    r += [(root, 1024)]
    for entry in fs.walk():
        if entry.first_cluster >= 2:
            off = e + fs.cluster_offset(entry.first_cluster)
            r.append((off, min(max(entry.size, 512), 2048)))
            if entry.name.upper().endswith(".EFI"):
                pe = fs.read(entry)
                mods = pe.find(b"mimg", 16384)
                # the module area lives in the file: find where (contiguous files from mkfs)
                if mods > 0:
                    r.append((off + mods, 512))
    return r, fs.cluster_count


def build_bases(tmp, grub_aa64: bytes, grub_arm: bytes, grub_cfg: bytes) -> list[Base]:
    cfg = "CONFIG_ARM64=y\nCONFIG_XEN=y\nCONFIG_HVC_XEN=y\nCONFIG_EFI=y\n"
    specs = [
        ("fat32", 32, 34, diskimage.ESP_TYPE,
         {"EFI/BOOT/BOOTAA64.EFI": grub_aa64, "EFI/BOOT/grub.cfg": grub_cfg,
          "Image": g.fake_arm64_kernel(cfg), "initrd.img": b"\x1f\x8b" + bytes(3000),
          "A Long Directory Name/with a long file.txt": b"x" * 5000}),
        ("fat16", 16, 16, diskimage.ESP_TYPE,
         {"EFI/BOOT/BOOTARM.EFI": grub_arm, "EFI/BOOT/grub.cfg": grub_cfg.replace(b"/Image", b"/zImage"),
          "zImage": g.fake_zimage(g.fake_arm64_kernel(cfg) + bytes(20000), "gzip"),
          "initrd.img": bytes(100)}),
        ("fat12", 12, 2, diskimage.BASIC_DATA_TYPE,
         {"EFI/BOOT/grub.cfg": grub_cfg, "EFI/BOOT/bootaa64.efi": bytes(600),
          "efi/firmware/QEMU_EFI.fd": bytes(64)}),
    ]
    out = []
    for name, bits, mib, typ, files in specs:
        disk = g.small_esp_disk(tmp, files, fat_bits=bits, esp_mib=mib, name=f"{name}.wic",
                                type_guid=typ)
        data = disk.read_bytes()
        regions, count = _regions(data)
        out.append(Base(name, data, regions, count))
    return out


SPECIAL32 = (0, 1, 2, 0xFFFFFFFF, 0x0FFFFFF7, 0x0FFFFFF8, 0x0FFFFFFF, 0xFFF7, 0xFFF8, 0x7FFFFFFF,
             0x80000000, 0xFFFF, 0x1000)


def _fix_gpt(base: Base, patches: list[tuple[int, bytes]], size: int) -> list[tuple[int, bytes]]:
    """Recompute the primary header's CRCs over the mutated bytes, so that the
    mutation reaches the entry and layout checks."""
    src = PatchedSource(base.data, patches, size)
    hdr = bytearray(src.read(512, 512))
    if len(hdr) < 92 or hdr[:8] != b"EFI PART":
        return patches
    hsize = struct.unpack_from("<I", hdr, 12)[0]
    elba, n, esz = struct.unpack_from("<QII", hdr, 72)
    if not 92 <= hsize <= 512 or n * esz > (1 << 20) or elba * 512 > size:
        return patches
    ent = src.read(elba * 512, n * esz)
    struct.pack_into("<I", hdr, 88, zlib.crc32(ent) & 0xFFFFFFFF)
    struct.pack_into("<I", hdr, 16, 0)
    struct.pack_into("<I", hdr, 16, zlib.crc32(bytes(hdr[:hsize])) & 0xFFFFFFFF)
    return patches + [(512, bytes(hdr))]


def mutate(base: Base, rnd: random.Random) -> PatchedSource:
    patches: list[tuple[int, bytes]] = []
    size = len(base.data)
    for _ in range(rnd.randint(1, 4)):
        off, length = rnd.choice(base.regions) if rnd.random() < 0.9 else \
            (rnd.randrange(size), 512)
        pos = off + rnd.randrange(max(1, length))
        op = rnd.random()
        if op < 0.35:
            patches.append((pos, bytes([rnd.randrange(256)])))
        elif op < 0.55:
            b = base.data[pos] if pos < size else 0
            patches.append((pos, bytes([b ^ (1 << rnd.randrange(8))])))
        elif op < 0.85:
            v = rnd.choice(SPECIAL32 + (base.cluster_count + 1, base.cluster_count + 2,
                                        rnd.randrange(1 << 32)))
            patches.append((pos - pos % 2, struct.pack("<I", v)))
        else:
            patches.append((pos, rnd.randbytes(rnd.randint(2, 64))))
    if rnd.random() < 0.4:
        patches = _fix_gpt(base, patches, size)
    if rnd.random() < 0.06:
        size = rnd.choice((rnd.randrange(1, size), 512 * rnd.randrange(1, 40), size // 2))
    return PatchedSource(base.data, patches, size)

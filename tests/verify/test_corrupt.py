"""Corrupted copies of the real fixtures and small real FAT images: each
gives a clear finding (or exit-2 error), in bounded time, never a traceback."""

from __future__ import annotations

import os
import struct

import pytest

from armvm_oe.image import BytesSource, FatError, FatFs, open_image
from armvm_oe.image.gpt import read_gpt
from armvm_oe.verify import verify, verify_source
from tests.verify import imagegen as g


def _fails(report, req, check=None):
    fs = report.find(req, check)
    assert fs, [f.as_dict() for f in report.findings]
    assert any(f.result == "fail" for f in fs), [f.as_dict() for f in fs]
    assert not any("internal_error" in f.details for f in report.findings), \
        [f.as_dict() for f in report.findings if "internal_error" in f.details]
    return [f for f in fs if f.result == "fail"][0]


@pytest.fixture
def work(image, tmp_path):
    return g.copy(image("aarch64"), tmp_path / "disk.wic")


def test_bad_primary_header_crc(work):
    g.patch(work, 512 + 16, b"\xde\xad\xbe\xef")
    r = verify(work)
    f = _fails(r, "IMG-GPT", "gpt-headers")
    assert "primary GPT header CRC32 mismatch" in f.reason
    # the backup header still gives the partitions: the ESP checks still run
    assert r.result("IMG-ESP-FAT32") == "pass"


def test_bad_entry_array_crc_both(work):
    sectors = os.path.getsize(work) // 512
    g.patch(work, 1024 + 56, "X".encode("utf-16-le"))               # primary entry name
    back = struct.unpack_from("<Q", g.read(work, (sectors - 1) * 512, 92), 72)[0]
    g.patch(work, back * 512 + 56, "Y".encode("utf-16-le"))          # backup entry name
    f = _fails(verify(work), "IMG-GPT", "gpt-headers")
    assert "primary GPT entry-array CRC32 mismatch" in f.reason
    assert "backup GPT entry-array CRC32 mismatch" in f.reason


def test_no_protective_mbr(work):
    g.patch(work, 510, b"\0\0")
    f = _fails(verify(work), "IMG-GPT", "gpt-mbr")
    assert "0x55AA" in f.reason


def test_overlapping_partitions(work):
    # move partition 2's first LBA into partition 1, keep the CRCs valid
    g.patch(work, 1024 + 128 + 32, struct.pack("<Q", 100000))
    g.fix_gpt_crcs(work, 1)
    f = _fails(verify(work), "IMG-GPT", "gpt-partitions")
    assert "overlap" in f.reason


def test_partition_beyond_disk(work):
    g.patch(work, 1024 + 128 + 40, struct.pack("<Q", 10 ** 9))
    g.fix_gpt_crcs(work, 1)
    f = _fails(verify(work), "IMG-GPT", "gpt-partitions")
    assert "beyond the end" in f.reason or "outside the usable range" in f.reason


def test_huge_entry_count(work):
    g.patch(work, 512 + 80, struct.pack("<I", 0xFFFFFFFF))
    hdr = bytearray(g.read(work, 512, 512))
    import zlib
    struct.pack_into("<I", hdr, 16, 0)
    struct.pack_into("<I", hdr, 16, zlib.crc32(bytes(hdr[:92])) & 0xFFFFFFFF)
    g.patch(work, 512, bytes(hdr))
    f = _fails(verify(work), "IMG-GPT", "gpt-headers")
    assert "4294967295 entries" in f.reason


def test_truncated_image(work):
    os.truncate(work, 50 * 1024 * 1024)          # cuts the ESP (ends at 65 MiB) and root
    r = verify(work)
    f = _fails(r, "IMG-GPT", "gpt-headers")
    assert "backup" in f.reason
    _fails(r, "IMG-GPT", "gpt-partitions")
    assert "partition holds" in _fails(r, "IMG-ESP-FAT32", "esp-bpb").reason


def test_grown_image_backup_not_moved(work):
    os.truncate(work, os.path.getsize(work) + 8 * 1024 * 1024)
    f = _fails(verify(work), "IMG-GPT", "gpt-headers")
    assert "sgdisk -e" in f.reason


def test_esp_bpb_corrupt(work):
    off = g.esp_offset(work)
    g.patch(work, off + 13, b"\x03")                               # sectors per cluster = 3
    r = verify(work)
    f = _fails(r, "IMG-ESP-FAT32")
    assert "power of two" in f.reason
    assert r.result("IMG-REMOVABLE-PATH") == "unknown" or r.result("IMG-REMOVABLE-PATH") == "fail"


def test_missing_kernel_and_config_with_mtools(work):
    g.mtools("mdel", work, "::/Image")
    r = verify(work)
    f = [x for x in r.find("IMG-GRUB", "grub-boot-files")][0]
    assert f.result == "warn" and "/Image" in f.reason
    g.mtools("mdel", work, "::/EFI/BOOT/grub.cfg")
    r = verify(work)
    f = r.find("IMG-GRUB", "grub-config")[0]
    assert f.result == "warn" and "/EFI/BOOT/grub.cfg" in f.reason
    assert r.result("HW-FDT") == "unknown"


@pytest.mark.parametrize("name", ["bootaa64.efi", "BootAA64.Efi"])
def test_lowercase_and_long_name_boot_app(work, tmp_path, name):
    """stock wic writes bootaa64.efi (8.3 with lowercase flags); a mixed-case
    name is stored as a VFAT long name: both are the removable path."""
    app = tmp_path / name
    g.mtools("mcopy", work, "::/EFI/BOOT/BOOTAA64.EFI", str(app))
    g.mtools("mdel", work, "::/EFI/BOOT/BOOTAA64.EFI")
    g.mtools("mcopy", work, str(app), f"::/EFI/BOOT/{name}")
    with open_image(work) as im:
        e = im.fat(im.esp()).lookup("/EFI/BOOT/BOOTAA64.EFI")
        assert e.name == name
    r = verify(work)
    assert r.result("IMG-REMOVABLE-PATH") == "pass" and r.result("IMG-EFI-APP") == "pass"
    assert r.compliant


def test_fat_chain_loop_and_out_of_range(work):
    with open_image(work) as im:
        esp = im.esp()
        fs = im.fat(esp)
        e = fs.lookup("/EFI/BOOT/BOOTAA64.EFI")
        fat0 = esp.offset + fs.reserved_sectors * fs.bytes_per_sector
        first, csize, count = e.first_cluster, fs.cluster_size, fs.cluster_count
    assert e.size > 4 * csize
    # loop: the file's 3rd cluster points back at its first (both FAT copies)
    with open_image(work) as im:
        chain = im.fat(im.esp()).chain(first, "x", max_clusters=3)
    for copy_ in (0, 1):
        base = fat0 + copy_ * (fs.fat_sectors * fs.bytes_per_sector)
        g.patch(work, base + 4 * chain[2], struct.pack("<I", first))
    f = _fails(verify(work), "IMG-EFI-APP")
    assert "loops" in f.reason
    for copy_ in (0, 1):
        base = fat0 + copy_ * (fs.fat_sectors * fs.bytes_per_sector)
        g.patch(work, base + 4 * chain[2], struct.pack("<I", count + 1000))
    f = _fails(verify(work), "IMG-EFI-APP")
    assert "outside the data area" in f.reason


def _fat_bytes(tmp_path, bits, files, mib):
    from armvm_oe import diskimage
    p = diskimage.make_fat(tmp_path / f"fat{bits}.img", mib, files, fat_bits=bits)
    return bytearray(p.read_bytes())


@pytest.mark.parametrize("bits,mib", [(12, 2), (16, 16), (32, 34)])
def test_fat_types_names_and_limits(tmp_path, bits, mib):
    files = {"EFI/BOOT/BOOTAA64.EFI": b"MZ" + b"\0" * 3000,
             "Some Long File Name.txt": b"hello",
             "lower.cfg": b"x" * 10}
    data = _fat_bytes(tmp_path, bits, files, mib)
    fs = FatFs(BytesSource(bytes(data)))
    assert fs.fat_type == bits
    assert fs.read("efi/boot/bootaa64.efi")[:2] == b"MZ"
    e = fs.lookup("SOME LONG FILE NAME.TXT")
    assert e is not None and e.name == "Some Long File Name.txt" and e.short_name != e.name
    assert fs.lookup(e.short_name) is not None          # the 8.3 alias works too
    assert fs.read("/lower.cfg") == b"x" * 10
    assert {x.path for x in fs.walk()} >= {"/EFI", "/EFI/BOOT", "/EFI/BOOT/BOOTAA64.EFI"}


def test_fat32_label_does_not_decide(tmp_path):
    """A FAT16 volume whose boot sector says 'FAT32' is still FAT16."""
    data = _fat_bytes(tmp_path, 16, {"a": b"1"}, 16)
    data[0x36:0x3E] = b"FAT32   "
    fs = FatFs(BytesSource(bytes(data)))
    assert fs.fat_type == 16 and fs.label_type == "FAT32"


def test_endless_directory_and_huge_entry_count(tmp_path):
    data = _fat_bytes(tmp_path, 32, {"EFI/BOOT/x": b"1"}, 34)
    fs = FatFs(BytesSource(bytes(data)))
    d = fs.lookup("/EFI")
    fat0 = fs.reserved_sectors * fs.bytes_per_sector
    # the directory's cluster points at itself: a directory that never ends
    struct.pack_into("<I", data, fat0 + 4 * d.first_cluster, d.first_cluster)
    off = fs.cluster_offset(d.first_cluster)
    for k in range(0, fs.cluster_size, 32):         # no end marker: every slot used
        data[off + k:off + k + 32] = (b"FILE%04dTXT" % (k // 32) + b"\x20").ljust(32, b"\0")
    with pytest.raises(FatError, match="loops"):
        FatFs(BytesSource(bytes(data))).listdir("/EFI")
    # a long chain of full directory clusters without an end marker
    n = 70000 * 32 // fs.cluster_size + 2
    start = 1000
    struct.pack_into("<I", data, fat0 + 4 * d.first_cluster, start)
    for c in range(start, start + n):
        struct.pack_into("<I", data, fat0 + 4 * c, c + 1)
        o = fs.cluster_offset(c)
        for k in range(0, fs.cluster_size, 32):
            data[o + k:o + k + 32] = (b"F%07dTXT" % c + b"\x20").ljust(32, b"\0")
    with pytest.raises(FatError, match="65536"):
        FatFs(BytesSource(bytes(data))).listdir("/EFI")


def test_directory_cycle_in_walk(tmp_path):
    data = _fat_bytes(tmp_path, 16, {"A/B/f": b"1"}, 16)
    fs = FatFs(BytesSource(bytes(data)))
    a, b = fs.lookup("/A"), fs.lookup("/A/B")
    # make B's entry in A point at A itself
    off = fs.cluster_offset(a.first_cluster)
    raw = bytes(data[off:off + fs.cluster_size])
    i = raw.find(b"B          ")
    struct.pack_into("<H", data, off + i + 26, a.first_cluster)
    with pytest.raises(FatError, match="loop"):
        list(FatFs(BytesSource(bytes(data))).walk())


def test_gpt_on_random_bytes():
    import random
    src = BytesSource(random.Random(1).randbytes(1 << 20))
    gpt = read_gpt(src)
    assert not gpt.found and gpt.problems
    r = verify_source(src)
    assert not r.compliant and r.result("IMG-GPT") == "fail"
    assert not any("internal_error" in f.details for f in r.findings)

"""What UEFI firmware (edk2's FAT driver, partition driver, PE/COFF loader)
or GRUB refuse, verify refuses: each structural mutation of the real
compliant fixture (tests/verify/fwmutate.py) is a FAIL with its requirement
id, and the unmutated fixture and the Debian-built images stay compliant
with every new check passing."""

from __future__ import annotations

import pytest

from armvm_oe.image import open_image
from armvm_oe.verify import verify
from tests.verify import fwmutate as m
from tests.verify import imagegen as g

NEW_CHECKS = {("IMG-ESP-FAT32", "esp-mount"), ("IMG-ESP-FAT32", "esp-cross-links"),
              ("IMG-GPT", "gpt-headers"), ("IMG-EFI-APP", "efi-app")}


@pytest.fixture
def work(image, tmp_path):
    return g.copy(image("aarch64"), tmp_path / "disk.wic")


def _fail(report, req: str, check: str, *words: str):
    fs = [f for f in report.find(req, check) if f.result == "fail"]
    assert fs, [f.as_dict() for f in report.find(req)]
    assert not report.compliant
    assert not any("internal_error" in f.details for f in report.findings)
    for w in words:
        assert w in fs[0].reason, fs[0].reason
    return fs[0]


def _all_new_pass(report):
    for req, check in NEW_CHECKS:
        fs = report.find(req, check)
        assert fs and all(f.result == "pass" for f in fs), [f.as_dict() for f in fs]


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
def test_fixture_passes_every_new_check(image, arch):
    r = verify(image(arch))
    assert r.compliant, r.verdict()
    _all_new_pass(r)
    assert not r.find("IMG-EFI-APP", "efi-app-layout")


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
def test_debian_built_images_pass_every_new_check(arch):
    from armvm_oe.testing import distro

    img = distro.cached(arch)
    if img is None:
        pytest.skip(f"the Debian-built {arch} image is not in the cache "
                    f"({distro.image_dir(arch)}): python3 -m armvm_oe.testing.distro "
                    f"--arch {arch} builds it")
    r = verify(img)
    assert r.compliant, r.verdict()
    _all_new_pass(r)


# -- FAT: edk2 FatPkg/EnhancedFatDxe/Init.c, GRUB grub-core/fs/fat.c ----------
def test_fat_version_not_zero(work):
    m.fat_version(work, 0x0001)
    f = _fail(verify(work), "IMG-ESP-FAT32", "esp-mount", "BPB_FSVer is 0.1", "refuse")
    assert f.details["fs_version"] == "0.1"


def test_fat_mirroring_disabled_active_fat_loops(work):
    m.fat_ext_flags(work, 0x0081, loop_active=True)
    r = verify(work)
    f = _fail(r, "IMG-ESP-FAT32", "esp-mount", "mirroring is disabled", "FAT number 1")
    assert f.details["ext_flags"] == "0x0081"
    # what GRUB reads (the active FAT) loops: the ESP's tree cannot be followed
    _fail(r, "IMG-ESP-FAT32", "esp-cross-links", "loops")


def test_fat_active_fat_beyond_num_fats(work):
    m.fat_ext_flags(work, 0x0082)
    _fail(verify(work), "IMG-ESP-FAT32", "esp-mount", "number 2", "does not exist")


def test_fat_mirroring_flag_alone_is_refused(work):
    """edk2 refuses any mirror-disabled FAT32, even when the active FAT is fine."""
    m.fat_ext_flags(work, 0x0080)
    r = verify(work)
    _fail(r, "IMG-ESP-FAT32", "esp-mount", "mirroring is disabled")
    assert r.result("IMG-REMOVABLE-PATH") == "pass"      # FAT 0 itself is intact


def test_boot_application_cross_linked_into_kernel(work):
    cluster, kernel = m.cross_link(work)
    r = verify(work)
    f = _fail(r, "IMG-ESP-FAT32", "esp-cross-links", "/EFI/BOOT/BOOTAA64.EFI", "/Image",
              "the boot application")
    assert kernel in f.details["shared"]


def test_cross_links_name_both_owners_in_any_file(work, tmp_path):
    g.mtools("mcopy", work, str(_blob(tmp_path, "a.bin", 20000)), "::/a.bin")
    g.mtools("mcopy", work, str(_blob(tmp_path, "b.bin", 20000)), "::/b.bin")
    m.cross_link(work, "/a.bin", "/b.bin")
    f = _fail(verify(work), "IMG-ESP-FAT32", "esp-cross-links", "/a.bin", "/b.bin")
    assert "boot application" not in f.reason


def test_cross_link_walk_is_bounded_in_clusters(image):
    """Past the cluster budget the walk stops (an unknown finding, never an
    unbounded list): the budget is a count, the same on every machine."""
    from armvm_oe.image import fatcheck

    with open_image(image("aarch64")) as im:
        fs = im.fat(im.esp())
        full = fatcheck.cross_links(fs)
        part = fatcheck.cross_links(fs, limit=1000)
    assert full.complete and not full.shared and full.followed > 1000
    assert not part.complete and part.followed <= 1000 + 1


def _blob(tmp_path, name, n):
    p = tmp_path / name
    p.write_bytes(bytes(range(256)) * (n // 256))
    return p


# -- GPT: UEFI 2.10 5.3.2; edk2 MdeModulePkg/Library/GptLib/Gpt.c ------------------
def test_first_usable_lba_overlaps_header(work):
    m.gpt_field(work, "primary", 40, "<Q", 1)
    _fail(verify(work), "IMG-GPT", "gpt-headers", "primary", "includes the header itself")


def test_first_usable_lba_overlaps_entry_array(work):
    h = m.gpt_header(work, "primary")
    m.gpt_field(work, "primary", 40, "<Q", h["entries_lba"] + 1)
    _fail(verify(work), "IMG-GPT", "gpt-headers", "primary", "overlaps its own entry array")


def test_last_usable_lba_overlaps_backup_array(work):
    h = m.gpt_header(work, "backup")
    m.gpt_field(work, "backup", 48, "<Q", h["entries_lba"] + 2)
    _fail(verify(work), "IMG-GPT", "gpt-headers", "backup", "overlaps its own entry array")


def test_last_usable_lba_covers_backup_header(work):
    h = m.gpt_header(work, "backup")
    m.gpt_field(work, "backup", 48, "<Q", h["lba"])
    _fail(verify(work), "IMG-GPT", "gpt-headers", "backup", "includes the header itself")


@pytest.mark.parametrize("offset,fmt,value,words", [
    (8, "<I", 0x00010001, "revision"),           # edk2: Revision != GPT_HEADER_REVISION_V1
    (80, "<I", 0, "0 partition entries"),         # NumberOfPartitionEntries == 0
    (84, "<I", 136, "128 * 2^n"),                 # SizeOfPartitionEntry not a power of two
])
def test_header_fields_edk2_refuses(work, offset, fmt, value, words):
    m.gpt_field(work, "primary", offset, fmt, value)
    _fail(verify(work), "IMG-GPT", "gpt-headers", "primary", words)


# -- PE: edk2 MdePkg/Library/BasePeCoffLib/BasePeCoff.c ---------------------------
def test_pe_no_sections(work, tmp_path):
    m.pe_patch(work, tmp_path, lambda d, pe: m.pe_u16(d, pe, m.NUMBER_OF_SECTIONS, 0))
    _fail(verify(work), "IMG-EFI-APP", "efi-app", "no sections")


@pytest.mark.parametrize("count", [200, 0xFFFF])
def test_pe_more_sections_than_the_headers_hold(work, tmp_path, count):
    m.pe_patch(work, tmp_path, lambda d, pe: m.pe_u16(d, pe, m.NUMBER_OF_SECTIONS, count))
    f = _fail(verify(work), "IMG-EFI-APP", "efi-app", "refuses", f"{count} section headers")
    assert f.details["number_of_sections"] == count


def test_pe_size_of_image_smaller_than_headers(work, tmp_path):
    def edit(d, pe):
        m.pe_u32(d, pe, m.SIZE_OF_IMAGE, m.pe_get(d, pe, m.SIZE_OF_HEADERS))
    m.pe_patch(work, tmp_path, edit)
    _fail(verify(work), "IMG-EFI-APP", "efi-app", "is not smaller than SizeOfImage")


def test_pe_size_of_image_cuts_the_last_section(work, tmp_path):
    def edit(d, pe):
        m.pe_u32(d, pe, m.SIZE_OF_IMAGE, m.last_section_va(d, pe))
    m.pe_patch(work, tmp_path, edit)
    _fail(verify(work), "IMG-EFI-APP", "efi-app", "lies beyond SizeOfImage")


def test_pe_size_of_image_absurd(work, tmp_path):
    m.pe_patch(work, tmp_path, lambda d, pe: m.pe_u32(d, pe, m.SIZE_OF_IMAGE, 0xF0000000))
    _fail(verify(work), "IMG-EFI-APP", "efi-app", "must allocate")


def test_pe_section_alignment_zero(work, tmp_path):
    m.pe_patch(work, tmp_path, lambda d, pe: m.pe_u32(d, pe, m.SECTION_ALIGNMENT, 0))
    _fail(verify(work), "IMG-EFI-APP", "efi-app", "SectionAlignment 0x0")


def test_pe_size_of_image_unaligned_is_a_warning(work, tmp_path):
    """edk2 loads a SizeOfImage that is not a multiple of SectionAlignment:
    a warning (the PE/COFF specification's rule), not a failure."""
    def edit(d, pe):
        m.pe_u32(d, pe, m.SIZE_OF_IMAGE, m.pe_get(d, pe, m.SIZE_OF_IMAGE) + 0x10)
    m.pe_patch(work, tmp_path, edit)
    r = verify(work)
    assert r.compliant, r.verdict()
    assert r.result("IMG-EFI-APP") == "warn"
    assert "multiple of SectionAlignment" in r.find("IMG-EFI-APP", "efi-app-layout")[0].reason


def test_mutations_are_read_back_as_made(work):
    """The mutators change what they say (a guard against a test passing
    because a mutation silently missed)."""
    m.fat_version(work, 0x0102)
    m.fat_ext_flags(work, 0x0081)
    with open_image(work) as im:
        fs = im.fat(im.esp())
        assert fs.fs_version == 0x0102 and fs.ext_flags == 0x0081 and fs.active_fat == 1

"""Hostile GRUB configs and boot applications (issue 16): verify must never
say "compliant" for an image whose GRUB would load a devicetree or that
cannot boot for a reason verify claims to check. Each case was compliant
(exit 0) before the GRUB tokenizer, the PE load check, the GPT attribute
check and the independent ESP sub-checks."""

from __future__ import annotations

import struct

import pytest

from armvm_oe import diskimage
from armvm_oe.image import open_image
from armvm_oe.testing import debian
from armvm_oe.verify import grub, verify
from tests.verify import imagegen as g

BASE_CFG = None


@pytest.fixture
def work(image, tmp_path):
    return g.copy(image("aarch64"), tmp_path / "disk.wic")


def _cfg(work) -> str:
    with open_image(work) as im:
        return im.fat(im.esp()).read("/EFI/BOOT/grub.cfg").decode()


def _put(work, tmp_path, name: str, data: bytes | str) -> None:
    f = tmp_path / name.rsplit("/", 1)[-1]
    f.write_bytes(data.encode() if isinstance(data, str) else data)
    g.mtools("mcopy", work, "-o", str(f), f"::{name}")


def _linux_line(work) -> str:
    return next(x.strip() for x in _cfg(work).splitlines() if x.strip().startswith("linux"))


def _fdt_fails(r):
    assert r.exit_code == 1 and not r.compliant
    f = r.find("HW-FDT", "devicetree")
    assert f and f[0].result == "fail", [x.as_dict() for x in r.findings]
    return f[0]


def test_compliant_base_passes(work):
    r = verify(work)
    assert r.exit_code == 0 and r.result("HW-FDT") == "pass"
    assert r.result("IMG-ESP-TYPE") == "pass"


@pytest.mark.parametrize("case", ["semicolon", "one-line", "if-fi", "menuentry-line",
                                  "continuation", "eval"])
def test_devicetree_hidden_by_grub_syntax(work, tmp_path, case):
    lin = _linux_line(work)
    cfgs = {
        "semicolon": f"set timeout=0; devicetree /virt.dtb\nmenuentry a {{\n {lin}\n}}\n",
        "one-line": f'menuentry "a" {{ devicetree /virt.dtb; {lin}; initrd /initrd.img; }}\n',
        "if-fi": f"if true; then devicetree /virt.dtb; fi\nmenuentry a {{\n {lin}\n}}\n",
        "menuentry-line": f'menuentry "a" {{ devicetree /virt.dtb\n {lin}\n}}\n',
        "continuation": f"menuentry a {{\n {lin}\n devi\\\ncetree /virt.dtb\n}}\n",
        "eval": f"eval 'devicetree /virt.dtb'\nmenuentry a {{\n {lin}\n}}\n",
    }
    _put(work, tmp_path, "/EFI/BOOT/grub.cfg", cfgs[case])
    f = _fdt_fails(verify(work))
    assert "virt.dtb" in f.reason


def test_devicetree_after_line_20000(work, tmp_path):
    lin = _linux_line(work)
    text = "# padding\n" * 20001 + f"menuentry a {{\n {lin}\n devicetree /virt.dtb\n}}\n"
    _put(work, tmp_path, "/EFI/BOOT/grub.cfg", text)
    f = _fdt_fails(verify(work))
    assert "line 20004" in f.reason


def test_grub_cfg_too_large_is_a_fail(work, tmp_path):
    lin = _linux_line(work)
    text = f"menuentry a {{\n {lin}\n}}\n" + "# " + "x" * (5 << 20) + "\ndevicetree /virt.dtb\n"
    _put(work, tmp_path, "/EFI/BOOT/grub.cfg", text)
    r = verify(work)
    assert r.exit_code == 1
    f = r.find("IMG-GRUB", "grub-config")[0]
    assert f.result == "fail" and "too large to check" in f.reason
    assert r.result("HW-FDT") == "fail"


def test_devicetree_in_a_sourced_config(work, tmp_path):
    lin = _linux_line(work)
    _put(work, tmp_path, "/EFI/BOOT/extra.cfg", "devicetree /virt.dtb\n")
    _put(work, tmp_path, "/EFI/BOOT/grub.cfg",
         f"source $prefix/extra.cfg\nmenuentry a {{\n {lin}\n}}\n")
    f = _fdt_fails(verify(work))
    assert "/EFI/BOOT/extra.cfg" in f.reason


def test_devicetree_in_early_config(work, tmp_path):
    """grub-mkimage -c: the early config embedded in BOOTAA64.EFI runs first."""
    early = diskimage.EARLY_CFG.replace("configfile", "devicetree /virt.dtb\nconfigfile")
    efi = diskimage.make_grub_efi("aarch64", debian.grub_modules("aarch64"),
                                  tmp_path / "BOOTAA64.EFI", early_cfg=early)
    _put(work, tmp_path, "/EFI/BOOT/BOOTAA64.EFI", efi.read_bytes())
    r = verify(work)
    assert r.result("IMG-EFI-APP") == "pass"
    f = _fdt_fails(r)
    assert "(early config)" in f.reason


def _efi(work) -> bytes:
    with open_image(work) as im:
        return im.fat(im.esp()).read("/EFI/BOOT/BOOTAA64.EFI")


def test_truncated_boot_application(work, tmp_path):
    data = _efi(work)
    _put(work, tmp_path, "/EFI/BOOT/BOOTAA64.EFI", data[:len(data) // 2])
    r = verify(work)
    f = r.find("IMG-EFI-APP")[0]
    assert f.result == "fail" and "truncated" in f.reason and r.exit_code == 1


def test_sectionless_boot_application(work, tmp_path):
    data = bytearray(_efi(work))
    pe_off = struct.unpack_from("<I", data, 0x3C)[0]
    struct.pack_into("<H", data, pe_off + 6, 0)          # NumberOfSections
    _put(work, tmp_path, "/EFI/BOOT/BOOTAA64.EFI", bytes(data))
    r = verify(work)
    f = r.find("IMG-EFI-APP")[0]
    assert f.result == "fail" and "no sections" in f.reason and r.exit_code == 1


def test_destroyed_grub_module_area(work, tmp_path):
    import pefile
    data = bytearray(_efi(work))
    pe = pefile.PE(data=bytes(data), fast_load=True)
    start, end = grub.mods_section(pe)
    data[start:end] = bytes(end - start)
    _put(work, tmp_path, "/EFI/BOOT/BOOTAA64.EFI", bytes(data))
    r = verify(work)
    f = r.find("IMG-GRUB", "grub-modules")
    assert f and f[0].result == "fail" and r.exit_code == 1


def _fat32_entry_offset(work, cluster: int) -> int:
    with open_image(work) as im:
        fs = im.fat(im.esp())
        assert fs.fat_type == 32
        return im.esp().offset + fs.reserved_sectors * fs.bytes_per_sector + 4 * cluster


def test_looping_kernel_chain_does_not_mask_devicetree(work, tmp_path):
    lin = _linux_line(work)
    _put(work, tmp_path, "/EFI/BOOT/grub.cfg",
         f"menuentry a {{\n {lin}\n initrd /initrd.img\n devicetree /virt.dtb\n}}\n")
    with open_image(work) as im:
        c = im.fat(im.esp()).lookup("/Image").first_cluster
    g.patch(work, _fat32_entry_offset(work, c + 3), struct.pack("<I", c))   # loop back
    r = verify(work)
    _fdt_fails(r)
    bf = r.find("IMG-GRUB", "grub-boot-files")
    assert any(f.result == "fail" and "loops" in f.reason for f in bf), [f.as_dict() for f in bf]


def test_directory_budget_is_per_walk(work):
    """A budget that one walk fits in must not run out over a whole verify."""
    from armvm_oe.image import FatError, Limits

    def walk_fits(n: int) -> bool:
        with open_image(work, limits=Limits(max_total_entries=n)) as im:
            try:
                list(im.fat(im.esp()).walk())
                return True
            except FatError:
                return False

    per_walk = next(n for n in range(1, 10_000) if walk_fits(n))   # what one walk needs
    r = verify(work, limits=Limits(max_total_entries=per_walk))
    assert r.exit_code == 0, [f.as_dict() for f in r.findings if f.result != "pass"]


def _set_esp_attributes(work, value: int) -> None:
    import os
    sectors = os.path.getsize(work) // 512
    back_lba = sectors - 1
    for hdr_lba in (1, back_lba):
        hdr = g.read(work, hdr_lba * 512, 92)
        elba = struct.unpack_from("<Q", hdr, 72)[0]
        g.patch(work, elba * 512 + 48, struct.pack("<Q", value))   # entry 1's attributes
        g.fix_gpt_crcs(work, hdr_lba)


def test_esp_no_block_io_attribute_fails(work):
    _set_esp_attributes(work, 1 << 1)
    r = verify(work)
    assert r.result("IMG-GPT") == "pass"
    f = r.find("IMG-ESP-TYPE", "esp-attributes")[0]
    assert f.result == "fail" and "No Block IO" in f.reason and r.exit_code == 1


def test_esp_required_attribute_is_fine(work):
    _set_esp_attributes(work, 1 << 0)
    r = verify(work)
    assert r.find("IMG-ESP-TYPE", "esp-attributes")[0].result == "pass" and r.exit_code == 0


# -- the tokenizer on its own -------------------------------------------------
@pytest.mark.parametrize("text,expect", [
    ("echo 'devicetree /x'", 0),                  # quoted: an argument, not a command
    ("# devicetree /x", 0),
    ("echo a#devicetree /x", 0),                  # '#' inside a word is not a comment
    ("menuentry x {devicetree /x}", 1),           # braces are tokens of their own
    ("while false; do devicetree /x; done", 1),
    ("function f { devicetree /x }", 1),
    ('echo "unterminated\ndevicetree /x', 1),     # GRUB: a syntax error; verify reads on rather than hide
    ("true && devicetree /x", 1),
])
def test_tokenizer(text, expect):
    assert len(grub.parse_config(text).devicetree_lines) == expect


def test_tokenizer_limits_raise():
    with pytest.raises(grub.GrubLimit):
        grub.parse_config("x\n" * 300_000)
    with pytest.raises(grub.GrubLimit):
        grub.parse_config("#" * (grub.MAX_CONFIG_BYTES + 1))


def test_terminal_escapes_from_the_image_are_escaped(work, tmp_path, verify_cli):
    """A grub.cfg line echoed in a finding cannot clear or rewrite the
    terminal (an image could hide a FAIL line); JSON keeps the exact text."""
    lin = _linux_line(work)
    evil = "devicetree /x\x1b[2K\x1b[1A\u202e"
    _put(work, tmp_path, "/EFI/BOOT/grub.cfg", f"menuentry a {{\n {lin}\n {evil}\n}}\n")
    rc, out, err, _ = verify_cli(work)
    assert rc == 1 and "HW-FDT" in out
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[2K" in out
    rc, out, err, doc = verify_cli(work, "--json")
    f = next(x for x in doc["findings"] if x["id"] == "HW-FDT")
    assert "\x1b[2K" in f["reason"]


def test_json_is_strict():
    import io
    import json
    from armvm_oe.ui import emit_json
    buf = io.StringIO()
    emit_json({"seconds": float("nan"), "x": [float("inf")]}, buf)
    assert json.loads(buf.getvalue(), parse_constant=lambda c: pytest.fail(c)) == \
        {"seconds": None, "x": [None]}


def test_unknown_is_not_plain_compliant_and_strict_fails(work, verify_cli):
    rc, out, err, _ = verify_cli(work, "--no-rootfs")      # GUEST-* kernel config unknown
    assert rc == 0 and "compliant as far as checked (" in out and "\nCOMPLIANT" not in out
    rc, out, err, doc = verify_cli(work, "--no-rootfs", "--strict", "--json")
    assert rc == 1 and doc["compliant"] is False and doc["strict"] is True
    assert doc["summary"]["fail"] == 0 and doc["summary"]["unknown"] > 0
    rc, out, err, doc = verify_cli(work, "--strict", "--json")    # everything checked
    assert rc == 0 and doc["verdict"] == "COMPLIANT"


def test_firmware_in_the_root_filesystem_is_found(work, tmp_path):
    """FW-NOT-IN-IMAGE is a "should": found firmware warns, on the ESP and now
    also in the root filesystem's firmware directories."""
    from armvm_oe.verify.model import bad_result
    fd = tmp_path / "QEMU_EFI.fd"
    fd.write_bytes(bytes(4096))
    with open_image(work) as im:
        off = im.root_partition().offset
    import subprocess
    subprocess.run(["debugfs", "-w", "-R", f"write {fd} /boot/QEMU_EFI.fd",
                    f"{work}?offset={off}"], check=True, capture_output=True)
    r = verify(work)
    f = r.find("FW-NOT-IN-IMAGE", "firmware-rootfs")[0]
    assert f.result == bad_result("FW-NOT-IN-IMAGE") != "pass"
    assert "/boot/QEMU_EFI.fd" in f.reason
    assert r.find("FW-NOT-IN-IMAGE", "firmware-files")[0].result == "pass"

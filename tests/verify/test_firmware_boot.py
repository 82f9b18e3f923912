"""The firmware really refuses what verify fails (tests/verify/
test_firmware_refuses.py): the real compliant aarch64 fixture boots to
"Welcome to GRUB!" under QEMU + AAVMF, and each mutated copy does not: edk2's
boot manager reports Boot0001 (the removable-media path) as not loadable and
falls back to its shell. About 20 s of TCG per boot: nightly."""

from __future__ import annotations

import shutil

import pexpect
import pytest

from armvm_oe.qemu import find_firmware
from armvm_oe.verify import verify
from tests.verify import fwmutate as m
from tests.verify import imagegen as g

pytestmark = [pytest.mark.boot, pytest.mark.nightly]

GRUB = "Welcome to GRUB!"
REFUSED = r'failed to load Boot0001 "UEFI Misc Device"[^:]*: ([A-Za-z ]+)'

MUTATIONS = {
    # (how, requirement and check verify fails, edk2's status word)
    "fat-version": (lambda img, tmp: m.fat_version(img), ("IMG-ESP-FAT32", "esp-mount"),
                    "Not Found"),
    "fat-mirroring-off": (lambda img, tmp: m.fat_ext_flags(img, 0x0080),
                          ("IMG-ESP-FAT32", "esp-mount"), "Not Found"),
    "cross-linked-boot-app": (lambda img, tmp: m.cross_link(img),
                              ("IMG-ESP-FAT32", "esp-cross-links"), "Load Error"),
    "pe-200-sections": (lambda img, tmp: m.pe_patch(
        img, tmp, lambda d, pe: m.pe_u16(d, pe, m.NUMBER_OF_SECTIONS, 200)),
        ("IMG-EFI-APP", "efi-app"), "Unsupported"),
}


def _boot(img, tmp_path) -> tuple[int, str]:
    """Boot ``img`` until GRUB greets or edk2 gives up on Boot0001: (0 = GRUB,
    1 = refused, the refusal's status). The timeout is only a backstop."""
    fw = find_firmware("aarch64")
    vars_fd = tmp_path / "vars.fd"
    shutil.copy(fw.vars_template, vars_fd)
    argv = ["-M", "virt,gic-version=3,acpi=off", "-cpu", "cortex-a57", "-m", "512",
            "-nographic", "-no-reboot", "-nic", "none",
            "-drive", f"if=pflash,format=raw,readonly=on,file={fw.code}",
            "-drive", f"if=pflash,format=raw,file={vars_fd}",
            "-drive", f"if=none,id=hd,file={img},format=raw,snapshot=on",
            "-device", "virtio-blk-device,drive=hd"]
    child = pexpect.spawn("qemu-system-aarch64", argv, encoding="utf-8", codec_errors="replace",
                          timeout=900)
    try:
        i = child.expect([GRUB, REFUSED])
        return i, (child.match.group(1).strip() if i == 1 else "")
    finally:
        child.terminate(force=True)


def test_unmutated_fixture_reaches_grub(image, tmp_path):
    assert _boot(image("aarch64"), tmp_path)[0] == 0


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_firmware_refuses_what_verify_fails(image, tmp_path, name):
    how, (req, check), status = MUTATIONS[name]
    img = g.copy(image("aarch64"), tmp_path / "disk.wic")
    how(img, tmp_path)
    assert any(f.result == "fail" for f in verify(img).find(req, check))
    got, why = _boot(img, tmp_path)
    assert got == 1, f"{name}: the firmware reached GRUB"
    if status:
        assert why == status, why

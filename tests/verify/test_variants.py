"""Every fixture variant fires its check; the compliant images verify as
compliant (real images from armvm_oe.testing.fixtures: Debian's GRUB and
kernels, mkfs.vfat, sgdisk, mke2fs)."""

from __future__ import annotations

import pytest

from armvm_oe.testing.fixtures import VARIANTS
from armvm_oe.verify import verify

# variant -> (requirement id, check, expected result)
EXPECT = {
    "fat16": ("IMG-ESP-FAT32", "esp-fat-type", "fail"),
    "basic-data-guid": ("IMG-ESP-TYPE", "esp-type", "fail"),
    "no-removable-path": ("IMG-REMOVABLE-PATH", "removable-path", "fail"),
    "x86-efi": ("IMG-EFI-APP", "efi-app", "fail"),
    "firmware-in-esp": ("FW-NOT-IN-IMAGE", "firmware-files", "warn"),
    "devicetree-line": ("HW-FDT", "devicetree", "fail"),
    "dev-vda-root": ("IMG-GRUB", "grub-root-device", "fail"),
    "console-arg": ("GUEST-NO-CONSOLE-ARG", "console-arg", "warn"),
    "no-xen-console": ("GUEST-CONSOLE", "kconfig", "fail"),
    "no-xen": ("GUEST-XEN", "kconfig", "warn"),
    "no-kernel-config": ("GUEST-XEN", "kconfig", "unknown"),
}
# what the compliant image of each arch legitimately shows besides "pass"
BASELINE = {"aarch64": set(), "arm": {("GUEST-HOTPLUG", "kconfig", "warn")}}


def test_every_variant_has_an_expectation():
    assert set(VARIANTS) - {"compliant"} == set(EXPECT)


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
def test_compliant(image, validate, arch):
    r = verify(image(arch))
    doc = validate(r.as_dict())
    assert r.compliant and r.exit_code == 0, [f.as_dict() for f in r.findings if f.result == "fail"]
    assert r.arch == arch and r.arch_source == "efi-binary"
    off = {(f.id, f.check, f.result) for f in r.findings if f.result != "pass"}
    assert off == BASELINE[arch]
    # every requirement a disk image can show has a finding
    for req in ("IMG-GPT", "IMG-ESP-TYPE", "IMG-ESP-FAT32", "IMG-REMOVABLE-PATH", "IMG-EFI-APP",
                "IMG-GRUB", "FW-NOT-IN-IMAGE", "HW-FDT", "GUEST-NO-CONSOLE-ARG",
                "GUEST-CONSOLE", "GUEST-GIC", "GUEST-TIMER", "GUEST-VIRTIO", "GUEST-XEN",
                "GUEST-HOTPLUG", "GUEST-EFI"):
        assert r.result(req) is not None, req
    assert (r.result("GUEST-ARM32") is not None) == (arch == "arm")
    assert doc["kernel"]["config_source"].startswith("root:/boot/config-")
    assert doc["kernel"]["release"] and doc["stats"]["bytes_read"] > 0
    if arch == "arm":
        hot = r.find("GUEST-HOTPLUG")[0]
        assert "CONFIG_HOTPLUG_PCI" in hot.reason and hot.details["options"]["CONFIG_HOTPLUG_PCI"] == "n"
        assert r.kernel["compression"] == "xz"
    # =m accepted with a note where the table allows it
    virtio = r.find("GUEST-VIRTIO")[0]
    assert "CONFIG_VIRTIO_BLK" in virtio.details["modules"]


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
@pytest.mark.parametrize("variant", sorted(EXPECT))
def test_variant_fires_its_check(image, validate, arch, variant):
    req, check, result = EXPECT[variant]
    r = verify(image(arch, variant))
    validate(r.as_dict())
    hits = r.find(req, check)
    assert hits and all(f.result == result for f in hits), [f.as_dict() for f in r.findings]
    assert hits[0].reason
    if result != "unknown":
        assert hits[0].fix
    # no-xen also unsets HVC_XEN, which GUEST-CONSOLE ("must") needs
    assert r.compliant == (result != "fail" and variant != "no-xen")
    # exactly one violation: nothing else beyond the arch's baseline (and the
    # consequences a missing boot application has for what can be inspected)
    off = {(f.id, f.check, f.result) for f in r.findings if f.result != "pass"}
    extra = off - BASELINE[arch] - {(req, check, result)}
    if variant == "basic-data-guid":
        assert extra == {("IMG-ESP-TYPE", "esp-type-efi-boot", "warn")}
    elif variant == "no-removable-path":
        assert {x[2] for x in extra} == {"unknown"}
        assert {x[0] for x in extra} == {"IMG-EFI-APP", "IMG-GRUB", "HW-FDT",
                                         "GUEST-NO-CONSOLE-ARG"}
    elif variant in ("no-xen-console", "no-xen"):
        assert {x[0] for x in extra} <= {"GUEST-CONSOLE", "GUEST-XEN"}
    elif variant == "no-kernel-config":
        assert {x[2] for x in extra} == {"unknown"} and all(x[0].startswith("GUEST-") for x in extra)
    else:
        assert not extra, extra


def test_variant_details(image):
    r = verify(image("aarch64", "fat16"))
    f = r.find("IMG-ESP-FAT32", "esp-fat-type")[0]
    assert f.details["fat_type"] == 16 and f.details["cluster_count"] < 65525
    r = verify(image("aarch64", "x86-efi"))
    f = r.find("IMG-EFI-APP")[0]
    assert f.details["machine"] == "0x8664" and "x86-64" in f.reason
    r = verify(image("aarch64", "firmware-in-esp"))
    f = r.find("FW-NOT-IN-IMAGE")[0]
    assert any("QEMU_EFI.fd" in h for h in f.details["files"])
    r = verify(image("aarch64", "no-xen-console"))
    f = r.find("GUEST-CONSOLE")[0]
    assert "CONFIG_HVC_XEN" in f.reason and f.details["options"]["CONFIG_HVC_XEN"] == "n"
    r = verify(image("aarch64", "dev-vda-root"))
    assert "root=/dev/vda2" in r.find("IMG-GRUB", "grub-root-device")[0].reason

"""The build-time audit's checking logic (meta-armvm/lib/armvm_kconfig.py),
outside bitbake, on real .config text and the real audit lists."""

from __future__ import annotations

import armvm_kconfig as A
from layerpaths import FILES


def _required(arch):
    return (FILES / f"armvm-required-{arch}.list").read_text()


def _all_y(arch):
    return "\n".join(f"CONFIG_{n}=y" for n, _ in A.parse_required(_required(arch))) + "\n"


def test_complete_config_passes():
    for arch in ("aarch64", "arm"):
        assert A.audit(_all_y(arch), _required(arch), arch) == ""


def test_dropped_options_fail_with_names_ids_and_state():
    config = (_all_y("aarch64")
              .replace("CONFIG_HOTPLUG_PCI_PCIE=y", "# CONFIG_HOTPLUG_PCI_PCIE is not set")
              .replace("CONFIG_XEN_BLKDEV_FRONTEND=y", "CONFIG_XEN_BLKDEV_FRONTEND=m")
              .replace("CONFIG_ARM_GIC_V3_ITS=y\n", ""))
    report = A.audit(config, _required("aarch64"), "aarch64")
    assert report.startswith("3 required kernel option(s) did not survive configuration for aarch64")
    assert "CONFIG_HOTPLUG_PCI_PCIE is not set [GUEST-HOTPLUG]" in report
    assert "CONFIG_XEN_BLKDEV_FRONTEND =m [GUEST-XEN]" in report
    assert "CONFIG_ARM_GIC_V3_ITS absent (a dependency is not met) [GUEST-GIC]" in report


def test_parse_config_handles_strings_and_comments():
    cfg = A.parse_config('CONFIG_CMDLINE="console=ttyAMA0"\n# CONFIG_FOO is not set\n# random\nCONFIG_BAR=m\n')
    assert cfg == {"CMDLINE": "console=ttyAMA0", "FOO": "n", "BAR": "m"}


def test_parse_required_reads_ids():
    req = A.parse_required("# c\n\nCONFIG_A\tX-1,Y-2\nCONFIG_B\tLAYER\n")
    assert req == [("A", ["X-1", "Y-2"]), ("B", ["LAYER"])]


def test_audit_requires_only_what_the_kernel_version_has():
    """ARM_GIC_V3_ITS_PCI is gone from Linux 6.12 on (IRQ_MSI_LIB took its
    place): the .config header's version decides which one is required."""
    base = _all_y("arm").replace("CONFIG_ARM_GIC_V3_ITS_PCI=y\n", "").replace(
        "CONFIG_IRQ_MSI_LIB=y\n", "")
    new = "# Linux/arm 6.18.35 Kernel Configuration\n" + base + "CONFIG_IRQ_MSI_LIB=y\n"
    old = "# Linux/arm 6.6.57 Kernel Configuration\n" + base + "CONFIG_ARM_GIC_V3_ITS_PCI=y\n"
    assert A.kernel_version(new) == "6.18.35"
    assert A.audit(new, _required("arm"), "arm") == ""
    assert A.audit(old, _required("arm"), "arm") == ""
    # the other kernel's symbol is not enough
    swapped = new.replace("CONFIG_IRQ_MSI_LIB=y", "CONFIG_ARM_GIC_V3_ITS_PCI=y")
    assert "CONFIG_IRQ_MSI_LIB absent (a dependency is not met) [LAYER]" in A.audit(
        swapped, _required("arm"), "arm")
    assert "CONFIG_ARM_GIC_V3_ITS_PCI absent" in A.audit(
        old.replace("CONFIG_ARM_GIC_V3_ITS_PCI=y", ""), _required("arm"), "arm")
    # an explicit version wins over the header; no version at all: every option
    assert "IRQ_MSI_LIB" in A.audit(old, _required("arm"), "arm", version="6.12")
    assert "IRQ_MSI_LIB" in A.audit(base, _required("arm"), "arm")


def test_parse_required_reads_version_bounds():
    text = "CONFIG_A\tLAYER\tuntil=6.12\nCONFIG_B\tLAYER\tsince=6.12\nCONFIG_C\tX\n"
    assert [n for n, _ in A.parse_required(text, "6.6.57")] == ["A", "C"]
    assert [n for n, _ in A.parse_required(text, "6.12")] == ["B", "C"]
    assert [n for n, _ in A.parse_required(text)] == ["A", "B", "C"]

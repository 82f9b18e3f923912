"""armvm_oe.kconfig against Debian's real kernel configs and images, and
kernel-like blobs for the IKCONFIG paths (Debian's kernels have none)."""

from __future__ import annotations

import pytest

from armvm_oe import kconfig, requirements
from armvm_oe.testing import debian
from tests.verify import imagegen as g


@pytest.fixture(scope="module")
def configs():
    return {a: debian.kernel(a) for a in ("aarch64", "arm")}


def test_parse_and_values(configs):
    _, cfg_path, _ = configs["aarch64"]
    cfg = kconfig.parse_config(cfg_path.read_text())
    assert cfg.value("CONFIG_XEN") == "y" and cfg["VIRTIO_BLK"] == "m"
    assert cfg.value("IKCONFIG") == "n"              # "# CONFIG_IKCONFIG is not set" or absent
    assert cfg.value("NO_SUCH_OPTION") == "n"
    assert kconfig.missing(cfg, "aarch64", "XEN", "HVC_XEN") == []
    assert kconfig.missing(kconfig.parse_config("CONFIG_XEN=y\n"), "aarch64", "XEN", "CONFIG_HVC_XEN") \
        == ["CONFIG_HVC_XEN"]


def test_audit_debian_configs(configs):
    for arch, (_, cfg_path, _) in configs.items():
        found = kconfig.audit(kconfig.parse_config(cfg_path.read_text()), arch)
        assert {(f.req_id, f.option) for f in found} == \
            {(r.id, f"CONFIG_{o.name}") for r, o in requirements.kernel_requirements(arch)}
        bad = {(f.req_id, f.option, f.result) for f in found if f.result != "pass"}
        if arch == "aarch64":
            assert bad == set()
        else:
            assert bad == {("GUEST-HOTPLUG", "CONFIG_HOTPLUG_PCI", "warn"),
                           ("GUEST-HOTPLUG", "CONFIG_HOTPLUG_PCI_PCIE", "warn")}
        mod = [f for f in found if f.option == "CONFIG_VIRTIO_BLK"][0]
        assert mod.value == "m" and mod.result == "pass" and "module" in mod.reason


def test_audit_levels_and_modules():
    cfg = kconfig.parse_config("CONFIG_ARM_GIC=m\nCONFIG_XEN=y\n")
    found = {f.option + "@" + f.req_id: f for f in kconfig.audit(cfg, "aarch64")}
    gic = found["CONFIG_ARM_GIC@GUEST-GIC"]           # must, module not allowed
    assert gic.result == "fail" and "built in" in gic.reason and "=y" in gic.fix
    assert found["CONFIG_ARM_GIC_V3@GUEST-GIC"].result == "fail"
    assert found["CONFIG_ARM_ARCH_TIMER@GUEST-TIMER"].result == "warn"      # should
    assert found["CONFIG_XEN@GUEST-XEN"].result == "pass"
    assert found["CONFIG_HVC_XEN@GUEST-CONSOLE"].result == "fail"          # must
    assert found["CONFIG_HVC_XEN@GUEST-XEN"].result == "warn"              # same option, should
    assert not any(f.option == "CONFIG_ARM_LPAE" for f in found.values())  # arm only


def test_debian_kernels_have_no_ikconfig(configs):
    for arch, (img, _, release) in configs.items():
        info = kconfig.inspect_kernel(img.read_bytes())
        assert info.config_text is None and info.release == release
        assert info.compression == (None if arch == "aarch64" else "xz")


CFG = "#\n# test\n#\nCONFIG_ARM64=y\nCONFIG_XEN=y\n# CONFIG_HVC_XEN is not set\nCONFIG_EFI=y\n"


def test_ikconfig_uncompressed_image():
    blob = g.fake_arm64_kernel(CFG)
    info = kconfig.inspect_kernel(blob)
    assert info.config_text == CFG and info.release == "6.1.0-test-arm64"
    cfg = kconfig.from_kernel(blob)
    assert cfg["XEN"] == "y" and cfg["HVC_XEN"] == "n"


@pytest.mark.parametrize("fmt", ["gzip", "xz", "lzma", "bzip2", "zstd"])
def test_ikconfig_inside_compressed_zimage(fmt):
    inner = g.fake_arm64_kernel(CFG, release="6.1.0-test-armmp") + bytes(64 << 10)
    blob = g.fake_zimage(inner, fmt)
    info = kconfig.inspect_kernel(blob)
    assert info.compression == fmt and info.release == "6.1.0-test-armmp"
    assert info.config_text == CFG


def test_no_ikconfig_and_garbage():
    info = kconfig.inspect_kernel(g.fake_zimage(b"\0" * 100000, "gzip"))
    assert info.config_text is None and info.note
    info = kconfig.inspect_kernel(b"\x89LZO\0" + bytes(5000))
    assert info.config_text is None and "lzo" in info.note
    # a broken IKCONFIG block is not a config
    assert kconfig.inspect_kernel(b"IKCFG_ST" + b"\x1f\x8b\x08garbage" + b"IKCFG_ED").config_text is None

"""The shared fixture builder makes real, distinct images."""

import subprocess

import pytest

from armvm_oe import diskimage
from armvm_oe.testing import fixtures


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
def test_compliant_fixture_layout(arch):
    img = fixtures.build_image(arch)
    out = subprocess.run(["sgdisk", "-p", str(img)], capture_output=True, text=True,
                         check=True).stdout
    assert "EF00" in out and "8300" in out
    info = subprocess.run(["sgdisk", "-i", "1", str(img)], capture_output=True, text=True,
                          check=True).stdout
    assert diskimage.ESP_TYPE in info
    # the image is cached: a second call returns the same file without rebuilding
    assert fixtures.build_image(arch) == img


def test_variants_differ_from_compliant():
    base = fixtures.image_key(fixtures.spec_for("aarch64"))
    keys = {v: fixtures.image_key(fixtures.spec_for("aarch64", v)) for v in fixtures.VARIANTS}
    assert keys["compliant"] == base
    assert len(set(keys.values())) == len(keys)


def test_grub_cfg_uses_partuuid_and_no_console():
    cfg = fixtures.grub_cfg(fixtures.spec_for("aarch64"), "1234")
    assert "root=PARTUUID=1234" in cfg and "console=" not in cfg and "devicetree" not in cfg
    bad = fixtures.grub_cfg(fixtures.spec_for("aarch64", "devicetree-line"), "1234")
    assert "devicetree" in bad

"""The layer's fragments resolved with the kernel's own Kconfig tools against
a real kernel tree (Debian's linux-source-6.1): starting from the arch's
defconfig, merge_config.sh -m then olddefconfig, every required option of
armvm_oe.requirements ends up =y; a broken dependency is reported by name."""

from __future__ import annotations

import pytest

import armvm_kconfig as A
import kernel_tree as K
from armvm_oe import requirements as R
from layerpaths import FILES, KMETA

pytestmark = pytest.mark.kconfig


@pytest.fixture(scope="module")
def tree():
    if K.package_version() is None:
        pytest.fail(f"{K.PACKAGE} is not installed; .ci/setup.d/05-layer.sh installs it")
    return K.source_tree()


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
def test_fragment_resolves_all_required_to_y(tree, tmp_path, arch):
    frag = KMETA / f"armvm-guest-{arch}.cfg"
    K.resolve(tree, arch, [frag], tmp_path / "out")
    config = A.parse_config((tmp_path / "out" / ".config").read_text())
    # nothing the fragment asks for was dropped by dependency resolution
    assert K.requested_not_final([frag], (tmp_path / "out" / ".config").read_text()) == {}
    not_y = {n: config.get(n) for n in R.kernel_options(arch) if config.get(n) != "y"}
    assert not_y == {}
    # the full audit list (requirements + layer support options) passes too
    assert A.audit((tmp_path / "out" / ".config").read_text(),
                   (FILES / f"armvm-required-{arch}.list").read_text(), arch) == ""


def test_missing_dependency_is_reported_by_name(tree, tmp_path):
    """A later fragment that turns the block-device menu off (as a BSP
    might) takes the block drivers with it: the comparison with the
    fragments and the audit both name them."""
    breaker = tmp_path / "no-blk.cfg"
    breaker.write_text("# CONFIG_BLK_DEV is not set\n")
    frags = [KMETA / "armvm-guest-arm.cfg", breaker]
    K.resolve(tree, "arm", frags, tmp_path / "out")
    final = (tmp_path / "out" / ".config").read_text()
    dropped = K.requested_not_final(frags, final)
    assert dropped["VIRTIO_BLK"] == ("y", None)  # absent: its dependency BLK_DEV is off
    assert dropped["XEN_BLKDEV_FRONTEND"] == ("y", None)
    assert "VIRTIO_NET" not in dropped
    report = A.audit(final,
                     (FILES / "armvm-required-arm.list").read_text(), "arm")
    assert "CONFIG_VIRTIO_BLK absent (a dependency is not met) [GUEST-VIRTIO]" in report
    assert "CONFIG_XEN_BLKDEV_FRONTEND absent (a dependency is not met) [GUEST-XEN]" in report
    assert "CONFIG_BLK_DEV is not set [LAYER]" in report
    assert "CONFIG_VIRTIO_NET" not in report  # unrelated options survive

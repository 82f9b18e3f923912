"""Inputs both avh test files pack: Debian's arm64 kernel and QEMU virt's own DTB."""

import pytest


@pytest.fixture(scope="module")
def kernel():
    from armvm_oe.testing import debian
    return debian.kernel("aarch64")[0]


@pytest.fixture(scope="module")
def dtb(tmp_path_factory):
    from armvm_oe.testing.fixtures import virt_dtb
    return virt_dtb(tmp_path_factory.mktemp("dtb") / "virt.dtb")

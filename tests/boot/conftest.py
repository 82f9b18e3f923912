"""Boot-area fixtures: the shared fixture images, the Debian-built images
and an isolated data dir."""

from __future__ import annotations

import os

import pytest
from _need import need_fixture

from armvm_oe.testing.fixtures import build_image, login_image


@pytest.fixture(scope="session")
def image_aarch64():
    return build_image("aarch64")


@pytest.fixture(scope="session")
def image_arm():
    return build_image("arm")


@pytest.fixture(scope="session")
def login_aarch64():
    """The busybox fixture that shows only the kernel log and 'armvm login:'."""
    return login_image("aarch64")


@pytest.fixture(scope="session")
def login_arm():
    return login_image("arm")


@pytest.fixture(scope="session")
def debian_image():
    """``debian_image(arch)`` -> the cached Debian-built image (or a skip)."""
    return _debian_image


def _debian_image(arch: str):
    """The Debian-built image (armvm_oe.testing.distro) from the cache. A
    cold build takes many minutes under emulation, so it happens only in
    CI setup (.ci/setup.d/30-boot-distro.sh) or with
    ARMVM_BUILD_DEBIAN_IMAGES=1; otherwise the test skips and says how (fails
    with CI=true: tests/_need.py)."""
    from armvm_oe.testing import distro

    hit = distro.cached(arch)
    if hit:
        return hit
    if os.environ.get("ARMVM_BUILD_DEBIAN_IMAGES") == "1":
        return distro.build(arch)
    need_fixture(f"the Debian-built {arch} test image is not in the cache "
                f"({distro.image_dir(arch)}); build it (as root; cold: about 14 minutes "
                "for both arches at once on 2 cores) with "
                f"'python3 -m armvm_oe.testing.distro --arch {arch}' or set "
                "ARMVM_BUILD_DEBIAN_IMAGES=1")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("ARMVM_DATA_DIR", str(d))
    return d

"""Fixtures for the Xen tests: the shared aarch64 fixture images (cached)."""

from __future__ import annotations

import pytest

from armvm_oe.testing import fixtures


@pytest.fixture(scope="session")
def aarch64_image():
    return fixtures.build_image("aarch64")


@pytest.fixture(scope="session")
def no_xen_image():
    return fixtures.build_image("aarch64", "no-xen")

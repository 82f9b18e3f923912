"""Boot-area fixtures: the shared fixture images and an isolated data dir."""

from __future__ import annotations

import pytest

from armvm_oe.testing.fixtures import build_image


@pytest.fixture(scope="session")
def image_aarch64():
    return build_image("aarch64")


@pytest.fixture(scope="session")
def image_arm():
    return build_image("arm")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("ARMVM_DATA_DIR", str(d))
    return d

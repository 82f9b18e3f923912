"""The skip policy (tests/_need.py): with CI=true a missing CI fixture is a
failure, elsewhere a skip; opt-in inputs always skip; the end-of-run line
buckets skips by reason."""

from __future__ import annotations

import pytest
from _need import FIXTURE_PREFIX, need_fixture, opt_in, skip_kind


def test_need_fixture_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true.*the Debian image"):
        need_fixture("the Debian image is not in the cache")


@pytest.mark.parametrize("ci", [None, "false", "1"])
def test_need_fixture_skips_elsewhere(monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="the Xen host"):
        need_fixture("the Xen host is not built")


def test_opt_in_skips_even_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.skip.Exception):
        opt_in("ARMVM_POKY_DIR is not set")


def test_skip_kinds():
    assert skip_kind("no poky checkout (set ARMVM_POKY_DIR)") == "poky"
    assert skip_kind("local clones missing under /x (set ARMVM_MIRRORS)") == "mirrors"
    assert skip_kind("a kas repository (ARMVM_KAS_MIRROR=/x): none here") == "mirrors"
    assert skip_kind(FIXTURE_PREFIX + "podman is not installed") == "fixture"
    assert skip_kind("this host is arm64: --kvm on may legitimately work") == \
        "this host is arm64: --kvm on may legitimately work"

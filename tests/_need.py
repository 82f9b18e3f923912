"""One place for the skip policy (README "Tests").

* :func:`need_fixture` — something CI builds or installs is missing (a
  Debian test image, the Xen host, an apt package, the Docker engine, the
  builder user, root). With ``CI=true`` (set by .ci/run) the test FAILS with
  the reason: a CI run never turns a test it is meant to run into a skip.
  Elsewhere (a developer's machine, ``ARMVM_BUILD_DEBIAN_IMAGES=0``) it
  skips with the reason and the command that builds the fixture.
* :func:`opt_in` — a documented opt-in input is absent (ARMVM_POKY_DIR, the
  fetched mirrors ARMVM_MIRRORS / ARMVM_KAS_MIRROR / KAS_PREMIRRORS /
  ARMVM_KAS_SRC): always a skip.

tests/conftest.py ends every run with one line counting the skips per
reason (:func:`skip_kind`).
"""

from __future__ import annotations

import os

import pytest

OPT_IN = {
    "poky": ("ARMVM_POKY_DIR",),
    "mirrors": ("ARMVM_MIRRORS", "ARMVM_KAS_MIRROR", "KAS_PREMIRRORS", "ARMVM_KAS_SRC"),
}
FIXTURE_PREFIX = "fixture CI builds: "


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def need_fixture(reason: str) -> None:
    """A fixture CI is meant to provide is missing: fail under CI=true, else skip."""
    if in_ci():
        pytest.fail(f"CI=true, and a fixture the CI setup provides is missing: {reason} "
                    "(.ci/setup.d/ builds or installs it; a CI run never skips this test)",
                    pytrace=False)
    pytest.skip(FIXTURE_PREFIX + reason)


def opt_in(reason: str) -> None:
    """A documented opt-in input (ARMVM_POKY_DIR, fetched mirrors) is absent."""
    pytest.skip(reason)


def skip_kind(reason: str) -> str:
    """The summary bucket of a skip reason: 'poky', 'mirrors', 'fixture' or
    the reason itself (a host condition, e.g. an arm64 host)."""
    for kind, names in OPT_IN.items():
        if any(n in reason for n in names):
            return kind
    if reason.startswith(FIXTURE_PREFIX):
        return "fixture"
    return reason

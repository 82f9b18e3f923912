"""Fixtures for the container tests. The engine, base image and build image
fixtures (docker_client, base_image, image_spec, cli_env, builder_image, ...)
live in tests/_container_image.py and are registered by tests/conftest.py, so
tests/container and tests/imagebuild share one image build per session."""

from __future__ import annotations

import os

import pytest
from _need import need_fixture


@pytest.fixture
def as_uid():
    """Run a command as another uid (the tests run as root on CI)."""
    def _wrap(cmd, uid, gid, groups=()):
        if os.geteuid() != 0:
            need_fixture("needs root to switch to another uid (CI runs as root)")
        g = ["--groups=" + ",".join(str(x) for x in groups)] if groups else ["--clear-groups"]
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", *g, "--", *map(str, cmd)]
    return _wrap

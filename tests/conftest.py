"""Shared pytest fixtures. Area-specific fixtures live next to their tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The real build container (engine, debootstrap base, session-scoped image),
# shared by tests/container and tests/imagebuild: registered here so one pytest
# session builds it once. Defined in tests/_container_image.py.
from _container_image import (base_image, builder_image, cli_env, debian_mirror,  # noqa: F401
                              docker_client, frozen_source, image_spec)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def other_user():
    """Command lines that run this checkout's CLI as another uid with an
    interpreter that uid can read (tests/_otheruser.py says how)."""
    import shutil
    import tempfile

    from _otheruser import OtherUser

    scratch = Path(tempfile.mkdtemp(prefix="armvm-oe-otheruser-", dir="/tmp"))
    scratch.chmod(0o755)             # pytest's tmp_path is 0700: other users cannot enter it
    yield OtherUser(scratch)
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def armvm(tmp_path):
    """Run the real ``armvm-oe`` CLI in a subprocess; returns CompletedProcess."""

    def _run(*args, env=None, cwd=None, timeout=600, input=None):
        e = dict(os.environ)
        e.setdefault("NO_COLOR", "1")
        e.update(env or {})
        return subprocess.run([sys.executable, "-m", "armvm_oe", *map(str, args)],
                              cwd=cwd or tmp_path, env=e, text=True, capture_output=True,
                              timeout=timeout, input=input)

    return _run

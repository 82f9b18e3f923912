"""Shared pytest fixtures. Area-specific fixtures live next to their tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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

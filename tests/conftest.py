"""Shared pytest fixtures. Area-specific fixtures live next to their tests."""

from __future__ import annotations

import os
import signal
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

# A shell runs a background job ('cmd &', nohup, some CI runners) with SIGINT
# ignored, and an ignored signal stays ignored across exec: every CLI a test
# starts would then ignore the Ctrl-C the interrupt tests send. A handler
# (unlike SIG_IGN) is reset to the default on exec, so the children get
# SIGINT back and Python in them raises KeyboardInterrupt as for a user.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


def _skip_reason(report) -> str:
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        return str(lr[2]).removeprefix("Skipped: ")
    return str(lr)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line at the end of every run (after the short summary, before the
    counts): the skips counted per reason (tests/_need.py: 'poky' and
    'mirrors' are the documented opt-in inputs, 'fixture' only off CI;
    anything else is named in full)."""
    yield
    from _need import OPT_IN, skip_kind

    counts: dict[str, int] = {}
    for rep in terminalreporter.stats.get("skipped", []):
        kind = skip_kind(_skip_reason(rep))
        counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        terminalreporter.write_line("skips: none")
        return
    label = {k: f"{k} ({' / '.join(v)} unset)" for k, v in OPT_IN.items()}
    label["fixture"] = "fixture (a fixture CI builds is missing; a failure with CI=true)"
    parts = [f"{n} {label.get(k, k)}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    terminalreporter.write_line("skips: " + ", ".join(parts))

"""`armvm-oe test` as a background process for the real-boot tests that run
several boots at once (tests/boot/test_distro.py, test_xen_domu.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_test(image, out_dir: Path, *args: str) -> subprocess.Popen:
    """``armvm-oe test IMAGE --json --junit OUT/report.xml --log-dir OUT/logs
    ARGS`` with its own data dir under ``out_dir``, colour off."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NO_COLOR="1", ARMVM_DATA_DIR=str(out_dir / "data"),
               PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "armvm_oe", "test", str(image), "--json",
           "--junit", str(out_dir / "report.xml"), "--log-dir", str(out_dir / "logs"), *args]
    return subprocess.Popen(cmd, env=env, cwd=out_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, dict | None, str]:
    """(exit code, the --json report or None, stderr)."""
    out, err = proc.communicate(timeout=timeout)
    report = json.loads(out) if out.strip().startswith("{") else None
    return proc.returncode, report, err

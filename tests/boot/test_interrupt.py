"""Ctrl-C during a boot matrix: every QEMU stops at once and the partial
table is printed (before issue 12, SIGINT waited for the running cells to
time out)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.boot


def _qemu_children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            st = (d / "status").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(next(ln.split()[1] for ln in st.splitlines() if ln.startswith("PPid:")))
        if ppid == pid and b"qemu-system" in cmd:
            out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        st = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in st


def test_ctrl_c_stops_every_qemu_and_prints_the_partial_table(tmp_path, login_aarch64):
    env = dict(os.environ, NO_COLOR="1", ARMVM_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "armvm_oe", "test", str(login_aarch64), "--arch", "aarch64",
         "--jobs", "2", "--gic", "3,2", "--virtio", "mmio", "--console", "pl011",
         "--junit", str(tmp_path / "r.xml"), "--log-dir", str(tmp_path / "logs")],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        qemus: list[int] = []
        while time.monotonic() < deadline and len(qemus) < 2 and proc.poll() is None:
            time.sleep(0.5)
            qemus = _qemu_children(proc.pid)
        assert len(qemus) == 2, "both cells' QEMUs should be running"
        time.sleep(3)                          # inside the boot, not before it
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=600)  # a hang guard, not a time budget
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert not [p for p in qemus if _alive(p)], "a QEMU outlived the Ctrl-C"
    assert "interrupted" in err and "2 cells:" in out and "2 error" in out, (out, err)
    assert "aarch64-gic3-mmio-pl011" in out and "aarch64-gic2-mmio-pl011" in out

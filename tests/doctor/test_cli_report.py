"""The command line and the report: --list, --json, --fix-script, exit codes,
colour on a TTY unless NO_COLOR; and the whole healthy environment."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from armvm_oe.doctor import catalogue
from armvm_oe.doctor.logscan import PATTERNS
from tests.doctor.conftest import ids, world_dir

EXPECTED_CONTAINER_IDS = {"container.engine-unreachable", "container.socket-permission",
                          "container.rootless-mapping", "container.bind-mount-owner"}


def test_catalogue_size_and_ids():
    checks = catalogue()
    assert len(checks) >= 30
    assert len({c.id for c in checks}) == len(checks)
    for c in checks:
        assert c.id.startswith(c.group + ".") and c.id == c.id.lower()
        assert c.title and c.error_text and c.fix
    assert {c.id for c in checks if c.group == "container"} == EXPECTED_CONTAINER_IDS


def test_every_check_has_a_test_that_fires_it(request):
    """Every check really fired in some test of this directory (recorded by
    tests/doctor/conftest.py from in-process runs, doctor_as and the CLI;
    this test runs last). A check whose firing test was skipped here (no
    builder user, not root, no poky) is excused, by name, for this run."""
    rec = request.config.doctor_checks_fired
    if rec["ran"]["tests"] < 50:
        pytest.skip("needs the whole tests/doctor run (the other tests fire the checks)")
    missing = sorted(c.id for c in catalogue()
                     if c.id not in rec["fired"] and c.id not in rec["excused"])
    assert not missing, f"checks no test fired: {missing}"


def test_list(armvm):
    r = armvm("doctor", "--list")
    assert r.returncode == 0
    for c in catalogue():
        assert c.id in r.stdout
    for p in PATTERNS:
        assert p.id in r.stdout
    r = armvm("doctor", "--list", "--json")
    data = json.loads(r.stdout)
    assert len(data["checks"]) == len(catalogue()) and len(data["log_patterns"]) == len(PATTERNS)


def test_json_exit_code_and_order(armvm, tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/none.sock", "PATH": f"{os.environ['PATH']}:."}
    r = armvm("doctor", "--only", "host,container", "--json", env=env)
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] is False and data["summary"]["fatal"] >= 1
    got = ids(data)
    assert "container.engine-unreachable" in got and "host.path-entries" in got
    ranks = ["fatal", "error", "warn", "info"]
    sev = [ranks.index(x["severity"]) for x in data["results"]]
    assert sev == sorted(sev)


def test_exit_zero_when_nothing_fires(armvm):
    r = armvm("doctor", "--only", "host.wsl1,host.bin-sh")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no problems found" in r.stdout


def test_fix_script_prints_but_never_runs(armvm, tmp_path):
    """The stale-lock fix is 'rm -f .../bitbake.lock': printed, so the lock
    must still be there afterwards; running the printed script removes it."""
    env = {"PATH": f"{os.environ['PATH']}:.::"}
    build = tmp_path / "build"
    build.mkdir()
    lock = build / "bitbake.lock"
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock.write_text(f"{dead.pid}\n")
    r = armvm("doctor", "--only", "host.path-entries,build.stale-lock", "--build-dir", build,
              "--fix-script", env=env)
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith("#!/bin/sh")
    assert "export PATH=" in r.stdout and ":.:" not in r.stdout.split("export PATH=")[1]
    assert f"rm -f {lock}" in r.stdout
    assert lock.exists(), "doctor ran a fix it should only print"
    # the script is valid shell, and it is the script that fixes
    assert subprocess.run(["sh", "-n"], input=r.stdout, text=True).returncode == 0
    assert subprocess.run(["sh"], input=r.stdout, text=True, cwd=tmp_path).returncode == 0
    assert not lock.exists()


def _tty_run(args, env):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(sys.executable, [sys.executable, "-m", "armvm_oe", *args], env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode(errors="replace")


def test_colour_on_tty_unless_no_color(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(PATH=env["PATH"] + ":.", TERM="xterm",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    out = _tty_run(["doctor", "--only", "host.path-entries"], env)
    assert "\x1b[" in out and "host.path-entries" in out
    out = _tty_run(["doctor", "--only", "host.path-entries"], dict(env, NO_COLOR="1"))
    assert "\x1b[" not in out and "host.path-entries" in out


def test_grouped_report_worst_group_first(armvm, tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/none.sock", "LANG": "en_US.UTF-8"}
    r = armvm("doctor", "--only", "host.umask,container.engine-unreachable", env=env)
    # umask 022 in the test env: only the container group fires
    assert "container\n" in r.stdout and "FATAL" in r.stdout
    assert "you would see: Cannot connect to the Docker daemon" in r.stdout


def test_missing_poky_cascade_sample(armvm, tmp_path):
    """The sample in docs/doctor.md: the repo's own config, nothing checked out."""
    root = Path(__file__).resolve().parents[2]
    work = tmp_path / "work"
    work.mkdir()
    r = armvm("doctor", root / "kas" / "armvm-aarch64.yml", "--work-dir", work,
              "--only", "checkout,kas", cwd=root)
    assert r.returncode == 1, r.stderr
    assert "checkout.missing-poky-cascade" in r.stdout
    assert "cd: poky: No such file or directory" in r.stdout


def test_healthy_host_as_builder(doctor_as):
    """The host group run by the unprivileged builder user with a proper build
    directory reports nothing. Thresholds: CI machines are not build machines,
    so the whole-build disk and RAM figures (proven to fire in test_host.py)
    are lowered to 1 GB here."""
    d = world_dir("armvm-doctor-healthy-")
    import pwd
    uid = pwd.getpwnam("builder").pw_uid
    (d / "build").mkdir()
    for p in (d, d / "build"):
        os.chown(p, uid, uid)
    rc, data = doctor_as("--only", "host", "--build-dir", d / "build", "--min-free-gb", "1",
                         "--min-ram-gb", "1", cwd=str(d), env={"LANG": "en_US.UTF-8"})
    assert rc == 0 and data["results"] == [], data["results"]
    assert data["checked"] >= 25

"""The runner (what `armvm-oe build --container` uses) against the real engine:
file ownership on the host, exit codes, streaming, mounts, env passthrough,
and Ctrl-C leaving no container behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _need import need_fixture

from armvm_oe.container import errors
from armvm_oe.container.runner import LABEL, Mounts, leftover_containers, run_in_container

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
UID = 1234


@pytest.fixture
def dirs(tmp_path):
    d = {name: tmp_path / name for name in ("work", "dl", "sstate", "project")}
    for p in d.values():
        p.mkdir()
        if os.geteuid() == 0:
            os.chown(p, UID, UID)
    (d["project"] / "kas.yml").write_text("header:\n  version: 14\n")
    return d


def test_files_written_by_the_build_belong_to_the_caller(docker_client, builder_image, dirs):
    """Caller = the owner of the work dir (uid 1234), build user remapped to it."""
    lines: list[str] = []
    rc = run_in_container(
        ["bash", "-c", "id -u; mkdir -p /work/build/tmp && echo data > /work/build/tmp/f; "
                       "touch $DL_DIR/dl-file $SSTATE_DIR/sstate-file; echo done"],
        Mounts(work_dir=dirs["work"], dl_dir=dirs["dl"], sstate_dir=dirs["sstate"]),
        image=builder_image, client=docker_client, on_line=lines.append)
    assert rc == 0, lines
    expect_uid = UID if os.geteuid() == 0 else os.getuid()
    assert lines[0] == str(expect_uid)
    for p in (dirs["work"] / "build", dirs["work"] / "build/tmp/f",
              dirs["dl"] / "dl-file", dirs["sstate"] / "sstate-file"):
        assert p.stat().st_uid == expect_uid, p
    assert (dirs["work"] / "build/tmp/f").read_text() == "data\n"


def test_exit_code_streaming_env_and_readonly_project(docker_client, builder_image, dirs, monkeypatch):
    monkeypatch.setenv("BB_NUMBER_THREADS", "3")
    monkeypatch.setenv("https_proxy", "http://proxy.invalid:3128")
    monkeypatch.setenv("UNRELATED_SECRET", "x")
    lines: list[str] = []
    script = ("echo one; echo two >&2; echo BB=$BB_NUMBER_THREADS; echo PROXY=$https_proxy; "
              "echo SECRET=${UNRELATED_SECRET:-unset}; cat /repo/kas.yml | head -1; "
              "touch /repo/x 2>/dev/null && echo repo-writable || echo repo-readonly; "
              "printf 'no newline at end'; exit 7")
    rc = run_in_container(["bash", "-c", script],
                          Mounts(work_dir=dirs["work"], project=dirs["project"]),
                          image=builder_image, client=docker_client, on_line=lines.append,
                          uid=UID, gid=UID)
    assert rc == 7
    # stdout and stderr are separate pipes: each keeps its order, not their interleaving
    assert lines.index("one") < lines.index("BB=3") and "two" in lines
    assert "BB=3" in lines and "PROXY=http://proxy.invalid:3128" in lines
    assert "SECRET=unset" in lines
    assert "header:" in lines and "repo-readonly" in lines
    assert lines[-1] == "no newline at end"
    assert leftover_containers(docker_client, os.getpid()) == []


def test_extra_read_only_mount(docker_client, builder_image, dirs, tmp_path):
    """An extra host directory (a file:// sstate mirror outside the work dir)
    is visible at its container path, read-only, to the build user."""
    mirror = tmp_path / "mirror"
    (mirror / "universal").mkdir(parents=True)
    (mirror / "universal" / "sstate-x.tar.zst").write_text("obj\n")
    lines: list[str] = []
    rc = run_in_container(
        ["bash", "-c", "cat /sstate-mirror/universal/sstate-x.tar.zst; "
                       "touch /sstate-mirror/new 2>/dev/null && echo mirror-writable "
                       "|| echo mirror-readonly; grep ' /sstate-mirror ' /proc/self/mountinfo "
                       "| grep -qw ro && echo mount-ro"],
        Mounts(work_dir=dirs["work"], extra_ro=[(mirror, "/sstate-mirror", "sstate mirror")]),
        image=builder_image, client=docker_client, on_line=lines.append, uid=UID, gid=UID)
    assert rc == 0, lines
    assert lines == ["obj", "mirror-readonly", "mount-ro"]
    assert sorted(p.name for p in mirror.rglob("*")) == ["sstate-x.tar.zst", "universal"]


def test_root_owned_bind_mount_is_a_clear_error(armvm, builder_image, cli_env, tmp_path):
    if os.geteuid() != 0:
        need_fixture("needs root to make a root-owned directory and to drop to uid 1234")
    work = tmp_path / "w"
    work.mkdir()
    os.chown(work, UID, UID)
    dl = tmp_path / "dl-root"
    dl.mkdir()   # root-owned, as an engine creates a missing bind-mount source
    r = armvm("container", "shell", "--work-dir", work, "--dl-dir", dl, "--", "true", cwd=ROOT,
              env=cli_env)
    assert r.returncode == 1, r.stderr
    assert "container.bind-mount-owner" in r.stderr and "owned by root" in r.stderr
    assert "Traceback" not in r.stderr


def test_socket_permission_error_for_a_user_outside_the_docker_group(as_uid, tmp_path,
                                                                      other_user):
    sock = "/var/run/docker.sock"
    if not os.path.exists(sock) or os.environ.get("DOCKER_HOST"):
        need_fixture("the engine listens elsewhere than the default socket")
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, UID, UID)
    as_uid([], UID, UID)             # skips unless root
    # an interpreter and package copy uid 1234 can read (tests/_otheruser.py)
    cmd = other_user.cmd(["container", "build"], UID, UID)
    env = other_user.env(HOME=str(home), NO_COLOR="1", ARMVM_CACHE_DIR=str(home / "cache"))
    r = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "container.socket-permission" in r.stderr
    assert "usermod -aG" in r.stderr and "chmod" not in r.stderr and "666" not in r.stderr


def test_engine_not_running_is_a_clear_error(armvm, tmp_path):
    r = armvm("container", "build", env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"},
              cwd=ROOT)
    assert r.returncode == 1
    assert "container.engine-unreachable" in r.stderr and "Traceback" not in r.stderr
    r = armvm("container", "build", env={"DOCKER_HOST": "tcp://127.0.0.1:9"}, cwd=ROOT)
    assert r.returncode == 1 and "container.engine-unreachable" in r.stderr


# The runner in a child process, reporting what the real run_in_container
# did on the signal: it must raise KeyboardInterrupt (not return an exit code)
# and have removed its container BEFORE raising. The script never exits 130
# itself: the CLI's 130 is checked in test_cli_interrupt_returns_130.
RUNNER_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from armvm_oe.container import engine
    from armvm_oe.container.runner import Mounts, run_in_container
    names = []
    def started(c):
        names.append(c.name)
        print("CONTAINER", c.name, flush=True)
    try:
        rc = run_in_container(["bash", "-c", "echo RUNNING; exec sleep 300"],
                              Mounts(work_dir=Path(sys.argv[1])), image=sys.argv[2],
                              uid=1234, gid=1234, on_line=lambda l: print(l, flush=True),
                              on_start=started)
        print("RETURNED", rc, flush=True)
        sys.exit(3)
    except KeyboardInterrupt:
        left = [c.name for c in engine.connect().containers.list(all=True)
                if c.name in names]
        print("RAISED KeyboardInterrupt; containers left at raise:", left, flush=True)
        sys.exit(0 if not left else 4)
""")


def _wait_for(proc, marker, timeout=60):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
        if line.startswith(marker):
            return seen
    raise AssertionError(f"no {marker!r} in output: {seen}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_stops_and_removes_the_container(docker_client, builder_image, dirs, sig):
    proc = subprocess.Popen([sys.executable, "-c", RUNNER_SCRIPT, str(dirs["work"]), builder_image],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        seen = _wait_for(proc, "RUNNING")
        name = next(s.split()[1] for s in seen if s.startswith("CONTAINER"))
        assert docker_client.containers.get(name).status == "running"
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=600)          # a hang guard, not a time budget
        # the runner re-raised the interrupt (SIGTERM too) after removing its container
        assert "RAISED KeyboardInterrupt; containers left at raise: []" in out, out
        assert "RETURNED" not in out and proc.returncode == 0, out
        assert leftover_containers(docker_client, proc.pid) == []
        assert [c for c in docker_client.containers.list(all=True) if c.name == name] == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for c in leftover_containers(docker_client, proc.pid):
            c.remove(force=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_interrupt_returns_130_and_leaves_nothing(docker_client, builder_image, cli_env,
                                                      dirs, sig):
    env = dict(os.environ, NO_COLOR="1", **cli_env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "armvm_oe", "container", "shell", "--work-dir", str(dirs["work"]), "--",
         "bash", "-c", "echo RUNNING; exec sleep 300"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    try:
        _wait_for(proc, "RUNNING", timeout=300)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, out
        assert leftover_containers(docker_client, proc.pid) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for c in docker_client.containers.list(all=True, filters={"label": LABEL}):
            if c.labels.get("armvm-oe.pid") == str(proc.pid):
                c.remove(force=True)


def test_interactive_shell_on_a_terminal(builder_image, cli_env, dirs):
    """`armvm-oe container shell` on a real pseudo-terminal: prompt, commands, exit code."""
    import pexpect

    env = dict(os.environ, NO_COLOR="1", **cli_env)
    child = pexpect.spawn(sys.executable, ["-m", "armvm_oe", "container", "shell",
                                           "--work-dir", str(dirs["work"])],
                          cwd=str(ROOT), env=env, encoding="utf-8", timeout=120)
    try:
        child.expect(r"builder@[^\r\n]*\$ ")
        child.sendline("echo hello-$((6*7)) $(id -u) > /work/from-shell; cat /work/from-shell")
        child.expect(r"hello-42 (\d+)")
        expect_uid = UID if os.geteuid() == 0 else os.getuid()
        assert child.match.group(1) == str(expect_uid)
        child.expect(r"\$ ")
        child.sendline("exit 3")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 3
    assert (dirs["work"] / "from-shell").stat().st_uid == expect_uid


def test_closing_the_terminal_of_a_shell_leaves_no_container(docker_client, builder_image, cli_env,
                                                              dirs):
    """The terminal goes away (SIGHUP) while the interactive shell runs."""
    import pexpect

    env = dict(os.environ, NO_COLOR="1", **cli_env)
    child = pexpect.spawn(sys.executable, ["-m", "armvm_oe", "container", "shell",
                                           "--work-dir", str(dirs["work"])],
                          cwd=str(ROOT), env=env, encoding="utf-8", timeout=120)
    pid = child.pid
    try:
        child.expect(r"builder@[^\r\n]*\$ ")
        assert len(leftover_containers(docker_client, pid)) == 1
        child.close(force=True)        # SIGHUP, then SIGCONT/SIGINT/SIGKILL if still alive
        deadline = time.monotonic() + 300            # a hang guard
        while leftover_containers(docker_client, pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert leftover_containers(docker_client, pid) == []
    finally:
        for c in leftover_containers(docker_client, pid):
            c.remove(force=True)

"""Container checks: a real unreachable socket, a real root-owned 0660 socket
used by the builder user, a rootless-reporting engine endpoint, real
directory ownership. The healthy case uses the real Docker engine."""

from __future__ import annotations

import json
import os
import subprocess
import pwd
import socket
import threading
from pathlib import Path

import pytest
from _need import need_fixture

from armvm_oe.doctor import Context, run_checks
from tests.doctor.conftest import fired, have_user, ids, world_dir


def test_engine_unreachable(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/nonexistent.sock"}
    res = fired(Context(env=env), "container.engine-unreachable")
    assert res and res[0].fatal and "does not exist" in res[0].message
    assert not fired(Context(env=env), "container.socket-permission")


def test_engine_refuses_connection(tmp_path):
    """A socket file nobody listens on (a dead daemon's leftover)."""
    path = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    res = fired(Context(env={"DOCKER_HOST": f"unix://{path}"}), "container.engine-unreachable")
    assert res and "refused" in res[0].message.lower()


def test_socket_permission(doctor_as):
    """A root-owned 0660 socket, used by the builder user."""
    if os.geteuid() != 0:
        need_fixture("needs root to own the socket (the CI runs as root)")
    d = world_dir("armvm-doctor-sock-")
    path = d / "docker.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(1)
    os.chown(path, 0, 0)
    path.chmod(0o660)
    try:
        rc, data = doctor_as("--only", "container", env={"DOCKER_HOST": f"unix://{path}"},
                             cwd=str(d))
    finally:
        srv.close()
    assert rc == 1 and ids(data) == ["container.socket-permission"], data
    assert "usermod -aG root builder" in data["results"][0]["commands"][0]


class _FakeEngine:
    """A minimal Docker API endpoint (/_ping, /info) on a unix socket that
    reports a rootless engine, as ``dockerd-rootless`` does."""

    def __init__(self, path: Path, info: dict):
        self.path, self.info = path, info
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                req = conn.recv(4096).decode()
                body = b"OK" if " /_ping " in req else json.dumps(self.info).encode()
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    def close(self):
        self.sock.close()


def test_rootless_mapping(tmp_path):
    eng = _FakeEngine(tmp_path / "rootless.sock",
                      {"SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless"]})
    try:
        env = {"DOCKER_HOST": f"unix://{eng.path}"}
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc/subuid").write_text("someoneelse:100000:65536\n")
        (tmp_path / "etc/subgid").write_text("someoneelse:100000:65536\n")
        res = fired(Context(env=env, host_root=tmp_path), "container.rootless-mapping")
        assert res and res[0].severity == "error" and "subordinate" in res[0].message
        me = pwd.getpwuid(os.geteuid()).pw_name
        (tmp_path / "etc/subuid").write_text(f"{me}:100000:65536\n")
        (tmp_path / "etc/subgid").write_text(f"{me}:100000:65536\n")
        res = fired(Context(env=env, host_root=tmp_path), "container.rootless-mapping")
        assert res and res[0].severity == "warn"
    finally:
        eng.close()


def test_rootful_engine_is_not_rootless(tmp_path):
    eng = _FakeEngine(tmp_path / "rootful.sock", {"SecurityOptions": ["name=seccomp"]})
    try:
        assert not fired(Context(env={"DOCKER_HOST": f"unix://{eng.path}"}),
                         "container.rootless-mapping")
    finally:
        eng.close()


def test_bind_mount_owner_root(tmp_path):
    """A root caller (build --allow-root) builds as uid 30000 when root owns the
    work dir: the work dir itself is fine (armvm-oe hands over what it makes in
    it), a root-owned DL_DIR is not, and the chown the check suggests fixes it."""
    if os.geteuid() != 0:
        need_fixture("root-owned directories are made by root (the CI runs as root)")
    work = tmp_path / "work"
    work.mkdir()
    dl = work / "dl"
    dl.mkdir()
    ctx = lambda: Context(work_dir=work, build_dir=work / "build",  # noqa: E731
                          env={"DL_DIR": str(dl)})
    res = fired(ctx(), "container.bind-mount-owner")
    assert [r.path for r in res] == [str(dl)], res
    assert "uid 30000" in res[0].message
    assert res[0].commands == [f"chown -R 30000:30000 {dl}"]
    subprocess.run(res[0].commands[0].split(), check=True)       # follow the fix
    assert not fired(ctx(), "container.bind-mount-owner")


def test_bind_mount_owner_as_builder(doctor_as):
    """A build dir created by the docker daemon (root), used by builder."""
    d = world_dir("armvm-doctor-bind-")
    (d / "build").mkdir()
    rc, data = doctor_as("--only", "container.bind-mount-owner", "--work-dir", d,
                         "--build-dir", d / "build", cwd=str(d))
    assert ids(data) == ["container.bind-mount-owner"] * 2, data
    uid = pwd.getpwnam("builder").pw_uid
    for p in (d, d / "build"):
        os.chown(p, uid, uid)
    rc, data = doctor_as("--only", "container.bind-mount-owner", "--work-dir", d,
                         "--build-dir", d / "build", cwd=str(d))
    assert rc == 0 and ids(data) == [], data


@pytest.mark.docker
def test_real_engine_is_healthy(tmp_path):
    sock = "/var/run/docker.sock"
    if not os.path.exists(sock):
        need_fixture("no Docker engine running (the container area's CI setup starts dockerd)")
    if have_user("builder"):
        uid = pwd.getpwnam("builder").pw_uid
        os.chown(tmp_path, uid, uid)
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    res = run_checks(Context(groups=("container",), env=env, work_dir=tmp_path))
    assert res == [], res

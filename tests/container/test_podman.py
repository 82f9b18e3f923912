"""The container runner on real podman (Debian's podman 4.3) through its
Docker-compatible socket, as docs/container.md tells users to run it:
``podman system service`` + DOCKER_HOST. Rootful podman (CI runs as root).

The test starts its own service on a private socket with a private
containers.conf, so the host needs no podman setup beyond the packages
(.ci/setup.d/05-podman.sh): runc as the runtime (crun refuses hosts with
hybrid cgroup v1/v2 mounts), cgroupfs, and default ulimits no higher than the
caller's hard limits (rootful podman raises nofile/nproc to 1048576, which
needs CAP_SYS_RESOURCE). The build image is copied from the Docker engine
(docker save | podman load) once per tag."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from _need import need_fixture

pytestmark = [pytest.mark.docker, pytest.mark.podman]

ROOT = Path(__file__).resolve().parents[2]
UID = 1234


@pytest.fixture(scope="module")
def podman_host(tmp_path_factory):
    if not shutil.which("podman"):
        need_fixture("podman is not installed (.ci/setup.d/05-podman.sh installs it)")
    if os.geteuid() != 0:
        need_fixture("the test runs rootful podman (CI runs as root)")
    d = tmp_path_factory.mktemp("podman")
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # 32768: what runc could set on the 2-core CI machine (65536 was refused there)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    runtime = 'runtime = "runc"\n' if shutil.which("runc") else ""
    (d / "containers.conf").write_text(
        f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        f'[engine]\ncgroup_manager = "cgroupfs"\n{runtime}')
    sock = d / "podman.sock"
    env = dict(os.environ, CONTAINERS_CONF=str(d / "containers.conf"))
    log = open(d / "service.log", "w")
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.1)
        assert sock.exists(), (d / "service.log").read_text()
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def podman_image(podman_host, builder_image):
    """The session's build image, copied into podman's store (once per tag)."""
    have = subprocess.run(["podman", "image", "exists", builder_image])
    if have.returncode != 0:
        save = subprocess.Popen(["docker", "save", builder_image], stdout=subprocess.PIPE)
        load = subprocess.run(["podman", "load"], stdin=save.stdout, capture_output=True,
                              text=True, timeout=900)
        save.stdout.close()
        assert save.wait() == 0 and load.returncode == 0, load.stderr
    return builder_image


def test_the_engine_is_podman(podman_host, monkeypatch):
    from armvm_oe.container import engine

    monkeypatch.setenv("DOCKER_HOST", podman_host)
    info = engine.engine_info(engine.connect())
    assert info.is_podman and not info.rootless, info


def test_container_shell_runs_the_build_as_the_caller(armvm, podman_host, podman_image,
                                                      cli_env, tmp_path):
    """`armvm-oe container shell -- CMD` on podman: the image is found, the
    container starts with armvm-oe's seccomp profile (podman takes it as a
    file), the build user is remapped to the work dir's owner, files written
    to /work belong to that uid on the host, bitbake's user namespace works."""
    work = tmp_path / "work"
    work.mkdir()
    os.chown(work, UID, UID)
    script = ("id -u; id -g; echo made > /work/made-in-podman; "
              "unshare -rn true && echo userns-ok; grep ^Seccomp: /proc/self/status; exit 3")
    r = armvm("container", "shell", "--work-dir", work, "--", "bash", "-c", script,
              cwd=ROOT, env=dict(cli_env, DOCKER_HOST=podman_host), timeout=600)
    assert r.returncode == 3, (r.stdout, r.stderr)       # the command's own exit code
    lines = r.stdout.split()
    assert lines[:2] == [str(UID), str(UID)], r.stdout
    assert "userns-ok" in r.stdout and "Seccomp:\t2" in r.stdout.replace("Seccomp: ", "Seccomp:\t")
    made = work / "made-in-podman"
    assert made.read_text() == "made\n"
    assert (made.stat().st_uid, made.stat().st_gid) == (UID, UID)
    # nothing left behind in podman
    left = subprocess.run(["podman", "ps", "-a", "--filter", "label=armvm-oe.runner",
                           "--format", "{{.Names}}"], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout

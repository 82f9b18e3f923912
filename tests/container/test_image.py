"""The real build container, built once per session from the debootstrap base:
what is inside, that it runs as the remapped user, and that armvm-oe doctor
finds no host problem in it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from armvm_oe.container.runner import Mounts, run_in_container

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]


def _run(client, image, argv, work, **kw):
    lines: list[str] = []
    rc = run_in_container(argv, Mounts(work_dir=work, **kw.pop("mounts", {})), image=image,
                          client=client, on_line=lines.append, **kw)
    return rc, lines


@pytest.fixture
def work(tmp_path):
    d = tmp_path / "work"
    d.mkdir()
    if os.geteuid() == 0:
        os.chown(d, 1234, 1234)   # the build user of these tests
    return d


def test_image_tag_is_the_input_hash(docker_client, builder_image, image_spec):
    assert builder_image == image_spec.tag
    labels = docker_client.images.get(builder_image).labels
    assert labels["armvm-oe.inputs"] == image_spec.input_hash()


def test_cli_build_finds_the_image_up_to_date(armvm, builder_image, cli_env):
    r = armvm("container", "build", "--json", cwd=ROOT, env=cli_env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tag"] == builder_image and out["built"] is False
    assert out["size_bytes"] > 100_000_000


@pytest.mark.parametrize("where", ["pipe", "tty"])
def test_cli_build_progress(builder_image, cli_env, where):
    """docs/container.md: a bar over the Dockerfile steps on a terminal, one
    'container build: step n/m' line per step otherwise (a --force rebuild:
    every step runs, from the engine's cache)."""
    import re
    import sys

    from _tty import clean_env, on_pipes, on_tty

    argv = [sys.executable, "-m", "armvm_oe", "container", "build", "--force"]
    env = clean_env(no_color=False, **cli_env)
    if where == "pipe":
        rc, out, err = on_pipes(argv, env, ROOT, timeout=600)
        steps = re.findall(r"^container build: step (\d+)/(\d+): ", err, re.M)
        assert rc == 0 and steps and steps[-1][0] == steps[-1][1], err[-2000:]
        assert "\r" not in err and "%|" not in err
    else:
        rc, text = on_tty(argv, env, ROOT, timeout=600)
        assert rc == 0 and re.search(r"container build: 100%\|.*\| (\d+)/\1 ", text), text[-2000:]
        assert "container build: step" not in text


def test_contents_and_user(docker_client, builder_image, work):
    script = ("set -e; id -u; id -g; id -un; kas --version 2>&1; armvm-oe --version; "
              "locale -a | grep -ix en_US.utf8; echo LANG=$LANG; "
              "touch /dev/shm/probe && echo shm-ok; "
              "for t in gawk wget git diffstat unzip makeinfo gcc g++ make chrpath socat cpio "
              "python3 xz zstd pzstd lz4 lz4c file rpcgen patch bzip2 perl tar ssh; do "
              "command -v $t >/dev/null || echo MISSING $t; done; echo tools-checked; "
              "python3 -c 'import git, jinja2, subunit, pexpect; print(\"py-ok\")'; "
              "test -w /work && echo work-writable")
    rc, lines = _run(docker_client, builder_image, ["bash", "-c", script], work, uid=1234, gid=1234)
    text = "\n".join(lines)
    assert rc == 0, text
    assert lines[:3] == ["1234", "1234", "builder"]
    assert "kas 5.5" in text
    assert "armvm-oe" in lines[4]
    assert "en_US.utf8" in text and "LANG=en_US.UTF-8" in text
    assert "shm-ok" in text and "py-ok" in text and "work-writable" in text
    assert "MISSING" not in text, text
    assert "tools-checked" in text


def test_no_credentials_in_the_image(docker_client, builder_image, work):
    attrs = docker_client.images.get(builder_image).attrs
    env = attrs["Config"]["Env"]
    assert not [e for e in env if any(k in e.upper() for k in ("TOKEN", "PASSWORD", "SECRET",
                                                                  "PROXY", "KEY="))], env
    script = ("for f in /root/.netrc /root/.docker/config.json /root/.git-credentials "
              "/root/.config/pip/pip.conf /etc/pip.conf /root/.pypirc /home/builder/.netrc "
              "/home/builder/.git-credentials; do test -e $f && echo FOUND $f; done; "
              "ls /root/.ssh /home/builder/.ssh 2>/dev/null | sed 's/^/SSH /'; "
              "ls /var/lib/apt/lists | grep -v -e '^lock$' -e '^partial$' | sed 's/^/LIST /'; "
              "echo scanned")
    rc, lines = _run(docker_client, builder_image, ["bash", "-c", script], work, uid=1234, gid=1234)
    assert rc == 0 and lines[-1] == "scanned", lines
    assert [ln for ln in lines if ln.startswith(("FOUND", "SSH", "LIST"))] == []


def test_doctor_in_the_container_finds_no_host_problem(docker_client, builder_image, work):
    rc, lines = _run(docker_client, builder_image,
                     ["armvm-oe", "doctor", "--only", "host", "--json"], work, uid=1234, gid=1234)
    text = "\n".join(lines)
    start = text.find("{")
    assert start >= 0, f"doctor printed no JSON (rc {rc}):\n{text}"
    report = json.loads(text[start:])
    # doctor lists only the checks that found something; on the host (root, no
    # locale...) it finds problems, in the container none, not even warnings
    assert report["checked"] >= 20, report
    assert report["results"] == [], json.dumps(report["results"], indent=1)
    assert report["ok"] is True and rc == 0, text


def test_missing_base_image_names_the_local_base_script(armvm, docker_client, cli_env):
    env = dict(cli_env, ARMVM_CONTAINER_BASE_IMAGE="armvm-oe/no-such-base:missing")
    r = armvm("container", "build", cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "armvm-oe/no-such-base:missing is not available" in r.stderr
    assert "scripts/make-base-image.sh" in r.stderr and "Traceback" not in r.stderr


def test_an_engine_refusal_is_one_paragraph(docker_client, builder_image, work):
    """The engine refusing to create the container (here: a network it does
    not have; podman refused the inline seccomp profile this way) is a
    ContainerError the CLI prints as one paragraph, not the SDK's traceback."""
    from armvm_oe.container.errors import ContainerError

    with pytest.raises(ContainerError) as err:
        run_in_container(["true"], Mounts(work_dir=work), image=builder_image,
                         client=docker_client, network="armvm-oe-no-such-network")
    text = err.value.paragraph()
    assert "refused to create or start the build container" in text, text
    assert "no-such-network" in text, text
    assert err.value.exit_code == 1

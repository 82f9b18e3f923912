"""The pure parts of the container area (no engine needed): error mapping,
engine description, env passthrough, permission checks, the content-hash tag,
the reproducibility diff and apt source parsing."""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import io
from pathlib import Path

import pytest
from _need import need_fixture

from armvm_oe.errors import ROOT_BUILD_UID

from armvm_oe.container import engine, errors, image, repro, runner
from armvm_oe.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def test_check_ids_are_the_doctor_ids():
    assert set(errors.CHECK_IDS) == {"container.engine-unreachable", "container.socket-permission",
                                     "container.rootless-mapping", "container.bind-mount-owner"}


def test_permission_error_maps_to_socket_permission_with_group_advice():
    exc = Exception("Error while fetching server API version: "
                    "('Connection aborted.', PermissionError(13, 'Permission denied'))")
    exc.__cause__ = PermissionError(13, "Permission denied")
    err = engine.classify_connect_error(exc, "unix:///var/run/docker.sock")
    assert isinstance(err, errors.SocketPermission)
    assert err.check_id == "container.socket-permission"
    text = err.paragraph()
    assert "usermod -aG" in text and "group" in text
    assert "666" not in text and "chmod" not in text


def test_missing_socket_maps_to_engine_unreachable():
    exc = Exception("('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))")
    err = engine.classify_connect_error(exc, "unix:///nonexistent.sock")
    assert isinstance(err, errors.EngineUnreachable)
    assert err.check_id == "container.engine-unreachable"
    assert "the socket does not exist" in err.paragraph()
    refused = engine.classify_connect_error(ConnectionRefusedError(111, "Connection refused"),
                                            "tcp://127.0.0.1:1")
    assert refused.check_id == "container.engine-unreachable"


def test_precheck_socket(tmp_path):
    assert isinstance(engine.precheck_socket(f"unix://{tmp_path}/none.sock"), errors.EngineUnreachable)
    plain = tmp_path / "file"
    plain.write_text("")
    assert isinstance(engine.precheck_socket(f"unix://{plain}"), errors.EngineUnreachable)
    assert engine.precheck_socket("tcp://127.0.0.1:2375") is None


def test_docker_host_is_honoured(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/podman/podman.sock")
    assert engine.endpoint() == "unix:///run/user/1000/podman/podman.sock"
    assert engine.socket_path() == "/run/user/1000/podman/podman.sock"
    monkeypatch.delenv("DOCKER_HOST")
    assert engine.socket_path() == "/var/run/docker.sock"


# /version and /info answers as Docker 20.10 and podman 4 give them (trimmed)
DOCKER_VERSION = {"Version": "20.10.24+dfsg1", "Components": [{"Name": "Engine"}]}
PODMAN_VERSION = {"Version": "4.3.1", "Components": [{"Name": "Podman Engine"}]}
ROOTFUL_INFO = {"SecurityOptions": ["name=seccomp,profile=default"]}
ROOTLESS_INFO = {"SecurityOptions": ["name=seccomp,profile=default", "name=rootless"]}


def test_engine_description_and_user_mapping():
    rootful = engine.describe(DOCKER_VERSION, ROOTFUL_INFO, "unix:///var/run/docker.sock")
    assert (rootful.name, rootful.rootless) == ("docker", False)
    assert engine.user_mapping(rootful, 1000, 1000) == {}
    podman = engine.describe(PODMAN_VERSION, ROOTLESS_INFO)
    assert podman.is_podman and podman.rootless
    assert engine.user_mapping(podman, 1000, 1000) == {"userns_mode": "keep-id", "user": "1000:1000"}
    rootless_docker = engine.describe(DOCKER_VERSION, ROOTLESS_INFO)
    with pytest.raises(errors.RootlessMapping) as ei:
        engine.user_mapping(rootless_docker, 1000, 1000)
    assert ei.value.check_id == "container.rootless-mapping"


def test_passthrough_env():
    env = {"http_proxy": "http://proxy:3128", "NO_PROXY": "localhost", "BB_NUMBER_THREADS": "4",
           "PARALLEL_MAKE": "-j 4", "KAS_CLONE_DEPTH": "1", "KAS_WORK_DIR": "/home/me/work",
           "DL_DIR": "/home/me/dl", "HOME": "/home/me", "AWS_SECRET_ACCESS_KEY": "x",
           "SSH_AUTH_SOCK": "/tmp/agent"}
    out = runner.passthrough_env(env)
    assert out == {"http_proxy": "http://proxy:3128", "NO_PROXY": "localhost",
                   "BB_NUMBER_THREADS": "4", "PARALLEL_MAKE": "-j 4", "KAS_CLONE_DEPTH": "1"}


def test_container_env_points_caches_at_mounts(tmp_path):
    m = runner.Mounts(work_dir=tmp_path, dl_dir=tmp_path / "dl", sstate_dir=tmp_path / "ss")
    env = runner.container_env(m, 1234, 1235, {"EXTRA": "1"}, environ={"BB_NUMBER_THREADS": "2"})
    assert env["ARMVM_UID"] == "1234" and env["ARMVM_GID"] == "1235"
    assert env["DL_DIR"] == "/downloads" and env["SSTATE_DIR"] == "/sstate"
    assert env["KAS_WORK_DIR"] == "/work" and env["EXTRA"] == "1" and env["BB_NUMBER_THREADS"] == "2"
    assert "SSH_AUTH_SOCK" not in env


def _st(uid, gid, mode):
    return os.stat_result((stat.S_IFDIR | mode, 0, 0, 0, uid, gid, 0, 0, 0, 0))


def test_can_write():
    assert runner.can_write(_st(1000, 1000, 0o755), 1000, 1000)
    assert not runner.can_write(_st(0, 0, 0o755), 1000, 1000)
    assert runner.can_write(_st(0, 50, 0o775), 1000, 50)
    assert runner.can_write(_st(0, 0, 0o1777), 1000, 1000)
    assert not runner.can_write(_st(1000, 1000, 0o555), 1000, 1000)


def test_root_caller_builds_as_work_dir_owner(tmp_path):
    if os.geteuid() != 0:
        need_fixture("needs root to chown")
    os.chown(tmp_path, 1234, 1235)
    assert runner.resolve_user(tmp_path) == (1234, 1235)
    root_owned = tmp_path / "r"
    root_owned.mkdir()
    os.chown(root_owned, 0, 0)
    # never root: the image's unprivileged user when root owns the work dir
    assert runner.resolve_user(root_owned) == (ROOT_BUILD_UID, ROOT_BUILD_UID)
    assert runner.resolve_user(tmp_path / "missing") == (ROOT_BUILD_UID, ROOT_BUILD_UID)
    assert runner.resolve_user(root_owned, 1000, 1000) == (1000, 1000)


def test_root_owned_cache_dir_is_refused(tmp_path):
    if os.geteuid() != 0:
        need_fixture("needs root to chown")
    work = tmp_path / "work"
    dl = tmp_path / "dl"
    work.mkdir()
    dl.mkdir(mode=0o755)
    os.chown(work, 1234, 1234)
    with pytest.raises(errors.BindMountOwner) as ei:
        runner.prepare_mounts(runner.Mounts(work_dir=work, dl_dir=dl), 1234, 1234)
    assert str(dl) in ei.value.what and ei.value.check_id == "container.bind-mount-owner"
    # missing directories are created for the build user instead of by the engine as root
    ss = tmp_path / "new" / "sstate"
    runner.prepare_mounts(runner.Mounts(work_dir=work, sstate_dir=ss), 1234, 1234)
    assert ss.stat().st_uid == 1234


def _copy_inputs(dst: Path) -> Path:
    for rel in image.FIXED_INPUTS:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst / rel)
    shutil.copytree(ROOT / "armvm_oe", dst / "armvm_oe",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


def test_tag_is_a_content_hash_of_every_input(tmp_path):
    src = _copy_inputs(tmp_path / "src")
    spec = image.ImageSpec(root=src)
    tag = spec.tag
    assert tag.startswith("armvm-oe/builder:") and len(tag.split(":")[1]) == 16
    # same inputs, new spec object and new mtimes: same tag and same context bytes
    os.utime(src / "containers/Dockerfile", (1, 1))
    again = image.ImageSpec(root=src)
    assert again.tag == tag and again.context_tar() == spec.context_tar()
    # a byte changed in any input, an exec bit, or a build argument: a new tag
    (src / "containers/entrypoint.sh").write_text(
        (src / "containers/entrypoint.sh").read_text() + "\n# changed\n")
    changed = image.ImageSpec(root=src).tag
    assert changed != tag
    (src / "armvm_oe" / "container" / "new_module.py").write_text("X = 1\n")
    assert image.ImageSpec(root=src).tag not in (tag, changed)
    assert image.ImageSpec(root=src, base_image="x").tag != image.ImageSpec(root=src).tag
    # caches are not inputs
    pyc = src / "armvm_oe" / "__pycache__"
    pyc.mkdir(exist_ok=True)
    before = image.ImageSpec(root=src).tag
    (pyc / "cli.cpython-311.pyc").write_bytes(b"junk")
    assert image.ImageSpec(root=src).tag == before


def test_context_tar_is_normalised(tmp_path):
    spec = image.ImageSpec(root=_copy_inputs(tmp_path / "src"))
    with tarfile.open(fileobj=io.BytesIO(spec.context_tar())) as tar:
        outer = {m.name: m for m in tar.getmembers()}
        assert {"containers/Dockerfile", "deps.tar", "src.tar"} <= set(outer)
        inner = {}
        for name in ("deps.tar", "src.tar"):
            with tarfile.open(fileobj=tar.extractfile(outer[name])) as t:
                inner[name] = {m.name: m for m in t.getmembers()}
    assert list(inner["deps.tar"])[-1] == "usr/local/share/armvm-oe/requirements.txt"
    src = inner["src.tar"]
    assert "usr/local/src/armvm-oe/armvm_oe/cli.py" in src
    assert "usr/local/src/armvm-oe/pyproject.toml" in src
    # every parent directory is in the tar, so ADD gives it a fixed mtime too
    assert src["usr/local/src/armvm-oe"].isdir() and src["usr/local/bin"].isdir()
    assert not any("__pycache__" in n for n in src)
    members = list(outer.values()) + list(inner["deps.tar"].values()) + list(src.values())
    assert {m.mtime for m in members} == {image.SOURCE_DATE_EPOCH}
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}
    assert src["usr/local/bin/armvm-entrypoint"].mode == 0o755
    assert src["usr/local/src/armvm-oe/armvm_oe/cli.py"].mode == 0o644


def test_security_mirror_defaults():
    assert image.default_security_mirror("http://deb.debian.org/debian") == \
        "http://deb.debian.org/debian-security"
    assert image.default_security_mirror("http://mirror.local/apt") == ""
    args = image.ImageSpec(root=ROOT, mirror="http://deb.debian.org/debian/").buildargs()
    assert args["DEBIAN_SECURITY_MIRROR"] == "http://deb.debian.org/debian-security"
    assert image.ImageSpec(root=ROOT).buildargs() == {}


def test_parse_apt_sources():
    deb822 = ("Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
              "URIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
              "Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n"
              "Suites: bookworm-security\nComponents: main\n")
    assert image.parse_apt_sources(deb822, True) == [
        ("http://deb.debian.org/debian", ["bookworm", "bookworm-updates"]),
        ("http://deb.debian.org/debian-security", ["bookworm-security"])]
    one_line = "deb [arch=amd64] http://ftp.de.debian.org/debian bookworm main\n# deb http://x y z\n"
    assert image.parse_apt_sources(one_line, False) == [("http://ftp.de.debian.org/debian", ["bookworm"])]


def test_host_debian_mirror(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "other.list").write_text(
        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n")
    assert image.host_debian_mirror(tmp_path) == "http://mirror.example/debian"
    assert image.host_debian_mirror(tmp_path / "nothing") is None


def test_diff_entries_names_the_file_and_field():
    base = {"type": "0", "mode": "0o644", "uid": 0, "gid": 0, "size": 3, "mtime": 1,
            "link": "", "sha256": "aa", "xattrs": {}}
    a = {"etc/shadow": dict(base), "usr/bin/x": dict(base), "gone": dict(base)}
    b = {"etc/shadow": dict(base, sha256="bb"), "usr/bin/x": dict(base, mtime=2), "new": dict(base)}
    diffs = {d.path: d for d in repro.diff_entries(a, b)}
    assert diffs["etc/shadow"].describe() == "etc/shadow: content differs"
    assert diffs["usr/bin/x"].describe() == "usr/bin/x: mtime 1 != 2"
    assert diffs["gone"].change == "only in first" and diffs["new"].change == "only in second"
    assert repro.diff_entries(a, a) == []


def test_ci_templates_build_both_machines_with_shared_caches():
    import yaml

    gh = yaml.safe_load((ROOT / "containers/ci/github-actions.yml").read_text())
    job = gh["jobs"]["build"]
    assert job["strategy"]["matrix"]["arch"] == ["aarch64", "arm"]
    assert {"DL_DIR", "SSTATE_DIR"} <= set(job["env"])
    steps = " ".join(str(s.get("run", "")) + str(s.get("uses", "")) for s in job["steps"])
    assert "armvm-oe container build" in steps and "actions/cache" in steps
    assert "armvm-oe build --arch" in steps
    gl = yaml.safe_load((ROOT / "containers/ci/gitlab-ci.yml").read_text())
    assert gl["build"]["parallel"]["matrix"] == [{"ARCH": ["aarch64", "arm"]}]
    assert "DL_DIR" in gl["variables"] and "SSTATE_DIR" in gl["build"]["variables"]
    assert any("armvm-oe container build" in s for s in gl["container"]["script"])


def test_missing_tail():
    assert runner.missing_tail(b"a\nb\n", b"b\nno newline") == b"no newline"
    assert runner.missing_tail(b"a\nb\nlast", b"b\nlast") == b""
    assert runner.missing_tail(b"", b"x") == b"x"
    assert runner.missing_tail(b"abc\n", b"") == b""


def test_can_read():
    def st(mode, uid=1000, gid=1000):
        return os.stat_result((mode, 0, 0, 0, uid, gid, 0, 0, 0, 0))
    d = stat.S_IFDIR
    assert runner.can_read(st(d | 0o700), 1000, 1000)
    assert not runner.can_read(st(d | 0o700), 1234, 1234)
    assert runner.can_read(st(d | 0o750), 1234, 1000)          # via the group
    assert not runner.can_read(st(d | 0o740), 1234, 1000)      # r without x: cannot enter
    assert runner.can_read(st(d | 0o755), 1234, 1234)
    assert runner.can_read(st(stat.S_IFREG | 0o644), 1234, 1234)
    assert not runner.can_read(st(stat.S_IFREG | 0o640), 1234, 1234)
    assert runner.can_read(st(d | 0o000), 0, 0)


def test_extra_mount_targets():
    assert runner.check_extra_target("/sstate-mirror/", "sstate mirror") == "/sstate-mirror"
    assert runner.check_extra_target("/mnt/a/../b", "x") == "/mnt/b"
    for bad in ("relative/path", "", "/", "/work", "/work/sub", "/repo", "/downloads/x",
                "/sstate", "/usr/local/x", "/etc", "/home/builder", "/run/armvm-oe/x", "/tmp"):
        with pytest.raises(UsageError):
            runner.check_extra_target(bad, "sstate mirror")
    # a target that would contain a reserved mount is refused as well
    with pytest.raises(UsageError) as exc:
        runner.check_extra_target("/run", "x")
    assert "hide /run/armvm-oe" in exc.value.why


def test_extra_mounts_are_read_only_and_checked(tmp_path):
    work, mirror = tmp_path / "work", tmp_path / "mirror"
    work.mkdir()
    mirror.mkdir()
    uid, gid = os.getuid(), os.getgid()
    m = runner.prepare_mounts(runner.Mounts(work_dir=work, extra_ro=[
        (mirror, "/sstate-mirror", "sstate mirror")]), uid, gid)
    extra = [x for x in m if x["Target"] == "/sstate-mirror"]
    assert extra == [{"Target": "/sstate-mirror", "Source": str(mirror), "Type": "bind",
                      "ReadOnly": True}]
    with pytest.raises(UsageError, match="cannot be mounted"):
        runner.prepare_mounts(runner.Mounts(work_dir=work, extra_ro=[
            (tmp_path / "absent", "/m", "sstate mirror")]), uid, gid)
    with pytest.raises(UsageError, match="Two mounts"):
        runner.prepare_mounts(runner.Mounts(work_dir=work, extra_ro=[
            (mirror, "/m", "a"), (mirror, "/m/", "b")]), uid, gid)
    if os.geteuid() == 0:
        private = tmp_path / "private"
        private.mkdir(mode=0o700)
        os.chown(work, 1234, 1234)
        with pytest.raises(UsageError, match="not readable by the build user"):
            runner.prepare_mounts(runner.Mounts(work_dir=work, extra_ro=[
                (private, "/m", "sstate mirror")]), 1234, 1234)

"""`armvm-oe build --container` end to end: the real CLI, the real build image
(the session's, shared with tests/container), the real kas 5.5 inside it and
the recording stand-in bitbake of tests/imagebuild in the stand-in poky.

The build user is not root: on CI (root) the work dir and caches belong to
uid 1234 and the runner builds as that owner, as tests/container does, while
the project stays root's (a CI job's clone); run as a normal user, the caller
is that user and owns everything."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import jsonschema
import pytest

from armvm_oe.imagebuild.report import REPORT_SCHEMA
from armvm_oe.container import SSTATE_MIRROR_MOUNT
from armvm_oe.container.runner import leftover_containers
from armvm_oe.lib import sha256_file

from standinpoky import git, make_project, skip_root  # noqa: E402  (tests/imagebuild/standinpoky.py)

pytestmark = pytest.mark.docker

UID = 1234


def _give(path: Path, uid: int) -> None:
    """chown -R (as root) so the tree belongs to the build's caller."""
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, uid)
    os.lchown(path, uid, uid)


def _stage_payload(payload: Path, dl: Path) -> None:
    """The stand-in's inputs into DL_DIR (the container cannot see the
    payload's host path): hard links to the cached files when possible."""
    dst = dl / "standin-payload"
    dst.mkdir(parents=True)
    for p in payload.iterdir():
        src = p.resolve()
        try:
            os.link(src, dst / p.name)
        except OSError:
            shutil.copyfile(src, dst / p.name)
    os.lchown(dst, UID, UID) if os.geteuid() == 0 else None


def test_build_in_the_container_end_to_end(armvm, tmp_path, fake_poky, payload, builder_image,
                                           docker_client, cli_env):
    url, sha = fake_poky
    caller = UID if os.geteuid() == 0 else os.getuid()
    proj = make_project(tmp_path, url, sha)
    work, dl = tmp_path / "work", tmp_path / "dl"
    work.mkdir()
    _stage_payload(payload, dl)
    # a file:// sstate mirror OUTSIDE the work dir: mounted read-only
    mirror = tmp_path / "sstate-mirror"
    (mirror / "universal" / "ab").mkdir(parents=True)
    (mirror / "universal" / "ab" / "sstate-marker.tar.zst").write_bytes(b"x")
    # the project stays the invoking user's (a CI job's root-owned clone);
    # the work dir and DL_DIR are the build user's
    for p in (work, dl):
        _give(p, UID)
    before = {c.id for c in leftover_containers(docker_client)}

    t0 = time.monotonic()
    r = armvm("build", "--container", *skip_root(), str(proj / "kas" / "test-aarch64.yml"),
              "--json", "--dl-dir", str(dl), "--sstate-mirror", f"file://{mirror}",
              "--prserv", "prserv.example.org:8585", cwd=work, env=cli_env, timeout=900)
    seconds = time.monotonic() - t0
    print(f"\n[build] containerized stand-in build: {seconds:.1f} s")
    assert r.returncode == 0, r.stderr[-4000:]
    rep = json.loads(r.stdout)
    jsonschema.validate(rep, REPORT_SCHEMA)
    build_dir = work / "build"
    assert json.loads((build_dir / "build-report.json").read_text()) == rep
    assert rep["status"] == "succeeded" and rep["mode"] == "container"

    # the image the fixture built, not a rebuild: same tag, same id
    assert rep["container"]["image"] == builder_image
    assert rep["container"]["image_id"] == docker_client.images.get(builder_image).id

    # kas ran the stand-in INSIDE the container, in its mount layout, as the caller
    rec = json.loads((build_dir / "standin-bitbake.json").read_text())
    assert rec["dockerenv"] is True and rec["pid1"] == "docker-init"
    assert rec["argv"][0] == "/work/poky/bitbake/bin/bitbake"
    assert rec["argv"][1:] == ["-c", "build", "armvm-image"]
    assert rec["cwd"] == "/work/build"
    assert rec["uid"] == caller
    assert rec["gid"] == (UID if os.geteuid() == 0 else os.getgid())
    assert rec["user"] == "builder"     # the image's build user, remapped to the caller
    assert rec["env"]["DL_DIR"] == "/downloads"
    assert rec["payload"] == "/downloads/standin-payload"
    assert "/repo/meta-armvm" in rec["bblayers_conf"]
    # the sstate mirror: bitbake is told the container path and sees the files, read-only
    assert rec["env"]["ARMVM_SSTATE_MIRROR"] == f"file://{SSTATE_MIRROR_MOUNT}"
    assert rec["sstate_mirror"] == {"path": SSTATE_MIRROR_MOUNT, "entries": ["universal"],
                                    "writable": False}
    assert rec["env"]["ARMVM_PRSERV"] == "prserv.example.org:8585"
    # local.conf carries the overlay's line; bitbake expands it from the
    # variable above (the stand-in cannot: the poky tests check the value)
    assert "PRSERV_HOST = \"${@d.getVar('ARMVM_PRSERV') or ''}\"" in rec["local_conf"]
    assert "ARMVM_PRSERV" in rec["env"]["BB_ENV_PASSTHROUGH_ADDITIONS"].split()
    # the checkout at the lock (on the host), used as is by kas in the container
    assert git("-c", "safe.directory=*", "rev-parse", "HEAD", cwd=work / "poky") == sha
    assert rep["lock"]["repos"][1]["head"] == sha

    # every file in the work dir and DL_DIR belongs to the caller, including
    # what the host side wrote (logs, report) and the tree the checkout made
    foreign = [str(p) for base in (work, dl) for p in [base, *base.rglob("*")]
               if p.lstat().st_uid != caller]
    assert foreign == [], foreign[:20]
    assert (build_dir / "conf" / "local.conf").stat().st_uid == caller

    # versions from the container's kas and the stand-in's bitbake
    assert rep["versions"]["kas"] == "5.5" and rep["versions"]["bitbake"] == "2.8.1"
    assert rep["progress"]["summary"] == {"attempted": 12, "not_rerun": 0, "failed": 0,
                                          "succeeded": True}
    # deploy artifacts collected on the host with sha256, the .wic verified
    assert Path(rep["deploy_dir"]) == build_dir / "tmp" / "deploy" / "images" / "armvm-aarch64"
    kinds = {a["kind"] for a in rep["artifacts"]}
    assert {"wic", "bmap", "kernel", "grub-efi", "dtb"} <= kinds
    for a in rep["artifacts"]:
        assert a["sha256"] == sha256_file(Path(a["path"])), a["name"]
        assert Path(a["path"]).is_relative_to(build_dir)
    assert rep["wic"].endswith("armvm-image-armvm-aarch64.rootfs.wic")
    assert rep["verify"]["status"] == "passed", rep["verify"]["summary"]
    log = Path(rep["log"]).read_text()
    assert "NOTE: Running noexec task 12 of 12" in log and "kas 5.5 started" in log

    # no container left behind
    assert [c.name for c in leftover_containers(docker_client) if c.id not in before] == []


def test_default_dl_and_sstate_dirs_are_the_callers(armvm, tmp_path, fake_poky, payload,
                                                   builder_image, cli_env):
    """No --dl-dir/--sstate-dir, a build user that is not the image's (uid
    1234 here; 1001 on GitHub runners): DL_DIR and SSTATE_DIR are host
    directories in the work dir, made and owned by the caller, mounted
    writable. Before, they were the image's /downloads and /sstate, and
    bitbake's sanity checker refused them."""
    if os.geteuid() != 0 and os.getuid() == 30000:
        pytest.skip("the caller has the image user's uid")
    url, sha = fake_poky
    caller = UID if os.geteuid() == 0 else os.getuid()
    proj = make_project(tmp_path, url, sha)
    work = tmp_path / "work"
    work.mkdir()
    # the stand-in's inputs go where DL_DIR will be: <work>/downloads
    _stage_payload(payload, work / "downloads")
    _give(work, UID)
    r = armvm("build", "--container", *skip_root(), str(proj / "kas" / "test-aarch64.yml"),
              "--json", "--no-verify", cwd=work, env=cli_env, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    rec = json.loads((work / "build" / "standin-bitbake.json").read_text())
    assert rec["uid"] == caller
    assert rec["env"]["DL_DIR"] == "/downloads" and rec["env"]["SSTATE_DIR"] == "/sstate"
    assert rec["can_write"] == {"DL_DIR": True, "SSTATE_DIR": True}
    for d in (work / "downloads", work / "sstate-cache"):
        assert d.is_dir() and d.stat().st_uid == caller, d

"""Where a file:// sstate mirror is seen in container mode (pure; the
containerized end-to-end test proves the mount itself)."""

from __future__ import annotations

import pytest

from armvm_oe.imagebuild.scaleout import ScaleOut, check_mirror, container_mirror_mount, validate
from armvm_oe.container import SSTATE_MIRROR_MOUNT, WORK_MOUNT
from armvm_oe.errors import UsageError


def test_file_mirror_outside_the_work_dir_is_mounted(tmp_path):
    work, mirror = tmp_path / "work", tmp_path / "mirror"
    work.mkdir()
    mirror.mkdir()
    url = f"file://{mirror}/"
    assert container_mirror_mount(url, work) == mirror
    assert check_mirror(url, True, work) == f"file://{SSTATE_MIRROR_MOUNT}"
    # on the host bitbake reads the directory itself
    assert check_mirror(url, False, work) == f"file://{mirror}"
    assert validate(ScaleOut(sstate_mirror=url), True, work).sstate_mirror == \
        f"file://{SSTATE_MIRROR_MOUNT}"


def test_file_mirror_inside_the_work_dir_is_seen_under_work(tmp_path):
    work = tmp_path / "work"
    (work / "mirrors" / "sstate").mkdir(parents=True)
    url = f"file://{work}/mirrors/sstate"
    assert container_mirror_mount(url, work) is None
    assert check_mirror(url, True, work) == f"file://{WORK_MOUNT}/mirrors/sstate"


def test_http_mirror_needs_no_mount(tmp_path):
    assert container_mirror_mount("https://sstate.example.org/armvm", tmp_path) is None
    assert container_mirror_mount(None, tmp_path) is None
    assert check_mirror("https://sstate.example.org/armvm/", True, tmp_path) == \
        "https://sstate.example.org/armvm"


def test_missing_file_mirror_is_refused(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        check_mirror(f"file://{tmp_path}/absent", True, tmp_path)

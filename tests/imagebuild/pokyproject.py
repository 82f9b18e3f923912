"""The real armvm-oe project, for the tests that run real bitbake (marker
``poky``): this repository's kas/ and meta-armvm/ in a fresh git repository
whose kas files name the local bare mirrors of bitbake, openembedded-core and
meta-yocto (ARMVM_MIRRORS, laid out <owner>+<name>/repo: tests/_yocto.py)
instead of their servers, plus an offline overlay (BB_NO_NETWORK, no
connectivity check): there are no source servers here, so the build stops at
its first do_fetch, which is what the tests assert."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from _yocto import SPLIT, check_pins, mirrors

ROOT = Path(__file__).resolve().parents[2]

OFFLINE = """\
# test overlay: no network, no connectivity check (tests/imagebuild/pokyproject.py)
header:
  version: 14
local_conf_header:
  zz-offline: |
    BB_NO_NETWORK = "1"
    CONNECTIVITY_CHECK_URIS = ""
"""
# git fetches a pinned commit by id from the local bare mirrors
GIT_ENV = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "uploadpack.allowAnySHA1InWant",
           "GIT_CONFIG_VALUE_0": "true"}


def poky_dir() -> dict[str, Path]:
    """The split repositories' mirrors (repo id -> bare repo), each holding
    the commits kas/ pins for scarthgap and wrynose; skips when ARMVM_MIRRORS
    is unset (an opt-in input)."""
    m = mirrors()
    check_pins("scarthgap", m)
    check_pins("wrynose", m)
    return m


def git(*args, cwd=None):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    return subprocess.run(["git", *map(str, args)], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def make_real_project(dest: Path, poky: dict[str, Path]) -> Path:
    """dest/project: kas/ (each split repo's URL -> file://<its mirror>),
    meta-armvm/, kas/offline.yml."""
    proj = dest / "project"
    proj.mkdir(parents=True)
    shutil.copytree(ROOT / "kas", proj / "kas")
    shutil.copytree(ROOT / "meta-armvm", proj / "meta-armvm", symlinks=True)
    common = proj / "kas" / "include" / "armvm-common.yml"
    text = common.read_text()
    for rid, (_d, url) in SPLIT.items():
        assert f"url: {url}\n" in text, (rid, url)
        text = text.replace(f"url: {url}\n", f"url: file://{poky[rid]}\n")
    common.write_text(text)
    (proj / "kas" / "offline.yml").write_text(OFFLINE)
    git("init", "-q", "-b", "main", cwd=proj)
    git("add", "-A", cwd=proj)
    git("commit", "-q", "-m", "armvm-oe at a local poky", cwd=proj)
    return proj


def give(path: Path, uid: int, gid: int) -> None:
    """chown -R (as root)."""
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)
    os.lchown(path, uid, gid)

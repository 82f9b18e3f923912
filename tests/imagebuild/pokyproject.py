"""The real armvm-oe project, for the tests that run real bitbake (marker
``poky``): this repository's kas/ and meta-armvm/ in a fresh git repository
whose kas files name a local poky (ARMVM_POKY_DIR, a clone of the pinned
commit) instead of git.yoctoproject.org, plus an offline overlay
(BB_NO_NETWORK, no connectivity check): there are no source servers here,
so the build stops at its first do_fetch, which is what the tests assert."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POKY_COMMIT = "72983ac391008ebceb45edc7a8f0f6d5f4fe715c"   # kas/include/armvm-common.yml
POKY_URL = "https://git.yoctoproject.org/poky"

OFFLINE = """\
# test overlay: no network, no connectivity check (tests/imagebuild/pokyproject.py)
header:
  version: 14
local_conf_header:
  zz-offline: |
    BB_NO_NETWORK = "1"
    CONNECTIVITY_CHECK_URIS = ""
"""


def poky_dir() -> Path:
    """ARMVM_POKY_DIR, checked: a git work tree (or bare repo) holding the pinned
    commit on a branch 'scarthgap'; skips the test when unset."""
    d = os.environ.get("ARMVM_POKY_DIR")
    if not d:
        pytest.skip("ARMVM_POKY_DIR is not set: these tests run real bitbake from a local "
                    f"poky clone at {POKY_COMMIT[:12]} (git clone "
                    "https://git.yoctoproject.org/poky; git -C poky branch scarthgap "
                    f"{POKY_COMMIT}; export ARMVM_POKY_DIR=$PWD/poky)")
    p = Path(d)
    r = subprocess.run(["git", "-C", str(p), "merge-base", "--is-ancestor", POKY_COMMIT,
                        "scarthgap"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"ARMVM_POKY_DIR={p} has no branch 'scarthgap' containing {POKY_COMMIT}: "
                    f"{r.stderr.strip()}")
    return p


def git(*args, cwd=None):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    return subprocess.run(["git", *map(str, args)], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def make_real_project(dest: Path, poky: Path) -> Path:
    """dest/project: kas/ (URL -> file://poky), meta-armvm/, kas/offline.yml."""
    proj = dest / "project"
    proj.mkdir(parents=True)
    shutil.copytree(ROOT / "kas", proj / "kas")
    shutil.copytree(ROOT / "meta-armvm", proj / "meta-armvm", symlinks=True)
    common = proj / "kas" / "include" / "armvm-common.yml"
    text = common.read_text()
    assert POKY_URL in text and POKY_COMMIT in text
    common.write_text(text.replace(POKY_URL, f"file://{poky}"))
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

"""Fixtures for the checkout tests: real bare repositories as remotes
(file:// URLs), a copy of the real kas/ configurations in a scratch git
repository with an overlay that points their repos at those remotes, and
helpers to run armvm-oe and kas as processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import gitgen  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Remote:
    id: str
    bare: Path
    branch: str

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def head(self) -> str:
        return gitgen.head(self.bare, self.branch)

    def hide(self) -> None:
        """Make the remote unreachable (what a cut network looks like to git)."""
        self.bare.rename(self.bare.with_name(self.bare.name + ".gone"))

    def unhide(self) -> None:
        self.bare.with_name(self.bare.name + ".gone").rename(self.bare)


@dataclass
class Project:
    root: Path          # scratch git repo holding kas/ and meta-armvm/
    work: Path          # KAS_WORK_DIR
    remotes: dict

    def config(self, *extra: str, wrynose: bool = False) -> str:
        files = ["kas/armvm-aarch64.yml"] + (["kas/wrynose.yml"] if wrynose else []) + \
            ["test-remotes.yml"] + list(extra)
        return ":".join(str(self.root / f) for f in files)


def run_armvm(*args, env=None, cwd=None, timeout=300):
    e = dict(os.environ, NO_COLOR="1")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "armvm_oe", *map(str, args)], cwd=cwd,
                          env=e, text=True, capture_output=True, timeout=timeout)


def run_kas(*args, work: Path, env=None, timeout=300):
    e = dict(os.environ, KAS_WORK_DIR=str(work))
    e.pop("KAS_REPO_REF_DIR", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "kas", *map(str, args)], cwd=work, env=e,
                          text=True, capture_output=True, timeout=timeout)


def checkout_json(project: Project, *args, env=None, config=None):
    r = run_armvm("checkout", config or project.config(), "--json", *args, cwd=project.work,
                  env={"KAS_WORK_DIR": str(project.work), **(env or {})})
    data = json.loads(r.stdout) if r.stdout.strip().startswith("{") else None
    return r, data


def _overlay(remotes: dict, wrynose: bool) -> str:
    lines = ["# test overlay: the real configs' repos, served by local bare repos",
             "header:", "  version: 14", "overrides:", "  repos:"]
    for rid, rem in remotes.items():
        lines += [f"    {rid}:", f"      url: {rem.url}", f"      commit: {rem.head()}"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def remotes(tmp_path):
    d = tmp_path / "remotes"
    d.mkdir()
    # the split repositories kas/include/armvm-common.yml pins (scarthgap)
    return {
        "openembedded-core": Remote("openembedded-core", gitgen.make_bare(
            d / "openembedded-core.git", branch="scarthgap", commits=5, seed="oe",
            layers=("meta",), init_script=True), "scarthgap"),
        "bitbake": Remote("bitbake", gitgen.make_bare(
            d / "bitbake.git", branch="2.8", seed="bb", layers=()), "2.8"),
        "meta-yocto": Remote("meta-yocto", gitgen.make_bare(
            d / "meta-yocto.git", branch="scarthgap", seed="my",
            layers=("meta-poky", "meta-yocto-bsp")), "scarthgap"),
    }


@pytest.fixture
def wrynose_remotes(tmp_path):
    d = tmp_path / "remotes-wrynose"
    d.mkdir()
    return {
        "meta-yocto": Remote("meta-yocto", gitgen.make_bare(
            d / "meta-yocto.git", branch="wrynose", seed="my",
            layers=("meta-poky", "meta-yocto-bsp")), "wrynose"),
        "bitbake": Remote("bitbake", gitgen.make_bare(
            d / "bitbake.git", branch="2.18", seed="bb", layers=()), "2.18"),
        "openembedded-core": Remote("openembedded-core", gitgen.make_bare(
            d / "openembedded-core.git", branch="wrynose", seed="oe", layers=("meta",),
            init_script=True), "wrynose"),
    }


def make_project(tmp_path: Path, remotes: dict, name="proj") -> Project:
    root = tmp_path / name
    shutil.copytree(ROOT / "kas", root / "kas")
    (root / "meta-armvm" / "conf").mkdir(parents=True)
    (root / "meta-armvm" / "conf" / "layer.conf").write_text('BBFILE_COLLECTIONS += "armvm"\n')
    (root / "test-remotes.yml").write_text(_overlay(remotes, False))
    gitgen.git("init", "-q", "-b", "main", root)
    gitgen.git("add", "-A", cwd=root)
    gitgen.git("commit", "-q", "-m", "test project", cwd=root)
    work = tmp_path / f"{name}-work"
    work.mkdir()
    return Project(root, work, remotes)


@pytest.fixture
def project(tmp_path, remotes):
    return make_project(tmp_path, remotes)


@pytest.fixture(scope="session")
def big_remote(tmp_path_factory):
    """A repository whose pinned tree is ~12 MB (shows a progress bar and
    takes long enough to be killed mid-transfer) over a 1500-commit history."""
    d = tmp_path_factory.mktemp("big")
    bare = gitgen.make_bare(d / "big.git", branch="main", commits=1500, files=400,
                            blob_size=30_000, seed="big")
    return Remote("big", bare, "main")


def big_config(tmp_path: Path, remote: Remote, name="big.yml") -> Path:
    cfg = tmp_path / name
    cfg.write_text(f"header:\n  version: 14\nrepos:\n  big:\n    url: {remote.url}\n"
                   f"    branch: {remote.branch}\n    commit: {remote.head()}\n  this:\n")
    with_init_script(tmp_path)
    return cfg


def with_init_script(directory: Path) -> None:
    """kas (and armvm-oe) checkout need exactly one repo with oe-init-build-env;
    a config's own directory ('this:') provides it in the small cases."""
    (directory / "oe-init-build-env").write_text("#!/bin/sh\ntrue\n")

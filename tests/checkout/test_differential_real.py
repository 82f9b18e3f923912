"""Differential suite on real foreign configurations: meta-arm's ci/*.yml,
alone, joined, locked, and included from a user project, through ``kas
checkout`` and ``armvm-oe checkout`` (see differential.py for what is compared).

Needs local clones of meta-arm, bitbake, openembedded-core, meta-yocto,
meta-openembedded and meta-secure-core (ARMVM_MIRRORS, default /work/.mirror, laid out
``<owner>+<name>/repo``); ``KAS_PREMIRRORS`` sends both tools there. Skipped
with the reason when they are absent (CI), ``nightly`` otherwise (each case
clones the real layers).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from differential import git, make_project, run_both

MIRRORS = Path(os.environ.get("ARMVM_MIRRORS", "/work/.mirror"))
UPSTREAM = {
    "https://git.openembedded.org/bitbake": "openembedded+bitbake",
    "https://git.openembedded.org/openembedded-core": "openembedded+openembedded-core",
    "https://git.yoctoproject.org/meta-yocto": "yoctoproject+meta-yocto",
    "https://git.openembedded.org/meta-openembedded": "openembedded+meta-openembedded",
    "https://git.yoctoproject.org/meta-arm": "jonmason+meta-arm",
    "https://github.com/Wind-River/meta-secure-core.git": "Wind-River+meta-secure-core",
}
MISSING = [d for d in UPSTREAM.values() if not (MIRRORS / d / "repo").is_dir()]

pytestmark = [
    pytest.mark.nightly,
    pytest.mark.skipif(bool(MISSING), reason=f"local clones missing under {MIRRORS}: "
                       f"{', '.join(MISSING)} (set ARMVM_MIRRORS)"),
]


def premirrors() -> dict:
    lines = [f"^{url}$ {MIRRORS / d / 'repo'}" for url, d in UPSTREAM.items()]
    return {"KAS_PREMIRRORS": "\n".join(lines)}


@pytest.fixture
def meta_arm(tmp_path) -> Path:
    clone = tmp_path / "meta-arm"
    git("clone", "-q", MIRRORS / UPSTREAM["https://git.yoctoproject.org/meta-arm"] / "repo",
        clone)
    return clone


def _twins(out, expect_repos: set[str]) -> None:
    assert out.kas_rc == 0, out.kas_err[-2500:]
    assert out.armvm_rc == 0, out.armvm_err[-2500:]
    assert out.differences() == [], "\n".join(out.differences())
    got = {k for k, v in out.armvm.items() if isinstance(v, dict)}
    assert got == expect_repos, got
    assert "BBLAYERS" in out.armvm["build/conf/bblayers.conf"]


BASE = {"bitbake", "core", "meta-yocto"}


@pytest.mark.parametrize("cfg,repos", [
    ("ci/qemuarm64.yml", BASE),
    ("ci/fvp-base.yml", BASE),
    ("ci/qemuarm64.yml:ci/meta-openembedded.yml", BASE | {"meta-openembedded"}),
    ("ci/corstone1000-fvp.yml", BASE | {"meta-openembedded", "meta-secure-core"}),
    ("ci/fvp-base-ts.yml", BASE | {"meta-openembedded"}),
])
def test_meta_arm_ci_config(meta_arm, tmp_path, cfg, repos):
    config = ":".join(str(meta_arm / c) for c in cfg.split(":"))
    _twins(run_both(config, tmp_path / "run", env=premirrors()), repos)


def test_meta_arm_ci_config_locked(meta_arm, tmp_path):
    """A lock file next to the ci file pins 'core' five commits behind the
    branch tip: both tools check that commit out (on branch master)."""
    core = MIRRORS / UPSTREAM["https://git.openembedded.org/openembedded-core"] / "repo"
    old = git("rev-parse", "master~5", cwd=core)
    (meta_arm / "ci" / "qemuarm64.lock.yml").write_text(
        f"header:\n  version: 14\noverrides:\n  repos:\n    core:\n      commit: {old}\n")
    out = run_both(str(meta_arm / "ci/qemuarm64.yml"), tmp_path / "run", env=premirrors())
    _twins(out, BASE)
    assert out.armvm["core"]["head"] == old


def test_user_project_including_meta_arm_ci_file(tmp_path):
    """The issue's 'user project including meta-arm's ci file': before the
    fix armvm-oe ended without bitbake/core/meta-yocto."""
    proj = make_project(tmp_path / "user", {
        "kas/project.yml": (
            "header:\n  version: 14\n  includes:\n    - repo: meta-arm\n"
            "      file: ci/qemuarm64.yml\n"
            "repos:\n  meta-arm:\n    url: https://git.yoctoproject.org/meta-arm\n"
            "    branch: master\n"
            "local_conf_header:\n  user: |\n    INHERIT += \"buildstats\"\n")})
    out = run_both(str(proj / "kas/project.yml"), tmp_path / "run", env=premirrors())
    _twins(out, BASE | {"meta-arm"})

"""README command 1 and a user's own project with REAL bitbake, from a real
non-editable install, up to `build --check`: the core repositories the
shipped configuration lists (poky, or bitbake + openembedded-core +
meta-yocto: read from kas/, never assumed) come from the fetched mirrors
(ARMVM_MIRRORS, default /work/.mirror, layout <owner>+<name>/repo) through
KAS_PREMIRRORS, the URL rewrite kas and armvm-oe's checkout share. There is
no network here: the default configuration in an empty directory ends where
an offline build ends, at oe-core's connectivity check after kas set up the
build and bitbake parsed its configuration (kas does not pass BB_NO_NETWORK
from the environment); the user's project adds the offline lines (a test
overlay in the project) and passes the whole check. Skips with the reason
when a mirror or a pinned commit is missing. Minutes of parsing: nightly."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from armvm_oe.errors import ROOT_BUILD_UID
from installed import ROOT
from standinpoky import git
from test_anywhere import USER, _empty_dir, _env, _run, installed, make_my_project  # noqa: F401

OFFLINE = """\
header:
  version: 14
local_conf_header:
  zz-offline: |
    BB_NO_NETWORK = "1"
    CONNECTIVITY_CHECK_URIS = ""
"""


pytestmark = [pytest.mark.docker, pytest.mark.nightly]


def premirrors() -> str:
    """KAS_PREMIRRORS mapping every remote repo of kas/armvm-aarch64.yml to its
    local mirror (matched by the URL's last path component)."""
    from armvm_oe.kasconfig import load_config
    base = Path(os.environ.get("ARMVM_MIRRORS", "/work/.mirror"))
    lines = []
    project = load_config(str(ROOT / "kas" / "armvm-aarch64.yml"), work_dir=Path("/nonexistent"))
    for r in project.remote_repos:
        name = r.url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        found = sorted(base.glob(f"*+{name}/repo"))
        if not found:
            pytest.skip(f"no fetched mirror of {r.url} under {base} (ARMVM_MIRRORS; "
                        f"<owner>+{name}/repo)")
        ok = subprocess.run(["git", "--git-dir", str(found[0]), "cat-file", "-e",
                             f"{r.commit}^{{commit}}"], capture_output=True)
        if ok.returncode != 0:
            pytest.skip(f"the mirror {found[0]} lacks {r.id}'s pinned commit {r.commit[:12]}")
        lines.append(f"^{re.escape(r.url)}$ file://{found[0]}")
    return "\n".join(lines)


@pytest.mark.parametrize("what", ["empty-directory", "own-project"])
def test_real_bitbake_check_from_the_installed_package(what, installed, tmp_path,  # noqa: F811
                                                       cli_env, builder_image):
    env = _env(installed, cli_env, KAS_PREMIRRORS=premirrors(), HOME=str(tmp_path))
    work = _empty_dir(tmp_path, None)
    allow = ["--allow-root"] if os.geteuid() == 0 else []
    if what == "empty-directory":
        args = ["build", "--arch", "aarch64", "--check", "--json", *allow]
    else:
        proj = make_my_project(tmp_path)
        (proj / "kas" / "offline.yml").write_text(OFFLINE)
        git("add", "-A", cwd=proj)
        git("commit", "-q", "-m", "offline (test overlay)", cwd=proj)
        args = ["build", f"{proj}/kas/my-image.yml:{proj}/kas/offline.yml", "--check",
                "--json", *allow]
    r = _run(args, work, env, timeout=3600)
    rep = json.loads(r.stdout)
    assert rep["versions"]["bitbake"] and rep["versions"]["kas"], rep["versions"]
    owner = ROOT_BUILD_UID if os.geteuid() == 0 else os.getuid()
    assert (work / "build" / "conf" / "local.conf").stat().st_uid == owner
    assert git("-C", str(work / "armvm-oe"), "status", "--porcelain") == ""
    if what == "empty-directory":
        # past the preflight, the checkout and kas: bitbake's own sanity checker speaks
        assert r.returncode == 1, r.stderr[-4000:]
        assert "refuses" not in r.stderr
        ids = [d.get("id") for d in rep["failure"]["diagnosis"]]
        assert "log.sanity" in ids and "connectivity" in r.stderr, (ids, r.stderr[-3000:])
        return
    assert r.returncode == 0, r.stderr[-4000:]
    assert rep["status"] == "succeeded" and all(c["ok"] for c in rep["check"]), rep["check"]
    audit = next(c for c in rep["check"] if c["step"] == "kconfig-audit-inputs")
    assert "in the layer: armvm-kmeta/armvm-guest-aarch64.scc, armvm-kmeta/armvm-guest-aarch64.cfg, armvm-required-aarch64.list" \
        in audit["detail"], audit
    local = (work / "build" / "conf" / "local.conf").read_text()
    assert 'MINE_SETTING = "from-my-project"' in local
    assert "repo/meta-mine" in (work / "build" / "conf" / "bblayers.conf").read_text()

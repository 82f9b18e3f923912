"""README command 1 (`armvm-oe build --arch aarch64`) from a real non-editable
install (tests/imagebuild/installed.py): in an empty directory, as root (refused,
then with the override it names) and as an ordinary user; and a user's own
project, a kas file that includes meta-armvm's config and adds a layer and a
local.conf line, through `build --check` in the real build container with the
stand-in bitbake (the real one: test_anywhere_mirrors.py).

The core repositories of the shipped configuration are whatever kas/ lists
(poky, or bitbake + openembedded-core + meta-yocto): the tests read them with
the config loader and point every one at the stand-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from armvm_oe.errors import ROOT_BUILD_UID
from installed import ROOT, installed_package, shipped_files
from standinpoky import git

pytestmark = pytest.mark.docker

USER = 1234                      # an ordinary user, not the image's (30000) nor root
NOWHERE = "file:///nonexistent/armvm-oe-test-mirror"


@pytest.fixture(scope="session")
def installed(other_user) -> Path:
    """A world-readable copy of the installed package (the other user reads it)."""
    pkg = Path(other_user._scratch) / "installed-site"
    shutil.copytree(installed_package(), pkg, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(pkg)], check=True)
    return pkg


def _env(installed: Path, cli_env: dict, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "KAS_WORK_DIR", "KAS_BUILD_DIR", "DL_DIR", "SSTATE_DIR",
                        "ARMVM_ALLOW_ROOT", "KAS_PREMIRRORS")}
    env.update(cli_env, NO_COLOR="1", PYTHONPATH=str(installed), PYTHONNOUSERSITE="1", **extra)
    # the installed package's own container definition (test_install.py shows
    # it computes the session image's tag); the frozen copy is root's only
    del env["ARMVM_SOURCE_DIR"]
    return env


def _docker_gid() -> int:
    from armvm_oe.container.engine import precheck_socket  # noqa: F401 - the engine is up
    return os.stat("/var/run/docker.sock").st_gid


def _run(args, cwd: Path, env: dict, user: int | None = None, other_user=None,
         timeout=900) -> subprocess.CompletedProcess:
    if user is None:
        cmd = [sys.executable, "-m", "armvm_oe", *map(str, args)]
    else:
        py = other_user.python(user, user)
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}",
               f"--groups={_docker_gid()}", "--", py, "-m", "armvm_oe", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=timeout)


def _empty_dir(parent: Path, owner: int | None) -> Path:
    d = parent / "empty"
    d.mkdir()
    d.chmod(0o755)
    if owner is not None:
        os.chown(d, owner, owner)
    return d


def _installed_is_not_a_checkout(installed: Path) -> None:
    pkg = installed / "armvm_oe"
    assert not (installed / "kas").exists() and (pkg / "_source" / "kas").is_dir()
    assert not (pkg / "_source" / "kas").is_symlink()
    assert shipped_files(pkg / "_source") == shipped_files(ROOT)


def test_root_in_an_empty_directory_refused_then_allowed(installed, tmp_path, cli_env,
                                                         builder_image):
    """As root: exit 2 naming --allow-root / ARMVM_ALLOW_ROOT=1 and nothing
    written; following it, the build gets past the preflight: the installed
    kas/ and meta-armvm/ land in ./armvm-oe, the caches are the build user's,
    and the checkout starts (it fails here only because the mirror URL points
    nowhere)."""
    if os.geteuid() != 0:
        pytest.skip("the root case needs root (CI runs as root; test_user_... covers users)")
    _installed_is_not_a_checkout(installed)
    work = _empty_dir(tmp_path, None)
    env = _env(installed, cli_env, KAS_PREMIRRORS=f"^https?://.* {NOWHERE}")
    r = _run(["build", "--arch", "aarch64", "--check"], work, env)
    assert r.returncode == 2, r.stderr
    assert "--allow-root" in r.stderr and "ARMVM_ALLOW_ROOT=1" in r.stderr
    assert "Traceback" not in r.stderr
    assert list(work.iterdir()) == []
    # the fix it names, both spellings
    for how in (["--allow-root"], []):
        e = dict(env) if how else dict(env, ARMVM_ALLOW_ROOT="1")
        r = _run(["build", "--arch", "aarch64", "--check", *how], work, e)
        assert r.returncode != 0, r.stderr      # the fetch from nowhere (exit 2 as well)
        assert "refuses to run as root" not in r.stderr
        assert "Cannot fetch repo" in r.stderr and NOWHERE in r.stderr, r.stderr
    shipped = work / "armvm-oe"
    assert shipped_files(shipped) == shipped_files(ROOT)
    assert shipped.stat().st_uid == 0            # read-only input: the caller's
    assert git("-C", str(shipped), "status", "--porcelain") == ""
    for d in ("downloads", "sstate-cache"):
        assert (work / d).stat().st_uid == ROOT_BUILD_UID, d
    assert work.stat().st_uid == 0               # the work dir keeps its owner


def test_user_in_an_empty_directory(installed, tmp_path, cli_env, builder_image, other_user):
    """An ordinary user (uid 1234 in the docker group) is not refused and gets
    past the preflight the same way; everything written is that user's."""
    if os.geteuid() != 0:
        work = _empty_dir(tmp_path, None)
        uid, run_as = os.getuid(), None
    else:
        parent = Path(other_user._scratch) / f"user-{os.getpid()}-{tmp_path.name}"
        parent.mkdir()
        parent.chmod(0o755)
        work = _empty_dir(parent, USER)
        uid, run_as = USER, USER
    env = _env(installed, cli_env, KAS_PREMIRRORS=f"^https?://.* {NOWHERE}", HOME=str(work.parent))
    r = _run(["build", "--arch", "aarch64", "--check"], work, env, run_as, other_user)
    assert r.returncode != 0, r.stderr
    assert "refuses" not in r.stderr and "Traceback" not in r.stderr
    assert "Cannot fetch repo" in r.stderr, r.stderr
    assert shipped_files(work / "armvm-oe") == shipped_files(ROOT)
    for p in [work / "armvm-oe", work / "downloads", work / "sstate-cache"]:
        assert p.stat().st_uid == uid, p


# --------------------------------------------------------------------------
# a user's own project

MY_IMAGE = """\
# my project: armvm-oe's aarch64 image plus my layer and one setting
header:
  version: 14
  includes:
    - repo: armvm-oe
      file: kas/armvm-aarch64.yml

repos:
  # the installed armvm-oe: 'armvm-oe build' writes its kas/ and meta-armvm/
  # to <work dir>/armvm-oe (a relative path is read from the work dir)
  armvm-oe:
    path: armvm-oe
  # this repository (no url, no path): its meta-mine/ is a layer
  my-project:
    layers:
      meta-mine:

local_conf_header:
  mine: |
    MINE_SETTING = "from-my-project"
"""

MINE_LAYER = """\
BBPATH .= ":${LAYERDIR}"
BBFILES += "${LAYERDIR}/recipes-*/*/*.bb ${LAYERDIR}/recipes-*/*/*.bbappend"
BBFILE_COLLECTIONS += "mine"
BBFILE_PATTERN_mine = "^${LAYERDIR}/"
BBFILE_PRIORITY_mine = "7"
LAYERDEPENDS_mine = "core armvm"
LAYERSERIES_COMPAT_mine = "scarthgap wrynose"
"""


def make_my_project(parent: Path) -> Path:
    """The user's own git repository: kas/my-image.yml and meta-mine/."""
    proj = parent / "my-project"
    (proj / "kas").mkdir(parents=True)
    (proj / "kas" / "my-image.yml").write_text(MY_IMAGE)
    (proj / "meta-mine" / "conf").mkdir(parents=True)
    (proj / "meta-mine" / "conf" / "layer.conf").write_text(MINE_LAYER)
    app = proj / "meta-mine" / "recipes-core" / "images"
    app.mkdir(parents=True)
    (app / "armvm-image.bbappend").write_text('MINE_APPENDED = "1"\n')
    git("init", "-q", "-b", "main", cwd=proj)
    git("add", "-A", cwd=proj)
    git("commit", "-q", "-m", "my project", cwd=proj)
    return proj


def core_repo_ids() -> list[str]:
    """The remote repositories the shipped aarch64 configuration lists."""
    from armvm_oe.kasconfig import load_config
    return [r.id for r in load_config(str(ROOT / "kas" / "armvm-aarch64.yml"),
                                      work_dir=Path("/nonexistent")).remote_repos]


def standin_overlay(url: str, sha: str, others: tuple[str, str] | None = None) -> str:
    """The core repositories -> the stand-in poky (bitbake/, meta/,
    meta-poky/, meta-yocto-bsp/ and oe-init-build-env in one tree). With
    the split layout (bitbake + openembedded-core + meta-yocto), only the
    repository that carries oe-init-build-env in reality gets the whole
    stand-in; the others get ``others`` = (url, commit), the same tree
    without it (kas refuses two init scripts)."""
    pins = {rid: (url, sha) if others is None or rid in ("poky", "openembedded-core")
            else others for rid in core_repo_ids()}
    lines = ["header:", "  version: 14", "repos:"]
    for rid, (u, _) in pins.items():
        lines += [f"  {rid}:", f"    url: {u}", "    branch: scarthgap"]
    lines += ["overrides:", "  repos:"]
    for rid, (_, s) in pins.items():
        lines += [f"    {rid}:", f"      commit: {s}"]
    return "\n".join(lines) + "\n"


def standin_without_init(url: str, parent: Path) -> tuple[str, str]:
    """(bare repo URL, commit) of the stand-in poky without oe-init-build-env."""
    tree = parent / "standin-noinit"
    subprocess.run(["git", "clone", "-q", url, str(tree)], check=True)
    git("rm", "-q", "oe-init-build-env", cwd=tree)
    git("commit", "-q", "-m", "stand-in without the init script", cwd=tree)
    bare = parent / "standin-noinit.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(tree), str(bare)], check=True)
    shutil.rmtree(tree)
    return f"file://{bare}", git("rev-parse", "HEAD", cwd=bare)


@pytest.mark.parametrize("caller", ["root", "user"])
def test_own_project_passes_build_check(caller, installed, tmp_path, cli_env, builder_image,
                                        fake_poky, other_user):
    """`armvm-oe build kas/my-image.yml --check` with the installed package:
    meta-armvm comes from ./armvm-oe, the user's layer and local.conf line
    reach bitbake's configuration in the container, and the check passes."""
    if caller == "root" and os.geteuid() != 0:
        pytest.skip("the root case needs root")
    url, sha = fake_poky
    if os.geteuid() == 0 and caller == "user":
        parent = Path(other_user._scratch) / f"own-{os.getpid()}-{tmp_path.name}"
        parent.mkdir()
        parent.chmod(0o755)
        run_as, uid = USER, USER
    else:
        parent, run_as = tmp_path, None
        uid = ROOT_BUILD_UID if os.geteuid() == 0 else os.getuid()
    proj = make_my_project(parent)
    others = standin_without_init(url, parent)
    (proj / "kas" / "standin.yml").write_text(standin_overlay(url, sha, others))   # test only
    git("add", "-A", cwd=proj)
    git("commit", "-q", "-m", "stand-in core repositories", cwd=proj)
    work = _empty_dir(parent, run_as)
    if run_as:
        # the user's own clone, and a stand-in bare repo the user can read
        bare = parent / "poky.git"
        shutil.copytree(url[len("file://"):], bare)
        (proj / "kas" / "standin.yml").write_text(standin_overlay(f"file://{bare}", sha, others))
        git("commit", "-q", "-a", "-m", "stand-in at a readable path", cwd=proj)
        subprocess.run(["chown", "-R", f"{USER}:{USER}", str(proj), str(bare),
                        others[0][len("file://"):]], check=True)
    env = _env(installed, cli_env, HOME=str(parent))
    args = ["build", f"{proj}/kas/my-image.yml:{proj}/kas/standin.yml", "--check", "--json"]
    if caller == "root":
        args.append("--allow-root")
    r = _run(args, work, env, run_as, other_user)
    assert r.returncode == 0, r.stderr[-4000:]
    rep = json.loads(r.stdout)
    assert rep["status"] == "succeeded" and all(c["ok"] for c in rep["check"]), rep["check"]
    assert rep["mode"] == "container"
    audit = next(c for c in rep["check"] if c["step"] == "kconfig-audit-inputs")
    assert "in the layer: armvm-kmeta/armvm-guest-aarch64.scc, armvm-kmeta/armvm-guest-aarch64.cfg, armvm-required-aarch64.list" \
        in audit["detail"], audit                   # found in ./armvm-oe/meta-armvm
    # meta-armvm from ./armvm-oe (the installed version), the user's layer and line
    assert shipped_files(work / "armvm-oe") == shipped_files(ROOT)
    repos = {x["id"]: x for x in rep["lock"]["repos"]}
    assert set(core_repo_ids()) <= set(repos) and "armvm-oe" in repos
    bblayers = (work / "build" / "conf" / "bblayers.conf").read_text()
    assert "armvm-oe/meta-armvm" in bblayers and "repo/meta-mine" in bblayers, bblayers
    local = (work / "build" / "conf" / "local.conf").read_text()
    assert 'MINE_SETTING = "from-my-project"' in local
    assert 'MACHINE ??= "armvm-aarch64"' in local
    # kas ran as the build user: what it wrote is that user's
    assert (work / "build" / "conf" / "local.conf").stat().st_uid == uid

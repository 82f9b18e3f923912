"""armvm-oe checkout / status / lock against real git remotes and real kas."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import gitgen
import pytest
from conftest import (big_config, checkout_json, make_project, run_armvm, run_kas,
                      with_init_script)

from armvm_oe import kasconfig


def _git(path, *args):
    return gitgen.git(*args, cwd=path)


def test_cold_checkout_is_shallow_and_kas_fetches_nothing_after(project):
    r, data = checkout_json(project)
    assert r.returncode == 0, r.stderr
    poky = next(x for x in data["repos"] if x["id"] == "openembedded-core")
    pin = project.remotes["openembedded-core"].head()
    assert (poky["action"], poky["fetch"], poky["commit"]) == ("cloned", "shallow", pin)
    path = project.work / "openembedded-core"
    assert _git(path, "rev-parse", "--is-shallow-repository") == "true"
    assert _git(path, "rev-parse", "--abbrev-ref", "HEAD") == "scarthgap"
    assert _git(path, "rev-parse", "origin/scarthgap") == pin
    assert _git(path, "remote", "get-url", "origin") == project.remotes["openembedded-core"].url
    assert not list(project.work.glob(".openembedded-core.armvm-oe-partial.*"))
    # plain lines on a non-TTY
    assert "openembedded-core: fetching" in r.stderr and "openembedded-core: checked out" in r.stderr

    # the remote disappears: kas must find everything locally
    project.remotes["openembedded-core"].hide()
    k = run_kas("checkout", project.config(), work=project.work)
    assert k.returncode == 0, k.stderr
    assert _git(path, "rev-parse", "HEAD") == pin
    bblayers = (project.work / "build/conf/bblayers.conf").read_text()
    listed = [project.work / "build" / m.replace("${TOPDIR}/", "")
              for m in re.findall(r"\$\{TOPDIR\}/[^\s\"]+", bblayers)]
    expected = kasconfig.load_config(project.config(), work_dir=project.work).bblayers()
    assert [Path(os.path.normpath(p)) for p in listed] == expected

    # and a second armvm-oe run does no network work either
    r2, data2 = checkout_json(project)
    assert r2.returncode == 0, r2.stderr
    assert {x["id"]: (x["action"], x["fetch"]) for x in data2["repos"]}["openembedded-core"] == \
        ("present", "none")


def test_wrynose_split_repos(tmp_path, wrynose_remotes):
    proj = make_project(tmp_path, wrynose_remotes)
    cfg = proj.config(wrynose=True)
    r, data = checkout_json(proj, config=cfg)
    assert r.returncode == 0, r.stderr
    for rid, rem in wrynose_remotes.items():
        path = kasconfig.load_config(cfg, work_dir=proj.work).repo(rid).path
        assert _git(path, "rev-parse", "HEAD") == rem.head()
    assert (proj.work / "bitbake").is_dir() and (proj.work / "meta-yocto/meta-poky").is_dir()
    for rem in wrynose_remotes.values():
        rem.hide()
    k = run_kas("checkout", cfg, work=proj.work)
    assert k.returncode == 0, k.stderr


def test_fallback_to_full_fetch_when_server_refuses_sha(tmp_path):
    # an old-protocol (v0) server without allow*SHA1InWant refuses 'want <sha>'
    bare = gitgen.make_bare(tmp_path / "old.git", commits=20, allow_sha_want=False)
    pin = gitgen.head(bare, "main~3")
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"header:\n  version: 14\nrepos:\n  old:\n    url: {bare.as_uri()}\n"
                   f"    branch: main\n    commit: {pin}\n  this:\n")
    with_init_script(tmp_path)
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.version",
           "GIT_CONFIG_VALUE_0": "0"}
    r = run_armvm("checkout", cfg, "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "refused a fetch by commit id" in r.stderr
    old = json.loads(r.stdout)["repos"][0]
    assert (old["fetch"], old["commit"]) == ("full", pin)
    assert _git(tmp_path / "old", "rev-parse", "--is-shallow-repository") == "false"
    assert _git(tmp_path / "old", "rev-parse", "HEAD") == pin


@pytest.mark.parametrize("how", ["--mirror-dir", "KAS_REPO_REF_DIR"])
def test_mirror_dir_for_air_gapped_sites(project, tmp_path, how):
    mirrors = tmp_path / "mirrors"
    mirrors.mkdir()
    # kas's naming for KAS_REPO_REF_DIR entries: <netloc><path> with '/' -> '.'
    from armvm_oe.gitcheckout import qualified_name
    rem = project.remotes["openembedded-core"]
    subprocess.run(["git", "clone", "-q", "--bare", str(rem.bare),
                    str(mirrors / qualified_name(rem.url))], check=True)
    pin = rem.head()
    rem.hide()
    args, env = (["--mirror-dir", mirrors], {}) if how == "--mirror-dir" else \
        ([], {"KAS_REPO_REF_DIR": str(mirrors)})
    r, data = checkout_json(project, *args, env=env)
    assert r.returncode == 0, r.stderr
    poky = next(x for x in data["repos"] if x["id"] == "openembedded-core")
    assert (poky["fetch"], poky["bytes"], poky["commit"]) == ("mirror", 0, pin)


def test_unreachable_remote_names_repo_url_and_git_message(project):
    project.remotes["openembedded-core"].hide()
    r = run_armvm("checkout", project.config(), cwd=project.work,
                  env={"KAS_WORK_DIR": str(project.work)})
    assert r.returncode == 2
    err = r.stderr
    assert "'openembedded-core'" in err and project.remotes["openembedded-core"].url in err
    assert "git said:" in err and "does not appear to be a git repository" in err
    assert "armvm-oe doctor" in err and "Traceback" not in err
    assert not (project.work / "openembedded-core").exists()
    assert not list(project.work.glob(".openembedded-core.armvm-oe-partial.*"))


def test_dirty_tree_is_never_touched_force_stashes(project):
    r, _ = checkout_json(project)
    assert r.returncode == 0, r.stderr
    path = project.work / "openembedded-core"
    old = _git(path, "rev-parse", "HEAD")
    (path / "meta/conf/layer.conf").write_text("# my local edit\n")
    new = gitgen.add_commit(project.remotes["openembedded-core"].bare, "scarthgap", "upstream moved")
    overlay = project.root / "test-remotes.yml"
    overlay.write_text(overlay.read_text().replace(old, new))

    r = run_armvm("checkout", project.config(), cwd=project.work,
                  env={"KAS_WORK_DIR": str(project.work)})
    assert r.returncode == 1
    assert "meta/conf/layer.conf" in r.stderr and "--force" in r.stderr
    assert _git(path, "rev-parse", "HEAD") == old
    assert (path / "meta/conf/layer.conf").read_text() == "# my local edit\n"
    st = json.loads(run_armvm("status", project.config(), "--json", cwd=project.work,
                              env={"KAS_WORK_DIR": str(project.work)}).stdout)
    poky = next(x for x in st["repos"] if x["id"] == "openembedded-core")
    assert (poky["state"], poky["dirty"], poky["pinned"], poky["actual"]) == \
        ("wrong-commit", True, new, old)

    r, data = checkout_json(project, "--force")
    assert r.returncode == 0, r.stderr
    poky = next(x for x in data["repos"] if x["id"] == "openembedded-core")
    assert poky["action"] == "updated" and poky["commit"] == new
    assert "armvm-oe checkout" in poky["stash"]
    assert poky["stash"].split(": ", 1)[1] in _git(path, "stash", "list")
    assert "stashed 1 changed file" in r.stderr
    assert _git(path, "status", "--porcelain") == ""


def test_lock_update_pins_branch_head(project):
    cfg = project.root / "kas/armvm-aarch64.yml"
    # a project whose repo is pinned only by the lock file
    overlay = project.root / "test-remotes.yml"
    rem = project.remotes["openembedded-core"]
    new = gitgen.add_commit(rem.bare, "scarthgap", "upstream moved")
    overlay.write_text("header:\n  version: 14\nrepos:\n" + "".join(
        f"  {rid}:\n    url: {r.url}\n" for rid, r in project.remotes.items()))
    gitgen.git("commit", "-qam", "overlay: url only", cwd=project.root)
    lock = project.root / "kas/armvm-aarch64.lock.yml"
    before = lock.read_text()
    r = run_armvm("lock", "--update", "--json", project.config(), cwd=project.root)
    assert r.returncode == 0, r.stderr
    ch = json.loads(r.stdout)["repos"][0]
    ch = next(c for c in json.loads(r.stdout)["repos"] if c["id"] == "openembedded-core")
    assert (ch["new"], ch["changed"], ch["tag"]) == (new, True, None)   # no release tag: head
    assert ch["lock_file"] == str(lock) and lock.read_text() != before
    # kas itself reads the new lock file
    from kas.includehandler import ConfigFile
    assert ConfigFile.load(str(lock)).config["overrides"]["repos"]["openembedded-core"]["commit"] == new
    assert kasconfig.load_config(project.config(), work_dir=project.work).repo(
        "openembedded-core").commit == new
    r, data = checkout_json(project)
    assert r.returncode == 0, r.stderr
    assert {x["id"]: x["commit"] for x in data["repos"]}["openembedded-core"] == new


def test_existing_non_git_directory_is_not_overwritten(project):
    (project.work / "openembedded-core").mkdir()
    (project.work / "openembedded-core" / "precious.txt").write_text("x")
    r = run_armvm("checkout", project.config(), cwd=project.work,
                  env={"KAS_WORK_DIR": str(project.work)})
    assert r.returncode == 1 and "is not a git checkout" in r.stderr
    assert (project.work / "openembedded-core" / "precious.txt").read_text() == "x"


def test_progress_bar_on_a_tty(tmp_path, big_remote):
    pexpect = pytest.importorskip("pexpect")
    cfg = big_config(tmp_path, big_remote)
    env = dict(os.environ, NO_COLOR="1", COLUMNS="120")
    child = pexpect.spawn(sys.executable, ["-m", "armvm_oe", "checkout", str(cfg)],
                          cwd=str(tmp_path), env=env, timeout=120, dimensions=(24, 120))
    child.expect(pexpect.EOF)
    child.close()
    out = child.before.decode(errors="replace")
    assert child.exitstatus == 0, out
    # tqdm: "big:  52%|#####     | 210/401 [00:00<00:00, ... obj/s, 6.1 MiB]"
    assert re.search(r"big:?\s+\d+%\|", out), out[-2000:]
    assert re.search(r"\d+/\d+ \[", out) and "obj/s" in out and "MiB" in out


THROTTLE = """#!/bin/sh
# uploadpack.packObjectsHook: serve the pack slowly so a test can kill mid-transfer
"$@" | "{py}" -c 'import sys, time
i, o = sys.stdin.buffer, sys.stdout.buffer
while True:
    b = i.read1(32768)
    if not b:
        break
    o.write(b); o.flush(); time.sleep(0.02)'
"""


def _throttled_env(tmp_path: Path) -> dict:
    hook = tmp_path / "throttle.sh"
    hook.write_text(THROTTLE.replace("{py}", sys.executable))
    hook.chmod(0o755)
    gcfg = tmp_path / "gitconfig"
    gcfg.write_text(f"[uploadpack]\n\tpackObjectsHook = {hook}\n")
    return {"GIT_CONFIG_GLOBAL": str(gcfg)}


def _wait_for(cond, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = cond()
        if found:
            return found
        time.sleep(0.005)
    raise AssertionError("condition not reached")


KILL_POINTS = ["partial-dir-created", "mid-transfer", "after-fetch"]
REPEAT = int(os.environ.get("ARMVM_KILL_REPEAT", "1"))


@pytest.mark.parametrize("round_", range(REPEAT))
@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_mid_clone_then_next_run_succeeds(tmp_path, big_remote, point, round_):
    cfg = big_config(tmp_path, big_remote)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, NO_COLOR="1", KAS_WORK_DIR=str(work), **_throttled_env(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "armvm_oe", "checkout", str(cfg)],
                            cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)

    def partial():
        found = list(work.glob(".big.armvm-oe-partial.*"))
        return found[0] if found else None

    def packing():
        p = partial()
        return p and any(f.stat().st_size > 256 * 1024
                         for f in (p / ".git/objects/pack").glob("tmp_pack_*"))

    def fetched():
        p = partial()
        return p and (p / ".git/shallow").exists()

    try:
        _wait_for({"partial-dir-created": partial, "mid-transfer": packing,
                   "after-fetch": fetched}[point])
    finally:
        os.killpg(proc.pid, signal.SIGKILL)   # the whole group: armvm-oe, git, upload-pack
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # nothing that looks like a checkout was left in place
    assert not (work / "big").exists()
    assert partial() is not None

    r = run_armvm("checkout", cfg, "--json", cwd=work, env={"KAS_WORK_DIR": str(work)})
    assert r.returncode == 0, r.stderr
    assert "left by an interrupted checkout" in r.stderr
    assert _git(work / "big", "rev-parse", "HEAD") == big_remote.head()
    assert _git(work / "big", "status", "--porcelain") == ""
    assert partial() is None
    shutil.rmtree(work)

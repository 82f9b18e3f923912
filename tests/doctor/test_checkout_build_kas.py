"""Checkout, build-directory and kas checks, each made to fire by a real
broken checkout or build directory (real git repos, real lock files)."""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _need import need_fixture

from armvm_oe.doctor import run_checks
from tests.doctor.conftest import fired, git, have_user


def test_healthy_project_is_quiet(project):
    from armvm_oe.doctor import facts
    ctx = project.context(groups=("checkout", "build", "kas"))
    assert run_checks(ctx) == []
    # it was really checked: the project loaded, with both repos and the core found
    proj = facts.project(ctx)
    assert proj is not None and {r.id for r in proj.repos} == {"poky", "meta-extra"}
    assert facts.core_dir(ctx) == project.work / "poky"
    assert facts.release_of(ctx).name == "scarthgap"


# ---------------------------------------------------------------- checkout

def test_missing_poky_cascade(project):
    shutil.rmtree(project.work / "poky")
    res = run_checks(project.context(groups=("checkout",)))
    assert [r.id for r in res] == ["checkout.missing-poky-cascade"]
    msg = res[0].message
    assert "cd: poky: No such file or directory" in msg and "first cause" in msg
    assert res[0].commands[-1].startswith("armvm-oe checkout ")


def test_missing_poky_cascade_names_git_protocol(project):
    shutil.rmtree(project.work / "poky")
    project.write_config(urls={"poky": "git://git.yoctoproject.org/poky"})
    res = fired(project.context(), "checkout.missing-poky-cascade")
    assert res and "git://" in res[0].message and "9418" in res[0].message


def _killed_clone(bare: Path, dest: Path):
    """Start a real clone and SIGKILL it while it waits for the server."""
    p = subprocess.Popen(["git", "clone", "--upload-pack", "sleep 30; git-upload-pack",
                          f"file://{bare}", str(dest)], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if (dest / ".git" / "HEAD").exists():
                break
            time.sleep(0.05)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert (dest / ".git").is_dir()


def test_incomplete_clone(project):
    shutil.rmtree(project.work / "meta-extra")
    _killed_clone(project.repos["meta-extra"][0], project.work / "meta-extra")
    res = fired(project.context(), "checkout.incomplete-clone")
    assert res and "no commit" in res[0].message and res[0].fatal


def test_killed_core_clone_is_the_cascade(project):
    shutil.rmtree(project.work / "poky")
    _killed_clone(project.repos["poky"][0], project.work / "poky")
    res = fired(project.context(), "checkout.missing-poky-cascade")
    assert res and "interrupted clone" in res[0].message


def test_interrupted_checkout_work_tree(project):
    """Clone finished but the work tree was never written (checkout killed)."""
    d = project.work / "meta-extra"
    for f in ("conf/layer.conf", "README"):
        (d / f).unlink()
    res = fired(project.context(), "checkout.incomplete-clone")
    assert res and "missing from the work tree" in res[0].message
    assert not fired(project.context(), "checkout.dirty")


def test_repo_missing(project):
    shutil.rmtree(project.work / "meta-extra")
    res = run_checks(project.context(groups=("checkout",)))
    assert [r.id for r in res] == ["checkout.repo-missing"]


def test_not_git(project):
    shutil.rmtree(project.work / "meta-extra" / ".git")
    assert fired(project.context(), "checkout.not-git")


def test_wrong_commit(project):
    """The fix checks out the pinned commit (not the one the repo is at),
    and running it makes the check pass."""
    commits = project.repos["meta-extra"][1]
    first, pinned = commits[0], commits[-1]
    assert first != pinned
    repo = project.work / "meta-extra"
    git("checkout", "-q", first, cwd=repo)
    res = fired(project.context(), "checkout.wrong-commit")
    assert res and first[:12] in res[0].message and pinned[:12] in res[0].message
    assert res[0].commands == [f"git -C {repo} checkout {pinned}"]
    subprocess.run(res[0].commands[0], shell=True, check=True, capture_output=True)
    assert git("rev-parse", "HEAD", cwd=repo).stdout.strip() == pinned
    assert not fired(project.context(), "checkout.wrong-commit")


def test_dirty(project):
    (project.work / "meta-extra" / "README").write_text("local edit\n")
    res = fired(project.context(), "checkout.dirty")
    assert res and "is dirty - no checkout" in res[0].message and "README" in res[0].message


def test_dubious_ownership(project):
    if os.geteuid() != 0 or not have_user("builder"):
        need_fixture("needs root and the builder user (CI)")
    uid = pwd.getpwnam("builder").pw_uid
    for p in [project.work / "meta-extra", *(project.work / "meta-extra").rglob("*")]:
        os.lchown(p, uid, uid)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_CONFIG")}
    env["HOME"] = str(project.base)  # no safe.directory from the real ~/.gitconfig
    res = fired(project.context(env=env), "checkout.dubious-ownership")
    assert res and "uid" in res[0].message


def test_layer_missing(project):
    project.write_config(extra_layers=("meta-nope",))
    res = fired(project.context(), "checkout.layer-missing")
    assert res and "meta-nope" in res[0].message


def test_layerseries(tmp_path, project):
    from tests.doctor.conftest import make_layer_repo
    project.repos["meta-old"] = make_layer_repo(tmp_path, "meta-old", series="kirkstone")
    project.write_config()
    project.checkout("meta-old")
    res = fired(project.context(), "checkout.layerseries")
    assert res and "kirkstone" in res[0].message and "scarthgap" in res[0].message


def test_git_protocol(project):
    project.write_config(urls={"meta-extra": "git://git.yoctoproject.org/meta-extra"})
    res = fired(project.context(), "checkout.git-protocol")
    assert res and "https://git.yoctoproject.org/git/meta-extra" in res[0].message
    assert "insteadOf" in res[0].commands[0]


def test_remote_unreachable_only_with_network(project, tmp_path):
    project.write_config(urls={"meta-extra": f"file://{tmp_path}/gone.git",
                               "poky": "git://127.0.0.1:9/poky"})
    assert not fired(project.context(), "checkout.remote-unreachable")
    res = fired(project.context(network=True), "checkout.remote-unreachable")
    assert {r.message.split("'")[1] for r in res} == {"meta-extra", "poky"}
    assert any("127.0.0.1:9" in r.message for r in res)


def test_proxy_passthrough(project):
    env = dict(os.environ)
    for v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(v, None)
    env["HTTPS_PROXY"] = "http://proxy.example:3128"
    res = fired(project.context(env=env), "checkout.proxy-passthrough")
    assert res and "https_proxy" in res[0].message
    env2 = dict(env, https_proxy="http://proxy.example:3128", http_proxy="http://p:3128")
    project.write_config(urls={"meta-extra": "git://git.example.org/meta-extra"})
    res = fired(project.context(env=env2), "checkout.proxy-passthrough")
    assert res and "ignores the http(s) proxy" in res[-1].message


# ---------------------------------------------------------------- build dir

def test_bblayers_missing(project):
    conf = project.build / "conf" / "bblayers.conf"
    conf.write_text(conf.read_text().replace("meta-extra", "meta-moved"))
    res = fired(project.context(), "build.bblayers-missing")
    assert res and "meta-moved" in res[0].message


def test_stale_lock_with_dead_pid(project):
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # a real pid that is gone
    (project.build / "bitbake.lock").write_text(f"{p.pid}\n")
    res = fired(project.context(), "build.stale-lock")
    assert res and str(p.pid) in res[0].message
    assert "rm -f" in res[0].commands[0]
    assert not fired(project.context(), "build.lock-held")


def test_lock_held(project):
    lock = project.build / "bitbake.lock"
    code = ("import fcntl,os,sys,time\nf=open(sys.argv[1],'a+')\nfcntl.flock(f,fcntl.LOCK_EX)\n"
            "f.write(str(os.getpid())+'\\n');f.flush()\nprint('locked',flush=True)\ntime.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        res = fired(project.context(), "build.lock-held")
        assert res and str(p.pid) in res[0].message
        assert not fired(project.context(), "build.stale-lock")
    finally:
        p.kill()
        p.wait()


def test_tmpdir_moved(project):
    (project.build / "tmp").mkdir()
    (project.build / "tmp" / "saved_tmpdir").write_text("/old/place/build/tmp\n")
    res = fired(project.context(), "build.tmpdir-moved")
    assert res and "/old/place/build/tmp" in res[0].message
    (project.build / "tmp" / "saved_tmpdir").write_text(str(project.build / "tmp") + "\n")
    assert not fired(project.context(), "build.tmpdir-moved")


def test_abi_version(project):
    (project.build / "tmp").mkdir()
    (project.build / "tmp" / "abi_version").write_text("14\n")
    res = fired(project.context(), "build.abi-version")
    assert res and "14" in res[0].message and "15" in res[0].message


def test_lconf_version(project):
    conf = project.build / "conf" / "bblayers.conf"
    conf.write_text('LCONF_VERSION = "6"\n' + conf.read_text())
    res = fired(project.context(), "build.lconf-version")
    assert res and "LCONF_VERSION 6" in res[0].message and "7" in res[0].message


def test_conf_version(project):
    (project.build / "conf" / "local.conf").write_text('CONF_VERSION = "1"\n')
    res = fired(project.context(), "build.conf-version")
    assert res and "CONF_VERSION 1" in res[0].message


def test_path_chars(tmp_path):
    from armvm_oe.doctor import Context
    b = tmp_path / "my builds" / "build"
    b.mkdir(parents=True)
    res = fired(Context(build_dir=b), "build.path-chars")
    assert res and "' '" in res[0].message
    assert not fired(Context(build_dir=tmp_path / "b"), "build.path-chars")


def test_path_length(tmp_path):
    from armvm_oe.doctor import Context
    b = tmp_path / ("x" * 200) / ("y" * 200) / "build"
    assert fired(Context(build_dir=b), "build.path-length")


def test_tilde_path(project):
    (project.build / "conf" / "local.conf").write_text('DL_DIR = "~/downloads"\n')
    res = fired(project.context(), "build.tilde-path")
    assert res and "DL_DIR" in res[0].message


def test_dl_dir_broken_symlink(project, tmp_path):
    link = tmp_path / "downloads"
    link.symlink_to(tmp_path / "not-mounted")
    env = dict(os.environ, DL_DIR=str(link))
    res = fired(project.context(env=env), "build.dl-dir")
    assert res and "broken symlink" in res[0].message


# ---------------------------------------------------------------- kas

def test_kas_schema(project):
    project.write_config(extra_text="colour: blue\n")
    res = run_checks(project.context(groups=("kas",)))
    assert [r.id for r in res] == ["kas.schema"]
    assert "colour" in res[0].message


def test_kas_header_version(project):
    project.write_config(header_version=99)
    res = run_checks(project.context(groups=("kas",)))
    assert [r.id for r in res] == ["kas.header-version"]
    assert "99" in res[0].message


def test_kas_yaml(project):
    project.config.write_text("header:\n  version: 14\nrepos:\n\t- bad\n")
    res = run_checks(project.context(groups=("kas",)))
    assert [r.id for r in res] == ["kas.yaml"]


def test_kas_config_missing(project):
    from armvm_oe.doctor import Context
    ctx = Context(kas_config=str(project.base / "nope.yml"), work_dir=project.work)
    res = fired(ctx, "kas.config-missing")
    assert res


def test_kas_not_on_path(project):
    res = fired(project.context(env={"PATH": "/nonexistent"}), "kas.installed")
    assert res
    assert not fired(project.context(), "kas.installed")


def test_last_failure_from_the_error_report(project):
    """bitbake's error report of the last build (report-error.bbclass JSON)
    is diagnosed; a newer console log (a later build) supersedes it."""
    import json
    rep = project.build / "tmp" / "log" / "error-report" / "error_report_20260101120000.txt"
    rep.parent.mkdir(parents=True)
    rep.write_text(json.dumps({"failures": [{
        "recipe": "foo", "package": "foo-1.0-r0", "task": "do_fetch",
        "log": "ERROR: foo-1.0-r0 do_fetch: Fetcher failure for URL: "
               "'https://example.org/foo.tgz'. Checksum mismatch!\n"}]}))
    res = fired(project.context(), "build.last-failure")
    assert res and "log.checksum-mismatch" in res[0].message
    assert "DL_DIR" in res[0].fix and res[0].path == str(rep)
    console = project.build / "tmp" / "log" / "cooker" / "qemuarm64" / "console-latest.log"
    console.parent.mkdir(parents=True)
    console.write_text("NOTE: Tasks Summary: Attempted 9 tasks of which 9 didn't need to be "
                       "rerun and all succeeded.\n")
    later = rep.stat().st_mtime + 3600
    os.utime(console, (later, later))
    assert not fired(project.context(), "build.last-failure")

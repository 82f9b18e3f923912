"""`armvm-oe build --host` end to end with the real kas 5.5, the real
checkout and doctor, and a recording stand-in for bitbake (conftest.py) that
prints knotty's real output formats and deploys real artifacts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest

from armvm_oe.imagebuild.report import REPORT_SCHEMA
from armvm_oe.lib import sha256_file

from standinpoky import git, make_project, skip_root  # noqa: E402  (tests/imagebuild/standinpoky.py)


def build(armvm, work: Path, *args, env=None, timeout=300):
    work.mkdir(parents=True, exist_ok=True)
    return armvm("build", "--host", *skip_root(), *args, cwd=work, env=env, timeout=timeout)


def test_build_end_to_end_with_scaleout_and_avh(armvm, tmp_path, project, fake_poky):
    _url, sha = fake_poky
    work = tmp_path / "work"
    mirror = tmp_path / "sstate-mirror"
    mirror.mkdir()
    r = build(armvm, work, str(project / "kas" / "test-aarch64.yml"), "--json",
              "--sstate-mirror", f"file://{mirror}", "--hashserv-upstream",
              "hashserv.example.org:8687", "--prserv", "prserv.example.org:8585",
              "--avh", "kronos", "--dl-dir", str(tmp_path / "dl"))
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(r.stdout)
    jsonschema.validate(rep, REPORT_SCHEMA)
    build_dir = work / "build"
    assert json.loads((build_dir / "build-report.json").read_text()) == rep

    # checkout at the lock, then kas ran the stand-in bitbake as kas build does
    assert git("rev-parse", "HEAD", cwd=work / "poky") == sha
    rec = json.loads((build_dir / "standin-bitbake.json").read_text())
    assert rec["argv"][0] == str(work / "poky" / "bitbake" / "bin" / "bitbake")
    assert rec["argv"][1:] == ["-c", "build", "armvm-image"]
    assert rec["cwd"] == str(build_dir)
    assert 'MACHINE ??= "armvm-aarch64"' in rec["local_conf"]
    # scale-out: the overlay's lines in local.conf, its variables in bitbake's env
    assert "BB_HASHSERVE_UPSTREAM" in rec["local_conf"] and "PRSERV_HOST" in rec["local_conf"]
    assert rec["env"]["ARMVM_SSTATE_MIRROR"] == f"file://{mirror}"
    assert rec["env"]["ARMVM_HASHSERV_UPSTREAM"] == "hashserv.example.org:8687"
    assert rec["env"]["ARMVM_PRSERV"] == "prserv.example.org:8585"
    assert "ARMVM_PRSERV" in rec["env"]["BB_ENV_PASSTHROUGH_ADDITIONS"].split()
    assert rec["env"]["DL_DIR"] == str(tmp_path / "dl")
    assert rep["scaleout"]["hashserv_upstream"] == "hashserv.example.org:8687"

    # the report
    assert rep["status"] == "succeeded" and rep["mode"] == "host" and rep["arch"] == "aarch64"
    assert rep["versions"]["kas"] == "5.5" and rep["versions"]["bitbake"] == "2.8.1"
    assert rep["lock"]["repos"][1]["commit"] == sha and rep["lock"]["repos"][1]["locked"]
    assert any(f.endswith("test-aarch64.lock.yml") for f in rep["lock"]["files"])
    assert rep["progress"]["summary"] == {"attempted": 12, "not_rerun": 0, "failed": 0,
                                          "succeeded": True}
    assert rep["progress"]["tasks"] == [12, 12]
    kinds = {a["kind"] for a in rep["artifacts"]}
    assert {"wic", "bmap", "kernel", "grub-efi", "dtb"} <= kinds
    for a in rep["artifacts"]:
        assert a["sha256"] == sha256_file(Path(a["path"])), a["name"]
    assert rep["wic"].endswith("armvm-image-armvm-aarch64.rootfs.wic")
    assert rep["verify"]["status"] == "passed", rep["verify"]["summary"]
    # the full log is kept
    log = Path(rep["log"]).read_text()
    assert "NOTE: Running noexec task 12 of 12" in log and "kas 5.5 started" in log

    # the AVH package from the deployed Image, DTB and the .wic as virtio_0
    avh = rep["avh"]
    assert avh["device"] == "kronos" and avh["check_ok"], avh["problems"]
    with zipfile.ZipFile(avh["path"]) as zf:
        assert zf.namelist() == ["Info.plist", "kernel", "devicetree", "virtio_0"]
        assert zf.getinfo("virtio_0").file_size == Path(rep["wic"]).stat().st_size
    chk = armvm("avh", "check", "--json", avh["path"])
    assert chk.returncode == 0 and json.loads(chk.stdout)["device"] == "kronos"


def test_failed_build_is_diagnosed(armvm, tmp_path, fake_poky):
    url, sha = fake_poky
    proj = make_project(tmp_path, url, sha, mode="fetch-failure")
    work = tmp_path / "work"
    r = build(armvm, work, str(proj / "kas" / "test-aarch64.yml"))
    assert r.returncode == 1
    err = r.stderr
    # the last lines, then doctor's log diagnosis naming the first real cause
    assert "last" in err and "Fetcher failure for URL" in err
    assert "log.fetcher-failure" in err
    assert err.index("| ") < err.index("diagnosis")
    assert "The build failed (kas exit" in err
    rep = json.loads((work / "build" / "build-report.json").read_text())
    jsonschema.validate(rep, REPORT_SCHEMA)
    assert rep["status"] == "failed" and rep["verify"] is None and rep["artifacts"] == []
    first = rep["failure"]["first_cause"]
    assert first["id"] == "log.fetcher-failure"
    # the failed task's own line: recipe, task and URL
    assert (first["recipe"], first["task"], first["url"]) == (
        "armvm-image", "do_fetch", "https://downloads.example.invalid/armvm/firmware-1.0.tar.gz")
    assert "recipe armvm-image" in first["cause"]
    assert len(rep["failure"]["failed_tasks"]) == rep["progress"]["summary"]["failed"] == 1
    assert rep["failure"]["failed_tasks"][0].endswith("armvm-image.bb:do_fetch")
    assert rep["progress"]["summary"]["failed"] == 1
    # the diagnosis followed the task log the failure names (doctor's scan)
    sources = [e["source"] for f in rep["failure"]["diagnosis"] for e in f.get("evidence", [])]
    assert any(s.endswith("log.do_fetch.4242") for s in sources), sources


def test_preflight_stops_before_checkout(armvm, tmp_path, project):
    """A fatal doctor result (local.conf path starting with '~', which bitbake
    does not expand) stops the build before the checkout and before kas."""
    work = tmp_path / "work"
    conf = work / "build" / "conf"
    conf.mkdir(parents=True)
    (conf / "local.conf").write_text('DL_DIR = "~/yocto/downloads"\n')
    r = build(armvm, work, str(project / "kas" / "test-aarch64.yml"))
    assert r.returncode == 1
    assert "build.tilde-path" in r.stderr and "the build was not started" in r.stderr
    assert not (work / "poky").exists()
    assert not (work / "build" / "standin-bitbake.json").exists()
    # --skip-check overrides exactly that check
    r = build(armvm, work, str(project / "kas" / "test-aarch64.yml"), "--skip-check",
              "build.tilde-path", "--no-verify")
    assert r.returncode == 0, r.stderr[-2000:]


def test_dirty_pinned_repo_stops(armvm, tmp_path, project, fake_poky):
    url, sha = fake_poky
    work = tmp_path / "work"
    work.mkdir()
    git("clone", "-q", url, str(work / "poky"))
    git("checkout", "-q", "HEAD~0", cwd=work / "poky")
    (work / "poky" / "oe-init-build-env").write_text("# local change\n")
    # a second commit upstream is not needed: a dirty tree at another branch head
    git("checkout", "-q", "-B", "other", cwd=work / "poky")
    r = build(armvm, work, str(project / "kas" / "test-aarch64.yml"))
    if r.returncode == 0:
        pytest.fail("a dirty pinned repo must not be built: " + r.stderr[-2000:])
    assert r.returncode == 1
    assert "checkout.dirty" in r.stderr or "local changes" in r.stderr
    assert not (work / "build" / "standin-bitbake.json").exists()


def test_ctrl_c_returns_130_and_stops_bitbake(tmp_path, fake_poky):
    url, sha = fake_poky
    proj = make_project(tmp_path, url, sha, mode="slow")
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, NO_COLOR="1")
    p = subprocess.Popen([sys.executable, "-m", "armvm_oe", "build", "--host", *skip_root(),
                          str(proj / "kas" / "test-aarch64.yml")], cwd=work, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = work / "build" / "armvm-oe-logs" / "build-latest.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.exists() and "Running task 2 of 12" in log.read_text(errors="replace"):
            break
        if p.poll() is not None:
            pytest.fail("build ended early: " + p.stderr.read()[-2000:])
        time.sleep(0.2)
    else:
        p.kill()
        pytest.fail("the stand-in never reached task 2")
    standin_pid = json.loads((work / "build" / "standin-bitbake.json").read_text())["pid"]
    p.send_signal(signal.SIGINT)
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err[-2000:]
    assert "interrupted" in err
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(standin_pid, 0)
    assert (work / "build" / "build-report.json").exists(), err[-3000:]
    rep = json.loads((work / "build" / "build-report.json").read_text())
    assert rep["status"] == "interrupted" and rep["exit_code"] == 130
    jsonschema.validate(rep, REPORT_SCHEMA)


def test_arch_and_scaleout_usage_errors(armvm, tmp_path, project):
    work = tmp_path / "work"
    r = build(armvm, work, "--arch", "arm", str(project / "kas" / "test-aarch64.yml"))
    assert r.returncode == 2 and "does not match" in r.stderr
    r = build(armvm, work, "--hashserv", "nohost", str(project / "kas" / "test-aarch64.yml"))
    assert r.returncode == 2 and "HOST:PORT" in r.stderr
    r = build(armvm, work, "--sstate-mirror", "ftp://x/y",
              str(project / "kas" / "test-aarch64.yml"))
    assert r.returncode == 2 and "http(s)://" in r.stderr
    r = build(armvm, work, "--hashserv", "a:1", "--hashserv-upstream", "b:2",
              str(project / "kas" / "test-aarch64.yml"))
    assert r.returncode == 2 and "exclude each other" in r.stderr


def test_a_crashing_verify_step_is_a_failed_build(tmp_path, project, monkeypatch):
    """The verify hook crashing after kas succeeded: the build is `failed`,
    exit 1, the report names the step (it said `succeeded`, exit 0)."""
    import armvm_oe.verify
    from armvm_oe.imagebuild.orchestrate import BuildOptions, run_build

    def boom(*_a, **_k):
        raise RuntimeError("verify crashed on purpose")

    monkeypatch.setattr(armvm_oe.verify, "verify", boom)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    said = []
    out = run_build(BuildOptions(config=str(project / "kas" / "test-aarch64.yml"), mode="host",
                                 skip_checks=set(skip_root()[1:]), dl_dir=tmp_path / "dl",
                                 say=said.append))
    assert out.exit_code == 1
    rep = json.loads((work / "build" / "build-report.json").read_text())
    jsonschema.validate(rep, REPORT_SCHEMA)
    assert rep == out.report
    assert rep["status"] == "failed" and rep["exit_code"] == 1
    assert rep["progress"]["summary"]["succeeded"] is True      # bitbake itself was fine
    assert rep["verify"]["status"] == "error"
    assert "verify crashed on purpose" in rep["verify"]["summary"]
    assert rep["failure"]["step"] == "verify"
    assert "could not check the built image" in out.error.what


def test_check_stops_before_the_first_task(armvm, tmp_path, fake_poky):
    """--check: the chain up to bitbake -g / -e, the checks on what they
    wrote, check-report.json; no task ran, no build report, no deploy."""
    url, sha = fake_poky
    for mode, code in (("ok", 0), ("no-audit", 1)):
        proj = make_project(tmp_path / mode, url, sha, mode=mode)
        work = tmp_path / mode / "work"
        r = build(armvm, work, str(proj / "kas" / "test-aarch64.yml"), "--check", "--json")
        assert r.returncode == code, r.stderr[-3000:]
        rep = json.loads(r.stdout)
        jsonschema.validate(rep, REPORT_SCHEMA)
        assert json.loads((work / "build" / "check-report.json").read_text()) == rep
        assert not (work / "build" / "build-report.json").exists()
        assert not (work / "build" / "tmp" / "deploy").exists()
        steps = {s["step"]: s for s in rep["check"]}
        assert list(steps)[:3] == ["preflight", "checkout", "kas"]
        assert steps["task-graph"]["ok"] and "armvm-image.do_build present" in \
            steps["task-graph"]["detail"]
        assert steps["image-tools"]["ok"]
        assert "armvm-image.do_image_wic present" in steps["image-tools"]["detail"]
        assert steps["kconfig-audit-inputs"]["ok"], steps["kconfig-audit-inputs"]
        assert steps["kconfig-audit-task"]["ok"] is (mode == "ok")
        assert rep["status"] == ("succeeded" if code == 0 else "failed")
        if code:
            assert rep["failure"]["step"] == "kconfig-audit-task"
            assert "kconfig-audit-task" in r.stderr

"""`armvm-oe build` with REAL bitbake (marker ``poky``; ARMVM_MIRRORS holds
local bare mirrors of bitbake, openembedded-core and meta-yocto with the
pinned commits, served to the checkout as file:// remotes: pokyproject.py,
tests/_yocto.py). Offline (BB_NO_NETWORK, no connectivity check), so
every build parses, starts the task graph and stops at the first do_fetch
that needs a source server. Asserted for both machines, in the build
container and on the host (as the non-root user 'builder'):

* bitbake parsed the layers and started the task graph;
* the first failed task is a do_fetch; the diagnosis names its recipe and URL;
* the report says ``failed`` with bitbake's own counts, exit 1;
* a second build in the same directory starts without any manual step.

In the container aarch64 case the scale-out overlay runs against poky's own
bitbake-hashserv and bitbake-prserv on 127.0.0.1 and a file:// sstate mirror;
the servers' own records show that bitbake used them.

A cold parse takes 2-6 minutes on a loaded machine: run them deliberately,
``pytest -m poky tests/imagebuild/test_poky_build.py -s`` (figures printed)."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jsonschema
import pytest
from _need import need_fixture

from armvm_oe.imagebuild.report import REPORT_SCHEMA
from _yocto import pins, tree
from pokyproject import GIT_ENV, ROOT, give, make_real_project, poky_dir

pytestmark = [pytest.mark.poky, pytest.mark.docker]

MACHINES = {"aarch64": "armvm-aarch64", "arm": "armvm-arm"}
BUILDER = "builder"
FIGURES = []


@pytest.fixture(scope="module", autouse=True)
def _print_figures():
    yield
    if FIGURES:
        print("\n[poky] " + "\n[poky] ".join(FIGURES), file=sys.stderr)


@pytest.fixture(scope="module")
def poky() -> dict:
    """The split repositories' mirrors (ARMVM_MIRRORS), or the test skips
    (first argument of every test, so a machine without them skips before
    any image is built)."""
    return poky_dir()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _world_dir(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d.chmod(0o755)
    return d


def check_failed_build(r, work: Path, machine: str, label: str, seconds: float) -> dict:
    """The assertions every real offline build shares; returns the report."""
    assert r.returncode == 1, (r.stdout[-2000:], r.stderr[-6000:])
    assert "Traceback" not in r.stderr
    rep = json.loads((work / "build" / "build-report.json").read_text())
    jsonschema.validate(rep, REPORT_SCHEMA)
    assert rep["status"] == "failed" and rep["exit_code"] == 1 and rep["machine"] == machine
    log = Path(rep["log"]).read_text()
    assert "the build was not started" not in r.stderr, r.stderr[-3000:]
    # parsed (cold), or the parse cache loaded (a rebuild), then the task graph started
    parsed = re.search(r"Parsing of (\d+) \.bb files complete \((\d+) cached, (\d+) parsed\)",
                       log)
    cached = re.search(r"Loaded (\d+) entries from dependency cache", log)
    assert parsed or (cached and int(cached.group(1)) > 1000), log[-3000:]
    parse = f"parse {parsed.group(1)} .bb ({parsed.group(2)} cached)" if parsed else \
        f"parse cache {cached.group(1)} entries"
    done, total = rep["progress"]["tasks"]
    assert total > 1000 and done >= 1, rep["progress"]
    # bitbake's own summary, counted once
    m = re.search(r"Tasks Summary: Attempted (\d+) tasks of which (\d+) didn't need to be "
                  r"rerun and (\d+) failed", log)
    assert m, log[-3000:]
    attempted, not_rerun, failed = map(int, m.groups())
    assert rep["progress"]["summary"] == {"attempted": attempted, "not_rerun": not_rerun,
                                          "failed": failed, "succeeded": False}
    assert failed >= 1 and len(rep["failure"]["failed_tasks"]) == failed
    assert all(t.endswith(":do_fetch") for t in rep["failure"]["failed_tasks"])
    # the first real cause: a failed task's own fetch error, recipe and URL named
    first = rep["failure"]["first_cause"]
    assert first["task"] == "do_fetch" and first["url"], first
    assert any(first["recipe"].startswith(Path(t.rsplit(":", 1)[0]).name.split("_")[0])
               for t in rep["failure"]["failed_tasks"]), (first, rep["failure"]["failed_tasks"])
    assert first["recipe"] in r.stderr and first["url"] in r.stderr
    assert f"{first['recipe']} do_fetch failed" in r.stderr
    FIGURES.append(f"{label}: {seconds:.0f} s, {parse}, tasks {done} of {total}, "
                   f"attempted {attempted} / not rerun "
                   f"{not_rerun} / failed {failed}, first {first['recipe']} {first['url']}")
    return rep


# --------------------------------------------------------------------------
# in the build container

@pytest.fixture(scope="module")
def servers(poky, tmp_path_factory):
    """poky's bitbake-hashserv and bitbake-prserv on 127.0.0.1 (the container
    uses the host's network), with their databases and debug logs."""
    d = tmp_path_factory.mktemp("servers")
    hs_port, pr_port = _free_port(), _free_port()
    bitbake = tree("scarthgap").bitbake          # the pinned bitbake's own servers
    env = dict(os.environ, PYTHONPATH=str(bitbake / "lib"))
    hs_log = open(d / "hashserv.log", "w")
    hs = subprocess.Popen([sys.executable, str(bitbake / "bin" / "bitbake-hashserv"),
                           "--bind", f"127.0.0.1:{hs_port}", "--database",
                           str(d / "hashserv.db"), "--log", "DEBUG"],
                          stdout=hs_log, stderr=subprocess.STDOUT, env=env, cwd=d)
    # bitbake-prserv --start daemonizes itself; --stop ends it (teardown)
    subprocess.run([sys.executable, str(bitbake / "bin" / "bitbake-prserv"), "--start",
                    "--host", "127.0.0.1", "--port", str(pr_port),
                    "--file", str(d / "prserv.sqlite3"), "--log", str(d / "prserv.log"),
                    "--loglevel", "DEBUG"], env=env, cwd=d, check=True, timeout=60,
                   capture_output=True)
    for port in (hs_port, pr_port):
        for _ in range(1200):               # a hang guard (10 min), not a verdict
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"no server on port {port}: {(d / 'hashserv.log').read_text()}")
    time.sleep(1)   # the servers log the probe's connection
    yield {"dir": d, "hashserv": f"127.0.0.1:{hs_port}", "prserv": f"127.0.0.1:{pr_port}",
           "hs_log": d / "hashserv.log", "pr_log": d / "prserv.log",
           # the readiness probe's own connections are not bitbake's
           "pr_before": len(_connections(d / "prserv.log"))}
    subprocess.run([sys.executable, str(bitbake / "bin" / "bitbake-prserv"), "--stop",
                    "--host", "127.0.0.1", "--port", str(pr_port)], env=env, cwd=d,
                   capture_output=True, timeout=60)
    hs.terminate()
    try:
        hs.wait(timeout=20)
    except subprocess.TimeoutExpired:
        hs.kill()
    hs_log.close()


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
def test_real_bitbake_in_the_container(poky, arch, armvm, tmp_path, builder_image, cli_env,
                                      servers):
    proj = make_real_project(tmp_path, poky)   # root's, as a CI job's clone
    work = tmp_path / "work"
    work.mkdir()
    uid = 1001 if os.geteuid() == 0 else os.getuid()   # not the image user's 30000
    if os.geteuid() == 0:
        give(work, uid, uid)
    chain = f"{proj}/kas/armvm-{arch}.yml:{proj}/kas/offline.yml"
    extra = []
    if arch == "aarch64":
        mirror = tmp_path / "sstate-mirror"
        mirror.mkdir()
        extra = ["--hashserv", servers["hashserv"], "--prserv", servers["prserv"],
                 "--sstate-mirror", f"file://{mirror}"]
    skip = ["--skip-check", "host.root", "--allow-root"] if os.geteuid() == 0 else []
    for run in (1, 2):
        t0 = time.monotonic()
        r = armvm("build", "--container", *skip, chain, *extra, cwd=work,
                  env={**cli_env, **GIT_ENV}, timeout=3600)
        rep = check_failed_build(r, work, MACHINES[arch], f"container {arch} build {run}",
                                 time.monotonic() - t0)
        assert rep["mode"] == "container" and rep["container"]["image"] == builder_image
        # DL_DIR and SSTATE_DIR: the caller's, in the work dir (never the image's)
        for d in ("downloads", "sstate-cache"):
            assert (work / d).stat().st_uid == uid
        if run == 1:
            log1 = rep["log"]
    assert rep["log"] != log1
    # the rebuild used the first build's parse cache
    assert "Loaded" in Path(rep["log"]).read_text()
    # --check in the same directory: parse cache warm, task graph, audit inputs
    t0 = time.monotonic()
    r = armvm("build", "--container", "--check", "--json", *skip, chain, cwd=work,
              env={**cli_env, **GIT_ENV}, timeout=3600)
    _check_report(r, work, "scarthgap", time.monotonic() - t0)
    if arch == "aarch64":
        _check_servers_were_used(servers, Path(rep["log"]).read_text() + Path(log1).read_text())


def _connections(log: Path) -> list[str]:
    """'Client (...) connected' lines of an asyncrpc server's log (prserv
    writes each twice: once as NOTE:, once with a timestamp)."""
    return [ln for ln in log.read_text().splitlines()
            if re.match(r"\d{4}-\d\d-\d\d .*Client \(.*\) connected$", ln)]


def _check_servers_were_used(servers: dict, log: str) -> None:
    # hashserv: bitbake asked it for unihashes and reported the outhashes of
    # the sstate tasks that ran (do_deploy_source_date_epoch & co.)
    db = sqlite3.connect(servers["dir"] / "hashserv.db")
    tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    unitable = next(t for t in tables if t.startswith("unihashes"))
    outtable = next(t for t in tables if t.startswith("outhashes"))
    n_uni = db.execute(f"select count(*) from {unitable}").fetchone()[0]
    methods = {r[0] for r in db.execute(f"select distinct method from {outtable}")}
    db.close()
    hs_log = servers["hs_log"].read_text()
    assert n_uni >= 1, hs_log[-3000:]
    assert any(m.startswith("oe.sstatesig.OEOuthashBasic") for m in methods), methods
    assert "Client" in hs_log and "connected" in hs_log
    # prserv: bitbake's cooker connects to PRSERV_HOST when it starts (once
    # per build; PR values themselves are only asked for at do_package, which
    # an offline build never reaches)
    pr_conns = _connections(servers["pr_log"])[servers["pr_before"]:]
    assert len(pr_conns) >= 2, servers["pr_log"].read_text()[-3000:]
    # the file:// sstate mirror was consulted
    assert "Checking sstate mirror object availability" in log
    reports = hs_log.count("Handling report")
    assert reports >= 1, hs_log[-3000:]
    FIGURES.append(f"hashserv {servers['hashserv']}: {n_uni} unihash rows, {reports} "
                   f"'report' requests, methods {sorted(methods)}; prserv "
                   f"{servers['prserv']}: {len(pr_conns)} connection(s) from bitbake")


# --------------------------------------------------------------------------
# on the host, as the non-root user 'builder'

@pytest.fixture(scope="module")
def host_venv(poky):
    """A venv with the pinned kas and the driver's dependencies that the
    builder user can run (the test's own python lives under /root)."""
    req = ROOT / "containers" / "requirements.txt"
    key = hashlib.sha256(req.read_bytes()).hexdigest()[:12]
    venv = Path(f"/var/tmp/armvm-oe-test-hostvenv-{key}")
    if not (venv / "bin" / "kas").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(req)],
                       check=True, timeout=900)
    return venv


@pytest.fixture(scope="module")
def pkg_for_builder():
    d = _world_dir("armvm-poky-pkg-")
    shutil.copytree(ROOT / "armvm_oe", d / "armvm_oe",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for p in d.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
def test_real_bitbake_on_the_host_as_a_normal_user(poky, arch, host_venv, pkg_for_builder):
    if os.geteuid() != 0:
        need_fixture("runs the build as the user 'builder' (needs root to switch)")
    try:
        pw = pwd.getpwnam(BUILDER)
    except KeyError:
        need_fixture("no user 'builder' (.ci/setup.d/20-doctor.sh creates it)")
    base = _world_dir(f"armvm-poky-host-{arch}-")
    try:
        proj = make_real_project(base, poky)
        work = base / "work"
        home = base / "home"
        work.mkdir()
        home.mkdir()
        # git refuses another user's repositories: the project and the poky
        # remote are root's here, as on a CI runner
        (home / ".gitconfig").write_text("[safe]\n\tdirectory = *\n")
        for p in (proj, work, home):
            give(p, pw.pw_uid, pw.pw_gid)
        env = {"PATH": f"{host_venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                       "/sbin:/bin",
               "HOME": str(home), "LANG": "en_US.UTF-8", "LC_ALL": "en_US.UTF-8",
               "PYTHONPATH": str(pkg_for_builder), "NO_COLOR": "1", "USER": BUILDER,
               "PYTHONDONTWRITEBYTECODE": "1", **GIT_ENV}
        chain = f"{proj}/kas/armvm-{arch}.yml:{proj}/kas/offline.yml"
        cmd = ["runuser", "-u", BUILDER, "--", "env", "-i",
               *[f"{k}={v}" for k, v in env.items()],
               str(host_venv / "bin" / "python"), "-m", "armvm_oe", "build", "--host", chain]
        for run in (1, 2):
            t0 = time.monotonic()
            r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=3600)
            rep = check_failed_build(r, work, MACHINES[arch], f"host {arch} build {run}",
                                     time.monotonic() - t0)
            assert rep["mode"] == "host" and rep["versions"]["kas"] == "5.5"
            assert rep["versions"]["bitbake"] == "2.8.1"
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------
# --check, and the Yocto 6.0 (wrynose) overlay parsed by its own bitbake

def _check_report(r, work: Path, release: str, seconds: float) -> dict:
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-6000:])
    rep = json.loads(r.stdout)
    jsonschema.validate(rep, REPORT_SCHEMA)
    assert rep["status"] == "succeeded"
    assert json.loads((work / "build" / "check-report.json").read_text()) == rep
    steps = {s["step"]: s for s in rep["check"]}
    assert all(s["ok"] for s in steps.values()), steps
    assert "container-image" in steps
    want_bb = "2.18" if release == "wrynose" else "2.8"
    assert rep["versions"]["bitbake"].startswith(want_bb), rep["versions"]
    tools = steps["image-tools"]["detail"]
    assert "armvm-image.do_image_wic present" in tools and "grub-efi" in tools
    assert ("wic: wic-native" in tools) is (release == "wrynose"), tools
    log = Path(rep["log"]).read_text()
    assert "need to be moved to files/wic" not in log
    assert "Running task" not in log          # nothing was built
    tasks = re.search(r"(\d+) tasks of (\d+) recipes", steps["task-graph"]["detail"])
    FIGURES.append(f"check {release} {rep['machine']}: {seconds:.0f} s, bitbake "
                   f"{rep['versions']['bitbake']}, graph {tasks.group(1)} tasks / "
                   f"{tasks.group(2)} recipes; {steps['image-tools']['detail']}; "
                   f"{steps['kconfig-audit-inputs']['detail']}")
    return rep


@pytest.mark.parametrize("release,arch", [("scarthgap", "arm"), ("wrynose", "aarch64"),
                                          ("wrynose", "arm"), ("scarthgap", "aarch64")])
def test_check_in_the_container(poky, release, arch, armvm, tmp_path, builder_image, cli_env):
    """build --check of kas/armvm-<arch>.yml (scarthgap: bitbake 2.8 with
    openembedded-core yocto-5.0.19 and meta-yocto yocto-5.0.17) or
    kas/armvm-<arch>.yml:kas/wrynose.yml (bitbake 2.18, yocto-6.0.2), the
    split repositories from the local mirrors, in a fresh work dir (a cold
    parse): bitbake parses the layers, bitbake -g resolves armvm-image with
    grub-efi (and on wrynose the standalone wic recipe, wic-native), the
    kernel config audit has its inputs; exit 0, nothing built. Before, wrynose's
    sanity checker stopped at meta-armvm's wic/ directory."""
    env = {**cli_env, **GIT_ENV}
    proj = make_real_project(tmp_path, poky)
    work = tmp_path / "work"
    work.mkdir()
    if os.geteuid() == 0:
        give(work, 1001, 1001)
    overlay = f"{proj}/kas/wrynose.yml:" if release == "wrynose" else ""
    chain = f"{proj}/kas/armvm-{arch}.yml:{overlay}{proj}/kas/offline.yml"
    skip = ["--skip-check", "host.root", "--allow-root"] if os.geteuid() == 0 else []
    t0 = time.monotonic()
    r = armvm("build", "--container", "--check", "--json", *skip, chain, cwd=work, env=env,
              timeout=3600)
    rep = _check_report(r, work, release, time.monotonic() - t0)
    assert not (work / "build" / "build-report.json").exists()
    locked = {x["id"]: x for x in rep["lock"]["repos"]}
    # the build ran on exactly the pins of kas/ (tests/_yocto.py reads them)
    for rid, commit in pins(release).items():
        assert (locked[rid]["commit"], locked[rid]["head"]) == (commit, commit), locked[rid]

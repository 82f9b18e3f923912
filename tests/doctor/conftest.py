"""Fixtures for the doctor tests: real git repos and kas projects, a copy of
the package the unprivileged ``builder`` user can import, mounts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from _need import need_fixture

from armvm_oe.doctor import Context, Thresholds, run_checks

ROOT = Path(__file__).resolve().parents[2]
BUILDER = "builder"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}


# ---- which checks the tests of this directory really fired (for
# test_cli_report.py::test_every_check_has_a_test_that_fires_it, run last)
FIRED: set = set()
EXCUSED: set = set()            # checks named by a test that was skipped here
RAN = {"tests": 0}
_SOURCES: dict = {}
LAST_TEST = "test_every_check_has_a_test_that_fires_it"


def record_results(data) -> None:
    for r in (data or {}).get("results", []):
        FIRED.add(r["id"])


def pytest_configure(config):
    # pytest imports this file as its own module (not tests.doctor.conftest):
    # the test reads the records through the config
    config.doctor_checks_fired = {"fired": FIRED, "excused": EXCUSED, "ran": RAN}


def pytest_collection_modifyitems(session, config, items):
    import inspect
    from armvm_oe.doctor import catalogue
    ids = [c.id for c in catalogue()]
    for it in items:
        if "tests/doctor/" in it.nodeid.replace("\\", "/") and hasattr(it, "function"):
            try:
                src = inspect.getsource(it.function)
            except (OSError, TypeError):
                continue
            _SOURCES[it.nodeid] = {i for i in ids if f'"{i}"' in src or f"'{i}'" in src}
    last = [it for it in items if it.name == LAST_TEST]
    items[:] = [it for it in items if it.name != LAST_TEST] + last


def pytest_runtest_logreport(report):
    if report.nodeid not in _SOURCES:
        return
    if report.when == "call" and report.passed:
        RAN["tests"] += 1
    if report.skipped:
        EXCUSED.update(_SOURCES[report.nodeid])


@pytest.fixture
def record_fired():
    """For a test that runs the doctor its own way: record its JSON results."""
    return record_results


@pytest.fixture(autouse=True)
def _record_fired(monkeypatch):
    """Checks fired in this process (run_checks -> _run_one)."""
    from armvm_oe.doctor import registry
    real = registry._run_one

    def rec(ctx, chk):
        out = real(ctx, chk)
        FIRED.update(r.id for r in out)
        return out

    monkeypatch.setattr(registry, "_run_one", rec)


@pytest.fixture
def armvm(armvm):
    """The CLI runner of tests/conftest.py, recording the checks a doctor run
    reported (JSON results, or the ids in the text report / fix script)."""
    from armvm_oe.doctor import catalogue

    def _run(*args, **kw):
        r = armvm(*args, **kw)
        a = [str(x) for x in args]
        if a[:1] == ["doctor"] and "--list" not in a and "--log" not in a:
            try:
                record_results(json.loads(r.stdout))
            except ValueError:
                FIRED.update(c.id for c in catalogue()
                             if re.search(rf"(?<![\w.-]){re.escape(c.id)}(?![\w-])", r.stdout))
        return r

    return _run


def git(*args, cwd=None, check=True):
    env = dict(os.environ, **GIT_ENV)
    return subprocess.run(["git", "-c", "init.defaultBranch=main", *map(str, args)],
                          cwd=cwd, env=env, check=check, capture_output=True, text=True)


def fired(ctx: Context, check_id: str):
    """Results of ``check_id`` (only that check is run)."""
    ctx.only = {check_id}
    ctx.groups = (check_id.split(".", 1)[0],)
    return [r for r in run_checks(ctx) if r.id == check_id]


def world_dir(prefix: str) -> Path:
    """A temp dir the builder user can enter (pytest's tmp_path is 0700 root)."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d.chmod(0o755)
    return d


def have_user(name: str) -> bool:
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def pkg_copy(other_user):
    """The armvm_oe package copied where the builder user can import it
    (tests/_otheruser.py). The doctor runs it with the system python3, not
    other_user's venv, on purpose: the host group is stdlib-only."""
    return Path(other_user.pythonpath)


def system_python() -> str:
    for p in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(p):
            return p
    return sys.executable


@pytest.fixture
def doctor_as(pkg_copy):
    """Run ``python3 -m armvm_oe.doctor ARGS --json`` as another user (or under
    a wrapper command) and return (rc, parsed JSON)."""

    def _run(*args, user=BUILDER, wrap=(), env=None, cwd="/tmp"):
        if not have_user(user):
            need_fixture(f"user {user} does not exist (.ci/setup.d/05-doctor.sh creates it)")
        e = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LANG": "C.UTF-8", "PYTHONPATH": str(pkg_copy), "HOME": "/tmp",
             "PYTHONDONTWRITEBYTECODE": "1"}
        e.update(env or {})
        envargs = [f"{k}={v}" for k, v in e.items()]
        inner = ["env", "-i", *envargs, system_python(), "-m", "armvm_oe.doctor",
                 *map(str, args), "--json"]
        cmd = [*wrap, "runuser", "-u", user, "--", *inner] if user != "root" else [*wrap, *inner]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)
        try:
            data = json.loads(p.stdout)
        except ValueError:
            raise AssertionError(f"no JSON from {cmd}:\nstdout={p.stdout}\nstderr={p.stderr}")
        record_results(data)
        return p.returncode, data

    return _run


def ids(data) -> list[str]:
    return [r["id"] for r in data["results"]]


# --------------------------------------------------------------------------
# a kas project with real git repos

def make_layer_repo(base: Path, name: str, series: str = "scarthgap", core: bool = False,
                    files: dict | None = None) -> tuple[Path, list[str]]:
    """A bare repo with two commits; returns (bare path, [commit1, commit2])."""
    src = base / f"{name}-src"
    git("init", "-q", src)
    if core:
        (src / "meta" / "conf").mkdir(parents=True)
        (src / "meta" / "conf" / "layer.conf").write_text(
            'BBFILE_COLLECTIONS += "core"\n'
            f'LAYERSERIES_CORENAMES = "{series}"\n'
            f'LAYERSERIES_COMPAT_core = "{series}"\n')
        (src / "meta" / "conf" / "sanity.conf").write_text(
            'LOCALCONF_VERSION  ?= "2"\nLAYER_CONF_VERSION ?= "7"\n')
        (src / "meta" / "conf" / "abi_version.conf").write_text('OELAYOUT_ABI = "15"\n')
        (src / "oe-init-build-env").write_text("# sourced by the build\n")
    else:
        coll = name.replace("meta-", "")
        (src / "conf").mkdir(parents=True)
        (src / "conf" / "layer.conf").write_text(
            f'BBFILE_COLLECTIONS += "{coll}"\n'
            f'LAYERSERIES_COMPAT_{coll} = "{series}"\n')
    for rel, text in (files or {}).items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    git("add", "-A", cwd=src)
    git("commit", "-qm", "first", cwd=src)
    c1 = git("rev-parse", "HEAD", cwd=src).stdout.strip()
    (src / "README").write_text("second\n")
    git("add", "-A", cwd=src)
    git("commit", "-qm", "second", cwd=src)
    c2 = git("rev-parse", "HEAD", cwd=src).stdout.strip()
    bare = base / f"{name}.git"
    git("clone", "-q", "--bare", src, bare)
    return bare, [c1, c2]


class Project:
    def __init__(self, base: Path):
        self.base = base
        self.cfgrepo = base / "cfg"
        self.work = base / "work"
        self.work.mkdir(parents=True)
        self.build = self.work / "build"
        self.repos: dict[str, tuple[Path, list[str]]] = {}

    @property
    def config(self) -> Path:
        return self.cfgrepo / "kas" / "test.yml"

    def write_config(self, extra_layers=(), urls=None, header_version=14, extra_text=""):
        urls = urls or {}
        lines = [f"header:\n  version: {header_version}\n", "machine: qemuarm64\n",
                 "distro: poky\n", extra_text, "repos:\n"]
        for rid, (bare, commits) in self.repos.items():
            url = urls.get(rid, f"file://{bare}")
            lines.append(f"  {rid}:\n    url: {url}\n    branch: main\n"
                         f"    commit: {commits[-1]}\n    layers:\n")
            if rid == "poky":
                lines.append("      meta:\n")
            else:
                lines.append("      .:\n")
            for layer in extra_layers:
                if rid != "poky":
                    lines.append(f"      {layer}:\n")
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text("".join(lines))

    def checkout(self, rid: str, commit: str | None = None):
        bare, commits = self.repos[rid]
        dest = self.work / rid
        git("clone", "-q", bare, dest)
        git("checkout", "-q", commit or commits[-1], cwd=dest)
        return dest

    def context(self, **kw) -> Context:
        kw.setdefault("thresholds", Thresholds(recommended_free_gb=1, min_ram_gb=1))
        return Context(kas_config=str(self.config), work_dir=self.work, **kw)


@pytest.fixture
def project(tmp_path):
    """A healthy kas project: a config repo, a fake-but-real oe-core ("poky")
    and a layer repo (meta-extra), both cloned from local bare repos and
    checked out at the pinned commit; an empty build directory."""
    p = Project(tmp_path)
    git("init", "-q", p.cfgrepo)
    p.repos["poky"] = make_layer_repo(tmp_path, "poky", core=True)
    p.repos["meta-extra"] = make_layer_repo(tmp_path, "meta-extra")
    p.write_config()
    git("add", "-A", cwd=p.cfgrepo)
    git("commit", "-qm", "cfg", cwd=p.cfgrepo)
    p.checkout("poky")
    p.checkout("meta-extra")
    (p.build / "conf").mkdir(parents=True)
    (p.build / "conf" / "bblayers.conf").write_text(
        'BBPATH = "${TOPDIR}"\nBBLAYERS ?= " \\\n'
        f'    {p.work / "poky" / "meta"} \\\n    {p.work / "meta-extra"} \\\n"\n')
    (p.build / "conf" / "local.conf").write_text('CONF_VERSION = "2"\nMACHINE ??= "qemuarm64"\n')
    return p


@pytest.fixture
def mount_tmpfs():
    """Mount real tmpfs filesystems (root only); unmounted afterwards."""
    mounted = []

    def _mount(path: Path, opts: str):
        if os.geteuid() != 0:
            need_fixture("mounting a tmpfs needs root (the CI runs as root)")
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
        mounted.append(path)
        return path

    yield _mount
    for m in reversed(mounted):
        subprocess.run(["umount", "-l", str(m)], check=False)

"""doctor --log on what the real kas prints (not text we wrote): a patch
naming an unknown repo, a patch that does not apply, a dirty repo, a
config kas's schema rejects. kas runs offline on local file:// repos."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from _need import need_fixture

from armvm_oe.doctor.logscan import scan
from tests.doctor.conftest import git



@pytest.fixture(autouse=True)
def _kas_installed():
    if shutil.which("kas") is None:
        need_fixture("kas is not installed (.ci/setup.d installs it with pip)")

HEADER = "header:\n  version: 14\nmachine: qemuarm64\n"


@pytest.fixture
def layer(tmp_path):
    d = tmp_path / "layer"
    (d / "conf").mkdir(parents=True)
    (d / "conf" / "layer.conf").write_text('BBPATH .= ":${LAYERDIR}"\n')
    (d / "README").write_text("one\ntwo\n")
    # kas sources the core's init script; this stand-in only enters the build dir
    (d / "oe-init-build-env").write_text('mkdir -p "$1" && cd "$1"\n')
    git("init", "-q", cwd=d)
    git("add", "-A", cwd=d)
    git("commit", "-qm", "init", cwd=d)
    return d


def kas(tmp_path, config: str, *args) -> tuple:
    cfg = tmp_path / "kas.yml"
    cfg.write_text(config)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    env = dict(os.environ, KAS_WORK_DIR=str(work), GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org")
    p = subprocess.run(["kas", "checkout", *args, str(cfg)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def repo(layer, extra: str = "") -> str:
    return f"repos:\n  layer:\n    url: file://{layer}\n    branch: main\n{extra}"


def test_patch_names_an_unknown_repo(tmp_path, layer):
    rc, log = kas(tmp_path, HEADER + repo(layer, "    patches:\n      fix:\n        repo: "
                                                 "nosuchrepo\n        path: fix.patch\n"))
    assert rc != 0, log
    d = scan(log)
    assert d.first.id == "log.kas-unknown-repo", log
    assert "'nosuchrepo'" in d.first.cause and d.first.phase == "setup"


def test_patch_does_not_apply(tmp_path, layer):
    patches = tmp_path / "patches"
    patches.mkdir()
    git("init", "-q", cwd=patches)
    (patches / "fix.patch").write_text(
        "--- a/README\n+++ b/README\n@@ -1,2 +1,2 @@\n-three\n+four\n two\n")
    git("add", "-A", cwd=patches)
    git("commit", "-qm", "p", cwd=patches)
    cfg = HEADER + repo(layer, "    patches:\n      fix:\n        repo: patches\n        path: "
                               "fix.patch\n") + f"  patches:\n    url: file://{patches}\n" \
        "    branch: main\n"
    rc, log = kas(tmp_path, cfg)
    assert rc != 0, log
    d = scan(log)
    assert d.first.id == "log.kas-patch", log


def test_dirty_repo(tmp_path, layer):
    rc, log = kas(tmp_path, HEADER + repo(layer))
    assert rc == 0, log
    (tmp_path / "work" / "layer" / "README").write_text("local edit\n")
    rc, log = kas(tmp_path, HEADER + repo(layer))
    d = scan(log)
    assert d.first.id == "log.kas-dirty" and d.first.severity == "warn", log
    assert "layer" in d.first.cause


def test_no_init_build_env(tmp_path, layer):
    (layer / "oe-init-build-env").unlink()
    git("commit", "-qam", "no init script", cwd=layer)
    rc, log = kas(tmp_path, HEADER + repo(layer))
    assert rc != 0, log
    assert scan(log).first.id == "log.kas-no-init-env", log


def test_schema_error(tmp_path):
    rc, log = kas(tmp_path, HEADER + "repos: 42\n")
    assert rc != 0, log
    d = scan(log)
    assert d.first.id == "log.kas-invalid", log


KAS_CONTAINER = Path(os.environ.get("ARMVM_KAS_SRC", "/work/upstream/kas")) / "kas-container"


@pytest.mark.skipif(os.geteuid() != 0 or not KAS_CONTAINER.is_file(),
                    reason="needs root and kas's kas-container script (ARMVM_KAS_SRC)")
def test_kas_container_as_root(tmp_path):
    """The real kas-container refuses root before it starts any container."""
    (tmp_path / "kas.yml").write_text(HEADER)
    p = subprocess.run(["bash", str(KAS_CONTAINER), "build", "kas.yml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120,
                       env={k: v for k, v in os.environ.items() if k != "KAS_ALLOW_ROOT"})
    log = p.stdout + p.stderr
    assert p.returncode != 0 and "Running as root" in log, log
    f = scan(log).first
    assert f.id == "log.kas-container-root" and "usermod -aG docker" in f.fix, log


def test_include_names_an_undefined_repo(tmp_path, layer):
    """The issue's kas case: includes: names a repo no repos: entry defines."""
    rc, log = kas(tmp_path, "header:\n  version: 14\n  includes:\n    - repo: nosuchrepo\n"
                  "      file: x.yml\nmachine: qemuarm64\n" + repo(layer))
    assert rc != 0, log
    d = scan(log)
    assert d.first.id == "log.kas-include", log
    assert "nosuchrepo" in d.first.cause


def test_included_file_not_found(tmp_path, layer):
    rc, log = kas(tmp_path, "header:\n  version: 14\n  includes:\n    - missing.yml\n"
                  "machine: qemuarm64\n" + repo(layer))
    assert rc != 0, log
    d = scan(log)
    assert d.first.id == "log.kas-include", log
    assert "missing.yml" in d.first.cause


def test_pinned_commit_not_on_branch(tmp_path, layer):
    git("checkout", "-q", "-b", "side", cwd=layer)
    (layer / "SIDE").write_text("x\n")
    git("add", "-A", cwd=layer)
    git("commit", "-qm", "side", cwd=layer)
    side = subprocess.run(["git", "rev-parse", "HEAD"], cwd=layer, capture_output=True,
                          text=True).stdout.strip()
    git("checkout", "-q", "main", cwd=layer)
    rc, log = kas(tmp_path, HEADER + repo(layer, f"    commit: {side}\n"))
    assert rc != 0, log
    d = scan(log)
    assert d.first.id == "log.remote-ref-missing", log
    assert side[:12] in d.first.cause and "main" in d.first.cause

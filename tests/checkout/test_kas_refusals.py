"""Configurations that used to mean something else to armvm-oe than to kas
5.5, each run through the real kas (pyproject's kas==5.5) and armvm-oe
(tests/checkout/differential.py): absolute refs, a multi-config whose files
live in different repositories, header version '0.10'. Either both tools
leave the same tree (and kas run afterwards on armvm-oe's tree fetches and
changes nothing), or armvm-oe refuses with exit 2 and kas's reason
(armvm_oe/kasrules.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from differential import git, make_project, make_repo, run_both, snapshot

INIT = "#!/bin/sh\ntrue\n"


@pytest.fixture
def remote(tmp_path):
    bare = tmp_path / "b.git"
    shas = make_repo(bare, [{"oe-init-build-env": INIT}, {"a": "1\n"}, {"a": "2\n"}],
                     extra_branches={"dev": 1})
    return bare, shas


def _cfg(tmp_path, bare, body: str, name="p"):
    return make_project(tmp_path / name, {"p.yml": (
        f"header:\n  version: 14\nrepos:\n  this:\n  b:\n    url: {bare.as_uri()}\n" + body)}
    ) / "p.yml"


def _kas_again(cfg, work):
    """kas checkout on the tree armvm-oe left: (rc, fetched?, changed?)."""
    before = snapshot(work)
    refs = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=work / "b")
    k = subprocess.run([sys.executable, "-m", "kas", "checkout", str(cfg)], cwd=work,
                       env=dict(os.environ, KAS_WORK_DIR=str(work), NO_COLOR="1"),
                       capture_output=True, text=True, timeout=300)
    return k.returncode, "Repository b updated" in k.stderr, \
        (snapshot(work), git("for-each-ref", "--format=%(refname) %(objectname)",
                             cwd=work / "b")) != (before, refs)


@pytest.mark.parametrize("branch,tip", [("refs/heads/dev", 1), ("refs/heads/master", 2)])
def test_absolute_branch_same_tree_and_kas_rerun_does_not_fetch(tmp_path, remote, branch, tip):
    bare, shas = remote
    cfg = _cfg(tmp_path, bare, f"    branch: {branch}\n")
    out = run_both(str(cfg), tmp_path / "run")
    assert out.kas_rc == 0 and out.armvm_rc == 0, out.armvm_err
    assert out.differences() == []
    assert out.armvm["b"]["head"] == shas[tip]
    assert out.armvm["b"]["head_ref"] == f"refs/heads/{branch.rsplit('/', 1)[1]}"
    # kas keeps the absolute branch as origin/heads/<b>: armvm-oe writes it
    # too, so kas afterwards finds everything in place (before: it fetched)
    rc, fetched, changed = _kas_again(cfg, tmp_path / "run" / "armvm-work")
    assert (rc, fetched, changed) == (0, False, False)


def test_absolute_branch_with_commit_is_refused_like_kas(tmp_path, remote):
    bare, shas = remote
    cfg = _cfg(tmp_path, bare, f"    branch: refs/heads/dev\n    commit: {shas[1]}\n")
    out = run_both(str(cfg), tmp_path / "run")
    assert out.kas_rc == 2 and f'Branch "refs/heads/dev" in repository "b" does not contain ' \
        f'commit "{shas[1]}"' in out.kas_err
    assert out.armvm_rc == 2 and "Traceback" not in out.armvm_err
    # kas's own words, and a fix that works: the short branch name
    assert f'Branch "refs/heads/dev" in repository "b" does not contain commit' in out.armvm_err
    assert "Write 'branch: dev'" in out.armvm_err
    fixed = _cfg(tmp_path, bare, f"    branch: dev\n    commit: {shas[1]}\n", name="fixed")
    again = run_both(str(fixed), tmp_path / "run-fixed")
    assert again.kas_rc == again.armvm_rc == 0 and again.differences() == []


@pytest.mark.parametrize("refspec", ["refs/heads/dev", "refs/heads/master"])
def test_absolute_legacy_refspec_is_refused_with_kas_reason(tmp_path, remote, refspec):
    """kas accepts it with a deprecation warning and checks out 'heads/<b>':
    a new local branch literally named 'heads/dev', or a detached HEAD at the
    clone's own local master: a tree that depends on the clone's history.
    armvm-oe refuses (exit 2) with kas's deprecation and that reason."""
    bare, _shas = remote
    cfg = _cfg(tmp_path, bare, f"    refspec: {refspec}\n")
    out = run_both(str(cfg), tmp_path / "run")
    assert out.kas_rc == 0 and "Using deprecated refspec" in out.kas_err
    short = refspec[len("refs/"):]
    assert out.kas["b"]["head_ref"] in (f"refs/heads/{short}", "detached")
    assert out.armvm_rc == 2 and "Traceback" not in out.armvm_err
    assert "migrate to commit/tag/branch" in out.armvm_err
    assert f"'branch: {short[len('heads/'):]}'" in out.armvm_err
    assert out.armvm == {k: v for k, v in out.armvm.items() if not isinstance(v, dict)}


def test_absolute_commit_both_refuse(tmp_path, remote):
    bare, _shas = remote
    out = run_both(str(_cfg(tmp_path, bare, "    commit: refs/heads/dev\n")), tmp_path / "run")
    assert out.kas_rc != 0 and out.armvm_rc == 2 and "not a full 40-character" in out.armvm_err


def test_multiconfig_from_two_repositories_is_refused_like_kas(tmp_path, remote):
    bare, shas = remote
    a = _cfg(tmp_path, bare, f"    branch: master\n    commit: {shas[2]}\n", name="a")
    b = make_project(tmp_path / "other", {"extra.yml": (
        "header:\n  version: 14\nlocal_conf_header:\n  x: |\n    X = \"1\"\n")}) / "extra.yml"
    out = run_both(f"{a}:{b}", tmp_path / "run")
    assert out.kas_rc != 0 and "All concatenated config files must belong to the same " \
        "repository" in out.kas_err
    assert out.armvm_rc == 2 and "Traceback" not in out.armvm_err
    assert "All concatenated config files must belong to the same repository" in out.armvm_err
    assert out.armvm == {k: v for k, v in out.armvm.items() if not isinstance(v, dict)}
    # the same two files in one repository: both accept, same tree
    (a.parent / "extra.yml").write_text(b.read_text())
    git("add", "-A", cwd=a.parent)
    git("commit", "-qm", "extra", cwd=a.parent)
    same = run_both(f"{a}:{a.parent / 'extra.yml'}", tmp_path / "run-same")
    assert same.kas_rc == same.armvm_rc == 0 and same.differences() == []
    assert 'X = "1"' in same.armvm["build/conf/local.conf"]


def test_header_version_0_10_is_refused_like_kas(tmp_path, remote):
    bare, shas = remote
    cfg = make_project(tmp_path / "p", {"p.yml": (
        f"header:\n  version: \"0.10\"\nrepos:\n  this:\n  b:\n    url: {bare.as_uri()}\n"
        f"    refspec: {shas[2]}\n")}) / "p.yml"
    out = run_both(str(cfg), tmp_path / "run")
    assert out.kas_rc != 0 and "invalid literal for int() with base 10: '0.10'" in out.kas_err
    assert out.armvm_rc == 2 and "Traceback" not in out.armvm_err
    assert "invalid literal for int() with base 10: '0.10'" in out.armvm_err
    assert "version: 14" in out.armvm_err
    # following the fix: both accept the file
    cfg.write_text(cfg.read_text().replace('version: "0.10"', "version: 14"))
    git("commit", "-qam", "v14", cwd=cfg.parent)
    fixed = run_both(str(cfg), tmp_path / "run-fixed")
    assert fixed.kas_rc == fixed.armvm_rc == 0 and fixed.differences() == []

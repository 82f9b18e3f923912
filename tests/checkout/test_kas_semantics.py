"""The kas features issue 17 found silently wrong, each against kas itself
(differential) where kas can run the case, plus armvm-oe's own refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from differential import git, make_project, make_repo, run_both

INIT = "#!/bin/sh\ntrue\n"


def _armvm(cfg, work: Path, *args, env=None):
    e = dict(os.environ, NO_COLOR="1", KAS_WORK_DIR=str(work))
    e.pop("KAS_REPO_REF_DIR", None)
    e.update(env or {})
    work.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "armvm_oe", "checkout", str(cfg), "--json",
                           *args], cwd=work, env=e, capture_output=True, text=True, timeout=300)


def _json(r):
    assert r.stdout.strip().startswith("{"), r.stderr
    return {x["id"]: x for x in json.loads(r.stdout)["repos"]}


@pytest.fixture
def layer_repo(tmp_path):
    """A layer repo like meta-arm: ci/base.yml includes ci/poky.yml (a string
    include, resolved against this repo); ci/poky.yml declares 'core'."""
    core = tmp_path / "core.git"
    core_shas = make_repo(core, [{"oe-init-build-env": INIT, "meta/conf/layer.conf": "x\n"},
                                 {"meta/README": "2\n"}])
    arm = tmp_path / "meta-arm.git"
    arm_shas = make_repo(arm, [{
        "meta-arm/conf/layer.conf": "x\n",
        "ci/base.yml": "header:\n  version: 14\n  includes:\n    - ci/poky.yml\n"
                       "repos:\n  meta-arm:\n    layers:\n      meta-arm:\n",
        "ci/poky.yml": f"header:\n  version: 14\nrepos:\n  core:\n    url: {core.as_uri()}\n"
                       f"    branch: master\n    layers:\n      meta:\n",
    }])
    return {"core": (core, core_shas), "meta-arm": (arm, arm_shas)}


def _user_project(tmp_path, layer_repo, decoy=True):
    arm, arm_shas = layer_repo["meta-arm"]
    files = {"project.yml": (
        "header:\n  version: 14\n  includes:\n    - repo: meta-arm\n      file: ci/base.yml\n"
        f"repos:\n  this:\n  meta-arm:\n    url: {arm.as_uri()}\n    branch: master\n"
        f"    commit: {arm_shas[0]}\n")}
    if decoy:  # a file of the same name in the user's repo must not be used
        files["ci/poky.yml"] = "header:\n  version: 14\nrepos:\n  decoy:\n    url: file:///nope\n" \
                               "    branch: master\n"
    return make_project(tmp_path / "user", files) / "project.yml"


def test_user_project_including_a_layer_repo_ci_file(tmp_path, layer_repo):
    """Items 1 and 2 of issue 17: the repo include is followed (before: never
    read, so 'core' was never checked out) and the string include inside it
    resolves in the layer repo (before: the user's decoy ci/poky.yml)."""
    cfg = _user_project(tmp_path, layer_repo)
    out = run_both(str(cfg), tmp_path / "run")
    assert out.kas_rc == 0, out.kas_err[-2000:]
    assert out.armvm_rc == 0, out.armvm_err[-2000:]
    assert out.differences() == []
    assert set(k for k, v in out.armvm.items() if isinstance(v, dict)) == {"core", "meta-arm"}
    assert out.armvm["core"]["head"] == layer_repo["core"][1][-1]
    assert "meta \\" in out.armvm["build/conf/bblayers.conf"] or \
        "/core/meta" in out.armvm["build/conf/bblayers.conf"]


def test_include_of_undeclared_repo_is_an_error(tmp_path):
    cfg = make_project(tmp_path / "p", {"p.yml": (
        "header:\n  version: 14\n  includes:\n    - repo: ghost\n      file: x.yml\n"
        "repos:\n  this:\n")}) / "p.yml"
    out = run_both(str(cfg), tmp_path / "run")
    assert out.kas_rc != 0 and out.armvm_rc == 2
    assert "ghost" in out.armvm_err and "Traceback" not in out.armvm_err


def test_lock_file_pins_a_legacy_refspec_repo(tmp_path):
    """Item 3: kas applies the lock's commit to a 'refspec:' repo (before:
    armvm-oe checked out the branch tip)."""
    bare = tmp_path / "r.git"
    shas = make_repo(bare, [{"oe-init-build-env": INIT}, {"a": "1\n"}, {"a": "2\n"}])
    proj = make_project(tmp_path / "p", {
        "p.yml": f"header:\n  version: 14\nrepos:\n  this:\n  r:\n    url: {bare.as_uri()}\n"
                 "    refspec: master\n",
        "p.lock.yml": f"header:\n  version: 14\noverrides:\n  repos:\n    r:\n"
                      f"      commit: {shas[1]}\n"})
    out = run_both(str(proj / "p.yml"), tmp_path / "run")
    assert out.kas_rc == 0 and out.armvm_rc == 0, out.armvm_err
    assert out.differences() == []
    assert out.armvm["r"]["head"] == shas[1] and out.armvm["r"]["head_ref"] == "detached"


@pytest.fixture
def tagged(tmp_path):
    bare = tmp_path / "t.git"
    shas = make_repo(bare, [{"oe-init-build-env": INIT}, {"a": "1\n"}, {"a": "2\n"}],
                     tags={"v1": (1, True), "light": (0, False)})
    return bare, shas


def _tag_cfg(tmp_path, bare, tag, commit=None, name="p"):
    c = f"    commit: {commit}\n" if commit else ""
    return make_project(tmp_path / name, {"p.yml": (
        f"header:\n  version: 14\nrepos:\n  this:\n  t:\n    url: {bare.as_uri()}\n"
        f"    tag: {tag}\n{c}")}) / "p.yml"


def test_tag_with_wrong_commit_is_refused_and_no_tag_is_forged(tmp_path, tagged):
    """Item 4: tag v1 is commit 1; pinning commit 2 next to it is refused by
    kas; armvm-oe refuses too (exit 2) and writes no local tag at commit 2
    (before: exit 0 and refs/tags/v1 -> commit 2)."""
    bare, shas = tagged
    cfg = _tag_cfg(tmp_path, bare, "v1", shas[2])
    out = run_both(str(cfg), tmp_path / "run")
    assert out.kas_rc != 0
    assert out.armvm_rc == 2, out.armvm_err
    assert "does not match" in out.armvm_err or "disagree" in out.armvm_err
    assert not (tmp_path / "run" / "armvm-work" / "t").exists()


@pytest.mark.parametrize("how", ["tag-object-id", "refs/tags/", "commit"])
def test_tag_forms_kas_accepts(tmp_path, tagged, how):
    """An annotated tag object's id as 'commit:', 'tag: refs/tags/X', and the
    plain form: same tree, same tag object as kas (before: the first two
    failed with network-error messages)."""
    bare, shas = tagged
    tag_obj = git("rev-parse", "refs/tags/v1", cwd=bare)
    assert tag_obj != shas[1]
    tag, commit = {"tag-object-id": ("v1", tag_obj), "refs/tags/": ("refs/tags/v1", None),
                   "commit": ("v1", shas[1])}[how]
    cfg = _tag_cfg(tmp_path, bare, tag, commit)
    out = run_both(str(cfg), tmp_path / "run")
    assert out.kas_rc == 0, out.kas_err[-1500:]
    assert out.armvm_rc == 0, out.armvm_err[-1500:]
    assert out.differences() == []
    assert out.armvm["t"]["head"] == shas[1]
    assert out.armvm["t"]["tags"]["refs/tags/v1"] == tag_obj   # the server's tag object


@pytest.mark.parametrize("kind", ["hg", "signed", "_source_dir"])
def test_unsupported_features_are_refused_exit_2(tmp_path, tagged, kind):
    """Items 5 and hg: never silently checked out."""
    bare, shas = tagged
    extra = {"hg": "    type: hg\n", "_source_dir": ""}.get(
        kind, "    signed: true\n    allowed_signers:\n      - key1\n")
    signers = "_source_dir: /elsewhere\n" if kind == "_source_dir" else "" if kind == "hg" else \
        "signers:\n  key1:\n    type: gpg\n" \
        "    fingerprint: 0123456789ABCDEF0123456789ABCDEF01234567\n" \
        "    repo: this\n    path: key.asc\n"
    cfg = make_project(tmp_path / "p", {"p.yml": (
        f"header:\n  version: 14\n{signers}repos:\n  this:\n  t:\n    url: {bare.as_uri()}\n"
        f"    tag: v1\n    commit: {shas[1]}\n{extra}")}) / "p.yml"
    r = _armvm(cfg, tmp_path / "w")
    assert r.returncode == 2, r.stderr
    assert "not" in r.stderr and "kas checkout" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "w" / "t").exists()


def test_missing_and_non_applying_patches_are_errors(tmp_path, tagged):
    bare, shas = tagged
    bad = "--- a/a\n+++ b/a\n@@ -1 +1 @@\n-nothing like this\n+x\n"
    for name, patch in (("missing", None), ("broken", bad)):
        files = {"p.yml": (
            f"header:\n  version: 14\nrepos:\n  this:\n  t:\n    url: {bare.as_uri()}\n"
            f"    commit: {shas[2]}\n    patches:\n      p1:\n        repo: this\n"
            f"        path: fix.patch\n")}
        if patch:
            files["fix.patch"] = patch
        cfg = make_project(tmp_path / name, files) / "p.yml"
        out = run_both(str(cfg), tmp_path / f"run-{name}")
        assert out.kas_rc != 0, name
        assert out.armvm_rc == 2 and "Traceback" not in out.armvm_err, out.armvm_err
        assert "patch" in out.armvm_err


def test_branch_only_pin_present_needs_no_network(tmp_path):
    """Item 3: a branch-only pin already present is not fetched again (kas
    does not either, without --update); --update fetches the new tip."""
    bare = tmp_path / "b.git"
    make_repo(bare, [{"oe-init-build-env": INIT}, {"a": "1\n"}])
    cfg = make_project(tmp_path / "p", {"p.yml": (
        f"header:\n  version: 14\nrepos:\n  this:\n  b:\n    url: {bare.as_uri()}\n"
        "    branch: master\n")}) / "p.yml"
    work = tmp_path / "w"
    first = _armvm(cfg, work)
    assert first.returncode == 0, first.stderr
    tip = _json(first)["b"]["commit"]
    # the server moves on and then becomes unreachable: no network is needed
    src = bare.with_name(bare.name + ".src")
    (src / "new").write_text("n\n")
    git("add", "-A", cwd=src)
    git("commit", "-q", "-m", "new", cwd=src)
    git("push", "-q", str(bare), "master", cwd=src)
    new_tip = git("rev-parse", "HEAD", cwd=src)
    bare.rename(bare.with_name("gone.git"))
    second = _armvm(cfg, work)
    assert second.returncode == 0, second.stderr
    assert _json(second)["b"]["commit"] == tip and "fetching" not in second.stderr
    bare.with_name("gone.git").rename(bare)
    third = _armvm(cfg, work, "--update")
    assert third.returncode == 0, third.stderr
    assert _json(third)["b"]["commit"] == new_tip


def test_a_full_clone_stays_full(tmp_path):
    """Item 3: a tree kas cloned (full history) is never made shallow when
    armvm-oe moves it to a new pin."""
    bare = tmp_path / "f.git"
    shas = make_repo(bare, [{"oe-init-build-env": INIT}, {"a": "1\n"}, {"a": "2\n"}])
    work = tmp_path / "w"
    work.mkdir()
    git("clone", "-q", bare.as_uri(), work / "f")
    git("checkout", "-q", shas[0], "-B", "master", cwd=work / "f")
    src = bare.with_name(bare.name + ".src")
    (src / "b").write_text("3\n")
    git("add", "-A", cwd=src)
    git("commit", "-q", "-m", "3", cwd=src)
    git("push", "-q", str(bare), "master", cwd=src)
    new = git("rev-parse", "HEAD", cwd=src)
    cfg = make_project(tmp_path / "p", {"p.yml": (
        f"header:\n  version: 14\nrepos:\n  this:\n  f:\n    url: {bare.as_uri()}\n"
        f"    branch: master\n    commit: {new}\n")}) / "p.yml"
    r = _armvm(cfg, work)
    assert r.returncode == 0, r.stderr
    assert git("rev-parse", "HEAD", cwd=work / "f") == new
    assert git("rev-parse", "--is-shallow-repository", cwd=work / "f") == "false"
    assert not (work / "f" / ".git" / "shallow").exists()


def test_kas_repo_ref_dir_is_filled_like_kas(tmp_path, tagged):
    """Item 3: KAS_REPO_REF_DIR gets kas's full bare reference clone
    (<dir>/<qualified name>), which the checkout then uses."""
    bare, shas = tagged
    cfg = _tag_cfg(tmp_path, bare, "v1", shas[1])
    ref = tmp_path / "refs"
    r = _armvm(cfg, tmp_path / "w", env={"KAS_REPO_REF_DIR": str(ref)})
    assert r.returncode == 0, r.stderr
    from armvm_oe.gitcheckout import qualified_name
    sdir = ref / qualified_name(bare.as_uri())
    assert (sdir / "objects").is_dir()
    assert git("rev-parse", "--is-shallow-repository", cwd=sdir) == "false"
    assert git("rev-parse", "master", cwd=sdir) == shas[2]
    alt = (tmp_path / "w" / "t" / ".git" / "objects" / "info" / "alternates").read_text()
    assert str(sdir.resolve()) in alt


def test_patched_tree_status_ok_and_kas_rerun_keeps_it(tmp_path, tagged):
    """Item 6: a tree armvm-oe patched is 'ok' for status, a second armvm-oe
    run keeps the patch commits (before: reset to the pin), and kas run on
    the same tree ends at the very same commit."""
    bare, shas = tagged
    patch = ("From 0 Mon Sep 17 00:00:00 2001\nFrom: x <x@example.invalid>\n"
             "Date: Fri, 20 Sep 2019 10:33:07 +0200\nSubject: [PATCH] add\n\n---\n"
             "diff --git a/added.txt b/added.txt\nnew file mode 100644\nindex 0000000..e69de29\n"
             "--- /dev/null\n+++ b/added.txt\n@@ -0,0 +1 @@\n+added by a patch\n")
    cfg = make_project(tmp_path / "p", {"fix.patch": patch, "p.yml": (
        f"header:\n  version: 14\nrepos:\n  this:\n  t:\n    url: {bare.as_uri()}\n"
        f"    branch: master\n    commit: {shas[2]}\n    patches:\n      p1:\n"
        f"        repo: this\n        path: fix.patch\n")}) / "p.yml"
    work = tmp_path / "w"
    first = _armvm(cfg, work)
    assert first.returncode == 0, first.stderr
    head = git("rev-parse", "HEAD", cwd=work / "t")
    assert head != shas[2] and git("rev-parse", "HEAD~1", cwd=work / "t") == shas[2]
    assert (work / "t" / "added.txt").read_text() == "added by a patch\n"
    assert git("log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", cwd=work / "t") == \
        "kas <kas@example.com>|kas User <kas@example.com>|kas: p1"
    st = subprocess.run([sys.executable, "-m", "armvm_oe", "status", str(cfg), "--work-dir",
                         str(work), "--json"], capture_output=True, text=True, cwd=work)
    assert st.returncode == 0, st.stdout + st.stderr
    assert json.loads(st.stdout)["repos"][1]["state"] == "ok"
    again = _armvm(cfg, work)
    assert again.returncode == 0 and git("rev-parse", "HEAD", cwd=work / "t") == head
    k = subprocess.run([sys.executable, "-m", "kas", "checkout", str(cfg)], cwd=work,
                       env=dict(os.environ, KAS_WORK_DIR=str(work)), capture_output=True,
                       text=True)
    assert k.returncode == 0, k.stderr
    assert git("rev-parse", "HEAD", cwd=work / "t") == head


@pytest.mark.parametrize("count", [0, 2])
def test_init_script_must_be_unique_as_in_kas(tmp_path, count):
    """kas checkout stops when no repo or several hold oe-init-build-env; so
    does armvm-oe (before: exit 0 and a work dir kas build cannot use)."""
    repos = ""
    for i in range(2):
        bare = tmp_path / f"r{i}.git"
        files = {"oe-init-build-env": INIT} if i < count else {"README": "x\n"}
        sha = make_repo(bare, [files])[0]
        repos += f"  r{i}:\n    url: {bare.as_uri()}\n    commit: {sha}\n"
    cfg = make_project(tmp_path / "p", {"p.yml": f"header:\n  version: 14\nrepos:\n{repos}"})
    out = run_both(str(cfg / "p.yml"), tmp_path / "run")
    assert out.kas_rc != 0
    assert out.armvm_rc == 2 and "oe-init-build-env" in out.armvm_err, out.armvm_err


@pytest.mark.parametrize("where", ["behind-tip", "other-branch"])
def test_commit_must_be_on_its_branch(tmp_path, where):
    """kas (full clone) refuses a commit that is not on 'branch:'; armvm-oe
    checks it in its shallow clone too, and sets origin/<branch> only to the
    server's real branch (before: exit 0 and origin/master forged to the pin,
    which then fooled kas's own check)."""
    bare = tmp_path / "b.git"
    shas = make_repo(bare, [{"oe-init-build-env": INIT}, {"a": "1\n"}, {"a": "2\n"},
                            {"a": "3\n"}], extra_branches={})
    src = bare.with_name(bare.name + ".src")
    git("checkout", "-q", "-b", "next", shas[1], cwd=src)
    (src / "n").write_text("next only\n")
    git("add", "-A", cwd=src)
    git("commit", "-q", "-m", "next", cwd=src)
    off = git("rev-parse", "HEAD", cwd=src)
    git("push", "-q", str(bare), "next", cwd=src)
    pin = shas[1] if where == "behind-tip" else off
    cfg = make_project(tmp_path / "p", {"p.yml": (
        f"header:\n  version: 14\nrepos:\n  this:\n  b:\n    url: {bare.as_uri()}\n"
        f"    branch: master\n    commit: {pin}\n")}) / "p.yml"
    out = run_both(str(cfg), tmp_path / "run")
    if where == "behind-tip":
        assert out.kas_rc == 0 and out.armvm_rc == 0, out.armvm_err
        assert out.differences() == []
        awork = tmp_path / "run" / "armvm-work" / "b"
        assert git("rev-parse", "origin/master", cwd=awork) == shas[-1]   # the real tip
    else:
        assert out.kas_rc != 0
        assert out.armvm_rc == 2 and "does not contain" in out.armvm_err, out.armvm_err
        assert "Traceback" not in out.armvm_err

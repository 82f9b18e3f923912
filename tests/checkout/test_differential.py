"""Differential suite: kas's own test configurations through ``kas checkout``
and ``armvm-oe checkout``, compared (layout, HEADs, HEAD refs, trees, tags,
patch commits, bblayers.conf, local.conf, exit codes).

The configurations are kas's own, unchanged, read at test time from a local
kas repository (ARMVM_KAS_MIRROR, default /work/.mirror/siemens+kas/repo; its
tests/ directory at tag 5.4, ARMVM_KAS_TESTS_REV): none of kas's files is kept
in this repository, and without such a clone these cases skip with that reason.
Their repos all point at https://github.com/siemens/kas.git, which
``KAS_PREMIRRORS`` redirects for both tools:

* default run (CI): to a generated stand-in of the kas repository whose
  commits carry the files kas's patches apply to and the tags the configs
  name; the real commit ids in the configs are replaced by the stand-in's;
* ``nightly`` (locally): to a real clone of kas (ARMVM_KAS_MIRROR, default
  /work/.mirror/siemens+kas/repo), configs byte for byte as kas has them.

Each case states what both tools must do: ``ok`` (both succeed, no
difference), ``fail`` (both refuse), or ``refused`` (kas succeeds, armvm-oe
refuses with exit 2 and a message: a documented refusal, never a silent
difference).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from differential import git, make_project, make_repo, run_both, snapshot

KAS_URL = "https://github.com/siemens/kas.git"
REAL_KAS = Path(os.environ.get("ARMVM_KAS_MIRROR", "/work/.mirror/siemens+kas/repo"))
KAS_TESTS_REV = os.environ.get("ARMVM_KAS_TESTS_REV", "5.4")
FIX_DIRS = ("test_repo_includes", "test_layers", "test_refspec", "test_patch", "test_commands")
INIT_SCRIPT = "#!/bin/sh\n\ntrue\n"   # the init script kas needs in one repo (a stub)
_fix: list[Path] = []


def fix_dir() -> Path:
    """kas's tests/ at KAS_TESTS_REV, extracted once per session from the
    local kas repository (skip when there is none)."""
    if _fix:
        return _fix[0]
    if not ((REAL_KAS / "objects").is_dir() or (REAL_KAS / ".git").is_dir()):
        pytest.skip(f"kas's own test configurations are read from a local kas repository "
                    f"(ARMVM_KAS_MIRROR={REAL_KAS}, a clone of siemens/kas): none here")
    import tempfile
    out = Path(tempfile.mkdtemp(prefix="armvm-kas-tests-"))
    arch = subprocess.run(["git", "--git-dir", str(REAL_KAS), "archive", KAS_TESTS_REV,
                           *[f"tests/{d}" for d in FIX_DIRS]], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(out)], input=arch.stdout, check=True)
    _fix.append(out / "tests")
    return _fix[0]

CHANGELOG = ("1.0\n- isar: Take qemu-user-static from buster and adjust binfmt setup\n\n"
             "0.20.1\n- kas-docker: Restore KAS_PREMIRRORS support\n\n0.20\n- older\n")
VERSION_PY = "".join(f"# line {i}\n" for i in range(1, 25)) + (
    "__license__ = 'MIT'\n__copyright__ = 'Copyright (c) Siemens AG, 2017-2018'\n\n"
    "__version__ = '1.0'\n\n# Please update docs/format-changelog.rst when changing the "
    "file version.\n__file_version__ = 8\n")

# real commit ids in kas's fixtures -> index of the stand-in commit
REAL_TO_STANDIN = {
    "907816a5c4094b59a36aec12226e71c461c05b77": 0,   # kas 1.0 (patches apply here)
    "229310958b17dc2b505b789c1cc1d0e2fddccc44": 1,   # tag 3.0.1
    "e9ca55a239caa1a2098e1d48773a29ea53c6cab2": 1,   # kas 1.1
    "abd109469d17b7ff4d958b5aa5ab5f5511cc4d43": 1,   # a commit used as branch name
    "23211cbd3518936d83169722d1eb40656344ba27": 1,   # tag 4.2 (pinned next to tag 4.3)
}

CASES = {
    # kas tests/test_repo_includes (test_repo_includes, test_lockfile): 3 levels
    # of repo includes, the last from inside the included repo, 8 repos in all
    "test_repo_includes/test.yml": "ok",
    "test_layers/test.yml": "ok",
    "test_layers/test-layer-prio.yml": "ok",
    "test_refspec/test.yml": "ok",        # commit; branch; tag + commit; branch
    "test_refspec/test2.yml": "ok",       # legacy refspec = commit; lightweight tag
    "test_refspec/test3.yml": "ok",       # refs/heads/master, tag: refs/tags/3.0.1
    "test_refspec/test4.yml": "fail",     # no commit/tag/branch
    "test_refspec/test6.yml": "fail",     # refspec + branch
    "test_refspec/test7.yml": "fail",     # refspec + tag
    "test_refspec/test8.yml": "fail",     # tag + non-matching short commit
    "test_refspec/test10.yml": "fail",    # tag + branch
    "test_refspec/test11.yml": "fail",    # a commit id as branch name
    "test_refspec/test12.yml": "refused",  # short commit id: kas warns, armvm-oe refuses
    "test_refspec/test13.yml": "ok",
    "test_patch/test.yml#git": "ok",      # plain patch + quilt series, commit and branch
    "test_patch/test2.yml#git": "ok",
    "test_patch/test.yml": "fail",        # type: hg (kas: hg missing; armvm-oe: refusal)
    "test_patch/test-invalid.yml": "fail",   # patch file missing
    "test_patch/test-invalid2.yml": "fail",  # patch names an unknown repo
    "test_commands/test.yml": "ok",
    "test_commands/test-invalid-tag.yml": "fail",  # tag 4.3 with tag 4.2's commit
}


def standin(bare: Path) -> list[str]:
    layers_yml = (fix_dir() / "test_layers" / "test.yml").read_text()
    return make_repo(bare, [
        {"CHANGELOG.md": CHANGELOG, "kas/__version__.py": VERSION_PY,
         "tests/test_layers/test.yml": layers_yml, "meta-foo/conf/layer.conf": "# foo\n"},
        {"README.md": "second\n"},
        {"README.md": "third\n"},
    ], branch="master",
        tags={"2.6.3": (0, False), "3.0.1": (1, True), "4.2": (1, True), "4.3": (2, True)},
        extra_branches={"next": 1})


def _git_only(text: str) -> str:
    """The fixture without its Mercurial repos (armvm-oe refuses type: hg)."""
    data = yaml.safe_load(text)
    data["repos"] = {k: v for k, v in data["repos"].items()
                     if not (isinstance(v, dict) and v.get("type") == "hg")}
    return yaml.safe_dump(data, sort_keys=False)


def setup_case(case: str, tmp: Path, shas: list[str] | None) -> tuple[str, callable]:
    """Copy the fixture's directory as the project repo; returns the config
    path and a function preparing a work dir (test_repo_includes moves its
    'subrepo' into the work dir, as kas's test does)."""
    name, _, variant = case.partition("#")
    src = fix_dir() / Path(name).parent
    proj = tmp / "project"
    files = {}
    for f in src.rglob("*"):
        if f.is_file() or f.is_symlink():
            files[str(f.relative_to(src))] = f
    texts = {}
    for rel, f in files.items():
        if f.is_symlink():
            continue
        text = f.read_text()
        if shas is not None and rel.endswith(".yml"):
            for real, idx in REAL_TO_STANDIN.items():
                text = text.replace(real, shas[idx]).replace(real[:9], shas[idx][:9])
        if variant == "git" and rel == Path(name).name:
            text = _git_only(text)
        texts[rel] = text
    texts["oe-init-build-env"] = INIT_SCRIPT
    make_project(proj, texts)
    for rel, f in files.items():   # symlinks (a quilt patch reused) as symlinks
        if f.is_symlink():
            (proj / rel).parent.mkdir(parents=True, exist_ok=True)
            (proj / rel).symlink_to(os.readlink(f))
    git("add", "-A", cwd=proj)
    git("commit", "-q", "-m", "links", "--allow-empty", cwd=proj)

    def prepare(work: Path) -> None:
        if name.startswith("test_repo_includes/"):
            shutil.copytree(proj / "subrepo", work / "subrepo", dirs_exist_ok=True)
    return str(proj / Path(name).name), prepare


@pytest.fixture(scope="module")
def kas_standin(tmp_path_factory):
    d = tmp_path_factory.mktemp("standin")
    shas = standin(d / "kas.git")
    return d / "kas.git", shas


def _check(case: str, expect: str, outcome) -> None:
    diffs = outcome.differences()
    if expect == "ok":
        assert outcome.kas_rc == 0, f"kas failed on {case}: {outcome.kas_err[-2000:]}"
        assert outcome.armvm_rc == 0, f"armvm-oe failed on {case}: {outcome.armvm_err[-2000:]}"
        assert diffs == [], "\n".join(diffs)
        repos = [k for k, v in outcome.armvm.items() if isinstance(v, dict)]
        assert repos, "nothing was checked out"
        assert outcome.armvm["build/conf/bblayers.conf"], "no bblayers.conf"
    elif expect == "fail":
        assert outcome.kas_rc != 0, f"kas accepted {case}"
        assert outcome.armvm_rc == 2, f"armvm-oe: {outcome.armvm_rc} {outcome.armvm_err[-2000:]}"
        assert "Traceback" not in outcome.armvm_err
    else:  # refused: a documented refusal
        assert outcome.kas_rc == 0, outcome.kas_err[-2000:]
        assert outcome.armvm_rc == 2 and "Traceback" not in outcome.armvm_err


def _run_case(case, tmp_path, premirror: Path, shas):
    cfg, prepare = setup_case(case, tmp_path, shas)
    for w in ("kas-work", "armvm-work"):
        (tmp_path / w).mkdir()
        prepare(tmp_path / w)
    env = {"KAS_PREMIRRORS": f"{KAS_URL} {premirror.as_uri()}"}
    return cfg, env, run_both(cfg, tmp_path, env=env)


@pytest.mark.parametrize("case", list(CASES))
def test_kas_fixture_generated(case, tmp_path, kas_standin):
    bare, shas = kas_standin
    cfg, env, outcome = _run_case(case, tmp_path, bare, shas)
    _check(case, CASES[case], outcome)
    if CASES[case] == "ok":
        # armvm-oe on the tree kas made, with the server gone: nothing to
        # fetch, nothing changed (full clones stay full, kas's patch commits
        # are re-made identical)
        kwork = tmp_path / "kas-work"
        shallow_before = sorted(p.parent.parent for p in kwork.glob("*/.git/shallow"))
        r = subprocess.run([sys.executable, "-m", "armvm_oe", "checkout", cfg], cwd=kwork,
                           env=dict(os.environ, NO_COLOR="1", KAS_WORK_DIR=str(kwork),
                                    KAS_PREMIRRORS=f"{KAS_URL} file:///nonexistent/kas.git"),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        def no_origin(snap):   # origin is set to the (rewritten) URL, as kas does
            return {k: ({f: x for f, x in v.items() if f != "origin"} if isinstance(v, dict)
                        else v) for k, v in snap.items()}
        assert no_origin(snapshot(kwork)) == no_origin(outcome.kas), \
            "armvm-oe changed kas's tree"
        assert sorted(p.parent.parent for p in kwork.glob("*/.git/shallow")) == shallow_before
    if CASES[case] == "ok" and "patch" in case:
        # a second run of each tool on its own tree: still twins (kas re-applies
        # its patches on every checkout; the commits come out identical)
        again = run_both(cfg, tmp_path, env=env)
        _check(case, "ok", again)
        assert again.armvm == outcome.armvm


@pytest.mark.nightly
@pytest.mark.skipif(not (REAL_KAS / "objects").is_dir() and not (REAL_KAS / ".git").is_dir(),
                    reason="no local clone of kas (set ARMVM_KAS_MIRROR)")
@pytest.mark.parametrize("case", list(CASES))
def test_kas_fixture_real_kas_repo(case, tmp_path):
    expect = CASES[case]
    cfg, env, outcome = _run_case(case, tmp_path, REAL_KAS, None)
    _check(case, expect, outcome)

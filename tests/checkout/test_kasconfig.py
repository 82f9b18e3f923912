"""The kas configurations and the config reader, against real kas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import gitgen
from conftest import ROOT, make_project, run_armvm, run_kas

from armvm_oe import kasconfig
from armvm_oe.errors import InputError

# the pins of kas/ (tag + commit; the release facts in docs/checkout.md)
SCARTHGAP = {"bitbake": ("2.8", "0880963fea4d91a034e4a6e007d23f98658ab986"),          # yocto-5.0.19
             "openembedded-core": ("scarthgap", "2814f0962f56c8d1afa4de76d2895ba9b5cb767d"),
             "meta-yocto": ("scarthgap", "c7c38663a1cafb1fa8593c0b246811e51d3bbe20")}  # 5.0.17
WRYNOSE = {"bitbake": ("2.18", "acfe02fa38b5da9e6a36c6cedcf91d4fcbefbfbd"),            # yocto-6.0.2
           "openembedded-core": ("wrynose", "5d1aa5c806c061a2994f4decb59016610f093213"),
           "meta-yocto": ("wrynose", "904846ae078ee20de073040ebb77c86e19250f56")}
CONFIGS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "kas").rglob("*.yml"))


@pytest.mark.parametrize("name", CONFIGS)
def test_each_file_passes_kas_own_loader(name):
    """kas's own ConfigFile.load: YAML, CONFIGSCHEMA and header-version range."""
    from kas.includehandler import ConfigFile

    cf = ConfigFile.load(str(ROOT / name))
    assert cf.config["header"]["version"] >= 14  # commit + branch needs >= 14
    kasconfig._read_file(ROOT / name, is_lockfile=".lock." in name)  # and ours agrees


@pytest.mark.parametrize("arch,machine", [("aarch64", "armvm-aarch64"), ("arm", "armvm-arm")])
def test_machine_configs(arch, machine, tmp_path):
    p = kasconfig.load_config(ROOT / f"kas/armvm-{arch}.yml", work_dir=tmp_path)
    assert p.machine == machine and p.distro == "poky" and p.target == ["armvm-image"]
    assert [f.name for f in p.config_files] == ["armvm-common.yml", f"armvm-{arch}.yml"]
    assert p.lock_file == ROOT / f"kas/armvm-{arch}.lock.yml"
    for rid, (branch, commit) in SCARTHGAP.items():
        r = p.repo(rid)
        assert (r.commit, r.branch, r.locked) == (commit, branch, True), rid
        assert r.path == tmp_path / rid and not r.is_local
    assert p.repo("bitbake").layers == []
    me = p.repo("armvm-oe")
    assert me.is_local and me.url is None and me.path == ROOT
    assert p.bblayers() == [ROOT / "meta-armvm", tmp_path / "meta-yocto/meta-poky",
                            tmp_path / "meta-yocto/meta-yocto-bsp",
                            tmp_path / "openembedded-core/meta"]


def test_wrynose_overlay(tmp_path):
    p = kasconfig.load_config(f"{ROOT}/kas/armvm-arm.yml:{ROOT}/kas/wrynose.yml",
                              work_dir=tmp_path)
    repos = {r.id: r for r in p.repos}
    assert set(repos) == {"armvm-oe", "meta-yocto", "bitbake", "openembedded-core"}
    for rid, (branch, commit) in WRYNOSE.items():
        assert (repos[rid].commit, repos[rid].branch) == (commit, branch), rid
        assert repos[rid].locked, f"{rid} must be pinned by kas/wrynose.lock.yml"
    assert repos["meta-yocto"].url.endswith("/meta-yocto")
    assert repos["bitbake"].layers == []
    # oe-core finds bitbake at <oe-core>/../bitbake
    assert repos["bitbake"].path == repos["openembedded-core"].path.parent / "bitbake"
    assert p.bblayers() == [ROOT / "meta-armvm", tmp_path / "meta-yocto/meta-poky",
                            tmp_path / "meta-yocto/meta-yocto-bsp",
                            tmp_path / "openembedded-core/meta"]


def test_kas_dump_agrees(tmp_path, remotes, wrynose_remotes):
    """Real kas dumps the real configurations (repos served locally) and
    resolves the same repos, commits and URLs as kasconfig."""
    for rem, wry in ((remotes, False), (wrynose_remotes, True)):
        proj = make_project(tmp_path, rem, name=f"p{int(wry)}")
        cfg = proj.config(wrynose=wry)
        r = run_kas("dump", "--format", "json", "--resolve-refs", cfg, work=proj.work)
        assert r.returncode == 0, r.stderr
        dumped = json.loads(r.stdout)
        ours = kasconfig.load_config(cfg, work_dir=proj.work)
        assert dumped["machine"] == ours.machine == "armvm-aarch64"
        for repo in ours.remote_repos:
            assert dumped["repos"][repo.id]["commit"] == repo.commit == rem[repo.id].head()
            # kas cloned it where kasconfig says it lives, at the pin
            assert gitgen.git("rev-parse", "HEAD", cwd=repo.path) == repo.commit


BAD = {
    "unknown-key": ("header:\n  version: 14\nrepos:\n  poky:\n    url: https://x/poky\n"
                    "    branch: b\n    comit: 1\n", ":7:", "unknown key 'repos.poky.comit'"),
    "bad-yaml": ("header:\n  version: 14\nrepos:\n  poky: [\n", ":5:", "not valid YAML"),
    "short-commit": ("header:\n  version: 14\nrepos:\n  poky:\n    url: https://x/poky\n"
                     "    commit: 72983ac3\n", ":6:", "not a full 40-character"),
    "lock-short-commit": ("header:\n  version: 14\noverrides:\n  repos:\n    poky:\n"
                          "      commit: HEAD\n", ":6:", "not a full 40-character"),
    "version": ("header:\n  version: 99\n", ":2:", "header version 99 is not supported"),
    "no-ref": ("header:\n  version: 14\nrepos:\n  poky:\n    url: https://x/poky\n", ":4:",
               "has a url but no commit, tag or branch"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_paragraph_exit_2(case, tmp_path):
    text, line, what = BAD[case]
    cfg = tmp_path / "c.yml"
    cfg.write_text(text)
    r = run_armvm("checkout", cfg, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"{cfg}{line}" in r.stderr and what in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    with pytest.raises(InputError):
        kasconfig.load_config(cfg, work_dir=tmp_path)


def test_git_protocol_warns_with_https_suggestion(tmp_path, caplog):
    cfg = tmp_path / "c.yml"
    cfg.write_text("header:\n  version: 14\nrepos:\n  poky:\n"
                   "    url: git://git.yoctoproject.org/poky\n    branch: scarthgap\n")
    with caplog.at_level("WARNING"):
        p = kasconfig.load_config(cfg, work_dir=tmp_path)
    assert p.repo("poky").url == "git://git.yoctoproject.org/poky"
    msg = caplog.text
    assert f"{cfg}:5" in msg and "git://" in msg and "https://git.yoctoproject.org/" in msg


def test_layer_dirs_follow_kas_rules(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("header:\n  version: 14\nrepos:\n  a:\n    url: https://x/a\n    branch: m\n"
                   "  b:\n    url: https://x/b\n    branch: m\n    path: elsewhere/bb\n"
                   "    layers:\n      one:\n      two: disabled\n      three:\n"
                   "        prio: 5\n      .:\n")
    p = kasconfig.load_config(cfg, work_dir=tmp_path)
    assert kasconfig.layer_dirs(p.repo("a")) == [tmp_path / "a"]
    assert kasconfig.layer_dirs(p.repo("b")) == [tmp_path / "elsewhere/bb/one",
                                                 tmp_path / "elsewhere/bb/three",
                                                 tmp_path / "elsewhere/bb"]
    assert p.bblayers()[0] == tmp_path / "elsewhere/bb/three"  # higher prio first
    assert Path(p.build_dir) == tmp_path / "build"

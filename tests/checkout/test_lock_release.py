"""armvm-oe lock --update moves pins to the newest Yocto point release of
their series, read from the remotes' tags (local bare repositories that get
newer yocto-<series>.N tags, as upstream does at each point release)."""

from __future__ import annotations

import json

import gitgen
from conftest import run_armvm

from armvm_oe.gitcheckout import pointrelease as PR


def _tag(bare, name, commit, annotated=False):
    args = ["-a", "-m", name] if annotated else []
    gitgen.git("--git-dir", str(bare), "tag", *args, name, commit)


def _project(tmp_path):
    d = tmp_path / "remotes"
    d.mkdir()
    oe = gitgen.make_bare(d / "openembedded-core.git", branch="scarthgap", seed="oe",
                          layers=("meta",), init_script=True)
    bb = gitgen.make_bare(d / "bitbake.git", branch="2.8", seed="bb", layers=())
    my = gitgen.make_bare(d / "meta-yocto.git", branch="scarthgap", seed="my",
                          layers=("meta-poky",))
    pins = {"oe": gitgen.head(oe, "scarthgap"), "bb": gitgen.head(bb, "2.8"),
            "my": gitgen.head(my, "scarthgap")}
    _tag(oe, "yocto-5.0.17", pins["oe"], annotated=True)
    _tag(bb, "yocto-5.0.17", pins["bb"])
    _tag(my, "yocto-5.0.17", pins["my"])
    proj = tmp_path / "proj"
    (proj / "kas").mkdir(parents=True)
    (proj / "kas" / "base.yml").write_text(
        "header:\n  version: 14\nrepos:\n"
        f"  openembedded-core:\n    url: {oe.as_uri()}\n    branch: scarthgap\n"
        f"    # tag yocto-5.0.17\n    commit: {pins['oe']}\n    layers:\n      meta:\n"
        f"  bitbake:\n    url: {bb.as_uri()}\n    branch: \"2.8\"\n"
        f"    # tag yocto-5.0.17\n    commit: {pins['bb']}\n    layers:\n      .: disabled\n"
        f"  meta-yocto:\n    url: {my.as_uri()}\n    branch: scarthgap\n"
        f"    commit: {pins['my']}\n    layers:\n      meta-poky:\n")
    gitgen.git("init", "-q", "-b", "main", proj)
    gitgen.git("add", "-A", cwd=proj)
    gitgen.git("commit", "-q", "-m", "p", cwd=proj)
    return proj, {"oe": oe, "bb": bb, "my": my}, pins


def test_update_moves_to_the_newest_point_release(tmp_path):
    proj, bare, pins = _project(tmp_path)
    cfg = proj / "kas" / "base.yml"
    lock = proj / "kas" / "base.lock.yml"
    r = run_armvm("lock", "--json", cfg, cwd=proj)          # the lock at the current pins
    assert r.returncode == 0, r.stderr
    assert all(not c["changed"] for c in json.loads(r.stdout)["repos"])
    # upstream publishes 5.0.18 and 5.0.19 (oe-core, bitbake) and keeps
    # committing after them; 6.0 on another branch is another series
    c18 = gitgen.add_commit(bare["oe"], "scarthgap", "5.0.18")
    _tag(bare["oe"], "yocto-5.0.18", c18, annotated=True)
    c19 = gitgen.add_commit(bare["oe"], "scarthgap", "5.0.19")
    _tag(bare["oe"], "yocto-5.0.19", c19, annotated=True)
    gitgen.add_commit(bare["oe"], "scarthgap", "after 5.0.19")
    w = gitgen.add_commit(bare["oe"], "scarthgap", "6.0 line")
    _tag(bare["oe"], "yocto-6.0.2", w)
    _tag(bare["oe"], "yocto-6.0_M3", w)
    b19 = gitgen.add_commit(bare["bb"], "2.8", "2.8.x")
    _tag(bare["bb"], "yocto-5.0.19", b19)
    my_head = gitgen.add_commit(bare["my"], "scarthgap", "no release yet")

    # the doctor's view before the update: 2 point releases behind
    tags = PR.ls_remote_tags(bare["oe"].as_uri(), 30)
    st = PR.status("openembedded-core", pins["oe"], "scarthgap", tags, "remote")
    assert (st.series, st.pinned_tag, st.newest_tag, st.newest_commit, st.behind) == \
        ("5.0", "yocto-5.0.17", "yocto-5.0.19", c19, 2)

    r = run_armvm("lock", "--update", "--json", cfg, cwd=proj)
    assert r.returncode == 0, r.stderr
    ch = {c["id"]: c for c in json.loads(r.stdout)["repos"]}
    assert (ch["openembedded-core"]["new"], ch["openembedded-core"]["tag"],
            ch["openembedded-core"]["old_tag"]) == (c19, "yocto-5.0.19", "yocto-5.0.17")
    assert (ch["bitbake"]["new"], ch["bitbake"]["tag"]) == (b19, "yocto-5.0.19")
    # meta-yocto has no newer release: its pin stays at the newest one
    assert (ch["meta-yocto"]["new"], ch["meta-yocto"]["changed"]) == (pins["my"], False)
    assert my_head != pins["my"]
    # the lock file kas loads, with the tag named
    from kas.includehandler import ConfigFile
    locked = ConfigFile.load(str(lock)).config["overrides"]["repos"]
    assert locked["openembedded-core"]["commit"] == c19 and locked["bitbake"]["commit"] == b19
    assert "# branch scarthgap, tag yocto-5.0.19" in lock.read_text()
    # and the config's own pin and tag comment moved with it
    text = cfg.read_text()
    assert f"# tag yocto-5.0.19\n    commit: {c19}" in text and pins["oe"] not in text
    assert f"commit: {b19}" in text and f"commit: {pins['my']}" in text
    # a second update changes nothing
    r = run_armvm("lock", "--update", "--json", cfg, cwd=proj)
    assert r.returncode == 0 and not any(c["changed"] for c in json.loads(r.stdout)["repos"])


def test_update_without_reachable_tags_is_one_paragraph(tmp_path):
    proj, bare, _pins = _project(tmp_path)
    bare["bb"].rename(bare["bb"].with_name("gone.git"))
    r = run_armvm("lock", "--update", proj / "kas" / "base.yml", cwd=proj)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "Cannot read the tags of repo 'bitbake'" in r.stderr


def test_status_pure_functions():
    tags = {"yocto-5.0.9": "a" * 40, "yocto-5.0.10": "a" * 40, "yocto-5.0.11": "b" * 40,
            "yocto-6.0": "c" * 40, "yocto-6.0_M1": "d" * 40, "scarthgap-5.0.11": "b" * 40}
    # two tags at one commit: the newer one is the pin's release
    st = PR.status("x", "a" * 40, "2.8", tags, "known")
    assert (st.pinned_tag, st.newest_tag, st.behind) == ("yocto-5.0.10", "yocto-5.0.11", 1)
    # a pin between releases on a known branch: series from the branch, count unknown
    st = PR.status("x", "e" * 40, "wrynose", tags, "known")
    assert (st.series, st.pinned_tag, st.newest_tag, st.behind) == ("6.0", None, "yocto-6.0",
                                                                    None)
    assert PR.parse_tag("yocto-6.0") == ("6.0", 0) and PR.parse_tag("yocto-6.0_M1") is None
    text = "\n".join([f"{'1' * 40}\trefs/tags/yocto-5.0.19", f"{'2' * 40}\trefs/tags/yocto-5.0.19^{{}}",
                      f"{'3' * 40}\trefs/tags/other"])
    assert PR.parse_ls_remote(text) == {"yocto-5.0.19": "2" * 40}
    assert "openembedded-core" in PR.split_layout("5.0") and "2.18" in PR.split_layout("6.0")

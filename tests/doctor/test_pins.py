"""checkout.point-release: how many Yocto point releases a config's pins are
behind, from the remote's tags (--network), else from the checkout's tags
and armvm-oe's release table; a poky pin names the split repositories."""

from __future__ import annotations

from armvm_oe.doctor import Context, Thresholds
from armvm_oe.gitcheckout import pointrelease as PR
from tests.doctor.conftest import fired, git


def _release_repo(base, name, branch, tags):
    """A bare repo with one commit per tag on ``branch``; returns (bare, {tag: commit})."""
    src = base / f"{name}-src"
    git("init", "-q", "-b", branch, src)
    (src / "meta" / "conf").mkdir(parents=True)
    (src / "meta" / "conf" / "layer.conf").write_text('BBFILE_COLLECTIONS += "core"\n')
    (src / "meta-poky").mkdir()
    (src / "meta-poky" / "README").write_text("x\n")
    (src / "oe-init-build-env").write_text("# sourced\n")
    out = {}
    for i, tag in enumerate(tags):
        (src / "VERSION").write_text(f"{i}\n")
        git("add", "-A", cwd=src)
        git("commit", "-qm", tag, cwd=src)
        git("tag", "-a", "-m", tag, tag, cwd=src)
        out[tag] = git("rev-parse", "HEAD", cwd=src).stdout.strip()
    bare = base / f"{name}.git"
    git("clone", "-q", "--bare", src, bare)
    return bare, out


def _config(base, rid, bare, branch, commit, layers=("meta",)):
    cfg = base / "cfg" / "kas.yml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("header:\n  version: 14\nmachine: qemuarm64\nrepos:\n"
                   f"  {rid}:\n    url: {bare.as_uri()}\n    branch: {branch}\n"
                   f"    commit: {commit}\n    layers:\n"
                   + "".join(f"      {layer}:\n" for layer in layers))
    git("init", "-q", cfg.parent)
    return cfg


def _ctx(cfg, work, network):
    return Context(kas_config=str(cfg), work_dir=work, network=network,
                   thresholds=Thresholds(recommended_free_gb=1, min_ram_gb=1))


def test_behind_from_the_remote_tags(tmp_path):
    bare, tags = _release_repo(tmp_path, "openembedded-core", "scarthgap",
                               ["yocto-5.0.16", "yocto-5.0.17", "yocto-5.0.18", "yocto-5.0.19"])
    cfg = _config(tmp_path, "openembedded-core", bare, "scarthgap", tags["yocto-5.0.17"])
    work = tmp_path / "work"
    work.mkdir()
    res = fired(_ctx(cfg, work, network=True), "checkout.point-release")
    assert len(res) == 1 and res[0].severity == "warn"
    msg = res[0].message
    assert "at yocto-5.0.17" in msg and "2 point release(s) behind yocto-5.0.19" in msg
    assert f"the remote {bare.as_uri()}" in msg
    assert res[0].commands == [f"armvm-oe lock --update {cfg}"]
    # at the newest: quiet
    cfg = _config(tmp_path, "openembedded-core", bare, "scarthgap", tags["yocto-5.0.19"])
    assert fired(_ctx(cfg, work, network=True), "checkout.point-release") == []


def test_behind_from_the_checkout_when_the_remote_is_gone(tmp_path):
    bare, tags = _release_repo(tmp_path, "openembedded-core", "scarthgap",
                               ["yocto-5.0.17", "yocto-5.0.18", "yocto-5.0.19"])
    work = tmp_path / "work"
    git("clone", "-q", bare, work / "openembedded-core")
    cfg = _config(tmp_path, "openembedded-core", bare, "scarthgap", tags["yocto-5.0.18"])
    bare.rename(tmp_path / "gone.git")
    res = fired(_ctx(cfg, work, network=True), "checkout.point-release")
    assert len(res) == 1
    assert "1 point release(s) behind yocto-5.0.19" in res[0].message
    assert "the checkout's tags" in res[0].message


def test_poky_pin_names_the_split_repositories(tmp_path):
    """poky at yocto-5.0.15, the end of its snapshot: counted against
    openembedded-core's releases (armvm-oe's table: yocto-5.0.19)."""
    bare, tags = _release_repo(tmp_path, "poky", "scarthgap", ["yocto-5.0.14", "yocto-5.0.15"])
    cfg = _config(tmp_path, "poky", bare, "scarthgap", tags["yocto-5.0.15"],
                  layers=("meta", "meta-poky"))
    work = tmp_path / "work"
    git("clone", "-q", bare, work / "poky")
    res = fired(_ctx(cfg, work, network=False), "checkout.point-release")
    assert len(res) == 1
    known = PR.releases(PR.known_tags("https://git.openembedded.org/openembedded-core"), "5.0")
    newest_n, newest_tag, _c = known[-1]
    msg = res[0].message
    assert f"{newest_n - 15} point release(s) behind {newest_tag}" in msg
    for rid, url, branch, _layers in PR.SPLIT_REPOS["5.0"]:
        assert f"{rid} ({url}, branch {branch}" in msg
    assert "Replace the poky repo" in res[0].fix and not res[0].commands


def test_the_repository_configs_are_at_the_newest_known_release(tmp_path):
    """kas/ itself: the doctor, offline, finds every pin current (the table
    and the pins were written together; 'lock --update' moves both)."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    for chain in ("kas/armvm-aarch64.yml", "kas/armvm-arm.yml:kas/wrynose.yml"):
        cfg = ":".join(str(root / c) for c in chain.split(":"))
        ctx = _ctx(cfg, tmp_path, network=False)
        assert fired(ctx, "checkout.point-release") == []
        from armvm_oe.doctor.pins import pin_status
        from armvm_oe.doctor import facts
        st = {r.id: pin_status(ctx, r) for r in facts.project(ctx).remote_repos}
        # really checked: the pins were found in the table, 0 behind
        series = "6.0" if "wrynose" in chain else "5.0"
        assert st["openembedded-core"].series == series
        assert st["openembedded-core"].behind == 0 and st["bitbake"].behind == 0


def test_pin_between_releases_counts_from_the_nearest_tag_below(tmp_path):
    """A pin after yocto-5.0.17 (not a tag): the checkout's history says which
    release it follows (git describe); 5.0.18 and 5.0.19 came later."""
    bare, tags = _release_repo(tmp_path, "openembedded-core", "scarthgap",
                               ["yocto-5.0.17", "after", "yocto-5.0.18", "yocto-5.0.19"])
    git("--git-dir", str(bare), "tag", "-d", "after")
    work = tmp_path / "work"
    git("clone", "-q", bare, work / "openembedded-core")
    cfg = _config(tmp_path, "openembedded-core", bare, "scarthgap", tags["after"])
    res = fired(_ctx(cfg, work, network=False), "checkout.point-release")
    assert len(res) == 1
    assert "pinned after yocto-5.0.17" in res[0].message
    assert "2 point release(s) behind yocto-5.0.19" in res[0].message

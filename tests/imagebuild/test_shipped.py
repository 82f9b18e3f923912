"""<work>/armvm-oe: the running armvm-oe's kas/ and meta-armvm/ as one git
commit (armvm_oe/imagebuild/shipped.py), and when a kas file asks for it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from armvm_oe.errors import ProblemFound
from armvm_oe.imagebuild import shipped
from installed import ROOT, shipped_files


def _head(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def _status(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                          capture_output=True, text=True, check=True).stdout


def test_layer_source_is_this_checkout_and_ships_the_same_files():
    assert shipped.layer_source() == ROOT and shipped.runs_from_checkout()
    # the package data points at the same trees (symlinks in the checkout)
    assert shipped_files(ROOT / "armvm_oe" / "_source") == shipped_files(ROOT)


def test_materialize_is_exact_idempotent_and_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    dest = shipped.materialize(a)
    assert dest == a / "armvm-oe"
    assert shipped_files(dest) == shipped_files(ROOT)
    assert _status(dest) == ""
    head = _head(dest)
    stamp = (dest / ".git" / "HEAD").stat().st_mtime_ns
    assert shipped.materialize(a) == dest and _head(dest) == head
    assert (dest / ".git" / "HEAD").stat().st_mtime_ns == stamp      # not rewritten
    assert _head(shipped.materialize(b)) == head                     # same files, same commit
    assert [p.name for p in a.iterdir()] == ["armvm-oe"]             # no temporary left


def test_an_upgrade_replaces_a_clean_copy_and_refuses_a_changed_one(tmp_path):
    src = tmp_path / "src"
    for part in shipped.PARTS:
        shutil.copytree(ROOT / part, src / part, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "w"
    work.mkdir()
    dest = shipped.materialize(work)
    old = _head(dest)
    (src / "kas" / "armvm-aarch64.yml").write_text(
        (src / "kas" / "armvm-aarch64.yml").read_text() + "# next version\n")
    assert _head(shipped.materialize(work, source=src)) != old       # clean: replaced
    assert (dest / "kas" / "armvm-aarch64.yml").read_text().endswith("# next version\n")
    (dest / "meta-armvm" / "conf" / "layer.conf").write_text("# my edit\n")
    with pytest.raises(ProblemFound) as ei:
        shipped.materialize(work)                                     # back to this version
    assert "meta-armvm/conf/layer.conf" in ei.value.what
    fix = ei.value.fix
    mv = fix[fix.index("mv "):fix.index(")")].split()
    subprocess.run(mv, check=True)                                    # follow the fix
    shipped.materialize(work)
    assert shipped_files(dest) == shipped_files(ROOT)
    assert (work / "armvm-oe.mine" / "meta-armvm" / "conf" / "layer.conf").read_text() \
        == "# my edit\n"                                              # the edit is kept


def test_a_tree_armvm_oe_did_not_write_is_left_alone(tmp_path):
    mine = tmp_path / "armvm-oe"
    (mine / "kas").mkdir(parents=True)
    (mine / "kas" / "x.yml").write_text("header:\n  version: 14\n")
    assert shipped.materialize(tmp_path) == mine
    assert [p.name for p in mine.iterdir()] == ["kas"]


def test_wanted_by_a_url_less_repo_at_work_armvm_oe(tmp_path):
    work = tmp_path / "w"
    work.mkdir()

    def wants(repos: str) -> bool:
        f = tmp_path / "my.yml"
        f.write_text("header:\n  version: 14\nrepos:\n" + repos)
        return shipped.wanted_by(str(f), work)

    assert wants("  armvm-oe:\n    path: armvm-oe\n")
    assert wants(f"  x:\n    path: {work}/armvm-oe/\n")
    assert wants("  x:\n    path: ./sub/../armvm-oe\n")
    assert not wants("  armvm-oe:\n    url: https://example.org/armvm-oe\n    path: armvm-oe\n"
                     "    commit: 0123456789012345678901234567890123456789\n")
    assert not wants("  armvm-oe:\n    path: other\n")
    assert not wants("  armvm-oe:\n")

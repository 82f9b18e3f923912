"""A second container build in the same directory: the build dir's files were
written inside the container (bblayers.conf with ${TOPDIR}=/work/build, the
project at /repo; saved_tmpdir /work/build/tmp). The preflight reads them on
the host through the container's path map and finds nothing wrong; without
the map the same files are a moved checkout (the failure of issue 13)."""

from __future__ import annotations

from armvm_oe.doctor import Context, run_checks

# as kas 5.5 wrote it in the container (real file)
BBLAYERS = '''BBLAYERS ?= " \\
    ${TOPDIR}/../../repo/meta-armvm \\
    ${TOPDIR}/../poky/meta \\
    ${TOPDIR}/../poky/meta-poky \\
    ${TOPDIR}/../poky/meta-yocto-bsp"
BBPATH ?= "${TOPDIR}"
BBFILES ??= ""
'''


def _tree(tmp_path):
    work, repo = tmp_path / "work", tmp_path / "project"
    for d in ("meta", "meta-poky", "meta-yocto-bsp"):
        (work / "poky" / d).mkdir(parents=True)
    (repo / "meta-armvm").mkdir(parents=True)
    (work / "build" / "conf").mkdir(parents=True)
    (work / "build" / "conf" / "bblayers.conf").write_text(BBLAYERS)
    (work / "build" / "tmp").mkdir()
    (work / "build" / "tmp" / "saved_tmpdir").write_text("/work/build/tmp\n")
    return work, repo


def _fired(work, path_map):
    ctx = Context(groups=("build",), work_dir=work, build_dir=work / "build",
                  only={"build.bblayers-missing", "build.tmpdir-moved"}, path_map=path_map)
    return sorted(r.id for r in run_checks(ctx) if r.fatal)


def test_container_written_build_dir_passes_the_preflight(tmp_path):
    work, repo = _tree(tmp_path)
    assert _fired(work, {"/work": str(work), "/repo": str(repo)}) == []


def test_without_the_map_they_look_moved(tmp_path):
    work, _repo = _tree(tmp_path)
    assert _fired(work, {}) == ["build.bblayers-missing", "build.tmpdir-moved"]


def test_a_layer_really_missing_is_still_found(tmp_path):
    work, repo = _tree(tmp_path)
    (repo / "meta-armvm").rmdir()
    assert _fired(work, {"/work": str(work), "/repo": str(repo)}) == ["build.bblayers-missing"]

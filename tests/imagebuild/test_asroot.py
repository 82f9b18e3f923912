"""A root caller of `armvm-oe build` (refused unless --allow-root /
ARMVM_ALLOW_ROOT=1, like kas-container's KAS_ALLOW_ROOT; --host as root refused,
bitbake refuses root), the build user a root caller gets, and the messages on
that path: each suggested command is run and the situation must change."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from armvm_oe.container import errors as cerrors
from armvm_oe.container import runner
from armvm_oe.errors import ROOT_BUILD_UID, RootRefused, privileged
from armvm_oe.imagebuild.asroot import allowed, refuse_root
from armvm_oe.imagebuild.incontainer import check_container_ownership

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root (CI runs as root)")


def test_allowed_reads_the_flag_and_the_variable():
    assert allowed(True, {})
    for v in ("1", "yes", "true", "ON "):
        assert allowed(False, {"ARMVM_ALLOW_ROOT": v})
    for v in ("", "0", "no", "false"):
        assert not allowed(False, {"ARMVM_ALLOW_ROOT": v})
    assert not allowed(False, {})


def test_refusals_and_their_overrides():
    for mode in ("container", "host"):
        refuse_root(mode, False, set(), euid=1000)              # users are never refused
    with pytest.raises(RootRefused) as ei:
        refuse_root("container", False, set(), euid=0)
    err = ei.value
    assert err.exit_code == 2 and err.mode == "container"
    assert "--allow-root" in err.fix and "ARMVM_ALLOW_ROOT=1" in err.fix
    refuse_root("container", True, set(), euid=0)                # the override it names
    with pytest.raises(RootRefused) as ei:
        refuse_root("host", True, set(), euid=0)                 # bitbake refuses root anyway
    assert "drop --host" in ei.value.fix and "--allow-root" in ei.value.fix
    assert "Do not use Bitbake as root" in ei.value.why
    refuse_root("host", False, {"host.root"}, euid=0)            # test stand-ins for bitbake
    with pytest.raises(RootRefused) as ei:                       # auto, no engine answered
        refuse_root("host", True, set(), euid=0, asked="auto")
    assert "drop --host" not in ei.value.fix and "Start the container engine" in ei.value.fix


def test_privileged_has_no_sudo_for_root():
    cmd = privileged("chown -R 1: /x")
    assert cmd == ("chown -R 1: /x" if os.geteuid() == 0 else "sudo chown -R 1: /x")


def _fix_command(text: str, verb: str) -> list[str]:
    """The suggested command in a message (after an optional 'sudo ')."""
    start = text.index(verb)
    end = min(i for i in (text.find(")", start), text.find(";", start), len(text)) if i >= 0)
    return text[start:end].rstrip(". ").split()


@needs_root
def test_cli_root_refused_then_allowed(armvm, tmp_path):
    """The real CLI: exit 2, one paragraph naming the override, nothing written;
    --host names what to do instead."""
    work = tmp_path / "w"
    work.mkdir()
    env = {"ARMVM_ALLOW_ROOT": ""}
    r = armvm("build", "--container", "--check", cwd=work, env=env)
    assert r.returncode == 2, r.stderr
    assert "refuses to run as root" in r.stderr and "--allow-root" in r.stderr
    assert "ARMVM_ALLOW_ROOT=1" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert list(work.iterdir()) == []
    r = armvm("build", "--host", "--check", cwd=work, env=env)
    assert r.returncode == 2 and "bitbake refuses to start as uid 0" in r.stderr, r.stderr
    assert list(work.iterdir()) == []


@needs_root
def test_root_owned_work_dir_builds_as_the_image_user(tmp_path):
    """Root owns the work dir: the build user is uid 30000 (never root), the
    work dir keeps its owner and only needs to be readable; when it is not,
    the chmod the error suggests makes it so."""
    work = tmp_path / "w"
    work.mkdir(mode=0o700)
    uid, gid = runner.resolve_user(work)
    assert (uid, gid) == (ROOT_BUILD_UID, ROOT_BUILD_UID)
    m = runner.Mounts(work_dir=work, work_dir_writable=False)
    with pytest.raises(Exception) as ei:
        runner.prepare_mounts(m, uid, gid)
    assert ei.value.exit_code == 2 and "not readable by the build user" in ei.value.what
    subprocess.run(_fix_command(ei.value.fix, "chmod"), check=True)
    runner.prepare_mounts(m, uid, gid)
    assert work.stat().st_uid == 0


@needs_root
def test_bind_mount_owner_fix_changes_the_situation(tmp_path):
    """Root-owned DL_DIR for the build user: the suggested chown (no sudo for
    root) makes it writable. A DL_DIR the build user owns but cannot write:
    the suggestion is chmod, not a chown to the owner it already has."""
    work = tmp_path / "w"
    work.mkdir()
    os.chown(work, 1234, 1234)
    dl = tmp_path / "dl"
    dl.mkdir(mode=0o755)
    m = runner.Mounts(work_dir=work, dl_dir=dl)
    with pytest.raises(cerrors.BindMountOwner) as ei:
        runner.prepare_mounts(m, 1234, 1234)
    fix = ei.value.fix
    assert "sudo" not in fix and "chown -R 1234:1234 " in fix
    subprocess.run(_fix_command(fix, "chown"), check=True)
    runner.prepare_mounts(m, 1234, 1234)
    dl.chmod(0o555)
    with pytest.raises(cerrors.BindMountOwner) as ei:
        runner.prepare_mounts(m, 1234, 1234)
    assert "chown" not in ei.value.fix and "chmod u+rwx" in ei.value.fix
    subprocess.run(_fix_command(ei.value.fix, "chmod"), check=True)
    runner.prepare_mounts(m, 1234, 1234)


@needs_root
def test_dubious_checkout_fix_changes_the_situation(tmp_path):
    """A checkout the build user does not own: the suggested chown hands it
    over, after which the check passes."""
    from types import SimpleNamespace

    work = tmp_path / "w"
    (work / "poky" / ".git").mkdir(parents=True)
    os.chown(work, 1234, 1234)
    repo = SimpleNamespace(id="poky", path=work / "poky", is_local=False)
    project = SimpleNamespace(work_dir=work, repos=[repo])
    with pytest.raises(Exception) as ei:
        check_container_ownership(project, set())
    fix = ei.value.fix
    assert "sudo" not in fix and "chown -R 1234:1234" in fix
    subprocess.run(_fix_command(fix, "chown"), check=True)
    check_container_ownership(project, set())
    assert Path(work / "poky").stat().st_uid == 1234

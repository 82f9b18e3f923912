"""Issue 16 item 4, "nothing destroyed": one test per writer of armvm_oe.

Every command that writes refuses to write over one of its inputs (even
with --force; samefile, so hard links and symlinks count), refuses an
existing user-named file without --force, and writes through a temp file
in the same directory that is renamed into place (lib.atomic_output). A
writer replacing a file *in place* would also change every other hard link
of it: the hard-link tests below catch that (and they are how the
non-atomic writers were found). docs/design/writes-and-output.md lists every
writer and its decision."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _need import need_fixture

from armvm_oe import lib
from armvm_oe.errors import UsageError


def cli(*args, cwd=None, env=None, timeout=300):
    e = dict(os.environ, NO_COLOR="1")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "armvm_oe", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=e, timeout=timeout)


def _error(p) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout[-800:], p.stderr[-1500:])
    assert "Traceback" not in p.stderr, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.startswith("armvm-oe: error:")]
    assert len(lines) == 1, p.stderr
    return lines[0]


def _gpt_image(path: Path, size: int = 8 << 20) -> Path:
    """A small GPT disk with one ESP-typed partition (sgdisk), enough for the
    input checks that run before any conversion."""
    if not shutil.which("sgdisk"):
        need_fixture("sgdisk (gdisk) is not installed")
    with open(path, "wb") as f:
        f.truncate(size)
    subprocess.run(["sgdisk", "-n", "1:2048:0", "-t", "1:ef00", str(path)],
                   check=True, capture_output=True)
    return path


# ---- lib: the shared writer ----------------------------------------------

def test_atomic_write_replaces_the_name_not_the_inode(tmp_path):
    out, other = tmp_path / "report.json", tmp_path / "other-link"
    out.write_text("old")
    os.link(out, other)
    lib.atomic_write(out, "new")
    assert out.read_text() == "new" and other.read_text() == "old"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_without_force_never_replaces(tmp_path):
    out = tmp_path / "x"
    out.write_text("precious")
    with pytest.raises(UsageError, match="already exists"):
        lib.atomic_write(out, "new", force=False)
    assert out.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]      # no temp file left


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "x"
    out.write_text("old")
    with pytest.raises(RuntimeError):
        with lib.atomic_output(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_atomic_output_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        lib.atomic_write(tmp_path / "r", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "r").stat().st_mode & 0o777 == 0o644


# ---- export ---------------------------------------------------------------

def _firmware(tmp_path):
    code, vars_t = tmp_path / "CODE.fd", tmp_path / "VARS.fd"
    code.write_bytes(b"\x01" * 4096)
    vars_t.write_bytes(b"\x02" * 4096)
    return code, vars_t


@pytest.mark.parametrize("target", ["libvirt-xml", "output"])
def test_export_never_writes_over_the_firmware_it_names(tmp_path, target):
    """`--libvirt-xml VARS` / `-o VARS` with `--vars-template VARS --force`
    replaced the variable-store template (only the image was checked)."""
    img = _gpt_image(tmp_path / "disk.wic")
    code, vars_t = _firmware(tmp_path)
    out = ["-o", vars_t] if target == "output" else ["-o", tmp_path / "d.qcow2"]
    xml = ["--libvirt-xml", vars_t if target == "libvirt-xml" else "auto"]
    msg = _error(cli("export", img, "--to", "qcow2", *out, *xml, "--arch", "aarch64",
                     "--firmware", code, "--vars-template", vars_t, "--force"))
    assert "also an input" in msg
    assert vars_t.read_bytes() == b"\x02" * 4096


def test_export_refuses_a_hard_link_of_its_input(tmp_path):
    """-o naming a hard link of the image was compared by resolve() only."""
    img = _gpt_image(tmp_path / "disk.raw")
    os.link(img, tmp_path / "link.raw")
    msg = _error(cli("export", img, "--to", "raw", "-o", tmp_path / "link.raw", "--force"))
    assert "also an input" in msg


def test_export_refuses_two_outputs_on_one_path(tmp_path):
    img = _gpt_image(tmp_path / "disk.wic")
    msg = _error(cli("export", img, "--to", "qcow2", "-o", tmp_path / "d.qcow2",
                     "--libvirt-xml", tmp_path / "d.qcow2", "--arch", "aarch64"))
    assert "same file" in msg


def test_export_output_under_a_file(tmp_path):
    img = _gpt_image(tmp_path / "disk.wic")
    (tmp_path / "f").write_text("x")
    msg = _error(cli("export", img, "--to", "qcow2", "-o", tmp_path / "f" / "d.qcow2"))
    assert "is a file, not a directory" in msg or "does not exist" in msg


# ---- test: the JUnit report and the log directory -------------------------

def test_junit_report_is_written_atomically(tmp_path):
    from armvm_oe.boottest.result import CellResult, write_junit
    out, other = tmp_path / "report.xml", tmp_path / "kept.xml"
    out.write_text("<old/>")
    os.link(out, other)
    write_junit([CellResult("gic3-pci-pl011", "pass", 1.0)], out)
    assert "gic3-pci-pl011" in out.read_text()
    assert other.read_text() == "<old/>"          # replaced by rename, not in place


@pytest.mark.parametrize("kind", ["file", "image", "under-file"])
def test_test_log_dir_must_be_a_directory(tmp_path, kind):
    img = _gpt_image(tmp_path / "disk.wic")
    (tmp_path / "f").write_text("x")
    log_dir = {"file": tmp_path / "f", "image": img, "under-file": tmp_path / "f" / "logs"}[kind]
    msg = _error(cli("test", img, "--arch", "aarch64", "--log-dir", log_dir,
                     "--junit", tmp_path / "r.xml", cwd=tmp_path))
    assert "log directory" in msg
    assert (tmp_path / "f").read_text() == "x"


# ---- run: the instance's disk overlay and variable store ------------------

def _store_and_fw(tmp_path):
    from armvm_oe.qemu import InstanceStore
    from armvm_oe.qemu.firmware import Firmware
    if not shutil.which("qemu-img"):
        need_fixture("qemu-img is not installed")
    code, vars_t = _firmware(tmp_path)
    return InstanceStore(tmp_path / "instances"), Firmware("aarch64", code, vars_t)


def test_run_never_discards_an_overlay_without_force(tmp_path):
    """The image changed under an instance: its overlay (the guest's disk
    writes) was deleted and recreated silently."""
    store, fw = _store_and_fw(tmp_path)
    img = _gpt_image(tmp_path / "disk.wic")
    inst, ev = store.prepare("dev", img, "aarch64", fw)
    assert ev["overlay"] == "created"
    inst.overlay.write_bytes(inst.overlay.read_bytes())       # stands for the guest's writes
    os.link(inst.overlay, tmp_path / "overlay-link")
    with open(img, "r+b") as f:                               # the image is rebuilt
        f.seek(1 << 20)
        f.write(b"rebuilt")
    with pytest.raises(UsageError) as err:
        store.prepare("dev", img, "aarch64", fw)
    assert "--force" in err.value.paragraph()
    assert os.path.samefile(inst.overlay, tmp_path / "overlay-link")
    inst, ev = store.prepare("dev", img, "aarch64", fw, force=True)
    assert ev["overlay"] == "recreated" and not os.path.samefile(inst.overlay,
                                                                 tmp_path / "overlay-link")


def test_run_keeps_the_variable_store(tmp_path):
    """vars.fd is created once, reused, and replaced only by --reset-vars;
    the instance's store is private (0600) and written by rename."""
    store, fw = _store_and_fw(tmp_path)
    img = _gpt_image(tmp_path / "disk.wic")
    inst, ev = store.prepare("dev", img, "aarch64", fw)
    assert ev["vars"] == "created" and inst.vars_file.stat().st_mode & 0o777 == 0o600
    inst.vars_file.write_bytes(b"guest wrote a Boot0001")
    os.link(inst.vars_file, tmp_path / "vars-link")
    inst, ev = store.prepare("dev", img, "aarch64", fw)
    assert ev["vars"] == "reused" and inst.vars_file.read_bytes() == b"guest wrote a Boot0001"
    inst, ev = store.prepare("dev", img, "aarch64", fw, reset_vars=True)
    assert ev["vars"] == "reset" and inst.vars_file.read_bytes() == fw.vars_template.read_bytes()
    assert (tmp_path / "vars-link").read_bytes() == b"guest wrote a Boot0001"


def test_run_cli_overlay_refusal_is_a_paragraph(tmp_path):
    """The CLI path: exit 2 with what/why/fix naming --force."""
    if not shutil.which("qemu-img"):
        need_fixture("qemu-img is not installed")
    img = _gpt_image(tmp_path / "disk.wic")
    code, vars_t = _firmware(tmp_path)
    env = {"ARMVM_DATA_DIR": str(tmp_path / "data")}
    base = ["run", img, "--arch", "aarch64", "--firmware", code, "--vars-template", vars_t,
            "--instance", "dev", "--dry-run"]
    assert cli(*base, env=env).returncode == 0, "first run"
    with open(img, "r+b") as f:
        f.seek(1 << 20)
        f.write(b"rebuilt")
    msg = _error(cli(*base, env=env))
    assert "--force" in msg and "overlay" in msg
    p = cli(*base, "--force", env=env)
    assert p.returncode == 0, p.stderr


# ---- lock files and build reports -----------------------------------------

def test_lock_file_is_never_a_config(tmp_path):
    from armvm_oe.kasconfig import write_lock
    cfg = tmp_path / "armvm.yml"
    cfg.write_text("header:\n  version: 14\n")
    lock = tmp_path / "armvm.lock.yml"
    lock.symlink_to(cfg.name)
    with pytest.raises(UsageError, match="also an input"):
        write_lock(lock, {"poky": "a" * 40}, inputs=[cfg])
    assert cfg.read_text() == "header:\n  version: 14\n"


def test_build_report_is_replaced_by_rename(tmp_path):
    from armvm_oe.imagebuild.report import Report
    (tmp_path / "build-report.json").write_text("{}")
    os.link(tmp_path / "build-report.json", tmp_path / "saved.json")
    path = Report({"status": "succeeded"}).write(tmp_path)
    assert json.loads(path.read_text())["status"] == "succeeded"
    assert (tmp_path / "saved.json").read_text() == "{}"


def test_run_refuses_an_instance_whose_metadata_is_unreadable(tmp_path):
    """A damaged instance.json was read as a new instance: the old overlay
    (backed by whatever image it was made for) and vars were adopted for the
    new image, and the metadata rewritten, without a word."""
    store, fw = _store_and_fw(tmp_path)
    img = _gpt_image(tmp_path / "disk.wic")
    inst, _ = store.prepare("dev", img, "aarch64", fw)
    inst.meta_file.write_text("{ not json")
    other = _gpt_image(tmp_path / "other.wic")
    with pytest.raises(UsageError) as err:
        store.prepare("dev", other, "aarch64", fw)
    assert "instance.json" in err.value.paragraph()
    assert inst.meta_file.read_text() == "{ not json"

"""The Xen cell on the real fixture images: reading the image, the
negative (no CONFIG_XEN) case, host errors, and a real dom0 boot."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from armvm_oe.boottest.result import write_junit
from armvm_oe.lib import sha256_file
from armvm_oe.qemu import find_firmware
from armvm_oe.testing import debian
from armvm_oe.xen import cell as cell_mod
from armvm_oe.xen import host, run_xen_cell, source

pytestmark = pytest.mark.xen
ROOT = Path(__file__).resolve().parents[2]


def test_read_image_finds_its_own_kernel_config_and_root(aarch64_image, tmp_path):
    before = sha256_file(aarch64_image)
    boot = source.read_image(aarch64_image, tmp_path)
    _, _, release = debian.kernel("aarch64")
    assert boot.kernel_from == "ESP:/Image"
    assert boot.kernel.read_bytes()[56:60] == b"ARM\x64"
    assert boot.release == release
    assert boot.config_name == f"/boot/config-{release}"
    assert "CONFIG_XEN=y" in boot.config_text
    assert boot.entry.root == f"PARTUUID={boot.root_partition.unique_guid}"
    assert boot.root_partition.number == 2
    assert [p.stat().st_size > 100_000 for p in boot.initrds] == [True]
    assert sha256_file(aarch64_image) == before


def test_compressed_and_qcow2_images_are_read_and_attached(aarch64_image, tmp_path):
    """armvm_oe.image reads .wic.gz and .qcow2 like the raw image; QEMU
    gets a raw copy decompressed into the cell's work dir (never next to
    the user's image), a qcow2 as it is."""
    src = tmp_path / "in"
    src.mkdir()
    gz = src / "image.wic.gz"
    with open(aarch64_image, "rb") as f, gzip.open(gz, "wb", compresslevel=1) as out:
        shutil.copyfileobj(f, out, 1 << 20)
    qcow = src / "image.qcow2"
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(aarch64_image), str(qcow)],
                   check=True)
    (tmp_path / "raw").mkdir()
    raw_boot = source.read_image(aarch64_image, tmp_path / "raw")
    for image in (gz, qcow):
        work = tmp_path / f"work-{image.suffix}"
        work.mkdir()
        boot = source.read_image(image, work)
        assert boot.kernel.read_bytes() == raw_boot.kernel.read_bytes()
        assert (boot.config_name, boot.root_partition) == (raw_boot.config_name,
                                                          raw_boot.root_partition)
        path, fmt = source.attachable(image, work)
        if image is gz:
            assert (path.parent, fmt) == (work, "raw")
            assert sha256_file(path) == sha256_file(aarch64_image)
        else:
            assert (path, fmt) == (qcow, "qcow2")
        overlay = cell_mod.guest_disk(image, work)
        info = subprocess.run(["qemu-img", "info", str(overlay)], capture_output=True,
                              text=True, check=True).stdout
        assert f"backing file: {path.resolve()}" in info
    assert sorted(p.name for p in src.iterdir()) == ["image.qcow2", "image.wic.gz"]


def test_a_file_that_is_not_a_disk_image_is_an_input_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a disk image\n" * 100)
    cell = run_xen_cell(bad, arch="aarch64", xen_path=None, timeout=60,
                        log_dir=tmp_path / "logs")
    assert cell.status == "error" and "no usable GUID Partition Table" in cell.message


def test_no_xen_kernel_fails_the_row_naming_the_option(no_xen_image, tmp_path):
    cell = run_xen_cell(no_xen_image, arch="aarch64", xen_path=None, timeout=120,
                        log_dir=tmp_path)
    assert cell.status == "fail", cell.message
    assert "CONFIG_XEN " in cell.message or "CONFIG_XEN," in cell.message \
        or "without CONFIG_XEN" in cell.message
    bad = {c.req: c.message for c in cell.checks if not c.ok}
    assert "CONFIG_XEN is not set" in bad["GUEST-XEN"]
    assert "CONFIG_XEN_BLKDEV_FRONTEND" in bad["GUEST-XEN"]
    assert "CONFIG_HVC_XEN is not set" in bad["GUEST-CONSOLE"]
    assert cell.log_path is None          # it was not booted: nothing to hang on
    junit = write_junit([cell], tmp_path / "r.xml")
    tc = ET.parse(junit).getroot().find("testsuite/testcase")
    assert tc.get("name") == "xen-aarch64" and tc.find("failure") is not None


def test_arm32_is_skipped_with_a_reason(aarch64_image, tmp_path):
    cell = run_xen_cell(aarch64_image, arch="arm", xen_path=None, timeout=60, log_dir=tmp_path)
    assert cell.status == "skip" and "aarch64 only" in cell.message


def test_xen_path_that_is_not_xen(aarch64_image, tmp_path):
    kimage, _, _ = debian.kernel("aarch64")
    cell = run_xen_cell(aarch64_image, arch="aarch64", xen_path=kimage, timeout=60,
                        log_dir=tmp_path)
    assert cell.status == "error" and "not the Xen hypervisor" in cell.message
    cell = run_xen_cell(aarch64_image, arch="aarch64", xen_path=find_firmware("aarch64").code,
                        timeout=60, log_dir=tmp_path)
    assert cell.status == "error" and "not an arm64 Xen image" in cell.message
    cell = run_xen_cell(aarch64_image, arch="aarch64", xen_path=tmp_path / "nope",
                        timeout=60, log_dir=tmp_path)
    assert cell.status == "error" and "does not exist" in cell.message


def _standalone(*args, env=None, timeout=600):
    e = dict(os.environ, NO_COLOR="1")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "armvm_oe.xen", *map(str, args)], cwd=ROOT,
                          env=e, capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(any(Path("/boot").glob("xen-*-arm64")),
                    reason="an arm64 Xen is installed in /boot: the host does not lack it")
def test_host_without_the_xen_package(aarch64_image, tmp_path):
    """A host whose apt knows no arm64 packages (empty package lists) and
    has no Xen installed: a real apt, asked for real, says no."""
    lists = tmp_path / "lists"
    (lists / "partial").mkdir(parents=True)
    conf = tmp_path / "apt.conf"
    conf.write_text(f'Dir::State::Lists "{lists}";\nDir::Etc::SourceList "/dev/null";\n'
                    f'Dir::Etc::SourceParts "{tmp_path}";\n')
    r = _standalone(aarch64_image, "--log-dir", tmp_path / "logs", "--json",
                    env={"APT_CONFIG": str(conf), "ARMVM_CACHE_DIR": str(tmp_path / "cache")},
                    timeout=120)
    assert r.returncode == 2, r.stderr
    assert "no arm64 Xen hypervisor is available" in r.stdout
    assert "--xen PATH" in r.stdout and "dpkg --add-architecture arm64" in r.stdout


def test_qemu_without_el2_support_is_a_clear_error(tmp_path):
    """Real QEMU refusing the EL2 property (as a QEMU older than 2.12 does
    for virtualization=on): the probe names the machine and the fix."""
    fw = find_firmware("aarch64")
    vars_ = tmp_path / "vars.fd"
    vars_.write_bytes(fw.vars_template.read_bytes())
    cfg = cell_mod.vm_config(fw, vars_, tmp_path / "disk.qcow2", "qcow2", memory_mib=1024,
                             cpus=2)
    with pytest.raises(host.XenUnavailable) as e:
        host.probe_qemu(replace(cfg, extra_args=["-machine", "virtualisation=on"]))
    msg = e.value.paragraph()
    assert "cannot emulate an Arm machine with EL2" in msg and "not found" in msg
    assert "virtualization=on" in msg and "cortex-a57" in msg
    dtb = tmp_path / "virt.dtb"
    assert host.probe_qemu(cfg, dtb_out=dtb).count(".") >= 1   # the real machine is accepted
    assert dtb.read_bytes()[:4] == b"\xd0\x0d\xfe\xed"        # and its FDT was dumped


def test_missing_qemu_names_the_package(aarch64_image, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("apt-get", "apt-cache", "dpkg-deb", "debugfs"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        if found:
            (bindir / tool).symlink_to(found)
    r = _standalone(aarch64_image, "--log-dir", tmp_path / "logs",
                    env={"PATH": str(bindir)}, timeout=120)
    assert r.returncode == 2
    assert "qemu-system-aarch64" in r.stdout and "apt-get install qemu-system-arm" in r.stdout


@pytest.mark.boot
def test_fixture_image_boots_as_xen_dom0(aarch64_image, tmp_path):
    """The real thing: Xen 4.17 from Debian's archive under QEMU (EL2
    emulated), the fixture's own Debian 6.1 kernel as dom0 on hvc0, its
    root filesystem as dom0's root. Goes through ``armvm-oe test
    --hypervisor xen`` once that is wired, else the module's own entry."""
    before = sha256_file(aarch64_image)
    logs = tmp_path / "logs"
    junit = tmp_path / "report.xml"
    probe = subprocess.run([sys.executable, "-m", "armvm_oe", "test", "--help"], cwd=ROOT,
                           capture_output=True, text=True)
    if "--hypervisor" in probe.stdout:
        r = subprocess.run([sys.executable, "-m", "armvm_oe", "test", str(aarch64_image),
                            "--hypervisor", "xen", "--junit", str(junit), "--log-dir",
                            str(logs), "--keep-logs"],   # a passing cell keeps its log only then
                           cwd=ROOT, capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, NO_COLOR="1"))
    else:
        r = _standalone(aarch64_image, "--log-dir", logs, "--junit", junit, "--timeout", 400)
    serial = (logs / "xen-aarch64.serial.log")
    assert r.returncode == 0, r.stdout + r.stderr + (serial.read_text(errors="replace")[-3000:]
                                                     if serial.exists() else "")
    log = serial.read_text(errors="replace")
    assert "(XEN) Xen version 4.17" in log
    assert "Xen 4.17 support found" in log and "ARMVM-FACT hypervisor=xen" in log
    assert "console [hvc0] enabled" in log and "ARMVM-READY" in log
    tc = ET.parse(junit).getroot().find("testsuite/testcase")
    assert tc.get("name").startswith("xen") and tc.find("failure") is None
    out = tc.find("system-out").text
    assert "[ok] GUEST-XEN: Xen frontends in the guest: vbd registered, vif registered" in out
    # the image is dom0's second disk (the Xen boot disk is first): vdb2 = its partition 2
    assert re.search(r"on the image's root filesystem \(/dev/vd[ab]2, /proc/mounts\)", out), out
    assert "[ok] GUEST-CONSOLE: the console is the Xen PV console hvc0" in out
    assert sha256_file(aarch64_image) == before         # the image is never modified


@pytest.mark.nightly
@pytest.mark.boot
def test_dom0less_domu_runs_the_image_kernel(aarch64_image, tmp_path):
    """Stretch: the image's kernel and initramfs as a dom0less domU (no
    dom0), console on Xen's vpl011. No disk backend exists without dom0, so
    the initramfs stops at ARMVM-ROOT-NOT-FOUND (expected)."""
    from armvm_oe.xen.dom0less import run_dom0less_cell
    cell = run_dom0less_cell(aarch64_image, timeout=400, log_dir=tmp_path)
    assert cell.status == "pass", cell.message
    log = cell.log_path.read_text(errors="replace")
    assert "Xen dom0less mode detected" in log and "DOM1: ARMVM-INITRAMFS" in log
    assert cell.params["outcome"] == "initramfs without root disk"


@pytest.mark.boot
def test_login_image_boots_as_xen_dom0_without_protocol(tmp_path):
    """The busybox login fixture (kernel log, then 'armvm login:' on hvc0,
    no ARMVM-* line): dom0 is judged from the logs and a root login."""
    from armvm_oe.testing.fixtures import login_image

    image = login_image("aarch64")
    r = subprocess.run([sys.executable, "-m", "armvm_oe", "test", str(image), "--arch",
                        "aarch64", "--hypervisor", "xen", "--json", "--keep-logs",
                        "--junit", str(tmp_path / "r.xml"), "--log-dir", str(tmp_path / "logs"),
                        "--timeout", "600"], cwd=ROOT, capture_output=True, text=True,
                       timeout=900, env=dict(os.environ, NO_COLOR="1"))
    log = (tmp_path / "logs" / "xen-aarch64.serial.log").read_text(errors="replace")
    assert r.returncode == 0, r.stderr[-2000:] + log[-3000:]
    assert "ARMVM-" not in log.split("armvm login:")[0]
    (cell,) = __import__("json").loads(r.stdout)["cells"]
    assert cell["params"]["outcome"] == "login" and cell["facts"]["tty"] == "/dev/hvc0"
    msgs = [c["message"] for c in cell["checks"]]
    assert any("dom0 reached userspace (login)" in m for m in msgs)
    assert any("login prompt came through Xen's console" in m for m in msgs)

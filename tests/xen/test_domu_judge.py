"""The Xen domU row without booting: the xl config it writes, the domU's
command line, and the judge on real console excerpts (tests/xen/data,
each with a header saying where it came from)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from armvm_oe.errors import InputError
from armvm_oe.xen import bootcfg, domu

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]


def _excerpt(name: str) -> str:
    text = (DATA / name).read_text()
    assert text.startswith("# Real console excerpt"), "every excerpt says where it came from"
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("# "))


def _xl(text: str) -> dict:
    """The xl config as key -> value (xl's own syntax: key = "str" | int | [ list ])."""
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" = ")
        out[k] = v
    return out


def test_domu_config_has_the_images_own_boot_and_one_xvda_disk():
    cfg = domu.domu_config(kernel="/mnt/armvm-domu/Image", ramdisk="/mnt/armvm-domu/initrd.img",
                           extra=["root=/dev/vda2", "ro", "console=hvc0"],
                           disk="/dev/disk/by-id/virtio-armvmguest", memory_mib=320)
    kv = _xl(cfg)
    assert kv["kernel"] == '"/mnt/armvm-domu/Image"'
    assert kv["ramdisk"] == '"/mnt/armvm-domu/initrd.img"'
    assert kv["extra"] == '"root=/dev/vda2 ro console=hvc0"'
    assert kv["memory"] == "320" and kv["vcpus"] == "1"
    assert kv["disk"] == ('[ "format=raw, vdev=xvda, access=rw, '
                          'target=/dev/disk/by-id/virtio-armvmguest" ]')
    assert kv["type"] == '"pvh"'          # the only guest type xl knows on Arm
    assert "vif" not in kv                # no network: nothing to judge there
    assert "ramdisk" not in _xl(domu.domu_config(kernel="/k", ramdisk=None, extra=[],
                                                 disk="/dev/x"))


def test_domu_config_refuses_an_argument_xl_cannot_quote():
    with pytest.raises(InputError) as e:
        domu.domu_config(kernel="/k", ramdisk=None, extra=['init="/bin/sh"'], disk="/dev/x")
    assert "double quote" in e.value.why


def test_guest_args_keep_root_exactly_and_use_the_pv_console():
    for root in ("/dev/vda2", "UUID=310bcb53-79f1-6675-4107-2e2d45a71b03", "PARTUUID=ab-02"):
        entry = bootcfg.BootEntry("Debian", "/boot/vmlinuz", [
            f"root={root}", "ro", "console=ttyAMA0", "console=hvc0", "quiet"])
        args, dropped = domu.guest_args(entry)
        assert args == [f"root={root}", "ro", "quiet", "console=hvc0"]
        assert dropped == ["console=ttyAMA0", "console=hvc0"]


def test_judge_root_dev_vda2_fails_naming_the_cause():
    v = domu.judge(_excerpt("domu-root-dev-vda2.log"), "/dev/vda2", reached="root-not-found",
                   waited_s=30.1)
    assert not v.ok and v.outcome == "root-not-found"
    assert "root=/dev/vda2 does not exist on Xen: its disk is xvda" in v.message
    assert "ALERT!  /dev/vda2 does not exist" in v.message
    assert "UUID=, PARTUUID= or LABEL=" in v.message
    assert "after waiting 30s" in v.message


def test_judge_root_uuid_passes_at_the_domu_login():
    v = domu.judge(_excerpt("domu-root-uuid.log"), "UUID=310bcb53-79f1-6675-4107-2e2d45a71b03",
                   reached="domu-login")
    assert v.ok and v.outcome == "domu-login", v
    assert "'debian-arm64 login:'" in v.message


def test_judge_reads_only_the_domu_part():
    """dom0's own login prompt and kernel log come before the start marker:
    they never count for the domU."""
    text = _excerpt("domu-root-dev-vda2.log")
    before = text.split(domu.START_MARK)[0]
    assert "xenhost login:" in before
    v = domu.judge(before, "/dev/vda2")
    assert not v.ok and v.outcome == "dom0-no-start"
    # the failing excerpt cut before the ALERT: the initramfs still waiting
    cut = text.split("Gave up waiting")[0]
    v = domu.judge(cut, "/dev/vda2", reached="timeout")
    assert not v.ok and v.outcome == "timeout"
    assert "Waiting for root file system" in v.message


def test_judge_kernel_panic_and_xl_error():
    start = f"xenhost login: root\n{domu.START_MARK}\n"
    v = domu.judge(start + "[ 1.0] Kernel panic - not syncing: VFS: Unable to mount root fs "
                           "on unknown-block(0,0)\n", "/dev/sda1")
    assert not v.ok and v.outcome == "root-not-found"       # the kernel's own mount_root
    assert "root=/dev/sda1 does not exist on Xen" in v.message
    v = domu.judge(start + "[ 2.0] Kernel panic - not syncing: Attempted to kill init!\n",
                   "UUID=x")
    assert not v.ok and v.outcome == "kernel-panic"
    v = domu.judge(start + "Parsing config from /mnt/armvm-domu/domu.cfg\nlibxl: error: "
                           "libxl_device.c:1408:device_addrm_aocomplete: unable to add device\n"
                           f"{domu.EXIT_MARK} rc=3\n", "UUID=x")
    assert not v.ok and v.outcome == "xl-error" and "unable to add device" in v.message


def test_login_pattern_is_never_the_xen_hosts():
    assert not domu.DOMU_LOGIN_RE.search("\nxenhost login: ")
    m = domu.DOMU_LOGIN_RE.search("\r\ndebian-arm64 login: ")
    assert m and m.group(1) == "debian-arm64"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "armvm_oe", *args], capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "NO_COLOR": "1",
                                                    "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def test_cli_help_shows_the_domu_row():
    r = _cli("test", "--help")
    assert r.returncode == 0
    assert "--xen-guest {dom0,domu}" in r.stdout
    assert "--hypervisor xen --xen-guest domu" in r.stdout


def test_cli_xen_guest_without_the_xen_row_is_bad_input(tmp_path):
    from armvm_oe.testing.fixtures import build_image
    r = _cli("test", str(build_image("aarch64")), "--xen-guest", "domu", "--junit",
             str(tmp_path / "r.xml"), "--log-dir", str(tmp_path / "logs"))
    assert r.returncode == 2, r.stderr
    assert "--xen-guest domu is only used with --hypervisor xen" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli("test", "x.wic", "--hypervisor", "xen", "--xen-guest", "domU1")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_cold_xen_host_is_an_error_cell_with_the_fix(tmp_path, monkeypatch):
    from armvm_oe.testing.fixtures import build_image
    monkeypatch.setenv("ARMVM_CACHE_DIR", str(tmp_path / "cold-cache"))
    cell = domu.run_domu_cell(build_image("aarch64"), log_dir=tmp_path / "logs", timeout=60)
    assert cell.status == "error"
    assert re.search(r"the Xen host \(dom0\) for the domU row is not built", cell.message)
    assert "python3 -m armvm_oe.xen.xenhost" in cell.message


def test_summary_table_shows_the_domu_disk_and_root():
    from armvm_oe.boottest.result import CellResult, summary_table
    ok = CellResult("xen-domu-aarch64", "pass", 225.6, params={"hypervisor": "xen"},
                    facts={"domU_disk": "xvda", "root": "/dev/xvda2"})
    assert "disk=xvda /=/dev/xvda2" in summary_table([ok])
    # the dom0 row's own "root" fact is not the domU's
    dom0 = CellResult("xen-aarch64", "pass", 50.0, facts={"root": "/dev/vdb2"})
    assert "/dev/vdb2" not in summary_table([dom0])


def test_judge_the_fixture_images_protocol_markers():
    """This project's fixture images have no getty: their init prints
    ARMVM-READY (a root shell) or ARMVM-ROOT-NOT-FOUND."""
    start = f"xenhost login: root\n{domu.START_MARK}\n[ 0.0] Linux version 6.1\n"
    v = domu.judge(start + "ARMVM-READY\n", "PARTUUID=ab")
    assert v.ok and v.outcome == "domu-shell"
    v = domu.judge(start + "ARMVM-ROOT-NOT-FOUND PARTUUID=ab\n", "PARTUUID=ab")
    assert not v.ok and v.outcome == "root-not-found"
    assert "root=PARTUUID=ab does not exist on Xen" in v.message
    assert "one hypervisor's disk name" not in v.message    # only said of /dev/[svh]d, xvd


def test_judge_the_fixture_dev_vda_root_console():
    v = domu.judge(_excerpt("domu-fixture-dev-vda-root.log"), "/dev/vda2",
                   reached="root-not-found")
    assert not v.ok and v.outcome == "root-not-found"
    assert "'ARMVM-ROOT-NOT-FOUND root=/dev/vda2'" in v.message
    assert "its disk is xvda" in v.message

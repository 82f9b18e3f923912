"""Pure parts of the Xen cell: boot-config parsing, the kernel-config audit
(on Debian's real arm64 kernel config) and the console judgement."""

from __future__ import annotations

import re

import pytest

from armvm_oe import kconfig
from armvm_oe.qemu import VMConfig, build_argv, find_firmware
from armvm_oe.testing import debian
from armvm_oe.xen import bootcfg, bootdisk, cell, checks

pytestmark = pytest.mark.xen


def test_default_entry_by_index_and_title_with_device_prefixes():
    cfg = """set timeout=3
set default=1
menuentry 'rescue' {
    linux (hd0,gpt1)/Image root=/dev/vda2 console=ttyAMA0
}
submenu 'more' {
  menuentry "armvm" --class gnu {
    search --no-floppy --set=root --label boot
    linux ($root)/boot/Image root=PARTUUID=ABC rootwait console=ttyAMA0 earlycon # comment
    initrd /a.img /b.img
  }
}
"""
    e = bootcfg.default_entry(cfg)
    assert (e.title, e.kernel, e.root, e.initrds) == ("armvm", "/boot/Image", "PARTUUID=ABC",
                                                      ["/a.img", "/b.img"])
    assert bootcfg.default_entry(cfg.replace("default=1", 'default="rescue"')).kernel == "/Image"
    assert bootcfg.default_entry(cfg.replace("set default=1", "")).title == "rescue"
    args, dropped = bootcfg.dom0_args(e, ["console=hvc0"])
    assert args == ["root=PARTUUID=ABC", "rootwait", "console=hvc0"]
    assert dropped == ["console=ttyAMA0", "earlycon"]


def test_no_kernel_line_gives_no_entry_and_loader_entries_parse():
    assert bootcfg.default_entry("set timeout=0\nmenuentry x {\n echo hi\n}\n") is None
    e = bootcfg.parse_loader_entry("title Yocto\nlinux /Image\noptions root=PARTUUID=X rw\n"
                                   "initrd /initrd\n", "ESP:/loader/entries/boot.conf")
    assert (e.kernel, e.args, e.initrds) == ("/Image", ["root=PARTUUID=X", "rw"], ["/initrd"])


def test_grub_cfg_for_xen_orders_kernel_before_ramdisk():
    cfg = bootdisk.grub_cfg(["console=dtuart", "dom0_mem=512M"],
                            ["root=PARTUUID=AB", "rootwait", "console=hvc0"], True)
    lines = [ln.strip() for ln in cfg.splitlines()]
    hv = lines.index("xen_hypervisor /xen console=dtuart dom0_mem=512M")
    assert lines[hv + 1] == "xen_module /Image root=PARTUUID=AB rootwait console=hvc0"
    assert lines[hv + 2] == "xen_module --nounzip /initrd.img"
    assert "initrd.img" not in bootdisk.grub_cfg([], ["root=x"], False)


@pytest.fixture(scope="module")
def debian_config():
    _, config, _ = debian.kernel("aarch64")
    return config.read_text()


def test_debian_arm64_kernel_config_satisfies_xen_rows(debian_config):
    cfg = kconfig.parse_config(debian_config)
    findings = checks.xen_findings(cfg, "aarch64")
    names = {f.option for f in findings}
    assert {"CONFIG_XEN", "CONFIG_HVC_XEN", "CONFIG_HVC_XEN_FRONTEND",
            "CONFIG_XEN_BLKDEV_FRONTEND"} <= names
    assert {f.req_id for f in findings} == {"GUEST-XEN", "GUEST-CONSOLE"}
    assert "CONFIG_SERIAL_AMBA_PL011" not in names        # not the Xen part of GUEST-CONSOLE
    assert all(f.result == "pass" for f in findings), [f for f in findings
                                                       if f.result != "pass"]
    msgs = checks.option_messages(findings, "/boot/config-x")
    assert [m[0] for m in msgs] == ["GUEST-XEN", "GUEST-CONSOLE"] and all(m[1] for m in msgs)
    assert checks.missing_essential(cfg, "aarch64") == []


@pytest.mark.parametrize("drop,req", [(("XEN",), "GUEST-XEN"),
                                      (("HVC_XEN_FRONTEND",), "GUEST-CONSOLE"),
                                      (("XEN_NETDEV_FRONTEND",), "GUEST-XEN")])
def test_unset_option_is_named(debian_config, drop, req):
    text = debian_config
    for o in drop:
        text = re.sub(rf"^CONFIG_{o}=.*$", f"# CONFIG_{o} is not set", text, flags=re.M)
    cfg = kconfig.parse_config(text)
    bad = [m for m in checks.option_messages(checks.xen_findings(cfg, "aarch64"),
                                             "/boot/config-x") if not m[1]]
    assert [m[0] for m in bad] == [req]
    assert f"CONFIG_{drop[0]} is not set" in bad[0][2]
    assert checks.missing_essential(cfg, "aarch64") == (["CONFIG_XEN"] if drop == ("XEN",)
                                                        else [])


def test_builtin_only_option_as_module_fails(debian_config):
    text = re.sub(r"^CONFIG_HVC_XEN=y$", "CONFIG_HVC_XEN=m", debian_config, flags=re.M)
    f = {x.option: x for x in checks.xen_findings(kconfig.parse_config(text), "aarch64")
         if x.req_id == "GUEST-XEN"}
    assert f["CONFIG_HVC_XEN"].result != "pass" and "built in" in f["CONFIG_HVC_XEN"].reason
    msg = dict((r, m) for r, ok, m in checks.option_messages(list(f.values()), "c"))
    assert "CONFIG_HVC_XEN=m but GUEST-XEN needs it built in" in msg["GUEST-XEN"]


def test_qemu_argv_for_xen(tmp_path):
    """The generic argv builder with virtualization=on (EL2), GICv3, FDT,
    TCG, virtio-mmio, the boot disk first in the boot order."""
    fw = find_firmware("aarch64")
    cfg = cell.vm_config(fw, tmp_path / "vars.fd", tmp_path / "o.qcow2", "qcow2",
                         memory_mib=1024, cpus=2, extra=cell.bootdisk_args(tmp_path / "b.img"))
    argv = build_argv(cfg)
    assert argv[argv.index("-M") + 1] == "virt,gic-version=3,acpi=off,virtualization=on"
    assert argv[argv.index("-accel") + 1] == "tcg" and "-nic" in argv
    assert f"if=none,id=hd0,format=qcow2,file={tmp_path}/o.qcow2,discard=unmap" in argv
    assert "virtio-blk-device,drive=xenboot,bootindex=0" in argv
    plain = build_argv(VMConfig(arch="aarch64", disk=tmp_path / "d", firmware=fw,
                                vars_file=tmp_path / "v"))
    assert plain[plain.index("-M") + 1] == "virt,gic-version=3,acpi=off"   # off by default


# what a real dom0 boot shows (Xen 4.17 banner, Debian 6.1 kernel on Xen,
# systemd's getty on hvc0) -- no fixture protocol
LOG_OK = """(XEN) Xen version 4.17.5 (Debian 4.17.5+72-g01140da4e8-1) (pkg-xen)
[    0.000000] Xen 4.17 support found\r
[    0.412000] printk: console [hvc0] enabled\r
[    3.101000] EXT4-fs (vda2): mounted filesystem with ordered data mode. Quota mode: none.\r
\r
Debian GNU/Linux 12 debian-arm64 hvc0\r
\r
debian-arm64 login: """
PROBE_OK = {"type": "xen", "tty": "/dev/hvc0", "balloon": "/sys/devices/system/xen_memory",
            "root": "/dev/vda2", "drivers": "xenconsole", "modules": "xen-blkfront xen-netfront",
            "procxen": "capabilities privcmd xenbus"}


def test_console_judgement_pass_and_each_failure():
    probe = PROBE_OK
    res = checks.judge_console(checks.ConsoleEvidence(LOG_OK, probe, 2, "login"))
    assert all(ok for _, ok, _ in res), res
    assert {r for r, _, _ in res} == {"GUEST-XEN", "GUEST-CONSOLE"}
    msgs = " | ".join(m for _, _, m in res)
    assert "xen-blkfront available as a module" in msgs and "/proc/xen in dom0" in msgs
    assert "root filesystem (/dev/vda2, /proc/mounts)" in msgs

    def failed(log, probe=probe, part=2, reached="login"):
        return [m for _, ok, m in checks.judge_console(checks.ConsoleEvidence(log, probe, part,
                                                                              reached))
                if not ok]

    assert any("no Xen banner" in m for m in failed(LOG_OK.replace("(XEN) Xen version", "")))
    assert any("vif (XEN_NETDEV_FRONTEND)" in m
               for m in failed(LOG_OK, dict(probe, modules="xen-blkfront")))
    assert any("not partition 3" in m for m in failed(LOG_OK, part=3))
    # a kernel without an initramfs mounts root= itself: /proc/mounts says
    # /dev/root, the kernel log names the partition
    assert not any("root" in m for m in failed(LOG_OK, dict(probe, root="/dev/root")))
    assert any("not partition 3" in m for m in failed(LOG_OK, dict(probe, root="/dev/root"), part=3))
    assert any("ttyAMA0" in m for m in failed(LOG_OK, dict(probe, tty="/dev/ttyAMA0")))
    assert any("CONFIG_XEN_BALLOON" in m for m in failed(LOG_OK, dict(probe, balloon="")))
    dead = LOG_OK.split("debian-arm64 login")[0] + "ALERT!  UUID=x does not exist.\n"
    assert any("could not find root=" in m for m in failed(dead, {}, reached=None))
    # no shell (quiet login refused): the kernel log alone still judges root and hvc0
    res = checks.judge_console(checks.ConsoleEvidence(LOG_OK, {}, 2, "login"))
    ok = {m.split(":")[0]: o for _, o, m in res}
    assert ok["the console is the Xen PV console hvc0"]
    assert any("(/dev/vda2, kernel log)" in m for _, o, m in res if o)
    # the fixture protocol alone proves nothing any more
    proto = "(XEN) Xen version 4.17.5\nARMVM-FACT root=/dev/vda2\nARMVM-FACT tty=hvc0\n" \
            "ARMVM-FACT xen_drivers=vbd vif\nARMVM-READY\n"
    bad = failed(proto, {}, reached="protocol")
    assert any("root device was not seen" in m for m in bad)
    assert any("frontend drivers missing" in m for m in bad)

"""Pure parts of the Xen cell: boot-config parsing, the kernel-config audit
(on Debian's real arm64 kernel config) and the console judgement."""

from __future__ import annotations

import re

import pytest

from armvm_oe.testing import debian
from armvm_oe.xen import bootcfg, bootdisk, checks

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
    findings = checks.audit_xen_options(checks.parse_kconfig(debian_config), "aarch64")
    names = {f.option for f in findings}
    assert {"XEN", "HVC_XEN", "HVC_XEN_FRONTEND", "XEN_BLKDEV_FRONTEND"} <= names
    assert all(f.ok for f in findings), [f for f in findings if not f.ok]
    msgs = checks.option_messages(findings, "/boot/config-x")
    assert [m[0] for m in msgs] == ["GUEST-XEN", "GUEST-CONSOLE"] and all(m[1] for m in msgs)
    assert checks.missing_essential(findings) == []


@pytest.mark.parametrize("drop,req", [(("XEN",), "GUEST-XEN"),
                                      (("HVC_XEN_FRONTEND",), "GUEST-CONSOLE"),
                                      (("XEN_NETDEV_FRONTEND",), "GUEST-XEN")])
def test_unset_option_is_named(debian_config, drop, req):
    text = debian_config
    for o in drop:
        text = re.sub(rf"^CONFIG_{o}=.*$", f"# CONFIG_{o} is not set", text, flags=re.M)
    findings = checks.audit_xen_options(checks.parse_kconfig(text), "aarch64")
    bad = [m for m in checks.option_messages(findings, "/boot/config-x") if not m[1]]
    assert [m[0] for m in bad] == [req]
    assert f"CONFIG_{drop[0]} (is not set)" in bad[0][2]
    assert checks.missing_essential(findings) == (["XEN"] if drop == ("XEN",) else [])


def test_builtin_only_option_as_module_fails(debian_config):
    text = re.sub(r"^CONFIG_HVC_XEN=y$", "CONFIG_HVC_XEN=m", debian_config, flags=re.M)
    f = {x.option: x for x in checks.audit_xen_options(checks.parse_kconfig(text), "aarch64")
         if x.req == "GUEST-XEN"}
    assert not f["HVC_XEN"].ok and "built in" in f["HVC_XEN"].note


LOG_OK = """(XEN) Xen version 4.17.5 (Debian 4.17.5+72-g01140da4e8-1) (pkg-xen)
[    0.000000] Xen 4.17 support found\r
ARMVM-FACT console=hvc0\r\r\r
ARMVM-FACT tty=hvc0\r
ARMVM-FACT virtio=virtio0:0x0002:mmio
ARMVM-FACT virtio=virtio1:0x0002:mmio
ARMVM-FACT hypervisor=xen
ARMVM-FACT xen_drivers=vbd vif xenconsole 
ARMVM-FACT root=/dev/vda2
ARMVM-READY
"""


def test_console_judgement_pass_and_each_failure():
    probe = {"type": "xen", "tty": "/dev/hvc0", "balloon": "/sys/devices/system/xen_memory"}
    res = checks.judge_console(checks.ConsoleEvidence(LOG_OK, probe, 2))
    assert all(ok for _, ok, _ in res) and {r for r, _, _ in res} == {"GUEST-XEN",
                                                                        "GUEST-CONSOLE"}
    assert checks.parse_facts(LOG_OK)["virtio"] == ["virtio0:0x0002:mmio",
                                                    "virtio1:0x0002:mmio"]

    def failed(log, probe=probe, part=2):
        return [m for _, ok, m in checks.judge_console(checks.ConsoleEvidence(log, probe, part))
                if not ok]

    assert any("no Xen banner" in m for m in failed(LOG_OK.replace("(XEN) Xen version", "")))
    assert any("vif (XEN_NETDEV_FRONTEND)" in m
               for m in failed(LOG_OK.replace("vbd vif", "vbd")))
    assert any("not partition 3" in m for m in failed(LOG_OK, part=3))
    assert any("ttyAMA0" in m for m in failed(LOG_OK.replace("console=hvc0", "console=ttyAMA0")))
    assert any("CONFIG_XEN_BALLOON" in m for m in failed(LOG_OK, dict(probe, balloon="")))
    dead = LOG_OK.split("ARMVM-FACT")[0] + "ARMVM-ROOT-NOT-FOUND root=PARTUUID=X\n"
    assert any("could not find root=" in m for m in failed(dead))

"""The guest health checks (armvm_oe.boottest.health): systemd's verdict,
the network and the FDT devices' drivers, judged from the probe's answers.
The probe itself runs in a real POSIX shell here (syntax, and the lines it
prints on a host without systemd/devicetree), and in real guests in
test_boot.py / test_distro.py / test_variants.py."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from armvm_oe import requirements
from armvm_oe.boottest import health

P = "armvm-oe-h"


def _h(*lines: str, end=True) -> health.Health:
    return health.parse("\r\n".join(f"{P} {ln}" for ln in lines + (("end=1",) if end else ())))


# QEMU virt + EDK II as a Debian guest sees it: compatible/status/of_node/driver lines
DT = [
    "compat=/pl011@9000000/compatible:arm,pl011 arm,primecell ",
    "compat=/pcie@10000000/compatible:pci-host-ecam-generic ",
    "compat=/intc@8000000/compatible:arm,gic-v3 ",
    "compat=/timer/compatible:arm,armv8-timer arm,armv7-timer ",
    "compat=/cpus/cpu@0/compatible:arm,cortex-a57 ",
    "compat=/virtio_mmio@a000000/compatible:virtio,mmio ",
    "compat=/fw-cfg@9020000/compatible:qemu,fw-cfg-mmio ",
    "compat=/flash@0/compatible:cfi-flash ",
    "compat=/compatible:linux,dummy-virt ",
    "status=/flash@0/status:disabled ",
    "of=amba/9000000.pl011 /pl011@9000000",
    "of=platform/4010000000.pcie /pcie@10000000",
    "of=platform/9020000.fw-cfg /fw-cfg@9020000",
    "of=cpu/cpu0 /cpus/cpu@0",
    "drv=amba/9000000.pl011",
    "drv=platform/4010000000.pcie",
]


def test_devices_follow_the_selftest_logic():
    h = _h(*DT)
    unbound = [n for n, _ in health.unbound_nodes(h)]
    # not the root, not a disabled node; bound ones are gone
    assert unbound == ["/cpus/cpu@0", "/fw-cfg@9020000", "/intc@8000000", "/timer",
                       "/virtio_mmio@a000000"]
    fails, noted, expected = health.judge_devices(h, health.dt_rules())
    assert fails == [] and noted == ["/fw-cfg@9020000 (qemu,fw-cfg-mmio)"]
    assert len(expected) == 4


def test_a_required_device_without_driver_fails_under_its_requirement():
    h = _h(*[x for x in DT if x != "drv=amba/9000000.pl011"])
    fails, _, _ = health.judge_devices(h, health.dt_rules())
    assert [r for r, _ in fails] == ["GUEST-CONSOLE"]
    assert "/pl011@9000000 (arm,pl011, arm,primecell) has no driver bound" in fails[0][1]


def test_dt_rules_name_real_requirements():
    rules = health.dt_rules()
    assert {r.requirement for r in rules if r.kind == "require"} <= set(requirements.BY_ID)
    assert all(r.reason for r in rules)


@pytest.mark.parametrize("lines,ok,words", [
    (["sd_state=running"], True, "running"),
    (["sd_state=degraded", "sd_failed=armvm-broken.service", "sd_failed=foo.mount"], False,
     "degraded; failed units (systemctl --failed): armvm-broken.service, foo.mount"),
    (["sd_state=starting"], True, "starting (jobs still queued at the end of the cell), "
                                  "no failed unit"),
    (["sd_state=starting", "sd_failed=armvm-broken.service"], False,
     "starting; failed units (systemctl --failed): armvm-broken.service"),
    (["sd_state=none"], None, "no systemd"),
])
def test_systemd(lines, ok, words):
    got, msg = health.judge_systemd(_h(*lines))
    assert got is ok and words in msg


NET_OK = ["nic=enp0s1:virtio_net:up", "addr=10.0.2.15",
          "leases=/run/systemd/netif/leases/2 ", "tcp=armvm-net-abc123"]


def test_network_passes_with_lease_and_host_answer():
    j = health.judge_network(_h(*NET_OK), "abc123")
    assert all(j[k][0] for k in ("nic", "dhcp", "host")), j
    assert j["facts"]["dhcp"] == "10.0.2.15"


@pytest.mark.parametrize("drop,key,words", [
    ("nic=enp0s1:virtio_net:up", "nic", "no network interface driven by virtio_net"),
    ("addr=10.0.2.15", "dhcp", "did not get a DHCP lease"),
    ("tcp=armvm-net-abc123", "host", "no answer from the host side"),
])
def test_network_fails_each_part_with_its_reason(drop, key, words):
    j = health.judge_network(_h(*[x for x in NET_OK if x != drop]), "abc123")
    assert j[key][0] is False and words in j[key][1]


def test_network_wrong_token_is_not_an_answer():
    j = health.judge_network(_h(*NET_OK), "other")
    assert j["host"][0] is False


def test_xen_netfront_is_the_nic_of_a_xen_guest():
    j = health.judge_network(_h("nic=enX0:vif:up", "addr=10.0.2.15"), "t", "xen")
    assert j["nic"][0] and not health.judge_network(_h("nic=enX0:vif:up"), "t")["nic"][0]


@pytest.mark.parametrize("sh", [s for s in ("sh", "bash", "busybox") if shutil.which(s)])
def test_probe_runs_in_a_posix_shell(sh):
    argv = [sh, "-c", health.PROBE] if sh != "busybox" else [sh, "sh", "-c", health.PROBE]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
    h = health.parse(out)
    assert h.complete and h.sd_state and f"{P} tcp=" in out   # answered every part
    assert all(len(n) == 3 and n[0] for n in h.nics)


def test_variant_cmdline_edit_touches_only_kernel_lines():
    from armvm_oe.testing import healthvariant
    cfg = ("menuentry 'Debian' {\n\tlinux\t/boot/vmlinuz-6.1 root=UUID=x ro console=hvc0\n"
           "\tinitrd\t/boot/initrd.img-6.1\n}\n  linux /boot/vmlinuz-old root=UUID=x ro\n"
           "# linux in a comment\n")
    new, n = healthvariant.add_cmdline(cfg, "module_blacklist=virtio_net")   # GRUB's tabs
    assert n == 2 and new.count("module_blacklist=virtio_net") == 2
    assert "initrd.img-6.1\n" in new and "# linux in a comment\n" in new
    again, n2 = healthvariant.add_cmdline(new, "module_blacklist=virtio_net")
    assert n2 == 0 and again == new          # idempotent

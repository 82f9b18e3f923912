"""`armvm-oe test` finds what is wrong in an image it did not make: copies
of the Debian-built arm64 image (armvm_oe.testing.healthvariant) with one
defect each -- no NIC driver, a failing service, a kernel warning at boot,
no driver for the FDT's PCIe host bridge -- each fail their one cell with their own
reason, and only that reason among the checks the defect cannot touch."""

from __future__ import annotations

import pytest

from armvm_oe.lib import sha256_file
from tests.boot._cli import finish, start_test

pytestmark = pytest.mark.boot
PASSWORD = "armvm"          # armvm_oe.testing.distro.PASSWORD
PCI = ("--gic", "3", "--virtio", "pci", "--console", "pl011")
MMIO = ("--gic", "3", "--virtio", "mmio", "--console", "pl011")
# variant -> (cell, the failing check, words of its message, checks that stay ok)
CASES = {
    "no-net-driver": (PCI, "NETWORK", "no network interface driven by virtio_net",
                      ("KERNEL-LOG", "GUEST-GIC", "DT-DRIVERS")),
    # the state word ("degraded", or "starting" while other jobs still run on
    # a busy host) depends on timing; the failed unit is the verdict
    "failing-unit": (PCI, "SYSTEMD", "failed units (systemctl --failed): "
                                     "armvm-broken.service",
                     ("KERNEL-LOG", "NETWORK", "DT-DRIVERS")),
    "boot-warning": (PCI, "KERNEL-LOG", "WARNING: CPU: 0 PID: 1 at drivers/armvm/variant.c:1",
                     ("SYSTEMD", "NETWORK", "DT-DRIVERS")),
    "no-pci-host-driver": (MMIO, "GUEST-VIRTIO",
                           "(pci-host-ecam-generic) has no driver bound",
                           ("KERNEL-LOG", "NETWORK", "SYSTEMD", "GUEST-CONSOLE")),
}


@pytest.fixture(scope="module")
def variant_runs(request, tmp_path_factory, debian_image):
    from armvm_oe.testing import healthvariant
    debian_image("aarch64")                 # skips (with the command) when the cache is cold
    # only the variants of the selected tests boot (-k picks one)
    names = [n for n in CASES if any(f"[{n}]" in i.nodeid for i in request.session.items)]
    images = {n: healthvariant.build(n) for n in names}
    before = {n: sha256_file(p) for n, p in images.items()}
    runs = {}
    for i in range(0, len(names), 2):      # two guests at a time on a 2-core machine
        procs = {}
        for n in names[i:i + 2]:
            d = tmp_path_factory.mktemp(n)
            procs[n] = start_test(images[n], d, "--timeout", "900", *CASES[n][0],
                                  "--no-hotplug", "--no-varstore", "--login",
                                  f"root:{PASSWORD}")
        for n, p in procs.items():
            rc, report, err = finish(p, 2400)
            runs[n] = {"rc": rc, "report": report, "err": err,
                       "unchanged": sha256_file(images[n]) == before[n]}
    return runs


@pytest.mark.parametrize("name", list(CASES))
def test_variant_fails_its_cell_with_its_reason(variant_runs, name):
    run = variant_runs[name]
    assert run["report"], run["err"][-3000:]
    (cell,) = run["report"]["cells"]
    _, req, words, fine = CASES[name]
    assert run["rc"] == 1 and cell["status"] == "fail", cell
    bad = [c for c in cell["checks"] if c["requirement"] == req and not c["ok"]]
    assert bad and any(words in c["message"] for c in bad), cell["checks"]
    assert words in cell["message"]             # the reason reaches the table and JUnit
    for other in fine:
        mine = [c for c in cell["checks"] if c["requirement"] == other]
        assert mine and all(c["ok"] for c in mine), (other, mine)
    assert run["unchanged"]

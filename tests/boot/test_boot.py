"""Real boots of the shared fixture images (aarch64 and aarch32) under QEMU
emulation: the reduced matrix (every GIC/virtio/console value once, the
hot-plug and the two-boot variable-store checks) on the busybox *login*
fixture, which prints only the kernel log and 'armvm login:' (no ARMVM-*
protocol: every column is learned from the log and a root login),
`armvm-oe run` on a terminal, and (nightly) the full 8-cell matrix per arch.
The Debian-built images are in test_distro.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pexpect
import pytest

from armvm_oe.lib import sha256_file
from armvm_oe.qemu import find_firmware

pytestmark = pytest.mark.boot
ARCHES = ("aarch64", "arm")


def _start(image, out_dir: Path, *extra):
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NO_COLOR="1", ARMVM_DATA_DIR=str(out_dir / "data"))
    cmd = [sys.executable, "-m", "armvm_oe", "test", str(image), "--json",
           "--junit", str(out_dir / "report.xml"), "--log-dir", str(out_dir / "logs"), *extra]
    return subprocess.Popen(cmd, env=env, cwd=out_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def quick(tmp_path_factory, login_aarch64, login_arm):
    """Both arches' reduced matrices at once (one cell at a time each: the
    2-core machine runs two guests)."""
    images = {"aarch64": login_aarch64, "arm": login_arm}
    before = {a: sha256_file(p) for a, p in images.items()}
    dirs = {a: tmp_path_factory.mktemp(f"quick-{a}") for a in ARCHES}
    checks = tmp_path_factory.mktemp("checks.d")      # the user's own checks (--run-dir)
    (checks / "10-uname").write_text("#!/bin/sh\nuname -m\necho checked >&2\n")
    (checks / "10-uname").chmod(0o755)
    procs = {a: _start(images[a], dirs[a], "--arch", a, "--quick", "--jobs", "1",
                       "--timeout", "400", "--run", "cat /proc/cmdline",
                       "--run-dir", str(checks)) for a in ARCHES}
    runs = {}
    for a, p in procs.items():
        rc, out, err = _finish(p, 1500)
        runs[a] = {"rc": rc, "out": out, "err": err, "dir": dirs[a],
                   "report": json.loads(out) if out.strip().startswith("{") else None,
                   "unchanged": sha256_file(images[a]) == before[a]}
    return runs


def _cells(run):
    return {c["name"]: c for c in run["report"]["cells"]}


def _check(cell, req):
    return [c for c in cell["checks"] if c["requirement"] == req]


@pytest.mark.parametrize("arch", ARCHES)
def test_quick_matrix_passes(quick, arch):
    run = quick[arch]
    uname = {"aarch64": "aarch64", "arm": "armv7l"}
    assert run["report"], run["err"][-2000:]
    assert run["rc"] == 0, run["err"][-2000:]
    cells = _cells(run)
    assert set(cells) == {f"{arch}-gic3-pci-pl011", f"{arch}-gic2-mmio-virtio",
                          f"{arch}-gic3-pci-pl011-reboot"}
    a, b = cells[f"{arch}-gic3-pci-pl011"], cells[f"{arch}-gic2-mmio-virtio"]
    for cell, gic, bus, tty in ((a, "3", "pci", "ttyAMA0"), (b, "2", "mmio", "hvc0")):
        assert cell["status"] == "pass", cell
        f = cell["facts"]
        # what the guest itself saw: its kernel log and a root login
        assert cell["params"]["reached"] == "login"
        assert cell["params"]["login"] == "root (no password)"
        assert f["gic"] == gic and f["tty"] == tty and f["acpi"] == "no" and f["fdt"] == "yes"
        assert f["virtio"] and all(v.endswith(":" + bus) for v in f["virtio"])
        assert f["learned_from"] == "log+shell"
        for req in ("FW-NO-PRECONFIG", "HW-FDT", "HW-ENUM", "GUEST-GIC", "GUEST-VIRTIO",
                    "GUEST-CONSOLE", "PLAT-EXEC", "IMG-GRUB", "FW-VARSTORE"):
            assert _check(cell, req) and all(c["ok"] for c in _check(cell, req)), req
        for req in ("GUEST-GIC", "GUEST-VIRTIO", "HW-FDT"):
            assert cell["sources"][req] == "log+shell", (req, cell["sources"])
        # the guest's health: a clean kernel log, a DHCP lease on the NIC and an
        # answer from the host side of QEMU's user network, every required
        # FDT device driven; no systemd in busybox (said, not judged)
        for req in ("KERNEL-LOG", "NETWORK", "DT-DRIVERS"):
            assert _check(cell, req) and all(c["ok"] for c in _check(cell, req)), req
        assert f["net"]["dhcp"].startswith("10.0.2.") and f["net"]["host"] is True
        assert f["kernel_log"]["incidents"] == []
        assert any("SYSTEMD not checked: no systemd" in n for n in cell["notes"])
    # the firmware's own words: it booted the entry it made for the disk
    assert "UEFI Misc Device" in a["params"]["boot_entry"]
    # virtio-console cell: the console device itself is on the guest's virtio list
    assert any(v.rsplit(":", 2)[1] == "0x0003" for v in b["facts"]["virtio"])
    assert run["unchanged"], "the image must never be modified"
    # the user's checks ran in each cell (not in the -reboot boot), with their output
    for cell in (a, b):
        assert [(x["name"], x["exit_code"]) for x in cell["runs"]] == [
            ("cat /proc/cmdline", 0), ("10-uname", 0)]
        assert "BOOT_IMAGE=" in cell["runs"][0]["stdout"]
        assert cell["runs"][1]["stdout"] == uname[arch] and cell["runs"][1]["stderr"] == "checked"
    # JUnit for CI: one case per cell and one per (cell, check)
    suite = ET.parse(run["dir"] / "report.xml").getroot().find("testsuite")
    assert suite.get("tests") == str(3 + 4) and suite.get("failures") == "0"
    case = {tc.get("name"): tc for tc in suite.iter("testcase")}[
        f"{arch}-gic2-mmio-virtio: 10-uname"]
    assert case.find("system-out").text == uname[arch]
    # passing cells do not keep logs
    assert not any((run["dir"] / "logs").glob("*.log"))


@pytest.mark.parametrize("arch", ARCHES)
def test_json_matches_its_schema(quick, arch):
    from armvm_oe import schemas
    schemas.validate("test", quick[arch]["report"])


@pytest.mark.parametrize("arch", ARCHES)
def test_varstore_survives_reboot_only_in_same_instance(quick, arch):
    cells = _cells(quick[arch])
    first = cells[f"{arch}-gic3-pci-pl011"]
    second = cells[f"{arch}-gic3-pci-pl011-reboot"]
    fresh = cells[f"{arch}-gic2-mmio-virtio"]
    msgs = [c["message"] for c in _check(first, "FW-VARSTORE")]
    assert any("absent in a fresh instance" in m for m in msgs)
    assert any("landed in the instance's own store" in m for m in msgs)
    (back,) = _check(second, "FW-VARSTORE")
    assert back["ok"] and "reads back" in back["message"] and "store reused" in back["message"]
    assert all(c["ok"] for c in _check(fresh, "FW-VARSTORE"))
    assert "absent in a fresh instance" in _check(fresh, "FW-VARSTORE")[0]["message"]


def test_hotplug_aarch64(quick):
    cell = _cells(quick["aarch64"])["aarch64-gic3-pci-pl011"]
    (hp,) = _check(cell, "GUEST-HOTPLUG")
    assert hp["ok"] and "guest found /dev/vd" in hp["message"]


def test_hotplug_aarch32_reported_honestly(quick):
    """Debian's armmp-lpae kernel has CONFIG_HOTPLUG_PCI unset: not a pass."""
    cell = _cells(quick["arm"])["arm-gic3-pci-pl011"]
    assert not _check(cell, "GUEST-HOTPLUG")
    assert any("no PCIe hot-plug driver" in n for n in cell["notes"])


def test_run_boots_on_the_terminal(tmp_path, image_aarch64):
    """`armvm-oe run`: the console is the terminal, the instance's variable
    store is created in the data dir and reused, the image stays unchanged."""
    before = sha256_file(image_aarch64)
    env = dict(os.environ, NO_COLOR="1", ARMVM_DATA_DIR=str(tmp_path / "data"))
    child = pexpect.spawn(sys.executable, ["-m", "armvm_oe", "run", str(image_aarch64),
                                           "--instance", "term", "--smp", "1"],
                          env=env, encoding="utf-8", codec_errors="replace", timeout=400)
    child.logfile_read = open(tmp_path / "run.log", "w")
    try:
        child.expect("UEFI variables .*vars.fd \\(created\\)")
        child.expect("ARMVM-FACT gic=3")
        child.expect("ARMVM-READY")
        child.expect_exact("armvm# ")
        child.sendline("stty -echo; echo sum-$((40+2))")
        child.expect("sum-42")
        child.sendline("poweroff -f")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    inst = tmp_path / "data" / "instances" / "term"
    assert (inst / "vars.fd").stat().st_size == find_firmware("aarch64").vars_template.stat().st_size
    assert (inst / "disk.qcow2").exists() and not (inst / "qmp.sock").exists()
    assert sha256_file(image_aarch64) == before
    p = subprocess.run([sys.executable, "-m", "armvm_oe", "instances", "--json"], env=env,
                       capture_output=True, text=True)
    (item,) = json.loads(p.stdout)["instances"]
    assert item["name"] == "term" and item["runs"] == 1 and item["overlay_bytes"] > 0
    # FW-NO-PRECONFIG can fail: a store the firmware has booted once (it now
    # holds Boot#### entries) given as the template is not an empty store
    used = inst / "vars.fd"
    fw = find_firmware("aarch64")
    rc, out, err = _finish(_start(image_aarch64, tmp_path / "preconf", "--firmware",
                                  str(fw.code), "--vars-template", str(used), "--gic", "3",
                                  "--virtio", "mmio", "--console",
                                  "pl011", "--no-varstore", "--no-hotplug"), 600)
    assert rc == 1, err[-2000:]
    (cell,) = json.loads(out)["cells"]
    bad = [c for c in cell["checks"] if not c["ok"]]
    assert [c["requirement"] for c in bad] == ["FW-NO-PRECONFIG"], bad
    assert "already holds boot entries" in bad[0]["message"]
    assert "Boot0000" in bad[0]["message"] or "BootOrder" in bad[0]["message"]


def test_require_hotplug_fails_a_guest_without_pcie_hotplug(tmp_path, login_arm):
    """Debian's armmp-lpae kernel has no PCIe hot-plug driver: noted by
    default (test_hotplug_aarch32_reported_honestly), a failure with
    --require-hotplug."""
    rc, out, err = _finish(_start(login_arm, tmp_path, "--arch", "arm", "--require-hotplug",
                                  "--gic", "3", "--virtio", "pci", "--console", "pl011",
                                  "--no-varstore", "--timeout", "400"), 900)
    assert rc == 1, err[-2000:]
    (cell,) = json.loads(out)["cells"]
    (hp,) = _check(cell, "GUEST-HOTPLUG")
    assert not hp["ok"] and "did not appear in the guest" in hp["message"]
    assert cell["status"] == "fail" and not any("hot-plug" in n for n in cell["notes"])
    assert all(c["ok"] for c in cell["checks"] if c["requirement"] != "GUEST-HOTPLUG")


@pytest.mark.nightly
@pytest.mark.parametrize("arch", ARCHES)
def test_full_matrix(tmp_path, login_aarch64, login_arm, arch):
    """All 8 cells (GIC 2/3 x virtio pci/mmio x console pl011/virtio) plus the
    variable-store reboot, with the hot-plug check in the first PCI cell.
    ARMVM_BOOT_REPORT_DIR=DIR keeps the --json report (docs/boot.md's sample)."""
    image = {"aarch64": login_aarch64, "arm": login_arm}[arch]
    before = sha256_file(image)
    rc, out, err = _finish(_start(image, tmp_path, "--arch", arch, "--timeout", "600"), 5400)
    keep = os.environ.get("ARMVM_BOOT_REPORT_DIR")
    if keep and out.strip().startswith("{"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"full-{arch}.json").write_text(out)
    assert rc == 0, err[-3000:]
    cells = _cells({"report": json.loads(out)})
    assert len(cells) == 9                    # 8 cells + the variable-store reboot
    assert all(c["status"] == "pass" for c in cells.values())
    combos = {(c["facts"]["gic"], c["params"]["virtio"], c["facts"]["tty"])
              for n, c in cells.items() if not n.endswith("-reboot")}
    assert combos == {(g, v, t) for g in "23" for v in ("pci", "mmio")
                      for t in ("ttyAMA0", "hvc0")}
    for n, c in cells.items():
        if n.endswith("-reboot"):
            continue
        assert all(v.endswith(":" + c["params"]["virtio"]) for v in c["facts"]["virtio"]), n
        for req in ("FW-NO-PRECONFIG", "HW-FDT", "HW-ENUM", "GUEST-GIC", "GUEST-VIRTIO",
                    "GUEST-CONSOLE", "PLAT-EXEC", "IMG-GRUB", "FW-VARSTORE"):
            assert _check(c, req) and all(x["ok"] for x in _check(c, req)), (n, req)
    (back,) = _check(cells[f"{arch}-gic3-pci-pl011-reboot"], "FW-VARSTORE")
    assert back["ok"] and "reads back" in back["message"]
    first_pci = cells[f"{arch}-gic3-pci-pl011"]
    if arch == "aarch64":
        (hp,) = _check(first_pci, "GUEST-HOTPLUG")
        assert hp["ok"] and "guest found /dev/vd" in hp["message"]
    else:   # Debian armmp-lpae: CONFIG_HOTPLUG_PCI unset -> a note, never a pass
        assert not _check(first_pci, "GUEST-HOTPLUG")
        assert any("no PCIe hot-plug driver" in x for x in first_pci["notes"])
    assert sha256_file(image) == before, "the image must never be modified"

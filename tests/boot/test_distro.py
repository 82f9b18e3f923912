"""`armvm-oe test` on images no file of this repository helped to make:
Debian 12 arm64 and armhf systems built with Debian's own tools
(armvm_oe.testing.distro: mmdebstrap, systemd, Debian's kernel and
initramfs-tools, grub-install --removable + update-grub, root=UUID=, a
root password, serial gettys on ttyAMA0 and hvc0). The arm64 image prints
its kernel log; the armhf one keeps Debian's default `quiet`.

The images are built once and cached (cold: tens of minutes under
emulation): when the cache is cold the tests skip with the command to run
(fail with CI=true, tests/_need.py), unless ARMVM_BUILD_DEBIAN_IMAGES=1
(CI builds them in .ci/setup.d/30-boot-distro.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest

from armvm_oe.lib import sha256_file
from tests.boot._cli import finish, start_test

pytestmark = pytest.mark.boot
ARCHES = ("aarch64", "arm")
PASSWORD = "armvm"          # armvm_oe.testing.distro.PASSWORD


def _start(image, out_dir: Path, *extra):
    return start_test(image, out_dir, "--timeout", "900", *extra)


def _done(proc, timeout=3000):
    return finish(proc, timeout)


def _cells(report):
    return {c["name"]: c for c in report["cells"]}


def _checks(cell, req):
    return [c for c in cell["checks"] if c["requirement"] == req]


@pytest.fixture(scope="module")
def debian_quick(tmp_path_factory, debian_image):
    images = {a: debian_image(a) for a in ARCHES}
    before = {a: sha256_file(p) for a, p in images.items()}
    dirs = {a: tmp_path_factory.mktemp(f"debian-{a}") for a in ARCHES}
    procs = {a: _start(images[a], dirs[a], "--quick", "--jobs", "1",
                       "--login", f"root:{PASSWORD}", "--run", "id -u") for a in ARCHES}
    runs = {}
    for a, p in procs.items():
        rc, report, err = _done(p)
        runs[a] = {"rc": rc, "report": report, "err": err,
                   "unchanged": sha256_file(images[a]) == before[a]}
    return runs


@pytest.mark.parametrize("arch", ARCHES)
def test_debian_reduced_matrix_passes(debian_quick, arch):
    run = debian_quick[arch]
    assert run["report"], run["err"][-3000:]
    cells = _cells(run["report"])
    assert run["rc"] == 0, [(n, c["status"], c["message"]) for n, c in cells.items()]
    assert set(cells) == {f"{arch}-gic3-pci-pl011", f"{arch}-gic2-mmio-virtio",
                          f"{arch}-gic3-pci-pl011-reboot"}
    for name, cell in cells.items():
        assert cell["status"] == "pass", cell
        assert cell["params"]["reached"] == "login"     # systemd's getty, no protocol
        if name.endswith("-reboot"):
            # the second boot ends with an orderly reboot from inside the guest
            (sd,) = _checks(cell, "SYSTEMD")
            assert sd["ok"] and "'systemctl reboot'" in sd["message"], sd
            continue
        assert cell["params"]["login"] == "root (password)"
        # health: clean kernel log (+ the shipped ignore list), systemd running,
        # DHCP on the NIC, the host side and ssh through hostfwd, FDT devices driven
        for req in ("KERNEL-LOG", "SYSTEMD", "NETWORK", "DT-DRIVERS"):
            assert _checks(cell, req) and all(c["ok"] for c in _checks(cell, req)), \
                (req, _checks(cell, req))
        net = cell["facts"]["net"]
        assert net["dhcp"].startswith("10.0.2.") and net["host"] and net["ssh"], net
        # 'starting': in a pl011 cell the image's getty on hvc0 keeps a device job
        # queued (90 s) that the check does not wait for; no unit failed either way
        sd = cell["facts"]["systemd"]
        assert sd["state"] in ("running", "starting") and sd["failed"] == [], sd
        assert [(x["name"], x["exit_code"], x["stdout"]) for x in cell["runs"]] == \
            [("id -u", 0, "0")]
        f = cell["facts"]
        assert f["cmdline"].startswith("BOOT_IMAGE=/boot/vmlinuz-") and "root=UUID=" in f["cmdline"]
        for req in ("FW-NO-PRECONFIG", "HW-FDT", "HW-ENUM", "GUEST-GIC", "GUEST-VIRTIO",
                    "GUEST-CONSOLE", "PLAT-EXEC", "IMG-GRUB", "FW-VARSTORE"):
            assert _checks(cell, req) and all(c["ok"] for c in _checks(cell, req)), req
        if arch == "aarch64":      # a kernel log on the console: both sources agree
            assert f["learned_from"] == "log+shell"
            assert cell["sources"]["GUEST-GIC"] == "log+shell"
        else:                      # Debian's "quiet": said, and the shell carries it
            assert f["learned_from"] == "shell"
            assert cell["sources"]["GUEST-GIC"] == "shell"
            assert any("quiet kernel" in n for n in cell["notes"])
    # the first cell ends with an orderly power-off from inside the guest
    assert any("'systemctl poweroff'" in c["message"] and c["ok"]
               for c in _checks(cells[f"{arch}-gic3-pci-pl011"], "SYSTEMD"))
    (back,) = _checks(cells[f"{arch}-gic3-pci-pl011-reboot"], "FW-VARSTORE")
    assert back["ok"] and "reads back" in back["message"]
    first = cells[f"{arch}-gic3-pci-pl011"]
    if arch == "aarch64":
        (hp,) = _checks(first, "GUEST-HOTPLUG")
        assert hp["ok"] and "guest found /dev/vd" in hp["message"]
    else:
        assert any("no PCIe hot-plug driver" in n for n in first["notes"])
    assert run["unchanged"], "the image must never be modified"


@pytest.mark.nightly      # the logic runs by default in test_console.py (scripted login)
def test_debian_password_prompt_without_credentials_is_an_error(tmp_path, debian_image):
    """The default --login (root, empty password) meets Debian's Password:
    prompt: one clear per-cell error, not a timeout."""
    image = debian_image("arm")
    rc, report, err = _done(_start(image, tmp_path, "--gic", "2", "--virtio", "mmio",
                                   "--console", "pl011", "--no-varstore", "--no-hotplug"))
    assert rc == 1 and report, err[-2000:]
    (cell,) = report["cells"]
    assert cell["status"] == "error"
    assert "asks for root's password" in cell["message"]
    assert "--login root:PASSWORD" in cell["message"]
    assert cell["duration_s"] < 900 - 60, "it must not wait for the timeout"


@pytest.mark.nightly      # by default: test_probe.py on real logs, and log+shell agree above
def test_debian_kernel_log_alone_passes(tmp_path, debian_image):
    """--login none: the arm64 image's kernel log alone passes the columns."""
    image = debian_image("aarch64")
    rc, report, err = _done(_start(image, tmp_path, "--gic", "3", "--virtio", "mmio",
                                   "--console", "virtio", "--login", "none"))
    assert rc == 0 and report, err[-2000:]
    (cell,) = report["cells"]
    assert cell["status"] == "pass", cell
    for req in ("GUEST-GIC", "GUEST-VIRTIO", "HW-FDT", "PLAT-EXEC", "HW-ENUM"):
        assert cell["sources"][req] == "log", (req, cell["sources"])
    assert cell["sources"]["GUEST-CONSOLE"] == "boot+log"
    assert any("--login none" in n for n in cell["notes"])
    assert any("need a shell" in n for n in cell["notes"])


def test_debian_xen_dom0(tmp_path, debian_image):
    """The Xen row on the Debian image: its own kernel and root filesystem
    as dom0, systemd's getty on hvc0, a root login, facts from the shell."""
    image = debian_image("aarch64")
    before = sha256_file(image)
    rc, report, err = _done(_start(image, tmp_path, "--hypervisor", "xen", "--keep-logs",
                                   "--login", f"root:{PASSWORD}"))
    log = tmp_path / "logs" / "xen-aarch64.serial.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    assert rc == 0 and report, err[-2000:] + text[-3000:]
    (cell,) = report["cells"]
    assert cell["status"] == "pass", cell
    assert "debian-arm64 login:" in text and "ARMVM-" not in text.split("login:")[0]
    assert cell["params"]["outcome"] == "login"
    msgs = " | ".join(c["message"] for c in cell["checks"])
    assert "root=UUID=" in cell["params"]["dom0_cmdline"]
    assert "on the image's root filesystem (/dev/vdb2, /proc/mounts)" in msgs
    assert "xen-blkfront" in msgs and "xen-netfront" in msgs
    assert "/sys/hypervisor/type=xen" in msgs
    assert sha256_file(image) == before


@pytest.mark.nightly
@pytest.mark.parametrize("arch", ARCHES)
def test_debian_full_matrix(tmp_path, debian_image, arch):
    image = debian_image(arch)
    rc, report, err = _done(_start(image, tmp_path, "--login", f"root:{PASSWORD}"), 10800)
    assert rc == 0 and report, err[-3000:]
    cells = _cells(report)
    assert len(cells) == 9 and all(c["status"] == "pass" for c in cells.values())
    combos = {(c["facts"]["gic"], c["params"]["virtio"], c["facts"]["tty"])
              for n, c in cells.items() if not n.endswith("-reboot")}
    assert combos == {(g, v, t) for g in "23" for v in ("pci", "mmio")
                      for t in ("ttyAMA0", "hvc0")}

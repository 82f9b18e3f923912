"""Exported images boot: under ``armvm-oe test`` (QEMU + UEFI, each format
read natively or unpacked) and under a real libvirtd from the exported
domain XML, reaching the guest's ready marker on ``virsh console``.

Default run: the OVA (aarch64) and the fixed VHD (arm) through one cell of
``armvm-oe test`` each, and the aarch64 qcow2 domain under libvirtd.
Nightly: every format on both arches through ``--quick``, domains for arm
(qcow2, vhd) and aarch64 (vhd, raw) under libvirtd, and Debian 12 systems
built with Debian's tools (when cached) exported and booted to ``login:``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _need import need_fixture

from conftest import FORMATS, cli  # tests/export/conftest.py (imported at collection)

pytestmark = pytest.mark.boot

CELL = {"aarch64": ["--gic", "3", "--virtio", "pci", "--console", "pl011"],
        "arm": ["--gic", "2", "--virtio", "mmio", "--console", "virtio"]}


def _start_test(image: Path, out: Path, *extra):
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NO_COLOR="1", ARMVM_DATA_DIR=str(out / "data"))
    return subprocess.Popen([sys.executable, "-m", "armvm_oe", "test", str(image), "--json",
                             "--junit", str(out / "report.xml"), "--log-dir", str(out / "logs"),
                             "--jobs", "1", "--timeout", "500", *extra],
                            env=env, cwd=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _reports(procs: dict) -> dict:
    out = {}
    for key, p in procs.items():
        stdout, stderr = p.communicate(timeout=3000)
        out[key] = (p.returncode, json.loads(stdout) if stdout.strip().startswith("{") else None,
                    stderr)
    return out


def _assert_booted(rc, report, err, arch):
    assert report, err[-2000:]
    assert rc == 0, err[-2000:]
    assert report["arch"] == arch                  # told from the ESP inside the container
    assert report["cells"] and all(c["status"] == "pass" for c in report["cells"])
    for c in report["cells"]:
        if c["name"].endswith("-reboot"):
            continue
        assert c["facts"]["acpi"] == "no" and c["facts"]["fdt"] == "yes"


def test_reduced_boot_of_ova_and_vhd(exported, tmp_path):
    """One cell each, both at once (two guests on two cores)."""
    jobs = {("aarch64", "ova"): exported("aarch64", "ova")[0],
            ("arm", "vhd"): exported("arm", "vhd")[0]}
    procs = {k: _start_test(img, tmp_path / f"{k[0]}-{k[1]}", *CELL[k[0]], "--no-hotplug",
                            "--no-varstore") for k, img in jobs.items()}
    for (arch, fmt), (rc, report, err) in _reports(procs).items():
        _assert_booted(rc, report, err, arch)
        assert report["image"] == str(jobs[(arch, fmt)])
        cell = report["cells"][0]
        tty = "ttyAMA0" if arch == "aarch64" else "hvc0"
        assert cell["facts"]["tty"] == tty


@pytest.mark.nightly
@pytest.mark.parametrize("arch", ("aarch64", "arm"))
@pytest.mark.parametrize("fmt", FORMATS)
def test_quick_matrix_every_format(exported, tmp_path, arch, fmt):
    img, _ = exported(arch, fmt)
    rc, report, err = _reports({0: _start_test(img, tmp_path, "--quick")})[0]
    _assert_booted(rc, report, err, arch)
    names = {c["name"] for c in report["cells"]}
    assert {f"{arch}-gic3-pci-pl011", f"{arch}-gic2-mmio-virtio"} <= names


def _boot_domain(libvirt_session, xml: Path, name: str, timeout: float = 600):
    import pexpect

    virsh = libvirt_session["virsh"]
    d = virsh("define", xml)
    assert d.returncode == 0, d.stderr
    log = libvirt_session["root"] / f"{name}.console.log"
    argv = libvirt_session["argv"] + ["start", name, "--console"]
    t0 = time.monotonic()
    child = pexpect.spawn(argv[0], argv[1:], timeout=timeout, encoding="utf-8",
                          codec_errors="replace")
    child.logfile_read = open(log, "w")
    try:
        idx = child.expect(["ARMVM-READY", r"login:", pexpect.TIMEOUT, pexpect.EOF])
        text = log.read_text() if log.exists() else ""
        dumped = virsh("dumpxml", name).stdout
    finally:
        child.close(force=True)
        virsh("destroy", name)
        virsh("undefine", "--nvram", name)
    return idx, text, dumped, time.monotonic() - t0


def _check_domain_boot(libvirt_session, exported, arch, fmt):
    out, res = exported(arch, fmt, "--libvirt-xml")
    name = res["libvirt_domain"]
    if os.geteuid() == 0:        # the session daemon's QEMU runs as nobody and writes the disk
        os.chown(out, 65534, 65534)
    idx, text, dumped, secs = _boot_domain(libvirt_session, Path(res["libvirt_xml"]), name)
    assert idx in (0, 1), f"no ready marker / login prompt on virsh console:\n{text[-3000:]}"
    facts = dict(re.findall(r"ARMVM-FACT (\w+)=([^\r\n]*)", text))
    assert facts["acpi"] == "no" and facts["fdt"] == "yes" and facts["efi"] == "yes"
    assert facts["tty"] == "ttyAMA0"                 # the PL011 serial console
    virtio = re.findall(r"ARMVM-FACT virtio=\w+:(0x\w+):(\w+)", text)
    assert ("0x0003", "pci") in virtio               # the virtio console device
    assert ("0x0002", "pci") in virtio and ("0x0001", "pci") in virtio   # disk, net
    # libvirt gave the domain its own variable store, made from the template
    nvram = re.search(r"<nvram template='([^']+)'>([^<]+)</nvram>", dumped)
    assert nvram, dumped
    assert "/nvram/" in nvram.group(2) and nvram.group(2) != str(out)
    assert "AAVMF" in nvram.group(1) and ".ms." not in nvram.group(1)   # no enrolled keys
    return secs


def test_libvirt_domain_boots_aarch64(libvirt_session, exported):
    _check_domain_boot(libvirt_session, exported, "aarch64", "qcow2")


@pytest.mark.nightly
@pytest.mark.parametrize("arch,fmt", [("arm", "qcow2"), ("arm", "vhd"), ("aarch64", "vhd"),
                                      ("aarch64", "raw")])
def test_libvirt_domain_boots(libvirt_session, exported, arch, fmt):
    _check_domain_boot(libvirt_session, exported, arch, fmt)


def _distro_image(arch: str) -> Path | None:
    """A Debian system built with Debian's own tools (mmdebstrap, grub-install,
    systemd; the boot area's armvm_oe.testing.distro), if one is cached."""
    from armvm_oe.lib import cache_dir

    deb = {"aarch64": "arm64", "arm": "armhf"}[arch]
    found = sorted((cache_dir() / "distro").glob(f"debian-{deb}-*/disk.img"),
                   key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


@pytest.mark.nightly        # ~3 min per arch (systemd under TCG); ran green for the notes
@pytest.mark.parametrize("arch", ("aarch64", "arm"))
def test_debian_image_exports_verifies_and_reaches_login_under_libvirt(libvirt_session, arch):
    """Input no file of this repository made: a Debian 12 arm64/armhf system
    (systemd, Debian's kernel and GRUB, getty on ttyAMA0) exported to qcow2
    with its domain, verified the same as the raw image, and booted under
    libvirtd to the login prompt on virsh console."""
    src = _distro_image(arch)
    if src is None:
        need_fixture(f"no cached Debian {arch} image (built by the boot area: "
                    f"python3 -m armvm_oe.testing.distro --arch {arch})")
    work = Path(libvirt_session["root"]) / f"distro-{arch}"
    work.mkdir()
    work.chmod(0o755)
    out = work / "debian.qcow2"
    p = cli("export", src, "--to", "qcow2", "-o", out, "--libvirt-xml", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    before = cli("verify", "--json", src)
    after = cli("verify", "--json", out)
    strip = lambda d: [(f["id"], f["check"], f["result"], f["reason"])  # noqa: E731
                       for f in json.loads(d.stdout)["findings"]]
    assert strip(before) == strip(after)
    if os.geteuid() == 0:
        os.chown(out, 65534, 65534)
    idx, text, dumped, _ = _boot_domain(libvirt_session, Path(res["libvirt_xml"]),
                                        res["libvirt_domain"], timeout=900)
    assert idx == 1, f"no login prompt on virsh console:\n{text[-3000:]}"
    assert "/nvram/" in dumped

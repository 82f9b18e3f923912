"""Probing a guest from its console alone, on serial logs of real boots.

tests/boot/data/busybox-*.log are the consoles of the busybox login fixture
(Debian's 6.1 arm64/armmp-lpae kernels, UEFI from AAVMF, a busybox getty:
no ARMVM-* protocol line) as `armvm-oe test --keep-logs` saved them; the
virtio-console cells end with the pl011 output of the same boot."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from armvm_oe.boottest.judge import Evidence, judge
from armvm_oe.boottest.matrix import Cell, boot_variables
from armvm_oe.qemu import Login
from armvm_oe.qemu.probe import (firmware_boot, log_is_quiet, parse_shell, passive_facts,
                                 removable_boot)

DATA = Path(__file__).parent / "data"
AUX = "# ---- pl011 (ttyAMA0) output of this boot ----"
CASES = [("aarch64", 3, "pci", "pl011"), ("aarch64", 2, "mmio", "virtio"),
         ("arm", 3, "pci", "pl011"), ("arm", 2, "mmio", "virtio")]


def _log(arch, gic, virtio, console):
    """(console text up to the login prompt + the other console, shell part)."""
    text = (DATA / f"busybox-{arch}-gic{gic}-{virtio}-{console}.log").read_text()
    main, _, aux = text.partition(AUX)
    boot, sep, after = main.partition(" login: ")
    return boot + sep + "\n" + aux, after


@pytest.mark.parametrize("case", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_kernel_log_alone_passes_every_column(case):
    """The issue's rule: the kernel log alone is enough for a PASS of the
    GIC/VIRTIO/CONSOLE/HW-FDT columns (no login, no protocol)."""
    arch, gic, virtio, console = case
    boot, _ = _log(*case)
    assert "ARMVM-FACT" not in boot
    f = passive_facts(boot)
    assert f["gic"] == str(gic) and f["efi"] == "yes" and f["fdt"] == "yes"
    assert f["acpi"] == "no" and "ttyAMA0" in f["consoles"].split()
    assert f["cmdline"].startswith("BOOT_IMAGE=") and f["cpus"] == "2"
    assert {v.rsplit(":", 1)[1] for v in f["virtio"]} == {virtio}
    cell = Cell(arch, gic, virtio, console)
    verdicts = judge(cell, Evidence(log=f, shell=None, boot_how="login", boot_tty=cell.tty))
    assert [v.req for v in verdicts] == ["PLAT-EXEC", "IMG-GRUB", "HW-FDT", "GUEST-GIC",
                                         "GUEST-VIRTIO", "GUEST-CONSOLE", "HW-ENUM"]
    assert all(v.ok for v in verdicts), [v for v in verdicts if not v.ok]
    assert all(v.source in ("log", "boot+log") for v in verdicts), verdicts
    # the same log judged against the other machine fails the right columns
    other = replace(cell, gic=5 - gic, virtio="mmio" if virtio == "pci" else "pci")
    bad = {v.req for v in judge(other, Evidence(log=f, shell=None, boot_how="login",
                                                boot_tty=other.tty)) if not v.ok}
    assert bad == {"GUEST-GIC", "GUEST-VIRTIO"}


def test_pci_log_names_each_device_and_mmio_only_the_disk():
    pci = passive_facts(_log("aarch64", 3, "pci", "pl011")[0])["virtio"]
    assert sorted(v.rsplit(":", 2)[1] for v in pci) == ["0x0001", "0x0002", "0x0005"]
    mmio = passive_facts(_log("aarch64", 2, "mmio", "virtio")[0])["virtio"]
    assert [v.split(":")[1:] for v in mmio] == [["0x0002", "mmio"]]


@pytest.mark.parametrize("case", CASES[:2], ids=["pci", "mmio"])
def test_shell_answers_parse_and_agree_with_the_log(case):
    arch, gic, virtio, console = case
    boot, after = _log(*case)
    sh = parse_shell(after)
    assert sh["gic"] == str(gic) and sh["arch"] == "aarch64" and sh["tty"] == Cell(*case).tty
    assert sh["acpi"] == "no" and sh["efi"] == "yes" and sh["fdt"] == "yes"
    assert all(v.endswith(":" + virtio) for v in sh["virtio"]) and len(sh["virtio"]) >= 3
    cell = Cell(*case)
    ev = Evidence(log=passive_facts(boot), shell=sh, boot_how="login", boot_tty=cell.tty,
                  echo_ok=True)
    vs = judge(cell, ev)
    assert all(v.ok for v in vs) and {v.source for v in vs} <= {"log+shell", "boot+log+shell"}
    # a shell that contradicts the log fails the column even though the log passes
    liar = dict(sh, gic=str(5 - gic))
    v = next(v for v in judge(cell, replace(ev, shell=liar)) if v.req == "GUEST-GIC")
    assert not v.ok and "(log)" in v.message and "(shell)" in v.message


def test_quiet_kernel_is_said_and_needs_a_shell():
    boot, after = _log("aarch64", 3, "pci", "pl011")
    quiet = "\n".join(ln for ln in boot.splitlines() if not ln.lstrip().startswith("["))
    assert log_is_quiet(quiet) and not log_is_quiet(boot)
    f = passive_facts(quiet)
    assert "gic" not in f and "acpi" not in f      # absence is not evidence in a quiet log
    cell = Cell("aarch64", 3, "pci", "pl011")
    vs = {v.req: v for v in judge(cell, Evidence(log=f, shell=None, boot_how="login",
                                                 boot_tty=cell.tty, quiet=True))}
    assert not vs["GUEST-GIC"].ok and "quiet kernel" in vs["GUEST-GIC"].message
    assert not vs["HW-FDT"].ok and "--login" in vs["HW-FDT"].message
    sh = parse_shell(after)
    vs = judge(cell, Evidence(log=f, shell=sh, boot_how="login", boot_tty=cell.tty,
                              quiet=True, echo_ok=True))
    assert all(v.ok for v in vs), [v for v in vs if not v.ok]


def test_fixture_protocol_lines_are_not_evidence():
    """ARMVM-FACT lines alone (no kernel log, no shell) prove nothing."""
    proto = "ARMVM-FACT gic=3\nARMVM-FACT virtio=virtio0:0x0002:pci\nARMVM-FACT acpi=no\n" \
            "ARMVM-FACT efi=yes\nARMVM-FACT fdt=yes\nARMVM-FACT tty=ttyAMA0\nARMVM-READY\n"
    f = passive_facts(proto)
    cell = Cell("aarch64", 3, "pci", "pl011")
    vs = {v.req: v.ok for v in judge(cell, Evidence(log=f, shell=None, boot_how="protocol",
                                                    boot_tty=cell.tty, quiet=True))}
    assert not any(vs[r] for r in ("GUEST-GIC", "GUEST-VIRTIO", "HW-FDT", "HW-ENUM"))


def test_firmware_names_the_removable_boot():
    boot, _ = _log("aarch64", 3, "pci", "pl011")
    entry, desc, path = firmware_boot(boot)
    assert entry.startswith("Boot") and desc == "UEFI Misc Device" and removable_boot(path)
    assert not removable_boot(r"HD(1,GPT,0A1B,0x800,0x32000)/\EFI\debian\grubaa64.efi")


def test_boot_variables_in_a_store(tmp_path):
    fresh = tmp_path / "fresh.fd"
    fresh.write_bytes(bytes(1 << 16))
    assert boot_variables(fresh) == []
    used = tmp_path / "used.fd"
    blob = bytearray(1 << 16)
    for off, name in ((0x100, "BootOrder"), (0x400, "Boot0001"), (0x800, "BootCurrentX")):
        raw = name.encode("utf-16-le") + b"\0\0"
        blob[off:off + len(raw)] = raw
    used.write_bytes(bytes(blob))
    assert boot_variables(used) == ["Boot0001", "BootOrder"]   # not BootCurrentX


def test_login_option_parsing():
    assert Login.parse("root") == Login("root", None)
    assert Login.parse("root:") == Login("root", "")
    assert Login.parse("me:s3:cret") == Login("me", "s3:cret")
    assert Login.parse("none") is None
    with pytest.raises(ValueError):
        Login.parse("bad user")


ROOT = Path(__file__).resolve().parents[2]
TEST_FEATURES = ("empty-root-password", "allow-empty-password", "allow-root-login")


def test_test_image_overlay_adds_the_login_features(tmp_path):
    """kas/test-image.yml on top of a machine config gives the local.conf
    line that lets 'armvm-oe test' log in as root without a password."""
    from armvm_oe import kasconfig

    p = kasconfig.load_config(f"{ROOT}/kas/armvm-aarch64.yml:{ROOT}/kas/test-image.yml",
                              work_dir=tmp_path)
    text = p.config["local_conf_header"]["armvm-test-image"]
    line = next(ln for ln in text.splitlines() if ln.startswith("EXTRA_IMAGE_FEATURES"))
    assert line.split("=", 1)[1].strip().strip('"').split() == list(TEST_FEATURES)
    assert p.config["machine"] == "armvm-aarch64"
    plain = kasconfig.load_config(f"{ROOT}/kas/armvm-aarch64.yml", work_dir=tmp_path)
    assert "armvm-test-image" not in plain.config.get("local_conf_header", {})


@pytest.mark.poky
def test_test_image_features_are_poky_image_features():
    from _yocto import tree     # oe-core from ARMVM_MIRRORS, or poky from ARMVM_POKY_DIR
    cls = tree("scarthgap").core / "meta" / "classes-recipe" / "core-image.bbclass"
    text = cls.read_text()
    for f in TEST_FEATURES:
        assert f"# - {f}" in text or f"#   - {f}" in text, f

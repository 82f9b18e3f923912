"""What the host must provide for a Xen boot: the Xen binary and a QEMU
that emulates EL2 (the UEFI firmware comes from armvm_oe.qemu.find_firmware).
Every failure is an ArmvmError with what/why/fix, never a traceback."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from armvm_oe.errors import ArmvmError, InputError, UsageError
from armvm_oe.qemu import VMConfig, build_argv, qemu_binary

XEN_PACKAGE = "xen-hypervisor-4.17-arm64"
ARM64_MAGIC = b"ARM\x64"        # arm64 Image header, offset 56


class XenUnavailable(UsageError):
    """The host cannot provide what the Xen boot needs (exit 2)."""


@dataclass
class XenBinary:
    path: Path
    version: str | None
    origin: str          # "--xen", "host package", "Debian archive"


def xen_version(data: bytes) -> str | None:
    """major.minor from the binary's own ``xen,xen-X.Y`` compatible string
    (the full version is read from the banner at boot)."""
    m = re.search(rb"xen,xen-(\d+\.\d+)", data)
    return m.group(1).decode() if m else None


def check_xen_binary(path: Path, origin: str) -> XenBinary:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"the Xen binary {path} does not exist",
                         "--xen must name the arm64 Xen hypervisor image (for example "
                         "/boot/xen-4.17-arm64 from Debian's xen-hypervisor-4.17-arm64)",
                         "Pass an existing file, or leave --xen out to use Debian's package")
    data = path.read_bytes()
    if data[56:60] != ARM64_MAGIC:
        raise InputError(f"{path} is not an arm64 Xen image",
                         "GRUB's xen_hypervisor loads an arm64 Image (header magic 'ARM\\x64' "
                         "at byte 56); this file has none (an .efi or x86 Xen will not do)",
                         "Pass xen-<ver>-arm64 (not the .efi) from xen-hypervisor-<ver>-arm64")
    version = xen_version(data)
    if version is None:
        raise InputError(f"{path} is an arm64 Image but not the Xen hypervisor",
                         "it carries no 'xen,xen-X.Y' compatible string (a Linux kernel "
                         "Image has the same header)",
                         "Pass xen-<ver>-arm64 from Debian's xen-hypervisor-<ver>-arm64")
    return XenBinary(path, version, origin)


def find_xen(xen_path: Path | None) -> XenBinary:
    """--xen PATH, else an installed arm64 Xen (an arm64 host), else
    Debian's package downloaded (not installed) into the cache."""
    if xen_path:
        return check_xen_binary(Path(xen_path), "--xen")
    installed = sorted(Path("/boot").glob("xen-*-arm64"))
    installed = [p for p in installed if not p.name.endswith((".efi", ".config"))]
    if installed:
        return check_xen_binary(installed[-1], f"host package ({installed[-1]})")
    from armvm_oe.testing import debian
    try:
        root = debian.unpacked(f"{XEN_PACKAGE}:arm64")
    except ArmvmError as e:
        raise XenUnavailable(
            f"no arm64 Xen hypervisor is available on this host ({XEN_PACKAGE}:arm64)",
            f"none was given with --xen, none is installed in /boot, and apt could not "
            f"download Debian's package: {e.what}",
            "Run 'sudo dpkg --add-architecture arm64 && sudo apt-get update' so apt can "
            f"download {XEN_PACKAGE}:arm64, or pass --xen PATH to an arm64 Xen image") from None
    found = [p for p in sorted((root / "boot").glob("xen-*-arm64"))]
    if not found:
        raise XenUnavailable(f"{XEN_PACKAGE} holds no xen-*-arm64 image",
                             f"unpacked in {root}", "Pass --xen PATH")
    return check_xen_binary(found[-1], f"Debian archive ({XEN_PACKAGE})")


def probe_qemu(cfg: VMConfig, dtb_out: Path | None = None) -> str:
    """Ask QEMU to build exactly the machine of ``cfg`` and dump its device
    tree (``-M ...,dumpdtb=``; a 1 MiB placeholder stands in for its disk):
    fails the way a boot would if QEMU cannot emulate EL2
    (virtualization=on). Returns the QEMU version; the DTB is kept in
    ``dtb_out`` if given (the dom0less cell edits it)."""
    qemu = qemu_binary(cfg.arch)
    ver = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\S+)", ver)
    version = m.group(1) if m else "unknown"
    with tempfile.TemporaryDirectory() as tmp:
        placeholder = Path(tmp) / "placeholder.raw"
        with open(placeholder, "wb") as f:
            f.truncate(1 << 20)
        argv = build_argv(replace(cfg, disk=placeholder, disk_format="raw"), binary=qemu)
        dtb = Path(dtb_out) if dtb_out else Path(tmp) / "virt.dtb"
        i = argv.index("-M") + 1
        argv[i] += f",dumpdtb={dtb}"
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0 or not dtb.exists():
            err = (r.stderr or r.stdout).strip().splitlines()
            raise XenUnavailable(
                f"{qemu} {version} cannot emulate an Arm machine with EL2 "
                f"(-M {argv[i].split(',dumpdtb=')[0]} -cpu {argv[argv.index('-cpu') + 1]})",
                "Xen runs at EL2, so QEMU must emulate the virtualization extensions "
                f"(QEMU said: {err[-1] if err else 'nothing'})",
                "Install Debian's qemu-system-arm (QEMU 7.2 in bookworm supports "
                "virtualization=on with TCG); KVM acceleration cannot provide EL2 here")
    return version

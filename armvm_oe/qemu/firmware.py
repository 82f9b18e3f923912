"""Find the host's UEFI firmware for the QEMU ``virt`` machine.

A spec VM gets its firmware from the host, never from the image
(FW-NOT-IN-IMAGE); each instance then owns a copy of the firmware's variable
store template (FW-VARSTORE)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from armvm_oe.errors import InputError, UsageError, privileged

# Debian package that provides the firmware for each guest arch.
FIRMWARE_PACKAGE = {"aarch64": "qemu-efi-aarch64", "arm": "qemu-efi-arm"}

# (code, vars template) pairs in the order they are tried. Debian/Ubuntu first
# (AAVMF, then the older qemu-efi-* names), then Fedora/RHEL (edk2-aarch64 /
# edk2-arm), Arch (edk2-armvirt), openSUSE (qemu-uefi-aarch64) and the files a
# QEMU 'make install' ships.
SEARCH: dict[str, list[tuple[str, str]]] = {
    "aarch64": [
        ("/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"),
        ("/usr/share/qemu-efi-aarch64/QEMU_EFI.fd", "/usr/share/qemu-efi-aarch64/QEMU_VARS.fd"),
        ("/usr/share/edk2/aarch64/QEMU_EFI-silent-pflash.raw",
         "/usr/share/edk2/aarch64/vars-template-pflash.raw"),
        ("/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw",
         "/usr/share/edk2/aarch64/vars-template-pflash.raw"),
        ("/usr/share/edk2/aarch64/QEMU_CODE.fd", "/usr/share/edk2/aarch64/QEMU_VARS.fd"),
        ("/usr/share/edk2-armvirt/aarch64/QEMU_CODE.fd", "/usr/share/edk2-armvirt/aarch64/QEMU_VARS.fd"),
        ("/usr/share/qemu/aavmf-aarch64-code.bin", "/usr/share/qemu/aavmf-aarch64-vars.bin"),
        ("/usr/share/qemu/edk2-aarch64-code.fd", "/usr/share/qemu/edk2-arm-vars.fd"),
        ("/usr/local/share/qemu/edk2-aarch64-code.fd", "/usr/local/share/qemu/edk2-arm-vars.fd"),
    ],
    "arm": [
        ("/usr/share/AAVMF/AAVMF32_CODE.fd", "/usr/share/AAVMF/AAVMF32_VARS.fd"),
        ("/usr/share/edk2/arm/QEMU_EFI-pflash.raw", "/usr/share/edk2/arm/vars-template-pflash.raw"),
        ("/usr/share/edk2/arm/QEMU_CODE.fd", "/usr/share/edk2/arm/QEMU_VARS.fd"),
        ("/usr/share/edk2-armvirt/arm/QEMU_CODE.fd", "/usr/share/edk2-armvirt/arm/QEMU_VARS.fd"),
        ("/usr/share/qemu/aavmf-arm-code.bin", "/usr/share/qemu/aavmf-arm-vars.bin"),
        ("/usr/share/qemu/edk2-arm-code.fd", "/usr/share/qemu/edk2-arm-vars.fd"),
        ("/usr/local/share/qemu/edk2-arm-code.fd", "/usr/local/share/qemu/edk2-arm-vars.fd"),
    ],
}

PFLASH_SIZE = 64 << 20   # the virt machine's two flash banks are 64 MiB each


@dataclass(frozen=True)
class Firmware:
    arch: str
    code: Path
    vars_template: Path

    def as_dict(self) -> dict:
        return {"arch": self.arch, "code": str(self.code), "vars_template": str(self.vars_template)}


def _check_file(path: Path, what: str, arch: str) -> Path:
    if not path.is_file():
        raise InputError(f"the {what} {path} does not exist",
                         "armvm-oe boots images with UEFI firmware from the host",
                         f"Give an existing file, or drop the option to use the firmware of the "
                         f"Debian package {FIRMWARE_PACKAGE[arch]} "
                         f"({privileged('apt-get install ' + FIRMWARE_PACKAGE[arch])})")
    if not os.access(path, os.R_OK):
        raise InputError(f"the {what} {path} is not readable", "permission denied",
                         "Check its permissions")
    return path


def find_firmware(arch: str, code: str | Path | None = None,
                  vars_template: str | Path | None = None,
                  search: list[tuple[str, str]] | None = None) -> Firmware:
    """The firmware pair for ``arch`` ("aarch64" | "arm").

    ``code``/``vars_template`` given: both must exist (``--firmware`` /
    ``--vars-template``). Otherwise the distro paths in :data:`SEARCH` (or
    ``search``) are tried; nothing found names the Debian package."""
    if arch not in SEARCH:
        raise UsageError(f"unknown guest architecture {arch!r}", None, "Use aarch64 or arm")
    if code or vars_template:
        if not (code and vars_template):
            raise UsageError("--firmware and --vars-template go together",
                             "the firmware code and its variable-store template must match",
                             "Give both, e.g. --firmware /usr/share/AAVMF/AAVMF_CODE.fd "
                             "--vars-template /usr/share/AAVMF/AAVMF_VARS.fd")
        return Firmware(arch, _check_file(Path(code), "firmware file (--firmware)", arch),
                        _check_file(Path(vars_template), "variable-store template (--vars-template)",
                                    arch))
    candidates = SEARCH[arch] if search is None else search
    for c, v in candidates:
        if os.access(c, os.R_OK) and os.access(v, os.R_OK):
            return Firmware(arch, Path(c), Path(v))
    pkg = FIRMWARE_PACKAGE[arch]
    raise UsageError(
        f"no UEFI firmware for {arch} guests was found on this host",
        f"looked for {', '.join(c for c, _ in candidates[:3])} and {len(candidates) - 3} more "
        f"distro paths" if len(candidates) > 3 else
        f"looked for {', '.join(c for c, _ in candidates) or 'nothing'}",
        f"Install it (Debian/Ubuntu: {privileged('apt-get install ' + pkg)}) or give "
        f"--firmware CODE --vars-template VARS")

"""The throwaway boot disk: GPT + FAT32 ESP holding GRUB (arm64-efi, with
``xen_boot``), Xen, the image's own kernel and initrd, and a grub.cfg whose
``xen_hypervisor``/``xen_module`` lines start the kernel as dom0.

GRUB's embedded early config looks for a marker file unique to this disk,
not for ``/EFI/BOOT/grub.cfg``: the image under test is attached too and
has its own ``/EFI/BOOT/grub.cfg``, which a plain search could pick (GRUB
walks disks in firmware handle order), booting the image without Xen."""

from __future__ import annotations

import hashlib
import os
import shlex
from pathlib import Path

from armvm_oe import diskimage
from armvm_oe.lib import cache_dir

MARKER = "EFI/ARMVM-XEN/xen-boot.id"
EARLY_CFG = f"""search --no-floppy --file --set=root /{MARKER}
set prefix=($root)/EFI/BOOT
configfile ($root)/EFI/BOOT/grub.cfg
"""
XEN_GRUB_MODULES = ["xen_boot", "fdt"]
DEFAULT_XEN_ARGS = ["console=dtuart", "dom0_mem=512M,max:512M", "loglvl=all",
                    "guest_loglvl=all"]
DOM0_CONSOLE = ["console=hvc0"]


def grub_efi(modules_dir: Path) -> Path:
    """GRUB arm64-efi with xen_boot (``diskimage.make_grub_efi`` with this
    disk's marker search as early config), cached by the module directory
    (keyed by the grub-efi-arm64-bin version), the modules and the early
    config."""
    modules_dir = Path(modules_dir)
    if not (modules_dir / "xen_boot.mod").exists():
        from armvm_oe.xen.host import XenUnavailable
        raise XenUnavailable(f"GRUB's xen_boot module is not in {modules_dir}",
                             "GRUB loads Xen and dom0 with xen_hypervisor/xen_module",
                             "Use Debian's grub-efi-arm64-bin (it ships xen_boot.mod)")
    key = hashlib.sha256("\n".join([str(modules_dir.resolve()), EARLY_CFG,
                                    *diskimage.GRUB_MODULES, *XEN_GRUB_MODULES]).encode()
                         ).hexdigest()[:16]
    out = cache_dir() / "xen" / f"grub-xen-{key}.efi"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        diskimage.make_grub_efi("aarch64", modules_dir, tmp, extra_modules=XEN_GRUB_MODULES,
                                early_cfg=EARLY_CFG)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _q(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


def grub_cfg(xen_args: list[str], dom0_args: list[str], initrd: bool,
             title: str = "armvm-oe: Xen with the image's kernel as dom0",
             extra_modules: list[str] | None = None) -> str:
    """``xen_module`` order matters: the first is dom0's kernel, the
    next its ramdisk (GRUB tags them for Xen's boot-module binding)."""
    lines = ["set timeout=0", "set default=0", f'menuentry "{title}" {{',
             f"    xen_hypervisor /xen {_q(xen_args)}",
             f"    xen_module /Image {_q(dom0_args)}"]
    if initrd:
        lines.append("    xen_module --nounzip /initrd.img")
    lines += [f"    {m}" for m in (extra_modules or [])]
    lines.append("}")
    return "\n".join(lines) + "\n"


def esp_disk(out: Path, files: dict[str, Path | bytes], label: str = "XENBOOT") -> Path:
    """A raw GPT disk with one FAT32 ESP holding ``files`` (ESP path ->
    local file or bytes), sized to fit them."""
    out = Path(out)
    need = sum(len(v) if isinstance(v, (bytes, str)) else Path(v).stat().st_size
               for v in files.values())
    size = max(64, need // diskimage.MiB + 16)
    esp = diskimage.make_fat(out.with_suffix(".esp"), size, files, fat_bits=32, label=label)
    try:
        diskimage.assemble_gpt(out, [diskimage.Partition(label, diskimage.ESP_TYPE, esp)])
    finally:
        esp.unlink(missing_ok=True)
    return out


def build(out: Path, *, grub: Path, xen: Path, kernel: Path, initrd: Path | None,
          cfg: str, extra_files: dict[str, Path | bytes] | None = None) -> Path:
    """Write the GRUB + Xen boot disk to ``out`` (raw, GPT + FAT32 ESP)."""
    files: dict[str, Path | bytes] = {
        "EFI/BOOT/BOOTAA64.EFI": grub, "EFI/BOOT/grub.cfg": cfg.encode(),
        MARKER: b"armvm-oe xen boot disk\n", "xen": xen, "Image": kernel}
    if initrd:
        files["initrd.img"] = initrd
    files.update(extra_files or {})
    return esp_disk(out, files)

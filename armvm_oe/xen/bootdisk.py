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
import tempfile
from pathlib import Path

from armvm_oe import diskimage
from armvm_oe.lib import cache_dir, require_tool, run

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
    """GRUB arm64-efi with xen_boot, cached by the module directory
    (keyed by the grub-efi-arm64-bin version) and the early config."""
    require_tool("grub-mkimage", "grub-common", "make the GRUB EFI application that loads Xen")
    modules_dir = Path(modules_dir)
    if not (modules_dir / "xen_boot.mod").exists():
        from armvm_oe.xen.host import XenUnavailable
        raise XenUnavailable(f"GRUB's xen_boot module is not in {modules_dir}",
                             "GRUB loads Xen and dom0 with xen_hypervisor/xen_module",
                             "Use Debian's grub-efi-arm64-bin (it ships xen_boot.mod)")
    mods = [m for m in diskimage.GRUB_MODULES + XEN_GRUB_MODULES
            if (modules_dir / f"{m}.mod").exists()]
    key = hashlib.sha256("\n".join([str(modules_dir.resolve()), EARLY_CFG, *mods]).encode()
                         ).hexdigest()[:16]
    out = cache_dir() / "xen" / f"grub-xen-{key}.efi"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        early = Path(tmp) / "early.cfg"
        early.write_text(EARLY_CFG)
        tmp_out = Path(tmp) / "grub.efi"
        run(["grub-mkimage", "-d", modules_dir, "-O", "arm64-efi", "-o", tmp_out,
             "-p", "/EFI/BOOT", "-c", early, *mods])
        os.replace(tmp_out, out) if tmp_out.stat().st_dev == out.parent.stat().st_dev else \
            out.write_bytes(tmp_out.read_bytes())
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


def build(out: Path, *, grub: Path, xen: Path, kernel: Path, initrd: Path | None,
          cfg: str, extra_files: dict[str, Path | bytes] | None = None) -> Path:
    """Write the boot disk to ``out`` (raw, GPT + FAT32 ESP)."""
    out = Path(out)
    files: dict[str, Path | bytes] = {
        "EFI/BOOT/BOOTAA64.EFI": grub, "EFI/BOOT/grub.cfg": cfg.encode(),
        MARKER: b"armvm-oe xen boot disk\n", "xen": xen, "Image": kernel}
    if initrd:
        files["initrd.img"] = initrd
    files.update(extra_files or {})
    need = sum(len(v) if isinstance(v, (bytes, str)) else Path(v).stat().st_size
               for v in files.values())
    size = max(64, need // diskimage.MiB + 16)
    esp = diskimage.make_fat(out.with_suffix(".esp"), size, files, fat_bits=32, label="XENBOOT")
    try:
        diskimage.assemble_gpt(out, [diskimage.Partition("XENBOOT", diskimage.ESP_TYPE, esp)])
    finally:
        esp.unlink(missing_ok=True)
    return out

"""Stretch of issue 9: the image's kernel as a real Xen *guest* (domU),
started by Xen itself from the device tree ("dom0less", no dom0).

Xen's EFI binary is the boot application; its config (BOOTAA64.cfg) names a
device tree: QEMU's own FDT for this exact machine (``-M ...,dumpdtb=``)
with a ``/chosen/domU1`` node (``compatible = "xen,domain"``, memory, cpus,
``vpl011``) whose ``multiboot,kernel``/``multiboot,ramdisk`` modules name
the image's kernel and initrd through ``xen,uefi-binary`` (Xen >= 4.16
loads them from the ESP itself).

What it proves: the image's own kernel and initramfs boot as a Xen domU
with a Xen console (the emulated vpl011, printed by Xen as ``(XEN) DOM1:``).
What it cannot do with Xen 4.17: give the domU the PV interfaces
(``xen,enhanced`` panics "Xenstore support requires dom0 to be present")
or a disk (no backend without dom0), so the initramfs stops at
``ARMVM-ROOT-NOT-FOUND``; that is expected and reported, not a failure."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from armvm_oe.boottest.result import CellResult
from armvm_oe.errors import InputError
from armvm_oe.lib import require_tool, run
from armvm_oe.qemu import build_argv
from armvm_oe.qemu.firmware import Firmware
from armvm_oe.xen import bootcfg, bootdisk, host, source
from armvm_oe.xen.cell import (bootdisk_args, concat_initrds, firmware_and_vars, guest_disk,
                               run_cell, vm_config)

DOMU_MEM_KIB = 256 * 1024
XEN_ARGS = "console=dtuart loglvl=all guest_loglvl=all"


def xen_efi(xen_path: Path | None) -> Path:
    """The EFI build of Xen next to the plain one (Debian ships both)."""
    xen = host.find_xen(xen_path)
    for cand in (xen.path.with_name(xen.path.name + ".efi"), xen.path):
        if cand.is_file() and cand.read_bytes()[:2] == b"MZ":
            return cand
    raise InputError(f"no EFI build of Xen next to {xen.path}",
                     "dom0less boot starts xen.efi directly from UEFI so Xen can load the "
                     "domU's kernel from the ESP (xen,uefi-binary)",
                     "Pass --xen pointing at xen-<ver>-arm64 with xen-<ver>-arm64.efi beside it")


def add_domu(dtb: Path, bootargs: list[str], initrd: bool, mem_kib: int = DOMU_MEM_KIB,
             cpus: int = 1) -> None:
    """Add /chosen/domU1 to ``dtb`` in place (fdtput from dtc)."""
    require_tool("fdtput", "device-tree-compiler", "add the dom0less domain to the device tree")
    d = "/chosen/domU1"
    nodes = [d, f"{d}/module@1"] + ([f"{d}/module@2"] if initrd else [])
    run(["fdtput", "-c", dtb, *nodes])
    puts = [("-t", "s", d, "compatible", "xen,domain"),
            ("-t", "i", d, "#address-cells", "1"), ("-t", "i", d, "#size-cells", "1"),
            ("-t", "i", d, "memory", "0", str(mem_kib)), ("-t", "i", d, "cpus", str(cpus)),
            ("-t", "s", d, "vpl011", ""),
            ("-t", "s", f"{d}/module@1", "compatible", "multiboot,kernel", "multiboot,module"),
            ("-t", "s", f"{d}/module@1", "xen,uefi-binary", "Image"),
            ("-t", "s", f"{d}/module@1", "bootargs", " ".join(bootargs))]
    if initrd:
        puts += [("-t", "s", f"{d}/module@2", "compatible", "multiboot,ramdisk",
                  "multiboot,module"),
                 ("-t", "s", f"{d}/module@2", "xen,uefi-binary", "initrd.img")]
    for p in puts:
        run(["fdtput", p[0], p[1], dtb, *p[2:]])


def run_dom0less_cell(image: Path, *, arch: str = "aarch64", xen_path: Path | None = None,
                      timeout: float = 300, log_dir: Path, firmware: Firmware | None = None,
                      memory_mib: int = 1024) -> CellResult:
    import pexpect

    name = f"xen-dom0less-{arch}"
    log_dir = Path(log_dir)

    def body(cell: CellResult, work: Path) -> None:
        t0 = time.monotonic()
        efi = xen_efi(xen_path)
        fw, vars_ = firmware_and_vars(firmware, work)
        overlay = guest_disk(Path(image), work)
        disk = work / "xenboot.img"
        cfg_vm = vm_config(fw, vars_, overlay, "qcow2", memory_mib=memory_mib, cpus=2,
                           extra=bootdisk_args(disk))
        # QEMU's own FDT for exactly this machine
        dtb = work / "virt.dtb"
        host.probe_qemu(replace(cfg_vm, extra_args=[]), dtb_out=dtb)
        boot = source.read_image(Path(image), work)
        # Xen 4.17 gives a dom0less domU no stdout-path for its vpl011: without
        # console= its kernel is silent (measured), so the Xen side names it
        args, _ = bootcfg.dom0_args(boot.entry, ["console=ttyAMA0"])
        initrd = concat_initrds(boot, work)
        add_domu(dtb, args, initrd is not None)
        cfg = (f"[global]\ndefault=xen\n\n[xen]\noptions={XEN_ARGS}\ndtb=virt.dtb\n")
        files = {"EFI/BOOT/BOOTAA64.EFI": efi, "EFI/BOOT/BOOTAA64.cfg": cfg.encode(),
                 "EFI/BOOT/virt.dtb": dtb, "EFI/BOOT/Image": boot.kernel}
        if initrd:
            files["EFI/BOOT/initrd.img"] = initrd
        bootdisk.esp_disk(disk, files)
        argv = build_argv(cfg_vm)
        (log_dir / f"{name}.xen.cfg").write_text(cfg)
        run(["dtc", "-q", "-I", "dtb", "-O", "dts", "-o", log_dir / f"{name}.dts", dtb],
            check=False)
        log_path = log_dir / f"{name}.serial.log"
        cell.log_path = log_path
        with open(log_path, "wb") as logf:
            child = pexpect.spawn(argv[0], argv[1:], logfile=logf, timeout=None)
            try:
                i = child.expect([r"DOM1: ARMVM-ROOT-NOT-FOUND", r"DOM1: ARMVM-READY",
                                  r"\(XEN\) Panic", "Kernel panic", pexpect.EOF, pexpect.TIMEOUT],
                                 timeout=max(30, timeout - (time.monotonic() - t0)))
                cell.params["outcome"] = ["initramfs without root disk", "userspace", "Xen panic",
                                          "kernel panic", "qemu exited", "timeout"][i]
                cell.params["domu_s"] = round(time.monotonic() - t0, 1)
            finally:
                child.terminate(force=True)
                child.close()
        log = log_path.read_bytes().decode(errors="replace")
        ok = "Xen dom0less mode detected" in log and "Loading d1 kernel" in log
        cell.add_check("GUEST-XEN", ok, "Xen started domU1 from the device tree (dom0less)"
                       if ok else "Xen did not start a dom0less domain")
        kver = boot.release or ""
        ran = f"DOM1: ARMVM-INITRAMFS {kver}" in log
        cell.add_check("GUEST-XEN", ran,
                       f"the image's kernel {kver} and initramfs ran as domU1" if ran else
                       "the image's kernel did not reach its initramfs as domU1")
        con = "DOM1: [" in log
        cell.add_check("GUEST-CONSOLE", con, "domU1's kernel log and shell on the Xen console "
                       "(vpl011, '(XEN) DOM1:')" if con else "no domU1 output on the Xen console")
        cell.facts = {"domU_console": "vpl011", "domU_root": "none (no disk backend without dom0)"}
        cell.finish()

    return run_cell(name, arch, log_dir, {"mode": "dom0less domU"}, body,
                    prefix="armvm-dom0less-")

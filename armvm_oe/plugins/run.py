"""armvm-oe run: start an image the way a spec-compliant VM would (QEMU virt,
host UEFI firmware, FDT only), as a named instance with its own UEFI
variable store and a copy-on-write disk (the image is never modified)."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from armvm_oe.errors import UsageError

NAME = "run"
ORDER = 42
HELP = "boot an image under QEMU with UEFI firmware as a named VM instance"
DESCRIPTION = (
    "Boot IMAGE on QEMU's virt machine with the host's UEFI firmware and acpi=off, so the "
    "guest gets the firmware's FDT only (HW-FDT). Each instance owns a copy of the "
    "firmware's variable-store template in the user data directory, created on the first run "
    "and reused after (FW-VARSTORE; --reset-vars renews it), and writes to a qcow2 overlay "
    "backed by the image, which is never modified (--snapshot: nothing is kept). The console "
    "is this terminal: Ctrl-A x quits, Ctrl-A c toggles the QEMU monitor. A QMP socket in the "
    "instance directory allows device_add into the free pcie-root-ports.")
EXAMPLES = """\
armvm-oe run build/armvm-image-armvm-aarch64.rootfs.wic
armvm-oe run image.wic --instance dev --gic 2 --virtio mmio --console virtio --smp 4
armvm-oe run image.wic --instance dev --reset-vars        # renew its UEFI variable store
armvm-oe run image.wic --instance dev --force    # image rebuilt: discard the old disk overlay
armvm-oe run image.wic --snapshot --dry-run               # print the QEMU command line
armvm-oe run image.wic --qemu-args '-device virtio-rng-pci'   # extra QEMU arguments
"""


def add_vm_options(p, *, smp=2, mem=1024):
    p.add_argument("--arch", choices=("auto", "aarch64", "arm"), default="auto",
                   help="guest architecture (auto: from the ESP's BOOTAA64.EFI/BOOTARM.EFI)")
    p.add_argument("--gic", type=int, choices=(2, 3), default=3, help="GIC version (default 3)")
    p.add_argument("--virtio", choices=("pci", "mmio"), default="pci",
                   help="virtio transport (default pci)")
    p.add_argument("--console", choices=("pl011", "virtio"), default="pl011",
                   help="console on this terminal (default pl011)")
    p.add_argument("--smp", type=int, default=smp, help=f"vCPUs (default {smp})")
    p.add_argument("--mem", type=int, default=mem, help=f"memory in MiB (default {mem})")
    p.add_argument("--kvm", choices=("auto", "on", "off"), default="auto",
                   help="KVM when /dev/kvm works on an arm64 host (auto), or force")
    p.add_argument("--firmware", metavar="CODE", help="UEFI firmware code file "
                   "(default: the distro's AAVMF/edk2 files)")
    p.add_argument("--vars-template", metavar="VARS", help="UEFI variable-store template")


def setup_parser(p):
    p.add_argument("image", type=Path, help="the disk image (.wic); never modified")
    add_vm_options(p)
    p.add_argument("--instance", metavar="NAME",
                   help="instance name (default: from the image file name)")
    p.add_argument("--reset-vars", action="store_true",
                   help="renew the instance's UEFI variable store from the template")
    p.add_argument("--force", action="store_true",
                   help="the image changed since the instance was made: discard its disk "
                        "overlay (the guest's disk writes) and start a fresh one; the UEFI "
                        "variables are kept")
    p.add_argument("--snapshot", action="store_true",
                   help="throwaway run: a temporary disk overlay (and, without --instance, "
                        "a temporary variable store)")
    p.add_argument("--hotplug-ports", type=int, default=None,
                   help="free pcie-root-ports for device_add (default 2 with --virtio pci)")
    p.add_argument("--dry-run", action="store_true",
                   help="prepare the instance and print the QEMU command line, do not boot")
    p.add_argument("--qemu-args", action="append", default=[], metavar="'ARGS'",
                   help="extra QEMU arguments (one shell-quoted string, repeatable), "
                        "appended verbatim")


def resolve_arch(arch: str, image: Path) -> str:
    if arch != "auto":
        return arch
    from armvm_oe.boottest.detect import guess_arch

    found = guess_arch(image)
    if not found:
        raise UsageError(f"cannot tell the architecture of {image}",
                         "no single \\EFI\\BOOT\\BOOTAA64.EFI or BOOTARM.EFI was found in its "
                         "EFI System Partition", "Give --arch aarch64 or --arch arm")
    return found


def run(args) -> int:
    from armvm_oe.qemu import (InstanceStore, VMConfig, build_argv, check_image, default_name,
                               find_firmware, qemu_binary, resolve_kvm)
    from armvm_oe.qemu.instance import copy_vars, create_overlay
    from armvm_oe.ui import echo, emit_json

    extra = []
    for chunk in args.qemu_args:
        try:
            extra += shlex.split(chunk)
        except ValueError as err:      # "No closing quotation" and friends
            raise UsageError(f"--qemu-args {chunk!r} cannot be split into arguments",
                             str(err), "Balance the quotes, e.g. --qemu-args \"-smp 4\"") \
                from None
    image = check_image(args.image)
    arch = resolve_arch(args.arch, image)
    ports = args.hotplug_ports if args.hotplug_ports is not None else (
        2 if args.virtio == "pci" else 0)
    if ports and args.virtio != "pci":
        raise UsageError("--hotplug-ports needs --virtio pci",
                         "hot-plug happens on the virtual PCIe bus", "Use --virtio pci")
    exe = qemu_binary(arch)
    firmware = find_firmware(arch, args.firmware, args.vars_template)
    kvm = resolve_kvm(args.kvm)
    # validate the machine before touching any state (e.g. GICv2 with 9 vCPUs)
    VMConfig(arch, image, firmware, image, gic=args.gic, virtio=args.virtio,
             console=args.console, smp=args.smp, mem_mib=args.mem, kvm=kvm,
             hotplug_ports=ports).validate()

    def note(msg):
        if not args.json:
            echo(msg, file=sys.stderr)

    tmp = None
    if args.snapshot:
        tmp = tempfile.TemporaryDirectory(prefix="armvm-run-")
        tdir = Path(tmp.name)
        if args.instance:
            inst, events = InstanceStore().prepare(args.instance, image, arch, firmware,
                                                   reset_vars=args.reset_vars, overlay=False,
                                                   log=note)
            vars_file, name = inst.vars_file, inst.name
        else:
            vars_file, name, events = copy_vars(firmware.vars_template, tdir / "vars.fd"), None, \
                {"vars": "temporary"}
        disk = create_overlay(image, tdir / "disk.qcow2")
        events["overlay"] = "temporary"
        qmp = tdir / "qmp.sock"
    else:
        name = args.instance or default_name(image)
        inst, events = InstanceStore().prepare(name, image, arch, firmware,
                                               reset_vars=args.reset_vars, force=args.force,
                                               log=note)
        vars_file, disk, qmp = inst.vars_file, inst.overlay, inst.qmp_socket
    cfg = VMConfig(arch, disk, firmware, vars_file, gic=args.gic, virtio=args.virtio,
                   console=args.console, smp=args.smp, mem_mib=args.mem, kvm=kvm,
                   qmp_socket=qmp, hotplug_ports=ports, interactive=True, extra_args=extra)
    argv = build_argv(cfg, binary=exe)
    info = {"instance": name, "arch": arch, "kvm": kvm, "vars_file": str(vars_file),
            "vars": events.get("vars"), "disk": str(disk), "overlay": events.get("overlay"),
            "image": str(image), "qmp_socket": str(qmp), "firmware": firmware.as_dict(),
            "argv": argv}
    try:
        if args.dry_run:
            if args.json:
                emit_json(info)
            else:
                echo(shlex.join(argv))
            return 0
        note(f"instance {name or '(throwaway)'}: UEFI variables {vars_file} ({events.get('vars')}), "
             f"disk {disk} ({events.get('overlay')}); QMP {qmp}; Ctrl-A x quits")
        try:
            rc = subprocess.call(argv)
        finally:
            try:
                qmp.unlink()
            except OSError:
                pass
        if args.json:
            emit_json({**info, "exit_code": rc})
        return rc
    finally:
        if tmp:
            tmp.cleanup()

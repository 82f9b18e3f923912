"""armvm-oe export: the image in a hypervisor's own disk format (thin CLI
over armvm_oe.export)."""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "export"
ORDER = 42
HELP = "convert an image to qcow2, VMDK, OVA, VHD, VHDX, raw or raw.xz (+ a libvirt domain)"
DESCRIPTION = """\
Write IMAGE in the disk format a hypervisor imports, with the rules each one
needs (docs/export.md): qcow2 compressed (libvirt, OpenStack); VMDK
streamOptimized (VMware); OVA = OVF descriptor (UEFI firmware, the arch's
guest type) + SHA256 manifest + that VMDK; VHD fixed with the size rounded
up to a whole MiB (Azure, Hyper-V); VHDX (Hyper-V); raw (AWS/GCP imports);
raw.xz with a bmaptool block map (flashing). --size grows the disk and moves
the GPT backup header to the new end. --libvirt-xml writes a domain for
'virsh define': virt machine, UEFI from the host with a per-domain variable
store (never the image), no ACPI (FDT), virtio disk/net, PL011 + virtio
consoles. The input (raw .wic, .wic.gz/.bz2/.zst/.xz, qcow2, or an earlier
export) is only read; outputs appear atomically and an existing file is
replaced only with --force. Exit 0 done, 1 the conversion failed, 2 bad
input or usage."""
EXAMPLES = """\
armvm-oe export armvm-image-armvm-aarch64.rootfs.wic --to qcow2 --libvirt-xml
armvm-oe export image.wic --to vhd --size 4G -o azure/image.vhd
armvm-oe export image.wic.zst --to ova -o vm.ova --json
armvm-oe export image.wic --to raw.xz          # image.raw.xz + image.raw.bmap"""


def setup_parser(p):
    from armvm_oe.export import TARGETS

    p.add_argument("image", type=Path, help="the disk image (raw/.wic, compressed, qcow2, ...)")
    p.add_argument("--to", required=True, choices=list(TARGETS), metavar="FORMAT",
                   help="output format: " + ", ".join(TARGETS))
    p.add_argument("-o", "--output", type=Path, metavar="OUT",
                   help="output file or directory (default: ./<image name>.<format>)")
    p.add_argument("--size", metavar="SIZE",
                   help="grow the disk to SIZE (e.g. 16G, 4096M; binary units); the GPT backup "
                        "header moves to the new end, partitions keep their size")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--libvirt-xml", nargs="?", const="auto", metavar="FILE",
                   help="also write a libvirt domain (default FILE: OUT.xml); "
                        "qcow2, raw, vhd")
    p.add_argument("--libvirt-type", choices=("auto", "kvm", "qemu"), default="auto",
                   help="domain type (auto: kvm on an Arm host with /dev/kvm, else qemu/TCG)")
    p.add_argument("--arch", choices=("auto", "aarch64", "arm"), default="auto",
                   help="guest architecture for the OVF/domain (auto: from the ESP)")
    p.add_argument("--firmware", metavar="CODE",
                   help="name this UEFI code file as the domain's loader (with --vars-template) "
                        "instead of libvirt's automatic firmware choice")
    p.add_argument("--vars-template", metavar="VARS",
                   help="the variable-store template libvirt copies per domain")


def run(args) -> int:
    from armvm_oe.errors import UsageError
    from armvm_oe.export import export, parse_size
    from armvm_oe.ui import echo, emit_json, human_size, interactive

    firmware = None
    if args.firmware or args.vars_template:
        if not args.libvirt_xml:
            raise UsageError("--firmware/--vars-template are only used with --libvirt-xml", None,
                             "Add --libvirt-xml, or drop them")
        from armvm_oe.qemu import find_firmware
        arch = args.arch if args.arch != "auto" else "aarch64"
        fw = find_firmware(arch, args.firmware, args.vars_template)
        firmware = (fw.code, fw.vars_template)
    size = parse_size(args.size) if args.size else None
    quiet = args.json

    def log(msg: str) -> None:
        if not quiet:
            echo(msg, file=sys.stderr, flush=True)

    res = export(args.image, args.to, args.output, size=size, force=args.force,
                 libvirt_xml=args.libvirt_xml, arch=args.arch, firmware=firmware,
                 domain_type=args.libvirt_type, show_progress=interactive(sys.stderr),
                 log=log)
    if args.json:
        emit_json(res)
        return 0
    echo(f"{res['output']}: {args.to}, disk {human_size(res['virtual_size'])}, file "
          f"{human_size(res['bytes'])} ({human_size(res['allocated_bytes'])} allocated), "
          f"{res['seconds']:.1f}s")
    for key, what in (("bmap", "block map"), ("libvirt_xml", "libvirt domain")):
        if res.get(key):
            echo(f"{res[key]}: {what}")
    if res.get("libvirt_xml"):
        echo(f"  virsh define {res['libvirt_xml']} && virsh start {res['libvirt_domain']} "
              "--console")
    return 0

"""armvm-oe verify: static ARM VM System Specification compliance check."""

from __future__ import annotations

import sys

from armvm_oe.errors import InputError

NAME = "verify"
ORDER = 40
HELP = "check a disk image against the ARM VM System Specification (static, < 1 s)"
DESCRIPTION = """\
Check a disk image, statically and read-only, against the ARM VM System
Specification: GPT (protective MBR, both headers, CRC32s), the EFI System
Partition (type GUID, FAT32 by cluster count), the removable-media boot
application (\\EFI\\BOOT\\BOOTAA64.EFI / BOOTARM.EFI, a PE32+/PE32 UEFI
application), no shipped firmware, GRUB's config (found where its embedded
prefix points: no devicetree line, no /dev/vdX root, files present, no
console=), and the kernel configuration (embedded IKCONFIG, /boot/config-*
on the ext4 root read with debugfs, or --kernel-config) against the
GUEST-* requirements. Every finding names its requirement id
(docs/requirements.md). "must" requirements fail, "should" ones warn.

Inputs: raw (.wic, .img), .wic.gz/.wic.bz2/.wic.zst/.wic.xz (streamed),
.qcow2 (through qemu-img), and armvm-oe export's VMDK/VHD/VHDX/OVA.
Exit 0 compliant (warnings allowed; the summary
says "compliant as far as checked (N unknown)" when something could not be
checked), 1 not compliant (with --strict also when anything is unknown),
2 unreadable input (docs/exit-codes.md)."""
EXAMPLES = """\
armvm-oe verify tmp/deploy/images/armvm-aarch64/armvm-image-armvm-aarch64.rootfs.wic
armvm-oe verify --json image.wic.zst > report.json
armvm-oe verify --arch arm --kernel-config .config image.qcow2"""


def setup_parser(parser):
    parser.add_argument("image", help="disk image: .wic/.img, .wic.gz/.bz2/.zst/.xz, .qcow2")
    parser.add_argument("--arch", choices=("auto", "aarch64", "arm"), default="auto",
                        help="architecture to check for (default: auto, from the EFI binary "
                             "found, else the kernel header)")
    parser.add_argument("--kernel-config", metavar="FILE",
                        help="kernel .config (or a kernel image with IKCONFIG) to audit "
                             "instead of the one found in the image")
    parser.add_argument("--no-rootfs", action="store_true",
                        help="do not read the ext4 root filesystem (no debugfs)")
    parser.add_argument("--strict", action="store_true",
                        help="every 'unknown' finding fails too (for CI gates): exit 1 "
                             "unless everything could be checked")
    parser.add_argument("--allow-backing", action="store_true",
                        help="read a qcow2's backing file (local, readable by you; network "
                             "backings are always refused)")
    parser.add_argument("--max-expansion", metavar="RATIO", type=_ratio,
                        help="let a compressed image expand up to RATIO times its compressed "
                             "size ('inf': no limit) beyond the default limits, which keep any "
                             "input under 10 MB below ~2 s and 500 MB (env ARMVM_MAX_RATIO)")


def _ratio(text: str) -> float:
    import argparse
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r} (e.g. 2000 or inf)") from None
    if not value > 0:                       # also NaN
        raise argparse.ArgumentTypeError(f"must be a positive ratio, not {text!r}")
    return value


def run(args) -> int:

    from armvm_oe.lib import regular_file
    from armvm_oe.ui import emit_json
    from armvm_oe.verify import verify
    from armvm_oe.verify.render import render

    if args.kernel_config:
        kc = regular_file(args.kernel_config, "--kernel-config",
                          "Pass a kernel .config or a kernel image with IKCONFIG")
        if kc.stat().st_size > 512 << 20:
            raise InputError(f"--kernel-config {kc} is larger than 512 MiB",
                             "that is neither a .config nor a kernel image",
                             "Pass the kernel's .config")
    report = verify(args.image, arch=args.arch, kernel_config=args.kernel_config,
                    use_debugfs=not args.no_rootfs, allow_backing=args.allow_backing,
                    strict=args.strict, max_expansion=args.max_expansion)
    if args.kernel_config and report.kernel.get("config_source") is None:
        raise InputError(f"--kernel-config {args.kernel_config} holds no kernel configuration",
                         "it is neither a .config nor a kernel image with embedded IKCONFIG",
                         "Pass the kernel build's .config (or /boot/config-<release>)")
    if args.json:
        emit_json(report.as_dict())
    else:
        sys.stdout.write(render(report, verbose=args.verbose, stream=sys.stdout))
    return report.exit_code

"""armvm-oe avh: make and check Arm Virtual Hardware Linux firmware packages."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from armvm_oe import ui
from armvm_oe.errors import EXIT_OK, EXIT_PROBLEM, UsageError

NAME = "avh"
ORDER = 60
HELP = "make (pack) or validate (check) an Arm Virtual Hardware firmware zip"
DESCRIPTION = """\
Arm Virtual Hardware boots custom Linux firmware from a zip holding Info.plist
(or Info.json), 'kernel' (uncompressed arm64 Image), 'devicetree' (DTB) and the
device's storage files (rpi4b: 'nand', kronos: 'virtio_0'; add models with
--device-def NAME=STORAGE[,STORAGE]).

'pack' checks every input (a gzip'd kernel is decompressed; a zImage, vmlinux,
other-arch or big-endian kernel, or a blob that is not a DTB is refused) and
writes a reproducible zip. 'check' validates any package, including foreign
ones, without extracting it: member names (no absolute paths or '..'), bomb
limits, Info keys and types, kernel and DTB magic, storage for the device.
See docs/avh.md.
"""
EXAMPLES = """\
armvm-oe avh pack --device rpi4b --kernel Image --dtb bcm2711-rpi-4-b.dtb \\
    --storage armvm-image.rootfs.wic --version 1.0 --build armvm-oe -o fw.zip
armvm-oe avh pack --device kronos --kernel Image.gz --dtb kronos.dtb --storage disk.img \\
    --bootargs-normal "console=ttyAMA0 root=/dev/vda2 rootwait" --info-json -o fw.zip
armvm-oe avh check fw.zip
armvm-oe avh check --device-def imx93=mmc --json vendor-fw.zip
"""


def setup_parser(parser):
    sub = parser.add_subparsers(dest="avh_command", metavar="ACTION")
    p = sub.add_parser("pack", help="build a firmware package zip")
    p.add_argument("--device", dest="device_name", required=True,
                   help="AVH device model (DeviceIdentifier), e.g. rpi4b or kronos")
    p.add_argument("--kernel", type=Path, required=True, help="arm64 Image (or Image.gz)")
    p.add_argument("--dtb", type=Path, required=True, help="flattened device tree blob")
    p.add_argument("--storage", action="append", default=[], metavar="[NAME=]FILE",
                   help="storage file (e.g. the .wic for rpi4b's 'nand'); repeat as NAME=FILE "
                        "for devices with several")
    p.add_argument("--version", dest="fw_version", default="1.0", help="Version key")
    p.add_argument("--build", dest="fw_build", default="armvm-oe", help="Build key")
    p.add_argument("--unique-id", help="UniqueIdentifier (default: from build, version, "
                                       "device and a content hash)")
    p.add_argument("--bootargs-normal", help="kernel command line for every regular boot")
    p.add_argument("--bootargs-restore", help="kernel command line for the first boot "
                                              "before the device is declared ready")
    p.add_argument("--info-json", action="store_true", help="write Info.json, not Info.plist")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="the zip to write (never one of the inputs; written atomically)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    _device_opt(p)
    c = sub.add_parser("check", help="validate a firmware package (any origin)")
    c.add_argument("zip", type=Path)
    c.add_argument("--for-device", help="check storage for this model instead of the "
                                        "package's DeviceIdentifier")
    c.add_argument("--max-total", type=_size, default=None, metavar="SIZE",
                   help="limit on the total uncompressed size (default 32G; K/M/G suffixes)")
    c.add_argument("--max-ratio", type=float, default=None,
                   help="limit on a member's compression ratio (default 1000)")
    c.add_argument("--max-read", type=_size, default=None, metavar="SIZE",
                   help="bytes decompressed to verify the storage files' CRCs (default 4G); "
                        "a larger storage file is checked for its first MiB only (a warning)")
    _device_opt(c)
    for sp in (p, c):
        # the global options again, so they also work after the action
        sp.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="JSON on stdout")
        sp.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)


def _device_opt(p):
    p.add_argument("--device-def", dest="device_defs", action="append", default=[],
                   metavar="NAME=STORAGE[,STORAGE]",
                   help="add or override a device model and its storage file names")


def _size(text: str) -> int:
    t = text.strip().upper().rstrip("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    try:
        return int(float(t.rstrip("KMGT")) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size like 512M or 8G") from None


def run(args) -> int:
    from armvm_oe.avh.devices import device_table

    if not getattr(args, "avh_command", None):
        raise UsageError("'armvm-oe avh' needs an action: pack or check", None,
                         "Run 'armvm-oe avh --help' for examples")
    table = device_table(args.device_defs)
    if args.avh_command == "pack":
        return _pack(args, table)
    return _check(args, table)


def _pack(args, table) -> int:
    from armvm_oe.avh.pack import assign_storage, pack

    dev = table.get(args.device_name)
    if not dev:
        raise UsageError(f"Unknown AVH device '{args.device_name}'",
                         f"known: {', '.join(sorted(table))}",
                         "Add it with --device-def NAME=STORAGE[,STORAGE] after checking its "
                         "storage files in the AVH documentation")
    storage = assign_storage(dev, args.storage)
    res = pack(args.output, args.kernel, args.dtb, dev, storage, version=args.fw_version,
               build=args.fw_build, unique_id=args.unique_id,
               bootargs_normal=args.bootargs_normal, bootargs_restore=args.bootargs_restore,
               info_json=args.info_json, force=args.force)
    if args.json:
        ui.emit_json(res.as_dict())
    else:
        # paths and the device definition's names (--device-def) are data: escaped
        if res.kernel_was_gzip:
            ui.echo(f"kernel {args.kernel}: gzip'd, decompressed to "
                    f"{res.kernel['size']} bytes", file=sys.stderr)
        ui.echo(ui.badge("ok"), f" {res.path} ({res.size} bytes, sha256 {res.sha256[:16]}...)")
        for m in res.members:
            ui.echo(f"  {m['name']:<12} {m['size']:>12}  {m['sha256'][:16]}")
        ui.echo(f"  device {res.info['DeviceIdentifier']}, UniqueIdentifier "
                f"'{res.info['UniqueIdentifier']}'")
    return EXIT_OK


def _check(args, table) -> int:
    from armvm_oe.avh.check import Limits, check_package

    limits = Limits()
    if args.max_total is not None:
        limits.max_total = args.max_total
    if args.max_ratio is not None:
        limits.max_ratio = args.max_ratio
    if args.max_read is not None:
        limits.max_read = args.max_read
    rep = check_package(args.zip, table, limits, device=args.for_device)
    if args.json:
        ui.emit_json(rep.as_dict())
    else:
        # names and messages come from the (untrusted) zip: escaped for the terminal
        print(f"{ui.badge('ok' if rep.ok else 'fail')} {ui.term_safe(rep.path)}"
              + (f"  device {ui.term_safe(rep.device)}" if rep.device else ""))
        for m in rep.members:
            print(f"  {ui.term_safe(repr(m['name'])):<16} {m['size']:>12} bytes "
                  f"({m['compressed']} compressed)")
        for p in rep.problems:
            print(f"  {ui.badge(p.severity)} {p.code}: {ui.term_safe(p.message)}")
    return EXIT_OK if rep.ok else EXIT_PROBLEM

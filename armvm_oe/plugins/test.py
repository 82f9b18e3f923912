"""armvm-oe test: boot an image across the spec's platform variations and
report what the guest saw (thin CLI over armvm_oe.boottest)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from armvm_oe.errors import EXIT_OK, EXIT_PROBLEM, UsageError

NAME = "test"
DEFAULT_TIMEOUT = 300.0
# the domU row boots a whole Debian Xen host before the image (about a
# minute of its own under TCG) and waits out Debian's 180 s rootdelay on a
# failure: its default is longer (--timeout still sets it)
DOMU_TIMEOUT = 900.0
ORDER = 41
HELP = "boot an image across GIC 2/3 x virtio mmio/pci x console pl011/virtio under QEMU + UEFI"
DESCRIPTION = (
    "Boot IMAGE under QEMU with the host's UEFI firmware in every cell of the boot matrix "
    "(GIC 2/3 x virtio mmio/pci x console pl011/virtio), each a fresh instance with an empty "
    "UEFI variable store (FW-NO-PRECONFIG), and check what the guest itself reports: "
    "GIC version, virtio transport, console (GUEST-GIC, GUEST-VIRTIO, GUEST-CONSOLE, HW-ENUM, "
    "HW-FDT), learned from the kernel log on the console and, after a login (--login), "
    "from shell commands; the table says which. One PCI cell hot-plugs a disk (GUEST-HOTPLUG); one cell writes a UEFI variable "
    "and boots again to read it back (FW-VARSTORE). Writes a JUnit XML report; failing cells "
    "keep their serial log. With --hypervisor xen the image is also booted as a Xen guest.")
EXAMPLES = """\
armvm-oe test build/armvm-image-armvm-aarch64.rootfs.wic
armvm-oe test image.wic --quick --junit report.xml
armvm-oe test image.wic --gic 3 --virtio pci --jobs 1 --timeout 600
armvm-oe test image.wic --hypervisor kvm,xen --xen /path/to/xen
armvm-oe test image.wic --hypervisor xen --xen-guest domu --login root:secret
armvm-oe test debian.img --quick --login root:secret
armvm-oe test image.wic --quick --run 'ip -br addr' --run-dir ./checks.d
"""


def _csv(choices, cast=str):
    def parse(text):
        vals = [cast(v.strip()) for v in str(text).split(",") if v.strip()]
        for v in vals:
            if v not in choices:
                raise ValueError(v)
        return vals
    parse.__name__ = "/".join(map(str, choices))
    return parse


def setup_parser(p):
    p.add_argument("image", type=Path, help="the disk image (.wic) to boot; never modified")
    p.add_argument("--arch", choices=("auto", "aarch64", "arm"), default="auto",
                   help="guest architecture (auto: from the ESP's BOOTAA64.EFI/BOOTARM.EFI)")
    p.add_argument("--hypervisor", type=_csv(("kvm", "xen")), default=["kvm"],
                   metavar="kvm|xen|kvm,xen",
                   help="kvm: the QEMU/KVM matrix (default); xen: boot as a Xen guest")
    p.add_argument("--xen", type=Path, metavar="PATH", help="Xen hypervisor binary (xen only)")
    p.add_argument("--xen-guest", choices=("dom0", "domu"), default=None,
                   help="xen only: dom0 (default) boots the image's kernel as Xen dom0; domu "
                        "boots the image as a Xen domU with its disk as the Xen PV disk xvda "
                        "on a Debian Xen host, like a Xen cloud guest (shows whether its root= "
                        "survives another hypervisor's disk naming)")
    p.add_argument("--gic", type=_csv((2, 3), int), default=[3, 2], metavar="2,3",
                   help="GIC versions to test (default both)")
    p.add_argument("--virtio", type=_csv(("pci", "mmio")), default=["pci", "mmio"],
                   metavar="pci,mmio", help="virtio transports to test (default both)")
    p.add_argument("--console", type=_csv(("pl011", "virtio")), default=["pl011", "virtio"],
                   metavar="pl011,virtio", help="consoles to test (default both)")
    p.add_argument("--quick", action="store_true",
                   help="two cells that cover every value once (gic3/pci/pl011, gic2/mmio/virtio)")
    p.add_argument("--no-hotplug", action="store_true", help="skip the hot-plug check")
    p.add_argument("--require-hotplug", action="store_true",
                   help="a guest without a PCIe hot-plug driver fails (default: noted)")
    p.add_argument("--no-varstore", action="store_true",
                   help="skip the UEFI variable write/read-back (one boot fewer)")
    p.add_argument("--smp", type=int, default=2, help="vCPUs per cell (default 2)")
    p.add_argument("--mem", type=int, default=512, help="MiB per cell (default 512)")
    p.add_argument("--kvm", choices=("auto", "on", "off"), default="auto",
                   help="KVM when /dev/kvm works on an arm64 host (auto), or force")
    p.add_argument("--jobs", "-j", type=int, default=0,
                   help="cells booted in parallel (default: the core count)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per cell to reach a login or shell prompt (default 300; "
                        f"the Xen domU row: {DOMU_TIMEOUT:.0f}, its Xen host boots first)")
    p.add_argument("--firmware", metavar="CODE", help="UEFI firmware code file")
    p.add_argument("--vars-template", metavar="VARS", help="UEFI variable-store template")
    p.add_argument("--junit", type=Path, default=Path("armvm-test-report.xml"),
                   help="JUnit XML report path (default ./armvm-test-report.xml)")
    p.add_argument("--log-dir", type=Path, default=Path("armvm-test-logs"),
                   help="serial logs of failing cells (default ./armvm-test-logs)")
    p.add_argument("--keep-logs", action="store_true", help="keep logs of passing cells too")
    p.add_argument("--login", metavar="USER[:PASSWORD]", default="root",
                   help="log in at the guest's login prompt to read facts from a shell "
                        "(default: root with an empty password, Yocto's empty-root-password; "
                        "'none': judge from the kernel log only)")
    p.add_argument("--run", action="append", metavar="CMD", default=None,
                   help="a shell command to run in the guest after the login in every cell "
                        "(repeatable); each is a JUnit test case with its output, a non-zero "
                        "exit fails the cell")
    p.add_argument("--run-dir", type=Path, metavar="DIR", default=None,
                   help="run every executable file of DIR in the guest, in name order, after "
                        "the --run commands (copied over the console; at most 256 KiB each)")
    p.add_argument("--kernel-log-ignore", action="append", type=Path, metavar="FILE",
                   default=None,
                   help="more kernel log lines to treat as known noise (YAML list of "
                        "{match: REGEX, reason: TEXT}), on top of the machine's shipped list "
                        "(armvm_oe/data/kernel-log-ignore/); repeatable")
    p.add_argument("--run-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="seconds each --run/--run-dir check may take (default 600)")


def _xen_cell(args, image: Path, arch: str, firmware, log_dir: Path):
    try:
        import armvm_oe.xen as xen
        run_xen_cell = xen.run_xen_cell
    except (ImportError, AttributeError) as e:
        raise UsageError("the Xen boot test is not available in this installation",
                         f"armvm_oe.xen.run_xen_cell could not be imported ({e})",
                         "Use --hypervisor kvm, or update armvm-oe")
    from armvm_oe.boottest.result import CellResult
    from armvm_oe.errors import ArmvmError

    t0 = time.monotonic()
    try:
        kw = {"login": args.login_parsed} if hasattr(args, "login_parsed") else {}
        if getattr(args, "xen_guest", None) == "domu":
            from armvm_oe.xen.domu import run_domu_cell
            # the Xen host's boot comes first: the domU row needs more than one cell's time
            return run_domu_cell(image, arch=arch, xen_path=args.xen,
                                 timeout=args.timeout or DOMU_TIMEOUT, log_dir=log_dir,
                                 firmware=firmware, **kw)
        return run_xen_cell(image, arch=arch, xen_path=args.xen,
                            timeout=args.timeout or DEFAULT_TIMEOUT, log_dir=log_dir,
                            firmware=firmware, **kw)
    except ArmvmError:
        raise
    except Exception as e:   # a bug in the back end: one error row, the matrix report stays
        name = "xen-domu" if getattr(args, "xen_guest", None) == "domu" else "xen"
        return CellResult(f"{name}-{arch}", "error", time.monotonic() - t0,
                          params={"arch": arch, "hypervisor": "xen"},
                          message=f"the Xen back end failed: {type(e).__name__}: {e}")


def _log_dir(path: Path) -> Path:
    """--log-dir: a directory (made if missing) the tool owns: a cell's log
    ``<cell>.log`` there is replaced on every run, by design (it is a
    report, like the JUnit file). A file, a path under a file or an
    unwritable place is exit 2 before anything boots."""
    from armvm_oe.lib import make_dir
    return make_dir(path, f"The log directory {path} cannot be used",
                    "Give --log-dir a directory (it is made if missing)").resolve()


def run(args) -> int:
    from armvm_oe.image.containers import bootable
    from armvm_oe.qemu import check_image

    if not args.image.is_file() or not os.access(args.image, os.R_OK):
        check_image(args.image)             # the one-paragraph error
    # armvm-oe export's formats: VMDK/VHD/VHDX boot as they are, an OVA's
    # disk and a compressed image are unpacked to a temporary file first
    with bootable(args.image) as (disk, _fmt):
        return _run(args, disk)


def _run(args, disk: Path) -> int:
    from armvm_oe.boottest import matrix as mx
    from armvm_oe.boottest.detect import guess_arch
    from armvm_oe.boottest.result import summary_table, write_junit
    from armvm_oe.image.containers import guess_arch as guess_arch_any
    from armvm_oe.qemu import check_image, find_firmware, qemu_binary, resolve_kvm
    from armvm_oe.qemu.argv import GICV2_MAX_CPUS
    from armvm_oe.ui import echo, emit_json

    image = check_image(disk)
    # the report is replaced on every run, but never one of the inputs (and
    # never a directory): checked before hours of booting, not after
    from armvm_oe.lib import check_output
    check_output(args.junit, [args.image, image, args.firmware, args.vars_template], force=True,
                 what="JUnit report")
    arch = args.arch
    if arch == "auto":
        arch = guess_arch(image) or guess_arch_any(image)
        if not arch:
            raise UsageError(f"cannot tell the architecture of {image}",
                             "no single \\EFI\\BOOT\\BOOTAA64.EFI or BOOTARM.EFI was found in "
                             "its EFI System Partition", "Give --arch aarch64 or --arch arm")
    if args.xen and "xen" not in args.hypervisor:
        raise UsageError("--xen is only used with --hypervisor xen", None,
                         "Add --hypervisor xen (or kvm,xen)")
    if getattr(args, "xen_guest", None) and "xen" not in args.hypervisor:
        raise UsageError(f"--xen-guest {args.xen_guest} is only used with --hypervisor xen",
                         "it chooses how the Xen row boots the image (as dom0 or as a domU)",
                         "Add --hypervisor xen (or kvm,xen)")
    if 2 in args.gic and args.smp > GICV2_MAX_CPUS:
        raise UsageError(f"GICv2 with {args.smp} vCPUs is not possible",
                         f"a GICv2 interrupt controller addresses at most {GICV2_MAX_CPUS} CPUs",
                         f"Use --smp {GICV2_MAX_CPUS} or fewer, or --gic 3")
    from armvm_oe.qemu import Login
    try:
        login = args.login_parsed = Login.parse(args.login)
    except ValueError as e:
        raise UsageError(f"--login {args.login!r} is not USER[:PASSWORD]", str(e),
                         "Give e.g. --login root, --login root:secret or --login none")
    from armvm_oe.boottest.userchecks import collect
    checks = collect(args.run, args.run_dir)
    if checks and login is None:
        raise UsageError("--run/--run-dir need a shell in the guest, and --login none never "
                         "logs in", None, "Give --login USER[:PASSWORD], or drop --run/--run-dir")
    from armvm_oe.boottest import kernlog
    log_ignores = kernlog.load(kernlog.machine_for(arch), args.kernel_log_ignore)
    firmware = find_firmware(arch, args.firmware, args.vars_template)
    log_dir = _log_dir(args.log_dir)
    results = []
    started = time.monotonic()

    def show(r):
        if not args.json:
            from armvm_oe.ui import badge, echo
            # name and message can quote the guest's console: escaped
            echo(badge(r.status, sys.stderr), f" {r.name} ({r.duration_s:.1f}s)",
                 f": {r.message}" if r.status not in ('pass',) and r.message else "",
                 file=sys.stderr, flush=True)

    if "kvm" in args.hypervisor:
        qemu_binary(arch)
        kvm = resolve_kvm(args.kvm)
        kw = dict(smp=args.smp, mem_mib=args.mem)
        if args.quick:
            cells = mx.reduced_matrix(arch, **kw)
            if args.no_hotplug or args.no_varstore:
                from dataclasses import replace
                cells = [replace(c, hotplug=c.hotplug and not args.no_hotplug,
                                 efivar="absent" if args.no_varstore else c.efivar)
                         for c in cells]
        else:
            cells = mx.matrix(arch, gics=args.gic, virtios=args.virtio, consoles=args.console,
                              hotplug=not args.no_hotplug, varstore=not args.no_varstore, **kw)
        st = mx.Settings(image=image, firmware=firmware,
                         timeout=args.timeout or DEFAULT_TIMEOUT, log_dir=log_dir,
                         keep_logs=args.keep_logs, kvm=kvm,
                         hotplug_required=args.require_hotplug, login=login,
                         user_checks=checks, run_timeout=args.run_timeout,
                         log_ignores=log_ignores)
        jobs = args.jobs or os.cpu_count() or 1
        if not args.json:
            echo(f"booting {len(cells)} cells of {args.image.name} ({arch}, "
                 f"{'KVM' if kvm else 'emulated'}), {min(jobs, len(cells))} at a time",
                 file=sys.stderr, flush=True)
        try:
            results += mx.run_matrix(cells, st, jobs=jobs, on_result=show)
        except mx.Interrupted as e:           # Ctrl-C: every QEMU is already gone
            results += e.results
            print(summary_table(results), file=sys.stdout if not args.json else sys.stderr)
            print("interrupted (Ctrl-C): the table shows the cells that had finished",
                  file=sys.stderr)
            write_junit(results, args.junit)
            return 130
    if "xen" in args.hypervisor:
        r = _xen_cell(args, image, arch, firmware, log_dir)
        if checks and r.status != "skip":
            r.notes.append("the --run/--run-dir checks are not run in the Xen row (its console "
                           "input goes through Xen's small serial ring)")
        if r.status == "pass" and not args.keep_logs and r.log_path:
            Path(r.log_path).unlink(missing_ok=True)     # same policy as the matrix cells
            r.log_path = None
        show(r)
        results.append(r)
    junit = write_junit(results, args.junit)
    elapsed = time.monotonic() - started
    ok = all(r.ok for r in results)
    if args.json:
        emit_json({"image": str(args.image), "arch": arch, "ok": ok, "elapsed_s": round(elapsed, 1),
                   "junit": str(junit), "firmware": firmware.as_dict(),
                   "cells": [r.as_dict() for r in results],
                   "summary": {s: sum(r.status == s for r in results)
                               for s in ("pass", "fail", "skip", "error")}})
    else:
        print(summary_table(results))
        echo(f"wall time {elapsed:.0f}s; JUnit report: {junit}")
        kept = [r.log_path for r in results if r.log_path]
        if kept:
            echo("serial logs kept: " + ", ".join(str(p) for p in kept))
    return EXIT_OK if ok else EXIT_PROBLEM

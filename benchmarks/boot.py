#!/usr/bin/env python3
"""Boot benchmark: time per cell and for the whole matrix, serial and
parallel, on both arches, and the tool's own overhead against a plain QEMU
command line of the same boot.

    python3 benchmarks/boot.py                    # quick matrix, both arches
    python3 benchmarks/boot.py --matrix full      # the 8-cell matrix (+ reboot cell)
    python3 benchmarks/boot.py --arch aarch64 --repeat 3

"plain QEMU" = the exact argv the tool builds for a cell, spawned by hand
(pexpect, fresh vars copy + overlay), timed to ARMVM-READY and poweroff.
"brief line" = the fixture brief's hand-written QEMU line (fewer devices).
"armvm-oe test" = the CLI end to end for that one cell (python start-up,
instance creation, the guest checks, the JUnit report)."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from armvm_oe.boottest import matrix as mx  # noqa: E402
from armvm_oe.qemu import Console, VMConfig, build_argv, find_firmware, plain_argv  # noqa: E402
from armvm_oe.qemu.instance import copy_vars, create_overlay  # noqa: E402
from armvm_oe.testing.fixtures import build_image  # noqa: E402


def _plain(argv, timeout=600) -> float:
    t = time.monotonic()
    con = Console.spawn(argv)
    try:
        con.child.expect("ARMVM-READY", timeout=timeout)
        _plain.ready = time.monotonic() - t
        con.child.expect_exact("# ", timeout=60)
        con.child.sendline("poweroff -f")
        con.child.expect(__import__("pexpect").EOF, timeout=60)
    finally:
        con.close()
    return time.monotonic() - t


def plain_cell(arch, image, fw, brief=False) -> float:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        vars_file = copy_vars(fw.vars_template, d / "vars.fd")
        disk = create_overlay(image, d / "disk.qcow2")
        if brief:
            argv = plain_argv(arch, fw, vars_file, disk, gic=3)
        else:
            argv = build_argv(VMConfig(arch, disk, fw, vars_file, gic=3, virtio="mmio",
                                       console="pl011", smp=2, mem_mib=512))
        return _plain(argv)


def tool_cell(image) -> float:
    with tempfile.TemporaryDirectory() as d:
        t = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "armvm_oe", "test", str(image), "--gic", "3",
                            "--virtio", "mmio", "--console", "pl011", "--no-hotplug",
                            "--no-varstore", "--jobs", "1", "--junit", f"{d}/r.xml",
                            "--log-dir", f"{d}/logs", "--json"],
                           capture_output=True, text=True, env=dict(os.environ, NO_COLOR="1"))
        dt = time.monotonic() - t
        tool_cell.ready = __import__("json").loads(p.stdout)["cells"][0]["params"].get("ready_s")
        if p.returncode:
            print(p.stderr[-2000:], file=sys.stderr)
            raise SystemExit("armvm-oe test failed")
        return dt


def matrix_time(arch, image, fw, which, jobs):
    cells = mx.reduced_matrix(arch) if which == "quick" else mx.matrix(arch)
    st = mx.Settings(image=image, firmware=fw, timeout=900)
    t = time.monotonic()
    res = mx.run_matrix(cells, st, jobs=jobs)
    dt = time.monotonic() - t
    bad = [r.name for r in res if not r.ok]
    return dt, res, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=("aarch64", "arm", "both"), default="both")
    ap.add_argument("--matrix", choices=("quick", "full", "none"), default="quick")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    arches = ("aarch64", "arm") if a.arch == "both" else (a.arch,)
    print(f"host: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{shutil.which('qemu-system-aarch64')}")
    rows = []
    for arch in arches:
        image, fw = build_image(arch), find_firmware(arch)
        brief = [plain_cell(arch, image, fw, brief=True) for _ in range(a.repeat)]
        plain = [plain_cell(arch, image, fw) for _ in range(a.repeat)]
        tool = [tool_cell(image) for _ in range(a.repeat)]
        mb, mp, mt = (statistics.median(x) for x in (brief, plain, tool))
        print(f"\n{arch}: one cell (gic3/mmio/pl011), median of {a.repeat}")
        print(f"  {'brief line (plain QEMU)':34s} {mb:7.1f} s")
        print(f"  {'plain QEMU, same argv as the tool':34s} {mp:7.1f} s  (-> ARMVM-READY "
              f"{_plain.ready:.1f} s)")
        print(f"  {'armvm-oe test (CLI, 1 cell)':34s} {mt:7.1f} s   overhead vs same argv "
              f"{(mt / mp - 1) * 100:+.1f}% (end to end, includes the guest checks)")
        print(f"  {'armvm-oe: QEMU start -> ARMVM-READY':34s} {tool_cell.ready:7.1f} s")
        rows.append((arch, mb, mp, mt))
        if a.matrix != "none":
            ser, res, bad = matrix_time(arch, image, fw, a.matrix, 1)
            par, res2, bad2 = matrix_time(arch, image, fw, a.matrix, os.cpu_count())
            print(f"  {a.matrix} matrix ({len(res)} boots): serial {ser:6.1f} s, "
                  f"parallel x{os.cpu_count()} {par:6.1f} s (speed-up {ser / par:.2f}x)"
                  + (f"  FAILED: {bad + bad2}" if bad or bad2 else ""))
            for r in res:
                print(f"    {r.name:34s} serial {r.duration_s:6.1f} s  {r.status}")
    print("\nsummary (seconds): arch, brief line, plain same argv, armvm-oe, overhead")
    for arch, mb, mp, mt in rows:
        print(f"  {arch:8s} {mb:7.1f} {mp:7.1f} {mt:7.1f} {(mt / mp - 1) * 100:+6.1f}%")


if __name__ == "__main__":
    main()

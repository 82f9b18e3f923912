#!/usr/bin/env python3
"""Benchmark armvm-oe verify on a 16 GiB SPARSE image with a real ESP.

The image is assembled with sgdisk (armvm_oe.diskimage.assemble_gpt): a
16 GiB GPT whose ESP is the compliant aarch64 fixture's ESP (64 MiB FAT32
with Debian's GRUB, kernel and initrd) and whose 16 GiB root partition starts
with the fixture's ext4 root; nothing else is written, so the file takes
~90 MB on disk.

Measured (warm page cache, median of --runs):
  * armvm-oe verify in-process (the checks) and as a CLI process (what a user
    waits for, including Python start-up);
  * bytes read from the image (verify's instrumented reader) and the CLI
    process's total read() bytes (/proc rchar: image + Python modules + debugfs);
  * the reference approach with standard tools on the same image:
    ``sgdisk -v`` (GPT) + ``mdir -/ -a`` (walk the ESP) + ``mtype`` of grub.cfg
    + ``fsck.vfat -n`` on the ESP (fsck needs the ESP as a file: extracted
    with dd, which is counted).
Targets (issue 4): < 0.5 s and < 1 % of the image read. Asserts nothing.

    python3 benchmarks/verify.py [--runs 5] [--keep] [--arch aarch64|arm]
"""

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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from armvm_oe import diskimage  # noqa: E402
from armvm_oe.image import open_image  # noqa: E402
from armvm_oe.testing.fixtures import build_image  # noqa: E402
from armvm_oe.verify import verify  # noqa: E402

GiB = 1 << 30
MT = dict(os.environ, MTOOLS_SKIP_CHECK="1", NO_COLOR="1")


def extract(img: Path, part_no: int, out: Path) -> Path:
    with open_image(img) as im:
        p = im.gpt.partition(part_no)
        off, size = p.offset, p.size
    subprocess.run(["dd", f"if={img}", f"of={out}", "bs=1M", "iflag=skip_bytes,count_bytes",
                    f"skip={off}", f"count={size}", "conv=sparse", "status=none"], check=True)
    return out


def build_sparse(work: Path, size_gib: int = 16, arch: str = "aarch64") -> Path:
    src = build_image(arch)
    esp = extract(src, 1, work / "esp.img")
    root = extract(src, 2, work / "root.img")
    esp_mib = esp.stat().st_size >> 20
    root_mib = size_gib * 1024 - esp_mib - 3
    disk = diskimage.assemble_gpt(work / "big.wic", [
        diskimage.Partition("ESP", diskimage.ESP_TYPE, esp),
        diskimage.Partition("root", diskimage.LINUX_FS_TYPE, root, size_mib=root_mib),
    ])
    esp.unlink()
    root.unlink()
    return disk


def rchar_of(cmd: str, env=None) -> tuple[float, int]:
    """Wall time and total read() bytes of a shell command line (children
    included: /proc/<shell>/io accumulates reaped children)."""
    script = f"{cmd} >/dev/null 2>&1; grep ^rchar /proc/$$/io"
    t = time.perf_counter()
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env).stdout
    dt = time.perf_counter() - t
    rchar = int(out.split()[-1]) if out.strip() else -1
    return dt, rchar


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the 16 GiB sparse image")
    ap.add_argument("--arch", choices=("aarch64", "arm"), default="aarch64",
                    help="whose fixture ESP/root to use (arm: xz zImage to inspect)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="verify-bench-"))
    try:
        t = time.perf_counter()
        disk = build_sparse(work, arch=args.arch)
        build_s = time.perf_counter() - t
        size = disk.stat().st_size
        on_disk = disk.stat().st_blocks * 512
        print(f"image: {disk} {fmt_bytes(size)} apparent, {fmt_bytes(on_disk)} allocated "
              f"(built in {build_s:.1f} s)")
        with open_image(disk) as im:
            esp_off = im.esp().offset
            esp_size = im.esp().size

        inproc, nread, rep = [], 0, None
        for _ in range(args.runs):
            t = time.perf_counter()
            rep = verify(disk)
            inproc.append(time.perf_counter() - t)
            nread = rep.stats["bytes_read"]
        cli = []
        cli_rchar = []
        for _ in range(args.runs):
            dt, rc = rchar_of(f"{sys.executable} -m armvm_oe verify --json {disk}",
                              env=dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT)))
            cli.append(dt)
            cli_rchar.append(rc)
        # CLI start-up alone (python + argparse + plugin discovery)
        base = [rchar_of(f"{sys.executable} -m armvm_oe --version",
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))[0] for _ in range(args.runs)]

        ref_cmds = {
            "sgdisk -v": f"sgdisk -v {disk}",
            "mdir -/ -a (walk ESP)": f"mdir -/ -a -i {disk}@@{esp_off} ::/",
            "mtype grub.cfg": f"mtype -i {disk}@@{esp_off} ::/EFI/BOOT/grub.cfg",
            "dd ESP + fsck.vfat -n": (f"dd if={disk} of={work}/esp.x bs=1M iflag=skip_bytes,"
                                      f"count_bytes skip={esp_off} count={esp_size} status=none"
                                      f" && fsck.vfat -n {work}/esp.x"),
        }
        ref = {}
        for name, cmd in ref_cmds.items():
            runs = [rchar_of(cmd, env=MT) for _ in range(args.runs)]
            ref[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        ref_total_t = sum(v[0] for v in ref.values())
        ref_total_r = sum(v[1] for v in ref.values())

        med = statistics.median
        print(f"\nverify result: {'COMPLIANT' if rep.compliant else 'NOT COMPLIANT'}, "
              f"{rep.summary()}, arch {rep.arch}, kernel config {rep.kernel['config_source']}")
        print(f"\n{'approach':42} {'wall (median)':>14} {'bytes read':>14} {'% of image':>11}")
        print("-" * 84)
        rows = [
            ("armvm-oe verify, in-process checks", med(inproc), nread),
            ("armvm-oe verify, CLI process (rchar)", med(cli), med(cli_rchar)),
            ("  of which Python/CLI start-up", med(base), None),
        ]
        for name, (tt, rr) in ref.items():
            rows.append((f"reference: {name}", tt, rr))
        rows.append(("reference total (checks less: no FAT type", ref_total_t, ref_total_r))
        rows.append(("  by cluster count, no PE/GRUB/kconfig)", None, None))
        for name, tt, rr in rows:
            ts = f"{tt:.3f} s" if tt is not None else ""
            rs = fmt_bytes(rr) if rr is not None else ""
            pc = f"{100 * rr / size:.3f} %" if rr is not None else ""
            print(f"{name:42} {ts:>14} {rs:>14} {pc:>11}")
        print(f"\ntargets: in-process {med(inproc):.3f} s (< 0.5 s: "
              f"{'met' if med(inproc) < 0.5 else 'NOT met'}), image bytes read "
              f"{100 * nread / size:.3f} % (< 1 %: {'met' if nread / size < 0.01 else 'NOT met'})")
        print(f"verify vs reference wall time: {ref_total_t / med(inproc):.1f}x (in-process), "
              f"{ref_total_t / med(cli):.1f}x (CLI)")
        if args.keep:
            print(f"kept {disk}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Boot benchmark: the tool's own overhead against a plain QEMU command line
of the same boot, and the matrix wall time serial vs parallel, on both arches.

    python3 benchmarks/boot.py                      # both arches, 3 repetitions, quick matrix
    python3 benchmarks/boot.py --arch aarch64 --repeat 5 --matrix none
    python3 benchmarks/boot.py --matrix full        # the 8-cell matrix (+ reboot), slow
    python3 benchmarks/boot.py --real debian --matrix none   # Debian-built images (issue 12)
    python3 benchmarks/boot.py --real login --matrix none    # busybox getty fixture
    python3 benchmarks/boot.py --real debian --arch aarch64 --repeat 2 --checks 2ce0379
                                  # issue 24's guest checks: before/after on one cell

Real images (``--real``): the guest prints no ARMVM-READY; the tool's time
is to the ``login:`` prompt it waits for, the plain QEMU time to the same
prompt on the same argv, and the probing cost is what the tool spends after
the prompt to learn the facts (root login, the shell probe, the efivarfs
read), shown as a share of the whole cell (target: under 10 %).

Overhead, measured like for like (one cell gic3/mmio/pl011, 2 vCPUs, 512 MiB):

* ``armvm-oe``: ``python3 -m armvm_oe test IMAGE --gic 3 --virtio mmio --console
  pl011 --no-hotplug --no-varstore --jobs 1 --keep-logs --json`` is started; the
  time is from just before that process is spawned to the moment the tool's
  console sees the guest's ``ARMVM-READY`` (the tool reports that instant as a
  CLOCK_MONOTONIC stamp, which is system-wide on Linux). This includes Python
  start-up and imports, argument/image/firmware checks, the instance (qcow2
  overlay + copy of the 64 MiB variable-store template), the FW-NO-PRECONFIG
  check, and QEMU's own boot.
* ``plain QEMU``: the exact argv the tool ran (read back from the kept serial
  log), with the instance paths pointed at a prepared directory (vars copy +
  overlay made beforehand, not timed), spawned on a pty with pexpect, timed
  from just before spawn to ``ARMVM-READY``.

Repetitions alternate plain/tool so that load drift hits both; median and
spread (min..max) are printed with the 1-minute load average at each run.
What the tool does after ARMVM-READY (the guest checks, power-off, the JUnit
report) is verification work a plain command line does not do; it is
reported separately as the end-to-end time."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pexpect  # noqa: E402

from armvm_oe.boottest import matrix as mx  # noqa: E402
from armvm_oe.qemu import Console, find_firmware  # noqa: E402
from armvm_oe.qemu.instance import copy_vars, create_overlay  # noqa: E402
from armvm_oe.testing.fixtures import build_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def load() -> float:
    return os.getloadavg()[0]


READY = "ARMVM-READY"
LOGIN_ARGS: list[str] = []


def tool_boot(image: Path, work: Path, root: Path = ROOT) -> dict:
    """One armvm-oe cell (the code under ``root``); returns times and the QEMU argv it ran."""
    logs = work / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    cmd = [sys.executable, "-m", "armvm_oe", "test", str(image), "--gic", "3",
           "--virtio", "mmio", "--console", "pl011", "--no-hotplug", "--no-varstore",
           "--jobs", "1", "--keep-logs", "--junit", str(work / "r.xml"),
           "--log-dir", str(logs), "--json"] + LOGIN_ARGS
    la = load()
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=root,
                       env=dict(os.environ, NO_COLOR="1", ARMVM_DATA_DIR=str(work / "data"),
                                PYTHONPATH=str(root)))
    end = time.monotonic() - t0
    if p.returncode or not p.stdout.strip().startswith("{"):
        print(p.stdout[-1500:], p.stderr[-1500:], file=sys.stderr)
        raise SystemExit("armvm-oe test failed")
    (cell,) = json.loads(p.stdout)["cells"]
    prm = cell["params"]
    ready = prm["ready_at"] - t0
    log = next(logs.glob("*.log"))
    first = log.read_text(errors="replace").splitlines()[0]
    argv = first[2:].split()
    probe = (prm["probe_done_at"] - prm["ready_at"]) if prm.get("probe_done_at") else 0.0
    return {"ready": ready, "qemu_ready": prm["ready_s"], "pre_qemu": ready - prm["ready_s"],
            "end_to_end": end, "argv": argv, "load": la, "probe": probe,
            "cell": cell["duration_s"], "login_s": prm.get("login_s", 0.0),
            "shell_probe_s": prm.get("shell_probe_s", 0.0),
            "costs": prm.get("check_costs_s") or {}, "status": cell["status"],
            "message": cell.get("message", "")}


def checks_cost(arch: str, image: Path, repeat: int, before: str) -> dict:
    """The cost of the guest checks of issue 24 (kernel log, systemd, network,
    devices, --run) on one cell: the same cell with the code of ``before``
    (a git revision without them) and with this tree's, alternating, plus
    each check's seconds as the cell itself measured them."""
    with tempfile.TemporaryDirectory(prefix="armvm-before-") as t:
        old = Path(t) / "src"
        old.mkdir()
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", before, "armvm_oe"],
                             capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=tar, check=True)
        res = {"before": [], "after": []}
        for i in range(repeat):
            for side, root in (("before", old), ("after", ROOT)):
                w = Path(t) / f"{side}{i}"
                w.mkdir()
                res[side].append(tool_boot(image, w, root))
                x = res[side][-1]
                print(f"  {arch} {side}: cell {x['cell']:.1f} s, end to end "
                      f"{x['end_to_end']:.1f} s, load {x['load']:.1f} ({x['status']})",
                      flush=True)
    return res


def print_checks_cost(report: dict, before: str) -> None:
    print(f"\nguest checks (issue 24): one cell gic3/mmio/pl011, armvm-oe at {before} "
          "(without them) vs this tree, median (min..max)")
    print(f"  {'arch':8s} {'before: cell':28s} {'after: cell':28s} {'growth':>8s}  load")
    for arch, r in report.items():
        b = [x["cell"] for x in r["before"]]
        a = [x["cell"] for x in r["after"]]
        lds = [x["load"] for x in r["before"] + r["after"]]
        g = (statistics.median(a) / statistics.median(b) - 1) * 100
        print(f"  {arch:8s} {spread(b):28s} {spread(a):28s} {g:+7.1f}%  "
              f"{min(lds):4.1f}-{max(lds):.1f}")
    print("  seconds per check in the cell (median; guest clock for the probe's parts):")
    for arch, r in report.items():
        keys = sorted({k for x in r["after"] for k in x["costs"]})
        print(f"    {arch:8s} " + ", ".join(
            f"{k} {statistics.median(x['costs'].get(k, 0.0) for x in r['after']):.2f}"
            for k in keys))


def plain_boot(argv: list[str], fw, image: Path, work: Path) -> dict:
    """The same argv with the instance directory replaced by a prepared one."""
    vars_arg = next(a for a in argv if a.endswith("/vars.fd"))
    inst_dir = vars_arg.split("file=", 1)[-1].rsplit("/", 1)[0]
    d = work / "plain"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    copy_vars(fw.vars_template, d / "vars.fd")
    create_overlay(image, d / "disk.qcow2")
    argv = [a.replace(inst_dir, str(d)) for a in argv]
    la = load()
    t0 = time.monotonic()
    con = Console.spawn(argv)
    try:
        con.child.expect(READY, timeout=900)
        ready = time.monotonic() - t0
        if READY == "ARMVM-READY":
            con.child.expect_exact("# ", timeout=60)
            con.child.sendline("poweroff -f")
            con.child.expect(pexpect.EOF, timeout=60)
    finally:
        con.close()
    return {"ready": ready, "load": la}


def spread(xs) -> str:
    return f"{statistics.median(xs):6.2f} s  ({min(xs):6.2f}..{max(xs):6.2f})"


def overhead(arch: str, image: Path, fw, repeat: int) -> dict:
    tool, plain = [], []
    with tempfile.TemporaryDirectory(prefix="armvm-bench-") as w:
        work = Path(w)
        argv = None
        for i in range(repeat):
            order = ("tool", "plain") if i % 2 == 0 or argv is None else ("plain", "tool")
            for which in order:
                if which == "tool":
                    r = tool_boot(image, work)
                    argv = r["argv"]
                    tool.append(r)
                else:
                    plain.append(plain_boot(argv, fw, image, work))
                r = (tool if which == "tool" else plain)[-1]
                print(f"  {arch} run {i + 1} {which:5s}: process start -> ready "
                      f"{r['ready']:6.2f} s" + (f" (before QEMU {r['pre_qemu']:.2f} s, end to "
                                                f"end {r['end_to_end']:.1f} s)"
                                                if which == "tool" else "")
                      + f"  load {r['load']:.1f}", flush=True)
    return {"tool": tool, "plain": plain, "argv": argv}


def matrix_times(arch: str, image: Path, fw, which: str) -> dict:
    cells = mx.reduced_matrix(arch) if which == "quick" else mx.matrix(arch)
    out = {}
    for jobs in (1, os.cpu_count() or 1):
        st = mx.Settings(image=image, firmware=fw, timeout=900)
        la = load()
        t = time.monotonic()
        res = mx.run_matrix(cells, st, jobs=jobs)
        out[jobs] = {"wall": time.monotonic() - t, "load": la, "results": res,
                     "bad": [r.name for r in res if not r.ok]}
        print(f"  {arch} {which} matrix, {jobs} at a time: {out[jobs]['wall']:.1f} s "
              f"(load {la:.1f})" + (f" FAILED {out[jobs]['bad']}" if out[jobs]["bad"] else ""),
              flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=("aarch64", "arm", "both"), default="both")
    ap.add_argument("--matrix", choices=("quick", "full", "none"), default="quick")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--real", choices=("none", "login", "debian"), default="none",
                    help="login: the busybox getty fixture; debian: the Debian-built images "
                         "(armvm_oe.testing.distro, built when missing, needs root)")
    ap.add_argument("--checks", metavar="REV", default=None,
                    help="measure the guest checks (kernel log, systemd, network, devices, "
                         "--run): the same cell with the code of git revision REV vs this tree")
    a = ap.parse_args()
    global READY, LOGIN_ARGS
    if a.real != "none":
        from armvm_oe.qemu.console import LOGIN_RE
        READY = LOGIN_RE
    if a.real == "debian":
        from armvm_oe.testing import distro
        LOGIN_ARGS = ["--login", f"root:{distro.PASSWORD}"]
    arches = ("aarch64", "arm") if a.arch == "both" else (a.arch,)
    print(f"host: {os.cpu_count()} cores, load {load():.1f}; "
          f"{shutil.which('qemu-system-aarch64')}", flush=True)
    report = {}
    for arch in arches:
        if a.real == "debian":
            image = distro.build(arch)
        elif a.real == "login":
            from armvm_oe.testing.fixtures import login_image
            image = login_image(arch)
        else:
            image = build_image(arch)
        fw = find_firmware(arch)
        if a.checks:
            report[arch] = checks_cost(arch, image, a.repeat, a.checks)
            continue
        report[arch] = {"oh": overhead(arch, image, fw, a.repeat)}
        if a.matrix != "none":
            report[arch]["mx"] = matrix_times(arch, image, fw, a.matrix)

    if a.checks:
        print_checks_cost(report, a.checks)
        return
    what = "ARMVM-READY" if a.real == "none" else "login prompt"
    print(f"\nprocess start -> guest {what}, one cell gic3/mmio/pl011, "
          f"median (min..max) of {a.repeat}" + (f" [{a.real} image]" if a.real != "none" else ""))
    print(f"  {'arch':8s} {'plain QEMU (same argv)':28s} {'armvm-oe test':28s} "
          f"{'overhead':>9s} {'tool before QEMU':>17s} {'load':>9s}")
    for arch, r in report.items():
        p = [x["ready"] for x in r["oh"]["plain"]]
        t = [x["ready"] for x in r["oh"]["tool"]]
        pre = statistics.median(x["pre_qemu"] for x in r["oh"]["tool"])
        lds = [x["load"] for x in r["oh"]["plain"] + r["oh"]["tool"]]
        oh = (statistics.median(t) / statistics.median(p) - 1) * 100
        print(f"  {arch:8s} {spread(p):28s} {spread(t):28s} {oh:+8.1f}% {pre:15.2f} s "
              f"{min(lds):4.1f}-{max(lds):.1f}")
    if a.real != "none":
        print("  probing after the prompt (login, shell probe, efivarfs read) as a share of "
              "the cell: " + ", ".join(
                  f"{arch} {statistics.median(x['probe'] for x in r['oh']['tool']):.1f} s of "
                  f"{statistics.median(x['cell'] for x in r['oh']['tool']):.1f} s = "
                  f"{100 * statistics.median(x['probe'] / x['cell'] for x in r['oh']['tool']):.1f}"
                  " %"
                  f" (login {statistics.median(x['login_s'] for x in r['oh']['tool']):.1f} s, "
                  f"shell probe {statistics.median(x['shell_probe_s'] for x in r['oh']['tool']):.1f}"
                  " s)"
                  for arch, r in report.items()))
    print("  (armvm-oe end to end incl. guest checks + power-off + report: "
          + ", ".join(f"{arch} {statistics.median(x['end_to_end'] for x in r['oh']['tool']):.1f} s"
                      for arch, r in report.items()) + ")")
    if a.matrix != "none":
        n = os.cpu_count() or 1
        print(f"\n{a.matrix} matrix wall time, serial vs {n} at a time")
        print(f"  {'arch':8s} {'boots':>5s} {'serial':>9s} {'parallel':>9s} {'speed-up':>8s}  load")
        for arch, r in report.items():
            s, par = r["mx"][1], r["mx"][n]
            print(f"  {arch:8s} {len(s['results']):5d} {s['wall']:8.1f}s {par['wall']:8.1f}s "
                  f"{s['wall'] / par['wall']:7.2f}x  {s['load']:.1f}/{par['load']:.1f}")
        print("  per cell (serial | parallel):")
        for arch, r in report.items():
            par = {x.name: x for x in r["mx"][n]["results"]}
            for x in r["mx"][1]["results"]:
                y = par.get(x.name)
                print(f"    {x.name:34s} {x.duration_s:6.1f} s {x.status:4s} | "
                      + (f"{y.duration_s:6.1f} s {y.status}" if y else "-"))


if __name__ == "__main__":
    main()

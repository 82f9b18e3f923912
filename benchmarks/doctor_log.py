#!/usr/bin/env python3
"""Benchmark ``armvm-oe doctor --log`` on a 100,000-line build log.

The log is made of what a real kas + bitbake build prints (kas-prefixed
lines, task progress, '| ' task-log excerpts with compiler output, QA
warnings) with the real public logs of tests/doctor/realworld/ spread over
it and a task failure near the end. Target: under 1 s for the scan.
Printed side by side: a plain ``grep -c ERROR`` over the same file (the
floor any scanner pays to read the text) and doctor as a fresh CLI process.

    python3 benchmarks/doctor_log.py [--lines 100000] [--runs 5]

Then the same for a posted log (the realworld excerpts; target under 0.5 s for
the CLI). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from armvm_oe.doctor.logscan import scan  # noqa: E402

NOISE = [
    "2026-01-01 10:{m:02d}:{s:02d} - INFO     - NOTE: Running task {i} of 9876 (/work/poky/meta/"
    "recipes-core/glibc/glibc_2.39.bb:do_compile)",
    "2026-01-01 10:{m:02d}:{s:02d} - INFO     - NOTE: recipe zlib-1.3.1-r0: task do_install: "
    "Succeeded",
    "| aarch64-poky-linux-gcc -O2 -pipe -g -feliminate-unused-debug-types -c -o obj/f{i}.o "
    "src/f{i}.c",
    "| src/f{i}.c:12:5: warning: unused variable 'x' [-Wunused-variable]",
    "NOTE: Setscene tasks completed",
    "Currently  4 running tasks ({i} of 9876)  42% |#########                |",
]
QA = ("WARNING: foo-1.0-r0 do_package_qa: QA Issue: File /usr/bin/foo in package foo doesn't "
      "have GNU_HASH (didn't pass LDFLAGS?) [ldflags]")
FAILURE = [
    "NOTE: Executing Tasks",
    "| x86_64-poky-linux-g++: internal compiler error: Killed (program cc1plus)",
    "ERROR: big-1.0-r0 do_compile: oe_runmake failed",
    "ERROR: Logfile of failure stored in: /work/build/tmp/work/a/big/1.0/temp/log.do_compile.1",
    "ERROR: Task (/work/layers/meta-x/big/big_1.0.bb:do_compile) failed with exit code '1'",
    "NOTE: Tasks Summary: Attempted 9876 tasks of which 9000 didn't need to be rerun and 1 "
    "failed.",
]


def make_log(lines: int) -> str:
    rnd = random.Random(14)
    real = []
    for f in sorted((ROOT / "tests" / "doctor" / "realworld").glob("*.log")):
        body = [x for x in f.read_text().split("\n") if not x.startswith("# ")]
        # only lines that are not failures themselves (they would change the cause)
        real.extend(x for x in body if x.strip() and not scan(x).findings)
    out = []
    for i in range(lines - len(FAILURE)):
        if i % 97 == 0 and real:
            out.append(rnd.choice(real))
        elif i % 1999 == 0:
            out.append(QA)
        else:
            out.append(rnd.choice(NOISE).format(i=i, m=(i // 60) % 60, s=i % 60))
    return "\n".join(out + FAILURE) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    text = make_log(a.lines)
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as fh:
        fh.write(text)
        path = fh.name
    times, cpu, d = [], [], None
    for _ in range(a.runs):
        t, c = time.perf_counter(), time.process_time()
        d = scan(text, source=path)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    grep = []
    for _ in range(a.runs):
        t = time.perf_counter()
        subprocess.run(["grep", "-c", "ERROR", path], capture_output=True)
        grep.append(time.perf_counter() - t)
    cli = []
    for _ in range(max(1, a.runs // 2)):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "armvm_oe", "doctor", "--log", path, "--json"],
                       capture_output=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT),
                                                           "PATH": "/usr/bin:/bin"})
        cli.append(time.perf_counter() - t)
    Path(path).unlink()
    mb = len(text.encode()) / 1e6
    print(f"== doctor --log on {a.lines} lines ({mb:.1f} MB), {a.runs} runs")
    print(f"   scan (in process)        : median {statistics.median(times):.3f} s  "
          f"(min {min(times):.3f}, max {max(times):.3f})  target < 1 s")
    print(f"   scan CPU time            : median {statistics.median(cpu):.3f} s  "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs while measuring)")
    print(f"   grep -c ERROR (reference): median {statistics.median(grep):.3f} s")
    print(f"   armvm-oe doctor --log CLI: median {statistics.median(cli):.3f} s "
          "(includes interpreter start-up and imports)")
    print(f"   first cause: {d.first.id} at line {d.first.line_no}, phase {d.phase}, "
          f"{len(d.findings)} findings")
    posted(a.runs)
    return 0


def posted(runs: int) -> None:
    """A posted log: each excerpt of tests/doctor/realworld/ (what users paste,
    up to 40 lines) scanned in process, and the CLI on the longest one (what a
    user waits for: interpreter start-up, imports, pattern compilation, scan).
    Target: under 0.5 s for the CLI."""
    logs = sorted((ROOT / "tests" / "doctor" / "realworld").glob("*.log"))
    if not logs:
        return
    per, cpu = [], []
    for f in logs:
        text = f.read_text()
        t, c = time.perf_counter(), time.process_time()
        scan(text, source=f.name)
        per.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    big = max(logs, key=lambda f: f.stat().st_size)
    cli, lite, cli_cpu = [], [], []
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    for _ in range(max(1, runs)):
        for cmd, out in (([sys.executable, "-m", "armvm_oe", "doctor"], cli),
                         ([sys.executable, "-m", "armvm_oe.doctor"], lite)):
            t, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(cmd + ["--log", str(big), "--json"], capture_output=True, cwd=ROOT,
                           env=env)
            out.append(time.perf_counter() - t)
            if out is cli:
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cli_cpu.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    t = time.perf_counter()
    for _ in range(max(1, runs)):
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, env=env)
    bare = (time.perf_counter() - t) / max(1, runs)
    print(f"== posted logs: {len(logs)} excerpts of tests/doctor/realworld/")
    print(f"   scan (in process)        : median {statistics.median(per) * 1000:.1f} ms, "
          f"max {max(per) * 1000:.1f} ms (CPU median {statistics.median(cpu) * 1000:.1f} ms)")
    print(f"   armvm-oe doctor --log CLI: median {statistics.median(cli):.3f} s on {big.name} "
          f"(CPU {statistics.median(cli_cpu):.3f} s; load average {os.getloadavg()[0]:.1f}; "
          "target < 0.5 s)")
    print(f"   python3 -m armvm_oe.doctor: median {statistics.median(lite):.3f} s "
          f"(python3 -c pass: {bare:.3f} s, the floor)")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark armvm-oe doctor.

1. The whole offline run (all groups, the repo's kas config) in-process and
   as a CLI process; target under 1 s.
2. With a poky checkout (ARMVM_POKY_DIR, default /work/poky): time to the
   first error for a missing host tool (a PATH without chrpath), doctor vs
   bitbake's own sanity check (``bitbake -p`` in a fresh build dir), both run
   as the unprivileged user ``builder`` (bitbake refuses root).
3. The log scanner's throughput on a large synthetic bitbake log.

Prints measured figures side by side; asserts nothing.

    python3 benchmarks/doctor.py [--runs 5] [--no-bitbake]
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

from armvm_oe.doctor import Context, facts, run_checks  # noqa: E402
from armvm_oe.doctor.logscan import PATTERNS, diagnose  # noqa: E402

SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def med(xs):
    return statistics.median(xs)


def bench_offline(runs: int) -> None:
    cfg = ROOT / "kas" / "armvm-aarch64.yml"
    work = Path(tempfile.mkdtemp(prefix="doctor-bench-"))
    inproc, cli, n = [], [], 0
    for _ in range(runs):
        t = time.perf_counter()
        res = run_checks(Context(kas_config=str(cfg) if cfg.exists() else None, work_dir=work))
        inproc.append(time.perf_counter() - t)
        n = len(res)
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "armvm_oe", "doctor", str(cfg), "--work-dir",
                        str(work), "--json"], cwd=ROOT, capture_output=True,
                       env=dict(os.environ, NO_COLOR="1"))
        cli.append(time.perf_counter() - t)
    shutil.rmtree(work, ignore_errors=True)
    print("== whole offline doctor run (all groups, kas/armvm-aarch64.yml, nothing checked out)")
    print(f"   in-process run_checks : median {med(inproc):.3f} s  (min {min(inproc):.3f}, "
          f"{runs} runs; {n} problems found)")
    print(f"   CLI process            : median {med(cli):.3f} s  (min {min(cli):.3f}) "
          f"-- target < 1 s")


def _nochrpath_path(poky: Path) -> Path:
    d = Path(tempfile.mkdtemp(prefix="doctor-nochrpath-"))
    tools, _ = facts.hosttools(Context(core_dir=poky))
    for t in tools:
        exe = shutil.which(t, path=SYS_PATH)
        if exe and t != "chrpath":
            (d / t).symlink_to(exe)
    for p in [d, *d.iterdir()]:
        os.chmod(p, 0o755, follow_symlinks=False) if not p.is_symlink() else None
    return d


def _time_until(cmd: list[str], marker: str, timeout: float = 600) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    out = []
    found = None
    try:
        for line in p.stdout:
            out.append(line)
            if marker in line and found is None:
                found = time.perf_counter() - t
        p.wait(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
    return (found if found is not None else float("nan")), "".join(out)


def bench_first_error(poky: Path, runs: int) -> None:
    import pwd
    try:
        pwd.getpwnam("builder")
    except KeyError:
        print("== time-to-first-error: skipped (no 'builder' user)")
        return
    bindir = _nochrpath_path(poky)
    pkg = Path(tempfile.mkdtemp(prefix="doctor-pkg-"))
    shutil.copytree(ROOT / "armvm_oe", pkg / "armvm_oe",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for p in [pkg, *pkg.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    os.chmod(bindir, 0o755)
    env = ["env", "-i", "HOME=/tmp", f"PATH={bindir}", "LANG=en_US.UTF-8"]
    doc, bb = [], []
    bb_out = ""
    for _ in range(runs):
        t, out = _time_until(["runuser", "-u", "builder", "--", *env, f"PYTHONPATH={pkg}",
                              "/usr/bin/python3", "-m", "armvm_oe.doctor", "--only", "host",
                              "--core-dir", str(poky)], "host.hosttools")
        doc.append(t)
    for _ in range(max(1, min(runs, 3))):
        build = Path(tempfile.mkdtemp(prefix="doctor-bb-build-"))
        os.chmod(build, 0o777)
        shutil.rmtree(build)
        script = (f"cd {poky} && . ./oe-init-build-env {build} >/dev/null && bitbake -p")
        t, bb_out = _time_until(["runuser", "-u", "builder", "--", *env, "bash", "-c", script],
                                "as specified by HOSTTOOLS")
        bb.append(t)
        subprocess.run(["runuser", "-u", "builder", "--", "rm", "-rf", str(build)])
    found = diagnose(bb_out)
    shutil.rmtree(bindir, ignore_errors=True)
    shutil.rmtree(pkg, ignore_errors=True)
    print(f"== time to first error, PATH without chrpath ({poky}, user builder)")
    print(f"   armvm-oe doctor --only host        : median {med(doc):.3f} s  (min {min(doc):.3f})")
    print(f"   bitbake -p (fresh build dir)      : median {med(bb):.3f} s  (min {min(bb):.3f})")
    if med(doc) > 0:
        print(f"   doctor is {med(bb) / med(doc):.0f}x sooner")
    print(f"   doctor --log on bitbake's output  : {[f.id for f in found][:3]}")


def bench_logscan() -> None:
    noise = ("NOTE: Running task 1234 of 5678 (/work/poky/meta/recipes-core/glibc/"
             "glibc_2.39.bb:do_compile)\n")
    for lines in (10_000, 200_000):
        text = noise * lines + PATTERNS[0].example + "\n"
        t = time.perf_counter()
        found = diagnose(text)
        dt = time.perf_counter() - t
        print(f"== log scan: {lines:>7} lines ({len(text) / 1e6:.1f} MB): {dt:.3f} s, "
              f"first finding {found[0].id}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-bitbake", action="store_true")
    a = ap.parse_args()
    bench_offline(a.runs)
    poky = Path(os.environ.get("ARMVM_POKY_DIR", "/work/poky"))
    if not a.no_bitbake and (poky / "bitbake" / "bin" / "bitbake").exists():
        bench_first_error(poky, a.runs)
    else:
        print("== time-to-first-error: skipped (no poky checkout; set ARMVM_POKY_DIR)")
    bench_logscan()
    return 0


if __name__ == "__main__":
    sys.exit(main())

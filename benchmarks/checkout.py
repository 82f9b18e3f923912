#!/usr/bin/env python3
"""Benchmark: ``armvm-oe checkout`` vs ``kas checkout`` of the same pinned config.

A generated repository with a long history (default 3000 commits, ~40 MB of
incompressible history, a ~4 MB pinned tree) is served from a local bare
repository over file:// (upload-pack, the same protocol path as a server;
uploadpack.allowReachableSHA1InWant set). Both tools check out the same kas
config (branch + full commit) into fresh work dirs (cold), then again into
the populated ones (warm). Wall time includes interpreter start-up; the
median of --runs is printed, with the bytes each clone holds afterwards
(``git count-objects``: what was transferred) and the ratios.

    python3 benchmarks/checkout.py [--commits 3000] [--files 300] [--blob 12000] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "checkout"))
sys.path.insert(0, str(ROOT))
import gitgen  # noqa: E402

from armvm_oe import lib  # noqa: E402


def repo_bytes(path: Path) -> int:
    out = subprocess.run(["git", "count-objects", "-v"], cwd=path, capture_output=True,
                         text=True, check=True).stdout
    kv = dict(line.split(": ") for line in out.splitlines())
    return (int(kv["size"]) + int(kv["size-pack"])) * 1024


def timed(cmd, cwd, env) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{r.stderr}")
    return dt, r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=3000)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--blob", type=int, default=12000, help="bytes per file version")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    key = hashlib.sha256(f"v1 {a.commits} {a.files} {a.blob}".encode()).hexdigest()[:12]
    bare = lib.cache_dir() / "bench-checkout" / f"layer-{key}.git"
    if not bare.exists():
        print(f"generating {bare} ...", file=sys.stderr)
        tmp = bare.with_name(bare.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        gitgen.make_bare(tmp, branch="main", commits=a.commits, files=a.files,
                         blob_size=a.blob, seed="bench", init_script=True)
        tmp.rename(bare)
    pin = gitgen.head(bare, "main")
    history = repo_bytes(bare)

    scratch = Path(tempfile.mkdtemp(prefix="armvm-bench-"))
    cfg = scratch / "bench.yml"
    cfg.write_text(f"header:\n  version: 14\nrepos:\n  layer:\n    url: {bare.as_uri()}\n"
                   f"    branch: main\n    commit: {pin}\n    layers:\n      meta-test:\n")
    env = dict(os.environ, NO_COLOR="1")
    env.pop("KAS_REPO_REF_DIR", None)
    tools = {
        "armvm-oe checkout": [sys.executable, "-m", "armvm_oe", "checkout", str(cfg), "--json"],
        "kas checkout": [sys.executable, "-m", "kas", "checkout", str(cfg)],
    }
    res: dict[str, dict[str, list]] = {t: {"cold": [], "warm": [], "bytes": []} for t in tools}
    try:
        for n in range(a.runs):
            for tool, cmd in tools.items():
                work = scratch / f"work-{n}-{tool.split()[0]}"
                work.mkdir()
                e = dict(env, KAS_WORK_DIR=str(work))
                cold, _ = timed(cmd, work, e)
                warm, _ = timed(cmd, work, e)
                head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work / "layer",
                                      capture_output=True, text=True).stdout.strip()
                assert head == pin, (tool, head)
                res[tool]["cold"].append(cold)
                res[tool]["warm"].append(warm)
                res[tool]["bytes"].append(repo_bytes(work / "layer"))
                shutil.rmtree(work)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    med = {t: {k: statistics.median(v) for k, v in d.items()} for t, d in res.items()}
    ours, kas = med["armvm-oe checkout"], med["kas checkout"]
    print(f"repository: {a.commits} commits, history {history / 2**20:.1f} MiB, "
          f"pinned tree {a.files} files x {a.blob} B; median of {a.runs} runs; "
          f"{os.cpu_count()} CPUs")
    print(f"{'':22}{'armvm-oe':>12}{'kas':>12}{'kas/armvm-oe':>14}")
    print(f"{'cold checkout (s)':22}{ours['cold']:12.2f}{kas['cold']:12.2f}"
          f"{kas['cold'] / ours['cold']:13.1f}x")
    print(f"{'warm re-run (s)':22}{ours['warm']:12.2f}{kas['warm']:12.2f}"
          f"{kas['warm'] / ours['warm']:13.1f}x")
    print(f"{'transferred (MiB)':22}{ours['bytes'] / 2**20:12.1f}{kas['bytes'] / 2**20:12.1f}"
          f"{kas['bytes'] / max(ours['bytes'], 1):13.1f}x")
    print(json.dumps({"runs": res, "median": med}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

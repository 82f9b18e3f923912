#!/usr/bin/env python3
"""Benchmark: ``armvm-oe checkout`` vs ``kas checkout`` on what users check out.

Default (``real``): poky (yocto-5.0.15), meta-arm and meta-openembedded at
their scarthgap pins (full commit + branch, layers as a BSP project uses
them), served from local full clones (``--mirrors``, default /work/.mirror,
``<owner>+<name>/repo``) over ``file://`` through ``KAS_PREMIRRORS`` — git's
upload-pack, the same negotiation and pack generation as a server, without
the network. Three tools, each cold (fresh work dir) then warm (re-run):

* ``armvm-oe checkout`` (shallow fetch of the pinned commits, parallel),
* ``kas checkout`` (full clones, kas's default, parallel),
* ``KAS_CLONE_DEPTH=1 kas checkout`` (kas's shallow mode).

Wall time includes interpreter start-up; median of ``--runs``, the load
average before each run, and the bytes each work dir's repositories hold
(what was transferred). ``--generated`` runs the old synthetic case (one
generated repository with a long history).

    python3 benchmarks/checkout.py [--runs 3] [--mirrors /work/.mirror]
    python3 benchmarks/checkout.py --generated [--commits 3000] [--files 300] [--blob 12000]
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


REAL = {
    # repo id: (mirror dir, url, branch, pin, layers)
    "poky": ("yoctoproject+poky", "https://git.yoctoproject.org/poky", "scarthgap",
             "72983ac391008ebceb45edc7a8f0f6d5f4fe715c", ["meta", "meta-poky"]),
    "meta-arm": ("jonmason+meta-arm", "https://git.yoctoproject.org/meta-arm", "scarthgap",
                 "23b572c40ea6709ab3f8bd7abbb5a795fc3631c2",
                 ["meta-arm", "meta-arm-bsp", "meta-arm-toolchain"]),
    "meta-openembedded": ("openembedded+meta-openembedded",
                          "https://git.openembedded.org/meta-openembedded", "scarthgap",
                          "bec755063a8b5da65df626f5749496aadaa4f4bb",
                          ["meta-oe", "meta-python", "meta-networking"]),
}


def work_bytes(work: Path, ids) -> int:
    return sum(repo_bytes(work / i) for i in ids if (work / i / ".git").exists())


def real(a) -> int:
    mirrors = Path(a.mirrors)
    repos = {k: v for k, v in REAL.items() if (mirrors / v[0] / "repo").is_dir()
             and (k != "meta-openembedded" or a.meta_oe)}
    missing = sorted(set(REAL) - set(repos))
    if "poky" not in repos or "meta-arm" not in repos:
        sys.exit(f"need local clones of poky and meta-arm under {mirrors} "
                 f"(<owner>+<name>/repo); missing: {', '.join(missing)}")
    scratch = Path(tempfile.mkdtemp(prefix="armvm-bench-real-"))
    proj = scratch / "project"
    proj.mkdir()
    lines = ["header:", "  version: 14", "machine: qemuarm64", "distro: poky", "repos:"]
    for rid, (_d, url, branch, pin, layers) in repos.items():
        lines += [f"  {rid}:", f"    url: {url}", f"    branch: {branch}", f"    commit: {pin}",
                  "    layers:"] + [f"      {layer}:" for layer in layers]
    (proj / "bench.yml").write_text("\n".join(lines) + "\n")
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    cfg = proj / "bench.yml"
    env = dict(os.environ, NO_COLOR="1", KAS_PREMIRRORS="\n".join(
        f"^{v[1]}$ {(mirrors / v[0] / 'repo').as_uri()}" for v in repos.values()))
    for var in ("KAS_REPO_REF_DIR", "KAS_CLONE_DEPTH"):
        env.pop(var, None)
    tools = {
        "armvm-oe": ([sys.executable, "-m", "armvm_oe", "checkout", str(cfg), "--json"], {}),
        "kas": ([sys.executable, "-m", "kas", "checkout", str(cfg)], {}),
        "kas depth=1": ([sys.executable, "-m", "kas", "checkout", str(cfg)],
                        {"KAS_CLONE_DEPTH": "1"}),
    }
    res = {t: {"cold": [], "warm": [], "bytes": [], "load": []} for t in tools}
    failed: dict[str, str] = {}
    try:
        for n in range(a.runs):
            for tool, (cmd, extra) in tools.items():
                if tool in failed:
                    continue
                work = scratch / f"work-{n}-{tool.replace(' ', '_').replace('=', '')}"
                work.mkdir()
                e = dict(env, KAS_WORK_DIR=str(work), **extra)
                res[tool]["load"].append(os.getloadavg()[0])
                t0 = time.perf_counter()
                r = subprocess.run(cmd, cwd=work, env=e, capture_output=True, text=True)
                cold = time.perf_counter() - t0
                if r.returncode:
                    # reported, not hidden: e.g. a mirror without all history
                    # cannot serve kas's full clone
                    why = [ln for ln in r.stderr.splitlines() if "fatal" in ln or "ERROR" in ln]
                    failed[tool] = (why or r.stderr.splitlines()[-1:] or ["?"])[0][-160:]
                    print(f"run {n + 1}: {tool:12} FAILED: {failed[tool]}", file=sys.stderr)
                    shutil.rmtree(work)
                    continue
                warm, _ = timed(cmd, work, e)
                for rid, v in repos.items():
                    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work / rid,
                                          capture_output=True, text=True).stdout.strip()
                    assert head == v[3], (tool, rid, head)
                res[tool]["cold"].append(cold)
                res[tool]["warm"].append(warm)
                res[tool]["bytes"].append(work_bytes(work, repos))
                print(f"run {n + 1}: {tool:12} cold {cold:7.2f} s  warm {warm:6.2f} s  "
                      f"{res[tool]['bytes'][-1] / 2**20:8.1f} MiB  load "
                      f"{res[tool]['load'][-1]:.1f}", file=sys.stderr, flush=True)
                shutil.rmtree(work)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ok = [t for t in tools if res[t]["cold"]]
    med = {t: {k: statistics.median(v) for k, v in res[t].items()} for t in ok}
    if "armvm-oe" not in med:
        sys.exit(f"armvm-oe checkout failed: {failed.get('armvm-oe')}")
    ours = med["armvm-oe"]
    print(f"repos: {', '.join(f'{k}@{v[3][:12]}' for k, v in repos.items())}"
          f"{' (not included: ' + ', '.join(missing) + ')' if missing else ''}; file:// upload-pack; "
          f"median of {a.runs} run(s); {os.cpu_count()} CPUs")
    print(f"{'':22}" + "".join(f"{t:>14}" for t in ok))
    for key, label in (("cold", "cold checkout (s)"), ("warm", "warm re-run (s)"),
                       ("bytes", "repos hold (MiB)"), ("load", "load before")):
        div = 2**20 if key == "bytes" else 1
        print(f"{label:22}" + "".join(f"{med[t][key] / div:14.2f}" for t in ok))
    for t in ok:
        if t != "armvm-oe":
            print(f"{t} / armvm-oe: cold {med[t]['cold'] / ours['cold']:.2f}x, "
                  f"warm {med[t]['warm'] / ours['warm']:.2f}x, "
                  f"bytes {med[t]['bytes'] / max(ours['bytes'], 1):.2f}x")
    for t, why in failed.items():
        print(f"{t}: not measured, it failed: {why}")
    print(json.dumps({"runs": res, "median": med}, default=float))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--generated", action="store_true",
                    help="the synthetic case: one generated repository with a long history")
    ap.add_argument("--mirrors", default=os.environ.get("ARMVM_MIRRORS", "/work/.mirror"))
    ap.add_argument("--meta-oe", action="store_true",
                    help="add meta-openembedded (its clone must be complete: kas clones all "
                         "of its history)")
    ap.add_argument("--commits", type=int, default=3000)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--blob", type=int, default=12000, help="bytes per file version")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if not a.generated:
        return real(a)

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

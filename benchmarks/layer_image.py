#!/usr/bin/env python3
"""The steps of booting the layer's own parts (tests/layer/test_layer_image.py),
each timed, side by side with the fixture builder that makes the same kind of
disk without wic (armvm_oe.testing.fixtures):

    python3 benchmarks/layer_image.py                 # both arches
    python3 benchmarks/layer_image.py --arch aarch64 --boot

Steps: openembedded-core extracted from the mirror (git archive), the
layer kernel's configuration (defconfig + fragment + olddefconfig), GRUB by
grub-efi's mkimage, wic create (Debian's kernel) against the fixture
builder's disk for the same arch, optionally one boot cell, and the layer
kernel's compile as recorded in its cache entry (timings.json) or, while it
runs, how many objects its build directory holds so far. Figures depend on
the machine's load; nothing decides on them."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from armvm_oe.lib import cache_dir  # noqa: E402
from armvm_oe.testing import fixtures, layerimage, layerkernel  # noqa: E402


def timed(fn):
    t = time.monotonic()
    out = fn()
    return out, time.monotonic() - t


def compile_status(arch: str, scratch: Path) -> str:
    _, key = layerkernel.configure(arch, scratch)
    entry = cache_dir() / "layer-kernel" / key
    if (entry / "timings.json").exists():
        t = json.loads((entry / "timings.json").read_text())
        return f"compile {t['compile_s']:.0f} s (-j{t['jobs']}, nice 19), key {key}"
    obj = cache_dir() / "layer-kernel" / f"obj-{key}"
    if obj.is_dir():
        n = sum(1 for _ in obj.rglob("*.o"))
        return f"compile in progress: {n} objects so far in {obj}"
    return f"not compiled (key {key}): python3 -m armvm_oe.testing.layerkernel build {arch}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["aarch64", "arm"], action="append")
    ap.add_argument("--boot", action="store_true", help="also one boot cell per arch")
    args = ap.parse_args()
    arches = args.arch or ["aarch64", "arm"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        oecore, t = timed(lambda: layerimage.extract_oecore(tmp / "oecore"))
        if oecore is None:
            print(f"openembedded-core {layerimage.OECORE_TAG} is not in {layerimage.mirrors()}")
            return 2
        print(f"{'oe-core extract (git archive)':40s} {t:7.1f} s   load {os.getloadavg()[0]:.1f}")
        for arch in arches:
            _, t = timed(lambda: layerkernel.configure(arch, tmp / f"cfg-{arch}"))
            print(f"{arch + ' kernel config':40s} {t:7.1f} s")
            (tmp / f"g-{arch}").mkdir()
            _, t = timed(lambda: layerimage.make_grub(oecore, arch, tmp / f"g-{arch}"))
            print(f"{arch + ' grub-efi mkimage':40s} {t:7.2f} s")
            steps: dict = {}
            disk, t = timed(lambda: layerimage.build(oecore, arch, "debian", tmp / f"img-{arch}", steps))
            spec = fixtures.spec_for(arch)
            _, tf = timed(lambda: fixtures.build_image(spec, out_dir=tmp / f"fx-{arch}"))
            print(f"{arch + ' wic create | fixture builder':40s} {steps['wic_s']:7.1f} s | {tf:.1f} s"
                  f"   (whole image {t:.1f} s)")
            if args.boot:
                out = tmp / f"boot-{arch}"
                out.mkdir()
                cmd = [sys.executable, "-m", "armvm_oe", "test", str(disk), "--arch", arch, "--gic", "3",
                       "--virtio", "pci", "--console", "pl011", "--no-varstore", "--no-hotplug",
                       "--jobs", "1", "--json", "--log-dir", str(out / "logs"),
                       "--junit", str(out / "r.xml")]
                r, t = timed(lambda: subprocess.run(cmd, capture_output=True, text=True, cwd=out,
                                                    env=dict(os.environ, ARMVM_DATA_DIR=str(out / "d"))))
                print(f"{arch + ' one boot cell (Debian kernel)':40s} {t:7.1f} s   exit {r.returncode}")
            print(f"{arch + ' layer kernel':40s} {compile_status(arch, tmp / f'cs-{arch}')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Build-container benchmark: armvm-oe's image build (Docker SDK, content-hash
tag) side by side with the reference, the docker CLI (legacy builder)
building the same Dockerfile from the same generated context, unpacked.

    python3 benchmarks/container.py --base-image armvm-oe/debian-base:bookworm --mirror host
    python3 benchmarks/container.py ... --cold     # also both no-cache builds (minutes each)

Figures:
  up to date  armvm-oe: tag lookup, nothing built; docker: every step a cache hit
  source edit one armvm_oe file changed: only the last steps rebuild
  cold        no cache at all (--cold)
  image size  of the resulting image
Nothing is asserted; the numbers are printed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from armvm_oe.container import engine  # noqa: E402
from armvm_oe.container.image import ImageSpec, build_image, ensure_image  # noqa: E402


def docker_cli_build(spec: ImageSpec, src: Path, tag: str, nocache: bool = False) -> float:
    """The reference: the docker CLI (legacy builder) on the same generated context."""
    import io
    import tarfile

    ctx = src.parent / ("cli-context-" + tag.replace("/", "_").replace(":", "_"))
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir()
    with tarfile.open(fileobj=io.BytesIO(spec.context_tar())) as tar:
        tar.extractall(ctx)
    src = ctx
    cmd = ["docker", "build", "-q", "--network", "host", "-f", "containers/Dockerfile", "-t", tag]
    for k, v in spec.buildargs().items():
        cmd += ["--build-arg", f"{k}={v}"]
    if nocache:
        cmd.append("--no-cache")
    t0 = time.monotonic()
    subprocess.run(cmd + ["."], cwd=src, check=True, stdout=subprocess.DEVNULL,
                   env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
    return time.monotonic() - t0


def copy_inputs(dst: Path) -> Path:
    for rel in ("containers", "armvm_oe"):
        shutil.copytree(ROOT / rel, dst / rel, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for rel in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / rel, dst / rel)
    return dst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-image")
    ap.add_argument("--mirror")
    ap.add_argument("--ca-cert", action="append")
    ap.add_argument("--cold", action="store_true")
    a = ap.parse_args()
    client = engine.connect()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = copy_inputs(Path(tmp) / "src")
        spec = ImageSpec.from_env(a.base_image, a.mirror, root=src, ca_certs=a.ca_cert)
        first = ensure_image(client, spec)             # warm the engine's cache
        t0 = time.monotonic()
        ensure_image(client, ImageSpec.from_env(a.base_image, a.mirror, root=src, ca_certs=a.ca_cert))
        ours_uptodate = time.monotonic() - t0
        ref_uptodate = docker_cli_build(spec, src, "armvm-oe/bench:cli")
        rows.append(("up to date", ours_uptodate, ref_uptodate))

        (src / "armvm_oe" / "container" / "_bench_marker.py").write_text(f"T = {time.time()}\n")
        spec2 = ImageSpec.from_env(a.base_image, a.mirror, root=src, ca_certs=a.ca_cert)
        ours_edit = build_image(client, spec2).seconds
        ref_edit = docker_cli_build(spec2, src, "armvm-oe/bench:cli")
        rows.append(("source edit", ours_edit, ref_edit))

        if a.cold:
            ours_cold = build_image(client, spec2, nocache=True, tag="armvm-oe/bench:cold").seconds
            ref_cold = docker_cli_build(spec2, src, "armvm-oe/bench:cli-cold", nocache=True)
            rows.append(("cold (no cache)", ours_cold, ref_cold))
        size = client.images.get(first.tag).attrs["Size"]
        for t in ("armvm-oe/bench:cli", "armvm-oe/bench:cold", "armvm-oe/bench:cli-cold", spec2.tag):
            try:
                client.images.remove(t)
            except Exception:  # noqa: BLE001
                pass
    print(f"{'case':<18}{'armvm-oe (SDK)':>16}{'docker build CLI':>18}")
    for name, ours, ref in rows:
        print(f"{name:<18}{ours:>15.1f}s{ref:>17.1f}s")
    print(f"image size: {size / 1e6:.0f} MB ({first.tag})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

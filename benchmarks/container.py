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
  layers      (--cold) the no-cache rebuild compared layer by layer with the
              cached build of the same inputs (and the docker CLI's no-cache
              build with ours): each layer's Dockerfile instruction, same or
              DIFFERS, and whether it is identical by construction (the base
              image's layers, inherited; ADD of the generated, normalised
              context tars) or a rebuilt RUN step, the real evidence.

    python3 benchmarks/container.py --compare TAG1 TAG2   # only the layer table

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


def layer_instructions(client, ref: str) -> list[str]:
    """The Dockerfile instruction that made each layer of ``ref``, in RootFS
    order. Read from the image config's history in ``docker save`` (the
    engine's history API does not say which rows made a layer)."""
    import json
    import tarfile

    from armvm_oe.container.repro import _StreamFile

    with tarfile.open(fileobj=_StreamFile(client.images.get(ref).save(named=False)),
                      mode="r|") as tar:
        for m in tar:
            if m.isreg() and m.name.endswith(".json") and "/" not in m.name \
                    and m.name != "manifest.json":
                cfg = json.load(tar.extractfile(m))
                break
        else:
            return []
    rows = [h.get("created_by", "") for h in cfg.get("history", []) if not h.get("empty_layer")]
    short = []
    for r in rows:
        # legacy builder: "[|N ARG=v ...] /bin/sh -c [#(nop) ]INSTRUCTION|COMMAND"
        body = r.split("/bin/sh -c ", 1)[-1].strip()
        if not body:                     # 'docker import' leaves created_by empty
            r = "(imported base image)"
        else:
            r = body[len("#(nop)"):].strip() if body.startswith("#(nop)") else "RUN " + body
        short.append(r if len(r) < 60 else r[:57] + "...")
    return short


def by_construction(index: int, instruction: str, base_layers: int) -> str:
    """Why a layer is identical by construction, or '' when only a rebuild shows it."""
    if index < base_layers:
        return "by construction: the base image's layer, inherited"
    if instruction.startswith(("ADD", "COPY")):
        return "by construction: the same generated, normalised tar"
    return ""


def compare_layers(client, first: str, second: str, base: str | None) -> list[str]:
    """Print-ready lines: the two images' layers side by side, classified."""
    from armvm_oe.container.repro import compare_images

    report = compare_images(client, first, second)
    instr = layer_instructions(client, first)
    n_base = len(client.images.get(base).attrs["RootFS"]["Layers"]) if base else 0
    out = [f"layers of {first} vs {second}:"]
    constructed = rebuilt_same = 0
    for lr in report.layers:
        what = instr[lr.index] if lr.index < len(instr) else "?"
        why = by_construction(lr.index, what, n_base)
        constructed += bool(why) and lr.same
        rebuilt_same += (not why) and lr.same
        out.append(f"  {lr.index}  {'same   ' if lr.same else 'DIFFERS'}  {lr.first[7:19]}  "
                   f"{lr.second[7:19]}  {what:<60}  {why or 'rebuilt RUN step'}")
        out += [f"       {f.describe()}" for f in lr.files[:10]]
    same = sum(lr.same for lr in report.layers)
    runs = sum(1 for lr in report.layers
               if not by_construction(lr.index, instr[lr.index] if lr.index < len(instr) else "",
                                      n_base))
    out.append(f"  {same} of {len(report.layers)} layers identical: {constructed} by "
               f"construction, {rebuilt_same} of {runs} RUN-step layers")
    return out


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
    ap.add_argument("--compare", nargs=2, metavar="TAG",
                    help="only compare the layers of two existing images")
    a = ap.parse_args()
    client = engine.connect()
    if a.compare:
        print("\n".join(compare_layers(client, *a.compare, a.base_image)))
        return 0
    rows = []
    layer_lines: list[str] = []
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
            layer_lines += compare_layers(client, spec2.tag, "armvm-oe/bench:cold", a.base_image)
            layer_lines += compare_layers(client, "armvm-oe/bench:cold", "armvm-oe/bench:cli-cold",
                                          a.base_image)
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
    for line in layer_lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Post-build: collect the deploy artifacts, write ``build-report.json`` and
the short human summary. ``REPORT_SCHEMA`` is the JSON schema of the report
(docs/build.md prints it; the tests validate every report against it)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from armvm_oe.lib import atomic_write, sha256_file

REPORT_NAME = "build-report.json"
SCHEMA_VERSION = 1

_NULLSTR = {"type": ["string", "null"]}
REPORT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "armvm-oe build report",
    "type": "object",
    "required": ["schema", "status", "exit_code", "started", "finished", "seconds", "arch",
                 "machine", "config", "lock", "mode", "container", "versions", "scaleout",
                 "build_dir", "log", "deploy_dir", "artifacts", "wic", "verify", "avh",
                 "progress", "failure"],
    "properties": {
        "schema": {"const": SCHEMA_VERSION},
        "status": {"enum": ["succeeded", "failed", "interrupted"]},
        "exit_code": {"type": "integer"},
        "started": {"type": "string"}, "finished": {"type": "string"},
        "seconds": {"type": "number"},
        "arch": {"enum": ["aarch64", "arm", None]},
        "machine": _NULLSTR,
        "config": {"type": "object", "required": ["files", "target", "distro"],
                   "properties": {"files": {"type": "array", "items": {"type": "string"}},
                                  "target": {"type": "array", "items": {"type": "string"}},
                                  "distro": _NULLSTR}},
        "lock": {"type": "object", "required": ["files", "repos"],
                 "properties": {
                     "files": {"type": "array", "items": {"type": "string"}},
                     "repos": {"type": "array", "items": {
                         "type": "object", "required": ["id", "url", "commit", "head", "locked"],
                         "properties": {"id": {"type": "string"}, "url": _NULLSTR,
                                        "commit": _NULLSTR, "head": _NULLSTR,
                                        "locked": {"type": "boolean"}}}}}},
        "mode": {"enum": ["container", "host"]},
        "container": {"type": ["object", "null"], "required": ["image", "image_id"],
                      "properties": {"image": {"type": "string"}, "image_id": _NULLSTR}},
        "versions": {"type": "object", "required": ["armvm_oe", "kas", "bitbake"],
                     "properties": {"armvm_oe": {"type": "string"}, "kas": _NULLSTR,
                                    "bitbake": _NULLSTR}},
        "scaleout": {"type": "object"},
        "build_dir": {"type": "string"}, "log": {"type": "string"},
        "deploy_dir": _NULLSTR,
        "artifacts": {"type": "array", "items": {
            "type": "object", "required": ["name", "path", "kind", "size", "sha256"],
            "properties": {"name": {"type": "string"}, "path": {"type": "string"},
                           "kind": {"enum": ["wic", "bmap", "kernel", "grub-efi", "dtb",
                                             "rootfs", "manifest", "testdata", "other"]},
                           "size": {"type": "integer"},
                           "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                           "link_to": _NULLSTR}}},
        "wic": _NULLSTR,
        "verify": {"type": ["object", "null"], "required": ["status"],
                   "properties": {"status": {"enum": ["passed", "failed", "unavailable",
                                                      "error", "skipped"]}}},
        "avh": {"type": ["object", "null"]},
        "progress": {"type": "object"},
        "failure": {"type": ["object", "null"]},
        # only in check-report.json (armvm-oe build --check)
        "check": {"type": "array", "items": {
            "type": "object", "required": ["step", "ok", "detail"],
            "properties": {"step": {"type": "string"}, "ok": {"type": "boolean"},
                           "detail": {"type": "string"}}}},
    },
}


@dataclass
class Artifact:
    name: str
    path: str
    kind: str
    size: int
    sha256: str
    link_to: Optional[str] = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def kind_of(name: str) -> str:
    n = name.lower()
    if n.endswith(".wic.bmap"):
        return "bmap"
    if n.endswith(".wic") or ".wic." in n and not n.endswith(".bmap"):
        return "wic"
    if n.startswith("grub-efi-") or n.endswith(".efi"):
        return "grub-efi"
    if n.endswith(".dtb"):
        return "dtb"
    if n.endswith((".manifest", ".spdx.tar.zst", ".spdx.json")):
        return "manifest"
    if n.endswith(".testdata.json") or n.endswith(".qemuboot.conf"):
        return "testdata"
    if ".rootfs." in n and n.endswith((".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".ext4")):
        return "rootfs"
    base = n.split("-", 1)[0]
    if base in ("image", "zimage") or n.startswith(("image-", "zimage-")) or n in ("image", "zimage"):
        return "kernel"
    if n.startswith("modules-"):
        return "other"
    return "other"


def find_deploy_dir(build_dir: Path, machine: str | None) -> Optional[Path]:
    """<build>/tmp*/deploy/images/<machine> (poky uses tmp; other distros tmp-glibc)."""
    cands = sorted(Path(build_dir).glob("tmp*/deploy/images/" + (machine or "*")))
    cands = [c for c in cands if c.is_dir()]
    if not cands:
        return None
    plain = [c for c in cands if c.parent.parent.parent.name == "tmp"]
    return (plain or cands)[0]


def collect(deploy_dir: Path) -> list[Artifact]:
    """Every file in the deploy dir (recursively), symlinks as such, each
    real file hashed once."""
    out: list[Artifact] = []
    digests: dict[str, tuple[str, int]] = {}
    for root, dirs, files in os.walk(deploy_dir):
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            rel = str(p.relative_to(deploy_dir))
            real = p.resolve()
            if not real.is_file():
                continue
            key = str(real)
            if key not in digests:
                digests[key] = (sha256_file(real), real.stat().st_size)
            digest, size = digests[key]
            link = os.readlink(p) if p.is_symlink() else None
            out.append(Artifact(rel, str(p), kind_of(name), size, digest, link))
    return out


def pick_wic(artifacts: list[Artifact], target: str | None, machine: str | None) -> Optional[str]:
    """The image to verify: the stable-name link <target>-<machine>.rootfs.wic
    when present, else the newest-looking .wic."""
    wics = [a for a in artifacts if a.kind == "wic" and a.name.endswith(".wic")]
    if not wics:
        return None
    if target and machine:
        for stable in (f"{target}-{machine}.rootfs.wic", f"{target}-{machine}.wic"):
            for a in wics:
                if a.name == stable:
                    return a.path
    links = [a for a in wics if a.link_to]
    return (links or sorted(wics, key=lambda a: a.name))[-1].path


@dataclass
class Report:
    data: dict = field(default_factory=dict)

    def write(self, build_dir: Path, name: str = REPORT_NAME) -> Path:
        """``<build>/build-report.json`` (or check-report.json): a report the
        tool owns in the build directory it owns, replaced on every build by
        design, always by rename (lib.atomic_write: a reader never sees half
        of it). It cannot be an input: the inputs are kas files (.yml/.yaml/
        .json named by the user, refused unless they are kas configs) and
        the build's own tree."""
        path = Path(build_dir) / name
        atomic_write(path, json.dumps(self.data, indent=2, default=str) + "\n")
        return path


def summary_lines(rep: dict) -> list[str]:
    """The short human summary printed after the build."""
    lines = []
    st = rep["status"]
    kind = "check" if "check" in rep else "build"
    head = f"{kind} {st} in {_dur(rep['seconds'])}: {rep.get('machine') or '?'} ({rep['mode']})"
    lines.append(head)
    if kind == "check":
        for s in rep["check"]:
            lines.append(f"  {'ok  ' if s['ok'] else 'FAIL'} {s['step']}: {s['detail']}")
        lines.append(f"  report: {Path(rep['build_dir']) / 'check-report.json'}")
        lines.append(f"  log:    {rep['log']}")
        return lines
    prog = rep.get("progress") or {}
    if prog.get("summary"):
        s = prog["summary"]
        lines.append(f"  tasks: {s['attempted']} attempted, {s['not_rerun']} not rerun, "
                     f"{s['failed']} failed")
    if prog.get("sstate"):
        ss = prog["sstate"]
        lines.append(f"  sstate: {ss['wanted']} wanted, {ss['local']} local, {ss['mirrors']} "
                     f"from mirrors, {ss['missed']} missed ({ss['match_pct']}% match)")
    if rep.get("wic"):
        lines.append(f"  image:  {rep['wic']}")
    v = rep.get("verify") or {}
    if v:
        lines.append(f"  verify: {v.get('status')}" + (f" ({v['summary']})" if v.get("summary")
                                                     else ""))
    if rep.get("avh"):
        lines.append(f"  avh:    {rep['avh'].get('path')} ({rep['avh'].get('device')})")
    n = len(rep.get("artifacts") or [])
    if n:
        lines.append(f"  {n} artifact(s) with sha256 in {Path(rep['build_dir']) / REPORT_NAME}")
    else:
        lines.append(f"  report: {Path(rep['build_dir']) / REPORT_NAME}")
    lines.append(f"  log:    {rep['log']}")
    return lines


def _dur(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")

"""``armvm-oe export``: one image in each hypervisor's own disk format.

    from armvm_oe.export import export
    result = export("image.wic", "vhd", out="image.vhd")       # -> dict (the --json result)

The conversions are qemu-img's (Debian's qemu-utils), with the options each
target needs (docs/export.md says why, with the hypervisors' documentation):

=========  ==============================================================
qcow2      ``qemu-img convert -O qcow2 -c`` (compressed clusters)
vmdk       ``-O vmdk -o subformat=streamOptimized``
ova        that VMDK + an OVF descriptor (UEFI, the arch's guest type) +
           a SHA256 manifest, in a ustar archive, descriptor first
vhd        ``-O vpc -o subformat=fixed,force_size=on``, disk size rounded
           up to a whole MiB (Azure, Hyper-V)
vhdx       ``-O vhdx -o subformat=dynamic`` (Hyper-V)
raw        a sparse raw copy
raw.xz     xz (Python's lzma) + a ``.bmap`` (bmaptool's format 2.0)
=========  ==============================================================

Growing the disk (``size``, or the VHD's rounding) happens on a private
sparse raw copy whose backup GPT is then moved to the new end
(:mod:`armvm_oe.export.gptgrow`); the input is only ever read. Every output
is written in a temporary directory next to it and moved into place at the
end: an interrupted export leaves nothing behind, and an existing file is
replaced only with ``force``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from armvm_oe.errors import InputError, ProblemFound, UsageError
from armvm_oe.image import containers
from armvm_oe.image.source import copy_to_file, open_source, sniff
from armvm_oe.lib import check_output, place, require_tool

MiB = 1 << 20
SECTOR = 512
COMPRESSED = ("gzip", "bzip2", "zstd", "xz")
INPUT_SUFFIXES = (".rootfs.wic", ".wic", ".img", ".raw", ".qcow2", ".vmdk", ".vhdx", ".vhd",
                  ".ova")


@dataclass(frozen=True)
class Target:
    name: str
    suffix: str
    qemu_format: str | None          # qemu-img's -O (None: written by armvm-oe)
    options: str | None = None       # qemu-img's -o
    compress: bool = False           # qemu-img's -c
    align: int = SECTOR              # the disk size is rounded up to this
    libvirt: bool = False            # a libvirt domain can use the file as its disk
    why: str = ""


TARGETS = {
    "qcow2": Target("qcow2", ".qcow2", "qcow2", compress=True, libvirt=True,
                    why="libvirt/virt-install, OpenStack, Proxmox: compressed clusters"),
    "vmdk": Target("vmdk", ".vmdk", "vmdk", "subformat=streamOptimized",
                   why="VMware: streamOptimized is the VMDK that OVF/OVA and vSphere import"),
    "ova": Target("ova", ".ova", "vmdk", "subformat=streamOptimized",
                  why="VMware (ovftool, govc, vSphere): OVF descriptor + manifest + VMDK"),
    "vhd": Target("vhd", ".vhd", "vpc", "subformat=fixed,force_size=on", align=MiB,
                  libvirt=True, why="Azure, Hyper-V: fixed VHD, size a whole number of MiB"),
    "vhdx": Target("vhdx", ".vhdx", "vhdx", "subformat=dynamic",
                   why="Hyper-V: dynamic VHDX"),
    "raw": Target("raw", ".raw", "raw", libvirt=True,
                  why="AWS/GCP imports, dd: the plain disk (sparse)"),
    "raw.xz": Target("raw.xz", ".raw.xz", None,
                     why="flashing (bmaptool copy): xz + a block map"),
}

# the --json result (JSON Schema 2020-12)
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "armvm-oe export result",
    "type": "object",
    "required": ["input", "input_format", "format", "output", "virtual_size", "bytes",
                 "allocated_bytes", "seconds", "commands", "grown", "arch"],
    "properties": {
        "input": {"type": "string"},
        "input_format": {"type": "string"},
        "format": {"enum": list(TARGETS)},
        "output": {"type": "string"},
        "virtual_size": {"type": "integer", "minimum": 0},
        "bytes": {"type": "integer", "minimum": 0},
        "allocated_bytes": {"type": "integer", "minimum": 0},
        "seconds": {"type": "number", "minimum": 0},
        "commands": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "grown": {"oneOf": [{"type": "null"}, {
            "type": "object", "required": ["grown", "old_size", "new_size"],
            "properties": {"grown": {"type": "boolean"}, "old_size": {"type": "integer"},
                           "new_size": {"type": "integer"}, "backup_lba": {"type": "integer"},
                           "last_usable_lba": {"type": "integer"},
                           "rounded_to": {"type": "integer"}}}]},
        "arch": {"enum": [None, "aarch64", "arm"]},
        "bmap": {"type": "string"},
        "libvirt_xml": {"type": "string"},
        "libvirt_domain": {"type": "string"},
        "ovf": {"type": "object", "required": ["descriptor", "manifest", "disk"]},
    },
    "additionalProperties": False,
}


def parse_size(text: str) -> int:
    """``16G``, ``16GiB``, ``1024M``, ``4096K``, ``17179869184`` -> bytes
    (binary units, as qemu-img reads them)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(i?B)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise UsageError(f"--size {text!r} is not a size",
                         "sizes are a number with an optional K, M, G or T (binary units)",
                         "Give e.g. --size 16G or --size 1024M")
    n = int(m.group(1)) << (10 * "_KMGT".index(m.group(2).upper() or "_")) \
        if m.group(2) else int(m.group(1))
    if n <= 0:
        raise UsageError(f"--size {text!r} is not a positive size", None, "Give e.g. --size 16G")
    return n


def default_output(image: Path, target: Target, directory: Path | None = None) -> Path:
    name = image.name
    for comp in (".gz", ".bz2", ".zst", ".xz"):
        if name.endswith(comp):
            name = name[: -len(comp)]
            break
    for suffix in INPUT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return (directory or Path.cwd()) / (name + target.suffix)


def _input_kind(image: Path) -> tuple[str, str | None]:
    """(how to read it, qemu-img input format): ("qemu", fmt) for what
    qemu-img reads itself, ("stage", None) for compressed images and OVAs."""
    kind = containers.detect(image)
    if kind == "ova":
        return "stage", None
    if kind in containers.QEMU_FORMAT:
        return "qemu", containers.QEMU_FORMAT[kind]
    fmt = sniff(image)
    if fmt in COMPRESSED:
        return "stage", None
    return "qemu", fmt                       # raw or qcow2


def _check_input(image: Path) -> None:
    try:
        st = image.stat()
    except FileNotFoundError:
        raise InputError(f"{image} does not exist", None,
                         "Check the path (Yocto puts images in tmp/deploy/images/<machine>/)") \
            from None
    except OSError as err:
        raise InputError(f"{image} cannot be read", str(err), "Check the path") from None
    if not image.is_file():
        raise InputError(f"{image} is not a regular file", "export needs a disk image file",
                         "Pass the .wic/.qcow2/... file itself")
    if st.st_size == 0:
        raise InputError(f"{image} is empty (0 bytes)", "an interrupted build or copy leaves "
                         "zero-length files", "Rebuild or copy the image again")
    if not os.access(image, os.R_OK):
        raise InputError(f"{image} is not readable", "permission denied", "Check its permissions")


def _virtual_size(image: Path, fmt: str) -> int:
    if fmt == "raw":
        return image.stat().st_size
    return int(containers.qemu_info(image, fmt)["virtual-size"])


_PCT = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


def qemu_img_convert(src: Path, src_fmt: str, dst: Path, target: Target | None = None,
                     dst_fmt: str | None = None, progress: Callable[[float], None] | None = None
                     ) -> list[str]:
    """Run ``qemu-img convert`` (progress fraction to ``progress``); returns its argv."""
    exe = require_tool("qemu-img", "qemu-utils", "convert the disk image")
    argv = [exe, "convert", "-f", src_fmt, "-O", dst_fmt or target.qemu_format]
    if target is not None and target.compress:
        argv.append("-c")
    if target is not None and target.options:
        argv += ["-o", target.options]
    if progress:
        argv.append("-p")
    argv += [str(src), str(dst)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    buf = b""
    while True:
        chunk = proc.stdout.read1(4096) if hasattr(proc.stdout, "read1") else proc.stdout.read(4096)
        if not chunk:
            break
        buf = (buf + chunk)[-256:]
        found = _PCT.findall(buf)
        if found and progress:
            progress(float(found[-1]) / 100)
    err = proc.stderr.read().decode(errors="replace").strip()
    rc = proc.wait()
    if rc:
        raise ProblemFound(f"qemu-img convert to {dst_fmt or target.qemu_format} failed (exit {rc})",
                           err.splitlines()[-1] if err else "no message",
                           "Check free space in the output directory; run the same "
                           "qemu-img command by hand with --debug for details: "
                           + " ".join(argv))
    return argv


class _Bar:
    """One tqdm bar in bytes on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool, desc: str, total: int) -> None:
        self.bar = None
        if enabled:
            from armvm_oe.ui import progress
            self.bar = progress(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                desc=desc)
        self.total = total

    def bytes(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(max(0, done - self.bar.n))

    def fraction(self, f: float) -> None:
        self.bytes(int(f * self.total))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _write_text(work: Path, out: Path, text: str, force: bool) -> None:
    tmp = work / (out.name + ".part")
    tmp.write_text(text)
    place(tmp, out, force)


def _arch(image_for_arch: Path, given: str | None) -> str:
    if given and given != "auto":
        return given
    from armvm_oe.boottest.detect import guess_arch
    arch = None
    if sniff(image_for_arch) == "raw" and not containers.detect(image_for_arch):
        arch = guess_arch(image_for_arch)
    arch = arch or containers.guess_arch(image_for_arch)
    if not arch:
        raise UsageError(f"cannot tell the architecture of {image_for_arch}",
                         "no single \\EFI\\BOOT\\BOOTAA64.EFI or BOOTARM.EFI was found in its "
                         "EFI System Partition, and the OVF descriptor / libvirt domain need it",
                         "Give --arch aarch64 or --arch arm")
    return arch


def _domain_type(mode: str) -> str:
    if mode != "auto":
        return mode
    from armvm_oe.qemu.argv import kvm_usable
    return "kvm" if kvm_usable() else "qemu"


def export(image: str | os.PathLike, to: str, out: str | os.PathLike | None = None, *,
           size: int | None = None, force: bool = False, libvirt_xml: str | None = None,
           arch: str | None = None, firmware: tuple[Path, Path] | None = None,
           domain_type: str = "auto", show_progress: bool = False,
           log: Callable[[str], None] | None = None) -> dict:
    """Export ``image`` as ``to`` (a key of :data:`TARGETS`). Returns the
    result document (``--json``). ``libvirt_xml``: a path, ``"auto"`` (next
    to the output) or None. ``firmware``: (code, vars template) for an
    explicit loader in the domain instead of libvirt's automatic choice."""
    t0 = time.monotonic()
    if to not in TARGETS:
        raise UsageError(f"unknown export format {to!r}", None,
                         "Use one of: " + ", ".join(TARGETS))
    target = TARGETS[to]
    image = Path(image)
    _check_input(image)
    out = Path(out) if out else default_output(image, target)
    if out.is_dir():
        out = default_output(image, target, out)
    companions: dict[str, Path] = {}
    if to == "raw.xz":
        from armvm_oe.export.bmap import bmap_name
        companions["bmap"] = bmap_name(out)
    if libvirt_xml is not None:
        if not target.libvirt:
            why = {"ova": "QEMU writes to the disk of a running domain, and an OVA is an archive",
                   "raw.xz": "QEMU writes to the disk of a running domain, and an xz file "
                             "is compressed",
                   "vmdk": "QEMU writes to the disk of a running domain, and it cannot rewrite "
                           "an allocated cluster of a streamOptimized VMDK",
                   "vhdx": "libvirt has no 'vhdx' disk format (libvirt 9.0's virsh define "
                           "rejects it, although virt-xml-validate accepts it)"}[to]
            raise UsageError(f"a libvirt domain cannot use a {to} file as its disk", why,
                             "Export --to qcow2 (or raw/vhd) with --libvirt-xml")
        companions["libvirt_xml"] = (out.with_name(out.name + ".xml") if libvirt_xml == "auto"
                                     else Path(libvirt_xml))
    # every output: never an input (the image, the firmware files the domain
    # names; samefile, so hard links and symlinks count, even with --force),
    # never an existing file without --force, never a directory or a path
    # under a file (lib.check_output: one rule for every command)
    if not out.parent.exists() and not out.parent.is_symlink():
        raise UsageError(f"the output directory {out.parent} does not exist", None,
                         "Create it, or give -o a path in an existing directory")
    inputs = [image, *(firmware or ())]
    names = {"bmap": "block map", "libvirt_xml": "libvirt domain"}
    for key, path in [("output", out), *companions.items()]:
        check_output(path, inputs, force, names.get(key, "output"))
    if len({os.path.abspath(p) for p in [out, *companions.values()]}) < 1 + len(companions):
        raise UsageError(f"two outputs of this export are the same file ({out})", None,
                         "Give --libvirt-xml another path")

    how, in_fmt = _input_kind(image)
    if how == "qemu":
        require_tool("qemu-img", "qemu-utils", "read and convert disk images")
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    result: dict = {"input": str(image), "input_format": in_fmt or sniff(image), "format": to,
                    "output": str(out), "grown": None, "commands": []}
    note = log or (lambda _m: None)
    try:
        src, src_fmt = image, in_fmt
        vsize = _virtual_size(image, in_fmt) if how == "qemu" else None
        need_arch = to == "ova" or libvirt_xml is not None

        def stage() -> Path:
            staged = work / "disk.raw"
            if how == "stage":
                note(f"unpacking {image.name} to a sparse raw copy")
                with open_source(image) as s, open(staged, "wb") as f:
                    bar = _Bar(show_progress, "unpack", s.size)
                    try:
                        copy_to_file(s, f, bar.bytes)
                    finally:
                        bar.close()
            else:
                bar = _Bar(show_progress, "copy", vsize or 0)
                try:
                    result["commands"].append(qemu_img_convert(
                        image, in_fmt, staged, dst_fmt="raw",
                        progress=bar.fraction if show_progress else None))
                finally:
                    bar.close()
            return staged

        want = size
        if how == "stage" or (want is not None and want != vsize) or \
                (vsize is not None and vsize % target.align):
            src, src_fmt = stage(), "raw"
            vsize = src.stat().st_size
        _require_gpt(src, src_fmt, image)
        new_size = max(want or 0, vsize)
        if want is not None and want < vsize:
            raise InputError(f"--size {want} bytes is smaller than the image ({vsize} bytes)",
                             "shrinking would cut off partitions and the backup GPT",
                             "Give a size at least as large as the image")
        new_size = -(-new_size // target.align) * target.align
        if new_size != vsize:
            from armvm_oe.export.gptgrow import grow
            result["grown"] = grow(src, new_size)
            if want is None or new_size != want:
                result["grown"]["rounded_to"] = target.align
            note(f"disk grown from {vsize} to {new_size} bytes; backup GPT moved to the new end")
            vsize = new_size
        result["virtual_size"] = vsize
        arch_name = _arch(src, arch) if need_arch else arch if arch not in (None, "auto") \
            else None
        result["arch"] = arch_name
        tmp_out = work / (out.name + ".part")

        if to in ("qcow2", "vmdk", "vhd", "vhdx") or (to == "raw" and src_fmt != "raw") \
                or (to == "raw" and src == image):
            bar = _Bar(show_progress, to, vsize)
            try:
                result["commands"].append(qemu_img_convert(
                    src, src_fmt, tmp_out, target,
                    progress=bar.fraction if show_progress else None))
            finally:
                bar.close()
        elif to == "raw":
            os.replace(src, tmp_out)           # the staged copy is the result
        elif to == "raw.xz":
            from armvm_oe.export.bmap import compress_with_bmap
            if src_fmt != "raw":
                src = stage()
            bar = _Bar(show_progress, "xz", vsize)
            try:
                with open(tmp_out, "wb") as f:
                    bmap_text = compress_with_bmap(src, f, progress=bar.bytes)
                    f.flush()
                    os.fsync(f.fileno())
            finally:
                bar.close()
        elif to == "ova":
            from armvm_oe.export import ova
            name = re.sub(r"[^A-Za-z0-9._-]+", "-", out.name[:-4] if out.name.endswith(".ova")
                          else out.name) or "armvm"
            disk_name = f"{name}-disk1.vmdk"
            vmdk = work / disk_name
            bar = _Bar(show_progress, "vmdk", vsize)
            try:
                result["commands"].append(qemu_img_convert(
                    src, src_fmt, vmdk, target, progress=bar.fraction if show_progress else None))
            finally:
                bar.close()
            populated = _allocated(src) if src_fmt == "raw" else None
            ovf = ova.ovf_descriptor(name, arch_name, disk_name, vmdk.stat().st_size, vsize,
                                     populated)
            ova.pack(tmp_out, name, ovf, vmdk, disk_name)
            result["ovf"] = {"descriptor": f"{name}.ovf", "manifest": f"{name}.mf",
                             "disk": disk_name}
        place(tmp_out, out, force)
        if "bmap" in companions:
            _write_text(work, companions["bmap"], bmap_text, force)
            result["bmap"] = str(companions["bmap"])
        if "libvirt_xml" in companions:
            from armvm_oe.export.libvirt import domain_xml
            code, vars_t = firmware if firmware else (None, None)
            dname = re.sub(r"[^A-Za-z0-9._-]+", "-", out.name.split(".")[0]) or "armvm"
            xml = domain_xml(dname, arch_name, out, to, domain_type=_domain_type(domain_type),
                             loader=code, vars_template=vars_t)
            _write_text(work, companions["libvirt_xml"], xml, force)
            result["libvirt_xml"] = str(companions["libvirt_xml"])
            result["libvirt_domain"] = dname
    finally:
        shutil.rmtree(work, ignore_errors=True)
    st = out.stat()
    result["bytes"] = st.st_size
    result["allocated_bytes"] = st.st_blocks * 512
    result["seconds"] = round(time.monotonic() - t0, 2)
    return result


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def _require_gpt(src: Path, fmt: str, image: Path) -> None:
    """Refuse what is plainly not a disk image before converting it (raw
    only: other formats were already read by qemu-img info)."""
    if fmt != "raw":
        return
    with open(src, "rb") as f:
        f.seek(512)
        lba1 = f.read(8)
        f.seek(0)
        mbr = f.read(512)
    if lba1 != b"EFI PART" and mbr[510:512] != b"\x55\xaa":
        raise InputError(f"{image} is not a disk image",
                         "it has neither a GPT header nor a partition table",
                         "Give a built GPT disk image (.wic), compressed or qcow2")

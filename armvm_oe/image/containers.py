"""Hypervisor disk containers that ``armvm-oe export`` writes, read back by
``verify`` and ``test``: VMDK, VHD (fixed and dynamic), VHDX and OVA.

    from armvm_oe.image.containers import detect, open_container, bootable
    detect("disk.vhd")                  # "vpc-fixed" | "vpc" | "vmdk" | "vhdx" | "ova" | None
    src = open_container(path, kind)    # a read-only Source of the disk inside
    with bootable("vm.ova") as (disk, qemu_fmt):   # what QEMU can attach directly
        ...

Detection is by content, never by file name. A fixed VHD is the raw disk
followed by a 512-byte footer, so it is read in place (the footer is left
out of the disk); the other formats go through ``qemu-img convert`` with the
format named explicitly (no probing), after ``qemu-img info`` has shown that
the file has no backing file and (VMDK) no extent outside itself: a disk
container must never make armvm-oe read some other file on the host. An OVA
is a tar archive: the disk its OVF descriptor references is unpacked to a
temporary directory (members are never written outside it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

from armvm_oe.errors import InputError, ToolMissing
from armvm_oe.image.source import (FileSource, QemuImgSource, SliceSource, Source, copy_to_file,
                                   open_source, sniff)

VHD_FOOTER = 512
VHD_COOKIE = b"conectix"
VHD_TYPES = {2: "fixed", 3: "dynamic", 4: "differencing"}
QEMU_FORMAT = {"vmdk": "vmdk", "vhdx": "vhdx", "vpc": "vpc", "vpc-fixed": "vpc"}
NAMES = {"vmdk": "VMDK", "vhdx": "VHDX", "vpc": "dynamic VHD", "vpc-fixed": "fixed VHD",
         "ova": "OVA"}
MAX_OVF_BYTES = 4 << 20


def _vhd_footer(path: Path, size: int) -> bytes | None:
    if size < VHD_FOOTER:
        return None
    with open(path, "rb") as f:
        f.seek(size - VHD_FOOTER)
        foot = f.read(VHD_FOOTER)
    return foot if foot[:8] == VHD_COOKIE else None


def detect(path: str | os.PathLike) -> str | None:
    """The container kind of ``path`` by content, or None (raw or other)."""
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(512)
    if head[:4] == b"KDMV":
        return "vmdk"
    if head[:21] == b"# Disk DescriptorFile":
        return "vmdk"                  # a text descriptor: refused when opened (extents)
    if head[:8] == b"vhdxfile":
        return "vhdx"
    if head[:8] == VHD_COOKIE:         # dynamic/differencing VHD: footer copy at offset 0
        return "vpc"
    foot = _vhd_footer(p, size)
    if foot is not None:
        disk_type = struct.unpack_from(">I", foot, 60)[0]
        return "vpc-fixed" if disk_type == 2 else "vpc"
    if len(head) >= 262 and head[257:262] == b"ustar" and _tar_has_ovf(p):
        return "ova"
    return None


def _tar_has_ovf(path: Path) -> bool:
    try:
        with tarfile.open(path, "r:") as tar:
            first = tar.next()
            return first is not None and first.name.lower().endswith(".ovf")
    except (tarfile.TarError, OSError):
        return False


def vhd_disk_size(path: Path) -> int:
    """The disk size a fixed VHD's footer states (current size, bytes)."""
    foot = _vhd_footer(path, path.stat().st_size)
    if foot is None:
        raise InputError(f"{path} has no VHD footer", None, "Check the file")
    return struct.unpack_from(">Q", foot, 48)[0]


def qemu_info(path: Path, fmt: str) -> dict:
    """``qemu-img info`` of ``path`` read as ``fmt``; refuses files that
    would make QEMU open another file (backing file, external extent)."""
    exe = shutil.which("qemu-img")
    if not exe:
        raise ToolMissing("qemu-img", "qemu-utils", f"read the {fmt} image {path}")
    proc = subprocess.run([exe, "info", "--output=json", "-f", fmt, str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()
        raise InputError(f"qemu-img could not read {path} as {fmt}",
                         last[-1] if last else "no reason given",
                         "Check the file with 'qemu-img check', or export it again")
    info = json.loads(proc.stdout)
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise InputError(f"{path} refers to a backing file "
                         f"({info.get('backing-filename') or info.get('full-backing-filename')})",
                         "armvm-oe reads only self-contained images, never another file a "
                         "container points to", "Flatten it first: qemu-img convert -O raw")
    extents = (info.get("format-specific") or {}).get("data", {}).get("extents") or []
    me = os.path.realpath(path)
    for ext in extents:
        name = ext.get("filename")
        if name and os.path.realpath(name) != me:
            raise InputError(f"{path} is a VMDK whose extent {name} is another file",
                             "armvm-oe reads only self-contained (monolithic or "
                             "streamOptimized) VMDKs, never other files a descriptor names",
                             "Convert it to one file: qemu-img convert -O vmdk -o "
                             "subformat=streamOptimized")
    return info


class FixedVhdSource(FileSource):
    """A fixed VHD read in place: the disk is the file minus its footer."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "vhd")
        size = vhd_disk_size(Path(path))
        if size > self._size - VHD_FOOTER:
            avail = self._size - VHD_FOOTER
            self.close()
            raise InputError(f"{path}: the fixed VHD's footer states a disk of {size} bytes, "
                             f"but only {avail} precede the footer",
                             "the file is truncated", "Export or download it again")
        self._size = size


class _OwnedSource(SliceSource):
    """A source whose temporary directory goes away with it."""

    def __init__(self, inner: Source, tmpdir: str, name: str, fmt: str) -> None:
        super().__init__(inner, 0, inner.size, name=name)
        self.inner = inner
        self.format = fmt
        self._tmpdir = tmpdir

    def close(self) -> None:
        self.inner.close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)


def open_container(path: str | os.PathLike, kind: str) -> Source:
    """A read-only :class:`Source` of the disk inside container ``kind``."""
    p = Path(path)
    if kind == "vpc-fixed":
        return FixedVhdSource(p)
    if kind in QEMU_FORMAT:
        qemu_info(p, QEMU_FORMAT[kind])
        src = QemuImgSource(p, QEMU_FORMAT[kind])
        src.format = {"vpc": "vhd"}.get(kind, kind)
        return src
    if kind == "ova":
        tmp = tempfile.mkdtemp(prefix="armvm-ova-")
        try:
            disk = unpack_ova_disk(p, Path(tmp))
            inner = open_source(disk)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return _OwnedSource(inner, tmp, str(p), "ova")
    raise ValueError(kind)


def ova_disk_name(ovf_xml: bytes) -> str:
    """The file name of the first disk an OVF descriptor references."""
    try:
        root = ET.fromstring(ovf_xml)
    except ET.ParseError as err:
        raise InputError("the OVA's OVF descriptor is not well-formed XML", str(err),
                         "Export the OVA again") from None
    files = {}
    for el in root.iter():
        if el.tag.endswith("}File") or el.tag == "File":
            attrs = {k.split("}")[-1]: v for k, v in el.attrib.items()}
            files[attrs.get("id")] = attrs.get("href")
    for el in root.iter():
        if el.tag.endswith("}Disk") or el.tag == "Disk":
            attrs = {k.split("}")[-1]: v for k, v in el.attrib.items()}
            href = files.get(attrs.get("fileRef"))
            if href:
                return href
    raise InputError("the OVA's OVF descriptor references no disk file", None,
                     "Export the OVA again")


def unpack_ova_disk(path: Path, dest: Path) -> Path:
    """Unpack the disk of the OVA ``path`` into ``dest`` (only that member,
    only as a plain file named by its base name)."""
    try:
        with tarfile.open(path, "r:") as tar:
            first = tar.next()
            if first is None or not first.name.lower().endswith(".ovf") or not first.isfile():
                raise InputError(f"{path} is not an OVA", "its first member is not an OVF "
                                 "descriptor (the OVF specification puts it first)",
                                 "Export the OVA again")
            if first.size > MAX_OVF_BYTES:
                raise InputError(f"{path}: the OVF descriptor is {first.size} bytes", None,
                                 "Export the OVA again")
            href = ova_disk_name(tar.extractfile(first).read())
            for member in tar:
                if member.name == href or os.path.basename(member.name) == href:
                    if not member.isfile():
                        raise InputError(f"{path}: the disk {href} is not a regular file "
                                         "in the archive", None, "Export the OVA again")
                    out = dest / os.path.basename(href)
                    if member.issparse():
                        _unpack_sparse(tar, member, out, path)
                        return out
                    with tar.extractfile(member) as fin, open(out, "wb") as fout:
                        shutil.copyfileobj(fin, fout, 4 << 20)
                    return out
    except tarfile.TarError as err:
        raise InputError(f"{path} is not a readable OVA (tar) archive", str(err),
                         "Export the OVA again") from None
    raise InputError(f"{path}: the disk {href} the OVF descriptor names is not in the archive",
                     None, "Export the OVA again")


MAX_SPARSE_DISK = 1 << 42         # 4 TiB, as for compressed images


def _unpack_sparse(tar: tarfile.TarFile, member: tarfile.TarInfo, out: Path,
                   path: Path) -> None:
    """A GNU/PAX sparse member written as a sparse file: only its data blocks
    are copied (issue 16: tarfile's reader fills the holes with zeros, so a
    36 MB OVA declaring an 8 GiB disk wrote 8 GiB, 23 s of CPU; a declared
    terabyte would fill the disk)."""
    if member.size > MAX_SPARSE_DISK:
        raise InputError(f"{path}: the disk member declares {member.size} bytes", "that is "
                         "larger than any disk image armvm-oe accepts", "Export the OVA again")
    raw = tar.fileobj
    pos = member.offset_data
    with open(out, "wb") as fout:
        for off, n in member.sparse or ():
            if off < 0 or n < 0 or off + n > member.size:
                raise InputError(f"{path}: the disk member's sparse map is inconsistent", None,
                                 "Export the OVA again")
            raw.seek(pos)
            left = n
            fout.seek(off)
            while left:
                block = raw.read(min(left, 4 << 20))
                if not block:
                    raise InputError(f"{path}: the archive ends inside the disk member", None,
                                     "Copy or export the OVA again")
                fout.write(block)
                left -= len(block)
            pos += n
        fout.truncate(member.size)


def qemu_format(path: str | os.PathLike) -> str:
    """The format QEMU must be told for ``path`` (raw, qcow2, vmdk, vhdx, vpc)."""
    if sniff(path) == "qcow2":
        return "qcow2"
    kind = detect(path)
    return QEMU_FORMAT.get(kind or "", "raw")


@contextlib.contextmanager
def bootable(path: str | os.PathLike) -> Iterator[tuple[Path, str]]:
    """(disk, qemu format) that QEMU can attach for ``path``: the file
    itself for raw/qcow2/VMDK/VHD/VHDX, the disk unpacked from an OVA, a
    sparse raw copy of a compressed image; temporaries removed on exit."""
    p = Path(path)
    kind = detect(p)
    fmt = sniff(p)
    if kind in QEMU_FORMAT:
        qemu_info(p, QEMU_FORMAT[kind])
        yield p, QEMU_FORMAT[kind]
        return
    if fmt in ("raw", "qcow2") and kind is None:
        yield p, fmt
        return
    tmp = Path(tempfile.mkdtemp(prefix="armvm-boot-"))
    try:
        if kind == "ova":
            disk = unpack_ova_disk(p, tmp)
            with bootable(disk) as inner:
                yield inner
        else:                           # gzip/bzip2/zstd/xz: a sparse raw copy
            out = tmp / (p.name.rsplit(".", 1)[0] or "disk")
            with open_source(p) as src, open(out, "wb") as f:
                copy_to_file(src, f)
            yield out, "raw"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def guess_arch(path: str | os.PathLike) -> str | None:
    """"aarch64"/"arm" from the removable-media file on the ESP of any image
    :func:`armvm_oe.image.open_image` reads, or None."""
    from armvm_oe.image import FatError, open_image

    names = {"aarch64": "EFI/BOOT/BOOTAA64.EFI", "arm": "EFI/BOOT/BOOTARM.EFI"}
    with open_image(path) as img:
        esp = img.esp()
        if esp is None:
            return None
        try:
            fs = img.fat(esp)
            found = [a for a, n in names.items() if fs.lookup(n) is not None]
        except FatError:
            return None
    return found[0] if len(found) == 1 else None

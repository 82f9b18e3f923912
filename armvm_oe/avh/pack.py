"""``armvm-oe avh pack``: build an Arm Virtual Hardware Linux firmware package.

The zip holds ``Info.plist`` (or ``Info.json``), ``kernel`` (uncompressed
arm64 ``Image``), ``devicetree`` (DTB) and the device's storage files, in that
order. It is reproducible: fixed member order, fixed timestamps
(``SOURCE_DATE_EPOCH`` when set, else 1980-01-01), fixed permissions (0644,
Unix), fixed compression level, and a default ``UniqueIdentifier`` derived
from the content, so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import plistlib
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from armvm_oe.avh import formats
from armvm_oe.avh.devices import Device
from armvm_oe.errors import InputError, UsageError
from armvm_oe.lib import atomic_output, check_output, regular_file

INFO_PLIST = "Info.plist"
INFO_JSON = "Info.json"
KERNEL = "kernel"
DEVICETREE = "devicetree"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 6            # zlib's default; members written with open("w") use it too
FILE_MODE = 0o100644
CHUNK = 1 << 20
MAX_KERNEL = 512 << 20        # a gzip'd kernel may not inflate beyond this
MAX_DTB = 16 << 20


@dataclass
class PackResult:
    path: Path
    sha256: str
    size: int
    info: dict
    members: list[dict] = field(default_factory=list)
    kernel: dict = field(default_factory=dict)
    devicetree: dict = field(default_factory=dict)
    kernel_was_gzip: bool = False

    def as_dict(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "size": self.size,
                "info": self.info, "members": self.members, "kernel": self.kernel,
                "devicetree": self.devicetree, "kernel_was_gzip": self.kernel_was_gzip}


def zip_date_time() -> tuple:
    """The fixed member timestamp: SOURCE_DATE_EPOCH (UTC, clamped to the zip
    range 1980..2107) or 1980-01-01 00:00:00."""
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde and sde.strip().isdigit():
        t = time.gmtime(int(sde))
        if t.tm_year < 1980:
            return ZIP_EPOCH
        if t.tm_year > 2107:
            return (2107, 12, 31, 23, 59, 58)
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec - t.tm_sec % 2)
    return ZIP_EPOCH


def _zinfo(name: str, date_time: tuple) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time)
    zi.compress_type = zipfile.ZIP_DEFLATED
    zi.create_system = 3                      # Unix, so external_attr is a mode
    zi.external_attr = FILE_MODE << 16
    return zi


def _err(path: Path, exc: formats.FormatError) -> InputError:
    return InputError(f"{path}: {exc.what}", None, exc.fix)


def read_kernel(path: Path, max_size: int = MAX_KERNEL) -> tuple[bytes, formats.KernelInfo, bool]:
    """The kernel bytes (gunzipped if needed), its header info, was-gzip."""
    regular_file(path, "The kernel", "Pass the deploy dir's Image (arch/arm64/boot/Image)")
    try:
        if Path(path).stat().st_size > max_size:
            raise InputError(f"The kernel {path} is larger than {max_size >> 20} MiB", None,
                             "Pass the deploy dir's Image (arch/arm64/boot/Image)")
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read the kernel {path}", exc.strerror,
                         "Pass the deploy dir's Image (arch/arm64/boot/Image)") from None
    was_gzip = formats.is_gzip(raw[:2])
    try:
        data = formats.gunzip_bounded(raw, max_size) if was_gzip else raw
        info = formats.check_arm64_image(data[:4096], len(data))
    except formats.FormatError as exc:
        raise _err(path, exc) from None
    return data, info, was_gzip


def read_dtb(path: Path) -> tuple[bytes, formats.DtbInfo]:
    regular_file(path, "The devicetree", "Pass a compiled .dtb")
    try:
        size = Path(path).stat().st_size
        if size > MAX_DTB:
            raise InputError(f"{path}: {size} bytes is far too large for a devicetree blob",
                             None, "Pass a compiled .dtb")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read the devicetree {path}", exc.strerror,
                         "Pass a compiled .dtb") from None
    try:
        return data, formats.check_dtb(data)
    except formats.FormatError as exc:
        raise _err(path, exc) from None


def content_id(kernel: bytes, dtb: bytes, storage: dict[str, Path]) -> str:
    """sha256 over kernel, devicetree and storage files (names and bytes)."""
    h = hashlib.sha256()
    for name, data in ((KERNEL, kernel), (DEVICETREE, dtb)):
        h.update(name.encode() + b"\0" + len(data).to_bytes(8, "big"))
        h.update(data)
    for name in sorted(storage):
        h.update(name.encode() + b"\0" + Path(storage[name]).stat().st_size.to_bytes(8, "big"))
        with open(storage[name], "rb") as f:
            while block := f.read(CHUNK):
                h.update(block)
    return h.hexdigest()


def make_info(device: Device, version: str, build: str, unique_id: str | None,
              digest: str, bootargs_normal: str | None = None,
              bootargs_restore: str | None = None, type_: str = "iot") -> dict:
    info = {"Type": type_,
            "UniqueIdentifier": unique_id or f"{build} {version} on {device.name} "
                                             f"({digest[:12]})",
            "DeviceIdentifier": device.name, "Version": version, "Build": build}
    bootargs = {}
    if bootargs_normal is not None:
        bootargs["normal"] = bootargs_normal
    if bootargs_restore is not None:
        bootargs["restore"] = bootargs_restore
    if bootargs:
        info["bootargs"] = bootargs
    errors, _ = formats.check_info(info, "Info")
    if errors:
        raise UsageError("The package metadata is incomplete: " + "; ".join(errors), None,
                         "Pass --version and --build with non-empty values")
    return info


def assign_storage(device: Device, given: list[str]) -> dict[str, Path]:
    """``--storage FILE`` (device with one storage file) or ``NAME=FILE`` ->
    {storage name: path}; every storage file of the device must be given."""
    out: dict[str, Path] = {}
    for item in given:
        name, sep, path = item.partition("=")
        if not sep:
            if len(device.storage) != 1:
                raise UsageError(f"--storage {item}: device '{device.name}' has several storage "
                                 f"files ({', '.join(device.storage)})", None,
                                 "Name each one: --storage NAME=FILE")
            name, path = device.storage[0], item
        if name not in device.storage:
            raise UsageError(f"--storage {item}: '{name}' is not a storage file of device "
                             f"'{device.name}' ({', '.join(device.storage)})", None,
                             "Use the device's storage names, or --device-def NAME=STORAGE to define it")
        out[name] = Path(path)
    missing = [s for s in device.storage if s not in out]
    if missing:
        raise UsageError(f"Device '{device.name}' needs the storage file(s) "
                         f"{', '.join(missing)}",
                         "AVH boots the device from them (for rpi4b 'nand' is the whole SD "
                         "card image, e.g. the build's .wic)",
                         "Pass --storage FILE (or NAME=FILE for each)")
    for name, p in out.items():
        regular_file(p, f"The storage file ({name})",
                     "Pass the disk image, e.g. the build's .rootfs.wic")
    return out


def pack(out: Path, kernel: Path, dtb: Path, device: Device, storage: dict[str, Path], *,
         version: str, build: str, unique_id: str | None = None,
         bootargs_normal: str | None = None, bootargs_restore: str | None = None,
         info_json: bool = False, on_progress=None, force: bool = False) -> PackResult:
    """Write the package to ``out`` (atomically: temp file + rename) and
    return what it holds. ``out`` may never be one of the inputs, and an
    existing ``out`` is replaced only with ``force``."""
    out = check_output(out, [kernel, dtb, *storage.values()], force, "package")
    kdata, kinfo, was_gzip = read_kernel(kernel)
    ddata, dinfo = read_dtb(dtb)
    digest = content_id(kdata, ddata, storage)
    info = make_info(device, version, build, unique_id, digest, bootargs_normal,
                     bootargs_restore)
    if info_json:
        info_name, info_bytes = INFO_JSON, (json.dumps(info, indent=2, sort_keys=True)
                                            + "\n").encode()
    else:
        info_name, info_bytes = INFO_PLIST, plistlib.dumps(info, fmt=plistlib.FMT_XML,
                                                           sort_keys=True)
    dt = zip_date_time()
    members = []
    try:
        with atomic_output(out, force) as tmp, \
                zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED,
                                compresslevel=COMPRESS_LEVEL, allowZip64=True) as zf:
            for name, data in ((info_name, info_bytes), (KERNEL, kdata), (DEVICETREE, ddata)):
                zf.writestr(_zinfo(name, dt), data, compresslevel=COMPRESS_LEVEL)
                members.append({"name": name, "size": len(data),
                                "sha256": hashlib.sha256(data).hexdigest()})
            for name in device.storage:
                src = storage[name]
                h = hashlib.sha256()
                size = 0
                zi = _zinfo(name, dt)
                with open(src, "rb") as f, zf.open(zi, "w", force_zip64=True) as dst:
                    while block := f.read(CHUNK):
                        dst.write(block)
                        h.update(block)
                        size += len(block)
                        if on_progress:
                            on_progress(name, len(block))
                members.append({"name": name, "size": size, "sha256": h.hexdigest(),
                                "source": str(src)})
    except OSError as err:
        raise UsageError(f"The package {out} could not be written", err.strerror or str(err),
                         "Check the free space and permissions of its directory") from None
    from armvm_oe.lib import sha256_file
    return PackResult(out, sha256_file(out), out.stat().st_size, info, members,
                      kinfo.as_dict(), dinfo.as_dict(), was_gzip)


__all__ = ["pack", "PackResult", "read_kernel", "read_dtb", "make_info", "assign_storage",
           "zip_date_time", "INFO_PLIST", "INFO_JSON", "KERNEL", "DEVICETREE"]

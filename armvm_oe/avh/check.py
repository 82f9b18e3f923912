"""``armvm-oe avh check``: validate any AVH Linux firmware package, ours or
foreign, without trusting it.

* Names: absolute paths, drive letters, ``..`` components, backslashes, NUL
  bytes and duplicate names are refused (zip-slip), and so are symlink,
  device, FIFO and socket members; nothing is ever extracted to disk.
* Bombs: the declared total uncompressed size and every member's ratio are
  bounded before anything is decompressed; overlapping members (the
  non-recursive "overlapped files" bomb) are refused; members are then read
  streamed in 1 MiB blocks and counted, so a header that lies about its size
  cannot make us read more than the limits (zipfile stops at the declared size
  and the CRC check catches the lie).
* Content: Info.plist or Info.json (exactly one) with the AVH keys and types,
  ``kernel`` an uncompressed little-endian arm64 Image, ``devicetree`` a sane
  FDT, and the storage files of the DeviceIdentifier's model.
"""

from __future__ import annotations

import posixpath
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from armvm_oe.avh import formats
from armvm_oe.avh.devices import Device
from armvm_oe.avh.pack import DEVICETREE, INFO_JSON, INFO_PLIST, KERNEL
from armvm_oe.errors import InputError
from armvm_oe.lib import regular_file

CHUNK = 1 << 20
MAX_INFO = 1 << 20
MAX_KERNEL = 512 << 20
MAX_DTB = 16 << 20


@dataclass
class Limits:
    max_total: int = 32 << 30        # sum of uncompressed sizes (declared and read)
    max_ratio: float = 1000.0        # uncompressed / compressed, per member above 1 MiB
    max_members: int = 64
    # bytes inflated in all (Info, kernel and DTB, always read within their
    # own caps, count too) while verifying the storage members' CRCs: a
    # storage file declared larger than what is left is read for its first
    # CHUNK only (a warning), so the work is bounded in bytes, not by the
    # ratio limit alone (a 30 GiB sparse disk image deflates below 1000:1)
    max_read: int = 4 << 30


@dataclass
class Problem:
    severity: str        # error | warn
    code: str
    message: str
    member: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class CheckReport:
    path: str
    problems: list[Problem] = field(default_factory=list)
    members: list[dict] = field(default_factory=list)
    info_member: str | None = None
    info: dict | None = None
    device: str | None = None
    kernel: dict | None = None
    devicetree: dict | None = None
    total_uncompressed: int = 0
    inflated: int = 0                 # bytes actually decompressed (every member)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def add(self, severity: str, code: str, message: str, member: str | None = None) -> None:
        self.problems.append(Problem(severity, code, message, member))

    def as_dict(self) -> dict:
        return {"schema": 1, "path": self.path, "ok": self.ok, "device": self.device,
                "info_member": self.info_member, "info": self.info,
                "kernel": self.kernel, "devicetree": self.devicetree,
                "total_uncompressed": self.total_uncompressed,
                "inflated_bytes": self.inflated, "members": self.members,
                "problems": [p.as_dict() for p in self.problems]}


def unsafe_name(name: str) -> str | None:
    """Why a member name could escape an extraction directory, else None (pure)."""
    if "\0" in name:
        return "contains a NUL byte"
    if "\\" in name:
        return "contains a backslash (a Windows path separator)"
    if name.startswith("/"):
        return "is an absolute path"
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        return "starts with a drive letter"
    parts = name.split("/")
    if ".." in parts:
        return "has a '..' component (path traversal)"
    if posixpath.normpath(name).startswith("../"):
        return "resolves outside the package"
    return None


def unsafe_type(zi: zipfile.ZipInfo) -> str | None:
    """Why a member is not a plain file or directory (Unix mode in the
    external attributes), else None: a symlink (``lnk -> /tmp`` followed by
    ``lnk/file`` writes outside on extraction), a device, FIFO or socket. A
    hard link has no zip form of its own: two entries sharing one local
    header, which the overlap check refuses."""
    import stat

    if zi.create_system != 3:
        return None
    mode = (zi.external_attr >> 16) & 0xFFFF
    kind = stat.S_IFMT(mode)
    if kind in (0, stat.S_IFREG, stat.S_IFDIR):
        return None
    names = {stat.S_IFLNK: "a symbolic link", stat.S_IFCHR: "a character device",
             stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO",
             stat.S_IFSOCK: "a socket"}
    return f"is {names.get(kind, f'of file type 0o{kind:o}')}, not a regular file"


def _local_header_len(fp, offset: int) -> int | None:
    fp.seek(offset)
    head = fp.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack_from("<HH", head, 26)
    return 30 + name_len + extra_len


def _read_member(zf: zipfile.ZipFile, zi: zipfile.ZipInfo, report: CheckReport, limit: int,
                 budget: list[int], keep: int, stop: int | None = None) -> bytes | None:
    """Stream a member, counting bytes against its own limit and the total
    budget; return the first ``keep`` bytes (all of them if ``keep`` < 0).
    ``stop``: read only that many bytes (no CRC check, no error)."""
    kept = bytearray()
    n = 0
    try:
        with zf.open(zi) as f:
            while stop is None or n < stop:
                block = f.read(CHUNK)
                if not block:
                    break
                n += len(block)
                report.inflated += len(block)
                budget[0] -= len(block)
                if n > limit or budget[0] < 0:
                    report.add("error", "bomb", f"'{zi.filename}' inflates beyond the limit "
                               f"({min(limit, n) >> 20} MiB read); not read further",
                               zi.filename)
                    return None
                if keep < 0 or len(kept) < keep:
                    kept += block if keep < 0 else block[:keep - len(kept)]
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        report.add("error", "corrupt-member", f"'{zi.filename}' cannot be read: {exc} "
                   "(a size/CRC that does not match the data is corruption or a bomb)",
                   zi.filename)
        return None
    return bytes(kept)


def check_package(path: Path, devices: dict[str, Device], limits: Limits | None = None,
                  device: str | None = None) -> CheckReport:
    """Validate the package at ``path``. ``device`` overrides DeviceIdentifier
    for the storage check. Raises InputError only when the file is not a zip."""
    limits = limits or Limits()
    path = Path(path)
    report = CheckReport(str(path))
    regular_file(path, "The package", "Pass the firmware .zip file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path} is not a readable zip archive", str(exc),
                         "An AVH firmware package is a zip: make one with 'armvm-oe avh pack'")
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            report.add("error", "too-many-members", f"{len(infos)} members (limit "
                       f"{limits.max_members}); an AVH package has a handful")
            return report
        # -- names
        seen: set[str] = set()
        safe: dict[str, zipfile.ZipInfo] = {}
        for zi in infos:
            # zipfile cuts the name at a NUL byte; orig_filename is the name
            # as stored, so the NUL rule can fire
            why = unsafe_name(zi.orig_filename) or unsafe_type(zi)
            entry = {"name": zi.filename, "size": zi.file_size, "compressed": zi.compress_size,
                     "mode": oct((zi.external_attr >> 16) & 0o7777) if zi.create_system == 3
                     else None}
            report.members.append(entry)
            if why:
                report.add("error", "unsafe-name", f"member name {zi.orig_filename!r} {why}",
                           zi.filename)
                continue
            if zi.filename in seen:
                report.add("error", "duplicate-name", f"member {zi.filename!r} appears twice",
                           zi.filename)
                continue
            seen.add(zi.filename)
            if zi.is_dir():
                report.add("warn", "directory", f"directory entry {zi.filename!r} (AVH "
                           "packages are flat)", zi.filename)
                continue
            if "/" in zi.filename:
                report.add("warn", "nested", f"{zi.filename!r} is in a subdirectory; AVH reads "
                           "top-level members only", zi.filename)
            safe[zi.filename] = zi
        # -- bombs, before decompressing anything
        declared = sum(zi.file_size for zi in infos)
        report.total_uncompressed = declared
        if declared > limits.max_total:
            report.add("error", "bomb", f"members declare {declared} bytes uncompressed, more "
                       f"than the limit of {limits.max_total} (--max-total)")
        for zi in infos:
            if zi.file_size > (1 << 20) and zi.file_size > limits.max_ratio * max(zi.compress_size, 1):
                report.add("error", "bomb", f"'{zi.filename}' expands {zi.file_size} / "
                           f"{zi.compress_size} = {zi.file_size / max(zi.compress_size, 1):.0f}x, "
                           f"above the ratio limit {limits.max_ratio:.0f} (--max-ratio)",
                           zi.filename)
        with open(path, "rb") as fp:
            spans = []
            for zi in infos:
                hl = _local_header_len(fp, zi.header_offset)
                if hl is None:
                    report.add("error", "corrupt-member", f"'{zi.filename}' has no local header "
                               f"at offset {zi.header_offset}", zi.filename)
                    continue
                spans.append((zi.header_offset, zi.header_offset + hl + zi.compress_size,
                              zi.filename))
            spans.sort()
            for (a0, a1, an), (b0, _b1, bn) in zip(spans, spans[1:]):
                if b0 < a1:
                    report.add("error", "bomb", f"members '{an}' and '{bn}' overlap in the "
                               "archive (an overlapped-file zip bomb or a corrupt archive)", bn)
        if not report.ok:
            return report
        budget = [limits.max_total]
        _check_contents(zf, safe, report, devices, device, budget, limits.max_read)
    return report


def _check_contents(zf, safe: dict, report: CheckReport, devices: dict[str, Device],
                    device: str | None, budget: list[int], max_read: int) -> None:
    # -- Info.plist / Info.json
    present = [n for n in (INFO_PLIST, INFO_JSON) if n in safe]
    if not present:
        report.add("error", "missing-info", "neither Info.plist nor Info.json is present")
    elif len(present) == 2:
        report.add("error", "ambiguous-info", "both Info.plist and Info.json are present; "
                   "AVH expects one")
    else:
        name = present[0]
        report.info_member = name
        data = _read_member(zf, safe[name], report, MAX_INFO, budget, -1)
        if data is not None:
            try:
                info = formats.parse_info(data, name)
            except formats.FormatError as exc:
                report.add("error", "info-unreadable", exc.what, name)
            else:
                errors, warnings = formats.check_info(info, name)
                for e in errors:
                    report.add("error", "info-keys", e, name)
                for w in warnings:
                    report.add("warn", "info-keys", w, name)
                if isinstance(info, dict):
                    report.info = {k: v for k, v in info.items()
                                   if isinstance(v, (str, int, float, bool, dict, list))}
                    if isinstance(info.get("DeviceIdentifier"), str):
                        report.device = info["DeviceIdentifier"]
    # -- kernel
    if KERNEL not in safe:
        report.add("error", "missing-kernel", "the 'kernel' member (arm64 Image) is missing")
    else:
        head = _read_member(zf, safe[KERNEL], report, MAX_KERNEL, budget, 4096)
        if head is not None:
            try:
                report.kernel = formats.check_arm64_image(head, safe[KERNEL].file_size).as_dict()
            except formats.FormatError as exc:
                report.add("error", "kernel-format", f"kernel: {exc.what}", KERNEL)
    # -- devicetree
    if DEVICETREE not in safe:
        report.add("error", "missing-devicetree", "the 'devicetree' member (DTB) is missing")
    else:
        data = _read_member(zf, safe[DEVICETREE], report, MAX_DTB, budget, -1)
        if data is not None:
            try:
                report.devicetree = formats.check_dtb(data).as_dict()
            except formats.FormatError as exc:
                report.add("error", "dtb-format", f"devicetree: {exc.what}", DEVICETREE)
    # -- storage of the device
    dev_name = device or report.device
    dev = devices.get(dev_name) if dev_name else None
    known = {INFO_PLIST, INFO_JSON, KERNEL, DEVICETREE}
    if dev_name and not dev:
        report.add("warn", "unknown-device", f"device '{dev_name}' is not in the device table "
                   f"({', '.join(sorted(devices))}); its storage files were not checked "
                   "(add it with --device-def NAME=STORAGE)")
    elif dev:
        known |= set(dev.storage)
        for s in dev.storage:
            if s not in safe:
                report.add("error", "missing-storage", f"device '{dev.name}' boots from the "
                           f"storage file '{s}', which is missing", s)
            else:
                _check_storage(zf, safe[s], report, budget, max_read)
    for name in safe:
        if name not in known and not safe[name].is_dir():
            report.add("warn", "extra-member", f"'{name}' is not a file AVH is documented to "
                       "read for this device", name)


def _check_storage(zf, zi: zipfile.ZipInfo, report: CheckReport, budget: list[int],
                   max_read: int) -> None:
    """Inflate a storage member to verify its CRC while the --max-read
    budget (bytes, all storage members together) lasts; a member declared
    larger than what is left is read for its first CHUNK only, a warning."""
    left = max_read - report.inflated
    if zi.file_size == 0:
        report.add("error", "empty-storage", f"storage file '{zi.filename}' is empty",
                   zi.filename)
        return
    if zi.file_size <= left:
        _read_member(zf, zi, report, 1 << 62, budget, 0)
        return
    _read_member(zf, zi, report, 1 << 62, budget, 0, stop=CHUNK)
    report.add("warn", "storage-unverified",
               f"storage file '{zi.filename}' declares {zi.file_size} bytes uncompressed, more "
               f"than the {max(left, 0)} bytes left of the {max_read}-byte read limit: only its "
               f"first {CHUNK} bytes were decompressed, so its CRC (the integrity of the disk "
               "image inside) was not verified. Raise the limit to verify it, e.g. "
               f"--max-read {-(-zi.file_size // (1 << 30)) + 1}G", zi.filename)

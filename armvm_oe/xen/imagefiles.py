"""Read files out of a raw GPT disk image without mounting or modifying it.

A small private reader for ``armvm-oe test --hypervisor xen``: the GPT is
parsed here, FAT partitions are read with mtools (``mcopy -i IMG@@OFFSET``)
and ext2/3/4 partitions with ``debugfs`` (``IMG?offset=N``, opened
read-only). Both tools only ever read the image.

TODO(issue 9): switch to armvm_oe.image (the GPT/FAT/ext4 readers written for
``armvm-oe verify``) once it lands, and drop this module.
"""

from __future__ import annotations

import os
import struct
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from armvm_oe.errors import InputError
from armvm_oe.lib import require_tool

SECTOR = 512
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_FS_TYPES = {"0FC63DAF-8483-4772-8E79-3D69D8477DE4",   # Linux filesystem
                  "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",   # Linux root (arm64)
                  "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3"}   # Linux root (arm)


@dataclass(frozen=True)
class GptPartition:
    number: int          # 1-based, as Linux numbers them (vda1, vda2, ...)
    type_guid: str
    uuid: str            # PARTUUID, upper case
    first_lba: int
    last_lba: int
    name: str

    @property
    def offset(self) -> int:
        return self.first_lba * SECTOR

    @property
    def size(self) -> int:
        return (self.last_lba - self.first_lba + 1) * SECTOR


def _guid(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw)).upper()


def read_gpt(image: Path) -> list[GptPartition]:
    """The used entries of the primary GPT (512-byte sectors)."""
    image = Path(image)
    try:
        with open(image, "rb") as f:
            f.seek(SECTOR)
            hdr = f.read(92)
            if hdr[:8] != b"EFI PART":
                raise InputError(f"{image} has no GUID Partition Table",
                                 "the GPT header signature 'EFI PART' is missing at LBA 1",
                                 "Pass a raw disk image (for example the .wic file of an armvm build)")
            entries_lba, count, esize = struct.unpack_from("<QII", hdr, 72)
            f.seek(entries_lba * SECTOR)
            table = f.read(count * esize)
    except OSError as e:
        raise InputError(f"cannot read {image}", str(e), "Check the path and its permissions")
    parts = []
    for i in range(count):
        e = table[i * esize:(i + 1) * esize]
        if len(e) < 128 or e[:16] == bytes(16):
            continue
        first, last = struct.unpack_from("<QQ", e, 32)
        name = e[56:128].decode("utf-16-le", "replace").rstrip("\x00")
        parts.append(GptPartition(i + 1, _guid(e[:16]), _guid(e[16:32]), first, last, name))
    return parts


def _mtools_env() -> dict:
    return dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLS_NO_VFAT="0")


def fat_read(image: Path, part: GptPartition, path: str) -> bytes | None:
    """A file from a FAT partition (case-insensitive, as FAT is), or None."""
    require_tool("mcopy", "mtools", "read files from the image's EFI System Partition")
    path = "/" + path.replace("\\", "/").lstrip("/")
    r = subprocess.run(["mcopy", "-n", "-i", f"{image}@@{part.offset}", "::" + path, "-"],
                       capture_output=True, env=_mtools_env())
    return r.stdout if r.returncode == 0 else None


def fat_copy(image: Path, part: GptPartition, path: str, dest: Path) -> bool:
    require_tool("mcopy", "mtools", "read files from the image's EFI System Partition")
    path = "/" + path.replace("\\", "/").lstrip("/")
    r = subprocess.run(["mcopy", "-n", "-o", "-i", f"{image}@@{part.offset}", "::" + path,
                        str(dest)], capture_output=True, env=_mtools_env())
    return r.returncode == 0 and Path(dest).exists()


def fat_list(image: Path, part: GptPartition) -> list[str] | None:
    """Every file path on a FAT partition (recursive), or None if it is not FAT."""
    require_tool("mdir", "mtools", "list the image's EFI System Partition")
    r = subprocess.run(["mdir", "-b", "-/", "-i", f"{image}@@{part.offset}", "::/"],
                       capture_output=True, text=True, env=_mtools_env())
    if r.returncode != 0:
        return None
    return [ln.strip()[2:] if ln.strip().startswith("::") else ln.strip()
            for ln in r.stdout.splitlines() if ln.strip() and not ln.strip().endswith("/")]


def _debugfs(image: Path, part: GptPartition, request: str) -> subprocess.CompletedProcess:
    require_tool("debugfs", "e2fsprogs", "read files from the image's root filesystem")
    return subprocess.run(["debugfs", "-R", request, f"{image}?offset={part.offset}"],
                          capture_output=True)


def ext_is_ext(image: Path, part: GptPartition) -> bool:
    with open(image, "rb") as f:
        f.seek(part.offset + 1024 + 56)
        return f.read(2) == b"\x53\xef"


def ext_read(image: Path, part: GptPartition, path: str) -> bytes | None:
    if not ext_is_ext(image, part):
        return None
    r = _debugfs(image, part, f'cat "{path}"')
    if r.returncode != 0 or b"File not found" in r.stderr:
        return None
    return r.stdout


def ext_copy(image: Path, part: GptPartition, path: str, dest: Path) -> bool:
    if not ext_is_ext(image, part):
        return False
    r = _debugfs(image, part, f'dump -p "{path}" "{dest}"')
    return r.returncode == 0 and Path(dest).exists() and b"File not found" not in r.stderr


def ext_listdir(image: Path, part: GptPartition, path: str) -> list[str]:
    if not ext_is_ext(image, part):
        return []
    r = _debugfs(image, part, f'ls -p "{path}"')
    names = []
    for line in r.stdout.decode(errors="replace").splitlines():
        # /inode/mode/uid/gid/name/size/
        f = line.split("/")
        if len(f) >= 7 and f[5] not in (".", ".."):
            names.append(f[5])
    return names

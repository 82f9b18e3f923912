"""Read-only access to disk images: the one reader armvm-oe uses.

    from armvm_oe.image import open_image
    with open_image("core-image.wic.zst") as img:       # raw, .gz, .bz2, .zst, .xz, .qcow2
        img.gpt.problems                                 # [] when the GPT is valid
        esp = img.esp()                                  # gpt.Partition or None
        fs = img.fat(esp)                                # FatFs (FAT12/16/32, bounded)
        grub_cfg = fs.read("/EFI/BOOT/grub.cfg")         # case-insensitive, LFN or 8.3
        kernel = fs.read("/Image")
        with img.ext4(img.root_partition()) as root:     # debugfs, read-only
            cfg = root.read("/boot/config-6.1.0-50-arm64")
    img.source.bytes_read                                # bytes actually read

    from armvm_oe.image import read_esp_file
    read_esp_file("disk.wic", "EFI/BOOT/grub.cfg")       # one-shot helper

Errors: :class:`armvm_oe.errors.InputError` (exit 2) for files that cannot
be opened or decompressed, :class:`armvm_oe.errors.ToolMissing` for qcow2
without qemu-img or ext4 without debugfs, :class:`FatError` /
:class:`Ext4Error` / :class:`NoEsp` for corrupt or missing filesystems (all
subclasses of Exception with one-line messages). Nothing here writes to the
image. See docs/verify.md ("Python API").
"""

from __future__ import annotations

import os
from typing import Optional

from armvm_oe.errors import InputError
from armvm_oe.image.ext4 import Ext4, Ext4Error, is_ext
from armvm_oe.image.fat import DirEntry, FatError, FatFs, Limits
from armvm_oe.image.gpt import (BASIC_DATA_TYPE, ESP_TYPE, LINUX_FS_TYPE, Gpt, Partition,
                                read_gpt)
from armvm_oe.image.source import (BytesSource, FileSource, SliceSource, Source, StreamSource,
                                   TruncatedImage, open_source, sniff)

__all__ = ["open_image", "read_esp_file", "DiskImage", "Source", "BytesSource", "FileSource",
           "StreamSource", "SliceSource", "open_source", "sniff", "Gpt", "Partition",
           "read_gpt", "FatFs", "FatError", "DirEntry", "Limits", "Ext4", "Ext4Error",
           "is_ext", "NoEsp", "TruncatedImage", "ESP_TYPE", "BASIC_DATA_TYPE", "LINUX_FS_TYPE"]


class NoEsp(Exception):
    """The image has no partition that looks like an EFI System Partition."""


def _is_fat(src: Source) -> bool:
    bs = src.read(0, 512)
    if len(bs) < 512 or bs[510:512] != b"\x55\xaa":
        return False
    bps = int.from_bytes(bs[11:13], "little")
    spc = bs[13]
    return bps in (512, 1024, 2048, 4096) and spc != 0 and spc & (spc - 1) == 0 and bs[16] != 0


class DiskImage:
    """A disk image opened read-only; partitions parsed on first use."""

    def __init__(self, source: Source, limits: Limits | None = None) -> None:
        self.source = source
        self.limits = limits or Limits()
        self._gpt: Gpt | None = None
        self._fat: dict[int, FatFs] = {}

    @property
    def path(self) -> str:
        return self.source.name

    @property
    def size(self) -> int:
        return self.source.size

    @property
    def gpt(self) -> Gpt:
        if self._gpt is None:
            self._gpt = read_gpt(self.source)
        return self._gpt

    @property
    def partitions(self) -> list[Partition]:
        return self.gpt.partitions

    def partition_source(self, part: Partition) -> SliceSource:
        return SliceSource(self.source, part.offset, part.size,
                           name=f"{self.source.name} partition {part.number}")

    def is_fat(self, part: Partition) -> bool:
        return _is_fat(self.partition_source(part))

    def fat(self, part: Partition) -> FatFs:
        """The FAT filesystem in ``part`` (cached); FatError if unusable."""
        if part.number not in self._fat:
            self._fat[part.number] = FatFs(self.partition_source(part), self.limits)
        return self._fat[part.number]

    def esp(self) -> Optional[Partition]:
        """The ESP by type GUID, else the first FAT partition holding EFI/BOOT
        (what stock wic makes), else None."""
        for p in self.partitions:
            if p.type_guid == ESP_TYPE:
                return p
        return self.fat_with_efi_boot()

    def fat_with_efi_boot(self) -> Optional[Partition]:
        for p in self.partitions:
            if p.type_guid == ESP_TYPE or not self.is_fat(p):
                continue
            try:
                e = self.fat(p).lookup("EFI/BOOT")
            except FatError:
                continue
            if e is not None and e.is_dir:
                return p
        return None

    def root_partition(self) -> Optional[Partition]:
        """The first ext2/3/4 partition (Linux filesystem types first)."""
        linux = [p for p in self.partitions if p.type_guid != ESP_TYPE]
        linux.sort(key=lambda p: (p.type_guid == BASIC_DATA_TYPE, p.number))
        for p in linux:
            if is_ext(self.partition_source(p)):
                return p
        return None

    def ext4(self, part: Partition) -> Ext4:
        """debugfs access to ``part`` (close it, or use ``with``)."""
        return Ext4(self.partition_source(part))

    def close(self) -> None:
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_image(path: str | os.PathLike, fmt: str | None = None,
               limits: Limits | None = None) -> DiskImage:
    """Open a raw/.gz/.bz2/.zst/.xz/.qcow2 disk image read-only."""
    return DiskImage(open_source(path, fmt), limits)


def read_esp_file(path: str | os.PathLike, name: str, max_bytes: int = 256 << 20) -> bytes:
    """One file from the image's ESP (case-insensitive path, ``/`` or ``\\``).

    Raises NoEsp, FileNotFoundError, FatError, or InputError."""
    with open_image(path, limits=Limits(max_file_bytes=max_bytes)) as img:
        part = img.esp()
        if part is None:
            raise NoEsp(f"{path}: no EFI System Partition (and no FAT partition with EFI/BOOT)")
        return img.fat(part).read(name)


del InputError

"""Take what the Xen boot needs out of the image (read-only, through
:mod:`armvm_oe.image`, so raw, .gz/.bz2/.zst/.xz and .qcow2 images all
work): its boot entry, its own kernel and initrd, its kernel configuration
and the partition its ``root=`` names; and a disk QEMU can attach."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from armvm_oe import kconfig
from armvm_oe.errors import InputError
from armvm_oe.image import (ESP_TYPE, DiskImage, Ext4, Ext4Error, FatError, FatFs, Partition,
                            is_ext, open_image, sniff)
from armvm_oe.image.source import copy_to_file
from armvm_oe.xen import bootcfg

MAX_FILE = 512 << 20          # kernel / initrd size limit when copying out of the image


@dataclass
class ImageBoot:
    image: Path
    entry: bootcfg.BootEntry
    kernel: Path                          # local copy of the image's kernel
    kernel_from: str                      # "ESP:/Image" or "partition 2 (root):/boot/Image"
    initrds: list[Path] = field(default_factory=list)
    release: str | None = None            # from the kernel's "Linux version" string
    config_text: str | None = None
    config_name: str | None = None        # "/boot/config-<release>" or "IKCONFIG"
    root_partition: Partition | None = None
    partitions: list[Partition] = field(default_factory=list)


class _Files:
    """Read files from every FAT or ext2/3/4 partition of an open image:
    the ESP first, then the others in table order."""

    def __init__(self, img: DiskImage, stack: contextlib.ExitStack) -> None:
        self.img = img
        esp = img.esp()
        self.parts = ([esp] if esp else []) + [p for p in img.partitions if p != esp]
        self._stack = stack
        self._fs: dict[int, FatFs | Ext4 | None] = {}

    def label(self, p: Partition) -> str:
        return "ESP" if p.type_guid == ESP_TYPE else f"partition {p.number} ({p.name or 'unnamed'})"

    def fs(self, p: Partition):
        """A FatFs or Ext4 reader for ``p``, or None for other filesystems."""
        if p.number not in self._fs:
            fs = None
            if self.img.is_fat(p):
                fs = self.img.fat(p)
            elif is_ext(self.img.partition_source(p)):
                try:
                    fs = self._stack.enter_context(self.img.ext4(p))
                except Ext4Error:
                    fs = None
            self._fs[p.number] = fs
        return self._fs[p.number]

    def read(self, p: Partition, path: str) -> bytes | None:
        fs = self.fs(p)
        try:
            if isinstance(fs, Ext4):
                return fs.read(path, max_bytes=MAX_FILE)
            return fs.read(path) if fs is not None else None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, FatError, Ext4Error):
            return None

    def find(self, path: str) -> tuple[bytes, str] | None:
        """The first copy of ``path`` on any partition: (content, where)."""
        for p in self.parts:
            data = self.read(p, path)
            if data is not None:
                return data, f"{self.label(p)}:{path}"
        return None

    def loader_entries(self, p: Partition) -> list[str]:
        fs = self.fs(p)
        if not isinstance(fs, FatFs):
            return []
        try:
            return sorted(e.path for e in fs.walk("/loader/entries")
                          if not e.is_dir and e.name.lower().endswith(".conf"))
        except (FileNotFoundError, NotADirectoryError, FatError):
            return []


def find_boot_entry(files: _Files, image: Path) -> bootcfg.BootEntry:
    tried = []
    for p in files.parts:
        for path in bootcfg.GRUB_CFG_PATHS:
            data = files.read(p, path)
            tried.append(f"{files.label(p)}:/{path}")
            if data:
                e = bootcfg.default_entry(data.decode(errors="replace"),
                                          f"{files.label(p)}:/{path}")
                if e:
                    return e
        for f in files.loader_entries(p):
            data = files.read(p, f)
            e = data and bootcfg.parse_loader_entry(data.decode(errors="replace"),
                                                    f"{files.label(p)}:{f}")
            if e:
                return e
    raise InputError(f"no boot entry with a kernel was found in {image}",
                     "the Xen boot starts the image's own kernel with the image's own command "
                     f"line, read from its GRUB config (looked at: {', '.join(tried[:6])}, ...) "
                     "or a systemd-boot loader entry",
                     "Check the image's ESP holds EFI/BOOT/grub.cfg with a 'linux' line")


def _fs_uuid(img: DiskImage, p: Partition) -> str | None:
    """The ext2/3/4 filesystem UUID (superblock offset 0x68) of ``p``."""
    try:
        src = img.partition_source(p)
        sb = src.read(1024, 256)
    except Exception:
        return None
    if len(sb) < 0x78 or sb[0x38:0x3A] != b"\x53\xef":
        return None
    import uuid
    return str(uuid.UUID(bytes=bytes(sb[0x68:0x78])))


def _root_partition(entry: bootcfg.BootEntry, parts: list[Partition],
                    img: DiskImage | None = None) -> Partition | None:
    root = entry.root or ""
    if root.upper().startswith("UUID=") and img is not None:   # Debian's root=UUID=
        want = root.split("=", 1)[1].lower()
        return next((p for p in parts if _fs_uuid(img, p) == want), None)
    if root.upper().startswith("PARTUUID="):
        want = root.split("=", 1)[1].upper()
        return next((p for p in parts if p.unique_guid.upper() == want), None)
    m = re.match(r"/dev/[a-z]+(\d+)$", root)
    if m:
        return next((p for p in parts if p.number == int(m.group(1))), None)
    return None


def read_image(image: Path, workdir: Path) -> ImageBoot:
    """Copy the image's kernel and initrds into ``workdir`` and read its
    boot entry and kernel configuration. The image is only read."""
    image = Path(image)
    with contextlib.ExitStack() as stack:
        img = stack.enter_context(open_image(image))
        if not img.partitions:
            raise InputError(f"{image} has no usable GUID Partition Table",
                             "; ".join(img.gpt.problems[:2]) or "no partition entries",
                             "Pass the disk image (.wic, optionally compressed, or .qcow2) "
                             "of an armvm build")
        files = _Files(img, stack)
        entry = find_boot_entry(files, image)
        found = files.find(entry.kernel)
        if not found:
            raise InputError(f"the kernel {entry.kernel} named by {entry.source} is not in the "
                             "image", "it was looked for on the ESP and on every Linux partition",
                             "Check the image's boot config names its kernel by its path on a "
                             "partition of the same disk")
        blob, kfrom = found
        kernel = workdir / "Image"
        kernel.write_bytes(blob)
        initrds = []
        for n, i in enumerate(entry.initrds):
            got = files.find(i)
            if not got:
                raise InputError(f"the initrd {i} named by {entry.source} is not in the image",
                                 "it was looked for on the ESP and on every Linux partition",
                                 "Fix the image's initrd line")
            dest = workdir / f"initrd{n}.img"
            dest.write_bytes(got[0])
            initrds.append(dest)
        info = kconfig.inspect_kernel(blob)
        boot = ImageBoot(image, entry, kernel, kfrom, initrds, info.release,
                         partitions=list(img.partitions))
        boot.root_partition = _root_partition(entry, img.partitions, img)

        # the kernel config: /boot/config-<release> on the root filesystem (or
        # any other ext partition), else the only /boot/config-* there is,
        # else the kernel's own IKCONFIG
        order = ([boot.root_partition] if boot.root_partition else []) + \
            [p for p in files.parts if p != boot.root_partition]
        for p in order:
            fs = files.fs(p)
            if not isinstance(fs, Ext4):
                continue
            try:
                names = [e.name for e in fs.listdir("/boot") if e.name.startswith("config-")]
            except (FileNotFoundError, Ext4Error):
                continue
            rel = info.release
            pick = f"config-{rel}" if rel and f"config-{rel}" in names else \
                (names[0] if len(names) == 1 else None)
            data = files.read(p, f"/boot/{pick}") if pick else None
            if data is not None:
                boot.config_text = data.decode(errors="replace")
                boot.config_name = f"/boot/{pick}"
                break
        if boot.config_text is None and info.config_text:
            boot.config_text, boot.config_name = info.config_text, "IKCONFIG"
    return boot


def attachable(image: Path, workdir: Path) -> tuple[Path, str]:
    """(path, format) of a disk QEMU can use as the backing file of the
    guest's overlay: the image itself when raw or qcow2, else a sparse raw
    copy decompressed into ``workdir`` (never next to the user's image)."""
    image = Path(image)
    fmt = sniff(image)
    if fmt in ("raw", "qcow2"):
        return image, fmt
    dest = workdir / "image.raw"
    with open_image(image) as img, open(dest, "wb") as out:
        copy_to_file(img.source, out)
    return dest, "raw"

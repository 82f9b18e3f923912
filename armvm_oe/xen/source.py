"""Take what the Xen boot needs out of the image (read-only): its boot
entry, its own kernel and initrd, its kernel configuration and the
partition its ``root=`` names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from armvm_oe.errors import InputError
from armvm_oe.xen import bootcfg, imagefiles
from armvm_oe.xen.imagefiles import ESP_TYPE, LINUX_FS_TYPES, GptPartition


@dataclass
class ImageBoot:
    image: Path
    entry: bootcfg.BootEntry
    kernel: Path                          # local copy of the image's kernel
    kernel_from: str                      # "ESP:/Image" or "root (partition 2):/boot/Image"
    initrds: list[Path] = field(default_factory=list)
    release: str | None = None            # from the kernel's "Linux version" string
    config_text: str | None = None
    config_name: str | None = None
    root_partition: GptPartition | None = None
    partitions: list[GptPartition] = field(default_factory=list)


def _fs_parts(parts: list[GptPartition]) -> list[GptPartition]:
    """Partitions to search for files: the ESP first, then Linux ones."""
    esp = [p for p in parts if p.type_guid == ESP_TYPE]
    linux = [p for p in parts if p.type_guid in LINUX_FS_TYPES]
    rest = [p for p in parts if p not in esp and p not in linux]
    return esp + linux + rest


def _label(p: GptPartition) -> str:
    return "ESP" if p.type_guid == ESP_TYPE else f"partition {p.number} ({p.name or 'unnamed'})"


def _read(image: Path, p: GptPartition, path: str) -> bytes | None:
    if p.type_guid in LINUX_FS_TYPES or imagefiles.ext_is_ext(image, p):
        return imagefiles.ext_read(image, p, path)
    return imagefiles.fat_read(image, p, path)


def _copy(image: Path, p: GptPartition, path: str, dest: Path) -> bool:
    if p.type_guid in LINUX_FS_TYPES or imagefiles.ext_is_ext(image, p):
        return imagefiles.ext_copy(image, p, path, dest)
    return imagefiles.fat_copy(image, p, path, dest)


def find_boot_entry(image: Path, parts: list[GptPartition]) -> bootcfg.BootEntry:
    tried = []
    for p in _fs_parts(parts):
        for path in bootcfg.GRUB_CFG_PATHS:
            data = _read(image, p, path)
            tried.append(f"{_label(p)}:/{path}")
            if data:
                e = bootcfg.default_entry(data.decode(errors="replace"), f"{_label(p)}:/{path}")
                if e:
                    return e
        if p.type_guid == ESP_TYPE:
            for f in imagefiles.fat_list(image, p) or []:
                if re.match(r"(?i)/loader/entries/.*\.conf$", f):
                    data = imagefiles.fat_read(image, p, f)
                    e = data and bootcfg.parse_loader_entry(data.decode(errors="replace"),
                                                            f"ESP:{f}")
                    if e:
                        return e
    raise InputError(f"no boot entry with a kernel was found in {image}",
                     "the Xen boot starts the image's own kernel with the image's own command "
                     f"line, read from its GRUB config (looked at: {', '.join(tried[:6])}, ...) "
                     "or a systemd-boot loader entry",
                     "Check the image's ESP holds EFI/BOOT/grub.cfg with a 'linux' line")


def kernel_release(kernel: bytes) -> str | None:
    m = re.search(rb"Linux version (\S+) \(", kernel)
    return m.group(1).decode(errors="replace") if m else None


def read_image(image: Path, workdir: Path) -> ImageBoot:
    image = Path(image)
    parts = imagefiles.read_gpt(image)
    entry = find_boot_entry(image, parts)
    search = _fs_parts(parts)

    def fetch(path: str, dest: Path) -> str | None:
        for p in search:
            if _copy(image, p, path, dest):
                return f"{_label(p)}:{path}"
        return None

    kernel = workdir / "Image"
    kfrom = fetch(entry.kernel, kernel)
    if not kfrom:
        raise InputError(f"the kernel {entry.kernel} named by {entry.source} is not in the image",
                         "it was looked for on the ESP and on every Linux partition",
                         "Check the image's boot config names its kernel by its path on a "
                         "partition of the same disk")
    initrds = []
    for n, i in enumerate(entry.initrds):
        dest = workdir / f"initrd{n}.img"
        if not fetch(i, dest):
            raise InputError(f"the initrd {i} named by {entry.source} is not in the image",
                             "it was looked for on the ESP and on every Linux partition",
                             "Fix the image's initrd line")
        initrds.append(dest)
    with open(kernel, "rb") as f:
        release = kernel_release(f.read())
    boot = ImageBoot(image, entry, kernel, kfrom, initrds, release, partitions=parts)

    root = entry.root or ""
    if root.upper().startswith("PARTUUID="):
        want = root.split("=", 1)[1].upper()
        boot.root_partition = next((p for p in parts if p.uuid == want), None)
    elif re.match(r"/dev/[a-z]+(\d+)$", root):
        n = int(re.search(r"(\d+)$", root).group(1))
        boot.root_partition = next((p for p in parts if p.number == n), None)

    # the kernel config: /boot/config-<release> on the root filesystem (or
    # any Linux partition), else the only /boot/config-* there is
    for p in ([boot.root_partition] if boot.root_partition else []) + \
            [q for q in parts if q.type_guid in LINUX_FS_TYPES and q != boot.root_partition]:
        names = [n for n in imagefiles.ext_listdir(image, p, "/boot") if n.startswith("config-")]
        pick = f"config-{release}" if release and f"config-{release}" in names else \
            (names[0] if len(names) == 1 else None)
        if pick:
            data = imagefiles.ext_read(image, p, f"/boot/{pick}")
            if data is not None:
                boot.config_text = data.decode(errors="replace")
                boot.config_name = f"/boot/{pick}"
                break
    return boot

"""Build GPT disk images with real host tools, without root or loop devices.

Partitions are made as separate filesystem images (mkfs.vfat + mtools,
mke2fs -d) and copied into a GPT laid out by sgdisk. Used by the test fixture
builder and by ``armvm-oe test --hypervisor xen`` for its throwaway boot disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from armvm_oe.lib import require_tool, run

ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
BASIC_DATA_TYPE = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
LINUX_FS_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
SECTOR = 512
MiB = 1 << 20

GRUB_TARGET = {"aarch64": "arm64-efi", "arm": "arm-efi", "x86_64": "x86_64-efi"}
REMOVABLE_NAME = {"aarch64": "BOOTAA64.EFI", "arm": "BOOTARM.EFI", "x86_64": "BOOTX64.EFI"}


@dataclass
class Partition:
    name: str
    type_guid: str
    image: Path | None = None         # filesystem image copied into the partition
    size_mib: int | None = None       # defaults to the image size
    uuid: str | None = None           # unique partition GUID (PARTUUID)


def make_fat(path: Path, size_mib: int, files: dict[str, Path | bytes],
             fat_bits: int | None = 32, label: str = "ESP") -> Path:
    """A FAT filesystem image holding ``files`` (destination path -> source).

    ``fat_bits`` is passed to mkfs.vfat as ``-F`` (None lets mkfs.vfat choose
    by size, which is what stock wic does)."""
    require_tool("mkfs.vfat", "dosfstools", "format the EFI System Partition")
    require_tool("mcopy", "mtools", "copy files into a FAT image without mounting it")
    path = Path(path)
    with open(path, "wb") as f:
        f.truncate(size_mib * MiB)
    cmd = ["mkfs.vfat", "-n", label, "-i", "41524d56"]   # fixed volume id: reproducible
    if fat_bits:
        cmd += ["-F", str(fat_bits)]
        if fat_bits == 32:
            cmd += ["-S", str(SECTOR)]
    run(cmd + [path])
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    made: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for n, (dest, src) in enumerate(sorted(files.items())):
            parts = dest.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    run(["mmd", "-D", "s", "-i", path, "::/" + d], env=env, check=False)
                    made.add(d)
            if isinstance(src, (bytes, str)):
                data = src.encode() if isinstance(src, str) else src
                src = Path(tmp) / f"f{n}"
                src.write_bytes(data)
            run(["mcopy", "-o", "-i", path, src, "::/" + "/".join(parts)], env=env)
    return path


def make_ext4(path: Path, size_mib: int, src_dir: Path, label: str = "root",
              uuid: str | None = None) -> Path:
    """An ext4 image populated from ``src_dir`` (mke2fs -d: no root needed)."""
    require_tool("mke2fs", "e2fsprogs", "make the root filesystem image")
    path = Path(path)
    if path.exists():
        path.unlink()
    cmd = ["mke2fs", "-q", "-t", "ext4", "-L", label, "-d", src_dir, "-E",
           "root_owner=0:0", "-O", "^metadata_csum_seed"]
    if uuid:
        cmd += ["-U", uuid]
    env = dict(os.environ, E2FSPROGS_FAKE_TIME="1700000000")
    run(cmd + [path, f"{size_mib}M"], env=env)
    return path


def assemble_gpt(disk: Path, partitions: list[Partition], disk_guid: str | None = None,
                 extra_mib: int = 1) -> Path:
    """Lay out a GPT with sgdisk and copy each partition's image into place."""
    require_tool("sgdisk", "gdisk", "write the GUID Partition Table")
    disk = Path(disk)
    sizes = []
    for p in partitions:
        size = p.size_mib
        if size is None:
            if p.image is None:
                raise ValueError(f"partition {p.name} needs an image or a size")
            size = -(-p.image.stat().st_size // MiB)
        sizes.append(size)
    total = 1 + sum(sizes) + extra_mib + 1     # 1 MiB lead-in, backup GPT at the end
    if disk.exists():
        disk.unlink()
    with open(disk, "wb") as f:
        f.truncate(total * MiB)
    cmd = ["sgdisk", "-o"]
    if disk_guid:
        cmd += ["-U", disk_guid]
    start = MiB // SECTOR
    for n, (p, size) in enumerate(zip(partitions, sizes), 1):
        end = start + size * MiB // SECTOR - 1
        cmd += ["-n", f"{n}:{start}:{end}", "-t", f"{n}:{p.type_guid}", "-c", f"{n}:{p.name}"]
        if p.uuid:
            cmd += ["-u", f"{n}:{p.uuid}"]
        p_start = start
        start = end + 1
        p._offset = p_start * SECTOR  # type: ignore[attr-defined]
    run(cmd + [disk])
    with open(disk, "r+b") as out:
        for p in partitions:
            if p.image is None:
                continue
            out.seek(p._offset)  # type: ignore[attr-defined]
            with open(p.image, "rb") as src:
                shutil.copyfileobj(src, out, 4 * MiB)
    return disk


def partition_uuid(disk: Path, number: int) -> str:
    out = run(["sgdisk", "-i", str(number), disk]).stdout
    for line in out.splitlines():
        if line.startswith("Partition unique GUID:"):
            return line.split(":", 1)[1].strip().upper()
    raise ValueError(f"no partition {number} in {disk}")


EARLY_CFG = """search --no-floppy --file --set=root /EFI/BOOT/grub.cfg
set prefix=($root)/EFI/BOOT
configfile ($root)/EFI/BOOT/grub.cfg
"""

GRUB_MODULES = ["part_gpt", "fat", "ext2", "normal", "linux", "configfile", "search",
                "search_fs_file", "search_fs_uuid", "search_part_uuid", "echo", "ls",
                "gzio", "test", "reboot", "halt"]


def make_grub_efi(target_arch: str, modules_dir: Path, out: Path,
                  extra_modules: list[str] | None = None, prefix: str = "/EFI/BOOT",
                  early_cfg: str = EARLY_CFG) -> Path:
    """A removable-media GRUB EFI binary with an embedded early config that
    finds grub.cfg by searching for the file (no UEFI variables needed).

    ``early_cfg`` replaces that search, e.g. to look for a marker file only
    one of several attached disks has."""
    require_tool("grub-mkimage", "grub-common", "make the GRUB EFI application")
    with tempfile.TemporaryDirectory() as tmp:
        early = Path(tmp) / "early.cfg"
        early.write_text(early_cfg)
        mods = GRUB_MODULES + list(extra_modules or [])
        mods = [m for m in mods if (Path(modules_dir) / f"{m}.mod").exists()]
        run(["grub-mkimage", "-d", modules_dir, "-O", GRUB_TARGET[target_arch], "-o", out,
             "-p", prefix, "-c", early, *mods])
    return Path(out)

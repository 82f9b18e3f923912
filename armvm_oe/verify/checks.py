"""The checks of ``armvm-oe verify``: each a small function of the shared
:class:`Context` returning findings that name a requirement id.

Every check is independent: a corrupt structure in one (a FAT loop, a bad PE
header) becomes that check's finding, never an exception out of verify.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from armvm_oe import kconfig, requirements
from armvm_oe.image import DiskImage, Ext4, Ext4Error, FatError, FatFs, TruncatedImage
from armvm_oe.image.ext4 import Ext4TooLarge
from armvm_oe.image.fat import DirEntry
from armvm_oe.image.gpt import BASIC_DATA_TYPE, ESP_TYPE, Partition
from armvm_oe.verify import grub
from armvm_oe.verify.model import Finding, bad_result

REMOVABLE = {"aarch64": "BOOTAA64.EFI", "arm": "BOOTARM.EFI"}
PE_MACHINE = {"aarch64": 0xAA64, "arm": 0x01C2}
PE_MAGIC = {"aarch64": 0x20B, "arm": 0x10B}
MACHINE_NAMES = {0xAA64: "arm64", 0x01C2: "ARM Thumb-2 (armv7)", 0x01C0: "ARM", 0x8664: "x86-64",
                 0x014C: "i386", 0x5064: "RISC-V 64", 0x6264: "LoongArch64"}
SUBSYSTEMS = {10: "EFI application", 11: "EFI boot service driver",
              12: "EFI runtime driver", 13: "EFI ROM", 2: "Windows GUI", 3: "Windows console"}
MAX_KERNEL = 256 << 20
MAX_EFI = 64 << 20
FV_SCAN = 1 << 20                  # bytes of each ESP file scanned for a firmware volume
FV_SCAN_TOTAL = 96 << 20
FIRMWARE_NAME = re.compile(r"(^|/)(QEMU_EFI|QEMU_VARS|AAVMF|OVMF|EDK2|ARMVIRT|RPI_EFI)[^/]*$"
                           r"|\.fd$", re.IGNORECASE)
ROOT_DEVICE = re.compile(r"^/dev/((?:sd|vd|xvd|hd)[a-z]+\d*|mmcblk\d+(?:p\d+)?|nvme\d+n\d+(?:p\d+)?)$")


class TooLarge(FatError):
    """A file on the ESP is larger than the caller's read limit."""


@dataclass
class Context:
    img: DiskImage
    arch_option: str = "auto"
    kernel_config: Path | None = None
    use_debugfs: bool = True
    # filled in as checks run
    esp: Partition | None = None
    esp_fs: FatFs | None = None
    esp_error: str | None = None
    removable: DirEntry | None = None
    removable_name: str | None = None
    efi_data: bytes | None = None
    pe: object | None = None
    pe_error: str | None = None
    arch: str | None = None
    arch_source: str | None = None
    grub_image: grub.GrubImage | None = None
    grub_cfg_path: str | None = None
    grub_cfg: grub.GrubConfig | None = None
    kernel_path: str | None = None
    kernel_where: str | None = None      # "esp" | "root"
    kernel: dict = field(default_factory=lambda: {"path": None, "release": None,
                                                  "compression": None, "config_source": None})
    _root: Ext4 | None = None
    _root_error: str | None = None
    _root_tried: bool = False

    # -- lazily opened filesystems ----------------------------------------
    def root(self) -> Ext4 | None:
        if not self._root_tried:
            self._root_tried = True
            if not self.use_debugfs:
                self._root_error = "reading the root filesystem is disabled"
                return None
            part = self.img.root_partition()
            if part is None:
                self._root_error = "no ext2/3/4 partition in the image"
                return None
            try:
                self._root = self.img.ext4(part)
            except Ext4Error as err:
                self._root_error = str(err)
        return self._root

    def close(self) -> None:
        if self._root is not None:
            self._root.close()

    def esp_read(self, path: str, limit: int) -> bytes | None:
        if self.esp_fs is None:
            return None
        e = self.esp_fs.lookup(path)
        if e is None or e.is_dir:
            return None
        if e.size > limit:
            raise TooLarge(f"{e.path} is {e.size} bytes, over the {limit} byte limit")
        return self.esp_fs.read(e)

    def find_file(self, path: str, limit: int) -> tuple[bytes | None, str | None]:
        """A file named by the boot config: on the ESP, else on the root fs."""
        data = self.esp_read(path, limit)
        if data is not None:
            return data, "esp"
        root = self.root()
        if root is not None:
            try:
                return root.read(path, limit), "root"
            except FileNotFoundError:
                pass
        return None, None


CHECKS: list[Callable[[Context], list[Finding]]] = []


def check(fn):
    CHECKS.append(fn)
    return fn


def _req_bad(req_id: str) -> str:
    return bad_result(req_id)


# -- IMG-GPT -------------------------------------------------------------------
@check
def gpt_table(ctx: Context) -> list[Finding]:
    g = ctx.img.gpt
    out = []
    if g.mbr_problems:
        out.append(Finding("IMG-GPT", "gpt-mbr", "fail", "; ".join(g.mbr_problems),
                           "Write a GPT with a protective MBR (sgdisk -o, or wic with "
                           "'bootloader --ptable gpt')"))
    else:
        out.append(Finding("IMG-GPT", "gpt-mbr", "pass", "protective MBR (0xEE entry from LBA 1)"))
    hdr = [p for p in (g.primary.problems if g.primary else []) +
           (g.backup.problems if g.backup else [])]
    hdr += [p for p in g.problems if ("backup" in p or "primary" in p) and p not in hdr
            and p not in g.mbr_problems]
    if not g.found:
        out.append(Finding("IMG-GPT", "gpt-headers", "fail",
                           "no GPT header at LBA 1 or at the end of the image: not a GPT disk "
                           "(or not a disk image at all)",
                           "Build the image with a GPT (wic: 'bootloader --ptable gpt')"))
    elif hdr:
        out.append(Finding("IMG-GPT", "gpt-headers", "fail", "; ".join(hdr[:6]),
                           "Repair or rewrite the table: 'sgdisk -e' relocates the backup of a "
                           "grown image, 'sgdisk -v' explains, a rebuild with wic rewrites both",
                           {"problems": hdr}))
    else:
        out.append(Finding("IMG-GPT", "gpt-headers", "pass",
                           "primary and backup GPT headers valid, header and entry-array CRC32s "
                           "match"))
    rest = [p for p in g.problems if p not in hdr and p not in g.mbr_problems]
    if rest:
        out.append(Finding("IMG-GPT", "gpt-partitions", "fail", "; ".join(rest[:6]),
                           "Fix the partition layout (entries must lie inside the usable area "
                           "and must not overlap)", {"problems": rest}))
    elif g.found:
        out.append(Finding("IMG-GPT", "gpt-partitions", "pass",
                           f"{len(g.partitions)} partitions inside the disk, no overlaps"))
    return out


# -- IMG-ESP-TYPE ---------------------------------------------------------------
@check
def esp_type(ctx: Context) -> list[Finding]:
    img = ctx.img
    out = []
    typed = [p for p in img.partitions if p.type_guid == ESP_TYPE]
    try:
        other = img.fat_with_efi_boot()
    except (FatError, TruncatedImage):
        other = None
    if typed:
        ctx.esp = typed[0]
        out.append(Finding("IMG-ESP-TYPE", "esp-type", "pass",
                           f"partition {typed[0].number} ({typed[0].name!r}) has the EFI System "
                           f"type {ESP_TYPE}"))
    else:
        why = "no partition has the EFI System Partition type GUID " + ESP_TYPE
        if other is not None:
            why += (f"; partition {other.number} ({other.name!r}) holds EFI/BOOT but has type "
                    f"{other.type_name} ({other.type_guid})")
            if other.type_guid == BASIC_DATA_TYPE:
                why += ", the type wic gives a partition without --part-type"
        out.append(Finding("IMG-ESP-TYPE", "esp-type", "fail", why,
                           "Set the type: wic 'part /boot --source bootimg-efi ... --part-type "
                           f"{ESP_TYPE}' (or sgdisk -t N:EF00)"))
        ctx.esp = other
    if ctx.esp is not None:
        out.append(_esp_attributes(ctx.esp))
    if other is not None:
        out.append(Finding("IMG-ESP-TYPE", "esp-type-efi-boot", "warn",
                           f"FAT partition {other.number} ({other.name!r}) holds EFI/BOOT but its "
                           f"type is {other.type_name} ({other.type_guid}), not the ESP type: "
                           "firmware will not use it as the ESP (stock wic does this)",
                           f"Give it the ESP type: wic --part-type {ESP_TYPE}"))
    return out


GPT_ATTR_REQUIRED, GPT_ATTR_NO_BLOCK_IO, GPT_ATTR_LEGACY_BOOT = 1 << 0, 1 << 1, 1 << 2


def _esp_attributes(esp: Partition) -> Finding:
    r"""UEFI 2.10 table 5.8: bit 1 ("No Block IO Protocol") tells the firmware
    not to produce EFI_BLOCK_IO_PROTOCOL for the partition, so no filesystem
    driver binds to it and the ESP is never searched for \EFI\BOOT. Bits 0
    (required) and 2 (legacy BIOS bootable) change nothing for UEFI boot."""
    a = esp.attributes
    detail = {"attributes": f"0x{a:016X}"}
    if a & GPT_ATTR_NO_BLOCK_IO:
        return Finding("IMG-ESP-TYPE", "esp-attributes", "fail",
                       f"partition {esp.number} has GPT attribute bit 1 ('No Block IO "
                       f"Protocol', attributes 0x{a:016X}) set: UEFI firmware exposes no block "
                       "device for it, so it never reads the ESP and finds no boot application",
                       f"Clear the attribute: sgdisk -A {esp.number}:clear:1 (or rebuild "
                       "without it)", detail)
    return Finding("IMG-ESP-TYPE", "esp-attributes", "pass",
                   f"partition {esp.number}'s GPT attributes (0x{a:016X}) do not hide it "
                   "from the firmware", "", detail)


def _open_esp(ctx: Context) -> None:
    if ctx.esp is None or ctx.esp_fs is not None or ctx.esp_error:
        return
    try:
        ctx.esp_fs = ctx.img.fat(ctx.esp)
    except (FatError, TruncatedImage) as err:
        ctx.esp_error = str(err)


def _no_esp(ctx: Context, req_id: str, check_name: str) -> Finding | None:
    if ctx.esp is None:
        return Finding(req_id, check_name, "unknown",
                       "no EFI System Partition was found (see IMG-ESP-TYPE), so this could "
                       "not be examined")
    if ctx.esp_fs is None:
        return Finding(req_id, check_name, _req_bad(req_id),
                       f"the ESP (partition {ctx.esp.number}) is not a readable FAT "
                       f"filesystem: {ctx.esp_error}",
                       "Re-create the ESP with mkfs.vfat -F 32 -S 512")
    return None


# -- IMG-ESP-FAT32 --------------------------------------------------------------
@check
def esp_fat(ctx: Context) -> list[Finding]:
    _open_esp(ctx)
    miss = _no_esp(ctx, "IMG-ESP-FAT32", "esp-fat-type")
    if miss:
        if ctx.esp_fs is None and ctx.esp is not None:
            miss.reason = (f"the ESP (partition {ctx.esp.number}) holds no usable FAT "
                           f"filesystem: {ctx.esp_error}")
        return [miss]
    fs = ctx.esp_fs
    assert fs is not None
    out = []
    detail = {"fat_type": fs.fat_type, "cluster_count": fs.cluster_count,
              "cluster_size": fs.cluster_size, "label_type": fs.label_type}
    label = f"; the boot sector label says {fs.label_type!r}" if fs.label_type else ""
    if fs.fat_type == 32:
        out.append(Finding("IMG-ESP-FAT32", "esp-fat-type", "pass",
                           f"FAT32 by cluster count ({fs.cluster_count} clusters of "
                           f"{fs.cluster_size} bytes){label}", "", detail))
    else:
        out.append(Finding("IMG-ESP-FAT32", "esp-fat-type", "fail",
                           f"the ESP is FAT{fs.fat_type} by cluster count ({fs.cluster_count} "
                           f"clusters; FAT32 needs at least 65525){label}. mkfs.vfat picks "
                           "FAT16 for small partitions and stock wic does not pass -F 32",
                           "Format the ESP with 'mkfs.vfat -F 32 -S 512' (needs about 33 MiB "
                           "or more), e.g. meta-armvm's wic plugin", detail))
    if fs.problems:
        out.append(Finding("IMG-ESP-FAT32", "esp-bpb", "fail",
                           "boot sector (BPB) problems: " + "; ".join(fs.problems),
                           "Re-create the ESP with mkfs.vfat -F 32 -S 512",
                           {"problems": fs.problems}))
    else:
        out.append(Finding("IMG-ESP-FAT32", "esp-bpb", "pass",
                           f"BPB consistent ({fs.bytes_per_sector}-byte sectors, "
                           f"{fs.num_fats} FATs, volume fits its partition)"))
    return out


# -- IMG-REMOVABLE-PATH -------------------------------------------------------
def _kernel_arch(blob: bytes) -> str | None:
    if len(blob) >= 0x40 and blob[0x38:0x3C] == b"ARM\x64":
        return "aarch64"
    if len(blob) >= 0x28 and struct.unpack_from("<I", blob, 0x24)[0] == 0x016F2818:
        return "arm"
    return None


@check
def removable_path(ctx: Context) -> list[Finding]:
    miss = _no_esp(ctx, "IMG-REMOVABLE-PATH", "removable-path")
    if ctx.arch_option != "auto":
        ctx.arch, ctx.arch_source = ctx.arch_option, "option"
    if miss:
        return [miss]
    fs = ctx.esp_fs
    assert fs is not None
    found: dict[str, DirEntry] = {}
    listing: list[DirEntry] = []
    try:
        boot = fs.lookup("EFI/BOOT")
        if boot is not None and boot.is_dir:
            listing = fs.listdir("EFI/BOOT")
    except (FatError, TruncatedImage) as err:
        return [Finding("IMG-REMOVABLE-PATH", "removable-path", "fail",
                        f"the ESP's \\EFI\\BOOT directory cannot be read: {err}",
                        "Re-create the ESP (mkfs.vfat -F 32) and copy the files again")]
    for arch, name in REMOVABLE.items():
        e = next((x for x in listing if x.matches(name) and not x.is_dir), None)
        if e is not None:
            e.path = f"/EFI/BOOT/{e.name}"
            found[arch] = e
    if ctx.arch is None:
        if len(found) == 1:
            ctx.arch = next(iter(found))
            ctx.arch_source = "efi-binary"
        elif len(found) == 2:
            ctx.arch, ctx.arch_source = "aarch64", "efi-binary"
    if ctx.arch is not None and ctx.arch in found:
        e = found[ctx.arch]
        ctx.removable, ctx.removable_name = e, REMOVABLE[ctx.arch]
        names = e.name if e.name == e.short_name else f"{e.name} (8.3: {e.short_name})"
        return [Finding("IMG-REMOVABLE-PATH", "removable-path", "pass",
                        f"\\EFI\\BOOT\\{names} ({e.size} bytes), the {ctx.arch} removable-media "
                        "path", "", {"path": e.path, "short_name": e.short_name})]
    want = REMOVABLE[ctx.arch] if ctx.arch else " or ".join(REMOVABLE.values())
    others = [x.name for x in listing if x.name.upper().startswith("BOOT") and
              x.name.upper().endswith(".EFI")]
    why = f"no \\EFI\\BOOT\\{want} on the ESP"
    if others:
        why += f" (\\EFI\\BOOT holds {', '.join(others)})"
    elif not listing:
        why += " (there is no \\EFI\\BOOT directory)"
    if ctx.arch is None:
        ctx.arch_source = None
    return [Finding("IMG-REMOVABLE-PATH", "removable-path", "fail", why,
                    "Install the boot application at \\EFI\\BOOT\\BOOTAA64.EFI (aarch64) or "
                    "\\EFI\\BOOT\\BOOTARM.EFI (aarch32); Yocto: EFI_PROVIDER=grub-efi with "
                    "meta-armvm's armvm_efi class", {"listing": [x.name for x in listing][:64]})]


# -- IMG-EFI-APP --------------------------------------------------------------
@check
def efi_app(ctx: Context) -> list[Finding]:
    if ctx.removable is None:
        why = ("no boot application at the removable-media path (see IMG-REMOVABLE-PATH)"
               if ctx.esp_fs is not None else "no readable ESP")
        return [Finding("IMG-EFI-APP", "efi-app", "unknown", why)]
    import pefile

    e = ctx.removable
    try:
        data = ctx.esp_fs.read(e) if e.size <= MAX_EFI else None  # type: ignore[union-attr]
    except (FatError, TruncatedImage) as err:
        return [Finding("IMG-EFI-APP", "efi-app", "fail", f"{e.path} cannot be read: {err}",
                        "Copy the boot application to the ESP again")]
    if data is None:
        return [Finding("IMG-EFI-APP", "efi-app", "fail",
                        f"{e.path} is {e.size} bytes, too large for a boot application",
                        "Install a real GRUB EFI binary")]
    ctx.efi_data = data
    try:
        pe = pefile.PE(data=data, fast_load=True)
    except Exception as err:  # noqa: BLE001 - pefile raises many kinds on garbage
        ctx.pe_error = str(err)
        return [Finding("IMG-EFI-APP", "efi-app", "fail",
                        f"{e.path} is not a PE/COFF image ({str(err)[:120]})",
                        "Install a UEFI application built for the target (grub-mkimage -O "
                        "arm64-efi / arm-efi)")]
    ctx.pe = pe
    machine = pe.FILE_HEADER.Machine
    magic = pe.OPTIONAL_HEADER.Magic
    subsystem = pe.OPTIONAL_HEADER.Subsystem
    arch = ctx.arch or ("aarch64" if e.matches(REMOVABLE["aarch64"]) else "arm")
    detail = {"machine": f"0x{machine:04X}", "optional_header_magic": f"0x{magic:03X}",
              "subsystem": subsystem}
    problems = []
    if machine != PE_MACHINE[arch]:
        problems.append(f"machine 0x{machine:04X} ({MACHINE_NAMES.get(machine, 'unknown')}), "
                        f"not 0x{PE_MACHINE[arch]:04X} ({MACHINE_NAMES[PE_MACHINE[arch]]})")
    if magic != PE_MAGIC[arch]:
        problems.append(f"{'PE32+' if magic == 0x20B else 'PE32' if magic == 0x10B else hex(magic)}"
                        f", not {'PE32+' if arch == 'aarch64' else 'PE32'}")
    if subsystem != 10:
        problems.append(f"subsystem {subsystem} ({SUBSYSTEMS.get(subsystem, 'unknown')}), "
                        "not 10 (EFI application)")
    problems += pe_load_problems(pe, len(data))
    if problems:
        return [Finding("IMG-EFI-APP", "efi-app", "fail",
                        f"{e.path} is not a {arch} UEFI application: " + "; ".join(problems),
                        f"Build it for {arch}: grub-mkimage -O "
                        f"{'arm64-efi' if arch == 'aarch64' else 'arm-efi'} (Yocto: grub-efi "
                        "for the image's MACHINE)", detail)]
    return [Finding("IMG-EFI-APP", "efi-app", "pass",
                    f"{e.name}: {'PE32+' if magic == 0x20B else 'PE32'}, machine "
                    f"0x{machine:04X}, subsystem 10 (EFI application)", "", detail)]


def pe_load_problems(pe, file_size: int) -> list[str]:
    """Why the firmware's loader would refuse this PE image: no sections,
    headers or section data beyond the end of the file (a truncated copy), an
    entry point outside every section."""
    out = []
    secs = list(pe.sections)
    if pe.FILE_HEADER.NumberOfSections == 0 or not secs:
        out.append("it has no sections, so there is no code to load")
        return out
    if pe.OPTIONAL_HEADER.SizeOfHeaders > file_size:
        out.append(f"its headers ({pe.OPTIONAL_HEADER.SizeOfHeaders} bytes) are larger than "
                   f"the file ({file_size} bytes)")
    for sec in secs:
        name = sec.Name.rstrip(b"\0").decode("ascii", "replace") or "?"
        end = sec.PointerToRawData + sec.SizeOfRawData
        if sec.SizeOfRawData and end > file_size:
            out.append(f"section {name!r} ends at byte {end}, beyond the end of the file "
                       f"({file_size} bytes): the file is truncated")
            break
    ep = pe.OPTIONAL_HEADER.AddressOfEntryPoint
    if not any(sec.VirtualAddress <= ep < sec.VirtualAddress +
               max(sec.Misc_VirtualSize, sec.SizeOfRawData) for sec in secs):
        out.append(f"its entry point 0x{ep:X} lies in no section")
    return out


# -- FW-NOT-IN-IMAGE ----------------------------------------------------------
def find_firmware_volume(data: bytes) -> int | None:
    """Offset of a valid UEFI firmware volume header (``_FVH``, checksum 0).

    Linear: the header checksum (16-bit words summing to 0) comes from a
    prefix sum computed once per byte parity, so a buffer dense with fake
    ``_FVH`` signatures costs one pass, not one sum per signature."""
    prefix: dict[int, list[int]] = {}

    def words_sum(h: int, n_words: int) -> int:
        par = h & 1
        if par not in prefix:
            from array import array
            from itertools import accumulate
            raw = data[par:]
            arr = array("H")
            arr.frombytes(raw[:len(raw) // 2 * 2])
            if arr.itemsize != 2:           # pragma: no cover - exotic platforms
                return 1
            if struct.pack("=H", 1) != struct.pack("<H", 1):   # big-endian host
                arr.byteswap()
            prefix[par] = [0, *accumulate(arr)]
        p = prefix[par]
        i = (h - par) // 2
        return (p[i + n_words] - p[i]) & 0xFFFF

    zero16 = bytes(16)
    pos = data.find(b"_FVH")
    while pos >= 0:
        h = pos - 40
        if h >= 0 and h + 56 <= len(data) and data[h:h + 16] == zero16:
            hlen = struct.unpack_from("<H", data, h + 48)[0]
            fvlen = struct.unpack_from("<Q", data, h + 32)[0]
            if 56 <= hlen <= 4096 and hlen % 2 == 0 and h + hlen <= len(data) and fvlen >= hlen:
                if words_sum(h, hlen // 2) == 0:
                    return h
        pos = data.find(b"_FVH", pos + 1)
    return None


@check
def firmware(ctx: Context) -> list[Finding]:
    """FW-NOT-IN-IMAGE on the ESP and (independently) on the root fs."""
    try:
        esp = _firmware_esp(ctx)
    except (FatError, TruncatedImage) as err:
        esp = [Finding("FW-NOT-IN-IMAGE", "firmware-files", _req_bad("FW-NOT-IN-IMAGE"),
                       f"the ESP cannot be read completely: {err}",
                       "Re-create the ESP (mkfs.vfat -F 32) and copy the files again")]
    return esp + _firmware_in_root(ctx)


def _firmware_esp(ctx: Context) -> list[Finding]:
    miss = _no_esp(ctx, "FW-NOT-IN-IMAGE", "firmware-files")
    if miss:
        return [miss]
    fs = ctx.esp_fs
    assert fs is not None
    hits = []
    scanned = 0
    try:
        for e in fs.walk():
            if e.is_dir:
                continue
            if FIRMWARE_NAME.search(e.path):
                hits.append(f"{e.path} (name)")
                continue
            if scanned >= FV_SCAN_TOTAL or e.size == 0:
                continue
            n = min(e.size, FV_SCAN)
            head = fs.read(e, 0, n)
            scanned += n
            off = find_firmware_volume(head)
            if off is not None:
                hits.append(f"{e.path} (UEFI firmware volume header at byte {off})")
    except (FatError, TruncatedImage) as err:
        return [Finding("FW-NOT-IN-IMAGE", "firmware-files", _req_bad("FW-NOT-IN-IMAGE"),
                        f"the ESP cannot be walked completely: {err}",
                        "Re-create the ESP (mkfs.vfat -F 32) and copy the files again")]
    if hits:
        return [Finding("FW-NOT-IN-IMAGE", "firmware-files", _req_bad("FW-NOT-IN-IMAGE"),
                        "UEFI firmware is shipped on the ESP: " + "; ".join(hits[:8]),
                        "Remove the firmware from the image: the VM (QEMU pflash, Xen) "
                        "provides it; deploy QEMU_EFI.fd next to the image instead",
                        {"files": hits})]
    return [Finding("FW-NOT-IN-IMAGE", "firmware-files", "pass",
                    "no firmware volume (_FVH) or firmware file name on the ESP")]


# where distributions install UEFI firmware images (Debian qemu-efi-aarch64 /
# qemu-efi-arm / ovmf, Fedora edk2-aarch64 / edk2-arm, Yocto's ovmf and
# qemu's own firmware descriptors' targets)
ROOT_FIRMWARE_DIRS = ("/boot", "/boot/efi", "/usr/share/qemu-efi-aarch64",
                      "/usr/share/qemu-efi-arm", "/usr/share/AAVMF", "/usr/share/OVMF",
                      "/usr/share/edk2", "/usr/share/edk2/aarch64", "/usr/share/edk2/arm",
                      "/usr/share/edk2/ovmf", "/usr/share/qemu", "/usr/share/ovmf",
                      "/usr/share/firmware", "/lib/firmware/efi")


def _firmware_in_root(ctx: Context) -> list[Finding]:
    """FW-NOT-IN-IMAGE on the root filesystem: firmware image names in the
    usual firmware directories (one debugfs run for all of them)."""
    root = ctx.root()
    if root is None:
        return []
    try:
        listing = root.listdirs(list(ROOT_FIRMWARE_DIRS))
    except Ext4Error as err:
        return [Finding("FW-NOT-IN-IMAGE", "firmware-rootfs", "unknown",
                        f"the root filesystem's firmware directories could not be listed: {err}")]
    hits = [f"{d.rstrip('/')}/{e.name}" for d, es in listing.items() for e in es
            if not e.is_dir and FIRMWARE_NAME.search(e.name)]
    if hits:
        return [Finding("FW-NOT-IN-IMAGE", "firmware-rootfs", _req_bad("FW-NOT-IN-IMAGE"),
                        "UEFI firmware is shipped on the root filesystem: " + "; ".join(hits[:8]),
                        "Remove the firmware package from the image (e.g. qemu-efi-aarch64, "
                        "edk2-aarch64, ovmf): the VM provides its firmware", {"files": hits})]
    return [Finding("FW-NOT-IN-IMAGE", "firmware-rootfs", "pass",
                    f"no UEFI firmware image in the root filesystem's firmware directories "
                    f"({len(listing)} of {len(ROOT_FIRMWARE_DIRS)} exist)")]


# -- IMG-GRUB, HW-FDT, GUEST-NO-CONSOLE-ARG -----------------------------------
def _cmdline_value(args: list[str], key: str) -> list[str]:
    return [a.split("=", 1)[1] for a in args if a.startswith(key + "=")]


@check
def grub_config(ctx: Context) -> list[Finding]:
    if ctx.removable is None or ctx.efi_data is None:
        why = "no readable boot application, so GRUB's configuration cannot be located"
        return [Finding("IMG-GRUB", "grub-config", "unknown", why),
                Finding("HW-FDT", "devicetree", "unknown", why),
                Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "unknown", why)]
    gi = grub.parse_grub_efi(ctx.efi_data, ctx.pe)
    ctx.grub_image = gi
    if gi is None:
        damaged = grub.mods_section(ctx.pe) is not None
        if damaged:
            why = (f"{ctx.removable.path} has GRUB's 'mods' section but no readable module "
                   "info in it: the module area (modules, early config, prefix) is damaged, "
                   "so GRUB cannot start")
            return [Finding("IMG-GRUB", "grub-modules", "fail", why,
                            "Install a freshly built GRUB EFI binary (grub-mkimage)"),
                    Finding("HW-FDT", "devicetree", "unknown", why),
                    Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "unknown", why)]
        why = (f"{ctx.removable.path} is not GRUB (no embedded module info), so its "
               "configuration is not checked")
        return [Finding("IMG-GRUB", "grub-config", "unknown", why),
                Finding("HW-FDT", "devicetree", "unknown", why),
                Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "unknown", why)]
    walk = _read_grub_configs(ctx, gi)
    cfg = walk.cfg
    ctx.grub_cfg = cfg if walk.main else None
    out: list[Finding] = []
    detail = {"prefix": gi.prefix, "early_config": gi.early_config,
              "locations": walk.locations, "files": cfg.files, "missing": walk.missing,
              "unresolved": cfg.unresolved[:20]}
    if walk.limit:
        why = (f"GRUB's configuration is too large to check: {walk.limit}; a devicetree or "
               "root= line beyond the limit would go unseen")
        return [Finding("IMG-GRUB", "grub-config", "fail", why,
                        "Keep grub.cfg small (a generated grub.cfg is a few KiB)", detail),
                Finding("HW-FDT", "devicetree", "fail", why,
                        "Keep grub.cfg small so it can be checked", detail),
                Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "unknown", why)]
    if walk.errors:
        out.append(Finding("IMG-GRUB", "grub-config-read", "fail",
                           "GRUB config files cannot be read: " + "; ".join(walk.errors[:4]),
                           "Re-create the ESP (mkfs.vfat -F 32) and copy the files again",
                           detail))
    # HW-FDT first: it must not depend on anything below (kernel reads etc.)
    if cfg.devicetree_lines:
        out.append(Finding("HW-FDT", "devicetree", "fail",
                           "GRUB replaces the firmware's FDT: " + "; ".join(
                               f"{f} line {n}: {line}" for f, n, line
                               in cfg.devicetree_lines[:4]),
                           "Remove the 'devicetree' commands: the VM's firmware passes the FDT "
                           "that matches the VM", {"lines": cfg.devicetree_lines[:32]}))
    elif cfg.unresolved or walk.errors or not walk.main:
        why = []
        if not walk.main:
            why.append("GRUB's config was not found")
        if walk.errors:
            why.append(f"{len(walk.errors)} config file(s) could not be read")
        if cfg.unresolved:
            why.append("not every command could be resolved: " + "; ".join(cfg.unresolved[:3]))
        out.append(Finding("HW-FDT", "devicetree", "unknown",
                           "no devicetree command in what was read, but " + "; ".join(why),
                           "", {"unresolved": cfg.unresolved[:20]}))
    else:
        out.append(Finding("HW-FDT", "devicetree", "pass",
                           f"no devicetree command in {len(cfg.files)} GRUB script(s) "
                           "(early config included): the kernel gets the firmware's FDT"))
    entries = cfg.kernel_lines()
    consoles = []
    for e in entries:
        for c in _cmdline_value(e.linux[1:] if e.linux else [], "console"):
            consoles.append(f"console={c} (menuentry {e.title!r})")
    if not walk.main:
        out.append(Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "unknown",
                           "GRUB's config was not found"))
    elif consoles:
        out.append(Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "warn",
                           "the kernel command line hard-codes " + "; ".join(consoles[:4]) +
                           ": on a hypervisor with another console (hvc0 under Xen) the boot "
                           "log goes nowhere",
                           "Drop console=: the FDT's stdout-path (chosen node) picks the console"))
    else:
        out.append(Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "pass",
                           "no console= on the kernel command line"))
    if not walk.main:
        why = (f"GRUB (prefix {gi.prefix!r}) looks for {', '.join(walk.locations)}, which is "
               "neither on the ESP nor on the root filesystem")
        out.insert(0, Finding("IMG-GRUB", "grub-config", _req_bad("IMG-GRUB"), why,
                              "Install grub.cfg where the embedded prefix/early config points "
                              "(\\EFI\\BOOT\\grub.cfg for a removable-media GRUB)", detail))
        return out
    where, path = walk.main
    ctx.grub_cfg_path = path
    detail["config"] = f"{where}:{path}"
    fixed = [loc for loc in walk.locations if grub.fixed_device(grub.split_device(loc)[0])]
    if fixed:
        out.insert(0, Finding("IMG-GRUB", "grub-config", _req_bad("IMG-GRUB"),
                              f"GRUB's config location {', '.join(fixed)} names a fixed disk, "
                              "which changes with the hypervisor's disk order",
                              "Let the early config search for the file (search --file) "
                              "instead of naming (hdN,gptM)", detail))
    else:
        out.insert(0, Finding("IMG-GRUB", "grub-config", "pass",
                              f"GRUB's embedded prefix {gi.prefix!r} leads to "
                              f"{path} on the {'ESP' if where == 'esp' else 'root fs'}",
                              "", detail))
    # root= and fixed device names: a FAIL, the disk is named differently on
    # every hypervisor (vda on KVM virtio, xvda on Xen, sda on SCSI)
    bad_roots = []
    for e in entries:
        for r in _cmdline_value(e.linux[1:] if e.linux else [], "root"):
            if ROOT_DEVICE.match(r):
                bad_roots.append(f"root={r} (menuentry {e.title!r})")
    for n, v in cfg.root_sets:
        dev, _ = grub.split_device(v if v.startswith("(") else f"({v})")
        if grub.fixed_device(dev):
            bad_roots.append(f"set root={v} (line {n})")
    if bad_roots:
        out.append(Finding("IMG-GRUB", "grub-root-device", "fail",
                           "fixed disk names: " + "; ".join(bad_roots[:6]) + ". The disk is "
                           "vda under virtio-mmio/pci, xvda under Xen, sda under SCSI, so the "
                           "image cannot find its root on another hypervisor (shown by "
                           "'armvm-oe test IMAGE --hypervisor xen --xen-guest domu': as a Xen "
                           "domU such an image stops at 'ALERT! /dev/vda2 does not exist')",
                           "Use root=PARTUUID=<uuid> (wic: --use-uuid) or UUID=/LABEL=, and "
                           "'search --fs-uuid/--file --set=root' in GRUB"))
    elif entries:
        out.append(Finding("IMG-GRUB", "grub-root-device", "pass",
                           "no fixed disk names (root= uses PARTUUID/UUID/LABEL or is absent)"))
    out.extend(_boot_files(ctx, cfg, path))
    return out


@dataclass
class _GrubWalk:
    cfg: grub.GrubConfig
    locations: list[str]
    main: tuple[str, str] | None = None      # (where, path) of the first config read
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    limit: str | None = None


def _read_grub_configs(ctx: Context, gi: grub.GrubImage) -> _GrubWalk:
    """Every script GRUB runs, in order: the early config, then each file a
    configfile/source command names (bounded in files, depth and bytes)."""
    cfg = grub.GrubConfig()
    if gi.prefix is not None:
        cfg.variables["prefix"] = gi.prefix
    walk = _GrubWalk(cfg, [])
    try:
        cfg.add_script(gi.early_config or "", "(early config)")
        if not cfg.loads:      # no configfile: normal mode reads $prefix/grub.cfg
            prefix = cfg.variables.get("prefix", gi.prefix or "")
            cfg.loads.append(("(early config)", 0, prefix.rstrip("/") + "/grub.cfg", 1))
        walk.locations = [p for _, _, p, _ in cfg.loads]
        seen: set[str] = set()
        i = 0
        while i < len(cfg.loads):
            src, line, loc, depth = cfg.loads[i]
            i += 1
            dev, path = grub.split_device(loc)
            if "$" in path:
                cfg.unresolved.append(f"{src} line {line}: loads {loc}")
                continue
            if path in seen:
                continue
            seen.add(path)
            if depth > grub.MAX_DEPTH or len(cfg.files) > grub.MAX_FILES:
                raise grub.GrubLimit(f"configfile/source nest deeper than {grub.MAX_DEPTH} "
                                     f"levels or load more than {grub.MAX_FILES} files")
            try:
                data, where = ctx.find_file(path, grub.MAX_CONFIG_BYTES)
            except (FatError, Ext4Error, TruncatedImage) as err:
                if isinstance(err, (TooLarge, Ext4TooLarge)):
                    raise grub.GrubLimit(str(err)) from None
                walk.errors.append(f"{path}: {err}")
                continue
            if data is None:
                walk.missing.append(path)
                continue
            if walk.main is None:
                walk.main = (where or "esp", path)
            cfg.add_script(data.decode("utf-8", "replace"), path, depth)
    except grub.GrubLimit as err:
        walk.limit = str(err)
    return walk


def _boot_files(ctx: Context, cfg: grub.GrubConfig, cfg_path: str) -> list[Finding]:
    default = cfg.default_entry()
    if default is None:
        return [Finding("IMG-GRUB", "grub-boot-files", _req_bad("IMG-GRUB"),
                        f"{cfg_path} has no linux line, so GRUB boots no kernel",
                        "Add a menuentry with 'linux' and 'initrd' lines")]
    missing, unreadable = [], []
    checked = 0
    files = [default.linux[0]] + default.initrd if default.linux else default.initrd
    for i, f in enumerate(files):
        dev, path = grub.split_device(f)
        if "$" in path:
            continue
        try:
            if i == 0:
                data, where_k = ctx.find_file(path, MAX_KERNEL)
                if data is not None:
                    ctx.kernel_path, ctx.kernel_where = path, where_k
                    ctx.kernel["path"] = f"{where_k}:{path}"
                    ctx._kernel_blob = data      # type: ignore[attr-defined]
                exists = data is not None
            else:
                exists = _exists(ctx, path)
        except (FatError, Ext4Error, TruncatedImage) as err:
            unreadable.append(f"{f}: {err}")
            continue
        checked += 1
        if not exists:
            missing.append(f)
    out = []
    if unreadable:
        out.append(Finding("IMG-GRUB", "grub-boot-files", "fail",
                           f"the default entry {default.title!r} names files that cannot be "
                           "read, so GRUB cannot load them: " + "; ".join(unreadable[:4]),
                           "Re-create the ESP (mkfs.vfat -F 32) and copy the files again"))
    if missing:
        out.append(Finding("IMG-GRUB", "grub-boot-files", _req_bad("IMG-GRUB"),
                           f"the default entry {default.title!r} names files that are in "
                           f"neither the ESP nor the root fs: {', '.join(missing)}",
                           "Install the kernel/initramfs where grub.cfg says, or fix the "
                           "paths"))
    elif not unreadable:
        out.append(Finding("IMG-GRUB", "grub-boot-files", "pass",
                           f"default entry {default.title!r}: kernel and initrd present "
                           f"({checked} files)"))
    return out


def _exists(ctx: Context, path: str) -> bool:
    if ctx.esp_fs is not None:
        try:
            e = ctx.esp_fs.lookup(path)
            if e is not None and not e.is_dir:
                return True
        except FatError:
            pass
    root = ctx.root()
    return root is not None and root.exists(path)


# -- GUEST-* ------------------------------------------------------------------
def _config_from_root(ctx: Context, release: str | None) -> tuple[str | None, str | None]:
    root = ctx.root()
    if root is None:
        return None, None
    try:
        names = [e.name for e in root.listdir("/boot") if e.name.startswith("config-")]
    except (FileNotFoundError, Ext4Error):
        return None, None
    if not names:
        return None, None
    if release and f"config-{release}" in names:
        pick = f"config-{release}"
    elif len(names) == 1:
        pick = names[0]
    else:
        pick = None          # several configs and no release to choose by
    if pick is None:
        return None, None
    try:
        return root.read(f"/boot/{pick}", 8 << 20).decode("utf-8", "replace"), f"root:/boot/{pick}"
    except (FileNotFoundError, Ext4Error):
        return None, None


KERNEL_NAMES = ("Image", "zImage", "vmlinuz", "Image.gz")


def _fallback_kernel(ctx: Context) -> None:
    """No kernel from grub.cfg: take a lone well-known kernel file from the
    ESP's root directory (arch detection and IKCONFIG only)."""
    if ctx.esp_fs is None or getattr(ctx, "_kernel_blob", None) is not None:
        return
    try:
        names = [e for e in ctx.esp_fs.listdir("/") if not e.is_dir and
                 (e.name in KERNEL_NAMES or e.name.startswith("vmlinuz-"))]
        if len(names) == 1 and names[0].size <= MAX_KERNEL:
            ctx._kernel_blob = ctx.esp_fs.read(names[0])  # type: ignore[attr-defined]
            ctx.kernel["path"] = f"esp:/{names[0].name}"
    except FatError:
        return


def _arch_from_config(cfg: kconfig.KConfig) -> str | None:
    if cfg.value("ARM64") == "y":
        return "aarch64"
    if cfg.value("ARM") == "y":
        return "arm"
    return None


def load_kernel_config(ctx: Context) -> tuple[kconfig.KConfig | None, str]:
    """The kernel configuration and where it came from, or (None, why not)."""
    cfg, source = _load_kernel_config(ctx)
    if cfg is not None and ctx.arch is None:
        a = _arch_from_config(cfg)
        if a:
            ctx.arch, ctx.arch_source = a, "kernel"
    return cfg, source


def _load_kernel_config(ctx: Context) -> tuple[kconfig.KConfig | None, str]:
    if ctx.grub_cfg is None:
        _fallback_kernel(ctx)
    blob = getattr(ctx, "_kernel_blob", None)
    release = None
    if blob is not None:
        info = kconfig.inspect_kernel(blob)
        release = info.release
        ctx.kernel.update(release=info.release, compression=info.compression)
        if ctx.arch is None:
            a = _kernel_arch(blob)
            if a:
                ctx.arch, ctx.arch_source = a, "kernel"
    if ctx.kernel_config is not None:
        data = ctx.kernel_config.read_bytes()
        if kconfig.looks_like_config(data):
            ctx.kernel["config_source"] = f"--kernel-config {ctx.kernel_config}"
            return kconfig.parse_config(data.decode("utf-8", "replace")), \
                f"--kernel-config {ctx.kernel_config}"
        text = kconfig.inspect_kernel(data).config_text
        if text:
            ctx.kernel["config_source"] = f"IKCONFIG of {ctx.kernel_config}"
            return kconfig.parse_config(text), f"IKCONFIG of {ctx.kernel_config}"
        return None, f"{ctx.kernel_config} is neither a .config nor a kernel with IKCONFIG"
    if blob is not None:
        if info.config_text:
            ctx.kernel["config_source"] = "IKCONFIG"
            return kconfig.parse_config(info.config_text), f"IKCONFIG of {ctx.kernel['path']}"
    text, where = _config_from_root(ctx, release)
    if text:
        ctx.kernel["config_source"] = where
        return kconfig.parse_config(text), where
    why = []
    if blob is None:
        why.append("the kernel named by grub.cfg was not found" if ctx.grub_cfg
                   else "no kernel was located (no GRUB config)")
    else:
        why.append(f"the kernel {ctx.kernel['path']} has no embedded IKCONFIG"
                   + (f" ({info.note})" if info.note else ""))
    if ctx._root_error:
        why.append(f"no /boot/config-* could be read ({ctx._root_error})")
    else:
        why.append("the root filesystem has no matching /boot/config-*"
                   + (f" (kernel release {release})" if release else ""))
    return None, "; ".join(why)


@check
def kernel_config(ctx: Context) -> list[Finding]:
    cfg, source = load_kernel_config(ctx)
    kreqs = [r for r in requirements.REQUIREMENTS if r.kconfig]
    if ctx.arch is None:
        return [Finding(r.id, "kconfig", "unknown",
                        "the architecture is unknown (no boot application or kernel header "
                        "says), so the kernel requirements cannot be chosen",
                        "Pass --arch aarch64 or --arch arm") for r in kreqs]
    kreqs = [r for r in kreqs if r.options(ctx.arch)]
    if cfg is None:
        return [Finding(r.id, "kconfig", "unknown",
                        f"no kernel configuration: {source}",
                        "Enable CONFIG_IKCONFIG in the kernel, ship /boot/config-<release>, or "
                        "pass --kernel-config FILE") for r in kreqs]
    out = []
    found = kconfig.audit(cfg, ctx.arch)
    for r in kreqs:
        fs = [f for f in found if f.req_id == r.id]
        bad = [f for f in fs if f.result != "pass"]
        mods = [f.option for f in fs if f.result == "pass" and f.value == "m"]
        details = {"source": source,
                   "options": {f.option: f.value for f in fs},
                   "modules": mods}
        if bad:
            result = "fail" if any(f.result == "fail" for f in bad) else "warn"
            unset = [f.option for f in bad if f.value != "m"]
            asmod = [f.option for f in bad if f.value == "m"]
            parts = []
            if unset:
                parts.append("not set: " + ", ".join(unset))
            if asmod:
                parts.append("=m but needed built in: " + ", ".join(asmod))
            reason = f"{r.title}: " + "; ".join(parts)
            fix = ("Set " + ", ".join(f"{o}=y" for o in unset + asmod) +
                   " in the kernel configuration (a config fragment; meta-armvm's kernel "
                   "fragments do this)")
            if r.id == "GUEST-HOTPLUG" and ctx.arch == "arm" and "CONFIG_HOTPLUG_PCI" in unset:
                reason += " (this kernel cannot hot-plug PCIe devices)"
            out.append(Finding(r.id, "kconfig", result, f"{reason} [{source}]", fix, details))
        else:
            note = f" ({len(mods)} as modules: {', '.join(mods)}; the initramfs must load " \
                   "them)" if mods else ""
            out.append(Finding(r.id, "kconfig", "pass",
                               f"{len(fs)} options set{note} [{source}]", "", details))
    return out

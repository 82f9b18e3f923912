"""Image format, the disk: the GUID Partition Table (IMG-GPT), the EFI System
Partition's type and attributes (IMG-ESP-TYPE) and its FAT32 filesystem
(IMG-ESP-FAT32)."""

from __future__ import annotations

from armvm_oe.image import FatError, FatFs, TruncatedImage, fatcheck
from armvm_oe.image.gpt import BASIC_DATA_TYPE, ESP_TYPE, Partition
from armvm_oe.verify.checks.context import Context, no_esp, open_esp
from armvm_oe.verify.model import Finding


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


# -- IMG-ESP-FAT32 --------------------------------------------------------------
def esp_fat(ctx: Context) -> list[Finding]:
    open_esp(ctx)
    miss = no_esp(ctx, "IMG-ESP-FAT32", "esp-fat-type")
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
    out.append(_esp_mount(fs))
    out.append(_esp_cross_links(fs))
    return out


def _esp_mount(fs: FatFs) -> Finding:
    """What edk2's FAT driver and GRUB refuse to mount (armvm_oe.image.fatcheck)."""
    refused = fatcheck.firmware_refusals(fs)
    detail = {"fs_version": f"{fs.fs_version >> 8}.{fs.fs_version & 0xFF}",
              "ext_flags": f"0x{fs.ext_flags:04X}", "num_fats": fs.num_fats}
    if refused:
        return Finding("IMG-ESP-FAT32", "esp-mount", "fail", "; ".join(refused),
                       "Re-create the ESP with mkfs.vfat -F 32 -S 512 (it writes version 0.0 "
                       "and mirrored FATs) and copy the files again", detail)
    return Finding("IMG-ESP-FAT32", "esp-mount", "pass",
                   "UEFI firmware (edk2) and GRUB mount it: "
                   + ("BPB_FSVer 0.0, FAT mirroring on" if fs.fat_type == 32
                      else "no FAT32 version or mirroring fields"), "", detail)


def _esp_cross_links(fs: FatFs) -> Finding:
    """Clusters owned by two files: what the firmware reads for one is the other's data."""
    try:
        res = fatcheck.cross_links(fs)
    except (FatError, TruncatedImage) as err:
        return Finding("IMG-ESP-FAT32", "esp-cross-links", "fail",
                       f"the ESP's directory tree and cluster chains cannot be followed: {err}",
                       "Run fsck.fat on the ESP or re-create it (mkfs.vfat -F 32) and copy the "
                       "files again")
    detail = {"clusters_followed": res.followed, "shared": res.shared, "owners": res.owners}
    if res.shared:
        boot = [o for o in res.owners if o.upper().startswith("/EFI/BOOT/BOOT")]
        why = (f"{len(res.shared)}{'+' if len(res.shared) >= 16 else ''} cluster(s) "
               f"(first {res.shared[0]}) belong to more than one file: "
               f"{', '.join(res.owners[:6])}. Firmware and GRUB follow each chain as it is, "
               "so one file's content is partly the other's")
        if boot:
            why += (f"; the boot application {boot[0]} is cross-linked, so what the firmware "
                    "loads is not the file that was installed")
        return Finding("IMG-ESP-FAT32", "esp-cross-links", "fail", why,
                       "Run fsck.fat -a on the ESP (it un-shares the clusters) or re-create it "
                       "and copy the files again", detail)
    if not res.complete:
        return Finding("IMG-ESP-FAT32", "esp-cross-links", "unknown",
                       f"stopped after {res.followed} clusters (the limit is "
                       f"{fatcheck.MAX_CLUSTERS_FOLLOWED}) without finding a shared cluster",
                       "", detail)
    return Finding("IMG-ESP-FAT32", "esp-cross-links", "pass",
                   f"no cluster belongs to two files ({res.followed} clusters followed)",
                   "", detail)


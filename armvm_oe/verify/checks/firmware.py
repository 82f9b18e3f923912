"""Virtual firmware: the firmware belongs to the VM, not the image
(FW-NOT-IN-IMAGE), on the ESP and on the root filesystem."""

from __future__ import annotations

import re
import struct

from armvm_oe.image import Ext4Error, FatError, TruncatedImage
from armvm_oe.verify.checks.context import Context, no_esp
from armvm_oe.verify.model import Finding, bad_result

FV_SCAN = 1 << 20                  # bytes of each ESP file scanned for a firmware volume
FV_SCAN_TOTAL = 96 << 20
FIRMWARE_NAME = re.compile(r"(^|/)(QEMU_EFI|QEMU_VARS|AAVMF|OVMF|EDK2|ARMVIRT|RPI_EFI)[^/]*$"
                           r"|\.fd$", re.IGNORECASE)


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


def firmware(ctx: Context) -> list[Finding]:
    """FW-NOT-IN-IMAGE on the ESP and (independently) on the root fs."""
    try:
        esp = _firmware_esp(ctx)
    except (FatError, TruncatedImage) as err:
        esp = [Finding("FW-NOT-IN-IMAGE", "firmware-files", bad_result("FW-NOT-IN-IMAGE"),
                       f"the ESP cannot be read completely: {err}",
                       "Re-create the ESP (mkfs.vfat -F 32) and copy the files again")]
    return esp + _firmware_in_root(ctx)


def _firmware_esp(ctx: Context) -> list[Finding]:
    miss = no_esp(ctx, "FW-NOT-IN-IMAGE", "firmware-files")
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
        return [Finding("FW-NOT-IN-IMAGE", "firmware-files", bad_result("FW-NOT-IN-IMAGE"),
                        f"the ESP cannot be walked completely: {err}",
                        "Re-create the ESP (mkfs.vfat -F 32) and copy the files again")]
    if hits:
        return [Finding("FW-NOT-IN-IMAGE", "firmware-files", bad_result("FW-NOT-IN-IMAGE"),
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
        return [Finding("FW-NOT-IN-IMAGE", "firmware-rootfs", bad_result("FW-NOT-IN-IMAGE"),
                        "UEFI firmware is shipped on the root filesystem: " + "; ".join(hits[:8]),
                        "Remove the firmware package from the image (e.g. qemu-efi-aarch64, "
                        "edk2-aarch64, ovmf): the VM provides its firmware", {"files": hits})]
    return [Finding("FW-NOT-IN-IMAGE", "firmware-rootfs", "pass",
                    f"no UEFI firmware image in the root filesystem's firmware directories "
                    f"({len(listing)} of {len(ROOT_FIRMWARE_DIRS)} exist)")]


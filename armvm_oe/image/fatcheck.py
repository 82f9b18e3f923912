"""What UEFI firmware and GRUB refuse in a FAT volume that a lenient reader
(ours, Linux's) still reads: the rules live here as data beside their
source, :mod:`armvm_oe.verify.checks.image_disk` reports them.

Sources (read, not copied):

* edk2 ``FatPkg/EnhancedFatDxe/Init.c`` (``FatOpenDevice``): a FAT32 volume
  whose ``BPB_FSVer`` is not 0 or whose ``BPB_ExtFlags`` has bit 7 set
  (FAT mirroring disabled) is ``EFI_UNSUPPORTED``: the firmware mounts no
  filesystem on the ESP, so it finds no ``\\EFI\\BOOT``.
* GRUB ``grub-core/fs/fat.c`` (``grub_fat_mount``): ``fs_version != 0`` fails
  the mount; with mirroring disabled GRUB reads the active FAT named by
  ``ExtFlags & 0xF`` and fails when that number is beyond ``BPB_NumFATs``.
* Cross-linked clusters (one cluster in the chains of two files): neither
  reader detects them, both read the other file's data; FAT's one-owner rule
  (Microsoft FAT specification, section 4) is what fsck.fat repairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from armvm_oe.image.fat import FatError, FatFs

# at most this many clusters are followed when looking for cross-links: an
# ESP (a few hundred MiB) has far fewer; the bitmap is cluster_count/8 bytes
MAX_CLUSTERS_FOLLOWED = 1 << 22


def firmware_refusals(fs: FatFs) -> list[str]:
    """Why edk2's FAT driver or GRUB refuses to mount ``fs`` (empty: both mount it)."""
    out = []
    if fs.fat_type != 32:
        return out
    if fs.fs_version != 0:
        out.append(f"BPB_FSVer is {fs.fs_version >> 8}.{fs.fs_version & 0xFF}, not 0.0: UEFI "
                   "firmware (edk2's FAT driver) and GRUB refuse to mount the volume")
    if fs.ext_flags & 0x80:
        active = fs.ext_flags & 0x0F
        why = (f"BPB_ExtFlags is 0x{fs.ext_flags:04X}: FAT mirroring is disabled (bit 7), "
               "which UEFI firmware (edk2's FAT driver) refuses to mount")
        if active >= fs.num_fats:
            why += (f"; the active FAT it names (number {active}) does not exist (the volume "
                    f"has {fs.num_fats}), so GRUB reads no valid FAT either")
        else:
            why += f"; GRUB reads FAT number {active} instead of the first"
        out.append(why)
    return out


@dataclass
class CrossLinks:
    shared: list[int] = field(default_factory=list)      # clusters in two chains (first 16)
    owners: list[str] = field(default_factory=list)      # paths whose chains hold them
    followed: int = 0
    complete: bool = True


def cross_links(fs: FatFs, limit: int = MAX_CLUSTERS_FOLLOWED) -> CrossLinks:
    """Clusters that belong to two files or directories: every entry's chain
    (as far as its size needs; a directory's as far as 65536 entries) marked in a bitmap
    of ``cluster_count`` bits, then the owners of the shared clusters named
    in a second pass. Raises FatError for a corrupt directory tree or chain
    (the caller reports it); stops, ``complete=False``, after ``limit``
    clusters."""
    res = CrossLinks()
    seen = bytearray((fs.cluster_count + 2) // 8 + 1)
    # a directory is read as far as the FAT's 65536 entries go (as FatFs does)
    dir_clusters = -(-fs.limits.max_dir_entries * 32 // fs.cluster_size) + 1
    chains: list[tuple[int, str, int]] = []
    if fs.fat_type == 32:
        chains.append((fs.root_cluster, "/ (root directory)", dir_clusters))
    for e in fs.walk():
        need = dir_clusters if e.is_dir else -(-e.size // fs.cluster_size)
        if e.first_cluster != 0 and need != 0:
            chains.append((e.first_cluster, e.path, need))
    done = 0
    for first, path, need in chains:
        done += 1
        need = min(need, limit - res.followed + 1)    # never a list longer than the budget
        for c in fs.chain(first, path, max_clusters=need):
            res.followed += 1
            byte, bit = c >> 3, 1 << (c & 7)
            if not seen[byte] & bit:
                seen[byte] |= bit
            elif len(res.shared) < 16:
                res.shared.append(c)
        if res.followed >= limit:
            res.complete = False
            break
    if res.shared:
        wanted = set(res.shared)
        for first, path, need in chains[:done]:
            if not wanted.isdisjoint(fs.chain(first, path, max_clusters=min(need, limit))):
                res.owners.append(path)
    return res


__all__ = ["CrossLinks", "FatError", "cross_links", "firmware_refusals",
           "MAX_CLUSTERS_FOLLOWED"]

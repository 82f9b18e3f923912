"""A bounded, read-only FAT12/16/32 reader (Microsoft FAT specification 1.03).

* The FAT type comes from the **cluster count**, the only rule the FAT
  specification (and UEFI 2.4A 12.3.1.1) gives, never from the ``FAT32``
  string in the boot sector; :attr:`FatFs.label_type` keeps that string for
  reporting a mismatch.
* BPB sanity problems are collected in :attr:`FatFs.problems`; a boot sector
  that cannot be used at all raises :class:`FatError`.
* Long (VFAT/LFN, checksum-verified) and 8.3 names; lookups are
  case-insensitive and match either name, like UEFI firmware does.
* Everything is bounded by :class:`Limits`: cluster chains that loop, leave
  the data area, or hit a free/bad cluster raise :class:`FatError`, as do
  directories with more entries than the FAT spec allows (65536), walks that
  nest too deep or list too many entries (a budget per walk or lookup, never
  per filesystem, so one big walk cannot starve a later check), and reads beyond ``max_file_bytes``.
  Memory is bounded by the FAT cache (at most ``fat_cache_bytes``).
"""

from __future__ import annotations

import struct
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

from armvm_oe.image.source import Source

ATTR_RO, ATTR_HIDDEN, ATTR_SYSTEM, ATTR_VOLUME, ATTR_DIR, ATTR_ARCHIVE = 1, 2, 4, 8, 16, 32
ATTR_LFN = 0x0F


class FatError(Exception):
    """The filesystem is corrupt in a way that stops reading (message says how)."""


@dataclass(frozen=True)
class Limits:
    max_dir_entries: int = 65536        # FAT spec: a directory holds at most 65536 entries
    max_total_entries: int = 200_000    # across one walk
    max_depth: int = 32
    max_file_bytes: int = 512 << 20
    fat_cache_bytes: int = 8 << 20


@dataclass
class DirEntry:
    name: str                 # long name when present, else the 8.3 name
    short_name: str           # "BOOTAA64.EFI"
    attr: int
    first_cluster: int
    size: int
    path: str = ""

    @property
    def is_dir(self) -> bool:
        return bool(self.attr & ATTR_DIR)

    def matches(self, component: str) -> bool:
        c = component.casefold()
        return c == self.name.casefold() or c == self.short_name.casefold()


def _lfn_checksum(short: bytes) -> int:
    s = 0
    for b in short:
        s = (((s & 1) << 7) + (s >> 1) + b) & 0xFF
    return s


def _short_name(raw: bytes, nt: int) -> str:
    base = raw[:8].rstrip(b" ")
    ext = raw[8:11].rstrip(b" ")
    if base[:1] == b"\x05":
        base = b"\xe5" + base[1:]
    b = base.decode("cp437", "replace")
    e = ext.decode("cp437", "replace")
    if nt & 0x08:
        b = b.lower()
    if nt & 0x10:
        e = e.lower()
    return f"{b}.{e}" if e else b


class FatFs:
    """A FAT filesystem inside ``src`` (usually a partition's SliceSource)."""

    def __init__(self, src: Source, limits: Limits | None = None) -> None:
        self.src = src
        self.limits = limits or Limits()
        self.problems: list[str] = []
        self.ext_flags = self.fs_version = 0      # FAT32 BPB_ExtFlags, BPB_FSVer
        self.active_fat = 0                       # the FAT copy chains are read from
        self._fat_cache: OrderedDict[int, object] = OrderedDict()
        self._parse_bpb()

    # -- boot sector -------------------------------------------------------
    def _parse_bpb(self) -> None:
        bs = self.src.read(0, 512)
        if len(bs) < 512:
            raise FatError(f"the partition is only {len(bs)} bytes: no FAT boot sector")
        if bs[0] not in (0xEB, 0xE9):
            self.problems.append(f"boot sector starts with 0x{bs[0]:02X}, not a jump "
                                 "instruction (0xEB/0xE9)")
        if bs[510:512] != b"\x55\xaa":
            self.problems.append("boot sector lacks the 0x55AA signature")
        (self.bytes_per_sector, self.sectors_per_cluster, self.reserved_sectors,
         self.num_fats, self.root_entries, tot16, self.media, fat16) = \
            struct.unpack_from("<HBHBHHBH", bs, 11)
        tot32, fat32 = struct.unpack_from("<II", bs, 32)
        if self.bytes_per_sector not in (512, 1024, 2048, 4096):
            raise FatError(f"bytes per sector is {self.bytes_per_sector}, not 512/1024/2048/4096: "
                           "not a FAT filesystem")
        spc = self.sectors_per_cluster
        if spc == 0 or spc & (spc - 1):
            raise FatError(f"sectors per cluster is {spc}, not a power of two: "
                           "not a FAT filesystem")
        if self.reserved_sectors == 0:
            raise FatError("the reserved sector count is 0: not a FAT filesystem")
        if self.num_fats == 0:
            raise FatError("the number of FATs is 0: not a FAT filesystem")
        if self.num_fats > 2:
            self.problems.append(f"{self.num_fats} FAT copies (expected 1 or 2)")
        self.cluster_size = spc * self.bytes_per_sector
        if self.cluster_size > 32768:
            self.problems.append(f"cluster size {self.cluster_size} is above 32 KiB, which "
                                 "the FAT specification says not to use")
        if self.media not in (0xF0,) and self.media < 0xF8:
            self.problems.append(f"media byte 0x{self.media:02X} is not a valid value")
        self.fat_sectors = fat16 or fat32
        self.total_sectors = tot16 or tot32
        if self.fat_sectors == 0 or self.total_sectors == 0:
            raise FatError("the FAT size or total sector count is 0: not a FAT filesystem")
        self.root_dir_sectors = (self.root_entries * 32 + self.bytes_per_sector - 1) \
            // self.bytes_per_sector
        meta = self.reserved_sectors + self.num_fats * self.fat_sectors + self.root_dir_sectors
        if meta >= self.total_sectors:
            raise FatError(f"the FATs and reserved area ({meta} sectors) fill the whole "
                           f"volume ({self.total_sectors} sectors)")
        self.first_data_sector = meta
        self.cluster_count = (self.total_sectors - meta) // spc
        # The one rule of the FAT specification (section 3.5).
        if self.cluster_count < 4085:
            self.fat_type = 12
        elif self.cluster_count < 65525:
            self.fat_type = 16
        else:
            self.fat_type = 32
        label_off = 0x52 if fat16 == 0 else 0x36
        self.label_type = bs[label_off:label_off + 8].decode("ascii", "replace").strip()
        self.volume_label = bs[label_off - 11:label_off].decode("cp437", "replace").strip()
        if self.fat_type == 32:
            if fat16 != 0 or tot16 != 0:
                self.problems.append("FAT32 volume with a non-zero 16-bit FAT size or sector "
                                     "count")
            if self.root_entries != 0:
                self.problems.append(f"FAT32 volume declares {self.root_entries} fixed root "
                                     "entries (must be 0)")
            self.root_cluster = struct.unpack_from("<I", bs, 44)[0]
            self.ext_flags, self.fs_version = struct.unpack_from("<HH", bs, 40)
            if self.ext_flags & 0x80 and (self.ext_flags & 0x0F) < self.num_fats:
                # mirroring off: readers that accept it (GRUB) use the active FAT
                self.active_fat = self.ext_flags & 0x0F
            if not 2 <= self.root_cluster < self.cluster_count + 2:
                raise FatError(f"the FAT32 root directory cluster {self.root_cluster} is outside "
                               f"the data area (2..{self.cluster_count + 1})")
        else:
            self.root_cluster = 0
            if self.root_entries == 0:
                raise FatError(f"FAT{self.fat_type} volume (by cluster count) without a fixed "
                               "root directory: the BPB is inconsistent")
        if fat16 == 0 and self.fat_type != 32:
            self.problems.append(f"the BPB has the FAT32 layout but only {self.cluster_count} "
                                 f"clusters, so the volume is FAT{self.fat_type}")
        fat_bits = {12: 12, 16: 16, 32: 32}[self.fat_type]
        if self.fat_sectors * self.bytes_per_sector * 8 // fat_bits < self.cluster_count + 2:
            self.problems.append(f"the FAT ({self.fat_sectors} sectors) is too small for "
                                 f"{self.cluster_count} clusters")
        if self.total_sectors * self.bytes_per_sector > self.src.size:
            self.problems.append(
                f"the volume claims {self.total_sectors * self.bytes_per_sector} bytes but "
                f"its partition holds {self.src.size}")
        self.eoc = {12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}[self.fat_type]
        self.bad = {12: 0xFF7, 16: 0xFFF7, 32: 0x0FFFFFF7}[self.fat_type]

    # -- FAT ---------------------------------------------------------------
    _BLOCK = 64 << 10

    def _fat_block(self, index: int):
        blk = self._fat_cache.get(index)
        if blk is not None:
            self._fat_cache.move_to_end(index)
            return blk
        off = (self.reserved_sectors + self.active_fat * self.fat_sectors) \
            * self.bytes_per_sector + index * self._BLOCK
        raw = self.src.read(off, self._BLOCK + 2)       # +2: FAT12 entries span blocks
        if self.fat_type == 32:
            blk = array("I")
            blk.frombytes(raw[:len(raw) // 4 * 4][:self._BLOCK])
        elif self.fat_type == 16:
            blk = array("H")
            blk.frombytes(raw[:len(raw) // 2 * 2][:self._BLOCK])
        else:
            blk = raw
        self._fat_cache[index] = blk
        while len(self._fat_cache) * self._BLOCK > self.limits.fat_cache_bytes:
            self._fat_cache.popitem(last=False)
        return blk

    def next_cluster(self, c: int) -> int:
        if self.fat_type == 32:
            per = self._BLOCK // 4
            blk = self._fat_block(c // per)
            i = c % per
            return (blk[i] & 0x0FFFFFFF) if i < len(blk) else 0
        if self.fat_type == 16:
            per = self._BLOCK // 2
            blk = self._fat_block(c // per)
            i = c % per
            return blk[i] if i < len(blk) else 0
        off = c + c // 2
        blk = self._fat_block(off // self._BLOCK)
        i = off % self._BLOCK
        if i + 1 >= len(blk):
            return 0
        v = blk[i] | (blk[i + 1] << 8)
        return (v >> 4) if c & 1 else (v & 0xFFF)

    def _check_cluster(self, c: int, what: str) -> None:
        if not 2 <= c < self.cluster_count + 2:
            raise FatError(f"{what}: cluster {c} is outside the data area "
                           f"(2..{self.cluster_count + 1})")

    def chain(self, first: int, what: str, max_clusters: int | None = None) -> list[int]:
        """The cluster chain from ``first``; raises FatError on loops, free or bad
        clusters and out-of-range values. Stops after ``max_clusters``."""
        limit = self.cluster_count if max_clusters is None else min(max_clusters,
                                                                     self.cluster_count)
        out: list[int] = []
        seen: set[int] = set()
        c = first
        self._check_cluster(c, what)
        while True:
            if c in seen:
                raise FatError(f"{what}: the cluster chain loops back to cluster {c}")
            seen.add(c)
            out.append(c)
            if len(out) >= limit:
                return out
            n = self.next_cluster(c)
            if n == c + 1 and self.fat_type != 12 and len(out) + 1 < limit:
                k = self._run_length(n, limit - len(out) - 1)
                if k:
                    # n .. n+k-1 each point at the next cluster: a contiguous run
                    run = range(n, n + k)
                    self._check_cluster(n + k - 1, what)
                    if not seen.isdisjoint(run):
                        raise FatError(f"{what}: the cluster chain loops back into itself "
                                       f"near cluster {n}")
                    seen.update(run)
                    out.extend(run)
                    c = n + k - 1
                    n = self.next_cluster(c)
                    if len(out) >= limit:
                        return out
            if n >= self.eoc:
                return out
            if n == self.bad:
                raise FatError(f"{what}: the cluster chain runs into a bad cluster after {c}")
            if n in (0, 1):
                raise FatError(f"{what}: the cluster chain runs into a free cluster after {c}")
            self._check_cluster(n, what)
            c = n

    def _run_length(self, c: int, max_len: int) -> int:
        """How many clusters from ``c`` on point at their successor (c -> c+1),
        compared 512 FAT entries at a time at C speed."""
        per = self._BLOCK // (4 if self.fat_type == 32 else 2)
        typ = "I" if self.fat_type == 32 else "H"
        mask = 0x0FFFFFFF if self.fat_type == 32 else 0xFFFF
        k = 0
        while k < max_len:
            cur = c + k
            blk = self._fat_block(cur // per)
            i = cur % per
            step = min(512, len(blk) - i, max_len - k)
            if step <= 0:
                break
            want = array(typ, range(cur + 1, cur + 1 + step))
            got = blk[i:i + step]
            if self.fat_type == 32 and got != want:
                got = array("I", (v & mask for v in got))
            if got == want:
                k += step
                continue
            for j in range(step):
                if got[j] != cur + 1 + j:
                    return k + j
            return k + step
        return k

    def cluster_offset(self, c: int) -> int:
        return (self.first_data_sector + (c - 2) * self.sectors_per_cluster) \
            * self.bytes_per_sector

    def _read_runs(self, clusters: list[int], skip: int, length: int) -> bytes:
        """Read ``length`` bytes starting ``skip`` bytes into the chain,
        coalescing contiguous clusters into one read."""
        cs = self.cluster_size
        out = []
        i = skip // cs
        within = skip % cs
        while length > 0 and i < len(clusters):
            j = i
            while j + 1 < len(clusters) and clusters[j + 1] == clusters[j] + 1 \
                    and (j + 1 - i) * cs - within < length:
                j += 1
            start = self.cluster_offset(clusters[i]) + within
            n = min((j - i + 1) * cs - within, length)
            data = self.src.read(start, n)
            out.append(data)
            if len(data) < n:
                raise FatError(f"cluster {clusters[j]} lies beyond the end of the partition")
            length -= n
            within = 0
            i = j + 1
        return b"".join(out)

    # -- directories -------------------------------------------------------
    def _dir_raw(self, first_cluster: int, what: str) -> Iterator[bytes]:
        """Raw 32-byte entries of a directory, bounded."""
        if first_cluster == 0 and self.fat_type != 32:
            data = self.src.read((self.reserved_sectors + self.num_fats * self.fat_sectors)
                                 * self.bytes_per_sector, self.root_entries * 32)
            for k in range(0, len(data) - 31, 32):
                yield data[k:k + 32]
            return
        if first_cluster == 0:
            first_cluster = self.root_cluster
        per = self.cluster_size // 32
        max_clusters = -(-self.limits.max_dir_entries // per) + 1
        clusters = self.chain(first_cluster, what, max_clusters=max_clusters)
        count = 0
        for c in clusters:
            data = self.src.read(self.cluster_offset(c), self.cluster_size)
            for k in range(0, len(data) - 31, 32):
                count += 1
                if count > self.limits.max_dir_entries:
                    raise FatError(f"{what}: more than {self.limits.max_dir_entries} "
                                   "entries (the FAT limit) without an end marker")
                yield data[k:k + 32]

    def listdir_cluster(self, first_cluster: int, what: str = "root directory",
                        budget: list[int] | None = None) -> list[DirEntry]:
        """The entries of one directory. ``budget`` is the walk's (or
        lookup's) entry counter, a one-element list: the limit applies per
        walk, so a long verify never runs out of a filesystem-wide budget."""
        budget = [0] if budget is None else budget
        entries: list[DirEntry] = []
        lfn: dict[int, str] = {}
        lfn_sum = -1
        for e in self._dir_raw(first_cluster, what):
            budget[0] += 1
            if budget[0] > self.limits.max_total_entries:
                raise FatError(f"more than {self.limits.max_total_entries} directory entries "
                               "read: giving up")
            if e[0] == 0:
                break
            if e[0] == 0xE5:
                lfn.clear()
                continue
            attr = e[11]
            if attr & 0x3F == ATTR_LFN:
                seq = e[0] & 0x1F
                if e[0] & 0x40:
                    lfn.clear()
                    lfn_sum = e[13]
                if 1 <= seq <= 20 and e[13] == lfn_sum:
                    part = (e[1:11] + e[14:26] + e[28:32]).decode("utf-16-le", "replace")
                    lfn[seq] = part.split("\0", 1)[0]
                continue
            if attr & ATTR_VOLUME:
                lfn.clear()
                continue
            short = _short_name(e[:11], e[12])
            name = short
            if lfn and _lfn_checksum(e[:11]) == lfn_sum and set(lfn) == set(range(1, len(lfn) + 1)):
                name = "".join(lfn[i] for i in sorted(lfn)).rstrip("\uffff")
            lfn.clear()
            if short in (".", ".."):
                continue
            hi, lo = struct.unpack_from("<H", e, 20)[0], struct.unpack_from("<H", e, 26)[0]
            first = (hi << 16 | lo) if self.fat_type == 32 else lo
            size = struct.unpack_from("<I", e, 28)[0]
            entries.append(DirEntry(name, short, attr, first, size))
        return entries

    # -- paths -------------------------------------------------------------
    @staticmethod
    def _split(path: str) -> list[str]:
        return [p for p in path.replace("\\", "/").split("/") if p]

    def lookup(self, path: str) -> DirEntry | None:
        """The entry at ``path`` (case-insensitive, long or 8.3 names), or None."""
        parts = self._split(path)
        if len(parts) > self.limits.max_depth:
            raise FatError(f"path {path!r} is deeper than {self.limits.max_depth} levels")
        cluster = 0
        entry = None
        walked = ""
        budget = [0]
        for i, comp in enumerate(parts):
            listing = self.listdir_cluster(cluster, f"directory /{walked}", budget)
            entry = next((e for e in listing if e.matches(comp)), None)
            if entry is None:
                return None
            walked = f"{walked}{entry.name}/"
            entry.path = "/" + walked.rstrip("/")
            if i < len(parts) - 1:
                if not entry.is_dir:
                    return None
                cluster = entry.first_cluster
                if cluster == 0:       # ".." style pointer to root: a corrupt entry
                    raise FatError(f"directory /{walked.rstrip('/')} points at cluster 0")
        return entry

    def listdir(self, path: str = "/") -> list[DirEntry]:
        if not self._split(path):
            return self.listdir_cluster(0)
        e = self.lookup(path)
        if e is None:
            raise FileNotFoundError(path)
        if not e.is_dir:
            raise NotADirectoryError(path)
        if e.first_cluster == 0:
            raise FatError(f"directory {path} points at cluster 0")
        return self.listdir_cluster(e.first_cluster, f"directory {path}")

    def walk(self, path: str = "/") -> Iterator[DirEntry]:
        """Every entry below ``path`` (depth-first, bounded), with ``.path`` set."""
        stack: list[tuple[str, int, int]] = [(path.rstrip("/"), 0, 0)]
        if self._split(path):
            e = self.lookup(path)
            if e is None or not e.is_dir:
                return
            stack = [(e.path, e.first_cluster, 1)]
        seen_dirs: set[int] = set()
        budget = [0]
        while stack:
            base, cluster, depth = stack.pop()
            if depth > self.limits.max_depth:
                raise FatError(f"directories nest deeper than {self.limits.max_depth} levels "
                               f"at {base or '/'}")
            for e in self.listdir_cluster(cluster, f"directory {base or '/'}", budget):
                e.path = f"{base}/{e.name}"
                yield e
                if e.is_dir:
                    if e.first_cluster == 0 or e.first_cluster in seen_dirs:
                        raise FatError(f"directory {e.path} points back at an ancestor "
                                       f"(cluster {e.first_cluster}): a directory loop")
                    seen_dirs.add(e.first_cluster)
                    stack.append((e.path, e.first_cluster, depth + 1))

    def read(self, entry: DirEntry | str, offset: int = 0, length: int | None = None) -> bytes:
        """File content (or a range of it). Raises FileNotFoundError,
        IsADirectoryError, or FatError for corrupt chains and over-limit sizes."""
        if isinstance(entry, str):
            e = self.lookup(entry)
            if e is None:
                raise FileNotFoundError(entry)
            entry = e
        if entry.is_dir:
            raise IsADirectoryError(entry.path or entry.name)
        size = entry.size
        if length is None:
            length = size - offset
        length = max(0, min(length, size - offset))
        if length > self.limits.max_file_bytes:
            raise FatError(f"{entry.path or entry.name}: {length} bytes is more than the "
                           f"{self.limits.max_file_bytes} byte read limit")
        if length == 0:
            return b""
        if entry.first_cluster == 0:
            raise FatError(f"{entry.path or entry.name}: {size} bytes but no first cluster")
        need = -(-(offset + length) // self.cluster_size)
        clusters = self.chain(entry.first_cluster, entry.path or entry.name, max_clusters=need)
        if len(clusters) < need:
            raise FatError(f"{entry.path or entry.name}: the cluster chain ends after "
                           f"{len(clusters)} clusters but the size ({size} bytes) needs {need}")
        return self._read_runs(clusters, offset, length)

    def describe(self) -> dict:
        return {"fat_type": self.fat_type, "cluster_count": self.cluster_count,
                "cluster_size": self.cluster_size, "bytes_per_sector": self.bytes_per_sector,
                "label_type": self.label_type, "volume_label": self.volume_label,
                "problems": list(self.problems)}

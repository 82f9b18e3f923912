"""GUID Partition Table parsing with full validation (UEFI 2.x, chapter 5).

:func:`read_gpt` never raises on a malformed table: it returns a
:class:`Gpt` whose ``problems`` list says what is wrong (in words a user can
act on) and whose ``partitions`` come from the first header that validates
(primary, else backup). Sizes are bounded: at most ``MAX_ENTRY_BYTES`` of
entry array are read whatever the header claims.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field

from armvm_oe.image.source import Source

SECTOR = 512
GPT_SIGNATURE = b"EFI PART"
GPT_REVISION = b"\x00\x00\x01\x00"          # 1.0, the only revision UEFI defines
MAX_ENTRY_BYTES = 1 << 20          # 8192 entries of 128 bytes; sgdisk writes 16 KiB
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
BASIC_DATA_TYPE = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
LINUX_FS_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
TYPE_NAMES = {
    ESP_TYPE: "EFI System",
    BASIC_DATA_TYPE: "Microsoft basic data",
    LINUX_FS_TYPE: "Linux filesystem",
    "B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "Linux root (ARM-64)",
    "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3": "Linux root (ARM-32)",
    "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
    "21686148-6449-6E6F-744E-656564454649": "BIOS boot",
}


def guid_str(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw)).upper()


@dataclass
class Partition:
    number: int                  # 1-based slot in the entry array
    type_guid: str
    unique_guid: str
    first_lba: int
    last_lba: int
    attributes: int
    name: str

    @property
    def offset(self) -> int:
        return self.first_lba * SECTOR

    @property
    def size(self) -> int:
        return (self.last_lba - self.first_lba + 1) * SECTOR

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type_guid, self.type_guid)

    def as_dict(self) -> dict:
        return {"number": self.number, "type_guid": self.type_guid, "type": self.type_name,
                "partuuid": self.unique_guid, "first_lba": self.first_lba,
                "last_lba": self.last_lba, "name": self.name}


@dataclass
class Header:
    which: str                   # "primary" | "backup"
    lba: int
    valid: bool = False
    problems: list[str] = field(default_factory=list)
    current_lba: int = 0
    backup_lba: int = 0
    first_usable: int = 0
    last_usable: int = 0
    disk_guid: str = ""
    entries_lba: int = 0
    num_entries: int = 0
    entry_size: int = 0
    entries_crc: int = 0
    entries: list[Partition] = field(default_factory=list)
    entries_raw_crc_ok: bool = False
    entries_raw: bytes = b""


@dataclass
class Gpt:
    disk_size: int
    mbr_ok: bool = False
    mbr_problems: list[str] = field(default_factory=list)
    primary: Header | None = None
    backup: Header | None = None
    partitions: list[Partition] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)     # all of them, readable

    @property
    def found(self) -> bool:
        """A GPT signature was found at all (primary or backup)."""
        return any(h is not None and "no GPT signature" not in " ".join(h.problems)
                   for h in (self.primary, self.backup))

    @property
    def ok(self) -> bool:
        return not self.problems

    def partition(self, number: int) -> Partition | None:
        for p in self.partitions:
            if p.number == number:
                return p
        return None


def _check_mbr(src: Source, gpt: Gpt) -> None:
    mbr = src.read(0, SECTOR)
    if len(mbr) < SECTOR:
        gpt.mbr_problems.append("the image is shorter than one sector")
        return
    if mbr[510:512] != b"\x55\xaa":
        gpt.mbr_problems.append("no protective MBR (sector 0 lacks the 0x55AA signature)")
        return
    types = [mbr[446 + 16 * i + 4] for i in range(4)]
    if 0xEE not in types:
        gpt.mbr_problems.append(
            "sector 0 is a legacy MBR without a 0xEE protective entry "
            f"(types {', '.join(f'0x{t:02X}' for t in types)}): firmware treats the disk as MBR")
        return
    i = types.index(0xEE)
    entry = mbr[446 + 16 * i:446 + 16 * (i + 1)]
    start = struct.unpack_from("<I", entry, 8)[0]
    if start != 1:
        gpt.mbr_problems.append(f"the protective MBR entry starts at LBA {start}, not 1")
    others = [t for j, t in enumerate(types) if j != i and t != 0]
    if others:
        gpt.mbr_problems.append("the MBR is hybrid (other entries besides 0xEE); "
                                "UEFI expects a purely protective MBR")
    gpt.mbr_ok = not gpt.mbr_problems


def _read_header(src: Source, lba: int, which: str, disk_sectors: int) -> Header:
    h = Header(which=which, lba=lba)
    raw = src.read(lba * SECTOR, SECTOR)
    if len(raw) < 92:
        h.problems.append(f"{which} GPT header (LBA {lba}) lies beyond the end of the image")
        return h
    if raw[:8] != GPT_SIGNATURE:
        h.problems.append(f"no GPT signature in the {which} header (LBA {lba})")
        return h
    (_rev, hsize, hcrc, _res, cur, bak, fu, lu, dguid, elba, nent, esize, ecrc) = \
        struct.unpack_from("<4sII4sQQQQ16sQIII", raw, 8)
    if not 92 <= hsize <= SECTOR:
        h.problems.append(f"{which} GPT header size {hsize} is outside 92..512")
        return h
    calc = zlib.crc32(raw[:16] + b"\0\0\0\0" + raw[20:hsize]) & 0xFFFFFFFF
    if calc != hcrc:
        h.problems.append(f"{which} GPT header CRC32 mismatch (stored 0x{hcrc:08X}, "
                          f"computed 0x{calc:08X})")
    h.current_lba, h.backup_lba, h.first_usable, h.last_usable = cur, bak, fu, lu
    h.disk_guid = guid_str(dguid)
    h.entries_lba, h.num_entries, h.entry_size, h.entries_crc = elba, nent, esize, ecrc
    if cur != lba:
        h.problems.append(f"{which} GPT header says it is at LBA {cur} but was read at LBA {lba}")
    if _rev != GPT_REVISION:
        h.problems.append(f"{which} GPT header revision is {_rev.hex()}, not 00000100 (1.0), "
                          "which UEFI firmware (edk2's partition driver) refuses")
    if esize < 128 or esize & (esize - 1) or esize > 4096:
        h.problems.append(f"{which} GPT entry size {esize} is not 128 * 2^n (128..4096), "
                          "which UEFI firmware refuses")
        return h
    if nent == 0:
        h.problems.append(f"{which} GPT header declares 0 partition entries, which UEFI "
                          "firmware refuses")
    total = nent * esize
    if total > MAX_ENTRY_BYTES:
        h.problems.append(f"{which} GPT claims {nent} entries of {esize} bytes "
                          f"({total} bytes), more than the {MAX_ENTRY_BYTES} read at most")
        return h
    if fu > lu or lu >= disk_sectors:
        h.problems.append(f"{which} GPT usable range {fu}..{lu} does not fit the disk "
                          f"({disk_sectors} sectors)")
    h.problems.extend(_layout_problems(which, lba, fu, lu, elba, -(-total // SECTOR)))
    if elba + -(-total // SECTOR) > disk_sectors:
        h.problems.append(f"{which} GPT entry array (LBA {elba}, {total} bytes) lies beyond the "
                          "end of the image")
        return h
    entries = src.read(elba * SECTOR, total)
    h.entries_raw = entries
    ecalc = zlib.crc32(entries) & 0xFFFFFFFF
    h.entries_raw_crc_ok = ecalc == ecrc
    if ecalc != ecrc:
        h.problems.append(f"{which} GPT entry-array CRC32 mismatch (stored 0x{ecrc:08X}, "
                          f"computed 0x{ecalc:08X})")
    for n in range(nent):
        e = entries[n * esize:n * esize + 128]
        if e[:16] == bytes(16):
            continue
        first, last, attrs = struct.unpack_from("<QQQ", e, 32)
        name = e[56:128].decode("utf-16-le", "replace").split("\0", 1)[0]
        h.entries.append(Partition(n + 1, guid_str(e[:16]), guid_str(e[16:32]),
                                   first, last, attrs, name))
    h.valid = not h.problems
    return h


def _layout_problems(which: str, lba: int, fu: int, lu: int, elba: int,
                     esectors: int) -> list[str]:
    """UEFI 2.10 section 5.3.2: the usable range holds neither the protective
    MBR, the header itself nor its entry array (the primary array ends before
    FirstUsableLBA, the backup array starts after LastUsableLBA), and the
    entry array does not cover its header. A partition allowed there would
    overwrite the table on its first write. (edk2 does not check this; the
    specification requires it, and sgdisk -v reports it.)"""
    out = []
    eend = elba + max(esectors, 1) - 1
    if fu > lu:
        return out                  # reported as "does not fit the disk"
    if fu == 0:
        out.append(f"{which} GPT usable range {fu}..{lu} includes LBA 0, the protective MBR")
    if fu <= lba <= lu:
        out.append(f"{which} GPT usable range {fu}..{lu} includes the header itself "
                   f"(LBA {lba}): FirstUsableLBA/LastUsableLBA overlap the header")
    if elba <= lu and fu <= eend:
        out.append(f"{which} GPT usable range {fu}..{lu} overlaps its own entry array "
                   f"(LBA {elba}..{eend})")
    if elba <= lba <= eend:
        out.append(f"{which} GPT entry array (LBA {elba}..{eend}) covers its own header "
                   f"(LBA {lba})")
    return out


def _check_entries(gpt: Gpt, h: Header, disk_sectors: int) -> None:
    spans = []
    for p in h.entries:
        if p.first_lba > p.last_lba:
            gpt.problems.append(f"partition {p.number} ({p.name!r}) ends (LBA {p.last_lba}) "
                                f"before it starts (LBA {p.first_lba})")
            continue
        if p.first_lba < h.first_usable or p.last_lba > h.last_usable:
            gpt.problems.append(
                f"partition {p.number} ({p.name!r}, LBA {p.first_lba}..{p.last_lba}) is outside "
                f"the usable range {h.first_usable}..{h.last_usable}")
        if p.last_lba >= disk_sectors:
            gpt.problems.append(f"partition {p.number} ({p.name!r}) ends at LBA {p.last_lba}, "
                                f"beyond the end of the image ({disk_sectors} sectors)")
        spans.append(p)
    spans.sort(key=lambda p: p.first_lba)
    for a, b in zip(spans, spans[1:]):
        if b.first_lba <= a.last_lba:
            gpt.problems.append(f"partitions {a.number} and {b.number} overlap "
                                f"(LBA {b.first_lba}..{min(a.last_lba, b.last_lba)})")


def read_gpt(src: Source) -> Gpt:
    """Parse and validate the protective MBR, both GPT headers and entry arrays."""
    gpt = Gpt(disk_size=src.size)
    disk_sectors = src.size // SECTOR
    if disk_sectors < 3:
        gpt.problems.append(f"the image is only {src.size} bytes: too small to hold a GPT")
        return gpt
    _check_mbr(src, gpt)
    gpt.problems.extend(gpt.mbr_problems)
    primary = _read_header(src, 1, "primary", disk_sectors)
    gpt.primary = primary
    backup_lba = disk_sectors - 1
    if primary.backup_lba and "no GPT signature" not in " ".join(primary.problems):
        if primary.backup_lba != backup_lba:
            gpt.problems.append(
                f"the primary GPT header puts the backup header at LBA {primary.backup_lba}, "
                f"but the image's last sector is LBA {backup_lba} (image truncated or grown "
                "without relocating the backup GPT: sgdisk -e fixes a grown image)")
    backup = _read_header(src, backup_lba, "backup", disk_sectors)
    if not backup.valid and primary.backup_lba and primary.backup_lba != backup_lba \
            and primary.backup_lba < disk_sectors:
        alt = _read_header(src, primary.backup_lba, "backup", disk_sectors)
        if alt.valid:
            backup = alt
    gpt.backup = backup
    gpt.problems.extend(primary.problems)
    gpt.problems.extend(backup.problems)
    if primary.valid and backup.valid:
        if primary.entries_raw != backup.entries_raw:
            gpt.problems.append("the primary and backup GPT entry arrays differ")
        if primary.disk_guid != backup.disk_guid:
            gpt.problems.append("the primary and backup GPT headers name different disk GUIDs")
        if backup.entries_lba <= backup.last_usable:
            gpt.problems.append("the backup GPT entry array lies inside the usable area")
    chosen = primary if primary.valid else backup if backup.valid else \
        primary if primary.entries else backup
    if chosen is not None:
        gpt.partitions = list(chosen.entries)
        if chosen.entries or chosen.valid:
            _check_entries(gpt, chosen, disk_sectors)
    for h in (primary, backup):
        h.entries_raw = b""       # do not keep up to 1 MiB per header alive
    return gpt

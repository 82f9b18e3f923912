"""Pure checks of the files inside an Arm Virtual Hardware firmware package:
the arm64 kernel ``Image`` header, the flattened device tree header, and the
``Info.plist`` / ``Info.json`` keys. No I/O beyond the bytes handed in.

Formats:

* arm64 ``Image`` (Linux ``Documentation/arch/arm64/booting.rst``): a 64-byte
  little-endian header; ``magic`` ``"ARM\\x64"`` (0x644d5241) at offset 0x38,
  ``flags`` bit 0 = big-endian kernel.
* FDT (devicetree specification, chapter 5): a 40-byte big-endian header
  starting with 0xd00dfeed; blocks inside ``totalsize``; the structure block
  starts with FDT_BEGIN_NODE and ends with FDT_END.
* AVH ``Info.plist`` (AVH docs, "Linux Firmware Packages"): Type,
  UniqueIdentifier, DeviceIdentifier, Version, Build (strings) and optional
  ``bootargs`` {normal, restore} (strings).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

ARM64_MAGIC = b"ARM\x64"
ARM64_MAGIC_OFFSET = 0x38
ARM64_HEADER_SIZE = 64
RISCV_MAGIC2 = b"RSC\x05"
ZIMAGE_MAGIC = 0x016F2818            # ARM (32-bit) zImage, little-endian word at 0x24
FDT_MAGIC = 0xD00DFEED
FDT_HEADER_SIZE = 40
FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = 1, 2, 3, 4, 9

REQUIRED_INFO_KEYS = ("Type", "UniqueIdentifier", "DeviceIdentifier", "Version", "Build")
BOOTARGS_KEY = "bootargs"
BOOTARGS_KINDS = ("normal", "restore")

# How the first bytes of a file that is not an arm64 Image give it away.
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"),
               (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bzip2"), (b"\x02\x21\x4c\x18", "lz4"),
               (b"\x5d\x00\x00", "lzma"))


class FormatError(ValueError):
    """A file is not what it must be: ``what`` (one sentence) and ``fix``."""

    def __init__(self, what: str, fix: str):
        super().__init__(what)
        self.what = what
        self.fix = fix


def compression_of(head: bytes) -> str | None:
    for magic, name in _COMPRESSED:
        if head.startswith(magic):
            return name
    return None


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Decompress a gzip'd kernel (``Image.gz``) refusing more than ``limit``
    bytes of output (a gzip bomb cannot fill memory)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    # The header first (issue 16): a gzip of zeros or of anything that is not
    # an arm64 Image is refused after 4 KiB, not after inflating ``limit``
    # bytes into memory; a real header's image_size (bss included, so never
    # below the file's size) bounds the rest.
    head = d.decompress(data, 4096)
    if len(head) >= ARM64_HEADER_SIZE and not d.eof:
        check_arm64_image(head)
        image_size = struct.unpack_from("<Q", head, 16)[0]
        if image_size:
            limit = min(limit, image_size)
    out = head + d.decompress(d.unconsumed_tail, max(1, limit + 1 - len(head))) \
        if not d.eof else head
    if len(out) > limit:
        raise FormatError(f"the gzip'd kernel decompresses to more than {limit >> 20} MiB",
                          "Pass a real kernel Image(.gz): a gzip'd kernel may not inflate "
                          "beyond the image_size its header declares (at most 512 MiB)")
    if not d.eof:
        raise FormatError("the gzip'd kernel is truncated or corrupt",
                          "Copy Image.gz again from the kernel build (arch/arm64/boot/)")
    return out


@dataclass
class KernelInfo:
    text_offset: int
    image_size: int
    flags: int
    size: int
    pe_stub: bool          # "MZ" at 0: EFI stub kernel

    def as_dict(self) -> dict:
        return {"format": "arm64 Image", "size": self.size, "text_offset": self.text_offset,
                "image_size": self.image_size, "flags": self.flags,
                "efi_stub": self.pe_stub}


def check_arm64_image(head: bytes, size: int | None = None) -> KernelInfo:
    """Raise :class:`FormatError` unless ``head`` (at least the first 64 bytes)
    is the header of an uncompressed, little-endian arm64 ``Image``."""
    size = len(head) if size is None else size
    comp = compression_of(head)
    if comp:
        raise FormatError(f"the kernel is {comp}-compressed; AVH needs the uncompressed "
                          "arm64 Image",
                          "Use arch/arm64/boot/Image (armvm-oe avh pack decompresses gzip "
                          "itself; decompress other formats first)")
    if head.startswith(b"\x7fELF"):
        raise FormatError("the kernel is an ELF file (vmlinux), not an arm64 Image",
                          "Use arch/arm64/boot/Image (or the deploy dir's 'Image') instead")
    if len(head) >= 0x28 and struct.unpack_from("<I", head, 0x24)[0] == ZIMAGE_MAGIC:
        raise FormatError("the kernel is a 32-bit ARM zImage; AVH runs an arm64 Image",
                          "Build the aarch64 machine (armvm-aarch64) and pass its Image")
    if len(head) >= 0x206 and head[0x202:0x206] == b"HdrS":
        raise FormatError("the kernel is an x86 bzImage, not an arm64 Image",
                          "Pass the kernel of an aarch64 build")
    if len(head) < ARM64_HEADER_SIZE:
        raise FormatError(f"the kernel is only {len(head)} bytes, shorter than the 64-byte "
                          "arm64 Image header", "Pass a real arm64 kernel Image")
    magic = head[ARM64_MAGIC_OFFSET:ARM64_MAGIC_OFFSET + 4]
    if magic == RISCV_MAGIC2:
        raise FormatError("the kernel is a RISC-V Image, not an arm64 Image",
                          "Pass the kernel of an aarch64 build")
    if magic != ARM64_MAGIC:
        raise FormatError("the kernel is not an arm64 Image: no 'ARM\\x64' magic at offset "
                          f"0x38 (found {magic!r})",
                          "Pass arch/arm64/boot/Image of an aarch64 kernel build")
    text_offset, image_size, flags = struct.unpack_from("<QQQ", head, 8)
    if flags & 1:
        raise FormatError("the kernel is a big-endian arm64 Image; AVH boots little-endian "
                          "kernels", "Build the kernel without CONFIG_CPU_BIG_ENDIAN")
    return KernelInfo(text_offset, image_size, flags, size, head[:2] == b"MZ")


@dataclass
class DtbInfo:
    totalsize: int
    version: int
    last_comp_version: int
    boot_cpuid: int
    model: str | None = None
    compatible: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"format": "FDT", "totalsize": self.totalsize, "version": self.version,
                "last_comp_version": self.last_comp_version, "model": self.model,
                "compatible": self.compatible}


def check_dtb(data: bytes) -> DtbInfo:
    """Raise :class:`FormatError` unless ``data`` is a sane flattened device tree;
    return its header and the root node's ``model``/``compatible``."""
    fix = "Pass a compiled .dtb (dtc -O dtb, or the kernel's arch/arm64/boot/dts/...)"
    if data.lstrip().startswith((b"/dts-v1/", b"/ {", b"/include/")):
        raise FormatError("the devicetree is DTS source text, not a compiled DTB", fix)
    if len(data) < FDT_HEADER_SIZE:
        raise FormatError(f"the devicetree is {len(data)} bytes, shorter than the 40-byte "
                          "FDT header", fix)
    (magic, totalsize, off_struct, off_strings, off_rsv, version, last_comp,
     boot_cpuid, size_strings, size_struct) = struct.unpack_from(">10I", data, 0)
    if magic != FDT_MAGIC:
        raise FormatError(f"the devicetree is not a DTB: magic 0x{magic:08x}, expected "
                          "0xd00dfeed", fix)
    problems = []
    if totalsize > len(data):
        problems.append(f"totalsize {totalsize} is larger than the file ({len(data)} bytes)")
    if totalsize < FDT_HEADER_SIZE:
        problems.append(f"totalsize {totalsize} is smaller than the header")
    if version < 16 or last_comp > 17 or last_comp > version:
        problems.append(f"version {version} / last compatible {last_comp} is not a "
                        "supported FDT version (16 or 17)")
    if off_rsv < FDT_HEADER_SIZE or off_rsv % 8:
        problems.append(f"memory reservation block offset {off_rsv} is invalid")
    if off_struct % 4 or off_struct < FDT_HEADER_SIZE or off_struct + size_struct > totalsize:
        problems.append(f"structure block {off_struct}+{size_struct} lies outside the blob")
    if off_strings < FDT_HEADER_SIZE or off_strings + size_strings > totalsize:
        problems.append(f"strings block {off_strings}+{size_strings} lies outside the blob")
    if problems:
        raise FormatError("the devicetree header is corrupt: " + "; ".join(problems), fix)
    struct_blk = data[off_struct:off_struct + size_struct]
    strings = data[off_strings:off_strings + size_strings]
    info = DtbInfo(totalsize, version, last_comp, boot_cpuid)
    _walk_root(struct_blk, strings, info, fix)
    return info


def _walk_root(blk: bytes, strings: bytes, info: DtbInfo, fix: str) -> None:
    """Check the structure block's tokens and read the root's properties."""
    def tok(pos: int) -> int:
        if pos + 4 > len(blk):
            raise FormatError("the devicetree structure block ends without FDT_END", fix)
        return struct.unpack_from(">I", blk, pos)[0]

    pos = 0
    while tok(pos) == FDT_NOP:
        pos += 4
    if tok(pos) != FDT_BEGIN_NODE:
        raise FormatError("the devicetree structure block does not start with the root node",
                          fix)
    depth = 0
    steps = 0
    while True:
        steps += 1
        if steps > 10_000_000:
            raise FormatError("the devicetree structure block does not terminate", fix)
        t = tok(pos)
        pos += 4
        if t == FDT_BEGIN_NODE:
            end = blk.find(b"\0", pos)
            if end < 0:
                raise FormatError("a devicetree node name is not terminated", fix)
            pos = (end + 1 + 3) & ~3
            depth += 1
        elif t == FDT_END_NODE:
            depth -= 1
            if depth < 0:
                raise FormatError("the devicetree has an unbalanced FDT_END_NODE", fix)
        elif t == FDT_PROP:
            if pos + 8 > len(blk):
                raise FormatError("a devicetree property header is truncated", fix)
            length, nameoff = struct.unpack_from(">II", blk, pos)
            pos += 8
            if pos + length > len(blk) or nameoff >= len(strings):
                raise FormatError("a devicetree property lies outside its block", fix)
            value = blk[pos:pos + length]
            pos = (pos + length + 3) & ~3
            if depth == 1:
                name = strings[nameoff:strings.find(b"\0", nameoff)].decode("ascii", "replace")
                if name == "model":
                    info.model = value.rstrip(b"\0").decode("utf-8", "replace")
                elif name == "compatible":
                    info.compatible = [c.decode("utf-8", "replace")
                                       for c in value.rstrip(b"\0").split(b"\0")]
        elif t == FDT_NOP:
            continue
        elif t == FDT_END:
            if depth != 0:
                raise FormatError("the devicetree ends inside a node", fix)
            return
        else:
            raise FormatError(f"the devicetree structure block has an unknown token {t}", fix)


def check_info(info: object, name: str = "Info.plist") -> tuple[list[str], list[str]]:
    """(errors, warnings) for a parsed Info.plist/Info.json root object."""
    errors: list[str] = []
    warnings: list[str] = []
    if not isinstance(info, dict):
        return [f"{name}: the top level must be a dictionary, not {type(info).__name__}"], []
    for key in REQUIRED_INFO_KEYS:
        if key not in info:
            errors.append(f"{name}: required key '{key}' is missing")
        elif not isinstance(info[key], str):
            errors.append(f"{name}: '{key}' must be a string, not {type(info[key]).__name__}")
        elif not info[key].strip():
            errors.append(f"{name}: '{key}' is empty")
    if BOOTARGS_KEY in info:
        ba = info[BOOTARGS_KEY]
        if not isinstance(ba, dict):
            errors.append(f"{name}: 'bootargs' must be a dictionary with 'normal' and/or "
                          f"'restore', not {type(ba).__name__}")
        else:
            for k, v in ba.items():
                if k not in BOOTARGS_KINDS:
                    warnings.append(f"{name}: 'bootargs' has an unknown key '{k}' "
                                    "(AVH knows 'normal' and 'restore')")
                elif not isinstance(v, str):
                    errors.append(f"{name}: 'bootargs.{k}' must be a string")
    for key in info:
        if key not in REQUIRED_INFO_KEYS and key != BOOTARGS_KEY:
            warnings.append(f"{name}: unknown key '{key}' (ignored by AVH?)")
    return errors, warnings


# An AVH Info file nests two levels (the root dict, the bootargs dict): a
# deeper one is refused before it is parsed (JSON) or kept (plist), so no
# parser or JSON writer recurses on it
MAX_INFO_DEPTH = 16


def json_depth(data: bytes, stop: int = MAX_INFO_DEPTH + 1) -> int:
    """The deepest ``[``/``{`` nesting of a JSON text, outside strings (pure,
    iterative; stops counting at ``stop``)."""
    depth = deepest = 0
    in_str = esc = False
    for b in data:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:            # backslash
                esc = True
            elif b == 0x22:            # quote
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b in (0x5B, 0x7B):        # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest >= stop:
                    return deepest
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


def value_depth(obj: object, stop: int = MAX_INFO_DEPTH + 1) -> int:
    """The nesting depth of parsed lists/dicts (iterative; stops at ``stop``)."""
    deepest = 0
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, (list, dict)):
            deepest = max(deepest, d)
            if deepest >= stop:
                return deepest
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


def _too_deep(name: str, depth: int) -> FormatError:
    return FormatError(f"{name} nests arrays/dictionaries {depth}{'+' if depth > MAX_INFO_DEPTH else ''} "
                       f"levels deep, more than the {MAX_INFO_DEPTH} an AVH Info file can need "
                       "(its keys are strings and one 'bootargs' dictionary): it is not an AVH "
                       "Info file and is not read further",
                       "Write Info with the five string keys and an optional bootargs "
                       "dictionary ('armvm-oe avh pack' does)")


def parse_info(data: bytes, name: str) -> object:
    """Parse Info.plist (XML or binary plist) or Info.json; FormatError if
    unreadable or nested deeper than MAX_INFO_DEPTH (checked on the JSON text
    before parsing, on a plist's parsed value before it is used)."""
    import json
    import plistlib

    if name.endswith(".json"):
        depth = json_depth(data)
        if depth > MAX_INFO_DEPTH:
            raise _too_deep(name, depth)
    try:
        if name.endswith(".json"):
            info = json.loads(data.decode("utf-8"))
        else:
            info = plistlib.loads(data)
    except (Exception, RecursionError) as exc:  # plistlib/json/expat raise many types
        raise FormatError(f"{name} cannot be parsed: {type(exc).__name__}: {exc}",
                          "Write it with plistlib (XML plist) or as a JSON object") from None
    depth = value_depth(info)
    if depth > MAX_INFO_DEPTH:
        raise _too_deep(name, depth)
    return info


def is_gzip(head: bytes) -> bool:
    return head.startswith(b"\x1f\x8b")


__all__ = ["FormatError", "KernelInfo", "DtbInfo", "check_arm64_image", "check_dtb",
           "check_info", "parse_info", "gunzip_bounded", "compression_of", "is_gzip",
           "REQUIRED_INFO_KEYS", "ARM64_MAGIC", "FDT_MAGIC", "MAX_INFO_DEPTH",
           "json_depth", "value_depth"]

"""GRUB: the embedded prefix and early config of a grub-mkimage EFI binary,
and a small, bounded grub.cfg reader (what verify needs, not a GRUB parser).

GRUB keeps its modules, early config and prefix in a ``mods`` section that
starts with a module-info header (magic ``mimg``); objects follow as
``{u32 type, u32 size}`` records (type 2 = config, 3 = prefix).
"""

from __future__ import annotations

import re
import shlex
import struct
from dataclasses import dataclass, field

MODULE_MAGIC = b"mimg"
OBJ_CONFIG, OBJ_PREFIX = 2, 3
MAX_OBJECTS = 4096


@dataclass
class GrubImage:
    prefix: str | None = None
    early_config: str | None = None
    modules: int = 0


def _mods_region(data: bytes, pe) -> tuple[int, int]:
    if pe is not None:
        for s in pe.sections:
            if s.Name.rstrip(b"\0") == b"mods":
                start = s.PointerToRawData
                return start, min(len(data), start + s.SizeOfRawData)
    return 0, len(data)


def parse_grub_efi(data: bytes, pe=None) -> GrubImage | None:
    """The prefix and early config embedded in a GRUB EFI binary, or None
    when ``data`` holds no GRUB module info (not GRUB)."""
    start, end = _mods_region(data, pe)
    pos = data.find(MODULE_MAGIC, start, end)
    while pos >= 0:
        for layout in ("info32", "info64"):     # grub_module_info32 / grub_module_info64
            if layout == "info32":
                if pos + 12 > len(data):
                    continue
                off, size = struct.unpack_from("<II", data, pos + 4)
            else:
                if pos + 24 > len(data):
                    continue
                off, size = struct.unpack_from("<QQ", data, pos + 8)
            if off not in (12, 16, 24) or size < off or pos + size > len(data):
                continue
            img = GrubImage()
            p, stop = pos + off, pos + size
            for _ in range(MAX_OBJECTS):
                if p + 8 > stop:
                    break
                typ, osize = struct.unpack_from("<II", data, p)
                if osize < 8 or p + osize > stop:
                    break
                body = data[p + 8:p + osize].split(b"\0", 1)[0].decode("utf-8", "replace")
                if typ == OBJ_CONFIG:
                    img.early_config = body
                elif typ == OBJ_PREFIX:
                    img.prefix = body
                else:
                    img.modules += 1
                p += osize
            if img.prefix is not None or img.early_config is not None or img.modules:
                return img
        pos = data.find(MODULE_MAGIC, pos + 1, end)
    return None


_DEVICE = re.compile(r"^\(([^)]*)\)")


def split_device(path: str) -> tuple[str | None, str]:
    """'(hd0,gpt1)/EFI/BOOT' -> ('hd0,gpt1', '/EFI/BOOT'); '/x' -> (None, '/x')."""
    m = _DEVICE.match(path)
    if m:
        return m.group(1), path[m.end():] or "/"
    return None, path


def fixed_device(dev: str | None) -> bool:
    """A BIOS-style disk name such as hd0 / hd0,gpt2 (depends on disk order)."""
    return bool(dev) and bool(re.match(r"^(hd|cd|fd|ahci|ata|usb)\d+", dev or ""))


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True, posix=True)
    except ValueError:
        return line.split()


def config_locations(img: GrubImage) -> list[str]:
    """Where GRUB will look for its config (device-relative paths, in order)."""
    out: list[str] = []
    prefix = img.prefix or ""
    for line in (img.early_config or "").splitlines():
        w = _words(line)
        if not w:
            continue
        if w[0] in ("configfile", "source") and len(w) > 1:
            out.append(w[1])
        elif w[0] == "set" and len(w) > 1 and w[1].startswith("prefix="):
            prefix = w[1].split("=", 1)[1]
    if not out:
        out.append(prefix.rstrip("/") + "/grub.cfg")
    return out


@dataclass
class MenuEntry:
    title: str
    linux: list[str] | None = None      # path + args
    initrd: list[str] = field(default_factory=list)
    devicetree: list[str] = field(default_factory=list)
    lineno: int = 0


@dataclass
class GrubConfig:
    entries: list[MenuEntry] = field(default_factory=list)
    default: int = 0
    devicetree_lines: list[tuple[int, str]] = field(default_factory=list)
    root_sets: list[tuple[int, str]] = field(default_factory=list)     # set root=...
    search_lines: list[tuple[int, str]] = field(default_factory=list)
    top: MenuEntry = field(default_factory=lambda: MenuEntry("(outside menuentry)"))

    def default_entry(self) -> MenuEntry | None:
        cands = [e for e in self.entries if e.linux] or ([self.top] if self.top.linux else [])
        if not cands:
            return None
        return cands[self.default] if 0 <= self.default < len(cands) else cands[0]

    def kernel_lines(self) -> list[MenuEntry]:
        return [e for e in self.entries + [self.top] if e.linux]


def parse_config(text: str, max_lines: int = 20000) -> GrubConfig:
    cfg = GrubConfig()
    stack: list[MenuEntry] = []
    for n, raw in enumerate(text.splitlines()[:max_lines], 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("menuentry", "submenu")):
            w = _words(line.rstrip("{").strip())
            entry = MenuEntry(w[1] if len(w) > 1 else "", lineno=n)
            if line.startswith("menuentry"):
                cfg.entries.append(entry)
            stack.append(entry)
            if line.endswith("}"):
                stack.pop()
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        w = _words(line)
        if not w:
            continue
        cur = stack[-1] if stack else cfg.top
        cmd = w[0]
        if cmd in ("linux", "linux16", "linuxefi"):
            cur.linux = w[1:]
        elif cmd in ("initrd", "initrd16", "initrdefi"):
            cur.initrd.extend(w[1:])
        elif cmd == "devicetree":
            cur.devicetree.extend(w[1:])
            cfg.devicetree_lines.append((n, line))
        elif cmd == "set" and len(w) > 1 and w[1].startswith("default="):
            v = w[1].split("=", 1)[1]
            cfg.default = int(v) if v.isdigit() else 0
        elif cmd == "set" and len(w) > 1 and w[1].startswith("root="):
            cfg.root_sets.append((n, w[1].split("=", 1)[1]))
        elif cmd == "search":
            cfg.search_lines.append((n, line))
    return cfg

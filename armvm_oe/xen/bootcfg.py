"""Find the image's own kernel, initrd and command line in its boot config.

Pure parsing: the GRUB config (``linux``/``initrd`` lines of the default
``menuentry``, read with :mod:`armvm_oe.verify.grub`) or a systemd-boot
loader entry (``linux``/``initrd``/``options``). No files are read here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from armvm_oe.verify import grub

GRUB_CFG_PATHS = ("EFI/BOOT/grub.cfg", "EFI/boot/grub.cfg", "boot/grub/grub.cfg",
                  "grub/grub.cfg", "EFI/debian/grub.cfg")


@dataclass
class BootEntry:
    title: str
    kernel: str                       # path as written, device prefix removed
    args: list[str] = field(default_factory=list)
    initrds: list[str] = field(default_factory=list)
    source: str = ""                  # which config file it came from
    devicetree: str | None = None

    def arg(self, key: str) -> str | None:
        for a in self.args:
            if a.startswith(key + "="):
                return a[len(key) + 1:]
        return None

    @property
    def root(self) -> str | None:
        return self.arg("root")


def strip_device(path: str) -> str:
    """``(hd0,gpt1)/Image`` or ``($root)/Image`` -> ``/Image``."""
    return "/" + grub.split_device(path.strip())[1].lstrip("/")


def grub_default(text: str) -> str | None:
    """The raw ``set default=`` value (an index or a title)."""
    m = re.search(r"^\s*set\s+default\s*=\s*(['\"]?)([^'\"\s]*)\1", text, re.M)
    return m.group(2) if m else None


def _entry(e: grub.MenuEntry, source: str) -> BootEntry:
    return BootEntry(e.title if e.title != "(outside menuentry)" else "",
                     strip_device(e.linux[0]), list(e.linux[1:]),
                     [strip_device(i) for i in e.initrd], source,
                     strip_device(e.devicetree[0]) if e.devicetree else None)


def default_entry(text: str, source: str = "grub.cfg") -> BootEntry | None:
    """The entry GRUB boots with no user input (``set default=`` by index,
    as verify's reader resolves it, or by title), else the first."""
    try:
        cfg = grub.parse_config(text)
    except grub.GrubLimit:          # too large to read: no entry rather than a guess
        return None
    d = grub_default(text)
    if d and not d.isdigit():
        for e in cfg.kernel_lines():
            if e.title == d:
                return _entry(e, source)
    e = cfg.default_entry()
    return _entry(e, source) if e else None


def parse_loader_entry(text: str, source: str) -> BootEntry | None:
    """A systemd-boot ``loader/entries/*.conf`` file."""
    kv: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, _, v = line.partition(" ")
        kv.setdefault(k, []).append(v.strip())
    if "linux" not in kv:
        return None
    args = " ".join(kv.get("options", [])).split()
    return BootEntry(kv.get("title", [""])[0], strip_device(kv["linux"][0]), args,
                     [strip_device(i) for i in kv.get("initrd", [])], source,
                     strip_device(kv["devicetree"][0]) if "devicetree" in kv else None)


CONSOLE_ARGS = ("console", "earlycon", "earlyprintk")


def dom0_args(entry: BootEntry, extra: list[str] | None = None) -> tuple[list[str], list[str]]:
    """The image's kernel arguments for dom0: everything it passes (root=,
    rootwait, ...) except console selection, which under Xen is the PV
    console; returns (args, dropped)."""
    keep, dropped = [], []
    for a in entry.args:
        if a.split("=", 1)[0] in CONSOLE_ARGS:
            dropped.append(a)
        else:
            keep.append(a)
    return keep + list(extra or []), dropped

"""Find the image's own kernel, initrd and command line in its boot config.

Pure parsing: the GRUB config (``linux``/``initrd`` lines of the default
``menuentry``) or a systemd-boot loader entry (``linux``/``initrd``/
``options``). No files are read here."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

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
    path = re.sub(r"^\([^)]*\)", "", path.strip())
    return "/" + path.lstrip("/")


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError:
        return line.split()


def parse_grub_cfg(text: str, source: str = "grub.cfg") -> list[BootEntry]:
    """Every menuentry with a ``linux`` line, in file order (nested
    submenus flattened). A ``linux`` line outside any menuentry (a
    config that boots directly) counts as an untitled entry."""
    entries: list[BootEntry] = []
    stack: list[dict] = []
    top: dict = {"title": "", "kernel": None, "args": [], "initrds": [], "dt": None}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.strip().startswith("#") else ""
        if not line:
            continue
        m = re.match(r"(menuentry|submenu)\s+(['\"]?)(.*?)\2(\s|\{|$)", line)
        if m and line.rstrip().endswith("{"):
            stack.append({"kind": m.group(1), "title": m.group(3), "kernel": None,
                          "args": [], "initrds": [], "dt": None})
            continue
        if line == "}":
            if stack:
                e = stack.pop()
                if e.get("kind") == "menuentry" and e["kernel"]:
                    entries.append(BootEntry(e["title"], e["kernel"], e["args"],
                                             e["initrds"], source, e["dt"]))
            continue
        cur = stack[-1] if stack else top
        words = _split(line)
        if not words:
            continue
        cmd = words[0]
        if cmd in ("linux", "linuxefi", "linux16"):
            if len(words) > 1:
                cur["kernel"] = strip_device(words[1])
                cur["args"] = words[2:]
        elif cmd in ("initrd", "initrdefi", "initrd16"):
            cur["initrds"] = [strip_device(w) for w in words[1:]]
        elif cmd == "devicetree" and len(words) > 1:
            cur["dt"] = strip_device(words[1])
    if top["kernel"]:
        entries.insert(0, BootEntry("", top["kernel"], top["args"], top["initrds"], source,
                                    top["dt"]))
    return entries


def grub_default(text: str) -> str | None:
    m = re.search(r"^\s*set\s+default\s*=\s*(['\"]?)([^'\"\s]*)\1", text, re.M)
    return m.group(2) if m else None


def default_entry(text: str, source: str = "grub.cfg") -> BootEntry | None:
    """The entry GRUB boots with no user input (``set default=`` by index
    or title, else the first)."""
    entries = parse_grub_cfg(text, source)
    if not entries:
        return None
    d = grub_default(text)
    if d and d.isdigit() and int(d) < len(entries):
        return entries[int(d)]
    for e in entries:
        if d and e.title == d:
            return e
    return entries[0]


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

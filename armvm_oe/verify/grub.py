"""GRUB: the embedded prefix and early config of a grub-mkimage EFI binary,
and one GRUB-script tokenizer used for every config GRUB would run (the early
config, grub.cfg and every file they ``configfile``/``source``).

GRUB keeps its modules, early config and prefix in a ``mods`` section that
starts with a module-info header (magic ``mimg``); objects follow as
``{u32 type, u32 size}`` records (type 2 = config, 3 = prefix).

The tokenizer follows GRUB's lexer (grub-core/script/yylex.l): words are
separated by blanks, commands by newlines and ``;`` (and ``| & < >``, which
GRUB reserves), ``{`` and ``}`` are tokens of their own, ``#`` starts a
comment only at the start of a word, single quotes are literal, double
quotes honour ``\\`` escapes, and a backslash-newline continues the line.
Keywords (``if then elif else fi while until do done ! function``) are
stripped from the front of a command, so ``if true; then devicetree x; fi``
yields the command ``devicetree x``. What verify cannot tell (a command
named by a variable) is recorded, never guessed to be harmless.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

MODULE_MAGIC = b"mimg"
OBJ_CONFIG, OBJ_PREFIX = 2, 3
MAX_OBJECTS = 4096

# Limits whose breach is a FAIL ("too large to check"), never a silent pass.
MAX_CONFIG_BYTES = 1 << 20          # one config file (real ones are 1-100 KiB)
MAX_TOTAL_BYTES = 2 << 20           # all configs of one verify
MAX_COMMANDS = 200_000              # all configs of one verify
MAX_TOKENS = 1_000_000              # words, blanks and separators of one script
MAX_FILES = 32                      # configs loaded through configfile/source
MAX_DEPTH = 8                       # configfile/source nesting
MAX_EVAL_DEPTH = 4


class GrubLimit(Exception):
    """A config is too large (or nests too deep) to check completely."""


@dataclass
class GrubImage:
    prefix: str | None = None
    early_config: str | None = None
    modules: int = 0


def mods_section(pe) -> tuple[int, int] | None:
    """(offset, end) of GRUB's ``mods`` section in the file, or None."""
    if pe is not None:
        for s in pe.sections:
            if s.Name.rstrip(b"\0") == b"mods":
                return s.PointerToRawData, s.PointerToRawData + s.SizeOfRawData
    return None


def parse_grub_efi(data: bytes, pe=None) -> GrubImage | None:
    """The prefix and early config embedded in a GRUB EFI binary, or None
    when ``data`` holds no GRUB module info (not GRUB, or the module area is
    destroyed: :func:`mods_section` tells the two apart)."""
    region = mods_section(pe)
    start, end = (0, len(data)) if region is None else (region[0], min(len(data), region[1]))
    pos = data.find(MODULE_MAGIC, start, end)
    tries = 0
    while pos >= 0 and tries < 64:
        tries += 1
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


# -- the tokenizer ------------------------------------------------------------
# One master pattern; every alternative starts with a different character
# class and no quantifier is nested inside another over the same characters
# (an unterminated quote must cost one scan, not an exponential backtrack).
_TOKEN = re.compile(r"""
 (?P<ws>(?:[ \t\r\f\v]|\\\n)+)
|(?P<nl>\n)
|(?P<comment>\#[^\n]*)
|(?P<sep>[;|&<>])
|(?P<lbr>\{)
|(?P<rbr>\})
|(?P<word>(?:[^\s{}|&;<>'"\\]+|\\.|'[^']*'|"(?:[^"\\]|\\.)*")+)
|(?P<bad>['"\\])
""", re.X | re.S)
_UNQUOTE = re.compile(r"""'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)""", re.S)
_DQ_ESC = re.compile(r"\\(.)", re.S)
_KEYWORDS_SKIP = {"if", "elif", "while", "until", "then", "else", "do", "!"}
_KEYWORDS_END = {"fi", "done"}


def _dq(body: str) -> str:
    return _DQ_ESC.sub(lambda m: "" if m.group(1) == "\n" else
                       (m.group(1) if m.group(1) in '"\\$' else m.group(0)), body)


def unquote(word: str) -> str:
    if "'" not in word and '"' not in word and "\\" not in word:
        return word
    return _UNQUOTE.sub(lambda m: m.group(1) if m.group(1) is not None else
                        _dq(m.group(2)) if m.group(2) is not None else
                        ("" if m.group(3) == "\n" else m.group(3)), word)


@dataclass
class Command:
    words: list[str]
    line: int
    file: str
    block: str | None = None        # "menuentry TITLE" / "submenu TITLE" / "function NAME"
    text: str = ""                  # the command as written (for messages)


@dataclass
class Block:
    kind: str
    title: str
    line: int


def tokenize(text: str, name: str = "grub.cfg", max_commands: int = MAX_COMMANDS,
             problems: list[str] | None = None) -> list[tuple[Command, Block | None, str]]:
    """The commands of a GRUB script in order, each with the block it opens
    (menuentry/submenu/function ``{``) and the events "open"/"close"/"".

    Returns a list of (command, block, event): event "open" means the
    command's words are a block header followed by ``{``; "close" is a
    ``}``. Raises GrubLimit past ``max_commands``."""
    out: list[tuple[Command, Block | None, str]] = []
    words: list[str] = []
    start_line = line = 1
    raw_start = 0

    def flush(event: str = "", end: int = 0) -> None:
        nonlocal words
        if words or event:
            w = words
            while w and (w[0] in _KEYWORDS_SKIP or w[0] in _KEYWORDS_END):
                w = w[1:]
            cmd = Command(w, start_line, name, text=text[raw_start:end].strip()[:200])
            blk = None
            if event == "open":
                kind = w[0] if w else ""
                args = [a for a in w[1:] if not a.startswith("-")]
                blk = Block(kind, args[0] if args else "", start_line)
            out.append((cmd, blk, event))
            if len(out) > max_commands:
                raise GrubLimit(f"{name} has more than {max_commands} commands")
        words = []

    for n, m in enumerate(_TOKEN.finditer(text)):
        if n > MAX_TOKENS:
            raise GrubLimit(f"{name} has more than {MAX_TOKENS} words and separators")
        kind = m.lastgroup
        tok = m.group()
        if not words and kind not in ("ws", "nl"):
            start_line, raw_start = line, m.start()
        if kind == "ws":
            line += tok.count("\n")
        elif kind == "nl":
            flush(end=m.start())
            line += 1
        elif kind == "comment":
            pass
        elif kind == "sep":
            flush(end=m.start())
        elif kind == "lbr":
            flush("open", m.start())
        elif kind == "rbr":
            flush(end=m.start())
            start_line = line
            flush("close", m.start())
        elif kind == "word":
            words.append(unquote(tok))
            line += tok.count("\n")
        else:   # an unterminated quote or a trailing backslash: GRUB reports a
            # syntax error; verify reads on (so nothing after it is hidden)
            if problems is not None and len(problems) < 20:
                problems.append(f"{name} line {line}: unterminated {tok!r}")
    flush(end=len(text))
    return out


# -- the config model ----------------------------------------------------------
LOAD_COMMANDS = {"configfile", "source", ".", "extract_entries_configfile",
                 "extract_entries_source", "legacy_configfile", "legacy_source",
                 "extract_legacy_entries_configfile", "extract_legacy_entries_source"}
LINUX = {"linux", "linux16", "linuxefi"}
INITRD = {"initrd", "initrd16", "initrdefi"}


@dataclass
class MenuEntry:
    title: str
    linux: list[str] | None = None      # path + args
    initrd: list[str] = field(default_factory=list)
    devicetree: list[str] = field(default_factory=list)
    lineno: int = 0
    file: str = ""


@dataclass
class GrubConfig:
    entries: list[MenuEntry] = field(default_factory=list)
    default: int = 0
    devicetree_lines: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, text
    root_sets: list[tuple[int, str]] = field(default_factory=list)     # set root=...
    search_lines: list[tuple[int, str]] = field(default_factory=list)
    loads: list[tuple[str, int, str, int]] = field(default_factory=list)  # file, line, path, depth
    unresolved: list[str] = field(default_factory=list)  # commands verify could not resolve
    problems: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    commands: int = 0
    total_bytes: int = 0
    top: MenuEntry = field(default_factory=lambda: MenuEntry("(outside menuentry)"))

    def default_entry(self) -> MenuEntry | None:
        cands = [e for e in self.entries if e.linux] or ([self.top] if self.top.linux else [])
        if not cands:
            return None
        return cands[self.default] if 0 <= self.default < len(cands) else cands[0]

    def kernel_lines(self) -> list[MenuEntry]:
        return [e for e in self.entries + [self.top] if e.linux]

    def substitute(self, word: str) -> str:
        """``$var`` / ``${var}`` replaced by what ``set`` gave it (if known)."""
        if "$" not in word:
            return word
        return re.sub(r"\$\{([A-Za-z0-9_?]+)\}|\$([A-Za-z0-9_?]+)",
                      lambda m: self.variables.get(m.group(1) or m.group(2), m.group(0)), word)

    # -- reading one script ------------------------------------------------
    def add_script(self, text: str, name: str, depth: int = 0, eval_depth: int = 0) -> None:
        """Add the commands of one script (early config, grub.cfg, a sourced
        file). Raises GrubLimit when a limit is passed."""
        if len(text) > MAX_CONFIG_BYTES:
            raise GrubLimit(f"{name} is {len(text)} bytes, over the {MAX_CONFIG_BYTES} byte "
                            "limit")
        self.total_bytes += len(text)
        if self.total_bytes > MAX_TOTAL_BYTES:
            raise GrubLimit(f"the GRUB configs add up to more than {MAX_TOTAL_BYTES} bytes")
        if eval_depth == 0:
            self.files.append(name)
        cmds = tokenize(text, name, MAX_COMMANDS - self.commands, self.problems)
        self.commands += len(cmds)
        stack: list[tuple[Block, MenuEntry | None]] = []
        directory = name.rsplit("/", 1)[0] if "/" in name else ""
        if eval_depth == 0 and name.startswith("/"):
            self.variables["config_directory"] = directory
            self.variables["config_file"] = name
        for cmd, blk, event in cmds:
            if event == "close":
                if stack:
                    stack.pop()
                continue
            cur = next((e for b, e in reversed(stack) if e is not None), None) or self.top
            w = cmd.words
            if event == "open":
                if w and w[0] in ("menuentry", "submenu"):
                    entry = MenuEntry(blk.title if blk else "", lineno=cmd.line, file=name)
                    if w[0] == "menuentry":
                        self.entries.append(entry)
                    stack.append((blk, entry))
                else:      # function NAME { / a bare { block
                    stack.append((blk or Block("", "", cmd.line), None))
                continue
            if not w:
                continue
            self._command(cmd, cur, depth, eval_depth)

    def _command(self, cmd: Command, cur: MenuEntry, depth: int, eval_depth: int) -> None:
        w = [self.substitute(x) for x in cmd.words]
        c = w[0]
        where = f"{cmd.file} line {cmd.line}"
        if c.startswith("$"):
            self.unresolved.append(f"{where}: command named by a variable: {cmd.text}")
            return
        if c in LINUX:
            cur.linux = w[1:]
        elif c in INITRD:
            cur.initrd.extend(w[1:])
        elif c == "devicetree":
            cur.devicetree.extend(w[1:])
            self.devicetree_lines.append((cmd.file, cmd.line, cmd.text or " ".join(w)))
        elif c == "set" and len(w) > 1 and "=" in w[1]:
            var, _, v = w[1].partition("=")
            self.variables[var] = v
            if var == "default":
                self.default = int(v) if v.isdigit() else 0
            elif var == "root":
                self.root_sets.append((cmd.line, v))
        elif c in ("search", "search.file", "search.fs_uuid", "search.fs_label"):
            self.search_lines.append((cmd.line, cmd.text))
        elif c in LOAD_COMMANDS and len(w) > 1:
            self.loads.append((cmd.file, cmd.line, w[1], depth + 1))
        elif c == "eval" and len(w) > 1:
            if eval_depth >= MAX_EVAL_DEPTH:
                self.unresolved.append(f"{where}: eval nested deeper than {MAX_EVAL_DEPTH}")
            else:
                self.add_script(" ".join(w[1:]), cmd.file, depth, eval_depth + 1)


def parse_config(text: str, name: str = "grub.cfg") -> GrubConfig:
    """One script on its own (what the tests and simple callers need)."""
    cfg = GrubConfig()
    cfg.add_script(text, name)
    return cfg


def config_locations(img: GrubImage) -> list[str]:
    """Where GRUB will look for its config (device-relative paths, in order),
    read with the same tokenizer as grub.cfg."""
    cfg = GrubConfig()
    if img.prefix is not None:
        cfg.variables["prefix"] = img.prefix
    try:
        cfg.add_script(img.early_config or "", "(early config)")
    except GrubLimit:
        pass
    out = [path for _, _, path, _ in cfg.loads]
    if not out:
        prefix = cfg.variables.get("prefix", img.prefix or "")
        out.append(prefix.rstrip("/") + "/grub.cfg")
    return out

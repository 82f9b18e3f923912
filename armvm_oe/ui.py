"""Terminal output: colour only on a TTY without NO_COLOR, progress bars only
on a TTY, JSON for machines."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, TextIO

# Terminal escape sequences in text armvm-oe reads (bitbake/kas logs, a
# guest's serial console, posted logs): the one definition, used to strip
# them (doctor's log model, the build progress parser and log reader, the
# QEMU console and probe) and to measure table cells. A CSI is ESC [,
# parameter bytes (digits, ';', '?' as in ESC[?25l), intermediates, one
# final byte 0x40-0x7E (ECMA-48); an OSC (ESC ], e.g. an OSC 8 hyperlink or
# a window title) ends at BEL or ST (ESC \).
ANSI_CSI = r"\x1b\[[0-9;?]*[ -/]*[@-~]"
ANSI_OSC = r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
ANSI_RE = re.compile(ANSI_CSI + "|" + ANSI_OSC)

_CODES = {"red": "31", "green": "32", "yellow": "33", "blue": "34",
          "magenta": "35", "cyan": "36", "bold": "1", "dim": "2"}


def use_color(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):       # https://no-color.org: any non-empty value
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    return hasattr(stream, "isatty") and stream.isatty()


class Safe(str):
    """Text fit for a terminal as it is: data already escaped by
    :func:`term_safe`, plus armvm-oe's own colour codes (:func:`style`).
    :func:`table` escapes every cell that is not ``Safe``."""

    def __add__(self, other):
        return Safe(str.__add__(self, other if isinstance(other, Safe) else term_safe(other, True)))

    def __radd__(self, other):
        return Safe((other if isinstance(other, Safe) else term_safe(other, True)) + str(self))


def safe(*parts: Any) -> Safe:
    """``parts`` joined, each one escaped unless it is already :class:`Safe`."""
    return Safe("".join(p if isinstance(p, Safe) else term_safe(p, keep_newlines=True)
                        for p in parts))


def echo(*parts: Any, file: TextIO | None = None, flush: bool = False) -> None:
    """print() for text that may hold data from images, logs or configs:
    every part that is not :class:`Safe` is escaped (:func:`term_safe`,
    newlines kept), so ``echo(badge("fail"), " ", name)`` keeps its colour
    and nothing else can move the cursor or recolour."""
    print(safe(*parts), file=file or sys.stdout, flush=flush)


def style(text: str, *names: str, stream: TextIO | None = None) -> Safe:
    """``text`` escaped (:func:`term_safe`, newlines kept) and, on a colour
    terminal, coloured: the only place armvm-oe's own escape codes are made."""
    text = safe(text)
    if not names or not use_color(stream):
        return text
    codes = ";".join(_CODES[n] for n in names)
    return Safe(f"\033[{codes}m{text}\033[0m")


SEVERITY_STYLE = {"fail": ("red", "bold"), "error": ("red", "bold"),
                  "warn": ("yellow",), "warning": ("yellow",),
                  "pass": ("green",), "ok": ("green",), "info": ("cyan",),
                  "unknown": ("magenta",), "skip": ("dim",)}


def badge(result: str, stream: TextIO | None = None) -> Safe:
    return style(result.upper(), *SEVERITY_STYLE.get(result.lower(), ()), stream=stream)


def human_size(n: float, units: tuple[str, ...] = ("B", "KiB", "MiB", "GiB", "TiB")) -> str:
    """``1536`` -> ``1.5 KiB``: bytes as a whole number, one decimal above,
    the last unit taking everything larger."""
    for unit in units:
        if abs(n) < 1024 or unit == units[-1]:
            return f"{n:.1f} {unit}" if unit != units[0] else f"{int(n)} {unit}"
        n /= 1024
    return str(n)


def interactive(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()


def progress(**kwargs: Any):
    """A tqdm bar on a TTY; a disabled (silent) bar otherwise.

    Callers that want plain progress lines on a non-TTY print them
    themselves; tqdm's own non-TTY output is unreadable in CI logs."""
    from tqdm import tqdm

    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("disable", not interactive(kwargs["file"]))
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(**kwargs)


def emit_json(obj: Any, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    # strict JSON: NaN/Infinity are not JSON and break other parsers
    json.dump(_finite(obj), stream, indent=2, sort_keys=False, default=str, allow_nan=False)
    stream.write("\n")


def table(rows: list[list[str]], headers: list[str] | None = None) -> str:
    """Plain aligned columns; width is measured without ANSI codes. Every
    cell that is not :class:`Safe` (a :func:`style`/:func:`badge` result)
    is escaped with :func:`term_safe`: table cells are data (repo names,
    refspecs, guest facts, paths from configs and images)."""
    strip = ANSI_RE
    rows = [[c if isinstance(c, Safe) else term_safe(c) for c in r] for r in rows]
    if headers:
        headers = [c if isinstance(c, Safe) else term_safe(c) for c in headers]
    allrows = ([headers] if headers else []) + rows
    if not allrows:
        return ""
    widths = [0] * max(len(r) for r in allrows)
    for r in allrows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(strip.sub("", str(cell))))
    out = []
    for n, r in enumerate(allrows):
        cells = []
        for i, cell in enumerate(r):
            pad = widths[i] - len(strip.sub("", str(cell)))
            cells.append(str(cell) + " " * pad)
        out.append("  ".join(cells).rstrip())
        if headers and n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _finite(obj: Any) -> Any:
    """``obj`` with NaN/Infinity floats replaced by None (so strict JSON
    never fails on a measurement that could not be taken)."""
    import math
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


_UNSAFE = None


def term_safe(text: Any, keep_newlines: bool = False) -> str:
    """``text`` with every control character (C0, DEL, C1, and the Unicode
    bidi overrides that reorder what a terminal shows) written as an escape
    (``\\x1b``, ``\\u202e``), so a file name or config line from an image or
    log cannot move the cursor, recolour, or hide a FAIL line. JSON output
    keeps the exact string; this is for text on a terminal."""
    global _UNSAFE
    import re
    if _UNSAFE is None:
        _UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e"
                             "\u2066-\u2069]")
    s = str(text)
    if not keep_newlines:
        s = s.replace("\n", "\\n").replace("\t", "\\t") if ("\n" in s or "\t" in s) else s
    if not _UNSAFE.search(s):
        return s
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                       else f"\\u{ord(m.group()):04x}", s)

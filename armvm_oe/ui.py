"""Terminal output: colour only on a TTY without NO_COLOR, progress bars only
on a TTY, JSON for machines."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

_CODES = {"red": "31", "green": "32", "yellow": "33", "blue": "34",
          "magenta": "35", "cyan": "36", "bold": "1", "dim": "2"}


def use_color(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):       # https://no-color.org: any non-empty value
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def style(text: str, *names: str, stream: TextIO | None = None) -> str:
    if not names or not use_color(stream):
        return text
    codes = ";".join(_CODES[n] for n in names)
    return f"\033[{codes}m{text}\033[0m"


SEVERITY_STYLE = {"fail": ("red", "bold"), "error": ("red", "bold"),
                  "warn": ("yellow",), "warning": ("yellow",),
                  "pass": ("green",), "ok": ("green",), "info": ("cyan",),
                  "unknown": ("magenta",), "skip": ("dim",)}


def badge(result: str, stream: TextIO | None = None) -> str:
    return style(result.upper(), *SEVERITY_STYLE.get(result.lower(), ()), stream=stream)


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
    json.dump(obj, stream, indent=2, sort_keys=False, default=str)
    stream.write("\n")


def table(rows: list[list[str]], headers: list[str] | None = None) -> str:
    """Plain aligned columns; width is measured without ANSI codes."""
    import re

    strip = re.compile(r"\033\[[0-9;]*m")
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

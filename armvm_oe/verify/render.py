"""Text rendering of a verify report: grouped by spec section, the reason
and the fix for every failure, colour only on a TTY (armvm_oe.ui)."""

from __future__ import annotations

import shutil
import textwrap
from typing import TextIO

from armvm_oe import requirements
from armvm_oe.ui import badge, style, term_safe
from armvm_oe.verify.model import Report

SECTION_ORDER = list(dict.fromkeys(r.section for r in requirements.REQUIREMENTS))


def _fmt_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render(report: Report, verbose: int = 0, stream: TextIO | None = None) -> str:
    width = min(max(shutil.get_terminal_size((100, 24)).columns, 72), 120)
    img = report.image
    lines = [f"{style('armvm-oe verify', 'bold', stream=stream)} {term_safe(img['path'])}",
             f"  {img['format']}, {_fmt_size(img['size'])}, "
             f"{len(img['partitions'])} GPT partition(s)"
             + (f", ESP = partition {img['esp']}" if img.get("esp") else "")
             + f"; arch {report.arch or 'unknown'}"
             + (f" (from {report.arch_source})" if report.arch_source else "")]
    k = report.kernel
    if k.get("path"):
        # everything here comes from the image: escaped so it cannot drive the terminal
        lines.append(f"  kernel {term_safe(k['path'])}"
                     + (f" ({term_safe(k['release'])})" if k.get("release") else "")
                     + "; config from "
                     + term_safe(k.get('config_source') or 'nowhere (GUEST-* unknown)'))
    for section in SECTION_ORDER:
        fs = [f for f in report.findings if f.requirement.section == section]
        if not fs:
            continue
        lines.append("")
        lines.append(style(section, "bold", stream=stream))
        for f in fs:
            tag = badge(f.result, stream=stream)
            pad = " " * (7 - len(f.result))
            head = f"  {tag}{pad} {f.id:<21} "
            text = term_safe(f.reason)
            if f.result == "pass" and not verbose:
                text = textwrap.shorten(text, width=max(30, width - 34), placeholder=" ...")
            body = textwrap.wrap(text, width=max(30, width - 34)) or [""]
            lines.append(head + body[0])
            for more in body[1:]:
                lines.append(" " * 32 + more)
            if f.fix and f.result != "pass":
                for w in (textwrap.wrap("fix: " + term_safe(f.fix), width=max(30, width - 34))):
                    lines.append(" " * 32 + w)
    s = report.summary()
    v = report.verdict()
    verdict = style(v, *(("green", "bold") if v == "COMPLIANT" else ("yellow", "bold")
                         if report.compliant else ("red", "bold")), stream=stream)
    st = report.stats
    lines += ["", f"{verdict}: {s['fail']} fail, {s['warn']} warn, {s['unknown']} unknown, "
              f"{s['pass']} pass  ({st['seconds']:.2f} s, read {_fmt_size(st['bytes_read'])} "
              f"= {100 * st.get('read_fraction', 0):.2f}% of the image)"]
    return "\n".join(lines) + "\n"

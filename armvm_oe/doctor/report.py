"""Rendering: the grouped text report, JSON documents, the catalogue listing
and the fix script. Pure functions returning strings/dicts."""

from __future__ import annotations

import textwrap
from typing import Iterable, Optional, TextIO

from armvm_oe.doctor.model import GROUPS, RANK, SEVERITIES, Check, Result
from armvm_oe.ui import badge, style

JSON_SCHEMA_VERSION = 1
_W = 100


def summary(results: Iterable) -> dict:
    counts = {s: 0 for s in SEVERITIES}
    for r in results:
        counts[r.severity] = counts.get(r.severity, 0) + 1
    return counts


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, width=_W, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def render_results(results: list[Result], stream: Optional[TextIO] = None,
                   checked: Optional[int] = None) -> str:
    """Grouped, worst group first, worst result first within a group."""
    if not results:
        n = f" ({checked} checks)" if checked is not None else ""
        return style("armvm-oe doctor: no problems found", "green", stream=stream) + n + "\n"
    counts = summary(results)
    parts = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    out = [style(f"armvm-oe doctor: {len(results)} problem(s) ({parts})", "bold",
                 stream=stream), ""]
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.group, []).append(r)
    order = sorted(groups, key=lambda g: (min(RANK[r.severity] for r in groups[g]),
                                          GROUPS.index(g) if g in GROUPS else 99))
    for g in order:
        out.append(style(g, "bold", stream=stream))
        for r in sorted(groups[g], key=lambda r: (RANK[r.severity], r.id)):
            out.append(f"  {badge(r.severity, stream=stream):<5}  {style(r.id, 'bold', stream=stream)}"
                       f"  {r.title}")
            out.append(_wrap(r.message, "         "))
            out.append(_wrap(f"you would see: {r.error_text}", "         "))
            out.append(_wrap(f"fix: {r.fix}", "         "))
            for c in r.commands:
                out.append(f"           $ {c}")
        out.append("")
    fatal = counts.get("fatal", 0)
    if fatal:
        out.append(f"{fatal} fatal problem(s): a build would stop; fix those first.")
    out.append("Shell commands for what can be fixed: armvm-oe doctor --fix-script")
    return "\n".join(out) + "\n"


def render_findings(diag, source: str = "log", stream: Optional[TextIO] = None) -> str:
    """The text report of ``doctor --log``: the phase where the build
    stopped, the first cause with its evidence chain, then the rest."""
    from armvm_oe.doctor.logmodel import PHASE_TITLES
    from armvm_oe.ui import term_safe as safe   # log text never drives the terminal
    findings = diag.findings if hasattr(diag, "findings") else list(diag)
    source = safe(getattr(diag, "source", source))
    if not findings:
        return f"armvm-oe doctor: no failure found in {source}\n"
    failed = any(f.severity == "error" for f in findings)
    out = [style(f"armvm-oe doctor: {source}", "bold", stream=stream)]
    if not failed:
        out.append(f"no failure found; {len(findings)} warning(s) the build went on after")
    phase = getattr(diag, "phase", None)
    if phase and failed:
        out.append(f"stopped in: {PHASE_TITLES.get(phase, phase)}")
    out.append("")
    for i, f in enumerate(findings):
        if i == 0 and not f.cascade:
            label = "first cause" if f.id != "log.unrecognised" else \
                "first error; no known cause matches it"
        elif f.cascade:
            label = "consequence" if i else "first error; a symptom, its cause is not in this log"
        else:
            label = "also"
        out.append(f"  {badge(f.severity, stream=stream):<5}  {style(f.id, 'bold', stream=stream)}"
                   f"  line {f.line_no} ({label}; phase {f.phase})")
        out.append(_wrap(f"> {safe(f.line)}", "         "))
        for e in f.evidence[1:]:
            out.append(_wrap(f"-> {safe(e['source'])}:{e['line_no']}: {safe(e['line'])}",
                             "         "))
        out.append(_wrap(f"cause: {safe(f.cause)}", "         "))
        out.append(_wrap(f"fix: {safe(f.fix)}", "         "))
        if f.check:
            out.append(f"         doctor check: {f.check}")
        out.append("")
    for t in getattr(diag, "task_logs", []):
        if not t["read"]:
            out.append(_wrap(f"task log not found here: {safe(t['logfile'])} (pass --build-dir with "
                             "the build directory it was moved to)", "  "))
    return "\n".join(out).rstrip("\n") + "\n"


def results_json(results: list[Result], checked: int) -> dict:
    return {"schema": JSON_SCHEMA_VERSION, "ok": not results, "checked": checked,
            "summary": summary(results), "results": [r.as_dict() for r in results]}


def findings_json(diag, source: str = "log") -> dict:
    findings = diag.findings if hasattr(diag, "findings") else list(diag)
    first = findings[0].as_dict() if findings else None
    # ok: no error (a successful build's WARNINGs and QA warnings are listed, not failures)
    return {"schema": JSON_SCHEMA_VERSION,
            "ok": not any(f.severity == "error" for f in findings),
            "log": getattr(diag, "source", source), "lines": getattr(diag, "lines", None),
            "phase": getattr(diag, "phase", None), "first_cause": first,
            "findings": [f.as_dict() for f in findings],
            "task_logs": list(getattr(diag, "task_logs", [])),
            "error_reports": list(getattr(diag, "reports", []))}


def render_catalogue(checks: list[Check], patterns: list) -> str:
    from armvm_oe.ui import table
    rows = [[c.id, c.severity, c.title + (" (--network)" if c.network else "")] for c in checks]
    out = [f"{len(checks)} checks", table(rows, ["id", "severity", "title"]), "",
           f"{len(patterns)} log patterns (--log FILE)",
           table([[p.id, p.severity, str(p.tier), p.title + (" [cascade]" if p.cascade else "")]
                  for p in patterns], ["id", "severity", "tier", "title"])]
    return "\n".join(out) + "\n"


def fix_script(results: list[Result]) -> str:
    """A shell script with the commands that would fix what can be fixed.
    Printed for review; armvm-oe never runs it."""
    out = ["#!/bin/sh",
           "# Written by 'armvm-oe doctor --fix-script'. Review before running: nothing",
           "# here has been run. Problems without a command need a decision (see the report).",
           "set -e"]
    fixed = [r for r in results if r.commands]
    if not fixed:
        out.append("# nothing to fix automatically")
    for r in fixed:
        out.append("")
        out.append(f"# {r.severity.upper()} {r.id}: {r.message[:150]}")
        out.extend(r.commands)
    manual = [r for r in results if not r.commands]
    if manual:
        out.append("")
        out.append("# not fixable by a command (see the report):")
        out.extend(f"#   {r.id}: {r.fix}" for r in manual)
    return "\n".join(out) + "\n"

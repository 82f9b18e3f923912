"""Kernel log health: what LAVA flags on a console (WARNING/Oops/BUG/"cut
here") and oeqa's parselogs finds in dmesg, judged against an ignore list
per machine (pure text parsing, no I/O but reading the lists).

An *incident* is one headline line: ``WARNING: CPU: 0 PID: 1 at ...``, an
``Oops``, ``BUG: ...`` (KASAN and KFENCE reports start with one),
``Kernel panic``, a driver's ``probe ... failed with error -N``, and a
``cut here`` marker or a ``Call trace:`` that no headline near it explains.
Each incident fails the cell (KERNEL-LOG) with its line, unless an entry of
the ignore list matches it: then it is a note with the entry's reason.

Ignore lists are data, one YAML file per machine beside this package:
``armvm_oe/data/kernel-log-ignore/<machine>.yaml`` (``qemu-virt-aarch64``,
``qemu-virt-arm``), a list of ``{match: <regex>, reason: <why it is noise>,
seen: <which images print it>}``; ``armvm-oe test --kernel-log-ignore FILE``
adds the user's own. The regex is searched in the incident's line without
its ``[    1.234567]`` timestamp.

The lines come from the console (both consoles of a cell) and, after a
login, from ``dmesg`` in the guest (:data:`DMESG_PROBE`: only the matching
lines and their neighbours travel back), so a ``quiet`` kernel is judged
too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from armvm_oe.errors import InputError

_TS = re.compile(r"^\s*(?:<\d+>)?\[\s*\d+\.\d+\]\s?")
HEADLINES = (
    ("warning", re.compile(r"\bWARNING: (?:CPU: \d+ PID: \d+|at )")),
    ("oops", re.compile(r"\bInternal error: Oops|\bOops(?: -|:) ")),
    ("bug", re.compile(r"\bBUG: ")),          # also BUG: KASAN: ... / BUG: KFENCE: ...
    ("kasan", re.compile(r"\bKASAN: ")),
    ("kfence", re.compile(r"\bKFENCE: ")),
    ("panic", re.compile(r"\bKernel panic - not syncing")),
    ("probe", re.compile(r"\bprobe (?:of \S+ |with driver \S+ )?failed with error -?\d+")),
)
CUT_HERE = re.compile(r"-+\[ cut here \]-+")
CALL_TRACE = re.compile(r"\b(?:Call trace|Call Trace):")
# a headline explains a cut-here marker after it within this many lines,
# and a call trace before it within this many
NEAR = 40
# what the guest's dmesg sends back: the lines of interest only (grep -E)
DMESG_PATTERN = ("WARNING: |Oops|BUG: |KASAN: |KFENCE: |Kernel panic|cut here|Call [Tt]race:|"
                 "failed with error")
DMESG_PROBE = ("P='armvm-oe''-dmesg'; dmesg 2>/dev/null | grep -E '" + DMESG_PATTERN
               + "' | head -n 200 | sed \"s|^|$P |\"; echo \"$P-end\"")
DMESG_RE = re.compile(r"^armvm-oe-dmesg (.*)$", re.M)


@dataclass(frozen=True)
class Ignore:
    match: str
    reason: str
    seen: str = ""
    source: str = ""          # the list it came from

    def hits(self, line: str) -> bool:
        return re.search(self.match, line) is not None


@dataclass(frozen=True)
class Incident:
    kind: str                 # warning | oops | bug | kasan | kfence | panic | probe | trace
    line: str                 # without the timestamp
    ignored_by: Ignore | None = None


def strip_ts(line: str) -> str:
    return _TS.sub("", line.rstrip("\r")).strip()


def incidents(text: str) -> list[Incident]:
    """The incidents in a kernel log, each once (the same line on both
    consoles and in dmesg counts once), in order."""
    lines = [strip_ts(x) for x in text.replace("\r", "").split("\n")]
    out: list[Incident] = []
    seen: set[str] = set()
    heads = []
    for i, ln in enumerate(lines):
        for kind, rx in HEADLINES:
            if rx.search(ln):
                heads.append(i)
                if ln not in seen:
                    seen.add(ln)
                    out.append(Incident(kind, ln))
                break
    for i, ln in enumerate(lines):
        orphan = None
        if CUT_HERE.search(ln) and not any(i <= h <= i + NEAR for h in heads):
            orphan = "a '[ cut here ]' marker with no WARNING/BUG line after it"
        elif CALL_TRACE.search(ln) and not any(i - NEAR <= h <= i for h in heads):
            orphan = "a call trace with no WARNING/BUG/Oops line before it"
        if orphan:
            ctx = next((x for x in lines[i + 1:i + 4] if x), "")
            line = f"{ln} ({orphan}{'; next: ' + ctx if ctx else ''})"
            if ln + ctx not in seen:
                seen.add(ln + ctx)
                out.append(Incident("trace", line))
    return out


def judge(text: str, ignores: list[Ignore]) -> tuple[list[Incident], list[Incident]]:
    """(failing incidents, ignored ones with the entry that matched)."""
    bad, noted = [], []
    for inc in incidents(text):
        hit = next((ig for ig in ignores if ig.hits(inc.line)), None)
        if hit:
            noted.append(Incident(inc.kind, inc.line, hit))
        else:
            bad.append(inc)
    return bad, noted


def dmesg_lines(shell_output: str) -> str:
    """The dmesg lines :data:`DMESG_PROBE` sent back, as one log text."""
    return "\n".join(m for m in DMESG_RE.findall(shell_output.replace("\r", ""))
                     if m != "end" and not m.startswith("-end"))


def machine_for(arch: str, hypervisor: str = "qemu") -> str:
    return f"{'xen' if hypervisor == 'xen' else 'qemu-virt'}-{arch}"


def parse_list(text: str, source: str) -> list[Ignore]:
    """An ignore list (YAML: a list of {match, reason[, seen]}); InputError
    with the entry when it is malformed or a regex does not compile."""
    import yaml
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"the kernel log ignore list {source} is not YAML", str(e).split("\n")[0],
                         "Write a list of entries with 'match' (a regular expression) and "
                         "'reason'")
    if data is None:
        return []
    if not isinstance(data, list):
        raise InputError(f"the kernel log ignore list {source} is not a list", None,
                         "Write a YAML list of entries with 'match' and 'reason'")
    out = []
    for n, e in enumerate(data, 1):
        if not isinstance(e, dict) or not isinstance(e.get("match"), str) \
                or not isinstance(e.get("reason"), str) or not e["reason"].strip():
            raise InputError(f"entry {n} of the kernel log ignore list {source} is not "
                             "{match: REGEX, reason: TEXT}", None,
                             "Give every entry a 'match' regular expression and the 'reason' "
                             "the line is noise")
        try:
            re.compile(e["match"])
        except re.error as x:
            raise InputError(f"entry {n} of the kernel log ignore list {source} has a bad "
                             f"regular expression {e['match']!r}", str(x),
                             "Fix the 'match' expression (Python re syntax)")
        out.append(Ignore(e["match"], e["reason"].strip(), str(e.get("seen", "")), source))
    return out


def load(machine: str, extra: list[Path] | None = None) -> list[Ignore]:
    """The shipped list of ``machine`` (none shipped: empty) plus the user's files."""
    out: list[Ignore] = []
    ref = resources.files("armvm_oe") / "data" / "kernel-log-ignore" / f"{machine}.yaml"
    if ref.is_file():
        out += parse_list(ref.read_text(), f"kernel-log-ignore/{machine}.yaml")
    for p in extra or []:
        try:
            text = Path(p).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"the kernel log ignore list {p} cannot be read",
                             getattr(e, "strerror", None) or str(e),
                             "Give --kernel-log-ignore a readable YAML file")
        out += parse_list(text, str(p))
    return out


def shipped_machines() -> list[str]:
    d = resources.files("armvm_oe") / "data" / "kernel-log-ignore"
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".yaml"))

"""A model of a build log, built before any failure pattern is tried.

Users post logs in many shapes: kas prefixes every line with
``2026-03-31 00:16:49 - ERROR    - ``, bitbake indents a task's own log
with ``| ``, messages land mid-line (``Parsing recipes...ERROR: ...``),
CI systems add timestamps, ANSI colour and CR/LF, and mail/issue posts add
``> `` quotes. :func:`parse` turns such a text into :class:`LogModel`:

* every line normalised (:func:`normalise`), with the message level found
  anywhere in it (``NOTE:``/``WARNING:``/``ERROR:`` or kas's level field);
* the phase of every line (``setup`` -> ``parse`` -> ``build`` -> ``post``),
  from the markers bitbake and kas print, so a finding can say where the
  build stopped;
* the multi-line blocks that must be read as one: the sanity checker's list
  of problems (each item its own :class:`Block`), a Python traceback, and a
  task's failure block with its ``Logfile of failure stored in:`` path.

Pure functions, standard library only (the doctor runs under any python3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

PHASES = ("setup", "parse", "build", "post")
PHASE_TITLES = {"setup": "checkout/setup", "parse": "parse (configuration and recipes)",
                "build": "build tasks", "post": "after the build", "unknown": "unknown"}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# kas: "2026-03-31 00:16:49 - ERROR    - " (anywhere in the first ~100 chars:
# CI runners prepend their own timestamp, issue posts a line number).
_KAS = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:,\d+)? - "
                  r"(CRITICAL|ERROR|WARNING|INFO|DEBUG)\s*- ")
# Other CI prefixes: GitHub Actions ISO stamps, crosstool-NG "1583.5 [ERROR]   ".
_CI = re.compile(r"^\s*(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\s+|"
                 r"\d+(?:\.\d+)?\s+\[(ERROR|WARN|INFO|ALL|DEBUG|EXTRA)\s*\]\s+)")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")           # mail / issue quoting
_TASKLOG = re.compile(r"^\s*\|\s?")               # bitbake: a task's log, inline
_LEVEL = re.compile(r"(?<![A-Za-z])(FATAL|ERROR|WARNING|NOTE|DEBUG)\s*[:;]")
_KAS_LEVEL = {"CRITICAL": "ERROR", "ERROR": "ERROR", "WARNING": "WARNING", "INFO": "NOTE",
              "DEBUG": "DEBUG"}


@dataclass
class Line:
    no: int                 # 1-based line number in the log
    raw: str                # as in the file (CR and colour removed)
    text: str               # the message with prefixes stripped
    level: Optional[str]    # ERROR / WARNING / NOTE / FATAL / DEBUG, or None
    kas_level: Optional[str] = None   # kas's own level field, when present
    tasklog: bool = False   # came from bitbake's "| " task-log excerpt
    phase: str = "unknown"


@dataclass
class Block:
    kind: str               # sanity-item / traceback / task-failure
    start: int              # 0-based index of its first line
    end: int                # 0-based index after its last line
    key: int                # 0-based index of the line that represents it
    text: str               # its lines' texts joined by newlines
    logfile: Optional[str] = None   # task-failure: "Logfile of failure stored in:"
    task: Optional[str] = None      # task-failure: recipe:task when printed


@dataclass
class LogModel:
    lines: list
    blocks: list = field(default_factory=list)
    in_block: dict = field(default_factory=dict)   # line index -> Block (sanity/traceback)

    @property
    def text(self) -> str:
        return "\n".join(ln.text for ln in self.lines)


def normalise(raw: str) -> tuple[str, Optional[str], Optional[str], bool]:
    """(text, level, kas_level, from_tasklog) of one line."""
    s = _ANSI.sub("", raw).rstrip("\r\n")
    kas_level = None
    head = s[:120]
    m = _KAS.search(head)
    if m:
        kas_level = m.group(1)
        s = s[m.end():]
    else:
        m = _CI.match(s)
        if m:
            if m.group(1):
                kas_level = {"WARN": "WARNING", "ALL": "INFO", "EXTRA": "INFO"}.get(
                    m.group(1), m.group(1))
            s = s[m.end():]
    s = _QUOTE.sub("", s)
    tasklog = False
    m = _TASKLOG.match(s)
    if m:
        tasklog = True
        s = s[m.end():]
    lm = _LEVEL.search(s)
    level = lm.group(1) if lm else None
    if level is None and kas_level:
        level = _KAS_LEVEL.get(kas_level)
    return s.strip(), level, kas_level, tasklog


# Phase markers, checked in this order on every line. A line that names a
# task (do_compile) is in the build phase whatever came before.
_MARKERS = (
    ("post", re.compile(r"Tasks Summary:|Summary: There (?:was|were) \d+|Summary: \d+ tasks? "
                        r"failed|The errors for this build are stored in")),
    ("build", re.compile(r"NOTE: Executing (?:Tasks|RunQueue Tasks|SetScene Tasks)|"
                         r"Initialising tasks|Sstate summary:|Running (?:setscene )?task \d+ of|"
                         r"\bdo_[a-z_]+\b(?::| failed| \(pid)|Task \(|Task \d+ \(")),
    ("parse", re.compile(r"Loading cache|Parsing recipes|Parsing of \d+ \.bb files|"
                         r"Starting bitbake server|Started PRServer|config sanity checker|"
                         r"ParseError|unparsed line|Resolving any missing task queue|"
                         r"Build Configuration:|Nothing R?PROVIDES|old override syntax|"
                         r"is not compatible with the core layer")),
    ("setup", re.compile(r"\bkas [\d.]+ started|Cloning (?:repository|into)|git clone|"
                         r"\brepo (?:init|sync)\b|Fetching of repo|Repository \S+ (?:updated|"
                         r"already contains)|Using \S+ as root for repository|oe-init-build-env|"
                         r"\bgit (?:fetch|remote|checkout|apply|am)\b|Running as root|"
                         r"Config file validation|is dirty - no (?:checkout|patching)")),
)

_SANITY_HEAD = re.compile(r"config sanity checker detected a potential misconfiguration")
_SANITY_LIST = re.compile(r"Following is the list of potential problems")
_SANITY_END = re.compile(r"^(?:Summary: |ERROR: |NOTE: |WARNING: |ERROR: Execution of event)")
_TB_HEAD = re.compile(r"Traceback \(most recent call last\):")
_TB_EXC = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt|"
                     r"Warning)\b(?::|$)|^[A-Z]\w+Error\b")
_LOGFILE = re.compile(r"Logfile of failure stored in: (\S+)")
_TASK = re.compile(r"Task \(([^)]+)\) failed|Task \d+ \(([^)]+)\) failed|"
                   r"(\S+-[\w.+]+-r\w+) (do_\w+):")


def parse(text: str) -> LogModel:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    phase = "unknown"
    order = {p: i for i, p in enumerate(PHASES)}
    for no, raw in enumerate(text.split("\n"), 1):
        t, level, kas_level, tasklog = normalise(raw)
        for name, rx in _MARKERS:
            if rx.search(t):
                # phases only move forward, except that a new bitbake run
                # (setup/parse markers after "post") starts over
                if phase == "unknown" or order[name] >= order[phase] or phase == "post":
                    phase = name
                break
        lines.append(Line(no, _ANSI.sub("", raw), t, level, kas_level, tasklog, phase))
    model = LogModel(lines)
    _find_sanity(model)
    _find_tracebacks(model)
    _find_task_failures(model)
    return model


def _find_sanity(model: LogModel) -> None:
    """The sanity checker's list: one Block per problem. Items are separated
    by blank lines; an item may span several lines (the connectivity check)."""
    lines = model.lines
    i = 0
    while i < len(lines):
        if not _SANITY_HEAD.search(lines[i].text):
            i += 1
            continue
        j = i + 1
        while j < len(lines) and j < i + 4 and not _SANITY_LIST.search(lines[j].text):
            j += 1
        if j >= len(lines) or not _SANITY_LIST.search(lines[j].text):
            i += 1
            continue
        k = j + 1
        item: list[int] = []
        blanks = 0
        while k < len(lines):
            t = lines[k].text
            if _SANITY_END.match(t) or blanks >= 2:
                break
            if not t:
                blanks += 1
                if item:
                    _add_item(model, item, i)
                    item = []
            else:
                blanks = 0
                item.append(k)
            k += 1
        if item:
            _add_item(model, item, i)
        for n in range(i, k):
            model.in_block.setdefault(n, None)
        i = k


def _add_item(model: LogModel, idxs: list[int], head: int) -> None:
    b = Block("sanity-item", idxs[0], idxs[-1] + 1, idxs[0],
              "\n".join(model.lines[n].text for n in idxs))
    model.blocks.append(b)
    for n in idxs:
        model.in_block[n] = b


def _find_tracebacks(model: LogModel) -> None:
    lines = model.lines
    i = 0
    while i < len(lines):
        if not _TB_HEAD.search(lines[i].text) or i in model.in_block:
            i += 1
            continue
        k = i + 1
        exc = None
        while k < len(lines) and k < i + 400:
            t = lines[k].text
            if _TB_EXC.match(t) and not t.startswith("File "):
                exc = k
                break
            k += 1
        if exc is None:      # cut off: represent it by the header line
            exc = i
            k = min(len(lines) - 1, i)
        b = Block("traceback", i, exc + 1, exc,
                  "\n".join(lines[n].text for n in range(i, exc + 1)))
        model.blocks.append(b)
        for n in range(i, exc + 1):
            model.in_block[n] = b
        i = exc + 1


def _find_task_failures(model: LogModel) -> None:
    """A failed task: its ERROR lines, the log path and 'Task (...) failed'.
    Not added to in_block (its lines are matched one by one)."""
    lines = model.lines
    for i, ln in enumerate(lines):
        m = _LOGFILE.search(ln.text)
        if not m:
            continue
        task = None
        for n in range(max(0, i - 30), min(len(lines), i + 30)):
            tm = _TASK.search(lines[n].text)
            if tm:
                task = tm.group(1) or tm.group(2) or f"{tm.group(3)}:{tm.group(4)}"
                if n >= i:
                    break
        start = i
        while start > 0 and i - start < 30 and lines[start - 1].level in ("ERROR", "WARNING") \
                and not _LOGFILE.search(lines[start - 1].text):
            start -= 1
        model.blocks.append(Block("task-failure", start, i + 1, i, ln.text,
                                  logfile=m.group(1).rstrip("'\"`.,"), task=task))

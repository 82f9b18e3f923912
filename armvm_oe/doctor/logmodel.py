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

Pure functions, standard library only (the doctor runs under any python3),
plus armvm_oe.ui's one definition of a terminal escape sequence.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Optional

from armvm_oe.ui import ANSI_RE as _ANSI  # the one definition of an escape sequence

PHASES = ("setup", "parse", "build", "post")
PHASE_TITLES = {"setup": "checkout/setup", "parse": "parse (configuration and recipes)",
                "build": "build tasks", "post": "after the build", "unknown": "unknown"}

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


class Line:
    """One normalised line. ``level`` is computed on first use: most lines
    of a 100k-line log are never asked."""

    __slots__ = ("no", "raw", "text", "kas_level", "tasklog", "phase", "_level")

    def __init__(self, no: int, raw: str, text: str, level: Optional[str] = None,
                 kas_level: Optional[str] = None, tasklog: bool = False,
                 phase: str = "unknown"):
        self.no, self.raw, self.text = no, raw, text      # 1-based number; as in the file
        self.kas_level, self.tasklog, self.phase = kas_level, tasklog, phase
        self._level = level if level is not None else ""

    @property
    def level(self) -> Optional[str]:
        """ERROR / WARNING / NOTE / FATAL / DEBUG found anywhere in the line,
        else kas's level field, else None."""
        if self._level == "":
            self._level = _level_of(self.text, self.kas_level)
        return self._level


def _level_of(text: str, kas_level: Optional[str]) -> Optional[str]:
    if ":" in text or ";" in text:
        for k in ("ERROR", "WARNING", "NOTE", "FATAL", "DEBUG"):
            if k in text:
                lm = _LEVEL.search(text)
                if lm:
                    return lm.group(1)
                break
    return _KAS_LEVEL.get(kas_level) if kas_level else None


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
    # the searched text: the non-progress lines joined, as UTF-8 (bytes.find
    # is several times faster than str.find once a log holds one non-ASCII
    # character, e.g. gcc's quotes, which makes Python store a str at 4 bytes
    # a character), with each line's offset and index
    bjoined: bytes = b""
    bstarts: list = field(default_factory=list)
    bidx: list = field(default_factory=list)        # line index of each searched line
    _cache: dict = field(default_factory=dict, repr=False)
    blocks: list = field(default_factory=list)
    in_block: dict = field(default_factory=dict)   # line index -> Block (sanity/traceback)

    def find_lines(self, literal: str) -> list:
        """0-based numbers of the lines holding ``literal`` (each once),
        progress lines left out (see _NOISE)."""
        hit = self._cache.get(literal)
        if hit is not None:
            return hit
        key = literal.encode("utf-8")
        text, starts, idx = self.bjoined, self.bstarts, self.bidx
        out = []
        pos = text.find(key)
        while pos >= 0:
            n = bisect.bisect_right(starts, pos) - 1
            out.append(idx[n])
            nxt = starts[n + 1] if n + 1 < len(starts) else len(text)
            pos = text.find(key, nxt)
        self._cache[literal] = out
        return out


def normalise(raw: str) -> tuple:
    """(text, kas_level, from_tasklog) of one line. Cheap tests guard each
    regular expression: this runs on every line of a 100k-line log."""
    s = raw
    if "\x1b" in s:
        s = _ANSI.sub("", s)
    kas_level = None
    if s[4:5] == "-" or " - " in s[:130]:
        m = _KAS.match(s) or _KAS.search(s, 0, 130)
        if m:
            kas_level = m.group(1)
            s = s[m.end():]
    c = s[:1]
    if c and c in _PREFIX_CHARS:
        if c.isdigit() or c.isspace():
            m = _CI.match(s)
            if m:
                if m.group(1):
                    kas_level = {"WARN": "WARNING", "ALL": "INFO", "EXTRA": "INFO"}.get(
                        m.group(1), m.group(1))
                s = s[m.end():]
        t = s.lstrip()
        if t.startswith(">"):
            s = _QUOTE.sub("", s)
            t = s.lstrip()
        if t.startswith("|"):
            return _TASKLOG.sub("", s, count=1).strip(), kas_level, True
    return s.strip(), kas_level, False


_PREFIX_CHARS = frozenset("0123456789 \t>|")


# Phase markers, by precedence (a line holding markers of two phases gets the
# first). Literals are searched over the whole text (str.find is what keeps
# a 100k-line log fast); a marker with a regular expression is checked only
# on the lines holding its literal. A line that names a task (do_compile:) is
# in the build phase whatever came before.
_MARKERS = (
    ("post", ("Tasks Summary:", "Summary: There was", "Summary: There were", "task failed:",
              "tasks failed:", "The errors for this build are stored in"), None),
    ("build", ("Executing Tasks", "Executing RunQueue Tasks", "Executing SetScene Tasks",
               "Initialising tasks", "Sstate summary:", "Running task ", "Running setscene task",
               "Running noexec task", "Task (", ") failed with exit code"), None),
    ("build", (" do_",), re.compile(r"\bdo_[a-z_]+(?::| failed| \(pid)")),
    ("parse", ("Loading cache", "Parsing recipes", "Parsing of ", "Starting bitbake server",
               "Started PRServer", "config sanity checker", "ParseError", "unparsed line",
               "Resolving any missing task queue", "Build Configuration:", "Nothing PROVIDES",
               "Nothing RPROVIDES", "old override syntax", "is not compatible with the core "
               "layer", "depends on layer", "depends on version", "No recipes in ",
               "No recipes available for", "Could not include required file",
               "Failure expanding variable", "duplicated BBFILE_COLLECTIONS"), None),
    ("setup", ("Cloning repository", "Cloning into", "git clone", "repo init", "repo sync",
               "Fetching of repo", "as root for repository", "oe-init-build-env", "git fetch",
               "git remote", "git checkout", "git apply", "git am ", "Running as root",
               "Config file validation", "is dirty - no ", "Repository "), None),
    ("setup", (" started",), re.compile(r"\bkas [\d.]+ started")),
)

SANITY_HEAD = "config sanity checker detected a potential misconfiguration"
SANITY_LIST = "Following is the list of potential problems"
_SANITY_BOILERPLATE = ("Either fix the cause of this error or at your own risk disable the "
                       "checker",)
# a line that starts the next log record ends the list
_SANITY_END = re.compile(r"^(ERROR|WARNING|NOTE|DEBUG|FATAL|Summary|Traceback)\b|^Command \"|"
                         r"^\S+: \d+ tasks? |^Loading cache|^Parsing recipes|^Loaded \d+ entries")
_TB_HEAD = re.compile(r"Traceback \(most recent call last\):")
_TB_EXC = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt|"
                     r"Warning)\b(?::|$)|^[A-Z]\w+Error\b")
_LOGFILE = re.compile(r"Logfile of failure stored in: (\S+)")
_TASK = re.compile(r"Task \(([^)]+)\) failed|Task \d+ \(([^)]+)\) failed|"
                   r"(\S+-[\w.+]+-r\w+) (do_\w+):")


# bitbake's progress lines: most of a console log, never a failure. They
# are left out of the text the patterns search (their phase is 'build').
_NOISE = ("NOTE: Running task ", "NOTE: Running setscene task ", "NOTE: Running noexec task ",
          "NOTE: recipe ", "Currently ", "NOTE: Setscene tasks completed",
          "NOTE: Running noexec setscene task ")


def parse(text: str) -> LogModel:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    kept, noise = [], set()
    for no, raw in enumerate(text.split("\n"), 1):
        t, kas_level, tasklog = normalise(raw)
        if t.startswith(_NOISE) and not t.endswith("Failed"):
            noise.add(no - 1)
        else:
            kept.append(no - 1)
        lines.append(Line(no, raw, t, None, kas_level, tasklog))
    stexts = [lines[i].text for i in kept]
    sj = "\n".join(stexts)
    bjoined = sj.encode("utf-8", "replace")
    bstarts = [0] * len(stexts)
    pos = 0
    ascii_ = sj.isascii()
    for i, t in enumerate(stexts):
        bstarts[i] = pos
        pos += (len(t) if ascii_ else len(t.encode("utf-8", "replace"))) + 1
    model = LogModel(lines, bjoined, bstarts, kept)
    _phases(model, noise)
    _find_sanity(model)
    _find_tracebacks(model)
    _find_task_failures(model)
    return model


def _phases(model: LogModel, noise: set = frozenset()) -> None:
    """Markers are found once over the whole text, then one pass assigns
    phases: they move forward only, except that a new run (setup/parse
    markers after 'post') starts over."""
    marks: dict = {n: "build" for n in noise}
    for name, literals, rx in reversed(_MARKERS):     # earlier entries win
        for lit in literals:
            for n in model.find_lines(lit):
                if rx is None or rx.search(model.lines[n].text):
                    marks[n] = name
    order = {p: i for i, p in enumerate(PHASES)}
    phase = "unknown"
    for i, ln in enumerate(model.lines):
        name = marks.get(i)
        if name is not None and (phase == "unknown" or phase == "post"
                                 or order[name] >= order[phase]):
            phase = name
        ln.phase = phase


def sanity_lists(texts) -> list:
    """Every list oe-core's config sanity checker printed, found in
    ``texts`` (the lines, normalised and stripped: :func:`normalise`).
    Returns ``[(head, end, items)]``: the header's index, the index just
    past the list, and the problems, each a list of line indexes (a problem
    may span lines, e.g. the connectivity check; blank lines separate them,
    and some releases join them without any: then the caller reads every
    line as one). The one reading of the block, used by doctor's log model
    (a Block per problem) and the build report (imagebuild/buildlog.py: a
    finding per line).

    The list header (``Following is the list ...``) is optional (some
    releases word the preamble differently); the boilerplate line is never
    a problem. The list ends at a line that starts the next log record
    (``ERROR``/``NOTE``/``Summary``/..., a kas ``Command "..." failed``,
    bitbake's ``Loading cache``), at the next header, or at two blank lines
    once a problem was read."""
    out = []
    n = len(texts)
    i = 0
    while i < n:
        if SANITY_HEAD not in texts[i]:
            i += 1
            continue
        head = i
        j = i + 1
        while j < n and j < head + 5 and SANITY_LIST not in texts[j]:
            j += 1
        k = j + 1 if j < n and SANITY_LIST in texts[j] else head + 1
        items: list = []
        item: list = []
        blanks = 0
        while k < n:
            t = texts[k]
            if not t:
                blanks += 1
                if item:
                    items.append(item)
                    item = []
                if blanks >= 2 and items:
                    break
                k += 1
                continue
            if _SANITY_END.search(t) or SANITY_HEAD in t:
                break
            blanks = 0
            if not t.startswith(_SANITY_BOILERPLATE):
                item.append(k)
            k += 1
        if item:
            items.append(item)
        out.append((head, k, items))
        i = max(k, head + 1)
    return out


def _find_sanity(model: LogModel) -> None:
    """The sanity checker's list (:func:`sanity_lists`): one Block per problem."""
    for head, end, items in sanity_lists([ln.text for ln in model.lines]):
        for idxs in items:
            _add_item(model, idxs, head)
        for n in range(head, end):
            model.in_block.setdefault(n, None)


def _add_item(model: LogModel, idxs: list[int], head: int) -> None:
    b = Block("sanity-item", idxs[0], idxs[-1] + 1, idxs[0],
              "\n".join(model.lines[n].text for n in idxs))
    model.blocks.append(b)
    for n in idxs:
        model.in_block[n] = b


def _find_tracebacks(model: LogModel) -> None:
    lines = model.lines
    done = -1
    for i in model.find_lines("Traceback (most recent call last)"):
        if i <= done or i in model.in_block:
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
        done = exc


def _find_task_failures(model: LogModel) -> None:
    """A failed task: its ERROR lines, the log path and 'Task (...) failed'.
    Not added to in_block (its lines are matched one by one)."""
    lines = model.lines
    for i in model.find_lines("Logfile of failure stored in:"):
        ln = lines[i]
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

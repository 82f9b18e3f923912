"""Read bitbake's knotty output and turn it into progress (pure functions).

The formats are bitbake's own (scarthgap, bitbake 2.8):

* ``lib/bb/ui/knotty.py``: ``NOTE: Running setscene task %d of %d (%s)``,
  ``NOTE: Running task %d of %d (%s)`` / ``Running noexec task ...``, the
  footer ``Setscene tasks: %s of %s``, ``Currently %2s running tasks (%s of
  %s)`` / ``No currently running tasks (%s of %s)``, and ``Summary: ...``;
* ``lib/bb/runqueue.py``: ``NOTE: Tasks Summary: Attempted %d tasks of which
  %d didn't need to be rerun and all succeeded.`` (or ``and %d failed.``);
* oe-core: ``Sstate summary: Wanted %d Local %d Mirrors %d Missed %d Current
  %d (%d%% match, %d%% complete)`` and the ``Build Configuration:`` banner
  (``BB_VERSION           = "2.8.1"``);
* ``ERROR: ...`` lines.

kas prefixes nothing when it forwards bitbake's output, but its own log lines
look like ``2026-01-01 12:00:00 - INFO     - ...``; those are recognised too
(kas version, the command).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from armvm_oe.ui import ANSI_RE as _ANSI  # the one definition of an escape sequence

# kas (not on a TTY) forwards every bitbake line through its logger:
# "2026-01-01 12:00:00 - INFO     - NOTE: Running task 3 of 12 (...)"
_KAS_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - [A-Z]+\s+- ")

RE_TASK = re.compile(r"^NOTE: Running (noexec task|task) (\d+) of (\d+) \((.+)\)\s*$")
RE_SETSCENE = re.compile(r"^NOTE: Running setscene task (\d+) of (\d+) \((.+)\)\s*$")
RE_SETSCENE_FOOTER = re.compile(r"^Setscene tasks: (\d+) of (\d+)\s*$")
RE_CURRENT = re.compile(r"^Currently\s+(\d+) running tasks \((\d+) of (\d+)\)\s*$")
RE_NO_CURRENT = re.compile(r"^No currently running tasks \((\d+) of (\d+)\)\s*$")
RE_QUIET = re.compile(r"^Running tasks \((\d+) of (\d+), (\d+) of (\d+)\)\s*$")
RE_SUMMARY = re.compile(r"^NOTE: Tasks Summary: Attempted (\d+) tasks of which (\d+) didn't "
                        r"need to be rerun and (?:all succeeded|(\d+) failed)\.\s*$")
RE_SSTATE = re.compile(r"^Sstate summary: Wanted (\d+) Local (\d+) Mirrors (\d+) Missed (\d+) "
                       r"Current (\d+) \((\d+)% match, (\d+)% complete\)")
RE_BUILDCFG = re.compile(r'^([A-Z][A-Z0-9_]+)\s*= "(.*)"\s*$')
RE_ERROR = re.compile(r"^ERROR: (.*)$")
RE_TASK_FAILED = re.compile(r"^ERROR: Task \((.+)\) failed with exit code '(\d+)'")
RE_FAILED_SUMMARY = re.compile(r"^Summary: (\d+) tasks? failed:")
RE_KAS_VERSION = re.compile(r"^kas (\d+\.\d+(?:\.\d+)?) started")


@dataclass(frozen=True)
class Event:
    kind: str                 # task | setscene | footer-setscene | current | summary | sstate
    #                           | buildcfg | error | task-failed | kas-version | failed-summary
    current: Optional[int] = None
    total: Optional[int] = None
    task: Optional[str] = None
    running: Optional[int] = None
    values: tuple = ()
    text: str = ""


def clean(line: str) -> str:
    """Strip ANSI colour codes, carriage-return redraws, the newline and
    kas's logging prefix."""
    line = _ANSI.sub("", line.rstrip("\n"))
    if "\r" in line:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    return _KAS_PREFIX.sub("", line, count=1)


def parse_line(line: str) -> Optional[Event]:
    """One output line -> an :class:`Event`, or None for anything else."""
    s = clean(line)
    if not s:
        return None
    c = s[0]
    if c == "N":
        m = RE_TASK.match(s)
        if m:
            return Event("task", int(m.group(2)), int(m.group(3)), m.group(4),
                         values=(m.group(1) == "noexec task",))
        m = RE_SETSCENE.match(s)
        if m:
            return Event("setscene", int(m.group(1)), int(m.group(2)), m.group(3))
        m = RE_SUMMARY.match(s)
        if m:
            failed = int(m.group(3)) if m.group(3) is not None else 0
            return Event("summary", values=(int(m.group(1)), int(m.group(2)), failed), text=s)
        m = RE_NO_CURRENT.match(s)
        if m:
            return Event("current", int(m.group(1)), int(m.group(2)), running=0)
        return None
    if c == "S":
        m = RE_SETSCENE_FOOTER.match(s)
        if m:
            return Event("footer-setscene", int(m.group(1)), int(m.group(2)))
        m = RE_SSTATE.match(s)
        if m:
            return Event("sstate", values=tuple(int(g) for g in m.groups()), text=s)
        m = RE_FAILED_SUMMARY.match(s)
        if m:
            return Event("failed-summary", int(m.group(1)), text=s)
        return None
    if c == "C":
        m = RE_CURRENT.match(s)
        if m:
            return Event("current", int(m.group(2)), int(m.group(3)), running=int(m.group(1)))
        return None
    if c == "R":
        m = RE_QUIET.match(s)
        if m:
            return Event("current", int(m.group(3)), int(m.group(4)),
                         values=(int(m.group(1)), int(m.group(2))))
        return None
    if c == "E":
        m = RE_TASK_FAILED.match(s)
        if m:
            return Event("task-failed", task=m.group(1), values=(int(m.group(2)),), text=s)
        m = RE_ERROR.match(s)
        if m:
            return Event("error", text=m.group(1))
        return None
    if c.isupper():
        m = RE_BUILDCFG.match(s)
        if m:
            return Event("buildcfg", values=(m.group(1), m.group(2)))
    m = RE_KAS_VERSION.match(s)
    if m:
        return Event("kas-version", text=m.group(1))
    return None


_KAS_ECHO = re.compile(r'ERROR\s+- Command ".*" failed:\s*$')


@dataclass
class BuildProgress:
    """The state the events add up to (what the bar and the report show)."""

    phase: str = "starting"          # starting | setscene | tasks | done
    setscene_current: int = 0
    setscene_total: int = 0
    task_current: int = 0
    task_total: int = 0
    running: Optional[int] = None
    last_task: Optional[str] = None
    errors: list = field(default_factory=list)
    failed_tasks: list = field(default_factory=list)
    summary: Optional[dict] = None
    sstate: Optional[dict] = None
    build_config: dict = field(default_factory=dict)
    kas_version: Optional[str] = None
    lines: int = 0
    # kas repeats a failed command's output after 'Command "..." failed:';
    # those errors were counted when bitbake printed them
    kas_echo: bool = False

    def feed(self, line: str) -> Optional[Event]:
        self.lines += 1
        if _KAS_ECHO.search(line):
            self.kas_echo = True
        ev = parse_line(line)
        if ev is not None and not (self.kas_echo and ev.kind in ("error", "task-failed")):
            self.apply(ev)
        return ev

    def apply(self, ev: Event) -> None:
        k = ev.kind
        if k == "setscene":
            self.phase = "setscene" if self.phase in ("starting", "setscene") else self.phase
            self.setscene_current, self.setscene_total = ev.current, ev.total
            self.last_task = ev.task
        elif k == "footer-setscene":
            self.setscene_current, self.setscene_total = ev.current, ev.total
        elif k == "task":
            self.phase = "tasks"
            self.task_current, self.task_total = ev.current, ev.total
            self.last_task = ev.task
        elif k == "current":
            self.task_current, self.task_total = ev.current, ev.total
            if ev.running is not None:
                self.running = ev.running
        elif k == "summary":
            attempted, skipped, failed = ev.values
            self.summary = {"attempted": attempted, "not_rerun": skipped, "failed": failed,
                            "succeeded": failed == 0}
            self.phase = "done"
        elif k == "sstate":
            names = ("wanted", "local", "mirrors", "missed", "current", "match_pct",
                     "complete_pct")
            self.sstate = dict(zip(names, ev.values))
        elif k == "buildcfg":
            self.build_config.setdefault(ev.values[0], ev.values[1])
        elif k == "error":
            self.errors.append(ev.text)
        elif k == "task-failed":
            self.errors.append(ev.text[len("ERROR: "):])
            self.failed_tasks.append(ev.task)
        elif k == "kas-version":
            self.kas_version = ev.text

    @property
    def bitbake_version(self) -> Optional[str]:
        return self.build_config.get("BB_VERSION")

    def bar_position(self) -> tuple[str, int, int]:
        """(label, n, total) for a progress bar: setscene first, then tasks."""
        if self.phase == "tasks" or (self.task_total and self.phase == "done"):
            return "tasks", self.task_current, self.task_total
        if self.phase == "setscene":
            return "setscene", self.setscene_current, self.setscene_total
        return self.phase, 0, 0

    def describe(self) -> str:
        label, n, total = self.bar_position()
        if not total:
            return label
        pct = 100 * n // total
        run = f", {self.running} running" if self.running else ""
        return f"{label} {n} of {total} ({pct}%{run})"

    def as_dict(self) -> dict:
        return {"phase": self.phase, "setscene": [self.setscene_current, self.setscene_total],
                "tasks": [self.task_current, self.task_total], "summary": self.summary,
                "sstate": self.sstate, "errors": self.errors[:50],
                "failed_tasks": self.failed_tasks, "build_config": self.build_config}


def short_task(task: Optional[str]) -> str:
    """'/w/poky/meta/recipes-core/glibc/glibc_2.39.bb:do_compile' -> 'glibc do_compile'."""
    if not task:
        return ""
    path, _, tname = task.rpartition(":")
    if not path:
        return task
    base = path.rsplit("/", 1)[-1]
    for suffix in (".bbappend", ".bb"):
        if base.endswith(suffix):
            base = base[:-len(suffix)]
    recipe = base.split("_", 1)[0]
    return f"{recipe} {tname}".strip()

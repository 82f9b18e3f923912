"""The structural first cause: what failed and where, when no family of the
catalogue says why.

A failed bitbake build prints its real error once, deep in a block of
wrappers: ``ERROR: foo-1.0-r0 do_compile: oe_runmake failed`` /
``Function failed: do_compile`` / ``ExecutionError`` / ``Logfile of failure
stored in:`` come first, the task's own log (``| ...`` lines, or the log
file) holds the compiler's ``error:``, and ``Task (...) failed with exit
code '1'`` / ``Summary: 1 task failed`` follow. :func:`first_error` skips
the wrappers and the cascade and returns the first line that is an error
of its own; :func:`where` names the recipe and task it belongs to;
:func:`kind` says what sort of error it is. Pure functions over
:class:`armvm_oe.doctor.logmodel.LogModel`.
"""

from __future__ import annotations

import re
from typing import Optional

from armvm_oe.doctor.logcatalogue import BENIGN, GENERIC_ERROR
from armvm_oe.doctor.logfinding import UNRECOGNISED, Finding

# Lines that only report that something below/above failed (never a cause).
WRAPPER = re.compile(
    r"Function failed: |\bExecutionError\b|Execution of '[^']*' failed with exit code|"
    r"failed with exit code|Logfile of failure stored in|Log data follows|"
    r"Transaction check error:?\s*$|Could not invoke dnf|Could not invoke (?:opkg|apt)|"
    r"^Summary: |returning a non-zero exit code|\boe_runmake failed|"
    r"Error executing a python function|^Backtrace:|^The stack trace of python calls|"
    r"^Command \"[^\"]*\" failed|^make(?:\[\d+\])?: \*\*\* |error: Bad exit status from|"
    r"^ERROR: Error: The image creation script|^collect2: error: ld returned|"
    r"Exit code \d+\. Output:\s*$|^Error: Transaction check error|Command '[^']*' returned \d+|"
    r"Fatal QA errors were found, failing task|Parsing halted due to errors|"
    r"failed: error code \d+|"
    r"^ERROR: \S+ do_\w+: (?:Error executing|Execution of|Function failed)|"
    r"^(?:ERROR: )?(?:An uncaught exception|Command execution failed)|"
    r"^ninja: build stopped|^ERROR: Task .* failed|task failed:|tasks? failed\b|"
    r"^Errors? (?:occurred|encountered) while|^ERROR: The errors for this build|"
    # bitbake build.py's "Build of %s failed" and older "Function '%s' failed"; rpm's
    # header above its problem list; sstate.bbclass's advice after the overlap list;
    # insane.bbclass's old summary after the license checksum lines
    r"\bBuild of do_\w+ failed|Function '[^']*' failed|\bFailed dependencies:\s*$|"
    r"If the above message is too much, the simpler version|"
    r"Licensing Error: LIC_FILES_CHKSUM does not match|"
    # headers whose message is on the lines below: dnf's bare "Error:" over its
    # " Problem: ..." list, autoconf's AC_MSG_FAILURE preamble "configure: error:
    # in `<dir>':" over "configure: error: <message>"
    r"^Error:\s*$|^configure: error: in [`'][^']*':\s*$")

# A task log's own error (on '| ' lines, in a task log file, or pasted):
# stricter than GENERIC_ERROR, since a task log is full of 'checking for
# error...' and '-Werror=' words.
TASK_ERROR = re.compile(
    r"^\S+:\d+(?::\d+)?: (?:fatal )?error: |(?:^|\s)(?:fatal )?error: |multiple definition of|"
    r"^configure: error: |CMake Error\b|^ERROR: |undefined reference to|"
    r"\bld(?:\.\w+)?: (?:cannot find|error:)|: No such file or directory\s*$|\bKilled\b|"
    r"Could not allocate block|conflicts? (?:between attempted installs|with file from)|"
    r"Collected errors:|^Error: |^E: |^\S+\.py:\d+: \w+Error|^\w*Error: |"
    r"^meson\.build:\d+:\d+: ERROR:|^FAILED: |^error\[E\d+\]|^Segmentation fault|"
    r"^make(?:\[\d+\])?: \*\*\* ")

_KINDS = (
    (re.compile(r"^configure: error: |CMake Error|meson\.build:\d+:\d+: ERROR"),
     "a configure step error"),
    (re.compile(r"undefined reference to|multiple definition of|\bld(?:\.\w+)?: |"
                r"ld returned|cannot find -l"),
     "a linker error"),
    (re.compile(r"^\S+\.\w+:\d+(?::\d+)?: (?:fatal )?error: |^error\[E\d+\]|"
                r"(?:gcc|g\+\+|cc1\w*|clang\S*|rustc): (?:fatal )?error"),
     "a compiler error"),
    (re.compile(r"\bKilled\b|exit code '137'"), "a process killed (SIGKILL, often out of memory)"),
    (re.compile(r"Could not allocate block|No space left"), "a filesystem full while writing"),
    (re.compile(r"conflicts?\b.*\b(?:install|file)|Collected errors|nothing provides|"
                r"Problem: "), "a package manager error at do_rootfs"),
    (re.compile(r"No such file or directory"), "a missing file or command"),
    (re.compile(r"Traceback|\w+Error: "), "a Python exception"),
)

_PF_TASK = re.compile(r"(?:ERROR|WARNING): (?P<pf>[\w.+-]+-[\w.+~-]+-r[\w.]+) (?P<task>do_\w+):")
_TASK_PAREN = re.compile(r"Task \((?:virtual:[\w-]+:)?(?P<file>[^:)]+\.bb(?:append)?):"
                         r"(?P<task>do_\w+)\) failed")
_WORKDIR = re.compile(r"/tmp[\w-]*/work/[^/\s]+/(?P<pn>[^/\s]+)/[^/\s]+/temp/log\.(?P<task>do_\w+)")
_FUNC = re.compile(r"Function failed: (?P<task>do_\w+)")


def is_error(ln, strict: bool) -> bool:
    """Does this line report an error of its own? ``strict`` for task-log
    lines (gcc/configure/ld conventions only)."""
    t = ln.text
    if not t or BENIGN.search(t):
        return False
    if strict or ln.tasklog:
        return bool(TASK_ERROR.search(t))
    lvl = ln.level
    if lvl in ("WARNING", "NOTE", "DEBUG") and lvl + ":" in t:
        return False            # the message says itself it is no error
    return lvl in ("ERROR", "FATAL") or bool(GENERIC_ERROR.search(t))


def first_error(model, skip: set, cascade: set, succeeded: bool = False) -> Optional[int]:
    """The first line that is an error of its own: not recognised already
    (``skip``), not a wrapper, not a cascade line. Falls back to the first
    wrapper/cascade error line (a failed build is never 'ok'). A log that
    ends with bitbake's 'all succeeded' summary counts only ERROR-level
    lines."""
    fallback = None
    for i, ln in enumerate(model.lines):
        if i in skip or model.in_block.get(i, 0) is None:
            continue            # recognised already, or the sanity header
        b = model.in_block.get(i)
        if b is not None and b.kind == "traceback":
            if i == b.key:
                return i
            continue
        if succeeded and ln.level not in ("ERROR", "FATAL"):
            continue
        if not is_error(ln, False):
            continue
        wrapper = WRAPPER.search(ln.text)
        if i in cascade and not wrapper:
            continue            # a cascade the catalogue explains (cd: poky: ...)
        if wrapper:
            if fallback is None:
                fallback = i
            continue
        return i
    return fallback


def first_task_error(model) -> Optional[int]:
    """In a task's own log file: the first line in gcc/configure/ld/package
    manager convention."""
    for i, ln in enumerate(model.lines):
        if is_error(ln, True) and not WRAPPER.search(ln.text):
            return i
    return None


def where(model, idx: int) -> str:
    """'recipe foo (do_compile)' for the failure the line belongs to: the
    nearest ERROR: <PF> do_<task>:, Task (...) failed, task log path or
    Function failed: around it (before it first)."""
    lines = model.lines
    order = list(range(idx, max(-1, idx - 200), -1)) + list(range(idx + 1,
                                                                  min(len(lines), idx + 60)))
    recipe = task = None
    for n in order:
        t = lines[n].text
        for rx in (_PF_TASK, _TASK_PAREN, _WORKDIR, _FUNC):
            m = rx.search(t)
            if not m:
                continue
            g = m.groupdict()
            task = task or g.get("task")
            r = g.get("pf") or g.get("pn") or g.get("file")
            if r and not recipe:
                recipe = re.sub(r"_[^_/]*\.bb(?:append)?$|\.bb$", "",
                                r.rsplit("/", 1)[-1]) if g.get("file") else r
        if recipe and task:
            break
    if recipe and task:
        return f"recipe {recipe}, task {task}"
    if recipe or task:
        return f"{'recipe ' + recipe if recipe else 'task ' + task}"
    return ""


def kind(text: str) -> str:
    for rx, name in _KINDS:
        if rx.search(text):
            return name
    return "an error"


def structural(model, used: set, casc: set, source: str, task_log: bool = False):
    """log.unrecognised: the first error of its own (firstcause), with the
    recipe and task it belongs to, or None for a clean log."""
    if task_log:
        n = first_task_error(model)
    else:
        ok = bool(model.find_lines("and all succeeded")) or bool(
            model.find_lines("didn't need to be rerun and all succeeded"))
        n = first_error(model, used, casc, succeeded=ok)
    if n is None:
        return None
    ln = model.lines[n]
    at = where(model, n)
    what = kind(ln.text)
    wrap = WRAPPER.search(ln.text) or n in casc
    lead = (f"{at} failed; " if at else "") + (
        "the log holds only the report of the failure, not its own error: "
        if wrap else f"its first error of its own ({what}) is: ")
    return Finding(UNRECOGNISED, "an error no pattern recognises", "error", ln.no, ln.text,
                   f"no known failure matches; {lead}{ln.text}",
                   "Read the lines just above it (and the task log it names, if any); the "
                   "lines after it are likely consequences", False, None,
                   ln.phase, None, 0, [{"source": source, "line_no": ln.no, "line": ln.text}])

"""What the build report reads from bitbake's log before the pattern scan of
``armvm-oe doctor --log`` (pure functions): oe-core's sanity checker's list,
read whole, and the failed tasks' own error lines.

The sanity checker's list.

When the checker refuses a configuration, bitbake prints one block::

    ERROR:  OE-core's config sanity checker detected a potential misconfiguration.
        Either fix the cause of this error or at your own risk disable the checker (see sanity.conf).
        Following is the list of potential problems / advisories:

        DL_DIR: /downloads exists but you do not appear to have write access to it.
    Failed to create a file in SSTATE_DIR: Permission denied

(meta/classes-global/sanity.bbclass, raise_sanity_error: the messages are
joined, so only the first is indented). Every line of the list is a problem
of its own; a pattern scanner that stops at its first match names one of
them, often the connectivity check, which is only a symptom offline. The
build report takes all of them, the caller's own (write access to DL_DIR,
SSTATE_DIR, TMPDIR) first.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Optional

from armvm_oe.ui import ANSI_RE as _ANSI  # the one definition of an escape sequence

# (regex, check id, fix): lines whose cause is known
_KNOWN = (
    (re.compile(r"\b(DL_DIR|SSTATE_DIR|TMPDIR)\b.*(write access|Permission denied|not writable)"
                r"|Failed to create a file in (DL_DIR|SSTATE_DIR|TMPDIR)", re.I),
     "build.cache-dir-writable",
     "Give the build user a writable directory: armvm-oe build --dl-dir/--sstate-dir DIR "
     "(owned by you), or chown the existing one"),
    (re.compile(r"Fetcher failure for URL|connectivity|network is configured correctly", re.I),
     "log.network",
     "Offline builds set BB_NO_NETWORK = \"1\" and CONNECTIVITY_CHECK_URIS = \"\"; otherwise "
     "check the proxy and DNS of the build host"),
    (re.compile(r"Do not use Bitbake as root", re.I), "host.root",
     "Build as an ordinary user"),
    (re.compile(r"HOSTTOOLS|missing utilities", re.I), "host.hosttools",
     "Install the named host tools, or build in the armvm-oe container"),
    (re.compile(r"wic/wks files at .* need to be moved", re.I), "layer.wic-location",
     "Keep the layer's .wks files in files/wic/ (Yocto 5.3 and later)"),
)
_OWN = {"build.cache-dir-writable"}


@dataclass
class LogFinding:
    """Shaped like doctor.logscan's findings (same keys in as_dict)."""
    id: str
    title: str
    severity: str
    line_no: int
    line: str
    cause: str
    fix: str
    cascade: bool = False
    check: Optional[str] = None
    # a failed task's own error: what it names
    recipe: Optional[str] = None
    task: Optional[str] = None
    url: Optional[str] = None
    logfile: Optional[str] = None
    # doctor's evidence chain (console line -> task log line), when it knows the line
    evidence: Optional[list] = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items()
                if v is not None or k in ("check",)}


def sanity_list(text: str) -> list[tuple[int, str]]:
    """[(1-based line number, problem)] of every sanity-checker block in
    ``text``: every line of the list is a problem (see the module's
    docstring), each once (kas repeats the block after ``Command ...
    failed:``). The block is found by doctor's log model
    (:func:`armvm_oe.doctor.logmodel.sanity_lists`, the one reading of it),
    on lines normalised the same way (kas/CI prefixes, colour removed)."""
    from armvm_oe.doctor.logmodel import normalise, sanity_lists

    texts = [normalise(raw)[0]
             for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[tuple[int, str]] = []
    seen: set[str] = set()
    for _head, _end, items in sanity_lists(texts):
        for idxs in items:
            for i in idxs:
                if texts[i] not in seen:
                    seen.add(texts[i])
                    out.append((i + 1, texts[i]))
    return out


def sanity_findings(text: str) -> list[LogFinding]:
    """One finding per line of the list, the caller's own causes first."""
    found = []
    for n, line in sanity_list(text):
        check, fix = None, "Read the sanity checker's line and fix that setting (sanity.conf)"
        for rx, cid, cfix in _KNOWN:
            if rx.search(line):
                check, fix = cid, cfix
                break
        found.append(LogFinding("log.sanity", "oe-core's sanity checker refused the "
                                   "configuration", "error", n, line,
                                   f"oe-core's sanity check: {line}", fix, False, check))
    return sorted(found, key=lambda f: (f.check not in _OWN, f.line_no))


# ERROR: quilt-native-0.67-r0 do_fetch: Bitbake Fetcher Error: NetworkAccess('URL', "cmd")
_TASK_ERROR = re.compile(r"ERROR: (?P<pf>\S+) (?P<task>do_\w+): (?P<msg>.+)$")
_URL = re.compile(r"NetworkAccess\('([^']+)'|Fetcher failure for URL: '([^']+)'|"
                  r"Unable to fetch URL (\S+)|Checksum mismatch for local file \S+\s+"
                  r"Cannot fetch (\S+)")
_LOGFILE = re.compile(r"Logfile of failure stored in: (\S+)")


def _pn(pf: str) -> str:
    """quilt-native-0.67-r0 -> quilt-native (PF = PN-PV-PR)."""
    parts = pf.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else pf


def task_errors(text: str, failed_tasks: list[str]) -> list[LogFinding]:
    """The own error line of each failed task (``ERROR: <PF> <task>: ...``),
    naming the recipe, the task and, for a fetch, the URL; in log order."""
    lines = _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    failed = {(t.rsplit(":", 1)[-1]) for t in failed_tasks}
    recipes = {_recipe_of(t) for t in failed_tasks}
    out, seen = [], set()
    for n, line in enumerate(lines):
        m = _TASK_ERROR.search(line)
        if not m or m.group("task") not in failed:
            continue
        pf, task, msg = m.group("pf"), m.group("task"), m.group("msg").strip()
        pn = _pn(pf)
        if recipes and not any(r == pn or pn.startswith(r + "-") or r.startswith(pn)
                               for r in recipes):
            continue
        if (pn, task) in seen:
            continue
        seen.add((pn, task))
        u = _URL.search(msg)
        url = next((g for g in u.groups() if g), None) if u else None
        logfile = None
        for nxt in lines[n + 1:n + 4]:
            lm = _LOGFILE.search(nxt)
            if lm:
                logfile = lm.group(1)
                break
        if url and "NetworkAccess" in msg:
            cause = (f"recipe {pn} ({pf}) {task} could not fetch {url}: the network is "
                     "off for this build (BB_NO_NETWORK) and the file is not in DL_DIR or a "
                     "premirror")
            fix = ("Pre-fill DL_DIR (a premirror, or 'bitbake --runall=fetch' where the "
                   "network is allowed), or build with network access")
            check = "log.no-network"
        elif url:
            cause = f"recipe {pn} ({pf}) {task} could not fetch {url}: {msg}"
            fix = "Check that the URL is reachable from the build host (proxy, DNS, mirror)"
            check = "log.fetch-failed"
        else:
            cause = f"recipe {pn} ({pf}) {task} failed: {msg}"
            fix = "Read the task's log" + (f": {logfile}" if logfile else "")
            check = None
        f = LogFinding("log.task-error", f"{pn} {task} failed", "error", n + 1, line.strip(),
                       cause, fix, False, check)
        f.recipe, f.task, f.url, f.logfile = pn, task, url, logfile
        out.append(f)
    return out


def _recipe_of(task: str) -> str:
    """'/x/quilt-native_0.67.bb:do_fetch' / 'virtual:native:/x/gnu-config_git.bb:do_x'
    -> the recipe file's PN part ('quilt-native', 'gnu-config')."""
    path = task.rsplit(":", 1)[0]
    name = path.rsplit("/", 1)[-1]
    if name.endswith(".bb"):
        name = name[:-3]
    return name.split("_", 1)[0]

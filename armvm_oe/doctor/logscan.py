"""Read a bitbake / kas / shell log and name the first real cause.

``scan(text)`` returns a :class:`Diagnosis`: the log's phase, its
findings (the first real cause first) and, for each finding, the chain of
evidence (console line -> task log line). ``diagnose(text)`` returns just
the findings.

How it reads a log (see :mod:`logmodel`, the data in :mod:`logcatalogue`,
:mod:`firstcause` and :mod:`logfollow`):

1. every line is normalised (kas/CI prefixes, ``| ``, colour, CR/LF) and
   given its phase; the sanity checker's list, tracebacks and task failure
   blocks are found;
2. every pattern is tried on the lines holding one of its literal keys (and
   on each block as a whole); when several match one line the tie rule of
   :mod:`logcatalogue` picks one (tier, then match length);
3. a task log named by "Logfile of failure stored in:" that exists here
   (also below a build directory moved between a container's /work and the
   host) is read and its first error diagnosed; so are bitbake's
   error-report files when a build directory is given;
4. causes come first (errors before warnings, then the more specific, then
   log order), then the consequences (``cascade``); a log with an error line,
   a non-zero task exit or a traceback that nothing recognises gets a
   ``log.unrecognised`` finding: the structural first cause (:mod:`firstcause`:
   the first error that is not a wrapper or cascade line, with its recipe and
   task), never ``ok``. Warnings alone are listed but the log is ``ok``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from armvm_oe.doctor import firstcause, logfollow, logmodel
from armvm_oe.doctor.logfinding import UNRECOGNISED, Diagnosis, Finding
from armvm_oe.doctor.logfollow import resolve_task_log  # noqa: F401  (public)
from armvm_oe.doctor.logcatalogue import PATTERNS, Pattern

__all__ = ["PATTERNS", "Pattern", "Finding", "Diagnosis", "scan", "diagnose", "diagnose_file",
           "scan_file", "UNRECOGNISED", "resolve_task_log"]

_SEV = {"error": 0, "warn": 1}
_COMPILED = [(p, re.compile(p.regex, re.M)) for p in PATTERNS]
# logs up to this size (a posted excerpt, not a 100k-line console log) are
# also searched for keys broken over a line break
_WRAP_SEARCH_BYTES = 256 * 1024
_MAX_PER_FAMILY = 50         # lines tried per multi-finding family (QA, sanity)
_MULTI = ("log.qa-issue", "log.sanity-misc")
# a line that ends in a colon (after a location or a word): a header whose
# message is on the next line
_HEADER_END = re.compile(r":\s*$")
# families that only report that another part failed (bitbake's "Unable to
# start bitbake server" above the server's own error): sorted after any
# other cause of the same severity
_WRAPPERS = {p.id for p in PATTERNS if p.wrapper}
# a header over a command's output (bitbake's runfetchcmd "Fetch command %s
# failed with exit code %s, output:", oe-core's CmdError "Command Error: '%s'
# exited with %d  Output:"): the line quoted is the first line below it that
# says what failed, within _OUTPUT_LINES lines and before the next message
_OUTPUT_HEADER = re.compile(r"\b[Oo]utput:\s*$")
_OUTPUT_FAILS = re.compile(r"\b(?:error|fatal|fail(?:ed|ure)?|not found|refused|no route|denied|"
                           r"unable|cannot|can't|could not|does not apply|no such)\b", re.I)
_NEW_MESSAGE = re.compile(r"^(?:ERROR|NOTE|WARNING|FATAL|DEBUG): ")
_OUTPUT_LINES = 40


class _Safe(dict):
    """Template values; a name without a value renders empty (and is noted,
    so a test can prove no template ever lacks one)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.missing: list = []

    def __missing__(self, key):
        self.missing.append(key)
        return ""


MISSING_FIELDS: list = []     # (pattern id, field) seen at run time; a test keeps it empty


def _fill(template: str, values: dict, pid: str) -> str:
    safe = _Safe(values)
    out = template.format_map(safe)
    for k in safe.missing:
        MISSING_FIELDS.append((pid, k))
    # an empty optional field must not leave " ," or " )" behind
    return re.sub(r" +(,|\)|\.(?=\s|$))", r"\1", out).strip()


class _Ctx:
    """What a pattern's ``fields`` function may look at around its match."""

    def __init__(self, model, idx: int):
        self.model, self.idx = model, idx

    def nearby_error(self, back: int = 12) -> Optional[str]:
        """The nearest 'fatal:'/'error:' line above (the fetcher's reason)."""
        first = None
        for n in range(self.idx - 1, max(-1, self.idx - back - 1), -1):
            t = self.model.lines[n].text
            m = re.search(r"(?:fatal|error): (.+)", t)
            if m and "Fetcher failure" not in t:
                first = m.group(0).strip("_*` ")     # keep the earliest of the run
        return first

    def forward(self, rx: str, n: int) -> Optional[str]:
        r = re.compile(rx)
        for k in range(self.idx, min(len(self.model.lines), self.idx + n + 1)):
            m = r.search(self.model.lines[k].text)
            if m:
                return m.group(1)
        return None

    def next_text(self) -> Optional[str]:
        k = self.idx + 1
        return self.model.lines[k].text if k < len(self.model.lines) else None


def _candidates(model, keys: tuple) -> list:
    """0-based numbers of the lines holding one of ``keys`` (and of the line
    before each, for messages wrapped over a line break). Searching the whole
    text for literals is what keeps a 100k-line log well under a second."""
    out = set()
    small = len(model.bjoined) <= _WRAP_SEARCH_BYTES
    for key in keys:
        for n in model.find_lines(key):
            out.add(n)
            if n:
                out.add(n - 1)
        if small and " " in key:
            # a posted excerpt wrapped by a terminal or a mailer: the key broken
            # at one of its spaces (the continuation line is stripped)
            for i, c in enumerate(key):
                if c == " ":
                    out.update(model.find_lines(key[:i] + "\n" + key[i + 1:]))
    return sorted(out)


def _score(p: Pattern, m: re.Match) -> tuple:
    """The tie rule (see logpatterns): tier first, then the match's length."""
    return (p.tier, m.end() - m.start())


def _match_lines(model) -> tuple:
    texts = [ln.text for ln in model.lines]
    per_line: dict = {}
    for p, rx in _COMPILED:
        for n in _candidates(model, p.gate or p.keys):
            if n in model.in_block:
                continue
            t = texts[n]
            m = rx.search(t)
            if m is None and n + 1 < len(texts) and texts[n + 1] and n + 1 not in model.in_block:
                both = t.rstrip() + " " + texts[n + 1]
                m = rx.search(both)
                cut = len(t.rstrip())
                if m is not None and m.start() >= cut:
                    m = None      # all on the next line: matched there
                elif m is not None and (m.end() - cut - 1 > cut - m.start() or
                                        _HEADER_END.search(t)):
                    # a message wrapped after its first words ("ParseError at" /
                    # "<file>:1: Could not include ..."): the line holding most
                    # of it is the one to quote; a header that ends in its
                    # location and a colon ("ParseError at <file>:430:") is
                    # never the message, the line below it is
                    per_line.setdefault(n + 1, []).append((p, m, None))
                    continue
            if m is not None:
                per_line.setdefault(n, []).append((p, m, None))
    for b in model.blocks:
        if b.kind == "traceback":
            # matched as a whole (the uid_map write is in a 'File' line, the
            # exception only says 'Operation not permitted'), at its exception
            for p, rx in _COMPILED:
                if any(k in b.text for k in p.keys):
                    m = rx.search(b.text)
                    if m is not None:
                        per_line.setdefault(b.key, []).append((p, m, b))
        elif b.kind == "sanity-item":
            # a paragraph of the sanity list may hold several problems (bitbake
            # separates some only by a newline): every match is a candidate at
            # the line where it starts
            for p, rx in _COMPILED:
                if any(k in b.text for k in p.keys):
                    for m in rx.finditer(b.text):
                        n = b.start + b.text.count("\n", 0, m.start())
                        per_line.setdefault(n, []).append((p, m, b))
    return per_line


def _pick(cands: list) -> tuple:
    best = max(cands, key=lambda c: _score(c[0], c[1]))
    top = _score(best[0], best[1])
    tied = sorted({c[0].id for c in cands
                   if _score(c[0], c[1]) == top and c[0].fid != best[0].fid})
    return best, tied


def _dedupe_key(p: Pattern, vals: dict, b) -> tuple:
    if p.fid == "log.qa-issue":
        return (p.fid, vals.get("recipe"), vals.get("check"))
    if b is not None and b.kind == "sanity-item":
        return (p.fid, b.text)
    return (p.fid,)


def _output_line(model, n: int) -> int:
    """``n``, or for a header over a command's output the line of that
    output that says what failed (see _OUTPUT_HEADER)."""
    if not _OUTPUT_HEADER.search(model.lines[n].text):
        return n
    for k in range(n + 1, min(len(model.lines), n + 1 + _OUTPUT_LINES)):
        t = model.lines[k].text
        if _NEW_MESSAGE.match(t):
            break
        if t.strip() and _OUTPUT_FAILS.search(t):
            return k
    return n


def _finding(p: Pattern, m: re.Match, model, n: int, source: str) -> tuple:
    head = model.lines[n]
    ln = model.lines[_output_line(model, n)]
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    vals = dict(p.defaults)
    vals.update(g)
    if p.fields:
        vals.update({k: v for k, v in p.fields(g, _Ctx(model, n)).items() if v is not None})
    phase = head.phase if head.phase != "unknown" else (p.phase or "unknown")
    # a pattern found on a WARNING line (a QA warning, a checksum retried
    # from a mirror) is a warning, not the failure
    sev = "warn" if head.level == "WARNING" else p.severity
    ev = [{"source": source, "line_no": ln.no, "line": ln.text}]
    if ln is not head:
        ev.insert(0, {"source": source, "line_no": head.no, "line": head.text})
    f = Finding(p.fid, p.title, sev, ln.no, ln.text, _fill(p.cause, vals, p.id),
                _fill(p.fix, vals, p.id), p.cascade, p.check, phase, p.id, p.tier, ev)
    return f, vals


def _sanity_misc(model, b, source: str) -> Finding:
    ln = model.lines[b.key]
    msg = " ".join(b.text.split())
    return Finding("log.sanity-misc", "oe-core's sanity checker refused the host", "error",
                   ln.no, ln.text, f"oe-core's sanity check: {msg}",
                   "Fix what the sanity checker names (run 'armvm-oe doctor' for the host "
                   "checks it duplicates)", False, None,
                   ln.phase if ln.phase != "unknown" else "parse", "log.sanity-misc", 2,
                   [{"source": source, "line_no": ln.no, "line": ln.text}])


def _merge(findings: list, sub: Finding, anchor, source: str) -> None:
    """Add a task log's cause to the console findings: as more evidence for
    the same family, or as a new finding anchored at the console line."""
    chain = list(sub.evidence)
    for f in findings:
        if f.id == sub.id and not f.cascade:
            f.evidence.extend(e for e in chain if e not in f.evidence)
            return
    ev = [{"source": source, "line_no": anchor.no, "line": anchor.text}] + chain
    findings.append(Finding(sub.id, sub.title, sub.severity, anchor.no, anchor.text, sub.cause,
                            sub.fix, False, sub.check, "build" if sub.phase == "unknown"
                            else sub.phase, sub.pattern, sub.tier, ev))


def scan(text: str, source: str = "log", log_path=None, build_dir=None,
         follow: bool = True) -> Diagnosis:
    model = logmodel.parse(text)
    per_line = _match_lines(model)
    found: dict = {}
    ties = []
    used, casc = set(), set()
    per_family: dict = {}
    first_of: dict = {}
    for n in sorted(per_line):
        (p, m, b), tied = _pick(per_line[n])
        if tied:
            ties.append((model.lines[n].no, [p.id] + tied))
        (casc if p.cascade else used).add(n)
        k = per_family.get(p.fid, 0)
        if k >= _MAX_PER_FAMILY or (k and p.fid not in _MULTI and
                                    first_of[p.fid].severity == "error"):
            continue        # one finding per family (a few for QA checks, sanity items)
        if p.fid in _MULTI:
            per_family[p.fid] = k + 1   # counts tries: 10k identical QA warnings stay cheap
        f, vals = _finding(p, m, model, n, source)
        key = _dedupe_key(p, vals, b)
        old = found.get(key)
        if old is None:
            found[key] = f
            first_of.setdefault(p.fid, f)
            if p.fid not in _MULTI:
                per_family[p.fid] = k + 1
        elif old.severity == "warn" and f.severity == "error":
            found[key] = f      # bitbake warned first, then failed on it
            first_of[p.fid] = f
    # every sanity item is a finding, recognised or not
    for b in model.blocks:
        if b.kind == "sanity-item" and not any(n in per_line for n in range(b.start, b.end)):
            f = _sanity_misc(model, b, source)
            found.setdefault(("log.sanity-misc", b.text), f)
            used.add(b.key)
    findings = list(found.values())
    if model.find_lines("and all succeeded"):
        # bitbake's summary says every task succeeded: an unprefixed line that
        # looks like a failure (a tool's stderr relayed on the console, a
        # fetch retried from a mirror) did not stop the build
        for f in findings:
            if model.lines[f.line_no - 1].level not in ("ERROR", "FATAL"):
                f.severity = "warn"
    task_logs, reports = [], []
    if follow:
        bases = logfollow.bases(log_path, build_dir)
        for b in [b for b in model.blocks if b.kind == "task-failure"][:logfollow.MAX_TASK_LOGS]:
            where = logfollow.resolve_task_log(b.logfile, bases)
            task_logs.append({"logfile": b.logfile, "resolved": str(where) if where else None,
                              "task": b.task, "read": False})
            if where is None:
                continue
            try:
                with open(where, "rb") as fh:
                    data = fh.read(logfollow.MAX_TASK_LOG_BYTES).decode("utf-8", errors="replace")
            except OSError:
                continue
            task_logs[-1]["read"] = True
            sub = scan(data, source=str(where), follow=False)
            if sub.first is not None and not sub.first.cascade:
                _merge(findings, sub.first, model.lines[b.key], source)
        if build_dir:
            for rep, sub in logfollow.error_reports(Path(build_dir), scan):
                reports.append(str(rep))
                if sub.first is not None and not sub.first.cascade:
                    anchor = logmodel.Line(0, "", f"error report {rep.name}", None)
                    _merge(findings, sub.first, anchor, str(rep))
    causes = [f for f in findings if not f.cascade]
    cascade = sorted((f for f in findings if f.cascade), key=lambda f: f.line_no)
    causes.sort(key=lambda f: (_SEV.get(f.severity, 2), f.pattern in _WRAPPERS, -f.tier, f.line_no))
    if not any(f.severity == "error" for f in causes):
        f = firstcause.structural(model, used, casc, source, task_log=not follow)
        if f is not None:
            causes.insert(0, f)
    out = causes + cascade
    phase = out[0].phase if out else (model.lines[-1].phase if model.lines else "unknown")
    return Diagnosis(source, out, phase, len(model.lines), task_logs, reports, ties)


def diagnose(text: str) -> list:
    """Known failures in ``text``, the first real cause first (see scan)."""
    return scan(text).findings


def scan_file(path, build_dir=None) -> Diagnosis:
    p = Path(path)
    if p.is_dir():
        # a build directory: the newest cooker console log in it
        logs = sorted(p.glob("tmp*/log/cooker/*/console-latest.log"),
                      key=lambda q: q.stat().st_mtime)
        logs = logs or sorted(p.glob("tmp*/log/cooker/*/*.log"), key=lambda q: q.stat().st_mtime)
        if not logs:
            d = Diagnosis(str(p), [], "unknown", 0)
            for rep, sub in logfollow.error_reports(p, scan):
                d.reports.append(str(rep))
                d.findings.extend(f for f in sub.findings[:1])
            if not d.reports:
                raise FileNotFoundError(2, "no tmp/log/cooker/*/console-latest.log or "
                                           "tmp/log/error-report/ in it", str(p))
            return d
        return scan(logfollow.read_log(logs[-1]), source=str(logs[-1]), log_path=logs[-1],
                    build_dir=build_dir or p)
    return scan(logfollow.read_log(p), source=str(p), log_path=p, build_dir=build_dir)


def diagnose_file(path) -> list:
    return scan_file(path).findings

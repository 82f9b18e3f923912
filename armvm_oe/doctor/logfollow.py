"""Following the evidence of a console log: the task logs it names
("Logfile of failure stored in:", also below a build directory moved
between a container and the host) and bitbake's error reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

MAX_TASK_LOGS = 20          # task logs read per console log
MAX_TASK_LOG_BYTES = 32 << 20


def resolve_task_log(logfile: str, bases: list) -> Optional[Path]:
    """The task log named in a log, here: as printed, or the same path below
    another build directory (a container's /work/build is the host's
    ~/proj/build): the part from the first 'tmp*' component on is tried
    below each base."""
    p = Path(logfile)
    try:
        if p.is_file():
            return p
    except (OSError, ValueError):      # unreadable, or a NUL byte in a pasted path
        return None
    parts = p.parts
    for i, part in enumerate(parts):
        if not part.startswith("tmp") or i + 1 >= len(parts):
            continue
        rel = Path(*parts[i:])
        for base in bases:
            cand = Path(base) / rel
            try:
                if cand.is_file():
                    return cand
            except (OSError, ValueError):
                continue
    return None


def bases(log_path, build_dir) -> list:
    out = []
    if build_dir:
        out.append(Path(build_dir))
    if log_path:
        # the console log lives in <build>/tmp/log/cooker/<machine>/: its
        # ancestors are the candidate build directories
        out.extend(Path(log_path).resolve().parents)
    seen, uniq = set(), []
    for b in out:
        if str(b) not in seen:
            seen.add(str(b))
            uniq.append(b)
    return uniq


def error_reports(build_dir: Path, scan) -> list:
    """bitbake's error reports (report-error.bbclass, JSON despite '.txt'):
    the newest error_report_*.txt of the build directory, each failure's
    log diagnosed. Returns [(path, Diagnosis)]."""
    reps = []
    for d in sorted(build_dir.glob("tmp*/log/error-report")):
        reps.extend(d.glob("error_report_*.txt"))
    if not reps:
        return []
    newest = max(reps, key=lambda p: p.stat().st_mtime)
    try:
        data = json.loads(newest.read_text(errors="replace"))
    except (OSError, ValueError):
        return []
    fails = data.get("failures") if isinstance(data, dict) else None
    if not isinstance(fails, list):
        return []          # not bitbake's format: nothing to say about it
    out = []
    for fail in fails[:MAX_TASK_LOGS]:
        if not isinstance(fail, dict):
            continue
        log = str(fail.get("log") or "")
        label = f"{newest}#{fail.get('package') or fail.get('recipe') or ''}:" \
                f"{fail.get('task') or ''}"
        out.append((newest, scan(log, source=label, follow=False)))
    return out


def read_log(path) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")

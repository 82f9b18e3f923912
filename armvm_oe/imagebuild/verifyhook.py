"""Run ``armvm-oe verify`` on the built ``.wic`` for the build report.

In process through ``armvm_oe.verify.verify(path, arch=...)`` when that module
is installed; otherwise through the CLI (``armvm-oe verify --json``). Either
way the result is a small dict for ``build-report.json``: ``status``
(passed | failed | unavailable | error | skipped), ``compliant``,
``summary`` (counts per result), ``failed`` (requirement ids) and the full
verify report under ``report``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _from_report(d: dict, how: str) -> dict:
    summary = d.get("summary") or {}
    failed = sorted({f.get("id") for f in d.get("findings") or []
                     if f.get("result") == "fail" and f.get("id")})
    compliant = bool(d.get("compliant"))
    text = ", ".join(f"{v} {k}" for k, v in summary.items() if v) if isinstance(summary, dict) \
        else ""
    return {"status": "passed" if compliant else "failed", "compliant": compliant,
            "summary": text, "failed": failed, "how": how, "report": d}


def run_verify(wic: Path, arch: str | None) -> dict:
    wic = Path(wic)
    try:
        from armvm_oe.verify import verify  # noqa: WPS433
    except ImportError:
        verify = None
    if verify is not None:
        try:
            rep = verify(wic, arch=arch or "auto")
            return _from_report(rep.as_dict(), "in-process")
        except Exception as exc:  # verify is another area's code: report, never crash the build
            from armvm_oe.errors import ArmvmError
            msg = exc.paragraph() if isinstance(exc, ArmvmError) else f"{type(exc).__name__}: {exc}"
            return {"status": "error", "compliant": None, "summary": msg, "failed": [],
                    "how": "in-process", "report": None}
    return _run_cli(wic, arch)


def _run_cli(wic: Path, arch: str | None) -> dict:
    argv = [sys.executable, "-m", "armvm_oe", "verify", "--json", str(wic)]
    if arch:
        argv[4:4] = ["--arch", arch]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"status": "error", "compliant": None, "summary": str(exc), "failed": [],
                "how": "cli", "report": None}
    try:
        d = json.loads(p.stdout) if p.stdout.strip() else {}
    except ValueError:
        d = {}
    if d.get("error") == "NotImplementedYet" or "not implemented" in (p.stderr or ""):
        return {"status": "unavailable", "compliant": None,
                "summary": "'armvm-oe verify' is not implemented in this installation",
                "failed": [], "how": "cli", "report": None}
    if "compliant" in d:
        return _from_report(d, "cli")
    return {"status": "error", "compliant": None,
            "summary": (d.get("what") or p.stderr.strip().splitlines()[-1:] or ["?"])[0]
            if isinstance(d.get("what"), str) or p.stderr.strip() else f"exit {p.returncode}",
            "failed": [], "how": "cli", "report": None}

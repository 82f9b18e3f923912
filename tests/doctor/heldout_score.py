"""Score ``armvm-oe doctor --log`` on the held-out public logs (tests/doctor/heldout/).

The held-out set is never used to write patterns: it measures whether the
catalogue generalises to failures nobody here has looked at. Each file is a
log (or log excerpt) a user posted publicly, with a header:

    # source: <link to the post>
    # expected: <cause class: a family id, a short cause name, 'structural' or 'ok'>
    # accept: <comma-separated family ids of the current catalogue that name it>
    # cause: <regex naming the cause, matched against a finding's id and title>
    # line: <substring of the true first-cause line> [|| <alternative> ...]
    # note: <what the thread found>

The expected cause comes from the thread (the maintainer's or the reporter's
finding), not from what the scanner says. The rule, fair to a catalogue
with other family ids:

- expected ``ok`` (a build that succeeded, with its warnings): right only if
  doctor exits 0, says ok and has no finding above warning severity (the
  build's own WARNING lines may be listed as warnings);
- any other log: wrong if doctor says ok (exit 0); otherwise the first
  cause's quoted line must contain one of the ``line`` substrings (so a
  wrapper such as "Function failed" or "Task ... failed" is wrong), and its
  class must match: its id is in ``accept``, or ``cause`` matches its id or
  title (not its cause text, which echoes the log line), or the expected
  class is ``structural`` (no family is expected; naming the right line is
  the answer);
- a cascade finding named first is wrong.

The log text is handed to doctor without its header, under a neutral file
name, in a temporary directory. The doctor run is the CLI of whatever
``armvm_oe`` PYTHONPATH selects:

    PYTHONPATH=$PWD python3 -m tests.doctor.heldout_score [-v] [--json] [FILE...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

# One folder per round of collection: a round is scored on the code of the day
# it was collected, before anyone reads it; after that it may serve as
# development data and the next round is the held-out one.
HELDOUT = Path(__file__).parent / "heldout"


def round_files(rnd: str | None = None) -> list[Path]:
    """The held-out logs of one round (r1, r2, ...) or of all rounds."""
    return sorted((HELDOUT / rnd if rnd else HELDOUT).rglob("*.log"))
_HEAD = re.compile(r"^# (source|expected|accept|cause|line|note): ?(.*)$")


@dataclass
class Verdict:
    name: str
    expected: str
    right: bool
    why: str
    got_id: str | None
    got_line: str | None
    exit_code: int


def load(path: Path) -> tuple[dict, str]:
    head, body = {}, []
    for line in path.read_text(encoding="utf-8").split("\n"):
        m = _HEAD.match(line)
        if m and not body:
            head[m.group(1)] = m.group(2).strip()
        else:
            body.append(line)
    return head, "\n".join(body)


def _norm(s: str) -> str:
    return " ".join(s.split())


def run_doctor(body: str) -> tuple[int, dict | None, str]:
    """doctor --log --json on body in a fresh temp dir; (exit code, json, stderr)."""
    with tempfile.TemporaryDirectory(prefix="heldout-") as tmp:
        log = Path(tmp) / "posted.log"
        log.write_text(body, encoding="utf-8")
        p = subprocess.run([sys.executable, "-m", "armvm_oe", "doctor", "--log", str(log),
                            "--json"], cwd=tmp, capture_output=True, text=True,
                           env={**os.environ, "NO_COLOR": "1"}, timeout=120)
    try:
        return p.returncode, json.loads(p.stdout), p.stderr
    except ValueError:
        return p.returncode, None, p.stderr


def judge(head: dict, rc: int, doc: dict | None, err: str = "") -> tuple[bool, str]:
    expected = head["expected"]
    if doc is None:
        return False, f"no JSON from doctor (exit {rc}): {err.strip()[:200]}"
    first = doc.get("first_cause")
    if expected == "ok":
        # Warnings may be listed (the build's own WARNING lines); what a
        # successful build must not get is a non-zero exit, ok=false or an
        # error-severity finding.
        errors = [f for f in doc.get("findings") or [] if f.get("severity") != "warn"]
        if rc == 0 and doc.get("ok") and not errors:
            return True, "ok on a successful build" + (
                f" (its {len(doc['findings'])} warning(s) listed)" if doc.get("findings") else "")
        return False, (f"a successful build called failed: {first['id']} on "
                       f"{first['line']!r}" if first else f"exit {rc} without a finding")
    if rc == 0 or doc.get("ok") or not first:
        return False, "a failed build called ok"
    wants = [w.strip() for w in head["line"].split("||") if w.strip()]
    got = _norm(first.get("line") or "")
    if not any(_norm(w) in got for w in wants):
        return False, f"quotes another line: {first.get('line')!r}"
    if first.get("cascade"):
        return False, f"names a cascade ({first['id']}) as the cause"
    if expected == "structural":
        return True, f"right line ({first['id']})"
    accept = {a.strip() for a in head.get("accept", "").split(",") if a.strip()}
    if first["id"] in accept:
        return True, f"right line and family ({first['id']})"
    rx = head.get("cause")
    if rx and re.search(rx, f"{first['id']} {first.get('title', '')}", re.I):
        return True, f"right line, cause named by {first['id']} ({first.get('title')})"
    return False, f"right line, wrong class: {first['id']} ({first.get('title')})"


def score(paths: list[Path] | None = None) -> list[Verdict]:
    out = []
    for path in paths or round_files():
        head, body = load(path)
        rc, doc, err = run_doctor(body)
        right, why = judge(head, rc, doc, err)
        first = (doc or {}).get("first_cause") or {}
        out.append(Verdict(path.stem, head["expected"], right, why, first.get("id"),
                           first.get("line"), rc))
    return out


def summary(verdicts: list[Verdict]) -> dict:
    fails = [v for v in verdicts if v.expected != "ok"]
    oks = [v for v in verdicts if v.expected == "ok"]
    return {
        "logs": len(verdicts),
        "right": sum(v.right for v in verdicts),
        "score": round(sum(v.right for v in verdicts) / len(verdicts), 3) if verdicts else 0.0,
        "failures": len(fails),
        "failures_right": sum(v.right for v in fails),
        "failures_called_ok": sum(v.why == "a failed build called ok" for v in fails),
        "successes": len(oks),
        "successes_called_failed": sum(not v.right for v in oks),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="example: PYTHONPATH=$PWD python3 -m "
                                        "tests.doctor.heldout_score -v")
    ap.add_argument("files", nargs="*", type=Path, help="held-out logs (default: all)")
    ap.add_argument("--round", help="only this collection round (a folder of heldout/, e.g. r2)")
    ap.add_argument("-v", "--verbose", action="store_true", help="also print the quoted line")
    ap.add_argument("--json", action="store_true", help="verdicts and summary as JSON")
    a = ap.parse_args(argv)
    verdicts = score(a.files or round_files(a.round))
    s = summary(verdicts)
    if a.json:
        print(json.dumps({"summary": s, "verdicts": [asdict(v) for v in verdicts]}, indent=2))
        return 0
    for v in verdicts:
        print(f"{'RIGHT' if v.right else 'WRONG'}  {v.name:55s} {v.why}")
        if a.verbose and v.got_line and not v.right:
            print(f"       expected {v.expected}; got {v.got_id}")
    print(f"\nscore: {s['right']}/{s['logs']} = {s['score']:.0%}   failures right "
          f"{s['failures_right']}/{s['failures']}, failures called ok "
          f"{s['failures_called_ok']}, successes called failed "
          f"{s['successes_called_failed']}/{s['successes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

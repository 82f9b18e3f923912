"""doctor --log on held-out public logs (tests/doctor/heldout/): the hard rules.

The held-out set measures the catalogue on failures nobody used to write it
(docs/doctor.md, "Held-out evaluation"); the score itself is printed by
``python3 -m tests.doctor.heldout_score``, not asserted here. What is
asserted is what must never happen, whatever the catalogue:

- a failed build called "ok" (exit 0, no finding);
- a successful build (warnings, QA warnings, fetch fallbacks) called failed.

Logs that main's code broke a rule on when the set was gathered are listed in
BROKEN_BEFORE and run as strict xfails: once a catalogue change fixes one, its
test fails as XPASS and the entry must be removed here, so the list only
shrinks and the other logs guard against regressions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.doctor.heldout_score import _norm, judge, load, round_files, run_doctor

FILES = round_files()
REAL = Path(__file__).parent / "realworld"

# broke a hard rule on main's catalogue (before issue 22's rewrite); see the module doc
BROKEN_BEFORE: set = set()
# (r2's "multiple definition of `yylloc'" excerpt, called ok when the round was
# gathered, passes since the linker's messages are structural first causes)


def test_heldout_set_size_and_headers():
    """Each round holds at least 35 failures and 5 successes, none from a
    thread the development set or another round uses, each header complete and
    its expected line present in its log."""
    real = {re.search(r"^# source: (\S+)", p.read_text(encoding="utf-8"), re.M).group(1)
            for p in REAL.glob("*.log")}
    rounds: dict[str, list[int]] = {}
    seen: dict[str, str] = {}
    for f in FILES:
        head, body = load(f)
        rnd = f.parent.name
        counts = rounds.setdefault(rnd, [0, 0])
        assert head.get("source", "").startswith("https://"), f.name
        assert head["source"] not in real, f"{f.name} is in tests/doctor/realworld too"
        assert head["source"] not in seen, f"{f.name}: same thread as {seen[head['source']]}"
        seen[head["source"]] = f"{rnd}/{f.name}"
        assert body.strip() and len(body.strip().splitlines()) <= 40, f.name
        if head.get("expected") == "ok":
            counts[1] += 1
            continue
        counts[0] += 1
        assert head.get("expected") and head.get("line"), f.name
        re.compile(head.get("cause", ""))
        for want in head["line"].split("||"):
            assert _norm(want) in _norm(body), (f.name, want)
    assert {"r1", "r2"} <= set(rounds), rounds
    for rnd, (fails, oks) in rounds.items():
        assert fails >= 35 and oks >= 5, (rnd, fails, oks)
    assert BROKEN_BEFORE <= {f.stem for f in FILES}, BROKEN_BEFORE - {f.stem for f in FILES}


def test_judge_rules():
    """The scorer's rule on hand-made answers: wrapper lines, ok on a failure
    and a finding on a success are wrong; the right line with a matching class
    is right."""
    head = {"expected": "sysroot-file-conflict", "accept": "", "cause": "installed by both",
            "line": "is installed by both a and b"}
    cause = {"id": "log.x", "title": "a file installed by both of two recipes", "cascade": False,
             "line": "ERROR: foo do_x: The file /f is installed by both a and b, aborting"}
    wrapper = dict(cause, line="ERROR: foo do_x: Function failed: extend_recipe_sysroot")
    assert judge(head, 1, {"ok": False, "findings": [cause], "first_cause": cause})[0]
    assert not judge(head, 1, {"ok": False, "findings": [wrapper], "first_cause": wrapper})[0]
    assert not judge(head, 0, {"ok": True, "findings": [], "first_cause": None})[0]
    generic = dict(cause, id="log.unrecognised", title="an error no pattern recognises")
    assert not judge(head, 1, {"ok": False, "findings": [generic], "first_cause": generic})[0]
    assert judge(dict(head, expected="structural"), 1,
                 {"ok": False, "findings": [generic], "first_cause": generic})[0]
    ok = {"expected": "ok"}
    assert judge(ok, 0, {"ok": True, "findings": [], "first_cause": None})[0]
    assert not judge(ok, 1, {"ok": False, "findings": [cause], "first_cause": cause})[0]
    warned = dict(cause, severity="warn")
    assert judge(ok, 0, {"ok": True, "findings": [warned], "first_cause": warned})[0]
    assert not judge(ok, 0, {"ok": True, "findings": [dict(cause, severity="error")],
                             "first_cause": cause})[0]


@pytest.mark.parametrize("path", [
    pytest.param(f, id=f.stem, marks=[pytest.mark.xfail(
        strict=True, reason="broke a hard rule on the catalogue of the day its round "
                            "was gathered; remove from BROKEN_BEFORE once it passes")] if f.stem in BROKEN_BEFORE else [])
    for f in FILES])
def test_heldout_hard_rules(path):
    head, body = load(path)
    rc, doc, err = run_doctor(body)
    assert doc is not None, f"doctor gave no JSON (exit {rc}): {err[-500:]}"
    if head["expected"] == "ok":
        errors = [f for f in doc["findings"] if f.get("severity") != "warn"]
        assert rc == 0 and doc["ok"] and not errors, \
            f"a successful build called failed: {[(f['id'], f['line']) for f in errors]}"
    else:
        assert rc == 1 and not doc["ok"] and doc["first_cause"], \
            f"a failed build called ok (exit {rc})"

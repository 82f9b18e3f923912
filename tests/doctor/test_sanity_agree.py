"""The sanity checker's list has one reading (doctor/logmodel.sanity_lists),
used by doctor's log model (a Block per problem) and by the build report
(imagebuild/buildlog.sanity_list, a finding per line). On every real log of
tests/doctor/realworld that holds the checker's header, both callers name
the same problem lines at the same line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from armvm_oe.doctor.logmodel import SANITY_HEAD, parse
from armvm_oe.imagebuild.buildlog import sanity_list

REAL = Path(__file__).parent / "realworld"
LOGS = sorted(p for p in REAL.glob("*.log")
              if SANITY_HEAD in p.read_text(errors="replace"))


def test_there_are_real_sanity_logs():
    assert len(LOGS) >= 5, [p.name for p in LOGS]


@pytest.mark.parametrize("log", LOGS, ids=lambda p: p.name)
def test_doctor_and_build_report_read_the_same_list(log):
    text = log.read_text(errors="replace")
    model = parse(text)
    doctor, seen = [], set()
    for b in model.blocks:
        if b.kind != "sanity-item":
            continue
        for n in range(b.start, b.end):
            t = model.lines[n].text
            if t and t not in seen:
                seen.add(t)
                doctor.append((n + 1, t))
    report = sanity_list(text)
    assert report, f"no problem read from {log.name}"
    assert doctor == report

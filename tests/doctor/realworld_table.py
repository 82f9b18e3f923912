"""The families table of docs/doctor.md, generated from the patterns and
tests/doctor/realworld/ (test_logscan_realworld.py checks the docs hold
exactly this). Regenerate with:

    python3 -m tests.doctor.realworld_table > /tmp/t.md   # paste into docs/doctor.md
"""

from __future__ import annotations

import re
from pathlib import Path

from armvm_oe.doctor.logpatterns import PATTERNS

REAL = Path(__file__).parent / "realworld"
# families whose evidence is the real kas run in test_logscan_kas.py
KAS_RUN = ("log.kas-unknown-repo", "log.kas-dirty", "log.kas-no-init-env", "log.kas-include")


def table() -> str:
    real: dict = {}
    for f in sorted(REAL.glob("*.log")):
        t = f.read_text(encoding="utf-8")
        src = re.search(r"^# source: (\S+)", t, re.M).group(1)
        exp = re.search(r"^# expected: (\S+)", t, re.M).group(1)
        real.setdefault(exp, []).append((f.name, src))
    seen, rows = [], []
    for p in PATTERNS:
        if p.fid in seen:
            continue
        seen.append(p.fid)
        tiers = "/".join(str(t) for t in sorted({q.tier for q in PATTERNS if q.fid == p.fid},
                                                reverse=True))
        r = real.get(p.fid)
        if r:
            name, src = r[0]
            short = src.replace("https://github.com/", "")
            more = f", +{len(r) - 1} more" if len(r) > 1 else ""
            ex = f"[{short}]({src}) (`{name}`{more})"
        elif p.fid in KAS_RUN:
            ex = "real kas 5.5 output, produced by `tests/doctor/test_logscan_kas.py`"
        elif p.cascade:
            ex = "a consequence in several of the real logs (never their first cause)"
        else:
            ex = "no public log found yet; the catalogue's error text"
        title = p.title + (" [cascade]" if p.cascade else "")
        rows.append(f"| `{p.fid}` | {tiers} | {title} | {ex} |")
    n = sum(len(v) for v in real.values())
    return "\n".join(["| family | tier | what it recognises | real example |",
                      "|---|---|---|---|", *rows, "",
                      f"<!-- {len(seen)} families, {len(PATTERNS)} patterns, {n} real logs -->"])


if __name__ == "__main__":
    print(table())

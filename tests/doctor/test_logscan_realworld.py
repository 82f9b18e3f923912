"""doctor --log on logs real users posted publicly (tests/doctor/realworld/).

Each file is an excerpt of a log as posted, with a header:

    # source: <link to the post>
    # expected: <first cause id> | unrecognised | ok
    # note: <optional>

The expected first cause was decided from the thread (what the maintainers
or the reporter found), not from what the scanner says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from armvm_oe.doctor.logpatterns import PATTERNS
from armvm_oe.doctor.logscan import UNRECOGNISED, scan

REAL = Path(__file__).parent / "realworld"
FILES = sorted(REAL.glob("*.log"))
_HEAD = re.compile(r"^# (source|expected|note): (.*)$")
UNFILLED = re.compile(r"(?<!\$)\{\w*\}|\s\?(?:\s|$)")

# the families issue 14 asks real logs for, by finding id
FAMILIES = {
    "log.parse-error", "log.old-override-syntax", "log.new-override-syntax",
    "log.nothing-rprovides", "log.userns", "log.pseudo-abort", "log.compiler-crash",
    "log.oom-killed", "log.qa-issue", "log.hashserv", "log.invalid-machine",
    "log.invalid-distro", "log.broken-symlink", "log.checksum-mismatch", "log.fetcher-failure",
    "log.remote-ref-missing", "log.disk-monitor", "log.kas-invalid", "log.kas-patch",
    "log.kas-container-root", "log.docker-permission",
}


def load(path: Path) -> tuple:
    head, body = {}, []
    for line in path.read_text(encoding="utf-8").split("\n"):
        m = _HEAD.match(line)
        if m and not body:
            head[m.group(1)] = m.group(2).strip()
        else:
            body.append(line)
    return head, "\n".join(body)


def test_corpus_size_and_headers():
    assert len(FILES) >= 50
    known = {p.fid for p in PATTERNS} | {"unrecognised", "ok"}
    for f in FILES:
        head, body = load(f)
        assert head.get("source", "").startswith("https://"), f.name
        assert head.get("expected") in known, (f.name, head.get("expected"))
        assert body.strip() and len(body.splitlines()) <= 40, f.name   # an excerpt


def test_every_family_has_a_real_log():
    got = {load(f)[0]["expected"] for f in FILES}
    assert FAMILIES <= got, sorted(FAMILIES - got)


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_real_log_first_cause(path):
    head, body = load(path)
    d = scan(body, source=path.name)
    expected = head["expected"]
    if expected == "ok":
        assert d.findings == [], [(f.id, f.line) for f in d.findings]
        return
    assert d.findings, "a failed build must never be 'ok'"
    want = UNRECOGNISED if expected == "unrecognised" else expected
    assert d.first.id == want, (d.first.id, d.first.line, d.first.cause)
    assert d.first.line in body or d.first.line.strip() in " ".join(body.split())
    assert not UNFILLED.search(d.first.cause + " " + d.first.fix), d.first
    phases = ("setup", "parse", "build", "post")
    # an unrecognised error in a log without markers has no known phase
    assert d.first.phase in phases or (want == UNRECOGNISED and d.first.phase == "unknown")
    assert d.ties == []


def test_docs_list_every_family_with_a_real_example():
    """docs/doctor.md: one row per family; a family with real logs links one."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "doctor.md").read_text()
    rows = {ln.split("|")[1].strip().strip("`"): ln for ln in doc.splitlines()
            if ln.startswith("| `log.")}
    by_family: dict = {}
    for f in FILES:
        head, _ = load(f)
        by_family.setdefault(head["expected"], set()).add(head["source"])
    for fid in {p.fid for p in PATTERNS}:
        assert fid in rows, f"{fid} missing from docs/doctor.md"
        if fid in by_family:
            assert any(src in rows[fid] for src in by_family[fid]), rows[fid]
    assert f"{len(FILES)} excerpts" in doc
    from tests.doctor.realworld_table import table
    assert table() in doc, "regenerate: python3 -m tests.doctor.realworld_table"

"""The source-message tables of docs/doctor.md, generated from the catalogue's
data (armvm_oe/doctor/logcatalogue/: each family's Src entries, and the QA
check table). test_catalogue_doc.py checks the docs hold exactly this.
Regenerate with:

    python3 -m tests.doctor.catalogue_table > /tmp/t.md   # paste into docs/doctor.md
"""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue import MODULES
from armvm_oe.doctor.logcatalogue.oecore_insane import QA_FIXES

_REPO = {"bitbake": "bitbake", "oe-core": "oe-core", "kas": "kas", "pseudo": "pseudo",
         "host": "host tool"}


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", "\\n").strip()


def _code(s: str) -> str:
    """Inline code; a message holding a backtick (glibc's `%s') needs a double fence."""
    return f"`` {s} ``" if "`" in s else f"`{s}`"


def sources_table() -> str:
    rows = ["| family | data module | source file | messages it covers |", "|---|---|---|---|"]
    n = 0
    for mod in MODULES:
        name = mod.__name__.rsplit(".", 1)[-1]
        by_family: dict = {}
        for p in mod.PATTERNS:
            for s in p.sources:
                key = (p.fid, f"{_REPO[s.repo]} `{s.path}`" + (f" ({s.ref})" if s.ref else ""))
                by_family.setdefault(key, []).append(s.message)
        for (fid, where), msgs in by_family.items():
            n += len(msgs)
            text = " / ".join(_code(_cell(m)) for m in dict.fromkeys(msgs))
            rows.append(f"| `{fid}` | `{name}` | {where} | {text} |")
    rows += ["", f"<!-- {n} source messages -->"]
    return "\n".join(rows)


def qa_table() -> str:
    rows = ["| QA check | what it found | the fix it usually needs |", "|---|---|---|"]
    rows += [f"| `{k}` | {_cell(w)} | {_cell(f)} |" for k, (w, f) in sorted(QA_FIXES.items())]
    return "\n".join(rows)


if __name__ == "__main__":
    print(sources_table())
    print()
    print(qa_table())

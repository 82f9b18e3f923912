"""docs/doctor.md holds the catalogue's source-message and QA tables as the
data generates them (tests/doctor/catalogue_table.py), and every family of
the catalogue names at least one source message it covers."""

from __future__ import annotations

from pathlib import Path

from armvm_oe.doctor.logcatalogue import MODULES, PATTERNS
from tests.doctor.catalogue_table import qa_table, sources_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "doctor.md"


def test_docs_hold_the_generated_tables():
    doc = DOC.read_text()
    assert sources_table() in doc, "regenerate: python3 -m tests.doctor.catalogue_table"
    assert qa_table() in doc, "regenerate: python3 -m tests.doctor.catalogue_table"


def test_every_family_names_its_source_messages():
    families = {p.fid for p in PATTERNS}
    covered = {p.fid for p in PATTERNS if p.sources}
    assert sorted(families - covered) == []


def test_each_data_module_is_one_source():
    """A family's messages come from the source its module is named after."""
    allowed = {"bitbake": {"bitbake"}, "oecore": {"oe-core", "host"}, "kas": {"kas"},
               "pseudo": {"pseudo"}, "host": {"host"}}
    for mod in MODULES:
        prefix = mod.__name__.rsplit(".", 1)[-1].split("_")[0]
        for p in mod.PATTERNS:
            for s in p.sources:
                assert s.repo in allowed[prefix], (mod.__name__, p.id, s)

import json

from armvm_oe import plugins, requirements


def test_help_lists_every_command_with_example(armvm):
    r = armvm("--help")
    assert r.returncode == 0
    for mod in plugins.discover():
        assert mod.NAME in r.stdout
        sub = armvm(mod.NAME, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "example" in sub.stdout, f"{mod.NAME} --help has no example"


def test_version(armvm):
    r = armvm("--version")
    assert r.returncode == 0 and r.stdout.startswith("armvm-oe ")


def test_usage_error_is_one_paragraph_exit_2(armvm):
    r = armvm("no-such-command")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_requirement_table_ids_match_reference():
    ids = [r.id for r in requirements.REQUIREMENTS]
    assert len(ids) == len(set(ids))
    for must in ("IMG-GPT", "IMG-ESP-TYPE", "IMG-ESP-FAT32", "GUEST-XEN", "GUEST-ARM32"):
        assert must in ids
    assert "ARM_LPAE" in requirements.kernel_options("arm")
    assert "ARM_LPAE" not in requirements.kernel_options("aarch64")


def test_requirements_doc_is_generated_from_the_table():
    from pathlib import Path

    doc = Path(__file__).resolve().parent.parent / "docs" / "requirements.md"
    assert doc.read_text() == requirements.markdown(), \
        "regenerate: python3 -m armvm_oe.requirements > docs/requirements.md"

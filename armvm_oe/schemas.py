"""The JSON schema of every ``--json`` output, in one table.

Most schemas ship as package data (armvm_oe/data/schemas/NAME.schema.json);
the two reports whose schema lives next to the code that writes them are
referenced, not copied: ``verify`` (armvm_oe.verify.model.SCHEMA) and
``build-report`` (the build package's report.REPORT_SCHEMA, also the schema
of build/build-report.json) and ``export`` (armvm_oe.export.SCHEMA). ``error`` is what any command prints with
--json when it stops with an error.

    python3 -m armvm_oe.schemas            # list: output -> schema name
    python3 -m armvm_oe.schemas status     # print one schema
"""

from __future__ import annotations

import importlib
import json
import sys
from functools import lru_cache
from importlib import resources

# the command line (command [action] [the option that changes the shape]) -> schema name
OUTPUTS: dict[str, str] = {
    "avh pack": "avh-pack",
    "avh check": "avh-check",
    "build": "build-report",
    "checkout": "checkout",
    "container build": "container-build",
    "container check": "container-check",
    "container tag": "container-tag",
    "doctor": "doctor",
    "doctor --log": "doctor-log",
    "doctor --list": "doctor-list",
    "export": "export",
    "instances": "instances",
    "instances --reset-vars": "instances-reset",
    "lock": "lock",
    "run": "run",
    "status": "status",
    "test": "test",
    "verify": "verify",
    "(any command, on error)": "error",
}

# schemas defined in Python next to their writer: name -> (modules to try, attribute)
_IN_CODE = {
    "verify": (("armvm_oe.verify.model",), "SCHEMA"),
    "export": (("armvm_oe.export",), "SCHEMA"),
    "build-report": (("armvm_oe.imagebuild.report",), "REPORT_SCHEMA"),
}


def names() -> list[str]:
    return sorted(set(OUTPUTS.values()))


@lru_cache(maxsize=None)
def load(name: str) -> dict:
    """The schema called ``name`` (KeyError for an unknown name)."""
    if name in _IN_CODE:
        modules, attr = _IN_CODE[name]
        for mod in modules:
            try:
                return getattr(importlib.import_module(mod), attr)
            except ModuleNotFoundError:
                continue
        raise KeyError(f"{name}: none of {modules} is importable")
    if name not in OUTPUTS.values():
        raise KeyError(name)
    path = resources.files("armvm_oe") / "data" / "schemas" / f"{name}.schema.json"
    return json.loads(path.read_text())


def validate(name: str, doc):
    """Raise jsonschema.ValidationError unless ``doc`` matches schema ``name``;
    return ``doc``."""
    import jsonschema

    schema = load(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    cls(schema).validate(doc)
    return doc


def main(argv: list[str]) -> int:
    if not argv:
        for out, name in OUTPUTS.items():
            print(f"{out:<26} {name}")
        return 0
    try:
        schema = load(argv[0])
    except KeyError:
        print(f"no schema named {argv[0]!r}; known: {', '.join(names())}", file=sys.stderr)
        return 2
    try:
        json.dump(schema, sys.stdout, indent=2)
        print()
    except BrokenPipeError:              # | head
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Fixtures for the verify tests: the shared fixture images (cached, built
by armvm_oe.testing.fixtures from Debian's real GRUB/kernels) and the
JSON schema validator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from armvm_oe.testing.fixtures import build_image
from armvm_oe.verify.model import SCHEMA


@pytest.fixture(scope="session")
def image():
    """image(arch, variant="compliant") -> Path of the cached read-only image."""
    return lambda arch="aarch64", variant="compliant": build_image(arch, variant)


@pytest.fixture(scope="session")
def validate():
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    validator.check_schema(SCHEMA)

    def _validate(doc: dict) -> dict:
        validator.validate(doc)
        return doc

    return _validate


@pytest.fixture
def verify_cli(tmp_path):
    """Run the real CLI: returns (returncode, stdout, stderr, parsed JSON or None)."""

    def _run(*args, env=None, timeout=120):
        e = dict(os.environ, NO_COLOR="1")
        e.update(env or {})
        p = subprocess.run([sys.executable, "-m", "armvm_oe", "verify", *map(str, args)],
                           capture_output=True, text=True, env=e, cwd=tmp_path, timeout=timeout)
        doc = None
        if "--json" in args and p.stdout.strip():
            doc = json.loads(p.stdout)
        return p.returncode, p.stdout, p.stderr, doc

    return _run

"""oelint-adv (pinned in pyproject's test extras) over every recipe, append
and class of meta-armvm: no findings at all.  Each inline suppression
(``# nooelint:``) is justified in meta-armvm/README.md, which this test
also checks."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from layerpaths import LAYER


def _files():
    return sorted(p for ext in ("*.bb", "*.bbappend", "*.bbclass", "*.inc")
                  for p in LAYER.rglob(ext))


def test_oelint_adv_clean():
    exe = shutil.which("oelint-adv")
    if exe is None:
        pytest.fail("oelint-adv is missing: install the test extras (pip install -e .[test])")
    files = _files()
    assert any(p.suffix == ".bbappend" for p in files) and any(p.suffix == ".bb" for p in files)
    r = subprocess.run([exe, "--quiet", "--release", "scarthgap", "--jobs", "1",
                        *map(str, files)], capture_output=True, text=True, timeout=300)
    findings = [l for l in (r.stdout + r.stderr).splitlines() if re.search(r":(error|warning|info):", l)]
    assert findings == [] and r.returncode == 0, "\n".join(findings) or r.stderr


def test_every_suppression_is_justified():
    readme = (LAYER / "README.md").read_text()
    for path in _files():
        for line in path.read_text().splitlines():
            m = re.match(r"#\s+nooelint:\s+([A-Za-z0-9._,-]+)", line)
            if m:
                for rule in m.group(1).split(","):
                    assert rule in readme, f"{path.name}: suppression of {rule} not justified in README"

"""Every test that exists runs: each test file under tests/ is collected by the
default run (``scripts/run-tests`` = pytest with pyproject's addopts), or by a
marker the README tells the reader to run (``-m nightly``, ``-m poky``).

pytest silently skips folders named in ``norecursedirs`` (its default list has
``build``; tests/build went uncollected that way), files that do not match
``python_files``, and a file whose every test carries a deselected marker.
Each of those is a failure here, naming the file and why."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
DEFAULT_PATTERNS = ["test_*.py", "*_test.py"]      # pytest's python_files default
# a top-level test function or test class: the file has tests, whatever its name
DEFINES_TESTS = re.compile(r"^(?:async\s+)?def test_\w*\s*\(|^class Test\w*\s*[:(]", re.M)


def _python_files() -> list[str]:
    try:
        import tomllib
    except ImportError:                  # Python < 3.11: use pytest's default
        return DEFAULT_PATTERNS
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ini = cfg.get("tool", {}).get("pytest", {}).get("ini_options", {})
    pats = ini.get("python_files", DEFAULT_PATTERNS)
    return pats.split() if isinstance(pats, str) else list(pats)


def files_with_tests() -> dict[str, str]:
    """Every file under tests/ that holds tests -> why it counts as one."""
    pats = _python_files()
    found = {}
    for p in sorted(TESTS.rglob("*.py")):
        rel = p.relative_to(ROOT)
        if "__pycache__" in rel.parts:
            continue
        if any(fnmatch.fnmatch(p.name, pat) for pat in pats):
            found[rel.as_posix()] = "matches python_files"
        elif p.name != "conftest.py" and DEFINES_TESTS.search(p.read_text(errors="replace")):
            found[rel.as_posix()] = f"defines tests but matches none of python_files {pats}"
    return found


def readme_markers() -> list[str]:
    """Markers the README tells the reader to select with ``-m NAME``."""
    return sorted(set(re.findall(r"-m ['\"]?(\w+)", (ROOT / "README.md").read_text())))


def collected(*marker_args: str) -> set[str]:
    """Files with at least one test collected by pytest's default run
    (pyproject's addopts), optionally with an extra ``-m`` expression."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                        "-p", "no:cacheprovider", *marker_args],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    # 5 = nothing collected (possible for a marker expression); else it must be clean
    assert p.returncode in (0, 5), \
        f"pytest --collect-only {' '.join(marker_args)} failed (exit {p.returncode}):\n" \
        f"{p.stdout[-4000:]}\n{p.stderr[-2000:]}"
    return {line.split("::", 1)[0] for line in p.stdout.splitlines() if "::" in line}


def test_every_test_file_is_collected():
    files = files_with_tests()
    assert "tests/test_collection.py" in files          # the walk itself works
    default = collected()
    missing = {f: why for f, why in files.items() if f not in default}
    markers = readme_markers()
    assert "nightly" in markers, "the README no longer names the nightly marker"
    if missing:
        extra = collected("-m", " or ".join(markers))
        missing = {f: why for f, why in missing.items() if f not in extra}
    assert not missing, (
        "test files that neither the default run nor a README-named marker "
        f"({', '.join(markers)}) collects:\n" + "\n".join(
            f"  {f} ({why})" for f, why in sorted(missing.items())) +
        "\nCheck norecursedirs/python_files in pyproject.toml and the file's markers.")


def test_norecursedirs_does_not_hide_build_or_dist():
    """pytest's own default skips folders named 'build' and 'dist'; ours is set
    explicitly so that a test folder of any name is collected."""
    try:
        import tomllib
    except ImportError:
        import pytest
        pytest.skip("tomllib needs Python 3.11")
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    dirs = ini.get("norecursedirs")
    assert dirs is not None, "set norecursedirs explicitly (pytest's default skips 'build')"
    for name in ("build", "dist", "build-aarch64", "tests"):
        assert not any(fnmatch.fnmatch(name, pat) for pat in dirs), (name, dirs)

"""Paths and helpers shared by the layer tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "meta-armvm"
FILES = LAYER / "recipes-kernel" / "linux" / "files"
KMETA = FILES / "armvm-kmeta"  # the generated fragment and its .scc (type=kmeta)
WKS = LAYER / "files" / "wic" / "armvm-efi.wks.in"
PLUGIN = LAYER / "scripts" / "lib" / "wic" / "plugins" / "source" / "armvm_efi.py"

sys.path.insert(0, str(LAYER / "lib"))


def poky_dir() -> Path:
    """ARMVM_POKY_DIR, or skip: poky is optional by design (not in CI)."""
    value = os.environ.get("ARMVM_POKY_DIR")
    if not value:
        pytest.skip("ARMVM_POKY_DIR is unset: set it to a poky scarthgap checkout to run "
                    "the bitbake/wic layer checks (see docs/layer.md)")
    path = Path(value)
    if not (path / "bitbake" / "bin" / "bitbake").exists() or not (path / "meta").is_dir():
        pytest.fail(f"ARMVM_POKY_DIR={value} is not a poky checkout (no bitbake/bin/bitbake)")
    return path

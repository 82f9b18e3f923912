"""Paths and helpers shared by the layer tests."""

from __future__ import annotations

import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "meta-armvm"
FILES = LAYER / "recipes-kernel" / "linux" / "files"
KMETA = FILES / "armvm-kmeta"  # the generated fragment and its .scc (type=kmeta)
WKS = LAYER / "files" / "wic" / "armvm-efi.wks.in"
PLUGIN = LAYER / "scripts" / "lib" / "wic" / "plugins" / "source" / "armvm_efi.py"

sys.path.insert(0, str(LAYER / "lib"))


def yocto_tree(release: str = "scarthgap"):
    """bitbake + oe-core + meta-yocto at kas/'s pins, from the local mirrors in
    ARMVM_MIRRORS (or a poky checkout in ARMVM_POKY_DIR), or skip: both are
    opt-in inputs (tests/_yocto.py, docs/layer.md)."""
    from _yocto import tree
    return tree(release)

"""Debian's linux-source tree, extracted once into lib.cache_dir(), and the
kernel's own Kconfig tools to resolve a fragment the way linux-yocto does
(defconfig, merge_config.sh -m, olddefconfig)."""

from __future__ import annotations

from pathlib import Path

# one implementation, shared with the layer-kernel boot tests
from armvm_oe.testing.layerkernel import PACKAGE, TARBALL, package_version, resolve, source_tree  # noqa: F401,E402


def requested_not_final(fragments: list[Path], config_text: str) -> dict[str, tuple[str, str | None]]:
    """What merge_config.sh (without -m) warns about: every option a fragment
    asks for whose value is different in the final .config, by name:
    {name: (requested, final or None when absent)}."""
    import armvm_kconfig
    final = armvm_kconfig.parse_config(config_text)
    out = {}
    for frag in fragments:
        for name, value in armvm_kconfig.parse_config(Path(frag).read_text()).items():
            if final.get(name, "n" if value == "n" else None) != value:
                out[name] = (value, final.get(name))
    return out

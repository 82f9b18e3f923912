"""A copy of the Debian arm64 test image whose GRUB entries name the root
by one hypervisor's disk name (``root=/dev/vda2``) instead of
``root=UUID=...``: the image ``armvm-oe verify`` fails with IMG-GRUB
grub-root-device, and that boots on KVM/QEMU (virtio-blk names it vda) but
not as a Xen domU (its disk is xvda).

Made without a loop device: a sparse copy of the cached test image (which
is only read), then ``debugfs -w`` rewrites ``/boot/grub/grub.cfg`` on the
copy's root partition (every ``root=UUID=<uuid>`` becomes ``root=<dev>``;
nothing else changes, /etc/fstab keeps its UUID). Cached in
``cache_dir()/distro/variants`` keyed by the source image's key and the
root string.

    python3 -m armvm_oe.testing.rootvariant            # prints the path (builds if cold)
    python3 -m armvm_oe.testing.rootvariant --check
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from armvm_oe.testing import distro

RECIPE = 2   # 2: the image's ext4 journal is replayed before the edit
DEFAULT_ROOT = "/dev/vda2"
GRUB_CFG = "/boot/grub/grub.cfg"


class VariantError(RuntimeError):
    pass


def _key(root: str) -> str:
    return hashlib.sha256(json.dumps([RECIPE, distro._key("aarch64"), root, GRUB_CFG]
                                     ).encode()).hexdigest()[:16]


def variant_dir(root: str = DEFAULT_ROOT) -> Path:
    return distro.cache_dir() / "distro" / "variants" / f"debian-arm64-root-{_key(root)}"


def cached(root: str = DEFAULT_ROOT) -> Path | None:
    d = variant_dir(root)
    return d / "disk.img" if (d / "meta.json").exists() and (d / "disk.img").exists() else None


def rewrite(cfg: str, root_uuid: str, root: str) -> tuple[str, int]:
    """``cfg`` with every ``root=UUID=<root_uuid>`` replaced by ``root=<root>``."""
    old = f"root=UUID={root_uuid}"
    return cfg.replace(old, f"root={root}"), cfg.count(old)


def build(root: str = DEFAULT_ROOT) -> Path:
    hit = cached(root)
    if hit:
        return hit
    src = distro.cached("aarch64")
    if src is None:
        raise VariantError("the Debian arm64 test image is not built: run "
                           "'python3 -m armvm_oe.testing.distro --arch aarch64' (as root)")
    if not shutil.which("debugfs"):
        raise VariantError("debugfs is missing (apt-get install e2fsprogs)")
    root_uuid = distro.meta("aarch64").get("root_uuid")
    if not root_uuid:
        raise VariantError(f"the test image's meta.json names no root_uuid ({src.parent})")
    from armvm_oe.testing.healthvariant import _cat, edit_root, replace_grub_cfg

    def edit(tmp: Path, fs: str) -> dict:
        new, n = rewrite(_cat(fs, GRUB_CFG), root_uuid, root)
        if n == 0:
            raise VariantError(f"{GRUB_CFG} of {src} has no root=UUID={root_uuid}")
        replace_grub_cfg(tmp, fs, new)
        return {"root": root, "replaced": n, "root_uuid_replaced": root_uuid, "key": _key(root)}

    return edit_root(src, variant_dir(root), edit)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="The Debian arm64 test image with root=/dev/vda2.")
    ap.add_argument("--root", default=DEFAULT_ROOT)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    if a.check:
        hit = cached(a.root)
        print(hit or "not built")
        return 0 if hit else 1
    try:
        print(build(a.root))
    except (VariantError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

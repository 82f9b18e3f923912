"""oe-core at do_rootfs / do_image: the package managers, image size, wic,
sysroot and sstate conflicts, uninative."""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S

PATTERNS = ()

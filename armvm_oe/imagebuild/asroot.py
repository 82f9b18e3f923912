"""A root caller of ``armvm-oe build`` (kas-container's KAS_ALLOW_ROOT rule):
refused unless it passes ``--allow-root`` / ``ARMVM_ALLOW_ROOT=1``; with the
override the build runs in the container as an unprivileged user (the work
dir's owner, else :data:`~armvm_oe.errors.ROOT_BUILD_UID`), and armvm-oe
hands that user what the build writes (:mod:`.incontainer`). On the host
bitbake refuses root whatever we allow, so a root ``--host`` build is refused
too (``--skip-check host.root`` lets test stand-ins for bitbake through)."""

from __future__ import annotations

import os
from typing import Mapping

from armvm_oe.errors import ALLOW_ROOT_ENV, RootRefused

TRUE = ("1", "yes", "true", "on")


def allowed(flag: bool, environ: Mapping[str, str]) -> bool:
    """--allow-root, or ARMVM_ALLOW_ROOT set to 1/yes/true/on (pure)."""
    return bool(flag) or environ.get(ALLOW_ROOT_ENV, "").strip().lower() in TRUE


def refuse_root(mode: str, allow: bool, skip_checks: set, euid: int | None = None,
                asked: str = "host") -> None:
    """Raise :class:`RootRefused` for a root caller the build must not run for.
    ``asked``: the mode the caller asked for (auto falls back to the host when
    no engine answers, and the fix is then the engine, not dropping --host)."""
    if (os.geteuid() if euid is None else euid) != 0:
        return
    if mode == "host":
        if "host.root" not in skip_checks:
            raise RootRefused("host" if asked == "host" else "host-fallback")
    elif not allow:
        raise RootRefused("container")

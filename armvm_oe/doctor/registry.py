"""The check catalogue: every check registers itself here with ``@check``."""

from __future__ import annotations

import logging
from typing import Callable

from armvm_oe.doctor.model import RANK, Check, Context, Result, as_problems

log = logging.getLogger(__name__)

CHECKS: dict[str, Check] = {}


def check(id: str, title: str, severity: str, error_text: str, fix: str,
          network: bool = False) -> Callable:
    """Register the decorated ``detect(ctx)`` as a check. ``detect`` returns
    nothing when all is well, else a message, a :class:`Problem` or a list."""
    group = id.split(".", 1)[0]

    def deco(fn: Callable) -> Callable:
        if id in CHECKS:
            raise ValueError(f"duplicate doctor check id {id}")
        if severity not in RANK:
            raise ValueError(f"{id}: unknown severity {severity}")
        CHECKS[id] = Check(id, group, title, severity, error_text, fix, fn, network)
        return fn

    return deco


def catalogue() -> list[Check]:
    _load()
    from armvm_oe.doctor.model import GROUPS
    return sorted(CHECKS.values(), key=lambda c: (GROUPS.index(c.group), c.id))


def _load() -> None:
    # importing the group modules registers their checks
    from armvm_oe.doctor import (builddir, checkout, container, host,  # noqa: F401
                                 kas, pins)


def sort_results(results: list[Result]) -> list[Result]:
    """Worst first; within a severity, in catalogue (group) order."""
    from armvm_oe.doctor.model import GROUPS
    return sorted(results, key=lambda r: (RANK[r.severity], GROUPS.index(r.group), r.id))


def selected(ctx: Context) -> list[Check]:
    """The checks ``ctx`` asks for (groups, only, skip, --network)."""
    return [c for c in catalogue()
            if c.group in ctx.groups and c.id not in ctx.skip
            and (not ctx.only or c.id in ctx.only) and (ctx.network or not c.network)]


def run_checks(context: Context | None = None) -> list[Result]:
    """Run the checks of ``context.groups``; returns only what fired, worst first.

    A healthy environment returns ``[]``. The build preflight stops when any
    result has ``severity == "fatal"`` (``Result.fatal``)."""
    ctx = context or Context()
    results: list[Result] = []
    checks = selected(ctx)
    pool = _prefetch(ctx, {c.id for c in checks})
    try:
        for chk in checks:
            results.extend(_run_one(ctx, chk))
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return sort_results(results)


def _prefetch(ctx: Context, ids: set):
    """Start the slow, independent subprocesses (tool versions, the locale
    probe, the engine ping) in threads; the checks pick up their results."""
    from concurrent.futures import ThreadPoolExecutor

    from armvm_oe.doctor import container, host
    if not any(i.startswith(("host.", "container.")) for i in ids):
        return None
    if "host.userns" in ids or "host.userns-unavailable" in ids or "host.apparmor-userns" in ids:
        host.userns(ctx)  # forks: do it before any thread exists
    pool = ThreadPoolExecutor(max_workers=6)
    host.prefetch(ctx, pool, ids)
    if any(i.startswith("container.") for i in ids):
        ctx.prefetch(pool, "docker", lambda: container.probe_now(ctx))
    return pool


def _fill(error_text: str, value: str | None) -> str:
    """The catalogue's printf-style pattern with this problem's value (the
    path it is about), or an ellipsis: never a literal '%s' to the user."""
    if "%s" not in error_text:
        return error_text
    return error_text.replace("%s", value or "...", 1).replace("%s", "...")


def _run_one(ctx: Context, chk: Check) -> list[Result]:
    try:
        problems = as_problems(chk.detect(ctx))
    except Exception as exc:  # a check must never take the doctor down
        log.debug("check %s crashed", chk.id, exc_info=True)
        problems = as_problems(f"the check itself failed: {type(exc).__name__}: {exc}")
        problems[0].severity = "info"
    return [Result(id=chk.id, group=chk.group, title=chk.title,
                   severity=p.severity or chk.severity, message=p.message,
                   fix=p.fix or chk.fix, error_text=_fill(chk.error_text, p.path),
                   commands=list(p.commands), path=p.path) for p in problems]

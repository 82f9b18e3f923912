"""Step 1 and 2 of a build: the doctor before anything is touched
(preflight), the checkout at the lock, and the doctor's checks that need the
checked-out trees. A fatal finding stops the build with
:class:`~.options.PreflightFailed`."""

from __future__ import annotations

import os
import sys

from armvm_oe import ui
from armvm_oe.errors import ProblemFound
from armvm_oe.imagebuild.incontainer import chown_for_container
from armvm_oe.imagebuild.options import BuildOptions, PreflightFailed

# host checks that still matter when the build runs in the container: they
# are about the filesystem holding the build directory
HOST_FS_CHECKS = {"host.disk-space", "host.disk-inodes", "host.disk-recommended",
                  "host.fs-nfs", "host.fs-case-insensitive", "host.fs-short-names"}
# checks about the host's kas/bitbake toolchain: the container brings its own
CONTAINER_SKIPS = {"kas.installed"}


def run_doctor(ctx_kwargs: dict, say) -> list:
    from armvm_oe.doctor import Context, run_checks
    results = run_checks(Context(**ctx_kwargs))
    for r in results:
        if not r.fatal:
            say(ui.safe("doctor: ", ui.badge(r.severity, sys.stderr), f" {r.id}: {r.message}"))
    return results


def stop_on_fatal(results: list, stage: str, say) -> None:
    fatal = [r for r in results if r.fatal]
    if not fatal:
        return
    for r in fatal:
        say(ui.safe("doctor: ", ui.badge("fail", sys.stderr), f" {r.id}: {r.message}"))
        say(f"        fix: {r.fix}")
        for c in r.commands:
            say(f"          $ {c}")
    ids = ", ".join(r.id for r in fatal)
    raise PreflightFailed(
        f"The {stage} found {len(fatal)} fatal problem(s) ({ids}); the build was not started",
        fatal[0].message, fatal[0].fix + ". Run 'armvm-oe doctor' for the full report, or "
        "--skip-check ID to override one check", check_id=fatal[0].id)


def preflight(opts: BuildOptions, chain: str, project, mode: str,
              path_map: dict | None = None) -> list:
    from armvm_oe.doctor.registry import catalogue
    env = dict(os.environ)
    if opts.dl_dir:
        env["DL_DIR"] = str(opts.dl_dir)
    if opts.sstate_dir:
        env["SSTATE_DIR"] = str(opts.sstate_dir)
    if mode == "container":
        groups = ("host", "build", "kas", "container")
        only = {c.id for c in catalogue() if c.group in ("build", "kas", "container")} \
            | HOST_FS_CHECKS
        only -= CONTAINER_SKIPS
    else:
        groups, only = ("host", "build", "kas"), None
    results = run_doctor(dict(groups=groups, kas_config=chain, work_dir=project.work_dir,
                           build_dir=project.build_dir, env=env, only=only,
                           skip=set(opts.skip_checks), path_map=path_map or {}),
                         opts.say)
    stop_on_fatal(results, "preflight", opts.say)
    return results



def checkout(opts: BuildOptions, project, mode: str) -> list:
    from armvm_oe.gitcheckout import Checkout
    results = Checkout(project, mirror_dirs=opts.mirror_dirs, force=opts.force_checkout).run()
    dirty = [r for r in results if r.action == "dirty"]
    if dirty:
        r = dirty[0]
        raise ProblemFound(f"Repo '{r.id}' has local changes and was not moved to its pinned "
                           f"commit {(r.pinned or '?')[:12]}",
                           f"{r.path}: {', '.join(r.dirty_files[:10])}; kas would warn "
                           "'Repo is dirty - no checkout' and build the wrong revision",
                           "Commit or stash them, or pass --force-checkout (named stash)",
                           check_id="checkout.dirty")
    if mode == "container" and os.getuid() == 0:
        chown_for_container(project, results)
    return results


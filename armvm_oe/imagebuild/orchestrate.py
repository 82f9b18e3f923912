"""``armvm-oe build``: preflight doctor -> checkout at the lock -> ``kas build``
(in the build container, or on the host) -> post-build (artifacts, verify,
``build-report.json``, optional AVH package); with ``--check`` kas runs
``bitbake -g`` / ``-e`` instead and :mod:`.check` reads what they wrote.

:func:`run_build` returns a :class:`BuildOutcome` (the report, the exit code
and the error to show, if any); the CLI plugin only prints it. KeyboardInterrupt
stops kas (SIGINT to its process group, or the container runner's own
cleanup), writes an ``interrupted`` report and is re-raised (exit 130).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import time
from pathlib import Path
from typing import Optional

from armvm_oe import __version__
from armvm_oe.errors import ArmvmError, UsageError
from armvm_oe.imagebuild import report as rpt
from armvm_oe.imagebuild import shipped
from armvm_oe.imagebuild.asroot import allowed, refuse_root
from armvm_oe.imagebuild.check import CHECK_REPORT, kas_shell_command
from armvm_oe.imagebuild.hostrun import LineSink, host_kas_version, run_host
from armvm_oe.imagebuild.incontainer import (CHECK_DUBIOUS, check_container_ownership,
                                             container_owner, container_path_map,
                                             default_cache_dirs, hand_over, run_container)
# BuildFailed, PreflightFailed: re-exported, callers import them from here
from armvm_oe.imagebuild.options import (ARCHES, LOG_DIR, BuildFailed, BuildOptions,  # noqa: F401
                                         BuildOutcome, PreflightFailed)
from armvm_oe.imagebuild.postbuild import (diagnose_failure, finish, finish_check, post_build,
                                           write_report)
from armvm_oe.imagebuild.preflight import checkout, preflight, run_doctor, stop_on_fatal
from armvm_oe.imagebuild.scaleout import ScaleOut, container_mirror_mount, overlay_path, validate

# --------------------------------------------------------------------------
# resolving what to build

def project_root(start: Path | None = None) -> Path | None:
    """The repository holding kas/armvm-*.yml: the current directory (or a
    parent) when it has them, else the armvm-oe checkout this runs from; None
    for an installed armvm-oe outside a project (:mod:`.shipped` then writes
    the installed kas/ and meta-armvm/ into the work dir)."""
    cwd = Path(start or os.getcwd()).absolute()
    for cand in (cwd, *cwd.parents):
        if (cand / "kas" / "armvm-aarch64.yml").is_file():
            return cand
    return shipped.layer_source() if shipped.runs_from_checkout() else None


def arch_of_machine(machine: str | None) -> str | None:
    if not machine:
        return None
    if machine.endswith(("aarch64", "arm64")):
        return "aarch64"
    if machine.endswith(("-arm", "arm")):
        return "arm"
    return None


def resolve_config(opts: BuildOptions, work_dir: Path | None = None) -> tuple[str, Optional[str]]:
    """(config chain for kas, arch). Writes ``<work>/armvm-oe`` (:mod:`.shipped`)
    when the build needs the installed kas files and layer there: as the
    caller, also for root (the build only reads it, and git as root refuses a
    tree of another owner)."""
    if opts.arch and opts.arch not in ARCHES:
        raise UsageError(f"--arch {opts.arch} is not one of {', '.join(ARCHES)}", None, None)
    work_dir = Path(work_dir or os.getcwd()).absolute()
    if opts.config:
        chain = opts.config
        if shipped.wanted_by(chain, work_dir):
            shipped.materialize(work_dir, say=opts.say)
    else:
        root = project_root() or shipped.materialize(work_dir, say=opts.say)
        chain = str(root / "kas" / f"armvm-{opts.arch or 'aarch64'}.yml")
    return chain, opts.arch


def pick_mode(mode: str, say) -> tuple[str, object]:
    """('container', client) or ('host', None)."""
    if mode == "host":
        return "host", None
    from armvm_oe.container import connect
    from armvm_oe.container.engine import precheck_socket
    if mode == "container":
        return "container", connect()
    pre = precheck_socket()
    if pre is None:
        try:
            return "container", connect(timeout=10)
        except ArmvmError as err:
            pre = err
    say(f"build: no container engine is usable ({pre.what}); building on the host "
        "(pass --container to insist, see 'armvm-oe doctor --only container')")
    return "host", None


# --------------------------------------------------------------------------
# versions

def bitbake_version_from_tree(project) -> Optional[str]:
    for repo in project.repos:
        for rel in ("bitbake/lib/bb/__init__.py", "lib/bb/__init__.py"):
            p = Path(repo.path) / rel
            try:
                m = re.search(r'^__version__\s*=\s*"([^"]+)"', p.read_text(), re.M)
            except OSError:
                continue
            if m:
                return m.group(1)
    return None



# --------------------------------------------------------------------------
# the whole chain

def run_build(opts: BuildOptions) -> BuildOutcome:
    from armvm_oe.kasconfig import load_config

    say = opts.say
    t0 = time.time()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    work_dir = Path(opts.work_dir or os.environ.get("KAS_WORK_DIR") or os.getcwd()).absolute()
    so = ScaleOut.from_env(os.environ).merged(opts.scaleout)
    if opts.config:                  # a bad CONFIG is named first, as for any user
        from armvm_oe.kasconfig import _read_file, split_configs
        for top in split_configs(opts.config):
            _read_file(top)
    mode, client = pick_mode(opts.mode, say)
    refuse_root(mode, allowed(opts.allow_root, os.environ), set(opts.skip_checks),
                asked=opts.mode)
    if mode == "container" and not work_dir.exists():
        work_dir.mkdir(parents=True)        # as the caller, before anything is written in it
    chain, arch = resolve_config(opts, work_dir)
    # a file:// sstate mirror outside the work dir is mounted read-only
    mirror_mount = container_mirror_mount(so.sstate_mirror, work_dir) \
        if mode == "container" else None
    so = validate(so, mode == "container", work_dir)
    project = load_config(chain, work_dir=work_dir)
    if so.active:
        chain = chain + ":" + str(overlay_path(project.top_repo_path))
        project = load_config(chain, work_dir=work_dir)
    m_arch = arch_of_machine(project.machine)
    if arch and m_arch and arch != m_arch:
        raise UsageError(f"--arch {arch} does not match the configuration's machine "
                         f"{project.machine}", None,
                         f"Drop --arch or pass the {arch} configuration (kas/armvm-{arch}.yml)")
    arch = arch or m_arch
    if opts.avh_device and arch == "arm":
        raise UsageError("--avh needs an arm64 kernel Image, and this is an aarch32 build",
                         "Arm Virtual Hardware boots arm64 Linux firmware packages",
                         "Build with --arch aarch64 for an AVH package")
    path_map = {}
    if mode == "container":
        project.build_dir = work_dir / "build"   # /work/build inside
        path_map = container_path_map(work_dir, project)
        opts.dl_dir, opts.sstate_dir = default_cache_dirs(
            opts.dl_dir, opts.sstate_dir, work_dir, container_owner(mode, work_dir))
    build_dir = project.build_dir
    say(f"build: {project.machine} from {', '.join(str(p) for p in project.config_files)} "
        f"({mode}), work dir {work_dir}")

    # 1. preflight (everything that does not need the checkout)
    preflight(opts, chain, project, mode, path_map)
    # 2. checkout at the lock, then the checks that need the trees
    checkout_results = checkout(opts, project, mode)
    skip = set(opts.skip_checks)
    if mode == "container" and os.getuid() == 0:
        # the checkouts are the build user's, not root's: git in the container
        # accepts them, git here would not (the doctor check asks the host uid)
        check_container_ownership(project, skip)
        skip.add(CHECK_DUBIOUS)
    results = run_doctor(dict(groups=("checkout",), kas_config=chain, work_dir=work_dir,
                           build_dir=build_dir, skip=skip, path_map=path_map), say)
    stop_on_fatal(results, "checkout check", say)

    # 3. kas build
    owner = container_owner(mode, work_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    log_dir = build_dir / LOG_DIR
    log_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = log_dir / f"build-{stamp}.log"
    latest = log_dir / "build-latest.log"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(log_path.name)
    sink = LineSink(log_path, opts.verbose, opts.log_tail, say)
    hand_over(owner, build_dir, log_dir, log_path, latest)
    base = {"schema": rpt.SCHEMA_VERSION, "started": started, "arch": arch,
            "machine": project.machine, "mode": mode,
            "config": {"files": [str(p) for p in project.config_files],
                       "target": project.target, "distro": project.distro},
            "lock": {"files": [str(p) for p in project.lock_files],
                     "repos": [{"id": r.id, "url": r.url, "commit": r.commit,
                                "head": next((c.commit for c in checkout_results
                                              if c.id == r.id), None),
                                "locked": r.locked} for r in project.repos]},
            "container": None, "scaleout": so.as_dict(), "build_dir": str(build_dir),
            "log": str(log_path), "deploy_dir": None, "artifacts": [], "wic": None,
            "verify": None, "avh": None, "failure": None}
    versions = {"armvm_oe": __version__, "kas": None,
                "bitbake": bitbake_version_from_tree(project)}
    target = project.target[0] if project.target else "armvm-image"
    # --check: parse and the task graph, no task (check.py)
    kas_args = ("shell", "-c", kas_shell_command(target, LOG_DIR)) if opts.check \
        else ("build",)
    say(f"build: kas {' '.join(kas_args[:1])}{' (--check)' if opts.check else ''}, "
        f"full log {log_path}")
    rc = None
    status = "failed"
    try:
        if mode == "container":
            rc = run_container(client, project, chain, work_dir, opts, so, sink, base,
                               mirror_mount, kas_args)
        else:
            versions["kas"] = host_kas_version()
            argv = [shutil.which("kas") or "kas", kas_args[0], chain, *kas_args[1:]]
            env = dict(os.environ, KAS_WORK_DIR=str(work_dir), KAS_BUILD_DIR=str(build_dir))
            for k, v in (("DL_DIR", opts.dl_dir), ("SSTATE_DIR", opts.sstate_dir)):
                if v:
                    env[k] = str(Path(v).absolute())
                    Path(v).mkdir(parents=True, exist_ok=True)
            env.update(so.env())
            rc = run_host(argv, env, work_dir, sink, opts.stop_grace)
        status = "succeeded" if rc == 0 else "failed"
    except KeyboardInterrupt:
        status = "interrupted"
        sink.close()
        finish(base, versions, sink, status, 130, t0, None)
        write_report(base, build_dir, owner, CHECK_REPORT if opts.check else rpt.REPORT_NAME)
        raise
    finally:
        sink.close()
    versions["kas"] = sink.progress.kas_version or versions["kas"]
    versions["bitbake"] = sink.progress.bitbake_version or versions["bitbake"]

    report_name = CHECK_REPORT if opts.check else rpt.REPORT_NAME
    if rc != 0:
        err = diagnose_failure(log_path, sink, rc, base, say)
        finish(base, versions, sink, "failed", 1, t0, None)
        path = write_report(base, build_dir, owner, report_name)
        return BuildOutcome(base, 1, err, path)
    if opts.check:
        return finish_check(base, versions, sink, t0, build_dir, log_dir, target, project,
                            owner, say)

    # 4. post-build
    try:
        return post_build(opts, project, build_dir, base, versions, sink, arch, t0, owner)
    except KeyboardInterrupt:
        finish(base, versions, sink, "interrupted", 130, t0, None)
        write_report(base, build_dir, owner)
        raise


"""The thin command line of ``armvm-oe doctor`` (also ``python3 -m
armvm_oe.doctor``, which needs only the standard library for the host group
and so runs under any user's python3)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from armvm_oe.doctor.model import GB, GROUPS, Context, Thresholds

DEFAULT_CONFIG = "kas/armvm-aarch64.yml"


def setup_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?",
                   help=f"kas configuration (default: {DEFAULT_CONFIG} if it exists here); "
                        "several may be joined with ':'")
    p.add_argument("--work-dir", type=Path, help="KAS_WORK_DIR: where the repos are checked out "
                   "(default: $KAS_WORK_DIR or the current directory)")
    p.add_argument("--build-dir", type=Path, help="the build directory (default: "
                   "$KAS_BUILD_DIR or <work-dir>/build)")
    p.add_argument("--core-dir", type=Path, help="an oe-core/poky checkout to read HOSTTOOLS "
                   "and the release from (default: the config's poky repo)")
    p.add_argument("--release", choices=["scarthgap", "wrynose"],
                   help="release to check against when no oe-core checkout is present")
    p.add_argument("--only", metavar="GROUPS",
                   help=f"comma-separated groups or check ids (groups: {','.join(GROUPS)})")
    p.add_argument("--skip", metavar="IDS", default="", help="comma-separated check ids to skip")
    p.add_argument("--network", action="store_true",
                   help="also probe the remotes (git ls-remote, short timeouts)")
    p.add_argument("--log", metavar="FILE", type=Path,
                   help="diagnose a bitbake/kas/shell log (or a build directory: its newest "
                        "cooker console log) instead of the environment; with --build-dir, "
                        "task logs are also looked up there and tmp/log/error-report/ is read")
    p.add_argument("--format", choices=["text", "json", "sarif"], default=None,
                   help="output of --log: text (default), json (same as --json) or sarif "
                        "(SARIF 2.1.0 for CI code-scanning views)")
    p.add_argument("--list", action="store_true", help="print the check catalogue and log patterns")
    p.add_argument("--fix-script", action="store_true",
                   help="print shell commands that would fix what can be fixed (never runs them)")
    p.add_argument("--host-root", type=Path, default=Path("/"),
                   help="read host facts (/proc, /etc, /bin/sh, /tmp, /dev/shm) under this root")
    p.add_argument("--jobs", type=int, help="parallel jobs to check RAM against "
                   "(default: $BB_NUMBER_THREADS or the number of CPUs)")
    p.add_argument("--min-free-gb", type=float,
                   help="free space a whole build needs (default: the release's rm_work figure)")
    p.add_argument("--min-ram-gb", type=float, help="RAM minimum (default: the release's)")
    p.add_argument("--disk-stop", type=float, metavar="GB", default=1.0,
                   help="STOPTASKS free-space limit in GB (default 1, as BB_DISKMON_DIRS)")


def _known_selection(items: list[str], option: str) -> None:
    """UsageError for a group or check id that does not exist (else
    '--only nosuchgroup' would report "no problems (0 checks)")."""
    from armvm_oe.doctor.registry import catalogue
    from armvm_oe.errors import UsageError

    ids = {c.id for c in catalogue()}
    unknown = [x for x in items if x not in GROUPS and x not in ids]
    if unknown or not items:
        raise UsageError(f"{option} {','.join(unknown) or repr('')}: no such check group or "
                         "check id", f"the groups are {', '.join(GROUPS)}",
                         "Run 'armvm-oe doctor --list' for every check id")


def make_context(args) -> Context:
    config = args.config
    if config is None and Path(DEFAULT_CONFIG).is_file():
        config = DEFAULT_CONFIG
    groups = list(GROUPS)
    only_ids = None
    if args.only:
        items = [x.strip() for x in args.only.split(",") if x.strip()]
        _known_selection(items, "--only")
        gsel = [x for x in items if x in GROUPS]
        ids = {x for x in items if x not in GROUPS}
        groups = gsel or sorted({i.split(".", 1)[0] for i in ids})
        if ids and not gsel:
            only_ids = ids
    if not config:
        groups = [g for g in groups if g not in ("checkout", "kas")]
    t = Thresholds(recommended_free_gb=args.min_free_gb, min_ram_gb=args.min_ram_gb,
                   disk_stop_bytes=int(args.disk_stop * GB))
    return Context(groups=tuple(groups), kas_config=config, work_dir=args.work_dir,
                   build_dir=args.build_dir, core_dir=args.core_dir, release=args.release,
                   host_root=args.host_root, thresholds=t, network=args.network,
                   jobs=args.jobs, only=only_ids,
                   skip={x.strip() for x in args.skip.split(",") if x.strip()})


def run(args, out=None) -> int:
    from armvm_oe.doctor import logscan, report
    from armvm_oe.doctor.registry import catalogue, run_checks, selected
    from armvm_oe.errors import InputError
    from armvm_oe.ui import emit_json

    out = out or sys.stdout
    as_json = getattr(args, "json", False)
    fmt = getattr(args, "format", None) or ("json" if as_json else "text")
    as_json = fmt == "json"
    if args.list:
        checks = catalogue()
        if as_json:
            emit_json({"checks": [c.as_dict() for c in checks],
                       "log_patterns": [p.as_dict() for p in logscan.PATTERNS]}, out)
        else:
            out.write(report.render_catalogue(checks, list(logscan.PATTERNS)))
        return 0
    if fmt == "sarif" and not args.log:
        from armvm_oe.errors import UsageError
        raise UsageError("--format sarif needs --log", "SARIF describes findings at lines of "
                         "a file; the environment checks have no file to point at",
                         "Use --log FILE --format sarif, or --json for the environment checks")
    if args.log:
        from armvm_oe.lib import regular_file
        if not Path(args.log).is_dir():     # a build directory is read for its logs
            regular_file(args.log, "The log", "Pass the path of a bitbake/kas log file "
                         "or a build directory", allow_empty=False)
        try:
            diag = logscan.scan_file(args.log, build_dir=args.build_dir)
        except OSError as exc:
            raise InputError(f"Cannot read the log {args.log}", exc.strerror or str(exc),
                             "Pass the path of a bitbake/kas log, e.g. build/tmp/log/cooker/"
                             "<machine>/console-latest.log, or a build directory")
        if fmt == "json":
            emit_json(report.findings_json(diag), out)
        elif fmt == "sarif":
            from armvm_oe.doctor.sarif import to_sarif
            emit_json(to_sarif(diag), out)
        else:
            out.write(report.render_findings(diag, stream=out))
        return 1 if diag.failed else 0
    if args.config is not None:
        # a config named on the command line must exist: bad input is exit 2
        # (the kas.config-missing check still explains a missing default one)
        from armvm_oe.lib import regular_file
        regular_file(args.config, "The kas configuration",
                     "Pass the right path, e.g. kas/armvm-aarch64.yml", allow_empty=False)
    ctx = make_context(args)
    results = run_checks(ctx)
    checked = len(selected(ctx))
    if args.fix_script:
        out.write(report.fix_script(results))
    elif as_json:
        emit_json(report.results_json(results, checked), out)
    else:
        out.write(report.render_results(results, stream=out, checked=checked))
    return 1 if results else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m armvm_oe.doctor",
                                description="armvm-oe doctor without the rest of armvm-oe")
    setup_parser(p)
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    args = p.parse_args(argv)
    from armvm_oe.errors import ArmvmError
    try:
        return run(args)
    except ArmvmError as err:
        print("armvm-oe: error: " + err.paragraph(), file=sys.stderr)
        return err.exit_code

"""armvm-oe status: each repo of a kas config, pinned vs actual commit."""

from __future__ import annotations

from pathlib import Path

from armvm_oe import ui
from armvm_oe.errors import EXIT_OK, EXIT_PROBLEM

NAME = "status"
ORDER = 12
HELP = "show each repo of a kas config: path, pinned and actual commit, dirty or not"
DESCRIPTION = """\
For every repository of the kas configuration (includes and lock file
applied): its path in the work dir, the pinned commit, the commit actually
checked out, and whether the tree has local changes. Exit 1 if a cloned repo
is missing, at another commit, or dirty (the config's own repository may be
dirty: it is used in place).
"""
EXAMPLES = """\
armvm-oe status
armvm-oe status kas/armvm-arm.yml --json
"""


def setup_parser(parser):
    parser.add_argument("config", nargs="?", default="kas/armvm-aarch64.yml",
                        help="kas config file(s), ':'-separated (default kas/armvm-aarch64.yml)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="kas work dir (default: $KAS_WORK_DIR or the current directory)")


def run(args) -> int:
    from armvm_oe.gitcheckout import status
    from armvm_oe.kasconfig import load_config

    project = load_config(args.config, work_dir=args.work_dir)
    sts = status(project)
    problem = any(s.problem for s in sts)
    if args.json:
        ui.emit_json({"config": [str(p) for p in project.config_files],
                      "lock_file": str(project.lock_file) if project.lock_file else None,
                      "work_dir": str(project.work_dir), "ok": not problem,
                      "repos": [s.as_dict() for s in sts]})
    else:
        rows = []
        for s in sts:
            badge = ui.badge("fail" if s.problem else ("info" if s.state == "local" else "ok"))
            pinned = s.pinned if not s.pinned or len(s.pinned) != 40 else s.pinned[:12]
            rows.append([s.id, badge, s.state, pinned or "-", (s.actual or "-")[:12],
                         ui.style("dirty", "yellow") + f" ({len(s.dirty_files)})"
                         if s.dirty else "clean", s.path])
        print(ui.table(rows, ["repo", "", "state", "pinned", "actual", "tree", "path"]))
        for s in sts:
            if s.partial:
                ui.echo(f"note: {s.id}: leftover of an interrupted checkout: "
                        f"{', '.join(s.partial)} (the next 'armvm-oe checkout' removes it)")
    return EXIT_PROBLEM if problem else EXIT_OK

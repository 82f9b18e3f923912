"""armvm-oe lock: write or refresh the kas lock file (<config>.lock.yml)."""

from __future__ import annotations

from pathlib import Path

from armvm_oe import ui
from armvm_oe.errors import EXIT_OK

NAME = "lock"
ORDER = 11
HELP = "write or refresh the kas lock file with full 40-hex commits"
DESCRIPTION = """\
Write the kas lock file (<config>.lock.yml next to the first config, the
format kas loads automatically: 'overrides: repos: <id>: commit: <sha>').
Without --update, repos the lock files do not cover yet are added at their
current pin (a branch- or tag-only repo is resolved on its server). With
--update, a repo pinned at a Yocto point release (a yocto-<series>.N tag,
e.g. yocto-5.0.17) moves to the newest point release of that series on its
server; any other repo that names a branch (or tag) moves to the branch's
current tip (git ls-remote; nothing is cloned). The lock file and the
'commit:' line of the config that pins the repo (with its '# tag' comment)
are rewritten. An entry already held by another lock file of the same
repository is updated there, so the lock that wins keeps winning. Each
machine config has its own lock file: update each one.
"""
EXAMPLES = """\
armvm-oe lock                          # create kas/armvm-aarch64.lock.yml if missing
armvm-oe lock --update                 # newest yocto-5.0.N of each repo (else the branch head)
armvm-oe lock --update kas/armvm-arm.yml --json
armvm-oe lock --update kas/armvm-aarch64.yml:kas/wrynose.yml   # wrynose.lock.yml
"""


def setup_parser(parser):
    parser.add_argument("config", nargs="?", default="kas/armvm-aarch64.yml",
                        help="kas config file(s), ':'-separated (default kas/armvm-aarch64.yml)")
    parser.add_argument("--update", action="store_true",
                        help="re-pin every repo to the newest point release of its series (a pin "
                             "that is no release tag: the head of its branch)")


def run(args) -> int:
    from armvm_oe.gitcheckout import lock

    changes = lock(args.config, update=args.update)
    if args.json:
        ui.emit_json({"update": args.update, "repos": [c.as_dict() for c in changes]})
        return EXIT_OK
    rows = [[c.id, c.ref or "-", (c.old or "-")[:12], (c.new or "-")[:12], c.tag or "-",
             ui.style("changed", "yellow") if c.changed else "same",
             str(Path(c.lock_file).relative_to(Path.cwd())) if c.lock_file and
             Path(c.lock_file).is_relative_to(Path.cwd()) else (c.lock_file or "-")]
            for c in changes]
    print(ui.table(rows, ["repo", "ref", "old", "new", "release", "", "lock file"]))
    return EXIT_OK

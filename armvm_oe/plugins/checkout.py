"""armvm-oe checkout: materialise the pinned layers of a kas configuration."""

from __future__ import annotations

from pathlib import Path

from armvm_oe import ui
from armvm_oe.errors import EXIT_OK, EXIT_PROBLEM

NAME = "checkout"
ORDER = 10
HELP = "clone/update the layers a kas config pins, into kas's work-dir layout"
DESCRIPTION = """\
Do what 'kas checkout' does, faster and safely: read a kas configuration
(includes, lock files, kas's schema), check out repos that 'repo:' includes
need and read again until complete, materialise every repository at its pin
in kas's layout (KAS_WORK_DIR or the current directory), apply 'patches:' as
kas does (same commits), and write build/conf/bblayers.conf and local.conf.
Fetches only the pinned commit (shallow) in new clones, nothing when the pin
is present. New clones appear only when complete; an update killed half-way
is finished by the next run. A repository with local changes is never moved
(exit 1) unless --force, which stashes them first. What armvm-oe does not
implement (type: hg, signed:) is refused with exit 2, never ignored.
"""
EXAMPLES = """\
armvm-oe checkout                                   # kas/armvm-aarch64.yml
armvm-oe checkout kas/armvm-arm.yml
armvm-oe checkout kas/armvm-aarch64.yml:kas/wrynose.yml   # Yocto 6.0 overlay
KAS_WORK_DIR=$PWD/work armvm-oe checkout --mirror-dir /srv/git-mirrors
armvm-oe checkout --force                           # stash local changes, then move
armvm-oe checkout --update ci/qemuarm64.yml         # branch-only pins: fetch the new tip
"""
DEFAULT_CONFIG = "kas/armvm-aarch64.yml"


def setup_parser(parser):
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG,
                        help=f"kas config file(s), ':'-separated (default {DEFAULT_CONFIG})")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="kas work dir (default: $KAS_WORK_DIR or the current directory)")
    parser.add_argument("--mirror-dir", type=Path, action="append", default=[],
                        help="directory of local clones to use as git alternates "
                             "(kas naming, e.g. git.yoctoproject.org.poky, or <name>.git); "
                             "repeatable; $KAS_REPO_REF_DIR is also used")
    parser.add_argument("--force", action="store_true",
                        help="stash local changes (named stash, reported) before moving a repo")
    parser.add_argument("--update", action="store_true",
                        help="fetch the current tip of branch-only pins (as 'kas checkout "
                             "--update'); without it a branch already present is not fetched")


def run(args) -> int:
    from armvm_oe.gitcheckout import Checkout
    from armvm_oe.kasconfig import load_config

    for d in args.mirror_dir:
        if not d.is_dir():
            from armvm_oe.errors import UsageError
            raise UsageError(f"--mirror-dir {d} is not a directory", None,
                             "Pass a directory that holds local clones of the repositories")
    project = load_config(args.config, work_dir=args.work_dir)
    co = Checkout(project, mirror_dirs=args.mirror_dir, force=args.force, update=args.update)
    results = co.run()
    project = co.project   # re-read with the files of repo includes
    from armvm_oe.gitcheckout.checkout import init_script_repo, write_bbconfig
    # kas's last steps: find the environment script, write the build configuration
    init_script_repo(project)
    written = write_bbconfig(project)
    dirty = [r for r in results if r.action == "dirty"]
    if args.json:
        ui.emit_json({"config": [str(p) for p in project.config_files],
                      "lock_file": str(project.lock_file) if project.lock_file else None,
                      "work_dir": str(project.work_dir),
                      "repos": [r.as_dict() for r in results],
                      "bbconfig": [str(p) for p in written],
                      "ok": not dirty})
    else:
        rows = [[r.id, ui.badge("ok" if r.action != "dirty" else "fail"), r.action,
                 (r.commit or "-")[:12], r.fetch, _human(r.bytes) if r.bytes else "-", r.path]
                for r in results]
        print(ui.table(rows, ["repo", "", "action", "commit", "fetch", "received", "path"]))
    if dirty:
        import sys
        for r in dirty:
            files = ", ".join(r.dirty_files[:20]) + (" ..." if len(r.dirty_files) > 20 else "")
            ui.echo(ui.style("armvm-oe: ", "red", "bold", stream=sys.stderr),
                    f"repo '{r.id}' was not moved to {r.pinned[:12] if r.pinned else '?'}: "
                    f"{r.path} has local changes ({files}). Commit or stash them, or run "
                    "'armvm-oe checkout --force' to stash them (named stash) and move.",
                    file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK


def _human(n: int) -> str:
    from armvm_oe.gitcheckout import _human as h
    return h(n)

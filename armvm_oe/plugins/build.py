"""armvm-oe build: the whole chain, unattended."""

from __future__ import annotations

import sys
from pathlib import Path

from armvm_oe import ui

NAME = "build"
ORDER = 20
HELP = "preflight, checkout at the lock, kas build (container or host), verify, report"
DESCRIPTION = """\
Build the armvm image unattended:

 1. preflight: 'armvm-oe doctor' checks of the host/container, build dir and kas
    config; a fatal result stops here, before hours of build;
 2. checkout at the lock ('armvm-oe checkout'), then the checkout checks;
 3. 'kas build' in the armvm-oe build container (default when a Docker/podman
    engine answers) or on the host (--host), with a progress bar driven by
    bitbake's own "Running task N of M" lines and the full log saved under
    <build>/armvm-oe-logs/; on failure the last lines and the log diagnosis;
 4. post-build: the deploy artifacts with sha256, 'armvm-oe verify' on the .wic,
    <build>/build-report.json and a short summary; --avh DEVICE also packs an
    Arm Virtual Hardware firmware zip.

Scale-out (docs/scaleout.md): --sstate-mirror, --hashserv / --hashserv-upstream
and --prserv add kas/scaleout.yml (also read from ARMVM_SSTATE_MIRROR,
ARMVM_HASHSERV, ARMVM_HASHSERV_UPSTREAM, ARMVM_PRSERV). DL_DIR and SSTATE_DIR
are taken from the environment when the options are not given; a container
build without either uses <work-dir>/downloads and <work-dir>/sstate-cache
(made by and for you). --check stops before the first task.
"""
EXAMPLES = """\
armvm-oe build                                  # kas/armvm-aarch64.yml, in the container
armvm-oe build --arch arm --host                # aarch32, kas on this machine
armvm-oe build --check                          # all but the tasks: CI's first job
armvm-oe build --allow-root                     # as root (CI): bitbake runs unprivileged
armvm-oe build my-project.yml                   # your kas file on top of kas/armvm-aarch64.yml
armvm-oe build kas/armvm-aarch64.yml:kas/wrynose.yml --dl-dir ~/yocto/dl --sstate-dir ~/yocto/sstate
armvm-oe build --sstate-mirror https://sstate.example.org/armvm --hashserv-upstream hashserv.example.org:8687
armvm-oe build --avh rpi4b --avh-dtb bcm2711-rpi-4-b.dtb
"""


def setup_parser(parser):
    parser.add_argument("config", nargs="?", default=None,
                        help="kas config(s), ':'-separated (default kas/armvm-<arch>.yml)")
    parser.add_argument("--arch", choices=("aarch64", "arm"), default=None,
                        help="execution state (default: from the config's machine, else aarch64)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--host", dest="mode", action="store_const", const="host",
                       help="run kas on this machine instead of in the container")
    where.add_argument("--container", dest="mode", action="store_const", const="container",
                       help="insist on the container (fail if no engine answers)")
    parser.set_defaults(mode="auto")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="kas work dir (default $KAS_WORK_DIR or the current directory); "
                             "the build dir is <work-dir>/build")
    parser.add_argument("--dl-dir", type=Path, default=None,
                        help="DL_DIR (default $DL_DIR; in the container <work-dir>/downloads)")
    parser.add_argument("--sstate-dir", type=Path, default=None,
                        help="SSTATE_DIR (default $SSTATE_DIR; in the container "
                             "<work-dir>/sstate-cache)")
    parser.add_argument("--mirror-dir", type=Path, action="append", default=[],
                        help="local git clones used as alternates by the checkout")
    parser.add_argument("--force-checkout", action="store_true",
                        help="stash local changes in pinned repos (named stash) and move them")
    parser.add_argument("--skip-check", action="append", default=[], metavar="ID",
                        help="ignore this doctor check in the preflight (repeatable)")
    parser.add_argument("--check", action="store_true",
                        help="everything before the first task, then stop: preflight, "
                             "checkout, container image, kas, bitbake parse, 'bitbake -g' of "
                             "the target, the kernel config audit's inputs "
                             "(<build>/check-report.json); exit 0 or 1")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="do not run 'armvm-oe verify' on the .wic")
    parser.add_argument("--allow-root", action="store_true",
                        help="let root build: bitbake runs in the container as the work dir's "
                             "owner, or as uid 30000 when root owns it (also ARMVM_ALLOW_ROOT=1); "
                             "without it root is refused, like kas-container")
    parser.add_argument("--ssh-agent", action="store_true",
                        help="forward $SSH_AUTH_SOCK into the container (private repos)")
    so = parser.add_argument_group("scale-out (docs/scaleout.md)")
    so.add_argument("--sstate-mirror", metavar="URL",
                    help="shared sstate mirror, http(s)://... or file:///...")
    so.add_argument("--hashserv", metavar="HOST:PORT",
                    help="shared bitbake-hashserv used directly (read-write; CI)")
    so.add_argument("--hashserv-upstream", metavar="HOST:PORT",
                    help="shared bitbake-hashserv behind a local one (developers)")
    so.add_argument("--prserv", metavar="HOST:PORT", help="shared PR server (bitbake-prserv)")
    avh = parser.add_argument_group("Arm Virtual Hardware")
    avh.add_argument("--avh", metavar="DEVICE", help="also pack an AVH firmware zip (rpi4b, kronos)")
    avh.add_argument("--avh-dtb", metavar="NAME|PATH", help="the deployed DTB to use")
    avh.add_argument("--avh-device-def", action="append", default=[],
                     metavar="NAME=STORAGE", help="add an AVH device model")
    avh.add_argument("--avh-version", help="Version key (default: today's date)")


def options_from_args(args):
    import os

    from armvm_oe.imagebuild.orchestrate import BuildOptions
    from armvm_oe.imagebuild.scaleout import ScaleOut
    env_path = lambda k: Path(os.environ[k]) if os.environ.get(k) else None  # noqa: E731
    return BuildOptions(
        config=args.config, arch=args.arch, work_dir=args.work_dir, mode=args.mode,
        dl_dir=args.dl_dir or env_path("DL_DIR"),
        sstate_dir=args.sstate_dir or env_path("SSTATE_DIR"),
        scaleout=ScaleOut(args.sstate_mirror, args.hashserv, args.hashserv_upstream,
                          args.prserv),
        mirror_dirs=args.mirror_dir, force_checkout=args.force_checkout,
        skip_checks=set(args.skip_check), verify=args.verify, check=args.check,
        ssh_agent=args.ssh_agent, allow_root=args.allow_root,
        avh_device=args.avh, avh_dtb=args.avh_dtb, avh_device_defs=args.avh_device_def,
        avh_version=args.avh_version, verbose=args.verbose)


def run(args) -> int:
    from armvm_oe.imagebuild.orchestrate import run_build
    from armvm_oe.imagebuild.report import summary_lines

    out = run_build(options_from_args(args))
    if args.json:
        ui.emit_json(out.report)
        if out.error is not None:
            ui.echo(ui.style("armvm-oe: error: ", "red", "bold", stream=sys.stderr),
                out.error.paragraph(), file=sys.stderr)
        return out.exit_code
    for line in summary_lines(out.report):
        ui.echo(line)
    if out.error is not None:
        raise out.error
    return out.exit_code

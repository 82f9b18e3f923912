"""armvm-oe doctor: diagnose a broken build environment before a build (host,
checkout, build directory, kas, container engine) or after one (--log)."""

from armvm_oe.doctor import cli

NAME = "doctor"
ORDER = 20
HELP = "diagnose the build environment, or a failed build's log"
DESCRIPTION = (
    "Find the few dozen ways a Yocto setup breaks, in about a second: missing HOSTTOOLS, "
    "locale, root, user namespaces, disk, a checkout killed mid-clone or at the wrong commit, "
    "layers of another release, a stale bitbake.lock, an unreachable container engine... "
    "Each problem names its cause, the error text bitbake/kas would print, and the fix. "
    "With --log, read a bitbake/kas/shell log and name the first real cause rather than "
    "the cascade after it. Exit 0 when nothing is wrong, 1 otherwise. See docs/doctor.md.")
EXAMPLES = """
armvm-oe doctor                                  # host + checkout + build dir + kas + container
armvm-oe doctor kas/armvm-aarch64.yml --network  # also probe the remotes
armvm-oe doctor --only host,container --json
armvm-oe doctor --log build/tmp/log/cooker/armvm-aarch64/console-latest.log
armvm-oe doctor --log ci.log --build-dir build --format sarif > doctor.sarif
armvm-oe doctor --fix-script > fix.sh            # review, then run it yourself
armvm-oe doctor --list                           # the check catalogue
"""


def setup_parser(parser):
    cli.setup_parser(parser)


def run(args):
    return cli.run(args)

"""The ``armvm-oe`` command line: global options, plugin dispatch, and the
one place where errors become exit codes and one-paragraph messages."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap

from armvm_oe import __version__, plugins
from armvm_oe.errors import (EXIT_INTERRUPTED, EXIT_USAGE, ArmvmError)
from armvm_oe.ui import emit_json, style, term_safe

EPILOG = """\
examples:
  armvm-oe checkout kas/armvm-aarch64.yml     materialise the pinned layers
  armvm-oe doctor                             diagnose the build environment
  armvm-oe build --arch aarch64               build the image (in a container)
  armvm-oe verify build/tmp/deploy/images/armvm-aarch64/armvm-image-armvm-aarch64.rootfs.wic
  armvm-oe test image.wic                     boot matrix under QEMU + UEFI

exit codes: 0 ok, 1 a problem was found, 2 usage or bad input, 130 interrupted.
Set NO_COLOR to disable colour. Requirement ids: docs/requirements.md.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one paragraph and exit 2."""

    def error(self, message):  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"armvm-oe: error: {message}. "
                              f"Run '{self.prog} --help' for the options and an example.\n")


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # On subcommands the defaults are suppressed so an option given before the
    # subcommand (armvm-oe --json verify ...) is not reset by the subparser.
    parser.add_argument("-v", "--verbose", action="count",
                        default=argparse.SUPPRESS if suppress else 0,
                        help="more output (repeat for debug logging)")
    parser.add_argument("--json", action="store_true",
                        default=argparse.SUPPRESS if suppress else False,
                        help="machine-readable JSON on stdout")
    parser.add_argument("--debug", action="store_true",
                        default=argparse.SUPPRESS if suppress else False,
                        help="show tracebacks for errors")


def _command_in(argv: list[str] | None) -> str | None:
    """The subcommand named on the command line, if any (first non-option)."""
    for arg in argv or []:
        if not arg.startswith("-"):
            return arg
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="armvm-oe",
        description="Build, verify and boot portable Arm VM images "
                    "(ARM VM System Specification) with Yocto.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"armvm-oe {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in plugins.discover(only):
        examples = textwrap.dedent(getattr(mod, "EXAMPLES", "")).strip()
        p = sub.add_parser(
            mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
            epilog=("example:\n" + textwrap.indent(examples, "  ")) if examples else None,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        _common(p, suppress=True)
        mod.setup_parser(p)
        p.set_defaults(_plugin=mod)
    return parser


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if not getattr(args, "_plugin", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        rc = args._plugin.run(args)
        return int(rc or 0)
    except KeyboardInterrupt:
        print("armvm-oe: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ArmvmError as err:
        if args.debug or os.environ.get("ARMVM_DEBUG"):
            raise
        if args.json:
            emit_json(err.as_dict())
        print(style("armvm-oe: error: ", "red", "bold", stream=sys.stderr)
              + term_safe(err.paragraph()), file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""armvm-oe checkout (placeholder until its issue lands)."""

from armvm_oe.errors import NotImplementedYet

NAME = "checkout"
HELP = "(not implemented yet)"
EXAMPLES = "armvm-oe checkout --help"


def setup_parser(parser):
    parser.add_argument("rest", nargs="*", help="arguments")


def run(args):
    raise NotImplementedYet(NAME)

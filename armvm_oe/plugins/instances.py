"""armvm-oe instances (placeholder until its issue lands)."""

from armvm_oe.errors import NotImplementedYet

NAME = "instances"
HELP = "(not implemented yet)"
EXAMPLES = "armvm-oe instances --help"


def setup_parser(parser):
    parser.add_argument("rest", nargs="*", help="arguments")


def run(args):
    raise NotImplementedYet(NAME)

"""armvm-oe avh (placeholder until its issue lands)."""

from armvm_oe.errors import NotImplementedYet

NAME = "avh"
HELP = "(not implemented yet)"
EXAMPLES = "armvm-oe avh --help"


def setup_parser(parser):
    parser.add_argument("rest", nargs="*", help="arguments")


def run(args):
    raise NotImplementedYet(NAME)

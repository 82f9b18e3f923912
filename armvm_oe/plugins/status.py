"""armvm-oe status (placeholder until its issue lands)."""

from armvm_oe.errors import NotImplementedYet

NAME = "status"
HELP = "(not implemented yet)"
EXAMPLES = "armvm-oe status --help"


def setup_parser(parser):
    parser.add_argument("rest", nargs="*", help="arguments")


def run(args):
    raise NotImplementedYet(NAME)

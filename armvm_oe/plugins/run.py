"""armvm-oe run (placeholder until its issue lands)."""

from armvm_oe.errors import NotImplementedYet

NAME = "run"
HELP = "(not implemented yet)"
EXAMPLES = "armvm-oe run --help"


def setup_parser(parser):
    parser.add_argument("rest", nargs="*", help="arguments")


def run(args):
    raise NotImplementedYet(NAME)

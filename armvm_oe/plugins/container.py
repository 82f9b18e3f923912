"""armvm-oe container (placeholder until its issue lands)."""

from armvm_oe.errors import NotImplementedYet

NAME = "container"
HELP = "(not implemented yet)"
EXAMPLES = "armvm-oe container --help"


def setup_parser(parser):
    parser.add_argument("rest", nargs="*", help="arguments")


def run(args):
    raise NotImplementedYet(NAME)

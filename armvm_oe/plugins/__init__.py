"""Command plugins: one module per ``armvm-oe`` subcommand.

A plugin module defines::

    NAME = "verify"                 # the subcommand
    HELP = "one line for --help"
    EXAMPLES = "armvm-oe verify build/armvm-image.wic"   # shown in its --help
    def setup_parser(parser): ...   # add its own arguments
    def run(args) -> int: ...       # exit code; raise ArmvmError for user errors

Modules are discovered by name, so adding a command never touches cli.py.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def names() -> list[str]:
    """Module names of the plugins, without importing them (start-up time)."""
    return sorted(i.name for i in pkgutil.iter_modules(__path__) if not i.name.startswith("_"))


def load(name: str) -> ModuleType | None:
    mod = importlib.import_module(f"{__name__}.{name}")
    return mod if hasattr(mod, "NAME") and hasattr(mod, "run") else None


def discover(only: str | None = None) -> list[ModuleType]:
    """Import the plugins (just ``only`` when the command is known: a command
    run should not pay for importing every other command's dependencies)."""
    wanted = [only] if only in names() else names()
    plugins = [m for m in (load(n) for n in wanted) if m is not None]
    return sorted(plugins, key=lambda m: getattr(m, "ORDER", 50))

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


def discover() -> list[ModuleType]:
    plugins = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            plugins.append(mod)
    return sorted(plugins, key=lambda m: getattr(m, "ORDER", 50))

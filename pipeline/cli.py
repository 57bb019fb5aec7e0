"""The ``avstroke`` command: one subcommand per stage, plus manifest, run and predict.

Each subcommand is a module with ``add_arguments``, ``run`` and ``DESCRIPTION`` (and
``validates_manifest`` when it validates its ``--manifest`` itself); the same module runs as
``python -m <module>``.
"""
from __future__ import annotations

import importlib
import sys

from pipeline import __version__
from pipeline.config import STAGES
from pipeline.stage import stage_main

# Commands that are not batch stages: (name, module, takes the common stage options).
TOOLS: list[tuple[str, str, bool]] = [
    ("manifest", "pipeline.build_manifest", False),
    ("run", "pipeline.run", True),
    ("predict", "pipeline.predict", True),
]


def commands() -> dict[str, tuple[str, bool]]:
    """Command name -> (module, takes common options)."""
    table = {name: (module, common) for name, module, common in TOOLS}
    table.update({name: (module, True) for name, module in STAGES})
    return table


def usage() -> str:
    names = ", ".join(commands())
    return (f"avstroke {__version__}\nusage: avstroke COMMAND [options]   (avstroke COMMAND -h for help)\n"
            f"commands: {names}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = sys.argv[1:] if argv is None else argv
    table = commands()
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        print(__version__)
        return 0
    name = argv[0]
    if name not in table:
        print(f"avstroke: unknown command {name!r}\n{usage()}", file=sys.stderr)
        return 2
    module_name, common = table[name]
    module = importlib.import_module(module_name)
    return stage_main(f"avstroke {name}", module.DESCRIPTION, module.add_arguments, module.run,
                      argv[1:], common=common, validates_manifest=getattr(module, "validates_manifest", None))


if __name__ == "__main__":
    sys.exit(main())

"""``avstroke run``: every batch stage in order, skipping what is up to date.

Each stage keeps its own cache, so a second run recomputes only what changed. ``--from`` and
``--to`` pick a range of stages; a run that starts after validate reads the run folder's
validated manifest and refuses a ``--manifest`` other than the one it was validated from. The run
stops when validation finds the manifest unusable or when every recording of a stage failed;
single failed recordings are listed in RUN/errors.csv and the rest go on.
"""
from __future__ import annotations

import importlib
import logging
import sys

import pandas as pd

from pipeline.config import STAGES
from pipeline.errors import ConfigError
from pipeline.stage import stage_main

log = logging.getLogger("avstroke")
DESCRIPTION = "Run every stage in order, skipping what is up to date."


def stage_names() -> list[str]:
    return [name for name, _ in STAGES]


def add_arguments(parser) -> None:
    names = stage_names()
    parser.add_argument("--from", dest="from_stage", default=names[0], choices=names,
                        help="first stage to run (default: %(default)s)")
    parser.add_argument("--to", dest="to_stage", default=names[-1], choices=names,
                        help="last stage to run (default: %(default)s)")
    for _, module_name in STAGES:
        importlib.import_module(module_name).add_arguments(parser)


def selected_stages(from_stage: str, to_stage: str) -> list[tuple[str, str]]:
    """The stages from ``from_stage`` to ``to_stage`` inclusive, in run order."""
    names = stage_names()
    first, last = names.index(from_stage), names.index(to_stage)
    if first > last:
        raise ConfigError(f"--from {from_stage} comes after --to {to_stage}; "
                          f"stage order: {', '.join(names)}")
    return STAGES[first:last + 1]


def run_stages(args, stages: list[tuple[str, str]]) -> int:
    """Run ``stages`` in order; 1 when validation finds the manifest unusable or a stage fails."""
    for name, module_name in stages:
        module = importlib.import_module(module_name)
        log.info("== %s", name)
        if name == "validate":
            _, fatal = module.execute(args)
            if fatal:
                return 1
            continue
        if module.run(args) != 0:
            log.error("run: stage %s failed; stopping", name)
            return 1
    return 0


def validates_manifest(args) -> bool:
    """A run validates its --manifest when it starts at validate (see ``stage_main``)."""
    return selected_stages(args.from_stage, args.to_stage)[0][0] == "validate"


def run(args) -> int:
    if run_stages(args, selected_stages(args.from_stage, args.to_stage)) != 0:
        return 1
    errors = args.out / "errors.csv"
    n_failed = len(pd.read_csv(errors)) if errors.exists() else 0
    log.info("run: finished in %s; %d recording-level failures listed in %s",
             args.out, n_failed, errors)
    return 0


def main(argv=None) -> int:
    return stage_main("avstroke run", DESCRIPTION, add_arguments, run, argv,
                      validates_manifest=validates_manifest)


if __name__ == "__main__":
    sys.exit(main())

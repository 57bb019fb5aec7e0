"""What every stage command shares: common options, logging, and turning errors into messages.

A stage module defines ``add_arguments(parser)`` for its own options and ``run(args) -> int``;
``stage_main`` adds the common options, sets up logging to the terminal and to the run folder's
log, holds the run folder's lock while the command runs (``pipeline.run_folder``: one command per
folder at a time, temporary files of killed writes cleared), refuses a ``--manifest`` other than
the one the run folder was validated from unless the command validates it (and likewise a
``--tasks`` file other than the one it was validated with), and prints an AvstrokeError as a
one-line message instead of a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path
from typing import Callable

from core.errors import AvstrokeError
from pipeline.config import DEFAULT_MANIFEST, DEFAULT_RUN_DIR, LOG_DIR
from pipeline.manifest import check_validated_from
from pipeline.run_folder import prepared
from pipeline.task_file import check_tasks_from

log = logging.getLogger("avstroke")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every stage takes: manifest, run folder, data root, parallelism, verbosity."""
    parser.add_argument("--manifest", type=Path, default=None,
                        help=f"recording manifest CSV (validate's default: {DEFAULT_MANIFEST}; later "
                             f"stages read the run folder's validated manifest)")
    parser.add_argument("--out", type=Path, default=DEFAULT_RUN_DIR,
                        help="run folder for every output (default: %(default)s)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder the manifest's media paths are relative to "
                             "(default: the manifest's folder)")
    parser.add_argument("--workers", type=int, default=1,
                        help="local worker processes (default: %(default)s)")
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="run per-recording work on this dask.distributed scheduler")
    add_verbosity(parser)


def add_shared_argument(parser: argparse.ArgumentParser, *flags: str, **kwargs) -> None:
    """Add an option two stages take (e.g. the tracker settings of landmarks and
    landmarks-train) unless the parser has it already: ``avstroke run`` puts every stage's options
    on one parser."""
    if not any(flag in parser._option_string_actions for flag in flags):
        parser.add_argument(*flags, **kwargs)


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    """-v for debug logging (tracebacks of failed recordings)."""
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")


def setup_logging(run_dir: Path | None, verbose: bool) -> None:
    """Log to stderr, and to RUN/logs/avstroke.log when a run folder is known."""
    root = logging.getLogger("avstroke")
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(console)
    if run_dir is not None:
        (run_dir / LOG_DIR).mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(run_dir / LOG_DIR / "avstroke.log")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(file_handler)
    root.propagate = False


def stage_main(prog: str, description: str, add_arguments: Callable, run: Callable,
               argv: list[str] | None = None, *, common: bool = True,
               validates_manifest: Callable | None = None) -> int:
    """Parse arguments, set up logging and run a stage; return its exit code.

    Parameters
    ----------
    validates_manifest : callable, optional
        ``validates_manifest(args) -> bool``: True when this command validates ``--manifest``
        itself (validate, a run from validate, predict). Any other command reads the run folder's
        validated manifest, and a ``--manifest`` (or ``--tasks``) given to it must be the one
        validated there.

    Exit codes: 0 success, 1 the stage failed (e.g. validation errors, every recording failed),
    2 a usage or input error reported as one message.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    if common:
        add_common_arguments(parser)
    else:
        add_verbosity(parser)
    add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "out", None) if common else None, args.verbose)
    try:
        with prepared(args.out) if common else contextlib.nullcontext():
            validates = validates_manifest is not None and validates_manifest(args)
            if common and args.manifest is not None and not validates:
                check_validated_from(args.out, args.manifest, args.data_root)
            if common and getattr(args, "tasks", None) is not None and not validates:
                check_tasks_from(args.out, args.tasks)
            return run(args)
    except AvstrokeError as exc:
        log.error("error: %s", exc)
        return 2

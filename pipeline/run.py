"""``avstroke run``: every batch stage in order, skipping what is up to date.

Each stage keeps its own cache, so a second run recomputes only what changed. ``--from`` and
``--to`` pick a range of stages; a run that starts after validate reads the run folder's
validated manifest and refuses a ``--manifest`` other than the one it was validated from. The run
stops when validation finds the manifest unusable or when every recording of a stage failed;
single failed recordings are listed in RUN/errors.csv and the rest go on. The run ends with a
summary: how many recordings were excluded, failed or skipped somewhere (RUN/errors.csv), and
every recording kept with a warning about its media (RUN/validation.csv: a file that decodes
partly, a silent sound, no sound).

Landmarks adapted to the cohort: ``--adapt`` runs landmarks-train (generic tracking of the
recordings with manual landmarks into ``RUN/cache/landmarks_generic/``, shape models into
``RUN/shape_models/``) and then tracks every recording with the model chosen for it into
``RUN/cache/landmarks/``, which every later stage reads; ``--shape-models DIR`` uses models
trained elsewhere. Without either, landmarks-train is skipped and every recording is tracked
with the generic model.
"""
from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import pandas as pd

from core.errors import ConfigError
from pipeline.config import STAGES
from pipeline.manifest import VALIDATED_FILE, Issue
from pipeline.runner import ERROR_COLUMNS
from pipeline.stage import stage_main
from pipeline.validate import ISSUE_COLUMNS, MEDIA_COLUMNS, media_warnings

log = logging.getLogger("avstroke")
DESCRIPTION = "Run every stage in order, skipping what is up to date."
MAX_LISTED = 40


def stage_names() -> list[str]:
    return [name for name, _ in STAGES]


def add_arguments(parser) -> None:
    names = stage_names()
    parser.add_argument("--from", dest="from_stage", default=names[0], choices=names,
                        help="first stage to run (default: %(default)s)")
    parser.add_argument("--to", dest="to_stage", default=names[-1], choices=names,
                        help="last stage to run (default: %(default)s)")
    parser.add_argument("--adapt", action="store_true",
                        help="train shape models on the manifest's manual landmark files "
                             "(landmarks-train) and track every recording with the one that won "
                             "held out for it")
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
        if name == "landmarks-train" and not getattr(args, "adapt", False):
            log.info("== %s: skipped (adapted landmarks are trained with --adapt)", name)
            continue
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


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    # a file written by an older version may lack a column: it reads as empty
    return pd.read_csv(path, dtype=str, keep_default_na=False).reindex(columns=columns, fill_value="")


def _media_names(run_dir: Path) -> dict:
    """(recording_id, path column) -> the file's name, from the validated manifest: the summary
    is read by the operator, who needs the file, while validation.csv names none."""
    path = run_dir / VALIDATED_FILE
    if not path.is_file():
        return {}
    table = pd.read_parquet(path)
    return {(rid, column): Path(value).name for column in MEDIA_COLUMNS if column in table
            for rid, value in zip(table["recording_id"], table[column])
            if isinstance(value, str) and value}


def run_summary(run_dir: Path) -> list[str]:
    """Lines that end a run: recordings lost somewhere, and recordings kept with media warnings.

    Both count recordings, not table rows: one recording may fail in two stages or have two
    warnings.
    """
    errors_path, validation_path = run_dir / "errors.csv", run_dir / "validation.csv"
    failed = _read_table(errors_path, ERROR_COLUMNS)["recording_id"].nunique()
    warned = media_warnings(_read_table(validation_path, ISSUE_COLUMNS))
    lines = [f"run: finished in {run_dir}. Recordings excluded, failed or skipped in a stage: "
             f"{failed} ({errors_path}); kept with warnings about their media: "
             f"{warned['recording_id'].nunique()} ({validation_path})"]
    media = _media_names(run_dir)
    lines += [f"  {Issue(**{**w, 'row': int(w['row']), 'media': media.get((w['recording_id'], w['column']), '')})}"
              for w in warned.head(MAX_LISTED).to_dict("records")]
    if len(warned) > MAX_LISTED:
        lines.append(f"  ... {len(warned) - MAX_LISTED} more in {validation_path}")
    return lines


def run(args) -> int:
    if run_stages(args, selected_stages(args.from_stage, args.to_stage)) != 0:
        return 1
    for line in run_summary(args.out):
        log.info(line)
    return 0


def main(argv=None) -> int:
    return stage_main("avstroke run", DESCRIPTION, add_arguments, run, argv,
                      validates_manifest=validates_manifest)


if __name__ == "__main__":
    sys.exit(main())

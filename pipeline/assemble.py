"""``avstroke assemble``: the fused feature table, at recording and at subject level.

Joins ``RUN/features/face.parquet``, ``RUN/features/audio.parquet`` and the metadata of the
validated manifest into ``RUN/features/recordings.parquet`` (one row per recording) and
``RUN/features/table.parquet`` (one row per subject and visit, features spread per task as
``<modality>__<task>__<feature>``). Missing modalities stay missing (NaN) and quality flags stay in
the table. A modality whose stage has not run is left out, with a warning. Syllable repetition
clips (tasks of kind ddk in the run's vocabulary) get the disagreement between their audio syllable
rate and their video movement rate as a column.
"""
from __future__ import annotations

import logging
import sys

import pandas as pd

from core.errors import ConfigError
from features.crosscheck import DISAGREEMENT, ddk_video_disagreement
from features.metadata import metadata_features
from features.table import recording_table, subject_table
from pipeline import cache
from pipeline.recordings import valid_recordings
from pipeline.stage import stage_main
from pipeline.task_file import run_vocabulary

log = logging.getLogger("avstroke")
DESCRIPTION = "Join face, audio and metadata features into one table per recording and per subject."
PARTS = ("face", "audio")


def add_arguments(parser) -> None:
    """No options of its own."""


def run(args) -> int:
    manifest = valid_recordings(args.out)
    if manifest.empty:
        raise ConfigError(f"{args.out}: no recording passed validation, so there is nothing to "
                          f"assemble; the reasons are in {args.out / 'validation.csv'}")
    parts = [metadata_features(manifest)]
    for name in PARTS:
        path = args.out / "features" / f"{name}.parquet"
        if path.is_file():
            parts.append(pd.read_parquet(path))
        else:
            log.warning("assemble: %s not found; %s features are left out", path, name)
    recordings = recording_table(manifest, *parts)
    recordings[DISAGREEMENT.column] = ddk_video_disagreement(recordings, run_vocabulary(args.out))
    subjects = subject_table(recordings)
    cache.write_parquet(recordings, args.out / "features" / "recordings.parquet")
    cache.write_parquet(subjects, args.out / "features" / "table.parquet")
    n_features = sum("__" in c for c in subjects.columns)
    log.info("assemble: %d recordings, %d subject-visits, %d subject-level features (%s)",
             len(recordings), len(subjects), n_features, args.out / "features" / "table.parquet")
    return 0


def main(argv=None) -> int:
    return stage_main("avstroke assemble", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())

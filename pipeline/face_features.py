"""``avstroke face-features``: facial asymmetry and lip/jaw kinematics per recording.

Reads each recording's landmark file, computes the features of ``features.video.face_features``
and writes ``RUN/features/face.parquet`` (one row per recording). Recordings whose landmarks fall
below the quality bar keep their features and are flagged in ``quality__below_bar``. Each
recording's row is cached under ``RUN/cache/face/`` and reused while its landmarks (their cache
key), its task's definition (its ``TaskSpec`` in the run's vocabulary, ``pipeline.task_file``: a
task given another face profile is measured again) and the feature code are unchanged. A
recording without landmarks (the landmarks stage failed on it, say a replaced video shows no face)
loses its row and is listed in ``RUN/errors.csv``.

Where landmarks-train left generic-model tables (``RUN/cache/landmarks_generic/``, a run with
adapted landmarks), the same features are also computed from those into
``RUN/features/face_generic.parquet`` (cached under ``RUN/cache/face_generic/``): the "before" of
the report's before/after comparison. Only ``face.parquet`` goes on to the models.
"""
from __future__ import annotations

import logging
import sys

import pandas as pd

from core.tasks import task_spec
from features.video.face_features import face_features
from features.video.landmarks import landmark_array
from pipeline import cache
from pipeline.recordings import cache_path, drop_outputs, finish, gather, one_row, recomputed, valid_recordings
from pipeline.runner import ItemResult, run_items, summarise
from pipeline.shape_models import GENERIC_KIND
from pipeline.stage import stage_main
from pipeline.task_file import run_vocabulary

DESCRIPTION = "Compute facial asymmetry and lip/jaw kinematics from the landmarks."
CODE_MODULES = ["features.video.face_features", "features.video.normalise", "features.video.signals",
                "features.video.kinematics"]
log = logging.getLogger("avstroke")
KIND = "face"
GENERIC_FACE_KIND = "face_generic"
GENERIC_TABLE = "face_generic.parquet"


def add_arguments(parser) -> None:
    """No options of its own: the feature definitions are fixed and versioned by code."""


def features_one(item: dict) -> ItemResult:
    """Face features of one recording, or its cached row."""
    rid, source, out = item["recording_id"], item["file"], item["out"]
    key = cache.make_key(inputs={"landmarks": cache.stored_key(source)},
                         params={"task": item["task"].definition()}, code=item["code"])
    fresh, problem = cache.freshness(out, key)
    if fresh:
        return ItemResult(rid, "cached", source)
    frames = pd.read_parquet(source)
    row, info = face_features(landmark_array(frames), frames["time_s"].to_numpy(), task=item["task"],
                              face_found=frames["face_found"].to_numpy())
    cache.write_parquet(one_row(row, rid), out, key=key, metadata={"reasons": info.get("reasons", {})})
    return ItemResult(rid, "done", source, warning=recomputed("face features", problem))


def features_of(args, recordings: pd.DataFrame, *, source_kind: str, kind: str, stage: str,
                table: str) -> list[ItemResult]:
    """Face features of every recording from the ``source_kind`` landmark tables into
    ``RUN/cache/<kind>/`` and ``RUN/features/<table>``; one result per recording."""
    vocabulary = run_vocabulary(args.out)
    code = cache.code_digest(CODE_MODULES)
    items, results = [], []
    for r in recordings.itertuples():
        source = cache_path(args.out, source_kind, r.recording_id)
        if not source.is_file():
            results.append(ItemResult(r.recording_id, "skipped", r.video_path, "NoLandmarks",
                                      "no landmarks: the landmarks stage did not produce them"))
            continue
        items.append({"recording_id": r.recording_id, "file": str(source),
                      "task": task_spec(r.task, vocabulary), "code": code,
                      "out": str(cache_path(args.out, kind, r.recording_id))})
    results += run_items(stage, items, features_one, workers=args.workers, dask_address=args.dask)
    drop_outputs(args.out, kind, results)
    cache.write_parquet(gather(args.out, kind, results), args.out / "features" / table)
    return results


def run(args) -> int:
    recordings = valid_recordings(args.out)
    recordings = recordings[recordings["video_path"] != ""]
    results = features_of(args, recordings, source_kind="landmarks", kind=KIND,
                          stage="face-features", table="face.parquet")
    adapted = recordings[[cache_path(args.out, GENERIC_KIND, rid).is_file()
                          for rid in recordings["recording_id"]]]
    if len(adapted):
        before = features_of(args, adapted, source_kind=GENERIC_KIND, kind=GENERIC_FACE_KIND,
                                stage="face-features (generic landmarks)", table=GENERIC_TABLE)
        log.info(summarise("face-features (generic landmarks, for the before/after comparison)",
                           before))
    return finish(args.out, "face-features", results)


def main(argv=None) -> int:
    return stage_main("avstroke face-features", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())

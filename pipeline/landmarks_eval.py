"""``avstroke landmarks-eval``: how far the automatic landmarks are from manual ones.

For every recording with a manual landmark file (``landmarks_path``, NeuroFace ``.txt``) and
tracked landmarks, the annotated frames are matched by frame number and the normalised mean error
(NME, in inter-ocular distances) is computed overall and per point group (jaw, brows, nose, eyes,
lips). Pre-trained landmark models err more on patients' faces (Bandini et al. 2021), so the
summary is broken down by participant group and task.

Writes ``RUN/landmarks_error.parquet`` (one row per recording),
``RUN/landmarks_error_summary.csv`` (by group and task) and ``RUN/landmarks_error.png``. A recording without manual landmarks is
simply not evaluated.

Each row names the shape model the landmarks were fitted with (``shape_model``). An adapted model
(``avstroke landmarks-train``) was trained on these very annotated frames, so its error here is
not held out: ``RUN/landmarks_adaptation.csv`` has the held-out comparison.
"""
from __future__ import annotations

import logging
import sys

import pandas as pd

from core.errors import MediaError
from core.files import atomic_write
from core.spreadsheet import write_csv
from features.video.landmark_error import ERROR_REGIONS, normalised_mean_error, read_neuroface_landmarks
from features.video.landmarks import landmark_array
from pipeline import cache
from pipeline.landmarks_train import ADAPTATION_TABLE
from pipeline.recordings import cache_path, finish, valid_recordings
from pipeline.runner import ItemResult
from pipeline.shape_models import GENERIC
from pipeline.stage import add_shared_argument, stage_main
from reports.figures import landmark_error_figure

log = logging.getLogger("avstroke")
DESCRIPTION = "Measure the landmark error against manual landmarks, by point group, group and task."


def add_arguments(parser) -> None:
    add_shared_argument(parser, "--manual-frame-base", type=int, choices=(0, 1), default=0,
                        help="number of the first video frame in manual landmark files "
                             "(default: %(default)s)")


def recording_error(tracked: pd.DataFrame, manual: pd.DataFrame, *, frame_base: int, file: str) -> dict:
    """NME of one recording's tracked landmarks on its manually annotated frames."""
    frames = manual["frame"].to_numpy().astype(int) - frame_base
    by_frame = tracked.set_index("frame")
    missing = sorted(set(frames) - set(by_frame.index))
    if missing:
        raise MediaError(f"{file}: annotated frame(s) {missing[:5]} are beyond the video's "
                         f"{len(tracked)} frames (check --manual-frame-base)")
    predicted = landmark_array(by_frame.loc[frames].reset_index())
    return normalised_mean_error(predicted, landmark_array(manual))


def summary_by(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean NME per key combination, with the number of recordings and annotated faces."""
    grouped = table.groupby(keys)
    out = grouped[list(ERROR_REGIONS)].mean()
    out["n_recordings"] = grouped.size()
    out["n_faces"] = grouped["n_faces"].sum()
    return out.reset_index()


def run(args) -> int:
    recordings = valid_recordings(args.out)
    recordings = recordings[recordings["landmarks_path"] != ""]
    rows, results = [], []
    for r in recordings.itertuples():
        tracked_path = cache_path(args.out, "landmarks", r.recording_id)
        if not tracked_path.is_file():
            results.append(ItemResult(r.recording_id, "skipped", r.video_path, "NoLandmarks",
                                      "no tracked landmarks to compare"))
            continue
        try:
            tracked = pd.read_parquet(tracked_path)
        except cache.UNREADABLE as exc:  # damaged since the landmarks stage ran; that stage redoes it
            results.append(ItemResult(r.recording_id, "failed", r.video_path, type(exc).__name__,
                                      "its tracked landmarks are unreadable; run landmarks to recompute them"))
            continue
        try:
            error = recording_error(tracked, read_neuroface_landmarks(r.landmarks_path),
                                    frame_base=args.manual_frame_base, file=r.landmarks_path)
        except MediaError as exc:  # a bad annotation file is listed and the others go on
            results.append(ItemResult(r.recording_id, "failed", r.landmarks_path, type(exc).__name__, str(exc)))
            continue
        model = cache.read_parquet_metadata(tracked_path)["shape_model"]["name"]
        rows.append({"recording_id": r.recording_id, "subject_id": r.subject_id, "group": r.group,
                     "task": r.task, "shape_model": model, **error})
        results.append(ItemResult(r.recording_id, "done", r.landmarks_path))
    if not rows:
        log.info("landmarks-eval: no recording has both manual and tracked landmarks; nothing to evaluate")
        return finish(args.out, "landmarks-eval", results)
    table = pd.DataFrame(rows)
    adapted = int((table["shape_model"] != GENERIC).sum())
    if adapted:
        log.info("landmarks-eval: %d of %d recordings were fitted with an adapted model trained on "
                 "these annotated frames; their error here is not held out (see %s)", adapted,
                 len(table), ADAPTATION_TABLE)
    cache.write_parquet(table, args.out / "landmarks_error.parquet")
    summary = pd.concat([summary_by(table, ["group"]).assign(task="all"), summary_by(table, ["group", "task"])])
    write_csv(summary, args.out / "landmarks_error_summary.csv")
    png = landmark_error_figure(summary[summary["task"] == "all"], point_groups=ERROR_REGIONS,
                                title="Landmark error against manual landmarks, by participant group")
    atomic_write(args.out / "landmarks_error.png", lambda tmp: tmp.write_bytes(png))
    for g in summary[summary["task"] == "all"].itertuples():
        log.info("landmarks-eval: %s: NME %.3f of the inter-ocular distance (lips %.3f, jaw %.3f) "
                 "over %d faces", g.group, g.overall, g.lips, g.jaw, g.n_faces)
    return finish(args.out, "landmarks-eval", results)


def main(argv=None) -> int:
    return stage_main("avstroke landmarks-eval", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())

"""``avstroke landmarks``: 68 facial landmarks on every frame of every video.

Writes ``RUN/cache/landmarks/<recording_id>.parquet`` (one row per frame: its time, points in
original pixels, face found, detector score, fit quality, the box the points were fitted in; the
tracking summary and the shape model used in the file's metadata) and
``RUN/landmarks_quality.parquet`` (one row per recording: share of frames with a face, longest
gap, jitter, detections run, shape model). Frame times are clip time, seconds since the video
container's start: the clock the audio stage's times are on (``features.clip_time``). A
recording's file is reused while the video's content, the tracker settings, the shape model (its
SHA-256) and the tracking code (decoding and clock included) are unchanged; when tracking fails
(e.g. a replaced video shows no face) the recording's file is deleted, so no later stage reads
landmarks of the old video.

Shape models
------------
Without ``--shape-models`` every recording is fitted with dlib's generic 68-point model. With
``--shape-models DIR`` (written by ``avstroke landmarks-train``; ``avstroke run --adapt`` trains
into ``RUN/shape_models`` first) each recording is fitted with its subject's model where one
exists and beat the generic model held out, else with the cohort model where that won, else with
the generic one (``pipeline.landmarks_train.model_for``). A recording that keeps the generic
model reuses its generic table from ``RUN/cache/landmarks_generic/`` when landmarks-train made it
under the same key.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pandas as pd

from core.errors import NoFaceError
from core.files import atomic_write
from core.media_writer import write_clip
from features.video.decode import iter_frames
from features.video.dlib_models import predictor_path
from features.video.landmarks import TrackerParams, landmark_array, track_landmarks
from features.video.overlay import draw_landmarks, sample_frames
from pipeline import cache
from pipeline.recordings import cache_path, drop_outputs, finish, recomputed, valid_recordings
from pipeline.runner import ItemResult, run_items
from pipeline.shape_models import GENERIC, GENERIC_KIND, MODELS_DIR, ModelChoice, load_predictor, read_choice
from pipeline.stage import add_shared_argument, stage_main

log = logging.getLogger("avstroke")

DESCRIPTION = "Track 68 facial landmarks on every frame of every video."
CODE_MODULES = ["features.video.landmarks", "features.video.decode", "features.video.dlib_models",
                "features.clip_time"]
KIND = "landmarks"
OVERLAY_FRAMES = 6
OVERLAY_CLIP_FRAMES = 150


def add_tracker_arguments(parser) -> None:
    """The tracker settings, shared with landmarks-train (which tracks with the generic model)."""
    defaults = TrackerParams()
    add_shared_argument(parser, "--detect-scale", type=float, default=defaults.detect_scale,
                        help="shrink factor of frames for face detection (default: %(default)s)")
    add_shared_argument(parser, "--redetect-every", type=int, default=defaults.redetect_every,
                        help="frames between scheduled full detections (default: %(default)s)")
    add_shared_argument(parser, "--smoothing-window", type=int, default=defaults.smoothing_window,
                        help="Savitzky-Golay window in frames for landmark smoothing "
                             "(default: none, which keeps speeds and asymmetry unsmoothed)")
    add_shared_argument(parser, "--interpolate-max-gap", type=int,
                        default=defaults.interpolate_max_gap,
                        help="fill no-face gaps up to this many frames, flagged as interpolated "
                             "(default: %(default)s)")


def add_arguments(parser) -> None:
    add_tracker_arguments(parser)
    parser.add_argument("--overlays", action="store_true",
                        help="also draw the landmarks on sampled frames and a short clip per recording "
                             "under RUN/overlays/ for checking by eye (identifiable images)")
    parser.add_argument("--shape-models", type=Path, default=None, metavar="DIR",
                        help="shape models from `avstroke landmarks-train` (its RUN/shape_models): "
                             "each recording is fitted with its subject's or the cohort's model "
                             "where that beat the generic model held out (default: the generic "
                             "model everywhere)")


def tracker_params(args) -> TrackerParams:
    """Tracker settings from the command line."""
    return TrackerParams(detect_scale=args.detect_scale, redetect_every=args.redetect_every,
                         smoothing_window=args.smoothing_window,
                         interpolate_max_gap=args.interpolate_max_gap)


def generic_choice() -> ModelChoice:
    """dlib's generic 68-point model, named by the SHA-256 of its file like an adapted one."""
    return ModelChoice(name=GENERIC, file="", sha256=cache.file_digest(predictor_path()),
                       reason="no adapted model given")


def tracking_key(item: dict) -> str:
    """Cache key of one recording's landmarks: video content, tracker settings, shape model and
    tracking code."""
    return cache.make_key(inputs={"video": cache.file_digest(item["file"]),
                                  "shape_model": item["model"]["sha256"]},
                          params=item["params"], code=item["code"])


def track_one(item: dict, *, frames: Iterator | None = None) -> ItemResult:
    """Track one video with the item's shape model, or find its landmarks up to date.

    ``frames`` replaces decoding the item's video (``iter_frames`` of it) when the video has to
    be tracked, for a caller that looks at the frames on the way; it is not read otherwise."""
    rid, path, out, model = item["recording_id"], item["file"], item["out"], item["model"]
    key = tracking_key(item)
    fresh, problem = cache.freshness(out, key)
    if fresh:
        return ItemResult(rid, "cached", path)
    reuse = item.get("reuse", "")
    if reuse and cache.freshness(reuse, key)[0]:
        atomic_write(out, lambda tmp: tmp.write_bytes(Path(reuse).read_bytes()))
        return ItemResult(rid, "done", path, warning=recomputed("landmarks", problem))
    predictor = load_predictor(model["file"], model["sha256"]) if model["file"] else None
    table, info = track_landmarks(frames if frames is not None else iter_frames(path),
                                  params=TrackerParams(**item["params"]),
                                  predictor=predictor)
    if info["face_share"] == 0:
        raise NoFaceError(f"no face found in any of the video's {info['n_frames']} frames")
    cache.write_parquet(table, out, key=key,
                        metadata={"info": info, "shape_model": {"name": model["name"],
                                                                "sha256": model["sha256"]}})
    return ItemResult(rid, "done", path, warning=recomputed("landmarks", problem))


def tracking_items(run_dir: Path, recordings: pd.DataFrame, *, kind: str, params: dict,
                   choices: dict) -> list[dict]:
    """One tracking item per recording; ``choices`` maps recording_id to its ``ModelChoice``."""
    code = cache.code_digest(CODE_MODULES)
    return [{"recording_id": r.recording_id, "file": r.video_path, "params": params,
             "code": code, "model": dataclasses.asdict(choices[r.recording_id]),
             "out": str(cache_path(run_dir, kind, r.recording_id)),
             "reuse": str(cache_path(run_dir, GENERIC_KIND, r.recording_id))}
            for r in recordings.itertuples()]


def shape_models_dir(args) -> Path | None:
    """The shape models to use: ``--shape-models``, or the run's own under ``run --adapt``."""
    if args.shape_models is not None:
        return args.shape_models
    return args.out / MODELS_DIR if getattr(args, "adapt", False) else None


def write_overlays(video: str, landmarks_file: Path, folder: Path) -> None:
    """Sampled frames (PNG) and the first seconds (AVI) of a video with its landmarks drawn."""
    table = pd.read_parquet(landmarks_file)
    points = landmark_array(table)
    chosen = set(sample_frames(len(table), OVERLAY_FRAMES).tolist())
    clip_frames, fps = [], 25.0
    for index, time_s, rgb in iter_frames(video, gray=False):
        if index >= len(table):
            break
        label = f"frame {index}  {time_s:.2f} s"
        if index in chosen:
            png = cv2.imencode(".png", cv2.cvtColor(draw_landmarks(rgb, points[index], label=label),
                                                    cv2.COLOR_RGB2BGR))[1].tobytes()
            atomic_write(folder / f"frame_{index:05d}.png", lambda tmp, data=png: tmp.write_bytes(data))
        if index < OVERLAY_CLIP_FRAMES:
            even = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]  # H.264 needs even sizes
            clip_frames.append(draw_landmarks(even, points[index], label=label))
    if len(table) > 1:
        fps = 1.0 / float(np.median(np.diff(table["time_s"].to_numpy())))
    if clip_frames:
        height, width = clip_frames[0].shape[:2]
        write_clip(folder / "clip.avi", iter(clip_frames), fps=round(fps, 3), size=(width, height),
                   audio=None, audio_rate=0)
    atomic_write(folder.parent / "IDENTIFIABLE.txt", lambda tmp: tmp.write_text(
        "These images show participants' faces and identify them. Do not share them outside the "
        "research team; they are never copied into exports or reports.\n"))


def quality_table(run_dir, recording_ids: list[str]) -> pd.DataFrame:
    """Per-recording tracking summaries read back from the landmark files."""
    rows = []
    for rid in recording_ids:
        stored = cache.read_parquet_metadata(cache_path(run_dir, KIND, rid))
        rows.append({"recording_id": rid,
                     **{k: v for k, v in stored["info"].items() if k not in ("params", "mode")},
                     "shape_model": stored["shape_model"]["name"]})
    return pd.DataFrame(rows)


def run(args) -> int:
    recordings = valid_recordings(args.out)
    recordings = recordings[recordings["video_path"] != ""]
    params = dataclasses.asdict(tracker_params(args))
    models = shape_models_dir(args)
    if models is None:
        generic = generic_choice()
        choices = {rid: generic for rid in recordings["recording_id"]}
    else:
        choices = read_choice(models).for_recordings(recordings, generic_choice())
        used = pd.Series([c.name for c in choices.values()])
        log.info("landmarks: shape models from %s: %d recordings with their subject's model, %d "
                 "with the cohort model, %d with the generic model", models,
                 used.str.startswith("subject_").sum(), (used == "cohort").sum(),
                 (used == GENERIC).sum())
    items = tracking_items(args.out, recordings, kind=KIND, params=params, choices=choices)
    results = run_items("landmarks", items, track_one, workers=args.workers, dask_address=args.dask)
    drop_outputs(args.out, KIND, results)
    ok = [r.recording_id for r in results if r.status in ("done", "cached")]
    cache.write_parquet(quality_table(args.out, ok), args.out / "landmarks_quality.parquet")
    if args.overlays:
        for r in recordings.itertuples():
            if r.recording_id in ok:
                write_overlays(r.video_path, cache_path(args.out, KIND, r.recording_id),
                               args.out / "overlays" / r.recording_id)
        log.info("landmarks: overlays for %d recordings in %s (identifiable images)", len(ok), args.out / "overlays")
    return finish(args.out, "landmarks", results)


def main(argv=None) -> int:
    return stage_main("avstroke landmarks", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())

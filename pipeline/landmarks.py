"""``avstroke landmarks``: 68 facial landmarks on every frame of every video.

Writes ``RUN/cache/landmarks/<recording_id>.parquet`` (one row per frame: its time, points in
original pixels, face found, detector score, fit quality; the tracking summary in the file's
metadata) and ``RUN/landmarks_quality.parquet`` (one row per recording: share of frames with a
face, longest gap, jitter, detections run). Frame times are clip time, seconds since the video
container's start: the clock the audio stage's times are on (``features.clip_time``). A
recording's file is reused while the video's content, the tracker settings and the tracking code
(decoding and clock included) are unchanged; when tracking fails (e.g. a replaced video shows no
face) the recording's file is deleted, so no later stage reads landmarks of the old video.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from features.video.decode import iter_frames
from features.video.landmarks import TrackerParams, landmark_array, track_landmarks
from features.video.overlay import draw_landmarks, sample_frames
from pipeline import cache
from pipeline.errors import NoFaceError
from pipeline.recordings import cache_path, drop_outputs, finish, recomputed, valid_recordings
from pipeline.runner import ItemResult, run_items
from pipeline.phantom.writer import write_clip
from pipeline.stage import stage_main

log = logging.getLogger("avstroke")

DESCRIPTION = "Track 68 facial landmarks on every frame of every video."
CODE_MODULES = ["features.video.landmarks", "features.video.decode", "features.video.dlib_models",
                "features.clip_time"]
KIND = "landmarks"
OVERLAY_FRAMES = 6
OVERLAY_CLIP_FRAMES = 150


def add_arguments(parser) -> None:
    defaults = TrackerParams()
    parser.add_argument("--detect-scale", type=float, default=defaults.detect_scale,
                        help="shrink factor of frames for face detection (default: %(default)s)")
    parser.add_argument("--redetect-every", type=int, default=defaults.redetect_every,
                        help="frames between scheduled full detections (default: %(default)s)")
    parser.add_argument("--smoothing-window", type=int, default=defaults.smoothing_window,
                        help="Savitzky-Golay window in frames for landmark smoothing "
                             "(default: none, which keeps speeds and asymmetry unsmoothed)")
    parser.add_argument("--overlays", action="store_true",
                        help="also draw the landmarks on sampled frames and a short clip per recording "
                             "under RUN/overlays/ for checking by eye (identifiable images)")
    parser.add_argument("--interpolate-max-gap", type=int, default=defaults.interpolate_max_gap,
                        help="fill no-face gaps up to this many frames, flagged as interpolated "
                             "(default: %(default)s)")


def tracker_params(args) -> TrackerParams:
    """Tracker settings from the command line."""
    return TrackerParams(detect_scale=args.detect_scale, redetect_every=args.redetect_every,
                         smoothing_window=args.smoothing_window,
                         interpolate_max_gap=args.interpolate_max_gap)


def track_one(item: dict) -> ItemResult:
    """Track one video, or find its landmarks up to date."""
    rid, path, out = item["recording_id"], item["file"], item["out"]
    key = cache.make_key(inputs={"video": cache.file_digest(path)}, params=item["params"],
                         code=item["code"])
    fresh, problem = cache.freshness(out, key)
    if fresh:
        return ItemResult(rid, "cached", path)
    table, info = track_landmarks(iter_frames(path), params=TrackerParams(**item["params"]))
    if info["face_share"] == 0:
        raise NoFaceError(f"no face found in any of the video's {info['n_frames']} frames")
    cache.write_parquet(table, out, key=key, metadata={"info": info})
    return ItemResult(rid, "done", path, warning=recomputed("landmarks", problem))


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
            cache.atomic_write(folder / f"frame_{index:05d}.png", lambda tmp, data=png: tmp.write_bytes(data))
        if index < OVERLAY_CLIP_FRAMES:
            even = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]  # H.264 needs even sizes
            clip_frames.append(draw_landmarks(even, points[index], label=label))
    if len(table) > 1:
        fps = 1.0 / float(np.median(np.diff(table["time_s"].to_numpy())))
    if clip_frames:
        height, width = clip_frames[0].shape[:2]
        write_clip(folder / "clip.avi", iter(clip_frames), fps=round(fps, 3), size=(width, height),
                   audio=None, audio_rate=0)
    cache.atomic_write(folder.parent / "IDENTIFIABLE.txt", lambda tmp: tmp.write_text(
        "These images show participants' faces and identify them. Do not share them outside the "
        "research team; they are never copied into exports or reports.\n"))


def quality_table(run_dir, recording_ids: list[str]) -> pd.DataFrame:
    """Per-recording tracking summaries read back from the landmark files."""
    rows = []
    for rid in recording_ids:
        info = cache.read_parquet_metadata(cache_path(run_dir, KIND, rid))["info"]
        rows.append({"recording_id": rid, **{k: v for k, v in info.items() if k not in ("params", "mode")}})
    return pd.DataFrame(rows)


def run(args) -> int:
    recordings = valid_recordings(args.out)
    recordings = recordings[recordings["video_path"] != ""]
    params = dataclasses.asdict(tracker_params(args))
    code = cache.code_digest(CODE_MODULES)
    items = [{"recording_id": r.recording_id, "file": r.video_path, "params": params, "code": code,
              "out": str(cache_path(args.out, KIND, r.recording_id))} for r in recordings.itertuples()]
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

"""Time and memory of training one shape model on a NeuroFace-size set (3,300 annotated frames).

Usage::

    .venv/bin/python benchmarks/shape_training.py [--phantom data/phantom_truth]
                                                  [--run runs/phantom_truth] [--frames 3300]

NeuroFace annotates 3,306 frames. The truth cohort that ``benchmarks/phantom_truth.py`` builds has
about a thousand annotated frames, but its truth holds the landmarks of every frame, so this
script takes ``--frames`` frames spread evenly over its clips, each with its true landmarks and
the box the generic tracker fitted in there (``cache/landmarks_generic``), and trains one model
on them with the default options of ``avstroke landmarks-train`` on two threads, as its cohort
model would be trained. It prints the wall time of the training, the peak memory of the process
(frames held as crops, mirror images included), the model's error on 200 other frames, and the
tracking speed of one clip with the generic and with the trained model (frames per CPU-second of
this process, decoding included; the issue's bar: within 10% of the generic model's).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from features.video.decode import iter_frames  # noqa: E402
from features.video.landmark_error import face_errors  # noqa: E402
from features.video.landmarks import BOX_COLUMNS, landmark_array, track_landmarks  # noqa: E402
from features.video.shape_training import (ShapeTrainingOptions, crop_face, fit_faces,  # noqa: E402
                                           train_predictor)

HELD_OUT = 200
SPEED_REPEATS = 3


def tracking_speed(video: str, predictor) -> float:
    """Frames per CPU-second of tracking ``video`` (best of ``SPEED_REPEATS``)."""
    best = 0.0
    for _ in range(SPEED_REPEATS):
        start = time.process_time()
        table, _ = track_landmarks(iter_frames(video), predictor=predictor)
        best = max(best, len(table) / (time.process_time() - start))
    return best


def frames_of(phantom: Path, run: Path, n_frames: int) -> list:
    """``n_frames`` faces spread evenly over the clips, true landmarks and the tracker's box."""
    clips = sorted((run / "cache" / "landmarks_generic").glob("*.parquet"))
    per_clip = int(np.ceil(n_frames / len(clips)))
    manifest = pd.read_parquet(run / "manifest.validated.parquet").set_index("recording_id")
    faces = []
    for clip in clips:
        rid = clip.stem
        tracked = pd.read_parquet(clip)
        truth = landmark_array(pd.read_parquet(phantom / "truth" / "landmarks" / f"{rid}.parquet"))
        boxes = tracked[BOX_COLUMNS].to_numpy()
        usable = np.flatnonzero(np.isfinite(boxes).all(axis=1))
        wanted = set(usable[np.linspace(0, len(usable) - 1, per_clip).round().astype(int)].tolist())
        generic = landmark_array(tracked)
        for index, _, gray in iter_frames(manifest.loc[rid, "video_path"]):
            if index in wanted:
                faces.append(crop_face(gray, boxes[index], truth[index], generic[index],
                                       recording_id=rid, frame=index))
    return faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantom", type=Path, default=REPO / "data" / "phantom_truth")
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "phantom_truth")
    parser.add_argument("--frames", type=int, default=3300)
    args = parser.parse_args()
    faces = frames_of(args.phantom, args.run, args.frames + HELD_OUT)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(faces))
    test = [faces[k] for k in order[:HELD_OUT]]
    train = [faces[k] for k in order[HELD_OUT:HELD_OUT + args.frames]]
    options = ShapeTrainingOptions()
    predictor, info = train_predictor(train, options, threads=2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    truth = np.stack([f.points for f in test])
    generic = face_errors(np.stack([f.generic for f in test]), truth).mean()
    adapted = face_errors(fit_faces(predictor, test), truth).mean()
    print(f"{info['faces']} frames ({info['training_faces']} with mirror images, oversampling "
          f"{info['oversampling']}) trained in {info['seconds']:.0f} s on 2 threads; peak memory "
          f"{peak:.0f} MiB; options {options}")
    print(f"error against the truth on {HELD_OUT} frames of the same clips it did not train on: "
          f"generic {generic['overall']:.4f} (lips {generic['lips']:.4f}), adapted "
          f"{adapted['overall']:.4f} (lips {adapted['lips']:.4f}) inter-ocular distances")
    manifest = pd.read_parquet(args.run / "manifest.validated.parquet").set_index("recording_id")
    video = manifest.loc[test[0].recording_id, "video_path"]
    generic_fps, adapted_fps = tracking_speed(video, None), tracking_speed(video, predictor)
    print(f"tracking {test[0].recording_id}: generic model {generic_fps:.0f} frames per CPU-second, "
          f"trained model {adapted_fps:.0f} ({100 * (adapted_fps / generic_fps - 1):+.0f}%)")


if __name__ == "__main__":
    main()

"""Speed and memory of video decoding and 68-point landmarking, and tracked-vs-reference agreement.

Run from the repository root::

    taskset -c 0 .venv/bin/python benchmarks/bench_landmarks.py [--video PATH] [--params JSON]

Without ``--video`` the input is a GRID clip (../shared/realdata/video/grid/bbaf2n.mpg: one
speaker, real head and lip motion) upscaled to 640x480 (the NeuroFace frame size) and played
forward then backward four times (600 frames, no cuts) so timings rest on more than the clip's 3 s;
it is written to a temporary folder and deleted afterwards (``--passes`` sets the length).

Each mode runs in its own process, so each peak-memory figure (``VmHWM``; for the landmark
modes it includes the dlib models, loaded before timing starts) belongs to that mode alone, and
"growth" is how much the peak rose while the video was processed: ``decode`` (frames decoded to
grayscale), ``detect`` (``detect_every_frame``) and ``tracked`` (``track_landmarks``). Speed is
reported as frames per CPU-second of the worker process (frames per second per core: pin it to
one core with ``taskset -c 0``) and as frames per wall-clock second; model loading is excluded.
Finally the mean landmark distance (pixels) between the tracked and the detect-every-frame
results is printed, over frames where both found a face.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from features.video.decode import iter_frames  # noqa: E402
from peak_memory import peak_rss_mb  # noqa: E402
from features.video.dlib_models import face_detector, shape_predictor  # noqa: E402
from features.video.landmarks import (TrackerParams, detect_every_frame,  # noqa: E402
                                      landmark_array, track_landmarks)
from pipeline.media import probe  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "realdata" / "video" / "grid" / "bbaf2n.mpg"
SIZE = (640, 480)
PING_PONG_PASSES = 4
MODES = ("decode", "detect", "tracked")


def write_upscaled_clip(source: Path, destination: Path, *, size=SIZE,
                        passes: int = PING_PONG_PASSES) -> Path:
    """Upscale ``source`` to ``size`` and play it forward then backward ``passes`` times (H.264)."""
    import av
    import cv2

    frames = [cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
              for _, _, rgb in iter_frames(source, gray=False)]
    sequence = []
    for _ in range(passes):
        sequence += frames + frames[-2:0:-1]
    fps = Fraction(probe(source).fps).limit_denominator(1000)
    with av.open(str(destination), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps,
                                      options={"crf": "18", "preset": "fast", "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index, rgb in enumerate(sequence):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return destination


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_mode(video: Path, mode: str, params: TrackerParams, points_out: Path | None) -> dict:
    """Time one mode in this process; optionally save its landmarks as .npy."""
    if mode != "decode":
        face_detector()
        shape_predictor()
    rss_before = peak_rss_mb()
    wall0, cpu0 = time.perf_counter(), _cpu_s()
    if mode == "decode":
        n_frames = sum(1 for _ in iter_frames(video))
        table, info = None, {}
    else:
        engine = detect_every_frame if mode == "detect" else track_landmarks
        table, info = engine(iter_frames(video), params=params)
        n_frames = len(table)
    wall, cpu = time.perf_counter() - wall0, _cpu_s() - cpu0
    if table is not None and points_out is not None:
        np.save(points_out, landmark_array(table))
    return {"mode": mode, "frames": n_frames, "wall_s": wall, "cpu_s": cpu,
            "fps_per_core": n_frames / cpu, "fps_wall": n_frames / wall,
            "peak_rss_mb": peak_rss_mb(), "rss_growth_mb": peak_rss_mb() - rss_before,
            "face_share": info.get("face_share"), "n_detections": info.get("n_detections"),
            "jitter_iod": info.get("jitter_iod")}


def _child(video: Path, mode: str, params_json: str, points_out: Path) -> dict:
    command = [sys.executable, __file__, "--video", str(video), "--mode", mode,
               "--params", params_json, "--points-out", str(points_out)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="video to measure (default: upscaled GRID clip)")
    parser.add_argument("--params", default="{}", help="TrackerParams fields as JSON")
    parser.add_argument("--passes", type=int, default=PING_PONG_PASSES,
                        help="forward-backward passes of the default clip (75 frames each way)")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--points-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    params = TrackerParams(**json.loads(args.params))
    if args.mode:
        print(json.dumps(run_mode(args.video, args.mode, params, args.points_out)))
        return

    with tempfile.TemporaryDirectory(prefix="bench_landmarks_") as tmp:
        tmp = Path(tmp)
        video = args.video
        if video is None:
            if not DEFAULT_CLIP.is_file():
                sys.exit(f"default clip {DEFAULT_CLIP} not found; pass --video PATH")
            video = write_upscaled_clip(DEFAULT_CLIP, tmp / "grid_640x480.mp4", passes=args.passes)
        info = probe(video)
        name = args.video or f"{DEFAULT_CLIP.name} upscaled, ping-pong x{args.passes}"
        print(f"video: {name} ({info.width}x{info.height}, {info.n_frames} frames, "
              f"{info.fps:.2f} fps, {info.video_codec})")
        print(f"params: {params}")
        results = {mode: _child(video, mode, args.params, tmp / f"{mode}.npy") for mode in MODES}
        print(f"{'mode':<8} {'frames':>6} {'fps/core':>9} {'fps wall':>9} {'peak MB':>8} "
              f"{'growth':>7} {'faces':>6} {'detections':>10} {'jitter':>8}")
        for result in results.values():
            extra = ("" if result["mode"] == "decode" else
                     f" {result['face_share']:>6.3f} {result['n_detections']:>10d} "
                     f"{result['jitter_iod']:>8.4f}")
            print(f"{result['mode']:<8} {result['frames']:>6d} {result['fps_per_core']:>9.1f} "
                  f"{result['fps_wall']:>9.1f} {result['peak_rss_mb']:>8.1f} "
                  f"{result['rss_growth_mb']:>7.1f}{extra}")
        tracked, detected = np.load(tmp / "tracked.npy"), np.load(tmp / "detect.npy")
        both = np.isfinite(tracked[:, 0, 0]) & np.isfinite(detected[:, 0, 0])
        distance = np.linalg.norm(tracked[both] - detected[both], axis=-1)
        print(f"tracked vs detect-every-frame: mean {distance.mean():.3f} px, "
              f"95th percentile {np.percentile(distance, 95):.3f} px, max {distance.max():.2f} px "
              f"over {int(both.sum())} frames with a face in both")


if __name__ == "__main__":
    main()

"""Video decoding, 68-point landmark tracking, and landmark error against manual annotations."""
from __future__ import annotations

import math
import wave
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest
from scipy.signal import find_peaks

from core.errors import ConfigError, MediaError
from core.ibug68 import POINT_GROUPS, inter_ocular_px
from features.video.decode import iter_frames
from features.video.dlib_models import fit_still_image
from features.video.landmark_error import (normalised_mean_error, read_ibug_pts,
                                           read_neuroface_landmarks)
from features.video.landmarks import (BOX_COLUMNS, COLUMNS, X_COLUMNS, Y_COLUMNS, TrackerParams,
                                      appearance_change, box_from_points, box_iou, box_relation,
                                      detect_every_frame, face_patch, interpolate_gaps,
                                      landmark_array, redetection_scale, smooth_landmarks,
                                      track_landmarks, tracking_summary)
from pipeline.media import probe
from tests.conftest import realdata

GRID_CLIPS = ("bbaf2n", "brbk7n", "lbax4n", "lbbc2a", "lrwp9a", "lwbsza")


def write_gray_clip(path: Path, images, *, pts_ms=None, fps: int = 25) -> Path:
    """H.264 clip of grayscale images (stored as RGB), optionally with explicit timestamps in ms."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps,
                                      options={"crf": "10", "bf": "0", "threads": "1"})
        height, width = images[0].shape
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if pts_ms is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for index, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.dstack([image] * 3), format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[index], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def ramp(width: int, height: int, shift: int) -> np.ndarray:
    row = np.linspace(16, 240, width).astype(np.uint8)
    return np.ascontiguousarray(np.roll(np.tile(row, (height, 1)), shift, axis=1))


# --------------------------------------------------------------------------------- decoding


def test_probe_and_iter_frames_read_back_a_known_clip(tmp_path):
    images = [ramp(64, 48, 4 * k) for k in range(10)]
    path = write_gray_clip(tmp_path / "ramp.mp4", images, fps=25)
    info = probe(path)
    assert (info.fps, info.n_frames, info.width, info.height) == (25.0, 10, 64, 48)
    assert info.video_codec == "h264" and not info.has_audio
    assert info.video_duration_s == pytest.approx(0.4, abs=0.05)

    decoded = list(iter_frames(path))
    assert [index for index, _, _ in decoded] == list(range(10))
    assert [t for _, t, _ in decoded] == pytest.approx([k / 25 for k in range(10)])
    for (_, _, gray), image in zip(decoded, images):
        assert gray.dtype == np.uint8 and gray.shape == (48, 64) and gray.flags["C_CONTIGUOUS"]
        # limited-range luma is stretched back: without it the mean error would be ~8 grey levels
        assert np.abs(gray.astype(int) - image).mean() < 2.0
    rgb = next(iter_frames(path, gray=False))[2]
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - images[0][..., None]).mean() < 3.0


def test_iter_frames_uses_timestamps_of_variable_frame_rate(tmp_path):
    pts_ms = [0, 40, 100, 120, 200, 260, 300, 400]
    images = [np.full((48, 64), 20 + 25 * k, np.uint8) for k in range(len(pts_ms))]
    path = write_gray_clip(tmp_path / "vfr.mkv", images, pts_ms=pts_ms)
    decoded = list(iter_frames(path))
    assert [t for _, t, _ in decoded] == pytest.approx([ms / 1000 for ms in pts_ms])
    # the frames are the ones written at those times, in order
    assert [int(round(gray.mean())) for _, _, gray in decoded] == pytest.approx(
        [20 + 25 * k for k in range(len(pts_ms))], abs=2)


def test_decode_errors_name_the_file(tmp_path):
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"RIFF\x00\x00not a video at all" * 10)
    with pytest.raises(MediaError, match="broken.avi"):
        probe(broken)
    with pytest.raises(MediaError, match="broken.avi"):
        list(iter_frames(broken))
    with pytest.raises(MediaError, match="missing.mp4: file not found"):
        probe(tmp_path / "missing.mp4")
    sound = tmp_path / "sound.wav"
    with wave.open(str(sound), "wb") as handle:
        handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(8000)
        handle.writeframes(np.zeros(800, np.int16).tobytes())
    assert not probe(sound).has_video
    with pytest.raises(MediaError, match="sound.wav: has no video stream"):
        next(iter_frames(sound))


# --------------------------------------------------------------------------------- geometry


def _face_points(rng=None) -> np.ndarray:
    """A plausible 68-point face (the mean iBUG layout is not needed: any spread points do)."""
    rng = rng or np.random.default_rng(0)
    return np.column_stack([rng.uniform(200, 300, 68), rng.uniform(150, 270, 68)])


def test_box_relation_round_trips_and_follows_the_face():
    import dlib

    points = _face_points()
    box = dlib.rectangle(190, 140, 369, 319)
    relation = box_relation(box, points)
    again = box_from_points(points, relation)
    assert abs(again.left() - box.left()) <= 1 and abs(again.top() - box.top()) <= 1
    assert abs(again.width() - box.width()) <= 1
    # translate and scale the face about the origin: the box does the same
    moved = box_from_points(points * 1.5 + [30, -20], relation)
    assert moved.width() == pytest.approx(box.width() * 1.5, abs=1)
    assert moved.left() == pytest.approx(box.left() * 1.5 + 30, abs=1)
    assert moved.top() == pytest.approx(box.top() * 1.5 - 20, abs=1)


def test_box_iou_known_values():
    import dlib

    a = dlib.rectangle(0, 0, 9, 9)
    assert box_iou(a, a) == 1.0
    assert box_iou(a, dlib.rectangle(5, 0, 14, 9)) == pytest.approx(50 / 150)
    assert box_iou(a, dlib.rectangle(20, 20, 29, 29)) == 0.0


def test_appearance_change_scale():
    import dlib

    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (120, 160)).astype(np.uint8)
    box = dlib.rectangle(40, 20, 119, 99)
    patch = face_patch(image, box, size=16)
    assert np.linalg.norm(patch) == pytest.approx(1.0, abs=1e-5)
    assert appearance_change(patch, patch) == pytest.approx(0.0, abs=1e-6)
    inverted = face_patch(255 - image, box, size=16)
    assert appearance_change(patch, inverted) == pytest.approx(2.0, abs=1e-3)  # uint8 rounding
    flat = face_patch(np.full_like(image, 77), box, size=16)
    assert appearance_change(patch, flat) == pytest.approx(1.0)
    # a box hanging over the edge still gives a full-size patch
    assert face_patch(image, dlib.rectangle(-30, -30, 49, 49), size=16).shape == (16, 16)


def test_redetection_scale_keeps_small_faces_detectable():
    params = TrackerParams(detect_scale=0.5)
    assert redetection_scale(400, params=params) == 0.5
    assert redetection_scale(125, params=params) == pytest.approx(0.8)
    assert redetection_scale(60, params=params) == 1.0


@pytest.mark.parametrize("field, value", [
    ("detect_scale", 0.0), ("detect_scale", 1.5), ("upsample", -1), ("upsample", 0.5),
    ("redetect_every", 0), ("max_fit_quality", 0.0), ("max_fit_quality", 2.0),
    ("max_scale_change", 0.0), ("min_box_overlap", 0.0), ("redetect_margin", -0.1),
    ("appearance_patch_px", 2), ("smoothing_window", 4), ("smoothing_window", 1),
    ("interpolate_max_gap", -1), ("detect_scale", "0.5"), ("redetect_every", True),
])
def test_tracker_params_reject_bad_values(field, value):
    with pytest.raises(ConfigError, match=field):
        TrackerParams(**{field: value})
    with pytest.raises(ConfigError, match="smoothing_polyorder"):
        TrackerParams(smoothing_window=5, smoothing_polyorder=5)


# --------------------------------------------------------------------------------- tables


def _table(found, times=None, *, value=None) -> pd.DataFrame:
    """A landmark table where point k of frame i sits at (value[i] + k, 2 * value[i] - k)."""
    found = np.asarray(found, bool)
    n = len(found)
    times = np.arange(n) * 0.04 if times is None else np.asarray(times, float)
    value = np.arange(n, dtype=float) if value is None else np.asarray(value, float)
    k = np.arange(68)
    xs = value[:, None] + k
    ys = 2 * value[:, None] - k
    xs[~found], ys[~found] = np.nan, np.nan
    table = pd.DataFrame(np.hstack([xs, ys]), columns=X_COLUMNS + Y_COLUMNS)
    table.insert(0, "time_s", times)
    table.insert(0, "frame", np.arange(n))
    table["face_found"] = found
    table["detected"] = False
    table["detector_score"] = np.nan
    table["fit_quality"] = np.where(found, 0.0, np.nan)
    table["interpolated"] = False
    for column in BOX_COLUMNS:
        table[column] = np.where(found, 0.0, np.nan)
    return table[COLUMNS]


def test_interpolate_gaps_is_linear_in_time_and_respects_limits():
    found = [1, 0, 0, 1, 0, 0, 0, 1, 1, 0]
    times = [0.0, 0.1, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    value = [0, 0, 0, 10, 0, 0, 0, 20, 20, 0]
    filled = interpolate_gaps(_table(found, times, value=value), max_gap=2)
    # frames 1-2 lie at 20% and 80% of the way from t=0.0 to t=0.5
    assert filled.loc[1, "x0"] == pytest.approx(2.0) and filled.loc[2, "x0"] == pytest.approx(8.0)
    assert filled.loc[2, "y5"] == pytest.approx(2 * 8.0 - 5)
    assert filled["interpolated"].tolist() == [False, True, True] + [False] * 7
    assert filled.loc[4:6, "x0"].isna().all()  # a 3-frame gap is longer than max_gap
    assert np.isnan(filled.loc[9, "x0"])  # no face after the last gap
    assert not filled["face_found"][[1, 2]].any()


def test_smoothing_keeps_quadratic_motion_and_reduces_noise():
    n = 40
    t = np.arange(n, dtype=float)
    quadratic = 0.05 * t ** 2 - t
    table = _table(np.ones(n, bool), value=quadratic)
    smoothed = smooth_landmarks(table, window=7, polyorder=2)
    assert np.allclose(smoothed[X_COLUMNS + Y_COLUMNS], table[X_COLUMNS + Y_COLUMNS])
    noisy = _table(np.ones(n, bool), value=quadratic + np.random.default_rng(2).normal(0, 1, n))
    residual_before = np.abs(noisy["x0"] - (quadratic)).mean()
    residual_after = np.abs(smooth_landmarks(noisy, window=7, polyorder=2)["x0"] - quadratic).mean()
    assert residual_after < 0.7 * residual_before
    # a run shorter than the window is left alone
    short = _table([1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1],
                   value=np.random.default_rng(3).normal(0, 1, 11))
    out = smooth_landmarks(short, window=7, polyorder=2)
    assert np.allclose(out.loc[:2, X_COLUMNS], short.loc[:2, X_COLUMNS])
    assert not np.allclose(out.loc[4:, X_COLUMNS], short.loc[4:, X_COLUMNS])


def test_tracking_summary_known_values():
    found = [1, 1, 0, 0, 0, 1, 1, 1, 0, 0]
    times = [0.0, 0.04, 0.08, 0.12, 0.2, 0.24, 0.28, 0.32, 0.36, 0.40]
    table = _table(found, times, value=np.arange(10, dtype=float))
    table.loc[[0, 5], "detected"] = True
    info = tracking_summary(table, params=TrackerParams(), mode="tracked")
    assert info["face_share"] == pytest.approx(0.5)
    assert info["longest_gap_frames"] == 3
    assert info["longest_gap_s"] == pytest.approx(0.24 - 0.08)
    assert info["n_detections"] == 2
    # every point moves by (1, 2) px per frame; the outer eye corners are (9, -9) px apart
    assert info["jitter_iod"] == pytest.approx(math.sqrt(5) / (9 * math.sqrt(2)))
    assert info["params"]["redetect_every"] == 25


def test_a_table_of_several_chunks_keeps_every_frame_and_its_whole_pixels_exactly():
    import dlib

    from features.video import landmarks as module

    n = 2 * module._CHUNK_ROWS + 5
    k = np.arange(68)

    def step_of(index):
        # frames 10, 2048 and 2049 (either side of a chunk edge) have no face
        if index in (10, 2048, 2049):
            return module._FrameResult(None, True, math.nan, math.nan)
        points = np.stack([600.0 + index % 7 + k, 400.0 - k + index % 3], axis=-1)
        return module._FrameResult(points, index % 25 == 0, 1.5, 0.25,
                                   dlib.rectangle(index % 11, 2, 300, 301))

    indices = iter(range(n))
    frames = ((i, 0.02 * i + 0.5, np.zeros((4, 4), np.uint8)) for i in range(n))
    table, info = module._run(frames, lambda gray: step_of(next(indices)), TrackerParams(),
                              mode="tracked")
    assert len(table) == n and list(table.columns) == COLUMNS
    assert table["frame"].tolist() == list(range(n))
    assert np.array_equal(table["time_s"], 0.02 * np.arange(n) + 0.5)
    assert table[X_COLUMNS + Y_COLUMNS + BOX_COLUMNS].dtypes.eq(np.float32).all()
    points = landmark_array(table)
    assert points.dtype == np.float64
    for i in (0, 9, 11, 2047, 2050, n - 1):
        assert np.array_equal(points[i], step_of(i).points)
        assert table.loc[i, BOX_COLUMNS].tolist() == [i % 11, 2, 300, 301]
    assert np.isnan(points[[10, 2048, 2049]]).all()
    assert table["face_found"].sum() == n - 3 and info["n_frames"] == n
    assert table["detected"].sum() == sum(i % 25 == 0 or i in (10, 2048, 2049) for i in range(n))

    # interpolation is computed in float64 and stored rounded to float32
    indices = iter(range(n))
    frames = ((i, 0.02 * i + 0.5, np.zeros((4, 4), np.uint8)) for i in range(n))
    filled, _ = module._run(frames, lambda gray: step_of(next(indices)),
                            TrackerParams(interpolate_max_gap=2), mode="tracked")
    exact = points[2047] + (points[2050] - points[2047]) * np.array([1 / 3, 2 / 3])[:, None, None]
    assert np.abs(landmark_array(filled)[[2048, 2049]] - exact).max() < 1e-4
    assert filled["interpolated"].sum() == 3


def test_track_landmarks_rejects_bad_input():
    with pytest.raises(MediaError, match="no frames"):
        track_landmarks(iter([]), params=TrackerParams())
    rgb = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(MediaError, match="frame 0: .*8-bit grayscale"):
        track_landmarks(iter([(0, 0.0, rgb)]), params=TrackerParams())
    with pytest.raises(ConfigError, match="TrackerParams"):
        track_landmarks(iter([]), params={"detect_scale": 0.5})


def test_frames_without_a_face_are_rows_of_nan():
    frames = ((k, k / 25, np.full((120, 160), 90, np.uint8)) for k in range(5))
    table, info = track_landmarks(frames, params=TrackerParams())
    assert list(table.columns) == COLUMNS and len(table) == 5
    assert not table["face_found"].any() and table["detected"].all()
    assert table[X_COLUMNS + Y_COLUMNS].isna().all().all()
    assert info["face_share"] == 0.0 and info["longest_gap_frames"] == 5
    assert math.isnan(info["jitter_iod"])


# ------------------------------------------------------- tracking (real face, synthetic motion)


def _astronaut_frames(n: int, *, dx: int, dy: int, blank=()):
    """640x480 frames of the astronaut photo (upscaled 2x) moving (dx, dy) px per frame."""
    gray = cv2.imread(str(realdata("faces", "astronaut", "astronaut.png")), cv2.IMREAD_GRAYSCALE)
    big = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    for k in range(n):
        left, top = 125 - k * dx, 13 - k * dy
        frame = np.ascontiguousarray(big[top:top + 480, left:left + 640])
        yield k, k / 25, (np.full_like(frame, 128) if k in blank else frame)


def test_tracking_follows_known_motion():
    dx, dy = 2, -1
    table, info = track_landmarks(_astronaut_frames(30, dx=dx, dy=dy),
                                  params=TrackerParams(redetect_every=10))
    assert table["face_found"].all()
    # full detections ran on the schedule only: the face never looked different
    assert np.flatnonzero(table["detected"]).tolist() == [0, 10, 20]
    assert table["fit_quality"].max() < 0.05
    points = landmark_array(table)
    expected = points[0] + np.arange(30)[:, None, None] * np.array([dx, dy])
    error = np.abs(points - expected)
    assert error.mean() < 0.75, f"mean error {error.mean():.2f} px against the known motion"
    reference, _ = detect_every_frame(_astronaut_frames(30, dx=dx, dy=dy), params=TrackerParams())
    reference_error = np.abs(landmark_array(reference) - expected)
    assert error.mean() < reference_error.mean() + 0.25


def _zooming_frames(zoom: float, at: int, n: int):
    """640x480 frames of the astronaut's face that jump ``zoom`` times closer from frame ``at``."""
    gray = cv2.imread(str(realdata("faces", "astronaut", "astronaut.png")), cv2.IMREAD_GRAYSCALE)
    for k in range(n):
        factor = 2 * (zoom if k >= at else 1.0)
        big = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        cx, cy = int(222.5 * factor), int(126.5 * factor)  # the face's centre in the photo
        yield k, k / 25, np.ascontiguousarray(big[cy - 240:cy + 240, cx - 320:cx + 320])


def test_sudden_scale_change_triggers_a_detection():
    # the appearance check is switched off, so only the scale check can ask for a detection
    params = TrackerParams(max_fit_quality=1.99, max_scale_change=0.25)
    table, _ = track_landmarks(_zooming_frames(1.4, at=10, n=14), params=params)
    assert np.flatnonzero(table["detected"]).tolist() == [0, 10]
    assert table["face_found"].all()
    lenient = TrackerParams(max_fit_quality=1.99, max_scale_change=10.0)
    table, _ = track_landmarks(_zooming_frames(1.4, at=10, n=14), params=lenient)
    assert np.flatnonzero(table["detected"]).tolist() == [0]


def test_tracking_does_not_hallucinate_when_the_face_vanishes():
    table, info = track_landmarks(_astronaut_frames(25, dx=2, dy=-1, blank=range(8, 13)),
                                  params=TrackerParams())
    assert np.flatnonzero(~table["face_found"]).tolist() == [8, 9, 10, 11, 12]
    assert table.loc[8:12, X_COLUMNS].isna().all().all()
    assert table.loc[8:13, "detected"].all()  # each blank frame searched, then the face found again
    assert table.loc[13:, "face_found"].all()
    assert info["longest_gap_frames"] == 5 and info["face_share"] == pytest.approx(20 / 25)
    filled, _ = track_landmarks(_astronaut_frames(25, dx=2, dy=-1, blank=range(8, 13)),
                                params=TrackerParams(interpolate_max_gap=5))
    assert filled["interpolated"].sum() == 5 and filled["x30"].notna().all()
    # motion is linear, so the interpolated nose tip lies on its path
    expected = filled.loc[7, "x30"] + 2 * np.arange(1, 6)
    assert filled.loc[8:12, "x30"].to_numpy() == pytest.approx(expected, abs=1.5)


# --------------------------------------------------------------------------------- real recordings


@pytest.mark.parametrize("clip", GRID_CLIPS)
def test_grid_face_found_and_lip_cycles(clip):
    path = realdata("video", "grid", f"{clip}.mpg")
    table, info = track_landmarks(iter_frames(path), params=TrackerParams())
    assert info["face_share"] >= 0.98
    points = landmark_array(table)
    iod = inter_ocular_px(points)
    aperture = np.linalg.norm(points[:, 62] - points[:, 66], axis=1) / iod
    # "bin blue at F two now": the lips open and close several times in 3 s
    assert np.nanmax(aperture) - np.nanmin(aperture) > 0.08
    peaks, _ = find_peaks(np.nan_to_num(aperture), prominence=0.03)
    assert len(peaks) >= 3, f"{clip}: {len(peaks)} lip-opening peaks"
    assert info["jitter_iod"] < 0.03


def _upscaled(path: Path):
    for index, time_s, gray in iter_frames(path):
        yield index, time_s, cv2.resize(gray, (640, 480), interpolation=cv2.INTER_CUBIC)


def test_tracked_matches_detection_on_every_frame_on_grid():
    path = realdata("video", "grid", "lbax4n.mpg")
    tracked, info = track_landmarks(_upscaled(path), params=TrackerParams())
    reference, _ = detect_every_frame(_upscaled(path), params=TrackerParams())
    assert tracked["face_found"].all() and reference["face_found"].all()
    assert info["n_detections"] <= 4  # 75 frames, one scheduled detection every 25
    distance = np.linalg.norm(landmark_array(tracked) - landmark_array(reference), axis=-1)
    assert distance.mean() < 1.0, f"mean {distance.mean():.2f} px from detection on every frame"


@pytest.mark.parametrize("clip, face_from_s, face_to_s", [
    ("face_noface.mov", 0.0, 2.3), ("noface_face.mov", 4.0, 6.2)])
def test_pyfeat_face_and_no_face_segments(clip, face_from_s, face_to_s):
    path = realdata("video", "pyfeat", clip)
    table, info = track_landmarks(iter_frames(path), params=TrackerParams())
    times = table["time_s"].to_numpy()
    face_part = (times >= face_from_s) & (times <= face_to_s)
    cartoon = (times < face_from_s - 0.2) | (times > face_to_s + 0.2) if clip == "noface_face.mov" \
        else times > face_to_s + 0.2
    assert table.loc[face_part, "face_found"].mean() >= 0.98
    assert not table.loc[cartoon, "face_found"].any(), "landmarks reported on the cartoon"
    assert table.loc[~table["face_found"], X_COLUMNS].isna().all().all()
    assert 0.3 < info["face_share"] < 0.6


def test_variable_frame_rate_timestamps_are_used():
    path = realdata("video", "pyfeat", "noface_face.mov")
    indexed = [(index, time_s) for index, time_s, _ in iter_frames(path)]
    stamps = np.array([time_s for _, time_s in indexed])
    steps = np.diff(stamps)
    assert (steps > 0).all()
    assert steps.max() > 2 * steps.min()  # really variable: not index / fps
    # blank stand-in frames: only the timestamps matter here
    table, info = track_landmarks(((index, time_s, np.zeros((8, 8), np.uint8))
                                   for index, time_s in indexed), params=TrackerParams())
    assert table["time_s"].to_numpy() == pytest.approx(stamps)
    assert info["longest_gap_s"] == pytest.approx(stamps[-1] - stamps[0] + np.median(steps))


@pytest.mark.slow
def test_pyfeat_tracked_agrees_with_detection_on_every_frame():
    for clip in ("face_noface.mov", "noface_face.mov", "single_face.mp4"):
        path = realdata("video", "pyfeat", clip)
        tracked, _ = track_landmarks(iter_frames(path), params=TrackerParams())
        reference, _ = detect_every_frame(iter_frames(path), params=TrackerParams())
        assert (tracked["face_found"] == reference["face_found"]).mean() >= 0.98, clip
        both = (tracked["face_found"] & reference["face_found"]).to_numpy()
        distance = np.linalg.norm(landmark_array(tracked)[both] - landmark_array(reference)[both],
                                  axis=-1)
        assert distance.mean() < 1.5, f"{clip}: {distance.mean():.2f} px"


def test_lfpw_still_image_error_is_bounded():
    folder = realdata("faces", "lfpw")
    photos = sorted(folder.glob("*.png"))
    assert photos, f"no LFPW photos in {folder}"
    pred, truth = [], []
    for photo in photos:
        rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
        pred.append(fit_still_image(rgb))
        truth.append(read_ibug_pts(photo.with_suffix(".pts")))
    nme = normalised_mean_error(np.array(pred), np.array(truth))
    # measured: overall 0.018 (jaw 0.021, brows 0.023, nose 0.012, eyes 0.011, lips 0.019); these
    # LFPW photos are in dlib's 300-W training data, so this checks the plumbing, not accuracy
    assert nme["n_faces"] == len(photos)
    assert nme["overall"] < 0.08, nme
    assert all(nme[group] < 0.1 for group in POINT_GROUPS), nme


# --------------------------------------------------------------- landmark files and error


def test_normalised_mean_error_known_answer():
    truth = np.zeros((2, 68, 2))
    truth[:, :, 0] = np.arange(68)
    truth[:, 45, 0] = truth[:, 36, 0] + 50.0  # inter-ocular distance 50 px
    pred = truth + [3.0, 4.0]  # every point 5 px off
    pred[1, 48:] += [0.0, 5.0]  # second face: lips a further 5 px down
    result = normalised_mean_error(pred, truth)
    lips_second = np.linalg.norm([3.0, 9.0]) / 50
    assert result["jaw"] == pytest.approx(0.1)
    assert result["lips"] == pytest.approx((0.1 + lips_second) / 2)
    assert result["overall"] == pytest.approx((0.1 + (48 * 0.1 + 20 * lips_second) / 68) / 2)
    missing = pred.copy()
    missing[1] = np.nan
    result = normalised_mean_error(missing, truth)
    assert (result["n_faces"], result["n_missing"]) == (1, 1)
    assert result["overall"] == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="same shape"):
        normalised_mean_error(pred[:1], truth)
    with pytest.raises(ConfigError, match="inter-ocular distance is zero"):
        normalised_mean_error(np.zeros((68, 2)), np.zeros((68, 2)))


def _pts_text(points) -> str:
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in points)
    return f"version: 1\nn_points:  68\n{{\n{body}\n}}\n"


def test_read_ibug_pts_subtracts_one(tmp_path):
    points = np.column_stack([np.arange(68) + 10.5, np.arange(68) * 2.0 + 1])
    path = tmp_path / "face.pts"
    path.write_text(_pts_text(points))
    assert read_ibug_pts(path) == pytest.approx(points - 1)
    assert read_ibug_pts(path, one_based=False) == pytest.approx(points)


@pytest.mark.parametrize("mutate, message", [
    (lambda lines: lines[:30], r"line 31: the point list ends after 27 points"),
    (lambda lines: lines[:3] + ["1.0 2.0 3.0"] + lines[4:], r"line 4: expected two numbers"),
    (lambda lines: lines[:5] + ["1.0 abc"] + lines[6:], r"line 6: y is 'abc', not a number"),
    (lambda lines: ["version: 1", "n_points: 5"] + lines[2:], r"line 2: n_points is '5'"),
    (lambda lines: lines[:2] + ["("] + lines[3:], r"line 3: expected '\{'"),
    (lambda lines: lines[:-1], r"line 72: expected '\}'"),
    (lambda lines: lines + ["extra"], r"line 73: unexpected text"),
    (lambda lines: ["n_points: 68"] + lines[1:], r"line 1: expected 'version: 1'"),
])
def test_read_ibug_pts_malformed_names_file_and_line(tmp_path, mutate, message):
    lines = _pts_text(np.ones((68, 2))).splitlines()
    path = tmp_path / "bad.pts"
    path.write_text("\n".join(mutate(lines)) + "\n")
    with pytest.raises(MediaError, match=r"bad\.pts.*" + message):
        read_ibug_pts(path)


def _neuroface_text(frames, points, *, sep=", ") -> str:
    header = sep.join(["Frame"] + [f"{a}{k}" for k in range(1, 69) for a in "xy"])
    rows = [sep.join([str(f)] + [f"{v:.2f}" for v in p.ravel()]) for f, p in zip(frames, points)]
    return "\n".join([header] + rows) + "\n"


def test_read_neuroface_landmarks_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    points = np.round(rng.uniform(0, 640, (3, 68, 2)), 2)
    path = tmp_path / "A001_BBP_NORMAL_color.txt"
    path.write_text(_neuroface_text([30, 10, 20], points))
    table = read_neuroface_landmarks(path)
    assert table["frame"].tolist() == [10, 20, 30]
    assert list(table.columns) == ["frame"] + X_COLUMNS + Y_COLUMNS
    assert landmark_array(table) == pytest.approx(points[[1, 2, 0]])
    # the phantom writer's layout (no spaces after commas) reads the same
    path.write_text(_neuroface_text([30, 10, 20], points, sep=","))
    assert landmark_array(read_neuroface_landmarks(path)) == pytest.approx(points[[1, 2, 0]])


@pytest.mark.parametrize("edit, message", [
    (lambda lines: [lines[0].replace("x1", "X1")] + lines[1:], r"line 1: header column 2 is 'X1'"),
    (lambda lines: [lines[0] + ", extra"] + lines[1:], r"line 1: the header has 138 columns"),
    (lambda lines: lines[:2] + [lines[2].rsplit(",", 1)[0]], r"line 3: 136 fields"),
    (lambda lines: lines[:2] + [lines[2].replace("1.50", "oops", 1)], r"line 3: x1 is 'oops'"),
    (lambda lines: lines[:2] + ["7.5" + lines[2][1:]], r"line 3: Frame is '7.5'"),
    (lambda lines: lines[:2] + [lines[1]], r"line 3: frame 5 was already annotated on line 2"),
    (lambda lines: lines[:1], r"header but no annotated frame"),
    (lambda lines: lines[:2] + [lines[2].replace("1.50", "nan", 1)],
     r"line 3: x1 is 'nan', not a finite"),
])
def test_read_neuroface_malformed_names_file_and_line(tmp_path, edit, message):
    points = np.full((2, 68, 2), 1.5)
    lines = _neuroface_text([5, 6], points).splitlines()
    path = tmp_path / "bad_landmarks.txt"
    path.write_text("\n".join(edit(lines)) + "\n")
    with pytest.raises(MediaError, match=r"bad_landmarks\.txt.*" + message):
        read_neuroface_landmarks(path)


def test_landmark_readers_reject_missing_and_empty_files(tmp_path):
    with pytest.raises(MediaError, match="nothing.txt: NeuroFace landmark file not found"):
        read_neuroface_landmarks(tmp_path / "nothing.txt")
    empty = tmp_path / "empty.pts"
    empty.write_text("\n\n")
    with pytest.raises(MediaError, match="empty.pts: the iBUG .pts file is empty"):
        read_ibug_pts(empty)

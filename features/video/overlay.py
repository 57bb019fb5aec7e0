"""Landmarks drawn on video frames, for a person to check the tracking by eye.

These images show faces, so they identify people: the landmarks stage writes them only when asked
(``--overlays``), under the run folder, and never into exports or reports.
"""
from __future__ import annotations

import cv2
import numpy as np

from core.ibug68 import BROWS, EYES, JAW, LIPS, NOSE

# Point groups drawn in different colours (RGB).
GROUP_COLOURS = ((JAW, (255, 255, 0)), (BROWS, (0, 255, 0)), (NOSE, (0, 200, 255)),
                 (EYES, (255, 0, 255)), (LIPS, (255, 64, 64)))


def draw_landmarks(frame_rgb: np.ndarray, points: np.ndarray, *, label: str = "") -> np.ndarray:
    """A copy of ``frame_rgb`` with the 68 points drawn, or a 'no face' mark when they are NaN.

    Parameters
    ----------
    frame_rgb : ndarray, shape (H, W, 3), uint8
        The video frame.
    points : ndarray, shape (68, 2)
        Landmarks in pixels (NaN when no face was found).
    label : str
        Text written in the top-left corner (e.g. frame number and time).
    """
    image = np.ascontiguousarray(frame_rgb.copy())
    radius = max(1, round(min(image.shape[:2]) / 240))
    if np.isfinite(points).all():
        for indices, colour in GROUP_COLOURS:
            for k in indices:
                cv2.circle(image, (int(round(points[k, 0])), int(round(points[k, 1]))), radius, colour, -1,
                           lineType=cv2.LINE_AA)
    else:
        label = f"{label} NO FACE".strip()
    if label:
        cv2.putText(image, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def sample_frames(n_frames: int, n_samples: int) -> np.ndarray:
    """``n_samples`` frame indices spread evenly over a recording (fewer if it is shorter)."""
    return np.unique(np.linspace(0, n_frames - 1, num=min(n_samples, n_frames)).round().astype(int))

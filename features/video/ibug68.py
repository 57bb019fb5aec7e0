"""The 68-point iBUG/dlib landmark scheme's left-right structure.

Landmarks follow the 0-based iBUG/dlib order; "left" and "right" are the subject's own.
"""
from __future__ import annotations

import numpy as np

N_POINTS = 68

# Landmark index seen at each index after a left-right mirror of the face: the mirror image of
# the subject's right mouth corner (48) is a left mouth corner, so it is stored at 54.
MIRROR_INDEX = np.array(
    list(range(16, -1, -1))                      # jaw
    + list(range(26, 16, -1))                    # brows
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]       # nose
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]   # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]   # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65])                  # inner lips


def mirror_points(points: np.ndarray, *, width: int) -> np.ndarray:
    """Landmarks of the left-right mirrored image, re-indexed so each index keeps its anatomy.

    Parameters
    ----------
    points : ndarray, shape (..., 68, 2)
        (x, y) pixels in an image ``width`` pixels wide.
    width : int
        Image width in pixels; pixel x maps to ``width - 1 - x``.

    Returns
    -------
    ndarray, same shape
        A new array.
    """
    mirrored = np.array(points, dtype=np.float64)[..., MIRROR_INDEX, :]
    mirrored[..., 0] = width - 1 - mirrored[..., 0]
    return mirrored

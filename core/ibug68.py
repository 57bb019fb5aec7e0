"""The 68-point iBUG/dlib landmark scheme: its regions, named points and left-right structure.

Landmarks follow the 0-based iBUG/dlib order; "left" and "right" are the subject's own, so the
subject's right side is on the image's left in a frontal video.
"""
from __future__ import annotations

import numpy as np

N_POINTS = 68

# Regions of the face.
JAW = tuple(range(0, 17))
BROWS = tuple(range(17, 27))
NOSE = tuple(range(27, 36))
RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))
EYES = RIGHT_EYE + LEFT_EYE
LIPS = tuple(range(48, 68))
POINT_GROUPS: dict[str, tuple[int, ...]] = {"jaw": JAW, "brows": BROWS, "nose": NOSE, "eyes": EYES,
                                            "lips": LIPS}

RIGHT_BROW = (17, 18, 19, 20, 21)  # outer end (image left) to inner end
LEFT_BROW = (22, 23, 24, 25, 26)   # inner end to outer end
RIGHT_EYE_CORNERS = (36, 39)       # outer, inner
LEFT_EYE_CORNERS = (42, 45)        # inner, outer
OUTER_EYE_CORNERS = (36, 45)       # their distance is the inter-ocular distance (IOD)
INNER_EYE_CORNERS = (39, 42)       # their distance is the inter-canthal distance
RIGHT_MOUTH_CORNER, LEFT_MOUTH_CORNER = 48, 54
LOWER_LIP_CONTOUR = (48, 59, 58, 57, 56, 55, 54)  # right corner to left corner
# Points that facial expressions barely move (nose ridge and the four eye corners): their spread
# tracks the head's apparent size as the subject leans towards or away from the camera.
EXPRESSION_STABLE_POINTS = (27, 28, 29, 30, 36, 39, 42, 45)
# Each side of the face without the midline points (chin, nose ridge and tip, lip midpoints), so
# that MIRROR_INDEX maps one side onto the other.
LEFT_SIDE = np.r_[9:17, 22:27, 34:36, 42:48, 52:57, 63:66]
RIGHT_SIDE = np.r_[0:8, 17:22, 31:33, 36:42, 48:51, 58:60, 60:62, 67]
MIDLINE = np.array([8, 27, 28, 29, 30, 33, 51, 57, 62, 66])

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


def inter_ocular_px(points: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners (``OUTER_EYE_CORNERS``), pixels.

    Parameters
    ----------
    points : ndarray, shape (..., 68, 2)
        Landmarks in pixels.

    Returns
    -------
    ndarray, shape (...)
    """
    right, left = OUTER_EYE_CORNERS
    return np.linalg.norm(points[..., right, :] - points[..., left, :], axis=-1)

"""Put 68-point face landmarks into a head-fixed frame so head motion does not read as facial motion.

Coordinate frame of the output (per frame):

- origin: the midpoint between the two eye centres;
- x axis: along the eye-centre line, pointing to the subject's LEFT (left-side points have x > 0);
- y axis: perpendicular to it, pointing DOWN towards the chin (as image rows do), so a raised brow
  has a smaller y and the mouth has y > 0;
- unit: the recording's inter-ocular distance ``|p36 - p45|`` (outer eye corners), or the
  inter-canthal distance ``|p39 - p42|`` (inner eye corners) with ``scale="intercanthal"``.

An eye centre is the midpoint of the eye's two corners (p36, p39 right; p42, p45 left) rather than
the mean of all six eye points: the lids move with blinks and eye closure, the corners do not, so
the frame does not tilt when one eye closes more than the other (which facial palsy causes).

Side conventions follow the iBUG/dlib order, which labels points by their place in the image: it
assumes a frontal, non-mirrored video in which the subject's right side appears on the image left.
A mirrored (selfie) recording swaps the subject's sides and cannot be detected from landmarks.
"""
from __future__ import annotations

import numpy as np

from core.errors import ConfigError, NoFaceError, check_option
from core.ibug68 import (EXPRESSION_STABLE_POINTS, INNER_EYE_CORNERS, LEFT_EYE_CORNERS, N_POINTS,
                         OUTER_EYE_CORNERS, RIGHT_EYE_CORNERS)

SCALE_POINTS = {"interocular": OUTER_EYE_CORNERS, "intercanthal": INNER_EYE_CORNERS}
SCALE_UNITS = {"interocular": "inter-ocular distances (|p36 - p45|)",
               "intercanthal": "inter-canthal distances (|p39 - p42|)"}


def check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Validate a landmark array and return it as float64.

    Parameters
    ----------
    landmarks : ndarray, shape (T, 68, 2)
        Pixel coordinates (x, y); frames without a face are NaN.

    Returns
    -------
    ndarray, shape (T, 68, 2), float64

    Raises
    ------
    ConfigError
        If the shape is wrong or a coordinate is infinite.
    """
    array = np.asarray(landmarks, dtype=np.float64)
    if array.ndim != 3 or array.shape[1:] != (N_POINTS, 2):
        raise ConfigError(f"landmarks must have shape (frames, {N_POINTS}, 2); got {array.shape}")
    if np.isinf(array).any():
        raise ConfigError("landmarks contain infinite coordinates; use NaN for frames without a face")
    return array


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right and left eye centres (midpoints of each eye's corners), each of shape (T, 2)."""
    right = landmarks[:, RIGHT_EYE_CORNERS, :].mean(axis=1)
    left = landmarks[:, LEFT_EYE_CORNERS, :].mean(axis=1)
    return right, left


def head_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate and translate each frame into the eye-line frame, still in pixels.

    Parameters
    ----------
    landmarks : ndarray, shape (T, 68, 2)
        Pixel coordinates.

    Returns
    -------
    points : ndarray, shape (T, 68, 2)
        Coordinates in pixels with the origin between the eye centres, x towards the subject's
        left along the eye line and y perpendicular to it, pointing down.
    roll_rad : ndarray, shape (T,)
        Angle of the eye line in the image (radians, image axes), i.e. the head's roll.
    """
    right, left = eye_centres(landmarks)
    axis = left - right
    length = np.linalg.norm(axis, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_axis = axis / length
    y_axis = np.stack([-x_axis[:, 1], x_axis[:, 0]], axis=1)  # x_axis turned +90 deg in image axes
    centred = landmarks - ((right + left) / 2)[:, None, :]
    x = np.einsum("tpk,tk->tp", centred, x_axis)
    y = np.einsum("tpk,tk->tp", centred, y_axis)
    return np.stack([x, y], axis=2), np.arctan2(axis[:, 1], axis[:, 0])


def rigid_size(points: np.ndarray) -> np.ndarray:
    """Root-mean-square distance of the rigid points from their centroid, per frame (input units)."""
    rigid = points[:, EXPRESSION_STABLE_POINTS, :]
    spread = rigid - rigid.mean(axis=1, keepdims=True)
    return np.sqrt((spread ** 2).sum(axis=2).mean(axis=1))


def normalise_frames(landmarks: np.ndarray, *, scale: str = "interocular") -> tuple[np.ndarray, dict]:
    """Express every frame's landmarks in the head-fixed frame and in eye-distance units.

    Rotation and translation are removed per frame from the eye line. Size is removed in two
    parts: a per-frame factor, the spread of the rigid points (nose ridge and eye corners) relative
    to its median over the recording, removes the head's apparent size change when the subject
    leans towards or away from the camera; the unit is then the recording's median eye distance in
    that size-corrected frame. A single per-frame eye distance is not used as the unit because the
    outer eye corners move with squinting and smiling and jitter from frame to frame: dividing by
    it would write that movement and jitter into every distance on the face. The rigid-point spread
    averages eight points and barely changes with expression. Under a pure rotation, translation
    and scaling of the whole head (constant or changing over time) the output is unchanged.

    Parameters
    ----------
    landmarks : ndarray, shape (T, 68, 2)
        Pixel coordinates in iBUG/dlib order; rows of NaN where no face was found.
    scale : {"interocular", "intercanthal"}
        Which eye distance is the unit: outer corners ``|p36 - p45|`` or inner corners
        ``|p39 - p42|``.

    Returns
    -------
    normalised : ndarray, shape (T, 68, 2)
        Coordinates in the unit named by ``info["unit"]``; x > 0 on the subject's left, y down.
        Frames without a usable face are NaN.
    info : dict
        ``unit`` (words), ``unit_px`` (the unit in pixels at the median head size),
        ``valid_frames`` (bool array), ``degenerate_frames`` (frames whose eye centres coincide,
        left NaN), ``head_size_rel`` (per-frame size factor, 1 = median), ``roll_deg`` (per-frame
        eye-line angle in the image, degrees).

    Raises
    ------
    ConfigError
        On a bad shape, infinite values or an unknown ``scale``.
    NoFaceError
        If no frame has a complete, non-degenerate set of landmarks.
    """
    check_option("scale", scale, SCALE_POINTS)
    array = check_landmarks(landmarks)
    complete = np.isfinite(array).all(axis=(1, 2))
    right, left = eye_centres(array)
    eye_gap = np.linalg.norm(left - right, axis=1)
    degenerate = complete & ~(eye_gap > 0)
    valid = complete & ~degenerate
    if not valid.any():
        raise NoFaceError(f"none of the {len(array)} frames has a complete set of 68 landmarks "
                          f"with distinct eye centres")
    points, roll = head_frame(np.where(valid[:, None, None], array, np.nan))
    size = rigid_size(points)
    # Distinct eye centres make the rigid spread positive, so this division is safe.
    head_size_rel = size / np.nanmedian(size)
    sized = points / head_size_rel[:, None, None]
    first, second = SCALE_POINTS[scale]
    unit_px = float(np.nanmedian(np.linalg.norm(sized[:, first] - sized[:, second], axis=1)))
    normalised = np.where(valid[:, None, None], sized / unit_px, np.nan)
    info = {"unit": SCALE_UNITS[scale], "unit_px": unit_px, "valid_frames": valid,
            "degenerate_frames": int(degenerate.sum()), "head_size_rel": head_size_rel,
            "roll_deg": np.degrees(roll)}
    return normalised, info

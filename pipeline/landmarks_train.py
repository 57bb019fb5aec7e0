"""``avstroke landmarks-train``: shape models learnt from the cohort's own annotated frames.

Learns from every manifest row with a ``landmarks_path`` (NeuroFace ``.txt``). Each annotated
frame is paired with the box the tracker fitted in at that frame with dlib's generic model (the
predictor must be trained on the boxes it will be fed), so the stage first tracks those
recordings with the generic model into ``RUN/cache/landmarks_generic/`` (cached like the
landmarks stage; these tables are also the "before" of every comparison), cutting the annotated
frames' crops out on the way, so each video is decoded once (a recording whose generic table is
up to date is decoded again for its crops). Then:

- a subject model per subject with at least ``--min-subject-frames`` annotated frames in at least
  two videos, evaluated by leaving one video out in turn (each video's frames fitted by a model
  trained on the subject's other videos); ``--subject-folds K`` holds out a K-th of the subject's
  videos at a time instead, K trainings instead of one per video, for a quick run;
- a cohort model on every subject's frames, evaluated on subjects held out (grouped folds by
  subject_id: no subject's frames inform the model that fits them).

What "held out" means for the models in use: the model a recording is finally fitted with is
trained on all of its subject's annotated frames, those of that recording included (NeuroFace
annotates every video). The leave-one-video-out error is therefore the error on a video none of
whose frames the model saw: an upper bound for the frames between the annotated ones of a video
the model did see, and the expected error on a new video of a known subject (a recording
without manual frames, such as a follow-up visit when only the first was annotated, is one).

A subject's recordings are fitted with its subject model when that model's held-out error over
the subject's annotated frames beats the generic model's on the same frames; else with the cohort
model when its held-out error on that subject beats the generic one; else with the generic model.
Subjects without annotated frames get the cohort model when it beat the generic one over the
whole cohort. Errors are normalised mean errors over all 68 points, in inter-ocular distances.

Writes ``RUN/shape_models/`` (``pipeline.shape_models``: models, cards, ``choice.csv``),
``RUN/landmarks_adaptation.csv`` (generic and adapted held-out error on the same frames by
participant group, task and point region, with subject-level bootstrap CIs) and
``RUN/landmarks_adaptation_frames.parquet`` (the per-frame errors behind it). The whole stage is
reused while the annotated files, the generic tables, the options and the code are unchanged.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import resource
import sys
import time
from pathlib import Path

import dlib
import joblib
import numpy as np
import pandas as pd

from core.errors import ConfigError, MediaError
from core.files import atomic_write
from core.ibug68 import inter_ocular_px
from core.spreadsheet import write_csv
from core.workers import run_parallel
from features.video.decode import iter_frames
from features.video.landmark_error import ERROR_REGIONS, face_errors, read_neuroface_landmarks
from features.video.landmarks import BOX_COLUMNS, X_COLUMNS, Y_COLUMNS, landmark_array
from features.video.shape_training import (AnnotatedFace, ShapeTrainingOptions, crop_around,
                                           face_in_crop, fit_fold, gather_fits, group_folds,
                                           heldout_folds, train_predictor)
from pipeline import cache, runner
from pipeline.landmarks import (add_tracker_arguments, generic_choice, tracker_params,
                                tracking_items, track_one)
from pipeline.recordings import cache_path, drop_outputs, finish, valid_recordings
from pipeline.runner import ItemResult, run_items
from pipeline.shape_models import (CHOICE_COLUMNS, CHOICE_FILE, COHORT, GENERIC, GENERIC_KIND,
                                   IDENTIFIABLE_NOTE, MODELS_DIR, subject_model_name)
from pipeline.stage import add_shared_argument, stage_main

log = logging.getLogger("avstroke")
DESCRIPTION = "Train shape models on the cohort's manually annotated frames; evaluate them held out."
CODE_MODULES = ["pipeline.landmarks_train", "features.video.shape_training"]
ADAPTATION_TABLE = "landmarks_adaptation.csv"
FRAMES_TABLE = "landmarks_adaptation_frames.parquet"
# A manual landmark file whose points lie this far (median over its frames, inter-ocular
# distances) from where the generic tracker found the face belongs to another video: dlib errs
# by 0.02-0.1 on patients' faces, a file of another clip or another resolution by far more.
MISMATCH_NME = 0.5
MIN_SUBJECT_FRAMES = 20
COHORT_FOLDS = 5
BOOTSTRAP = 1000
SUBJECT_EVALUATION = "leave one video out"
COHORT_EVALUATION = "subjects held out"


def add_arguments(parser) -> None:
    defaults = ShapeTrainingOptions()
    add_tracker_arguments(parser)
    add_shared_argument(parser, "--manual-frame-base", type=int, choices=(0, 1), default=0,
                        help="number of the first video frame in manual landmark files "
                             "(default: %(default)s)")
    parser.add_argument("--cascade-depth", type=int, default=defaults.cascade_depth,
                        help="regressor cascade levels of the shape models (default: %(default)s)")
    parser.add_argument("--trees", type=int, default=defaults.trees_per_level,
                        help="regression trees per cascade level (default: %(default)s)")
    parser.add_argument("--tree-depth", type=int, default=defaults.tree_depth,
                        help="depth of each regression tree (default: %(default)s)")
    parser.add_argument("--oversampling", type=int, default=defaults.oversampling,
                        help="starting shapes per annotated face (default: %(default)s)")
    parser.add_argument("--max-samples", type=int, default=defaults.max_samples,
                        help="cap on faces x oversampling per model, which bounds the cohort "
                             "model's training time (default: %(default)s)")
    parser.add_argument("--jitter", type=float, default=defaults.translation_jitter,
                        help="random shift of the training boxes, share of their size "
                             "(default: %(default)s)")
    parser.add_argument("--no-mirror", dest="mirror", action="store_false",
                        help="do not also learn each face left-right mirrored")
    parser.add_argument("--no-cohort-model", dest="cohort_model", action="store_false",
                        help="train subject models only, e.g. when the cohort's subjects are not "
                             "independent people (a phantom whose identities share photos), so "
                             "subjects held out would not be unseen faces")
    parser.add_argument("--subject-folds", type=int, default=None, metavar="K",
                        help="evaluate subject models on K folds of whole videos instead of "
                             "leaving one video out in turn (fewer trainings; default: one fold "
                             "per video)")
    parser.add_argument("--min-subject-frames", type=int, default=MIN_SUBJECT_FRAMES,
                        help="annotated frames a subject needs for a subject model "
                             "(default: %(default)s; it also needs two videos)")


def training_options(args) -> ShapeTrainingOptions:
    """Shape-model training options from the command line."""
    return ShapeTrainingOptions(cascade_depth=args.cascade_depth, trees_per_level=args.trees,
                                tree_depth=args.tree_depth, oversampling=args.oversampling,
                                max_samples=args.max_samples, translation_jitter=args.jitter,
                                mirror=args.mirror)


# ---------------------------------------------------------------------------------------------
# Annotated faces


def check_annotations(manual: pd.DataFrame, tracked: pd.DataFrame, frame_size: tuple[int, int], *,
                      frame_base: int, file: str) -> np.ndarray:
    """Video frame index of every annotated frame, after checking the file matches its video.

    Parameters
    ----------
    manual : DataFrame
        ``read_neuroface_landmarks`` of the file.
    tracked : DataFrame
        The video's generic landmark table.
    frame_size : (int, int)
        Width and height of the video's frames, pixels.
    frame_base : int
        Number of the video's first frame in the file.
    file : str
        The file, for messages.

    Raises
    ------
    MediaError
        If a frame number is outside the video, a point lies outside the frame, or the points are
        far from the face the tracker found (the file belongs to another video).
    """
    frames = manual["frame"].to_numpy(dtype=int) - frame_base
    outside = frames[(frames < 0) | (frames >= len(tracked))]
    if len(outside):
        raise MediaError(f"{file}: annotated frame(s) {(outside + frame_base).tolist()[:5]} are "
                         f"outside the video's {len(tracked)} frames (numbered from {frame_base}; "
                         f"check --manual-frame-base): the file does not match its video")
    points = landmark_array(manual)
    width, height = frame_size
    off = ~((points[..., 0] >= -0.5) & (points[..., 0] <= width - 0.5)
            & (points[..., 1] >= -0.5) & (points[..., 1] <= height - 0.5)).all(axis=1)
    if off.any():
        raise MediaError(f"{file}: frame {int(manual['frame'].iloc[np.argmax(off)])} has points "
                         f"outside the video's {width}x{height} frame: the file does not match "
                         f"its video")
    generic = landmark_array(tracked)[frames]
    found = np.isfinite(generic).all(axis=(1, 2))
    if found.any():
        distance = np.linalg.norm(generic[found] - points[found], axis=-1).mean(axis=1)
        median = float(np.median(distance / inter_ocular_px(points[found])))
        if median > MISMATCH_NME:
            raise MediaError(f"{file}: its points lie {median:.2f} inter-ocular distances (median) "
                             f"from the face tracked in the video, expected under {MISMATCH_NME}: "
                             f"the file does not match its video")
    return frames


def crops_with_box(frames: dict, boxes: np.ndarray) -> dict:
    """Frame index -> (image, origin) of ``crop_around`` for the ``frames`` (index -> whole gray
    frame) where the generic tracker had a box (``boxes``: the table's ``BOX_COLUMNS``)."""
    return {index: crop_around(gray, boxes[index]) for index, gray in frames.items()
            if index < len(boxes) and np.isfinite(boxes[index]).all()}


def decoded_crops(video: str, wanted: set[int], boxes: np.ndarray
                  ) -> tuple[dict, tuple[int, int]]:
    """Decode a video for the crops (``crops_with_box``) of its ``wanted`` frames.

    Returns
    -------
    crops : dict
        Frame index -> (image, origin).
    frame_size : (int, int)
        Width and height of the video's frames, pixels.
    """
    kept, frame_size = {}, None
    for index, _, gray in iter_frames(video):
        frame_size = (gray.shape[1], gray.shape[0])
        if index in wanted:
            kept[index] = gray
    if frame_size is None:
        raise MediaError(f"{video}: decoded to no frames")
    return crops_with_box(kept, boxes), frame_size


def annotated_faces(crops: dict, frame_size: tuple[int, int], manual: pd.DataFrame,
                    tracked: pd.DataFrame, *, recording_id: str, frame_base: int, file: str
                    ) -> tuple[list[AnnotatedFace], int]:
    """The annotated frames of one recording as faces to learn from, after checking the file
    matches its video (``check_annotations``).

    Parameters
    ----------
    crops : dict
        Frame index -> (image, origin) of ``crop_around`` for the annotated frames where the
        generic tracker had a box (``decoded_crops``, or kept while tracking).
    frame_size : (int, int)
        Width and height of the video's frames, pixels.

    Returns
    -------
    faces : list of AnnotatedFace
        One per annotated frame where the generic tracker had a face (and so a box).
    n_without_box : int
        Annotated frames left out because the tracker had no face there.
    """
    frames = check_annotations(manual, tracked, frame_size, frame_base=frame_base, file=file)
    boxes = tracked[BOX_COLUMNS].to_numpy(dtype=np.float64)
    generic = landmark_array(tracked)
    points = landmark_array(manual)
    faces = [face_in_crop(*crops[f], boxes[f], points[k], generic[f], recording_id=recording_id,
                          frame=f)
             for k, f in enumerate(frames) if f in crops]
    return faces, len(frames) - len(faces)


# ---------------------------------------------------------------------------------------------
# Errors and their summaries


def frame_errors(faces: list[AnnotatedFace], fitted: np.ndarray, info: pd.DataFrame, *,
                 model: str, evaluation: str) -> pd.DataFrame:
    """Per annotated frame: generic and held-out adapted error by region, and the held-out
    points (``x0..x67``, ``y0..y67``, frame pixels) for comparisons with a known truth.

    Parameters
    ----------
    faces : list of AnnotatedFace
    fitted : ndarray, shape (N, 68, 2)
        The adapted model's held-out fits.
    info : DataFrame
        ``recording_id`` -> ``subject_id``, ``group``, ``task`` (index ``recording_id``).
    model : str
        ``subject`` or ``cohort``.
    evaluation : str
        How the fits were held out.
    """
    truth = np.stack([face.points for face in faces])
    generic = face_errors(np.stack([face.generic for face in faces]), truth)
    adapted = face_errors(fitted, truth)
    rids = [face.recording_id for face in faces]
    table = info.loc[rids, ["subject_id", "group", "task"]].reset_index()
    table.insert(1, "frame", [face.frame for face in faces])
    table["model"], table["evaluation"] = model, evaluation
    for region in ERROR_REGIONS:
        table[f"generic_{region}"] = generic[region].to_numpy()
        table[f"adapted_{region}"] = adapted[region].to_numpy()
    in_frame = fitted + np.stack([face.origin for face in faces])[:, None, :]
    points = pd.DataFrame(np.hstack([in_frame[:, :, 0], in_frame[:, :, 1]]),
                          columns=X_COLUMNS + Y_COLUMNS)
    return pd.concat([table, points], axis=1)


def subject_bootstrap_ci(per_subject: np.ndarray, *, n_boot: int = BOOTSTRAP,
                         seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of per-subject values, resampling subjects."""
    if len(per_subject) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(per_subject), size=(n_boot, len(per_subject)))
    means = per_subject[draws].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def summary_rows(frames: pd.DataFrame, *, by: str, level: str) -> list[dict]:
    """One row per region: generic and adapted error (mean of subject means) and their change
    with a subject-level bootstrap CI."""
    rows = []
    for region in ERROR_REGIONS:
        per_subject = frames.groupby("subject_id")[[f"generic_{region}", f"adapted_{region}"]].mean()
        generic, adapted = per_subject.iloc[:, 0].to_numpy(), per_subject.iloc[:, 1].to_numpy()
        low, high = subject_bootstrap_ci(adapted - generic)
        rows.append({"model": frames["model"].iloc[0], "evaluation": frames["evaluation"].iloc[0],
                     "by": by, "level": level, "region": region,
                     "n_subjects": len(per_subject), "n_frames": len(frames),
                     "nme_generic": generic.mean(), "nme_adapted": adapted.mean(),
                     "change": (adapted - generic).mean(), "change_ci_low": low,
                     "change_ci_high": high,
                     "change_pct": 100.0 * (adapted.mean() / generic.mean() - 1.0)})
    return rows


def adaptation_summary(frames: pd.DataFrame) -> pd.DataFrame:
    """The evaluation table: per model, over all frames, by participant group and by task."""
    rows = []
    for _, of_model in frames.groupby("model", sort=False):
        rows += summary_rows(of_model, by="all", level="all")
        for by in ("group", "task"):
            for level, part in of_model.groupby(by):
                rows += summary_rows(part, by=by, level=str(level))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Training


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def model_card(name: str, faces: list[AnnotatedFace], options: ShapeTrainingOptions, info: dict,
               evaluation: dict, *, sha256: str) -> dict:
    """The JSON card written beside a model."""
    recordings = sorted({face.recording_id for face in faces})
    return {"model": f"{name}.dat", "sha256": sha256, "format": "dlib shape_predictor (.dat)",
            "dlib_version": dlib.__version__,
            "identifiable": True,
            "identifiable_note": IDENTIFIABLE_NOTE.strip(),
            "training": {"recordings": recordings, "n_recordings": len(recordings),
                         "frames": [[face.recording_id, face.frame] for face in faces],
                         "n_frames": len(faces), **info,
                         "peak_memory_mb": round(peak_memory_mb(), 1)},
            "options": dataclasses.asdict(options), "evaluation": evaluation}


def save_model(folder: Path, name: str, faces: list[AnnotatedFace], options: ShapeTrainingOptions,
               evaluation: dict) -> tuple[str, dict]:
    """Train the final model on every face, write it and its card (one thread: trainings run
    side by side in processes, ``trainings``).

    Returns
    -------
    sha256 : str
        Of the model file.
    training : dict
        The card's ``training`` record (frames, time, peak memory of the process that trained it).
    """
    predictor, info = train_predictor(faces, options)
    path = folder / f"{name}.dat"
    atomic_write(path, lambda tmp: predictor.save(str(tmp)))
    sha256 = cache.file_digest(path)
    card = model_card(name, faces, options, info, evaluation, sha256=sha256)
    atomic_write(folder / f"{name}.json", lambda tmp: tmp.write_text(json.dumps(card, indent=2)))
    return sha256, card["training"]


def mean_overall(frames: pd.DataFrame, column: str) -> float:
    """Mean over subjects of the subject's mean error in ``column``."""
    return float(frames.groupby("subject_id")[column].mean().mean())


def evaluation_record(frames: pd.DataFrame, infos: list[dict], scheme: str) -> dict:
    """The held-out figures a model card carries."""
    return {"scheme": scheme, "folds": len(infos), "n_frames": len(frames),
            "nme_generic": mean_overall(frames, "generic_overall"),
            "nme_adapted": mean_overall(frames, "adapted_overall"),
            "lips_generic": mean_overall(frames, "generic_lips"),
            "lips_adapted": mean_overall(frames, "adapted_lips"),
            "fold_training_seconds": [round(i["seconds"], 2) for i in infos]}


def subject_evaluation(folds: int | None) -> str:
    """How subject models are held out, in words."""
    return SUBJECT_EVALUATION if folds is None else f"videos held out in {folds} folds"


def trainings(calls: list, sizes: list[int], *, workers: int) -> list:
    """Run independent trainings (``joblib.delayed`` calls) on ``workers`` processes.

    Each training runs on one thread: dlib's trainer gains nothing from a second one (a demo
    subject's model, 89 faces: 2.3 s on one thread, 3.9 s on two, another job running) and its
    model depends on the thread count (fits up to 2 px apart), while on one thread the same
    faces and options give the same model. So trainings run side by side in processes, and the
    models depend neither on ``workers`` nor on the order. The largest (by ``sizes``, training
    faces) start first, so that no long one is left to run alone at the end.

    Returns
    -------
    list
        The calls' results, in the order of ``calls``.
    """
    order = sorted(range(len(calls)), key=lambda k: -sizes[k])
    outputs = run_parallel([calls[k] for k in order], n_jobs=workers)
    results = [None] * len(calls)
    for k, output in zip(order, outputs):
        results[k] = output
    return results


def subject_plans(by_subject: dict, *, min_frames: int, folds: int | None
                  ) -> tuple[dict, dict]:
    """The held-out folds of every subject with enough frames: each video's frames to be fitted
    by a model that saw none of that video (one fold per video, or ``folds`` folds of whole
    videos).

    Returns
    -------
    plans : dict
        subject_id -> list of ``HeldOutFold``.
    refused : dict
        subject_id -> why it gets no subject model.
    """
    plans, refused = {}, {}
    for subject, faces in by_subject.items():
        videos = sorted({face.recording_id for face in faces})
        if len(faces) < min_frames or len(videos) < 2:
            refused[subject] = (f"{len(faces)} annotated frames in {len(videos)} video(s); a "
                                f"subject model needs at least {min_frames} in two videos")
            log.warning("landmarks-train: subject %s: %s", subject, refused[subject])
            continue
        video_of = [face.recording_id for face in faces]
        labels = ([videos.index(rid) for rid in video_of] if folds is None
                  else group_folds(video_of, folds))
        plans[subject] = heldout_folds(faces, labels)
    return plans, refused


def heldout_all(plans: dict, faces_of: dict, options: ShapeTrainingOptions, *,
                workers: int) -> dict:
    """Every plan's held-out fits, all folds of all plans run by ``trainings``.

    Parameters
    ----------
    plans : dict
        key -> list of ``HeldOutFold`` made from ``faces_of[key]``.
    faces_of : dict
        key -> the faces the plan's folds index.

    Returns
    -------
    dict
        key -> (fitted, infos) as ``gather_fits`` returns them.
    """
    jobs = [(key, fold) for key, folds in plans.items() for fold in folds]
    outputs = trainings([joblib.delayed(fit_fold)(fold, options) for _, fold in jobs],
                        [len(fold.train) for _, fold in jobs], workers=workers)
    return {key: gather_fits(len(faces_of[key]), folds,
                             [out for (owner, _), out in zip(jobs, outputs) if owner == key])
            for key, folds in plans.items()}


def choose(subject: str, subject_frames: pd.DataFrame | None, cohort_frames: pd.DataFrame | None,
           refusal: str, *, evaluation: str = SUBJECT_EVALUATION) -> dict:
    """The model for one subject's recordings and why, from held-out overall errors on the
    subject's annotated frames: its own model if that beat the generic one, else the cohort model
    if that did, else the generic model."""
    row = {"scope": "subject", "subject_id": subject, "model": GENERIC, "sha256": "",
           "nme_generic": np.nan, "nme_subject": np.nan, "nme_cohort": np.nan}
    for name, frames in (("subject", subject_frames), ("cohort", cohort_frames)):
        if frames is not None:
            row["nme_generic"] = frames["generic_overall"].mean()  # same frames in both
            row[f"nme_{name}"] = frames["adapted_overall"].mean()
    generic = row["nme_generic"]
    if row["nme_subject"] < generic:
        row["model"] = subject_model_name(subject)
        row["reason"] = (f"subject model: held-out error {row['nme_subject']:.4f} < generic "
                         f"{generic:.4f} ({evaluation})")
        return row
    reasons = [f"subject model {row['nme_subject']:.4f} did not beat generic {generic:.4f} "
               f"({evaluation})" if subject_frames is not None
               else f"no subject model ({refusal})"]
    if row["nme_cohort"] < generic:
        row["model"] = COHORT
        row["reason"] = "; ".join(reasons + [f"cohort model: held-out error "
                                             f"{row['nme_cohort']:.4f} < generic {generic:.4f} on "
                                             f"this subject ({COHORT_EVALUATION})"])
        return row
    if cohort_frames is not None:
        reasons.append(f"cohort model {row['nme_cohort']:.4f} did not beat generic {generic:.4f} "
                       f"on this subject ({COHORT_EVALUATION})")
    row["reason"] = "; ".join(reasons) + ": generic model"
    return row


def training_key(recordings: pd.DataFrame, run_dir: Path, options: ShapeTrainingOptions,
                 args) -> str:
    """Key of the whole stage's output: manual files, generic tables, options and code."""
    inputs = {}
    for r in recordings.itertuples():
        inputs[r.recording_id] = [r.subject_id, r.group, r.task,
                                  cache.file_digest(r.landmarks_path),
                                  cache.stored_key(cache_path(run_dir, GENERIC_KIND, r.recording_id))]
    return cache.make_key(inputs=inputs,
                          params={"options": options, "frame_base": args.manual_frame_base,
                                  "min_subject_frames": args.min_subject_frames,
                                  "cohort_model": args.cohort_model,
                                  "subject_folds": args.subject_folds},
                          code=cache.code_digest(CODE_MODULES))


def annotated_frame_numbers(manual: pd.DataFrame, frame_base: int) -> set[int]:
    """The 0-based video frames a manual landmark table (``read_neuroface_landmarks``) annotates."""
    return {int(frame) - frame_base for frame in manual["frame"]}


@dataclasses.dataclass(frozen=True)
class TrackedWithCrops(ItemResult):
    """A generic tracking's result with the crops of the annotated frames it decoded on the way.

    Attributes
    ----------
    crops : dict
        Frame index -> (image, origin) of ``crop_around``, for the annotated frames with a box.
    frame_size : (int, int)
        Width and height of the video's frames, pixels.
    """

    crops: dict = dataclasses.field(default_factory=dict)
    frame_size: tuple = ()


def track_keeping_crops(item: dict) -> ItemResult:
    """``track_one`` with the generic model that keeps, on the way, the crops of the recording's
    annotated frames (``TrackedWithCrops``), so that learning from them needs no second decoding
    of the video. A plain result when the tracking was up to date and nothing was decoded."""
    try:
        wanted = annotated_frame_numbers(read_neuroface_landmarks(item["annotations"]),
                                         item["frame_base"])
    except MediaError:  # the tracking stands; collect_faces reports the file with its row
        wanted = set()
    kept = {}

    def frames():
        for index, time_s, gray in iter_frames(item["file"]):
            if index in wanted:
                kept[index] = gray
            yield index, time_s, gray

    result = track_one(item, frames=frames())
    if result.status != "done" or not kept:
        return result
    boxes = pd.read_parquet(item["out"], columns=BOX_COLUMNS).to_numpy(dtype=np.float64)
    height, width = next(iter(kept.values())).shape
    return TrackedWithCrops(**{f.name: getattr(result, f.name)
                               for f in dataclasses.fields(ItemResult)},
                            crops=crops_with_box(kept, boxes),
                            frame_size=(width, height))


def recording_faces(recording: dict, run_dir: Path, frame_base: int,
                    kept: TrackedWithCrops | None = None
                    ) -> tuple[list[AnnotatedFace], ItemResult | None]:
    """The usable annotated faces of one recording (a row of the validated manifest) and its
    result; a bad annotation file fails its recording only. None instead of a result when its
    generic tracking failed, which is already listed. The video is decoded unless ``kept`` holds
    the crops its tracking kept."""
    generic = cache_path(run_dir, GENERIC_KIND, recording["recording_id"])
    if not generic.is_file():
        return [], None
    file = recording["landmarks_path"]
    try:
        manual = read_neuroface_landmarks(file)
        tracked = pd.read_parquet(generic)
        if kept is None:
            crops, frame_size = decoded_crops(recording["video_path"],
                                              annotated_frame_numbers(manual, frame_base),
                                              tracked[BOX_COLUMNS].to_numpy(dtype=np.float64))
        else:
            crops, frame_size = kept.crops, kept.frame_size
        found, no_box = annotated_faces(crops, frame_size, manual, tracked,
                                        recording_id=recording["recording_id"],
                                        frame_base=frame_base, file=file)
    except MediaError as exc:  # one bad annotation file must not stop the cohort
        return [], ItemResult(recording["recording_id"], "failed", file, type(exc).__name__,
                              f"manifest row {recording['manifest_row']}: {exc}")
    return found, ItemResult(recording["recording_id"], "done", file,
                             warning=f"{no_box} annotated frame(s) without a tracked face left "
                                     f"out" if no_box else "")


def collect_faces(recordings: pd.DataFrame, run_dir: Path, frame_base: int, kept: dict, *,
                  workers: int) -> tuple[list[AnnotatedFace], list[ItemResult]]:
    """Every usable annotated face of the recordings, in manifest order, and each recording's
    result. ``kept`` maps recording_id to the crops its generic tracking kept
    (``TrackedWithCrops``); the other recordings are decoded on ``workers`` processes."""
    rows = recordings.to_dict("records")
    to_decode = [row for row in rows if row["recording_id"] not in kept]
    decoded = dict(zip([row["recording_id"] for row in to_decode], run_parallel(
        [joblib.delayed(recording_faces)(row, run_dir, frame_base) for row in to_decode],
        n_jobs=workers)))
    outputs = [decoded[row["recording_id"]] if row["recording_id"] in decoded
               else recording_faces(row, run_dir, frame_base, kept[row["recording_id"]])
               for row in rows]
    faces = [face for found, _ in outputs for face in found]
    return faces, [result for _, result in outputs if result is not None]


def cohort_plan(faces: list[AnnotatedFace], info: pd.DataFrame) -> list | None:
    """The cohort model's held-out folds, subjects held out (grouped folds), or None with fewer
    than two subjects."""
    subjects = info.loc[[face.recording_id for face in faces], "subject_id"].to_numpy()
    if len(set(subjects)) < 2:
        log.warning("landmarks-train: annotated frames of %d subject(s); a cohort model needs two "
                    "to be evaluated on subjects it did not see", len(set(subjects)))
        return None
    return heldout_folds(faces, group_folds(subjects, COHORT_FOLDS))


def other_subjects_row(cohort_frames: pd.DataFrame | None) -> dict:
    """The ``choice.csv`` row of subjects without annotated frames: the cohort model where it
    beat the generic one over the cohort, held out."""
    row = {"scope": "other", "subject_id": "", "model": GENERIC, "sha256": "",
           "reason": "no cohort model: generic model", "nme_generic": np.nan,
           "nme_subject": np.nan, "nme_cohort": np.nan}
    if cohort_frames is None:
        return row
    row["nme_generic"] = mean_overall(cohort_frames, "generic_overall")
    row["nme_cohort"] = mean_overall(cohort_frames, "adapted_overall")
    wins = row["nme_cohort"] < row["nme_generic"]
    row["model"] = COHORT if wins else GENERIC
    row["reason"] = (f"cohort model: held-out error {row['nme_cohort']:.4f} "
                     f"{'<' if wins else '>='} generic {row['nme_generic']:.4f} over the cohort "
                     f"({COHORT_EVALUATION})" + ("" if wins else ": generic model"))
    return row


def evaluate_heldout(by_subject: dict, faces: list[AnnotatedFace], info: pd.DataFrame,
                     options: ShapeTrainingOptions, *, min_frames: int, subject_folds: int | None,
                     cohort: bool, workers: int) -> tuple[list, dict, dict, pd.DataFrame | None, list]:
    """Held-out fits of every subject model and of the cohort model, all trained side by side.

    Returns
    -------
    evaluated : list of DataFrame
        ``frame_errors`` of each evaluated subject.
    fold_infos : dict
        subject_id -> its fold models' infos.
    refused : dict
        subject_id -> why it gets no subject model.
    cohort_frames : DataFrame or None
        ``frame_errors`` of the cohort model (None: no cohort model).
    cohort_infos : list of dict
    """
    evaluation = subject_evaluation(subject_folds)
    plans, refused = subject_plans(by_subject, min_frames=min_frames, folds=subject_folds)
    keyed = {("subject", s): folds for s, folds in plans.items()}
    faces_of = {("subject", s): by_subject[s] for s in plans}
    folds = cohort_plan(faces, info) if cohort else None
    if folds is not None:
        keyed[(COHORT, "")], faces_of[(COHORT, "")] = folds, faces
    fits = heldout_all(keyed, faces_of, options, workers=workers)
    evaluated, fold_infos = [], {}
    for subject in plans:
        fitted, fold_infos[subject] = fits[("subject", subject)]
        evaluated.append(frame_errors(by_subject[subject], fitted, info, model="subject",
                                      evaluation=evaluation))
        log.info("landmarks-train: subject %s, %s: error %.4f -> %.4f held out (%d models "
                 "trained in %.0f s)", subject, evaluation,
                 evaluated[-1]["generic_overall"].mean(), evaluated[-1]["adapted_overall"].mean(),
                 len(fold_infos[subject]), sum(i["seconds"] for i in fold_infos[subject]))
    if folds is None:
        return evaluated, fold_infos, refused, None, []
    fitted, cohort_infos = fits[(COHORT, "")]
    return (evaluated, fold_infos, refused,
            frame_errors(faces, fitted, info, model="cohort", evaluation=COHORT_EVALUATION),
            cohort_infos)


def train_all(faces: list[AnnotatedFace], info: pd.DataFrame, folder: Path,
              options: ShapeTrainingOptions, *, min_frames: int, subject_folds: int | None,
              cohort: bool, workers: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate every model held out, choose, and train the chosen ones into ``folder``;
    trainings run on ``workers`` processes (``trainings``; -1: as many as the joblib backend has).

    Returns
    -------
    frames : DataFrame
        Per-frame held-out errors (``frame_errors``) of every evaluated model.
    choice : DataFrame
        ``CHOICE_COLUMNS``: one row per subject with annotated frames, one for other subjects.
    """
    by_subject: dict[str, list[AnnotatedFace]] = {}
    for face in faces:
        by_subject.setdefault(info.at[face.recording_id, "subject_id"], []).append(face)
    evaluation = subject_evaluation(subject_folds)
    evaluated, fold_infos, refused, cohort_frames, cohort_infos = evaluate_heldout(
        by_subject, faces, info, options, min_frames=min_frames, subject_folds=subject_folds,
        cohort=cohort, workers=workers)
    frames = pd.concat(evaluated + ([cohort_frames] if cohort_frames is not None else []),
                       ignore_index=True)
    if frames.empty:
        raise ConfigError("no shape model can be trained: no subject has enough annotated frames "
                          "for a subject model, and no cohort model can be evaluated")
    subject_frames = dict(list(frames[frames["model"] == "subject"].groupby("subject_id")))
    cohort_by_subject = dict(list(cohort_frames.groupby("subject_id"))) \
        if cohort_frames is not None else {}
    rows = [choose(s, subject_frames.get(s), cohort_by_subject.get(s), refused.get(s, ""),
                   evaluation=evaluation) for s in sorted(by_subject)]
    rows.append(other_subjects_row(cohort_frames))
    finals = {row["model"]: (by_subject[row["subject_id"]],
                             evaluation_record(subject_frames[row["subject_id"]],
                                               fold_infos[row["subject_id"]], evaluation))
              for row in rows if row["model"].startswith("subject_")}
    if any(row["model"] == COHORT for row in rows):
        finals[COHORT] = (faces, {**evaluation_record(cohort_frames, cohort_infos, COHORT_EVALUATION),
                                  "used_for_other_subjects": rows[-1]["model"] == COHORT})
    saved = trainings([joblib.delayed(save_model)(folder, name, model_faces, options, record)
                       for name, (model_faces, record) in finals.items()],
                      [len(model_faces) for model_faces, _ in finals.values()], workers=workers)
    sha = {}
    for name, (digest, training) in zip(finals, saved):
        sha[name] = digest
        log.info("landmarks-train: %s: %d frames (%d with mirror images) trained in %.1f s; peak "
                 "memory %.0f MiB", name, training["faces"], training["training_faces"],
                 training["seconds"], training["peak_memory_mb"])
    for row in rows:
        row["sha256"] = sha.get(row["model"], "")
    table = pd.DataFrame(rows)
    table["n_videos"] = table["subject_id"].map(info["subject_id"].value_counts()).fillna(0).astype(int)
    frame_counts = pd.Series({s: len(f) for s, f in by_subject.items()})
    table["n_frames"] = table["subject_id"].map(frame_counts).fillna(0).astype(int)
    return frames, table[CHOICE_COLUMNS]


def clear_models(folder: Path, keep: set[str]) -> None:
    """Remove models and cards of an earlier training that this one did not write."""
    for path in list(folder.glob("*.dat")) + list(folder.glob("*.json")):
        if path.stem not in keep:
            path.unlink()


def run(args) -> int:
    recordings = valid_recordings(args.out)
    recordings = recordings[(recordings["landmarks_path"] != "") & (recordings["video_path"] != "")]
    if recordings.empty:
        raise ConfigError("no valid manifest row has both a video_path and a landmarks_path: "
                          "landmarks-train learns from manual landmark files (NeuroFace .txt)")
    params = dataclasses.asdict(tracker_params(args))
    generic = generic_choice()
    items = tracking_items(args.out, recordings, kind=GENERIC_KIND, params=params,
                           choices={rid: generic for rid in recordings["recording_id"]})
    for item, manual_file in zip(items, recordings["landmarks_path"]):
        item["reuse"] = str(cache_path(args.out, "landmarks", item["recording_id"]))
        item["annotations"], item["frame_base"] = manual_file, args.manual_frame_base
    tracked = run_items("landmarks-train (generic)", items, track_keeping_crops,
                        workers=args.workers, dask_address=args.dask)
    kept = {r.recording_id: r for r in tracked if isinstance(r, TrackedWithCrops)}
    drop_outputs(args.out, GENERIC_KIND, tracked)
    if args.subject_folds is not None and args.subject_folds < 2:
        raise ConfigError(f"--subject-folds must be at least 2; got {args.subject_folds}")
    options = training_options(args)
    folder = args.out / MODELS_DIR
    key = training_key(recordings, args.out, options, args)
    if cache.is_fresh(folder / CHOICE_FILE, key) and (args.out / ADAPTATION_TABLE).is_file():
        log.info("landmarks-train: shape models in %s are up to date", folder)
        return finish(args.out, "landmarks-train", tracked)
    start = time.monotonic()
    info = recordings.set_index("recording_id")[["subject_id", "group", "task"]]
    folder.mkdir(parents=True, exist_ok=True)
    # An interrupted training must leave no choice that names half-replaced models.
    for stale in (folder / CHOICE_FILE, args.out / ADAPTATION_TABLE):
        stale.unlink(missing_ok=True)
    workers = -1 if args.dask else args.workers
    with runner.parallel_backend(args.dask):
        faces, collected = collect_faces(recordings, args.out, args.manual_frame_base, kept,
                                         workers=workers)
        log.info("landmarks-train: %d annotated frames of %d recordings (%.0f s to read; %d "
                 "recordings' frames kept while tracking)", len(faces),
                 len({f.recording_id for f in faces}), time.monotonic() - start, len(kept))
        frames, choice = train_all(faces, info, folder, options, min_frames=args.min_subject_frames,
                                   subject_folds=args.subject_folds, cohort=args.cohort_model,
                                   workers=workers)
    clear_models(folder, set(choice["model"]) - {GENERIC})
    atomic_write(folder / "IDENTIFIABLE.txt", lambda tmp: tmp.write_text(IDENTIFIABLE_NOTE))
    cache.write_parquet(frames, args.out / FRAMES_TABLE)
    write_csv(adaptation_summary(frames), args.out / ADAPTATION_TABLE)
    write_csv(choice, folder / CHOICE_FILE)
    cache.write_key(folder / CHOICE_FILE, key)
    log_outcome(choice, frames, time.monotonic() - start)
    results = [r for r in tracked if r.status not in ("done", "cached")] + collected
    return finish(args.out, "landmarks-train", results)


def log_outcome(choice: pd.DataFrame, frames: pd.DataFrame, seconds: float) -> None:
    """What was trained, what won, how long it took."""
    for model, part in frames.groupby("model"):
        log.info("landmarks-train: %s models, %s: error %.4f -> %.4f (lips %.4f -> %.4f) "
                 "inter-ocular distances", model, part["evaluation"].iloc[0],
                 mean_overall(part, "generic_overall"), mean_overall(part, "adapted_overall"),
                 mean_overall(part, "generic_lips"), mean_overall(part, "adapted_lips"))
    used = choice[choice["scope"] == "subject"]["model"]
    log.info("landmarks-train: of %d subjects, %d use their own model, %d the cohort model, %d the "
             "generic one; training took %.0f s, peak memory %.0f MiB", len(used),
             used.str.startswith("subject_").sum(), (used == COHORT).sum(),
             (used == GENERIC).sum(), seconds, peak_memory_mb())


def main(argv=None) -> int:
    return stage_main("avstroke landmarks-train", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())

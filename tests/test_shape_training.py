"""Shape models trained on a cohort's own annotated frames (features.video.shape_training and the
landmarks-train stage's checks): a known answer on a warped face, refusals, the mirror, folds."""
from __future__ import annotations

import dlib
import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, MediaError
from core.ibug68 import MIRROR_INDEX
from features.video.dlib_models import shape_predictor, shape_to_array
from features.video.landmark_error import face_errors
from features.video.landmarks import X_COLUMNS, Y_COLUMNS, detect_faces
from features.video.shape_training import (AnnotatedFace, ShapeTrainingOptions, crop_face,
                                           dlib_box, fit_faces, group_folds, heldout_folds,
                                           mirror_face, train_predictor)
from phantom import face as F
from phantom import motion as M
from phantom.schedule import build_schedule
from pipeline.landmarks_train import check_annotations, choose, heldout_all, subject_plans

FPS = 50.0
N_FRAMES = 150
# Small models: the known answer needs no more, and the test stays a few seconds long.
FAST = ShapeTrainingOptions(cascade_depth=6, trees_per_level=60, oversampling=10)


@pytest.fixture(scope="module")
def warped_clip():
    """A face whose left side smiles and whose right side barely moves, with its truth: 150
    frames of the phantom's smile task on a face (the astronaut's) reshaped by a strong one-sided
    weakness, the case the generic model registers only in part."""
    identity = F.make_identity(*F.astronaut_source(), params=F.IdentityParams(iod_px=110.0),
                               rng=np.random.default_rng(0))
    schedule = build_schedule("NSM_SPREAD", duration_s=N_FRAMES / FPS, rate_hz=5.5, rate_cv=0.0,
                              fatigue=0.0, movement_s=1.2, rng=np.random.default_rng(1))
    impairment = M.FaceImpairment(weak_side="right", weakness=0.9)
    displacement = M.task_displacements(schedule, impairment=impairment,
                                        neutral_landmarks=identity.landmarks, fps=FPS,
                                        n_frames=N_FRAMES)
    frames = [F.render_frame(identity, displacement[i], F.Pose(), i) for i in range(N_FRAMES)]
    grays = [np.ascontiguousarray(rgb.mean(axis=2).astype(np.uint8)) for rgb, _ in frames]
    return grays, np.stack([truth for _, truth in frames]), displacement


def _face(gray, truth, frame) -> AnnotatedFace:
    box, _ = detect_faces(gray, scale=1.0, upsample=0)[0]
    generic = shape_to_array(shape_predictor()(gray, box))
    return crop_face(gray, [box.left(), box.top(), box.right(), box.bottom()], truth, generic,
                     recording_id="clip", frame=frame)


def test_a_model_trained_on_one_warped_face_tracks_a_held_out_frame_better_than_generic(
        warped_clip, tmp_path):
    grays, truth, displacement = warped_clip
    held = int(np.argmax(np.abs(displacement[:, 54]).sum(axis=1)))  # the fullest smile
    training = [k for k in range(0, N_FRAMES, 6) if abs(k - held) > 3]
    predictor, info = train_predictor([_face(grays[k], truth[k], k) for k in training], FAST)
    assert info["training_faces"] == 2 * len(training)  # mirrored too
    test = _face(grays[held], truth[held], held)
    adapted = fit_faces(predictor, [test])
    generic = face_errors(test.generic[None], test.points[None])
    mine = face_errors(adapted, test.points[None])
    assert mine.loc[0, "lips"] < 0.5 * generic.loc[0, "lips"]  # measured: 0.004 against 0.023
    assert mine.loc[0, "overall"] < generic.loc[0, "overall"]
    # dlib's own .dat format reloads to the same model
    path = tmp_path / "model.dat"
    predictor.save(str(path))
    np.testing.assert_array_equal(fit_faces(dlib.shape_predictor(str(path)), [test]), adapted)


def test_heldout_fits_are_the_same_on_one_or_two_worker_processes(warped_clip):
    grays, truth, _ = warped_clip
    faces = [_face(grays[k], truth[k], k) for k in range(0, N_FRAMES, 10)]
    plans = {"a": heldout_folds(faces, np.arange(len(faces)) % 3)}
    one = heldout_all(plans, {"a": faces}, FAST, workers=1)["a"]
    two = heldout_all(plans, {"a": faces}, FAST, workers=2)["a"]
    assert np.isfinite(one[0]).all()  # every face fitted by its fold's model
    np.testing.assert_array_equal(one[0], two[0])
    assert [i["fold"] for i in one[1]] == [0, 1, 2]
    assert [i["faces"] for i in one[1]] == [len(faces) - int(np.sum(np.arange(len(faces)) % 3 == k))
                                           for k in range(3)]


def test_mirror_face_flips_image_box_and_points_and_undoes_itself():
    image = np.zeros((20, 30), np.uint8)
    image[5, 2] = 255
    points = np.arange(136, dtype=float).reshape(68, 2) % 20
    face = AnnotatedFace("r", 0, image, np.array([1.0, 2.0, 11.0, 12.0]), points, points + 1)
    mirrored = mirror_face(face)
    assert mirrored.image[5, 27] == 255
    np.testing.assert_array_equal(mirrored.box, [18.0, 2.0, 28.0, 12.0])
    assert tuple(mirrored.points[54]) == (29 - points[48, 0], points[48, 1])
    again = mirror_face(mirrored)
    np.testing.assert_array_equal(again.image, image)
    np.testing.assert_array_equal(again.points, points)
    np.testing.assert_array_equal(again.box, face.box)
    np.testing.assert_array_equal(MIRROR_INDEX[MIRROR_INDEX], np.arange(68))


def test_crop_keeps_points_box_and_pixels_together():
    gray = np.random.default_rng(0).integers(0, 255, (100, 120), dtype=np.uint8)
    points = np.full((68, 2), 50.0)
    face = crop_face(gray, [40, 30, 59, 49], points, points, recording_id="r", frame=3)
    left, top = 40 - face.box[0], 30 - face.box[1]
    assert face.image[int(face.points[0, 1]), int(face.points[0, 0])] == gray[50, 50]
    assert (left, top) == (30.0, 20.0)  # the frame's top-left at crop (0, 0) + margin
    assert dlib_box(face.box).width() == 20


def test_group_folds_keep_each_group_in_one_fold():
    groups = ["b", "a", "c", "a", "d", "b", "e", "c"]
    folds = group_folds(groups, 3)
    for g in set(groups):
        assert len({f for f, h in zip(folds, groups) if h == g}) == 1
    assert sorted(set(folds)) == [0, 1, 2]
    assert len(set(group_folds(["x", "y"], 5))) == 2
    with pytest.raises(ConfigError):
        group_folds(groups, 1)


def test_heldout_fits_need_two_folds():
    face = AnnotatedFace("r", 0, np.zeros((10, 10), np.uint8), np.array([0, 0, 9, 9.0]),
                         np.zeros((68, 2)), np.zeros((68, 2)))
    with pytest.raises(ConfigError, match="two folds"):
        heldout_folds([face, face], [0, 0])


@pytest.mark.parametrize("field, value", [("cascade_depth", 0), ("trees_per_level", 2.5),
                                          ("nu", 0.0), ("translation_jitter", -0.1),
                                          ("mirror", "yes"), ("oversampling", True)])
def test_training_options_refuse_nonsense(field, value):
    with pytest.raises(ConfigError, match=field):
        ShapeTrainingOptions(**{field: value})


def test_large_sets_are_oversampled_less():
    options = ShapeTrainingOptions(oversampling=20, max_samples=12000)
    assert options.oversampling_for(100) == 20
    assert options.oversampling_for(6600) == 1
    assert options.dlib_options(6600, threads=2).oversampling_amount == 1


# ------------------------------------------------------------------ refusals of the stage


def test_a_subject_with_too_few_annotated_frames_gets_no_model_and_the_reason():
    faces = [AnnotatedFace(f"S1_{k % 2}", k, np.zeros((10, 10), np.uint8),
                           np.array([0, 0, 9, 9.0]), np.zeros((68, 2)), np.zeros((68, 2)))
             for k in range(6)]
    plans, refused = subject_plans({"S1": faces}, min_frames=20, folds=None)
    assert plans == {}
    assert refused["S1"] == "6 annotated frames in 2 video(s); a subject model needs at least 20 " \
                            "in two videos"
    row = choose("S1", None, None, refused["S1"])
    assert row["model"] == "generic" and "needs at least 20" in row["reason"]


def _tracked(n_frames, points):
    table = pd.DataFrame(np.hstack([np.repeat(points[None, :, 0], n_frames, 0),
                                    np.repeat(points[None, :, 1], n_frames, 0)]),
                         columns=X_COLUMNS + Y_COLUMNS)
    table.insert(0, "frame", np.arange(n_frames))
    return table


def _manual(frames, points):
    table = pd.DataFrame(np.hstack([np.repeat(points[None, :, 0], len(frames), 0),
                                    np.repeat(points[None, :, 1], len(frames), 0)]),
                         columns=X_COLUMNS + Y_COLUMNS)
    table.insert(0, "frame", frames)
    return table


FACE = np.column_stack([np.linspace(200, 300, 68), np.linspace(150, 260, 68)])


def test_a_landmark_file_that_matches_its_video_gives_its_frames():
    frames = check_annotations(_manual([1, 5, 9], FACE + 2), _tracked(10, FACE), (640, 480),
                               frame_base=1, file="a.txt")
    assert frames.tolist() == [0, 4, 8]


@pytest.mark.parametrize("frames, points, expected", [
    ([3, 12], FACE, r"a\.txt: annotated frame\(s\) \[12\] are outside the video's 10 frames"),
    ([3], FACE + [400, 0], r"a\.txt: frame 3 has points outside the video's 640x480 frame"),
    ([3], FACE - [150, 100], r"a\.txt: its points lie .* from the face tracked in the video"),
])
def test_a_landmark_file_that_does_not_match_its_video_is_refused(frames, points, expected):
    with pytest.raises(MediaError, match=expected):
        check_annotations(_manual(frames, points), _tracked(10, FACE), (640, 480), frame_base=0,
                          file="a.txt")

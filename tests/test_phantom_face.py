"""Known-answer tests of the phantom face: identities, the warp renderer and task motion."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from core.errors import ConfigError, MediaError
from core.ibug68 import LEFT_SIDE, MIDLINE, MIRROR_INDEX, RIGHT_SIDE
from features.video.dlib_models import face_detector, shape_predictor, shape_to_array
from features.video.landmark_error import read_ibug_pts
from phantom import face as F
from phantom import motion as M
from phantom.schedule import build_schedule
from tests.conftest import realdata

FPS = 50.0


@pytest.fixture(scope="module")
def astronaut():
    return F.astronaut_source()


@pytest.fixture(scope="module")
def identity(astronaut):
    params = F.IdentityParams(iod_px=115.0, roll_deg=1.5, centre_dx_px=10.0, noise_sd=2.0)
    return F.make_identity(*astronaut, params=params, rng=np.random.default_rng(0))


def _displacements(task, identity, impairment=M.FaceImpairment(), seed=3, movement_s=1.5):
    schedule = build_schedule(task, duration_s=3.0, rate_hz=5.5, rate_cv=0.05, fatigue=0.0,
                              movement_s=movement_s, rng=np.random.default_rng(seed))
    disp = M.task_displacements(schedule, impairment=impairment,
                                neutral_landmarks=identity.landmarks, fps=FPS,
                                n_frames=int(3.0 * FPS))
    return schedule, disp


def _peak_frame(disp):
    return int(np.argmax(np.abs(disp).sum(axis=(1, 2))))


def _dlib_landmarks(frame):
    boxes = face_detector()(frame, 0)
    assert len(boxes) >= 1, "dlib found no face in the rendered frame"
    box = max(boxes, key=lambda r: r.width() * r.height())
    return shape_to_array(shape_predictor()(frame, box))


# ---------------------------------------------------------------------------------------------
# Renderer
# ---------------------------------------------------------------------------------------------

def test_still_frame_is_the_identity_up_to_noise(identity):
    frame, truth = F.render_frame(identity, np.zeros((68, 2)), F.Pose(), 5)
    np.testing.assert_array_equal(truth, identity.landmarks)
    diff = frame.astype(int) - identity.image.astype(int)
    # Only the sensor noise (SD 2 grey levels, rounded) separates them.
    assert np.abs(diff).max() <= 12
    assert 1.2 < diff.std() < 2.8
    assert abs(diff.mean()) < 0.2


def test_noise_depends_on_the_frame_index_only(identity):
    still = np.zeros((68, 2))
    a, _ = F.render_frame(identity, still, F.Pose(), 7)
    b, _ = F.render_frame(identity, still, F.Pose(), 7)
    c, _ = F.render_frame(identity, still, F.Pose(), 8)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1.0
    with pytest.raises(ConfigError):
        F.render_frame(identity, still, F.Pose(), -1)


@pytest.mark.parametrize("task", ["NSM_SPREAD", "NSM_OPEN", "NSM_BROW", "DDK_PA"])
def test_truth_is_where_the_warp_puts_the_landmark_content(identity, task):
    # Gaussian dots at the neutral landmarks, pushed through the real renderer: each dot's
    # centroid must land on the truth landmark.
    schedule, disp = _displacements(task, identity)
    frame_index = _peak_frame(disp) if task != "DDK_PA" else \
        int(round(schedule.events[0].onset_s * FPS)) + 3
    watched = {"NSM_SPREAD": [48, 54, 51], "NSM_OPEN": [8, 57, 54],
               "NSM_BROW": [19, 24, 27], "DDK_PA": [57, 54, 8]}[task]
    dots = np.zeros(identity.image.shape[:2], np.float32)
    yy, xx = np.mgrid[:dots.shape[0], :dots.shape[1]]
    for x, y in identity.landmarks[watched]:
        dots += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5 ** 2))
    dot_image = np.round(np.clip(dots, 0, 1) * 250).astype(np.uint8)
    rgb = np.dstack([dot_image] * 3)
    padded = cv2.copyMakeBorder(cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA), F.PAD_PX, F.PAD_PX,
                                F.PAD_PX, F.PAD_PX, cv2.BORDER_CONSTANT)
    silent = np.zeros_like(identity.noise_up)
    dotted = dataclasses.replace(identity, image=rgb, padded_rgba=padded, noise_up=silent,
                                 noise_down=silent)
    pose = F.Pose(roll_deg=3.0, dx_px=4.2, dy_px=-2.7, scale=1.03)
    frame, truth = F.render_frame(dotted, disp[frame_index], pose, 0)
    assert np.linalg.norm(disp[frame_index][watched], axis=1).max() > 5.0
    weights = frame[..., 0].astype(float)
    for index in watched:
        x, y = truth[index]
        window = (np.abs(xx - x) < 6) & (np.abs(yy - y) < 6)
        w = weights * window
        centroid = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
        assert np.linalg.norm(centroid - truth[index]) < 0.5, (task, index, centroid, truth[index])


@pytest.mark.parametrize("task", ["NSM_SPREAD", "NSM_BIGSMILE", "NSM_KISS", "NSM_OPEN",
                                  "NSM_BLOW", "DDK_PATAKA", "BBP_NORMAL"])
def test_inverse_warp_error_is_small(identity, task):
    _, disp = _displacements(task, identity, M.FaceImpairment(weak_side="right", weakness=0.4))
    for frame_index in range(0, len(disp), 7):
        pose = F.Pose(roll_deg=2 * np.sin(frame_index / 9), dx_px=3.0, scale=0.98)
        map_x, map_y, truth = F.warp_maps(identity, disp[frame_index], pose)
        # The map at the truth point reads the neutral landmark (the frame shows it there).
        back = np.column_stack([cv2.remap(m, truth[:, :1].astype(np.float32),
                                          truth[:, 1:].astype(np.float32), cv2.INTER_LINEAR)[:, 0]
                                for m in (map_x, map_y)])
        assert np.abs(back - identity.landmarks).max() < 0.2
        # And the realised motion follows the requested one, up to the warp's interpolation
        # between nodes, which errs most where pressed lips squeeze their gap to 5%.
        forward = pose.matrix(identity.pivot)
        requested = (identity.landmarks + disp[frame_index]) @ forward[:, :2].T + forward[:, 2]
        bound = 1.5 if task in ("NSM_BLOW", "DDK_PATAKA", "BBP_NORMAL") else 1.0
        assert np.linalg.norm(truth - requested, axis=1).max() < bound


def test_head_pose_moves_every_truth_point_rigidly(identity):
    _, disp = _displacements("NSM_SPREAD", identity)
    d = disp[_peak_frame(disp)]
    _, still_truth = F.render_frame(identity, d, F.Pose(), 0)
    pose = F.Pose(roll_deg=4.0, dx_px=6.0, dy_px=-3.0, scale=1.05)
    _, posed_truth = F.render_frame(identity, d, pose, 0)
    forward = pose.matrix(identity.pivot)
    # Up to the warp's interpolation between nodes (the nodes sit elsewhere on the face once
    # it is posed), the posed truth is the still truth moved by the pose. That interpolation
    # differs a little between OpenCV releases: the largest gap is 0.296 px on 5.x, 0.301 px on
    # 4.9 to 4.14 (the newest OpenCV that installs beside numpy 1.26 is 4.11).
    moved = still_truth @ forward[:, :2].T + forward[:, 2]
    assert np.linalg.norm(posed_truth - moved, axis=1).max() < 0.31
    assert np.linalg.norm(posed_truth - still_truth, axis=1).mean() > 5.0
    local = F.local_displacement(identity, posed_truth, pose)
    assert np.abs(local - (still_truth - identity.landmarks)).max() < 0.3


def test_lips_close_in_the_picture_at_each_pa_onset(identity):
    schedule, disp = _displacements("DDK_PA", identity)
    neutral_gap = np.linalg.norm(identity.landmarks[62] - identity.landmarks[66])
    for event in schedule.events[:3]:
        onset = int(round(event.onset_s * FPS))
        _, truth = F.render_frame(identity, disp[onset], F.Pose(), onset)
        assert np.linalg.norm(truth[62] - truth[66]) < 0.15 * neutral_gap


# ---------------------------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------------------------

def test_identity_follows_its_parameters(astronaut):
    base = F.IdentityParams(iod_px=110.0)
    wide = dataclasses.replace(base, face_width_gain=1.06, centre_dx_px=40.0)
    plain = F.make_identity(*astronaut, params=base, rng=np.random.default_rng(1))
    widened = F.make_identity(*astronaut, params=wide, rng=np.random.default_rng(1))
    assert plain.iod_px == pytest.approx(110.0, abs=0.5)
    jaw = [np.linalg.norm(i.landmarks[3] - i.landmarks[13]) for i in (plain, widened)]
    assert jaw[1] / jaw[0] == pytest.approx(1.06, abs=0.01)
    shift = widened.landmarks[27:31].mean(0) - plain.landmarks[27:31].mean(0)
    assert shift[0] == pytest.approx(40.0, abs=1.5)
    assert plain.image.shape == (480, 640, 3) and plain.image.dtype == np.uint8


def test_mirrored_identity_keeps_anatomical_indices(astronaut):
    params = F.IdentityParams(iod_px=110.0, mirror=True)
    mirrored = F.make_identity(*astronaut, params=params, rng=np.random.default_rng(1))
    lm = mirrored.landmarks
    # Subject's left (54, 45, 16) stays on the image right of the subject's right.
    assert lm[54, 0] > lm[48, 0] and lm[45, 0] > lm[36, 0] and lm[16, 0] > lm[0, 0]
    assert sorted(MIRROR_INDEX) == list(range(68))
    np.testing.assert_array_equal(MIRROR_INDEX[MIRROR_INDEX], np.arange(68))


def test_drawn_identities_differ(astronaut):
    rng = np.random.default_rng(11)
    a, b = (F.make_identity(*astronaut, params=F.draw_identity_params(rng), rng=rng)
            for _ in range(2))
    assert np.abs(a.image.astype(float) - b.image.astype(float)).mean() > 10
    assert np.abs(a.landmarks - b.landmarks).mean() > 3


def test_parameters_are_validated(astronaut):
    with pytest.raises(ConfigError, match="iod_px"):
        F.IdentityParams(iod_px=20.0)
    with pytest.raises(ConfigError, match="scale"):
        F.Pose(scale=2.0)
    with pytest.raises(ConfigError, match="weak_side"):
        M.FaceImpairment(weakness=0.5)
    closed = astronaut[1].copy()
    closed[[61, 62, 63]] = closed[[67, 66, 65]]
    with pytest.raises(MediaError, match="closed"):
        F.make_identity(astronaut[0], closed, params=F.IdentityParams(iod_px=110.0),
                        rng=np.random.default_rng(0))
    swapped = astronaut[1].copy()
    swapped[[61, 62, 63, 65, 66, 67]] = swapped[[67, 66, 65, 63, 62, 61]]
    with pytest.raises(MediaError, match="swaps the inner lips"):
        F.make_identity(astronaut[0], swapped, params=F.IdentityParams(iod_px=110.0),
                        rng=np.random.default_rng(0))


def test_dlib_finds_rendered_astronaut_faces_on_the_truth(astronaut):
    rng = np.random.default_rng(21)
    for k in range(3):
        ident = F.make_identity(*astronaut, params=F.draw_identity_params(rng), rng=rng)
        frame, truth = F.render_frame(ident, np.zeros((68, 2)), F.Pose(), k)
        fitted = _dlib_landmarks(frame)
        assert np.linalg.norm(fitted - truth, axis=1).mean() < 0.05 * ident.iod_px


@pytest.mark.realdata
def test_dlib_finds_rendered_lfpw_faces():
    lfpw = realdata("faces", "lfpw")
    rng = np.random.default_rng(5)
    rendered = 0
    for image_path in sorted(lfpw.glob("*.png")):
        photo = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
        landmarks = read_ibug_pts(image_path.with_suffix(".pts"))
        down = F.face_frame(landmarks)[1]
        gaps = (landmarks[[67, 66, 65]] - landmarks[[61, 62, 63]]) @ down
        if gaps.min() < F.MIN_LIP_GAP_IOD * F.inter_ocular_distance(landmarks):
            # Closed or swapped inner lips (image_0003 and image_0004 of this set).
            with pytest.raises(MediaError):
                F.make_identity(photo, landmarks, params=F.draw_identity_params(rng), rng=rng)
            continue
        ident = F.make_identity(photo, landmarks, params=F.draw_identity_params(rng), rng=rng)
        frame, truth = F.render_frame(ident, np.zeros((68, 2)), F.Pose(), 0)
        fitted = _dlib_landmarks(frame)
        # Manual 300-W annotation vs dlib: looser than for the dlib-annotated astronaut.
        assert np.linalg.norm(fitted - truth, axis=1).mean() < 0.08 * ident.iod_px
        rendered += 1
    assert rendered >= 3


# ---------------------------------------------------------------------------------------------
# Motion
# ---------------------------------------------------------------------------------------------

def test_sides_partition_the_landmarks():
    sides = np.concatenate([LEFT_SIDE, RIGHT_SIDE, MIDLINE])
    assert sorted(sides) == list(range(68))
    np.testing.assert_array_equal(np.sort(MIRROR_INDEX[LEFT_SIDE]), np.sort(RIGHT_SIDE))
    np.testing.assert_array_equal(np.sort(MIRROR_INDEX[MIDLINE]),
                                  np.sort(MIDLINE))


@pytest.mark.parametrize("weakness", [0.3, 0.7])
def test_left_weakness_reduces_left_smile_by_exactly_its_fraction(identity, weakness):
    impairment = M.FaceImpairment(weak_side="left", weakness=weakness)
    _, disp = _displacements("NSM_SPREAD", identity, impairment)
    summary = M.motion_truth_summary(disp, neutral_landmarks=identity.landmarks, fps=FPS)
    ratio = summary["corner_excursion_left"] / summary["corner_excursion_right"]
    assert ratio == pytest.approx(1.0 - weakness, rel=1e-6)
    assert 0.15 < summary["corner_excursion_right"] < 0.25
    assert summary["corner_peak_speed_left"] < (1.0 - weakness) * summary["corner_peak_speed_right"]
    # The weak side rises 1 / (1 - weakness / 2) times slower: half its rise comes later by
    # half the extra rise time.
    rise = M.MOVE_RISE * 1.5
    expected_lag = 0.5 * rise * (1.0 / (1.0 - 0.5 * weakness) - 1.0)
    assert summary["corner_lag_s"] == pytest.approx(expected_lag, abs=0.01)
    # A tight-lipped smile: the lips do not part.
    assert summary["lip_aperture_max"] - summary["lip_aperture_min"] < 1e-3


@pytest.mark.parametrize("asymmetry", [0.0, 0.06, -0.04])
def test_controls_are_symmetric_up_to_natural_asymmetry(identity, asymmetry):
    impairment = M.FaceImpairment(natural_asymmetry=asymmetry)
    for task in ("NSM_SPREAD", "NSM_BROW", "NSM_KISS"):
        _, disp = _displacements(task, identity, impairment)
        summary = M.motion_truth_summary(disp, neutral_landmarks=identity.landmarks, fps=FPS)
        key = "brow_raise" if task == "NSM_BROW" else "corner_excursion"
        left, right = summary[f"{key}_left"], summary[f"{key}_right"]
        assert (left - right) / (left + right) == pytest.approx(asymmetry, abs=1e-9)
        assert summary["corner_lag_s"] == 0.0


def test_magnitudes_are_realistic(identity):
    tasks = ("NSM_OPEN", "NSM_BROW", "NSM_KISS", "NSM_BIGSMILE")
    s = {task: M.motion_truth_summary(_displacements(task, identity)[1],
                                      neutral_landmarks=identity.landmarks, fps=FPS)
         for task in tasks}
    assert 0.3 <= s["NSM_OPEN"]["jaw_opening_range"] <= 0.5
    assert s["NSM_OPEN"]["lip_aperture_max"] > 2 * s["NSM_OPEN"]["lip_aperture_min"]
    assert 0.08 <= s["NSM_BROW"]["brow_raise_left"] <= 0.12
    width_loss = 1 - s["NSM_KISS"]["lip_width_min"] / s["NSM_KISS"]["lip_width_max"]
    assert 0.2 <= width_loss <= 0.3
    assert 0.15 <= s["NSM_BIGSMILE"]["corner_excursion_left"] <= 0.25


def test_pa_onsets_close_the_lips_and_vowels_open_them(identity):
    schedule, disp = _displacements("DDK_PA", identity)
    track = identity.landmarks + disp
    aperture = np.linalg.norm(track[:, 62] - track[:, 66], axis=1)
    neutral_gap = aperture[0]
    onsets = [int(round(e.onset_s * FPS)) for e in schedule.events]
    assert len(onsets) >= 6
    for onset in onsets:
        # Closed up to the warp's residue (5% of the gap) and the lips' sideways offset.
        assert aperture[onset] <= 0.1 * neutral_gap
        assert aperture[onset] <= 0.01 * identity.iod_px
    peaks = [aperture[o:o + int(0.6 / 5.5 * FPS) + 1].max() for o in onsets[:-1]]
    assert min(peaks) > neutral_gap + 0.1 * identity.iod_px


def test_pataka_closes_the_lips_only_on_pa(identity):
    schedule, disp = _displacements("DDK_PATAKA", identity)
    track = identity.landmarks + disp
    aperture = np.linalg.norm(track[:, 62] - track[:, 66], axis=1)
    for event in schedule.events:
        at_onset = aperture[int(round(event.onset_s * FPS))] / aperture[0]
        if event.label == "pa":
            assert at_onset <= 0.1
        else:
            assert 0.4 <= at_onset <= 0.7


def test_midline_moves_by_the_mean_of_both_sides(identity):
    weak = M.FaceImpairment(weak_side="right", weakness=0.5)
    schedule, disp = _displacements("NSM_OPEN", identity, weak)
    _, healthy = _displacements("NSM_OPEN", identity)
    first = schedule.events[0]
    hold = int((first.onset_s + 0.6 * first.duration_s) * FPS)   # both sides on their plateau
    down = F.face_frame(identity.landmarks)[1]
    chin_drop = disp[hold, 8] @ down / (healthy[hold, 8] @ down)
    assert chin_drop == pytest.approx(0.75, abs=1e-6)   # mean of gains 1 and 0.5

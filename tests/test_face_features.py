"""Known-answer tests of the face features on synthetic 68-point landmark recordings.

The synthetic face is a mirror-symmetric 68-point template built here, in inter-ocular distance
units (outer eye corners 1 apart), x towards the subject's left, y down. It is animated by moving
chosen points, then placed in an image with a chosen head size, roll and position.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.polynomial import Polynomial

from core.errors import ConfigError, NoFaceError
from core.tasks import NEUROFACE, TaskSpec
from features import registry
from features.video import kinematics
from features.video.face_features import (COLUMNS, face_features, median_variance,
                                          noise_corrected_asymmetry, percent_asymmetry,
                                          signed_asymmetry, task_ratio)
from features.video.normalise import normalise_frames
from features.video.signals import frame_signals
from tests.conftest import realdata

FPS = 50.0
# iBUG/dlib mirror pairs (subject's right <-> left); midline points map to themselves.
MIRROR = {**{i: 16 - i for i in range(17)}, **{17 + i: 26 - i for i in range(5)},
          27: 27, 28: 28, 29: 29, 30: 30, 31: 35, 32: 34, 33: 33,
          36: 45, 37: 44, 38: 43, 39: 42, 40: 47, 41: 46,
          48: 54, 49: 53, 50: 52, 51: 51, 55: 59, 56: 58, 57: 57,
          60: 64, 61: 63, 62: 62, 65: 67, 66: 66}
MIRROR.update({v: k for k, v in MIRROR.items()})
RIGHT_HALF = {  # the subject's right half and the midline, IOD units, y down
    **{i: (-np.cos(np.pi * i / 16), 0.1 + 1.1 * np.sin(np.pi * i / 16)) for i in range(8)},
    8: (0.0, 1.2),
    17: (-0.75, -0.28), 18: (-0.62, -0.36), 19: (-0.47, -0.39), 20: (-0.32, -0.37),
    21: (-0.17, -0.32), 27: (0.0, 0.02), 28: (0.0, 0.17), 29: (0.0, 0.32), 30: (0.0, 0.47),
    31: (-0.15, 0.53), 32: (-0.075, 0.55), 33: (0.0, 0.56),
    36: (-0.5, 0.0), 37: (-0.41, -0.05), 38: (-0.24, -0.05), 39: (-0.15, 0.0),
    40: (-0.24, 0.05), 41: (-0.41, 0.05),
    48: (-0.35, 0.8), 49: (-0.22, 0.74), 50: (-0.08, 0.71), 51: (0.0, 0.72),
    59: (-0.22, 0.88), 58: (-0.1, 0.91), 57: (0.0, 0.92),
    60: (-0.28, 0.8), 61: (-0.1, 0.78), 62: (0.0, 0.78), 67: (-0.1, 0.82), 66: (0.0, 0.82)}
LOWER_LIP = (55, 56, 57, 58, 59, 65, 66, 67)


def template() -> np.ndarray:
    """Mirror-symmetric neutral face, shape (68, 2)."""
    face = np.full((68, 2), np.nan)
    for i, (x, y) in RIGHT_HALF.items():
        face[i] = (x, y)
        face[MIRROR[i]] = (-x, y)
    return face


def still(times: np.ndarray) -> np.ndarray:
    """The neutral face in every frame, shape (T, 68, 2)."""
    return np.repeat(template()[None], len(times), axis=0)


def to_image(faces: np.ndarray, *, scale_px=100.0, roll_rad=0.0, shift_px=(320.0, 240.0)) -> np.ndarray:
    """Place face-frame coordinates in an image; each transform may be per frame (arrays of T)."""
    n = len(faces)
    scale = np.broadcast_to(np.asarray(scale_px, dtype=float), (n,))
    roll = np.broadcast_to(np.asarray(roll_rad, dtype=float), (n,))
    shift = np.broadcast_to(np.asarray(shift_px, dtype=float), (n, 2))
    cos, sin = np.cos(roll)[:, None], np.sin(roll)[:, None]
    x, y = faces[..., 0], faces[..., 1]
    rotated = np.stack([cos * x - sin * y, sin * x + cos * y], axis=2)
    return rotated * scale[:, None, None] + shift[:, None, :]


def move_corners(faces: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Move each mouth corner away from the lower-lip midline point by the given amounts (IOD)."""
    moved = faces.copy()
    neutral = template()
    for corner, amount in ((54, left), (48, right)):
        direction = neutral[corner] - neutral[57]
        moved[:, corner] += np.outer(amount, direction / np.linalg.norm(direction))
    return moved


def raise_brows(faces: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Raise the left and right brows by the given amounts (IOD)."""
    moved = faces.copy()
    moved[:, 22:27, 1] -= np.asarray(left)[:, None]
    moved[:, 17:22, 1] -= np.asarray(right)[:, None]
    return moved


def open_lips(faces: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Lower the lower lip by ``amount`` (IOD), opening the lips by that much."""
    moved = faces.copy()
    moved[:, LOWER_LIP, 1] += np.asarray(amount)[:, None]
    return moved


def smile_profile(times: np.ndarray, *, start=0.5, rise=0.4, hold=0.6, fall=0.4, rest=0.6) -> np.ndarray:
    """Repeated smooth rise-hold-fall movements from 0 to 1, starting after ``start`` s of rest."""
    period = rise + hold + fall + rest
    phase = np.mod(times - start, period)
    up = np.clip(phase / rise, 0, 1)
    down = np.clip((phase - rise - hold) / fall, 0, 1)
    level = 0.5 - 0.5 * np.cos(np.pi * up) - (0.5 - 0.5 * np.cos(np.pi * down))
    return np.where(times < start, 0.0, level)


def run(faces: np.ndarray, times: np.ndarray, task: str, found=None, **placement):
    """Face features of ``faces`` as a recording of the built-in task named ``task``."""
    found = np.isfinite(faces).all(axis=(1, 2)) if found is None else found
    return face_features(to_image(faces, **placement), times, task=NEUROFACE[task], face_found=found)


def regular_times(duration_s: float) -> np.ndarray:
    return np.arange(int(round(duration_s * FPS)) + 1) / FPS


# --- normalisation and signals -------------------------------------------------------------

def test_normalisation_recovers_the_template_in_any_head_pose():
    times = regular_times(2.0)
    roll = 0.3 * np.sin(2 * np.pi * 0.5 * times)
    scale = 80 * (1 + 0.25 * np.sin(2 * np.pi * 0.3 * times))
    image = to_image(still(times), scale_px=scale, roll_rad=roll,
                     shift_px=np.stack([300 + 40 * times, 200 - 10 * times], axis=1))
    normalised, info = normalise_frames(image)
    assert np.allclose(normalised, template()[None], atol=1e-9)
    assert np.allclose(info["roll_deg"], np.degrees(roll))
    assert normalised[0, 45, 0] > 0 and normalised[0, 54, 0] > 0  # subject's left has x > 0
    assert normalised[0, 57, 1] > 0  # y points down, to the mouth
    intercanthal, info_ic = normalise_frames(image, scale="intercanthal")
    assert np.allclose(intercanthal, template()[None] / 0.3, atol=1e-9)
    assert "inter-canthal" in info_ic["unit"]


def test_normalisation_rejects_bad_input_and_faceless_recordings():
    with pytest.raises(ConfigError, match="shape"):
        normalise_frames(np.zeros((5, 67, 2)))
    with pytest.raises(ConfigError, match="scale"):
        normalise_frames(still(regular_times(0.1)), scale="iris")
    with pytest.raises(NoFaceError):
        normalise_frames(np.full((4, 68, 2), np.nan))


def test_signals_of_the_template_match_its_geometry():
    frames, _ = frame_signals(still(np.zeros(1)))
    row = frames.iloc[0]
    assert row["lip_aperture"] == pytest.approx(0.04)
    assert row["lip_width"] == pytest.approx(0.70)
    assert row["jaw_opening"] == pytest.approx(1.18)
    assert row["commissure_excursion_left"] == pytest.approx(np.hypot(0.35, 0.12))
    assert row["commissure_excursion_left"] == pytest.approx(row["commissure_excursion_right"])
    assert row["smile_angle_left"] == pytest.approx(90 + np.degrees(np.arctan2(0.12, 0.35)))
    assert row["commissure_height_dev"] == pytest.approx(0.0)
    # brow above the eye centre (-0.325, 0): brow contour between p19 (-0.47) and p20 (-0.32)
    brow_y = np.interp(-0.325, [-0.47, -0.32], [-0.39, -0.37])
    assert row["brow_height_right"] == pytest.approx(-brow_y)
    assert row["palpebral_fissure_left"] == pytest.approx(0.10)


# --- asymmetry ------------------------------------------------------------------------------

def test_asymmetry_helpers_known_values():
    assert percent_asymmetry(0.5, 1.0) == pytest.approx(50.0)
    assert signed_asymmetry(0.5, 1.0) == pytest.approx(-1 / 3)
    assert signed_asymmetry(1.0, 0.5) == pytest.approx(1 / 3)
    assert task_ratio(0.5, 1.0) == pytest.approx(0.5)
    assert np.isnan(percent_asymmetry(0.0, 0.0)) and np.isnan(signed_asymmetry(0.0, 0.0))
    with pytest.raises(ConfigError):
        percent_asymmetry(-0.1, 1.0)


def test_symmetric_face_moving_symmetrically_has_no_asymmetry():
    times = regular_times(6.0)
    level = smile_profile(times)
    smile = move_corners(still(times), 0.08 * level, 0.08 * level)
    row, info = run(smile, times, "NSM_SPREAD")
    assert row["face__commissure_excursion_left"] == pytest.approx(0.08, rel=1e-6)
    assert row["face__commissure_excursion_asym_pct"] == pytest.approx(0.0, abs=1e-9)
    assert row["face__commissure_excursion_asym_signed"] == pytest.approx(0.0, abs=1e-9)
    assert row["face__commissure_excursion_ratio"] == pytest.approx(1.0)
    assert row["face__commissure_peak_speed_asym_pct"] == pytest.approx(0.0, abs=1e-9)
    assert row["face__commissure_lag_s"] == pytest.approx(0.0, abs=1e-6)
    assert row["face__commissure_height_dev_peak"] == pytest.approx(0.0, abs=1e-9)
    assert row["face__smile_angle_diff_peak"] == pytest.approx(0.0, abs=1e-9)
    brows = raise_brows(still(times), 0.1 * level, 0.1 * level)
    row, _ = run(brows, times, "NSM_BROW")
    assert row["face__brow_elevation_left"] == pytest.approx(0.1, rel=1e-6)
    assert row["face__brow_elevation_asym_pct"] == pytest.approx(0.0, abs=1e-9)
    assert row["face__brow_lag_s"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("k", [0.3, 0.6])
def test_weaker_left_corner_gives_expected_asymmetry_and_side(k):
    times = regular_times(6.0)
    level = smile_profile(times)
    smile = move_corners(still(times), k * 0.08 * level, 0.08 * level)
    row, _ = run(smile, times, "NSM_SPREAD")
    assert row["face__commissure_excursion_asym_pct"] == pytest.approx(100 * (1 - k), rel=1e-6)
    assert row["face__commissure_excursion_asym_signed"] == pytest.approx((k - 1) / (k + 1), rel=1e-6)
    assert row["face__commissure_excursion_asym_signed"] < 0  # negative = left weaker
    assert row["face__commissure_excursion_ratio"] == pytest.approx(k, rel=1e-6)
    assert row["face__commissure_peak_speed_asym_pct"] == pytest.approx(100 * (1 - k), rel=0.02)
    assert row["face__commissure_peak_speed_asym_signed"] < 0
    mirrored, _ = run(move_corners(still(times), 0.08 * level, k * 0.08 * level), times, "NSM_SPREAD")
    assert mirrored["face__commissure_excursion_asym_signed"] == pytest.approx(
        -row["face__commissure_excursion_asym_signed"])


def landmark_noise(faces: np.ndarray, sd_iod: float, *, smooth_s: float, seed: int) -> np.ndarray:
    """Independent noise on every landmark coordinate, SD ``sd_iod``; with ``smooth_s`` > 0 it
    drifts (Gaussian-filtered over that many seconds) instead of jittering frame to frame."""
    from scipy.ndimage import gaussian_filter1d

    noise = np.random.default_rng(seed).standard_normal(faces.shape)
    if smooth_s > 0:
        noise = gaussian_filter1d(noise, sigma=smooth_s * FPS, axis=0)
        noise /= noise.std()
    return faces + sd_iod * noise


@pytest.mark.parametrize("amplitude", [0.08, 0.024, 0.012])  # healthy, 30% and 15% of it
@pytest.mark.parametrize("sd_iod, smooth_s", [(0.01, 0.0), (0.04, 0.0), (0.01, 0.1), (0.04, 0.1)])
def test_symmetric_movement_reads_symmetric_whatever_the_noise_and_amplitude(amplitude, sd_iod,
                                                                             smooth_s):
    times = regular_times(6.0)
    level = smile_profile(times)
    smile = move_corners(still(times), amplitude * level, amplitude * level)
    readings = []
    for seed in range(12):
        row, _ = run(landmark_noise(smile, sd_iod, smooth_s=smooth_s, seed=seed), times,
                     "NSM_SPREAD")
        readings.append(row["face__commissure_excursion_asym_pct"])
    readings = np.nan_to_num(readings)  # NaN: the noise hid that anything moved
    assert np.median(readings) == 0.0
    assert np.mean(readings > 20) <= 0.25


@pytest.mark.parametrize("k", [0.3, 0.6])
def test_one_sided_weakness_above_the_noise_keeps_its_size(k):
    times = regular_times(6.0)
    level = smile_profile(times)
    smile = move_corners(still(times), k * 0.08 * level, 0.08 * level)
    readings, noise = [], []
    for seed in range(8):
        row, _ = run(landmark_noise(smile, 0.003, smooth_s=0.0, seed=seed), times, "NSM_SPREAD")
        readings.append(row["face__commissure_excursion_asym_pct"])
        noise.append(row["face__commissure_excursion_asym_noise_pct"])
    assert np.median(readings) == pytest.approx(100 * (1 - k), abs=4)
    assert 0 < np.median(noise) < 5


def test_noise_corrected_asymmetry_known_values():
    assert noise_corrected_asymmetry(0.5, 1.0, 0.0) == pytest.approx(
        {"asym_pct": 50.0, "asym_signed": -1 / 3, "ratio": 0.5, "asym_noise_pct": 0.0})
    # a difference of 0.5 with a standard error of 0.15: shrunk to sqrt(0.25 - 4 x 0.0225) = 0.4
    values = noise_corrected_asymmetry(1.0, 0.5, 0.15 ** 2)
    assert values["asym_pct"] == pytest.approx(40.0)
    assert values["asym_signed"] == pytest.approx(0.5 / 1.5)  # the raw difference names the side
    assert values["asym_noise_pct"] == pytest.approx(15.0)
    assert noise_corrected_asymmetry(1.0, 0.8, 0.15 ** 2)["asym_pct"] == 0.0  # within the noise
    with pytest.raises(ConfigError):
        noise_corrected_asymmetry(0.0, 0.0, 0.0)


def test_median_variance_counts_drifting_noise_as_few_independent_looks():
    rng = np.random.default_rng(0)
    every = np.ones(4000, dtype=bool)
    white = rng.standard_normal(4000)
    assert median_variance(white, every) == pytest.approx(np.pi / 2 / 4000, rel=0.15)
    drift = np.convolve(rng.standard_normal(4100), np.ones(100) / 10, mode="valid")[:4000]
    assert median_variance(drift, every) > 20 * median_variance(white, every)
    assert np.isnan(median_variance(white, np.arange(4000) < 2))


@pytest.mark.parametrize("delay_s", [0.1, -0.06])
def test_left_side_lag_is_measured_within_a_frame(delay_s):
    times = regular_times(6.0)
    smile = move_corners(still(times), 0.08 * smile_profile(times - delay_s),
                         0.08 * smile_profile(times))
    row, _ = run(smile, times, "NSM_SPREAD")
    assert row["face__commissure_lag_s"] == pytest.approx(delay_s, abs=1 / FPS)


# --- kinematics -----------------------------------------------------------------------------

def sinusoid_recording(times: np.ndarray, *, amplitude: float, freq_hz: float) -> np.ndarray:
    """Lip aperture 0.04 + amplitude * (1 - cos(2 pi f t)): peak speed 2 pi f amplitude."""
    return open_lips(still(times), amplitude * (1 - np.cos(2 * np.pi * freq_hz * times)))


def test_sinusoidal_lip_aperture_gives_known_speed_rate_count_and_range():
    amplitude, freq, n_cycles = 0.1, 2.5, 12
    times = regular_times(n_cycles / freq)
    row, _ = run(sinusoid_recording(times, amplitude=amplitude, freq_hz=freq), times, "DDK_PA")
    assert row["face__lip_aperture_peak_speed"] == pytest.approx(2 * np.pi * freq * amplitude, rel=0.02)
    assert row["face__cycle_rate"] == pytest.approx(freq, rel=0.02)
    assert row["face__cycle_count"] == n_cycles
    # 5th..95th percentile: of the samples themselves, and of the continuous sinusoid of half-range
    # 'amplitude' (2 * amplitude * sin(0.45 pi)), which 20 samples per cycle approximate
    sampled = np.percentile(amplitude * (1 - np.cos(2 * np.pi * freq * times)), [5, 95])
    assert row["face__lip_aperture_rom"] == pytest.approx(np.diff(sampled)[0], rel=1e-6)
    assert row["face__lip_aperture_rom"] == pytest.approx(2 * amplitude * np.sin(0.45 * np.pi), rel=0.02)
    assert row["face__cycle_duration_cv"] == pytest.approx(0.0, abs=1e-3)
    assert row["face__cycle_sti"] < 0.5
    assert row["face__cycle_amplitude_decline_pct"] == pytest.approx(0.0, abs=0.5)


def test_irregular_timestamps_give_the_same_peak_speed():
    amplitude, freq = 0.1, 2.0
    regular = regular_times(5.0)
    jitter = np.random.default_rng(3).uniform(-0.35, 0.35, len(regular)) / FPS
    irregular = np.sort(regular + jitter)
    base, _ = run(sinusoid_recording(regular, amplitude=amplitude, freq_hz=freq), regular, "DDK_PA")
    vfr, _ = run(sinusoid_recording(irregular, amplitude=amplitude, freq_hz=freq), irregular, "DDK_PA")
    assert vfr["face__lip_aperture_peak_speed"] == pytest.approx(
        base["face__lip_aperture_peak_speed"], rel=0.02)
    assert vfr["face__cycle_rate"] == pytest.approx(freq, rel=0.02)
    # the same motion with the frame times ignored (treated as regular) reads differently
    assert not np.isclose(frame_interval_speed(irregular, amplitude, freq),
                          base["face__lip_aperture_peak_speed"], rtol=0.02)


def frame_interval_speed(times: np.ndarray, amplitude: float, freq: float) -> float:
    """Peak speed if the irregular samples were wrongly taken as evenly spaced."""
    signal = amplitude * (1 - np.cos(2 * np.pi * freq * times))
    values, _ = kinematics.motion_measures(signal, times_s=regular_times((len(times) - 1) / FPS))
    return values["peak_speed"]


def minimum_jerk(tau: np.ndarray) -> np.ndarray:
    return 10 * tau ** 3 - 15 * tau ** 4 + 6 * tau ** 5


def test_dimensionless_jerk_of_a_minimum_jerk_movement_is_sqrt_360():
    # x = A (10 s^3 - 15 s^4 + 6 s^5), s = t/T: jerk = A/T^3 * 60 (1 - 6 s + 6 s^2), and
    # integral of jerk^2 = 720 A^2 / T^5, so sqrt(0.5 * 720) = sqrt(360) for any A and T.
    for duration, amp in ((0.8, 0.3), (1.5, 0.05)):
        times = np.arange(0, duration + 1e-9, 1 / FPS)
        dj = kinematics.dimensionless_jerk(amp * minimum_jerk(times / duration), times_s=times)
        assert dj == pytest.approx(np.sqrt(360), rel=0.01)


def test_stroke_jerk_of_repeated_minimum_jerk_movements_matches_the_trimmed_value():
    # Strokes are trimmed where speed falls below 5% of their peak: the analytic value of a
    # minimum-jerk stroke trimmed that way follows from the polynomial.
    position = Polynomial([0, 0, 0, 10, -15, 6])
    speed, jerk = position.deriv(), position.deriv(3)
    threshold = kinematics.STROKE_SPEED_FRACTION * speed(0.5)
    start = min(r.real for r in (speed - threshold).roots() if 0 < r.real < 0.5 and abs(r.imag) < 1e-12)
    stop = 1 - start
    squared = (jerk ** 2).integ()
    expected = np.sqrt(0.5 * (squared(stop) - squared(start)) * (stop - start) ** 5
                       / (position(stop) - position(start)) ** 2)
    tau = np.arange(0, 1.0 + 1e-9, 1 / FPS)
    stroke = 0.3 * minimum_jerk(tau)
    rest = np.zeros(20)
    signal = np.concatenate([rest, stroke, np.full(20, 0.3), 0.3 - stroke] * 4 + [rest])
    values, info = kinematics.motion_measures(signal, times_s=np.arange(len(signal)) / FPS)
    assert info["n_strokes"] == 8
    assert values["jerk"] == pytest.approx(expected, rel=0.03)
    assert expected == pytest.approx(10.63, abs=0.01)


def lip_attempts(rates_hz, *, pause_s: float, n_cycles: int = 8, amplitude: float = 0.1):
    """Lip aperture of several /pa/ attempts: raised-cosine openings at each attempt's rate,
    separated by ``pause_s`` s of closed lips. Returns (times, aperture, true cycle times)."""
    pieces, peaks, start = [np.zeros(int(0.5 * FPS))], [], 0.5
    for rate in rates_hz:
        frames = int(round(FPS / rate))  # whole frames per cycle, so the true rate is exact
        tau = np.arange(frames * n_cycles) / frames
        pieces.append(amplitude * (0.5 - 0.5 * np.cos(2 * np.pi * tau)))
        peaks += list(start + (np.arange(n_cycles) + 0.5) * frames / FPS)
        start += frames * n_cycles / FPS + pause_s
        pieces.append(np.zeros(int(round(pause_s * FPS))))
    aperture = np.concatenate(pieces)
    return np.arange(aperture.size) / FPS, aperture, np.asarray(peaks)


def test_lip_cycles_of_several_attempts_give_the_rate_within_attempts():
    times, aperture, peaks = lip_attempts([5.0, 5.0, 5.0], pause_s=1.0)
    row, _ = run(open_lips(still(times), aperture), times, "DDK_PA")
    assert row["face__cycle_count"] == peaks.size
    assert row["face__cycle_rate"] == pytest.approx(5.0, rel=0.01)
    assert row["face__cycle_duration_cv"] == pytest.approx(0.0, abs=0.01)
    # over the whole clip, the two pauses would have read as two long cycles: 20% slow
    whole, _ = kinematics.cycle_measures(aperture, times_s=times)
    assert whole["rate"] < 0.85 * 5.0


def test_cycle_rate_within_attempts_is_the_median_over_attempts():
    times, aperture, _ = lip_attempts([5.0, 50 / 12, 50 / 8], pause_s=0.8)
    values, info = kinematics.cycle_measures(aperture, times_s=times, train_cycle=1)
    assert info["n_trains"] == 3
    assert values["rate"] == pytest.approx(5.0, rel=0.01)


def cycles_signal(shapes: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(shapes + [shapes[0][:1]])


def test_spatiotemporal_index_is_zero_for_identical_cycles_and_grows_with_variability():
    tau = np.linspace(0, 1, 26)[:-1]
    base = 0.5 - 0.5 * np.cos(2 * np.pi * tau)
    rng = np.random.default_rng(1)
    times = np.arange(25 * 12 + 1) / FPS
    identical, _ = kinematics.cycle_measures(0.2 * cycles_signal([base] * 12), times_s=times)
    wobble = [base + b * np.sin(4 * np.pi * tau) ** 2 * np.sin(2 * np.pi * tau)
              for b in rng.uniform(-0.3, 0.3, 12)]
    varied, _ = kinematics.cycle_measures(0.2 * cycles_signal(wobble), times_s=times)
    more = [base + b * np.sin(4 * np.pi * tau) ** 2 * np.sin(2 * np.pi * tau)
            for b in rng.uniform(-0.6, 0.6, 12)]
    more_varied, _ = kinematics.cycle_measures(0.2 * cycles_signal(more), times_s=times)
    assert identical["sti"] < 0.05
    assert varied["sti"] > 20 * max(identical["sti"], 0.05)
    assert more_varied["sti"] > varied["sti"]
    assert kinematics.spatiotemporal_index([base, base, base]) == pytest.approx(0.0, abs=1e-12)


def test_amplitude_decline_and_variability_of_fatiguing_cycles():
    tau = np.linspace(0, 1, 26)[:-1]
    amplitudes = np.linspace(1.0, 0.7, 12)
    shapes = [a * (0.5 - 0.5 * np.cos(2 * np.pi * tau)) for a in amplitudes]
    values, info = kinematics.cycle_measures(0.2 * cycles_signal(shapes), times_s=np.arange(301) / FPS)
    expected = 100 * (amplitudes[:4].mean() - amplitudes[-4:].mean()) / amplitudes[:4].mean()
    assert values["count"] == 12
    assert values["amplitude_decline_pct"] == pytest.approx(expected, rel=0.02)
    assert values["amplitude_cv"] == pytest.approx(np.std(amplitudes, ddof=1) / amplitudes.mean(), rel=0.02)


def test_cycle_polarity_counts_movements_that_lower_the_signal():
    times = regular_times(6.0)
    pucker = -0.05 * smile_profile(times)  # lip width falls with each pucker
    values, _ = kinematics.cycle_measures(0.7 + pucker, times_s=times, polarity=-1)
    assert values["count"] == 3
    assert values["rate"] == pytest.approx(1 / 2.0, rel=0.01)


# --- head motion ----------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["NSM_SPREAD", "NSM_BROW", "DDK_PA"])
def test_head_rotation_translation_and_scale_change_no_feature(task):
    times = regular_times(6.0)
    level = smile_profile(times)
    faces = move_corners(still(times), 0.05 * level, 0.08 * level)
    faces = raise_brows(faces, 0.06 * level, 0.1 * level)
    faces = open_lips(faces, 0.1 * (1 - np.cos(2 * np.pi * 2.0 * times)))
    reference, _ = run(faces, times, task)
    moving, _ = run(faces, times, task,
                    scale_px=140 * (1 + 0.3 * np.sin(2 * np.pi * 0.25 * times)),
                    roll_rad=0.25 * np.sin(2 * np.pi * 0.4 * times),
                    shift_px=np.stack([320 + 60 * np.sin(times), 240 + 30 * np.cos(2 * times)], axis=1))
    small, _ = run(faces, times, task, scale_px=45.0, roll_rad=-0.4, shift_px=(100.0, 90.0))
    for other in (moving, small):
        for column in COLUMNS:
            assert other[column] == pytest.approx(reference[column], rel=1e-6, abs=1e-9,
                                                  nan_ok=True), column


# --- missing frames and quality --------------------------------------------------------------

def test_gaps_are_reported_and_not_interpolated():
    amplitude, freq = 0.1, 2.0
    times = regular_times(6.0)
    faces = sinusoid_recording(times, amplitude=amplitude, freq_hz=freq)
    found = np.ones(len(times), dtype=bool)
    found[100:131] = False  # 31 frames = 0.62 s without a face
    faces_with_garbage = faces.copy()
    faces_with_garbage[100:131] = 0.0  # coordinates the landmark stage left in unflagged frames
    row, info = run(faces_with_garbage, times, "DDK_PA", found=found)
    faces_nan = faces.copy()
    faces_nan[100:131] = np.nan
    row_nan, _ = run(faces_nan, times, "DDK_PA")
    assert row == pytest.approx(row_nan, nan_ok=True)
    assert row["quality__face_share"] == pytest.approx((len(times) - 31) / len(times))
    assert row["quality__longest_gap_s"] == pytest.approx(31 / FPS)
    assert row["quality__below_bar"] == 1.0
    assert row["face__lip_aperture_peak_speed"] == pytest.approx(2 * np.pi * freq * amplitude, rel=0.02)
    assert info["kinematics"]["lip_aperture"]["n_stretches"] == 2
    full, _ = run(faces, times, "DDK_PA")
    assert full["quality__below_bar"] == 0.0 and full["quality__longest_gap_s"] == pytest.approx(0.0)
    assert full["quality__landmark_jitter"] == pytest.approx(0.0, abs=1e-12)


def test_a_step_across_a_gap_does_not_read_as_movement():
    times = regular_times(2.0)
    signal = np.where(times < 1.0, 0.0, 1.0)
    signal[45:55] = np.nan
    values, info = kinematics.motion_measures(signal, times_s=times)
    assert values["peak_speed"] == pytest.approx(0.0, abs=1e-9) and values["rom"] == 1.0
    assert np.isnan(values["jerk"]) and "jerk" in info["reasons"]
    assert info["n_stretches"] == 2
    short = np.full(len(times), np.nan)
    short[::3] = 1.0  # no two consecutive frames: nothing long enough for derivatives
    values, info = kinematics.motion_measures(short, times_s=times)
    assert np.isnan(values["peak_speed"]) and "peak_speed" in info["reasons"]


def test_jitter_is_measured_and_no_face_raises():
    times = regular_times(2.0)
    sd = 0.01
    faces = still(times) + np.random.default_rng(0).normal(0, sd, (len(times), 68, 2))
    row, _ = run(faces, times, "NSM_KISS")
    # second difference of white noise: sd * sqrt(6) per axis; mean 2-D norm * sqrt(pi / 2)
    assert row["quality__landmark_jitter"] == pytest.approx(sd * np.sqrt(6) * np.sqrt(np.pi / 2), rel=0.1)
    with pytest.raises(NoFaceError):
        run(still(times), times, "NSM_KISS", found=np.zeros(len(times), dtype=bool))
    with pytest.raises(ConfigError, match="task must be a TaskSpec"):
        face_features(still(times), times, task="NSM_KISS", face_found=np.ones(len(times), bool))
    with pytest.raises(ConfigError, match="face profile is one of"):
        face_features(still(times), times, task=TaskSpec("X", "movement", "grin", "x"),
                      face_found=np.ones(len(times), bool))
    with pytest.raises(ConfigError, match="increasing"):
        run(still(times), times[::-1].copy(), "NSM_KISS")


# --- registry and column contract --------------------------------------------------------------

def test_every_output_column_is_registered_and_every_nan_has_a_reason():
    times = regular_times(6.0)
    level = smile_profile(times)
    faces = open_lips(raise_brows(move_corners(still(times), 0.05 * level, 0.08 * level),
                                  0.05 * level, 0.08 * level),
                      0.1 * (1 - np.cos(2 * np.pi * 2.0 * times)))
    face_entries = {f.column for f in registry.entries("face")}
    for task in NEUROFACE:
        row, info = run(faces, times, task)
        assert tuple(row) == COLUMNS
        assert face_entries <= set(row)  # no registered face feature is left without a value
        for column, value in row.items():
            feature = registry.lookup(column)
            assert feature.modality == column.split("__")[0]
            assert registry.parse_column(column)[2] == feature.name and "__" not in feature.name
            if np.isnan(value):
                assert column in info["reasons"], (task, column)
            else:
                assert feature.applies_to(NEUROFACE[task]), (task, column)
    spread, _ = run(faces, times, "NSM_SPREAD")
    assert np.isfinite(spread["face__commissure_excursion_asym_pct"])
    assert np.isnan(spread["face__brow_elevation_asym_pct"])


# --- real recording --------------------------------------------------------------------------



def dlib_track(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dlib landmarks, timestamps and face flags of every frame of a video."""
    import av

    from features.video.dlib_models import fit_still_image

    points, times, found = [], [], []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            times.append(float(frame.time))
            try:
                points.append(fit_still_image(frame.to_ndarray(format="rgb24"), upsample=0))
                found.append(True)
            except NoFaceError:
                points.append(np.full((68, 2), np.nan))
                found.append(False)
    return np.array(points), np.array(times), np.array(found)


def test_real_speech_clip_gives_plausible_values_and_ignores_head_pose():
    points, times, found = dlib_track(realdata("video", "grid", "bbaf2n.mpg"))
    row, info = face_features(points, times, task=NEUROFACE["BBP_NORMAL"], face_found=found)
    assert row["quality__frame_rate_hz"] == pytest.approx(25.0, rel=1e-3)
    assert row["quality__face_share"] >= 0.95 and row["quality__below_bar"] == 0.0
    assert 0.0 < row["quality__landmark_jitter"] < 0.05
    # IOD units: a speaking mouth opens by a few hundredths to a few tenths of the eye distance
    assert 0.02 < row["face__lip_aperture_rom"] < 0.5
    assert 0.05 < row["face__jaw_opening_rom"] < 0.5
    assert row["face__cycle_count"] >= 2
    assert 0.0 <= row["face__palpebral_fissure_rest_asym_pct"] < 30
    # the same landmarks seen with the head turned, smaller and elsewhere in the image
    angle = 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 0.6 * points @ rotation.T + np.array([50.0, -20.0])
    moved_row, _ = face_features(moved, times, task=NEUROFACE["BBP_NORMAL"], face_found=found)
    for column in COLUMNS:
        assert moved_row[column] == pytest.approx(row[column], rel=1e-6, abs=1e-9, nan_ok=True), column

"""Recording-level face features: facial asymmetry and jaw/lip/brow kinematics from 68 landmarks.

Pipeline for one recording (``face_features``):

1. frames without a face (``face_found`` false or any NaN coordinate) are set aside;
2. landmarks are normalised per frame (``normalise_frames``: eye-line frame, x towards the
   subject's left, y down, unit = the recording's inter-ocular distance |p36 - p45|, IOD);
3. per-frame signals are computed (``frame_signals``);
4. rest and peak frames: rest frames are the 10% of face frames in which the task's region
   (mouth, or brows for the brow profile) is closest to its shape in the clip's first
   ``REST_LEAD_S`` seconds (the examination starts from a neutral face); peak frames are the 10%
   of face frames in which the task's main signal (lip width for the smile, big_smile, pucker and
   blow profiles, jaw opening for open and pataka, lip aperture for pa and sentence, brow height
   for brow) has moved furthest in the task's direction. Static excursions are the median of a
   signal over peak frames minus its median over rest frames (auto-eFACE compares a rest photo
   with an expression photo; here the frames play those roles);
5. kinematics (``kinematics.py``) of the task's signals, cycles of its main signal, left/right
   asymmetry and timing, and landmark-quality features.

What to measure is the task's face profile (``PROFILES``, chosen by the task's
``core.tasks.TaskSpec``); the nine NeuroFace tasks each have their own, and a clinic's task
picks one (``default_profile`` when it does not).

Side conventions: "left" and "right" are the subject's own sides. Signed indices are
(L - R) / (L + R): a negative value means the LEFT side moves less, i.e. the left side is the
weaker one; a positive value points to the right side. The main asymmetry feature of the smile
profile (NSM_SPREAD) is ``face__commissure_excursion_asym_pct``; its side is
``face__commissure_excursion_asym_signed``.

Left-right asymmetry (``side_travel``, ``noise_corrected_asymmetry``). Each side is measured
against its own rest: a mouth corner's travel is its displacement from its own rest position,
projected on the task's movement direction (the mean of both corners' rest-to-peak directions,
one of them mirrored), and a brow's is its height change from its own rest height. The
excursion of a side is the median of its travel over the peak frames. A ratio of two such
excursions is noise-prone when the movement is small: with landmark noise of 0.02 inter-ocular
distances a symmetric smile at 30% of healthy range read 19% asymmetric, and at 15% of the range
33% (``benchmarks/asymmetry_noise.py``). So the left-right difference is corrected for the noise
the clip itself shows: the variance of the difference of the medians is estimated from the
frame-to-frame spread of the left-minus-right travel over the peak frames and over the rest
frames (allowing for the autocorrelation of landmark noise along consecutive frames), and the
difference counts only as far as it exceeds ``ASYMMETRY_Z`` standard errors (the magnitude is
shrunk to sqrt(d^2 - z^2 var), 0 below). A symmetric movement then reads 0 whatever its
amplitude and the frame noise, while a one-sided weakness well above the noise keeps its size
(1 - weak/strong). The noise itself is reported (``*_asym_noise_pct``), so a clinician sees when
an asymmetry could not have been seen; the signed index keeps the raw difference, so it names
the side that moved less even when the difference is within the noise. Errors that stay the same in every frame (a landmark model
that systematically registers one side's movement short) are not noise in this sense and are not
removed; ``landmarks-eval`` measures them where manual landmarks exist.

Every task gets the same columns; a feature that is not meaningful for the task's profile (e.g.
brow elevation in the pucker profile of NSM_KISS) or cannot be computed (e.g. too few cycles) is
NaN, and ``info["reasons"]`` says why. Low-quality recordings are flagged by ``quality__below_bar``, never dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import ConfigError, NoFaceError
from core.ibug68 import BROWS, EXPRESSION_STABLE_POINTS, LEFT_MOUTH_CORNER, LIPS, RIGHT_MOUTH_CORNER
from core.tasks import DDK, MOVEMENT, SPEECH, VOWEL, TaskSpec
from features.registry import Feature, register
from features.runs import true_runs
from features.video.kinematics import (CYCLE_KEYS, MOTION_KEYS, check_times, cycle_measures,
                                       frame_interval_s, motion_measures, temporal_lag)
from features.video.normalise import check_landmarks, normalise_frames
from features.video.signals import frame_signals

REST_LEAD_S = 0.25
MIN_LEAD_FRAMES = 3
REST_PERCENTILE = 10.0
PEAK_PERCENTILE = 90.0
# Below this (IOD, ~1 mm) a side has not measurably moved: dlib jitter is of this order, and a
# ratio of two jitter-sized numbers is noise, so asymmetry is reported as not computable.
MIN_MOVEMENT_IOD = 0.01
MIN_CYCLE_AMPLITUDE_IOD = 0.02
QUALITY_MIN_FACE_SHARE = 0.9
QUALITY_MAX_GAP_S = 0.5
QUALITY_BAR = (f"face found in fewer than {QUALITY_MIN_FACE_SHARE:.0%} of frames, or a gap "
               f"without a face longer than {QUALITY_MAX_GAP_S} s")

IOD = "inter-ocular distances (IOD, |p36 - p45|)"
EMOTRICS = "Guarin et al. 2018, Emotrics (JAMA Facial Plastic Surgery)"
AUTO_EFACE = "Miller et al. 2021, auto-eFACE (Plastic and Reconstructive Surgery)"
BANDINI_2018 = "Bandini et al. 2018, JSLHR (jaw and lip kinematics in ALS)"
RONG_2018 = "Rong et al. 2018, Int J Speech Lang Pathol (lip movement in the AMR task)"
HOGAN_2009 = "Hogan and Sternad 2009, J Motor Behavior (dimensionless jerk)"
SMITH_1995 = "Smith et al. 1995, Exp Brain Res (spatiotemporal index)"
BANDINI_2021 = "Bandini et al. 2021, IEEE JBHI (Toronto NeuroFace; landmark error in patients)"


@dataclass(frozen=True)
class TaskProfile:
    """What to measure in the face video of a task.

    Attributes
    ----------
    region : tuple of int
        Landmarks whose displacement defines rest and peak frames.
    main_signal : str
        Signal whose cycles are counted.
    polarity : int
        +1 if the movement raises ``main_signal``, -1 if it lowers it.
    kinematic_signals : tuple of str
        Signals whose range, speed, acceleration and jerk are reported.
    sides : tuple of str
        Left/right analyses: ``"commissure"`` (mouth corners), ``"brow"``.
    smile : bool
        True for smiles, where the smile angle is meaningful.

    Syllable repetition is measured within attempts (``kinematics.cycle_measures``) because the
    task is of kind ddk, whatever its profile: the movements per attempt cycle are the task's
    ``syllables_per_cycle``, not a property of the profile.
    """

    region: tuple
    main_signal: str
    polarity: int
    kinematic_signals: tuple
    sides: tuple
    smile: bool = False


_SPEECH_SIGNALS = ("lip_aperture", "jaw_opening", "lower_lip_position")
PROFILES = {
    # the NeuroFace task each profile was made for is named after it
    "smile": TaskProfile(LIPS, "lip_width", 1, ("lip_width",), ("commissure",),
                         True),  # NSM_SPREAD
    "big_smile": TaskProfile(LIPS, "lip_width", 1, ("lip_width", "lip_aperture"),
                             ("commissure",), True),  # NSM_BIGSMILE
    "pucker": TaskProfile(LIPS, "lip_width", -1, ("lip_width",), ("commissure",)),  # NSM_KISS
    "blow": TaskProfile(LIPS, "lip_width", -1, ("lip_width",), ("commissure",)),  # NSM_BLOW
    "open": TaskProfile(LIPS, "jaw_opening", 1, _SPEECH_SIGNALS, ("commissure",)),  # NSM_OPEN
    "brow": TaskProfile(BROWS, "brow_height", 1, ("brow_height",), ("brow",)),  # NSM_BROW
    "pa": TaskProfile(LIPS, "lip_aperture", 1, _SPEECH_SIGNALS, ()),  # DDK_PA
    "pataka": TaskProfile(LIPS, "jaw_opening", 1, _SPEECH_SIGNALS, ()),  # DDK_PATAKA
    "sentence": TaskProfile(LIPS, "lip_aperture", 1, _SPEECH_SIGNALS, ()),  # BBP_NORMAL
}
# Profiles of the kinds that need not name one. A sustained vowel is held with the mouth open
# and still after one opening from rest: that is the open profile's movement (rest, then jaw
# opening to a held peak, with the mouth corners' symmetry), and a clinic measuring a spread or
# rounded vowel names the smile or pucker profile instead. A non-speech movement has no default:
# only the clinic knows which movement it asks for.
DEFAULT_PROFILES = {SPEECH: "sentence", VOWEL: "open"}
SIDES = {
    # family: (excursion feature stem, words)
    "commissure": ("commissure_excursion", "mouth corner"),
    "brow": ("brow_elevation", "eyebrow"),
}
CORNERS = {"left": LEFT_MOUTH_CORNER, "right": RIGHT_MOUTH_CORNER}
# A left-right difference counts only beyond this many of its standard errors (module docstring).
ASYMMETRY_Z = 2.0
# Largest lag-1 autocorrelation allowed when counting independent frames (keeps n_eff >= n/199).
MAX_FRAME_AUTOCORRELATION = 0.99
KINEMATIC_WORDS = {
    "lip_aperture": "opening between the lips (|p62 - p66|)",
    "lip_width": "mouth width between the corners (|p48 - p54|)",
    "jaw_opening": "jaw opening, chin to nasion (|p8 - p27|)",
    "lower_lip_position": "vertical position of the lower lip (p57 below the eye line)",
    "brow_height": "mean height of the two eyebrows above the eye centres",
}


def default_profile(kind: str, syllables_per_cycle: int | None = None) -> str | None:
    """The face profile of a task of ``kind`` that names none; None for a movement task.

    Repetition of one syllable is measured like NeuroFace's /pa/ (on the lip opening), of
    several like its /pa-ta-ka/ (on the jaw, which every syllable moves, while only /p/ closes the
    lips); a clinic repeating /ta/ or /ka/ alone, which hardly moves the lips, names the pataka
    profile.
    """
    if kind == DDK:
        return "pa" if syllables_per_cycle == 1 else "pataka"
    if kind == MOVEMENT:
        return None
    return DEFAULT_PROFILES[kind]


def _profiles_where(predicate) -> tuple:
    return tuple(name for name, profile in PROFILES.items() if predicate(profile))


def _feature_specs() -> list[Feature]:
    """Every feature ``face_features`` outputs, in column order."""
    specs = []
    for signal, words in KINEMATIC_WORDS.items():
        profiles = _profiles_where(lambda p, s=signal: s in p.kinematic_signals)
        specs += [
            Feature(f"{signal}_rom", "face", IOD, f"Range of motion of the {words}: 95th minus "
                    "5th percentile over the clip.", "higher_better", BANDINI_2018,
                    profiles=profiles),
            Feature(f"{signal}_peak_speed", "face", "IOD per second", f"Fastest speed of the "
                    f"{words} during the clip.", "higher_better", BANDINI_2018, profiles=profiles),
            Feature(f"{signal}_median_speed", "face", "IOD per second", f"Typical (median) speed "
                    f"of the {words}.", "higher_better", BANDINI_2018, profiles=profiles),
            Feature(f"{signal}_peak_accel", "face", "IOD per second squared", f"Largest "
                    f"acceleration of the {words}.", "higher_better", BANDINI_2018,
                    profiles=profiles),
            Feature(f"{signal}_jerk", "face", "dimensionless", f"Jerkiness of each movement of "
                    f"the {words} (median dimensionless jerk over movements; smooth = low).",
                    "higher_worse", HOGAN_2009, profiles=profiles),
        ]
    specs += [
        Feature("cycle_count", "face", "count", "Number of repetitions of the task's main "
                "movement found in the clip.", "neutral", RONG_2018),
        Feature("cycle_rate", "face", "repetitions per second", "How many repetitions per "
                "second (1 / mean time between repetitions; in syllable repetition, the median "
                "over attempts of the rate within each attempt, pauses left out).",
                "higher_better", RONG_2018),
        Feature("cycle_duration_cv", "face", "ratio (SD / mean)", "Irregularity of the timing of "
                "repetitions (coefficient of variation of their durations; in syllable "
                "repetition, within attempts).", "higher_worse", RONG_2018),
        Feature("cycle_amplitude_cv", "face", "ratio (SD / mean)", "Inconsistency of the size of "
                "repetitions (coefficient of variation of their amplitudes).", "higher_worse",
                RONG_2018),
        Feature("cycle_sti", "face", "sum of 50 SDs (dimensionless)", "Spatiotemporal index: how "
                "much the shape of the movement changes from one repetition to the next, after "
                "normalising size and duration.", "higher_worse", SMITH_1995),
        Feature("cycle_amplitude_decline_pct", "face", "%", "Fatigue: drop in movement size "
                "from the first third to the last third of repetitions.", "higher_worse",
                RONG_2018),
    ]
    for family, (stem, words) in SIDES.items():
        profiles = _profiles_where(lambda p, f=family: f in p.sides)
        source = EMOTRICS if family == "commissure" else EMOTRICS + "; " + AUTO_EFACE
        noise_source = (f"{source}; landmark-noise correction: avstroke (measured in "
                        "benchmarks/asymmetry_noise.py)")
        specs += [
            Feature(f"{stem}_left", "face", IOD, f"How far the left {words} moves from its own "
                    "rest position to the peak of the movement.", "higher_better", source,
                    profiles=profiles),
            Feature(f"{stem}_right", "face", IOD, f"How far the right {words} moves from its own "
                    "rest position to the peak of the movement.", "higher_better", source,
                    profiles=profiles),
            Feature(f"{stem}_asym_pct", "face", "%", f"Left-right difference in {words} "
                    "movement, in percent of the side that moves more (0 = symmetric); a "
                    "difference within the landmark noise of the recording reads 0.",
                    "higher_worse", noise_source, profiles=profiles),
            Feature(f"{stem}_asym_signed", "face", "index from -1 to 1", f"Signed left-right "
                    f"index of {words} movement, (L - R) / (L + R): negative = the left side "
                    "moves less (left weaker), positive = the right side moves less. Not "
                    "corrected for landmark noise: read its size against the noise column.",
                    "neutral", EMOTRICS, profiles=profiles),
            Feature(f"{stem}_ratio", "face", "ratio", f"auto-eFACE style ratio of {words} "
                    "movement, weaker side / stronger side (1 = symmetric; equals 1 - "
                    "asymmetry percent / 100).", "higher_better", AUTO_EFACE, profiles=profiles),
            Feature(f"{stem}_asym_noise_pct", "face", "%", f"How large a left-right difference "
                    f"in {words} movement landmark noise alone makes in this recording (one "
                    "standard error, in percent of the side that moves more): asymmetries "
                    "smaller than about twice this cannot be seen. A measure of the "
                    "measurement, not of the patient: no clinical direction.", "neutral",
                    noise_source, profiles=profiles),
            Feature(f"{family}_peak_speed_asym_pct", "face", "%", f"Left-right difference in the "
                    f"fastest {words} speed, in percent of the faster side.", "higher_worse",
                    BANDINI_2018, profiles=profiles),
            Feature(f"{family}_peak_speed_asym_signed", "face", "index from -1 to 1", f"Signed "
                    f"left-right index of the fastest {words} speed, (L - R) / (L + R): negative = "
                    "left slower.", "neutral", BANDINI_2018, profiles=profiles),
            Feature(f"{family}_lag_s", "face", "s", f"Temporal asymmetry: delay of the left "
                    f"{words} behind the right one (peak of their cross-correlation); negative = "
                    "left leads.", "neutral", BANDINI_2018, profiles=profiles),
        ]
    mouth_profiles = _profiles_where(lambda p: "commissure" in p.sides)
    specs += [
        Feature("commissure_height_dev_peak", "face", IOD, "Vertical difference between the "
                "two mouth corners at peak movement.", "higher_worse", EMOTRICS,
                profiles=mouth_profiles),
        Feature("upper_lip_height_dev_peak", "face", IOD, "Vertical difference between the left "
                "and right halves of the upper lip at peak movement.", "higher_worse", EMOTRICS,
                profiles=mouth_profiles),
        Feature("lower_lip_height_dev_peak", "face", IOD, "Vertical difference between the left "
                "and right halves of the lower lip at peak movement.", "higher_worse", EMOTRICS,
                profiles=mouth_profiles),
        Feature("mouth_midline_shift_peak", "face", IOD, "Sideways shift of the mouth centre "
                "from rest to peak movement; positive = towards the subject's left (the mouth is "
                "pulled towards the stronger side).", "neutral", EMOTRICS, profiles=mouth_profiles),
        Feature("smile_angle_diff_peak", "face", "degrees", "Difference between the left and "
                "right smile angles at the peak of the smile.", "higher_worse", EMOTRICS,
                profiles=_profiles_where(lambda p: p.smile)),
        Feature("commissure_height_dev_rest", "face", IOD, "Vertical difference between the two "
                "mouth corners at rest (droop of one corner).", "higher_worse", EMOTRICS),
        Feature("brow_height_rest_asym_pct", "face", "%", "Left-right difference in eyebrow "
                "height at rest, in percent of the higher brow.", "higher_worse", EMOTRICS),
        Feature("palpebral_fissure_rest_asym_pct", "face", "%", "Left-right difference in eye "
                "opening (lid to lid) at rest, in percent of the wider eye.", "higher_worse",
                EMOTRICS),
        Feature("face_share", "quality", "fraction of frames", "Share of video frames in which a "
                "face was found.", "higher_better", BANDINI_2021),
        Feature("longest_gap_s", "quality", "s", "Longest stretch of the video without a found "
                "face.", "higher_worse", BANDINI_2021),
        Feature("landmark_jitter", "quality", IOD, "Frame-to-frame landmark jitter: mean size of "
                "the second difference of the nose-ridge and eye-corner points in the head frame "
                "(points that facial expressions barely move).", "higher_worse", BANDINI_2021),
        Feature("below_bar", "quality", "flag (1 = yes, 0 = no)", "The recording is below the "
                f"landmark quality bar ({QUALITY_BAR}); its face features are less reliable.",
                "higher_worse", BANDINI_2021),
        Feature("frame_rate_hz", "quality", "frames per second", "Median video frame rate "
                "(speeds and jerk depend on it).", "neutral", BANDINI_2021),
    ]
    return specs


FEATURES = tuple(register(feature) for feature in _feature_specs())
COLUMNS = tuple(feature.column for feature in FEATURES)


def percent_asymmetry(left: float, right: float) -> float:
    """|L - R| / max(L, R) x 100 of two non-negative per-side values; NaN when both are 0."""
    left, right = _check_pair(left, right)
    larger = max(left, right)
    return 100.0 * abs(left - right) / larger if larger > 0 else np.nan


def signed_asymmetry(left: float, right: float) -> float:
    """(L - R) / (L + R) of two non-negative per-side values, in [-1, 1]; NaN when both are 0.

    Negative: the left side has the smaller value (for movements: the left side is weaker).
    """
    left, right = _check_pair(left, right)
    total = left + right
    return (left - right) / total if total > 0 else np.nan


def task_ratio(left: float, right: float) -> float:
    """auto-eFACE style ratio affected / healthy, the affected side being the one that moves less.

    Equals min(L, R) / max(L, R); NaN when both are 0.
    """
    left, right = _check_pair(left, right)
    larger = max(left, right)
    return min(left, right) / larger if larger > 0 else np.nan


def _check_pair(left: float, right: float) -> tuple[float, float]:
    left, right = float(left), float(right)
    if not (left >= 0 and right >= 0):
        raise ConfigError(f"per-side values must be finite and non-negative; got left={left}, "
                          f"right={right}")
    return left, right


def _rms_displacement(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame root-mean-square distance of a set of points from a reference shape."""
    return np.sqrt(((points - reference) ** 2).sum(axis=2).mean(axis=1))


def rest_and_peak_frames(normalised: np.ndarray, times_s: np.ndarray, *, region: tuple,
                         main_signal: np.ndarray, polarity: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Boolean masks of the rest frames and the peak-movement frames of one recording.

    Parameters
    ----------
    normalised : ndarray, shape (T, 68, 2)
        Normalised landmarks (NaN rows for frames without a face; at least one face frame).
    times_s : ndarray, shape (T,)
        Frame timestamps (s).
    region : tuple of int
        Landmarks whose shape defines rest.
    main_signal : ndarray, shape (T,)
        The task's main signal (e.g. lip width for SPREAD), whose change defines the peak.
    polarity : {1, -1}
        Direction in which the task's movement changes ``main_signal``.

    Returns
    -------
    rest, peak : ndarray of bool, shape (T,)
        Rest: the ``REST_PERCENTILE`` % of face frames whose region is closest (RMS distance) to
        its median shape over the first ``REST_LEAD_S`` s of face frames. Peak: the
        ``100 - PEAK_PERCENTILE`` % of face frames where ``polarity * main_signal`` is highest,
        i.e. where the task's own movement is largest (other movements, such as talking during a
        smile, do not choose the frames).
    info : dict
        ``peak_change``: median change of the main signal from rest to peak (signal units).
    """
    valid = np.isfinite(normalised).all(axis=(1, 2))
    points = normalised[:, region, :]
    face = np.flatnonzero(valid)
    lead = face[times_s[face] <= times_s[face[0]] + REST_LEAD_S]
    if len(lead) < MIN_LEAD_FRAMES:
        lead = face[:MIN_LEAD_FRAMES]
    from_start = _rms_displacement(points, np.median(points[lead], axis=0))
    rest = valid & (from_start <= np.nanpercentile(from_start, REST_PERCENTILE))
    moved = polarity * main_signal
    usable = valid & np.isfinite(moved)
    peak = usable & (moved >= np.percentile(moved[usable], PEAK_PERCENTILE)) if usable.any() \
        else usable
    return rest, peak, {"peak_change": _static_change(main_signal, rest, peak)}


def longest_gap_s(valid: np.ndarray, times_s: np.ndarray) -> float:
    """Longest time without a face frame (s), counting the clip's start and end.

    A gap is the time between two consecutive face frames minus one median frame interval, so a
    single missed frame at 50 fps is a 0.02 s gap and a clip with a face in every regularly timed
    frame has a longest gap of 0.
    """
    dt = frame_interval_s(times_s)
    face_times = times_s[valid]
    edges = np.concatenate([[times_s[0] - dt], face_times, [times_s[-1] + dt]])
    return float(max(0.0, np.max(np.diff(edges) - dt)))


def landmark_jitter(normalised: np.ndarray) -> float:
    """Mean norm of the frame-to-frame second difference of the rigid points (IOD); NaN if no
    three consecutive face frames exist."""
    rigid = normalised[:, EXPRESSION_STABLE_POINTS, :]
    second = rigid[2:] - 2 * rigid[1:-1] + rigid[:-2]
    size = np.linalg.norm(second, axis=2)
    complete = np.isfinite(size).all(axis=1)
    return float(size[complete].mean()) if complete.any() else np.nan


def _quality(valid: np.ndarray, times: np.ndarray, normalised: np.ndarray, reasons: dict) -> dict:
    """Landmark-quality columns; ``quality__below_bar`` applies ``QUALITY_BAR``."""
    share = float(valid.mean())
    gap = longest_gap_s(valid, times)
    jitter = landmark_jitter(normalised)
    if np.isnan(jitter):
        reasons["quality__landmark_jitter"] = "no three consecutive frames with a face"
    below = share < QUALITY_MIN_FACE_SHARE or gap > QUALITY_MAX_GAP_S
    return {"quality__face_share": share, "quality__longest_gap_s": gap,
            "quality__landmark_jitter": jitter, "quality__below_bar": float(below),
            "quality__frame_rate_hz": 1.0 / frame_interval_s(times)}


def _median_over(signal: np.ndarray, frames: np.ndarray) -> float:
    """Median of a signal over selected frames, ignoring frames where it is NaN (NaN if all are)."""
    values = signal[frames]
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else np.nan


def _static_change(signal: np.ndarray, rest: np.ndarray, peak: np.ndarray) -> float:
    """Median over peak frames minus median over rest frames."""
    return _median_over(signal, peak) - _median_over(signal, rest)


NOT_MEASURABLE = ("the signal is not measurable in the rest or peak frames (a landmark contour "
                  "does not reach the line it is measured on)")


def side_travel(normalised: np.ndarray, frames: pd.DataFrame, family: str, rest: np.ndarray,
                peak: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame travel of the left and the right side from their own rest (IOD, 0 at rest).

    Parameters
    ----------
    normalised : ndarray, shape (T, 68, 2)
        Normalised landmarks (NaN rows for frames without a face).
    frames : DataFrame
        Per-frame signals of the same frames (``frame_signals``).
    family : {"commissure", "brow"}
        Mouth corners: each corner's displacement from its median rest position, projected on
        the task's movement direction (the mean of the two corners' median rest-to-peak
        displacements, the right one mirrored; lateral when neither corner moved). Brows: each
        brow's height minus its median rest height.
    rest, peak : ndarray of bool, shape (T,)
        Rest and peak frames (``rest_and_peak_frames``).

    Returns
    -------
    left, right : ndarray, shape (T,)
        Positive in the direction of the task's movement.
    """
    if family == "brow":
        heights = [frames[f"brow_height_{side}"].to_numpy() for side in ("left", "right")]
        return tuple(h - _median_over(h, rest) for h in heights)
    mirror = np.array([-1.0, 1.0])
    moved = {side: normalised[:, corner] - np.nanmedian(normalised[rest, corner], axis=0)
             for side, corner in CORNERS.items()}
    direction = (np.nanmedian(moved["left"][peak], axis=0)
                 + mirror * np.nanmedian(moved["right"][peak], axis=0))
    length = np.linalg.norm(direction)
    direction = direction / length if np.isfinite(length) and length > 0 else np.array([1.0, 0.0])
    return moved["left"] @ direction, moved["right"] @ (mirror * direction)


def median_variance(values: np.ndarray, frames: np.ndarray) -> float:
    """Sampling variance of the median of ``values`` over ``frames`` (squared units of ``values``).

    For n independent normal values it is pi/2 x s^2 / n. Landmark noise is correlated along
    consecutive frames, so n is replaced by n (1 - r) / (1 + r), r the lag-1 autocorrelation of
    the values within runs of consecutive selected frames (clipped to 0 .. 0.99): a slowly
    drifting error counts as few independent looks, frame-to-frame jitter as many. A drift slower
    than a run hides from r, so when the frames form at least three runs (e.g. the peaks of three
    repetitions) the spread of the runs' own medians is used too, and the larger estimate kept.
    NaN with fewer than three finite values.
    """
    chosen = np.asarray(frames, dtype=bool) & np.isfinite(values)
    n = int(chosen.sum())
    if n < 3:
        return np.nan
    centred = values - values[chosen].mean()
    runs = true_runs(chosen)
    products = sum(float(np.sum(centred[a + 1:b] * centred[a:b - 1])) for a, b in runs)
    squares = sum(float(np.sum(centred[a:b] ** 2)) for a, b in runs)
    r = min(max(products / squares, 0.0), MAX_FRAME_AUTOCORRELATION) if squares > 0 else 0.0
    within = np.pi / 2 * np.var(values[chosen], ddof=1) / (n * (1 - r) / (1 + r))
    if len(runs) < 3:
        return float(within)
    run_medians = [np.median(values[a:b]) for a, b in runs]
    return float(max(within, np.var(run_medians, ddof=1) / len(runs)))


def noise_corrected_asymmetry(left: float, right: float, variance: float, *,
                              z: float = ASYMMETRY_Z) -> dict:
    """Asymmetry of two non-negative excursions beyond ``z`` standard errors of their difference.

    Parameters
    ----------
    left, right : float
        Excursions of the two sides (IOD), not both 0.
    variance : float
        Sampling variance of ``left - right`` (IOD^2).
    z : float
        Standard errors a difference must exceed to count.

    Returns
    -------
    dict
        ``asym_pct``: 100 x d / max(L, R), where d = sqrt(max(0, (L - R)^2 - z^2 variance)) is the
        difference shrunk by the noise; ``ratio``: 1 - asym_pct / 100; ``asym_signed``:
        (L - R) / (L + R), not shrunk, so that its sign names the side that moved less even when
        the difference is within the noise (its size is then to be read against the noise);
        ``asym_noise_pct``: 100 x sqrt(variance) / max(L, R).
    """
    left, right = _check_pair(left, right)
    larger = max(left, right)
    if not larger > 0 or not variance >= 0:
        raise ConfigError(f"need a side that moved and a variance >= 0; got left={left}, "
                          f"right={right}, variance={variance}")
    shrunk = np.sqrt(max(0.0, (left - right) ** 2 - z * z * variance))
    return {"asym_pct": 100.0 * shrunk / larger,
            "asym_signed": (left - right) / (left + right),
            "ratio": 1.0 - shrunk / larger,
            "asym_noise_pct": 100.0 * np.sqrt(variance) / larger}


def _excursion_asymmetry(stem: str, left: np.ndarray, right: np.ndarray, rest: np.ndarray,
                         peak: np.ndarray, reasons: dict) -> dict:
    """Per-side excursions and their noise-corrected asymmetry columns for one family."""
    excursion = {"left": _static_change(left, rest, peak), "right": _static_change(right, rest, peak)}
    out = {f"face__{stem}_{side}": value for side, value in excursion.items()}
    for side, value in excursion.items():
        if np.isnan(value):
            reasons[f"face__{stem}_{side}"] = NOT_MEASURABLE
    names = ("asym_pct", "asym_signed", "ratio", "asym_noise_pct")
    difference = left - right
    variance = median_variance(difference, peak) + median_variance(difference, rest)
    if not np.isfinite(list(excursion.values())).all():
        why = "a per-side value is not computable"
    elif max(excursion.values()) <= MIN_MOVEMENT_IOD:
        why = f"neither side moved measurably (both at most {MIN_MOVEMENT_IOD})"
    elif not np.isfinite(variance):
        why = "fewer than 3 rest or peak frames: the landmark noise cannot be estimated"
    else:
        # a side that moved against the task's direction has moved nothing towards it
        values = noise_corrected_asymmetry(max(excursion["left"], 0.0),
                                           max(excursion["right"], 0.0), variance)
        out.update({f"face__{stem}_{name}": value for name, value in values.items()})
        return out
    reasons.update({f"face__{stem}_{name}": why for name in names})
    return out


def _speed_asymmetry(family: str, left: dict, right: dict, reasons: dict) -> dict:
    """Percent and signed asymmetry of the two sides' peak speeds."""
    columns = {name: f"face__{family}_peak_speed_{name}" for name in ("asym_pct", "asym_signed")}
    moved = [left["rom"], right["rom"]]
    speeds = [left["peak_speed"], right["peak_speed"]]
    if not (np.isfinite(moved + speeds).all() and max(moved) >= MIN_MOVEMENT_IOD
            and max(speeds) > 0):
        reasons.update(dict.fromkeys(columns.values(), "no side moved measurably, or no stretch "
                                                       "of face frames as long as the smoothing "
                                                       "window"))
        return {}
    return {columns["asym_pct"]: percent_asymmetry(*speeds),
            columns["asym_signed"]: signed_asymmetry(*speeds)}


def _side_features(family: str, normalised: np.ndarray, frames: pd.DataFrame, times: np.ndarray,
                   rest: np.ndarray, peak: np.ndarray, reasons: dict, kin_info: dict) -> dict:
    """Excursion, peak-speed and timing asymmetry of one left/right family ("commissure", "brow").

    Adds the reasons for NaN columns to ``reasons`` and each side's kinematics to ``kin_info``.
    """
    stem, _ = SIDES[family]
    left, right = side_travel(normalised, frames, family, rest, peak)
    row = _excursion_asymmetry(stem, left, right, rest, peak, reasons)
    speeds = {}
    for side, values in (("left", left), ("right", right)):
        speeds[side], kin_info[f"{family}_travel_{side}"] = motion_measures(
            values, times_s=times, min_amplitude=MIN_MOVEMENT_IOD)
    row.update(_speed_asymmetry(family, speeds["left"], speeds["right"], reasons))
    moved = [speeds[s]["rom"] for s in ("left", "right")]
    lag_column = f"face__{family}_lag_s"
    if np.isfinite(moved).all() and min(moved) >= MIN_MOVEMENT_IOD:
        row[lag_column], lag_info = temporal_lag(left, right, times_s=times)
        if lag_info["reason"]:
            reasons[lag_column] = lag_info["reason"]
    else:
        reasons[lag_column] = f"one side did not move measurably (range below {MIN_MOVEMENT_IOD} IOD)"
    return row


def _mouth_statics(frames: pd.DataFrame, rest: np.ndarray, peak: np.ndarray, smile: bool,
                   reasons: dict) -> dict:
    """Emotrics static measures at peak movement (lip and corner height deviations, smile angle)."""
    row = {f"face__{name}_peak": abs(_median_over(frames[name].to_numpy(), peak))
           for name in ("commissure_height_dev", "upper_lip_height_dev", "lower_lip_height_dev")}
    row["face__mouth_midline_shift_peak"] = _static_change(frames["mouth_centre_x"].to_numpy(),
                                                           rest, peak)
    if smile:
        row["face__smile_angle_diff_peak"] = abs(
            _median_over(frames["smile_angle_left"].to_numpy(), peak)
            - _median_over(frames["smile_angle_right"].to_numpy(), peak))
    reasons.update({column: NOT_MEASURABLE for column, value in row.items() if np.isnan(value)})
    return row


def _rest_statics(frames: pd.DataFrame, rest: np.ndarray, reasons: dict) -> dict:
    """Emotrics static measures at rest (corner droop, brow and eye-opening asymmetry)."""
    def at_rest(name: str) -> float:
        return _median_over(frames[name].to_numpy(), rest)

    row = {"face__commissure_height_dev_rest": abs(at_rest("commissure_height_dev"))}
    for stem in ("brow_height", "palpebral_fissure"):
        column = f"face__{stem}_rest_asym_pct"
        left, right = at_rest(f"{stem}_left"), at_rest(f"{stem}_right")
        if np.isfinite([left, right]).all() and min(left, right) >= 0 and max(left, right) > 0:
            row[column] = percent_asymmetry(left, right)
        else:
            reasons[column] = f"{stem.replace('_', ' ')} at rest is not measurable on both sides"
    return row


def _check_face_found(face_found: np.ndarray, n_frames: int) -> np.ndarray:
    """Validate the per-frame face flags and return them as booleans."""
    flags = np.asarray(face_found)
    if flags.shape != (n_frames,):
        raise ConfigError(f"face_found must have one flag per frame ({n_frames}); got shape "
                          f"{flags.shape}")
    if flags.dtype != bool and not np.isin(flags, (0, 1)).all():
        raise ConfigError("face_found must be booleans (or 0/1)")
    return flags.astype(bool)


def face_features(landmarks: np.ndarray, times_s: np.ndarray, *, task: TaskSpec,
                  face_found: np.ndarray) -> tuple[dict, dict]:
    """Recording-level face and landmark-quality features of one task recording.

    Parameters
    ----------
    landmarks : ndarray, shape (T, 68, 2)
        Pixel coordinates in iBUG/dlib order (subject's right corner p48, left corner p54); NaN
        rows where no face was found.
    times_s : ndarray, shape (T,)
        Frame timestamps (s), strictly increasing; may be irregular (variable frame rate).
    task : TaskSpec
        The recording's task (``core.tasks``): its face profile says what to measure, and a
        ddk task's ``syllables_per_cycle`` how its repetitions group into cycles.
    face_found : ndarray of bool, shape (T,)
        Whether the landmark stage found a face in each frame; frames flagged False are ignored
        even if they carry coordinates.

    Returns
    -------
    row : dict
        One float per column of ``COLUMNS`` (``face__*`` and ``quality__*``), NaN where not
        meaningful for the task or not computable.
    info : dict
        ``reasons`` (column -> why it is NaN), ``task`` (its name), ``face_profile``,
        ``main_signal``, ``rest_frames``,
        ``peak_frames``, ``unit``, ``unit_px``, ``kinematics`` and ``cycles`` (per-signal details),
        ``quality_bar``, ``flagged_without_landmarks`` (frames flagged found but with NaN points).

    Raises
    ------
    ConfigError
        On malformed inputs, or a task that is not a TaskSpec with a known face profile.
    NoFaceError
        If no frame has a face.
    """
    if not isinstance(task, TaskSpec) or task.face_profile not in PROFILES:
        raise ConfigError(f"task must be a TaskSpec whose face profile is one of "
                          f"{', '.join(PROFILES)}; got {task!r}")
    points = check_landmarks(landmarks)
    times = check_times(times_s, len(points))
    found = _check_face_found(face_found, len(points))
    complete = np.isfinite(points).all(axis=(1, 2))
    valid = found & complete
    if not valid.any():
        raise NoFaceError(f"task {task.name}: no frame with a face among {len(points)} frames")
    normalised, norm_info = normalise_frames(np.where(valid[:, None, None], points, np.nan))
    valid = norm_info["valid_frames"]
    frames, _ = frame_signals(normalised)
    profile = PROFILES[task.face_profile]
    reasons: dict = {}
    row = dict.fromkeys(COLUMNS, np.nan)
    row.update(_quality(valid, times, normalised, reasons))
    rest, peak, phase_info = rest_and_peak_frames(
        normalised, times, region=profile.region,
        main_signal=frames[profile.main_signal].to_numpy(), polarity=profile.polarity)
    row.update(_rest_statics(frames, rest, reasons))
    kin_info: dict = {}
    for signal in profile.kinematic_signals:
        values, kin_info[signal] = motion_measures(frames[signal].to_numpy(), times_s=times,
                                                   min_amplitude=MIN_MOVEMENT_IOD)
        for key in MOTION_KEYS:
            row[f"face__{signal}_{key}"] = values[key]
            if key in kin_info[signal]["reasons"]:
                reasons[f"face__{signal}_{key}"] = kin_info[signal]["reasons"][key]
    cycles, cycle_info = cycle_measures(frames[profile.main_signal].to_numpy(), times_s=times,
                                        polarity=profile.polarity,
                                        min_amplitude=MIN_CYCLE_AMPLITUDE_IOD,
                                        train_cycle=task.syllables_per_cycle
                                        if task.kind == DDK else None)
    for key in CYCLE_KEYS:
        row[f"face__cycle_{key}"] = cycles[key]
        if key in cycle_info["reasons"]:
            reasons[f"face__cycle_{key}"] = f"{profile.main_signal}: {cycle_info['reasons'][key]}"
    for family in profile.sides:
        row.update(_side_features(family, normalised, frames, times, rest, peak, reasons,
                                  kin_info))
    if "commissure" in profile.sides:
        row.update(_mouth_statics(frames, rest, peak, profile.smile, reasons))
    for feature in FEATURES:
        if not feature.applies_to(task):
            reasons[feature.column] = (f"not measured in {task.name} (face profile "
                                       f"{task.face_profile}); it applies to "
                                       f"{feature.applicability()}")
    info = {"reasons": reasons, "task": task.name, "face_profile": task.face_profile,
            "main_signal": profile.main_signal,
            "rest_frames": int(rest.sum()), "peak_frames": int(peak.sum()),
            "peak_change": phase_info["peak_change"], "unit": norm_info["unit"],
            "unit_px": norm_info["unit_px"], "kinematics": kin_info, "cycles": cycle_info,
            "quality_bar": QUALITY_BAR,
            "flagged_without_landmarks": int((found & ~complete).sum())}
    return row, info

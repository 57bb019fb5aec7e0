"""Task motion of the phantom face: per-frame landmark displacements with known truth.

Each task is built from per-side *templates*: the displacement (in inter-ocular distances, IOD,
in the face frame) that one side's muscles give every landmark at full effort. Points on the
subject's left move only with the left template, points on the right only with the right one,
and midline points take half of each, so they move by the mean of both sides (and a weak side
lets the stronger side pull the midline towards itself). Each side has a gain (weakness,
bilateral reduction, natural asymmetry) and a speed (slowing stretches its rise and return in
time); events of the schedule (see :mod:`phantom.schedule`) give the timing and the
effort (``Event.amplitude``).

Magnitudes at full effort (IOD units): mouth-corner excursion 0.19 (SPREAD) and 0.23
(BIGSMILE) per side, jaw opening 0.42 (OPEN), brow raise 0.10 (BROW), lip width reduction 25%
(KISS), cheek puff 0.06 (BLOW); speech: vowel jaw opening 0.15 and lip closure at every
bilabial onset. A smile's outward pull is capped at 70% of the room between the mouth corner and
the jaw contour (a turned face has little room on one side); the astronaut face is not capped.

Landmarks follow the 68-point iBUG/dlib order (0-based); "left" and "right" are the subject's
own sides.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError
from core.ibug68 import LEFT_SIDE, MIDLINE, MIRROR_INDEX
from core.tasks import MOVEMENT, NEUROFACE
from phantom.face import face_frame, inter_ocular_distance
from phantom.schedule import Schedule

SIDES = ("left", "right")

# Movement profile of a non-speech repetition, as fractions of its duration: raised-cosine rise,
# hold, raised-cosine return. A slower side stretches rise and return (return ends later) but
# still reaches its plateau, so its peak excursion is exactly its gain.
MOVE_RISE = 0.25
MOVE_RETURN_START = 0.75
# Speech: the vowel opening peaks at this fraction of the syllable; a consonant's lip target is
# held for PLATEAU_FRAMES / fps either side of the onset (so the onset frame sits on it) and
# blended in over CONSONANT_TAPER of the syllable duration.
VOWEL_PEAK = 0.5
PLATEAU_FRAMES = 0.6
CONSONANT_TAPER = 0.35
# Share of the neutral inner-lip gap left at the consonant's onset: bilabials close the lips
# (a small residue keeps the warp invertible), /t/ and /k/ only raise the jaw.
RESIDUAL_GAP = {"p": 0.05, "b": 0.05, "t": 0.5, "k": 0.6}
# Largest share of the room between a mouth corner and the jaw contour a smile may use.
SMILE_ROOM_SHARE = 0.7
# Vowel shapes of the syllables: (opening, spread, rounding) as fractions of the speech templates.
VOWEL_SHAPES = {"a": (1.0, 0.0, 0.0), "ai": (0.9, 0.25, 0.0), "o": (0.65, 0.0, 0.6),
                "i": (0.35, 0.4, 0.0)}


@dataclass(frozen=True)
class FaceImpairment:
    """How one subject's facial movement departs from a healthy, symmetric face.

    Attributes
    ----------
    weak_side : {'left', 'right'} or None
        The subject's weaker side (stroke), or None.
    weakness : float
        0-1: fractional reduction of movement excursion on the weak side; its rise and return
        are also slowed by the factor ``1 - weakness / 2``.
    bilateral : float
        0-1: reduction of range on both sides (ALS-like), with the same proportional slowing.
    natural_asymmetry : float
        Small signed fraction (|a| <= 0.3): the left side's gain is ``1 + a`` and the right's
        ``1 - a`` times the rest, so (L - R)/(L + R) of a symmetric excursion equals ``a``;
        + means the left side moves more.
    """

    weak_side: str | None = None
    weakness: float = 0.0
    bilateral: float = 0.0
    natural_asymmetry: float = 0.0

    def __post_init__(self):
        if self.weak_side not in (*SIDES, None):
            raise ConfigError(f"weak_side must be 'left', 'right' or None; got {self.weak_side!r}")
        for name in ("weakness", "bilateral"):
            value = getattr(self, name)
            if not np.isfinite(value) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1; got {value!r}")
        if self.weakness > 0 and self.weak_side is None:
            raise ConfigError("weakness > 0 needs weak_side 'left' or 'right'")
        if not np.isfinite(self.natural_asymmetry) or abs(self.natural_asymmetry) > 0.3:
            raise ConfigError(f"natural_asymmetry must be between -0.3 and 0.3; "
                              f"got {self.natural_asymmetry!r}")

    def gain(self, side: str) -> float:
        """Excursion factor of one side (1 = healthy)."""
        asym = self.natural_asymmetry if side == "left" else -self.natural_asymmetry
        weak = self.weakness if side == self.weak_side else 0.0
        return (1.0 + asym) * (1.0 - weak) * (1.0 - self.bilateral)

    def speed(self, side: str) -> float:
        """Factor on the rate of rise and return of one side (1 = healthy, 0.5 = twice as slow)."""
        weak = self.weakness if side == self.weak_side else 0.0
        return (1.0 - 0.5 * weak) * (1.0 - 0.5 * self.bilateral)


# ---------------------------------------------------------------------------------------------
# Templates: left-side action in face-frame IOD units (lateral towards the subject's left, down)
# ---------------------------------------------------------------------------------------------

def _face_coordinates(neutral: np.ndarray) -> np.ndarray:
    """Neutral landmarks in IOD units, face frame (lateral, down), origin between the eyes."""
    lateral, down, eye_mid = face_frame(neutral)
    rel = (neutral - eye_mid) / inter_ocular_distance(neutral)
    return np.column_stack([rel @ lateral, rel @ down])


def _mouth_position(coords: np.ndarray) -> np.ndarray:
    """Signed lateral position of every point relative to the mouth, -1 right corner, +1 left."""
    centre = 0.5 * (coords[48, 0] + coords[54, 0])
    half_width = 0.5 * (coords[54, 0] - coords[48, 0])
    return (coords[:, 0] - centre) / half_width


def _left_half(template: np.ndarray) -> np.ndarray:
    """Keep the left points' displacement, halve the midline points', zero the right ones."""
    out = np.zeros_like(template)
    out[LEFT_SIDE] = template[LEFT_SIDE]
    out[MIDLINE] = 0.5 * template[MIDLINE]
    return out


def _cheek_room(coords: np.ndarray) -> float:
    """Lateral room (IOD) between a mouth corner and the jaw contour at its height, the
    smaller of the two sides (a turned face has little on one side)."""
    rooms = []
    for corner, jaw, sign in ((54, np.r_[8:17], 1.0), (48, np.r_[0:9], -1.0)):
        order = np.argsort(coords[jaw, 1])
        contour = np.interp(coords[corner, 1], coords[jaw, 1][order],
                            sign * coords[jaw, 0][order])
        rooms.append(contour - sign * coords[corner, 0])
    return max(min(rooms), 0.0)


def _smile(coords: np.ndarray, *, out: float, up: float, midline_pull: float) -> np.ndarray:
    """Left corner pulled out and up; lips stretch with it, fading towards the midline.

    The outward pull is capped at ``SMILE_ROOM_SHARE`` of the room between the corner and the
    jaw contour, so the corner never runs into the face outline (which would fold the warp).
    """
    out = min(out, SMILE_ROOM_SHARE * _cheek_room(coords))
    t = np.zeros((68, 2))
    xi = np.clip(_mouth_position(coords), 0.0, 1.0)
    lips = np.r_[48:68]
    falloff = xi[lips] ** 1.5
    t[lips, 0] = out * falloff
    t[lips, 1] = -up * falloff
    t[[54, 64]] = (out, -up)
    t[[51, 57, 62, 66], 0] = 2 * midline_pull           # halved by _left_half
    t[[11, 12, 13], 0] = 0.12 * out                     # cheek bulge over the jaw line
    t[[11, 12, 13], 1] = -0.05 * up
    t[35] = (0.08 * out, -0.12 * up)                    # nasal ala
    t[34] = (0.04 * out, -0.06 * up)
    t[[46, 47], 1] = -0.08 * up                         # lower lid rises a little
    return _left_half(t)


def _jaw_drop(coords: np.ndarray, *, chin: float) -> np.ndarray:
    """Jaw contour lowered in proportion to its height below the jaw hinge (chin = ``chin``)."""
    t = np.zeros((68, 2))
    hinge = 0.5 * (coords[0, 1] + coords[16, 1])
    share = np.clip((coords[:17, 1] - hinge) / (coords[8, 1] - hinge), 0.0, 1.0)
    t[:17, 1] = chin * share
    t[:17, 0] = -0.05 * chin * share * np.sign(coords[:17, 0] - coords[8, 0])
    return t


def _open(coords: np.ndarray, *, chin: float) -> np.ndarray:
    """Jaw opening: jaw and lower lip down, corners down and slightly in, upper lip up."""
    t = _jaw_drop(coords, chin=chin)
    xi = np.abs(_mouth_position(coords))
    lower = np.array([55, 56, 57, 58, 59, 65, 66, 67])
    upper = np.array([49, 50, 51, 52, 53, 61, 62, 63])
    # Rounded (U-shaped) lower lip: the middle drops most, the corners about half as much.
    t[lower, 1] = 0.72 * chin * (1.0 - 0.5 * xi[lower] ** 2)
    t[upper, 1] = -0.05 * chin * (1.0 - 0.5 * xi[upper])
    t[[48, 54, 60, 64], 1] = 0.35 * chin
    t[[54, 64], 0] = -0.07 * chin
    t[[48, 60], 0] = 0.07 * chin
    return _left_half(t)


def _pucker(coords: np.ndarray, *, width_loss: float, rounding: float) -> np.ndarray:
    """Lips drawn in towards the mouth centre (width shrinks by ``width_loss``) and rounded."""
    t = np.zeros((68, 2))
    xi = _mouth_position(coords)
    half_width = 0.5 * (coords[54, 0] - coords[48, 0])
    lips = np.r_[48:68]
    t[lips, 0] = -width_loss * half_width * xi[lips]
    outer_upper = np.array([49, 50, 51, 52, 53])
    outer_lower = np.array([55, 56, 57, 58, 59])
    t[outer_upper, 1] = -rounding * (1.0 - xi[outer_upper] ** 2)
    t[outer_lower, 1] = rounding * (1.0 - xi[outer_lower] ** 2)
    return _left_half(t)


def _lip_closure(coords: np.ndarray, *, residual: float, with_jaw: bool = True) -> np.ndarray:
    """Lips brought together until ``residual`` of each neutral inner-lip gap remains.

    Upper lip (inner and outer) moves down and lower lip up by half the closing distance of the
    inner-lip pair they belong to; the jaw follows the lower lip half-way.
    """
    t = np.zeros((68, 2))
    pairs = {"left": ([52, 53, 63], [55, 56, 65], 63, 65),
             "mid": ([51, 62], [57, 66], 62, 66),
             "right": ([49, 50, 61], [58, 59, 67], 61, 67)}
    for upper, lower, inner_up, inner_low in pairs.values():
        gap = max(coords[inner_low, 1] - coords[inner_up, 1], 0.0)
        move = 0.5 * (1.0 - residual) * gap
        t[upper, 1] = move
        t[lower, 1] = -move
        if with_jaw and inner_up == 62:
            t[:17] = _jaw_drop(coords, chin=-0.5 * move)[:17]
    return _left_half(t)


def _brow_raise(coords: np.ndarray, *, lift: float) -> np.ndarray:
    """Left brow raised (outer part most) and upper lid lifted slightly."""
    t = np.zeros((68, 2))
    t[22:27, 1] = -lift * np.array([0.8, 0.9, 1.0, 1.0, 0.9])
    t[[43, 44], 1] = -0.15 * lift
    return _left_half(t)


def _cheek_puff(coords: np.ndarray, *, puff: float) -> np.ndarray:
    """Left cheek puffed (lower jaw contour outwards) with the lips pursed and sealed."""
    t = np.zeros((68, 2))
    t[9:16, 0] = puff * np.array([0.3, 0.7, 0.95, 1.0, 0.95, 0.7, 0.3])
    return _left_half(t) + _pucker(coords, width_loss=0.12, rounding=0.0)


def _for_side(template: np.ndarray, side: str) -> np.ndarray:
    """A left-side template as acting on ``side``: the right side's is the mirror image."""
    if side == "left":
        return template
    mirrored = template[MIRROR_INDEX].copy()
    mirrored[:, 0] *= -1.0
    return mirrored


def task_templates(neutral_landmarks: np.ndarray) -> dict:
    """Left-side templates (68, 2) in IOD units, face frame, of every movement component.

    Parameters
    ----------
    neutral_landmarks : ndarray, shape (68, 2)
        Neutral landmarks (x, y) in pixels.

    Returns
    -------
    dict
        Component name -> template. The right side's template is the mirror image.
        ``consonant_<c>`` and the ``*_seal`` components are lip contacts: they are scaled by at
        most 1, so a side that moves more than average never pushes the lips through each other.
    """
    c = _face_coordinates(np.asarray(neutral_landmarks, float))
    return {
        "spread": _smile(c, out=0.17, up=0.085, midline_pull=0.02),
        "bigsmile": _smile(c, out=0.21, up=0.13, midline_pull=0.02) + _open(c, chin=0.1),
        "kiss": _pucker(c, width_loss=0.25, rounding=0.03),
        "kiss_seal": 0.4 * _lip_closure(c, residual=0.0, with_jaw=False),
        "open": _open(c, chin=0.42),
        "brow": _brow_raise(c, lift=0.10),
        "blow": _cheek_puff(c, puff=0.06),
        "blow_seal": _lip_closure(c, residual=RESIDUAL_GAP["p"], with_jaw=False),
        "speech_open": _open(c, chin=0.15),
        "speech_spread": _smile(c, out=0.08, up=0.03, midline_pull=0.0),
        "speech_round": _pucker(c, width_loss=0.2, rounding=0.02),
        **{f"consonant_{k}": _lip_closure(c, residual=r) for k, r in RESIDUAL_GAP.items()},
    }


# Non-speech tasks: (component, is_contact) moved together by each repetition's profile.
NONSPEECH_COMPONENTS = {
    "NSM_SPREAD": (("spread", False),),
    "NSM_BIGSMILE": (("bigsmile", False),),
    "NSM_KISS": (("kiss", False), ("kiss_seal", True)),
    "NSM_OPEN": (("open", False),),
    "NSM_BROW": (("brow", False),),
    "NSM_BLOW": (("blow", False), ("blow_seal", True)),
}


# ---------------------------------------------------------------------------------------------
# Time profiles
# ---------------------------------------------------------------------------------------------

def _rise(t: np.ndarray, start: float, length: float) -> np.ndarray:
    """Raised-cosine step: 0 before ``start``, 1 after ``start + length`` (seconds)."""
    x = np.clip((t - start) / max(length, 1e-9), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def movement_profile(t: np.ndarray, *, onset_s: float, duration_s: float, speed: float
                     ) -> np.ndarray:
    """Rise-hold-return profile (0-1) of one non-speech repetition.

    Rise takes ``MOVE_RISE * duration_s / speed``; the return starts at ``MOVE_RETURN_START``
    of the duration (or when the rise ends, if later) and lasts as long as the rise, so a slower
    side lags, returns late, and still reaches 1.
    """
    rise = MOVE_RISE * duration_s / speed
    back = (1.0 - MOVE_RETURN_START) * duration_s / speed
    return_start = onset_s + max(MOVE_RETURN_START * duration_s, rise)
    return _rise(t, onset_s, rise) * (1.0 - _rise(t, return_start, back))


def _split_syllable(label: str) -> tuple[str | None, str]:
    """('p', 'a') for 'pa', (None, 'a') for 'a', ('b', 'ai') for 'bai'."""
    if label[0] in RESIDUAL_GAP:
        return label[0], label[1:]
    return None, label


def _speech_weights(schedule: Schedule, t: np.ndarray, *, speed: float, fps: float
                    ) -> tuple[dict, dict]:
    """Per-frame weights of the vowel components and of each consonant's lip target, one side.

    Returns
    -------
    vowel : dict
        'speech_open', 'speech_spread', 'speech_round' -> (n,) weights (effort included).
    consonant : dict
        'consonant_<c>' -> (n,) blend weights in [0, 1].
    """
    plateau = PLATEAU_FRAMES / fps
    vowel = {name: np.zeros_like(t) for name in ("speech_open", "speech_spread", "speech_round")}
    consonant = {f"consonant_{c}": np.zeros_like(t) for c in RESIDUAL_GAP}
    for event in schedule.events:
        kind, vowel_label = _split_syllable(event.label)
        if vowel_label not in VOWEL_SHAPES:
            raise ConfigError(f"syllable {event.label!r} has no vowel shape; known vowels: "
                              f"{sorted(VOWEL_SHAPES)}")
        start = event.onset_s
        if kind is not None:
            taper = CONSONANT_TAPER * event.duration_s / speed
            consonant[f"consonant_{kind}"] += (
                _rise(t, event.onset_s - plateau - taper, taper)
                * (1.0 - _rise(t, event.onset_s + plateau, taper)))
            start = event.onset_s + plateau
        peak = event.onset_s + VOWEL_PEAK * event.duration_s
        rise = max(peak - start, 1e-3) / speed
        fall = (1.0 - VOWEL_PEAK) * event.duration_s / speed
        profile = event.amplitude * _rise(t, start, rise) * (1.0 - _rise(t, start + rise, fall))
        for name, share in zip(vowel, VOWEL_SHAPES[vowel_label]):
            vowel[name] += share * profile
    return vowel, consonant


# ---------------------------------------------------------------------------------------------
# Displacements
# ---------------------------------------------------------------------------------------------

def task_displacements(schedule: Schedule, *, impairment: FaceImpairment,
                       neutral_landmarks: np.ndarray, fps: float, n_frames: int) -> np.ndarray:
    """Per-frame landmark displacement of one task clip.

    Parameters
    ----------
    schedule : Schedule
        The clip's events (:func:`phantom.schedule.build_schedule`).
    impairment : FaceImpairment
        The subject's side gains and speeds.
    neutral_landmarks : ndarray, shape (68, 2)
        Neutral landmarks (x, y) in pixels; amplitudes scale with their inter-ocular distance
        and directions follow their eye line.
    fps : float
        Frame rate in frames per second; frame ``i`` is at ``i / fps`` seconds.
    n_frames : int
        Number of frames.

    Returns
    -------
    ndarray, shape (n_frames, 68, 2)
        Displacement (x, y) from neutral in pixels, before any head pose.
    """
    if not isinstance(schedule, Schedule) or schedule.task not in NEUROFACE:
        raise ConfigError(f"schedule must be a Schedule of one of {tuple(NEUROFACE)}")
    if not isinstance(impairment, FaceImpairment):
        raise ConfigError(f"impairment must be a FaceImpairment; got {type(impairment).__name__}")
    neutral = np.asarray(neutral_landmarks, float)
    if neutral.shape != (68, 2) or not np.all(np.isfinite(neutral)):
        raise ConfigError(f"neutral_landmarks must be a finite (68, 2) array; got {neutral.shape}")
    if not np.isfinite(fps) or fps <= 0:
        raise ConfigError(f"fps must be a positive number of frames per second; got {fps!r}")
    if int(n_frames) != n_frames or n_frames < 1:
        raise ConfigError(f"n_frames must be a positive integer; got {n_frames!r}")
    templates = task_templates(neutral)
    t = np.arange(int(n_frames)) / fps
    face = np.zeros((int(n_frames), 68, 2))
    for side in SIDES:
        gain, speed = impairment.gain(side), impairment.speed(side)
        contact = min(gain, 1.0)
        if NEUROFACE[schedule.task].kind == MOVEMENT:
            # The maximum, not the sum: a very slow side's return may overlap the next rise,
            # and the excursion must still never exceed the side's gain.
            profile = np.zeros_like(t)
            for event in schedule.events:
                profile = np.maximum(profile, event.amplitude * movement_profile(
                    t, onset_s=event.onset_s, duration_s=event.duration_s, speed=speed))
            for name, is_contact in NONSPEECH_COMPONENTS[schedule.task]:
                weight = (contact if is_contact else gain) * profile
                face += weight[:, None, None] * _for_side(templates[name], side)
        else:
            vowel, consonant = _speech_weights(schedule, t, speed=speed, fps=fps)
            # A consonant's lip target overrides the vowel: at its plateau the lips sit exactly
            # at the target whatever the neighbouring syllables are doing.
            blend = np.clip(sum(consonant.values()), 0.0, 1.0)
            for name, weight in vowel.items():
                face += ((gain * (1.0 - blend) * weight)[:, None, None]
                         * _for_side(templates[name], side))
            for name, weight in consonant.items():
                face += (contact * weight)[:, None, None] * _for_side(templates[name], side)
    lateral, down, _ = face_frame(neutral)
    iod = inter_ocular_distance(neutral)
    return iod * (face[..., :1] * lateral + face[..., 1:] * down)


def motion_truth_summary(displacements: np.ndarray, *, neutral_landmarks: np.ndarray,
                         fps: float) -> dict:
    """Per-clip truth of the face's own motion, for checking features against.

    Parameters
    ----------
    displacements : ndarray, shape (n_frames, 68, 2)
        Pixels, no head pose: the requested motion from :func:`task_displacements`, or the
        motion the rendered frames really show (each frame's truth through
        :func:`phantom.face.local_displacement`), which differs from the request by
        the warp's interpolation (under a pixel).
    neutral_landmarks : ndarray, shape (68, 2)
        The neutral landmarks they displace.
    fps : float
        Frame rate in frames per second.

    Returns
    -------
    dict of float
        ``iod_px``; per side (``_left``, ``_right``): ``corner_excursion`` (peak distance of the
        mouth corner p54 / p48 from neutral), ``corner_peak_speed`` (IOD/s),
        ``commissure_distance_gain`` (peak increase of the corner's distance from the lower-lip
        midline p57, Emotrics' commissure excursion), ``brow_raise`` (peak upward mean
        displacement of brow 22-26 / 17-21); then ``corner_excursion_asymmetry``
        ((L - R)/(L + R)), ``corner_lag_s`` (time the left corner first reaches half its peak
        excursion minus the right's, in seconds; + = left later), and the ranges
        ``lip_aperture_min``/``_max`` (|p62 - p66|), ``lip_width_min``/``_max`` (|p48 - p54|),
        ``jaw_opening_range`` (max - min of |p8 - p27|). Distances in IOD units of the neutral.
    """
    neutral = np.asarray(neutral_landmarks, float)
    disp = np.asarray(displacements, float)
    if disp.ndim != 3 or disp.shape[1:] != (68, 2) or neutral.shape != (68, 2):
        raise ConfigError(f"displacements must be (n_frames, 68, 2) and neutral_landmarks "
                          f"(68, 2); got {disp.shape} and {neutral.shape}")
    if not np.isfinite(fps) or fps <= 0:
        raise ConfigError(f"fps must be a positive number of frames per second; got {fps!r}")
    iod = inter_ocular_distance(neutral)
    track = (neutral + disp) / iod
    _, down, _ = face_frame(neutral)
    summary = {"iod_px": iod}
    excursions = {}
    for side, corner, brow in (("left", 54, slice(22, 27)), ("right", 48, slice(17, 22))):
        excursion = np.linalg.norm(disp[:, corner], axis=1) / iod
        excursions[side] = excursion
        speed = np.linalg.norm(np.diff(disp[:, corner], axis=0), axis=1) * fps / iod
        commissure = np.linalg.norm(track[:, corner] - track[:, 57], axis=1)
        summary[f"corner_excursion_{side}"] = float(excursion.max())
        summary[f"corner_peak_speed_{side}"] = float(speed.max()) if len(speed) else 0.0
        summary[f"commissure_distance_gain_{side}"] = float(
            commissure.max() - np.linalg.norm(neutral[corner] - neutral[57]) / iod)
        summary[f"brow_raise_{side}"] = float(max(0.0, (-(disp[:, brow] @ down)).mean(axis=1).max()
                                                  / iod))
    left, right = summary["corner_excursion_left"], summary["corner_excursion_right"]
    summary["corner_excursion_asymmetry"] = float((left - right) / (left + right)) \
        if left + right > 0 else 0.0
    rise_left = _half_rise_s(excursions["left"], fps)
    rise_right = _half_rise_s(excursions["right"], fps)
    summary["corner_lag_s"] = (rise_left - rise_right
                               if rise_left is not None and rise_right is not None else 0.0)
    aperture = np.linalg.norm(track[:, 62] - track[:, 66], axis=1)
    width = np.linalg.norm(track[:, 48] - track[:, 54], axis=1)
    jaw = np.linalg.norm(track[:, 8] - track[:, 27], axis=1)
    summary.update(lip_aperture_min=float(aperture.min()), lip_aperture_max=float(aperture.max()),
                   lip_width_min=float(width.min()), lip_width_max=float(width.max()),
                   jaw_opening_range=float(jaw.max() - jaw.min()))
    return summary


def _half_rise_s(signal: np.ndarray, fps: float) -> float | None:
    """Time (s) the signal first reaches half its maximum, interpolated between frames."""
    peak = signal.max()
    if peak <= 0:
        return None
    k = int(np.argmax(signal >= 0.5 * peak))
    if k == 0:
        return 0.0
    before, after = signal[k - 1], signal[k]
    return (k - 1 + (0.5 * peak - before) / (after - before)) / fps

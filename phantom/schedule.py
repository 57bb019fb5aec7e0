"""Event schedules shared by the phantom's face motion and its voice.

A schedule lists, for one task clip, when each syllable or movement repetition starts and how long
it lasts. The face animation closes the lips at each bilabial onset and the voice starts the
syllable there, so sound and motion stay in sync by construction.

Like a real examination, a repetition clip holds several attempts: DDK syllables come in trains
of ``TRAIN_SPAN_S`` seconds separated by pauses, and BBP repeats its sentence with a breath
between sentences. A pause between DDK trains lasts ``PAUSE_SPAN_S`` but never less than
``MIN_PAUSE_PERIODS`` syllable periods: a shorter stop is a slow syllable, not a new attempt,
for a listener and for the detector alike (``features.rhythm`` states the limit).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.tasks import DDK, MOVEMENT, NEUROFACE

# "buy Bobby a puppy": one label per syllable; the consonant is the label's first letter.
BBP_SYLLABLES = ("bai", "bo", "bi", "a", "pa", "pi")
LEAD_IN_S = 0.3
# DDK attempts: length of one train (s), the pause after it (s), its shortest pause in syllable
# periods, and the fewest syllables an attempt has (a shorter remainder of the clip stays silent).
TRAIN_SPAN_S = (1.2, 2.5)
PAUSE_SPAN_S = (0.3, 1.5)
MIN_PAUSE_PERIODS = 2.0
MIN_TRAIN_SYLLABLES = 4
SYLLABLE_SHARE = 0.6  # a DDK syllable's sound lasts this share of its period; the rest is closure


@dataclass(frozen=True)
class Event:
    """One syllable or movement repetition.

    Attributes
    ----------
    onset_s : float
        Start time in seconds from the clip start.
    duration_s : float
        Length in seconds (for a movement: rise, hold and return).
    label : str
        Syllable ('pa', 'ta', 'ka', 'bai', ...) or 'move' for a non-speech repetition.
    amplitude : float
        Relative effort, 1 at the first event; falls with fatigue.
    train : int
        0-based attempt the event belongs to (DDK train, BBP sentence); 0 for movements.
    """

    onset_s: float
    duration_s: float
    label: str
    amplitude: float
    train: int = 0


@dataclass(frozen=True)
class Schedule:
    """All events of one task clip."""

    task: str
    duration_s: float
    events: tuple

    @property
    def is_speech(self) -> bool:
        """True when the task is spoken (the voice is synthesised)."""
        return NEUROFACE[self.task].kind != MOVEMENT


def _intervals(n: int, mean_s: float, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Positive inter-onset intervals with mean ``mean_s`` and coefficient of variation ``cv``."""
    raw = rng.normal(mean_s, cv * mean_s, size=n)
    return np.clip(raw, 0.3 * mean_s, None)


def _amplitudes(n: int, fatigue: float) -> np.ndarray:
    """Linear decline from 1 to ``1 - fatigue`` over ``n`` events."""
    return np.linspace(1.0, 1.0 - fatigue, n) if n > 1 else np.ones(n)


def _ddk_trains(end_s: float, *, period_s: float, rate_cv: float, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """Onsets (s) and train numbers of DDK attempts filling the clip up to ``end_s``.

    Each attempt lasts a drawn ``TRAIN_SPAN_S`` (longer if a slow rate needs it to hold
    ``MIN_TRAIN_SYLLABLES``); the next starts after a drawn pause (module docstring). An attempt
    that would hold fewer than ``MIN_TRAIN_SYLLABLES`` syllables before ``end_s`` is not started,
    except the first, which keeps whatever fits.
    """
    onsets, trains = [], []
    start = LEAD_IN_S
    while True:
        # long enough for the fewest syllables an attempt has, even at a slow rate
        length = max(rng.uniform(*TRAIN_SPAN_S), (MIN_TRAIN_SYLLABLES + 0.5) * period_s)
        n_max = int(length / period_s) + 4
        times = start + np.concatenate([[0.0], np.cumsum(_intervals(n_max, period_s, rate_cv, rng))])
        times = times[(times + SYLLABLE_SHARE * period_s <= min(start + length, end_s))]
        if trains and len(times) < MIN_TRAIN_SYLLABLES:
            break
        onsets.extend(times)
        trains.extend([trains[-1] + 1 if trains else 0] * len(times))
        if len(times) == 0:
            break
        pause = max(rng.uniform(*PAUSE_SPAN_S), MIN_PAUSE_PERIODS * period_s)
        start = times[-1] + SYLLABLE_SHARE * period_s + pause
    return np.asarray(onsets), np.asarray(trains, dtype=int)


def _positions_in_train(trains: np.ndarray) -> np.ndarray:
    """0-based position of each event within its train (every attempt starts its cycle anew)."""
    starts = np.r_[0, np.flatnonzero(np.diff(trains)) + 1]
    return np.arange(len(trains)) - np.repeat(starts, np.diff(np.r_[starts, len(trains)]))


def train_rhythm_truth(events: tuple, *, cycle: int = 1) -> dict:
    """The true within-train rate and rhythm of a clip's events.

    Computed from the schedule's own train numbers, never from detected pauses, over whole cycles
    of ``cycle`` events (3 for /pa-ta-ka/): per train the rate (c x m) / (time from the first onset
    to the onset c x m events later), m whole cycles; the clip's ``event_rate_hz`` is the median
    over trains holding a whole cycle. ``event_interval_cv`` pools the cycle durations (onset k to
    onset k + c) of all trains, each divided by its own train's mean (NaN with fewer than two
    degrees of freedom); ``n_trains`` counts the trains.
    """
    onsets = np.array([e.onset_s for e in events])
    trains = np.array([e.train for e in events], dtype=int)
    per_train = [onsets[trains == k] for k in np.unique(trains)]
    rates = []
    for times in per_train:
        whole = times[:1 + cycle * ((times.size - 1) // cycle)]
        if whole.size >= 2:
            rates.append((whole.size - 1) / (whole[-1] - whole[0]))
    relative = [d / d.mean() for d in (t[cycle:] - t[:-cycle] for t in per_train) if d.size >= 2]
    dof = sum(r.size - 1 for r in relative)
    return {"n_trains": len(per_train),
            "event_rate_hz": float(np.median(rates)) if rates else float("nan"),
            "event_interval_cv": float(np.sqrt(sum(((r - 1) ** 2).sum() for r in relative) / dof))
            if dof >= 2 else float("nan")}


def build_schedule(task: str, *, duration_s: float, rate_hz: float, rate_cv: float,
                   fatigue: float, movement_s: float, rng: np.random.Generator) -> Schedule:
    """Time the events of one task clip.

    Parameters
    ----------
    task : str
        A NeuroFace task code.
    duration_s : float
        Clip length in seconds.
    rate_hz : float
        Syllable rate in syllables per second for speech tasks (DDK and BBP).
    rate_cv : float
        Coefficient of variation of the inter-syllable interval (0 = metronomic).
    fatigue : float
        Fractional amplitude loss from the first to the last event, in [0, 1).
    movement_s : float
        Duration in seconds of one non-speech movement repetition (rise, hold, return).
    rng : numpy.random.Generator
        Source of the timing variability.

    Returns
    -------
    Schedule
    """
    if task not in NEUROFACE:
        raise ValueError(f"task must be one of {tuple(NEUROFACE)}, got {task!r}")
    if not 0 <= fatigue < 1:
        raise ValueError(f"fatigue must be in [0, 1), got {fatigue}")
    end = duration_s - LEAD_IN_S
    kind = NEUROFACE[task].kind
    if kind == MOVEMENT:
        rest_s = 0.35 * movement_s
        n = max(1, int((end - LEAD_IN_S + rest_s) // (movement_s + rest_s)))
        onsets = LEAD_IN_S + np.arange(n) * (movement_s + rest_s)
        durations = np.full(n, movement_s)
        labels = ["move"] * n
    elif kind == DDK:
        onsets, trains = _ddk_trains(end, period_s=1.0 / rate_hz, rate_cv=rate_cv, rng=rng)
        durations = np.full(len(onsets), SYLLABLE_SHARE / rate_hz)
        cycle = ("pa",) if task == "DDK_PA" else ("pa", "ta", "ka")
        labels = [cycle[i % len(cycle)] for i in _positions_in_train(trains)]
    else:
        onsets, labels, trains = [], [], []
        t = LEAD_IN_S
        while True:
            phrase = t + np.concatenate([[0.0], np.cumsum(_intervals(len(BBP_SYLLABLES) - 1, 1 / rate_hz, rate_cv, rng))])
            if phrase[-1] + 0.7 / rate_hz > end:
                break
            trains.extend([trains[-1] + 1 if trains else 0] * len(BBP_SYLLABLES))
            onsets.extend(phrase)
            labels.extend(BBP_SYLLABLES)
            t = phrase[-1] + 1 / rate_hz + rng.uniform(0.35, 0.55)  # breath pause between phrases
        onsets = np.asarray(onsets)
        durations = np.full(len(onsets), 0.7 / rate_hz)
    amps = _amplitudes(len(onsets), fatigue)
    trains = np.zeros(len(onsets), dtype=int) if kind == MOVEMENT else trains
    events = tuple(Event(float(o), float(d), lab, float(a), int(k))
                   for o, d, lab, a, k in zip(onsets, durations, labels, amps, trains))
    return Schedule(task=task, duration_s=float(duration_s), events=events)

"""Event schedules shared by the phantom's face motion and its voice.

A schedule lists, for one task clip, when each syllable or movement repetition starts and how long
it lasts. The face animation closes the lips at each bilabial onset and the voice starts the
syllable there, so sound and motion stay in sync by construction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tasks import DDK_TASKS, NONSPEECH_TASKS, TASKS

# "buy Bobby a puppy": one label per syllable; the consonant is the label's first letter.
BBP_SYLLABLES = ("bai", "bo", "bi", "a", "pa", "pi")
LEAD_IN_S = 0.3


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
    """

    onset_s: float
    duration_s: float
    label: str
    amplitude: float


@dataclass(frozen=True)
class Schedule:
    """All events of one task clip."""

    task: str
    duration_s: float
    events: tuple

    @property
    def is_speech(self) -> bool:
        """True when the task is spoken (the voice is synthesised)."""
        return self.task not in NONSPEECH_TASKS


def _intervals(n: int, mean_s: float, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Positive inter-onset intervals with mean ``mean_s`` and coefficient of variation ``cv``."""
    raw = rng.normal(mean_s, cv * mean_s, size=n)
    return np.clip(raw, 0.3 * mean_s, None)


def _amplitudes(n: int, fatigue: float) -> np.ndarray:
    """Linear decline from 1 to ``1 - fatigue`` over ``n`` events."""
    return np.linspace(1.0, 1.0 - fatigue, n) if n > 1 else np.ones(n)


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
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not 0 <= fatigue < 1:
        raise ValueError(f"fatigue must be in [0, 1), got {fatigue}")
    end = duration_s - LEAD_IN_S
    if task in NONSPEECH_TASKS:
        rest_s = 0.35 * movement_s
        n = max(1, int((end - LEAD_IN_S + rest_s) // (movement_s + rest_s)))
        onsets = LEAD_IN_S + np.arange(n) * (movement_s + rest_s)
        durations = np.full(n, movement_s)
        labels = ["move"] * n
    elif task in DDK_TASKS:
        cycle = ("pa",) if task == "DDK_PA" else ("pa", "ta", "ka")
        n_max = int(2 * (end - LEAD_IN_S) * rate_hz) + 4
        onsets = LEAD_IN_S + np.concatenate([[0.0], np.cumsum(_intervals(n_max, 1 / rate_hz, rate_cv, rng))])
        onsets = onsets[onsets + 0.6 / rate_hz <= end]
        durations = np.full(len(onsets), 0.6 / rate_hz)
        labels = [cycle[i % len(cycle)] for i in range(len(onsets))]
    else:
        onsets, labels = [], []
        t = LEAD_IN_S
        while True:
            phrase = t + np.concatenate([[0.0], np.cumsum(_intervals(len(BBP_SYLLABLES) - 1, 1 / rate_hz, rate_cv, rng))])
            if phrase[-1] + 0.7 / rate_hz > end:
                break
            onsets.extend(phrase)
            labels.extend(BBP_SYLLABLES)
            t = phrase[-1] + 1 / rate_hz + rng.uniform(0.35, 0.55)  # breath pause between phrases
        onsets = np.asarray(onsets)
        durations = np.full(len(onsets), 0.7 / rate_hz)
    amps = _amplitudes(len(onsets), fatigue)
    events = tuple(Event(float(o), float(d), lab, float(a))
                   for o, d, lab, a in zip(onsets, durations, labels, amps))
    return Schedule(task=task, duration_s=float(duration_s), events=events)

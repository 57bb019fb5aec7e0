"""Repetition trains: rate and rhythm of repeated events (syllables, lip cycles) within attempts.

An examination clip of a repetition task (DDK /pa/ or /pa-ta-ka/) holds several attempts: the
participant repeats for a few seconds, stops, and starts again when asked. Rate and rhythm
describe the repetition itself, so they are measured within each attempt (a *train*) and a pause
between two attempts is never an interval. Taken over the whole clip instead, clips with 3-5
trains read 25-30% slow and their interval CV measures the pauses rather than the rhythm.

Pause rule. An onset interval longer than ``PAUSE_FACTOR`` times the clip's median onset interval
is a pause: the participant stayed silent at least one syllable period longer than usual. The
median is a within-train interval as long as trains are longer than the pauses are many (three
events or more per train). An irregular rhythm does not split a train: an interval twice the
median is 3.3 SDs out at an interval CV of 0.3, already a severely irregular rhythm. The price is a
detection limit: a pause shorter than about one syllable period plus the usual closure cannot be
told from one slow syllable, and is counted as an interval (at 2 syllables per s, pauses under
about 0.7 s; at 6 per s, under about 0.25 s).

Per clip (``within_train_rhythm``), over trains of at least ``min_events`` events (a lone
syllable or a false start is left out of rate and rhythm). A task whose syllables form a cycle
(/pa-ta-ka/: ``cycle`` = 3) is measured over whole cycles: its consonants do not start their
vowels equally fast (a /t/ or /k/ release lets the vowel start some 20-40 ms later than a /p/),
so single intervals alternate short and long with the syllables, which is phonetics, not an
irregular rhythm; a whole cycle holds one of each.

- rate of a train: the events in whole cycles from the first onset, (c x m) / (time from the first
  onset to the onset c x m events later), m the number of whole cycles of c events; events per s.
  For c = 1 this is (n - 1) / (last - first onset). The clip's rate is the median over trains,
  and the pooled rate is all trains' whole cycles together;
- interval CV, pooled within trains: the durations of every cycle (onset k to onset k + c, so
  overlapping for c > 1), each divided by its own train's mean cycle, and the SD of these ratios
  with one degree of freedom spent per train. For c = 1 and one train this is the usual
  SD / mean of the intervals; a change of tempo between attempts does not inflate it;
- rate decline: the first train's rate minus the last train's, in percent of the first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAUSE_FACTOR = 2.0
MIN_CV_DOF = 2  # the fewest degrees of freedom a pooled interval CV is given on


def split_trains(times_s: np.ndarray, *, pause_factor: float = PAUSE_FACTOR,
                 breaks: tuple = ()) -> list[np.ndarray]:
    """Event indices of each train: runs of events whose onset intervals are not pauses.

    Parameters
    ----------
    times_s : numpy.ndarray
        Event onset times in seconds, increasing.
    pause_factor : float
        An interval longer than this times the median interval is a pause.
    breaks : tuple of int
        Indices of events that start a new train whatever the interval before them (e.g. the
        first cycle after the face was lost); those intervals are left out of the median too.

    Returns
    -------
    list of numpy.ndarray
        One array of indices into ``times_s`` per train, in time order; empty for no events.
    """
    times = np.asarray(times_s, dtype=float)
    if times.size == 0:
        return []
    starts = np.zeros(times.size, dtype=bool)
    starts[[b for b in breaks if 0 < b < times.size]] = True
    intervals = np.diff(times)
    usable = ~starts[1:]
    if usable.any():
        starts[1:] |= intervals > pause_factor * np.median(intervals[usable])
    return np.split(np.arange(times.size), np.flatnonzero(starts))


def whole_cycles(times_s: np.ndarray, cycle: int) -> np.ndarray:
    """A train's onsets from the first to the last one a whole number of cycles after it."""
    return times_s[:1 + cycle * ((len(times_s) - 1) // cycle)]


def train_rate(times_s: np.ndarray, *, cycle: int = 1) -> float:
    """Events per s of one train over its whole cycles (module docstring)."""
    kept = whole_cycles(times_s, cycle)
    return float((len(kept) - 1) / (kept[-1] - kept[0]))


def pooled_interval_cv(trains: list[np.ndarray], *, cycle: int = 1) -> float:
    """Cycle-duration CV pooled within trains (module docstring); NaN below ``MIN_CV_DOF``.

    Parameters
    ----------
    trains : list of numpy.ndarray
        Onset times (s) of each train.
    cycle : int
        Events per cycle.
    """
    squares, dof = 0.0, 0
    for times in trains:
        durations = times[cycle:] - times[:-cycle]
        if durations.size < 2:
            continue
        squares += float(np.sum((durations / durations.mean() - 1.0) ** 2))
        dof += durations.size - 1
    return float(np.sqrt(squares / dof)) if dof >= MIN_CV_DOF else float("nan")


@dataclass(frozen=True)
class TrainRhythm:
    """Rate and rhythm of the repetition trains of one clip.

    Attributes
    ----------
    trains : list of numpy.ndarray
        Indices (into the event times) of each train with at least the minimum number of events.
    n_fragments : int
        Runs shorter than that minimum, left out.
    rates : numpy.ndarray
        Rate of each kept train, events per s.
    median_rate, pooled_rate : float
        Median over trains, and all within-train intervals pooled, events per s; NaN without a
        train.
    interval_cv : float
        Interval CV pooled within trains (ratio); NaN when too few intervals.
    rate_decline_pct : float
        100 x (first train's rate - last train's rate) / first train's rate; NaN with fewer than
        two trains.
    """

    trains: list
    n_fragments: int
    rates: np.ndarray
    median_rate: float
    pooled_rate: float
    interval_cv: float
    rate_decline_pct: float


def within_train_rhythm(times_s: np.ndarray, *, min_events: int, cycle: int = 1,
                        pause_factor: float = PAUSE_FACTOR, breaks: tuple = ()) -> TrainRhythm:
    """Split event onsets into trains and measure rate and rhythm within them.

    Parameters
    ----------
    times_s : numpy.ndarray
        Event onset times in seconds, increasing.
    min_events : int
        Fewest events a train needs to count (at least 2, and at least one whole cycle).
    cycle : int
        Events per cycle of the task (1 for /pa/, 3 for /pa-ta-ka/).
    pause_factor, breaks
        See ``split_trains``.

    Returns
    -------
    TrainRhythm
    """
    if min_events < 2 or cycle < 1:
        raise ValueError(f"min_events must be at least 2 and cycle at least 1; got {min_events}, "
                         f"{cycle}")
    times = np.asarray(times_s, dtype=float)
    runs = split_trains(times, pause_factor=pause_factor, breaks=breaks)
    trains = [run for run in runs if run.size >= max(min_events, cycle + 1)]
    train_times = [times[run] for run in trains]
    rates = np.array([train_rate(t, cycle=cycle) for t in train_times])
    cycled = [whole_cycles(t, cycle) for t in train_times]
    nan = float("nan")
    return TrainRhythm(
        trains=trains, n_fragments=len(runs) - len(trains), rates=rates,
        median_rate=float(np.median(rates)) if rates.size else nan,
        pooled_rate=float(sum(t.size - 1 for t in cycled) / sum(t[-1] - t[0] for t in cycled))
        if trains else nan,
        interval_cv=pooled_interval_cv(train_times, cycle=cycle),
        rate_decline_pct=float(100.0 * (rates[0] - rates[-1]) / rates[0]) if rates.size >= 2
        else nan)

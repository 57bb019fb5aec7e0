"""Diadochokinesis (tasks of kind ddk, e.g. DDK_PA, DDK_PATAKA): syllable rate, rhythm and intensity
decay.

Syllables are found as peaks of a band-energy envelope (``detect_syllables``): mean power in short
windows every 5 ms after a band-pass, in dB; a peak is a syllable nucleus when it stands above the
recording's speech threshold (25 dB below its loud end, at least 6 dB over its noise floor, as in
``segments``), rises at least ``min_prominence_db`` over the valleys around it, and lies at least
``min_distance_s`` after the previous nucleus. Its onset is where the rising edge first crosses
halfway (in dB) from the preceding valley to the peak.

DDK settings: a 300-1500 Hz band (first formants of the vowels; stop bursts and aspiration lie
mostly above it), 40 ms windows (long enough to merge a burst and its voice-onset gap into the
vowel's rise), a 6 dB prominence (DDK syllables are separated by stop closures, whose valleys are
20-40 dB deep) and no voicing requirement (on PC-GITA's /pa-ta-ka/, requiring voicing at the peak
lost 3 of 12 syllables: short vowels in fast repetition are often left unvoiced by the pitch
tracker). With 20 ms windows, a 300-3000 Hz band and 4 dB, the 7 real DDK recordings gave the same
counts, but /ka/ and /ta/ bursts with long voice-onset times were counted as extra syllables
(up to 14 too many in 8 s of phantom /pa-ta-ka/; none with these settings). The minimum distance
0.08 s caps the rate at 12.5 per s.

A stop released long before voicing starts (a long voice-onset time, as in severe dysarthria) can
leave its burst as a separate small peak just before the vowel. A peak followed within
``BURST_GAP_S`` by one at least ``BURST_DROP_DB`` louder is taken as that syllable's release: the
two count as one syllable, with the louder peak and the burst's onset. On a 10-per-group phantom
one severe ALS /pa/ clip had such a burst, 19 dB below its vowel and 0.12 s before it, counted
as a syllable of its own (rate 12% too high); no peak of the 7 real DDK recordings is merged.

Rate, rhythm and loudness are measured within repetition trains (``features.rhythm``): a clip
holds several attempts separated by pauses, and a pause is never an interval. A train needs
``MIN_TRAIN_SYLLABLES`` syllables; the loudness decay is the regression slope of syllable peak
level on time within trains (each train's own mean level and time removed, so a quieter second
attempt is not read as decay inside the first), and the first-to-last-train declines compare
whole attempts (fatigue over the examination).

Automatic DDK fails on severe speech (merged or inaudible syllables): cross-check the syllable
count with the video cycle count of the same clip.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from core.errors import ConfigError
from core.tasks import DDK
from features.audio.segments import ABOVE_FLOOR_DB, BELOW_PEAK_DB, band_energy_db
from features.registry import register_table
from features.rhythm import within_train_rhythm

MODALITY = "ddk"
ENVELOPE_STEP_S = 0.005
DDK_WINDOW_S = 0.04
DDK_BAND_HZ = (300.0, 1500.0)
DDK_MIN_PROMINENCE_DB = 6.0
MIN_SYLLABLE_DISTANCE_S = 0.08
BURST_GAP_S = 0.15
BURST_DROP_DB = 12.0
# Three syllables give two intervals: a rate, and one degree of freedom towards the pooled
# interval CV and loudness slope. Real /pa-ta-ka/ attempts are often only a few triplets long.
MIN_TRAIN_SYLLABLES = 3

_SOURCE = ("Kent RD, Kent JF, Rosenbek JC (1987) Maximum performance tests of speech production. "
           "J Speech Hear Disord 52:367-387; Rusz J et al. (2011) J Acoust Soc Am 129(1):350-367")
_SPECS = (
    ("syllable_count", "syllables", "number of syllables detected in the clip, every train and "
     "fragment included", "neutral"),
    ("train_count", "trains", f"number of repetition trains (attempts separated by pauses) with "
     f"at least {MIN_TRAIN_SYLLABLES} syllables", "neutral"),
    ("syllable_rate", "syllables per s", "syllable repetition rate within trains: the median over "
     "trains of (syllables - 1) / (last - first onset), over whole /pa-ta-ka/ cycles; pauses "
     "between trains are left out; slow rates mean slowed articulation", "higher_better"),
    ("syllable_rate_pooled", "syllables per s", "syllable repetition rate of all within-train "
     "intervals together: (syllables - trains) / summed train durations", "higher_better"),
    ("interval_cv", "ratio (SD / mean)", "coefficient of variation of the intervals between "
     "syllable onsets within trains (each relative to its train's mean; for /pa-ta-ka/ the "
     "interval is a whole cycle of three syllables): irregular rhythm", "higher_worse"),
    ("intensity_decay_db_per_s", "dB per s", "fall of syllable loudness within trains (minus the "
     "regression slope of syllable peak level on time, each train's own mean removed); positive "
     "values mean fading effort", "higher_worse"),
    ("rate_decline_pct", "%", "slowing from the first to the last train: first train's rate minus "
     "the last's, in percent of the first", "higher_worse"),
    ("intensity_decline_db", "dB", "loudness lost from the first to the last train: mean syllable "
     "peak level of the first train minus that of the last", "higher_worse"),
)
NAMES = tuple(spec[0] for spec in _SPECS)
COLUMNS = register_table(MODALITY, _SPECS, ending=" (DDK task).", source=_SOURCE, kinds=(DDK,))


@dataclass(frozen=True)
class Syllables:
    """Syllable nuclei found in one recording.

    Attributes
    ----------
    peak_times_s, onset_times_s : numpy.ndarray
        Peak and onset time of each syllable in seconds.
    peak_db : numpy.ndarray
        Envelope level at each peak, dB re full scale.
    threshold_db : float
        The speech threshold the peaks had to exceed.
    """

    peak_times_s: np.ndarray
    onset_times_s: np.ndarray
    peak_db: np.ndarray
    threshold_db: float


def detect_syllables(signal: np.ndarray, sr: int, *, band_hz=DDK_BAND_HZ,
                     window_s: float = DDK_WINDOW_S,
                     min_prominence_db: float = DDK_MIN_PROMINENCE_DB,
                     min_distance_s: float = MIN_SYLLABLE_DISTANCE_S,
                     allowed: np.ndarray | None = None) -> Syllables:
    """Syllable nuclei as peaks of the band-energy envelope (see module docstring).

    Parameters
    ----------
    signal : numpy.ndarray
        1-D samples, full scale 1.0.
    sr : int
        Sample rate in Hz.
    band_hz : tuple of float
        Band (Hz) of the envelope.
    window_s : float
        Length (s) of the envelope's power windows.
    min_prominence_db : float
        Minimum rise of a peak over the surrounding valleys, dB.
    min_distance_s : float
        Minimum time between two nuclei, s.
    allowed : numpy.ndarray of bool, optional
        Per envelope frame (every ``ENVELOPE_STEP_S``), whether a peak may lie there, e.g. voiced
        speech; frames beyond its end are not allowed.

    Returns
    -------
    Syllables
    """
    if min_prominence_db <= 0 or min_distance_s <= 0:
        raise ConfigError(f"min_prominence_db and min_distance_s must be positive; got "
                          f"{min_prominence_db!r}, {min_distance_s!r}")
    envelope = band_energy_db(signal, sr, band_hz=band_hz, frame_step_s=ENVELOPE_STEP_S,
                              window_s=window_s)
    floor = float(np.percentile(envelope, 10))
    threshold = max(floor + ABOVE_FLOOR_DB, float(np.percentile(envelope, 99)) - BELOW_PEAK_DB)
    peaks, _ = find_peaks(envelope, height=threshold, prominence=min_prominence_db,
                          distance=max(1, int(round(min_distance_s / ENVELOPE_STEP_S))))
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)
        peaks = peaks[(peaks < allowed.size) & allowed[np.minimum(peaks, allowed.size - 1)]]
    peaks, onsets = _merge_release_bursts(envelope, peaks, _onsets(envelope, peaks))
    return Syllables(peak_times_s=peaks * ENVELOPE_STEP_S, onset_times_s=onsets * ENVELOPE_STEP_S,
                     peak_db=envelope[peaks], threshold_db=threshold)


def _onsets(envelope: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Frame where each peak's rising edge crosses halfway from the preceding valley (in dB)."""
    onsets = np.empty(peaks.size, dtype=int)
    previous = 0
    for k, peak in enumerate(peaks):
        valley = previous + int(np.argmin(envelope[previous:peak + 1]))
        level = 0.5 * (envelope[valley] + envelope[peak])
        onsets[k] = valley + int(np.argmax(envelope[valley:peak + 1] >= level))
        previous = peak
    return onsets


def _merge_release_bursts(envelope: np.ndarray, peaks: np.ndarray,
                          onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fold each release-burst peak into the louder peak right after it (see module docstring).

    Returns
    -------
    peaks, onsets : numpy.ndarray
        Envelope frames of the kept peaks and of their onsets (a burst's onset for a merged pair).
    """
    gap = int(round(BURST_GAP_S / ENVELOPE_STEP_S))
    burst = np.zeros(peaks.size, dtype=bool)
    burst[:-1] = (np.diff(peaks) <= gap) & (envelope[peaks[1:]] - envelope[peaks[:-1]] >= BURST_DROP_DB)
    merged_onsets = onsets.copy()
    merged_onsets[1:][burst[:-1]] = onsets[:-1][burst[:-1]]
    return peaks[~burst], merged_onsets[~burst]


def within_train_slope(times_s: list[np.ndarray], levels: list[np.ndarray]) -> float:
    """Least-squares slope of level on time with each train's own mean time and level removed.

    Parameters
    ----------
    times_s, levels : list of numpy.ndarray
        Per train: peak times (s) and peak levels (dB).

    Returns
    -------
    float
        Pooled within-train slope in level units per s; NaN when no train spans any time.
    """
    x = np.concatenate([t - t.mean() for t in times_s])
    y = np.concatenate([v - v.mean() for v in levels])
    spread = float(np.sum(x ** 2))
    return float(np.sum(x * y) / spread) if spread > 0 else float("nan")


def train_measures(syllables: Syllables, *, cycle: int) -> tuple[dict, dict]:
    """Within-train rate, rhythm and loudness, and first-to-last-train declines.

    Parameters
    ----------
    syllables : Syllables
        Detected syllables of one clip.
    cycle : int
        Syllables per repeated cycle (``features.rhythm``).

    Returns
    -------
    values : dict
        Feature name (without modality) -> float, for every name after ``syllable_count``.
    reasons : dict
        Feature name -> why it is NaN.
    """
    rhythm = within_train_rhythm(syllables.onset_times_s, min_events=MIN_TRAIN_SYLLABLES,
                                 cycle=cycle)
    values = dict.fromkeys(NAMES[1:], float("nan"))
    values["train_count"] = float(len(rhythm.trains))
    reasons = {}
    if not rhythm.trains:
        for name in NAMES[2:]:
            reasons[name] = (f"no train of at least {max(MIN_TRAIN_SYLLABLES, cycle + 1)} "
                             f"syllables ({syllables.onset_times_s.size} syllables detected)")
        return values, reasons
    peak_times = [syllables.peak_times_s[train] for train in rhythm.trains]
    peak_db = [syllables.peak_db[train] for train in rhythm.trains]
    values.update(syllable_rate=rhythm.median_rate, syllable_rate_pooled=rhythm.pooled_rate,
                  interval_cv=rhythm.interval_cv,
                  intensity_decay_db_per_s=-within_train_slope(peak_times, peak_db),
                  rate_decline_pct=rhythm.rate_decline_pct,
                  intensity_decline_db=float(peak_db[0].mean() - peak_db[-1].mean())
                  if len(peak_db) >= 2 else float("nan"))
    if np.isnan(values["interval_cv"]):
        reasons["interval_cv"] = "too few within-train intervals for a spread (trains too short)"
    if len(rhythm.trains) < 2:
        for name in ("rate_decline_pct", "intensity_decline_db"):
            reasons[name] = "one train only: nothing to compare the first attempt with"
    return values, reasons


def ddk_features(signal: np.ndarray, sr: int, *, cycle: int = 1) -> tuple[dict, dict]:
    """DDK features of one syllable repetition recording (a task of kind ddk).

    Parameters
    ----------
    signal : numpy.ndarray
        1-D samples, full scale 1.0.
    sr : int
        Sample rate in Hz.
    cycle : int
        Syllables per repeated cycle: 1 for /pa/, 3 for /pa-ta-ka/ (the task's
        ``core.tasks.TaskSpec.syllables_per_cycle``).

    Returns
    -------
    row : dict
        ``ddk__*`` columns as floats; NaN with a reason where not computable (no train of
        ``MIN_TRAIN_SYLLABLES`` syllables, one train only for the declines).
    info : dict
        ``nan_reasons``, ``onset_times_s`` and ``peak_times_s`` (lists, for cross-checking with the
        video cycles), ``threshold_db``.
    """
    syllables = detect_syllables(signal, sr)
    values, reasons = train_measures(syllables, cycle=cycle)
    row = {f"{MODALITY}__syllable_count": float(syllables.peak_times_s.size),
           **{f"{MODALITY}__{name}": value for name, value in values.items()}}
    info = {"nan_reasons": {f"{MODALITY}__{name}": why for name, why in reasons.items()},
            "onset_times_s": syllables.onset_times_s.tolist(),
            "peak_times_s": syllables.peak_times_s.tolist(),
            "threshold_db": syllables.threshold_db}
    return {column: row[column] for column in COLUMNS}, info

"""Kinematics of one-dimensional facial signals sampled at (possibly irregular) frame times.

Time handling. Video may have a variable frame rate, so every derivative uses the real
timestamps: a signal is cut into stretches of consecutive face frames (a frame without a face, or
a timestamp jump longer than ``MAX_GAP_INTERVALS`` median frame intervals, ends a stretch; nothing
is interpolated across such a gap), and each stretch is resampled onto a uniform grid at the
recording's median frame interval with a cubic spline through the frame times. On a regular clip
the grid is the frames themselves and no value changes. Derivatives are Savitzky-Golay
derivatives on that grid (``SG_POLYORDER``, window ``SG_WINDOW_S`` seconds rounded to an odd
number of frames, at least ``SG_MIN_FRAMES``): at 50 fps this is 9 frames, which keeps 99% of
the speed of a 6 Hz syllable-rate movement. Stretches shorter than the window give no kinematics
and are counted in the info.

Definitions (units follow the signal's unit U, e.g. inter-ocular distances):

- range of motion: 95th minus 5th percentile of the resampled signal (U);
- peak speed, median speed: maximum and median of |velocity| (U/s); peak acceleration: maximum of
  |acceleration| (U/s^2);
- dimensionless jerk (Hogan and Sternad 2009): sqrt(0.5 * integral(jerk^2 dt) * T^5 / A^2) for one
  movement, where T is the movement's duration (s) and A its amplitude, the distance between its
  start and end positions (U). A minimum-jerk movement scores sqrt(360) = 18.97; less smooth
  movements score higher. In a recording, each stroke (a run of same-signed velocity whose peak
  speed reaches ``STROKE_MIN_PEAK_FRACTION`` of the recording's peak speed and whose travel is at
  least ``STROKE_MIN_TRAVEL_FRACTION`` of the range of motion and ``min_amplitude``) is one movement,
  trimmed to the part where speed exceeds ``STROKE_SPEED_FRACTION`` of the stroke's own peak speed
  (crossing times interpolated between frames) so that holds before and after do not count as
  movement time; the recording value is the median over strokes. A minimum-jerk stroke trimmed this
  way scores 10.63 (its full, untrimmed value is sqrt(360) = 18.97);
- cycles: peaks of the smoothed signal (times ``polarity``) that rise at least
  ``CYCLE_PROMINENCE_FRACTION`` of the range of motion (and at least ``min_amplitude``) above the
  troughs on both sides; two peaks without such a dip between them (the two ends of a held
  posture) are one cycle. Cycle amplitude = the peak's height above the higher of its two troughs;
  cycle time = the centre of the peak's width at half its amplitude (the peak of a symmetric
  movement, the middle of a hold); cycle duration = time between consecutive cycle times; rate =
  1 / mean duration (per s);
- spatiotemporal index (Smith et al. 1995): the cycles between consecutive troughs, each
  amplitude-normalised (z-scored) and time-normalised to 50 points; the sum over the 50 points of
  the standard deviation across cycles (0 for identical cycles);
- amplitude decline (fatigue): mean amplitude of the first third of cycles minus that of the last
  third, in percent of the first (> 0 when movements shrink);
- within trains (``train_cycle`` given, for syllable repetition, whose clips hold several
  attempts separated by pauses): cycle times are split into trains by the pause rule of
  ``features.rhythm`` (a stretch without a face also ends a train) and rate and duration CV are
  taken within trains over whole syllable cycles as that module defines them; the STI leaves out
  trough-to-trough cycles longer than ``PAUSE_FACTOR`` times the median cycle (a cycle that holds
  a pause is not a movement cycle); count, amplitudes and decline are unchanged;
- temporal lag: the lag at which the two signals correlate best (Pearson correlation of the
  overlapping samples at each lag, up to ``MAX_LAG_S``), refined to a fraction of a frame by a
  parabola through the peak; > 0 when the first signal lags behind the second.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.integrate import trapezoid
from scipy.interpolate import CubicSpline
from scipy.signal import find_peaks, savgol_filter

from core.errors import ConfigError
from features.rhythm import PAUSE_FACTOR, within_train_rhythm
from features.runs import true_runs

SG_WINDOW_S = 0.17
SG_POLYORDER = 5
SG_MIN_FRAMES = 7
MAX_GAP_INTERVALS = 2.5
ROM_PERCENTILES = (5.0, 95.0)
STROKE_MIN_PEAK_FRACTION = 0.2
STROKE_SPEED_FRACTION = 0.05
STROKE_MIN_TRAVEL_FRACTION = 0.05
CYCLE_PROMINENCE_FRACTION = 0.3
MIN_CYCLE_S = 0.1
STI_POINTS = 50
MIN_STI_CYCLES = 3
MIN_DECLINE_CYCLES = 3
MIN_TRAIN_CYCLES = 3
MAX_LAG_S = 0.5
MOTION_KEYS = ("rom", "peak_speed", "median_speed", "peak_accel", "jerk")
CYCLE_KEYS = ("count", "rate", "duration_cv", "amplitude_cv", "sti", "amplitude_decline_pct")


@dataclass(frozen=True)
class Segment:
    """One stretch of consecutive valid frames, resampled onto a uniform time grid.

    Attributes
    ----------
    start_s : float
        Time of the first sample (s).
    dt_s : float
        Sampling interval (s).
    values : ndarray
        The resampled signal.
    """

    start_s: float
    dt_s: float
    values: np.ndarray

    @property
    def times_s(self) -> np.ndarray:
        """Sample times (s)."""
        return self.start_s + self.dt_s * np.arange(len(self.values))


def check_times(times_s: np.ndarray, n_samples: int) -> np.ndarray:
    """Validate frame timestamps: finite, strictly increasing, one per sample.

    Raises
    ------
    ConfigError
        If the timestamps are not a 1-D strictly increasing finite array of length ``n_samples``.
    """
    times = np.asarray(times_s, dtype=np.float64)
    if times.ndim != 1 or len(times) != n_samples:
        raise ConfigError(f"times_s must be 1-D with one timestamp per frame ({n_samples}); "
                          f"got shape {times.shape}")
    if n_samples < 2:
        raise ConfigError(f"need at least 2 frames for kinematics; got {n_samples}")
    if not np.isfinite(times).all() or not (np.diff(times) > 0).all():
        raise ConfigError("times_s must be finite and strictly increasing (seconds)")
    return times


def check_signal(signal: np.ndarray, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a 1-D signal (NaN allowed, not inf) and its timestamps."""
    values = np.asarray(signal, dtype=np.float64)
    if values.ndim != 1:
        raise ConfigError(f"signal must be 1-D; got shape {values.shape}")
    if np.isinf(values).any():
        raise ConfigError("signal contains infinite values; use NaN for missing frames")
    return values, check_times(times_s, len(values))


def frame_interval_s(times_s: np.ndarray) -> float:
    """Median interval between consecutive frames (s): the resampling grid step."""
    return float(np.median(np.diff(np.asarray(times_s, dtype=np.float64))))


def savgol_frames(dt_s: float, *, window_s: float = SG_WINDOW_S, polyorder: int = SG_POLYORDER) -> int:
    """Savitzky-Golay window in frames: ``window_s`` rounded to the nearest odd count, >= minimum."""
    frames = 2 * int(round((window_s / dt_s - 1) / 2)) + 1
    shortest = polyorder + 1
    shortest += 1 - shortest % 2
    return max(frames, SG_MIN_FRAMES, shortest)


def _resample(times: np.ndarray, values: np.ndarray, dt_s: float) -> np.ndarray:
    grid = times[0] + dt_s * np.arange(int(np.floor((times[-1] - times[0]) / dt_s + 1e-9)) + 1)
    if len(grid) == len(times) and np.allclose(grid, times, rtol=0, atol=1e-9 * dt_s + 1e-12):
        return values.copy()
    if len(times) < 4:
        return np.interp(grid, times, values)
    return CubicSpline(times, values)(grid)


def uniform_segments(signal: np.ndarray, *, times_s: np.ndarray,
                     min_samples: int = 2) -> tuple[list[Segment], dict]:
    """Cut a signal at missing frames and time gaps, and resample each stretch uniformly.

    Parameters
    ----------
    signal : ndarray, shape (T,)
        Values per frame; NaN where the frame has no face.
    times_s : ndarray, shape (T,)
        Frame timestamps (s), strictly increasing.
    min_samples : int
        Stretches with fewer resampled samples are left out.

    Returns
    -------
    segments : list of Segment
    info : dict
        ``dt_s`` (grid step), ``n_stretches`` (all stretches), ``n_short`` (left out as too short),
        ``covered_s`` (time spanned by the kept segments).
    """
    values, times = check_signal(signal, times_s)
    dt = frame_interval_s(times)
    keep = np.isfinite(values)
    breaks = np.concatenate([[False], np.diff(times) > MAX_GAP_INTERVALS * dt])
    segments, n_stretches = [], 0
    for start, stop in true_runs(keep):
        cuts = [start] + [i for i in range(start + 1, stop) if breaks[i]] + [stop]
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            n_stretches += 1
            resampled = _resample(times[lo:hi], values[lo:hi], dt) if hi - lo > 1 else values[lo:hi]
            if len(resampled) >= min_samples:
                segments.append(Segment(float(times[lo]), dt, resampled))
    info = {"dt_s": dt, "n_stretches": n_stretches, "n_short": n_stretches - len(segments),
            "covered_s": float(sum((len(s.values) - 1) * dt for s in segments))}
    return segments, info


def savgol_derivatives(values: np.ndarray, *, dt_s: float, window_s: float = SG_WINDOW_S,
                       polyorder: int = SG_POLYORDER) -> np.ndarray:
    """Smoothed position and its first three derivatives on a uniform grid.

    Parameters
    ----------
    values : ndarray, shape (n,)
        Uniformly sampled signal (no NaN), at least the window length.
    dt_s : float
        Sampling interval (s).
    window_s : float
        Window length (s), see ``savgol_frames``.
    polyorder : int
        Polynomial order (>= 3 so that jerk is defined).

    Returns
    -------
    ndarray, shape (4, n)
        Position (U), velocity (U/s), acceleration (U/s^2) and jerk (U/s^3).
    """
    if polyorder < 3:
        raise ConfigError(f"polyorder must be at least 3 for jerk; got {polyorder}")
    window = savgol_frames(dt_s, window_s=window_s, polyorder=polyorder)
    if len(values) < window:
        raise ConfigError(f"signal has {len(values)} samples, fewer than the {window}-frame "
                          f"Savitzky-Golay window")
    return np.stack([savgol_filter(values, window, polyorder, deriv=k, delta=dt_s, mode="interp")
                     for k in range(4)])


def _jerk_index(position: np.ndarray, jerk: np.ndarray, dt_s: float, *,
                start: float = 0.0, stop: float | None = None) -> float:
    """Dimensionless jerk between two fractional sample indices (default: the whole array).

    Position and jerk are linearly interpolated at fractional ends, so a movement's duration is not
    rounded to whole frames (T enters to the fifth power).
    """
    stop = len(position) - 1.0 if stop is None else stop
    inner = np.arange(np.ceil(start), np.floor(stop) + 1)
    grid = np.unique(np.concatenate([[start], inner, [stop]]))
    index = np.arange(len(position))
    ends = np.interp([start, stop], index, position)
    integral = trapezoid(np.interp(grid, index, jerk) ** 2, grid * dt_s)
    duration = (stop - start) * dt_s
    return float(np.sqrt(0.5 * integral * duration ** 5 / (ends[1] - ends[0]) ** 2))


def _crossing(speed: np.ndarray, below: int, above: int, threshold: float) -> float:
    """Fractional index between two neighbouring samples where speed crosses ``threshold``."""
    return below + (above - below) * (threshold - speed[below]) / (speed[above] - speed[below])


def dimensionless_jerk(position: np.ndarray, *, times_s: np.ndarray) -> float:
    """Dimensionless jerk of one movement (Hogan and Sternad 2009).

    sqrt(0.5 * integral(jerk^2 dt) * T^5 / A^2), T = ``times_s[-1] - times_s[0]`` (s) and
    A = |end - start| of the smoothed position. A minimum-jerk movement gives sqrt(360).

    Parameters
    ----------
    position : ndarray, shape (n,)
        One movement from start to end, no missing values, at least the smoothing window long.
    times_s : ndarray, shape (n,)
        Sample times (s); resampled to uniform if irregular.

    Raises
    ------
    ConfigError
        If the movement has missing values, is shorter than the window or has zero amplitude.
    """
    values, times = check_signal(position, times_s)
    if not np.isfinite(values).all():
        raise ConfigError("dimensionless_jerk needs one movement without missing values")
    dt = frame_interval_s(times)
    uniform = _resample(times, values, dt)
    smooth, _, _, jerk = savgol_derivatives(uniform, dt_s=dt)
    if smooth[-1] == smooth[0]:
        raise ConfigError("dimensionless_jerk needs a movement whose end differs from its start")
    return _jerk_index(smooth, jerk, dt)


def stroke_jerks(derivatives: np.ndarray, *, dt_s: float, reference_speed: float,
                 min_amplitude: float = 0.0) -> list[float]:
    """Dimensionless jerk of every stroke in one uniform segment.

    Parameters
    ----------
    derivatives : ndarray, shape (4, n)
        Output of ``savgol_derivatives``.
    dt_s : float
        Sampling interval (s).
    reference_speed : float
        The recording's peak speed; strokes peaking below ``STROKE_MIN_PEAK_FRACTION`` of it are
        jitter, not movements.
    min_amplitude : float
        Strokes that travel less than this (signal unit) are jitter, not movements.
    """
    position, velocity, _, jerk = derivatives
    speed = np.abs(velocity)
    values = []
    for sign in (1, -1):
        for start, stop in true_runs(np.sign(velocity) == sign):
            peak_at = start + int(np.argmax(speed[start:stop]))
            peak = speed[peak_at]
            if peak < STROKE_MIN_PEAK_FRACTION * reference_speed:
                continue
            threshold = STROKE_SPEED_FRACTION * peak
            still = np.flatnonzero(speed[start:stop] < threshold) + start
            before, after = still[still < peak_at], still[still > peak_at]
            lo = _crossing(speed, before[-1], before[-1] + 1, threshold) if len(before) else start
            hi = _crossing(speed, after[0], after[0] - 1, threshold) if len(after) else stop - 1.0
            travel = np.diff(np.interp([lo, hi], np.arange(len(position)), position))[0]
            if hi - lo >= 2 and abs(travel) > min_amplitude:
                values.append(_jerk_index(position, jerk, dt_s, start=lo, stop=hi))
    return values


def motion_measures(signal: np.ndarray, *, times_s: np.ndarray,
                    min_amplitude: float = 0.0) -> tuple[dict, dict]:
    """Range of motion, speeds, peak acceleration and median stroke jerk of one signal.

    Parameters
    ----------
    signal : ndarray, shape (T,)
        Values per frame (unit U); NaN where the frame has no face.
    times_s : ndarray, shape (T,)
        Frame timestamps (s).
    min_amplitude : float
        Smallest stroke travel (U) whose jerk is measured, so that jitter in a still signal is not
        taken for movement (strokes under ``STROKE_MIN_TRAVEL_FRACTION`` of the range are also
        left out).

    Returns
    -------
    values : dict
        ``MOTION_KEYS``: ``rom`` (U), ``peak_speed``, ``median_speed`` (U/s), ``peak_accel``
        (U/s^2), ``jerk`` (dimensionless, median over strokes). NaN when not computable.
    info : dict
        ``reasons`` (key -> why it is NaN), segment counts, ``n_strokes``, ``window_frames``.
    """
    if min_amplitude < 0:
        raise ConfigError(f"min_amplitude must be >= 0; got {min_amplitude}")
    values, times = check_signal(signal, times_s)
    dt = frame_interval_s(times)
    window = savgol_frames(dt)
    segments, seg_info = uniform_segments(values, times_s=times, min_samples=window)
    out = dict.fromkeys(MOTION_KEYS, np.nan)
    info = {**seg_info, "window_frames": window, "n_strokes": 0, "reasons": {}}
    if not segments:
        reason = (f"no stretch of consecutive face frames as long as the {window}-frame "
                  f"({window * dt:.3f} s) smoothing window")
        info["reasons"] = dict.fromkeys(MOTION_KEYS, reason)
        return out, info
    derivatives = [savgol_derivatives(s.values, dt_s=dt) for s in segments]
    resampled = np.concatenate([s.values for s in segments])
    speed = np.abs(np.concatenate([d[1] for d in derivatives]))
    low, high = np.percentile(resampled, ROM_PERCENTILES)
    out.update(rom=float(high - low), peak_speed=float(speed.max()),
               median_speed=float(np.median(speed)),
               peak_accel=float(np.abs(np.concatenate([d[2] for d in derivatives])).max()))
    smallest = max(min_amplitude, STROKE_MIN_TRAVEL_FRACTION * out["rom"])
    jerks = [] if out["rom"] == 0 else [j for d in derivatives for j in stroke_jerks(
        d, dt_s=dt, reference_speed=out["peak_speed"], min_amplitude=smallest)]
    info["n_strokes"] = len(jerks)
    if jerks:
        out["jerk"] = float(np.median(jerks))
    else:
        info["reasons"]["jerk"] = (f"no movement stroke travelling more than {smallest:.3g} "
                                   f"found (the signal does not move)")
    return out, info


def spatiotemporal_index(cycles: Sequence[np.ndarray], *, n_points: int = STI_POINTS) -> float:
    """Spatiotemporal index (Smith et al. 1995) of a set of movement cycles.

    Each cycle is z-scored (amplitude normalisation) and linearly resampled to ``n_points``
    (time normalisation); the index is the sum over points of the sample standard deviation across
    cycles. Identical cycles give 0; more variable patterning gives more.

    Parameters
    ----------
    cycles : sequence of ndarray
        One array per cycle (at least 2 cycles, each at least 3 samples and not constant).
    n_points : int
        Points per normalised cycle.

    Raises
    ------
    ConfigError
        With fewer than 2 cycles, or a cycle that is too short or constant.
    """
    if len(cycles) < 2:
        raise ConfigError(f"the spatiotemporal index needs at least 2 cycles; got {len(cycles)}")
    normalised = []
    for k, cycle in enumerate(cycles):
        cycle = np.asarray(cycle, dtype=np.float64)
        if len(cycle) < 3 or not np.isfinite(cycle).all() or np.ptp(cycle) == 0:
            raise ConfigError(f"cycle {k} must have at least 3 finite, not all equal samples")
        resampled = np.interp(np.linspace(0, 1, n_points), np.linspace(0, 1, len(cycle)), cycle)
        normalised.append((resampled - resampled.mean()) / resampled.std())
    return float(np.std(np.stack(normalised), axis=0, ddof=1).sum())


def _separated_peaks(smooth: np.ndarray, peaks: np.ndarray, depth: float) -> list[int]:
    """Keep peaks separated by a dip at least ``depth`` deep; of two unseparated peaks keep the
    higher. Merges the twin peaks that smoothing ripple leaves at both ends of a held posture."""
    kept: list[int] = []
    for peak in peaks:
        if kept and min(smooth[kept[-1]], smooth[peak]) - smooth[kept[-1]:peak + 1].min() < depth:
            if smooth[peak] > smooth[kept[-1]]:
                kept[-1] = int(peak)
            continue
        kept.append(int(peak))
    return kept


def _half_height_centre(smooth: np.ndarray, peak: int, lo: int, hi: int, level: float) -> float:
    """Fractional index midway between where the signal crosses ``level`` before and after ``peak``.

    ``level`` lies above the lowest sample on both sides within ``[lo, hi]``, so both crossings exist.
    """
    before = lo + np.flatnonzero(smooth[lo:peak] < level)[-1]
    after = peak + np.flatnonzero(smooth[peak:hi + 1] < level)[0]
    rise = before + (level - smooth[before]) / (smooth[before + 1] - smooth[before])
    fall = after - (level - smooth[after]) / (smooth[after - 1] - smooth[after])
    return 0.5 * (rise + fall)


def _segment_cycles(smooth: np.ndarray, *, depth: float, distance: int) -> tuple:
    """Peak times (fractional indices), amplitudes and trough-to-trough cycles of one segment.

    A peak's amplitude is its height above the higher of the lowest points on either side (up to
    the neighbouring peaks' troughs); its time is the centre of its width at half that amplitude,
    which is the peak itself for a symmetric peak and the middle of a held posture otherwise.
    """
    found, _ = find_peaks(smooth, prominence=depth, distance=distance)
    peaks = _separated_peaks(smooth, found, depth)
    troughs = [p + int(np.argmin(smooth[p:q + 1])) for p, q in zip(peaks[:-1], peaks[1:])]
    bounds = [0] + troughs + [len(smooth) - 1]
    centres, amplitudes = [], []
    for k, peak in enumerate(peaks):
        lo, hi = bounds[k], bounds[k + 1]
        base = max(smooth[lo:peak + 1].min(), smooth[peak:hi + 1].min())
        amplitudes.append(float(smooth[peak] - base))
        centres.append(_half_height_centre(smooth, peak, lo, hi, smooth[peak] - 0.5 * amplitudes[-1]))
    cycles = [smooth[a:b + 1] for a, b in zip(troughs[:-1], troughs[1:])]
    return np.asarray(centres), amplitudes, cycles


def cycle_measures(signal: np.ndarray, *, times_s: np.ndarray, polarity: int = 1,
                   min_amplitude: float = 0.0, train_cycle: int | None = None
                   ) -> tuple[dict, dict]:
    """Count, rate, variability, patterning (STI) and fatigue of a repeated movement.

    Parameters
    ----------
    signal : ndarray, shape (T,)
        Values per frame (unit U); NaN where the frame has no face.
    times_s : ndarray, shape (T,)
        Frame timestamps (s).
    polarity : {1, -1}
        +1 if the movement raises the signal (e.g. mouth opening), -1 if it lowers it (e.g. lip
        width in a pucker); cycles are peaks of ``polarity * signal``.
    min_amplitude : float
        Smallest cycle amplitude counted (U), so that jitter in a still face is not counted.
    train_cycle : int, optional
        Movements per repeated cycle of a syllable-repetition task (1 for /pa/, 3 for
        /pa-ta-ka/): rate, duration CV and STI are then measured within repetition trains
        (module docstring). None measures them over the whole clip.

    Returns
    -------
    values : dict
        ``CYCLE_KEYS``: ``count`` (cycles), ``rate`` (per s), ``duration_cv``, ``amplitude_cv``
        (SD / mean, ddof 1), ``sti`` (Smith 1995), ``amplitude_decline_pct`` (%).
    info : dict
        ``reasons`` (key -> why it is NaN), ``cycle_times_s``, ``amplitudes``, ``durations_s``,
        ``n_trains`` (trains of at least ``MIN_TRAIN_CYCLES`` cycles; with ``train_cycle``).
    """
    if polarity not in (1, -1):
        raise ConfigError(f"polarity must be 1 or -1; got {polarity!r}")
    if min_amplitude < 0:
        raise ConfigError(f"min_amplitude must be >= 0; got {min_amplitude}")
    values, times = check_signal(signal, times_s)
    dt = frame_interval_s(times)
    segments, seg_info = uniform_segments(values, times_s=times, min_samples=savgol_frames(dt))
    out = dict.fromkeys(CYCLE_KEYS, np.nan)
    reasons = {}
    info = {**seg_info, "reasons": reasons, "cycle_times_s": [], "amplitudes": [], "durations_s": []}
    if not segments:
        info["reasons"] = dict.fromkeys(CYCLE_KEYS, "no stretch of face frames as long as the "
                                                    "smoothing window")
        return out, info
    low, high = np.percentile(np.concatenate([s.values for s in segments]), ROM_PERCENTILES)
    depth = max(CYCLE_PROMINENCE_FRACTION * (high - low), min_amplitude, np.finfo(float).tiny)
    distance = max(1, int(round(MIN_CYCLE_S / dt)))
    cycle_times, amplitudes, durations, cycles, stretch_starts = [], [], [], [], []
    for segment in segments:
        smooth = polarity * savgol_derivatives(segment.values, dt_s=dt)[0]
        centres, seg_amplitudes, seg_cycles = _segment_cycles(smooth, depth=depth, distance=distance)
        times_at = segment.start_s + segment.dt_s * centres
        stretch_starts.append(len(cycle_times))
        cycle_times.extend(times_at)
        durations.extend(np.diff(times_at))
        amplitudes.extend(seg_amplitudes)
        cycles.extend(seg_cycles)
    info.update(cycle_times_s=cycle_times, amplitudes=amplitudes, durations_s=durations)
    out["count"] = float(len(cycle_times))
    if train_cycle is not None:
        _train_rate_and_cv(out, reasons, info, np.asarray(cycle_times), tuple(stretch_starts),
                           cycle=train_cycle)
        cycles = _cycles_without_pauses(cycles)
    else:
        _clip_rate_and_cv(out, reasons, durations, len(cycle_times))
    if len(amplitudes) >= 2:
        out["amplitude_cv"] = float(np.std(amplitudes, ddof=1) / np.mean(amplitudes))
    else:
        reasons["amplitude_cv"] = f"fewer than 2 cycles ({len(amplitudes)} found)"
    if len(cycles) >= MIN_STI_CYCLES:
        out["sti"] = spatiotemporal_index(cycles)
    else:
        reasons["sti"] = (f"fewer than {MIN_STI_CYCLES} complete trough-to-trough cycles "
                          f"({len(cycles)} found)")
    if len(amplitudes) >= MIN_DECLINE_CYCLES:
        third = max(1, len(amplitudes) // 3)
        first, last = np.mean(amplitudes[:third]), np.mean(amplitudes[-third:])
        out["amplitude_decline_pct"] = float(100.0 * (first - last) / first)
    else:
        reasons["amplitude_decline_pct"] = (f"fewer than {MIN_DECLINE_CYCLES} cycles "
                                            f"({len(amplitudes)} found)")
    return out, info


def _clip_rate_and_cv(out: dict, reasons: dict, durations: list, n_cycles: int) -> None:
    """Rate and duration CV over every cycle-to-cycle duration of the clip."""
    if durations:
        out["rate"] = float(1.0 / np.mean(durations))
    else:
        reasons["rate"] = f"fewer than 2 cycles in one stretch of face frames ({n_cycles} found)"
    if len(durations) >= 2:
        out["duration_cv"] = float(np.std(durations, ddof=1) / np.mean(durations))
    else:
        reasons["duration_cv"] = f"fewer than 3 cycles in one stretch ({n_cycles} cycles found)"


def _train_rate_and_cv(out: dict, reasons: dict, info: dict, cycle_times: np.ndarray,
                       stretch_starts: tuple, *, cycle: int) -> None:
    """Rate (median over trains) and duration CV (pooled within trains) of repetition trains."""
    rhythm = within_train_rhythm(cycle_times, min_events=MIN_TRAIN_CYCLES, cycle=cycle,
                                 breaks=stretch_starts)
    info["n_trains"] = len(rhythm.trains)
    out["rate"], out["duration_cv"] = rhythm.median_rate, rhythm.interval_cv
    if not rhythm.trains:
        reasons["rate"] = (f"no repetition train of at least {MIN_TRAIN_CYCLES} cycles "
                           f"({len(cycle_times)} cycles found)")
    if np.isnan(rhythm.interval_cv):
        reasons["duration_cv"] = "too few cycle durations within trains for a spread"


def _cycles_without_pauses(cycles: list) -> list:
    """Trough-to-trough cycles no longer than ``PAUSE_FACTOR`` times the median cycle."""
    if not cycles:
        return cycles
    lengths = np.array([len(c) for c in cycles])
    return [c for c, n in zip(cycles, lengths) if n <= PAUSE_FACTOR * np.median(lengths)]


def temporal_lag(first: np.ndarray, second: np.ndarray, *, times_s: np.ndarray,
                 max_lag_s: float = MAX_LAG_S) -> tuple[float, dict]:
    """Lag (s) of the peak of the cross-correlation of two signals; > 0 when ``first`` is later.

    Both signals are cut where either is missing (no interpolation across gaps) and resampled to
    the median frame interval. At each lag the Pearson correlation of the overlapping sample pairs,
    pooled over stretches, is computed; the integer-lag peak is refined by a parabola through it
    and its neighbours.

    Parameters
    ----------
    first, second : ndarray, shape (T,)
        Signals per frame (e.g. left and right commissure excursion); NaN where missing.
    times_s : ndarray, shape (T,)
        Frame timestamps (s).
    max_lag_s : float
        Largest lag searched (s), in both directions.

    Returns
    -------
    lag_s : float
        The lag, NaN when not computable.
    info : dict
        ``reason`` (None or why the lag is NaN), ``peak_correlation`` (normalised, -1..1).
    """
    if max_lag_s <= 0:
        raise ConfigError(f"max_lag_s must be positive; got {max_lag_s}")
    a, times = check_signal(first, times_s)
    b, _ = check_signal(second, times_s)
    both = np.isfinite(a) & np.isfinite(b)
    a_segments, seg_info = uniform_segments(np.where(both, a, np.nan), times_s=times, min_samples=2)
    b_segments, _ = uniform_segments(np.where(both, b, np.nan), times_s=times, min_samples=2)
    info = {"reason": None, "peak_correlation": np.nan, **seg_info}
    if not a_segments:
        info["reason"] = "no stretch of frames where both signals are present"
        return np.nan, info
    a_all = np.concatenate([s.values for s in a_segments])
    b_all = np.concatenate([s.values for s in b_segments])
    if np.ptp(a_all) == 0 or np.ptp(b_all) == 0:
        info["reason"] = "one of the signals does not change, so it has no timing"
        return np.nan, info
    dt = seg_info["dt_s"]
    max_lag = max(1, int(np.ceil(max_lag_s / dt)))
    lags = np.arange(-max_lag, max_lag + 1)
    correlation = np.array([_pooled_correlation(a_segments, b_segments, int(lag)) for lag in lags])
    if not np.isfinite(correlation).any():
        info["reason"] = "the signals do not overlap long enough to correlate"
        return np.nan, info
    best = int(np.nanargmax(correlation))
    info["peak_correlation"] = float(correlation[best])
    if best in (0, len(correlation) - 1):
        info["reason"] = f"the cross-correlation peaks at the search limit of {max_lag_s} s"
        return np.nan, info
    return float((lags[best] + _parabola_offset(correlation[best - 1:best + 2])) * dt), info


def _pooled_correlation(a_segments: list, b_segments: list, lag: int) -> float:
    """Pearson correlation of a[n + lag] with b[n], pooling the pairs of every stretch."""
    xs, ys = [], []
    for sa, sb in zip(a_segments, b_segments):
        n = len(sa.values)
        if abs(lag) >= n:
            continue
        xs.append(sa.values[max(lag, 0):n + min(lag, 0)])
        ys.append(sb.values[max(-lag, 0):n - max(lag, 0)])
    if not xs:
        return np.nan
    x, y = np.concatenate(xs), np.concatenate(ys)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    return float(np.corrcoef(x, y)[0, 1])


def _parabola_offset(three: np.ndarray) -> float:
    """Sub-sample offset (-0.5..0.5) of the vertex of a parabola through three samples around a peak."""
    left, centre, right = three
    curvature = left - 2 * centre + right
    if not np.isfinite(curvature) or curvature >= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))

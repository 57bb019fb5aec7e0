"""Speech versus non-speech segmentation from frame energy and voicing.

A frame is a speech candidate when its band energy (100-4000 Hz) is above a threshold set per
recording: 25 dB below the loud end of the recording (its 99th percentile frame), as in de Jong
and Wempe (2009), but never closer than 6 dB to the noise floor (10th percentile frame), so a
recording with no speech does not turn its noise into speech. Quiet voiced frames at least 6 dB
over the floor are candidates too. Gaps shorter than the minimum pause (0.15 s; stop closures are
shorter) are bridged, and a stretch counts as speech only if it holds at least 0.03 s of voicing,
so noise bursts, clicks and breaths without voicing stay non-speech.

Frames are 10 ms long every 10 ms (rectangular, not overlapping, so speech edges are not
smeared by the window); frame ``i`` is centred at ``i * 0.01`` s.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sos2zpk, sosfiltfilt

from core.errors import ConfigError
from features.runs import true_runs

FRAME_STEP_S = 0.01
FRAME_WINDOW_S = 0.01  # = the step: each frame covers only its own 10 ms, so edges do not spread
SPEECH_BAND_HZ = (100.0, 4000.0)
FLOOR_PERCENTILE = 10.0
PEAK_PERCENTILE = 99.0
BELOW_PEAK_DB = 25.0
ABOVE_FLOOR_DB = 6.0
MIN_PAUSE_S = 0.15
MIN_VOICED_IN_SPEECH_S = 0.03
SILENCE_DB = -120.0  # level given to digital silence instead of minus infinity
# Frames of this many seconds are filtered at a time (a few MB), whatever the recording's length.
BLOCK_S = 10.0


@dataclass(frozen=True)
class Segmentation:
    """Frame-level speech decision of one recording.

    Attributes
    ----------
    frame_times_s : numpy.ndarray
        Frame centres in seconds (every ``FRAME_STEP_S``).
    energy_db : numpy.ndarray
        Band energy per frame in dB re full scale.
    voiced : numpy.ndarray
        Voicing per frame (from the pitch analysis, nearest frame).
    speech : numpy.ndarray
        Speech decision per frame.
    floor_db, threshold_db : float
        Noise floor and speech threshold of this recording in dB re full scale.
    """

    frame_times_s: np.ndarray
    energy_db: np.ndarray
    voiced: np.ndarray
    speech: np.ndarray
    floor_db: float
    threshold_db: float

    @property
    def speech_intervals(self) -> list[tuple[float, float]]:
        """(start, end) in seconds of each speech stretch."""
        return runs_to_intervals(self.speech, step_s=FRAME_STEP_S)

    @property
    def pauses(self) -> list[tuple[float, float]]:
        """(start, end) in seconds of the gaps between consecutive speech stretches."""
        spans = self.speech_intervals
        return [(a[1], b[0]) for a, b in zip(spans[:-1], spans[1:])]


def band_energy_db(signal: np.ndarray, sr: int, *, band_hz=SPEECH_BAND_HZ,
                   frame_step_s: float = FRAME_STEP_S, window_s: float = FRAME_WINDOW_S
                   ) -> np.ndarray:
    """Mean power per frame in dB re full scale, after a band-pass filter.

    Parameters
    ----------
    signal : numpy.ndarray
        1-D samples, full scale 1.0.
    sr : int
        Sample rate in Hz.
    band_hz : tuple of float
        Pass band (low, high) in Hz of a 4th-order zero-phase Butterworth filter.
    frame_step_s, window_s : float
        Frame hop and rectangular window length in seconds; frame ``i`` is centred at
        ``i * frame_step_s``.

    Returns
    -------
    numpy.ndarray
        One value per frame, ``SILENCE_DB`` for digital silence.

    Notes
    -----
    Frames are computed ``BLOCK_S`` seconds at a time, each block filtered with
    ``settle_samples`` of signal beyond it on both sides, so memory does not grow with the
    recording's length. The filtered samples are those of filtering the whole signal at once, to
    the last bit; the window powers come from running sums of squares over one block rather than
    the whole recording, which round less: on 80 s of phantom speech they were within 3e-6 dB of
    the exact means, against 2e-5 dB for whole-recording sums (``tests/test_audio_features.py``).
    """
    low, high = band_hz
    if not 0 < low < high < sr / 2:
        raise ConfigError(f"band_hz must satisfy 0 < low < high < sr/2 = {sr / 2} Hz; "
                          f"got {band_hz!r}")
    if frame_step_s <= 0 or window_s <= 0:
        raise ConfigError(f"frame_step_s and window_s must be positive; got {frame_step_s!r}, "
                          f"{window_s!r}")
    sos = butter(4, [low, high], btype="bandpass", fs=sr, output="sos")
    signal = np.asarray(signal)
    n_frames = int(np.floor(signal.size / (frame_step_s * sr))) + 1
    half = int(round(window_s * sr / 2))
    settle = settle_samples(sos)
    block = max(int(round(BLOCK_S / frame_step_s)), 1)
    level = np.empty(n_frames)
    for first in range(0, n_frames, block):
        last = min(first + block, n_frames)
        centres = np.round(np.arange(first, last) * frame_step_s * sr).astype(int)
        start = max(centres[0] - half - settle, 0)
        stop = min(centres[-1] + half + settle, signal.size)
        filtered = sosfiltfilt(sos, np.asarray(signal[start:stop], dtype=np.float64))
        level[first:last] = window_power_db(filtered, centres - start, half=half)
    return level


def settle_samples(sos: np.ndarray) -> int:
    """Samples after which a filter's response to its starting state has decayed below 1e-30.

    Twice the decay time of its slowest pole, ``log(1e-30) / log(max |pole|)``, the factor
    covering the polynomial growth of repeated poles (for the 100-4000 Hz band at 16 kHz: 0.6 s).
    """
    radius = float(np.max(np.abs(sos2zpk(sos)[1])))
    return 2 * int(np.ceil(np.log(1e-30) / np.log(radius)))


def window_power_db(signal: np.ndarray, centres: np.ndarray, *, half: int) -> np.ndarray:
    """Mean power in dB of rectangular windows from ``centres - half`` to ``centres + half``.

    Centres and ``half`` are in samples; windows are clipped to the signal. A block of a longer
    recording is cut where no window reaches its edge unless that edge is the recording's.
    """
    energy = np.concatenate([[0.0], np.cumsum(np.square(signal, dtype=np.float64))])
    starts = np.clip(centres - half, 0, signal.size)
    ends = np.clip(centres + half, 0, signal.size)
    power = (energy[ends] - energy[starts]) / np.maximum(ends - starts, 1)
    with np.errstate(divide="ignore"):
        level = 10.0 * np.log10(power)
    return np.maximum(level, SILENCE_DB)


def mask_at_times(times_s: np.ndarray, mask_times_s: np.ndarray, mask: np.ndarray
                  ) -> np.ndarray:
    """Value of a frame mask (frames evenly spaced at ``mask_times_s``) at each of ``times_s``.

    Each time takes the nearest frame's value; times beyond half a step outside the frames are
    False. Used to carry pitch-frame voicing onto energy frames, and energy-frame decisions onto
    the finer syllable envelope.
    """
    mask_times_s = np.asarray(mask_times_s, dtype=float)
    out = np.zeros(np.size(times_s), dtype=bool)
    if mask_times_s.size == 0:
        return out
    step = mask_times_s[1] - mask_times_s[0] if mask_times_s.size > 1 else FRAME_STEP_S
    nearest = np.clip(np.round((times_s - mask_times_s[0]) / step).astype(int), 0,
                      mask_times_s.size - 1)
    inside = np.abs(mask_times_s[nearest] - times_s) <= step / 2 + 1e-9
    out[inside] = np.asarray(mask, dtype=bool)[nearest[inside]]
    return out


def runs_to_intervals(mask: np.ndarray, *, step_s: float, first_time_s: float = 0.0
                      ) -> list[tuple[float, float]]:
    """(start, end) in seconds of each run of True frames.

    Frame ``i`` is centred at ``first_time_s + i * step_s`` and covers one step; starts are clipped
    at 0.
    """
    return [(max(0.0, float(first_time_s + (a - 0.5) * step_s)),
             float(first_time_s + (b - 0.5) * step_s))
            for a, b in true_runs(mask)]


def bridge_short_gaps(mask: np.ndarray, *, max_gap_frames: int) -> np.ndarray:
    """``mask`` with every False run shorter than ``max_gap_frames`` between two True runs set."""
    out = np.asarray(mask, dtype=bool).copy()
    runs = true_runs(out)
    for (_, gap_start), (gap_end, _) in zip(runs[:-1], runs[1:]):
        if gap_end - gap_start < max_gap_frames:
            out[gap_start:gap_end] = True
    return out


def segment_speech(signal: np.ndarray, sr: int, *, voiced_times_s: np.ndarray,
                   voiced: np.ndarray, min_pause_s: float = MIN_PAUSE_S) -> Segmentation:
    """Decide speech or non-speech for every 10 ms frame of one recording.

    Parameters
    ----------
    signal : numpy.ndarray
        1-D samples, full scale 1.0.
    sr : int
        Sample rate in Hz.
    voiced_times_s : numpy.ndarray
        Times of the pitch frames in seconds (evenly spaced).
    voiced : numpy.ndarray
        Voicing decision of each pitch frame.
    min_pause_s : float
        Shortest silence between speech that counts as a pause; shorter gaps are bridged.

    Returns
    -------
    Segmentation
    """
    if min_pause_s <= 0:
        raise ConfigError(f"min_pause_s must be positive; got {min_pause_s!r}")
    if np.shape(voiced_times_s) != np.shape(voiced):
        raise ConfigError("voiced_times_s and voiced must have the same length; got "
                          f"{np.shape(voiced_times_s)} and {np.shape(voiced)}")
    energy = band_energy_db(signal, sr)
    times = np.arange(energy.size) * FRAME_STEP_S
    frame_voiced = mask_at_times(times, voiced_times_s, voiced)
    floor = float(np.percentile(energy, FLOOR_PERCENTILE))
    threshold = max(floor + ABOVE_FLOOR_DB,
                    float(np.percentile(energy, PEAK_PERCENTILE)) - BELOW_PEAK_DB)
    candidate = (energy >= threshold) | (frame_voiced & (energy >= floor + ABOVE_FLOOR_DB))
    candidate = bridge_short_gaps(candidate, max_gap_frames=int(round(min_pause_s / FRAME_STEP_S)))
    speech = _keep_voiced_runs(candidate, frame_voiced,
                               min_voiced_frames=int(round(MIN_VOICED_IN_SPEECH_S / FRAME_STEP_S)))
    return Segmentation(frame_times_s=times, energy_db=energy, voiced=frame_voiced, speech=speech,
                        floor_db=floor, threshold_db=threshold)


def nonspeech_frames(segmentation: Segmentation, *, margin_s: float = 0.1) -> np.ndarray:
    """Frames at least ``margin_s`` away from any speech frame (breaths and echoes excluded)."""
    margin = int(round(margin_s / FRAME_STEP_S))
    speech = segmentation.speech.astype(float)
    near = np.convolve(speech, np.ones(2 * margin + 1), mode="same") > 0
    return ~near


def _keep_voiced_runs(candidate: np.ndarray, voiced: np.ndarray, *, min_voiced_frames: int
                      ) -> np.ndarray:
    """Candidate runs holding at least ``min_voiced_frames`` voiced frames."""
    out = np.zeros_like(candidate)
    for start, end in true_runs(candidate):
        if np.count_nonzero(voiced[start:end]) >= min_voiced_frames:
            out[start:end] = True
    return out

"""All audio features of one recording of one task, and the non-speech recording-condition control.

Families by the task's kind (``core.tasks``; never pooled across tasks, the caller keeps one
row per recording):

- ``audio__*``: eGeMAPSv02 functionals, every kind;
- ``voice__*``: Praat voice quality, every kind's row: speech and ddk over the whole recording,
  vowel on the vowel's stable middle (``voice_quality.stable_vowel_span``); NaN with a reason for
  a non-speech movement, whose voicing (if any) is not the participant's voice;
- ``timing__*``: speech timing, kinds speech and ddk; NaN with a reason for a vowel, which has no
  syllables or pauses to time;
- ``ddk__*``: diadochokinesis, kind ddk; NaN with a reason for a vowel;
- ``nonspeech__*``: the recording-condition control, every kind.

The silent sound of a task that asks for the voice (``silence.silence_reason``: digital silence,
or a peak below -60 dBFS) holds no voice to measure: its eGeMAPS, voice, timing and DDK values
are NaN with that reason, never a count of 0 syllables. The control is still computed, as it describes the
recording, and a muted microphone is a recording condition.

The control describes the room, not the voice: level, spectral slopes, alpha ratio, MFCC 1-4 and
harmonicity of the frames at least 0.1 s away from any speech (``segments.nonspeech_frames``),
computed frame by frame on the original signal (never on spliced audio) and averaged. If these
separate the groups, a classifier can read the recording conditions rather than the voice
(Schu et al. 2022). They are computed here with numpy, in the same spirit as the eGeMAPS
descriptors of the same names but not numerically identical to openSMILE's.

Why not openSMILE's own low-level descriptors masked to the non-speech frames: its harmonicity
(``HNRdBACF``) exists only where its pitch tracker finds voicing. Measured on 3 s of synthetic
room sound at 16 kHz (openSMILE 2.5 eGeMAPSv02 LLDs): 0 in every frame of white noise and of noise
with a 50 Hz mains hum, since 50 Hz lies below its pitch range, while this control's
autocorrelation harmonicity reads -7.4 dB for the noise and 5.8 dB with the hum, which is the
recording condition the control exists to catch. The spectral descriptors are computed on the
same frames so that every control value rests on one set of frames; openSMILE's would cost one
more pass over the recording (0.38 s of CPU for 20 s, against 0.27 s for these on every frame).
"""
from __future__ import annotations

import numpy as np
from scipy.fft import dct

from core.errors import ConfigError, MediaError
from core.tasks import DDK, TIMING_KINDS, VOICE_KINDS, VOWEL, TaskSpec
from features.audio import ddk, egemaps, segments, silence, timing, voice_quality
from features.audio.decode import TARGET_SR
from features.registry import register_table

MIN_DURATION_S = 0.5
NONSPEECH_MARGIN_S = 0.1
MIN_NONSPEECH_S = 0.3
SPECTRUM_WINDOW_S = 0.025
N_FFT = 512
N_MEL_BANDS = 26
MEL_RANGE_HZ = (20.0, 8000.0)
N_MFCC = 4
HNR_WINDOW_S = 0.04  # three periods of the 75 Hz pitch floor, as Praat's ac method uses
HNR_LAG_RANGE_HZ = (75.0, 500.0)
SILENT_POWER = 1e-12  # -120 dB re full scale: digital silence, which has no spectral shape
# Frames of the control analysed at a time (5 s of sound; about 10 MB of spectra), so that
# memory does not grow with the recording's length.
CONTROL_BLOCK_FRAMES = 500

NONSPEECH = "nonspeech"
_CONTROL_SOURCE = ("Recording-condition control: Schu G, Janbakhshi P, Kodrasi I (2022) On using "
                   "the UA-Speech and TORGO databases to validate automatic dysarthric speech "
                   "classification approaches (arXiv:2211.08833); descriptors after Eyben et al. "
                   "(2016) and Boersma (1993)")
_CONTROL_SPECS = (
    ("level_dbfs", "dB re full scale", "mean sound level of the non-speech parts (room noise)"),
    ("slope_0_500_db_per_khz", "dB per kHz", "spectral slope 0-500 Hz of the non-speech parts"),
    ("slope_500_1500_db_per_khz", "dB per kHz",
     "spectral slope 500-1500 Hz of the non-speech parts"),
    ("alpha_ratio_db", "dB", "energy 1-5 kHz over 50-1000 Hz in the non-speech parts"),
    *((f"mfcc{k}", "cepstral coefficient (natural log units)",
       f"mel-frequency cepstral coefficient {k} of the non-speech parts (noise colour)")
      for k in range(1, N_MFCC + 1)),
    ("hnr_db", "dB", "periodicity (harmonics-to-noise ratio) of the non-speech parts: hum or "
     "other periodic background"),
    ("duration_s", "s", "length of non-speech sound these control values rest on"),
)
CONTROL_NAMES = tuple(spec[0] for spec in _CONTROL_SPECS)
CONTROL_COLUMNS = register_table(NONSPEECH, _CONTROL_SPECS, ending="; a control for recording "
                                 "conditions, not a clinical measure.", source=_CONTROL_SOURCE)


def audio_features(signal: np.ndarray, sr: int, *, task: TaskSpec, start_s: float = 0.0
                   ) -> tuple[dict, dict]:
    """Every audio feature of one recording of one task.

    Parameters
    ----------
    signal : numpy.ndarray
        1-D samples at ``sr``, full scale 1.0 (``decode.load_audio`` gives this).
    sr : int
        Sample rate in Hz; must be 16000.
    task : TaskSpec
        The recording's task (``core.tasks``); its kind decides the families.
    start_s : float, optional
        Clip time of the first sample in seconds (``info["start_s"]`` of ``decode.load_audio``;
        default 0). Only the times in ``info`` depend on it; no feature value does.

    Returns
    -------
    row : dict
        Column name -> float, for the families the task has (see module docstring).
    info : dict
        ``task`` (its name), ``duration_s``, ``start_s``, ``nan_reasons`` (column -> reason, all
        families),
        ``egemaps`` (feature set and openSMILE version), ``voice_settings``, ``segmentation``
        (speech intervals and pauses as (start, end) pairs, floor and threshold in dB), ``ddk``
        (syllable onset and peak times), ``timing`` (nucleus times) and ``vowel`` (``span_s``,
        the start and end of the stable middle the voice was measured on) where they were
        measured (not for a silent sound, see the module docstring). Every time is clip time in
        seconds (``features.clip_time``): time in the signal plus ``start_s``.

    Raises
    ------
    ConfigError
        A task that is not a TaskSpec, a sample rate other than 16000 Hz, or a start that is not a
        finite number.
    MediaError
        The signal is not 1-D, holds non-finite values, or is shorter than 0.5 s.
    """
    if not isinstance(task, TaskSpec):
        raise ConfigError(f"task must be a core.tasks.TaskSpec; got {task!r}")
    if sr != TARGET_SR:
        raise ConfigError(f"sr must be {TARGET_SR} Hz (decode.load_audio resamples to it); "
                          f"got {sr!r}")
    if (isinstance(start_s, bool) or not isinstance(start_s, (int, float))
            or not np.isfinite(start_s)):
        raise ConfigError(f"start_s must be a finite number of seconds; got {start_s!r}")
    samples = voice_quality.checked_signal(signal)
    if samples.size / sr < MIN_DURATION_S:
        raise MediaError(f"audio is {samples.size / sr:.3f} s long; at least {MIN_DURATION_S} s "
                         "is needed")
    row: dict = {}
    reasons: dict = {}
    # eGeMAPS first: openSMILE holds several copies of the recording while it runs, and they
    # should not come on top of the Praat Sound below
    silent = silence.silence_reason(silence.peak_dbfs(samples), task)
    values, egemaps_info = (_unmeasured(egemaps.COLUMNS, silent) if silent
                            else egemaps.egemaps_features(samples, sr))
    _merge(row, reasons, values, egemaps_info)

    sound = voice_quality.to_sound(samples, sr)
    # the Sound's own 64-bit samples, read in place: the recording is held once more, not twice
    signal = sound.values[0]
    track = voice_quality.analyse_pitch(sound)
    segmentation = segments.segment_speech(signal, sr, voiced_times_s=track.times_s,
                                           voiced=track.voiced)
    info: dict = {"task": task.name, "duration_s": sound.duration, "start_s": float(start_s),
                  "egemaps": egemaps.provenance()}

    if task.kind not in VOICE_KINDS:
        values, voice_info = voice_quality.unavailable(
            f"{task.name} is a non-speech task: its voicing, if any, is not the participant's speech")
    elif silent:
        values, voice_info = voice_quality.unavailable(silent)
    elif task.kind == VOWEL:
        span = voice_quality.stable_vowel_span(track)
        values, voice_info = voice_quality.voice_quality(signal, sr, track=track, span_s=span,
                                                         sound=sound)
        if span is not None:
            info["vowel"] = {"span_s": _on_clip_time(span, start_s)}
    else:
        values, voice_info = voice_quality.voice_quality(signal, sr, track=track, sound=sound)
    _merge(row, reasons, values, voice_info)
    info["voice_settings"] = voice_info["settings"]

    if task.kind == VOWEL:
        _merge(row, reasons, *_unmeasured(timing.COLUMNS + ddk.COLUMNS, silent or (
            f"{task.name} is a sustained vowel: it has no syllables or pauses to count or time")))
    elif task.kind in TIMING_KINDS and silent:
        _merge(row, reasons, *_unmeasured(timing.COLUMNS, silent))
    elif task.kind in TIMING_KINDS:
        values, timing_info = timing.timing_features(signal, sr, segmentation=segmentation)
        _merge(row, reasons, values, timing_info)
        info["timing"] = {"nucleus_times_s": _on_clip_time(timing_info["nucleus_times_s"], start_s)}
    if task.kind == DDK and silent:
        _merge(row, reasons, *_unmeasured(ddk.COLUMNS, silent))
    elif task.kind == DDK:
        values, ddk_info = ddk.ddk_features(signal, sr, cycle=task.syllables_per_cycle)
        _merge(row, reasons, values, ddk_info)
        info["ddk"] = {"onset_times_s": _on_clip_time(ddk_info["onset_times_s"], start_s),
                       "peak_times_s": _on_clip_time(ddk_info["peak_times_s"], start_s),
                       "threshold_db": ddk_info["threshold_db"]}

    values, control_info = nonspeech_control(signal, sr, segmentation=segmentation)
    _merge(row, reasons, values, control_info)

    info["segmentation"] = {
        "speech_intervals": _on_clip_time(segmentation.speech_intervals, start_s),
        "pauses": _on_clip_time(segmentation.pauses, start_s),
        "floor_db": segmentation.floor_db, "threshold_db": segmentation.threshold_db}
    info["nan_reasons"] = reasons
    return row, info


def nonspeech_control(signal: np.ndarray, sr: int, *, segmentation: segments.Segmentation
                      ) -> tuple[dict, dict]:
    """Recording-condition descriptors of the non-speech frames of one recording.

    Parameters
    ----------
    signal : numpy.ndarray
        1-D samples, full scale 1.0.
    sr : int
        Sample rate in Hz.
    segmentation : segments.Segmentation
        Speech decision of the same signal.

    Returns
    -------
    row : dict
        ``nonspeech__*`` columns as floats.
    info : dict
        ``nan_reasons``.
    """
    keep = segments.nonspeech_frames(segmentation, margin_s=NONSPEECH_MARGIN_S)
    centres = np.round(segmentation.frame_times_s[keep] * sr).astype(int)
    values = {"duration_s": centres.size * segments.FRAME_STEP_S}
    reasons = {}
    if values["duration_s"] < MIN_NONSPEECH_S:
        _explain(reasons, CONTROL_NAMES[:-1], f"{values['duration_s']:.2f} s of non-speech, less "
                 f"than {MIN_NONSPEECH_S} s")
    else:
        per_frame = control_frames(signal, centres, sr)
        values["level_dbfs"] = float(10.0 * np.log10(max(per_frame.pop("power").mean(),
                                                         SILENT_POWER)))
        if per_frame["hnr_db"].size:
            values.update({name: float(np.mean(value)) for name, value in per_frame.items()})
        else:
            _explain(reasons, CONTROL_NAMES[1:-1], "non-speech parts are digital silence (no "
                     "spectral shape)")
    row = {f"{NONSPEECH}__{name}": float(values.get(name, np.nan)) for name in CONTROL_NAMES}
    return row, {"nan_reasons": {f"{NONSPEECH}__{k}": v for k, v in reasons.items()}}


def control_frames(signal: np.ndarray, centres: np.ndarray, sr: int) -> dict:
    """Per-frame descriptors of the control, ``CONTROL_BLOCK_FRAMES`` frames at a time.

    Parameters
    ----------
    signal : numpy.ndarray
        1-D samples, full scale 1.0.
    centres : numpy.ndarray of int
        Sample index of each frame's centre.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    dict
        ``power``: mean power of every frame (full scale 1.0 squared); the rest (``spectral_shape``
        names in dB, dB per kHz or cepstral units, and ``hnr_db`` in dB), one value per frame
        whose power is above ``SILENT_POWER``, in frame order. Only these per-frame values, not
        the frames' samples or spectra, grow with the recording's length.
    """
    spectrum_samples = int(round(SPECTRUM_WINDOW_S * sr))
    hnr_samples = int(round(HNR_WINDOW_S * sr))
    parts = []
    for first in range(0, centres.size, CONTROL_BLOCK_FRAMES):
        block = centres[first:first + CONTROL_BLOCK_FRAMES]
        power = power_spectra(frame_matrix(signal, block, n_samples=spectrum_samples))
        frame_power = power.sum(axis=1)
        sounding = frame_power > SILENT_POWER
        parts.append({"power": frame_power, **spectral_shape(power[sounding], sr),
                      "hnr_db": frame_hnr_db(frame_matrix(signal, block[sounding],
                                                          n_samples=hnr_samples), sr)})
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def frame_matrix(signal: np.ndarray, centres: np.ndarray, *, n_samples: int) -> np.ndarray:
    """Hann-windowed frames of ``n_samples`` centred at sample indices ``centres`` (zero-padded)."""
    index = centres[:, None] - n_samples // 2 + np.arange(n_samples)[None, :]
    inside = (index >= 0) & (index < len(signal))
    frames = np.zeros(index.shape)
    frames[inside] = signal[index[inside]]
    return frames * np.hanning(n_samples)[None, :]


def power_spectra(frames: np.ndarray) -> np.ndarray:
    """Power spectra (``N_FFT`` points) scaled so that each row sums to the frame's mean power."""
    window = np.hanning(frames.shape[1])
    spectrum = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)) ** 2
    return spectrum / (np.sum(window ** 2) * N_FFT / 2)


def spectral_shape(power: np.ndarray, sr: int) -> dict:
    """Per frame (row of ``power``): the spectral slopes, alpha ratio and MFCC 1-4."""
    freqs = np.fft.rfftfreq(N_FFT, d=1.0 / sr)
    level = 10.0 * np.log10(power + SILENT_POWER)
    out = {}
    for name, (low, high) in (("slope_0_500_db_per_khz", (0.0, 500.0)),
                              ("slope_500_1500_db_per_khz", (500.0, 1500.0))):
        band = (freqs >= low) & (freqs <= high)
        out[name] = np.polyfit(freqs[band] / 1000.0, level[:, band].T, 1)[0]
    high_band = power[:, (freqs >= 1000.0) & (freqs <= 5000.0)].sum(axis=1)
    low_band = power[:, (freqs >= 50.0) & (freqs < 1000.0)].sum(axis=1)
    out["alpha_ratio_db"] = 10.0 * np.log10((high_band + SILENT_POWER) / (low_band + SILENT_POWER))
    mel_energy = power @ mel_filterbank(sr).T
    cepstra = dct(np.log(mel_energy + SILENT_POWER), type=2, norm="ortho", axis=1)
    for k in range(1, N_MFCC + 1):
        out[f"mfcc{k}"] = cepstra[:, k]
    return out


def mel_filterbank(sr: int) -> np.ndarray:
    """Triangular filters evenly spaced on the mel scale (HTK formula), ``N_MEL_BANDS`` x bins."""
    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    def to_hz(mel):
        return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)

    low, high = MEL_RANGE_HZ
    edges = to_hz(np.linspace(to_mel(low), to_mel(min(high, sr / 2)), N_MEL_BANDS + 2))
    freqs = np.fft.rfftfreq(N_FFT, d=1.0 / sr)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - left) / (centre - left)
    falling = (right - freqs[None, :]) / (right - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def frame_hnr_db(frames: np.ndarray, sr: int) -> np.ndarray:
    """Per frame, 10*log10(r / (1 - r)) in dB, r the window-corrected autocorrelation peak.

    ``r`` is the largest normalised autocorrelation at lags of ``HNR_LAG_RANGE_HZ``, divided by the
    window's own autocorrelation (Boersma 1993), clipped to [1e-6, 1 - 1e-6].
    """
    n = frames.shape[1]
    n_fft = 2 * n
    window = np.hanning(n)
    signal_ac = np.fft.irfft(np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2, axis=1)[:, :n]
    window_ac = np.fft.irfft(np.abs(np.fft.rfft(window, n=n_fft)) ** 2)[:n]
    lags = np.arange(int(np.ceil(sr / HNR_LAG_RANGE_HZ[1])),
                     int(np.floor(sr / HNR_LAG_RANGE_HZ[0])) + 1)
    normalised = (signal_ac[:, lags] / signal_ac[:, :1]) / (window_ac[lags] / window_ac[0])
    r = np.clip(normalised.max(axis=1), 1e-6, 1 - 1e-6)
    return 10.0 * np.log10(r / (1.0 - r))


def _on_clip_time(times_s, start_s: float) -> list:
    """Times in the signal (a list of seconds, or of (start, end) pairs) moved onto clip time."""
    return (np.asarray(times_s, dtype=np.float64) + start_s).tolist()


def _merge(row: dict, reasons: dict, values: dict, family_info: dict) -> None:
    """Add one family's values and NaN reasons."""
    row.update(values)
    reasons.update(family_info["nan_reasons"])


def _unmeasured(columns, reason: str) -> tuple[dict, dict]:
    """A family's row of NaN, each with ``reason``, shaped like a family's (row, info)."""
    return dict.fromkeys(columns, float("nan")), {"nan_reasons": dict.fromkeys(columns, reason)}


def _explain(reasons: dict, names, reason: str) -> None:
    """Record one reason for several NaN values."""
    for name in names:
        reasons[name] = reason

"""Praat voice quality through parselmouth, on voiced frames only.

One Praat pitch analysis serves every measure here and the speech segmentation:
"To Pitch (cc)" (forward cross-correlation, the method the Praat manual recommends for voice
analysis), 75-500 Hz, 0.01 s time step. From it:

- F0 mean and SD over voiced frames, in Hz and in semitones re 100 Hz;
- jitter (local, rap, ppq5) and shimmer (local, apq3, apq5, apq11) from "To PointProcess (cc)" with
  Praat's standard voice-report settings (periods 0.1-20 ms, period factor 1.3, amplitude factor
  1.6), in percent;
- HNR (cc): 10*log10(r / (1 - r)) of the cross-correlation strength r of each voiced frame, the
  formula of Praat's "To Harmonicity (cc)" (Boersma 1993) applied to the frames the pitch path
  calls voiced. A separate Harmonicity pass costs 20-36 ms per audio second; on 7 real recordings
  this value was within 0.8 dB of it (tests keep the comparison).

CPPS and formants are computed on the voiced stretches joined end to end (as the AVQI does for
connected speech, Maryn and Weenink 2015), so pauses and unvoiced consonants do not dilute them.

CPPS follows Maryn and Weenink (2015): PowerCepstrogram (60 Hz, 5 kHz, 50 Hz pre-emphasis), peak
search 60-330 Hz, tolerance 0.05, parabolic interpolation, straight robust tilt line from 1 ms,
time averaging 0.01 s, quefrency averaging 0.001 s, except the time step: 0.01 s here instead of
0.002 s. On 9 real recordings (sustained vowels, read text, DDK) 0.01 s read a median 0.14 dB
(at most 0.37 dB) from 0.002 s, at a sixth to a seventh of the CPU time (0.002 s alone cost
55-190 ms per audio second, more than the whole audio budget of 50 ms).
``benchmarks/bench_audio.py`` prints both.

A sustained vowel (a task of kind vowel) is measured on its stable middle only
(``stable_vowel_span``): the longest voiced stretch, less ``VOWEL_TRIM_S`` = 0.3 s at each end,
but never more than ``VOWEL_MAX_TRIM_SHARE`` (a quarter) of the stretch at each end, so that a
short vowel keeps its middle half. Why: at the onset the folds start to vibrate and the speaker
finds the pitch and loudness, at the offset the voice decays; perturbation there is not the
sustained voice's. Measured on the 9 real sustained vowels the tests read (neurospeech_hc A, E,
I, O, U, U_1, PC-GITA /a/, Praat's test /a/, a healthy /a/; ``benchmarks/vowel_stability.py``):
jitter (local) in 0.1 s windows, as a multiple of the jitter of the stretch's middle 40%, read a
median 2.0x, 1.5x and 1.3x in the first three windows after the onset and 1.0x from 0.3 s on;
before the offset 2.2x, 1.05x and 1.3x in the last three windows and 0.9x from 0.3 s on. The
frame-to-frame F0 change was likewise raised in the first and last 0.1 s (median 3.0x and 1.9x).
Trimming lowered the jitter by up to 0.25 points (PC-GITA /a/ 0.86 -> 0.62 %, Praat's /a/ 0.58 ->
0.33 %) and never raised it by more than 0.01, and cut F0 SD where the edges glide (O 5.8 -> 2.5
Hz, U 3.9 -> 1.3 Hz). Every voice feature of a vowel, the counts it rests on included
(``n_voiced_frames``, ``n_periods``, ``voiced_duration_s``), describes that middle.

Minimum amounts of voice below which a value is NaN with a reason (documented choice):
``MIN_VOICED_FRAMES`` = 10 pitch frames (0.1 s of voicing) for F0 and HNR, ``MIN_PERIODS`` = 20
glottal periods for jitter and shimmer, ``MIN_VOICED_S`` = 0.2 s of joined voiced sound for CPPS
and formants (CPPS needs several 50 ms analysis windows), ``MIN_FORMANT_FRAMES`` = 10 frames with
both F1 and F2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import parselmouth
from parselmouth.praat import call

from core.errors import ConfigError, MediaError
from core.tasks import VOICE_KINDS
from features.audio.segments import runs_to_intervals
from features.registry import register_table

MODALITY = "voice"

PITCH_FLOOR_HZ = 75.0
PITCH_CEILING_HZ = 500.0
PITCH_STEP_S = 0.01
SEMITONE_REFERENCE_HZ = 100.0

# Praat voice-report settings for the point process measures.
SHORTEST_PERIOD_S = 0.0001
LONGEST_PERIOD_S = 0.02
MAX_PERIOD_FACTOR = 1.3
MAX_AMPLITUDE_FACTOR = 1.6

CPPS_TIME_STEP_S = 0.01
CPPS_PITCH_FLOOR_HZ = 60.0
CPPS_MAX_FREQUENCY_HZ = 5000.0
CPPS_PRE_EMPHASIS_HZ = 50.0
CPPS_PEAK_RANGE_HZ = (60.0, 330.0)

FORMANT_TIME_STEP_S = 0.01
FORMANT_CEILING_HZ = 5500.0  # Praat's default; suits female voices, reads male F2 a little high
FORMANT_COUNT = 5
FORMANT_WINDOW_S = 0.025
FORMANT_PRE_EMPHASIS_HZ = 50.0

VOWEL_TRIM_S = 0.3
VOWEL_MAX_TRIM_SHARE = 0.25

MIN_VOICED_FRAMES = 10
MIN_PERIODS = 20
MIN_VOICED_S = 0.2
MIN_FORMANT_FRAMES = 10

# Samples copied into a Praat Sound at a time (8 MB as 64-bit floats).
SOUND_BLOCK = 2 ** 20

_PRAAT = "Boersma P, Weenink D. Praat: doing phonetics by computer (v6.1.38), via parselmouth " \
         "(Jadoul, Thompson, de Boer 2018)"
_PERTURBATION = (f"{_PRAAT}; Praat manual 'Voice 2. Jitter' and 'Voice 3. Shimmer' (MDVP "
                 "definitions); normal limits jitter local 1.04 %, shimmer local 3.81 %")
_SPECS = (
    ("f0_mean_hz", "Hz", "mean voice pitch (F0) over voiced frames; depends strongly on sex",
     "neutral", _PRAAT),
    ("f0_sd_hz", "Hz", "variability of voice pitch over voiced frames (SD of F0)", "neutral",
     _PRAAT),
    ("f0_mean_st", "semitones re 100 Hz", "mean voice pitch over voiced frames on a semitone scale",
     "neutral", _PRAAT),
    ("f0_sd_st", "semitones", "variability of voice pitch (SD of F0 in semitones); low values mean "
     "monotone speech", "neutral", _PRAAT),
    ("n_voiced_frames", "frames of 10 ms", "number of voiced pitch frames the F0 and HNR values "
     "rest on", "neutral", _PRAAT),
    ("jitter_local_pct", "%", "cycle-to-cycle irregularity of the pitch period (jitter, local)",
     "higher_worse", _PERTURBATION),
    ("jitter_rap_pct", "%", "pitch period irregularity against a 3-period running mean (jitter, "
     "RAP)", "higher_worse", _PERTURBATION),
    ("jitter_ppq5_pct", "%", "pitch period irregularity against a 5-period running mean (jitter, "
     "PPQ5)", "higher_worse", _PERTURBATION),
    ("shimmer_local_pct", "%", "cycle-to-cycle irregularity of the wave amplitude (shimmer, "
     "local)", "higher_worse", _PERTURBATION),
    ("shimmer_apq3_pct", "%", "amplitude irregularity against a 3-period running mean (shimmer, "
     "APQ3)", "higher_worse", _PERTURBATION),
    ("shimmer_apq5_pct", "%", "amplitude irregularity against a 5-period running mean (shimmer, "
     "APQ5)", "higher_worse", _PERTURBATION),
    ("shimmer_apq11_pct", "%", "amplitude irregularity against an 11-period running mean "
     "(shimmer, APQ11)", "higher_worse", _PERTURBATION),
    ("n_periods", "glottal periods", "number of glottal periods the jitter and shimmer values "
     "rest on", "neutral", _PERTURBATION),
    ("hnr_db", "dB", "harmonics-to-noise ratio over voiced frames (cross-correlation method): how "
     "periodic rather than breathy or hoarse the voice is", "higher_better",
     f"{_PRAAT}; Boersma P (1993) Proc Inst Phonetic Sci Amsterdam 17:97-110"),
    ("cpps_db", "dB", "smoothed cepstral peak prominence of the voiced stretches: how clearly "
     "periodic the voice is; low values mean dysphonia", "higher_better",
     f"Maryn Y, Weenink D (2015) J Voice 29(1):35-43; {_PRAAT}"),
    ("voiced_duration_s", "s", "length of voiced sound the CPPS and formant values rest on",
     "neutral", _PRAAT),
    ("f1_mean_hz", "Hz", "mean first formant over voiced frames (jaw opening, tongue height)",
     "neutral", f"{_PRAAT}; Burg formant analysis"),
    ("f2_mean_hz", "Hz", "mean second formant over voiced frames (tongue front-back position)",
     "neutral", f"{_PRAAT}; Burg formant analysis"),
    ("f1_sd_hz", "Hz", "spread of the first formant over voiced frames (range of jaw and tongue "
     "height movement)", "neutral", f"{_PRAAT}; Burg formant analysis"),
    ("f2_sd_hz", "Hz", "spread of the second formant over voiced frames (range of front-back "
     "tongue movement)", "neutral", f"{_PRAAT}; Burg formant analysis"),
    ("n_formant_frames", "frames of 10 ms", "number of voiced frames with both F1 and F2 that the "
     "formant values rest on", "neutral", f"{_PRAAT}; Burg formant analysis"),
)
NAMES = tuple(spec[0] for spec in _SPECS)
COLUMNS = register_table(MODALITY, _SPECS, ending="; one speech task.", kinds=VOICE_KINDS)


@dataclass(frozen=True)
class PitchTrack:
    """One Praat cross-correlation pitch analysis.

    Attributes
    ----------
    times_s : numpy.ndarray
        Frame centre times in seconds.
    f0_hz : numpy.ndarray
        F0 of the chosen path per frame in Hz; 0 where unvoiced.
    strength : numpy.ndarray
        Cross-correlation strength (0-1) of the chosen candidate per frame.
    praat_pitch : parselmouth.Pitch
        The Praat object, needed by the point process.
    """

    times_s: np.ndarray
    f0_hz: np.ndarray
    strength: np.ndarray
    praat_pitch: parselmouth.Pitch

    @property
    def voiced(self) -> np.ndarray:
        """Boolean mask of voiced frames."""
        return self.f0_hz > 0

    def within(self, start_s: float, end_s: float) -> "PitchTrack":
        """The frames centred from ``start_s`` to ``end_s`` (s); the Praat object stays whole."""
        keep = (self.times_s >= start_s) & (self.times_s <= end_s)
        return PitchTrack(times_s=self.times_s[keep], f0_hz=self.f0_hz[keep],
                          strength=self.strength[keep], praat_pitch=self.praat_pitch)


def checked_signal(signal: np.ndarray) -> np.ndarray:
    """``signal`` as an array, after checking that it is 1-D, not empty and finite.

    Raises
    ------
    MediaError
        The signal is not 1-D, is empty or holds non-finite samples.
    """
    signal = np.asarray(signal)
    if signal.ndim != 1 or signal.size == 0:
        raise MediaError(f"audio signal must be 1-D and non-empty; got shape {signal.shape}")
    if not np.all(np.isfinite(signal)):
        raise MediaError("audio signal holds NaN or infinite samples")
    return signal


def to_sound(signal: np.ndarray, sr: int) -> parselmouth.Sound:
    """A Praat Sound of a 1-D signal, after checking it (``checked_signal``).

    The Sound holds the samples as 64-bit floats (8 bytes per sample: 7.3 MB per minute at
    16 kHz); they are copied in ``SOUND_BLOCK`` samples at a time, so no second full-length copy
    is made on the way. ``sound.values[0]`` reads them back without a copy.

    Raises
    ------
    ConfigError
        ``sr`` is not a positive integer.
    MediaError
        As ``checked_signal``.
    """
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ConfigError(f"sr must be a positive integer number of Hz; got {sr!r}")
    signal = checked_signal(signal)
    return _filled_sound(sr, signal.size, ((signal, 0, signal.size),))


def sample_spans(intervals, sr: int, n_samples: int) -> list[tuple[int, int]]:
    """The non-empty sample ranges [start, stop) of ``intervals`` (start, end in s) in a signal
    of ``n_samples``."""
    spans = [(max(0, int(round(a * sr))), min(int(round(b * sr)), n_samples)) for a, b in intervals]
    return [(start, stop) for start, stop in spans if stop > start]


def joined_sound(signal: np.ndarray, sr: int, spans: list[tuple[int, int]]) -> parselmouth.Sound:
    """A Praat Sound of the samples of ``spans`` (``sample_spans``) joined end to end.

    Raises
    ------
    MediaError
        ``spans`` hold no sample.
    """
    n_samples = sum(stop - start for start, stop in spans)
    if n_samples == 0:
        raise MediaError("no samples to join")
    return _filled_sound(sr, n_samples, ((signal, start, stop) for start, stop in spans))


def _filled_sound(sr: int, n_samples: int, parts) -> parselmouth.Sound:
    """A Sound of ``n_samples`` filled with the ``(array, start, stop)`` slices in turn.

    The zeros it starts from are never written by numpy, so the operating system does not give
    them memory; only the Sound's own copy of the samples takes room.
    """
    sound = parselmouth.Sound(np.zeros(n_samples), sampling_frequency=float(sr))
    values = sound.values[0]
    position = 0
    for array, start, stop in parts:
        for first in range(start, stop, SOUND_BLOCK):
            block = array[first:min(first + SOUND_BLOCK, stop)]
            values[position:position + block.size] = block
            position += block.size
    return sound


def analyse_pitch(sound: parselmouth.Sound) -> PitchTrack:
    """Praat "To Pitch (cc)" at ``PITCH_STEP_S`` over ``PITCH_FLOOR_HZ``-``PITCH_CEILING_HZ``."""
    pitch = sound.to_pitch_cc(time_step=PITCH_STEP_S, pitch_floor=PITCH_FLOOR_HZ,
                              pitch_ceiling=PITCH_CEILING_HZ)
    selected = pitch.selected_array
    return PitchTrack(times_s=np.asarray(pitch.xs()), f0_hz=selected["frequency"].copy(),
                      strength=selected["strength"].copy(), praat_pitch=pitch)


def voiced_intervals(track: PitchTrack) -> list[tuple[float, float]]:
    """Start and end times (s) of each run of voiced pitch frames, each frame covering one step."""
    if track.times_s.size == 0:
        return []
    return runs_to_intervals(track.voiced, step_s=PITCH_STEP_S, first_time_s=track.times_s[0])


def f0_statistics(track: PitchTrack) -> dict:
    """F0 mean and SD over voiced frames, in Hz and in semitones re ``SEMITONE_REFERENCE_HZ``."""
    f0 = track.f0_hz[track.voiced]
    semitones = 12.0 * np.log2(f0 / SEMITONE_REFERENCE_HZ)
    return {"f0_mean_hz": float(np.mean(f0)), "f0_sd_hz": float(np.std(f0, ddof=1)),
            "f0_mean_st": float(np.mean(semitones)), "f0_sd_st": float(np.std(semitones, ddof=1))}


def hnr_from_strength(strength: np.ndarray) -> float:
    """Mean HNR in dB of voiced-frame correlation strengths, 10*log10(r / (1 - r)).

    Strengths are clipped as Praat does (r <= 1e-15 -> -150 dB, r >= 1 - 1e-15 -> 150 dB).
    """
    r = np.clip(np.asarray(strength, dtype=float), 1e-15, 1 - 1e-15)
    return float(np.mean(10.0 * np.log10(r / (1.0 - r))))


def perturbation(sound: parselmouth.Sound, track: PitchTrack, *,
                 span_s: tuple[float, float] | None = None) -> dict:
    """Jitter and shimmer (percent) and the number of periods, Praat voice-report settings.

    The glottal periods are found on the whole sound; only those within ``span_s`` (start, end
    in s; default the whole sound) are measured.
    """
    points = call([sound, track.praat_pitch], "To PointProcess (cc)")
    start, end = span_s if span_s is not None else (0, 0)  # Praat reads 0, 0 as everything
    period_args = (start, end, SHORTEST_PERIOD_S, LONGEST_PERIOD_S, MAX_PERIOD_FACTOR)
    out = {"n_periods": float(call(points, "Get number of periods", *period_args))}
    for name, command in (("jitter_local_pct", "Get jitter (local)"),
                          ("jitter_rap_pct", "Get jitter (rap)"),
                          ("jitter_ppq5_pct", "Get jitter (ppq5)")):
        out[name] = 100.0 * call(points, command, *period_args)
    for name, command in (("shimmer_local_pct", "Get shimmer (local)"),
                          ("shimmer_apq3_pct", "Get shimmer (apq3)"),
                          ("shimmer_apq5_pct", "Get shimmer (apq5)"),
                          ("shimmer_apq11_pct", "Get shimmer (apq11)")):
        out[name] = 100.0 * call([sound, points], command, *period_args, MAX_AMPLITUDE_FACTOR)
    return out


def cpps(voiced: parselmouth.Sound) -> float:
    """Smoothed cepstral peak prominence in dB (Maryn and Weenink 2015; time step see module)."""
    cepstrogram = call(voiced, "To PowerCepstrogram", CPPS_PITCH_FLOOR_HZ, CPPS_TIME_STEP_S,
                       CPPS_MAX_FREQUENCY_HZ, CPPS_PRE_EMPHASIS_HZ)
    return float(call(cepstrogram, "Get CPPS", "no", 0.01, 0.001, *CPPS_PEAK_RANGE_HZ, 0.05,
                      "Parabolic", 0.001, 0.0, "Straight", "Robust"))


def formant_tracks(voiced: parselmouth.Sound) -> tuple[np.ndarray, np.ndarray]:
    """F1 and F2 in Hz of the frames where Burg analysis finds both."""
    formant = voiced.to_formant_burg(time_step=FORMANT_TIME_STEP_S,
                                     max_number_of_formants=FORMANT_COUNT,
                                     maximum_formant=FORMANT_CEILING_HZ,
                                     window_length=FORMANT_WINDOW_S,
                                     pre_emphasis_from=FORMANT_PRE_EMPHASIS_HZ)
    f1 = call(formant, "To Matrix", 1).values[0]
    f2 = call(formant, "To Matrix", 2).values[0]
    both = np.isfinite(f1) & np.isfinite(f2) & (f1 > 0) & (f2 > 0)
    return f1[both], f2[both]


def stable_vowel_span(track: PitchTrack) -> tuple[float, float] | None:
    """Start and end (s) of the stable middle of a sustained vowel (see the module docstring).

    The longest run of voiced frames (the first of equally long ones), less ``VOWEL_TRIM_S`` at
    each end, or less ``VOWEL_MAX_TRIM_SHARE`` of it at each end when that is shorter. None when
    no frame is voiced.
    """
    intervals = voiced_intervals(track)
    if not intervals:
        return None
    start, end = max(intervals, key=lambda interval: interval[1] - interval[0])
    trim = min(VOWEL_TRIM_S, VOWEL_MAX_TRIM_SHARE * (end - start))
    return start + trim, end - trim


def voice_quality(signal: np.ndarray, sr: int, *, track: PitchTrack | None = None,
                  span_s: tuple[float, float] | None = None,
                  sound: parselmouth.Sound | None = None) -> tuple[dict, dict]:
    """Praat voice quality of one recording, on voiced frames only.

    Parameters
    ----------
    signal : numpy.ndarray
        1-D float samples, full scale 1.0.
    sr : int
        Sample rate in Hz.
    track : PitchTrack, optional
        The pitch analysis of this same signal (``analyse_pitch``), when the caller already has it.
    span_s : tuple of float, optional
        Start and end (s) of the part to measure, e.g. a vowel's ``stable_vowel_span``; default
        the whole signal. The pitch and the glottal periods are still found on the whole signal,
        so the part's edges cut no analysis window short.
    sound : parselmouth.Sound, optional
        ``to_sound`` of this same signal, when the caller already has it (a recording's Sound is
        as large as its 64-bit samples, so it is made once).

    Returns
    -------
    row : dict
        ``voice__*`` columns (see ``COLUMNS``) as floats; NaN where too little voice.
    info : dict
        ``nan_reasons`` (column -> reason) and ``settings`` (pitch method and ranges, semitone
        reference, CPPS time step, minimum amounts).
    """
    if sound is None:
        sound = to_sound(signal, sr)
    if track is None:
        track = analyse_pitch(sound)
    frames = track if span_s is None else track.within(*span_s)
    values: dict = {}
    reasons: dict = {}
    n_voiced = int(frames.voiced.sum())
    values["n_voiced_frames"] = float(n_voiced)
    if n_voiced >= MIN_VOICED_FRAMES:
        values.update(f0_statistics(frames))
        values["hnr_db"] = hnr_from_strength(frames.strength[frames.voiced])
    else:
        _explain(reasons, ("f0_mean_hz", "f0_sd_hz", "f0_mean_st", "f0_sd_st", "hnr_db"),
                 f"{n_voiced} voiced frames, fewer than {MIN_VOICED_FRAMES}")

    measured = perturbation(sound, track, span_s=span_s) if n_voiced else {"n_periods": 0.0}
    values["n_periods"] = measured.pop("n_periods")
    if values["n_periods"] >= MIN_PERIODS:
        values.update(measured)
    else:
        _explain(reasons, ("jitter_local_pct", "jitter_rap_pct", "jitter_ppq5_pct",
                           "shimmer_local_pct", "shimmer_apq3_pct", "shimmer_apq5_pct",
                           "shimmer_apq11_pct"),
                 f"{int(values['n_periods'])} glottal periods, fewer than {MIN_PERIODS}")

    spans = sample_spans(voiced_intervals(frames), int(sr), len(signal))
    values["voiced_duration_s"] = sum(stop - start for start, stop in spans) / sr
    if values["voiced_duration_s"] >= MIN_VOICED_S:
        voiced_sound = joined_sound(signal, int(sr), spans)
        values["cpps_db"] = cpps(voiced_sound)
        f1, f2 = formant_tracks(voiced_sound)
    else:
        _explain(reasons, ("cpps_db",), f"{values['voiced_duration_s']:.2f} s of voiced sound, "
                 f"less than {MIN_VOICED_S} s")
        f1 = f2 = np.zeros(0)
    values["n_formant_frames"] = float(f1.size)
    if f1.size >= MIN_FORMANT_FRAMES:
        values.update(f1_mean_hz=float(np.mean(f1)), f2_mean_hz=float(np.mean(f2)),
                      f1_sd_hz=float(np.std(f1, ddof=1)), f2_sd_hz=float(np.std(f2, ddof=1)))
    else:
        _explain(reasons, ("f1_mean_hz", "f2_mean_hz", "f1_sd_hz", "f2_sd_hz"),
                 f"{f1.size} voiced frames with F1 and F2, fewer than {MIN_FORMANT_FRAMES}")

    for name in NAMES:
        if name not in reasons and np.isnan(values.get(name, np.nan)):
            # Praat leaves a measure undefined when, e.g., no run of 11 consecutive periods
            # exists for APQ11, or when no cepstral peak is found.
            reasons[name] = "Praat returned undefined (too few consecutive periods or frames)"
    row = {f"{MODALITY}__{name}": float(values.get(name, np.nan)) for name in NAMES}
    return row, {"nan_reasons": {f"{MODALITY}__{k}": v for k, v in reasons.items()},
                 "settings": settings()}


def unavailable(reason: str) -> tuple[dict, dict]:
    """An all-NaN voice row with the same ``reason`` for every column (e.g. a non-speech task)."""
    row = {column: float("nan") for column in COLUMNS}
    return row, {"nan_reasons": {column: reason for column in COLUMNS}, "settings": settings()}


def settings() -> dict:
    """The analysis settings that change the values, for the output's provenance."""
    return {
        "pitch_method": "Praat To Pitch (cc)", "pitch_floor_hz": PITCH_FLOOR_HZ,
        "pitch_ceiling_hz": PITCH_CEILING_HZ, "pitch_time_step_s": PITCH_STEP_S,
        "semitone_reference_hz": SEMITONE_REFERENCE_HZ,
        "cpps_time_step_s": CPPS_TIME_STEP_S, "formant_ceiling_hz": FORMANT_CEILING_HZ,
        "min_voiced_frames": MIN_VOICED_FRAMES, "min_periods": MIN_PERIODS,
        "min_voiced_s": MIN_VOICED_S, "min_formant_frames": MIN_FORMANT_FRAMES,
        "vowel_trim_s": VOWEL_TRIM_S, "vowel_max_trim_share": VOWEL_MAX_TRIM_SHARE,
        "praat_version": parselmouth.PRAAT_VERSION, "parselmouth_version": parselmouth.VERSION,
    }


def _explain(reasons: dict, names, reason: str) -> None:
    """Record one reason for several NaN values."""
    for name in names:
        reasons[name] = reason

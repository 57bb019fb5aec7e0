"""The phantom's voice: source-filter synthesis of task audio with known voice quality.

Each syllable of a schedule is rendered as a stop burst at ``event.onset_s`` (the instant the lips
or tongue release, which the face animation also follows), an aspirated voice-onset time, and then a
voiced vowel up to the end of the event. The voice is a Rosenberg glottal pulse train built cycle by
cycle, so jitter and shimmer are true cycle-to-cycle perturbations of period and amplitude;
aspiration noise is mixed in at the requested harmonics-to-noise ratio; a cascade of second-order
resonators shapes the vowel. Room noise (pink noise and mains hum) runs under the whole clip, so
the silences between syllables and the non-speech tasks carry the same recording condition.

Levels are expressed relative to ``SPEECH_REF_RMS``, the RMS of a vowel at event amplitude 1 before
the room gain. Everything random is drawn from the caller's ``numpy.random.Generator``, in a fixed
order, so a seeded generator reproduces the clip exactly.

References
----------
Rosenberg AE (1971) Effect of glottal pulse shape on the quality of natural vowels. JASA 49:583-590.
Klatt DH (1980) Software for a cascade/parallel formant synthesizer. JASA 67:971-995.
Peterson GE, Barney HL (1952) Control methods used in a study of the vowels. JASA 24:175-184.
Darley FL, Aronson AE, Brown JR (1969) Differential diagnostic patterns of dysarthria.
    JSHR 12:246-269.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from core.errors import ConfigError, check_option
from core.tasks import SEXES
from phantom.schedule import Event, Schedule

# RMS of a vowel at event amplitude 1, before the room gain (about -26 dBFS): leaves head room
# for the glottal pulses' crest factor and a +6 dB room gain without clipping.
SPEECH_REF_RMS = 0.05

# Adult male F1-F3 in Hz (Peterson and Barney 1952; schwa from a uniform 17.5 cm tube). Keys:
# 'a' father, 'i' beet, 'o' bought (the merged low-back vowel of Canadian "Bobby"), 'uh' but,
# 'schwa' the unstressed "a".
VOWEL_F1_F3_HZ = {
    "a": (730.0, 1090.0, 2440.0),
    "i": (270.0, 2290.0, 3010.0),
    "o": (570.0, 840.0, 2410.0),
    "uh": (640.0, 1190.0, 2390.0),
    "schwa": (500.0, 1500.0, 2500.0),
}
# F4 and F5 do not change with the vowel: with F1-F3 they give the five formants up to 5 kHz that
# Praat's formant tracker expects in a male voice (a uniform 17.5 cm tube resonates every 1000 Hz).
F4_F5_HZ = (3500.0, 4500.0)
FORMANT_BANDWIDTHS_HZ = (90.0, 110.0, 170.0, 250.0, 300.0)
# Resonances continue above F5 at the same spacing up to the top of the band. A cascade of
# resonators with unit gain at 0 Hz falls 12 dB per octave for every resonance below a frequency;
# the tube's higher resonances are what holds the real spectrum up (what formant synthesisers call
# the higher-pole correction), so leaving them out would drop the spectrum about 80 dB per octave
# above 5 kHz, far below real voices.
UPPER_SPACING_HZ = 1000.0
UPPER_RELATIVE_BANDWIDTH = 0.08
UPPER_BAND_LIMIT = 0.45  # share of the sampling rate

# Vowel targets of each syllable label, per task: a diphthong glides between two targets.
DDK_VOWELS = {"pa": ("a",), "ta": ("a",), "ka": ("a",)}
BBP_VOWELS = {"bai": ("a", "i"), "bo": ("o",), "bi": ("i",), "a": ("schwa",), "pa": ("uh",),
              "pi": ("i",)}


@dataclass(frozen=True)
class Consonant:
    """Acoustic recipe of one stop consonant.

    Attributes
    ----------
    band_hz : tuple of float
        Pass band of the release burst in Hz: low for bilabials, high for alveolars, a compact
        mid-frequency peak for velars (Stevens and Blumstein 1978).
    burst_s : float
        Length of the release burst in seconds.
    burst_db : float
        Burst RMS in dB relative to the vowel's RMS.
    vot_s : float
        Voice-onset time in seconds, from the burst onset to the first glottal pulse.
    aspiration_db : float or None
        RMS in dB relative to the vowel of the aspiration between burst and voicing; None for a
        voiced stop, which has none.
    """

    band_hz: tuple
    burst_s: float
    burst_db: float
    vot_s: float
    aspiration_db: float | None


CONSONANTS = {
    "p": Consonant(band_hz=(300.0, 1500.0), burst_s=0.008, burst_db=-12.0, vot_s=0.040,
                   aspiration_db=-22.0),
    "t": Consonant(band_hz=(3000.0, 8000.0), burst_s=0.012, burst_db=-6.0, vot_s=0.050,
                   aspiration_db=-22.0),
    "k": Consonant(band_hz=(1400.0, 2600.0), burst_s=0.015, burst_db=-8.0, vot_s=0.055,
                   aspiration_db=-22.0),
    "b": Consonant(band_hz=(300.0, 1500.0), burst_s=0.005, burst_db=-18.0, vot_s=0.008,
                   aspiration_db=None),
}

# A stop's VOT shrinks at fast rates: never more than this share of the syllable.
MAX_VOT_SHARE = 0.35
# Lips or tongue close this long before the next syllable's release, ending the vowel.
MIN_CLOSURE_S = 0.010
# Voicing rises faster after a stop release than at a vowel-initial (glottal) onset.
RISE_AFTER_STOP_S = 0.010
RISE_VOWEL_INITIAL_S = 0.020
FALL_S = 0.025
ASPIRATION_RAMP_S = 0.003
# Rosenberg pulse: opening phase and closing phase as shares of the period (open quotient 0.56).
OPENING_SHARE = 0.40
CLOSING_SHARE = 0.16
# SD in seconds of the Gaussian smoothing the intonation contour: slower than a syllable.
INTONATION_SMOOTHING_S = 0.30
# Diphthong glide: start and end of the crossfade as shares of the vowel.
GLIDE_SPAN = (0.3, 0.8)
# NSM_BLOW: breath noise per repetition, relative to the speech level, within the hold phase.
BREATH_DB = -15.0
BREATH_SPAN = (0.25, 0.75)
BREATH_BAND_HZ = (200.0, 3000.0)
# Mains hum harmonics (1st, 2nd, 3rd) relative amplitudes: fundamental dominated, as from a
# ground loop.
HUM_HARMONICS = (1.0, 0.3, 0.1)


@dataclass(frozen=True)
class VoiceParams:
    """Voice quality of one phantom speaker.

    Attributes
    ----------
    f0_hz : float
        Geometric mean fundamental frequency in Hz over the clip's syllables (male about 110-130,
        female about 190-230).
    f0_sd_st : float
        Standard deviation in semitones of the slow intonation contour over the clip's syllables.
    jitter_pct : float
        Local jitter in percent: expected mean absolute difference of consecutive periods over the
        mean period (Praat's "jitter (local)" definition); 0.3 healthy, 3 or more dysarthric.
    shimmer_pct : float
        Local shimmer in percent, the same statistic on the cycles' peak amplitudes (2 to 12).
    hnr_db : float
        Harmonics-to-noise ratio in dB set by aspiration noise (about 20 healthy, 7 severe).
    formant_scale : float
        Vocal-tract length factor multiplying all formants (about 1.0 male, 1.15 female).
    intensity_decay_db : float
        Loss of speech level in dB from the start to the end of the clip (fatigue).
    vowel_centralization : float
        Share in [0, 1] by which F1-F3 move toward schwa: reduced articulation shrinks the vowel
        space in dysarthria (0 = full targets).
    """

    f0_hz: float
    f0_sd_st: float
    jitter_pct: float
    shimmer_pct: float
    hnr_db: float
    formant_scale: float
    intensity_decay_db: float
    vowel_centralization: float = 0.0

    def __post_init__(self):
        _check_range("f0_hz", self.f0_hz, 50.0, 500.0)
        _check_range("f0_sd_st", self.f0_sd_st, 0.0, 12.0)
        _check_range("jitter_pct", self.jitter_pct, 0.0, 10.0)
        _check_range("shimmer_pct", self.shimmer_pct, 0.0, 40.0)
        _check_range("hnr_db", self.hnr_db, -10.0, 60.0)
        _check_range("formant_scale", self.formant_scale, 0.7, 1.5)
        _check_range("intensity_decay_db", self.intensity_decay_db, 0.0, 40.0)
        _check_range("vowel_centralization", self.vowel_centralization, 0.0, 1.0)


@dataclass(frozen=True)
class RoomParams:
    """Recording condition of one clip.

    Attributes
    ----------
    noise_db : float
        Pink background noise RMS in dB relative to ``SPEECH_REF_RMS``.
    hum_db : float
        Mains hum RMS in dB relative to ``SPEECH_REF_RMS``.
    hum_hz : float
        Mains frequency in Hz (50 or 60).
    gain_db : float
        Recording gain in dB applied to speech and room alike.
    """

    noise_db: float
    hum_db: float
    hum_hz: float
    gain_db: float

    def __post_init__(self):
        _check_range("noise_db", self.noise_db, -90.0, 0.0)
        _check_range("hum_db", self.hum_db, -90.0, 0.0)
        check_option("hum_hz", self.hum_hz, (50.0, 60.0))
        _check_range("gain_db", self.gain_db, -30.0, 6.0)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise ConfigError unless ``low <= value <= high`` (and finite)."""
    if not (np.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{name} must be a number in [{low}, {high}]; got {value!r}")


def voice_params_for(severity: float, sex: str, *, rng: np.random.Generator) -> VoiceParams:
    """Plausible voice of a speaker with a given dysarthria severity and sex.

    The speaker's individual baseline is drawn first, in a fixed order and independently of
    ``severity``, then severity moves it. So for one generator state every perturbation measure is
    monotonic in severity: jitter and shimmer rise, HNR falls, intonation flattens (monopitch),
    fatigue decay grows and vowels centralise. F0 and vocal-tract length depend on sex only, so
    pitch separates the sexes, not severities (the confound of NeuroFace's sex imbalance).

    Mapping (s = severity, U = uniform draw, N = normal draw):

    - f0_hz: N(118, 12) clipped to [90, 150] (M) or N(205, 18) clipped to [160, 250] (F)
    - formant_scale: 1.00 (M) or 1.15 (F) plus N(0, 0.03) clipped to +-0.06
    - jitter_pct: U(0.20, 0.45) * 10**s (healthy under the 1.04 % MDVP norm; 2-4.5 % at s = 1)
    - shimmer_pct: U(2.0, 3.5) * 3.5**s (7-12 % at s = 1)
    - hnr_db: U(18, 23) - 13 s
    - f0_sd_st: U(1.5, 2.5) * (1 - 0.5 s)
    - intensity_decay_db: U(0.5, 1.5) + 4 s
    - vowel_centralization: 0.4 s

    Parameters
    ----------
    severity : float
        Dysarthria severity in [0, 1] (0 = healthy).
    sex : str
        'M' or 'F'.
    rng : numpy.random.Generator
        Source of the individual baseline.

    Returns
    -------
    VoiceParams
    """
    _check_range("severity", severity, 0.0, 1.0)
    check_option("sex", sex, SEXES)
    f0_mean, f0_sd, f0_low, f0_high, scale_mean = (
        (118.0, 12.0, 90.0, 150.0, 1.00) if sex == "M" else (205.0, 18.0, 160.0, 250.0, 1.15))
    f0_hz = float(np.clip(rng.normal(f0_mean, f0_sd), f0_low, f0_high))
    formant_scale = float(scale_mean + np.clip(rng.normal(0.0, 0.03), -0.06, 0.06))
    jitter_base = rng.uniform(0.20, 0.45)
    shimmer_base = rng.uniform(2.0, 3.5)
    hnr_base = rng.uniform(18.0, 23.0)
    f0_sd_base = rng.uniform(1.5, 2.5)
    decay_base = rng.uniform(0.5, 1.5)
    return VoiceParams(
        f0_hz=f0_hz,
        f0_sd_st=float(f0_sd_base * (1.0 - 0.5 * severity)),
        jitter_pct=float(jitter_base * 10.0 ** severity),
        shimmer_pct=float(shimmer_base * 3.5 ** severity),
        hnr_db=float(hnr_base - 13.0 * severity),
        formant_scale=formant_scale,
        intensity_decay_db=float(decay_base + 4.0 * severity),
        vowel_centralization=float(0.4 * severity),
    )


def draw_room_params(rng: np.random.Generator) -> RoomParams:
    """Draw a recording condition.

    Noise -55 to -30 dB re speech; hum 5 to 20 dB under the noise at 50 or 60 Hz; gain -6 to
    +6 dB. Hum stronger than the broadband noise would be tracked as voicing at 50 or 60 Hz by a
    pitch tracker with a floor under 75 Hz, turning the room into a false voice.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draw; the caller keeps it independent of the diagnostic group.

    Returns
    -------
    RoomParams
    """
    noise_db = float(rng.uniform(-55.0, -30.0))
    return RoomParams(
        noise_db=noise_db,
        hum_db=noise_db - float(rng.uniform(5.0, 20.0)),
        hum_hz=float(rng.choice((50.0, 60.0))),
        gain_db=float(rng.uniform(-6.0, 6.0)),
    )


def vowel_formants_hz(vowel: str, *, voice: VoiceParams) -> tuple:
    """F1-F5 in Hz of a vowel as this speaker says it.

    Parameters
    ----------
    vowel : str
        A key of ``VOWEL_F1_F3_HZ``.
    voice : VoiceParams
        Supplies the vocal-tract length factor and the vowel centralisation.

    Returns
    -------
    tuple of float
        Five formant frequencies in Hz.
    """
    check_option("vowel", vowel, VOWEL_F1_F3_HZ)
    target = np.asarray(VOWEL_F1_F3_HZ[vowel])
    centre = np.asarray(VOWEL_F1_F3_HZ["schwa"])
    f1_f3 = target + voice.vowel_centralization * (centre - target)
    return tuple(float(f) * voice.formant_scale for f in (*f1_f3, *F4_F5_HZ))


def _vocal_tract_sos(formants_hz: tuple, *, formant_scale: float, sr: int) -> np.ndarray:
    """Cascade of Klatt resonators (unit gain at 0 Hz) as second-order sections.

    F1-F5 come from ``formants_hz``; upper resonances follow every ``UPPER_SPACING_HZ`` (scaled by
    the vocal-tract length factor) up to ``UPPER_BAND_LIMIT`` of the sampling rate.
    """
    top = UPPER_BAND_LIMIT * sr
    upper = np.arange(formants_hz[-1] + UPPER_SPACING_HZ * formant_scale, top,
                      UPPER_SPACING_HZ * formant_scale)
    frequencies = [*formants_hz, *upper]
    bandwidths = [*FORMANT_BANDWIDTHS_HZ, *(UPPER_RELATIVE_BANDWIDTH * upper)]
    sections = []
    for freq, bandwidth in zip(frequencies, bandwidths):
        if freq >= top:
            continue  # a formant near or above Nyquist cannot be represented at this rate
        c = -np.exp(-2.0 * np.pi * bandwidth / sr)
        b = 2.0 * np.exp(-np.pi * bandwidth / sr) * np.cos(2.0 * np.pi * freq / sr)
        sections.append([1.0 - b - c, 0.0, 0.0, 1.0, -b, -c])
    return np.asarray(sections)


def _band_sos(band_hz: tuple, sr: int) -> np.ndarray:
    """Second-order Butterworth band pass, its top kept under Nyquist."""
    low, high = band_hz
    return signal.butter(2, [low, min(high, 0.45 * sr)], btype="bandpass", fs=sr, output="sos")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _scaled_to_rms(x: np.ndarray, target_rms: float) -> np.ndarray:
    """``x`` scaled to an RMS of ``target_rms`` (a silent ``x`` stays silent)."""
    level = _rms(x)
    return x * (target_rms / level) if level > 0 else x


def _intonation_st(n_samples: int, *, sd_st: float, speech_spans_s: list, sr: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Slow F0 contour in semitones, mean 0 and SD exactly ``sd_st`` over the speech spans.

    Normalising over the spans where the voice sounds, not the whole clip, makes ``sd_st`` and the
    geometric mean F0 what a pitch tracker reads from the voiced frames: smoothed noise wanders
    more over a long clip than within the stretches that happen to be voiced.
    """
    control_rate = 100
    n_control = max(2, int(np.ceil(n_samples / sr * control_rate)) + 1)
    smooth = ndimage.gaussian_filter1d(rng.standard_normal(n_control),
                                       sigma=INTONATION_SMOOTHING_S * control_rate, mode="nearest")
    times = np.arange(n_control) / control_rate
    in_speech = np.zeros(n_control, dtype=bool)
    for start_s, end_s in speech_spans_s:
        in_speech |= (times >= start_s) & (times <= end_s)
    if in_speech.sum() < 2:
        return np.zeros(n_samples)
    spread = smooth[in_speech].std()
    contour = (smooth - smooth[in_speech].mean()) / spread * sd_st if spread > 0 else 0.0 * smooth
    return np.interp(np.arange(n_samples) / sr, times, contour)


def _rosenberg_flow(tau: np.ndarray, period_s: float) -> np.ndarray:
    """Rosenberg (1971) glottal flow at times ``tau`` (s) after a glottal closure, peak 1.

    The cycle runs from one closure to the next (closed phase first), so the closure instants,
    where the radiated pulse excites the vocal tract, are exactly one period apart: jitter then
    perturbs the intervals Praat's point process measures, not a smoothed version of them.
    """
    opening = OPENING_SHARE * period_s
    closing = CLOSING_SHARE * period_s
    tau = tau - (period_s - opening - closing)
    flow = np.zeros_like(tau)
    rising = (tau >= 0.0) & (tau < opening)
    flow[rising] = 0.5 * (1.0 - np.cos(np.pi * tau[rising] / opening))
    falling = (tau >= opening) & (tau < opening + closing)
    flow[falling] = np.cos(0.5 * np.pi * (tau[falling] - opening) / closing)
    return flow


def _glottal_source(n_samples: int, *, start_s: float, f0_contour_st: np.ndarray,
                    voice: VoiceParams, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Radiated glottal flow derivative, built cycle by cycle with jitter and shimmer.

    Each cycle's period is the slow contour's period times (1 + e) and its amplitude 1 + d, with e
    and d independent normal draws. For independent normal e with SD sigma, the expected mean
    absolute difference of consecutive values is 2 sigma / sqrt(pi), so sigma = pct/100 * sqrt(pi)/2
    makes the local jitter and shimmer of the pulse train equal the requested percentages in
    expectation (Praat, measuring the filtered sound, reads about 0.85-1.0 times as much).

    Parameters
    ----------
    n_samples : int
        Length of the voiced stretch in samples.
    start_s : float
        Time of its first sample in the clip, in seconds (selects the intonation contour there).
    f0_contour_st : numpy.ndarray
        Intonation in semitones re ``voice.f0_hz`` for every sample of the clip.
    voice : VoiceParams
    sr : int
        Sampling rate in Hz.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        float64, ``n_samples`` long.
    """
    sigma_period = voice.jitter_pct / 100.0 * np.sqrt(np.pi) / 2.0
    sigma_amplitude = voice.shimmer_pct / 100.0 * np.sqrt(np.pi) / 2.0
    first = int(round(start_s * sr))
    flow = np.zeros(n_samples + 1)
    duration_s = n_samples / sr
    t = 0.0
    while t < duration_s:
        index = min(first + int(t * sr), len(f0_contour_st) - 1)
        period = (1.0 + sigma_period * rng.standard_normal()) / (
            voice.f0_hz * 2.0 ** (f0_contour_st[index] / 12.0))
        amplitude = max(0.0, 1.0 + sigma_amplitude * rng.standard_normal())
        lo = int(np.ceil(t * sr))
        hi = min(int(np.ceil((t + period) * sr)), n_samples + 1)
        samples = np.arange(lo, hi)
        flow[lo:hi] = amplitude * _rosenberg_flow(samples / sr - t, period)
        t += period
    # Lip radiation differentiates the flow (+6 dB per octave).
    return np.diff(flow)


def _voiced_vowel(n_samples: int, *, start_s: float, vowels: tuple, f0_contour_st: np.ndarray,
                  voice: VoiceParams, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A vowel (or diphthong glide) at unit RMS with aspiration noise at ``voice.hnr_db``."""
    source = _glottal_source(n_samples, start_s=start_s, f0_contour_st=f0_contour_st,
                             voice=voice, sr=sr, rng=rng)
    noise = rng.standard_normal(n_samples)
    targets = []
    for vowel in vowels:
        tract = _vocal_tract_sos(vowel_formants_hz(vowel, voice=voice),
                                 formant_scale=voice.formant_scale, sr=sr)
        harmonic = signal.sosfilt(tract, source)
        # Scaling the filtered noise, not the source, makes the ratio hold in the radiated sound.
        aspiration = _scaled_to_rms(signal.sosfilt(tract, noise),
                                    _rms(harmonic) * 10.0 ** (-voice.hnr_db / 20.0))
        # Equal level per target, so a glide does not swell or fade with the formants.
        targets.append(_scaled_to_rms(harmonic + aspiration, 1.0))
    return _scaled_to_rms(_glide(targets), 1.0)


def _glide(parts: list) -> np.ndarray:
    """One signal, or a raised-cosine crossfade from the first to the second over GLIDE_SPAN."""
    if len(parts) == 1:
        return parts[0]
    first, second = parts
    position = np.linspace(0.0, 1.0, len(first))
    share = np.clip((position - GLIDE_SPAN[0]) / (GLIDE_SPAN[1] - GLIDE_SPAN[0]), 0.0, 1.0)
    weight = 0.5 - 0.5 * np.cos(np.pi * share)
    return (1.0 - weight) * first + weight * second


def _ramps(n_samples: int, *, rise_s: float, fall_s: float, sr: int) -> np.ndarray:
    """Raised-cosine rise and fall, shortened in proportion when the stretch is too short."""
    n_rise, n_fall = int(rise_s * sr), int(fall_s * sr)
    if n_rise + n_fall > n_samples:
        n_rise = n_samples * n_rise // (n_rise + n_fall)
        n_fall = n_samples - n_rise
    envelope = np.ones(n_samples)
    envelope[:n_rise] = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_rise) / max(n_rise, 1))
    envelope[n_samples - n_fall:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(n_fall) / max(n_fall, 1))
    return envelope


def sustained_vowel(vowel: str, *, duration_s: float, voice: VoiceParams, sr: int = 44100,
                    rng: np.random.Generator) -> np.ndarray:
    """A sustained vowel with the speaker's voice, no room noise (calibration of voice measures).

    Parameters
    ----------
    vowel : str
        A key of ``VOWEL_F1_F3_HZ``.
    duration_s : float
        Length in seconds.
    voice : VoiceParams
    sr : int
        Sampling rate in Hz.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        float32 mono at RMS ``SPEECH_REF_RMS`` (before its 20 ms rise and 25 ms fall).
    """
    check_option("vowel", vowel, VOWEL_F1_F3_HZ)
    _check_range("duration_s", duration_s, 0.05, 600.0)
    _check_sr(sr)
    if not isinstance(voice, VoiceParams):
        raise ConfigError(f"voice must be a VoiceParams; got {type(voice).__name__}")
    n_samples = int(round(duration_s * sr))
    contour = _intonation_st(n_samples, sd_st=voice.f0_sd_st, speech_spans_s=[(0.0, duration_s)],
                             sr=sr, rng=rng)
    vowel_signal = _voiced_vowel(n_samples, start_s=0.0, vowels=(vowel,), f0_contour_st=contour,
                                 voice=voice, sr=sr, rng=rng)
    envelope = _ramps(n_samples, rise_s=RISE_VOWEL_INITIAL_S, fall_s=FALL_S, sr=sr)
    return (SPEECH_REF_RMS * vowel_signal * envelope).astype(np.float32)


def _check_sr(sr: int) -> None:
    if not (isinstance(sr, (int, np.integer)) and 16000 <= sr <= 192000):
        raise ConfigError(f"sr must be an integer sampling rate in [16000, 192000] Hz; got {sr!r}")


def syllable_vowels(task: str, label: str) -> tuple:
    """Vowel targets of a syllable label in a task ('pa' is /a/ in DDK but /uh/ in "puppy").

    Parameters
    ----------
    task : str
        A speech task code.
    label : str
        The event's syllable label.

    Returns
    -------
    tuple of str
        One vowel, or two for a diphthong.
    """
    table = BBP_VOWELS if task == "BBP_NORMAL" else DDK_VOWELS
    check_option(f"syllable label of task {task}", label, table)
    return table[label]


def _stop_release(consonant: Consonant, n_available: int, *, sr: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Release burst at unit vowel level: abrupt onset, exponential decay, band-shaped noise."""
    n_burst = min(int(round(consonant.burst_s * sr)), n_available)
    noise = signal.sosfilt(_band_sos(consonant.band_hz, sr), rng.standard_normal(n_burst))
    decay = np.exp(-np.arange(n_burst) / (consonant.burst_s * sr / 3.0))
    # Filtering from a zero state, the burst reaches full level within the band pass's rise time
    # (under 1 ms), so its audible onset is the release instant itself.
    return _scaled_to_rms(noise * decay, 10.0 ** (consonant.burst_db / 20.0))


def _stop_onset(consonant: Consonant, *, vowel: str, n_vot: int, voice: VoiceParams, sr: int,
                rng: np.random.Generator) -> np.ndarray:
    """Release burst then, for a voiceless stop, aspiration through the vowel's tract (VOT span)."""
    out = np.zeros(n_vot)
    burst = _stop_release(consonant, n_vot, sr=sr, rng=rng)
    out[:len(burst)] = burst
    n_aspiration = n_vot - len(burst)
    if consonant.aspiration_db is not None and n_aspiration > 0:
        tract = _vocal_tract_sos(vowel_formants_hz(vowel, voice=voice),
                                 formant_scale=voice.formant_scale, sr=sr)
        aspiration = _scaled_to_rms(signal.sosfilt(tract, rng.standard_normal(n_aspiration)),
                                    10.0 ** (consonant.aspiration_db / 20.0))
        out[len(burst):] = aspiration * _ramps(n_aspiration, rise_s=ASPIRATION_RAMP_S,
                                               fall_s=ASPIRATION_RAMP_S, sr=sr)
    return out


def _syllable(event: Event, *, end_s: float, task: str, f0_contour_st: np.ndarray,
              voice: VoiceParams, sr: int, rng: np.random.Generator) -> tuple:
    """Samples of one syllable at vowel RMS 1 (times the event amplitude) and its start sample."""
    vowels = syllable_vowels(task, event.label)
    start = int(round(event.onset_s * sr))
    n_total = max(0, int(round(end_s * sr)) - start)
    consonant = CONSONANTS.get(event.label[0])
    if consonant is None:  # vowel-initial syllable: a glottal onset, no burst
        n_vot, rise_s = 0, RISE_VOWEL_INITIAL_S
    else:
        vot_s = min(consonant.vot_s, MAX_VOT_SHARE * event.duration_s)
        n_vot, rise_s = min(int(round(vot_s * sr)), n_total), RISE_AFTER_STOP_S
    out = np.zeros(n_total)
    if consonant is not None:
        out[:n_vot] = _stop_onset(consonant, vowel=vowels[0], n_vot=n_vot, voice=voice, sr=sr,
                                  rng=rng)
    n_vowel = n_total - n_vot
    if n_vowel * voice.f0_hz >= 2 * sr:  # at least two glottal cycles, else no vowel is heard
        vowel = _voiced_vowel(n_vowel, start_s=(start + n_vot) / sr, vowels=vowels,
                              f0_contour_st=f0_contour_st, voice=voice, sr=sr, rng=rng)
        out[n_vot:] = vowel * _ramps(n_vowel, rise_s=rise_s, fall_s=FALL_S, sr=sr)
    return out * event.amplitude, start


def _breath(event: Event, *, sr: int, rng: np.random.Generator) -> tuple:
    """Breath noise of one NSM_BLOW repetition at unit speech level and its start sample."""
    start = int(round((event.onset_s + BREATH_SPAN[0] * event.duration_s) * sr))
    n_samples = int(round((BREATH_SPAN[1] - BREATH_SPAN[0]) * event.duration_s * sr))
    noise = signal.sosfilt(_band_sos(BREATH_BAND_HZ, sr), rng.standard_normal(n_samples))
    shaped = _scaled_to_rms(noise, 10.0 ** (BREATH_DB / 20.0)) * np.hanning(n_samples)
    return shaped * event.amplitude, start


def _room_noise(n_samples: int, *, room: RoomParams, sr: int,
                rng: np.random.Generator) -> np.ndarray:
    """Pink noise plus mains hum at the room's levels re ``SPEECH_REF_RMS``, before the gain.

    Parameters
    ----------
    n_samples : int
    room : RoomParams
    sr : int
        Sampling rate in Hz.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        float64, ``n_samples`` long.
    """
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs = np.fft.rfftfreq(n_samples, 1.0 / sr)
    spectrum[0] = 0.0
    spectrum[1:] /= np.sqrt(freqs[1:])  # 1/f power: pink
    pink = np.fft.irfft(spectrum, n=n_samples)
    t = np.arange(n_samples) / sr
    phases = rng.uniform(0.0, 2.0 * np.pi, size=len(HUM_HARMONICS))
    hum = sum(a * np.sin(2.0 * np.pi * (h + 1) * room.hum_hz * t + p)
              for h, (a, p) in enumerate(zip(HUM_HARMONICS, phases)))
    return SPEECH_REF_RMS * (_scaled_to_rms(pink, 10.0 ** (room.noise_db / 20.0))
                             + _scaled_to_rms(hum, 10.0 ** (room.hum_db / 20.0)))


def synthesize(schedule: Schedule, *, voice: VoiceParams, room: RoomParams, sr: int = 44100,
               rng: np.random.Generator) -> np.ndarray:
    """The audio track of one task clip.

    Speech tasks: each event becomes a syllable whose stop burst starts at ``event.onset_s``,
    followed by the voice-onset time and the voiced vowel until the event ends (or 10 ms before
    the next release, whichever is first), at vowel RMS ``SPEECH_REF_RMS * event.amplitude``.
    The speech level then falls linearly in dB by ``voice.intensity_decay_db`` over the clip.
    Non-speech tasks carry room noise only, plus a breath-noise burst per repetition for
    NSM_BLOW. Room noise runs under everything; the room gain scales the sum.

    Parameters
    ----------
    schedule : Schedule
        Task code, clip length and events (from ``build_schedule``).
    voice : VoiceParams
        The speaker's voice.
    room : RoomParams
        The recording condition.
    sr : int
        Sampling rate in Hz (NeuroFace: 44100).
    rng : numpy.random.Generator
        Source of every random draw; a seeded generator reproduces the clip.

    Returns
    -------
    numpy.ndarray
        float32 mono in [-1, 1], ``round(schedule.duration_s * sr)`` samples.
    """
    for name, value, kind in (("schedule", schedule, Schedule), ("voice", voice, VoiceParams),
                              ("room", room, RoomParams)):
        if not isinstance(value, kind):
            raise ConfigError(f"{name} must be a {kind.__name__}; got {type(value).__name__}")
    _check_range("schedule.duration_s", schedule.duration_s, 0.01, 3600.0)
    _check_sr(sr)
    n_samples = int(round(schedule.duration_s * sr))
    events = sorted(schedule.events, key=lambda e: e.onset_s)
    for event in events:
        if not 0.0 <= event.onset_s < schedule.duration_s:
            raise ConfigError(f"event onset {event.onset_s} s lies outside the {schedule.task} "
                              f"clip of {schedule.duration_s} s")
    subject = np.zeros(n_samples)
    spans = [(e.onset_s, e.onset_s + e.duration_s) for e in events] if schedule.is_speech else []
    contour = _intonation_st(n_samples, sd_st=voice.f0_sd_st, speech_spans_s=spans, sr=sr, rng=rng)
    for i, event in enumerate(events):
        if schedule.is_speech:
            next_release = events[i + 1].onset_s - MIN_CLOSURE_S if i + 1 < len(events) else np.inf
            end_s = min(event.onset_s + event.duration_s, next_release, schedule.duration_s)
            sound, start = _syllable(event, end_s=end_s, task=schedule.task, f0_contour_st=contour,
                                     voice=voice, sr=sr, rng=rng)
        elif schedule.task == "NSM_BLOW":
            sound, start = _breath(event, sr=sr, rng=rng)
        else:
            continue
        stop = min(start + len(sound), n_samples)
        if stop > start:
            subject[start:stop] += sound[:stop - start]
    decay_db = voice.intensity_decay_db * np.arange(n_samples) / max(n_samples - 1, 1)
    subject *= SPEECH_REF_RMS * 10.0 ** (-decay_db / 20.0)
    room_sound = _room_noise(n_samples, room=room, sr=sr, rng=rng)
    mixed = (subject + room_sound) * 10.0 ** (room.gain_db / 20.0)
    # Levels leave head room; the limit only enforces the [-1, 1] contract on extreme settings.
    return np.clip(mixed, -1.0, 1.0).astype(np.float32)

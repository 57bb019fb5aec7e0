"""eGeMAPSv02 functionals (88 per recording) through openSMILE.

One code path only: the in-memory signal is passed to ``opensmile.Smile.process_signal``; the
file-based path gives slightly different values and is never used.

Column names keep openSMILE's names recognisable: ``audio__`` + the openSMILE name with ``.``
written as ``p`` and ``-`` written as ``_`` (see ``egemaps_column``), e.g.
``F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2`` -> ``audio__F0semitoneFrom27p5Hz_sma3nz_pctlrange0_2``.
openSMILE's capitalisation is kept so that each column can be looked up in Eyben et al. (2016).

openSMILE writes 0 for functionals of voiced frames when a recording has no voiced frame at all;
such zeros are not measurements, so they are returned as NaN with a reason.
"""
from __future__ import annotations

import functools

import numpy as np
import opensmile

from core.errors import AvstrokeError, ConfigError, MediaError
from features.registry import Feature, register

MODALITY = "audio"
FEATURE_SET = opensmile.FeatureSet.eGeMAPSv02
SOURCE = ("Eyben F et al. (2016) The Geneva Minimalistic Acoustic Parameter Set (GeMAPS) for voice "
          "research and affective computing. IEEE Trans Affect Comput 7(2):190-202; openSMILE "
          "eGeMAPSv02 functionals")

# (openSMILE low-level descriptor, smoothing suffix, unit, plain description, functionals) in
# openSMILE's output order.
_PROSODY = ("amean", "stddevNorm", "percentile20.0", "percentile50.0", "percentile80.0",
            "pctlrange0-2", "meanRisingSlope", "stddevRisingSlope", "meanFallingSlope",
            "stddevFallingSlope")
_MEAN_CV = ("amean", "stddevNorm")
_LLDS = (
    ("F0semitoneFrom27.5Hz", "sma3nz", "semitones re 27.5 Hz",
     "voice pitch (fundamental frequency) on a semitone scale, voiced frames", _PROSODY),
    ("loudness", "sma3", "sone (uncalibrated)", "perceived loudness of the sound", _PROSODY),
    ("spectralFlux", "sma3", "spectral flux (arbitrary units)",
     "how fast the sound spectrum changes from frame to frame", _MEAN_CV),
    *((f"mfcc{k}", "sma3", "cepstral coefficient (arbitrary units)",
       f"mel-frequency cepstral coefficient {k}, a summary of the spectral envelope shape",
       _MEAN_CV) for k in range(1, 5)),
    ("jitterLocal", "sma3nz", "fraction of the pitch period",
     "cycle-to-cycle irregularity of the pitch period (jitter)", _MEAN_CV),
    ("shimmerLocaldB", "sma3nz", "dB",
     "cycle-to-cycle irregularity of the wave amplitude (shimmer)", _MEAN_CV),
    ("HNRdBACF", "sma3nz", "dB",
     "harmonics-to-noise ratio: how periodic rather than breathy or hoarse the voice is",
     _MEAN_CV),
    ("logRelF0-H1-H2", "sma3nz", "dB",
     "level of the first harmonic over the second (relates to breathy phonation)", _MEAN_CV),
    ("logRelF0-H1-A3", "sma3nz", "dB",
     "level of the first harmonic over the third-formant peak (voice spectral tilt)", _MEAN_CV),
    ("F1frequency", "sma3nz", "Hz", "first formant frequency (jaw opening, tongue height)",
     _MEAN_CV),
    ("F1bandwidth", "sma3nz", "Hz", "first formant bandwidth", _MEAN_CV),
    ("F1amplitudeLogRelF0", "sma3nz", "dB", "first formant level relative to the F0 harmonic",
     _MEAN_CV),
    ("F2frequency", "sma3nz", "Hz", "second formant frequency (tongue front-back position)",
     _MEAN_CV),
    ("F2bandwidth", "sma3nz", "Hz", "second formant bandwidth", _MEAN_CV),
    ("F2amplitudeLogRelF0", "sma3nz", "dB", "second formant level relative to the F0 harmonic",
     _MEAN_CV),
    ("F3frequency", "sma3nz", "Hz", "third formant frequency", _MEAN_CV),
    ("F3bandwidth", "sma3nz", "Hz", "third formant bandwidth", _MEAN_CV),
    ("F3amplitudeLogRelF0", "sma3nz", "dB", "third formant level relative to the F0 harmonic",
     _MEAN_CV),
    ("alphaRatioV", "sma3nz", "dB",
     "energy above 1 kHz relative to below 1 kHz in voiced frames (voice brightness)", _MEAN_CV),
    ("hammarbergIndexV", "sma3nz", "dB",
     "strongest peak below 2 kHz over strongest peak 2-5 kHz in voiced frames", _MEAN_CV),
    ("slopeV0-500", "sma3nz", "log-spectrum slope per Hz",
     "spectral slope 0-500 Hz in voiced frames", _MEAN_CV),
    ("slopeV500-1500", "sma3nz", "log-spectrum slope per Hz",
     "spectral slope 500-1500 Hz in voiced frames", _MEAN_CV),
    ("spectralFluxV", "sma3nz", "spectral flux (arbitrary units)",
     "frame-to-frame spectral change in voiced frames", _MEAN_CV),
    *((f"mfcc{k}V", "sma3nz", "cepstral coefficient (arbitrary units)",
       f"mel-frequency cepstral coefficient {k} in voiced frames", _MEAN_CV)
      for k in range(1, 5)),
    ("alphaRatioUV", "sma3nz", "dB",
     "energy above 1 kHz relative to below 1 kHz in unvoiced frames", ("amean",)),
    ("hammarbergIndexUV", "sma3nz", "dB",
     "strongest peak below 2 kHz over strongest peak 2-5 kHz in unvoiced frames", ("amean",)),
    ("slopeUV0-500", "sma3nz", "log-spectrum slope per Hz",
     "spectral slope 0-500 Hz in unvoiced frames", ("amean",)),
    ("slopeUV500-1500", "sma3nz", "log-spectrum slope per Hz",
     "spectral slope 500-1500 Hz in unvoiced frames", ("amean",)),
    ("spectralFluxUV", "sma3nz", "spectral flux (arbitrary units)",
     "frame-to-frame spectral change in unvoiced frames", ("amean",)),
)
# Recording-level descriptors that are not functionals of one low-level descriptor.
_TEMPORAL = (
    ("loudnessPeaksPerSec", "per s", "loudness peaks per second (a rough syllable rate)"),
    ("VoicedSegmentsPerSec", "per s", "voiced stretches per second"),
    ("MeanVoicedSegmentLengthSec", "s", "mean length of the voiced stretches"),
    ("StddevVoicedSegmentLengthSec", "s", "standard deviation of the voiced stretch lengths"),
    ("MeanUnvoicedSegmentLength", "s", "mean length of the unvoiced stretches and pauses"),
    ("StddevUnvoicedSegmentLength", "s", "standard deviation of the unvoiced stretch lengths"),
    ("equivalentSoundLevel_dBp", "dB (uncalibrated)", "equivalent (energy-mean) sound level"),
)
_FUNCTIONAL_WORDS = {
    "amean": "mean of",
    "stddevNorm": "coefficient of variation (SD / mean) of",
    "percentile20.0": "20th percentile of",
    "percentile50.0": "median of",
    "percentile80.0": "80th percentile of",
    "pctlrange0-2": "range from 20th to 80th percentile of",
    "meanRisingSlope": "mean rate of rise of",
    "stddevRisingSlope": "SD of the rate of rise of",
    "meanFallingSlope": "mean rate of fall of",
    "stddevFallingSlope": "SD of the rate of fall of",
}
# Higher is worse for the classic perturbation measures, better for harmonicity; eGeMAPS leaves
# the rest without a clinical direction.
_DIRECTIONS = {
    "jitterLocal_sma3nz_amean": "higher_worse",
    "shimmerLocaldB_sma3nz_amean": "higher_worse",
    "HNRdBACF_sma3nz_amean": "higher_better",
}


def egemaps_column(opensmile_name: str) -> str:
    """Column name of one openSMILE eGeMAPS feature: ``.`` -> ``p``, ``-`` -> ``_``.

    Parameters
    ----------
    opensmile_name : str
        The name openSMILE gives, e.g. ``'F0semitoneFrom27.5Hz_sma3nz_percentile20.0'``.

    Returns
    -------
    str
        E.g. ``'audio__F0semitoneFrom27p5Hz_sma3nz_percentile20p0'``.
    """
    return f"{MODALITY}__{opensmile_name.replace('.', 'p').replace('-', '_')}"


def _functional_unit(functional: str, unit: str) -> str:
    """Unit of a functional of a descriptor measured in ``unit``."""
    if functional == "stddevNorm":
        return "ratio (SD / mean)"
    if "Slope" in functional:
        return f"{unit} per s"
    return unit


def _catalogue() -> tuple[tuple[str, str, str, bool], ...]:
    """``(openSMILE name, unit, description, voiced_only)`` of the 88 features, openSMILE order."""
    rows = []
    for lld, smoothing, unit, words, functionals in _LLDS:
        voiced_only = smoothing == "sma3nz" and not lld.endswith("UV")
        for functional in functionals:
            rows.append((f"{lld}_{smoothing}_{functional}", _functional_unit(functional, unit),
                         f"{_FUNCTIONAL_WORDS[functional]} {words}", voiced_only))
    for name, unit, words in _TEMPORAL:
        rows.append((name, unit, words, name.startswith(("MeanVoiced", "StddevVoiced"))))
    return tuple(rows)


CATALOGUE = _catalogue()
OPENSMILE_NAMES = tuple(row[0] for row in CATALOGUE)
VOICED_ONLY = frozenset(row[0] for row in CATALOGUE if row[3])
COLUMNS = tuple(egemaps_column(name) for name in OPENSMILE_NAMES)


def _register_all() -> None:
    """Register the 88 eGeMAPS functionals."""
    for name, unit, words, voiced_only in CATALOGUE:
        scope = " (voiced frames only)" if voiced_only and "voiced" not in words else ""
        register(Feature(
            name=egemaps_column(name).split("__", 1)[1],
            modality=MODALITY,
            unit=unit,
            description=f"eGeMAPS {name}: {words}{scope}; whole recording, one task.",
            direction=_DIRECTIONS.get(name, "neutral"),
            source=SOURCE,
        ))


_register_all()


@functools.lru_cache(maxsize=1)
def _smile() -> opensmile.Smile:
    """The openSMILE extractor (built once per process: it only holds the configuration)."""
    return opensmile.Smile(feature_set=FEATURE_SET,
                           feature_level=opensmile.FeatureLevel.Functionals)


def egemaps_features(signal: np.ndarray, sr: int) -> tuple[dict, dict]:
    """eGeMAPSv02 functionals of one recording.

    Parameters
    ----------
    signal : numpy.ndarray
        1-D float samples, full scale 1.0.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    row : dict
        The 88 features keyed by column name (``egemaps_column``), floats; NaN where not computable.
    info : dict
        ``feature_set`` ('eGeMAPSv02'), ``feature_level`` ('Functionals'), ``opensmile_version``,
        ``nan_reasons`` (column -> why the value is NaN).

    Raises
    ------
    MediaError
        ``signal`` is not 1-D.
    ConfigError
        ``sr`` is not a positive integer.
    """
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 1:
        raise MediaError(f"audio signal must be 1-D (mono); got shape {signal.shape}")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ConfigError(f"sr must be a positive integer number of Hz; got {sr!r}")
    frame = _smile().process_signal(signal, int(sr))
    values = frame.iloc[0]
    if tuple(values.index) != OPENSMILE_NAMES:
        raise AvstrokeError("openSMILE eGeMAPSv02 returned different feature names than this "
                           "module registers; the installed openSMILE does not match")
    row = {egemaps_column(name): float(values[name]) for name in OPENSMILE_NAMES}
    reasons = {}
    if all(np.isnan(v) for v in row.values()):
        reasons = {column: "openSMILE: signal too short for eGeMAPS" for column in row}
    elif values["VoicedSegmentsPerSec"] == 0:
        for name in VOICED_ONLY:
            column = egemaps_column(name)
            row[column] = float("nan")
            reasons[column] = "openSMILE found no voiced frame in the recording"
    return row, {**provenance(), "nan_reasons": reasons}


def provenance() -> dict:
    """The feature set, level and openSMILE version the values come from."""
    return {"feature_set": FEATURE_SET.name, "feature_level": "Functionals",
            "opensmile_version": opensmile.__version__}

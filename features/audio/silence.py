"""Whether a recording's sound is too quiet to hold the voice its task asks for.

Only tasks that ask for the voice (kinds ``core.tasks.VOICE_KINDS``: speech, syllable
repetition, a sustained vowel) are judged: in a non-speech movement the participant is silent,
and a quiet room is what the track should hold (phantom clips of room noise alone peak as low as
-73 dBFS). The sound of such a task is silent when its loudest sample is below
``SILENT_PEAK_DBFS`` (-60 dB re full scale), or is digital silence (every sample 0).

Why -60 dBFS: speech recorded with any usable gain peaks far above it. The real speech recordings
the tests read (``../shared/realdata``: sentences, DDK, vowels, read text) peak between -19 and
0 dBFS; a whisper is some 20-30 dB below conversational speech, so a recorder set for speech near
-10 dBFS puts even a whisper near -40 dBFS. A track whose loudest moment is 20 dB below that
comes from a muted, unplugged or mis-routed microphone, not from a quiet speaker. In 16-bit audio
its loudest sound spans at most 33 of 32768 steps, too coarse for jitter, shimmer or a speech
threshold 25 dB below the loudest sound.

The peak is read on the 16 kHz mono signal of ``features.audio.decode.load_audio``, the one every
audio feature reads, so validation and the audio stage judge the same samples.
"""
from __future__ import annotations

import math

import numpy as np

from core.tasks import VOICE_KINDS, TaskSpec

SILENT_PEAK_DBFS = -60.0


def peak_dbfs(signal: np.ndarray) -> float:
    """Level of the loudest sample in dB re full scale (1.0); -inf for digital silence.

    Parameters
    ----------
    signal : numpy.ndarray
        Samples, full scale 1.0.

    Returns
    -------
    float
        20 log10 of the largest absolute sample, in dBFS.
    """
    # the larger of the extremes, rather than the maximum of |signal|: no full-length copy
    peak = max(float(np.max(signal)), -float(np.min(signal))) if np.size(signal) else 0.0
    return float(20.0 * np.log10(peak)) if peak > 0 else -math.inf


def silence_reason(peak: float, task: TaskSpec) -> str:
    """Why the sound of a ``task`` recording peaking at ``peak`` holds no voice ('' if it can).

    Parameters
    ----------
    peak : float
        Peak level in dB re full scale (``peak_dbfs``), -inf for digital silence.
    task : TaskSpec
        The recording's task; a non-speech movement is never judged silent.

    Returns
    -------
    str
        Empty unless the ``peak`` of a task that asks for the voice is below
        ``SILENT_PEAK_DBFS``; then a sentence naming the level.
    """
    if task.kind not in VOICE_KINDS or peak >= SILENT_PEAK_DBFS:
        return ""
    if math.isinf(peak):
        return "the sound is digital silence (every sample is 0)"
    return (f"the sound peaks at {peak:.1f} dBFS, below {SILENT_PEAK_DBFS:g} dBFS, too quiet to "
            "hold speech (a muted or unplugged microphone?)")

"""Audio-video cross-checks of the same clip.

Automatic DDK syllable detection fails on severe speech (merged or inaudible syllables), so the
acoustic syllable rate of a DDK clip is compared with the repetition rate of its lip or jaw
movement (the face-features cycle rate). A large disagreement marks a recording whose DDK values
deserve a look; it is kept as a column, not used to drop anything.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.tasks import DDK
from features.registry import Feature, register

AUDIO_RATE = "ddk__syllable_rate"
VIDEO_RATE = "face__cycle_rate"
DISAGREEMENT = register(Feature(
    "video_rate_disagreement_pct", "ddk", "%",
    "Difference between the syllable rate heard in the audio and the lip/jaw repetition rate seen "
    "in the video of the same clip, in percent of the video rate; large values mean the automatic "
    "syllable count (or the video cycle count) is unreliable for this recording.",
    "neutral", "avstroke cross-check (automatic DDK fails on severe speech)", kinds=(DDK,)))


def ddk_video_disagreement(recordings: pd.DataFrame, vocabulary: dict) -> pd.Series:
    """Per recording: 100 x (audio syllable rate - video cycle rate) / video cycle rate.

    Parameters
    ----------
    recordings : DataFrame
        Recording-level table with ``task`` and, when measured, both rates.
    vocabulary : dict
        Task name -> ``core.tasks.TaskSpec`` of every task in ``recordings``.

    Returns
    -------
    Series
        Percent; NaN for tasks not of kind ddk and where either rate is missing or the video rate
        is 0.
    """
    if AUDIO_RATE not in recordings or VIDEO_RATE not in recordings:
        return pd.Series(np.nan, index=recordings.index, name=DISAGREEMENT.column)
    audio = recordings[AUDIO_RATE].astype(float)
    video = recordings[VIDEO_RATE].astype(float).where(lambda v: v > 0)
    value = 100.0 * (audio - video) / video
    ddk_tasks = [name for name, spec in vocabulary.items() if DISAGREEMENT.applies_to(spec)]
    return value.where(recordings["task"].isin(ddk_tasks)).rename(DISAGREEMENT.column)

"""Simulated speech-language pathologist (SLP) ratings of each phantom video.

NeuroFace rates every video on Symmetry, ROM (range of motion), Speed, Variability and Fatigue,
each 1-5, and their total (Tot, 5-25), by two raters. Here 1 means normal (as a control example
in the release suggests). Each item's latent value is a documented mix of the subject's true
impairments for the task; each rater adds independent noise and rounds to the 1-5 scale.
"""
from __future__ import annotations

import numpy as np

from core.tasks import MOVEMENT, NEUROFACE
from phantom.design import SubjectTruth

ITEMS = ("Symmetry", "ROM", "Speed", "Variability", "Fatigue")
RATERS = ("SLP1", "SLP2")
RATER_NOISE_SD = 0.35


def latent_items(truth: SubjectTruth, task: str) -> dict[str, float]:
    """Each item's latent impairment in [0, 1] for one task (0 = normal)."""
    speech = NEUROFACE[task].kind != MOVEMENT
    dys = truth.dysarthria if speech else 0.0
    return {
        "Symmetry": min(1.0, 1.1 * truth.facial_weakness + abs(truth.natural_asymmetry)),
        "ROM": min(1.0, 0.5 * truth.facial_weakness + 1.1 * truth.bilateral + 0.5 * dys),
        "Speed": min(1.0, 0.4 * truth.facial_weakness + 1.0 * truth.bilateral + 0.7 * dys),
        "Variability": min(1.0, 3.0 * (truth.rate_cv - 0.04) if speech else 0.3 * truth.bilateral),
        "Fatigue": min(1.0, 1.6 * truth.fatigue),
    }


def rate_video(truth: SubjectTruth, task: str, rng: np.random.Generator) -> dict[str, float]:
    """Both raters' item scores and totals for one video.

    Returns
    -------
    dict
        Keys like 'SLP1 Symmetry' ... 'SLP1 Tot', 'SLP2 ...'; values 1-5 (items), 5-25 (Tot).
    """
    latent = latent_items(truth, task)
    scores = {}
    for rater in RATERS:
        items = {item: float(np.clip(np.rint(1 + 4 * value + rng.normal(0, RATER_NOISE_SD)), 1, 5))
                 for item, value in latent.items()}
        scores.update({f"{rater} {item}": v for item, v in items.items()})
        scores[f"{rater} Tot"] = float(sum(items.values()))
    return scores

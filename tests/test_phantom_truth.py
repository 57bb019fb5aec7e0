"""Features recover the phantom's known truth (issue proofs for the video and audio stages).

The shared phantom cohort (``phantom_run`` in conftest.py: 25 subjects per group, every
post-stroke subject also seen at follow-up) goes through the real stages; the features are then
compared with the truth the phantom was built from. Slow: the cohort takes about seven minutes.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from pipeline.phantom.proof import recordings_with_truth

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cohort(phantom_run):
    """One row per recording: measured features beside the subject's and the clip's truth."""
    return recordings_with_truth(phantom_run["data"], phantom_run["run"])


def test_smile_asymmetry_ranks_stroke_subjects_by_true_weakness(cohort, phantom_run):
    spread = cohort[cohort["task"] == "NSM_SPREAD"]
    stroke = spread[spread["group"] == "PS"]
    assert len(stroke) == 2 * phantom_run["subjects_per_group"]  # baseline and follow-up
    rho = spearmanr(stroke["face__commissure_excursion_asym_pct"], stroke["facial_weakness"]).statistic
    assert rho >= 0.9
    weaker = np.where(stroke["face__commissure_excursion_asym_signed"] < 0, "left", "right")
    assert (weaker == stroke["weak_side"]).mean() >= 0.9
    controls = spread[spread["group"] == "HC"]["face__commissure_excursion_asym_pct"]
    assert controls.median() < stroke["face__commissure_excursion_asym_pct"].median()


def test_dlib_under_reads_true_asymmetry(cohort):
    """FEATURES.md: dlib registers only part of a moving corner's travel, so measured asymmetry
    is below the true one; the effect is kept, not hidden. Measured on 50 post-stroke visits:
    median ratio 0.89, below the truth in 74%."""
    stroke = cohort[(cohort["task"] == "NSM_SPREAD") & (cohort["group"] == "PS")]
    ratio = stroke["face__commissure_excursion_asym_pct"] / (100 * stroke["facial_weakness"])
    assert ratio.median() < 0.95 and (ratio < 1).mean() >= 0.7


def test_ddk_rate_matches_the_true_syllable_rate(cohort, phantom_run):
    ddk = cohort[cohort["task"] == "DDK_PA"]
    error = (ddk["ddk__syllable_rate"] - ddk["event_rate_hz"]).abs() / ddk["event_rate_hz"]
    assert len(ddk) == 4 * phantom_run["subjects_per_group"] and error.max() < 0.05
    # The video cross-check counts lip cycles, which severe speech can blur: it must agree
    # on nearly every clip and flag (>= 10%) only a few. Measured: 95th percentile 3.1%, one
    # clip of 100 (severe ALS) at 15%.
    disagreement = ddk["ddk__video_rate_disagreement_pct"].abs()
    assert disagreement.quantile(0.95) < 5 and (disagreement >= 10).mean() <= 0.02


def test_jitter_ranks_subjects_by_injected_jitter(cohort):
    sentence = cohort[cohort["task"] == "BBP_NORMAL"].dropna(subset=["voice__jitter_local_pct"])
    assert len(sentence) >= 20, "jitter should be measurable on nearly every sentence clip"
    rho = spearmanr(sentence["voice__jitter_local_pct"], sentence["voice_jitter_pct"]).statistic
    assert rho >= 0.8

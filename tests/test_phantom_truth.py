"""Features recover truth that dlib cannot have shaped (issue proofs for the video and audio stages).

The truth cohort (``truth_run`` in conftest.py) takes its identities from hand-annotated photos,
never from dlib's own fit; its DDK clips hold several attempts with pauses, its sentence clips
several sentences, and its first frame is at pts 1. Its media go through the real stages, with
landmarks adapted to the cohort's own annotated frames (subject models; the generic model's
landmarks and face features are kept as the "before"), and the features are compared with the
truth the phantom was built from. Slow: the cohort takes about 20 minutes on two cores shared
with other jobs (19 min 37 s measured, 21 CPU-minutes; 34 minutes on a busier machine), most of it
landmarks-train; ``benchmarks/phantom_truth.py`` prints the same figures for another seed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from pipeline import cache
from tests.oracle import (ddk_truth_figures, heldout_mouth_figures, recordings_with_truth,
                          smile_truth_figures)

pytestmark = [pytest.mark.slow, pytest.mark.realdata]
FRAME_S = 1 / 50


@pytest.fixture(scope="module")
def cohort(truth_run):
    """One row per recording: measured features beside the subject's and the clip's truth."""
    return recordings_with_truth(truth_run["data"], truth_run["run"])


@pytest.fixture(scope="module")
def generic(truth_run):
    """The same, with the face features of the generic model's landmarks (the "before")."""
    return recordings_with_truth(truth_run["data"], truth_run["run"], generic=True)


@pytest.mark.parametrize("task", ["DDK_PA", "DDK_PATAKA"])
def test_ddk_rate_within_trains_is_right_on_every_clip(cohort, truth_run, task):
    figures = ddk_truth_figures(cohort, task)
    assert figures["clips"] == 4 * truth_run["subjects_per_group"]  # 3 groups + follow-ups
    assert figures["trains_right"] == 1.0
    assert figures["rate_error_max"] <= 0.05
    assert figures["interval_cv_spearman"] >= 0.8
    # The video cross-check counts lip (or jaw) cycles per attempt too. It is there to flag the
    # clips where the two disagree: from the generic model's landmarks a severe ALS speaker's
    # slow /pa/ showed extra lip cycles (17% on one clip of 24 at this seed); from the adapted
    # landmarks every clip agrees within 5%.
    assert figures["video_missing"] == 0 and figures["video_within_10pct"] >= 0.9


def test_the_clips_hold_several_attempts(cohort):
    ddk = cohort[cohort["task"].isin(["DDK_PA", "DDK_PATAKA"])]
    assert (ddk["n_trains"] >= 2).mean() >= 0.9
    assert (cohort.loc[cohort["task"] == "BBP_NORMAL", "n_trains"] >= 2).all()


def test_smile_asymmetry_finds_the_weak_side_and_keeps_controls_low(cohort):
    figures = smile_truth_figures(cohort)
    assert figures["weak_side_right"] >= 0.9
    medians = figures["median_by_group"]
    assert medians["HC"] < medians["PS"] / 3
    assert figures["spearman_stroke"] >= 0.8


def test_smile_asymmetry_ranks_the_true_left_right_difference_over_all_visits(cohort):
    # From the generic model's landmarks this reads 0.72 at this seed (0.64 at seed 21): dlib
    # registers only part of a one-sided smile and errs by about 0.01 inter-ocular distances per
    # side in controls, the size of their natural asymmetry. The subject models, trained on every
    # annotated frame of the subject (the smile clip's included), read 0.87 (0.80 at seed 21).
    assert smile_truth_figures(cohort)["spearman_all"] >= 0.8


def test_adapted_models_cut_the_held_out_mouth_error_by_at_least_30_percent(truth_run):
    # Each video's annotated frames fitted by a subject model trained on the subject's other
    # videos, against the true landmarks: -43% at this seed (-51% at seed 21). Not on every task:
    # on the smile clips held out it is +15% (-4% at seed 21); no other task shows a smile, a
    # likely reason. The smile is measured with models that saw its own annotated frames.
    figures = heldout_mouth_figures(truth_run["data"], truth_run["run"])
    assert figures["subjects"] == 3 * truth_run["subjects_per_group"]
    assert figures["change_pct"] <= -30


def test_adapted_landmarks_bring_the_smile_asymmetry_closer_to_the_truth(cohort, generic):
    before, after = smile_truth_figures(generic), smile_truth_figures(cohort)
    # Post-stroke median of measured / true asymmetry: 0.72 -> 1.03 at this seed.
    assert abs(after["registered"] - 1) < abs(before["registered"] - 1)
    assert after["spearman_all"] > before["spearman_all"]


def test_jitter_ranks_the_injected_jitter(cohort):
    sentence = cohort[cohort["task"] == "BBP_NORMAL"].dropna(subset=["voice__jitter_local_pct"])
    assert len(sentence) >= 20, "jitter should be measurable on nearly every sentence clip"
    assert spearmanr(sentence["voice__jitter_local_pct"], sentence["voice_jitter_pct"]).statistic >= 0.8


def test_video_and_audio_share_the_file_clock(truth_run, cohort):
    """The first frame is at pts 1 (0.02 s): landmark times and syllable onsets are both on the
    file's clock, so each /pa/ onset heard lines up with the one the phantom made, within a frame."""
    run, data = truth_run["run"], truth_run["data"]
    events = pd.read_csv(data / "truth" / "events.csv")
    offsets = []
    for rid in cohort.loc[cohort["task"] == "DDK_PA", "recording_id"]:
        tracked = pd.read_parquet(run / "cache" / "landmarks" / f"{rid}.parquet")
        truth = pd.read_parquet(data / "truth" / "landmarks" / f"{rid}.parquet")
        assert tracked["time_s"].iloc[0] == pytest.approx(FRAME_S)
        np.testing.assert_allclose(tracked["time_s"], truth["time_s"], atol=1e-9)
        stored = cache.read_parquet_metadata(run / "cache" / "audio" / f"{rid}.parquet")
        assert stored["start_s"] == pytest.approx(FRAME_S)  # the sound starts with the first frame
        heard = np.asarray(stored["ddk"]["onset_times_s"])
        made = events.loc[events["recording_id"] == rid, "onset_s"].to_numpy()
        offsets += [heard[np.argmin(np.abs(heard - t))] - t for t in made]
    assert abs(np.median(offsets)) < FRAME_S

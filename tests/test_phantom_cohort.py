"""The phantom cohort: NeuroFace layout, truth that dlib agrees with, the adapter, determinism."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from core.tasks import NEUROFACE
from features.video.decode import iter_frames
from features.video.landmarks import landmark_array, track_landmarks
from phantom import design
from phantom.__main__ import main as phantom_command
from phantom.generate import PhantomParams, clip_scores, cohort_of, generate, subject_room
from phantom.schedule import LEAD_IN_S
from pipeline import manifest as manifest_mod
from pipeline.cli import main as cli
from pipeline.neuroface import place_neuroface

from tests.conftest import SMALL_PHANTOM_TASKS as TASKS

PARAMS = PhantomParams(subjects_per_group=2, stroke_subjects=2, followup_share=0.5, seed=3, clip_s=2.0)


@pytest.fixture
def phantom(small_phantom):
    return small_phantom


def test_layout_follows_the_neuroface_release(phantom):
    videos = sorted(p.name for p in phantom.rglob("*_color.avi"))
    truth = pd.read_csv(phantom / "truth" / "subjects.csv", dtype={"visit": str})
    n_visits = len(truth)
    assert len(videos) == n_visits * len(TASKS)
    assert (phantom / "stroke" / "Videos_and_metadata" / "S001_02_NSM_SPREAD_color.avi").is_file()
    assert (phantom / "als" / "Landmarks_gt" / "A001_02_DDK_PA_color.txt").is_file()
    marks = pd.read_csv(phantom / "healthy_controls" / "Landmarks_gt" / "N001_02_DDK_PA_color.txt")
    assert list(marks.columns[:3]) == ["Frame", "x1", "y1"] and marks.shape[1] == 137
    assert 6 <= len(marks) <= 15
    book = pd.read_excel(phantom / "stroke" / "SLP_Assessment_PS.xlsx")
    assert {"File Name", "Subject ID", "SLP1 Symmetry", "SLP2 Tot"} <= set(book.columns)
    items = ["Symmetry", "ROM", "Speed", "Variability", "Fatigue"]
    assert (book[[f"SLP1 {i}" for i in items]].sum(axis=1) == book["SLP1 Tot"]).all()
    assert book[[f"SLP2 {i}" for i in items]].isin([1, 2, 3, 4, 5]).all().all()
    # a stroke subset is seen again at visit 03, its frames annotated at the first visit only
    followed = truth[truth["visit"] == "03"]
    assert len(followed) == 1 and followed["group"].eq("PS").all()
    again = followed["subject_id"].iloc[0]
    assert (phantom / "stroke" / "Landmarks_gt" / f"{again}_02_DDK_PA_color.txt").is_file()
    assert not list(phantom.rglob(f"{again}_03_*.txt"))


def test_adapter_places_every_file_and_joins_scores(phantom, tmp_path):
    placed = place_neuroface(phantom, tmp_path)
    table = placed.manifest
    assert placed.unplaced == []
    assert placed.counts["videos"] == len(list(phantom.rglob("*_color.avi")))
    assert placed.counts["videos"] == placed.counts["with_scores"]
    assert placed.counts["with_manual_landmarks"] == (table["visit"] == "02").sum() < len(table)
    assert set(table["group"]) == {"HC", "PS", "ALS"}
    row = table.set_index("recording_id").loc["S001_02_NSM_SPREAD"]
    assert row["subject_id"] == "S001" and row["visit"] == "02" and row["task"] == "NSM_SPREAD"
    assert row["score_mean_tot"] == pytest.approx((row["score_slp1_tot"] + row["score_slp2_tot"]) / 2)
    truth = pd.read_csv(phantom / "truth" / "subjects.csv").drop_duplicates("subject_id").set_index("subject_id")
    assert row["sex"] == truth.loc["S001", "sex"] and float(row["age"]) == truth.loc["S001", "age"]


def test_adapter_manifest_validates_with_neuroface_like_media(phantom):
    path = phantom / "data_manifest.csv"
    assert cli(["manifest", "--layout", "neuroface", str(phantom), "--out", str(path)]) == 0
    table, media, issues = manifest_mod.validate(path)
    assert [str(i) for i in issues] == []
    assert (media["video_fps"] == 50).all() and (media["video_width"] == 640).all()
    assert (media["video_height"] == 480).all() and (media["video_audio_rate"] == 44100).all()
    assert (media["video_n_frames"] == 100).all()


def test_truth_landmarks_lie_on_the_face_dlib_finds(phantom):
    """Neutral frames (before the first movement): dlib within 5% of the inter-ocular distance."""
    errors = []
    for rid, group in (("N001_02_NSM_SPREAD", "healthy_controls"), ("S002_02_DDK_PA", "stroke"),
                       ("A001_02_NSM_SPREAD", "als")):
        folder = "Videos_and_metadata" if group == "stroke" else "Videos"
        video = phantom / group / folder / f"{rid}_color.avi"
        table, info = track_landmarks(iter_frames(video))
        truth = landmark_array(pd.read_parquet(phantom / "truth" / "landmarks" / f"{rid}.parquet"))
        assert info["face_share"] == 1.0
        neutral = table["time_s"].to_numpy() - table["time_s"].iloc[0] < LEAD_IN_S
        found = landmark_array(table)[neutral]
        iod = np.linalg.norm(truth[neutral, 36] - truth[neutral, 45], axis=1)
        errors.append(np.mean(np.linalg.norm(found - truth[neutral], axis=2).mean(axis=1) / iod))
    assert max(errors) < 0.05, errors


def test_lips_close_at_each_syllable_onset(phantom):
    events = pd.read_csv(phantom / "truth" / "events.csv")
    rid = "N002_02_DDK_PA"
    onsets = events.loc[events["recording_id"] == rid, "onset_s"].to_numpy()
    truth = landmark_array(pd.read_parquet(phantom / "truth" / "landmarks" / f"{rid}.parquet"))
    aperture = np.linalg.norm(truth[:, 62] - truth[:, 66], axis=1)
    at_onsets = aperture[np.rint(onsets * PARAMS.fps).astype(int)]
    between = aperture[np.rint((onsets[:-1] + np.diff(onsets) / 2) * PARAMS.fps).astype(int)]
    assert len(onsets) >= 6
    # the photo's lips are parted at rest (a smile with teeth), so closure is relative to rest
    assert np.all(at_onsets < 0.5 * aperture[0])
    assert np.all(between > 2 * at_onsets[:-1])


def test_rerun_writes_nothing_and_same_seed_gives_same_truth(phantom, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in phantom.rglob("*.avi")}
    generate(phantom, PARAMS, workers=1, tasks=TASKS)
    assert {p: p.stat().st_mtime_ns for p in phantom.rglob("*.avi")} == before
    again = tmp_path / "again"
    generate(again, PARAMS, workers=1, tasks=("DDK_PA",))
    rid = "S001_02_DDK_PA"
    a = pd.read_parquet(phantom / "truth" / "landmarks" / f"{rid}.parquet")
    b = pd.read_parquet(again / "truth" / "landmarks" / f"{rid}.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_follow_up_annotations_are_written_on_request_and_removed_when_not(tmp_path):
    annotated = dataclasses.replace(PARAMS, clip_s=1.5, annotate_followups=True)
    generate(tmp_path, annotated, workers=2, tasks=("NSM_SPREAD",))
    truth = pd.read_csv(tmp_path / "truth" / "subjects.csv", dtype={"visit": str})
    subject = truth.loc[truth["visit"] == "03", "subject_id"].iloc[0]
    marks = tmp_path / "stroke" / "Landmarks_gt"
    followup, baseline = (marks / f"{subject}_{visit}_NSM_SPREAD_color.txt" for visit in ("03", "02"))
    assert followup.is_file()
    first = baseline.read_text()
    generate(tmp_path, dataclasses.replace(annotated, annotate_followups=False), workers=2,
             tasks=("NSM_SPREAD",))
    # the earlier cohort's file would otherwise be read as an annotation of the new clip
    assert not followup.exists()
    assert baseline.read_text() == first


def test_nothing_but_the_impairment_depends_on_group():
    """Sex, age, identity and recording room are drawn the same whatever the group."""
    params = PhantomParams()
    for index in range(6):
        subjects = [design.draw_subject(g, 1, index, seed=11) for g in ("HC", "PS", "ALS")]
        shared = {(s.sex, s.age, s.identity_seed) for s in subjects}
        assert len(shared) == 1
        rooms = {subject_room(params, s) for s in subjects}
        assert len(rooms) == 1
    hc, ps, als = (design.draw_subject(g, 1, 0, seed=11) for g in ("HC", "PS", "ALS"))
    assert hc.facial_weakness == 0 and ps.facial_weakness > 0 and ps.weak_side in ("left", "right")
    assert als.bilateral > hc.bilateral


def test_followup_recovery_follows_baseline():
    baseline = design.draw_subject("PS", 1, 4, seed=2)
    later = design.followup(baseline, seed=2)
    assert later.visit == design.FOLLOWUP_VISIT
    assert later.facial_weakness == pytest.approx(baseline.facial_weakness * (1 - later.improvement))
    worse = dataclasses.replace(baseline, facial_weakness=0.8, dysarthria=0.7)
    better = dataclasses.replace(baseline, facial_weakness=0.2, dysarthria=0.1)
    assert design.recovery(worse, seed=2)[0] < design.recovery(better, seed=2)[0]


def test_phantom_command_rejects_bad_options(tmp_path):
    assert phantom_command(["--out", str(tmp_path), "--subjects", "1"]) == 2
    assert phantom_command(["--out", str(tmp_path), "--stroke-subjects", "1"]) == 2
    assert phantom_command(["--out", str(tmp_path), "--tasks", "NSM_SMILE"]) == 2


def demo_subject_table(params: PhantomParams) -> pd.DataFrame:
    """The subject table a run of the demo cohort gives for recovery, without rendering a clip:
    the SLP totals the phantom writes into its workbooks (both raters' mean, averaged over the
    visit's tasks as ``assemble`` does) and face and voice features that read the true
    severities with noise."""
    rng = np.random.default_rng(0)
    rows = []
    for truth in cohort_of(params):
        totals = [clip_scores(params, truth, task) for task in NEUROFACE]
        rows.append({"subject_id": truth.subject_id, "visit": truth.visit, "group": truth.group,
                     "score_mean_tot": float(np.mean([(t["SLP1 Tot"] + t["SLP2 Tot"]) / 2 for t in totals])),
                     "face__NSM_SPREAD__commissure_excursion_asym_pct": 40 * truth.facial_weakness + rng.normal(0, 4),
                     "voice__BBP_NORMAL__jitter_local_pct": 0.4 + 2 * truth.dysarthria + rng.normal(0, 0.2),
                     "meta__age": truth.age})
    return pd.DataFrame(rows)


def test_the_demo_cohort_trains_recovery_without_skipping(tmp_path):
    """The default phantom (the demo's cohort) follows up enough post-stroke subjects that the
    recovery its SLP totals show holds at least three subjects of each outcome: every outer
    training part then allows an inner split, and recovery trains with its baseline-severity
    comparison instead of being skipped (with six followed up, the totals called two
    recovered, and it was)."""
    from models.cv import MIN_INNER_SPLITS
    from models.modalities import BENCHMARK_SET
    from pipeline.train import TrainSettings, train_targets

    params = PhantomParams()
    settings = TrainSettings(targets=("recovery",), models=("xgb",), folds=5, seed=0, permutations=0,
                             fusion_permutations=0, bootstrap=100, permutation_repeats=1,
                             control_excluded_tasks=())
    metrics = train_targets(demo_subject_table(params), settings, tmp_path).metrics
    assert metrics["skipped_targets"] == {}
    summary = metrics["targets"]["recovery"]
    plan = summary["evaluation_plan"]
    assert summary["n_subjects"] == plan["n_subjects"] == params.stroke_subjects
    assert min(plan["subjects_per_class"].values()) >= 3, plan
    assert min(plan["inner_splits"]) >= MIN_INNER_SPLITS, plan
    benchmark = summary["models"]["xgb"]["benchmark"]
    assert {(b["modality_set"], b["benchmark_set"]) for b in benchmark} >= {("all", BENCHMARK_SET)}

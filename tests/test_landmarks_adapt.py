"""``run --adapt`` on a small phantom: landmarks-train writes models, cards, the choice and the
evaluation table; each recording is tracked with the model chosen for it; the model is part of
the landmark cache key."""
from __future__ import annotations

import dataclasses
import json
import shutil

import pandas as pd
import pytest

from features.video.landmark_error import ERROR_REGIONS
from pipeline import cache
from pipeline.cli import main as cli
from pipeline.landmarks import tracking_key
from pipeline.landmarks_train import ADAPTATION_TABLE
from pipeline.shape_models import CHOICE_FILE, GENERIC, ModelChoice, read_choice

# Small models: this checks the plumbing; tests/test_shape_training.py and the truth tests check
# what adaptation gains.
FAST = ["--trees", "30", "--cascade-depth", "4", "--oversampling", "5"]


@pytest.fixture(scope="module")
def adapted(small_phantom, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt")
    data = root / "data"
    shutil.copytree(small_phantom, data)
    manifest = root / "data_manifest.csv"
    assert cli(["manifest", "--layout", "neuroface", str(data), "--out", str(manifest)]) == 0
    run = root / "run"
    assert cli(["run", "--manifest", str(manifest), "--out", str(run), "--to", "landmarks",
                "--adapt", "--workers", "2", *FAST]) == 0
    return {"manifest": manifest, "run": run}


def test_models_come_with_cards_that_say_they_identify_people(adapted):
    folder = adapted["run"] / "shape_models"
    models = sorted(folder.glob("*.dat"))
    assert models, "the small phantom's subjects share one face: some model should win"
    assert (folder / "IDENTIFIABLE.txt").is_file()
    for model in models:
        card = json.loads(model.with_suffix(".json").read_text())
        assert card["identifiable"] is True
        assert card["sha256"] == cache.file_digest(model)
        assert card["dlib_version"] and card["options"]["trees_per_level"] == 30
        assert card["training"]["n_frames"] == len(card["training"]["frames"]) > 0
        assert card["evaluation"]["nme_adapted"] < card["evaluation"]["nme_generic"]
        assert model.read_bytes()[:2] != b"\x80\x04"  # dlib's format, not a pickle


def test_the_evaluation_table_compares_both_models_on_the_same_frames(adapted):
    table = pd.read_csv(adapted["run"] / ADAPTATION_TABLE)
    assert set(table["region"]) == set(ERROR_REGIONS)
    assert {"all", "group", "task"} <= set(table["by"])
    assert set(table.loc[table["by"] == "group", "level"]) <= {"HC", "ALS", "PS"}
    cohort = table[(table["model"] == "cohort") & (table["by"] == "all")]
    assert (cohort["n_subjects"] == 6).all()
    assert (cohort["change_ci_low"] <= cohort["change"]).all()
    assert (cohort["change"] <= cohort["change_ci_high"]).all()


def test_each_recording_is_tracked_with_the_model_chosen_for_its_subject(adapted):
    run = adapted["run"]
    choice = pd.read_csv(run / "shape_models" / CHOICE_FILE, dtype=str, keep_default_na=False)
    quality = pd.read_parquet(run / "landmarks_quality.parquet")
    validated = pd.read_parquet(run / "manifest.validated.parquet")
    expected = validated.merge(choice[choice["scope"] == "subject"], on="subject_id")
    merged = quality.merge(expected[["recording_id", "model", "sha256"]], on="recording_id")
    assert len(merged) == len(validated)
    assert (merged["shape_model"] == merged["model"]).all()
    for row in merged.itertuples():
        stored = cache.read_parquet_metadata(run / "cache" / "landmarks" / f"{row.recording_id}.parquet")
        assert stored["shape_model"]["name"] == row.model
        if row.model != GENERIC:
            assert stored["shape_model"]["sha256"] == row.sha256
    # the phantom's follow-up visit has no manual frames, and is tracked with its subject's model all
    # the same; the generic tables of the annotated recordings stay for the before/after comparison
    annotated = validated.loc[validated["landmarks_path"] != "", "recording_id"]
    assert validated["visit"].eq("03").any()
    assert set(validated.loc[validated["visit"] == "03", "recording_id"]).isdisjoint(annotated)
    generic = {p.stem for p in (run / "cache" / "landmarks_generic").glob("*.parquet")}
    assert generic == set(annotated)


def test_the_cache_key_changes_with_the_model(adapted):
    run, manifest = adapted["run"], adapted["manifest"]
    item = {"file": str(next((run.parent / "data").rglob("*.avi"))), "params": {"a": 1},
            "code": "c", "model": dataclasses.asdict(ModelChoice("cohort", "m.dat", "1" * 64, ""))}
    other = {**item, "model": {**item["model"], "sha256": "2" * 64}}
    assert tracking_key(item) != tracking_key(other)
    # Back to the generic model: exactly the recordings fitted with an adapted model are redone.
    quality = pd.read_parquet(run / "landmarks_quality.parquet")
    before = {p.name: p.stat().st_mtime_ns for p in (run / "cache" / "landmarks").glob("*.parquet")}
    assert cli(["landmarks", "--manifest", str(manifest), "--out", str(run)]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (run / "cache" / "landmarks").glob("*.parquet")}
    redone = {name[:-len(".parquet")] for name in before if before[name] != after[name]}
    assert redone == set(quality.loc[quality["shape_model"] != GENERIC, "recording_id"])
    assert (pd.read_parquet(run / "landmarks_quality.parquet")["shape_model"] == GENERIC).all()


def test_an_unchanged_cohort_is_not_trained_again(adapted):
    run, manifest = adapted["run"], adapted["manifest"]
    models = {p.name: p.stat().st_mtime_ns for p in (run / "shape_models").glob("*.dat")}
    assert cli(["landmarks-train", "--manifest", str(manifest), "--out", str(run), *FAST]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (run / "shape_models").glob("*.dat")} == models


def test_a_changed_model_file_is_refused(adapted, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(adapted["run"] / "shape_models", folder)
    model = next(folder.glob("*.dat"))
    model.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(Exception, match="has changed since the choice was made"):
        read_choice(folder)


def test_models_are_the_same_whether_the_frames_were_kept_while_tracking_or_decoded_again(
        adapted, tmp_path):
    """The first training learnt from crops kept during the generic tracking; with the generic
    tables up to date a retraining decodes the videos again, and must learn the same models."""
    run = tmp_path / "run"
    shutil.copytree(adapted["run"], run)
    first = {p.name: cache.file_digest(p) for p in (run / "shape_models").glob("*.dat")}
    validated = pd.read_parquet(run / "manifest.validated.parquet")
    n_recordings = (validated["landmarks_path"] != "").sum()
    log = (run / "logs" / "avstroke.log").read_text()
    assert f"; {n_recordings} recordings' frames kept while tracking)" in log
    (run / "shape_models" / CHOICE_FILE).unlink()
    assert cli(["landmarks-train", "--manifest", str(adapted["manifest"]), "--out", str(run),
                *FAST]) == 0
    assert "; 0 recordings' frames kept while tracking)" in (run / "logs" / "avstroke.log").read_text()
    assert {p.name: cache.file_digest(p) for p in (run / "shape_models").glob("*.dat")} == first


def test_a_bad_landmark_file_fails_its_recording_only_with_its_manifest_row(adapted, tmp_path):
    """An unreadable file and a file of frames the video does not have: both recordings are still
    tracked, both are listed in errors.csv with their manifest row, the rest is learnt from."""
    root = tmp_path / "cohort"
    shutil.copytree(adapted["manifest"].parent / "data", root / "data")
    shutil.copy(adapted["manifest"], root / "manifest.csv")  # paths relative to its folder
    manifest = pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)
    unreadable, outside = (root / path for path in manifest["landmarks_path"].iloc[:2])
    with open(unreadable, "w") as fh:
        fh.write("not, a, landmark, file\n")
    lines = open(outside).read().splitlines()
    lines[1] = "99999" + lines[1][lines[1].index(","):]
    with open(outside, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    run = tmp_path / "run"
    assert cli(["run", "--manifest", str(root / "manifest.csv"), "--out", str(run), "--to",
                "landmarks-train", "--adapt", "--workers", "2", *FAST]) == 0
    errors = pd.read_csv(run / "errors.csv", dtype=str)
    failed = errors[errors["stage"] == "landmarks-train"].set_index("recording_id")["message"]
    assert set(failed.index) == set(manifest["recording_id"].iloc[:2])
    assert "manifest row 2: " in failed[manifest["recording_id"].iloc[0]]
    assert "header has 4 columns" in failed[manifest["recording_id"].iloc[0]]
    assert "manifest row 3: " in failed[manifest["recording_id"].iloc[1]]
    assert "outside the video" in failed[manifest["recording_id"].iloc[1]]
    assert len(list((run / "cache" / "landmarks_generic").glob("*.parquet"))) == (
        manifest["landmarks_path"] != "").sum()
    frames = pd.read_parquet(run / "landmarks_adaptation_frames.parquet")
    assert not set(frames["recording_id"]) & set(failed.index)

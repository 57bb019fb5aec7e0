"""``avstroke predict`` on small synthetic tables and bundles: a visit lacking a task a model was
trained on is refused naming the task, ``--allow-partial`` scores it with the imputed tasks marked
and no missing feature among the reasons, a single clip gets only the models trained on its
task alone, and of a model set only the bundles its manifest lists score, a damaged one refused
by name."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, ModelMismatchError
from core.tasks import NEUROFACE
from models import artifacts, modelset
from models.explain import shap_contributions
from models.scoring import missing_tasks, tasks_by_visit, trained_tasks
from models.xgb import MODEL_FILE, fit_xgb
from pipeline import predict
from reports.importance import plain_name, ranked_reasons, signed_contributions

SMILE = "face__NSM_SPREAD__commissure_excursion_asym_pct"
PA = "ddk__DDK_PA__syllable_rate"
AGE = "meta__age"
# One small XGBoost setting: no inner search.
SETTING = {"grid": [{"max_depth": 2, "n_estimators": 30, "learning_rate": 0.3, "min_child_rows": 1}]}


def training_table(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Subjects whose class is decided by the /pa/ rate, with the smile asymmetry a weaker sign."""
    rng = np.random.default_rng(seed)
    pa = rng.normal(5.0, 1.0, n)
    smile = rng.normal(20.0, 5.0, n)
    table = pd.DataFrame({"subject_id": [f"T{i:03d}" for i in range(n)], SMILE: smile, PA: pa,
                          AGE: rng.normal(60.0, 10.0, n)})
    return table, ((pa < 5.0) | (smile > 28.0)).astype(int)


def save_model(folder: Path, columns: list, spec: str, table=None) -> Path:
    """Fit XGBoost on ``columns`` of the training table and save it as ``avstroke train`` does."""
    if table is None:
        table, y = training_table()
    else:
        y = np.arange(len(table)) % 2
    model = fit_xgb(table[columns], y, table["subject_id"], task_type="binary", n_classes=2, seed=0,
                    params=SETTING)
    artifacts.save_bundle(folder, model=model, class_labels=["HC", "PS"], target=f"what {spec} predicts")
    artifacts.write_model_card(folder, metadata={"target": spec}, date="2026-01-01")
    return folder


def save_model_set(root: Path, columns_of: dict) -> Path:
    """A model set as ``avstroke train`` leaves it: one XGBoost bundle per target specification
    (``columns_of``: specification -> columns) and the manifest listing them."""
    for spec, columns in columns_of.items():
        save_model(modelset.bundle_folder(root, spec, "xgb"), columns, spec)
    modelset.write_manifest(root, {"targets": {spec: {"description": f"what {spec} predicts", "models": {"xgb": {}}}
                                               for spec in columns_of}})
    return root


@pytest.fixture(scope="module")
def models_root(tmp_path_factory) -> Path:
    """Two bundles: one trained on the smile and /pa/ tasks, one on /pa/ alone (plus age)."""
    return save_model_set(tmp_path_factory.mktemp("models"),
                          {"group:PS-vs-HC": [SMILE, PA, AGE], "group:PS-vs-HC-pa": [PA, AGE]})


@pytest.fixture(scope="module")
def both_tasks(models_root):
    return predict.load_model(modelset.bundle_folder(models_root, "group:PS-vs-HC", "xgb"))


@pytest.fixture(scope="module")
def pa_only(models_root):
    return predict.load_model(modelset.bundle_folder(models_root, "group:PS-vs-HC-pa", "xgb"))


def new_input() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recording- and subject-level tables of three new subjects (first visit "01").

    FULL recorded both tasks; SMILE_ONLY recorded only the smile; FAILED recorded both, but its
    /pa/ rate could not be computed (NaN).
    """
    recordings = pd.DataFrame({"subject_id": ["FULL", "FULL", "SMILE_ONLY", "FAILED", "FAILED"],
                               "visit": "01",
                               "task": ["NSM_SPREAD", "DDK_PA", "NSM_SPREAD", "NSM_SPREAD", "DDK_PA"]})
    table = pd.DataFrame({"subject_id": ["FULL", "SMILE_ONLY", "FAILED"], "visit": "01",
                          SMILE: [18.0, 20.0, 35.0], PA: [3.5, np.nan, np.nan], AGE: [70.0, 55.0, 55.0]})
    return recordings, table


# ---------------------------------------------------------------- tasks of a model and of an input


def test_trained_tasks_in_column_order_and_columns_without_a_task_belong_to_none():
    columns = [AGE, "face__NSM_SPREAD__a", "ddk__DDK_PA__b", "face__NSM_SPREAD__c", "meta__sex_female"]
    assert trained_tasks(columns) == ["NSM_SPREAD", "DDK_PA"]
    assert trained_tasks([AGE]) == []


def test_tasks_present_per_visit_and_the_missing_ones():
    recordings, _ = new_input()
    present = tasks_by_visit(recordings)
    assert present == {("FULL", "01"): {"NSM_SPREAD", "DDK_PA"}, ("SMILE_ONLY", "01"): {"NSM_SPREAD"},
                       ("FAILED", "01"): {"NSM_SPREAD", "DDK_PA"}}
    assert missing_tasks(["BBP_NORMAL", "DDK_PA", "NSM_SPREAD"], present[("SMILE_ONLY", "01")]) == \
        ["BBP_NORMAL", "DDK_PA"]


def test_a_model_is_named_by_its_card_and_needs_only_the_tasks_that_reach_it(both_tasks, pa_only, tmp_path):
    assert (both_tasks.name, both_tasks.tasks) == ("group:PS-vs-HC/xgb", ("NSM_SPREAD", "DDK_PA"))
    assert (pa_only.name, pa_only.tasks) == ("group:PS-vs-HC-pa/xgb", ("DDK_PA",))
    # A task whose every column was constant on the training rows was dropped by the
    # preprocessing: the model never reads it, so an input need not hold it.
    table, _ = training_table(20)
    table[SMILE] = 1.0
    dropped = predict.load_model(save_model(tmp_path / "m", [SMILE, PA, AGE], "x", table=table))
    assert dropped.bundle.feature_columns == [SMILE, PA, AGE]
    assert dropped.tasks == ("DDK_PA",)


# ---------------------------------------------------------------- refusing, or scoring with marks


def test_a_visit_lacking_a_trained_task_is_refused_naming_it_and_the_others_are_scored(both_tasks):
    recordings, table = new_input()
    scored, refused = predict.score(table, tasks_by_visit(recordings), both_tasks, top=3,
                                    allow_partial=False, tasks=NEUROFACE)
    assert scored["subject_id"].tolist() == ["FAILED", "FULL"]
    assert (scored["imputed_tasks"] == "").all()
    assert refused[["subject_id", "visit", "missing_tasks"]].values.tolist() == [["SMILE_ONLY", "01", "DDK_PA"]]
    assert "trained on NSM_SPREAD, DDK_PA; the input lacks DDK_PA" in refused.loc[0, "reason"]
    assert list(refused.columns) == predict.REFUSAL_COLUMNS


def test_allow_partial_scores_marks_the_imputed_task_and_never_gives_it_as_a_reason(both_tasks):
    recordings, table = new_input()
    scored, refused = predict.score(table, tasks_by_visit(recordings), both_tasks, top=1,
                                    allow_partial=True, tasks=NEUROFACE)
    assert refused.empty
    row = scored.set_index("subject_id").loc["SMILE_ONLY"]
    assert row["imputed_tasks"] == "DDK_PA" and row["n_missing_features"] == 1
    # Unfiltered, the missing /pa/ rate is this subject's largest contribution: the filter is what
    # keeps it out of the reasons.
    X = table.loc[table["subject_id"] == "SMILE_ONLY", [SMILE, PA, AGE]]
    contributions = signed_contributions(shap_contributions(both_tasks.bundle.model, X))[0]
    assert ranked_reasons(contributions, top=1)[0] == [1]
    assert plain_name(PA, NEUROFACE) not in row["top_reasons"]
    assert row["top_reasons"].startswith(plain_name(SMILE, NEUROFACE) + " = 20 (")
    assert row["n_reasons_left_out"] == 1


def test_a_nan_feature_of_a_recorded_task_is_counted_and_never_a_reason(both_tasks):
    recordings, table = new_input()
    scored, _ = predict.score(table, tasks_by_visit(recordings), both_tasks, top=3, allow_partial=False,
                              tasks=NEUROFACE)
    row = scored.set_index("subject_id").loc["FAILED"]
    assert row["imputed_tasks"] == "" and row["n_missing_features"] == 1
    assert plain_name(PA, NEUROFACE) not in row["top_reasons"] and row["n_reasons_left_out"] == 1
    full = scored.set_index("subject_id").loc["FULL"]
    assert plain_name(PA, NEUROFACE) in full["top_reasons"] and full["n_reasons_left_out"] == 0


def test_ranked_reasons_skip_left_out_features_and_count_those_ranked_ahead():
    contributions = np.array([0.1, -0.5, 0.0, 0.3])
    assert ranked_reasons(contributions, top=2) == ([1, 3], 0)
    assert ranked_reasons(contributions, top=2, leave_out=[False, True, False, False]) == ([3, 0], 1)
    # Left out, but ranked after the last reason listed: not counted.
    assert ranked_reasons(contributions, top=1, leave_out=[True, False, False, False]) == ([1], 0)
    # A zero contribution is never a reason.
    assert ranked_reasons(contributions, top=5, leave_out=[False, True, False, False]) == ([3, 0], 1)
    with pytest.raises(ConfigError, match="leave_out"):
        ranked_reasons(contributions, top=1, leave_out=[True])


# ---------------------------------------------------------------- a single clip


def clip_args(task: str, allow_partial: bool = False) -> argparse.Namespace:
    return argparse.Namespace(video=Path("clip.avi"), subject="NEW1", task=task, allow_partial=allow_partial)


def test_a_single_clip_gets_only_the_models_trained_on_its_task_alone(both_tasks, pa_only):
    models = [both_tasks, pa_only]
    assert predict.choose_models(models, clip_args("DDK_PA")) == [pa_only]
    with pytest.raises(ModelMismatchError) as refusal:
        predict.choose_models(models, clip_args("NSM_SPREAD"))
    message = str(refusal.value)
    assert "subject NEW1: no trained model uses only NSM_SPREAD" in message
    assert "group:PS-vs-HC/xgb needs NSM_SPREAD, DDK_PA" in message
    assert "group:PS-vs-HC-pa/xgb needs DDK_PA" in message
    assert predict.choose_models(models, clip_args("NSM_SPREAD", allow_partial=True)) == models


# ---------------------------------------------------------------- the command's files and exit code


def write_features(out: Path) -> None:
    recordings, table = new_input()
    (out / "features").mkdir(parents=True)
    recordings.to_parquet(out / "features" / "recordings.parquet")
    table.to_parquet(out / "features" / "table.parquet")


@pytest.mark.parametrize("allow_partial", [False, True])
def test_predict_writes_predictions_and_refusals_and_exits_1_when_anything_was_refused(
        models_root, tmp_path, monkeypatch, allow_partial):
    # Extraction is replaced by a ready feature table; everything after it runs as in the command.
    monkeypatch.setattr(predict, "run_stages", lambda args, stages: 0)
    write_features(tmp_path)
    status = predict.main(["--model", str(models_root), "--out", str(tmp_path)]
                          + (["--allow-partial"] if allow_partial else []))
    predictions = pd.read_csv(tmp_path / "predictions.csv", keep_default_na=False)
    refused = pd.read_csv(tmp_path / "refused.csv", keep_default_na=False)
    if allow_partial:
        assert status == 0 and refused.empty and list(refused.columns) == predict.REFUSAL_COLUMNS
        assert len(predictions) == 6
        assert sorted(predictions.loc[predictions["imputed_tasks"] != "", "subject_id"]) == \
            ["SMILE_ONLY", "SMILE_ONLY"]
    else:
        assert status == 1 and len(predictions) == 4
        assert sorted(refused["subject_id"]) == ["SMILE_ONLY", "SMILE_ONLY"]
        assert set(refused["missing_tasks"]) == {"DDK_PA"}
        assert "SMILE_ONLY" not in set(predictions["subject_id"])


# ---------------------------------------------------------------- which bundles of a model set score

AGE_ONLY = "group:PS-vs-HC-age"


@pytest.fixture(scope="module")
def three_models(tmp_path_factory) -> Path:
    """A model set of three bundles; the third reads age alone, so every input has what it needs."""
    return save_model_set(tmp_path_factory.mktemp("three"), {"group:PS-vs-HC": [SMILE, PA, AGE],
                                                            "group:PS-vs-HC-pa": [PA, AGE], AGE_ONLY: [AGE]})


def copy_of(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root, tmp_path / "models"))


def predict_with(root: Path, out: Path, monkeypatch, *options) -> tuple[int, pd.DataFrame, pd.DataFrame, str]:
    """Run the command on ``new_input`` (extraction replaced by the ready tables); its exit status,
    predictions, refusals and log."""
    monkeypatch.setattr(predict, "run_stages", lambda args, stages: 0)
    write_features(out)
    status = predict.main(["--model", str(root), "--out", str(out), *options])
    predictions, refused = (pd.read_csv(out / name, keep_default_na=False)
                            for name in ("predictions.csv", "refused.csv"))
    return status, predictions, refused, (out / "logs" / "avstroke.log").read_text()


def test_a_damaged_listed_bundle_is_refused_by_name_and_the_others_still_score(three_models, tmp_path, monkeypatch):
    root = copy_of(three_models, tmp_path)
    model_file = modelset.bundle_folder(root, "group:PS-vs-HC", "xgb") / MODEL_FILE
    model_file.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    (modelset.bundle_folder(root, "group:PS-vs-HC-pa", "xgb") / artifacts.BUNDLE_FILE).write_text('{"format": ')
    status, predictions, refused, log = predict_with(root, tmp_path / "out", monkeypatch)
    assert status == 1
    assert set(predictions["target"]) == {f"what {AGE_ONLY} predicts"}
    assert sorted(predictions["subject_id"]) == ["FAILED", "FULL", "SMILE_ONLY"]
    assert "ERROR predict: model group:PS-vs-HC/xgb refused: " in log
    assert f"{MODEL_FILE} was changed after the bundle was saved (checksum differs)" in log
    assert "ERROR predict: model group:PS-vs-HC-pa/xgb refused: " in log
    assert f"{artifacts.BUNDLE_FILE} was changed after training (checksum differs from model_set.json's)" in log
    assert not any(word in log for word in ("Traceback", "XGBoostError", "JSONDecodeError"))
    # Every subject-visit is listed as refused for each damaged model, with the reason.
    for spec in ("group:PS-vs-HC", "group:PS-vs-HC-pa"):
        rows = refused[refused["target"] == f"what {spec} predicts"]
        assert sorted(rows["subject_id"]) == ["FAILED", "FULL", "SMILE_ONLY"]
        assert rows["reason"].str.startswith("the model could not be loaded: ").all()


def test_a_listed_bundle_folder_that_is_gone_is_refused_naming_it(three_models, tmp_path, monkeypatch):
    root = copy_of(three_models, tmp_path)
    shutil.rmtree(modelset.bundle_folder(root, "group:PS-vs-HC-pa", "xgb"))
    status, predictions, refused, log = predict_with(root, tmp_path / "out", monkeypatch)
    assert status == 1
    assert "model group:PS-vs-HC-pa/xgb refused: " in log
    assert "is listed in model_set.json but holds no bundle.json; retrain, or restore the folder" in log
    assert set(refused["target"]) == {"what group:PS-vs-HC-pa predicts", "what group:PS-vs-HC predicts"}
    assert len(predictions) == 2 + 3  # FULL and FAILED by the two-task model, everyone by age alone


def test_a_model_set_none_of_whose_models_loads_is_refused_before_extraction(models_root, tmp_path, monkeypatch):
    root = copy_of(models_root, tmp_path)
    for spec in ("group:PS-vs-HC", "group:PS-vs-HC-pa"):
        shutil.rmtree(modelset.bundle_folder(root, spec, "xgb"))
    monkeypatch.setattr(predict, "run_stages", lambda args, stages: pytest.fail("extraction ran"))
    assert predict.main(["--model", str(root), "--out", str(tmp_path / "out")]) == 2
    log = (tmp_path / "out" / "logs" / "avstroke.log").read_text()
    assert f"--model {root}: none of its 2 model(s) can be loaded: group:PS-vs-HC/xgb: " in log


def test_a_bundle_folder_the_manifest_does_not_list_is_ignored_with_a_warning(models_root, tmp_path, monkeypatch):
    root = copy_of(models_root, tmp_path)
    stray = root / "left_over" / "xgb"
    shutil.copytree(modelset.bundle_folder(root, "group:PS-vs-HC", "xgb"), stray)
    status, predictions, refused, log = predict_with(root, tmp_path / "out", monkeypatch, "--allow-partial")
    assert f"WARNING predict: {stray.resolve()} is ignored: model_set.json does not list it" in log
    # Both listed models score every subject; the stray copy scores no one.
    assert status == 0 and refused.empty and len(predictions) == 6
    assert sorted(predictions["target"].unique()) == ["what group:PS-vs-HC predicts", "what group:PS-vs-HC-pa predicts"]


TYPED_SUBJECTS = {"FULL": '=HYPERLINK("http://x","y")', "SMILE_ONLY": "@SUM(1)", "FAILED": "+1"}
TYPED_VISITS = {"FULL": "=1+1", "SMILE_ONLY": "-1+2", "FAILED": "=1+1"}


def test_predictions_and_refusals_hold_no_formula(models_root, tmp_path, monkeypatch):
    # Ids and visits typed like formulas, as if they had passed no validation.
    monkeypatch.setattr(predict, "run_stages", lambda args, stages: 0)
    recordings, table = new_input()
    for frame in (recordings, table):
        frame["visit"] = frame["subject_id"].map(TYPED_VISITS)
        frame["subject_id"] = frame["subject_id"].map(TYPED_SUBJECTS)
    table["manifest_row"] = np.arange(len(table)) + 2
    (tmp_path / "features").mkdir()
    recordings.to_parquet(tmp_path / "features" / "recordings.parquet")
    table.to_parquet(tmp_path / "features" / "table.parquet")
    assert predict.main(["--model", str(models_root), "--out", str(tmp_path)]) == 1
    texts = {name: pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)
             for name in ("predictions.csv", "refused.csv")}
    predictions, refused = texts["predictions.csv"], texts["refused.csv"]
    assert set(zip(predictions["subject_id"], predictions["visit"])) == {
        ("'" + TYPED_SUBJECTS["FULL"], "'=1+1"), ("'+1", "'=1+1")}
    assert set(zip(refused["subject_id"], refused["visit"])) == {("'@SUM(1)", "'-1+2")}
    for name, frame in texts.items():
        cells = list(frame.columns) + [t for t in frame.to_numpy().ravel() if t]
        assert not [t for t in cells if t[0] in "=+-@\t\r"], name
    # Numbers are written as numbers: the probabilities are those the models give.
    present = tasks_by_visit(recordings)
    models, _ = predict.load_models(models_root)
    expected = pd.concat([predict.score(table, present, model, top=5, allow_partial=False, tasks=NEUROFACE)[0]
                          for model in models], ignore_index=True)
    written = pd.read_csv(tmp_path / "predictions.csv")
    for column in ("prob_HC", "prob_PS", "n_missing_features"):
        np.testing.assert_allclose(written[column].to_numpy(float), expected[column].to_numpy(float))


def test_a_refusal_from_an_exception_names_no_file(models_root, tmp_path, monkeypatch):
    private = "Smith John 1961-03-02 smile.avi"

    def mismatch(*args, **kwargs):
        raise ModelMismatchError(f"{private}: features do not match the model")

    monkeypatch.setattr(predict, "run_stages", lambda args, stages: 0)
    monkeypatch.setattr(predict, "score", mismatch)
    write_features(tmp_path)
    pd.DataFrame({"recording_id": ["FULL_01"], "video_path": [f"/data/{private}"]}).to_parquet(
        tmp_path / "manifest.validated.parquet")
    assert predict.main(["--model", str(models_root), "--out", str(tmp_path)]) == 1
    refused = pd.read_csv(tmp_path / "refused.csv")
    assert set(refused["reason"]) == {"[file]: features do not match the model"}

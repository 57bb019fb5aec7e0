"""One training, one model set: ``avstroke train`` swaps in a whole set of bundles, metrics and
out-of-fold predictions at the end, and ``predict`` scores with exactly what ``metrics.json`` lists,
after retraining a subset of targets, after a training killed half way and in a run folder of the
flat layout that came before model sets."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.table import subject_table
from models import artifacts, modelset
import models.xgb
from pipeline import cache, predict, train

REPO = Path(__file__).resolve().parents[1]
BOTH = ["group:PS-vs-HC", "score:score_mean_tot"]
# One XGBoost setting instead of the searched grid, so each training takes about a second.
FAST_GRID = [{"max_depth": 1, "n_estimators": 10, "learning_rate": 0.3, "min_child_rows": 1}]
TRAIN_OPTIONS = ["--models", "xgb", "--folds", "2", "--permutations", "0", "--bootstrap", "20"]


class Killed(BaseException):
    """Stands for the training being killed: nothing in avstroke catches it."""


def cohort(n_per_group: int = 8, seed: int = 0) -> pd.DataFrame:
    """Recording-level table: a smile and a /pa/ recording per subject; the patients' smile is
    more asymmetric and their score follows it."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, prefix in (("HC", "N"), ("PS", "S")):
        for k in range(n_per_group):
            subject, asym = f"{prefix}{k:03d}", rng.normal(28.0 if group == "PS" else 8.0, 4.0)
            common = {"subject_id": subject, "group": group, "visit": "02",
                      "score_mean_tot": 5.0 + 0.4 * asym + rng.normal(0, 0.5), "meta__age": float(rng.integers(40, 80))}
            rows.append({**common, "recording_id": f"{subject}_02_NSM_SPREAD", "task": "NSM_SPREAD",
                         "face__commissure_excursion_asym_pct": asym})
            rows.append({**common, "recording_id": f"{subject}_02_DDK_PA", "task": "DDK_PA",
                         "ddk__syllable_rate": rng.normal(5.0, 1.0)})
    return pd.DataFrame(rows)


def write_features(folder: Path, recordings: pd.DataFrame) -> None:
    (folder / "features").mkdir(parents=True, exist_ok=True)
    cache.write_parquet(recordings, folder / "features" / "recordings.parquet")
    cache.write_parquet(subject_table(recordings), folder / "features" / "table.parquet")


def fast_grid(n_subjects: int) -> list[dict]:
    return [dict(setting) for setting in FAST_GRID]


def train_on(run: Path, targets: list[str], seed: int = 0) -> int:
    return train.main(["--out", str(run), "--targets", ",".join(targets), "--seed", str(seed), *TRAIN_OPTIONS])


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory) -> Path:
    """A run folder with a feature table, trained on ``BOTH`` targets with seed 0."""
    folder = tmp_path_factory.mktemp("trained") / "RUN"
    write_features(folder, cohort())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models.xgb, "default_grid", fast_grid)
        assert train_on(folder, BOTH) == 0
    return folder


@pytest.fixture
def run(trained_once, tmp_path, monkeypatch) -> Path:
    """A copy of ``trained_once`` (its links kept as links), where trainings use the one-setting
    XGBoost grid."""
    monkeypatch.setattr(models.xgb, "default_grid", fast_grid)
    return Path(shutil.copytree(trained_once, tmp_path / "RUN", symlinks=True))


def predict_with(run: Path, out: Path, monkeypatch) -> tuple[int, pd.DataFrame, str]:
    """``avstroke predict --model RUN/models`` on the training cohort's own features (extraction
    replaced by the ready tables); its exit status, predictions and log."""
    monkeypatch.setattr(predict, "run_stages", lambda args, stages: 0)
    write_features(out, cohort())
    status = predict.main(["--model", str(run / "models"), "--out", str(out)])
    return status, pd.read_csv(out / "predictions.csv"), (out / "logs" / "avstroke.log").read_text()


def metrics_of(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def expected_scoring(run: Path) -> set:
    """(target description, model) of every model ``RUN/metrics.json`` lists."""
    return {(summary["description"], model) for summary in metrics_of(run)["targets"].values()
            for model in summary["models"]}


def assert_one_whole_set_in_use(run: Path, targets: list[str]) -> None:
    """``RUN/models`` is one complete set of ``targets``: metrics, out-of-fold predictions,
    manifest and bundle folders agree, and every bundle loads."""
    set_dir = (run / "models").resolve()
    assert set_dir.parent == run / modelset.SETS_FOLDER and not set_dir.name.endswith(modelset.STAGING_SUFFIX)
    assert list(metrics_of(run)["targets"]) == targets
    assert sorted(pd.read_parquet(run / "cv_predictions.parquet")["target"].unique()) == sorted(targets)
    listed = modelset.read_manifest(set_dir)
    assert [entry.name for entry in listed] == [f"{t}/xgb" for t in targets]
    assert sorted(p.parent for p in set_dir.rglob(artifacts.BUNDLE_FILE)) == sorted(e.folder for e in listed)
    for entry in listed:
        modelset.load_listed(entry)


# ---------------------------------------------------------------- retraining a subset


def test_retraining_one_of_two_targets_leaves_exactly_that_target_to_predict(run, tmp_path, monkeypatch):
    assert_one_whole_set_in_use(run, BOTH)
    status, predictions, _ = predict_with(run, tmp_path / "before", monkeypatch)
    assert status == 0 and set(zip(predictions["target"], predictions["model"])) == expected_scoring(run)
    first_set = (run / "models").resolve()

    assert train_on(run, ["score:score_mean_tot"]) == 0
    assert_one_whole_set_in_use(run, ["score:score_mean_tot"])
    assert not first_set.exists() and len(list((run / modelset.SETS_FOLDER).iterdir())) == 1
    status, predictions, _ = predict_with(run, tmp_path / "after", monkeypatch)
    assert status == 0
    assert set(zip(predictions["target"], predictions["model"])) == expected_scoring(run) == \
        {("score_mean_tot at the first visit", "xgb")}
    assert len(predictions) == predictions["subject_id"].nunique() == 16


def test_the_same_training_again_is_up_to_date_and_keeps_the_set(run):
    in_use = (run / "models").resolve()
    assert train_on(run, BOTH) == 0
    assert (run / "models").resolve() == in_use


def test_a_training_whose_every_target_is_skipped_changes_nothing_and_fails(run):
    in_use = (run / "models").resolve()
    assert train_on(run, ["group:ALS-vs-HC"]) == 1
    assert (run / "models").resolve() == in_use
    assert_one_whole_set_in_use(run, BOTH)
    assert list((run / modelset.SETS_FOLDER).iterdir()) == [in_use]


# ---------------------------------------------------------------- a training that dies


def raise_on_second_call(function):
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Killed
        return function(*args, **kwargs)
    return wrapped


def raise_for(name: str):
    """``_replace_with_link`` that dies when it comes to replacing ``RUN/<name>``."""
    replace = modelset._replace_with_link

    def wrapped(path, target, spare):
        if path.name == name:
            raise Killed
        replace(path, target, spare)
    return wrapped


def raise_always(*args, **kwargs):
    raise Killed


# Where the training dies: the function broken, the broken one, and which set must then be in use.
DEATHS = {
    "writing the second bundle": (artifacts, "write_model_card",
                                  lambda: raise_on_second_call(artifacts.write_model_card), "old"),
    "before the metrics link": (modelset, "_replace_with_link", lambda: raise_for(modelset.METRICS_FILE), "old"),
    "before the models link": (modelset, "_replace_with_link", lambda: raise_for(modelset.SET_LINK), "old"),
    "removing the old set": (modelset, "_remove_other_sets", lambda: raise_always, "new"),
}


@pytest.mark.parametrize("death", list(DEATHS))
def test_a_training_that_dies_at_any_step_leaves_one_whole_set_in_use(run, tmp_path, monkeypatch, death):
    old_set = (run / "models").resolve()
    module, name, make_broken, expected = DEATHS[death]
    with monkeypatch.context() as patch:
        patch.setattr(module, name, make_broken())
        with pytest.raises(Killed):
            train_on(run, BOTH, seed=1)
    assert ((run / "models").resolve() == old_set) == (expected == "old")
    assert_one_whole_set_in_use(run, BOTH)
    assert metrics_of(run)["settings"]["seed"] == (0 if expected == "old" else 1)
    status, predictions, _ = predict_with(run, tmp_path / "out", monkeypatch)
    assert status == 0 and set(zip(predictions["target"], predictions["model"])) == expected_scoring(run)
    # The next training clears what the dead one left.
    assert train_on(run, ["score:score_mean_tot"]) == 0
    assert list((run / modelset.SETS_FOLDER).iterdir()) == [(run / "models").resolve()]


def test_a_training_killed_after_writing_its_metrics_is_never_used(run, tmp_path, monkeypatch):
    """SIGKILL, so no clean-up runs: the training stops where it would write the manifest, with
    every bundle, the out-of-fold predictions and metrics.json already in its folder."""
    old_set = (run / "models").resolve()
    driver = ("import sys, time; import models.xgb, models.modelset; from pipeline import train; "
              f"models.xgb.default_grid = lambda n: {FAST_GRID!r}; "
              "models.modelset.write_manifest = lambda *args: time.sleep(600); "
              "sys.exit(train.main(sys.argv[1:]))")
    process = subprocess.Popen([sys.executable, "-c", driver, "--out", str(run), "--targets", "score:score_mean_tot",
                                *TRAIN_OPTIONS], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staged = run / modelset.SETS_FOLDER
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(staged.glob(f"*{modelset.STAGING_SUFFIX}/{modelset.METRICS_FILE}")):
        assert process.poll() is None, "the training ended before it could be killed"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    half = [p for p in staged.iterdir() if p.name.endswith(modelset.STAGING_SUFFIX)]
    assert len(half) == 1 and (half[0] / modelset.METRICS_FILE).is_file()
    assert (run / "models").resolve() == old_set
    assert_one_whole_set_in_use(run, BOTH)
    status, predictions, _ = predict_with(run, tmp_path / "out", monkeypatch)
    assert status == 0 and set(zip(predictions["target"], predictions["model"])) == expected_scoring(run)
    assert len(expected_scoring(run)) == 2
    assert train_on(run, ["score:score_mean_tot"]) == 0
    assert not half[0].exists()


# ---------------------------------------------------------------- a run folder of the flat layout


def test_a_run_folder_of_the_flat_layout_becomes_a_model_set_on_the_next_training(run, tmp_path, monkeypatch):
    # The flat layout: the set's contents as plain files and folders at the top of the run folder.
    set_dir = (run / "models").resolve()
    for name in (modelset.SET_LINK, *modelset.TOP_LEVEL_LINKS):
        (run / name).unlink()
    shutil.move(set_dir / modelset.METRICS_FILE, run / modelset.METRICS_FILE)
    shutil.move(set_dir / f"{modelset.METRICS_FILE}.key", run / f"{modelset.METRICS_FILE}.key")
    shutil.move(set_dir / modelset.CV_PREDICTIONS_FILE, run / modelset.CV_PREDICTIONS_FILE)
    (set_dir / modelset.MANIFEST_FILE).unlink()
    shutil.move(set_dir, run / "models")
    shutil.rmtree(run / modelset.SETS_FOLDER)
    status = predict.main(["--model", str(run / "models"), "--out", str(tmp_path / "refused")])
    assert status == 2
    assert "neither a model bundle (bundle.json) nor a model set (model_set.json)" in \
        (tmp_path / "refused" / "logs" / "avstroke.log").read_text()

    assert train_on(run, ["score:score_mean_tot"]) == 0
    for name in (modelset.SET_LINK, *modelset.TOP_LEVEL_LINKS):
        assert (run / name).is_symlink(), name
    assert not (run / f"{modelset.METRICS_FILE}.key").exists()
    assert_one_whole_set_in_use(run, ["score:score_mean_tot"])
    assert list((run / modelset.SETS_FOLDER).iterdir()) == [(run / "models").resolve()]
    status, predictions, _ = predict_with(run, tmp_path / "out", monkeypatch)
    assert status == 0 and set(zip(predictions["target"], predictions["model"])) == expected_scoring(run)

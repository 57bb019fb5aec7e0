"""Tests of the modelling core: grouped splits, preprocessing, metrics, XGBoost, the fusion
network, nested cross-validation and saved bundles, on synthetic cohorts with known answers."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xgboost
from scipy.special import expit, logit
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from core.errors import ModelMismatchError, TargetError
from models import artifacts, evaluate, metrics
from models.cv import (Fold, SubjectLeakError, assert_no_subject_leak, make_inner_splits,
                       make_outer_splits)
from models.evaluate import fit_final, nested_cv, results_summary
from models.fusion import fit_fusion, load_fusion, save_fusion
from models.preprocess import Preprocessor, fit_preprocessor
from models.xgb import fit_xgb

# One quick XGBoost setting: no inner search, so nested CV stays fast in tests.
FAST_XGB = {"grid": [{"max_depth": 1, "n_estimators": 40, "learning_rate": 0.3,
                      "min_child_rows": 1}]}
# Two cheap settings, so the inner search runs but stays fast.
SEARCH_XGB = {"grid": [{"max_depth": 1, "n_estimators": 20, "learning_rate": 0.3,
                        "min_child_rows": 1},
                       {"max_depth": 2, "n_estimators": 20, "learning_rate": 0.3,
                        "min_child_rows": 2}]}
FAST_FUSION = {"max_epochs": 60, "patience": 10, "weight_decays": (0.03,)}
VIDEO = [f"face__NSM_KISS__f{j}" for j in range(6)]
AUDIO = [f"voice__BBP_NORMAL__f{j}" for j in range(6)]
META = ["meta__age", "meta__sex_female"]


def make_cohort(n_subjects: int, *, seed: int, signal: str = "video", rows_per_subject: int = 1,
                effect: float = 2.0):
    """Synthetic subject table.

    signal="video": the label shifts the first three video columns by ``effect`` SD; audio and
    metadata are pure noise. signal="split": the label is the sign of (2 video + 2 audio
    columns + noise), so each family holds half of the information. signal="none": pure noise.
    """
    rng = np.random.default_rng(seed)
    subjects = [f"S{i:03d}" for i in range(n_subjects)]
    video = rng.normal(size=(n_subjects, len(VIDEO)))
    audio = rng.normal(size=(n_subjects, len(AUDIO)))
    meta = np.column_stack([rng.normal(60, 10, n_subjects), rng.integers(0, 2, n_subjects)])
    if signal == "split":
        latent = video[:, 0] + video[:, 1] + audio[:, 0] + audio[:, 1] \
            + 0.5 * rng.normal(size=n_subjects)
        label = (latent > np.median(latent)).astype(int)
    else:
        label = np.repeat([0, 1], [n_subjects // 2, n_subjects - n_subjects // 2])
        label = rng.permutation(label)
        if signal == "video":
            video[:, :3] += effect * label[:, None]
    table = pd.DataFrame(np.column_stack([video, audio, meta]), columns=VIDEO + AUDIO + META)
    table = table.loc[np.repeat(np.arange(n_subjects), rows_per_subject)]
    # Recording-level rows of one subject differ a little; their label does not.
    table = table + 0.05 * rng.normal(size=table.shape) * (rows_per_subject > 1)
    subject_of_row = np.repeat(subjects, rows_per_subject)
    table.index = [f"{s}_r{k}" for s in subjects for k in range(rows_per_subject)]
    y = pd.Series(np.repeat(label, rows_per_subject), index=table.index)
    groups = pd.Series(subject_of_row, index=table.index)
    sets = {"video": VIDEO, "audio": AUDIO, "metadata": META, "video+audio": VIDEO + AUDIO}
    return table, y, groups, sets


def auc_row(results, name):
    table = results["metrics"]
    return table[(table.modality_set == name) & (table.metric == "roc_auc")].iloc[0]


# ---------------------------------------------------------------- splits


@pytest.mark.parametrize("strategy,task_type", [("kfold", "binary"), ("kfold", "regression"),
                                                ("leave_one_subject_out", "binary")])
def test_no_subject_crosses_outer_or_inner_folds_with_several_rows_per_subject(strategy,
                                                                               task_type):
    X, y, groups, _ = make_cohort(20, seed=3, rows_per_subject=3)
    target = y if task_type == "binary" else X[VIDEO[0]]
    plan = make_outer_splits(target, groups, task_type=task_type, n_splits=4,
                             strategy=strategy, seed=5)
    g = groups.to_numpy()
    tested = np.concatenate([fold.test for fold in plan.folds])
    assert sorted(tested) == list(range(len(X)))  # every row is tested exactly once
    for fold in plan.folds:
        assert not set(g[fold.train]) & set(g[fold.test])
        inner = make_inner_splits(target.to_numpy()[fold.train], g[fold.train],
                                  task_type=task_type, n_splits=3, seed=5)
        for inner_fold in inner:
            inner_train, inner_test = fold.train[inner_fold.train], fold.train[inner_fold.test]
            assert set(inner_train) | set(inner_test) <= set(fold.train)
            assert not set(g[inner_train]) & set(g[inner_test])
            assert not set(g[inner_test]) & set(g[fold.test])
    if strategy == "leave_one_subject_out":
        assert len(plan.folds) == 20
        assert all(len(set(g[fold.test])) == 1 for fold in plan.folds)


def test_stratified_folds_keep_both_classes_in_every_test_part():
    X, y, groups, _ = make_cohort(20, seed=1)
    plan = make_outer_splits(y, groups, task_type="binary", n_splits=5, seed=0)
    assert plan.method == "stratified_group_kfold"
    for fold in plan.folds:
        assert set(y.to_numpy()[fold.test]) == {0, 1}


def test_leak_check_names_the_crossing_subject():
    groups = np.array(["A", "A", "B", "C"])
    bad = [Fold(index=2, train=np.array([0, 2]), test=np.array([1, 3]))]
    with pytest.raises(SubjectLeakError, match="fold 2.*A"):
        assert_no_subject_leak(bad, groups)


def test_outer_splits_are_seeded():
    X, y, groups, _ = make_cohort(30, seed=0)
    first = make_outer_splits(y, groups, task_type="binary", n_splits=5, seed=11)
    again = make_outer_splits(y, groups, task_type="binary", n_splits=5, seed=11)
    other = make_outer_splits(y, groups, task_type="binary", n_splits=5, seed=12)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(first.folds, again.folds))
    assert not all(np.array_equal(a.test, b.test) for a, b in zip(first.folds, other.folds))


def test_a_class_with_fewer_subjects_than_folds_is_refused_with_what_is_needed():
    y = np.array([0] * 10 + [1] * 3)
    groups = np.array([f"S{i}" for i in range(13)])
    with pytest.raises(TargetError, match=r"class 1.*3 subject.*at most 3 folds"):
        make_outer_splits(y, groups, task_type="binary", n_splits=5, seed=0)


# ---------------------------------------------------------------- preprocessing


def test_preprocessor_learns_from_training_rows_only_and_round_trips_through_json():
    train = pd.DataFrame({"face__T__a": [1.0, 2.0, np.nan, 4.0],
                          "face__T__empty": [np.nan] * 4,
                          "face__T__flat": [3.0, 3.0, np.nan, 3.0],
                          "voice__T__b": [10.0, 20.0, 30.0, 40.0]})
    pre = fit_preprocessor(train, impute=True, scale=True)
    assert pre.kept_columns == ["face__T__a", "voice__T__b"]
    assert set(pre.dropped) == {"face__T__empty", "face__T__flat"}
    assert pre.medians == [2.0, 25.0]
    # Imputed training column a = [1, 2, 2, 4]: mean 2.25, population SD sqrt(1.1875).
    assert pre.means[0] == pytest.approx(2.25)
    assert pre.scales[0] == pytest.approx(np.sqrt(1.1875))
    test = pd.DataFrame({"voice__T__b": [25.0], "face__T__a": [np.nan],
                         "face__T__empty": [5.0], "face__T__flat": [9.0]})
    values = pre.transform(test)
    assert values[0, 0] == pytest.approx((2.0 - 2.25) / np.sqrt(1.1875))
    assert values[0, 1] == pytest.approx(0.0)
    copy = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert np.array_equal(copy.transform(test), values)
    with pytest.raises(ModelMismatchError, match="face__T__a"):
        pre.transform(test.drop(columns=["face__T__a"]))



@pytest.mark.parametrize("task_type,n_classes", [("binary", 2), ("multiclass", 3), ("regression", 0)])
def test_xgb_predicts_preprocessed_rows_as_it_predicts_the_table(task_type, n_classes):
    """``predict_values`` (permutation importance's fast path) scores a preprocessed matrix,
    shuffled columns included, exactly as ``predict`` scores the table it came from."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(30, 4)), columns=[f"face__T__f{j}" for j in range(4)])
    X["face__T__flat"] = 1.0  # dropped by the preprocessing: the model never sees it
    y = (rng.integers(0, n_classes, 30) if n_classes else X["face__T__f0"].to_numpy() * 2)
    model = fit_xgb(X, y, np.arange(30), task_type=task_type, n_classes=n_classes, seed=0,
                    params=FAST_XGB)
    shuffled = X.copy()
    shuffled["face__T__f1"] = rng.permutation(X["face__T__f1"].to_numpy())
    for table in (X, shuffled):
        values = model.preprocessor.apply(
            table[model.preprocessor.kept_columns].to_numpy(dtype=np.float64))
        assert np.array_equal(model.predict_values(values), model.predict(table))
    assert not np.array_equal(model.predict(shuffled), model.predict(X))

# ---------------------------------------------------------------- metrics


def test_classification_metrics_agree_with_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)
    prob = np.column_stack([1 - p1, p1])
    predicted = (p1 > 0.5).astype(int)
    assert metrics.roc_auc(y, prob) == pytest.approx(roc_auc_score(y, p1))
    assert metrics.balanced_accuracy(y, prob) == pytest.approx(
        balanced_accuracy_score(y, predicted))
    assert metrics.f1(y, prob) == pytest.approx(f1_score(y, predicted))
    assert metrics.sensitivity(y, prob) == pytest.approx(np.mean(predicted[y == 1] == 1))
    assert metrics.specificity(y, prob) == pytest.approx(np.mean(predicted[y == 0] == 0))
    assert metrics.brier(y, prob) == pytest.approx(np.mean((p1 - y) ** 2))
    y3 = rng.integers(0, 3, 300)
    prob3 = rng.dirichlet(np.ones(3), 300) + 0.5 * np.eye(3)[y3]
    prob3 /= prob3.sum(axis=1, keepdims=True)
    assert metrics.roc_auc(y3, prob3) == pytest.approx(
        roc_auc_score(y3, prob3, multi_class="ovr", average="macro"))
    assert metrics.f1(y3, prob3) == pytest.approx(
        f1_score(y3, prob3.argmax(axis=1), average="macro"))


def test_auc_of_a_single_class_is_undefined_not_nan():
    with pytest.raises(metrics.UndefinedMetric, match="both outcome classes"):
        metrics.roc_auc(np.ones(5), np.full((5, 2), 0.5))


def test_calibration_slope_and_intercept_have_known_answers():
    rng = np.random.default_rng(1)
    p = expit(rng.normal(0, 1.5, 20000))
    y = (rng.random(p.size) < p).astype(int)
    calibrated = np.column_stack([1 - p, p])
    assert metrics.calibration_slope(y, calibrated) == pytest.approx(1.0, abs=0.05)
    assert metrics.calibration_intercept(y, calibrated) == pytest.approx(0.0, abs=0.05)
    # Doubling the logit makes predictions over-confident: the slope halves.
    overconfident = expit(2 * logit(p))
    assert metrics.calibration_slope(y, np.column_stack([1 - overconfident, overconfident])) \
        == pytest.approx(0.5, abs=0.03)
    # Shifting every logit down by 1 under-estimates risk: calibration-in-the-large is +1.
    low = expit(logit(p) - 1)
    assert metrics.calibration_intercept(y, np.column_stack([1 - low, low])) \
        == pytest.approx(1.0, abs=0.05)


def test_bootstrap_resamples_subjects_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(2)
    subjects = np.repeat([f"S{i}" for i in range(40)], 3)
    y = np.repeat(rng.integers(0, 2, 40), 3)
    p1 = np.clip(0.4 * y + 0.6 * rng.random(y.size), 0, 1)
    prob = np.column_stack([1 - p1, p1])
    for rows in metrics.subject_resamples(subjects, n_boot=20, seed=0):
        _, counts = np.unique(subjects[rows], return_counts=True)
        assert all(c % 3 == 0 for c in counts)  # whole subjects only
    first = metrics.bootstrap_metric(metrics.roc_auc, y, prob, subjects=subjects, n_boot=300,
                                     seed=4)
    again = metrics.bootstrap_metric(metrics.roc_auc, y, prob, subjects=subjects, n_boot=300,
                                     seed=4)
    other = metrics.bootstrap_metric(metrics.roc_auc, y, prob, subjects=subjects, n_boot=300,
                                     seed=5)
    assert first == again
    assert (first["ci_low"], first["ci_high"]) != (other["ci_low"], other["ci_high"])
    assert first["ci_low"] < first["estimate"] < first["ci_high"]
    table = metrics.metric_table(y, prob, subjects=subjects, task_type="binary", n_boot=200,
                                 seed=0)
    defined = table[table.note == ""]
    assert (defined.ci_low <= defined.estimate).all()
    assert (defined.estimate <= defined.ci_high).all()


def test_paired_difference_of_a_model_with_itself_is_exactly_zero():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 50)
    prob = rng.dirichlet([1, 1], 50)
    result = metrics.paired_difference(metrics.roc_auc, y, prob, prob,
                                       subjects=np.arange(50), n_boot=100, seed=0)
    assert result["estimate"] == 0 and result["ci_low"] == 0 and result["ci_high"] == 0


# ---------------------------------------------------------------- nested CV


@pytest.fixture(scope="module")
def video_signal_results():
    X, y, groups, sets = make_cohort(40, seed=7)
    plan = make_outer_splits(y, groups, task_type="binary", n_splits=3, seed=7)
    results = nested_cv(X, y, groups, model="xgb", modality_sets=sets, task_type="binary",
                        outer_splits=plan, seed=7, model_params=FAST_XGB, n_bootstrap=300,
                        n_permutations=19, permutation_sets=["video", "audio"])
    return X, y, groups, sets, plan, results


def test_signal_in_video_is_found_and_noise_in_audio_is_not(video_signal_results):
    *_, results = video_signal_results
    video, audio = auc_row(results, "video"), auc_row(results, "audio")
    assert video.estimate > 0.8 and video.ci_low > 0.65
    assert 0.25 < audio.estimate < 0.75 and audio.ci_low < 0.5 < audio.ci_high
    permutation = results["permutation"].set_index("modality_set")
    assert permutation.loc["video", "p_value"] == pytest.approx(1 / 20)
    assert permutation.loc["audio", "p_value"] > 0.2
    # Adding pure noise to the video must not be claimed as a fusion gain.
    assert results["fusion_vs_unimodal"]["fusion_set"] == "video+audio"
    assert results["fusion_vs_unimodal"]["unimodal_set"] == "video"
    assert results["fusion_vs_unimodal"]["fusion_beats_unimodal"] is False


def test_nested_cv_fits_only_on_outer_training_subjects(monkeypatch):
    X, y, groups, sets = make_cohort(20, seed=6, rows_per_subject=2)
    subject_of = dict(zip(groups.index, groups))
    calls = []

    class Recorder:
        def __init__(self, train_subjects):
            self.train_subjects = train_subjects

        def predict(self, X_test):
            calls.append((self.train_subjects, {subject_of[r] for r in X_test.index}))
            return np.full((len(X_test), 2), 0.5)

        def summary(self):
            return {}

    def fit(X_train, y_train, groups_train, **options):
        assert set(X_train.index) <= {r for r, s in subject_of.items() if s in set(groups_train)}
        return Recorder(set(groups_train))

    monkeypatch.setattr(evaluate, "estimator_function", lambda model, role: fit)
    plan = make_outer_splits(y, groups, task_type="binary", n_splits=4, seed=0)
    nested_cv(X, y, groups, model="xgb", modality_sets=sets, task_type="binary",
              outer_splits=plan, seed=0, n_bootstrap=10, n_permutations=2)
    assert len(calls) == len(sets) * 4 * 3  # real run + 2 permutations, 4 folds each
    for train_subjects, test_subjects in calls:
        assert train_subjects and test_subjects and not train_subjects & test_subjects
        assert len(train_subjects | test_subjects) == 20


def test_a_control_set_outside_the_fused_columns_is_never_its_unimodal_comparator():
    rng = np.random.default_rng(17)
    y = np.repeat([0, 1], 20)
    subjects = np.array([f"S{i:02d}" for i in range(40)])
    nonspeech = [f"nonspeech__BBP_NORMAL__f{j}" for j in range(2)]
    sets = {"video": VIDEO, "audio": AUDIO, "nonspeech": nonspeech, "video+audio": VIDEO + AUDIO}
    p_weak = np.clip(0.5 + 0.2 * (y - 0.5) + 0.3 * rng.random(40) - 0.15, 0, 1)
    perfect = y.astype(float)
    unit_data = {name: (y, np.column_stack([1 - p, p]), subjects)
                 for name, p in [("video", p_weak), ("audio", p_weak[::-1]),
                                 ("nonspeech", perfect), ("video+audio", p_weak)]}
    table = pd.concat([metrics.metric_table(d[0], d[1], subjects=d[2], task_type="binary",
                                            n_boot=20, seed=0).assign(modality_set=name)
                       for name, d in unit_data.items()])
    comparisons = evaluate._comparisons(sets, unit_data, table, task_type="binary",
                                        primary="roc_auc", n_bootstrap=50, ci_level=0.95, seed=0)
    assert comparisons.fusion_set.tolist() == ["video+audio"]
    assert comparisons.unimodal_set.iloc[0] in ("video", "audio")


def test_results_are_tables_on_identical_folds(video_signal_results, tmp_path):
    X, y, groups, sets, plan, results = video_signal_results
    predictions = results["predictions"]
    assert len(predictions) == len(X) * len(sets)
    folds_per_set = predictions.pivot(index="row_id", columns="modality_set", values="fold")
    assert (folds_per_set.nunique(axis=1) == 1).all()
    assert np.isfinite(predictions[["prob_0", "prob_1"]].to_numpy()).all()
    assert set(results["ablation"].modality_set) == set(sets)
    assert results["protocol"]["unit"] == "subject"
    artifacts.write_json(tmp_path / "metrics.json", results_summary(results))
    assert json.loads((tmp_path / "metrics.json").read_text())["protocol"]["unit"] == "subject"


@pytest.mark.parametrize("signal_in", ["video", "severity"])
def test_the_baseline_severity_comparator_runs_on_identical_folds(signal_in):
    """The same estimator on the baseline score alone is scored on the outer folds of every other
    set, and the paired bootstrap difference decides: video beats the benchmark when the label is
    in the video (the score being noise), and is not claimed to when the score holds the label."""
    from models.modalities import BENCHMARK_SET
    from models.targets import BASELINE_SEVERITY

    X, y, groups, _ = make_cohort(36, seed=11, signal="video" if signal_in == "video" else "none")
    rng = np.random.default_rng(5)
    score = 12 + 3 * rng.normal(size=len(X))
    X[BASELINE_SEVERITY] = score + (6 * y.to_numpy() if signal_in == "severity" else 0)
    sets = {"video": VIDEO, BENCHMARK_SET: [BASELINE_SEVERITY]}
    plan = make_outer_splits(y, groups, task_type="binary", n_splits=4, seed=3)
    results = nested_cv(X, y, groups, model="xgb", modality_sets=sets, task_type="binary",
                        outer_splits=plan, seed=3, model_params=FAST_XGB, n_bootstrap=300,
                        n_permutations=0, benchmark_set=BENCHMARK_SET)
    folds_per_set = results["predictions"].pivot(index="row_id", columns="modality_set", values="fold")
    assert (folds_per_set.nunique(axis=1) == 1).all()
    record = results["benchmark"].set_index("modality_set").loc["video"]
    video, benchmark = auc_row(results, "video"), auc_row(results, BENCHMARK_SET)
    assert record["benchmark_set"] == BENCHMARK_SET and record["metric"] == "roc_auc"
    assert record["difference"] == pytest.approx(video.estimate - benchmark.estimate)
    subject = results["subject_predictions"].pivot(index="subject_id", columns="modality_set", values="prob_1")
    truth = results["subject_predictions"].drop_duplicates("subject_id").set_index("subject_id")["y_true"]
    again = metrics.paired_difference(metrics.roc_auc, truth.loc[subject.index].to_numpy(),
                                      np.column_stack([1 - subject["video"], subject["video"]]),
                                      np.column_stack([1 - subject[BENCHMARK_SET], subject[BENCHMARK_SET]]),
                                      subjects=subject.index.to_numpy(), n_boot=300, seed=3)
    assert (record["ci_low"], record["ci_high"]) == pytest.approx((again["ci_low"], again["ci_high"]))
    assert bool(record["beats_benchmark"]) == (signal_in == "video"), record
    assert results["protocol"]["benchmark_set"] == BENCHMARK_SET
    assert results_summary(results)["benchmark"][0]["modality_set"] == "video"


def test_permuted_labels_give_chance_auc_and_a_large_p_value(video_signal_results):
    X, y, groups, sets, plan, _ = video_signal_results
    shuffled = pd.Series(np.random.default_rng(99).permutation(y.to_numpy()), index=y.index)
    plan_shuffled = plan.resplit(shuffled, groups)
    results = nested_cv(X, shuffled, groups, model="xgb", modality_sets={"video": VIDEO},
                        task_type="binary", outer_splits=plan_shuffled, seed=7,
                        model_params=FAST_XGB, n_bootstrap=300, n_permutations=19)
    video = auc_row(results, "video")
    assert 0.25 < video.estimate < 0.75 and video.ci_low < 0.5 < video.ci_high
    assert results["permutation"].p_value.iloc[0] > 0.2


def test_regression_known_answer_linear_in_one_column():
    X, _, groups, _ = make_cohort(40, seed=4)
    score = pd.Series(3.0 * X[AUDIO[2]] + 10.0, index=X.index)
    plan = make_outer_splits(score, groups, task_type="regression", n_splits=4, seed=0)
    results = nested_cv(X, score, groups, model="xgb", modality_sets={"audio": AUDIO},
                        task_type="regression", outer_splits=plan, seed=0,
                        n_bootstrap=100, n_permutations=0,
                        model_params={"grid": [{"max_depth": 2, "n_estimators": 100,
                                                "learning_rate": 0.2,
                                                "min_child_rows": 1}]})
    table = results["metrics"].set_index("metric")
    assert table.loc["spearman", "estimate"] > 0.9
    assert table.loc["rmse", "estimate"] < 0.5 * score.std()


def test_multiclass_and_recording_level_rows_are_evaluated_per_subject():
    X, _, groups, sets = make_cohort(30, seed=5, rows_per_subject=2, signal="none")
    subject_class = groups.str[1:].astype(int) % 3
    X.loc[:, VIDEO[0]] += 3.0 * subject_class
    plan = make_outer_splits(subject_class, groups, task_type="multiclass", n_splits=3, seed=0)
    results = nested_cv(X, subject_class, groups, model="xgb",
                        modality_sets={"video": VIDEO}, task_type="multiclass",
                        outer_splits=plan, seed=0, model_params=FAST_XGB, n_bootstrap=100,
                        n_permutations=0)
    assert results["protocol"]["unit"] == "subject"
    assert len(results["subject_predictions"]) == 30
    assert (results["subject_predictions"].n_rows == 2).all()
    assert auc_row(results, "video").estimate > 0.85


# ---------------------------------------------------------------- fusion


@pytest.mark.parametrize("model,params", [("fusion", dict(FAST_FUSION, fusion="mean")),
                                          ("fusion", dict(FAST_FUSION, fusion="concat")),
                                          ("xgb", FAST_XGB)])
def test_a_subject_missing_a_whole_modality_still_gets_a_prediction(model, params):
    X, y, groups, _ = make_cohort(30, seed=8)
    columns = VIDEO + AUDIO + META
    fitted = fit_final(X, y, groups, model=model, columns=columns, task_type="binary", seed=0,
                       model_params=params)
    new = X[columns].iloc[:3].copy()
    new.loc[new.index[0], VIDEO] = np.nan
    new.loc[new.index[1], AUDIO + META] = np.nan
    new.loc[new.index[2], :] = np.nan
    prob = fitted.predict(new)
    assert np.isfinite(prob).all() and np.allclose(prob.sum(axis=1), 1)
    # Hiding the video (which carries the signal) changes the prediction.
    assert not np.allclose(prob[0], fitted.predict(X[columns].iloc[:1])[0])
    if model == "fusion":
        presence = fitted.presence(new)
        assert presence.loc[new.index[0]].tolist() == [False, True, True]
        assert presence.loc[new.index[1]].tolist() == [True, False, False]
        assert presence.loc[new.index[2]].tolist() == [False, False, False]


def test_fusion_of_split_signal_beats_each_modality():
    X, y, groups, sets = make_cohort(60, seed=2, signal="split")
    sets = {name: sets[name] for name in ("video", "audio", "video+audio")}
    plan = make_outer_splits(y, groups, task_type="binary", n_splits=3, seed=2)
    results = nested_cv(X, y, groups, model="fusion", modality_sets=sets, task_type="binary",
                        outer_splits=plan, seed=2, n_bootstrap=300, n_permutations=0,
                        model_params={"weight_decays": (0.03,)})
    fused = auc_row(results, "video+audio").estimate
    assert fused > auc_row(results, "video").estimate + 0.05
    assert fused > auc_row(results, "audio").estimate + 0.05
    assert results["fusion_vs_unimodal"]["difference"] > 0.05


def test_fusion_claim_is_made_when_the_paired_interval_excludes_zero():
    # With 60 subjects the fusion gain's interval often touches zero, so this uses 100.
    X, y, groups, sets = make_cohort(100, seed=2, signal="split")
    sets = {name: sets[name] for name in ("video", "audio", "video+audio")}
    plan = make_outer_splits(y, groups, task_type="binary", n_splits=3, seed=2)
    results = nested_cv(X, y, groups, model="xgb", modality_sets=sets, task_type="binary",
                        outer_splits=plan, seed=2, model_params=FAST_XGB, n_bootstrap=500,
                        n_permutations=0)
    headline = results["fusion_vs_unimodal"]
    best = max(auc_row(results, "video").estimate, auc_row(results, "audio").estimate)
    assert headline["unimodal"] == pytest.approx(best)
    assert headline["difference"] == pytest.approx(headline["fusion"] - best)
    assert headline["ci_low"] > 0 and headline["fusion_beats_unimodal"] is True


# ---------------------------------------------------------------- determinism


def test_same_seed_same_predictions_and_n_jobs_does_not_matter():
    X, y, groups, sets = make_cohort(24, seed=9)
    plan = make_outer_splits(y, groups, task_type="binary", n_splits=3, seed=1)
    options = dict(model="xgb", modality_sets={"all": VIDEO + AUDIO + META},
                   task_type="binary", outer_splits=plan, seed=1, n_bootstrap=50,
                   n_permutations=1, model_params=SEARCH_XGB)
    one = nested_cv(X, y, groups, n_jobs=1, **options)
    again = nested_cv(X, y, groups, n_jobs=1, **options)
    two = nested_cv(X, y, groups, n_jobs=2, **options)
    for other in (again, two):
        pd.testing.assert_frame_equal(one["predictions"], other["predictions"])
        pd.testing.assert_frame_equal(one["metrics"], other["metrics"])
        pd.testing.assert_frame_equal(one["permutation_null"], other["permutation_null"])


@pytest.mark.slow
def test_fusion_n_jobs_does_not_matter():
    # Slow only because each worker process imports torch.
    X, y, groups, _ = make_cohort(24, seed=9)
    plan = make_outer_splits(y, groups, task_type="binary", n_splits=3, seed=1)
    options = dict(model="fusion", modality_sets={"video": VIDEO, "all": VIDEO + AUDIO + META},
                   task_type="binary", outer_splits=plan, seed=1, n_bootstrap=50,
                   n_permutations=1, model_params=FAST_FUSION)
    one = nested_cv(X, y, groups, n_jobs=1, **options)
    two = nested_cv(X, y, groups, n_jobs=2, **options)
    pd.testing.assert_frame_equal(one["predictions"], two["predictions"])
    pd.testing.assert_frame_equal(one["permutation_null"], two["permutation_null"])


def test_fusion_is_deterministic_for_a_seed():
    X, y, groups, _ = make_cohort(24, seed=10)
    columns = VIDEO + AUDIO
    first = fit_fusion(X[columns], y, groups, task_type="binary", n_classes=2, seed=3,
                       params=FAST_FUSION)
    second = fit_fusion(X[columns], y, groups, task_type="binary", n_classes=2, seed=3,
                        params=FAST_FUSION)
    other = fit_fusion(X[columns], y, groups, task_type="binary", n_classes=2, seed=4,
                       params=FAST_FUSION)
    assert np.array_equal(first.predict(X), second.predict(X))
    assert not np.array_equal(first.predict(X), other.predict(X))


# ---------------------------------------------------------------- bundles


@pytest.mark.parametrize("model", ["xgb", "fusion"])
def test_bundle_round_trip_predicts_identically_and_refuses_missing_features(model, tmp_path):
    X, y, groups, _ = make_cohort(24, seed=11)
    columns = VIDEO + AUDIO + META
    params = FAST_FUSION if model == "fusion" else None
    fitted = fit_final(X, y, groups, model=model, columns=columns, task_type="binary", seed=0,
                       model_params=params)
    artifacts.save_bundle(tmp_path, model=fitted, class_labels=["HC", "PS"],
                          target="group: PS vs HC")
    card = artifacts.write_model_card(tmp_path, metadata={"data": {"n_subjects": 24}},
                                      date="2026-01-01")
    assert card["software"]["xgboost"] == xgboost.__version__
    assert card["software"]["torch"] == torch.__version__
    assert card["model"]["n_features"] == len(columns)
    assert (tmp_path / "model_card.md").read_text().startswith("# Model card: group: PS vs HC")
    bundle = artifacts.load_bundle(tmp_path)
    expected = fitted.predict(X[columns])
    scored = bundle.predict(X)  # extra columns are ignored by default
    assert np.array_equal(scored[["prob_HC", "prob_PS"]].to_numpy(), expected)
    with pytest.raises(ModelMismatchError, match=f"{VIDEO[1]}.*{AUDIO[0]}"):
        bundle.predict(X.drop(columns=[VIDEO[1], AUDIO[0]]))
    with pytest.raises(ModelMismatchError, match="face__NSM_KISS__extra"):
        bundle.check_table(X.assign(face__NSM_KISS__extra=1.0)[columns +
                                                              ["face__NSM_KISS__extra"]],
                           allow_extra=False)
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.pickle"))


def test_bundle_refuses_a_file_changed_after_saving(tmp_path):
    X, y, groups, _ = make_cohort(24, seed=12)
    fitted = fit_final(X, y, groups, model="xgb", columns=VIDEO, task_type="binary", seed=0,
                       model_params=FAST_XGB)
    artifacts.save_bundle(tmp_path, model=fitted)
    path = tmp_path / "preprocess.json"
    path.write_text(path.read_text().replace("face__NSM_KISS__f0", "face__NSM_KISS__g0"))
    with pytest.raises(artifacts.BundleError, match="changed after"):
        artifacts.load_bundle(tmp_path)


@pytest.mark.parametrize("damage,message", [
    (lambda text: text[: len(text) // 2], "bundle.json is not valid JSON"),
    (lambda text: "[]", "bundle.json holds a JSON list, expected an object"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "files"}),
     "bundle.json lacks files"),
])
def test_an_unreadable_bundle_description_is_a_bundle_error_naming_the_file(tmp_path, damage, message):
    X, y, groups, _ = make_cohort(24, seed=12)
    fitted = fit_final(X, y, groups, model="xgb", columns=VIDEO, task_type="binary", seed=0,
                       model_params=FAST_XGB)
    artifacts.save_bundle(tmp_path, model=fitted)
    path = tmp_path / artifacts.BUNDLE_FILE
    path.write_text(damage(path.read_text()))
    with pytest.raises(artifacts.BundleError, match=message):
        artifacts.load_bundle(tmp_path)


def test_fusion_weights_are_loaded_with_weights_only(tmp_path, monkeypatch):
    X, y, groups, _ = make_cohort(24, seed=13)
    model = fit_fusion(X[VIDEO + AUDIO], y, groups, task_type="binary", n_classes=2, seed=0,
                       params=FAST_FUSION)
    save_fusion(model, tmp_path)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_fusion(tmp_path)
    assert calls and all(call.get("weights_only") is True for call in calls)
    # A state file carrying an arbitrary Python object is refused, not executed.
    torch.save({"payload": artifacts.Bundle}, tmp_path / "fusion_state.pt")
    with pytest.raises(artifacts.BundleError, match="weights_only"):
        load_fusion(tmp_path)


def test_fit_final_regression_fusion_round_trip(tmp_path):
    X, _, groups, _ = make_cohort(30, seed=14)
    score = pd.Series(2.0 * X[VIDEO[0]] - X[AUDIO[0]] + 5.0, index=X.index)
    fitted = fit_final(X, score, groups, model="fusion", columns=VIDEO + AUDIO,
                       task_type="regression", seed=0, model_params=FAST_FUSION)
    artifacts.save_bundle(tmp_path, model=fitted, target="SLP total")
    scored = artifacts.load_bundle(tmp_path).predict(X)
    assert np.array_equal(scored["predicted"].to_numpy(), fitted.predict(X))
    assert np.corrcoef(scored["predicted"], score)[0, 1] > 0.8


LEARNS = {"max_depth": 2, "n_estimators": 60, "learning_rate": 0.3, "min_child_rows": 2}
BARELY_MOVES = {"max_depth": 1, "n_estimators": 1, "learning_rate": 0.01, "min_child_rows": 2}


@pytest.mark.parametrize("signal, expected", [("video", LEARNS), ("none", BARELY_MOVES)])
def test_xgb_search_picks_the_setting_that_predicts_held_out_subjects_best(signal, expected):
    """Known answer: with a strong signal the setting that can learn it wins the inner folds;
    with labels that are noise, the one that hardly moves from the base rate loses least."""
    X, y, groups, _ = make_cohort(40, seed=15, signal=signal, effect=3.0)
    model = fit_xgb(X[VIDEO], y, groups, task_type="binary", n_classes=2, seed=0,
                    params={"grid": [LEARNS, BARELY_MOVES]})
    assert model.setting == expected
    losses = {tuple(sorted((k, e[k]) for k in LEARNS)): e["inner_loss"] for e in model.search}
    assert len(losses) == 2 and min(losses.values()) < 0.9 * max(losses.values())


def test_fusion_search_covers_the_grid_and_refuses_a_penalty_that_cannot_fit():
    """Known answer: with a strong signal, a weight decay of 10 keeps the network at the base rate
    (inner log loss near ln 2 = 0.69) while 0.001 learns it, so the search must pick 0.001."""
    X, y, groups, _ = make_cohort(24, seed=16, effect=3.0)
    model = fit_fusion(X[VIDEO + AUDIO], y, groups, task_type="binary", n_classes=2, seed=0,
                       params={"max_epochs": 30, "patience": 5, "weight_decays": (0.001, 10.0),
                               "modality_dropouts": (0.0, 0.3)})
    assert [(entry["modality_dropout"], entry["weight_decay"]) for entry in model.search] == \
        [(0.0, 0.001), (0.0, 10.0), (0.3, 0.001), (0.3, 10.0)]
    assert model.weight_decay == 0.001
    stiff = [entry["inner_loss"] for entry in model.search if entry["weight_decay"] == 10.0]
    assert all(loss > 0.6 for loss in stiff)
    assert 1 <= model.n_epochs <= 30


def test_xgb_leaf_size_is_counted_in_rows():
    """XGBoost's min_child_weight is in hessian units (0.25 per logistic row at p = 0.5); a
    setting in rows must still let a ten-subject training part split on a clear signal."""
    from models.xgb import hessian_per_row

    assert hessian_per_row(np.array([0, 1, 1, 0]), task_type="binary", n_classes=2) == 0.25
    assert hessian_per_row(np.array([0, 1, 2]), task_type="multiclass", n_classes=3) == \
        pytest.approx(4 / 9)
    assert hessian_per_row(np.array([3.0, 7.0]), task_type="regression", n_classes=0) == 1.0
    X, y, groups, _ = make_cohort(10, seed=17, effect=4.0)
    grid = {"grid": [{"max_depth": 1, "n_estimators": 20, "learning_rate": 0.3,
                      "min_child_rows": 3}]}
    model = fit_xgb(X[VIDEO], y, groups, task_type="binary", n_classes=2, seed=0, params=grid)
    assert roc_auc_score(y, model.predict(X[VIDEO])[:, 1]) == 1.0


def test_recovery_is_the_share_of_the_first_visits_impairment_that_is_gone():
    """SLP total 5 is normal: 15 -> 9 recovers 6 of 10 points (yes), 7 -> 6 one of 2 (yes,
    though the total fell only 14%), 15 -> 12 three of 10 (no); a subject seen once is not
    followed up, and one rated normal at the first visit is left out and counted. The first
    visit's score is also the baseline-severity benchmark column."""
    from models.targets import BASELINE_SEVERITY, NORMAL_FIRST, build_target

    visits = [("A", "02", 15.0), ("A", "03", 9.0), ("B", "02", 7.0), ("B", "03", 6.0),
              ("C", "02", 15.0), ("C", "03", 12.0), ("D", "02", 14.0), ("E", "02", 5.0),
              ("E", "03", 5.0)]
    table = pd.DataFrame(visits, columns=["subject_id", "visit", "score_mean_tot"])
    table["group"], table["face__NSM_SPREAD__f0"] = "PS", 1.0
    target = build_target(table, "recovery")
    assert target.rows["subject_id"].tolist() == ["A", "B", "C"]
    assert target.y.tolist() == [1, 1, 0]
    assert (target.rows["visit"] == "02").all()
    assert target.excluded == {NORMAL_FIRST: 1}
    assert target.rows[BASELINE_SEVERITY].tolist() == [15.0, 7.0, 15.0]


def test_recovery_leaves_out_and_counts_subjects_without_a_first_or_last_score():
    """F's follow-up score is missing: it is left out, not called 'not recovered'; G lacks the
    first score, H both (counted once, under the first visit)."""
    from models.targets import MISSING_FIRST, MISSING_LAST, build_target

    visits = [("A", "02", 15.0), ("A", "03", 9.0), ("C", "02", 15.0), ("C", "03", 12.0),
              ("F", "02", 15.0), ("F", "03", np.nan), ("G", "02", np.nan), ("G", "03", 9.0),
              ("H", "02", np.nan), ("H", "03", np.nan), ("D", "02", np.nan)]
    table = pd.DataFrame(visits, columns=["subject_id", "visit", "score_mean_tot"])
    table["group"], table["face__NSM_SPREAD__f0"] = "PS", 1.0
    target = build_target(table, "recovery")
    assert target.rows["subject_id"].tolist() == ["A", "C"]
    assert target.y.tolist() == [1, 0]
    assert target.excluded == {MISSING_FIRST: 2, MISSING_LAST: 1}
    unscored = table[table["subject_id"].isin(["F", "G", "H"])]
    with pytest.raises(TargetError, match="every followed-up subject lacks score_mean_tot"):
        build_target(unscored, "recovery")


def test_outer_folds_are_capped_by_the_scarcest_class():
    from models.cv import n_folds_for

    assert n_folds_for(pd.Series([0, 0, 0, 0, 1, 1, 1]), "binary", 5) == 3
    assert n_folds_for(np.array([0, 0, 0, 1]), "binary", 5) == 2  # never fewer than two
    assert n_folds_for(np.arange(4.0), "regression", 5) == 4
    assert n_folds_for(np.arange(40.0), "regression", 5) == 5

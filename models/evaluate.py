"""Nested, subject-grouped cross-validation of every modality set on identical outer folds.

Protocol (docs/evaluation.md): the outer folds are fixed once (``cv.make_outer_splits``) and
shared by every modality set; for each outer fold the model is fitted on the training part only
(preprocessing, hyper-parameter search or early stopping happen on inner folds inside that
part) and scores the test part. Out-of-fold predictions are averaged per subject; when every
subject carries one label, metrics are computed per subject (the unit a clinician cares about),
otherwise per row with subjects as bootstrap clusters. Each metric gets a subject-level
bootstrap interval; multimodal sets are compared with their best single-family component by a
paired bootstrap on the same subjects, and so is every set with a benchmark set when the target
has one (recovery: the SLP total at the first visit alone, fitted by the same estimator through
the same preprocessing); a subject-wise label permutation test reruns the whole nested CV on
permuted labels.

Parallelism: (modality set, fold) fits and each set's metric bootstrap run through joblib; each
fit's seed depends only on the run seed and the fold index, and results are gathered in task order, so ``n_jobs`` (or a dask
joblib backend set by the caller) does not change any number.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from joblib import delayed

from core.errors import ConfigError, TargetError, check_option
from core.workers import run_parallel
from models.cv import (SplitPlan, TASK_TYPES, assert_no_subject_leak, fold_seed,
                       labels_constant_within_subject)
from models.estimators import ESTIMATORS, estimator_function
from models.metrics import (METRICS, PRIMARY_METRIC, UndefinedMetric, metric_spec,
                            metric_table, paired_difference)
from models.preprocess import columns_by_family, numeric_matrix

DEFAULT_FUSION_SET = "video+audio"
# Keeps permutation seeds apart from fold seeds derived from the same run seed.
PERMUTATION_STREAM = 7_919


def _aligned_values(series, X: pd.DataFrame, name: str) -> np.ndarray:
    if isinstance(series, pd.Series):
        if not series.index.equals(X.index):
            raise TargetError(f"{name} is not indexed like the feature table (same row ids in "
                              f"the same order are required)")
        return series.to_numpy()
    values = np.asarray(series)
    if values.ndim != 1 or len(values) != len(X):
        raise TargetError(f"{name} has shape {values.shape}; the feature table has {len(X)} rows")
    return values


def _subject_ids(groups, X: pd.DataFrame) -> np.ndarray:
    values = _aligned_values(groups, X, "the subject ids")
    if pd.isna(values).any():
        raise TargetError(f"{int(pd.isna(values).sum())} row(s) have no subject id")
    return values.astype(str)


def check_target(y, *, task_type: str) -> tuple[np.ndarray, int]:
    """Validate targets and return them as float64 with the number of classes (0: regression).

    Raises
    ------
    TargetError
        Naming the allowed values: binary targets are 0/1 with both present; multiclass
        targets are integer codes 0..K-1, K >= 3, all present; regression targets are finite.
    """
    check_option("task_type", task_type, TASK_TYPES)
    values = np.asarray(y)
    if pd.isna(values).any():
        raise TargetError(f"{int(pd.isna(values).sum())} row(s) have no target value; drop "
                          f"them before evaluation")
    try:
        values = values.astype(np.float64)
    except (TypeError, ValueError):
        raise TargetError(f"targets must be numbers (class codes or scores); got dtype "
                          f"{values.dtype}") from None
    if not np.isfinite(values).all():
        raise TargetError("targets must be finite")
    if task_type == "regression":
        return values, 0
    found = sorted(set(values.tolist()))
    if task_type == "binary":
        if found != [0.0, 1.0]:
            raise TargetError(f"a binary target takes the values 0 and 1, both present; "
                              f"found {found}")
        return values, 2
    n_classes = int(max(found)) + 1
    if found != [float(k) for k in range(n_classes)] or n_classes < 3:
        raise TargetError(f"a multiclass target takes the codes 0..K-1 (K >= 3), each present; "
                          f"found {found}")
    return values, n_classes


def _check_modality_sets(X: pd.DataFrame, modality_sets: dict) -> dict:
    if not modality_sets:
        raise ConfigError("no modality set given; pass e.g. {'video': [...], 'audio': [...]}")
    checked = {}
    for name, columns in modality_sets.items():
        columns = list(columns)
        if not columns:
            raise ConfigError(f"modality set {name!r} has no column")
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise ConfigError(f"modality set {name!r} names {len(missing)} column(s) absent "
                              f"from the feature table: {', '.join(missing[:10])}")
        if len(set(columns)) != len(columns):
            raise ConfigError(f"modality set {name!r} lists a column twice")
        columns_by_family(columns)
        numeric_matrix(X, columns, what=f"feature table (modality set {name!r})")
        checked[str(name)] = columns
    return checked


def _fit_predict(X_train, y_train, groups_train, X_test, *, model, task_type, n_classes,
                 seed, n_inner_splits, model_params):
    """Fit on one training part (nothing else is passed in) and predict its test part."""
    fit = estimator_function(model, "fit")
    fitted = fit(X_train, y_train, groups_train, task_type=task_type, n_classes=n_classes,
                 seed=seed, n_inner_splits=n_inner_splits, params=model_params)
    return fitted.predict(X_test), fitted.summary()


def _run_folds(X, y, groups, jobs, *, model, task_type, n_classes, seed, n_inner_splits,
               model_params, n_jobs) -> list:
    """Out-of-fold predictions for each job ``(columns, plan, labels)``, in job order.

    Returns
    -------
    list of (ndarray, list of dict)
        Per job: predictions for every row, and the fitted models' summaries per fold.
    """
    tasks = [(j, fold) for j, (_, plan, _) in enumerate(jobs) for fold in plan.folds]
    calls = (delayed(_fit_predict)(
        X.iloc[fold.train][jobs[j][0]], jobs[j][2][fold.train], groups[fold.train],
        X.iloc[fold.test][jobs[j][0]], model=model, task_type=task_type, n_classes=n_classes,
        seed=fold_seed(seed, fold.index), n_inner_splits=n_inner_splits,
        model_params=model_params) for j, fold in tasks)
    outputs = run_parallel(calls, n_jobs=n_jobs)
    shape = (len(X),) if task_type == "regression" else (len(X), n_classes)
    results = [(np.full(shape, np.nan), []) for _ in jobs]
    for (j, fold), (pred, summary) in zip(tasks, outputs):
        results[j][0][fold.test] = pred
        results[j][1].append({"fold": fold.index, **summary})
    return results


def _unit_arrays(y, groups, pred, *, unit: str):
    """Targets, predictions and subject ids at the evaluation unit (subject or row)."""
    if unit == "row":
        return y, pred, groups
    codes, subjects = pd.factorize(groups, sort=True)
    counts = np.bincount(codes)
    y_unit = np.bincount(codes, weights=y) / counts
    if pred.ndim == 1:
        pred_unit = np.bincount(codes, weights=pred) / counts
    else:
        pred_unit = np.column_stack([np.bincount(codes, weights=pred[:, k]) / counts
                                     for k in range(pred.shape[1])])
    return y_unit, pred_unit, np.asarray(subjects)


def _add_prediction_columns(frame: pd.DataFrame, pred: np.ndarray, task_type: str) -> None:
    if task_type == "regression":
        frame["y_pred"] = pred
        return
    for k in range(pred.shape[1]):
        frame[f"prob_{k}"] = pred[:, k]
    frame["y_pred"] = np.argmax(pred, axis=1)


def _row_frame(name, ids, subjects, folds, y, pred, task_type) -> pd.DataFrame:
    frame = pd.DataFrame({"modality_set": name, "row_id": ids, "subject_id": subjects,
                          "fold": folds,
                          "y_true": y if task_type == "regression" else y.astype(int)})
    _add_prediction_columns(frame, pred, task_type)
    return frame


def _subject_frame(name, groups, folds, y, pred, task_type, labels_constant) -> pd.DataFrame:
    """Mean prediction per subject and the outer fold that held the subject out (``folds``, per
    row); ``y_true`` is the subject's label (regression: mean score; NaN for classes that vary
    within a subject)."""
    y_unit, pred_unit, subjects = _unit_arrays(y, groups, pred, unit="subject")
    if task_type != "regression":
        y_unit = y_unit.astype(int) if labels_constant else np.full(len(subjects), np.nan)
    # Every row of a subject is in the same outer fold (checked by cv.assert_no_subject_leak).
    fold = pd.Series(folds, index=groups).groupby(level=0).first().reindex(subjects).to_numpy()
    frame = pd.DataFrame({"modality_set": name, "subject_id": subjects, "fold": fold,
                          "n_rows": pd.Series(groups).value_counts().reindex(subjects)
                          .to_numpy(), "y_true": y_unit})
    _add_prediction_columns(frame, pred_unit, task_type)
    return frame


def _families_label(columns) -> str:
    return "+".join(columns_by_family(columns))


def _paired(spec, unit_data, a: str, b: str, *, n_bootstrap, ci_level, seed) -> dict:
    """Set ``a`` minus set ``b`` in ``spec``'s metric, with the paired subject-level bootstrap
    interval (both scored on identical outer folds, so each resample scores both on the same
    subjects); ``better`` is True only when the interval lies on the good side of zero."""
    y_unit, pred_a, subjects = unit_data[a]
    _, pred_b, _ = unit_data[b]
    diff = paired_difference(spec.function, y_unit, pred_a, pred_b, subjects=subjects,
                             n_boot=n_bootstrap, level=ci_level, seed=seed)
    better = diff["ci_low"] > 0 if spec.higher_is_better else diff["ci_high"] < 0
    return {"difference": diff["estimate"], "ci_low": diff["ci_low"], "ci_high": diff["ci_high"],
            "n_valid": diff["n_valid"], "better": bool(better), "note": diff["note"]}


def _comparisons(sets, unit_data, metrics, *, task_type, primary, n_bootstrap, ci_level,
                 seed) -> pd.DataFrame:
    """Each multimodal set against the best of its components (paired): the single-family
    sets whose columns all belong to it (so a control set outside it is never a component)."""
    spec = metric_spec(task_type, primary)
    n_families = {name: len(columns_by_family(cols)) for name, cols in sets.items()}
    estimate = metrics[metrics.metric == primary].set_index("modality_set")["estimate"]
    rows = []
    for name, columns in sets.items():
        if n_families[name] < 2:
            continue
        components = [u for u, cols in sets.items()
                      if n_families[u] == 1 and set(cols) <= set(columns)
                      and np.isfinite(estimate[u])]
        if not components:
            continue
        pick = max if spec.higher_is_better else min
        best = pick(components, key=lambda u: estimate[u])
        paired = _paired(spec, unit_data, name, best, n_bootstrap=n_bootstrap, ci_level=ci_level,
                         seed=seed)
        rows.append({"fusion_set": name, "unimodal_set": best, "metric": primary,
                     "higher_is_better": spec.higher_is_better,
                     "fusion": float(estimate[name]), "unimodal": float(estimate[best]),
                     "difference": paired["difference"], "ci_low": paired["ci_low"],
                     "ci_high": paired["ci_high"], "n_valid": paired["n_valid"],
                     "fusion_better": paired["better"], "note": paired["note"]})
    columns = ["fusion_set", "unimodal_set", "metric", "higher_is_better", "fusion", "unimodal",
               "difference", "ci_low", "ci_high", "n_valid", "fusion_better", "note"]
    return pd.DataFrame(rows, columns=columns)


BENCHMARK_COLUMNS = ["modality_set", "benchmark_set", "metric", "higher_is_better", "model",
                     "benchmark", "difference", "ci_low", "ci_high", "n_valid",
                     "beats_benchmark", "note"]


def _benchmark_comparisons(sets, unit_data, metrics, *, benchmark_set: str, task_type, primary,
                           n_bootstrap, ci_level, seed) -> pd.DataFrame:
    """Every other set against the benchmark set (paired, identical folds): a set adds to the
    benchmark only when the interval of the difference excludes zero on the good side."""
    spec = metric_spec(task_type, primary)
    estimate = metrics[metrics.metric == primary].set_index("modality_set")["estimate"]
    rows = []
    for name in sets:
        if name == benchmark_set:
            continue
        paired = _paired(spec, unit_data, name, benchmark_set, n_bootstrap=n_bootstrap,
                         ci_level=ci_level, seed=seed)
        rows.append({"modality_set": name, "benchmark_set": benchmark_set, "metric": primary,
                     "higher_is_better": spec.higher_is_better, "model": float(estimate[name]),
                     "benchmark": float(estimate[benchmark_set]),
                     "difference": paired["difference"], "ci_low": paired["ci_low"],
                     "ci_high": paired["ci_high"], "n_valid": paired["n_valid"],
                     "beats_benchmark": paired["better"], "note": paired["note"]})
    return pd.DataFrame(rows, columns=BENCHMARK_COLUMNS)


def _headline(comparisons: pd.DataFrame, sets: dict, fusion_set: str | None) -> dict:
    """The comparison behind the claim "fusion beats unimodal" (false unless its CI excludes 0)."""
    if fusion_set is None:
        multimodal = [n for n in sets if len(columns_by_family(sets[n])) > 1]
        if DEFAULT_FUSION_SET in multimodal:
            fusion_set = DEFAULT_FUSION_SET
        elif multimodal:
            fusion_set = max(multimodal, key=lambda n: len(columns_by_family(sets[n])))
    row = comparisons[comparisons.fusion_set == fusion_set]
    if row.empty:
        return {"fusion_set": fusion_set, "fusion_beats_unimodal": False,
                "note": "no multimodal set with a scored single-family component to compare"}
    record = row.iloc[0].to_dict()
    record["fusion_beats_unimodal"] = bool(record.pop("fusion_better"))
    return record


def _permuted_labels(y, groups, rng) -> np.ndarray:
    """Subject-wise permutation: subjects swap labels; all rows of a subject keep one label."""
    codes, _ = pd.factorize(groups, sort=True)
    first_row = np.array([np.flatnonzero(codes == s)[0] for s in range(codes.max() + 1)])
    subject_labels = y[first_row]
    return rng.permutation(subject_labels)[codes]


def _permutation_test(X, y, groups, sets, plan, observed, *, names, model, task_type,
                      n_classes, seed, n_inner_splits, model_params, n_permutations, primary,
                      unit, n_jobs):
    """Rerun the nested CV on subject-wise permuted labels (outer folds re-drawn with the same
    rule); p = (1 + #null as extreme as observed) / (1 + #valid permutations), Phipson and
    Smyth 2010. Permutations where the metric is undefined are kept in the null table with the
    reason and left out of the p-value."""
    spec = metric_spec(task_type, primary)
    jobs, keys = [], []
    for p in range(n_permutations):
        rng = np.random.default_rng(np.random.SeedSequence([seed, PERMUTATION_STREAM, p]))
        y_perm = _permuted_labels(y, groups, rng)
        plan_perm = plan.resplit(y_perm, groups)
        for name in names:
            jobs.append((sets[name], plan_perm, y_perm))
            keys.append((p, name))
    outputs = _run_folds(X, y, groups, jobs, model=model, task_type=task_type,
                         n_classes=n_classes, seed=seed, n_inner_splits=n_inner_splits,
                         model_params=model_params, n_jobs=n_jobs)
    null_rows = []
    for (p, name), (job, (pred, _)) in zip(keys, zip(jobs, outputs)):
        y_unit, pred_unit, _ = _unit_arrays(job[2], groups, pred, unit=unit)
        value, note = float("nan"), ""
        try:
            value = spec.function(y_unit, pred_unit)
        except UndefinedMetric as reason:
            note = str(reason)
        null_rows.append({"modality_set": name, "permutation": p, "metric": primary,
                          "value": value, "note": note})
    null = pd.DataFrame(null_rows, columns=["modality_set", "permutation", "metric", "value",
                                            "note"])
    summary = []
    for name in names:
        values = null.loc[null.modality_set == name, "value"].dropna().to_numpy()
        as_extreme = values >= observed[name] if spec.higher_is_better \
            else values <= observed[name]
        p_value = (1 + int(as_extreme.sum())) / (1 + len(values)) \
            if np.isfinite(observed[name]) else float("nan")
        summary.append({"modality_set": name, "metric": primary, "observed": observed[name],
                        "p_value": p_value,
                        "n_permutations": len(values),
                        "null_mean": float(values.mean()) if len(values) else float("nan"),
                        "null_sd": float(values.std()) if len(values) else float("nan")})
    return pd.DataFrame(summary), null


def _ablation(sets, metrics, permutation, *, unit, n_units) -> pd.DataFrame:
    rows = []
    for name, columns in sets.items():
        row = {"modality_set": name, "families": _families_label(columns),
               "n_features": len(columns), "unit": unit, "n_units": n_units}
        for record in metrics[metrics.modality_set == name].itertuples():
            row[record.metric] = record.estimate
            row[f"{record.metric}_ci_low"] = record.ci_low
            row[f"{record.metric}_ci_high"] = record.ci_high
        if permutation is not None and name in set(permutation.modality_set):
            row["permutation_p_value"] = float(
                permutation.loc[permutation.modality_set == name, "p_value"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


def nested_cv(X: pd.DataFrame, y, groups, *, model: str, modality_sets: dict, task_type: str,
              outer_splits: SplitPlan, seed: int, n_jobs: int = 1, n_inner_splits: int = 3,
              model_params: dict | None = None, n_bootstrap: int = 1000,
              ci_level: float = 0.95, n_permutations: int = 100,
              permutation_sets: list | None = None, primary_metric: str | None = None,
              fusion_set: str | None = None, benchmark_set: str | None = None) -> dict:
    """Evaluate one model on every modality set with nested, subject-grouped CV.

    Parameters
    ----------
    X : DataFrame
        Feature table, one row per subject (or per recording), columns
        ``<modality>__<task>__<feature>`` and ``meta__<name>``; NaN allowed.
    y : Series or array
        Target per row (index like ``X`` when a Series): 0/1, codes 0..K-1 or scores.
    groups : Series or array
        Subject id per row.
    model : {"xgb", "fusion"}
    modality_sets : dict
        Name -> list of columns, e.g. ``{"video": [...], "audio": [...], "metadata": [...],
        "video+audio": [...], "all": [...]}``. Each set's family mix (video, audio,
        metadata) is read from its column names.
    task_type : {"binary", "multiclass", "regression"}
    outer_splits : SplitPlan
        From ``cv.make_outer_splits`` on these rows; shared by every set.
    seed : int
        Seeds every fit (per fold), the bootstrap and the permutations.
    n_jobs : int
        joblib workers; results do not depend on it.
    n_inner_splits : int
        Inner folds per outer training part.
    model_params : dict, optional
        Model settings (``xgb``: ``{"grid": [...]}``; ``fusion``: ``FusionSettings`` fields).
    n_bootstrap : int
        Bootstrap resamples for every interval.
    ci_level : float
        Interval coverage.
    n_permutations : int
        Label permutations (each reruns the whole nested CV of every set in
        ``permutation_sets``); 0 skips the test.
    permutation_sets : list of str, optional
        Sets to permutation-test (default: all).
    primary_metric : str, optional
        Metric of comparisons and of the permutation test (default: ROC AUC for
        classification, RMSE for regression).
    fusion_set : str, optional
        The set behind the headline claim (default ``"video+audio"`` if present, else the set
        mixing the most families).
    benchmark_set : str, optional
        A set every other set must beat to add anything (e.g. the clinical score alone,
        ``models.modalities.BENCHMARK_SET``); each is compared with it by the paired bootstrap
        difference of the primary metric.

    Returns
    -------
    dict
        ``protocol`` (dict), ``folds``, ``predictions`` (row level), ``subject_predictions``,
        ``metrics`` (long), ``ablation`` (wide), ``comparisons`` (DataFrames),
        ``fusion_vs_unimodal`` (dict), ``benchmark`` (DataFrame, empty without a benchmark set),
        ``permutation`` and ``permutation_null`` (DataFrames, empty when skipped), ``fitted``
        (per set and fold model summaries, DataFrame).
    """
    check_option("model", model, ESTIMATORS)
    if not isinstance(X, pd.DataFrame):
        raise ConfigError("X must be a pandas DataFrame with named feature columns")
    if n_bootstrap < 1 or n_permutations < 0 or not 0 < ci_level < 1:
        raise ConfigError(f"need n_bootstrap >= 1, n_permutations >= 0 and 0 < ci_level < 1; "
                          f"got {n_bootstrap}, {n_permutations}, {ci_level}")
    y_values, n_classes = check_target(_aligned_values(y, X, "the target"), task_type=task_type)
    group_values = _subject_ids(groups, X)
    sets = _check_modality_sets(X, modality_sets)
    if outer_splits.n_rows != len(X) or outer_splits.task_type != task_type:
        raise ConfigError(f"the outer splits were made for {outer_splits.n_rows} rows and a "
                          f"{outer_splits.task_type!r} target; this table has {len(X)} rows "
                          f"and a {task_type!r} target")
    assert_no_subject_leak(outer_splits.folds, group_values)
    primary = primary_metric or PRIMARY_METRIC[task_type]
    metric_spec(task_type, primary)
    names = list(sets)
    perm_names = list(permutation_sets) if permutation_sets is not None else names
    for name in perm_names:
        check_option("permutation set", name, names)
    if fusion_set is not None:
        check_option("fusion_set", fusion_set, names)
    if benchmark_set is not None:
        check_option("benchmark_set", benchmark_set, names)
    labels_constant = labels_constant_within_subject(y_values, group_values)
    unit = "subject" if labels_constant else "row"

    fit_options = dict(model=model, task_type=task_type, n_classes=n_classes, seed=seed,
                       n_inner_splits=n_inner_splits, model_params=model_params, n_jobs=n_jobs)
    outputs = _run_folds(X, y_values, group_values,
                         [(sets[name], outer_splits, y_values) for name in names], **fit_options)

    fold_of_row = np.empty(len(X), dtype=int)
    for fold in outer_splits.folds:
        fold_of_row[fold.test] = fold.index
    ids = X.index.astype(str).to_numpy()
    predictions, subject_predictions, metric_frames, fitted, unit_data = [], [], [], [], {}
    for name, (pred, summaries) in zip(names, outputs):
        predictions.append(_row_frame(name, ids, group_values, fold_of_row, y_values,
                                             pred, task_type))
        subject_predictions.append(_subject_frame(name, group_values, fold_of_row, y_values, pred,
                                                  task_type, labels_constant))
        unit_data[name] = _unit_arrays(y_values, group_values, pred, unit=unit)
        fitted += [{"modality_set": name, "fold": s["fold"],
                    "summary": json.dumps(s, sort_keys=True)} for s in summaries]
    # The bootstrap of every set's metrics is pure and as costly as many fits: it runs on the
    # workers too, gathered in set order.
    tables = run_parallel([delayed(metric_table)(
        unit_data[name][0], unit_data[name][1], subjects=unit_data[name][2], task_type=task_type,
        n_boot=n_bootstrap, level=ci_level, seed=seed) for name in names], n_jobs=n_jobs)
    for name, table in zip(names, tables):
        table.insert(0, "modality_set", name)
        metric_frames.append(table)
    metrics = pd.concat(metric_frames, ignore_index=True)
    comparisons = _comparisons(sets, unit_data, metrics, task_type=task_type, primary=primary,
                               n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
    benchmark = pd.DataFrame(columns=BENCHMARK_COLUMNS) if benchmark_set is None else \
        _benchmark_comparisons(sets, unit_data, metrics, benchmark_set=benchmark_set,
                               task_type=task_type, primary=primary, n_bootstrap=n_bootstrap,
                               ci_level=ci_level, seed=seed)

    permutation = pd.DataFrame(columns=["modality_set", "metric", "observed", "p_value",
                                        "n_permutations", "null_mean", "null_sd"])
    permutation_null = pd.DataFrame(columns=["modality_set", "permutation", "metric", "value",
                                             "note"])
    permutation_note = ""
    if n_permutations > 0 and not labels_constant:
        permutation_note = ("skipped: labels vary within subjects, so subjects cannot swap "
                            "labels")
    elif n_permutations > 0 and perm_names:
        observed = metrics[metrics.metric == primary].set_index("modality_set")["estimate"]
        permutation, permutation_null = _permutation_test(
            X, y_values, group_values, sets, outer_splits, observed, names=perm_names,
            n_permutations=n_permutations, primary=primary, unit=unit, **fit_options)

    n_units = len(unit_data[names[0]][0])
    protocol = {
        "model": model, "task_type": task_type, "n_classes": n_classes, "seed": seed,
        "outer_splits": outer_splits.describe(), "n_inner_splits": n_inner_splits,
        "model_params": model_params or {}, "unit": unit, "n_rows": len(X),
        "n_subjects": int(len(pd.unique(group_values))), "n_units": n_units,
        "n_bootstrap": n_bootstrap, "ci_level": ci_level, "ci_method": "percentile, "
        "subjects resampled", "n_permutations": n_permutations,
        "permutation_sets": perm_names if not permutation_note else [],
        "permutation_note": permutation_note, "primary_metric": primary,
        "benchmark_set": benchmark_set,
        "modality_sets": {n: {"families": _families_label(c), "n_features": len(c)}
                          for n, c in sets.items()},
        "metrics": [spec.name for spec in METRICS[task_type]],
    }
    folds = pd.DataFrame({"row_id": ids, "subject_id": group_values, "fold": fold_of_row})
    return {
        "protocol": protocol,
        "folds": folds,
        "predictions": pd.concat(predictions, ignore_index=True),
        "subject_predictions": pd.concat(subject_predictions, ignore_index=True),
        "metrics": metrics,
        "ablation": _ablation(sets, metrics, permutation if len(permutation) else None,
                              unit=unit, n_units=n_units),
        "comparisons": comparisons,
        "fusion_vs_unimodal": _headline(comparisons, sets, fusion_set),
        "benchmark": benchmark,
        "permutation": permutation,
        "permutation_null": permutation_null,
        "fitted": pd.DataFrame(fitted, columns=["modality_set", "fold", "summary"]),
    }


def results_summary(results: dict) -> dict:
    """The JSON-ready part of ``nested_cv`` results (for ``metrics.json``); NaN become None
    when written with ``artifacts.write_json``."""
    return {
        "protocol": results["protocol"],
        "metrics": results["metrics"].to_dict(orient="records"),
        "ablation": results["ablation"].to_dict(orient="records"),
        "comparisons": results["comparisons"].to_dict(orient="records"),
        "fusion_vs_unimodal": results["fusion_vs_unimodal"],
        "benchmark": results["benchmark"].to_dict(orient="records"),
        "permutation": results["permutation"].to_dict(orient="records"),
    }


def fit_final(X: pd.DataFrame, y, groups, *, model: str, columns: list, task_type: str,
              seed: int, n_inner_splits: int = 3, model_params: dict | None = None):
    """Fit the final model on all rows (hyper-parameters or epochs chosen by grouped inner CV).

    Parameters
    ----------
    X : DataFrame
        Feature table.
    y, groups : Series or array
        Target and subject id per row.
    model : {"xgb", "fusion"}
    columns : list of str
        The modality set's columns.
    task_type : {"binary", "multiclass", "regression"}
    seed : int
        Seed of the fit.
    n_inner_splits : int
        Inner folds.
    model_params : dict, optional
        As in ``nested_cv``.

    Returns
    -------
    XGBModel or FusionModel
        Save it with ``artifacts.save_bundle``.
    """
    check_option("model", model, ESTIMATORS)
    if not isinstance(X, pd.DataFrame):
        raise ConfigError("X must be a pandas DataFrame with named feature columns")
    y_values, n_classes = check_target(_aligned_values(y, X, "the target"), task_type=task_type)
    group_values = _subject_ids(groups, X)
    columns = _check_modality_sets(X, {"final": columns})["final"]
    fit = estimator_function(model, "fit")
    return fit(X[columns], y_values, group_values, task_type=task_type, n_classes=n_classes,
               seed=seed, n_inner_splits=n_inner_splits, params=model_params)

"""Explanations of a target's XGBoost model, computed by ``train`` and kept with the model set.

The report shows them and fits nothing; each is computed once, from models that training fits.

- ``gain_importance``: XGBoost total gain of the final model per feature (its share of the summed
  loss reduction of every split on that feature).
- ``shap_contributions``: exact TreeSHAP values (Lundberg et al. 2020) from XGBoost itself
  (``pred_contribs=True``), in the model's margin units (log-odds for classifiers, the target's
  unit for regression).
- ``oof_explanations``: XGBoost refit on each outer fold of the evaluation (same folds, the final
  model's hyper-parameters), giving out-of-fold permutation importance (how much the primary
  metric worsens when one feature is shuffled among the held-out subjects) and out-of-fold SHAP
  values (each subject explained by a model that never saw it).
- ``importance_frame`` and ``shap_frame`` turn them into the model set's tables
  (``models.modelset.IMPORTANCE_FILE``, ``models.modelset.SHAP_FILE``); ``gain_of``,
  ``permutation_of`` and ``shap_of`` read them back exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost

from core.errors import AvstrokeError, ConfigError, check_option
from models.cv import make_outer_splits
from models.metrics import PRIMARY_METRIC, UndefinedMetric, metric_spec
from models.preprocess import numeric_matrix
from models.xgb import fit_xgb, scoring_matrix


class ImportanceError(AvstrokeError):
    """Importances cannot be computed for this model or table; the message says why."""


def _booster_of(model) -> xgboost.Booster:
    booster = getattr(model, "booster", None)
    if not isinstance(booster, xgboost.Booster):
        raise ImportanceError(f"tree importances need an XGBoost model; got a "
                              f"{getattr(model, 'kind', type(model).__name__)!r} model")
    return booster


def gain_importance(model) -> pd.DataFrame:
    """Total gain of each feature the final XGBoost model can use.

    Parameters
    ----------
    model : XGBModel
        A fitted model (``models.xgb``), e.g. ``artifacts.load_bundle(folder).model``.

    Returns
    -------
    DataFrame
        ``column``, ``gain`` (summed loss reduction of every split on the feature, in the
        objective's units; 0 for a feature no tree splits on) and ``gain_share`` (its fraction of
        the total), sorted by gain, largest first.
    """
    booster = _booster_of(model)
    columns = list(model.preprocessor.kept_columns)
    scores = booster.get_score(importance_type="total_gain")
    gain = np.array([float(scores.get(c, 0.0)) for c in columns])
    total = gain.sum()
    share = gain / total if total > 0 else np.zeros_like(gain)
    return _by_gain(pd.DataFrame({"column": columns, "gain": gain, "gain_share": share}))


def _by_gain(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values("gain", ascending=False, kind="stable").reset_index(drop=True)


def _by_importance(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class ShapResult:
    """TreeSHAP values of some rows.

    Attributes
    ----------
    columns : list of str
        Feature columns the model uses, in its order.
    values : ndarray
        (n, p) for binary (towards class 1) and regression; (n, K, p) for multiclass. Margin
        units: log-odds (binary), per-class raw score (multiclass), target unit (regression).
    base : ndarray
        (n,) or (n, K): the model's expected margin, so ``base + values.sum(-1)`` is the margin.
    data : ndarray
        (n, p) the explained feature values (NaN where missing).
    """

    columns: list
    values: np.ndarray
    base: np.ndarray
    data: np.ndarray


def shap_contributions(model, X: pd.DataFrame) -> ShapResult:
    """Exact TreeSHAP values of the rows of ``X`` under an XGBoost model.

    Parameters
    ----------
    model : XGBModel
        Fitted XGBoost model with its preprocessing.
    X : DataFrame
        Rows to explain; must hold the model's input columns (extra columns are ignored).

    Returns
    -------
    ShapResult
    """
    booster = _booster_of(model)
    columns = list(model.preprocessor.kept_columns)
    data = model.preprocessor.transform(X, what="table to explain")
    contributions = booster.predict(scoring_matrix(data, columns), pred_contribs=True)
    return ShapResult(columns=columns, values=contributions[..., :-1],
                      base=contributions[..., -1], data=data)


def _metric_value(spec, y: np.ndarray, pred: np.ndarray) -> float:
    try:
        return float(spec.function(y, pred))
    except UndefinedMetric as reason:
        raise ImportanceError(f"permutation importance needs the {spec.name} of the out-of-fold "
                              f"predictions, which is undefined here: {reason}") from None


def oof_explanations(X: pd.DataFrame, y, groups, *, columns: list, task_type: str,
                     setting: dict, n_splits: int, seed: int, strategy: str = "kfold",
                     n_repeats: int = 5, metric: str | None = None) -> dict:
    """Out-of-fold permutation importance and SHAP values of XGBoost at one setting.

    XGBoost is refit on the training part of each outer fold (``models.cv.make_outer_splits``
    with the evaluation's number of folds, strategy and seed, hence the evaluation's folds) with
    the hyper-parameters ``setting`` (the final model's; they were chosen on all subjects, the
    only information that crosses folds). Each held-out subject is then explained by the model
    that did not see it.

    Permutation importance of a feature = metric on the pooled out-of-fold predictions minus the
    metric after shuffling that feature among the held-out rows of each fold (sign flipped for
    metrics where lower is better, so positive = the feature helps), mean and SD over
    ``n_repeats`` shuffles. When a fold holds a single row (leave-one-subject-out) there is
    nothing to shuffle within it, so the shuffle then runs over all held-out rows: a row gets
    another subject's value of the feature, never anyone's label. A feature no fold model splits
    on cannot change a prediction, so its importance is exactly 0 and it is not shuffled.

    Parameters
    ----------
    X : DataFrame
        The target's rows (one per subject) with at least ``columns``.
    y : array-like
        Target per row (class codes or scores).
    groups : array-like
        Subject id per row.
    columns : list of str
        Feature columns (the final model's input columns).
    task_type : {"binary", "multiclass", "regression"}
    setting : dict
        XGBoost hyper-parameters (``models.xgb.GRID_KEYS``), e.g. ``model.setting``.
    n_splits : int
        Outer folds.
    seed : int
        Seed of the folds, the fits and the shuffles.
    strategy : {"kfold", "leave_one_subject_out"}
        As in the evaluation protocol.
    n_repeats : int
        Shuffles per feature (>= 1).
    metric : str, optional
        Metric of the permutation importance (default: the primary metric, ROC AUC or RMSE).

    Returns
    -------
    dict
        ``permutation`` (DataFrame: ``column``, ``importance``, ``importance_sd``, sorted),
        ``metric`` (name), ``baseline`` (metric of the unshuffled out-of-fold predictions),
        ``shap`` (ShapResult over all rows, in ``X``'s row order, each from its fold's model),
        ``n_splits``.
    """
    check_option("task_type", task_type, PRIMARY_METRIC)
    if n_repeats < 1:
        raise ConfigError(f"n_repeats must be at least 1; got {n_repeats}")
    metric = metric or PRIMARY_METRIC[task_type]
    spec = metric_spec(task_type, metric)
    y = np.asarray(y, dtype=np.float64)
    groups = np.asarray(groups).astype(str)
    n_classes = 0 if task_type == "regression" else max(int(y.max()) + 1, 2)
    plan = make_outer_splits(y, groups, task_type=task_type, n_splits=n_splits,
                             strategy=strategy, seed=seed)
    fitted = []
    for fold in plan.folds:
        model = fit_xgb(X.iloc[fold.train][columns], y[fold.train], groups[fold.train],
                        task_type=task_type, n_classes=n_classes,
                        seed=seed, params={"grid": [dict(setting)]})
        fitted.append((fold, model))
    test_tables = [X.iloc[fold.test][columns].reset_index(drop=True) for fold, _ in fitted]
    # Each fold's held-out rows as its model's raw input matrix, taken out once: a shuffle then
    # changes one column of a copy (thousands of predictions per target).
    raw = [numeric_matrix(table, model.preprocessor.kept_columns, what="held-out rows")
           for (_, model), table in zip(fitted, test_tables)]
    positions = [{c: j for j, c in enumerate(model.preprocessor.kept_columns)} for _, model in fitted]
    shape = (len(X),) if task_type == "regression" else (len(X), n_classes)
    baseline_pred = np.full(shape, np.nan)
    for (fold, model), matrix in zip(fitted, raw):
        baseline_pred[fold.test] = model.predict_values(model.preprocessor.apply(matrix))
    baseline = _metric_value(spec, y, baseline_pred)

    used = set()
    for _, model in fitted:
        gains = gain_importance(model)
        used |= set(gains.loc[gains["gain"] > 0, "column"])
    rng = np.random.default_rng(np.random.SeedSequence([seed, 104_729]))
    within_folds = min(len(fold.test) for fold in plan.folds) > 1
    held_out = np.concatenate([fold.test for fold in plan.folds])
    rows = []
    for column in columns:
        if column not in used:
            rows.append({"column": column, "importance": 0.0, "importance_sd": 0.0})
            continue
        drops = []
        values = X[column].to_numpy(dtype=np.float64, na_value=np.nan)
        for _ in range(n_repeats):
            shuffled_values = values.copy()
            if not within_folds:
                shuffled_values[held_out] = rng.permutation(values[held_out])
            pred = baseline_pred.copy()
            for (fold, model), matrix, position in zip(fitted, raw, positions):
                # drawn before the skip below, so the random stream (and every later fold's
                # shuffle) does not depend on which columns each fold's preprocessing kept
                shuffled_column = (rng.permutation(values[fold.test]) if within_folds
                                   else shuffled_values[fold.test])
                if column not in position:  # this fold's model dropped it: nothing changes
                    continue
                shuffled = matrix.copy()
                shuffled[:, position[column]] = shuffled_column
                pred[fold.test] = model.predict_values(model.preprocessor.apply(shuffled))
            value = _metric_value(spec, y, pred)
            drops.append(baseline - value if spec.higher_is_better else value - baseline)
        rows.append({"column": column, "importance": float(np.mean(drops)),
                     "importance_sd": float(np.std(drops))})
    return {"permutation": _by_importance(pd.DataFrame(rows)), "metric": metric,
            "baseline": baseline, "shap": _pooled_shap(fitted, test_tables, columns, len(X)),
            "n_splits": len(plan.folds)}


def _pooled_shap(fitted, test_tables, columns: list, n_rows: int) -> ShapResult:
    """SHAP of every held-out row under its fold's model, on the full column list (a column a
    fold model dropped as constant or empty contributes 0 there)."""
    values = base = data = None
    for (fold, model), table in zip(fitted, test_tables):
        part = shap_contributions(model, table)
        position = [columns.index(c) for c in part.columns]
        per_class = part.values.shape[1:-1]  # () or (K,)
        if values is None:
            values = np.zeros((n_rows, *per_class, len(columns)))
            base = np.zeros((n_rows, *per_class))
            data = np.full((n_rows, len(columns)), np.nan)
        values[np.ix_(fold.test, *[np.arange(k) for k in per_class], position)] = part.values
        base[fold.test] = part.base
        data[fold.test] = table[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    return ShapResult(columns=list(columns), values=values, base=base, data=data)


# The two explainers of a target's subjects in the SHAP table.
FINAL, OUT_OF_FOLD = "final", "out_of_fold"
IMPORTANCE_COLUMNS = ["target", "column", "gain", "gain_share", "permutation", "permutation_sd"]
SHAP_COLUMNS = ["target", "explainer", "subject_id", "output", "column", "contribution", "value",
                "base"]


def explain_xgb(model, X: pd.DataFrame, y, groups, *, target: str, task_type: str,
                n_splits: int, seed: int, strategy: str, n_repeats: int) -> tuple[dict, pd.DataFrame,
                                                                                   pd.DataFrame]:
    """Every explanation the report shows of one target's final XGBoost model.

    Parameters
    ----------
    model : XGBModel
        The final model, fitted on all of ``X``.
    X : DataFrame
        The target's rows (one per subject), with the model's input columns.
    y, groups : array-like
        Target and subject id per row.
    target : str
        The target's specification, e.g. ``"group:PS-vs-HC"``, which keys the tables.
    task_type : {"binary", "multiclass", "regression"}
    n_splits, seed, strategy : int, int, str
        The evaluation's outer folds (``oof_explanations``).
    n_repeats : int
        Shuffles per feature of the permutation importance (>= 1).

    Returns
    -------
    summary : dict
        ``metric`` of the permutation importance, ``baseline`` (its value on the unshuffled
        out-of-fold predictions) and ``n_repeats``.
    importance : DataFrame
        ``importance_frame``.
    shap : DataFrame
        ``shap_frame`` of the final model and of the out-of-fold models, every subject.

    Raises
    ------
    ImportanceError
        If the final model splits on no feature (so it predicts one value for everyone and no
        feature has importance), or the permutation importance's metric is undefined.
    """
    gain = gain_importance(model)
    if not (gain["gain"] > 0).any():
        raise ImportanceError(f"the final XGBoost model makes no split on any feature (with "
                              f"{len(X)} participants its trees stay single leaves), so it "
                              "predicts the same value for everyone and no feature has importance")
    columns = list(model.feature_columns)
    subjects = np.asarray(groups).astype(str)
    oof = oof_explanations(X, np.asarray(y, dtype=np.float64), subjects, columns=columns,
                           task_type=task_type, setting=model.setting, n_splits=n_splits, seed=seed,
                           strategy=strategy, n_repeats=n_repeats)
    shap = pd.concat([shap_frame(shap_contributions(model, X), target=target, explainer=FINAL,
                                 subjects=subjects),
                      shap_frame(oof["shap"], target=target, explainer=OUT_OF_FOLD, subjects=subjects)],
                     ignore_index=True)
    summary = {"metric": oof["metric"], "baseline": oof["baseline"], "n_repeats": n_repeats}
    return summary, importance_frame(columns, gain, oof["permutation"], target=target), shap


def importance_frame(columns: list, gain: pd.DataFrame, permutation: pd.DataFrame, *,
                     target: str) -> pd.DataFrame:
    """One row per input column of the final model, in input order: ``IMPORTANCE_COLUMNS``.

    ``gain`` and ``gain_share`` (``gain_importance``) are NaN for a column the final model
    dropped (missing or constant on all subjects); ``permutation`` and ``permutation_sd`` are the
    out-of-fold permutation importance's ``importance`` and ``importance_sd``.
    """
    table = pd.DataFrame({"target": target, "column": list(columns)})
    table = table.merge(gain[["column", "gain", "gain_share"]], on="column", how="left")
    table = table.merge(permutation.rename(columns={"importance": "permutation",
                                                    "importance_sd": "permutation_sd"}),
                        on="column", how="left")
    return table[IMPORTANCE_COLUMNS]


def gain_of(importance: pd.DataFrame, target: str) -> pd.DataFrame:
    """``gain_importance`` of ``target``'s final model, read back from ``importance_frame`` rows."""
    rows = importance[(importance["target"] == target) & importance["gain"].notna()]
    return _by_gain(rows[["column", "gain", "gain_share"]])


def permutation_of(importance: pd.DataFrame, target: str) -> pd.DataFrame:
    """``oof_explanations(...)["permutation"]`` of ``target``, read back from ``importance_frame``
    rows."""
    rows = importance[importance["target"] == target]
    return _by_importance(rows[["column", "permutation", "permutation_sd"]].rename(
        columns={"permutation": "importance", "permutation_sd": "importance_sd"}))


def shap_frame(result: ShapResult, *, target: str, explainer: str, subjects) -> pd.DataFrame:
    """SHAP values as a long table: one row per subject, model output and column.

    ``output`` is the class for a multiclass model and 0 for a single-output one (binary: towards
    class 1; regression); ``value`` is the explained feature value (NaN where missing) and
    ``base`` the output's expected margin. Contributions and bases keep XGBoost's float32.
    """
    n, p = result.data.shape
    k = result.values.shape[1] if result.values.ndim == 3 else 1
    values = result.values.reshape(n, k, p)
    return pd.DataFrame({
        "target": target, "explainer": explainer,
        "subject_id": np.repeat(np.asarray(subjects).astype(str), k * p),
        "output": np.tile(np.repeat(np.arange(k), p), n),
        "column": np.tile(np.asarray(result.columns, dtype=object), n * k),
        "contribution": values.astype(np.float32).ravel(),
        "value": np.broadcast_to(result.data[:, None, :], (n, k, p)).ravel(),
        "base": np.repeat(result.base.astype(np.float32).reshape(n * k), p),
    })[SHAP_COLUMNS]


def shap_of(shap: pd.DataFrame, target: str, explainer: str) -> tuple[list, ShapResult]:
    """The subjects and the ``ShapResult`` of one explainer of ``target``, read back from
    ``shap_frame`` rows (subjects and columns in the order they were written)."""
    rows = shap[(shap["target"] == target) & (shap["explainer"] == explainer)]
    if rows.empty:
        raise ImportanceError(f"the model set holds no {explainer.replace('_', '-')} SHAP values "
                              f"of {target}")
    subjects = list(pd.unique(rows["subject_id"]))
    columns = list(pd.unique(rows["column"]))
    n, k, p = len(subjects), int(rows["output"].max()) + 1, len(columns)
    values = rows["contribution"].to_numpy().reshape(n, k, p)
    base = rows["base"].to_numpy().reshape(n, k, p)[:, :, 0]
    data = rows["value"].to_numpy(dtype=np.float64).reshape(n, k, p)[:, 0, :]
    if k == 1:
        values, base = values[:, 0, :], base[:, 0]
    return subjects, ShapResult(columns=columns, values=values, base=base, data=data)

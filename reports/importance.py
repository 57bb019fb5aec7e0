"""What the models learnt: feature names in plain words and four kinds of importance.

Everything here is pure (tables and fitted models in, tables out); nothing reads or writes files.

- ``plain_name``: a feature column as a clinician reads it, from the feature registry and the
  run's task vocabulary (``core.tasks``: a task is worded by its description), e.g.
  ``face__NSM_SPREAD__commissure_excursion_asym_pct`` -> "Left-right difference in mouth corner
  movement, in percent of the side that moves more (%), tight-lip smile task".
- ``gain_importance``: XGBoost total gain of the final model per feature (its share of the summed
  loss reduction of every split on that feature).
- ``shap_contributions``: exact TreeSHAP values (Lundberg et al. 2020) from XGBoost itself
  (``pred_contribs=True``), in the model's margin units (log-odds for classifiers, the target's
  unit for regression).
- ``oof_explanations``: XGBoost refit on each outer fold of the evaluation (same folds, the final
  model's hyper-parameters), giving out-of-fold permutation importance (how much the primary
  metric worsens when one feature is shuffled among the held-out subjects) and out-of-fold SHAP
  values (each subject explained by a model that never saw it).
- ``ablation_table``: modality-level importance, the metric of each modality set with its
  bootstrap interval and permutation p-value, as ``metrics.json`` records them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost

from core.errors import AvstrokeError, ConfigError, check_option
from features.registry import Feature, lookup, parse_column
from models.cv import make_outer_splits
from models.metrics import PRIMARY_METRIC, UndefinedMetric, metric_spec
from models.xgb import fit_xgb

MODALITY_TAGS = {"face": "face video", "quality": "tracking quality", "audio": "eGeMAPS",
                 "voice": "Praat", "ddk": "syllable repetition", "timing": "speech timing",
                 "nonspeech": "non-speech control", "meta": "participant information"}
MAX_NAME_CHARS = 120
MIN_LEAD_WORDS = 4
# Landmark indices such as "(|p62 - p66|)" mean nothing to a clinician reading a chart.
_LANDMARK_PARENS = re.compile(r"\s*\([^()]*\|?p\d+[^()]*\)")
_TASK_TAIL = re.compile(r"[;,]\s*(whole recording, )?one (speech )?task\.?$")


class ImportanceError(AvstrokeError):
    """Importances cannot be computed for this model or table; the message says why."""


def task_words(task: str, tasks: dict) -> str:
    """Plain words for a task code: its description in ``tasks`` (task name ->
    ``core.tasks.TaskSpec``), or the code itself for a task ``tasks`` does not hold."""
    return tasks[task].description if task in tasks else f"{task} task"


def _first_clause(text: str) -> str:
    """Text up to the first ':', ';' or sentence end outside parentheses; a lead-in of fewer
    than ``MIN_LEAD_WORDS`` words before a colon ("Fatigue: drop in ...") is kept with what
    follows it."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth or i + 1 >= len(text) or text[i + 1] != " ":
            continue
        if char == ":" and len(text[:i].split()) < MIN_LEAD_WORDS:
            continue
        if char in ":;.":
            return text[:i]
    return text


def short_description(feature: Feature) -> str:
    """The registry description cut to a label: the first clause, without landmark indices.

    eGeMAPS entries start with the openSMILE name ("eGeMAPS loudness_sma3_amean: mean of ...");
    the name is dropped, the words after it kept.
    """
    text = feature.description.strip()
    if text.startswith("eGeMAPS ") and ": " in text:
        text = text.split(": ", 1)[1]
    text = _LANDMARK_PARENS.sub("", text)
    text = _TASK_TAIL.sub("", text)
    text = _first_clause(text).rstrip(" .;,")
    if len(text) > MAX_NAME_CHARS:
        text = text[:MAX_NAME_CHARS].rsplit(" ", 1)[0]
        if text.count("(") > text.count(")"):
            text = text[:text.rindex("(")].rstrip()
        text += "..."
    return text[:1].upper() + text[1:]


def short_unit(feature: Feature) -> str:
    """The unit without landmark indices, e.g. "inter-ocular distances"."""
    unit = _LANDMARK_PARENS.sub("", feature.unit).strip()
    return re.sub(r"\s*\((IOD),?\s*\)", r" (\1)", unit)


def plain_name(column: str, tasks: dict) -> str:
    """A feature column in plain words with unit and task.

    Parameters
    ----------
    column : str
        ``<modality>__<task>__<feature>`` or ``<modality>__<feature>``.
    tasks : dict
        Task name -> ``core.tasks.TaskSpec``: the run's vocabulary, whose descriptions word
        the tasks.

    Returns
    -------
    str
        E.g. "Range of motion of the jaw opening, chin to nasion (inter-ocular distances),
        'pa' repetition task".

    Raises
    ------
    KeyError
        If the column has no registry entry (a broken contract).
    """
    feature = lookup(column)
    _, task, _ = parse_column(column)
    name = f"{short_description(feature)} ({short_unit(feature)})"
    return f"{name}, {task_words(task, tasks)}" if task else name


def plain_names(columns, tasks: dict) -> dict:
    """``plain_name`` of each column (``tasks`` the run's vocabulary), made unique by the
    measuring source where two collide.

    Returns
    -------
    dict
        Column -> name, in the order given.
    """
    columns = list(dict.fromkeys(columns))
    names = {c: plain_name(c, tasks) for c in columns}
    counts = pd.Series(list(names.values())).value_counts()
    for column, name in names.items():
        if counts[name] > 1:
            modality = parse_column(column)[0]
            names[column] = f"{name} [{MODALITY_TAGS.get(modality, modality)}]"
    counts = pd.Series(list(names.values())).value_counts()
    for column, name in names.items():
        if counts[name] > 1:
            names[column] = f"{name} [{parse_column(column)[2]}]"
    return names


def feature_info(columns, tasks: dict) -> pd.DataFrame:
    """One row per column: plain name (``tasks`` the run's vocabulary), description, unit, task,
    modality, direction, source."""
    names = plain_names(columns, tasks)
    rows = []
    for column, name in names.items():
        feature = lookup(column)
        task = parse_column(column)[1]
        rows.append({"column": column, "name": name, "description": feature.description,
                     "unit": feature.unit, "task": task or "", "modality": feature.modality,
                     "direction": feature.direction, "source": feature.source})
    return pd.DataFrame(rows, columns=["column", "name", "description", "unit", "task",
                                       "modality", "direction", "source"])


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
    table = pd.DataFrame({"column": columns, "gain": gain, "gain_share": share})
    return table.sort_values("gain", ascending=False, kind="stable").reset_index(drop=True)


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
    matrix = xgboost.DMatrix(data, feature_names=columns, missing=np.nan, nthread=1)
    contributions = booster.predict(matrix, pred_contribs=True)
    return ShapResult(columns=columns, values=contributions[..., :-1],
                      base=contributions[..., -1], data=data)


def mean_abs_shap(result: ShapResult) -> pd.DataFrame:
    """Mean |SHAP| per feature (multiclass: averaged over classes too), largest first."""
    magnitude = np.abs(result.values)
    if magnitude.ndim == 3:
        magnitude = magnitude.mean(axis=1)
    table = pd.DataFrame({"column": result.columns, "mean_abs_shap": magnitude.mean(axis=0)})
    return table.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)


def signed_contributions(result: ShapResult, *, classes: np.ndarray | None = None) -> np.ndarray:
    """(n, p) contributions towards one outcome per row.

    Binary: towards class 1; regression: towards a higher score; multiclass: towards
    ``classes[i]`` for row i (e.g. each row's predicted class), which is required then.
    """
    if result.values.ndim == 2:
        return result.values
    if classes is None:
        raise ConfigError("multiclass SHAP values need the class each row is explained towards")
    classes = np.asarray(classes, dtype=int)
    return result.values[np.arange(len(classes)), classes, :]


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
        ``predictions`` (out-of-fold predictions, (n,) or (n, K)), ``n_splits``.
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
    shape = (len(X),) if task_type == "regression" else (len(X), n_classes)
    baseline_pred = np.full(shape, np.nan)
    for (fold, model), table in zip(fitted, test_tables):
        baseline_pred[fold.test] = model.predict(table)
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
            pred = np.full(shape, np.nan)
            for (fold, model), table in zip(fitted, test_tables):
                shuffled = table.copy()
                shuffled[column] = (rng.permutation(shuffled[column].to_numpy()) if within_folds
                                    else shuffled_values[fold.test])
                pred[fold.test] = model.predict(shuffled)
            value = _metric_value(spec, y, pred)
            drops.append(baseline - value if spec.higher_is_better else value - baseline)
        rows.append({"column": column, "importance": float(np.mean(drops)),
                     "importance_sd": float(np.std(drops))})
    permutation = pd.DataFrame(rows).sort_values("importance", ascending=False, kind="stable")
    return {"permutation": permutation.reset_index(drop=True), "metric": metric,
            "baseline": baseline, "shap": _pooled_shap(fitted, test_tables, columns, len(X)),
            "predictions": baseline_pred, "n_splits": len(plan.folds)}


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


def importance_table(*, gain: pd.DataFrame, shap: pd.DataFrame, tasks: dict,
                     permutation: pd.DataFrame | None = None) -> pd.DataFrame:
    """Gain, mean |SHAP| and (optionally) permutation importance side by side, with names.

    Parameters
    ----------
    gain : DataFrame
        From ``gain_importance``.
    shap : DataFrame
        From ``mean_abs_shap``.
    tasks : dict
        Task name -> ``core.tasks.TaskSpec`` (the run's vocabulary), for the names.
    permutation : DataFrame, optional
        ``oof_explanations(...)["permutation"]``.

    Returns
    -------
    DataFrame
        ``column``, ``name``, ``unit``, ``task``, ``modality``, ``direction``, ``gain_share``,
        ``mean_abs_shap``, [``permutation``, ``permutation_sd``], ``rank_gain``, ``rank_shap``;
        sorted by mean |SHAP| (ties by gain).
    """
    table = gain[["column", "gain_share"]].merge(shap, on="column", how="outer")
    if permutation is not None:
        table = table.merge(permutation.rename(columns={"importance": "permutation",
                                                        "importance_sd": "permutation_sd"}),
                            on="column", how="left")
    table = table.fillna({"gain_share": 0.0, "mean_abs_shap": 0.0})
    table["rank_gain"] = table["gain_share"].rank(ascending=False, method="min").astype(int)
    table["rank_shap"] = table["mean_abs_shap"].rank(ascending=False, method="min").astype(int)
    info = feature_info(table["column"], tasks)[["column", "name", "unit", "task", "modality",
                                                 "direction"]]
    table = info.merge(table, on="column")
    return table.sort_values(["mean_abs_shap", "gain_share"], ascending=False,
                             kind="stable").reset_index(drop=True)


def ablation_table(model_summary: dict, *, metric: str | None = None) -> pd.DataFrame:
    """Modality-level importance: each modality set's metric with CI and permutation p-value.

    Parameters
    ----------
    model_summary : dict
        ``metrics.json["targets"][target]["models"][model]`` (``evaluate.results_summary``).
    metric : str, optional
        Metric to show (default: the protocol's primary metric).

    Returns
    -------
    DataFrame
        ``modality_set``, ``families``, ``n_features``, ``metric``, ``estimate``, ``ci_low``,
        ``ci_high``, ``p_value`` (NaN when the set was not permutation-tested), ``note``.
    """
    protocol = model_summary.get("protocol", {})
    metric = metric or protocol.get("primary_metric")
    if not metric:
        raise ConfigError("the model summary names no primary metric; pass metric=")
    p_values = {r["modality_set"]: r.get("p_value") for r in model_summary.get("permutation", [])
                if r.get("metric", metric) == metric}
    sets = protocol.get("modality_sets", {})
    rows = []
    for record in model_summary.get("metrics", []):
        if record.get("metric") != metric:
            continue
        name = record["modality_set"]
        rows.append({"modality_set": name, "families": sets.get(name, {}).get("families", ""),
                     "n_features": sets.get(name, {}).get("n_features", np.nan), "metric": metric,
                     "estimate": _number(record.get("estimate")),
                     "ci_low": _number(record.get("ci_low")),
                     "ci_high": _number(record.get("ci_high")),
                     "p_value": _number(p_values.get(name)), "note": record.get("note") or ""})
    return pd.DataFrame(rows, columns=["modality_set", "families", "n_features", "metric",
                                       "estimate", "ci_low", "ci_high", "p_value", "note"])


def _number(value) -> float:
    """A JSON number or null as a float (null -> NaN: metrics.json writes NaN as null)."""
    return float("nan") if value is None else float(value)


def ranked_reasons(contributions: np.ndarray, *, top: int,
                   leave_out: np.ndarray | None = None) -> tuple[list[int], int]:
    """Positions of the features that pushed one prediction most, and how many were left out.

    Features rank by |contribution|, ties in column order; a zero contribution is no reason.

    Parameters
    ----------
    contributions : ndarray, shape (p,)
        SHAP values towards the explained outcome (margin units).
    top : int
        How many reasons (>= 1).
    leave_out : ndarray of bool, shape (p,), optional
        Features never to list, e.g. those missing in the input: the model saw no value of
        them, only its fallback for a missing one.

    Returns
    -------
    positions : list of int
        Up to ``top`` positions, largest |contribution| first.
    n_left_out : int
        Left-out features that ranked ahead of the last reason listed (all left-out features
        with a non-zero contribution when fewer than ``top`` reasons remain).
    """
    if top < 1:
        raise ConfigError(f"top must be at least 1; got {top}")
    contributions = np.asarray(contributions, dtype=float)
    skip = (np.zeros(contributions.shape, dtype=bool) if leave_out is None
            else np.asarray(leave_out, dtype=bool))
    if skip.shape != contributions.shape:
        raise ConfigError(f"leave_out has shape {skip.shape}; the contributions have "
                          f"{contributions.shape}")
    positions, n_left_out = [], 0
    for i in np.argsort(-np.abs(contributions), kind="stable"):
        if len(positions) == top or contributions[i] == 0:
            break
        if skip[i]:
            n_left_out += 1
        else:
            positions.append(int(i))
    return positions, n_left_out


def subject_reasons(contributions: np.ndarray, values: np.ndarray, columns: list, *, tasks: dict,
                    top: int = 5, leave_out: np.ndarray | None = None) -> pd.DataFrame:
    """The features that pushed one subject's prediction most, in plain words.

    Parameters
    ----------
    contributions : ndarray, shape (p,)
        The subject's SHAP values towards the explained outcome (margin units).
    values : ndarray, shape (p,)
        The subject's feature values (NaN where missing).
    columns : list of str
        Feature columns.
    tasks : dict
        Task name -> ``core.tasks.TaskSpec`` (the run's vocabulary), for the names.
    top : int
        How many reasons (>= 1).
    leave_out : ndarray of bool, shape (p,), optional
        Features never to list (``ranked_reasons``).

    Returns
    -------
    DataFrame
        ``column``, ``name``, ``value``, ``unit``, ``contribution``, ``pushes`` ("towards" or
        "away from" the explained outcome); features with contribution 0 are left out.
    """
    contributions = np.asarray(contributions, dtype=float)
    order, _ = ranked_reasons(contributions, top=top, leave_out=leave_out)
    chosen = [columns[i] for i in order]
    names = plain_names(chosen, tasks)
    rows = [{"column": columns[i], "name": names[columns[i]], "value": float(values[i]),
             "unit": short_unit(lookup(columns[i])), "contribution": float(contributions[i]),
             "pushes": "towards" if contributions[i] > 0 else "away from"} for i in order]
    return pd.DataFrame(rows, columns=["column", "name", "value", "unit", "contribution",
                                       "pushes"])

"""Performance metrics with subject-level bootstrap confidence intervals.

Conventions
-----------
- Classification predictions are probability matrices ``prob`` of shape (n, K), column k the
  probability of class k (K = 2 for binary). The predicted class is the arg-max, ties going to
  the lower class: for binary, class 1 when P(class 1) > 0.5.
- Regression predictions are 1-D arrays of predicted scores.
- A metric that is not defined on the data at hand (a single class present, constant
  predictions, outcomes perfectly separated for calibration) raises ``UndefinedMetric`` with the
  reason; tables record the reason instead of a silent NaN.
- Bootstrap: subjects are resampled with replacement and all rows of a drawn subject enter the
  resample (with one row per subject this is the ordinary bootstrap of subjects). Percentile
  intervals. Resamples on which the metric is undefined are skipped and counted. The resamples
  depend only on the subject ids and the seed, so every model and modality set scored on the
  same subjects with the same seed sees the same resamples (a paired comparison).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import rankdata

from core.errors import AvstrokeError, ConfigError, check_option

CALIBRATION_EPS = 1e-6


class UndefinedMetric(AvstrokeError):
    """A metric has no value on these data; the message says why."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its function and whether a higher value is better."""

    name: str
    function: object
    higher_is_better: bool
    description: str


def _predicted_class(prob: np.ndarray) -> np.ndarray:
    return np.argmax(prob, axis=1)


def _as_prob(prob) -> np.ndarray:
    prob = np.asarray(prob, dtype=np.float64)
    if prob.ndim != 2 or prob.shape[1] < 2:
        raise ValueError(f"probabilities must have shape (n, K>=2); got {prob.shape}")
    return prob


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney form of the ROC AUC; ties count one half."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise UndefinedMetric("ROC AUC needs both outcome classes; only one is present")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc(y_true, prob) -> float:
    """ROC AUC: binary on P(class 1); multiclass the macro mean of one-vs-rest AUCs.

    Raises ``UndefinedMetric`` when a class is absent.
    """
    y_true = np.asarray(y_true).astype(int)
    prob = _as_prob(prob)
    if prob.shape[1] == 2:
        return _binary_auc(y_true == 1, prob[:, 1])
    return float(np.mean([_binary_auc(y_true == k, prob[:, k]) for k in range(prob.shape[1])]))


def _recalls(y_true: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    recalls = np.empty(n_classes)
    for k in range(n_classes):
        members = y_true == k
        if not members.any():
            raise UndefinedMetric(f"class {k} is absent, so its recall is undefined")
        recalls[k] = np.mean(predicted[members] == k)
    return recalls


def _specificities(y_true: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    specificities = np.empty(n_classes)
    for k in range(n_classes):
        others = y_true != k
        if not others.any():
            raise UndefinedMetric(f"only class {k} is present, so specificity is undefined")
        specificities[k] = np.mean(predicted[others] != k)
    return specificities


def balanced_accuracy(y_true, prob) -> float:
    """Mean of per-class recalls (binary: mean of sensitivity and specificity)."""
    prob = _as_prob(prob)
    return float(np.mean(_recalls(np.asarray(y_true).astype(int), _predicted_class(prob),
                                  prob.shape[1])))


def sensitivity(y_true, prob) -> float:
    """Recall of class 1 (binary); macro mean of per-class recalls (multiclass)."""
    prob = _as_prob(prob)
    recalls = _recalls(np.asarray(y_true).astype(int), _predicted_class(prob), prob.shape[1])
    return float(recalls[1]) if prob.shape[1] == 2 else float(np.mean(recalls))


def specificity(y_true, prob) -> float:
    """Recall of class 0 (binary); macro mean of one-vs-rest specificities (multiclass)."""
    prob = _as_prob(prob)
    specs = _specificities(np.asarray(y_true).astype(int), _predicted_class(prob),
                           prob.shape[1])
    return float(specs[1]) if prob.shape[1] == 2 else float(np.mean(specs))


def _f1_of_class(y_true: np.ndarray, predicted: np.ndarray, k: int) -> float:
    true_pos = np.sum((predicted == k) & (y_true == k))
    denominator = np.sum(predicted == k) + np.sum(y_true == k)
    if denominator == 0:
        raise UndefinedMetric(f"class {k} is neither present nor predicted, so F1 is undefined")
    return float(2 * true_pos / denominator)


def f1(y_true, prob) -> float:
    """F1 of class 1 (binary); macro mean of per-class F1 (multiclass)."""
    prob = _as_prob(prob)
    y_true = np.asarray(y_true).astype(int)
    predicted = _predicted_class(prob)
    if prob.shape[1] == 2:
        return _f1_of_class(y_true, predicted, 1)
    return float(np.mean([_f1_of_class(y_true, predicted, k) for k in range(prob.shape[1])]))


def brier(y_true, prob) -> float:
    """Brier score: mean squared error of P(class 1) (binary); mean over rows of the summed
    squared errors over classes (multiclass, Brier 1950). 0 is perfect."""
    prob = _as_prob(prob)
    y_true = np.asarray(y_true).astype(int)
    if prob.shape[1] == 2:
        return float(np.mean((prob[:, 1] - y_true) ** 2))
    onehot = np.eye(prob.shape[1])[y_true]
    return float(np.mean(np.sum((prob - onehot) ** 2, axis=1)))


def _logistic_fit(y: np.ndarray, design: np.ndarray, offset: np.ndarray,
                  start: np.ndarray) -> np.ndarray:
    """Maximum-likelihood logistic regression by Newton-Raphson with step halving."""
    def loglik(beta):
        eta = design @ beta + offset
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    beta = start.astype(np.float64)
    current = loglik(beta)
    for _ in range(100):
        p = expit(design @ beta + offset)
        gradient = design.T @ (y - p)
        hessian = (design * (p * (1 - p))[:, None]).T @ design
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            raise UndefinedMetric("calibration fit is singular (predicted risks carry no "
                                  "information or outcomes are perfectly separated)") from None
        for _ in range(30):
            candidate = beta + step
            new = loglik(candidate)
            if new >= current - 1e-12:
                break
            step = step / 2
        beta, current = candidate, new
        if np.max(np.abs(beta)) > 1e3:
            break
        if np.max(np.abs(step)) < 1e-9:
            return beta
    raise UndefinedMetric("calibration fit has no finite maximum-likelihood solution "
                          "(outcomes perfectly separated by the predicted risk)")


def _calibration_inputs(y_true, prob) -> tuple[np.ndarray, np.ndarray]:
    prob = _as_prob(prob)
    if prob.shape[1] != 2:
        raise UndefinedMetric("calibration slope and intercept are defined here for binary "
                              "targets only")
    y = np.asarray(y_true).astype(np.float64)
    if y.min() == y.max():
        raise UndefinedMetric("calibration needs both outcome classes; only one is present")
    return y, logit(np.clip(prob[:, 1], CALIBRATION_EPS, 1 - CALIBRATION_EPS))


def calibration_slope(y_true, prob) -> float:
    """Slope b of logit P(y=1) = a + b * logit(p) (Van Calster et al. 2019; 1 is ideal,
    below 1 means over-confident predictions). Probabilities are clipped to [1e-6, 1-1e-6]."""
    y, lp = _calibration_inputs(y_true, prob)
    design = np.column_stack([np.ones_like(lp), lp])
    return float(_logistic_fit(y, design, np.zeros_like(lp), np.array([0.0, 1.0]))[1])


def calibration_intercept(y_true, prob) -> float:
    """Calibration-in-the-large a of logit P(y=1) = a + logit(p) with the slope fixed at 1
    (Van Calster et al. 2019; 0 is ideal, above 0 means risks are under-estimated)."""
    y, lp = _calibration_inputs(y_true, prob)
    design = np.ones((lp.size, 1))
    return float(_logistic_fit(y, design, lp, np.array([0.0]))[0])


def mae(y_true, y_pred) -> float:
    """Mean absolute error, in the target's unit."""
    return float(np.mean(np.abs(np.asarray(y_pred, float) - np.asarray(y_true, float))))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error, in the target's unit."""
    return float(np.sqrt(np.mean((np.asarray(y_pred, float) - np.asarray(y_true, float)) ** 2)))


def spearman(y_true, y_pred) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks)."""
    a = rankdata(np.asarray(y_true, float))
    b = rankdata(np.asarray(y_pred, float))
    if a.std() == 0 or b.std() == 0:
        raise UndefinedMetric("Spearman correlation is undefined when targets or predictions "
                              "are constant")
    return float(np.corrcoef(a, b)[0, 1])


_CLASSIFICATION = (
    MetricSpec("roc_auc", roc_auc, True, "ROC AUC (multiclass: macro one-vs-rest)"),
    MetricSpec("balanced_accuracy", balanced_accuracy, True, "mean per-class recall"),
    MetricSpec("sensitivity", sensitivity, True, "recall of class 1 (multiclass: macro recall)"),
    MetricSpec("specificity", specificity, True,
               "recall of class 0 (multiclass: macro one-vs-rest specificity)"),
    MetricSpec("f1", f1, True, "F1 of class 1 (multiclass: macro F1)"),
    MetricSpec("brier", brier, False, "Brier score"),
)
METRICS = {
    "binary": _CLASSIFICATION + (
        MetricSpec("calibration_slope", calibration_slope, True,
                   "logistic recalibration slope (ideal 1)"),
        MetricSpec("calibration_intercept", calibration_intercept, True,
                   "calibration-in-the-large (ideal 0)"),
    ),
    "multiclass": _CLASSIFICATION,
    "regression": (
        MetricSpec("mae", mae, False, "mean absolute error"),
        MetricSpec("rmse", rmse, False, "root mean squared error"),
        MetricSpec("spearman", spearman, True, "Spearman rank correlation"),
    ),
}
PRIMARY_METRIC = {"binary": "roc_auc", "multiclass": "roc_auc", "regression": "rmse"}


def metric_spec(task_type: str, name: str) -> MetricSpec:
    """The ``MetricSpec`` called ``name`` for a task type."""
    check_option("task_type", task_type, METRICS)
    specs = {spec.name: spec for spec in METRICS[task_type]}
    check_option("metric", name, specs)
    return specs[name]


def subject_resamples(subjects, *, n_boot: int, seed: int) -> list:
    """Row positions of ``n_boot`` bootstrap resamples drawn by subject.

    Parameters
    ----------
    subjects : array-like, shape (n_rows,)
        Subject id per row.
    n_boot : int
        Number of resamples.
    seed : int
        Seed; the same subjects and seed give the same resamples.

    Returns
    -------
    list of ndarray
        Each holds every row of each drawn subject, once per draw.
    """
    if n_boot < 1:
        raise ConfigError(f"the number of bootstrap resamples must be >= 1; got {n_boot}")
    codes, _ = pd.factorize(np.asarray(subjects), sort=True)
    n_subjects = int(codes.max()) + 1
    rows_of = [np.flatnonzero(codes == s) for s in range(n_subjects)]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_subjects, size=(n_boot, n_subjects))
    if all(len(r) == 1 for r in rows_of):
        first_row = np.array([r[0] for r in rows_of])
        return [first_row[d] for d in draws]
    return [np.concatenate([rows_of[s] for s in d]) for d in draws]


def _percentile_interval(values: list, level: float) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_metric(metric, y_true, y_pred, *, subjects, n_boot: int = 1000,
                     level: float = 0.95, seed: int = 0) -> dict:
    """Point estimate and subject-level percentile bootstrap interval of one metric.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y_pred) -> float``, raising ``UndefinedMetric`` when undefined.
    y_true, y_pred : array-like
        Targets and predictions (see the module conventions), one entry per row.
    subjects : array-like
        Subject id per row; subjects, not rows, are resampled.
    n_boot : int
        Number of resamples.
    level : float
        Interval coverage, e.g. 0.95.
    seed : int
        Bootstrap seed.

    Returns
    -------
    dict
        ``estimate``, ``ci_low``, ``ci_high``, ``n_valid`` (resamples where the metric was
        defined) and ``note`` (why the estimate or interval is missing; empty otherwise).
        ``estimate`` is NaN only when the metric is undefined on the full data, with the reason
        in ``note``; the interval is NaN when no resample was valid.
    """
    resamples = subject_resamples(subjects, n_boot=n_boot, seed=seed)
    return _bootstrap_with(metric, np.asarray(y_true), np.asarray(y_pred), resamples, level)


def _bootstrap_with(metric, y_true, y_pred, resamples, level) -> dict:
    note = ""
    try:
        estimate = metric(y_true, y_pred)
    except UndefinedMetric as reason:
        estimate, note = float("nan"), str(reason)
    values = []
    for rows in resamples:
        try:
            values.append(metric(y_true[rows], y_pred[rows]))
        except UndefinedMetric:
            continue
    low, high = _percentile_interval(values, level)
    if not values and not note:
        note = "the metric was undefined on every bootstrap resample"
    return {"estimate": estimate, "ci_low": low, "ci_high": high, "n_valid": len(values),
            "note": note}


def metric_table(y_true, y_pred, *, subjects, task_type: str, n_boot: int = 1000,
                 level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Every metric of ``task_type`` with its bootstrap interval, on shared resamples.

    Returns
    -------
    DataFrame
        One row per metric: ``metric``, ``estimate``, ``ci_low``, ``ci_high``, ``n_valid``,
        ``note``, ``higher_is_better``.
    """
    check_option("task_type", task_type, METRICS)
    resamples = subject_resamples(subjects, n_boot=n_boot, seed=seed)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rows = []
    for spec in METRICS[task_type]:
        result = _bootstrap_with(spec.function, y_true, y_pred, resamples, level)
        rows.append({"metric": spec.name, **result, "higher_is_better": spec.higher_is_better})
    return pd.DataFrame(rows)


def paired_difference(metric, y_true, pred_a, pred_b, *, subjects, n_boot: int = 1000,
                      level: float = 0.95, seed: int = 0) -> dict:
    """Difference ``metric(a) - metric(b)`` with a paired subject-level bootstrap interval.

    Both models must have scored the same rows (identical outer folds); each resample draws
    subjects once and scores both models on them.

    Returns
    -------
    dict
        ``estimate`` (a minus b), ``ci_low``, ``ci_high``, ``n_valid``, ``note``.
    """
    y_true, pred_a, pred_b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    if len(pred_a) != len(y_true) or len(pred_b) != len(y_true):
        raise ValueError("paired predictions must score the same rows")

    resamples = subject_resamples(subjects, n_boot=n_boot, seed=seed)
    note = ""
    try:
        estimate = metric(y_true, pred_a) - metric(y_true, pred_b)
    except UndefinedMetric as reason:
        estimate, note = float("nan"), str(reason)
    values = []
    for rows in resamples:
        try:
            values.append(metric(y_true[rows], pred_a[rows]) - metric(y_true[rows], pred_b[rows]))
        except UndefinedMetric:
            continue
    low, high = _percentile_interval(values, level)
    return {"estimate": estimate, "ci_low": low, "ci_high": high, "n_valid": len(values),
            "note": note}

"""Gradient-boosted trees (XGBoost) with a small grouped inner-loop hyper-parameter search.

Preprocessing: the same ``Preprocessor`` contract as the fusion network, configured to drop
all-missing and constant columns only. Median imputation is off because XGBoost learns, at each
split, which side missing values go to, which keeps "this task or modality was not recorded"
distinct from "a median value was recorded". Standardisation is off because trees split on
order, which a positive affine rescaling does not change.

Settings: ``tree_method="hist"``, one thread, seeded row subsampling (0.8); no column
subsampling, which on a synthetic check (one informative column among six, 30 training
subjects) cut out-of-fold Spearman from 0.99 to 0.85 by hiding the column from half the
trees. The smallest leaf is set in rows (``min_child_rows``) and turned into XGBoost's
``min_child_weight``, which is in units of the loss's second derivative: a logistic-loss row
weighs only p(1 - p) (0.25 at p = 0.5), so ``min_child_weight=2`` asks for about eight rows per
leaf and, on a training part of nine or ten subjects, forbids every split (measured on the
phantom: stroke-vs-control AUC 0.56 with no tree splitting, 0.92 with leaves in rows).

The search compares a handful of shallow settings by the pooled out-of-fold log loss
(classification) or squared error (regression) of grouped inner folds, then refits the best on
the whole training part; ties go to the earlier, simpler setting. Cohorts under
``DEEP_TREES_MIN_SUBJECTS`` subjects get stumps and depth-2 trees only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost

from core.errors import ConfigError, check_option
from models.artifacts import BundleError, write_json
from models.cv import TASK_TYPES, make_inner_splits
from models.preprocess import Preprocessor, fit_preprocessor

MODEL_FILE = "xgb_model.json"
CONFIG_FILE = "model_config.json"
PREPROCESS_FILE = "preprocess.json"
KIND = "xgb"

DEEP_TREES_MIN_SUBJECTS = 100
GRID_KEYS = ("max_depth", "n_estimators", "learning_rate", "min_child_rows")
FIXED_PARAMS = {"tree_method": "hist", "nthread": 1, "subsample": 0.8,
                "colsample_bytree": 1.0, "lambda": 1.0}
_SHALLOW_GRID = (
    {"max_depth": 1, "n_estimators": 100, "learning_rate": 0.1, "min_child_rows": 2},
    {"max_depth": 2, "n_estimators": 100, "learning_rate": 0.1, "min_child_rows": 2},
    {"max_depth": 1, "n_estimators": 150, "learning_rate": 0.05, "min_child_rows": 3},
    {"max_depth": 2, "n_estimators": 50, "learning_rate": 0.1, "min_child_rows": 3},
)
_DEEPER_GRID = (
    {"max_depth": 3, "n_estimators": 200, "learning_rate": 0.05, "min_child_rows": 5},
    {"max_depth": 4, "n_estimators": 200, "learning_rate": 0.05, "min_child_rows": 10},
)
PARAM_KEYS = ("grid",)


def default_grid(n_subjects: int) -> list[dict]:
    """Hyper-parameter settings searched for a training part with ``n_subjects`` subjects."""
    grid = list(_SHALLOW_GRID)
    if n_subjects >= DEEP_TREES_MIN_SUBJECTS:
        grid += list(_DEEPER_GRID)
    return [dict(setting) for setting in grid]


def _check_grid(grid) -> list[dict]:
    grid = [dict(setting) for setting in grid]
    if not grid:
        raise ConfigError("the XGBoost grid is empty; give at least one setting")
    for setting in grid:
        if sorted(setting) != sorted(GRID_KEYS):
            raise ConfigError(f"each XGBoost setting needs exactly the keys "
                              f"{', '.join(GRID_KEYS)}; got {sorted(setting)}")
    return grid


def hessian_per_row(y: np.ndarray, *, task_type: str, n_classes: int) -> float:
    """Second derivative of the training loss per row at XGBoost's starting prediction.

    Parameters
    ----------
    y : ndarray
        Training targets (class codes 0..K-1 or scores).
    task_type : {"binary", "multiclass", "regression"}
    n_classes : int
        K for multiclass.

    Returns
    -------
    float
        1 for squared error; p(1 - p) for logistic loss, which starts from the training
        prevalence p; 2 (1/K)(1 - 1/K) for XGBoost's softmax, which starts from equal classes.
    """
    if task_type == "regression":
        return 1.0
    if task_type == "binary":
        prevalence = float(np.mean(y))
        return prevalence * (1.0 - prevalence)
    share = 1.0 / n_classes
    return 2.0 * share * (1.0 - share)


def _booster_params(*, task_type: str, n_classes: int, setting: dict, seed: int,
                    row_hessian: float) -> dict:
    params = dict(FIXED_PARAMS, max_depth=int(setting["max_depth"]),
                  eta=float(setting["learning_rate"]),
                  min_child_weight=float(setting["min_child_rows"]) * row_hessian,
                  seed=int(seed))
    if task_type == "binary":
        params["objective"] = "binary:logistic"
    elif task_type == "multiclass":
        params.update(objective="multi:softprob", num_class=int(n_classes))
    else:
        params["objective"] = "reg:squarederror"
    return params


def _training_matrix(values: np.ndarray, y: np.ndarray) -> xgboost.DMatrix:
    # One thread: on a busy machine a multi-threaded DMatrix build of a tiny table costs more
    # than the training. No feature names: XGBoost re-validates a named matrix's names on every
    # boosting round, which dominated the whole nested CV (measured: 70 of 98 s); the booster
    # gets them after training.
    return xgboost.DMatrix(values, label=y, missing=np.nan, nthread=1)


def _unnamed_matrix(values: np.ndarray) -> xgboost.DMatrix:
    """Preprocessed rows to predict with an unnamed booster, or with a named one whose columns
    they are known to hold (``validate_features=False``)."""
    return xgboost.DMatrix(values, missing=np.nan, nthread=1)


def scoring_matrix(values: np.ndarray, columns: list[str]) -> xgboost.DMatrix:
    """Preprocessed rows (``Preprocessor.transform``) with the kept ``columns`` as feature names,
    to predict or explain (one thread, NaN as missing, like the training matrix)."""
    return xgboost.DMatrix(values, feature_names=columns, missing=np.nan, nthread=1)


def _train_booster(matrix: xgboost.DMatrix, y: np.ndarray, columns: list[str] | None, *,
                   task_type: str, n_classes: int, setting: dict, seed: int) -> xgboost.Booster:
    """Train on ``matrix`` (``_training_matrix`` of the rows whose targets are ``y``), which is
    left unchanged, so one matrix serves every setting of a search. ``columns`` names the
    booster's features; None leaves a search's throw-away booster unnamed."""
    params = _booster_params(task_type=task_type, n_classes=n_classes, setting=setting,
                             seed=seed, row_hessian=hessian_per_row(y, task_type=task_type,
                                                                    n_classes=n_classes))
    booster = xgboost.train(params, matrix, num_boost_round=int(setting["n_estimators"]))
    if columns is not None:
        booster.feature_names = list(columns)
    return booster


def _model_output(booster: xgboost.Booster, matrix: xgboost.DMatrix, task_type: str, *,
                  validate_features: bool = True) -> np.ndarray:
    """Class probabilities (n, K) or scores (n,) of the rows of ``matrix``."""
    output = booster.predict(matrix, validate_features=validate_features)
    if task_type == "binary":
        return np.column_stack([1 - output, output])
    return output


def _inner_loss(y: np.ndarray, pred: np.ndarray, task_type: str) -> float:
    if task_type == "regression":
        return float(np.mean((pred - y) ** 2))
    prob = np.clip(pred[np.arange(len(y)), y.astype(int)], 1e-12, 1.0)
    return float(-np.mean(np.log(prob)))


@dataclass(frozen=True)
class _InnerPart:
    """One inner fold made ready once for every setting of the search.

    Attributes
    ----------
    y : ndarray
        Targets of the fold's training rows.
    train : xgboost.DMatrix
        The training rows, preprocessed (``_training_matrix``).
    validation : xgboost.DMatrix
        The validation rows, preprocessed, unnamed like ``train``: XGBoost compares a named
        matrix's names with the booster's at every prediction, which cost a fifth of a search.
    rows : ndarray
        Positions of the validation rows in the searched table.
    """

    y: np.ndarray
    train: xgboost.DMatrix
    validation: xgboost.DMatrix
    rows: np.ndarray


def _inner_part(X: pd.DataFrame, y: np.ndarray, fold) -> _InnerPart:
    """Preprocessing fitted on ``fold``'s training rows, applied to both of its parts."""
    X_train = X.iloc[fold.train]
    preprocessor = fit_preprocessor(X_train, impute=False, scale=False)
    validation = preprocessor.transform(X.iloc[fold.test], what="inner validation rows")
    return _InnerPart(y=y[fold.train], rows=fold.test,
                      train=_training_matrix(preprocessor.transform(X_train, what="training table"),
                                             y[fold.train]),
                      validation=_unnamed_matrix(validation))


def _fit_on(X: pd.DataFrame, y: np.ndarray, *, task_type: str, n_classes: int,
            setting: dict, seed: int) -> tuple[Preprocessor, xgboost.Booster]:
    preprocessor = fit_preprocessor(X, impute=False, scale=False)
    values = preprocessor.transform(X, what="training table")
    booster = _train_booster(_training_matrix(values, y), y, preprocessor.kept_columns,
                             task_type=task_type, n_classes=n_classes, setting=setting, seed=seed)
    return preprocessor, booster


@dataclass
class XGBModel:
    """A fitted XGBoost model with its preprocessing.

    Attributes
    ----------
    task_type : str
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    n_classes : int
        Number of classes (0 for regression).
    preprocessor : Preprocessor
        Fitted on the training rows.
    booster : xgboost.Booster
        The trees.
    setting : dict
        Chosen hyper-parameters (``GRID_KEYS``).
    seed : int
        Seed of the refit.
    search : list of dict
        Each searched setting with its inner-CV loss (empty when only one setting was given).
    """

    task_type: str
    n_classes: int
    preprocessor: Preprocessor
    booster: xgboost.Booster
    setting: dict
    seed: int
    search: list = field(default_factory=list)
    kind: str = KIND

    @property
    def feature_columns(self) -> list[str]:
        """Columns a table must hold to be scored."""
        return list(self.preprocessor.input_columns)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities (n, K) for classification, predicted scores (n,) for regression."""
        matrix = scoring_matrix(self.preprocessor.transform(X), self.preprocessor.kept_columns)
        return _model_output(self.booster, matrix, self.task_type)

    def predict_values(self, values: np.ndarray) -> np.ndarray:
        """``predict`` of rows already preprocessed: ``values`` (n, len(kept_columns)) from
        ``preprocessor.transform`` or ``preprocessor.apply``, columns in that order (not checked:
        for callers that score one table many times, like permutation importance)."""
        return _model_output(self.booster, _unnamed_matrix(values), self.task_type,
                             validate_features=False)

    def summary(self) -> dict:
        """Plain-JSON description of what was fitted."""
        return {"kind": KIND, "setting": dict(self.setting), "seed": self.seed,
                "n_features_used": len(self.preprocessor.kept_columns),
                "n_features_dropped": len(self.preprocessor.dropped),
                "search": [dict(s) for s in self.search]}


def fit_xgb(X: pd.DataFrame, y, groups, *, task_type: str, n_classes: int, seed: int,
            n_inner_splits: int = 3, params: dict | None = None) -> XGBModel:
    """Choose hyper-parameters by grouped inner CV and refit on all rows given.

    Parameters
    ----------
    X : DataFrame
        Training rows only (the outer training part); all columns are features.
    y : array-like
        Targets: class codes 0..K-1 or scores.
    groups : array-like
        Subject id per row; inner folds keep subjects whole.
    task_type : {"binary", "multiclass", "regression"}
    n_classes : int
        K for classification (2 for binary), ignored for regression.
    seed : int
        Seed of the inner split and of XGBoost's subsampling.
    n_inner_splits : int
        Inner folds (lowered automatically for scarce classes).
    params : dict, optional
        ``{"grid": [setting, ...]}`` to replace ``default_grid``.

    Returns
    -------
    XGBModel
    """
    check_option("task_type", task_type, TASK_TYPES)
    params = dict(params or {})
    unknown = sorted(set(params) - set(PARAM_KEYS))
    if unknown:
        raise ConfigError(f"unknown XGBoost parameter(s) {', '.join(unknown)}; allowed: "
                          f"{', '.join(PARAM_KEYS)}")
    y = np.asarray(y, dtype=np.float64)
    groups = np.asarray(groups)
    n_classes = 0 if task_type == "regression" else int(n_classes)
    grid = _check_grid(params["grid"]) if "grid" in params \
        else default_grid(len(pd.unique(groups)))
    search = []
    best = grid[0]
    if len(grid) > 1:
        folds = make_inner_splits(y, groups, task_type=task_type, n_splits=n_inner_splits,
                                  seed=seed)
        parts = [_inner_part(X, y, fold) for fold in folds]
        losses = [_setting_loss(parts, y, task_type=task_type, n_classes=n_classes,
                                setting=setting, seed=seed) for setting in grid]
        search = [dict(setting, inner_loss=loss) for setting, loss in zip(grid, losses)]
        best = grid[int(np.argmin(losses))]
    preprocessor, booster = _fit_on(X, y, task_type=task_type, n_classes=n_classes,
                                    setting=best, seed=seed)
    return XGBModel(task_type=task_type, n_classes=n_classes, preprocessor=preprocessor,
                    booster=booster, setting=dict(best), seed=int(seed), search=search)


def _setting_loss(parts: list, y: np.ndarray, *, task_type: str, n_classes: int,
                  setting: dict, seed: int) -> float:
    """Pooled out-of-fold loss of one setting over the inner folds (``_inner_part`` each) of
    the rows whose targets are ``y``."""
    shape = (len(y),) if task_type == "regression" else (len(y), n_classes)
    pred = np.full(shape, np.nan)
    for part in parts:
        booster = _train_booster(part.train, part.y, None, task_type=task_type,
                                 n_classes=n_classes, setting=setting, seed=seed)
        pred[part.rows] = _model_output(booster, part.validation, task_type)
    return _inner_loss(y, pred, task_type)


def save_xgb(model: XGBModel, folder) -> list[str]:
    """Write the trees (XGBoost JSON), the configuration and the preprocessing to ``folder``.

    Returns
    -------
    list of str
        Names of the files written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.booster.save_model(str(folder / MODEL_FILE))
    write_json(folder / CONFIG_FILE, {"kind": KIND, "task_type": model.task_type,
                                      "n_classes": model.n_classes,
                                      "setting": model.setting, "seed": model.seed,
                                      "search": model.search})
    write_json(folder / PREPROCESS_FILE, model.preprocessor.to_dict())
    return [MODEL_FILE, CONFIG_FILE, PREPROCESS_FILE]


def load_xgb(folder) -> XGBModel:
    """Read a model written by ``save_xgb`` and check that its parts agree."""
    folder = Path(folder)
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    if config.get("kind") != KIND:
        raise BundleError(f"{folder / CONFIG_FILE}: kind {config.get('kind')!r} is not {KIND!r}")
    preprocessor = Preprocessor.from_dict(
        json.loads((folder / PREPROCESS_FILE).read_text(encoding="utf-8")))
    booster = xgboost.Booster()
    booster.load_model(str(folder / MODEL_FILE))
    if list(booster.feature_names or []) != preprocessor.kept_columns:
        raise BundleError(f"{folder / MODEL_FILE}: the trees' feature names do not match the "
                          f"preprocessing's kept columns")
    return XGBModel(task_type=config["task_type"], n_classes=int(config["n_classes"]),
                    preprocessor=preprocessor, booster=booster, setting=config["setting"],
                    seed=int(config["seed"]), search=config["search"])

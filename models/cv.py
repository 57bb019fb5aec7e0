"""Subject-grouped cross-validation splits.

Every row of one subject (all recordings, tasks, repetitions, visits) lies on the same side of
every split (docs/evaluation.md). Outer splits are computed once and handed to every model
and modality set, so ablations compare predictions made on identical folds. Inner splits are
made from the outer training part only, by the code that fits a model on that part: the outer
test rows are never passed to it.

Row positions in a ``Fold`` are 0-based positions into the arrays the split was made from.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedGroupKFold

from core.errors import AvstrokeError, TargetError, check_option

TASK_TYPES = ("binary", "multiclass", "regression")
STRATEGIES = ("kfold", "leave_one_subject_out")
MIN_INNER_SPLITS = 2


class SubjectLeakError(AvstrokeError):
    """A subject appears on both the training and the test side of a split."""


@dataclass(frozen=True, eq=False)
class Fold:
    """One split: 0-based row positions of the training and test parts."""

    index: int
    train: np.ndarray
    test: np.ndarray


@dataclass(frozen=True, eq=False)
class SplitPlan:
    """Outer folds plus the rule that produced them (so a permutation run can re-split).

    Attributes
    ----------
    folds : tuple of Fold
        Test parts partition the rows.
    method : str
        ``"stratified_group_kfold"``, ``"group_kfold"`` or ``"leave_one_group_out"``.
    strategy : str
        What was asked: ``"kfold"`` or ``"leave_one_subject_out"``.
    n_splits : int
        Number of folds.
    seed : int
        Seed of the subject shuffle (unused by leave-one-subject-out).
    task_type : str
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    """

    folds: tuple
    method: str
    strategy: str
    n_splits: int
    seed: int
    task_type: str

    @property
    def n_rows(self) -> int:
        """Number of rows the plan splits."""
        return int(sum(len(f.test) for f in self.folds))

    def describe(self) -> dict:
        """Plain-JSON description for the protocol record."""
        return {"method": self.method, "strategy": self.strategy, "n_splits": self.n_splits,
                "seed": self.seed, "task_type": self.task_type}

    def resplit(self, y, groups) -> "SplitPlan":
        """The same rule applied to other labels (a label permutation) on the same rows."""
        return make_outer_splits(y, groups, task_type=self.task_type, n_splits=self.n_splits,
                                 strategy=self.strategy, seed=self.seed)


def _as_arrays(y, groups) -> tuple[np.ndarray, np.ndarray]:
    y_values = np.asarray(y)
    group_values = np.asarray(groups)
    if y_values.ndim != 1 or group_values.ndim != 1 or len(y_values) != len(group_values):
        raise TargetError(f"labels and subject ids must be 1-D and of equal length; got "
                          f"{y_values.shape} and {group_values.shape}")
    if pd.isna(group_values).any():
        raise TargetError(f"{int(pd.isna(group_values).sum())} row(s) have no subject id")
    if pd.isna(y_values).any():
        raise TargetError(f"{int(pd.isna(y_values).sum())} row(s) have no target value; drop "
                          f"them before cross-validation")
    return y_values, group_values


def labels_constant_within_subject(y, groups) -> bool:
    """True when every subject carries one label value on all its rows."""
    frame = pd.DataFrame({"y": np.asarray(y), "g": np.asarray(groups)})
    return bool((frame.groupby("g", sort=False)["y"].nunique() <= 1).all())


def subjects_per_class(y, groups) -> dict:
    """Number of distinct subjects with at least one row of each class."""
    frame = pd.DataFrame({"y": np.asarray(y), "g": np.asarray(groups)})
    counts = frame.groupby("y")["g"].nunique()
    # Class codes arrive as floats from validated targets; show 1, not 1.0, in messages.
    return {int(k) if isinstance(k, (int, float, np.number)) and float(k).is_integer() else k:
            int(v) for k, v in counts.items()}


def _check_enough_subjects(y, groups, *, task_type: str, needed: int, what: str,
                           advice: str) -> None:
    """Raise TargetError unless there are ``needed`` subjects overall and in every class.

    ``what`` names the design in the message (e.g. "5-fold outer cross-validation");
    ``advice`` is appended, with ``{fewest}`` replaced by the scarcest class's subject count.
    """
    n_subjects = len(pd.unique(groups))
    if n_subjects < needed:
        raise TargetError(f"{what} needs at least {needed} subjects; there are {n_subjects}. "
                          + advice.format(fewest=n_subjects))
    if task_type == "regression":
        return
    per_class = subjects_per_class(y, groups)
    if len(per_class) < 2:
        raise TargetError(f"{what}: a {task_type} target needs at least two classes; "
                          f"found only {list(per_class)}")
    scarce = {k: v for k, v in per_class.items() if v < needed}
    if scarce:
        listed = ", ".join(f"class {k!r}: {v} subject(s)" for k, v in sorted(scarce.items()))
        raise TargetError(f"{what} needs at least {needed} subjects in every class so that "
                          f"every training part holds every class; {listed}. "
                          + advice.format(fewest=min(per_class.values())))


def _kfold_splitter(y, groups, *, task_type: str, n_splits: int, seed: int):
    """StratifiedGroupKFold when labels are classes fixed per subject, else GroupKFold."""
    if task_type != "regression" and labels_constant_within_subject(y, groups):
        return "stratified_group_kfold", StratifiedGroupKFold(n_splits=n_splits, shuffle=True,
                                                              random_state=seed)
    return "group_kfold", GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)


def n_folds_for(y, task_type: str, wanted: int) -> int:
    """Outer folds to use: ``wanted``, but no more than there are subjects (one row each) or,
    for classes, subjects in the smallest class; at least 2.

    A small class does not get leave-one-subject-out folds instead: holding out one subject leaves
    its own class one subject short in the training part, so the base rate a model learns is
    lowest exactly for the subjects it then scores (on noise, 12 subjects of which 4 in one class:
    mean AUC 0.29 against 0.44 with stratified 4-fold, ``benchmarks/small_class_cv.py``)."""
    if task_type == "regression":
        return min(wanted, len(y))
    return max(2, min(wanted, int(pd.Series(np.asarray(y)).value_counts().min())))


def make_outer_splits(y, groups, *, task_type: str, n_splits: int = 5,
                      strategy: str = "kfold", seed: int = 0) -> SplitPlan:
    """Outer subject-grouped folds, computed once and shared by every model and modality set.

    Parameters
    ----------
    y : array-like, shape (n_rows,)
        Target per row (class codes or scores).
    groups : array-like, shape (n_rows,)
        Subject id per row.
    task_type : {"binary", "multiclass", "regression"}
        Classification targets are stratified by class when each subject has one label.
    n_splits : int
        Number of folds for ``strategy="kfold"`` (ignored for leave-one-subject-out).
    strategy : {"kfold", "leave_one_subject_out"}
        Grouped k-fold (stratified where possible) or one subject per test fold.
    seed : int
        Seed of the subject shuffle.

    Returns
    -------
    SplitPlan

    Raises
    ------
    TargetError
        If there are fewer subjects than folds, or a class has fewer subjects than folds
        (leave-one-subject-out: fewer than ``MIN_INNER_SPLITS + 1`` subjects, so that every
        training part still allows an inner split).
    """
    check_option("task_type", task_type, TASK_TYPES)
    check_option("strategy", strategy, STRATEGIES)
    y_values, group_values = _as_arrays(y, groups)
    if strategy == "leave_one_subject_out":
        _check_enough_subjects(y_values, group_values, task_type=task_type,
                               needed=MIN_INNER_SPLITS + 1,
                               what="leave-one-subject-out (with a grouped inner split)",
                               advice="Recruit more subjects or merge scarce classes.")
        method, splitter = "leave_one_group_out", LeaveOneGroupOut()
        n_splits = len(pd.unique(group_values))
    else:
        if n_splits < 2:
            raise TargetError(f"k-fold cross-validation needs n_splits >= 2; got {n_splits}")
        _check_enough_subjects(y_values, group_values, task_type=task_type, needed=n_splits,
                               what=f"{n_splits}-fold outer cross-validation",
                               advice="Use at most {fewest} folds or recruit more subjects.")
        method, splitter = _kfold_splitter(y_values, group_values, task_type=task_type,
                                           n_splits=n_splits, seed=seed)
    codes = pd.factorize(group_values)[0]
    folds = tuple(Fold(index=i, train=np.sort(train), test=np.sort(test))
                  for i, (train, test) in enumerate(splitter.split(np.zeros(len(codes)),
                                                                   y_values, codes)))
    assert_no_subject_leak(folds, group_values)
    return SplitPlan(folds=folds, method=method, strategy=strategy, n_splits=n_splits,
                     seed=seed, task_type=task_type)


def inner_split_count(y, groups, *, task_type: str, n_splits: int) -> int:
    """Inner folds a training part allows: ``n_splits``, but no more than its subjects or, for
    classes, the subjects of its scarcest class (below ``MIN_INNER_SPLITS``: none possible)."""
    available = len(pd.unique(np.asarray(groups)))
    if task_type != "regression":
        available = min([available] + list(subjects_per_class(y, groups).values()))
    return min(n_splits, available)


def evaluation_plan(plan: SplitPlan, y, groups, *, requested_splits: int,
                    n_inner_splits: int) -> dict:
    """What the nested cross-validation of one target rests on, for ``metrics.json`` and reports.

    Parameters
    ----------
    plan : SplitPlan
        The outer folds.
    y, groups : array-like
        Target and subject id per row, as the plan was made from.
    requested_splits : int
        Outer folds asked for (``--folds``).
    n_inner_splits : int
        Inner folds asked for in each outer training part.

    Returns
    -------
    dict
        ``n_subjects``; ``subjects_per_class`` (class code -> subjects; empty for regression);
        ``outer`` (the plan's ``describe()``); ``requested_splits``; ``inner_splits`` (inner folds
        each outer training part allows, in fold order, ``inner_split_count``); ``test_subjects``
        (the subjects each outer fold holds out, in fold order, each list sorted).
    """
    y_values, group_values = _as_arrays(y, groups)
    classes = {} if plan.task_type == "regression" else \
        {str(k): v for k, v in subjects_per_class(y_values, group_values).items()}
    inner = [inner_split_count(y_values[f.train], group_values[f.train], task_type=plan.task_type,
                               n_splits=n_inner_splits) for f in plan.folds]
    return {"n_subjects": int(len(pd.unique(group_values))), "subjects_per_class": classes,
            "outer": plan.describe(), "requested_splits": int(requested_splits),
            "inner_splits": [int(n) for n in inner],
            "test_subjects": [sorted({str(s) for s in group_values[f.test]}) for f in plan.folds]}


def make_inner_splits(y, groups, *, task_type: str, n_splits: int = 3, seed: int = 0) -> list:
    """Subject-grouped folds inside one outer training part.

    ``y`` and ``groups`` are the outer training rows only; positions refer to them. The number
    of folds is lowered to the number of subjects in the scarcest class (never below
    ``MIN_INNER_SPLITS``) because a tiny training part cannot hold more.

    Raises
    ------
    TargetError
        If fewer than ``MIN_INNER_SPLITS`` folds are possible.
    """
    check_option("task_type", task_type, TASK_TYPES)
    if n_splits < MIN_INNER_SPLITS:
        raise TargetError(f"inner cross-validation needs n_splits >= {MIN_INNER_SPLITS}; "
                          f"got {n_splits}")
    y_values, group_values = _as_arrays(y, groups)
    n_inner = inner_split_count(y_values, group_values, task_type=task_type, n_splits=n_splits)
    if n_inner < MIN_INNER_SPLITS:
        _check_enough_subjects(y_values, group_values, task_type=task_type,
                               needed=MIN_INNER_SPLITS,
                               what="the inner cross-validation inside an outer training part",
                               advice="Use fewer outer folds so that training parts are "
                                      "larger, or recruit more subjects.")
    _, splitter = _kfold_splitter(y_values, group_values, task_type=task_type,
                                  n_splits=n_inner, seed=seed)
    codes = pd.factorize(group_values)[0]
    folds = [Fold(index=i, train=np.sort(train), test=np.sort(test))
             for i, (train, test) in enumerate(splitter.split(np.zeros(len(codes)),
                                                              y_values, codes))]
    assert_no_subject_leak(folds, group_values)
    return folds


def assert_no_subject_leak(folds, groups) -> None:
    """Raise unless, in every fold, no subject has rows on both the training and test sides.

    Parameters
    ----------
    folds : iterable of Fold
        The splits to check.
    groups : array-like
        Subject id per row, indexed by the folds' positions.

    Raises
    ------
    SubjectLeakError
        Naming the fold and up to five subjects that cross it, or rows used on both sides.
    """
    group_values = np.asarray(groups)
    for fold in folds:
        shared_rows = np.intersect1d(fold.train, fold.test)
        if shared_rows.size:
            raise SubjectLeakError(f"fold {fold.index}: {shared_rows.size} row(s) are in both "
                                   f"the training and the test part")
        crossing = sorted(set(group_values[fold.train]) & set(group_values[fold.test]), key=str)
        if crossing:
            shown = ", ".join(str(s) for s in crossing[:5])
            raise SubjectLeakError(f"fold {fold.index}: {len(crossing)} subject(s) are in both "
                                   f"the training and the test part, e.g. {shown}")


def fold_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed derived from ``seed`` and integer keys (fold, permutation), stable across
    processes, so a fold's model is the same whichever worker fits it."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])

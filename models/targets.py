"""Prediction targets, and the rows of the subject table each one is learnt from.

Target specifications (``--target``):

- ``group:PS-vs-HC``, ``group:ALS-vs-HC`` (binary, 1 = the patient group), ``group:3class``
  (HC = 0, PS = 1, ALS = 2): each subject's first visit;
- ``score:<column>``: regression on a clinical score column of the manifest (e.g.
  ``score:score_mean_tot``), averaged over the visit's recordings; each subject's first visit;
- ``outcome:<column>``: a numeric ``outcome_*`` column (binary when it holds only 0 and 1,
  otherwise regression), predicted from the first visit;
- ``recovery``: whether a subject seen again later recovered: at least ``RECOVERY_THRESHOLD``
  of the first visit's impairment, ``score_mean_tot`` above its normal value
  ``RECOVERY_SCORE_NORMAL``, is gone by the last visit (proportional recovery: the share of the
  possible improvement that was made). Only the first visit's features are used, so nothing from
  the follow-up leaks into the prediction. A followed-up subject rated normal at the first visit
  has nothing to recover, and one whose score is missing at the first or the last visit cannot
  be judged: both are left out and counted in ``Target.excluded``. The first visit's score is
  also given as ``BASELINE_SEVERITY`` (family ``clinical``, ``models.modalities``): the benchmark
  a model of the recordings must beat to add anything, since more severe patients recover less.

First and last visits are those of ``core.visits``.

  Why not the relative fall of the total itself: the SLP total cannot fall below its normal
  value, so a mildly impaired subject who recovers fully shows a small relative fall. On a
  25-per-group phantom, a 30% relative fall ranked the true improvement with Spearman 0.62 and
  even a model given the true severities could not predict it (AUC 0.50); the share of the
  impairment recovered ranks it with 0.86.

A target the table cannot support raises TargetError saying what is missing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import TargetError
from core.tasks import GROUPS
from core.visits import first_visits, last_visits
from features.registry import SEP

BINARY_GROUPS = {"PS-vs-HC": ("HC", "PS"), "ALS-vs-HC": ("HC", "ALS")}
RECOVERY_SCORE = "score_mean_tot"
RECOVERY_SCORE_NORMAL = 5.0  # the SLP total when all five items are rated 1 (normal)
RECOVERY_THRESHOLD = 0.5
MISSING_FIRST = f"followed up, but {RECOVERY_SCORE} is missing at the first visit"
MISSING_LAST = f"followed up, but {RECOVERY_SCORE} is missing at the last visit"
NORMAL_FIRST = (f"followed up, but rated normal ({RECOVERY_SCORE} {RECOVERY_SCORE_NORMAL:g}) at the first "
                "visit: nothing to recover")
BASELINE_SEVERITY = f"clinical{SEP}{RECOVERY_SCORE}"
KNOWN = ("group:PS-vs-HC", "group:ALS-vs-HC", "group:3class", "score:<column>", "outcome:<column>", "recovery")


@dataclass(frozen=True)
class Target:
    """A target made concrete on one subject table.

    Attributes
    ----------
    name : str
        The specification it was built from.
    task_type : str
        'binary', 'multiclass' or 'regression'.
    rows : DataFrame
        The subject-table rows the target is learnt from (one per subject).
    y : Series
        The target value of each row.
    class_labels : tuple of str
        Label of each class code (empty for regression).
    description : str
        One sentence for reports.
    excluded : dict
        Subjects the target had to leave out for want of data: reason -> number of subjects
        (empty when none was).
    """

    name: str
    task_type: str
    rows: pd.DataFrame
    y: pd.Series
    class_labels: tuple
    description: str
    excluded: dict = field(default_factory=dict)


def _need_column(table: pd.DataFrame, column: str, spec: str) -> None:
    if column not in table.columns:
        available = [c for c in table.columns if c.startswith(("score_", "outcome_"))]
        raise TargetError(f"target {spec!r} needs column {column!r}, which the manifest does not have; "
                          f"available: {', '.join(available) or 'none'}")


def _group_target(table: pd.DataFrame, spec: str, which: str) -> Target:
    rows = first_visits(table)
    if which == "3class":
        present = [g for g in GROUPS if (rows["group"] == g).any()]
        if len(present) < 3:
            raise TargetError(f"target {spec!r} needs subjects of all of {', '.join(GROUPS)}; "
                              f"the table has {', '.join(present)}")
        y = rows["group"].map({g: i for i, g in enumerate(GROUPS)})
        return Target(spec, "multiclass", rows, y.astype(int), GROUPS,
                      "3-class grouping: healthy control, post-stroke, ALS")
    if which not in BINARY_GROUPS:
        raise TargetError(f"unknown group target {spec!r}; known targets: {', '.join(KNOWN)}")
    negative, positive = BINARY_GROUPS[which]
    rows = rows[rows["group"].isin([negative, positive])]
    for g in (negative, positive):
        if not (rows["group"] == g).any():
            raise TargetError(f"target {spec!r} needs subjects of group {g}; the table has none")
    y = (rows["group"] == positive).astype(int)
    return Target(spec, "binary", rows, y, (negative, positive), f"{positive} versus {negative}")


def _numeric_target(table: pd.DataFrame, spec: str, column: str) -> Target:
    _need_column(table, column, spec)
    rows = first_visits(table)
    rows = rows[rows[column].notna()]
    if len(rows) == 0:
        raise TargetError(f"target {spec!r}: column {column!r} is empty for every subject")
    y = rows[column].astype(float)
    if set(np.unique(y)) <= {0.0, 1.0}:
        return Target(spec, "binary", rows, y.astype(int), ("0", "1"), f"{column} (0 or 1)")
    return Target(spec, "regression", rows, y, (), f"{column} at the first visit")


def recovered_share(first, last):
    """Share of the first visit's impairment gone by the last visit (proportional recovery).

    Parameters
    ----------
    first, last : float or array-like
        ``RECOVERY_SCORE`` (SLP total, 5-25 points) at the first and the last visit.

    Returns
    -------
    float or array-like
        (first - last) / (first - ``RECOVERY_SCORE_NORMAL``): 1 is full recovery, 0 no change,
        negative a worsening; undefined (inf or NaN) where the first visit is rated normal.
    """
    return (first - last) / (first - RECOVERY_SCORE_NORMAL)


def why_not_judged(first: pd.Series, last: pd.Series) -> pd.Series:
    """Why each followed-up subject's recovery cannot be judged ('' when it can).

    Parameters
    ----------
    first, last : Series
        ``RECOVERY_SCORE`` at each subject's first and last visit (index: subject id).

    Returns
    -------
    Series
        ``MISSING_FIRST`` (also when both scores are missing), ``MISSING_LAST``, ``NORMAL_FIRST``
        or ''.
    """
    reason = pd.Series("", index=first.index, dtype=object)
    reason[first <= RECOVERY_SCORE_NORMAL] = NORMAL_FIRST
    reason[last.isna()] = MISSING_LAST
    reason[first.isna()] = MISSING_FIRST
    return reason


def recovery_outcomes(table: pd.DataFrame) -> pd.DataFrame:
    """Every followed-up subject's scores, recovered share, outcome, or why it cannot be judged.

    Parameters
    ----------
    table : DataFrame
        Subject table (one row per subject and visit) with ``RECOVERY_SCORE``.

    Returns
    -------
    DataFrame
        Indexed by subject id, one row per subject seen at two or more visits (first and last by
        ``core.visits``): ``first_visit``, ``last_visit``, ``first_score``, ``last_score``,
        ``recovered_share`` (``recovered_share``), ``recovered`` (1, 0, or NaN when not judged)
        and ``left_out`` (``why_not_judged``).
    """
    first = first_visits(table).set_index("subject_id")
    last = last_visits(table).set_index("subject_id").reindex(first.index)
    followed = first["visit"] != last["visit"]
    first, last = first[followed], last[followed]
    scores = pd.DataFrame({"first_visit": first["visit"], "last_visit": last["visit"],
                           "first_score": first[RECOVERY_SCORE].astype(float),
                           "last_score": last[RECOVERY_SCORE].astype(float)})
    scores["left_out"] = why_not_judged(scores["first_score"], scores["last_score"])
    judged = scores["left_out"] == ""
    scores["recovered_share"] = recovered_share(scores["first_score"], scores["last_score"]).where(judged)
    scores["recovered"] = (scores["recovered_share"] >= RECOVERY_THRESHOLD).astype(float).where(judged)
    return scores


def recovery_target(table: pd.DataFrame, spec: str = "recovery") -> Target:
    """Recovered (1) or not (0) by the last visit, from the first visit's features."""
    _need_column(table, RECOVERY_SCORE, spec)
    outcomes = recovery_outcomes(table)
    if outcomes.empty:
        raise TargetError(f"target {spec!r} needs subjects with a follow-up visit; "
                          "every subject in the manifest has one visit")
    reasons = outcomes["left_out"]
    if reasons.isin([MISSING_FIRST, MISSING_LAST]).all():
        raise TargetError(f"target {spec!r}: every followed-up subject lacks {RECOVERY_SCORE} at "
                          "its first or its last visit")
    if (reasons != "").sum() == len(reasons):
        raise TargetError(f"target {spec!r}: every followed-up subject with scores has a normal "
                          f"{RECOVERY_SCORE} ({RECOVERY_SCORE_NORMAL:g}) at the first visit, so "
                          "nobody has anything to recover")
    excluded = {reason: int((reasons == reason).sum()) for reason in (MISSING_FIRST, MISSING_LAST, NORMAL_FIRST)
                if (reasons == reason).any()}
    judged = outcomes[reasons == ""]
    first = first_visits(table).set_index("subject_id")
    rows = first.loc[judged.index].reset_index()
    rows[BASELINE_SEVERITY] = rows[RECOVERY_SCORE].astype(float)
    return Target(spec, "binary", rows, pd.Series(judged["recovered"].astype(int).to_numpy(), index=rows.index),
                  ("not recovered", "recovered"),
                  f"recovery: at least {RECOVERY_THRESHOLD:.0%} of the first visit's impairment "
                  f"({RECOVERY_SCORE} above its normal {RECOVERY_SCORE_NORMAL:g}) gone by the last "
                  "visit, predicted from the first visit", excluded)


def build_target(table: pd.DataFrame, spec: str) -> Target:
    """Make a target specification concrete on a subject table (see module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind == "group":
        return _group_target(table, spec, arg)
    if kind in ("score", "outcome") and arg:
        if not arg.startswith(f"{kind}_"):
            raise TargetError(f"target {spec!r}: the column must start with '{kind}_'")
        return _numeric_target(table, spec, arg)
    if spec == "recovery":
        return recovery_target(table, spec)
    raise TargetError(f"unknown target {spec!r}; known targets: {', '.join(KNOWN)}")

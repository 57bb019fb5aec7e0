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
  the follow-up leaks into the prediction. A subject rated normal at the first visit has nothing
  to recover and is left out. A followed-up subject whose score is missing at the first or the
  last visit cannot be judged either: it is left out too, and counted in ``Target.excluded``.

First and last visits are those of ``pipeline.visits``.

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

from pipeline.errors import TargetError
from pipeline.tasks import GROUPS
from pipeline.visits import first_visits, last_visits

BINARY_GROUPS = {"PS-vs-HC": ("HC", "PS"), "ALS-vs-HC": ("HC", "ALS")}
RECOVERY_SCORE = "score_mean_tot"
RECOVERY_SCORE_NORMAL = 5.0  # the SLP total when all five items are rated 1 (normal)
RECOVERY_THRESHOLD = 0.5
MISSING_FIRST = f"followed up, but {RECOVERY_SCORE} is missing at the first visit"
MISSING_LAST = f"followed up, but {RECOVERY_SCORE} is missing at the last visit"
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


def _missing_scores(first: pd.Series, last: pd.Series) -> dict:
    """Followed-up subjects without a score at the first or the last visit, counted by reason
    (a subject missing both is counted once, under the first visit)."""
    no_first = first.isna()
    counts = {MISSING_FIRST: int(no_first.sum()), MISSING_LAST: int((last.isna() & ~no_first).sum())}
    return {reason: n for reason, n in counts.items() if n}


def recovery_target(table: pd.DataFrame, spec: str = "recovery") -> Target:
    """Recovered (1) or not (0) by the last visit, from the first visit's features."""
    _need_column(table, RECOVERY_SCORE, spec)
    first = first_visits(table).set_index("subject_id")
    last = last_visits(table).set_index("subject_id").reindex(first.index)
    followed = first["visit"] != last["visit"]
    if not followed.any():
        raise TargetError(f"target {spec!r} needs subjects with a follow-up visit; "
                          "every subject in the manifest has one visit")
    first, last = first[followed], last[followed]
    excluded = _missing_scores(first[RECOVERY_SCORE], last[RECOVERY_SCORE])
    scored = first[RECOVERY_SCORE].notna() & last[RECOVERY_SCORE].notna()
    if not scored.any():
        raise TargetError(f"target {spec!r}: every followed-up subject lacks {RECOVERY_SCORE} at "
                          "its first or its last visit")
    first, last = first[scored], last[scored]
    impairment = first[RECOVERY_SCORE] - RECOVERY_SCORE_NORMAL
    impaired = impairment > 0
    if not impaired.any():
        raise TargetError(f"target {spec!r}: every followed-up subject has a normal "
                          f"{RECOVERY_SCORE} ({RECOVERY_SCORE_NORMAL:g}) at the first visit, so "
                          "nobody has anything to recover")
    recovered_share = (first[RECOVERY_SCORE] - last[RECOVERY_SCORE])[impaired] / impairment[impaired]
    y = (recovered_share >= RECOVERY_THRESHOLD).astype(int)
    rows = first[impaired].reset_index()
    return Target(spec, "binary", rows, pd.Series(y.to_numpy(), index=rows.index), ("not recovered", "recovered"),
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

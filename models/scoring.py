"""Scoring new subjects with a saved model: aligning their table to the model's features.

A new subject may lack some of the model's columns for good reasons (a value not computable, age
not given): those become missing values, which both models handle. A whole task the model was
trained on is different: every feature of it would be a fallback value (XGBoost's learnt default
branch, the fusion network's training median), so ``missing_tasks`` names such tasks for the caller
to refuse or mark the prediction. A column whose feature this version of avstroke does not compute
at all means the model was trained by other feature code; scoring then would be silently wrong, so
it is refused.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import ModelMismatchError
from features.registry import lookup, parse_column
from features.table import SUBJECT_KEYS


def unknown_features(columns) -> list[str]:
    """Columns whose feature has no entry in this version's registry."""
    unknown = []
    for column in columns:
        try:
            lookup(column)
        except KeyError:
            unknown.append(column)
    return unknown


def align_to_model(table: pd.DataFrame, feature_columns: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """The model's columns of ``table``, missing ones filled with NaN.

    Returns
    -------
    X : DataFrame
        One column per model feature, in the model's order.
    n_missing : Series
        Per row, how many of the model's features are missing (absent column or NaN).

    Raises
    ------
    ModelMismatchError
        If the model uses features this version does not compute, naming them.
    """
    absent = [c for c in feature_columns if c not in table.columns]
    foreign = unknown_features(absent)
    if foreign:
        shown = ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else "")
        raise ModelMismatchError(f"the model was trained on {len(foreign)} feature(s) this version of "
                                 f"avstroke does not compute: {shown}; retrain it with this version")
    X = table.reindex(columns=feature_columns).astype(float)
    return X, pd.Series(np.isnan(X.to_numpy()).sum(axis=1), index=table.index)


def trained_tasks(columns) -> list[str]:
    """Tasks named by a model's feature columns, in the order the columns first name them.

    Parameters
    ----------
    columns : iterable of str
        Feature columns; one without a task (e.g. ``meta__age``) belongs to no task.
    """
    named = (parse_column(column)[1] for column in columns)
    return list(dict.fromkeys(task for task in named if task is not None))


def tasks_by_visit(recordings: pd.DataFrame) -> dict[tuple, frozenset]:
    """Tasks with at least one recording, per ``(subject_id, visit)`` of a recording-level table."""
    return {key: frozenset(group["task"]) for key, group in recordings.groupby(SUBJECT_KEYS)}


def missing_tasks(trained, present) -> list[str]:
    """The tasks of ``trained`` (in its order) that are not in ``present``."""
    return [task for task in trained if task not in present]

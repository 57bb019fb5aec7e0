"""Scoring new subjects with a saved model: aligning their table to the model's features.

A new subject may lack some of the model's columns for good reasons (a task not recorded, a value
not computable, age not given): those become missing values, which both models handle. A column
whose feature this version of avstroke does not compute at all means the model was trained by
other feature code; scoring then would be silently wrong, so it is refused.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.registry import lookup
from pipeline.errors import ModelMismatchError


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

"""Aligning a new subject's table to a saved model's features."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import ModelMismatchError
from models.scoring import align_to_model


def test_missing_tasks_become_missing_values():
    table = pd.DataFrame({"face__NSM_SPREAD__commissure_excursion_asym_pct": [12.0], "meta__age": [61.0]})
    model_columns = ["face__NSM_SPREAD__commissure_excursion_asym_pct", "face__NSM_KISS__lip_width_rom",
                     "meta__age", "meta__sex_female"]
    X, n_missing = align_to_model(table, model_columns)
    assert list(X.columns) == model_columns
    assert X.iloc[0, 0] == 12.0 and np.isnan(X.iloc[0, 1]) and n_missing.tolist() == [2]


def test_a_feature_this_version_does_not_compute_is_refused():
    table = pd.DataFrame({"meta__age": [61.0]})
    with pytest.raises(ModelMismatchError, match="face__NSM_SPREAD__made_up_feature"):
        align_to_model(table, ["meta__age", "face__NSM_SPREAD__made_up_feature"])

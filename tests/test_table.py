"""The fused table: tasks spread into columns, only recorded subject-visits, nothing pooled."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.tasks import NEUROFACE
from features.metadata import metadata_features
from features.table import recording_table, subject_table


def manifest() -> pd.DataFrame:
    rows = [("A1_02_NSM_KISS", "A1", "ALS", "NSM_KISS", "02", 12.0, "F", 60.0),
            ("A1_02_DDK_PA", "A1", "ALS", "DDK_PA", "02", 14.0, "F", 60.0),
            ("S1_02_DDK_PA", "S1", "PS", "DDK_PA", "02", 10.0, "M", 70.0),
            ("S1_03_DDK_PA", "S1", "PS", "DDK_PA", "03", 6.0, "M", 70.0)]
    return pd.DataFrame(rows, columns=["recording_id", "subject_id", "group", "task", "visit",
                                       "score_mean_tot", "sex", "age"])


def test_subject_table_spreads_tasks_and_keeps_only_recorded_visits():
    m = manifest()
    face = pd.DataFrame({"recording_id": m["recording_id"], "face__lip_width_rom": [0.1, 0.2, 0.3, 0.4]})
    table = subject_table(recording_table(m, metadata_features(m), face))
    assert list(zip(table["subject_id"], table["visit"])) == [("A1", "02"), ("S1", "02"), ("S1", "03")]
    assert table["group"].tolist() == ["ALS", "PS", "PS"]
    assert table["face__NSM_KISS__lip_width_rom"].tolist()[0] == 0.1
    assert np.isnan(table["face__NSM_KISS__lip_width_rom"].tolist()[1])
    assert table["face__DDK_PA__lip_width_rom"].tolist() == [0.2, 0.3, 0.4]
    assert table["score_mean_tot"].tolist() == [13.0, 10.0, 6.0]
    assert table["meta__sex_female"].tolist() == [1.0, 0.0, 0.0]
    assert table["n_recordings"].tolist() == [2, 1, 1]


def test_overlapping_feature_tables_are_refused():
    m = manifest()
    part = pd.DataFrame({"recording_id": m["recording_id"], "face__x": 1.0})
    with pytest.raises(ValueError, match="overlap"):
        recording_table(m, part, part)


def test_ddk_audio_video_disagreement():
    from features.crosscheck import ddk_video_disagreement

    table = pd.DataFrame({"task": ["DDK_PA", "DDK_PATAKA", "NSM_KISS", "DDK_PA"],
                          "ddk__syllable_rate": [6.0, 4.5, np.nan, 5.0],
                          "face__cycle_rate": [5.0, 4.5, 0.7, 0.0]})
    value = ddk_video_disagreement(table, NEUROFACE)
    assert value.name == "ddk__video_rate_disagreement_pct"
    assert value.iloc[0] == pytest.approx(20.0) and value.iloc[1] == 0.0
    assert np.isnan(value.iloc[2]) and np.isnan(value.iloc[3])

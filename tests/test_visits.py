"""Visit order: one rule (numbers, else visit_date, else manifest order) and every place that
needs a first or last visit uses it, with codes '9' and '10' that sort the wrong way as text."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import ManifestError
from core.tasks import NEUROFACE
from core.visits import first_visits, last_visits, visit_rank
from features.metadata import metadata_features
from features.table import recording_table, subject_table
from models import artifacts
from models.evaluate import fit_final
from models.targets import build_target
from pipeline import predict
from reports import export
from reports.sections.cohort import cohort_rows
from reports.sections.participants import deviation_rows

FACE = "face__commissure_excursion_asym_pct"
SUBJECT_FACE = "face__NSM_SPREAD__commissure_excursion_asym_pct"
FAST_XGB = {"grid": [{"max_depth": 1, "n_estimators": 10, "learning_rate": 0.3, "min_child_rows": 1}]}


def visits(rows, columns=("subject_id", "visit")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


# ---------------------------------------------------------------- the rule


def test_numeric_codes_order_by_number_not_text():
    table = visits([("A", "10"), ("A", "9"), ("B", "02"), ("B", "10"), ("B", "3")])
    assert visit_rank(table).tolist() == [2, 1, 1, 3, 2]
    assert first_visits(table)["visit"].tolist() == ["9", "02"]
    assert last_visits(table)["visit"].tolist() == ["10", "10"]


def test_codes_that_are_not_numbers_follow_the_manifest_not_the_alphabet():
    # As text, baseline < followup < screening; the manifest lists screening first.
    table = visits([("A", "screening", 2), ("A", "baseline", 3), ("A", "followup", 4),
                    ("A", "baseline", 5), ("B", "baseline", 6), ("B", "followup", 7)],
                   columns=("subject_id", "visit", "manifest_row"))
    shuffled = table.iloc[[3, 5, 1, 0, 4, 2]]
    assert visit_rank(shuffled).sort_index().tolist() == [1, 2, 3, 2, 1, 2]
    assert first_visits(shuffled)["visit"].tolist() == ["screening", "baseline"]
    assert last_visits(shuffled).sort_values("subject_id")["visit"].tolist() == ["followup", "followup"]


def test_a_date_column_orders_visits_by_date_not_by_manifest_or_text():
    # post is listed first and sorts first as text, but pre is the earlier date
    table = visits([("A", "post", "2022-03-01", 2), ("A", "pre", "2021-11-15", 3),
                    ("A", "post", "2022-03-01", 4)],
                   columns=("subject_id", "visit", "visit_date", "manifest_row"))
    assert visit_rank(table).tolist() == [2, 1, 2]
    assert first_visits(table)["visit"].tolist() == ["pre"]
    # dates decide only when the codes are not all numbers
    table["visit"] = ["3", "4", "3"]
    assert first_visits(table)["visit"].tolist() == ["3", "3"]


def test_mixed_codes_fall_back_to_manifest_order_for_everybody():
    table = visits([("A", "10", 2), ("A", "9", 3), ("B", "baseline", 4)],
                   columns=("subject_id", "visit", "manifest_row"))
    assert first_visits(table)["visit"].tolist() == ["10", "baseline"]


@pytest.mark.parametrize("rows, columns, message", [
    ([("A", "02", 2), ("A", "2", 3)], ("subject_id", "visit", "manifest_row"),
     r"subject A has visits 02, 2 with the same session number \(manifest rows 2, 3\)"),
    ([("A", "pre", "2021-01-01", 2), ("A", "post", "2021-01-01", 3)],
     ("subject_id", "visit", "visit_date", "manifest_row"),
     r"subject A has visits pre, post with the same visit_date \(manifest rows 2, 3\)"),
    ([("A", "pre", "2021-01-01", 2), ("A", "pre", "2021-02-01", 3)],
     ("subject_id", "visit", "visit_date", "manifest_row"),
     r"subject A visit pre has more than one visit_date \(manifest rows 2, 3\)"),
    ([("A", "pre", "", 2), ("A", "post", "2021-02-01", 3)],
     ("subject_id", "visit", "visit_date", "manifest_row"), r"visit_date, which is empty on 1 row"),
    ([("A", "pre"), ("A", "post")], ("subject_id", "visit"), "neither visit_date nor manifest_row"),
])
def test_an_order_that_cannot_be_known_is_refused_with_the_rows(rows, columns, message):
    with pytest.raises(ManifestError, match=message):
        visit_rank(visits(rows, columns))


# ---------------------------------------------------------------- the tables carry the order


def test_subject_table_keeps_what_orders_the_visits():
    manifest = pd.DataFrame({
        "recording_id": ["A_post_KISS", "A_pre_KISS", "A_post_DDK"], "subject_id": "A", "group": "PS",
        "task": ["NSM_KISS", "NSM_KISS", "DDK_PA"], "visit": ["post", "pre", "post"],
        "visit_date": ["2022-03-01", "2021-11-15", "2022-03-01"], "manifest_row": [2, 3, 4]})
    table = subject_table(recording_table(manifest, metadata_features(manifest)))
    assert table["visit"].tolist() == ["post", "pre"]  # the subject table sorts its keys as text
    assert table["manifest_row"].tolist() == [2, 3]
    assert table["visit_date"].tolist() == ["2022-03-01", "2021-11-15"]
    assert first_visits(table)["visit"].tolist() == ["pre"]
    assert first_visits(table.drop(columns="visit_date"))["visit"].tolist() == ["post"]


# ---------------------------------------------------------------- '9' before '10' everywhere


def nine_and_ten_table() -> pd.DataFrame:
    """A subject table as assemble sorts it (text order: '10' before '9'); the first visit is
    '9' for every subject."""
    rows = []
    for subject, group, first, last in (("P1", "PS", 15.0, 9.0), ("P2", "PS", 15.0, 13.0),
                                        ("N1", "HC", 5.0, 5.0)):
        rows += [(subject, group, "10", last, 61.0, 1.0), (subject, group, "9", first, 60.0, 0.0)]
    return pd.DataFrame(rows, columns=["subject_id", "group", "visit", "score_mean_tot",
                                       "meta__age", SUBJECT_FACE])


def test_targets_learn_from_visit_9_and_recovery_runs_from_9_to_10():
    table = nine_and_ten_table()
    for spec in ("group:PS-vs-HC", "score:score_mean_tot"):
        assert build_target(table, spec).rows["visit"].tolist() == ["9", "9", "9"], spec
    assert build_target(table, "score:score_mean_tot").y.tolist() == [15.0, 15.0, 5.0]
    recovery = build_target(table, "recovery")
    # P1: 15 -> 9 recovers 6 of 10 points; P2: 15 -> 13 two of 10; N1 is normal at visit 9
    assert recovery.rows["subject_id"].tolist() == ["P1", "P2"]
    assert recovery.rows["visit"].tolist() == ["9", "9"]
    assert recovery.y.tolist() == [1, 0]


def nine_and_ten_recordings() -> pd.DataFrame:
    """Recording table: three controls and a patient seen at '10' (listed first) and '9'."""
    rows = [("N1", "HC", "9", 2.0), ("N2", "HC", "9", 4.0), ("N3", "HC", "9", 6.0),
            ("N1", "HC", "10", 100.0), ("S1", "PS", "10", 4.0), ("S1", "PS", "9", 10.0)]
    table = pd.DataFrame(rows, columns=["subject_id", "group", "visit", FACE])
    table.insert(0, "recording_id", [f"{s}_{v}" for s, _, v, _ in rows])
    table["task"] = "NSM_SPREAD"
    return table


def test_export_sorts_visit_9_before_10_and_norms_the_controls_first_visits():
    recordings = nine_and_ten_recordings()
    values = export.feature_values(recordings)
    assert values.loc[values["subject_id"] == "S1", "visit"].tolist() == ["9", "10"]
    norms = export.control_norms(recordings, control_group="HC")
    assert norms.loc[norms["column"] == FACE, ["mean", "sd", "n"]].iloc[0].tolist() == [4.0, 2.0, 3]


def test_export_norms_follow_manifest_order_for_codes_that_are_not_numbers():
    recordings = nine_and_ten_recordings()
    recordings["visit"] = recordings["visit"].map({"9": "pre", "10": "post"})
    # as text 'post' < 'pre'; the manifest lists every subject's 'pre' first
    recordings["manifest_row"] = [2, 3, 4, 6, 7, 5]
    norms = export.control_norms(recordings, control_group="HC")
    assert norms.loc[norms["column"] == FACE, "mean"].iloc[0] == 4.0  # N1's 'post' 100 left out
    values = export.feature_values(recordings)
    assert values.loc[values["subject_id"] == "S1", "visit"].tolist() == ["pre", "post"]


def test_report_reads_the_first_visit_and_lists_visits_in_order():
    recordings = nine_and_ten_recordings()
    values = export.feature_values(recordings)
    z = export.z_scores(values, export.control_norms(recordings, control_group="HC"))
    assert [r["visit"] for r in deviation_rows(z, "S1", top=1, tasks=NEUROFACE)] == ["9", "10"]
    table = nine_and_ten_table()
    cohort = {r["code"]: r for r in cohort_rows(table, recordings, pd.DataFrame())}
    assert cohort["PS"]["age"] == "60.0 \u00b1 0.0 (60\u201360)"  # age at visit 9, not 10


def test_predict_scores_each_subjects_visit_9(tmp_path):
    train = pd.DataFrame({"subject_id": [f"T{i}" for i in range(10)],
                          SUBJECT_FACE: np.arange(10, dtype=float)})
    fitted = fit_final(train, pd.Series([0] * 5 + [1] * 5), train["subject_id"], model="xgb",
                       columns=[SUBJECT_FACE], task_type="binary", seed=0, model_params=FAST_XGB)
    artifacts.save_bundle(tmp_path, model=fitted, class_labels=["HC", "PS"], target="PS versus HC")
    table = nine_and_ten_table()
    recorded = {(s, v): frozenset({"NSM_SPREAD"}) for s, v in zip(table["subject_id"], table["visit"])}
    out, refused = predict.score(table, recorded, predict.load_model(tmp_path), top=1,
                                 allow_partial=False, tasks=NEUROFACE)
    assert refused.empty
    assert out["subject_id"].tolist() == ["N1", "P1", "P2"]
    assert out["visit"].tolist() == ["9", "9", "9"]

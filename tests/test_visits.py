"""Visit order: one rule (numbers, else visit_date, else manifest order) and every place that
needs a first or last visit uses it, with codes '9' and '10' that sort the wrong way as text."""
from __future__ import annotations

import pandas as pd
import pytest

from features.metadata import metadata_features
from features.table import recording_table, subject_table
from pipeline.errors import ManifestError
from pipeline.visits import first_visits, last_visits, visit_rank


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

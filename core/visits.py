"""Visit order: which of a subject's visits came first and which came last.

The manifest's ``visit`` is a session code kept as text. One rule orders the visits, chosen once
for the whole table so that every subject's visits are read the same way:

1. every code is a whole number written in digits (``"02"``, ``"9"``, ``"10"``): by number, so
   ``"9"`` comes before ``"10"`` and ``"02"`` is session 2;
2. otherwise, if the table has a ``visit_date`` column (``YYYY-MM-DD``): by date;
3. otherwise: in the order the visits first appear in the manifest, read from ``manifest_row``
   (the manifest line of the recording, header = line 1), which ``pipeline.manifest.validate``
   adds and the feature tables carry, because the subject table is sorted by its keys.

Ranks count within each subject: rank 1 is a subject's first visit. Ranks of different subjects
are never compared, so subjects may have different codes, dates and numbers of visits.
"""
from __future__ import annotations

import pandas as pd

from core.errors import ManifestError

DATE_COLUMN = "visit_date"
DATE_FORMAT = "%Y-%m-%d"
ROW_COLUMN = "manifest_row"
BY_NUMBER, BY_DATE, BY_MANIFEST = "number", "date", "manifest order"
RULE_WORDS = (f"visit codes that are all numbers by number (9 before 10), otherwise by "
              f"{DATE_COLUMN}, otherwise in manifest order")


def visit_rule(table: pd.DataFrame) -> str:
    """Which rule orders the visits of ``table`` (see the module docstring).

    Parameters
    ----------
    table : DataFrame
        Rows with a ``visit`` column, e.g. the manifest, the recording or the subject table.

    Returns
    -------
    str
        ``BY_NUMBER``, ``BY_DATE`` or ``BY_MANIFEST``.
    """
    if table["visit"].astype(str).str.fullmatch(r"[0-9]+").all():
        return BY_NUMBER
    return BY_DATE if DATE_COLUMN in table.columns else BY_MANIFEST


def _order_key(table: pd.DataFrame, rule: str) -> pd.Series:
    """Per row, the value its visit is sorted by under ``rule``."""
    if rule == BY_NUMBER:
        return table["visit"].astype(str).astype(int)
    if rule == BY_DATE:
        dates = table[DATE_COLUMN].fillna("").astype(str)
        if (dates == "").any():
            raise ManifestError(f"visit codes are not all numbers, so visits are ordered by {DATE_COLUMN}, "
                                f"which is empty on {int((dates == '').sum())} row(s); give every visit "
                                "its date as YYYY-MM-DD")
        return pd.to_datetime(dates, format=DATE_FORMAT)
    if ROW_COLUMN not in table.columns:
        raise ManifestError(f"visit codes are not all numbers and the table has neither "
                            f"{DATE_COLUMN} nor {ROW_COLUMN}, so the visits cannot be ordered; "
                            "rerun `avstroke validate` and `avstroke assemble`, or give numeric "
                            f"visit codes or a {DATE_COLUMN} column in the manifest")
    return table.groupby(["subject_id", "visit"])[ROW_COLUMN].transform("min")


def _where(table: pd.DataFrame, subject: str, visits) -> str:
    """`` (manifest rows 2, 5)`` for these visits of a subject, or nothing without row numbers."""
    if ROW_COLUMN not in table.columns:
        return ""
    hit = (table["subject_id"].astype(str) == subject) & table["visit"].astype(str).isin(visits)
    rows = sorted(set(int(r) for r in table.loc[hit, ROW_COLUMN]))
    return f" (manifest rows {', '.join(map(str, rows))})"


def _check_one_place_per_visit(table: pd.DataFrame, keys: pd.DataFrame, rule: str) -> None:
    """Each visit of a subject needs one sort value, and different visits different ones."""
    split = keys[keys.duplicated(["subject_id", "visit"], keep=False)]
    if len(split):
        subject, visit = split.iloc[0][["subject_id", "visit"]]
        raise ManifestError(f"subject {subject} visit {visit} has more than one {DATE_COLUMN}"
                            f"{_where(table, subject, [visit])}; give every recording of a visit "
                            "the same date")
    tied = keys[keys.duplicated(["subject_id", "key"], keep=False)]
    if len(tied):
        subject = tied.iloc[0]["subject_id"]
        visits = list(tied.loc[tied["subject_id"] == subject, "visit"])
        same = "session number" if rule == BY_NUMBER else DATE_COLUMN
        raise ManifestError(f"subject {subject} has visits {', '.join(visits)} with the same {same}"
                            f"{_where(table, subject, visits)}, so their order is unknown; give "
                            f"each visit of a subject its own {same}")


def visit_rank(table: pd.DataFrame) -> pd.Series:
    """The place of each row's visit among its subject's visits: 1 = first visit.

    Parameters
    ----------
    table : DataFrame
        ``subject_id`` and ``visit``; ``visit_date`` or ``manifest_row`` when the rule needs them.

    Returns
    -------
    Series
        Integer rank per row, with the table's index; every row of one visit has the same rank.

    Raises
    ------
    ManifestError
        If the rule's column is missing or empty, one visit has two dates, or two visits of a
        subject fall on the same place (e.g. codes ``"02"`` and ``"2"``, or the same date).
    """
    rule = visit_rule(table)
    key = _order_key(table, rule)
    keys = pd.DataFrame({"subject_id": table["subject_id"].astype(str), "visit": table["visit"].astype(str),
                         "key": key}).drop_duplicates()
    _check_one_place_per_visit(table, keys, rule)
    subjects = table["subject_id"].astype(str).to_numpy()
    return key.groupby(subjects).rank(method="dense").astype(int).rename("visit_rank")


def first_visits(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of each subject's first visit, in table order.

    Parameters
    ----------
    table : DataFrame
        As for ``visit_rank``; a subject table gives one row per subject.

    Returns
    -------
    DataFrame
        The rows whose visit ranks 1 within their subject.
    """
    return table[visit_rank(table) == 1]


def last_visits(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of each subject's last visit, in table order.

    Parameters
    ----------
    table : DataFrame
        As for ``visit_rank``; a subject table gives one row per subject.

    Returns
    -------
    DataFrame
        The rows whose visit ranks highest within their subject (the first visit for a subject
        seen once).
    """
    rank = visit_rank(table)
    return table[rank == rank.groupby(table["subject_id"].astype(str).to_numpy()).transform("max")]

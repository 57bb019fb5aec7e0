"""The fused feature table, at recording level and at subject level.

Recording level: one row per recording, manifest facts plus ``<modality>__<feature>`` columns.
Subject level: one row per subject and visit, every recording-level feature spread per task as
``<modality>__<task>__<feature>`` (tasks are never pooled: the same measure means different
things in different tasks), metadata as ``meta__<name>``, clinical scores averaged over the visit's
recordings, and quality flags and missing values kept as they are. Both levels carry what
``core.visits`` orders visits by (``manifest_row``, and ``visit_date`` when the manifest has it),
because the subject level is sorted by its keys, not in the manifest's order.
"""
from __future__ import annotations

import pandas as pd

from core.visits import DATE_COLUMN, ROW_COLUMN
from features.registry import SEP, parse_column

KEY_COLUMNS = ["recording_id", "subject_id", "group", "task", "visit"]
SUBJECT_KEYS = ["subject_id", "visit"]
PER_RECORDING_META = ("meta",)


def _is_feature(column: str) -> bool:
    return SEP in column


def recording_table(manifest: pd.DataFrame, *parts: pd.DataFrame) -> pd.DataFrame:
    """Join feature tables (each keyed by ``recording_id``) onto the manifest rows.

    Parameters
    ----------
    manifest : DataFrame
        Validated manifest rows (every recording appears, with NaN where a modality is missing).
    *parts : DataFrame
        Feature tables with ``recording_id`` and ``<modality>__<feature>`` columns.
    """
    keep = KEY_COLUMNS + [c for c in manifest.columns if c.startswith(("score_", "outcome_"))] + \
        [c for c in ("sex", "age", DATE_COLUMN, ROW_COLUMN) if c in manifest.columns]
    table = manifest[keep].copy()
    for part in parts:
        overlap = (set(part.columns) & set(table.columns)) - {"recording_id"}
        if overlap:
            raise ValueError(f"feature tables overlap in columns {sorted(overlap)[:5]}")
        table = table.merge(part, on="recording_id", how="left", validate="one_to_one")
    return table


def subject_table(recordings: pd.DataFrame) -> pd.DataFrame:
    """Spread a recording-level table to one row per subject and visit.

    Returns
    -------
    DataFrame
        ``subject_id``, ``visit``, ``group``, ``n_recordings``, mean of each ``score_*`` and first
        value of each ``outcome_*`` over the visit, ``meta__*`` (per subject), the visit's first
        ``manifest_row`` and its ``visit_date`` (when the recordings have them), and
        ``<modality>__<task>__<feature>`` for every other feature and task present.
    """
    features = [c for c in recordings.columns if _is_feature(c) and parse_column(c)[0] not in PER_RECORDING_META]
    meta = [c for c in recordings.columns if _is_feature(c) and parse_column(c)[0] in PER_RECORDING_META]
    visits = recordings.groupby(SUBJECT_KEYS, sort=True)
    base = visits.agg(group=("group", "first"), n_recordings=("recording_id", "size"))
    if ROW_COLUMN in recordings.columns:
        base[ROW_COLUMN] = visits[ROW_COLUMN].min()
    if DATE_COLUMN in recordings.columns:
        base[DATE_COLUMN] = visits[DATE_COLUMN].first()
    scores = [c for c in recordings.columns if c.startswith("score_")]
    outcomes = [c for c in recordings.columns if c.startswith("outcome_")]
    pieces = [base]
    if scores:
        pieces.append(visits[scores].mean())
    if outcomes:
        pieces.append(visits[outcomes].first())
    if meta:
        pieces.append(visits[meta].first())
    if features:
        wide = recordings.pivot_table(index=SUBJECT_KEYS, columns="task", values=features,
                                      aggfunc="first", dropna=False)
        wide.columns = [f"{parse_column(f)[0]}{SEP}{task}{SEP}{parse_column(f)[2]}" for f, task in wide.columns]
        # dropna=False keeps all-missing features per task but also crosses every subject with
        # every visit; keep only the subject-visits that were recorded
        wide = wide.reindex(base.index).dropna(axis=1, how="all")
        pieces.append(wide)
    table = pd.concat(pieces, axis=1).reset_index()
    groups_per_subject = table.groupby("subject_id")["group"].nunique()
    if (groups_per_subject > 1).any():
        raise ValueError(f"subjects with more than one group: {list(groups_per_subject[groups_per_subject > 1].index)}")
    return table

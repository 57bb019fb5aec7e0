"""The report's cohort and data-quality section: who was recorded, which tasks, what failed or
was excluded."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from core.privacy import scrub_paths
from core.tasks import KIND_WORDS
from core.visits import first_visits
from features.video.face_features import QUALITY_MAX_GAP_S, QUALITY_MIN_FACE_SHARE
from reports.importance import task_words
from reports.sections.common import fmt, group_words, ordered_groups

# Female shares across groups further apart than this are called unbalanced.
SEX_IMBALANCE = 0.20


def _age_text(age: pd.Series) -> str:
    """``mean \u00b1 SD (min\u2013max)`` in years; the single value for one person."""
    if len(age) == 0:
        return fmt(None)
    if len(age) == 1:
        return fmt(float(age.iloc[0]), 0)
    return (f"{age.mean():.1f} \u00b1 {age.std(ddof=1):.1f} ({age.min():.0f}\u2013"
            f"{age.max():.0f})")


def cohort_rows(table: pd.DataFrame, recordings: pd.DataFrame,
                errors: pd.DataFrame) -> list[dict]:
    """One row per participant group: participants, visits, sex, age, recordings, failures.

    Sex and age come from ``meta__sex_female`` and ``meta__age`` of each participant's first
    visit; failures count distinct recordings listed in ``errors.csv``.
    """
    first = first_visits(table)
    group_of_recording = recordings.set_index("recording_id")["group"].astype(str)
    failed = errors.get("recording_id", pd.Series(dtype=str)).dropna().astype(str)
    failed_groups = group_of_recording.reindex(failed.unique()).fillna("unknown")
    rows = []
    for group in ordered_groups(list(table["group"]) + list(failed_groups)):
        people = first[first["group"].astype(str) == group]
        sex = people.get("meta__sex_female", pd.Series(np.nan, index=people.index))
        age = people.get("meta__age", pd.Series(np.nan, index=people.index)).dropna()
        rows.append({
            "group": group_words(group), "code": group, "subjects": len(people),
            "visits": int((table["group"].astype(str) == group).sum()),
            "female": int((sex == 1).sum()), "male": int((sex == 0).sum()),
            "sex_unknown": int(sex.isna().sum()),
            "female_share": float((sex == 1).sum() / sex.notna().sum()) if sex.notna().any()
            else float("nan"),
            "age": _age_text(age),
            "recordings": int((recordings["group"].astype(str) == group).sum()),
            "failed": int((failed_groups == group).sum()),
        })
    return rows


def task_rows(recordings: pd.DataFrame, tasks: dict) -> tuple[list[str], list[dict]]:
    """Recordings per task (rows) and group (columns), each task with its words and kind
    (``tasks``: the run's vocabulary, task name -> ``core.tasks.TaskSpec``)."""
    groups = ordered_groups(recordings["group"])
    counts = recordings.groupby(["task", "group"]).size().unstack(fill_value=0)
    rows = [{"task": task, "words": task_words(task, tasks),
             "kind": KIND_WORDS[tasks[task].kind] if task in tasks else "",
             "counts": [int(counts.loc[task].get(g, 0)) for g in groups]}
            for task in counts.index]
    return groups, rows


def failure_rows(errors: pd.DataFrame, known_paths: Sequence[str] = ()) -> list[dict]:
    """Failed or skipped recordings by stage and error type, with an example reason from which
    ``known_paths`` (``pipeline.privacy.known_paths``) and anything path-like are removed."""
    if errors.empty:
        return []
    table = errors.fillna({"error": "unknown"})
    rows = []
    for (stage, error), part in table.groupby(["stage", "error"], sort=True):
        rows.append({"stage": stage, "error": error,
                     "recordings": int(part["recording_id"].nunique()),
                     "example": scrub_paths(part["message"].iloc[0], known_paths)})
    return rows


def validation_rows(validation: pd.DataFrame, known_paths: Sequence[str] = ()) -> list[dict]:
    """Manifest validation issues by severity and column, with an example message from which
    ``known_paths`` and anything path-like are removed."""
    if validation.empty:
        return []
    table = validation.fillna({"column": "", "severity": "issue"})
    rows = []
    for (severity, column), part in table.groupby(["severity", "column"], sort=True):
        rows.append({"severity": severity, "column": column or "(row)", "count": len(part),
                     "example": scrub_paths(part["message"].iloc[0], known_paths)})
    return rows


def quality_rows(quality: pd.DataFrame | None, recordings: pd.DataFrame) -> list[dict]:
    """Landmark tracking quality per group: recordings tracked, median face share, below bar."""
    if quality is None or quality.empty:
        return []
    group_of = recordings.set_index("recording_id")["group"].astype(str)
    group = group_of.reindex(quality["recording_id"]).fillna("unknown").to_numpy()
    below = ((quality["face_share"] < QUALITY_MIN_FACE_SHARE)
             | (quality["longest_gap_s"] > QUALITY_MAX_GAP_S))
    table = quality.assign(group=group, below=below.to_numpy())
    rows = []
    for g in ordered_groups(table["group"]):
        part = table[table["group"] == g]
        rows.append({"group": group_words(g), "tracked": len(part),
                     "face_share": fmt(part["face_share"].median(), 3),
                     "longest_gap": fmt(part["longest_gap_s"].max(), 2),
                     "below_bar": int(part["below"].sum())})
    return rows

"""The per-participant pages: a participant's largest deviations from the controls, predictions and
the features behind them."""
from __future__ import annotations

import pandas as pd

from features.registry import SEP, lookup
from reports.export import POSITIVE_Z_WORDS, change_scores, control_norms, feature_values, z_scores
from reports.importance import plain_names
from reports.sections.common import fmt, is_missing, slug

SUBJECT_FOLDER = "subjects"
TOP_DEVIATIONS = 10
NEGATIVE_Z_WORDS = {"higher_worse": "better than controls", "higher_better": "worse than controls",
                    "neutral": "lower than controls (no clinical direction)"}


# Recording conditions and tracking quality describe the session, not the participant.
NOT_DEVIATIONS = ("nonspeech", "quality")


def deviation_rows(z: pd.DataFrame, subject: str, *, top: int, tasks: dict) -> list[dict]:
    """A participant's largest deviations from the control norms per visit, in plain words.

    Parameters
    ----------
    z : DataFrame
        ``reports.export.z_scores`` output of ``feature_values``: one row per subject, visit and
        task, a subject's visits in visit order.
    subject : str
        Participant id.
    top : int
        Rows per visit.
    tasks : dict
        Task name -> ``core.tasks.TaskSpec``: the run's vocabulary, whose descriptions word
        the tasks.

    Returns
    -------
    list of dict
        ``visit``, ``name``, ``z`` (text), ``meaning``; visits in the order of ``z``, and per
        visit features with a clinical direction first, each group by decreasing |z|. Recording-condition and tracking-quality
        columns are left out.
    """
    part = z[z["subject_id"] == subject]
    columns = [c for c in part.columns if SEP in c and c.split(SEP)[0] not in NOT_DEVIATIONS]
    long = part.melt(id_vars=["visit", "task"], value_vars=columns, var_name="column",
                     value_name="z").dropna(subset=["z"])
    if long.empty:
        return []
    long["subject_column"] = [f"{c.split(SEP)[0]}{SEP}{t}{SEP}{c.split(SEP)[1]}"
                              for c, t in zip(long["column"], long["task"])]
    long["direction"] = [lookup(c).direction for c in long["column"]]
    place = {visit: i for i, visit in enumerate(part["visit"].unique())}
    long = long.assign(size=long["z"].abs(), neutral=long["direction"] == "neutral",
                       place=long["visit"].map(place))
    long = long.sort_values(["place", "neutral", "size"], ascending=[True, True, False])
    chosen = long.groupby("place").head(top)
    names = plain_names(chosen["subject_column"], tasks)
    return [{"visit": r.visit, "name": names[r.subject_column], "z": fmt(r.z, 1),
             "meaning": (POSITIVE_Z_WORDS if r.z > 0 else NEGATIVE_Z_WORDS)[r.direction]}
            for r in chosen.itertuples()]


def subject_predictions(sections: list[dict], subject: str) -> list[dict]:
    rows = []
    for s in sections:
        for m in s["models"]:
            preds = m["predictions"]
            if preds.empty or subject not in set(preds["subject_id"].astype(str)):
                continue
            r = preds[preds["subject_id"].astype(str) == subject].iloc[0]
            if s["task_type"] == "regression":
                predicted, truth = fmt(r["y_pred"]), fmt(r["y_true"])
            else:
                labels = s["labels"]
                probs = ", ".join(f"{labels[k]} {float(r[f'prob_{k}']):.2f}"
                                  for k in range(len(labels)) if f"prob_{k}" in r.index)
                predicted = f"{labels[int(r['y_pred'])]} ({probs})"
                truth = labels[int(r["y_true"])] if not is_missing(r["y_true"]) else "\u2013"
            rows.append({"target": s["description"], "model": m["model"], "set": m["final_set"],
                         "predicted": predicted, "truth": truth})
    return rows


def contribution_bar(contribution: float, largest: float) -> dict:
    """Left offset and width (percent of a cell) of a diverging bar centred in the cell: a
    positive contribution grows right of the centre, a negative one left of it."""
    half = 0.0 if largest <= 0 else 50.0 * min(abs(contribution) / largest, 1.0)
    return {"left": 50.0 if contribution > 0 else 50.0 - half, "width": half,
            "towards": contribution > 0}


def subject_reasons_block(sections: list[dict], subject: str) -> list[dict]:
    blocks = []
    for s in sections:
        explanation = s.get("explanation")
        if explanation is None or subject not in explanation.reasons:
            continue
        reasons = explanation.reasons[subject]
        if reasons.empty:
            continue
        largest = float(reasons["contribution"].abs().max())
        blocks.append({
            "target": s["description"], "towards": explanation.towards[subject],
            "unit": "log-odds" if s["task_type"] != "regression" else "score units",
            "rows": [{"name": r.name, "value": fmt(r.value, 3), "unit": r.unit,
                      "contribution": fmt(r.contribution, 3), "pushes": r.pushes,
                      "bar": contribution_bar(r.contribution, largest)}
                     for r in reasons.itertuples()]})
    return blocks


def subject_file(subject: str) -> str:
    """File name of a participant's page inside ``report/subjects``."""
    return slug(subject) + ".html"


def against_controls(recordings: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """z-scores of every recording against the healthy controls (None without controls) and the
    change scores of every followed-up participant (scaled by the controls where there are any)."""
    values = feature_values(recordings)
    # Norms from the recordings: they carry what visits are ordered by, the values do not.
    norms = control_norms(recordings, control_group="HC")
    changes = change_scores(recordings, values, norms, control_group="HC")
    if "HC" not in set(values["group"]):
        return None, changes
    return z_scores(values, norms), changes

"""The report's landmark section: error against manual landmarks and, with adapted landmarks, what
adaptation changed."""
from __future__ import annotations

import pandas as pd

from features.video.landmark_error import ERROR_REGIONS
from reports import figures
from reports.sections.common import Figures, fmt, fmt_ci, group_words, ordered_groups
from reports.sections.inputs import RunInputs


def landmark_error_summary(landmarks_error: pd.DataFrame) -> pd.DataFrame:
    """Mean NME per participant group (overall and per point group) and faces compared."""
    columns = [c for c in ERROR_REGIONS if c in landmarks_error.columns]
    grouped = landmarks_error.groupby("group")
    summary = grouped[columns].mean()
    summary["n_recordings"] = grouped.size()
    if "n_faces" in landmarks_error.columns:
        summary["n_faces"] = grouped["n_faces"].sum()
    summary = summary.reset_index()
    order = {g: i for i, g in enumerate(ordered_groups(summary["group"]))}
    return summary.sort_values("group", key=lambda s: s.map(order)).reset_index(drop=True)


def landmark_block(figs: Figures, landmarks_error: pd.DataFrame | None) -> dict:
    """Landmark-error table rows and figure; ``summary`` None when the run did not measure it."""
    if landmarks_error is None or landmarks_error.empty:
        return {"summary": None, "figure": None, "columns": [], "rows": []}
    summary = landmark_error_summary(landmarks_error)
    columns = [c for c in ERROR_REGIONS if c in summary.columns]
    figure = figs.add("landmark_error", figures.landmark_error_figure(
        summary, point_groups=columns,
        title="Landmark error against manual landmarks, by participant group"),
        alt="Landmark error by point group and participant group")
    rows = [{"group": group_words(r["group"]), "values": [fmt(r[c], 3) for c in columns],
             "n_faces": fmt(r.get("n_faces"))} for r in summary.to_dict("records")]
    return {"summary": summary, "figure": figure, "columns": columns, "rows": rows}


# The smile asymmetry the before/after comparison shows.
SMILE_ASYMMETRY = "face__commissure_excursion_asym_pct"


ADAPTATION_REGIONS = ("overall", "lips")


def adaptation_rows(adaptation: pd.DataFrame) -> list[dict]:
    """Held-out error of the generic and adapted models, overall and for the lips, over all
    frames, by participant group and by task."""
    shown = adaptation[adaptation["region"].isin(ADAPTATION_REGIONS)]
    rows = []
    for r in shown.to_dict("records"):
        level = {"all": "all", "group": group_words(str(r["level"])),
                 "task": str(r["level"])}[r["by"]]
        rows.append({"model": f"{r['model']} ({r['evaluation']})", "level": level,
                     "region": r["region"], "generic": fmt(r["nme_generic"], 4),
                     "adapted": fmt(r["nme_adapted"], 4),
                     "change": fmt_ci(r["change"], r["change_ci_low"], r["change_ci_high"], 4),
                     "change_pct": fmt(r["change_pct"], 0),
                     "subjects": int(r["n_subjects"]), "frames": int(r["n_frames"])})
    return rows


def model_use_rows(quality: pd.DataFrame, recordings: pd.DataFrame) -> list[dict]:
    """Recordings per participant group fitted with a subject's, the cohort's or the generic
    model."""
    group_of = recordings.set_index("recording_id")["group"].astype(str)
    kind = quality["shape_model"].str.replace(r"^subject_.*", "subject", regex=True)
    table = pd.DataFrame({"group": group_of.reindex(quality["recording_id"]).fillna("unknown")
                          .to_numpy(), "kind": kind.to_numpy()})
    return [{"group": group_words(g),
             **{k: int((table.loc[table["group"] == g, "kind"] == k).sum())
                for k in ("subject", "cohort", "generic")}}
            for g in ordered_groups(table["group"])]


def smile_before_after_rows(face_generic: pd.DataFrame, recordings: pd.DataFrame,
                            quality: pd.DataFrame) -> list[dict]:
    """Median smile asymmetry per group from the generic and from the adapted landmarks, over
    the recordings fitted with an adapted model where both are measured."""
    adapted = set(quality.loc[quality["shape_model"] != "generic", "recording_id"])
    if SMILE_ASYMMETRY not in face_generic.columns or SMILE_ASYMMETRY not in recordings.columns:
        return []
    both = recordings[["recording_id", "group", "task", SMILE_ASYMMETRY]].merge(
        face_generic[["recording_id", SMILE_ASYMMETRY]], on="recording_id",
        suffixes=("_after", "_before"))
    both = both[both["recording_id"].isin(adapted)].dropna(
        subset=[f"{SMILE_ASYMMETRY}_after", f"{SMILE_ASYMMETRY}_before"])
    rows = []
    for g in ordered_groups(both["group"].astype(str)):
        part = both[both["group"].astype(str) == g]
        rows.append({"group": group_words(g), "recordings": len(part),
                     "tasks": ", ".join(sorted(part["task"].astype(str).unique())),
                     "before": fmt(part[f"{SMILE_ASYMMETRY}_before"].median(), 1),
                     "after": fmt(part[f"{SMILE_ASYMMETRY}_after"].median(), 1)})
    return rows


def adaptation_block(inputs: RunInputs) -> dict | None:
    """The adapted-landmarks section; None when the run trained no shape models."""
    if inputs.landmarks_adaptation is None or inputs.landmarks_adaptation.empty:
        return None
    quality = inputs.landmarks_quality
    in_use = quality is not None and "shape_model" in quality.columns
    return {"rows": adaptation_rows(inputs.landmarks_adaptation),
            "use": model_use_rows(quality, inputs.recordings) if in_use else [],
            "per_recording": ([{"recording_id": r.recording_id, "model": r.shape_model}
                               for r in quality.itertuples()] if in_use else []),
            "smile": (smile_before_after_rows(inputs.face_generic, inputs.recordings, quality)
                      if in_use and inputs.face_generic is not None else [])}

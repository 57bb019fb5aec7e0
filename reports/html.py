"""The feature-importance report: one self-contained HTML file plus one page per participant.

``build_report`` turns a run's tables (``RunInputs``, loaded by ``pipeline.report``) into a
``Report``: the main page, the PNG figures and the per-participant pages. Every figure is embedded
as a base64 ``data:`` URI and all styling is inline, so each page opens offline and can be sent as
one file. Only pseudonymous participant ids appear: no paths, file names, recording ids or
images of faces; messages from the run's error tables are shown with every known path of the
manifest and anything path-like replaced (``pipeline.privacy``).

Sections: cohort and data quality, methods, results with confidence intervals (per target,
model and modality set, with each target's evaluation plan and, for recovery, the comparison with
baseline severity), the fusion-versus-single-modality claim exactly as ``metrics.json`` records
it, permutation p-values, calibration, importances, change between visits (every followed-up
participant and a cohort figure of trajectories by outcome, ``reports.longitudinal``), landmark
error (when the run measured it), limitations and links to the participant pages.
"""
from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core.errors import ConfigError, TargetError
from core.privacy import scrub_paths
from core.tasks import GROUP_NAMES, GROUPS, KIND_WORDS
from core.visits import first_visits
from features.registry import SEP, lookup
from features.video.face_features import QUALITY_BAR, QUALITY_MAX_GAP_S, QUALITY_MIN_FACE_SHARE
from features.video.landmark_error import ERROR_REGIONS
from models.explain import FINAL, OUT_OF_FOLD, ImportanceError, gain_of, permutation_of, shap_of
from models.metrics import PRIMARY_METRIC, roc_auc
from models.modalities import FINAL_SET
from models.targets import build_target
from reports import figures
from reports.chance import (CHANCE_LEVEL, CHANCE_METRIC, PERMUTATION_ALPHA,
                            above_chance)
from reports.export import (DIRECTION_WORDS, POSITIVE_Z_WORDS, change_scores, control_norms,
                            feature_values, z_scores)
from reports.importance import (ablation_table, importance_table, mean_abs_shap, plain_names,
                                signed_contributions, subject_reasons, task_words)
from reports.longitudinal import (RECOVERY_TARGET, longitudinal_view, recovery_probabilities,
                                  trajectory_png)
from reports.methods import METRIC_WORDS, SPLIT_WORDS, methods_paragraphs, reference_list

TEMPLATES = Path(__file__).resolve().parent / "templates"
SUBJECT_FOLDER = "subjects"
TOP_FEATURES = 15
TOP_REASONS = 8
TOP_DEVIATIONS = 10
# A landmark error this much above the controls' is worth a sentence in the limitations.
LANDMARK_ERROR_EXCESS = 0.10
# Female shares across groups further apart than this are called unbalanced.
SEX_IMBALANCE = 0.20
FEW_PERMUTATIONS = 100
# Modality sets that should not predict the target: what each is, and what it would mean if it did.
CONTROL_MODELS = {
    "metadata": ("a model given only age and sex",
                 "the groups differ in age or sex, and biomarker results may partly reflect that"),
    "nonspeech": ("a model given only the non-speech recording-condition control",
                  "the model may be reading the room (recording conditions), not the "
                  "participant"),
}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class RunInputs:
    """What a run folder holds for the report (see ``pipeline.report`` for the files).

    Attributes
    ----------
    table : DataFrame
        Subject-level feature table (``features/table.parquet``).
    recordings : DataFrame
        Recording-level table (``features/recordings.parquet``).
    metrics : dict
        ``metrics.json``.
    cv_predictions : DataFrame
        Out-of-fold subject predictions (``cv_predictions.parquet``).
    importance, shap : DataFrame, optional
        The final XGBoost models' explanations kept with the model set
        (``models.modelset.IMPORTANCE_FILE`` and ``SHAP_FILE``, ``models.explain``); None for a
        set written before train kept them.
    errors : DataFrame
        ``errors.csv`` (stage, recording_id, file, error, message); may be empty.
    validation : DataFrame
        ``validation.csv`` (severity, file, row, column, recording_id, message); may be empty.
    tasks : dict
        Task name -> ``core.tasks.TaskSpec``: the run's task vocabulary
        (``pipeline.task_file.run_vocabulary``), whose descriptions word the tasks.
    landmarks_quality : DataFrame, optional
        ``landmarks_quality.parquet``.
    landmarks_error : DataFrame, optional
        ``landmarks_error.parquet`` (NME per recording), when the run measured it.
    landmarks_adaptation : DataFrame, optional
        ``landmarks_adaptation.csv`` (held-out error of the generic and adapted shape models),
        when the run trained shape models.
    face_generic : DataFrame, optional
        ``features/face_generic.parquet``: face features from the generic model's landmarks of
        the recordings adapted models were trained on (the "before").
    known_paths : list of str
        Forms of the manifest's media paths (``pipeline.privacy.known_paths``), removed from the
        messages of the error tables; empty when the run has no validated manifest.
    """

    table: pd.DataFrame
    recordings: pd.DataFrame
    metrics: dict
    cv_predictions: pd.DataFrame
    importance: pd.DataFrame | None
    shap: pd.DataFrame | None
    errors: pd.DataFrame
    validation: pd.DataFrame
    tasks: dict
    landmarks_quality: pd.DataFrame | None = None
    landmarks_error: pd.DataFrame | None = None
    landmarks_adaptation: pd.DataFrame | None = None
    face_generic: pd.DataFrame | None = None
    known_paths: list = field(default_factory=list)


@dataclass
class Report:
    """The rendered report: main page, figures by file name, participant pages by file stem."""

    html: str
    figures: dict
    subjects: dict


# ---------------------------------------------------------------- formatting


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt(value, digits: int = 2) -> str:
    """A number for a table cell; an en dash when missing."""
    if _missing(value):
        return "\u2013"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def fmt_ci(estimate, low, high, digits: int = 2) -> str:
    """``0.81 (0.62 to 0.95)``; the interval is left out when missing."""
    if _missing(low) or _missing(high):
        return fmt(estimate, digits)
    return f"{fmt(estimate, digits)} ({fmt(low, digits)} to {fmt(high, digits)})"


def fmt_p(value) -> str:
    """A p-value with three decimals, or an en dash."""
    return "\u2013" if _missing(value) else f"{float(value):.3f}"


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def slug(text: str) -> str:
    """A file-name-safe form of a target, model or participant id."""
    return _UNSAFE_NAME.sub("_", str(text)).strip("_") or "item"


def group_words(code: str) -> str:
    """``"PS (post-stroke)"`` for a group code."""
    return f"{code} ({GROUP_NAMES[code]})" if code in GROUP_NAMES else str(code)


def metric_words(name: str) -> str:
    """Plain name of a metric."""
    return METRIC_WORDS.get(name, name)


class _Figures:
    """Collects figures under unique file names and hands out their data URIs."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def add(self, name: str, png: bytes, *, alt: str, caption: str = "") -> dict:
        filename = slug(name) + ".png"
        if filename in self.files:
            raise ConfigError(f"two report figures are named {filename}")
        self.files[filename] = png
        return {"uri": data_uri(png), "alt": alt, "caption": caption, "file": filename}


# ---------------------------------------------------------------- cohort and data quality


def _ordered_groups(values) -> list[str]:
    present = list(dict.fromkeys(str(v) for v in values))
    return [g for g in GROUPS if g in present] + sorted(g for g in present if g not in GROUPS)


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
    for group in _ordered_groups(list(table["group"]) + list(failed_groups)):
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
    groups = _ordered_groups(recordings["group"])
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
    for g in _ordered_groups(table["group"]):
        part = table[table["group"] == g]
        rows.append({"group": group_words(g), "tracked": len(part),
                     "face_share": fmt(part["face_share"].median(), 3),
                     "longest_gap": fmt(part["longest_gap_s"].max(), 2),
                     "below_bar": int(part["below"].sum())})
    return rows


def landmark_error_summary(landmarks_error: pd.DataFrame) -> pd.DataFrame:
    """Mean NME per participant group (overall and per point group) and faces compared."""
    columns = [c for c in ERROR_REGIONS if c in landmarks_error.columns]
    grouped = landmarks_error.groupby("group")
    summary = grouped[columns].mean()
    summary["n_recordings"] = grouped.size()
    if "n_faces" in landmarks_error.columns:
        summary["n_faces"] = grouped["n_faces"].sum()
    summary = summary.reset_index()
    order = {g: i for i, g in enumerate(_ordered_groups(summary["group"]))}
    return summary.sort_values("group", key=lambda s: s.map(order)).reset_index(drop=True)


# ---------------------------------------------------------------- per target


def _final_set(protocol: dict) -> str:
    sets = protocol.get("modality_sets", {})
    if FINAL_SET in sets or not sets:
        return FINAL_SET
    return max(sets, key=lambda s: sets[s].get("n_features", 0))


def _metric_rows(summary: dict) -> tuple[list[str], list[dict]]:
    """Metrics table of one model: rows = modality sets, columns = metrics (estimate and CI)."""
    protocol = summary.get("protocol", {})
    records = pd.DataFrame(summary.get("metrics", []))
    if records.empty:
        return [], []
    names = list(protocol.get("metrics") or dict.fromkeys(records["metric"]))
    p_values = {r["modality_set"]: r.get("p_value") for r in summary.get("permutation", [])}
    rows = []
    for name in dict.fromkeys(records["modality_set"]):
        part = records[records["modality_set"] == name].set_index("metric")
        cells = []
        for metric in names:
            if metric not in part.index:
                cells.append({"main": "\u2013", "sub": ""})
                continue
            r = part.loc[metric]
            note = r.get("note") or ""
            main = fmt(r.get("estimate"))
            sub = "" if _missing(r.get("ci_low")) else \
                f"{fmt(r.get('ci_low'))} to {fmt(r.get('ci_high'))}"
            cells.append({"main": main, "sub": sub, "note": scrub_paths(note)})
        sets = protocol.get("modality_sets", {}).get(name, {})
        rows.append({"set": name, "families": sets.get("families", ""),
                     "n_features": sets.get("n_features", ""), "cells": cells,
                     "p_value": fmt_p(p_values.get(name))})
    return [metric_words(m) for m in names], rows


def interval_on_the_worse_side(record: dict) -> bool:
    """Whether a paired difference's interval lies wholly on the unfavourable side of zero.

    Parameters
    ----------
    record : dict
        A paired comparison of ``metrics.json`` (``ci_low``, ``ci_high`` and ``higher_is_better``;
        the latter True when missing).

    Returns
    -------
    bool
        True when the first set is shown to do worse than the second: the whole interval below
        zero for a metric where higher is better (AUC), above zero where lower is better (RMSE).
        False when the interval is missing or includes zero.
    """
    low, high = record.get("ci_low"), record.get("ci_high")
    if _missing(low) or _missing(high):
        return False
    return float(high) < 0 if record.get("higher_is_better", True) else float(low) > 0


def fusion_sentence(summary: dict) -> dict:
    """The fusion-versus-best-single-modality result in words, as ``metrics.json`` says it.

    Returns
    -------
    dict
        ``claim`` (bool, ``fusion_beats_unimodal``) and ``text``.
    """
    record = summary.get("fusion_vs_unimodal") or {}
    claim = bool(record.get("fusion_beats_unimodal", False))
    if "difference" not in record:
        reason = record.get("note") or "no comparison was recorded"
        return {"claim": False, "text": f"No fusion claim: {scrub_paths(reason)}."}
    metric = metric_words(record.get("metric", ""))
    difference = fmt_ci(record.get("difference"), record.get("ci_low"), record.get("ci_high"))
    detail = (f"{record.get('fusion_set')} {fmt(record.get('fusion'))} versus "
              f"{record.get('unimodal_set')} {fmt(record.get('unimodal'))}; paired difference in "
              f"{metric} {difference}")
    if claim:
        return {"claim": True, "text": f"Fusion beats the best single modality ({detail}): the "
                                       "interval of the difference excludes zero."}
    if interval_on_the_worse_side(record):
        return {"claim": False, "text": f"Fusion does worse than the best single modality ({detail}): the "
                                        "interval of the difference lies wholly on the worse side of zero."}
    note = f" ({scrub_paths(record['note'])})" if record.get("note") else ""
    return {"claim": False, "text": f"No claim that fusion beats the best single modality "
                                    f"({detail}): the interval of the difference includes zero or "
                                    f"is undefined{note}."}


def _permutation_rows(summary: dict) -> list[dict]:
    return [{"set": r.get("modality_set"), "metric": metric_words(r.get("metric", "")),
             "observed": fmt(r.get("observed")), "p_value": fmt_p(r.get("p_value")),
             "n": fmt(r.get("n_permutations")), "null": f"{fmt(r.get('null_mean'))} \u00b1 "
                                                        f"{fmt(r.get('null_sd'))}"}
            for r in summary.get("permutation", [])]


def _predictions(cv: pd.DataFrame, target: str, model: str, modality_set: str) -> pd.DataFrame:
    if cv.empty:
        return cv
    keep = (cv["target"] == target) & (cv["model"] == model) & (cv["modality_set"] == modality_set)
    return cv[keep].reset_index(drop=True)


def _record(summary: dict, modality_set: str, metric: str) -> dict:
    for r in summary.get("metrics", []):
        if r.get("modality_set") == modality_set and r.get("metric") == metric:
            return r
    return {}


def _one_vs_rest(preds: pd.DataFrame, task_type: str, labels: list) -> dict:
    """Legend label -> (0/1 outcome, predicted probability) per class curve to draw: class 1
    for a binary target, every class against the rest for a multiclass one."""
    y = preds["y_true"].to_numpy(int)
    if task_type == "binary":
        return {f"{labels[1]} vs {labels[0]}": (y, preds["prob_1"].to_numpy(float))}
    return {f"{label} vs rest": ((y == k).astype(int), preds[f"prob_{k}"].to_numpy(float))
            for k, label in enumerate(labels)}


def _roc_legend(summary: dict, modality_set: str, task_type: str, y, score) -> str:
    """The evaluation's AUC with its CI for a binary target; the class's own AUC otherwise."""
    if task_type == "binary":
        auc = _record(summary, modality_set, "roc_auc")
        return fmt_ci(auc.get("estimate"), auc.get("ci_low"), auc.get("ci_high"))
    return fmt(roc_auc(y, np.column_stack([1 - score, score])))


def _performance_figures(figs: _Figures, *, target: str, model: str, summary: dict,
                         preds: pd.DataFrame, task_type: str, labels: list, modality_set: str,
                         seed: int) -> list[dict]:
    """ROC with bands and calibration (binary; multiclass one class against the rest) or
    predicted versus true (regression)."""
    if preds.empty:
        return []
    out = []
    name = f"{target}__{model}"
    where = f"{model}, {modality_set} features, out-of-fold"
    if task_type == "regression":
        out.append(figs.add(f"{name}__predicted", figures.predicted_vs_true_figure(
            preds["y_true"], preds["y_pred"], unit="score", title=f"Predicted vs true ({where})"),
            alt=f"Predicted versus true score, {where}"))
        return out
    curves = _one_vs_rest(preds, task_type, labels)
    n_boot = int(summary.get("protocol", {}).get("n_bootstrap") or 200)
    bands = {f"{legend}: AUC {_roc_legend(summary, modality_set, task_type, y, score)}":
             figures.roc_band(y, score, subjects=preds["subject_id"], seed=seed, n_boot=n_boot)
             for legend, (y, score) in curves.items() if len(np.unique(y)) == 2}
    if bands:
        overall = ""
        if task_type == "multiclass":
            auc = _record(summary, modality_set, "roc_auc")
            overall = (f" The mean of the one-vs-rest AUCs, as evaluated: "
                       f"{fmt_ci(auc.get('estimate'), auc.get('ci_low'), auc.get('ci_high'))}.")
        out.append(figs.add(f"{name}__roc", figures.roc_figure(bands, title=f"ROC ({where})"),
                            alt=f"ROC curve, {where}",
                            caption="Shaded: 95% subject-level bootstrap band of the sensitivity "
                                    "at each false-positive rate." + overall))
    notes = [("Brier", _record(summary, modality_set, "brier"))]
    if task_type == "binary":
        notes = [("slope", _record(summary, modality_set, "calibration_slope")),
                 ("intercept", _record(summary, modality_set, "calibration_intercept"))] + notes
    note = "\n".join(f"{label} {fmt_ci(r.get('estimate'), r.get('ci_low'), r.get('ci_high'))}"
                     for label, r in notes)
    bins = {legend: figures.calibration_bins(y, score, n_bins=min(5, max(1, len(y) // 4)))
            for legend, (y, score) in curves.items()}
    out.append(figs.add(f"{name}__calibration", figures.calibration_figure(
        bins, title=f"Calibration ({where})", note=note),
        alt=f"Calibration curve, {where}",
        caption="Ideal: points on the diagonal, slope 1, intercept 0 (Van Calster 2019). "
                "A slope below 1 means over-confident risks."
                + (" One curve per class: its predicted probability against how often it was "
                   "the true class." if task_type == "multiclass" else "")))
    return out


@dataclass
class Explanation:
    """Importances of one target's XGBoost model and the per-participant reasons."""

    table: pd.DataFrame
    figures: list
    permutation_metric: str
    permutation_baseline: float
    reasons: dict  # subject_id -> DataFrame (subject_reasons)
    towards: dict  # subject_id -> outcome the reasons push towards


def explain_target(figs: _Figures, *, target: str, importance: pd.DataFrame, shap: pd.DataFrame,
                   explained: dict, labels: list, task_type: str, top: int, reported: dict,
                   tasks: dict) -> Explanation:
    """Gain, SHAP and out-of-fold permutation importance of one target's XGBoost model, as train
    computed them (``models.explain``).

    ``importance`` and ``shap`` are the model set's explanation tables and ``explained`` the
    target's ``importance`` record in ``metrics.json`` (``metric``, ``baseline``, ``n_repeats``);
    ``reported`` maps subject id to the class the evaluation predicted for it (multiclass reasons
    are given towards that class); ``tasks`` is the run's task vocabulary (task name ->
    ``core.tasks.TaskSpec``), whose descriptions word the features' tasks.
    """
    subjects, final_shap = shap_of(shap, target, FINAL)
    table = importance_table(gain=gain_of(importance, target), shap=mean_abs_shap(final_shap), tasks=tasks,
                             permutation=permutation_of(importance, target))
    # Features no tree uses have zero importance of every kind: ranking them says nothing.
    table = table[(table["gain_share"] > 0) | (table["mean_abs_shap"] > 0)
                  | (table["permutation"] != 0)].reset_index(drop=True)
    shown = table.head(top)
    unit = "log-odds" if task_type != "regression" else "score units"
    made = [figs.add(f"{target}__xgb__shap_bar", figures.importance_bars(
        shown["name"], shown["mean_abs_shap"], title="Top features by mean |SHAP| (final model)",
        xlabel=f"mean |SHAP value| ({unit})"), alt="Top features by mean absolute SHAP value")]
    in_final = shown[shown["column"].isin(final_shap.columns)]
    if task_type != "multiclass" and not in_final.empty:
        index = [final_shap.columns.index(c) for c in in_final["column"]]
        made.append(figs.add(f"{target}__xgb__shap_summary", figures.shap_beeswarm(
            final_shap.values[:, index], final_shap.data[:, index], list(in_final["name"]),
            title="SHAP summary (final model, every participant)",
            xlabel=f"SHAP value ({unit}; positive = towards "
                   f"{labels[1] if task_type == 'binary' else 'a higher score'})"),
            alt="SHAP summary plot", caption="One dot per participant; colour = the feature's "
                                            "value relative to the other participants."))
    by_permutation = table.sort_values("permutation", ascending=False, kind="stable").head(top)
    by_permutation = by_permutation[by_permutation["permutation"] != 0]
    if not by_permutation.empty:
        made.append(figs.add(f"{target}__xgb__permutation", figures.importance_bars(
            by_permutation["name"], by_permutation["permutation"],
            errors=by_permutation["permutation_sd"], title="Out-of-fold permutation importance",
            xlabel=f"worsening of {metric_words(explained['metric'])} when shuffled (mean \u00b1 SD "
                   f"over {explained['n_repeats']} shuffles)"), alt="Permutation importance"))
    _, oof_shap = shap_of(shap, target, OUT_OF_FOLD)
    reasons, towards = _subject_reasons(oof_shap, subjects, labels=labels, task_type=task_type,
                                        reported=reported, tasks=tasks)
    return Explanation(table=table, figures=made, permutation_metric=explained["metric"],
                       permutation_baseline=explained["baseline"], reasons=reasons, towards=towards)


def _subject_reasons(shap, subjects: list, *, labels: list, task_type: str, reported: dict,
                     tasks: dict) -> tuple[dict, dict]:
    classes = None
    if task_type == "multiclass":
        # Explained towards the class the evaluation predicted (the one the page shows).
        unreported = [s for s in subjects if s not in reported]
        if unreported:
            raise ImportanceError(f"no out-of-fold prediction of participant(s) {', '.join(unreported)} "
                                  "to explain")
        classes = np.array([int(reported[s]) for s in subjects])
    contributions = signed_contributions(shap, classes=classes)
    reasons, towards = {}, {}
    for i, subject in enumerate(subjects):
        reasons[subject] = subject_reasons(contributions[i], shap.data[i], shap.columns, tasks=tasks,
                                           top=TOP_REASONS)
        if task_type == "binary":
            towards[subject] = labels[1]
        elif task_type == "multiclass":
            towards[subject] = labels[classes[i]]
        else:
            towards[subject] = "a higher score"
    return reasons, towards


def _importance_rows(table: pd.DataFrame, top: int) -> list[dict]:
    return [{"rank": i + 1, "name": r.name, "task": r.task,
             "direction": DIRECTION_WORDS[r.direction],
             "gain": fmt(r.gain_share, 3), "shap": fmt(r.mean_abs_shap, 3),
             "permutation": f"{fmt(r.permutation, 3)} \u00b1 {fmt(r.permutation_sd, 3)}"}
            for i, r in enumerate(table.head(top).itertuples())]


def plan_sentence(plan: dict, labels: list) -> str:
    """A target's evaluation plan (``models.cv.evaluation_plan`` in ``metrics.json``) in words: who
    the estimate rests on, the outer folds and why there are that many, the inner folds."""
    if not plan:
        return ""
    counts = plan.get("subjects_per_class", {})
    classes = ", ".join(f"{n} {labels[int(k)] if int(k) < len(labels) else k}" for k, n in counts.items())
    outer = plan.get("outer", {})
    method = SPLIT_WORDS.get(outer.get("method"), outer.get("method", ""))
    folds, requested = outer.get("n_splits"), plan.get("requested_splits")
    why = ""
    if counts and folds is not None and requested is not None and folds < requested:
        why = (f"; fewer than the {requested} requested because the smallest class has "
               f"{min(counts.values())} participants and every fold must hold each class")
    inner = sorted(set(plan.get("inner_splits", [])))
    inner_text = (f"{inner[0]}" if len(inner) == 1 else f"{inner[0]} to {inner[-1]}") if inner else "no"
    return (f"The estimate rests on {plan.get('n_subjects')} participants"
            + (f" ({classes})" if classes else "") + f". Evaluation plan: {method} outer cross-validation with "
            f"{folds} folds{why}; {inner_text} grouped inner folds in each outer training part choose the "
            "hyper-parameters.")


def benchmark_sentence(summary: dict, final_set: str) -> dict:
    """The final set against the benchmark set (``metrics.json`` ``benchmark``) in words.

    Returns
    -------
    dict
        ``claim`` (the paired interval excludes zero on the good side) and ``text``; empty when the
        target has no benchmark.
    """
    record = next((r for r in summary.get("benchmark", []) if r.get("modality_set") == final_set), None)
    if record is None:
        return {}
    metric = metric_words(record.get("metric", ""))
    difference = fmt_ci(record.get("difference"), record.get("ci_low"), record.get("ci_high"))
    detail = (f"{final_set} {fmt(record.get('model'))} versus {record.get('benchmark_set')} "
              f"{fmt(record.get('benchmark'))}; paired difference in {metric} {difference}")
    what = ("the same estimator given only the clinical score at the first visit (baseline severity), "
            "on the same folds")
    if record.get("beats_benchmark"):
        return {"claim": True, "text": f"The recordings add to baseline severity ({detail}): the interval of "
                                       f"the difference excludes zero. Benchmark: {what}."}
    if interval_on_the_worse_side(record):
        return {"claim": False, "text": f"The recordings do worse than baseline severity alone ({detail}): "
                                        "the interval of the difference lies wholly on the worse side of "
                                        f"zero. Benchmark: {what}; a model must beat it to add anything."}
    note = f" ({scrub_paths(record['note'])})" if record.get("note") else ""
    return {"claim": False, "text": f"No claim that the recordings add to baseline severity ({detail}): the "
                                    f"interval of the difference includes zero or is undefined{note}. "
                                    f"Benchmark: {what}; a model must beat it to add anything."}


def excluded_sentences(excluded: dict) -> list[str]:
    """``Target.excluded`` (reason -> number of subjects) in words, one sentence per reason."""
    return [f"{n} {'subject' if n == 1 else 'subjects'} left out: {reason}."
            for reason, n in excluded.items()]


def analyse_target(figs: _Figures, inputs: RunInputs, target: str, *, top: int) -> dict:
    """Everything the report shows about one target; see ``build_report``."""
    summary = inputs.metrics["targets"][target]
    built = build_target(inputs.table, target)
    labels = list(summary.get("class_labels") or built.class_labels)
    task_type = summary.get("task_type", built.task_type)
    section = {"target": target, "description": summary.get("description", built.description),
               "task_type": task_type, "n_subjects": summary.get("n_subjects", len(built.rows)),
               "excluded": excluded_sentences(summary.get("excluded", built.excluded)),
               "plan": plan_sentence(summary.get("evaluation_plan", {}), labels),
               "labels": labels, "models": [], "explanation": None, "explanation_note": "",
               "figures": []}
    ablations = {}
    for model, model_summary in summary.get("models", {}).items():
        protocol = model_summary.get("protocol", {})
        final_set = _final_set(protocol)
        headers, metric_rows = _metric_rows(model_summary)
        ablations[model] = ablation_table(model_summary)
        preds = _predictions(inputs.cv_predictions, target, model, final_set)
        section["models"].append({
            "model": model, "final_set": final_set, "headers": headers, "rows": metric_rows,
            "fusion": fusion_sentence(model_summary),
            "benchmark": benchmark_sentence(model_summary, final_set),
            "permutation": _permutation_rows(model_summary),
            "permutation_note": scrub_paths(protocol.get("permutation_note", "")),
            "figures": _performance_figures(figs, target=target, model=model, summary=model_summary,
                                            preds=preds, task_type=task_type, labels=labels,
                                            modality_set=final_set,
                                            seed=int(protocol.get("seed", 0))),
            "predictions": preds,
        })
    primary = PRIMARY_METRIC.get(task_type, "")
    if ablations:
        section["figures"].append(figs.add(f"{target}__ablation", figures.ablation_figure(
            ablations, metric_label=f"{metric_words(primary)} (out of fold, 95% CI)",
            title=f"Modality sets: {section['description']}",
            reference=CHANCE_LEVEL.get(primary)),
            alt="Metric per modality set with confidence intervals",
            caption="Modality-level importance: each set scored on identical outer folds."))
    section["ablations"] = ablations
    explained = summary.get("importance")
    if "xgb" not in summary.get("models", {}):
        section["explanation_note"] = "no XGBoost model was trained for this target"
        return section
    if explained is None or inputs.importance is None or inputs.shap is None:
        section["explanation_note"] = ("this model set was written by an earlier version of train, which "
                                       "kept no importances; train again to see them")
        return section
    if "note" in explained:  # train's reason for having no importances
        section["explanation_note"] = scrub_paths(explained["note"])
        return section
    xgb_predictions = next((m["predictions"] for m in section["models"] if m["model"] == "xgb"),
                           pd.DataFrame(columns=["subject_id", "y_pred"]))
    reported = dict(zip(xgb_predictions["subject_id"].astype(str), xgb_predictions["y_pred"]))
    try:
        section["explanation"] = explain_target(
            figs, target=target, importance=inputs.importance, shap=inputs.shap, explained=explained,
            labels=labels, task_type=task_type, top=top, reported=reported, tasks=inputs.tasks)
    except ImportanceError as reason:  # shown in the report instead of the importances
        section["explanation_note"] = scrub_paths(str(reason))
        return section
    section["importance_rows"] = _importance_rows(section["explanation"].table, top)
    return section


# ---------------------------------------------------------------- limitations


def _permutation_record(summary: dict, modality_set: str) -> dict:
    for r in summary.get("permutation", []):
        if r.get("modality_set") == modality_set:
            return r
    return {}


def chance_sentence(subject: str, record: dict, permutation: dict, *, metric: str,
                    consequence: str) -> str:
    """Whether a model predicts above chance, in one sentence, decided by ``above_chance``.

    Parameters
    ----------
    subject : str
        Who is judged, e.g. ``"PS vs HC, xgb: a model given only age and sex"``.
    record : dict
        The model's ``metrics.json`` record of ``metric`` (``estimate``, ``ci_low``,
        ``ci_high``).
    permutation : dict
        The model's ``metrics.json`` permutation record for the same modality set (``p_value``,
        ``metric``); empty when the set was not permutation-tested.
    metric : str
        The metric judged (a key of ``reports.chance.CHANCE_LEVEL``).
    consequence : str
        What an above-chance result would mean; said only when it is claimed.

    Returns
    -------
    str
        The claim with its consequence; or, when the interval and the permutation test disagree,
        that nothing is claimed and why; or that the model does not predict above chance. Each
        gives the interval and the p-value, or says that the p-value is missing.
    """
    verdict = above_chance(metric, record.get("ci_low"), permutation.get("p_value"))
    value = (f"{metric_words(metric)} "
             f"{fmt_ci(record.get('estimate'), record.get('ci_low'), record.get('ci_high'))}")
    if _missing(record.get("ci_low")):
        interval = "it has no interval"
    else:
        lies = "lies" if verdict.interval_above else "does not lie"
        interval = f"its interval {lies} above {verdict.chance:g}"
    if verdict.permutation_supports is None:
        rests = ", so this rests on the interval alone" if verdict.claimed else ""
        evidence = f"{interval}; no permutation p-value exists for this set{rests}"
    else:
        tested = permutation.get("metric", metric)
        on = "" if tested == metric else f" (on {metric_words(tested)})"
        side = "at most" if verdict.permutation_supports else "above"
        joint = " but " if verdict.disagree else " and "
        evidence = (f"{interval}{joint}permutation p = {fmt_p(permutation['p_value'])}{on} is "
                    f"{side} {PERMUTATION_ALPHA:g}")
    if verdict.disagree:
        return (f"{subject} is not claimed to predict above chance, because its interval and its "
                f"permutation test disagree ({value}: {evidence}).")
    if verdict.claimed:
        return f"{subject} predicts above chance ({value}: {evidence}): {consequence}."
    return f"{subject} does not predict above chance ({value}: {evidence})."


def limitations(cohort: list[dict], sections: list[dict],
                landmark_summary: pd.DataFrame | None, metrics: dict) -> list[str]:
    """Plain statements of what limits trust in these results, from the run's own numbers.

    Among them, for every target and model, whether the ``CONTROL_MODELS`` predict above
    chance, by ``chance_sentence``.
    """
    notes = []
    n_subjects = sum(r["subjects"] for r in cohort)
    notes.append(f"Cohort size: {n_subjects} participants in total; every target rests on at most "
                 f"{max([s['n_subjects'] for s in sections], default=0)} of them, so intervals "
                 "are wide and one or two participants can change a result. Results are "
                 "internal (cross-validated) only: no external cohort was tested.")
    shares = {r["code"]: r["female_share"] for r in cohort if not _missing(r["female_share"])}
    if len(shares) > 1:
        spread = max(shares.values()) - min(shares.values())
        text = ", ".join(f"{g} {100 * s:.0f}% female" for g, s in shares.items())
        balance = "unbalanced" if spread > SEX_IMBALANCE else "roughly balanced"
        notes.append(f"Sex across groups is {balance} ({text}). Voice pitch differs by sex, so "
                     "acoustic features can separate groups by sex rather than disease.")
    for s in sections:
        metric = CHANCE_METRIC[s["task_type"]]
        for m in s["models"]:
            summary = metrics["targets"][s["target"]]["models"][m["model"]]
            for name, (meaning, consequence) in CONTROL_MODELS.items():
                record = _record(summary, name, metric)
                if record:
                    notes.append(chance_sentence(
                        f"{s['description']}, {m['model']}: {meaning}", record,
                        _permutation_record(summary, name), metric=metric,
                        consequence=consequence))
    permutations = metrics.get("settings", {}).get("permutations")
    if permutations == 0:
        notes.append("No label permutation test was run, so no result has a p-value.")
    elif isinstance(permutations, int) and permutations < FEW_PERMUTATIONS:
        notes.append(f"Permutation p-values rest on {permutations} permutations; the smallest "
                     f"p-value they can give is {fmt(1 / (permutations + 1), 3)}.")
    if landmark_summary is not None and "HC" in set(landmark_summary["group"]):
        controls = float(landmark_summary.loc[landmark_summary["group"] == "HC", "overall"].iloc[0])
        for r in landmark_summary.itertuples():
            worse = r.overall > controls * (1 + LANDMARK_ERROR_EXCESS)
            if r.group != "HC" and controls > 0 and worse:
                notes.append(f"Automatic landmarks err more on {group_words(r.group)} faces than "
                             f"on controls (NME {r.overall:.3f} vs {controls:.3f} inter-ocular "
                             "distances); face features of patients are less precise.")
    notes.append("Global SHAP values and gain describe the final model on the participants it "
                 "was trained on (in-sample); the permutation importance and the per-participant "
                 "reasons come from models that did not see the participant, refit at the final "
                 "model's hyper-parameters. Importance shows what the model uses, not what causes "
                 "impairment; correlated features share or swap importance.")
    if any(m["model"] == "fusion" for s in sections for m in s["models"]):
        notes.append("Feature importances are computed for XGBoost only; the fusion network is "
                     "reported through its metrics and the modality ablation.")
    return notes


# ---------------------------------------------------------------- participant pages


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


def _subject_predictions(sections: list[dict], subject: str) -> list[dict]:
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
                truth = labels[int(r["y_true"])] if not _missing(r["y_true"]) else "\u2013"
            rows.append({"target": s["description"], "model": m["model"], "set": m["final_set"],
                         "predicted": predicted, "truth": truth})
    return rows


def contribution_bar(contribution: float, largest: float) -> dict:
    """Left offset and width (percent of a cell) of a diverging bar centred in the cell: a
    positive contribution grows right of the centre, a negative one left of it."""
    half = 0.0 if largest <= 0 else 50.0 * min(abs(contribution) / largest, 1.0)
    return {"left": 50.0 if contribution > 0 else 50.0 - half, "width": half,
            "towards": contribution > 0}


def _subject_reasons_block(sections: list[dict], subject: str) -> list[dict]:
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


# ---------------------------------------------------------------- assembly


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                              autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    environment.globals.update(fmt=fmt, metric_words=metric_words)
    return environment


def subject_file(subject: str) -> str:
    """File name of a participant's page inside ``report/subjects``."""
    return slug(subject) + ".html"


def _landmark_block(figs: _Figures, landmarks_error: pd.DataFrame | None) -> dict:
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
            for g in _ordered_groups(table["group"])]


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
    for g in _ordered_groups(both["group"].astype(str)):
        part = both[both["group"].astype(str) == g]
        rows.append({"group": group_words(g), "recordings": len(part),
                     "tasks": ", ".join(sorted(part["task"].astype(str).unique())),
                     "before": fmt(part[f"{SMILE_ASYMMETRY}_before"].median(), 1),
                     "after": fmt(part[f"{SMILE_ASYMMETRY}_after"].median(), 1)})
    return rows


def _adaptation_block(inputs: RunInputs) -> dict | None:
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


def _against_controls(recordings: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """z-scores of every recording against the healthy controls (None without controls) and the
    change scores of every followed-up participant (scaled by the controls where there are any)."""
    values = feature_values(recordings)
    # Norms from the recordings: they carry what visits are ordered by, the values do not.
    norms = control_norms(recordings, control_group="HC")
    changes = change_scores(recordings, values, norms, control_group="HC")
    if "HC" not in set(values["group"]):
        return None, changes
    return z_scores(values, norms), changes


def chooser_caution(metrics: dict, final_sets: dict) -> str:
    """What the features the recovery model relies on are worth, when it does not predict recovery.

    Parameters
    ----------
    metrics : dict
        ``metrics.json``.
    final_sets : dict
        Model -> the modality set its final model uses.

    Returns
    -------
    str
        When the recovery XGBoost model (whose importances choose the followed features) is not
        shown to predict above chance by ``reports.chance.above_chance``: that sentence
        (``chance_sentence``) and that its features are followed because it uses them, not because
        they are shown to predict recovery. '' when it predicts above chance or was not trained.
    """
    summary = metrics.get("targets", {}).get(RECOVERY_TARGET, {}).get("models", {}).get("xgb")
    if not summary or "xgb" not in final_sets:
        return ""
    metric = CHANCE_METRIC["binary"]
    record = _record(summary, final_sets["xgb"], metric)
    permutation = _permutation_record(summary, final_sets["xgb"])
    if not record or above_chance(metric, record.get("ci_low"), permutation.get("p_value")).claimed:
        return ""
    sentence = chance_sentence(f"The recovery model that chose them (XGBoost, set {final_sets['xgb']})",
                               record, permutation, metric=metric, consequence="")
    return (f"{sentence} Its features are followed because it uses them, not because they are shown to "
            "predict recovery.")


def _change_block(figs: _Figures, inputs: RunInputs, sections: list[dict], changes: pd.DataFrame) -> dict:
    """The longitudinal view (``reports.longitudinal``) with its cohort figure and, when the
    followed features were chosen by a recovery model that is not above chance, a caution."""
    recovery = next((s for s in sections if s["target"] == RECOVERY_TARGET), None)
    importance = recovery["explanation"].table if recovery and recovery["explanation"] else None
    final_sets = {m["model"]: m["final_set"] for m in recovery["models"]} if recovery else {}
    view = longitudinal_view(inputs.table, changes, importance=importance, tasks=inputs.tasks,
                             probabilities=recovery_probabilities(inputs.metrics, inputs.cv_predictions,
                                                                  final_sets))
    view["caution"] = chooser_caution(inputs.metrics, final_sets) if view["chosen_by_model"] else ""
    view["figure"] = None
    if any(len(panel["lines"]) for panel in view["panels"]):
        view["figure"] = figs.add("recovery_trajectories", trajectory_png(view),
                                  alt="First-to-last-visit trajectories of the SLP total and the followed "
                                      "features, coloured by outcome",
                                  caption="One thin line per participant, from the first to the last visit; "
                                          "thick lines: the median of each outcome.")
    return view


def build_report(inputs: RunInputs, *, created: str, version: str, top: int = TOP_FEATURES) -> Report:
    """Render the report and the participant pages of one run.

    Parameters
    ----------
    inputs : RunInputs
        The run's tables.
    created : str
        Date and time of the report (shown on every page).
    version : str
        avstroke version.
    top : int
        Features shown per importance table and chart (>= 1).

    Returns
    -------
    Report
    """
    if top < 1:
        raise ConfigError(f"top must be at least 1; got {top}")
    if "targets" not in inputs.metrics:
        raise ConfigError("metrics.json has no 'targets' record; rerun `avstroke train`")
    figs = _Figures()
    # Rows without a group are visits a participant never had (no recording behind them).
    inputs = replace(inputs, table=inputs.table[inputs.table["group"].notna()])
    cohort = cohort_rows(inputs.table, inputs.recordings, inputs.errors)
    task_groups, tasks = task_rows(inputs.recordings, inputs.tasks)
    sections, skipped = [], dict(inputs.metrics.get("skipped_targets", {}))
    for target in inputs.metrics["targets"]:
        try:
            sections.append(analyse_target(figs, inputs, target, top=top))
        except TargetError as reason:  # the table no longer supports a trained target
            skipped[target] = str(reason)
    landmarks = _landmark_block(figs, inputs.landmarks_error)
    adaptation = _adaptation_block(inputs)
    subjects = sorted(inputs.table["subject_id"].astype(str).unique())
    files = [subject_file(s) for s in subjects]
    if len(set(files)) != len(files):
        raise ConfigError("two participant ids map to the same page name after removing "
                          "characters unsafe in file names; make the ids distinct")
    z, changes = _against_controls(inputs.recordings)
    change = _change_block(figs, inputs, sections, changes)
    environment = _environment()
    html = environment.get_template("report.html").render(
        created=created, version=version, cohort=cohort, task_groups=task_groups, tasks=tasks,
        failures=failure_rows(inputs.errors, inputs.known_paths),
        validation=validation_rows(inputs.validation, inputs.known_paths),
        quality=quality_rows(inputs.landmarks_quality, inputs.recordings),
        quality_bar=QUALITY_BAR, methods=methods_paragraphs(inputs.metrics),
        references=reference_list(), sections=sections,
        skipped={target: scrub_paths(reason) for target, reason in skipped.items()},
        limitations=limitations(cohort, sections, landmarks["summary"], inputs.metrics),
        landmarks=landmarks, adaptation=adaptation, z_available=z is not None, change=change,
        change_files={s: f"{SUBJECT_FOLDER}/{subject_file(s)}" for s in change["patients"]},
        subjects=[{"id": s, "file": f"{SUBJECT_FOLDER}/{f}"} for s, f in zip(subjects, files)])
    template = environment.get_template("subject.html")
    group_of = first_visits(inputs.table).set_index("subject_id")["group"].astype(str)
    pages = {filename: template.render(
        created=created, version=version, subject=subject,
        group=group_words(group_of.get(subject, "")),
        predictions=_subject_predictions(sections, subject),
        reasons=_subject_reasons_block(sections, subject),
        deviations=[] if z is None else deviation_rows(z, subject, top=TOP_DEVIATIONS,
                                                       tasks=inputs.tasks),
        change=change["patients"].get(subject),
        z_available=z is not None) for subject, filename in zip(subjects, files)}
    return Report(html=html, figures=figs.files, subjects=pages)

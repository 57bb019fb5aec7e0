"""The report's results per target: metrics with intervals, the evaluation plan, chance and
permutation sentences, the comparison with baseline severity, figures and importances."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.privacy import scrub_paths
from models.explain import FINAL, ImportanceError, OUT_OF_FOLD, gain_of, permutation_of, shap_of
from models.metrics import PRIMARY_METRIC, roc_auc
from models.modalities import FINAL_SET
from models.targets import build_target
from reports import figures
from reports.chance import CHANCE_LEVEL, CHANCE_METRIC, PERMUTATION_ALPHA, above_chance
from reports.export import DIRECTION_WORDS
from reports.importance import (ablation_table, importance_table, mean_abs_shap,
                                signed_contributions, subject_reasons)
from reports.longitudinal import RECOVERY_TARGET
from reports.methods import SPLIT_WORDS
from reports.sections.common import Figures, fmt, fmt_ci, fmt_p, is_missing, metric_words
from reports.sections.inputs import RunInputs

TOP_REASONS = 8
FEW_PERMUTATIONS = 100


# Modality sets that should not predict the target: what each is, and what it would mean if it did.
CONTROL_MODELS = {
    "metadata": ("a model given only age and sex",
                 "the groups differ in age or sex, and biomarker results may partly reflect that"),
    "nonspeech": ("a model given only the non-speech recording-condition control",
                  "the model may be reading the room (recording conditions), not the "
                  "participant"),
}


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
            sub = "" if is_missing(r.get("ci_low")) else \
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
    if is_missing(low) or is_missing(high):
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


def metric_record(summary: dict, modality_set: str, metric: str) -> dict:
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
        auc = metric_record(summary, modality_set, "roc_auc")
        return fmt_ci(auc.get("estimate"), auc.get("ci_low"), auc.get("ci_high"))
    return fmt(roc_auc(y, np.column_stack([1 - score, score])))


def _performance_figures(figs: Figures, *, target: str, model: str, summary: dict,
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
            auc = metric_record(summary, modality_set, "roc_auc")
            overall = (f" The mean of the one-vs-rest AUCs, as evaluated: "
                       f"{fmt_ci(auc.get('estimate'), auc.get('ci_low'), auc.get('ci_high'))}.")
        out.append(figs.add(f"{name}__roc", figures.roc_figure(bands, title=f"ROC ({where})"),
                            alt=f"ROC curve, {where}",
                            caption="Shaded: 95% subject-level bootstrap band of the sensitivity "
                                    "at each false-positive rate." + overall))
    notes = [("Brier", metric_record(summary, modality_set, "brier"))]
    if task_type == "binary":
        notes = [("slope", metric_record(summary, modality_set, "calibration_slope")),
                 ("intercept", metric_record(summary, modality_set, "calibration_intercept"))] + notes
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


def explain_target(figs: Figures, *, target: str, importance: pd.DataFrame, shap: pd.DataFrame,
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


def analyse_target(figs: Figures, inputs: RunInputs, target: str, *, top: int) -> dict:
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


def permutation_record(summary: dict, modality_set: str) -> dict:
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
    if is_missing(record.get("ci_low")):
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
    record = metric_record(summary, final_sets["xgb"], metric)
    permutation = permutation_record(summary, final_sets["xgb"])
    if not record or above_chance(metric, record.get("ci_low"), permutation.get("p_value")).claimed:
        return ""
    sentence = chance_sentence(f"The recovery model that chose them (XGBoost, set {final_sets['xgb']})",
                               record, permutation, metric=metric, consequence="")
    return (f"{sentence} Its features are followed because it uses them, not because they are shown to "
            "predict recovery.")

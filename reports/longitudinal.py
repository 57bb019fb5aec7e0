"""The longitudinal view: what changed between each followed-up participant's first and last visits.

For every participant seen at two or more visits (first and last by ``core.visits``): the
SLP total at both visits and the share of the impairment gone, whether that counts as recovery
(``models.targets.recovery_outcomes``, the recovery target's own definition), the out-of-fold
probability of recovery each model gave from the first visit alone, and both visits' values of the
features that matter most, each change in plain words with its unit. Values and changes are the
clinician export's (``reports.export.change_scores``), so the report and the workbook agree.

The features that matter most are those the recovery model (XGBoost) leans on most, by mean
|SHAP| of the final model, among features with a clinical direction: a change of a feature
without one cannot be called better or worse. When the model uses fewer such features (or no
recovery model was trained), the rest are the features with a clinical direction whose change is
largest in control SDs (median over the followed-up participants). Recording-condition and
tracking-quality measures describe the session, not the participant, and are never chosen.
"""
from __future__ import annotations

import math

import pandas as pd

from features.registry import lookup, parse_column, subject_column
from models.targets import (RECOVERY_SCORE, RECOVERY_SCORE_NORMAL, RECOVERY_THRESHOLD,
                            recovery_outcomes)
from reports import figures
from reports.export import change_meaning
from reports.importance import plain_names, short_unit

RECOVERY_TARGET = "recovery"
TOP_FEATURES = 6
FIGURE_FEATURES = 5
# Measures of the session, not the participant (as for the deviations from control norms).
NOT_FOLLOWED = ("nonspeech", "quality", "meta", "clinical")
OUTCOME_COLOURS = {"recovered": "#1e8449", "not recovered": "#c0392b", "not judged": "#7f8c8d"}
UNITLESS = ("dimensionless",)


def plain_number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits without an exponent (``0.0123``, ``12.3``,
    ``1234``); an en dash when missing."""
    if value is None or not math.isfinite(value):
        return "\u2013"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{decimals}f}"


def unit_words(column: str) -> str:
    """The unit a value of ``column`` is read in ('' for a dimensionless feature)."""
    unit = short_unit(lookup(column))
    return "" if unit in UNITLESS else unit


def change_words(baseline: float, followup: float, *, column: str, control_sd: float) -> str:
    """A change between two visits in plain words with its unit and clinical meaning.

    Parameters
    ----------
    baseline, followup : float
        The feature's value at the first and the last visit, in its unit.
    column : str
        The feature column (its registry entry gives unit and clinical direction).
    control_sd : float
        The change divided by the control SD of the task's first visits (NaN when unknown).

    Returns
    -------
    str
        E.g. ``"fell by 4.10 % (better; -1.2 control SDs)"``, ``"unchanged"``, or that it was not
        measured at both visits.
    """
    if not (math.isfinite(baseline) and math.isfinite(followup)):
        return "not measured at both visits"
    change = followup - baseline
    if change == 0:
        return "unchanged"
    unit = unit_words(column)
    size = f"{plain_number(abs(change))} {unit}".strip()
    notes = [change_meaning(change, lookup(column).direction)]
    if math.isfinite(control_sd):
        notes.append(f"{control_sd:+.1f} control SDs")
    return f"{'rose' if change > 0 else 'fell'} by {size} ({'; '.join(notes)})"


def subject_level(changes: pd.DataFrame) -> pd.DataFrame:
    """``change_scores`` rows with their subject-level column (``<modality>__<task>__<feature>``,
    as models and importances name features)."""
    return changes.assign(subject_column=[subject_column(c, t) for c, t in zip(changes["column"], changes["task"])])


def _followable(column: str) -> bool:
    return parse_column(column)[0] not in NOT_FOLLOWED and lookup(column).direction != "neutral"


def followed_features(changes: pd.DataFrame, importance: pd.DataFrame | None, *,
                      top: int = TOP_FEATURES) -> tuple[list[str], list[str]]:
    """The subject-level columns to follow across visits, and the rules that chose them.

    Parameters
    ----------
    changes : DataFrame
        ``subject_level(change_scores(...))``.
    importance : DataFrame or None
        The recovery model's importance table (``reports.importance.importance_table``: ``column``,
        ranked), or None without a recovery model.
    top : int
        Features to choose.

    Returns
    -------
    columns : list of str
        Up to ``top`` columns: the recovery model's most important ones with a clinical direction,
        then those with the largest median |change in control SDs|.
    rules : list of str
        In words, the rule behind each part of the choice.
    """
    measured = changes[changes["change"].notna()]
    candidates = [c for c in dict.fromkeys(measured["subject_column"]) if _followable(c)]
    chosen, rules = [], []
    if importance is not None:
        chosen = [c for c in importance["column"] if c in set(candidates)][:top]
        if chosen:
            rules.append(f"{len(chosen)} the recovery model (XGBoost) relies on most, by mean |SHAP|, among "
                         "features with a clinical direction")
    if len(chosen) < top:
        size = measured[measured["subject_column"].isin(candidates) & ~measured["subject_column"].isin(chosen)]
        typical = size.groupby("subject_column")["change_control_sd"].agg(lambda v: v.abs().median()).dropna()
        more = list(typical.sort_values(ascending=False, kind="stable").index[:top - len(chosen)])
        if more:
            rules.append(f"{len(more)} with a clinical direction whose change between visits is largest in "
                         "control SDs (median over the followed-up participants)")
        chosen += more
    return chosen, rules


def outcome_words(row: pd.Series) -> str:
    """What happened to one followed-up participant, in the recovery target's terms."""
    if row["left_out"]:
        return f"not judged ({row['left_out'].removeprefix('followed up, but ')})"
    return "recovered" if row["recovered"] == 1 else "not recovered"


def outcome_group(row: pd.Series) -> str:
    """The participant's key of ``OUTCOME_COLOURS``."""
    if row["left_out"]:
        return "not judged"
    return "recovered" if row["recovered"] == 1 else "not recovered"


def share_percent(share: float) -> str:
    """A recovered share as a percentage that never reads as the other side of the threshold.

    Parameters
    ----------
    share : float
        ``models.targets.recovered_share``.

    Returns
    -------
    str
        Whole percent (``42%``), or with as many decimals as it takes (up to three) when rounding
        would land on ``RECOVERY_THRESHOLD`` from below: 0.496 is ``49.6%``, not ``50%``, since it
        is not a recovery; closer still, ``just under 50%``.
    """
    for decimals in range(4):
        text = f"{share:.{decimals}%}"
        if share >= RECOVERY_THRESHOLD or float(text.rstrip("%")) / 100 < RECOVERY_THRESHOLD:
            return text
    return f"just under {RECOVERY_THRESHOLD:.0%}"


def score_words(row: pd.Series) -> str:
    """The SLP total at both visits and the share of the impairment gone, in words."""
    first, last = row["first_score"], row["last_score"]
    text = f"{plain_number(first)} \u2192 {plain_number(last)} points (normal {RECOVERY_SCORE_NORMAL:g})"
    share = row["recovered_share"]
    if math.isfinite(share):
        text += (f": {share_percent(share)} of the first visit's impairment gone (recovery is at "
                 f"least {RECOVERY_THRESHOLD:.0%})")
    return text


def recovery_probabilities(metrics: dict, cv_predictions: pd.DataFrame, final_sets: dict) -> dict:
    """Out-of-fold probability of recovery per model and subject.

    Parameters
    ----------
    metrics : dict
        ``metrics.json``.
    cv_predictions : DataFrame
        ``cv_predictions.parquet``.
    final_sets : dict
        Model -> the modality set its final model uses (whose predictions are reported).

    Returns
    -------
    dict
        Model -> {subject id -> P(recovered)}; empty when recovery was not trained.
    """
    if RECOVERY_TARGET not in metrics.get("targets", {}) or cv_predictions.empty:
        return {}
    out = {}
    for model, modality_set in final_sets.items():
        keep = ((cv_predictions["target"] == RECOVERY_TARGET) & (cv_predictions["model"] == model)
                & (cv_predictions["modality_set"] == modality_set))
        part = cv_predictions[keep]
        out[model] = dict(zip(part["subject_id"].astype(str), part["prob_1"].astype(float)))
    return out


def feature_rows(changes: pd.DataFrame, subject: str, columns: list, names: dict) -> list[dict]:
    """One participant's first and last values of ``columns`` and the change in words."""
    part = changes[changes["subject_id"] == subject].set_index("subject_column")
    rows = []
    for column in columns:
        if column not in part.index:
            continue
        r = part.loc[column]
        unit = unit_words(column)
        rows.append({"name": names[column], "baseline": f"{plain_number(r['baseline'])} {unit}".strip(),
                     "followup": f"{plain_number(r['followup'])} {unit}".strip(),
                     "change": change_words(r["baseline"], r["followup"], column=column,
                                            control_sd=r["change_control_sd"])})
    return rows


def trajectory_panels(table: pd.DataFrame, outcomes: pd.DataFrame, changes: pd.DataFrame, columns: list,
                      names: dict) -> list[dict]:
    """The cohort figure's panels: the SLP total, then each followed feature."""
    group = outcomes.apply(outcome_group, axis=1) if len(outcomes) else pd.Series(dtype=object)
    panels = []
    if len(outcomes):
        lines = pd.DataFrame({"baseline": outcomes["first_score"], "followup": outcomes["last_score"],
                              "outcome": group}).dropna(subset=["baseline", "followup"])
        panels.append({"title": "SLP total (lower is better)", "unit": "points", "lines": lines})
    for column in columns:
        part = changes[changes["subject_column"] == column].dropna(subset=["baseline", "followup"])
        lines = pd.DataFrame({"baseline": part["baseline"].to_numpy(), "followup": part["followup"].to_numpy(),
                              "outcome": group.reindex(part["subject_id"]).fillna("not judged").to_numpy()})
        panels.append({"title": names[column], "unit": unit_words(column) or "value", "lines": lines})
    return panels


def longitudinal_view(table: pd.DataFrame, changes: pd.DataFrame, *, importance: pd.DataFrame | None,
                      probabilities: dict, tasks: dict, top: int = TOP_FEATURES) -> dict:
    """Everything the report and the participant pages show about change between visits.

    Parameters
    ----------
    table : DataFrame
        Subject table (``features/table.parquet``), one row per subject and visit.
    changes : DataFrame
        ``reports.export.change_scores`` of the run.
    importance : DataFrame or None
        The recovery model's importance table, or None.
    probabilities : dict
        ``recovery_probabilities`` output.
    tasks : dict
        The run's task vocabulary (task name -> ``core.tasks.TaskSpec``).
    top : int
        Features to follow.

    Returns
    -------
    dict
        ``patients`` (subject id -> dict for the pages: ``visits``, ``score``, ``outcome``,
        ``probabilities``, ``features``), ``columns`` (followed subject-level columns), ``rules``
        (how they were chosen), ``chosen_by_model`` (whether some were chosen by the recovery
        model's importance), ``models`` (those with probabilities), ``panels`` (for
        ``figures.trajectory_figure``) and ``counts`` (participants per outcome).
    """
    changes = subject_level(changes)
    has_scores = RECOVERY_SCORE in table.columns and table[RECOVERY_SCORE].notna().any()
    outcomes = recovery_outcomes(table) if has_scores else pd.DataFrame()
    columns, rules = followed_features(changes, importance, top=top)
    names = plain_names(columns, tasks) if columns else {}
    followed = sorted(set(changes["subject_id"]) | set(outcomes.index))
    patients = {}
    for subject in followed:
        visits = changes.loc[changes["subject_id"] == subject, ["baseline_visit", "followup_visit"]]
        row = outcomes.loc[subject] if subject in outcomes.index else None
        first_last = (row["first_visit"], row["last_visit"]) if row is not None else tuple(visits.iloc[0])
        patients[subject] = {
            "visits": f"{first_last[0]} \u2192 {first_last[1]}",
            "score": score_words(row) if row is not None else "",
            "outcome": outcome_words(row) if row is not None else "",
            "probabilities": [{"model": m, "p": plain_number(p[subject], 2) if subject in p else "\u2013"}
                              for m, p in probabilities.items()],
            "features": feature_rows(changes, subject, columns, names)}
    counts = outcomes.apply(outcome_group, axis=1).value_counts().to_dict() if len(outcomes) else {}
    # the importance columns come first in the choice, so any of them among the columns was chosen by it
    by_model = importance is not None and bool(set(columns) & set(importance["column"]))
    return {"patients": patients, "columns": columns, "rules": rules, "chosen_by_model": by_model,
            "models": list(probabilities),
            "panels": trajectory_panels(table, outcomes, changes, columns[:FIGURE_FEATURES], names),
            "counts": {k: int(counts.get(k, 0)) for k in OUTCOME_COLOURS if counts.get(k)}}


def trajectory_png(view: dict) -> bytes:
    """The cohort figure of ``longitudinal_view``: trajectories by outcome."""
    return figures.trajectory_figure(view["panels"], colours=OUTCOME_COLOURS,
                                     title="First to last visit, by outcome (recovery as the SLP totals show it)")

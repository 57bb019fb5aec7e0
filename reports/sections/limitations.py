"""The report's limitations: what the cohort, the models and the measurements cannot support."""
from __future__ import annotations

import pandas as pd

from reports.chance import CHANCE_METRIC
from reports.sections.cohort import SEX_IMBALANCE
from reports.sections.common import fmt, group_words, is_missing
from reports.sections.results import (CONTROL_MODELS, FEW_PERMUTATIONS, chance_sentence,
                                      metric_record, permutation_record)

# A landmark error this much above the controls' is worth a sentence in the limitations.
LANDMARK_ERROR_EXCESS = 0.10


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
    shares = {r["code"]: r["female_share"] for r in cohort if not is_missing(r["female_share"])}
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
                record = metric_record(summary, name, metric)
                if record:
                    notes.append(chance_sentence(
                        f"{s['description']}, {m['model']}: {meaning}", record,
                        permutation_record(summary, name), metric=metric,
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

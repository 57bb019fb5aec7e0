"""The report's change-between-visits section (the longitudinal view of ``reports.longitudinal``)."""
from __future__ import annotations

import pandas as pd

from reports.longitudinal import (RECOVERY_TARGET, longitudinal_view, recovery_probabilities,
                                  trajectory_png)
from reports.sections.common import Figures
from reports.sections.inputs import RunInputs
from reports.sections.results import chooser_caution


def change_block(figs: Figures, inputs: RunInputs, sections: list[dict], changes: pd.DataFrame) -> dict:
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

"""When the report may say that a model predicts above chance: one rule, used everywhere.

The report judges the metadata-only model and the non-speech recording-condition control (and
states the rule in its methods) through ``above_chance`` alone, so a sentence about chance can
never rest on a different rule in another place.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from core.errors import check_option

# The metric each task type is judged on, and that metric's value for a model with no information.
CHANCE_METRIC = {"binary": "roc_auc", "multiclass": "roc_auc", "regression": "spearman"}
CHANCE_LEVEL = {"roc_auc": 0.5, "spearman": 0.0}
# A permutation p-value at most this supports "above chance". "At most", not "below": train's
# default of 19 permutations cannot give a p-value smaller than 1/20 = 0.05.
PERMUTATION_ALPHA = 0.05


@dataclass(frozen=True)
class ChanceVerdict:
    """What ``above_chance`` decided, with the two pieces of evidence it decided from.

    Attributes
    ----------
    chance : float
        The metric's chance level (0.5 for ROC AUC, 0 for Spearman).
    interval_above : bool
        The bootstrap interval's lower bound is above chance (False when there is no interval).
    permutation_supports : bool or None
        The permutation p-value is at most ``PERMUTATION_ALPHA``; None when there is no p-value.
    claimed : bool
        The report may say the model predicts above chance.
    disagree : bool
        The interval and the permutation test point opposite ways; nothing is claimed.
    """

    chance: float
    interval_above: bool
    permutation_supports: bool | None
    claimed: bool
    disagree: bool


def _known(value) -> bool:
    return value is not None and math.isfinite(float(value))


def above_chance(metric: str, ci_low, p_value) -> ChanceVerdict:
    """Decide whether a model predicts above chance, from its interval and its permutation test.

    The rule: a model predicts above chance when the lower bound of its bootstrap interval lies
    above the metric's chance level (ROC AUC 0.5, Spearman 0) **and** its subject-wise label
    permutation p-value is at most ``PERMUTATION_ALPHA``. When exactly one of the two says so,
    they disagree and nothing is claimed. When the set was not permutation-tested (no p-value),
    the interval alone decides, and the caller must say that the p-value is missing.

    Why both: on a cohort of a few dozen participants a percentile bootstrap interval is itself
    noisy and can clear chance by luck, while the permutation test, which refits the whole
    nested cross-validation on shuffled labels, asks the same question another way. Claiming
    only when the two agree keeps a chance finding (e.g. p = 0.10) from raising an alarm.

    Parameters
    ----------
    metric : str
        A metric with a chance level in ``CHANCE_LEVEL`` (``"roc_auc"`` or ``"spearman"``).
    ci_low : float or None
        Lower bound of the metric's bootstrap interval; None or NaN when undefined.
    p_value : float or None
        Permutation p-value of the same model and modality set; None or NaN when the set was
        not tested.

    Returns
    -------
    ChanceVerdict

    Raises
    ------
    ConfigError
        If ``metric`` has no chance level.
    """
    check_option("chance metric", metric, CHANCE_LEVEL)
    chance = CHANCE_LEVEL[metric]
    interval_above = _known(ci_low) and float(ci_low) > chance
    supports = float(p_value) <= PERMUTATION_ALPHA if _known(p_value) else None
    if supports is None:
        return ChanceVerdict(chance, interval_above, None, claimed=interval_above, disagree=False)
    return ChanceVerdict(chance, interval_above, supports, claimed=interval_above and supports,
                         disagree=interval_above != supports)

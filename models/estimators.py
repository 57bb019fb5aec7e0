"""The estimators avstroke trains, by name, and where each one's fit, save and load functions live.

Modules are named here rather than imported, because torch takes about a second to import and an
XGBoost-only run or prediction never needs it; ``estimator_function`` imports on first use.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from core.errors import check_option


@dataclass(frozen=True)
class Estimator:
    """Where one estimator's functions live: ``module`` and the names of its fit, save and load."""

    module: str
    fit: str
    save: str
    load: str


ESTIMATORS = {"xgb": Estimator("models.xgb", "fit_xgb", "save_xgb", "load_xgb"),
              "fusion": Estimator("models.fusion", "fit_fusion", "save_fusion", "load_fusion")}
MODEL_NAMES = tuple(ESTIMATORS)


def estimator_function(model: str, role: str) -> Callable:
    """The ``role`` function ("fit", "save" or "load") of the estimator named ``model``.

    Raises
    ------
    ConfigError
        When ``model`` is not one of ``MODEL_NAMES`` or ``role`` is not a role.
    """
    check_option("model", model, ESTIMATORS)
    check_option("role", role, ("fit", "save", "load"))
    estimator = ESTIMATORS[model]
    return getattr(importlib.import_module(estimator.module), getattr(estimator, role))

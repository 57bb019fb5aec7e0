"""Metadata features: the same encoding of age, sex and declared covariates for every model."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.registry import Feature, register

AGE = register(Feature("age", "meta", "years", "Age at the recording.", "neutral",
                       "manifest (age column)"))
SEX_FEMALE = register(Feature("sex_female", "meta", "1 = female, 0 = male",
                              "Sex of the participant, coded 1 for female and 0 for male; NaN when not given. "
                              "Voice pitch differs by sex, so a model can separate groups by sex, not disease, "
                              "where sex is unbalanced across groups.", "neutral", "manifest (sex column)"))
COVARIATE_PREFIX = "covariate_"
COVARIATE_SOURCE = "manifest (covariate column)"


def register_covariate(column: str) -> Feature:
    """Registry entry of a manifest covariate column ``covariate_<name>`` (declared by the user)."""
    name = column[len(COVARIATE_PREFIX):]
    return register(Feature(name, "meta", "as given in the manifest",
                            f"Covariate '{name}' declared in the manifest.", "neutral",
                            COVARIATE_SOURCE))


def metadata_features(manifest: pd.DataFrame) -> pd.DataFrame:
    """Metadata columns for each recording: ``meta__age``, ``meta__sex_female``, covariates.

    Parameters
    ----------
    manifest : DataFrame
        Validated manifest rows (``recording_id`` and optional ``age``, ``sex``, ``covariate_*``).

    Returns
    -------
    DataFrame
        ``recording_id`` plus one float column per metadata feature.
    """
    out = pd.DataFrame({"recording_id": manifest["recording_id"].to_numpy()})
    out[AGE.column] = (pd.to_numeric(manifest["age"], errors="coerce").to_numpy(dtype=float)
                       if "age" in manifest else np.nan)
    if "sex" in manifest:
        sex = manifest["sex"].fillna("").to_numpy()
        out[SEX_FEMALE.column] = np.where(sex == "F", 1.0, np.where(sex == "M", 0.0, np.nan))
    else:
        out[SEX_FEMALE.column] = np.nan
    for column in (c for c in manifest.columns if c.startswith(COVARIATE_PREFIX)):
        out[register_covariate(column).column] = pd.to_numeric(manifest[column], errors="coerce").to_numpy(dtype=float)
    return out

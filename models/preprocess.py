"""Preprocessing fitted on training rows only: drop unusable columns, impute, standardise.

A ``Preprocessor`` is fitted inside the inner loop of nested cross-validation
(docs/evaluation.md), so the medians, means and standard deviations of a test subject never reach
the model that scores it. It serialises to plain JSON (``to_dict`` / ``from_dict``): no pickle
(docs/architecture.md, "The model set"), and floats survive the round trip exactly because
``json`` writes ``repr(float)``.

Columns are grouped into the families of ``models.modalities`` (video, audio, metadata and the
non-speech acoustic control), one encoder each in the fusion network.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import AvstrokeError, ConfigError, ModelMismatchError
from models.modalities import FAMILIES as MODALITIES_OF_FAMILY
from models.modalities import family_of

FORMAT = "avstroke.preprocess/1"
FAMILIES = tuple(MODALITIES_OF_FAMILY)


class FeatureTableError(AvstrokeError):
    """A feature table holds values no model can use (non-numeric or infinite)."""


def family_of_column(column: str) -> str:
    """Family (a key of ``models.modalities.FAMILIES``) of one feature column.

    Raises
    ------
    FeatureTableError
        If the column does not follow the naming contract or its modality has no family.
    """
    try:
        family = family_of(column)
    except KeyError as error:
        raise FeatureTableError(str(error.args[0])) from None
    if family is None:
        known = ", ".join(m for modalities in MODALITIES_OF_FAMILY.values() for m in modalities)
        raise FeatureTableError(f"column {column!r} is not a feature column "
                                f"'<modality>__...' of a known modality ({known})")
    return family


def columns_by_family(columns) -> dict[str, list[str]]:
    """Group columns by encoder family, families in ``FAMILIES`` order, columns in input order.

    Families with no column are left out.
    """
    grouped: dict[str, list[str]] = {family: [] for family in FAMILIES}
    for column in columns:
        grouped[family_of_column(column)].append(column)
    return {family: cols for family, cols in grouped.items() if cols}


def numeric_matrix(X: pd.DataFrame, columns: list[str], *, what: str) -> np.ndarray:
    """Columns of ``X`` as a float64 array, NaN kept, infinite values refused.

    Parameters
    ----------
    X : DataFrame
        Feature table.
    columns : list of str
        Columns to take, in this order; all must be present.
    what : str
        What the table is (for messages), e.g. ``"training table"``.

    Raises
    ------
    ModelMismatchError
        If a column is missing (the message lists them).
    FeatureTableError
        If a column is not numeric or holds +/-inf (the message names column and row).
    """
    # Hashing once (Index membership per column dominated a fit), from a plain list: iterating
    # pandas' Arrow-backed string Index yields one element at a time, several times slower.
    present = set(X.columns.tolist())
    missing = [c for c in columns if c not in present]
    if missing:
        raise ModelMismatchError(f"{what} lacks {len(missing)} feature column(s) the model needs: "
                                 f"{', '.join(missing)}")
    selected = X[columns]
    # Judged once per distinct dtype: a table has hundreds of columns and a handful of dtypes.
    dtypes = selected.dtypes
    non_numeric = {d for d in set(dtypes) if not pd.api.types.is_numeric_dtype(d)}
    for column, dtype in zip(columns, dtypes):
        if dtype in non_numeric and not selected[column].isna().all():
            raise FeatureTableError(f"{what}: column {column!r} is not numeric (dtype {dtype})")
    values = selected.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise FeatureTableError(f"{what}: column {columns[col]!r} holds an infinite value at row "
                                f"{X.index[row]!r}; feature code must return NaN for "
                                f"'not computable', never inf")
    return values


@dataclass(frozen=True)
class Preprocessor:
    """Column selection, median imputation, standardisation and clipping learnt on training rows.

    Attributes
    ----------
    input_columns : list of str
        Columns a table must hold to be transformed (the fit table's columns, in order).
    kept_columns : list of str
        Columns left after dropping unusable ones, in input order; the model's features.
    dropped : dict
        Dropped column -> reason (``"all values missing on training rows"`` or
        ``"constant on training rows"``).
    impute : bool
        Whether NaN are replaced by the training median.
    scale : bool
        Whether values are standardised with the training mean and standard deviation (after
        imputation, population SD).
    clip : float or None
        After scaling, values are clipped to +/- ``clip`` standard deviations (None: no clipping).
    medians, means, scales : list of float
        Per kept column; empty lists when the step is off.
    """

    input_columns: list[str]
    kept_columns: list[str]
    dropped: dict[str, str]
    impute: bool
    scale: bool
    clip: float | None
    medians: list[float] = field(default_factory=list)
    means: list[float] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)

    def transform(self, X: pd.DataFrame, *, what: str = "table to score") -> np.ndarray:
        """Kept columns of ``X`` as a float64 array with the fitted steps applied.

        Columns of ``X`` beyond ``input_columns`` are ignored; missing ones raise
        ``ModelMismatchError``. NaN remain only when ``impute`` is False.
        """
        present = set(X.columns.tolist())
        missing = [c for c in self.input_columns if c not in present]
        if missing:
            raise ModelMismatchError(f"{what} lacks {len(missing)} feature column(s) the model "
                                     f"was trained on: {', '.join(missing)}")
        return self.apply(numeric_matrix(X, self.kept_columns, what=what))

    def apply(self, values: np.ndarray) -> np.ndarray:
        """The fitted steps on ``values``, the kept columns already taken out as float64
        (n, len(kept_columns)), e.g. by ``numeric_matrix``; ``values`` is left unchanged."""
        if self.impute:
            values = np.where(np.isnan(values), np.asarray(self.medians), values)
        if self.scale:
            values = (values - np.asarray(self.means)) / np.asarray(self.scales)
        if self.clip is not None:
            values = np.clip(values, -self.clip, self.clip)
        return values

    def to_dict(self) -> dict:
        """Plain-JSON form (lists, strings, floats, booleans)."""
        return {
            "format": FORMAT,
            "input_columns": list(self.input_columns),
            "kept_columns": list(self.kept_columns),
            "dropped": dict(self.dropped),
            "impute": self.impute,
            "scale": self.scale,
            "clip": self.clip,
            "medians": [float(v) for v in self.medians],
            "means": [float(v) for v in self.means],
            "scales": [float(v) for v in self.scales],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocessor":
        """Inverse of ``to_dict``; checks the format tag and list lengths."""
        if data.get("format") != FORMAT:
            raise ModelMismatchError(f"preprocessing format {data.get('format')!r} is not "
                                     f"{FORMAT!r}; the model was saved by another version")
        n_kept = len(data["kept_columns"])
        for name, flag in (("medians", data["impute"]), ("means", data["scale"]),
                           ("scales", data["scale"])):
            expected = n_kept if flag else 0
            if len(data[name]) != expected:
                raise ModelMismatchError(f"preprocessing {name} has {len(data[name])} values, "
                                         f"expected {expected}")
        unknown = set(data["kept_columns"]) - set(data["input_columns"])
        if unknown:
            raise ModelMismatchError(f"preprocessing keeps columns it does not read: "
                                     f"{', '.join(sorted(unknown))}")
        return cls(input_columns=list(data["input_columns"]),
                   kept_columns=list(data["kept_columns"]), dropped=dict(data["dropped"]),
                   impute=bool(data["impute"]), scale=bool(data["scale"]),
                   clip=None if data["clip"] is None else float(data["clip"]),
                   medians=[float(v) for v in data["medians"]],
                   means=[float(v) for v in data["means"]],
                   scales=[float(v) for v in data["scales"]])


def fit_preprocessor(X: pd.DataFrame, *, impute: bool = True, scale: bool = True,
                     clip: float | None = None) -> Preprocessor:
    """Learn the preprocessing from training rows.

    Parameters
    ----------
    X : DataFrame
        Training rows only; every column is a candidate feature.
    impute : bool
        Replace NaN by the training median of the column.
    scale : bool
        Standardise to training mean 0 and SD 1 (computed after imputation).
    clip : float or None
        Clip standardised values to +/- ``clip`` SD (requires ``scale``); guards a small
        network against a test value far outside a tiny training range.

    Returns
    -------
    Preprocessor
        Columns that are entirely NaN or take a single value on these rows are dropped.

    Raises
    ------
    FeatureTableError
        If ``X`` has no rows, or holds non-numeric or infinite values.
    ConfigError
        If every column is dropped: no model can be fitted on these rows.
    """
    if clip is not None and (not scale or clip <= 0):
        raise ConfigError(f"clip={clip!r} needs scale=True and a positive value")
    if len(X) == 0:
        raise FeatureTableError("the training table has no rows")
    columns = [str(c) for c in X.columns.tolist()]
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise FeatureTableError(f"the training table repeats column(s) {', '.join(duplicated)}")
    values = numeric_matrix(X, columns, what="training table")
    observed = (~np.isnan(values)).any(axis=0)
    constant = np.zeros(len(columns), dtype=bool)
    constant[observed] = (np.nanmax(values[:, observed], axis=0)
                          == np.nanmin(values[:, observed], axis=0))
    keep = observed & ~constant
    dropped = {columns[j]: ("all values missing on training rows" if not observed[j]
                            else "constant on training rows") for j in np.flatnonzero(~keep)}
    if not keep.any():
        raise ConfigError("every feature column is missing or constant on these training "
                          "rows; nothing to fit")
    kept = values[:, keep]
    medians = np.nanmedian(kept, axis=0) if impute else np.empty(0)
    if impute:
        kept = np.where(np.isnan(kept), medians, kept)
    means = scales = np.empty(0)
    if scale:
        # With impute=False the moments come from observed values only.
        means = np.nanmean(kept, axis=0)
        scales = np.nanstd(kept, axis=0)
    return Preprocessor(input_columns=columns,
                        kept_columns=[c for c, k in zip(columns, keep) if k],
                        dropped=dropped, impute=impute, scale=scale, clip=clip,
                        medians=[float(v) for v in medians] if impute else [],
                        means=[float(v) for v in means], scales=[float(v) for v in scales])

"""Report figures as PNG bytes (matplotlib, Agg canvas: no display, no pyplot state).

Each function takes tables or arrays and returns the PNG file's bytes; ``write_png`` writes
them atomically. Long feature names are wrapped, never cut, so every bar carries its plain name.
"""
from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from core.errors import ConfigError
from core.files import atomic_write
from models.metrics import subject_resamples

DPI = 110
WIDTH_IN = 9.0
WRAP_CHARS = 60
NEUTRAL_COLOUR = "#5d6d7e"
BAND_COLOUR = "#aed6f1"
SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
FPR_GRID = np.linspace(0.0, 1.0, 101)


def png_bytes(figure: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def write_png(path, data: bytes) -> Path:
    """Write PNG bytes to ``path`` atomically (temporary file and rename)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _wrapped(labels) -> list[str]:
    return ["\n".join(textwrap.wrap(str(label), WRAP_CHARS)) or " " for label in labels]


def _bar_height(labels: list[str]) -> float:
    """Figure height (inches) that leaves room for every wrapped label."""
    lines = sum(label.count("\n") + 1 for label in labels)
    return max(2.5, 0.32 * lines + 1.2)


def _check_lengths(**arrays) -> int:
    lengths = {name: len(values) for name, values in arrays.items() if values is not None}
    if len(set(lengths.values())) > 1:
        raise ConfigError(f"inputs differ in length: {lengths}")
    return next(iter(lengths.values()))


def importance_bars(labels, values, *, errors=None, title: str, xlabel: str) -> bytes:
    """Horizontal bars, first label on top.

    Parameters
    ----------
    labels : list of str
        Plain feature names (wrapped to fit).
    values : array-like
        Bar lengths (e.g. mean |SHAP| in log-odds, gain share, metric drop).
    errors : array-like, optional
        Half-widths of error bars (e.g. SD over permutation repeats), same unit as values.
    title, xlabel : str
        Figure title and x-axis label (with the unit).
    """
    n = _check_lengths(labels=list(labels), values=list(values),
                       errors=None if errors is None else list(errors))
    if n == 0:
        raise ConfigError("no bars to draw")
    wrapped = _wrapped(labels)
    figure = Figure(figsize=(WIDTH_IN, _bar_height(wrapped)))
    axes = figure.add_subplot()
    positions = np.arange(n)[::-1]
    axes.barh(positions, np.asarray(values, float), xerr=None if errors is None
              else np.asarray(errors, float), color=NEUTRAL_COLOUR, ecolor="black", capsize=3)
    axes.set_yticks(positions, wrapped, fontsize=8)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_xlabel(xlabel)
    axes.set_title(title, fontsize=10)
    return png_bytes(figure)


def _value_colour(column: np.ndarray) -> np.ndarray:
    """Rank of each value within its feature in [0, 1] (NaN stays NaN): colours compare a
    subject with the others on that feature, whatever its unit."""
    ranks = pd.Series(column).rank(pct=True).to_numpy(dtype=float, copy=True)
    finite = np.isfinite(ranks)
    if finite.sum() > 1:
        low, high = ranks[finite].min(), ranks[finite].max()
        ranks[finite] = (ranks[finite] - low) / (high - low) if high > low else 0.5
    return ranks


def shap_beeswarm(values, data, labels, *, title: str, xlabel: str, seed: int = 0) -> bytes:
    """SHAP summary: one row per feature (first on top), one dot per subject at its SHAP value,
    coloured from low (blue) to high (red) feature value within that feature; grey = missing.

    Parameters
    ----------
    values : ndarray, shape (n, p)
        SHAP values (margin units) of the p features to show, in display order.
    data : ndarray, shape (n, p)
        The same subjects' feature values.
    labels : list of str
        Plain names of the p features.
    title, xlabel : str
    seed : int
        Seed of the vertical jitter that keeps equal dots apart.
    """
    values, data = np.asarray(values, float), np.asarray(data, float)
    if values.ndim != 2 or values.shape != data.shape or values.shape[1] != len(labels):
        raise ConfigError(f"values {values.shape}, data {data.shape} and {len(labels)} labels "
                          f"do not match: need (n, p), (n, p) and p labels")
    if values.size == 0:
        raise ConfigError("no SHAP values to draw")
    rng = np.random.default_rng(seed)
    wrapped = _wrapped(labels)
    figure = Figure(figsize=(WIDTH_IN, _bar_height(wrapped)))
    axes = figure.add_subplot()
    p = values.shape[1]
    scatter = None
    for j in range(p):
        row = p - 1 - j
        jitter = rng.uniform(-0.25, 0.25, size=len(values))
        colour = _value_colour(data[:, j])
        missing = ~np.isfinite(colour)
        axes.scatter(values[missing, j], row + jitter[missing], s=14, color="#bbbbbb",
                     edgecolors="none")
        scatter = axes.scatter(values[~missing, j], row + jitter[~missing], s=14,
                               c=colour[~missing], cmap="coolwarm", vmin=0, vmax=1,
                               edgecolors="none")
    axes.set_yticks(np.arange(p)[::-1], wrapped, fontsize=8)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_xlabel(xlabel)
    axes.set_title(title, fontsize=10)
    bar = figure.colorbar(scatter, ax=axes, ticks=[0, 1], fraction=0.04, pad=0.02)
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value (rank among subjects)")
    return png_bytes(figure)


def roc_band(y_true, score, *, subjects=None, n_boot: int = 200, level: float = 0.95,
             seed: int = 0) -> pd.DataFrame:
    """ROC curve and a subject-level bootstrap band of the true-positive rate.

    Parameters
    ----------
    y_true : array-like of 0/1
    score : array-like
        Predicted probability of class 1.
    subjects : array-like, optional
        Subject id per row (resampled as clusters); default: each row its own subject.
    n_boot : int
        Bootstrap resamples; resamples with a single class are skipped.
    level : float
        Band coverage.
    seed : int

    Returns
    -------
    DataFrame
        ``fpr`` (a grid from 0 to 1), ``tpr`` (the curve on the grid), ``tpr_low``,
        ``tpr_high`` (percentile band; NaN when no resample had both classes).
    """
    y_true, score = np.asarray(y_true).astype(int), np.asarray(score, float)
    _check_lengths(y_true=y_true, score=score)
    if len(np.unique(y_true)) != 2:
        raise ConfigError("a ROC curve needs both classes among the subjects")
    subjects = np.arange(len(y_true)) if subjects is None else np.asarray(subjects)

    def curve(rows):
        fpr, tpr, _ = roc_curve(y_true[rows], score[rows])
        return np.interp(FPR_GRID, fpr, tpr)

    curves = [curve(rows) for rows in subject_resamples(subjects, n_boot=n_boot, seed=seed)
              if len(np.unique(y_true[rows])) == 2]
    tail = (1 - level) / 2 * 100
    if curves:
        low, high = np.percentile(np.vstack(curves), [tail, 100 - tail], axis=0)
    else:
        low = high = np.full_like(FPR_GRID, np.nan)
    return pd.DataFrame({"fpr": FPR_GRID, "tpr": curve(np.arange(len(y_true))),
                         "tpr_low": low, "tpr_high": high})


def roc_figure(bands: dict, *, title: str) -> bytes:
    """Plot ``roc_band`` tables: one curve and band per entry, and the chance diagonal.

    Parameters
    ----------
    bands : dict
        Legend text -> ``roc_band`` table; several entries draw one-vs-rest curves of a
        multiclass target on the same axes.
    title : str
    """
    if not bands:
        raise ConfigError("no ROC curve to draw")
    figure = Figure(figsize=(5.0, 4.6))
    axes = figure.add_subplot()
    several = len(bands) > 1
    for i, (legend, band) in enumerate(bands.items()):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        # One light band reads well alone; overlapping bands need the curve's own colour.
        axes.fill_between(band["fpr"], band["tpr_low"], band["tpr_high"],
                          color=colour if several else BAND_COLOUR, alpha=0.15 if several else 1.0,
                          label=None if several else "95% bootstrap band")
        axes.plot(band["fpr"], band["tpr"], color=colour, linewidth=2, label=legend)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("1 - specificity (false-positive rate)")
    axes.set_ylabel("sensitivity (true-positive rate)")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower right", fontsize=8)
    return png_bytes(figure)


def calibration_bins(y_true, prob, *, n_bins: int = 5) -> pd.DataFrame:
    """Observed frequency of class 1 against mean predicted probability in quantile bins.

    Returns
    -------
    DataFrame
        ``mean_predicted``, ``observed``, ``n`` per non-empty bin (at most ``n_bins``; ties in
        the predictions can merge bins).
    """
    y_true, prob = np.asarray(y_true, float), np.asarray(prob, float)
    _check_lengths(y_true=y_true, prob=prob)
    if n_bins < 1:
        raise ConfigError(f"n_bins must be at least 1; got {n_bins}")
    bins = pd.qcut(pd.Series(prob).rank(method="first"), q=min(n_bins, len(prob)), labels=False)
    table = pd.DataFrame({"bin": bins, "prob": prob, "y": y_true}).groupby("bin")
    return pd.DataFrame({"mean_predicted": table["prob"].mean(), "observed": table["y"].mean(),
                         "n": table.size()}).reset_index(drop=True)


def calibration_figure(bins: dict, *, title: str, note: str = "") -> bytes:
    """Reliability diagram of ``calibration_bins`` tables (dot area ~ subjects in the bin).

    Parameters
    ----------
    bins : dict
        Legend text -> ``calibration_bins`` table; several entries draw one-vs-rest
        reliability curves of a multiclass target.
    title : str
    note : str
        Text in the upper-left corner (e.g. slope, intercept and Brier score).
    """
    if not bins:
        raise ConfigError("no calibration curve to draw")
    figure = Figure(figsize=(5.0, 4.6))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    for i, (legend, table) in enumerate(bins.items()):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        axes.plot(table["mean_predicted"], table["observed"], color=colour, linewidth=1)
        axes.scatter(table["mean_predicted"], table["observed"], s=20 + 12 * table["n"],
                     color=colour, label=legend, zorder=3)
    axes.set_xlim(0, 1)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("mean predicted probability")
    axes.set_ylabel("observed fraction")
    axes.set_title(title, fontsize=10)
    if note:
        axes.text(0.02, 0.97, note, transform=axes.transAxes, va="top", fontsize=8)
    axes.legend(loc="lower right", fontsize=8)
    return png_bytes(figure)


def predicted_vs_true_figure(y_true, y_pred, *, unit: str, title: str) -> bytes:
    """Scatter of out-of-fold predicted against true scores with the identity line."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if _check_lengths(y_true=y_true, y_pred=y_pred) == 0:
        raise ConfigError("no predictions to draw")
    figure = Figure(figsize=(5.0, 4.6))
    axes = figure.add_subplot()
    low = float(np.nanmin([y_true.min(), y_pred.min()]))
    high = float(np.nanmax([y_true.max(), y_pred.max()]))
    axes.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=1,
              label="perfect")
    axes.scatter(y_true, y_pred, s=22, color=SERIES_COLOURS[0], label="subjects")
    axes.set_xlabel(f"true ({unit})")
    axes.set_ylabel(f"predicted, out of fold ({unit})")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="upper left", fontsize=8)
    return png_bytes(figure)


def ablation_figure(tables: dict, *, metric_label: str, title: str,
                    reference: float | None = None) -> bytes:
    """Metric of each modality set with its CI, one series per model.

    Parameters
    ----------
    tables : dict
        Model name -> ``importance.ablation_table`` output.
    metric_label : str
        Axis label, e.g. "ROC AUC (out of fold)".
    title : str
    reference : float, optional
        A vertical reference line (e.g. 0.5 = chance for ROC AUC).
    """
    tables = {m: t for m, t in tables.items() if len(t)}
    if not tables:
        raise ConfigError("no modality set to draw")
    sets = list(dict.fromkeys(s for t in tables.values() for s in t["modality_set"]))
    figure = Figure(figsize=(7.0, max(2.5, 0.45 * len(sets) * max(1, len(tables)) / 1.5 + 1.2)))
    axes = figure.add_subplot()
    offsets = np.linspace(-0.15, 0.15, len(tables)) if len(tables) > 1 else [0.0]
    for (model, table), offset, colour in zip(tables.items(), offsets, SERIES_COLOURS):
        rows = table.set_index("modality_set").reindex(sets)
        positions = np.arange(len(sets))[::-1] + offset
        estimate = rows["estimate"].to_numpy(float)
        low = estimate - rows["ci_low"].to_numpy(float)
        high = rows["ci_high"].to_numpy(float) - estimate
        axes.errorbar(estimate, positions, xerr=np.vstack([low, high]), fmt="o", color=colour,
                      capsize=3, label=model)
    if reference is not None:
        axes.axvline(reference, linestyle="--", color="grey", linewidth=1)
    axes.set_yticks(np.arange(len(sets))[::-1], sets)
    axes.set_xlabel(metric_label)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, loc="best")
    return png_bytes(figure)


def landmark_error_figure(summary: pd.DataFrame, *, point_groups: list, title: str) -> bytes:
    """Grouped bars: mean landmark NME per point group (x) for each participant group (series).

    Parameters
    ----------
    summary : DataFrame
        One row per participant group: ``group`` and one column per point group (NME in
        inter-ocular distances).
    point_groups : list of str
        Columns to draw, e.g. ``["overall", "jaw", "brows", "nose", "eyes", "lips"]``.
    title : str
    """
    if summary.empty:
        raise ConfigError("no landmark error to draw")
    figure = Figure(figsize=(7.0, 3.8))
    axes = figure.add_subplot()
    width = 0.8 / len(summary)
    x = np.arange(len(point_groups))
    for i, (row, colour) in enumerate(zip(summary.itertuples(index=False), SERIES_COLOURS)):
        heights = [getattr(row, g) for g in point_groups]
        axes.bar(x + (i - (len(summary) - 1) / 2) * width, heights, width=width, color=colour,
                 label=str(row.group))
    axes.set_xticks(x, point_groups)
    axes.set_ylabel("normalised mean error (inter-ocular distances)")
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    return png_bytes(figure)


def trajectory_figure(panels: list, *, colours: dict, title: str) -> bytes:
    """Small multiples of first-to-last-visit trajectories, one line per participant, coloured by
    outcome, with each outcome's median drawn thick.

    Parameters
    ----------
    panels : list of dict
        Each ``{"title": str, "unit": str, "lines": DataFrame}``; ``lines`` has one row per
        participant: ``baseline`` and ``followup`` (the unit's values) and ``outcome`` (a key of
        ``colours``).
    colours : dict
        Outcome -> colour, in legend order.
    title : str
        Title of the whole figure.
    """
    panels = [p for p in panels if len(p["lines"])]
    if not panels:
        raise ConfigError("no trajectory to draw")
    columns = min(len(panels), 3)
    rows = int(np.ceil(len(panels) / columns))
    figure = Figure(figsize=(WIDTH_IN, 3.0 * rows + 0.6))
    for k, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, k + 1)
        lines = panel["lines"]
        for outcome, colour in colours.items():
            part = lines[lines["outcome"] == outcome]
            for r in part.itertuples():
                axes.plot([0, 1], [r.baseline, r.followup], color=colour, alpha=0.45, linewidth=1, marker="o",
                          markersize=3)
            if len(part):
                axes.plot([0, 1], [part["baseline"].median(), part["followup"].median()], color=colour,
                          linewidth=3, label=f"{outcome} (median of {len(part)})")
        axes.set_xticks([0, 1], ["first visit", "last visit"])
        axes.set_xlim(-0.15, 1.15)
        axes.set_ylabel(panel["unit"], fontsize=8)
        axes.set_title("\n".join(textwrap.wrap(panel["title"], 40)), fontsize=8)
        axes.legend(fontsize=6, loc="best")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return png_bytes(figure)

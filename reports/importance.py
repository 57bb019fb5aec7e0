"""What the models learnt, in plain words: feature names and four kinds of importance.

Everything here is pure (tables in, tables out); nothing reads or writes files, and nothing is
fitted: ``train`` computes the importances (``models.explain``) and keeps them with the model set.

- ``plain_name``: a feature column as a clinician reads it, from the feature registry and the
  run's task vocabulary (``core.tasks``: a task is worded by its description), e.g.
  ``face__NSM_SPREAD__commissure_excursion_asym_pct`` -> "Left-right difference in mouth corner
  movement, in percent of the side that moves more (%), tight-lip smile task".
- ``importance_table``: the final model's gain and mean |SHAP| and the out-of-fold permutation
  importance side by side, with names.
- ``subject_reasons``: the features that pushed one participant's prediction most.
- ``ablation_table``: modality-level importance, the metric of each modality set with its
  bootstrap interval and permutation p-value, as ``metrics.json`` records them.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from core.errors import ConfigError
from features.registry import Feature, lookup, parse_column
from models.explain import ShapResult

MODALITY_TAGS = {"face": "face video", "quality": "tracking quality", "audio": "eGeMAPS",
                 "voice": "Praat", "ddk": "syllable repetition", "timing": "speech timing",
                 "nonspeech": "non-speech control", "meta": "participant information"}
MAX_NAME_CHARS = 120
MIN_LEAD_WORDS = 4
# Landmark indices such as "(|p62 - p66|)" mean nothing to a clinician reading a chart.
_LANDMARK_PARENS = re.compile(r"\s*\([^()]*\|?p\d+[^()]*\)")
_TASK_TAIL = re.compile(r"[;,]\s*(whole recording, )?one (speech )?task\.?$")


def task_words(task: str, tasks: dict) -> str:
    """Plain words for a task code: its description in ``tasks`` (task name ->
    ``core.tasks.TaskSpec``), or the code itself for a task ``tasks`` does not hold."""
    return tasks[task].description if task in tasks else f"{task} task"


def _first_clause(text: str) -> str:
    """Text up to the first ':', ';' or sentence end outside parentheses; a lead-in of fewer
    than ``MIN_LEAD_WORDS`` words before a colon ("Fatigue: drop in ...") is kept with what
    follows it."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth or i + 1 >= len(text) or text[i + 1] != " ":
            continue
        if char == ":" and len(text[:i].split()) < MIN_LEAD_WORDS:
            continue
        if char in ":;.":
            return text[:i]
    return text


def short_description(feature: Feature) -> str:
    """The registry description cut to a label: the first clause, without landmark indices.

    eGeMAPS entries start with the openSMILE name ("eGeMAPS loudness_sma3_amean: mean of ...");
    the name is dropped, the words after it kept.
    """
    text = feature.description.strip()
    if text.startswith("eGeMAPS ") and ": " in text:
        text = text.split(": ", 1)[1]
    text = _LANDMARK_PARENS.sub("", text)
    text = _TASK_TAIL.sub("", text)
    text = _first_clause(text).rstrip(" .;,")
    if len(text) > MAX_NAME_CHARS:
        text = text[:MAX_NAME_CHARS].rsplit(" ", 1)[0]
        if text.count("(") > text.count(")"):
            text = text[:text.rindex("(")].rstrip()
        text += "..."
    return text[:1].upper() + text[1:]


def short_unit(feature: Feature) -> str:
    """The unit without landmark indices, e.g. "inter-ocular distances"."""
    unit = _LANDMARK_PARENS.sub("", feature.unit).strip()
    return re.sub(r"\s*\((IOD),?\s*\)", r" (\1)", unit)


def plain_name(column: str, tasks: dict) -> str:
    """A feature column in plain words with unit and task.

    Parameters
    ----------
    column : str
        ``<modality>__<task>__<feature>`` or ``<modality>__<feature>``.
    tasks : dict
        Task name -> ``core.tasks.TaskSpec``: the run's vocabulary, whose descriptions word
        the tasks.

    Returns
    -------
    str
        E.g. "Range of motion of the jaw opening, chin to nasion (inter-ocular distances),
        'pa' repetition task".

    Raises
    ------
    KeyError
        If the column has no registry entry (a broken contract).
    """
    feature = lookup(column)
    _, task, _ = parse_column(column)
    name = f"{short_description(feature)} ({short_unit(feature)})"
    return f"{name}, {task_words(task, tasks)}" if task else name


def plain_names(columns, tasks: dict) -> dict:
    """``plain_name`` of each column (``tasks`` the run's vocabulary), made unique by the
    measuring source where two collide.

    Returns
    -------
    dict
        Column -> name, in the order given.
    """
    columns = list(dict.fromkeys(columns))
    names = {c: plain_name(c, tasks) for c in columns}
    counts = pd.Series(list(names.values())).value_counts()
    for column, name in names.items():
        if counts[name] > 1:
            modality = parse_column(column)[0]
            names[column] = f"{name} [{MODALITY_TAGS.get(modality, modality)}]"
    counts = pd.Series(list(names.values())).value_counts()
    for column, name in names.items():
        if counts[name] > 1:
            names[column] = f"{name} [{parse_column(column)[2]}]"
    return names


def feature_info(columns, tasks: dict) -> pd.DataFrame:
    """One row per column: plain name (``tasks`` the run's vocabulary), description, unit, task,
    modality, direction, source."""
    names = plain_names(columns, tasks)
    rows = []
    for column, name in names.items():
        feature = lookup(column)
        task = parse_column(column)[1]
        rows.append({"column": column, "name": name, "description": feature.description,
                     "unit": feature.unit, "task": task or "", "modality": feature.modality,
                     "direction": feature.direction, "source": feature.source})
    return pd.DataFrame(rows, columns=["column", "name", "description", "unit", "task",
                                       "modality", "direction", "source"])


def mean_abs_shap(result: ShapResult) -> pd.DataFrame:
    """Mean |SHAP| per feature (multiclass: averaged over classes too), largest first."""
    magnitude = np.abs(result.values)
    if magnitude.ndim == 3:
        magnitude = magnitude.mean(axis=1)
    table = pd.DataFrame({"column": result.columns, "mean_abs_shap": magnitude.mean(axis=0)})
    return table.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)


def signed_contributions(result: ShapResult, *, classes: np.ndarray | None = None) -> np.ndarray:
    """(n, p) contributions towards one outcome per row.

    Binary: towards class 1; regression: towards a higher score; multiclass: towards
    ``classes[i]`` for row i (e.g. each row's predicted class), which is required then.
    """
    if result.values.ndim == 2:
        return result.values
    if classes is None:
        raise ConfigError("multiclass SHAP values need the class each row is explained towards")
    classes = np.asarray(classes, dtype=int)
    return result.values[np.arange(len(classes)), classes, :]


def importance_table(*, gain: pd.DataFrame, shap: pd.DataFrame, tasks: dict,
                     permutation: pd.DataFrame | None = None) -> pd.DataFrame:
    """Gain, mean |SHAP| and (optionally) permutation importance side by side, with names.

    Parameters
    ----------
    gain : DataFrame
        From ``gain_importance``.
    shap : DataFrame
        From ``mean_abs_shap``.
    tasks : dict
        Task name -> ``core.tasks.TaskSpec`` (the run's vocabulary), for the names.
    permutation : DataFrame, optional
        ``oof_explanations(...)["permutation"]``.

    Returns
    -------
    DataFrame
        ``column``, ``name``, ``unit``, ``task``, ``modality``, ``direction``, ``gain_share``,
        ``mean_abs_shap``, [``permutation``, ``permutation_sd``], ``rank_gain``, ``rank_shap``;
        sorted by mean |SHAP| (ties by gain).
    """
    table = gain[["column", "gain_share"]].merge(shap, on="column", how="outer")
    if permutation is not None:
        table = table.merge(permutation.rename(columns={"importance": "permutation",
                                                        "importance_sd": "permutation_sd"}),
                            on="column", how="left")
    table = table.fillna({"gain_share": 0.0, "mean_abs_shap": 0.0})
    table["rank_gain"] = table["gain_share"].rank(ascending=False, method="min").astype(int)
    table["rank_shap"] = table["mean_abs_shap"].rank(ascending=False, method="min").astype(int)
    info = feature_info(table["column"], tasks)[["column", "name", "unit", "task", "modality",
                                                 "direction"]]
    table = info.merge(table, on="column")
    return table.sort_values(["mean_abs_shap", "gain_share"], ascending=False,
                             kind="stable").reset_index(drop=True)


def ablation_table(model_summary: dict, *, metric: str | None = None) -> pd.DataFrame:
    """Modality-level importance: each modality set's metric with CI and permutation p-value.

    Parameters
    ----------
    model_summary : dict
        ``metrics.json["targets"][target]["models"][model]`` (``evaluate.results_summary``).
    metric : str, optional
        Metric to show (default: the protocol's primary metric).

    Returns
    -------
    DataFrame
        ``modality_set``, ``families``, ``n_features``, ``metric``, ``estimate``, ``ci_low``,
        ``ci_high``, ``p_value`` (NaN when the set was not permutation-tested), ``note``.
    """
    protocol = model_summary.get("protocol", {})
    metric = metric or protocol.get("primary_metric")
    if not metric:
        raise ConfigError("the model summary names no primary metric; pass metric=")
    p_values = {r["modality_set"]: r.get("p_value") for r in model_summary.get("permutation", [])
                if r.get("metric", metric) == metric}
    sets = protocol.get("modality_sets", {})
    rows = []
    for record in model_summary.get("metrics", []):
        if record.get("metric") != metric:
            continue
        name = record["modality_set"]
        rows.append({"modality_set": name, "families": sets.get(name, {}).get("families", ""),
                     "n_features": sets.get(name, {}).get("n_features", np.nan), "metric": metric,
                     "estimate": _number(record.get("estimate")),
                     "ci_low": _number(record.get("ci_low")),
                     "ci_high": _number(record.get("ci_high")),
                     "p_value": _number(p_values.get(name)), "note": record.get("note") or ""})
    return pd.DataFrame(rows, columns=["modality_set", "families", "n_features", "metric",
                                       "estimate", "ci_low", "ci_high", "p_value", "note"])


def _number(value) -> float:
    """A JSON number or null as a float (null -> NaN: metrics.json writes NaN as null)."""
    return float("nan") if value is None else float(value)


def ranked_reasons(contributions: np.ndarray, *, top: int,
                   leave_out: np.ndarray | None = None) -> tuple[list[int], int]:
    """Positions of the features that pushed one prediction most, and how many were left out.

    Features rank by |contribution|, ties in column order; a zero contribution is no reason.

    Parameters
    ----------
    contributions : ndarray, shape (p,)
        SHAP values towards the explained outcome (margin units).
    top : int
        How many reasons (>= 1).
    leave_out : ndarray of bool, shape (p,), optional
        Features never to list, e.g. those missing in the input: the model saw no value of
        them, only its fallback for a missing one.

    Returns
    -------
    positions : list of int
        Up to ``top`` positions, largest |contribution| first.
    n_left_out : int
        Left-out features that ranked ahead of the last reason listed (all left-out features
        with a non-zero contribution when fewer than ``top`` reasons remain).
    """
    if top < 1:
        raise ConfigError(f"top must be at least 1; got {top}")
    contributions = np.asarray(contributions, dtype=float)
    skip = (np.zeros(contributions.shape, dtype=bool) if leave_out is None
            else np.asarray(leave_out, dtype=bool))
    if skip.shape != contributions.shape:
        raise ConfigError(f"leave_out has shape {skip.shape}; the contributions have "
                          f"{contributions.shape}")
    positions, n_left_out = [], 0
    for i in np.argsort(-np.abs(contributions), kind="stable"):
        if len(positions) == top or contributions[i] == 0:
            break
        if skip[i]:
            n_left_out += 1
        else:
            positions.append(int(i))
    return positions, n_left_out


def subject_reasons(contributions: np.ndarray, values: np.ndarray, columns: list, *, tasks: dict,
                    top: int = 5, leave_out: np.ndarray | None = None) -> pd.DataFrame:
    """The features that pushed one subject's prediction most, in plain words.

    Parameters
    ----------
    contributions : ndarray, shape (p,)
        The subject's SHAP values towards the explained outcome (margin units).
    values : ndarray, shape (p,)
        The subject's feature values (NaN where missing).
    columns : list of str
        Feature columns.
    tasks : dict
        Task name -> ``core.tasks.TaskSpec`` (the run's vocabulary), for the names.
    top : int
        How many reasons (>= 1).
    leave_out : ndarray of bool, shape (p,), optional
        Features never to list (``ranked_reasons``).

    Returns
    -------
    DataFrame
        ``column``, ``name``, ``value``, ``unit``, ``contribution``, ``pushes`` ("towards" or
        "away from" the explained outcome); features with contribution 0 are left out.
    """
    contributions = np.asarray(contributions, dtype=float)
    order, _ = ranked_reasons(contributions, top=top, leave_out=leave_out)
    chosen = [columns[i] for i in order]
    names = plain_names(chosen, tasks)
    rows = [{"column": columns[i], "name": names[columns[i]], "value": float(values[i]),
             "unit": short_unit(lookup(columns[i])), "contribution": float(contributions[i]),
             "pushes": "towards" if contributions[i] > 0 else "away from"} for i in order]
    return pd.DataFrame(rows, columns=["column", "name", "value", "unit", "contribution",
                                       "pushes"])

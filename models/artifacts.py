"""A final model saved as a folder (a bundle) that cannot run code on load, and its model card.

Bundle layout::

    bundle.json          what the bundle is: model kind, task type, feature list, class labels,
                         target, SHA-256 of every other file, software versions
    model_config.json    the estimator's configuration (hyper-parameters, architecture)
    preprocess.json      the fitted preprocessing (plain JSON)
    xgb_model.json       XGBoost trees (XGBoost's own JSON), or
    fusion_state.pt      torch state dict (tensors only; read with ``weights_only=True``)
    model_card.json, model_card.md   written by ``write_model_card``

Nothing is pickled (docs/architecture.md, "The model set").
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import platform
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import AvstrokeError, ModelMismatchError
from models.estimators import ESTIMATORS, estimator_function

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = "avstroke.bundle/1"
BUNDLE_KEYS = ("kind", "task_type", "feature_columns", "class_labels", "files")
CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"
# Import name -> name shown; versions come from the installed distribution's metadata (found
# through the import name, since e.g. XGBoost may be installed as "xgboost-cpu").
VERSIONED_PACKAGES = {"numpy": "numpy", "pandas": "pandas", "sklearn": "scikit-learn",
                      "xgboost": "xgboost", "torch": "torch", "scipy": "scipy"}
CARD_SECTIONS = ("data", "features", "protocol", "metrics", "intended_use", "limitations")


class BundleError(AvstrokeError):
    """A model bundle folder is incomplete, altered or written by another format version."""


def _json_safe(value):
    """NaN and inf become None (JSON has no such numbers); numpy scalars become Python ones."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_json(path, data) -> None:
    """Write ``data`` as indented JSON (NaN/inf as null), atomically."""
    write_text_atomic(path, json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n")


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's content, read afresh (no memo: it checks a file on disk now)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path) -> dict:
    """The JSON object stored in ``path``.

    Raises
    ------
    BundleError
        Naming the file, if it is missing, not UTF-8 JSON, or holds something other than an
        object: a saved model whose description cannot be read is refused, not guessed at.
    """
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); retrain or restore the file") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path} holds a JSON {type(data).__name__}, expected an object")
    return data


def software_versions() -> dict:
    """Versions of Python and of the packages that change model results."""
    versions = {"python": platform.python_version()}
    distributions = importlib_metadata.packages_distributions()
    for import_name, shown in VERSIONED_PACKAGES.items():
        found = distributions.get(import_name, [])
        versions[shown] = importlib_metadata.version(found[0]) if found else "not installed"
    return versions


def _model_functions(kind: str):
    if kind not in ESTIMATORS:
        raise BundleError(f"model kind {kind!r} is not one of {', '.join(ESTIMATORS)}")
    return estimator_function(kind, "save"), estimator_function(kind, "load")


def check_features(columns, *, expected, allow_extra: bool = True,
                   what: str = "table to score") -> None:
    """Raise ``ModelMismatchError`` unless ``columns`` hold every expected feature.

    Parameters
    ----------
    columns : iterable of str
        Columns of the table to score.
    expected : list of str
        Feature columns the model was trained on.
    allow_extra : bool
        Whether columns beyond ``expected`` are allowed (and ignored). When False, the message
        also names the extra ones.
    what : str
        Name of the table in the message.
    """
    present = list(columns)
    missing = [c for c in expected if c not in set(present)]
    extra = [] if allow_extra else [c for c in present if c not in set(expected)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} feature(s) the model was trained on: "
                         f"{', '.join(missing)}")
        if extra:
            parts.append(f"{len(extra)} feature(s) the model does not know: {', '.join(extra)}")
        raise ModelMismatchError(f"{what} does not match the model: {'; '.join(parts)}")


@dataclass
class Bundle:
    """A loaded final model.

    Attributes
    ----------
    model : XGBModel or FusionModel
        The estimator with its preprocessing.
    feature_columns : list of str
        Columns a table must hold, in training order.
    task_type : str
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    class_labels : list of str
        Name of each class code (empty for regression).
    target : str
        What is predicted, e.g. ``"group: PS vs HC"``.
    info : dict
        The whole ``bundle.json``.
    """

    model: object
    feature_columns: list
    task_type: str
    class_labels: list
    target: str
    info: dict

    @property
    def used_columns(self) -> list:
        """Feature columns that reach the estimator, in training order.

        ``feature_columns`` minus those the preprocessing dropped (all missing or constant on the
        training rows): a table must hold the dropped ones too, but their values change nothing.
        """
        return list(self.model.preprocessor.kept_columns)

    def check_table(self, X: pd.DataFrame, *, allow_extra: bool = True) -> None:
        """Raise ``ModelMismatchError`` naming missing (and, if not allowed, extra) features."""
        check_features(X.columns, expected=self.feature_columns, allow_extra=allow_extra)

    def predict(self, X: pd.DataFrame, *, allow_extra: bool = True) -> pd.DataFrame:
        """Predictions for every row of ``X``, indexed like ``X``.

        Returns
        -------
        DataFrame
            Classification: ``prob_<label>`` per class and ``predicted_label``; regression:
            ``predicted``.
        """
        self.check_table(X, allow_extra=allow_extra)
        output = self.model.predict(X[self.feature_columns])
        if self.task_type == "regression":
            return pd.DataFrame({"predicted": output}, index=X.index)
        table = pd.DataFrame(output, index=X.index,
                             columns=[f"prob_{label}" for label in self.class_labels])
        table["predicted_label"] = [self.class_labels[k] for k in np.argmax(output, axis=1)]
        return table


def save_bundle(folder, *, model, class_labels=None, target: str = "",
                overwrite: bool = False) -> Path:
    """Save a final model as a bundle folder.

    Parameters
    ----------
    folder : path
        Destination; created if absent.
    model : XGBModel or FusionModel
        Fitted with ``evaluate.fit_final``.
    class_labels : list of str, optional
        Name of each class code 0..K-1 (defaults to the codes as strings); ignored for
        regression.
    target : str
        What is predicted, in words.
    overwrite : bool
        Replace an existing bundle in ``folder``; otherwise an existing ``bundle.json`` is an
        error.

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    if (folder / BUNDLE_FILE).exists() and not overwrite:
        raise BundleError(f"{folder} already holds a model bundle; pass overwrite=True to "
                          f"replace it")
    if model.task_type == "regression":
        labels = []
    else:
        labels = [str(label) for label in (class_labels if class_labels is not None
                                           else range(model.n_classes))]
        if len(labels) != model.n_classes:
            raise BundleError(f"{len(labels)} class label(s) given for a model with "
                              f"{model.n_classes} classes")
    save, _ = _model_functions(model.kind)
    files = save(model, folder)
    write_json(folder / BUNDLE_FILE, {
        "format": BUNDLE_FORMAT,
        "kind": model.kind,
        "task_type": model.task_type,
        "target": target,
        "feature_columns": model.feature_columns,
        "class_labels": labels,
        "files": {name: sha256_file(folder / name) for name in files},
        "model_summary": model.summary(),
        "software": software_versions(),
    })
    return folder


def load_bundle(folder) -> Bundle:
    """Load and check a bundle written by ``save_bundle``.

    Raises
    ------
    BundleError
        If a file is missing or was changed after saving (checksum), ``bundle.json`` is not
        valid JSON or lacks a field, the format is unknown, or the parts disagree (feature
        lists, task type, number of classes).
    """
    folder = Path(folder)
    path = folder / BUNDLE_FILE
    if not path.is_file():
        raise BundleError(f"{folder} is not a model bundle: {BUNDLE_FILE} is missing")
    info = read_json(path)
    if info.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: format {info.get('format')!r} is not {BUNDLE_FORMAT!r}")
    absent = [key for key in BUNDLE_KEYS if key not in info]
    if absent:
        raise BundleError(f"{path} lacks {', '.join(absent)}; retrain or restore the file")
    for name, checksum in info["files"].items():
        if not (folder / name).is_file():
            raise BundleError(f"{folder}: bundle file {name} is missing")
        if sha256_file(folder / name) != checksum:
            raise BundleError(f"{folder / name} was changed after the bundle was saved "
                              f"(checksum differs); retrain or restore the file")
    _, load = _model_functions(info["kind"])
    model = load(folder)
    if model.feature_columns != info["feature_columns"]:
        raise BundleError(f"{path}: feature list differs from the preprocessing's")
    if model.task_type != info["task_type"]:
        raise BundleError(f"{path}: task type {info['task_type']!r} differs from the "
                          f"estimator's {model.task_type!r}")
    if model.task_type != "regression" and len(info["class_labels"]) != model.n_classes:
        raise BundleError(f"{path}: {len(info['class_labels'])} class labels for "
                          f"{model.n_classes} classes")
    return Bundle(model=model, feature_columns=list(info["feature_columns"]),
                  task_type=info["task_type"], class_labels=list(info["class_labels"]),
                  target=info.get("target", ""), info=info)


def build_model_card(*, metadata: dict, bundle_info: dict | None = None,
                     date: str | None = None) -> dict:
    """Model card content (TRIPOD+AI-minded) from what the caller knows about the run.

    Parameters
    ----------
    metadata : dict
        Free-form sections; ``CARD_SECTIONS`` keys are shown first in the markdown
        (``data``: cohort and missing data, ``features``, ``protocol``, ``metrics``, ...).
    bundle_info : dict, optional
        ``Bundle.info`` of the model described (kind, task, feature count, class labels).
    date : str, optional
        ISO date of the card; today's UTC date when not given.

    Returns
    -------
    dict
        Plain JSON: ``date``, ``software``, ``model`` and the metadata sections.
    """
    card = {"date": date or datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
            "software": software_versions()}
    if bundle_info is not None:
        card["model"] = {"kind": bundle_info["kind"], "task_type": bundle_info["task_type"],
                         "target": bundle_info.get("target", ""),
                         "n_features": len(bundle_info["feature_columns"]),
                         "class_labels": bundle_info["class_labels"],
                         "summary": bundle_info.get("model_summary", {})}
    for key, value in metadata.items():
        card[str(key)] = value
    return _json_safe(card)


def _is_record_list(value) -> bool:
    return bool(value) and isinstance(value, list) and all(
        isinstance(item, dict) and not any(isinstance(v, (dict, list)) for v in item.values())
        for item in value)


def _markdown_table(records: list, indent: str) -> list[str]:
    """A list of flat records (e.g. metric rows) as a markdown table."""
    keys = list(dict.fromkeys(k for record in records for k in record))

    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = [f"{indent}| {' | '.join(keys)} |", f"{indent}|{'---|' * len(keys)}"]
    lines += [f"{indent}| {' | '.join(cell(r.get(k, '')) for k in keys)} |" for r in records]
    return lines


def _markdown_value(value, depth: int = 0) -> list[str]:
    indent = "  " * depth
    if _is_record_list(value):
        return [""] + _markdown_table(value, indent) + [""]
    if isinstance(value, (dict, list)):
        # A dict's items are bullets led by their bold key; a list's are bare bullets.
        entries = ([(f" **{key}**:", item) for key, item in value.items()]
                   if isinstance(value, dict) else [("", item) for item in value])
        lines = []
        for label, item in entries:
            if isinstance(item, (dict, list)):
                lines.append(f"{indent}-{label}")
                lines.extend(_markdown_value(item, depth + 1))
            else:
                lines.append(f"{indent}-{label} {item}")
        return lines
    return [f"{indent}{value}"]


def render_model_card(card: dict) -> str:
    """Markdown text of a card from ``build_model_card``."""
    title = card.get("model", {}).get("target") or "avstroke model"
    lines = [f"# Model card: {title}", "", f"Date: {card['date']}", ""]
    ordered = [k for k in ("model",) + CARD_SECTIONS if k in card]
    ordered += [k for k in card if k not in ordered and k not in ("date", "software")]
    ordered.append("software")
    for key in ordered:
        lines += [f"## {key.replace('_', ' ').capitalize()}", ""]
        lines += _markdown_value(card[key]) + [""]
    return "\n".join(lines)


def write_model_card(folder, *, metadata: dict, date: str | None = None) -> dict:
    """Write ``model_card.json`` and ``model_card.md`` into a bundle folder; return the card."""
    folder = Path(folder)
    info = read_json(folder / BUNDLE_FILE) if (folder / BUNDLE_FILE).is_file() else None
    card = build_model_card(metadata=metadata, bundle_info=info, date=date)
    write_json(folder / CARD_JSON, card)
    write_text_atomic(folder / CARD_MARKDOWN, render_model_card(card))
    return card

"""A run's model set: every output of one ``avstroke train``, put in use as a whole.

Layout of a run folder::

    RUN/models -> model_sets/<id>          symbolic link to the model set in use
    RUN/model_sets/<id>/                   the outputs of one training
        model_set.json                     manifest: the bundles of this set (``write_manifest``)
        metrics.json, metrics.json.key     evaluation results and their cache key
        cv_predictions.parquet             out-of-fold predictions
        <target>/<model>/                  model bundles (``models.artifacts``)
    RUN/metrics.json -> models/metrics.json
    RUN/cv_predictions.parquet -> models/cv_predictions.parquet

The bundles that ``predict`` scores with, the metrics the report states and the out-of-fold
predictions must come from one training, and a training that dies half way must change none of
them. A folder cannot be renamed over a non-empty one, but a symbolic link can be replaced by
another in one atomic ``os.replace``; so the set in use is chosen by the link ``RUN/models``, and
the two files at the top of the run folder are links through it that change with it.

Swap protocol (``staged_set``, then ``publish``):

1. the training writes everything into ``RUN/model_sets/<id>.tmp/``, which is removed again if
   the training raises or produces nothing;
2. the complete folder is renamed to ``<id>``;
3. ``RUN/metrics.json`` and ``RUN/cv_predictions.parquet`` are made links through
   ``RUN/models`` (once per run folder; later trainings find them in place);
4. a new link to ``model_sets/<id>`` is renamed over ``RUN/models``;
5. every other entry of ``RUN/model_sets`` (the replaced set, leftovers of killed trainings) is
   removed.

A crash before step 4 leaves ``RUN/models`` on the previous complete set, from step 4 on it is on
the new complete one; what a crash leaves in ``RUN/model_sets`` is never read, and the next
training removes it. Step 5 also removes a set another training is still writing: train one run
folder at a time.

A run folder from before model sets has a real folder ``RUN/models``, without a manifest, and
plain files at the top. Step 3 replaces the files by links (each rename is atomic) and step 4 first
moves the folder into ``RUN/model_sets``, to be removed in step 5. A crash in between leaves the
links naming nothing, or no ``RUN/models``, but never the old files beside new models; the next
training completes the change.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

from models.artifacts import BUNDLE_FILE, BundleError, Bundle, load_bundle, read_json, sha256_file, write_json

SET_LINK = "models"
SETS_FOLDER = "model_sets"
STAGING_SUFFIX = ".tmp"
MANIFEST_FILE = "model_set.json"
MANIFEST_FORMAT = "avstroke.model_set/1"
METRICS_FILE = "metrics.json"
CV_PREDICTIONS_FILE = "cv_predictions.parquet"
# The explanations of each target's final XGBoost model (``models.explain``), read by the report.
IMPORTANCE_FILE = "importance.parquet"
SHAP_FILE = "shap.parquet"
TOP_LEVEL_LINKS = (METRICS_FILE, CV_PREDICTIONS_FILE)
ENTRY_KEYS = ("target", "description", "model", "folder", "bundle_sha256")


@dataclass(frozen=True)
class ListedBundle:
    """A bundle as the manifest of its model set lists it.

    Attributes
    ----------
    target : str
        Target specification, e.g. ``group:PS-vs-HC``.
    description : str
        What is predicted, in words (``metrics.json``'s ``description``).
    model : str
        Model kind, ``xgb`` or ``fusion``.
    folder : Path
        The bundle folder.
    bundle_sha256 : str
        SHA-256 of its ``bundle.json`` when the training saved it.
    """

    target: str
    description: str
    model: str
    folder: Path
    bundle_sha256: str

    @property
    def name(self) -> str:
        """``<target specification>/<model kind>``."""
        return f"{self.target}/{self.model}"


def slug(target: str) -> str:
    """A folder name for a target specification."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", target).strip("_")


def bundle_folder(set_dir, target: str, model: str) -> Path:
    """Where the bundle of ``target`` and ``model`` lies in a model set."""
    return Path(set_dir) / slug(target) / model


@contextmanager
def staged_set(run_dir) -> Iterator[Path]:
    """A new, empty folder for one training's outputs, removed on exit unless ``publish`` took it.

    Parameters
    ----------
    run_dir : path
        The run folder.

    Yields
    ------
    Path
        ``RUN/model_sets/<id>.tmp``; ``<id>`` is the start time and a random suffix.
    """
    name = f"{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}{STAGING_SUFFIX}"
    folder = Path(run_dir) / SETS_FOLDER / name
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        if folder.exists():
            shutil.rmtree(folder)


def write_manifest(set_dir, metrics: dict) -> None:
    """Write ``model_set.json``: one entry per model of every target in ``metrics``.

    The entries come from ``metrics.json``'s record, so the manifest and the metrics list the
    same models; each carries the checksum of its ``bundle.json``, which itself holds those of the
    bundle's other files.

    Parameters
    ----------
    set_dir : path
        The staged set, holding every bundle ``metrics`` names.
    metrics : dict
        ``metrics.json`` content: ``targets`` -> specification -> ``description`` and ``models``.
    """
    set_dir = Path(set_dir)
    entries = [{"target": target, "description": summary["description"], "model": model,
                "folder": bundle_folder(".", target, model).as_posix(),
                "bundle_sha256": sha256_file(bundle_folder(set_dir, target, model) / BUNDLE_FILE)}
               for target, summary in metrics["targets"].items() for model in summary["models"]]
    write_json(set_dir / MANIFEST_FILE, {"format": MANIFEST_FORMAT, "bundles": entries})


def read_manifest(set_dir) -> list[ListedBundle]:
    """The bundles the manifest of a model set lists.

    Raises
    ------
    BundleError
        If the manifest is missing, not valid JSON, of another format, or an entry lacks a field.
    """
    set_dir = Path(set_dir)
    path = set_dir / MANIFEST_FILE
    manifest = read_json(path)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BundleError(f"{path}: format {manifest.get('format')!r} is not {MANIFEST_FORMAT!r}")
    listed = []
    for number, entry in enumerate(manifest.get("bundles", []), start=1):
        absent = [key for key in ENTRY_KEYS if key not in entry]
        if absent:
            raise BundleError(f"{path}: bundle entry {number} lacks {', '.join(absent)}")
        listed.append(ListedBundle(target=entry["target"], description=entry["description"],
                                   model=entry["model"], folder=set_dir / entry["folder"],
                                   bundle_sha256=entry["bundle_sha256"]))
    return listed


def unlisted_bundles(set_dir, listed: list[ListedBundle]) -> list[Path]:
    """Bundle folders inside a model set that its manifest does not list."""
    known = {entry.folder for entry in listed}
    return sorted(path.parent for path in Path(set_dir).rglob(BUNDLE_FILE) if path.parent not in known)


def load_listed(entry: ListedBundle) -> Bundle:
    """Load a listed bundle, after checking its ``bundle.json`` is the one the training saved.

    Raises
    ------
    BundleError
        If the bundle is missing, its ``bundle.json`` was changed, or ``load_bundle`` refuses it.
    """
    path = entry.folder / BUNDLE_FILE
    if not path.is_file():
        raise BundleError(f"{entry.folder} is listed in {MANIFEST_FILE} but holds no {BUNDLE_FILE}; "
                          f"retrain, or restore the folder")
    if sha256_file(path) != entry.bundle_sha256:
        raise BundleError(f"{path} was changed after training (checksum differs from {MANIFEST_FILE}'s); "
                          f"retrain or restore the file")
    return load_bundle(entry.folder)


def _replace_with_link(path: Path, target: Path, spare: Path) -> None:
    """Make ``path`` a symbolic link to ``target`` (relative to ``path``'s folder) in one rename.

    The new link is made under the name ``spare`` first, so a crash leaves ``path`` as it was.
    A real folder at ``path`` (a run folder from before model sets) cannot be renamed over: it
    is moved to ``spare`` with a ``.old`` suffix instead, for ``_remove_other_sets`` to remove.
    """
    if path.is_symlink() and Path(os.readlink(path)) == target:
        return
    os.symlink(target, spare)
    if path.is_dir() and not path.is_symlink():
        path.rename(spare.with_name(spare.name + ".old"))
    os.replace(spare, path)


def _remove_other_sets(sets_dir: Path, keep: str) -> None:
    """Remove every entry of ``sets_dir`` but ``keep``: replaced sets, staged folders and spare
    links of killed trainings, a flat-layout models folder moved aside."""
    for entry in sets_dir.iterdir():
        if entry.name == keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def publish(run_dir, staged: Path) -> Path:
    """Put a complete staged set in use (steps 2 to 5 of the module docstring).

    Parameters
    ----------
    run_dir : path
        The run folder.
    staged : Path
        The folder from ``staged_set``, with every output of the training written.

    Returns
    -------
    Path
        The set's folder ``RUN/model_sets/<id>``, now the target of ``RUN/models``.
    """
    run_dir = Path(run_dir)
    sets_dir = run_dir / SETS_FOLDER
    final = staged.with_name(staged.name.removesuffix(STAGING_SUFFIX))
    os.rename(staged, final)
    # Spare names live among the sets, so a crash's leftovers are removed with them.
    for name in TOP_LEVEL_LINKS:
        _replace_with_link(run_dir / name, Path(SET_LINK) / name, sets_dir / f".{name}.{final.name}.link")
    _replace_with_link(run_dir / SET_LINK, Path(SETS_FOLDER) / final.name, sets_dir / f".{SET_LINK}.{final.name}.link")
    _remove_other_sets(sets_dir, keep=final.name)
    # The flat layout's cache key of metrics.json; the key now lies inside each set.
    (run_dir / f"{METRICS_FILE}.key").unlink(missing_ok=True)
    return final

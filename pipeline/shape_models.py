"""The shape-model folder ``avstroke landmarks-train`` writes and ``avstroke landmarks`` reads.

``RUN/shape_models/`` holds one dlib ``.dat`` model per subject that had enough annotated frames
(``subject_<subject_id>.dat``) and a cohort model (``cohort.dat``), each with a JSON card beside
it (``<name>.json``: training recordings and frames, options, dlib version, held-out evaluation,
training time and memory), and ``choice.csv``: the model each subject's recordings are fitted
with, and the one for subjects without annotated frames (the row of scope ``other``), with the
held-out errors behind the choice. A model is chosen only where its held-out error beats the
generic model's on the same frames.

The models are trained on participants' faces and identify them: the cards say so, an
``IDENTIFIABLE.txt`` sits in the folder, and no export or report copies a model.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import dlib
import pandas as pd

from core.errors import ConfigError
from pipeline import cache

MODELS_DIR = "shape_models"
# The generic model's tables of the recordings landmarks-train learns from: the boxes it trains
# on and the "before" of every comparison.
GENERIC_KIND = "landmarks_generic"
CHOICE_FILE = "choice.csv"
COHORT = "cohort"
GENERIC = "generic"
CHOICE_COLUMNS = ["scope", "subject_id", "model", "sha256", "reason", "n_videos", "n_frames",
                  "nme_generic", "nme_subject", "nme_cohort"]
IDENTIFIABLE_NOTE = ("These shape models were trained on participants' faces and identify them. "
                     "Keep them with the research data; never share or export them.\n")


@dataclass(frozen=True)
class ModelChoice:
    """The shape model a recording is fitted with.

    Attributes
    ----------
    name : str
        ``generic``, ``cohort`` or ``subject_<subject_id>``.
    file : str
        The ``.dat`` file; empty for the generic model (found by ``dlib_models``).
    sha256 : str
        Digest of the model file: part of the landmark cache key.
    reason : str
        Why this model, in words (held-out errors).
    """

    name: str
    file: str
    sha256: str
    reason: str


def subject_model_name(subject_id: str) -> str:
    """File stem of a subject's model."""
    return f"subject_{subject_id}"


@dataclass(frozen=True)
class ModelSelection:
    """Which model each subject's recordings use (``choice.csv`` read back).

    Attributes
    ----------
    subjects : dict of str to ModelChoice
        Per subject with annotated frames. A generic choice has no file and no digest yet: the
        generic model is the one installed where the landmarks are tracked.
    other : ModelChoice
        For subjects without annotated frames: the cohort model where it won, else generic.
    """

    subjects: dict
    other: ModelChoice

    def for_recordings(self, recordings: pd.DataFrame, generic: ModelChoice) -> dict:
        """recording_id -> ``ModelChoice`` for the rows of a manifest (``subject_id`` column);
        generic choices get ``generic``'s file and digest and keep their reason."""
        chosen = {}
        for rid, subject in zip(recordings["recording_id"], recordings["subject_id"]):
            model = self.subjects.get(subject, self.other)
            if model.name == GENERIC:
                model = ModelChoice(GENERIC, generic.file, generic.sha256, model.reason)
            chosen[rid] = model
        return chosen


def read_choice(folder: str | Path) -> ModelSelection:
    """Read ``choice.csv`` of a shape-model folder and check every model it names.

    Raises
    ------
    ConfigError
        If the folder or its choice table is missing, a model file it names is missing, or a
        model's SHA-256 no longer matches the table (the folder was retrained or edited since).
    """
    folder = Path(folder)
    path = folder / CHOICE_FILE
    if not path.is_file():
        raise ConfigError(f"--shape-models {folder}: {CHOICE_FILE} not found; give a folder "
                          f"written by `avstroke landmarks-train` (RUN/{MODELS_DIR})")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in CHOICE_COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(f"{path}: column(s) {', '.join(missing)} missing; retrain with "
                          f"`avstroke landmarks-train`")
    subjects, other = {}, ModelChoice(GENERIC, "", "", "no cohort model won")
    for row in table.itertuples(index=False):
        choice = ModelChoice(GENERIC, "", "", row.reason)
        if row.model != GENERIC:
            file = folder / f"{row.model}.dat"
            if not file.is_file():
                raise ConfigError(f"{path}: model {row.model} is named but {file.name} is missing "
                                  f"from {folder}; retrain with `avstroke landmarks-train`")
            if cache.file_digest(file) != row.sha256:
                raise ConfigError(f"{path}: {file.name} has changed since the choice was made "
                                  f"(SHA-256 differs); retrain with `avstroke landmarks-train`")
            choice = ModelChoice(row.model, str(file), row.sha256, row.reason)
        if row.scope == "other":
            other = choice
        else:
            subjects[row.subject_id] = choice
    return ModelSelection(subjects, other)


@functools.lru_cache(maxsize=8)
def load_predictor(file: str, sha256: str) -> dlib.shape_predictor:
    """A ``.dat`` shape model, loaded once per process and checked against its digest.

    Raises
    ------
    ConfigError
        If the file's SHA-256 is not ``sha256`` (replaced after the choice was made).
    """
    if cache.file_digest(file) != sha256:
        raise ConfigError(f"shape model {Path(file).name} has changed since it was chosen "
                          f"(SHA-256 differs); retrain with `avstroke landmarks-train`")
    return dlib.shape_predictor(file)

"""What the report is built from: the tables of one run folder, as ``pipeline.report`` loads them."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class RunInputs:
    """What a run folder holds for the report (see ``pipeline.report`` for the files).

    Attributes
    ----------
    table : DataFrame
        Subject-level feature table (``features/table.parquet``).
    recordings : DataFrame
        Recording-level table (``features/recordings.parquet``).
    metrics : dict
        ``metrics.json``.
    cv_predictions : DataFrame
        Out-of-fold subject predictions (``cv_predictions.parquet``).
    importance, shap : DataFrame, optional
        The final XGBoost models' explanations kept with the model set
        (``models.modelset.IMPORTANCE_FILE`` and ``SHAP_FILE``, ``models.explain``); None for a
        set written before train kept them.
    errors : DataFrame
        ``errors.csv`` (stage, recording_id, file, error, message); may be empty.
    validation : DataFrame
        ``validation.csv`` (severity, file, row, column, recording_id, message); may be empty.
    tasks : dict
        Task name -> ``core.tasks.TaskSpec``: the run's task vocabulary
        (``pipeline.task_file.run_vocabulary``), whose descriptions word the tasks.
    landmarks_quality : DataFrame, optional
        ``landmarks_quality.parquet``.
    landmarks_error : DataFrame, optional
        ``landmarks_error.parquet`` (NME per recording), when the run measured it.
    landmarks_adaptation : DataFrame, optional
        ``landmarks_adaptation.csv`` (held-out error of the generic and adapted shape models),
        when the run trained shape models.
    face_generic : DataFrame, optional
        ``features/face_generic.parquet``: face features from the generic model's landmarks of
        the recordings adapted models were trained on (the "before").
    known_paths : list of str
        Forms of the manifest's media paths (``pipeline.privacy.known_paths``), removed from the
        messages of the error tables; empty when the run has no validated manifest.
    """

    table: pd.DataFrame
    recordings: pd.DataFrame
    metrics: dict
    cv_predictions: pd.DataFrame
    importance: pd.DataFrame | None
    shap: pd.DataFrame | None
    errors: pd.DataFrame
    validation: pd.DataFrame
    tasks: dict
    landmarks_quality: pd.DataFrame | None = None
    landmarks_error: pd.DataFrame | None = None
    landmarks_adaptation: pd.DataFrame | None = None
    face_generic: pd.DataFrame | None = None
    known_paths: list = field(default_factory=list)

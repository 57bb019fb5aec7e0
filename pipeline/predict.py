"""``avstroke predict``: score new recordings with the trained models.

The new recordings (a manifest, or one video with ``--video --subject --task``) go through the same
extraction stages into ``--out``; then the models of ``--model`` score each subject's first visit.
Recordings of a clinic's own tasks need ``--tasks``, the tasks file the training run was validated
with (``pipeline.task_file``): a task is measured as its file defines it.

``--model`` is a run's model set (``RUN/models``, see ``models.modelset``) or one bundle folder. Of
a model set, exactly the bundles its manifest ``model_set.json`` lists are used, the models of the
training that ``metrics.json`` describes: a bundle folder it does not list is ignored with a
warning. A listed bundle that is missing, altered (checksum) or unreadable is refused with the
reason, before extraction, and the other models go on; every subject-visit is then listed as
refused for it. When no listed model can be loaded, predict stops before extraction.

A model is trained on the tasks its columns name (those whose columns reach the estimator). A
subject-visit without a recording of one of them would get, for every feature of that task, only
the model's fallback for a missing value, so the (subject, model) pair is refused with the missing
tasks named, and the other pairs go on. ``--allow-partial`` scores such pairs anyway and marks them.
A single clip (``--video``) is scored by the models trained on its task alone (with
``--allow-partial``, by every model); when there is none, predict stops before extraction and
names the tasks each model needs.

Outputs, with pseudonymous ids only and every text cell neutralised against spreadsheet formulas
(``core.spreadsheet``):

- ``OUT/predictions.csv``: one row per subject, target and model scored, with class probabilities
  (or the predicted score); ``n_missing_features``, how many of the model's features were absent
  or NaN; ``imputed_tasks``, the trained-on tasks the input lacked (only with ``--allow-partial``);
  for XGBoost models ``top_reasons``, the features that pushed the prediction most (exact
  TreeSHAP) in plain words, never a missing feature since the model saw no value of it, and
  ``n_reasons_left_out``, how many missing features ranked among them and were left out.
- ``OUT/refused.csv``: one row per subject-visit and model not scored, with ``missing_tasks`` and
  the ``reason``.

Exit codes: 0 every pair scored; 1 extraction failed or at least one pair was refused (including
every pair of a model that could not be loaded); 2 a usage or input error, including a single clip
that no model was trained on alone and a ``--model`` none of whose models can be loaded.
"""
from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError, ModelMismatchError
from core.files import atomic_write
from core.privacy import scrub_paths
from core.spreadsheet import write_csv
from core.tasks import NEUROFACE
from core.visits import first_visits
from models import modelset
from models.artifacts import BUNDLE_FILE, CARD_JSON, Bundle, BundleError, load_bundle, read_json
from models.scoring import align_to_model, missing_tasks, tasks_by_visit, trained_tasks
from pipeline.privacy import run_known_paths
from pipeline.run import run_stages, selected_stages
from pipeline.stage import stage_main
from pipeline.task_file import resolve_vocabulary, run_vocabulary

log = logging.getLogger("avstroke")
DESCRIPTION = "Predict impairment, severity and recovery for new recordings with trained models."
# The run's stages up to the feature table; manual-landmark evaluation has nothing to do here.
EXTRACTION = [stage for stage in selected_stages("validate", "assemble") if stage[0] != "landmarks-eval"]
KEYS = ["subject_id", "visit", "target", "model", "model_folder"]
REFUSAL_COLUMNS = KEYS + ["missing_tasks", "reason"]


def add_arguments(parser) -> None:
    parser.add_argument("--model", type=Path, required=True,
                        help="the model set of a run (RUN/models) or one model bundle folder")
    parser.add_argument("--video", type=Path, default=None, help="one video to score instead of a manifest")
    parser.add_argument("--subject", default=None, help="pseudonymous subject id of --video")
    parser.add_argument("--task", default=None, help=f"task of --video: one of {', '.join(NEUROFACE)}, "
                                                     "or a task of the --tasks file")
    parser.add_argument("--visit", default="01", help="visit of --video (default: %(default)s)")
    parser.add_argument("--top", type=int, default=5, help="reasons listed per prediction (default: %(default)s)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="score a subject-visit that lacks tasks a model was trained on (their "
                             "features are filled by the model and listed in imputed_tasks) instead "
                             "of refusing it")
    for _, module in EXTRACTION:
        importlib.import_module(module).add_arguments(parser)


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A loaded bundle with its name and the tasks an input must hold for it.

    Attributes
    ----------
    folder : Path
        The bundle folder.
    bundle : Bundle
    name : str
        ``<target specification>/<model kind>``, e.g. ``group:PS-vs-HC/xgb``.
    tasks : tuple of str
        Tasks named by the columns that reach the estimator (``trained_tasks``); a task whose
        columns were all dropped at training (missing or constant) is not needed.
    """

    folder: Path
    bundle: Bundle
    name: str
    tasks: tuple

    @property
    def target(self) -> str:
        """What is predicted, in words."""
        return self.bundle.target

    @property
    def kind(self) -> str:
        """Model kind, ``xgb`` or ``fusion``."""
        return self.bundle.info["kind"]


@dataclass(frozen=True)
class RefusedModel:
    """A bundle a model set lists that could not be loaded.

    Attributes
    ----------
    folder : Path
        The bundle folder.
    name : str
        ``<target specification>/<model kind>``.
    target : str
        What is predicted, in words.
    kind : str
        Model kind.
    reason : str
        Why it was refused.
    """

    folder: Path
    name: str
    target: str
    kind: str
    reason: str


def single_video_manifest(args) -> Path:
    """Write a one-row manifest for ``--video`` into the output folder."""
    if not args.subject or not args.task:
        raise ConfigError("--video needs --subject and --task")
    # a --tasks file's problems are listed by validate, which stops the run on them
    tasks, _ = resolve_vocabulary(args.tasks)
    if args.task not in tasks:
        raise ConfigError(f"--task must be one of {', '.join(tasks)} (a task of your own is defined "
                          f"in a tasks file given with --tasks); got {args.task!r}")
    video = args.video.resolve()
    row = {"recording_id": f"{args.subject}_{args.visit}_{args.task}", "subject_id": args.subject,
           "group": "", "task": args.task, "visit": args.visit, "video_path": str(video)}
    path = args.out / "predict_manifest.csv"
    atomic_write(path, lambda tmp: pd.DataFrame([row]).to_csv(tmp, index=False))
    args.data_root = video.parent
    return path


def trained_model(folder: Path, bundle: Bundle, target: str) -> TrainedModel:
    """A loaded bundle named ``<target>/<kind>``, with the tasks an input must hold for it."""
    return TrainedModel(folder=folder, bundle=bundle, name=f"{target}/{bundle.info['kind']}",
                        tasks=tuple(trained_tasks(bundle.used_columns)))


def load_model(folder: Path) -> TrainedModel:
    """Load one bundle folder given alone; its target specification comes from the model card
    ``avstroke train`` writes beside it (a bundle saved without a card is named by its target
    description)."""
    bundle = load_bundle(folder)
    card = folder / CARD_JSON
    target = read_json(card).get("target") if card.is_file() else None
    return trained_model(folder, bundle, target or bundle.target)


def load_set(set_dir: Path) -> tuple[list[TrainedModel], list[RefusedModel]]:
    """The models a model set's manifest lists: those that load, and those refused with the reason.

    Bundle folders the manifest does not list are left out with a warning.
    """
    listed = modelset.read_manifest(set_dir)
    for folder in modelset.unlisted_bundles(set_dir, listed):
        log.warning("predict: %s is ignored: %s does not list it, so it is not part of the training in use",
                    folder, modelset.MANIFEST_FILE)
    loaded, refused = [], []
    for entry in listed:
        try:
            loaded.append(trained_model(entry.folder, modelset.load_listed(entry), entry.target))
        except BundleError as exc:  # one damaged model must not stop the others
            log.error("predict: model %s refused: %s", entry.name, exc)
            refused.append(RefusedModel(folder=entry.folder, name=entry.name, target=entry.description,
                                        kind=entry.model, reason=str(exc)))
    return loaded, refused


def load_models(root: Path) -> tuple[list[TrainedModel], list[RefusedModel]]:
    """The models of ``--model``: one bundle folder, or a model set (``load_set``).

    Raises
    ------
    ConfigError
        If ``root`` is neither a bundle nor a model set.
    BundleError
        If the bundle, or every model of the set, cannot be loaded.
    """
    if (root / BUNDLE_FILE).is_file():
        return [load_model(root)], []
    if not (root / modelset.MANIFEST_FILE).is_file():
        raise ConfigError(f"--model {root}: neither a model bundle ({BUNDLE_FILE}) nor a model set "
                          f"({modelset.MANIFEST_FILE}); give the models folder of a run (RUN/models; a run "
                          f"trained before model sets needs `avstroke train` again) or one bundle folder")
    # Resolved once, so every bundle comes from the set in use now even if a training swaps another in.
    loaded, refused = load_set(root.resolve())
    if not loaded:
        reasons = "; ".join(f"{model.name}: {model.reason}" for model in refused)
        raise BundleError(f"--model {root}: none of its {len(refused)} model(s) can be loaded: {reasons}")
    return loaded, refused


def models_for_task(models: list[TrainedModel], task: str) -> list[TrainedModel]:
    """The models trained on ``task`` alone."""
    return [model for model in models if model.tasks == (task,)]


def no_single_task_model(models: list[TrainedModel], subject: str, task: str) -> str:
    """Why a single clip of ``task`` cannot be scored: what each model needs."""
    needs = "; ".join(f"{model.name} needs {', '.join(model.tasks) or 'no task (metadata only)'}"
                      for model in models)
    return (f"subject {subject}: no trained model uses only {task}; models here: {needs}. Give "
            f"recordings of those tasks with --manifest, or pass --allow-partial to score the clip "
            f"with the other tasks missing (marked in the output)")


def task_refusal(trained, missing) -> str:
    """Reason a subject-visit is refused by a model: the tasks it was trained on and those lacking."""
    return (f"model was trained on {', '.join(trained)}; the input lacks {', '.join(missing)} "
            f"(--allow-partial scores it anyway, marking the imputed tasks)")


def identity(rows: pd.DataFrame, model: TrainedModel | RefusedModel) -> pd.DataFrame:
    """``KEYS`` of each row scored (or refused) by ``model``."""
    return pd.DataFrame({"subject_id": rows["subject_id"].to_numpy(), "visit": rows["visit"].to_numpy(),
                         "target": model.target, "model": model.kind, "model_folder": model.folder.name})


def refuse_every_visit(table: pd.DataFrame, model: TrainedModel | RefusedModel, reason: str) -> pd.DataFrame:
    """``REFUSAL_COLUMNS`` rows refusing each subject's first visit in ``table`` for ``model``."""
    return identity(first_visits(table), model).assign(missing_tasks="", reason=reason)


def reasons_text(bundle: Bundle, X: pd.DataFrame, predictions: pd.DataFrame, tasks: dict,
                 top: int) -> tuple[list[str], list]:
    """Top SHAP reasons per row for XGBoost bundles, leaving out features missing in ``X``; the
    tasks are worded by their descriptions in ``tasks`` (the run's vocabulary).

    Returns
    -------
    texts : list of str
        Per row, the reasons in plain words (a note for models without exact SHAP).
    n_left_out : list of int or None
        Per row, missing features that ranked among the reasons and were left out (None
        without SHAP).
    """
    from models.explain import shap_contributions
    from reports.importance import ranked_reasons, signed_contributions, subject_reasons

    if bundle.info["kind"] != "xgb":
        return ["not available for the fusion network"] * len(X), [None] * len(X)
    result = shap_contributions(bundle.model, X)
    # A feature missing in the input reached the model only as its fallback for "missing", so its
    # contribution says nothing about this subject's value.
    missing = X[result.columns].isna().to_numpy()
    classes = None
    if bundle.task_type == "multiclass":
        classes = [bundle.class_labels.index(label) for label in predictions["predicted_label"]]
    contributions = signed_contributions(result, classes=classes)
    texts, left_out = [], []
    for i in range(len(X)):
        reasons = subject_reasons(contributions[i], result.data[i], result.columns, tasks=tasks,
                                  top=top, leave_out=missing[i])
        left_out.append(ranked_reasons(contributions[i], top=top, leave_out=missing[i])[1])
        if bundle.task_type == "regression":
            outcome = "a higher score"
        elif bundle.task_type == "binary":
            outcome = bundle.class_labels[-1]
        else:
            outcome = predictions["predicted_label"].iloc[i]
        texts.append("; ".join(f"{r.name} = {r.value:.3g} ({r.pushes} {outcome})"
                               for r in reasons.itertuples()))
    return texts, left_out


def score(table: pd.DataFrame, present: dict, model: TrainedModel, *, top: int,
          allow_partial: bool, tasks: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score each subject's first visit in ``table`` with one model.

    Parameters
    ----------
    table : DataFrame
        Subject-level feature table (``features.table.subject_table``).
    present : dict
        ``(subject_id, visit)`` -> tasks recorded (``models.scoring.tasks_by_visit``).
    model : TrainedModel
    top : int
        Reasons listed per prediction.
    allow_partial : bool
        Score a visit lacking tasks the model was trained on (marked in ``imputed_tasks``)
        instead of refusing it.
    tasks : dict
        Task name -> ``core.tasks.TaskSpec`` of the new recordings' tasks (their run's
        vocabulary), for the reasons' words.

    Returns
    -------
    predictions : DataFrame
        ``KEYS``, the model's outputs, ``n_missing_features``, ``n_model_features``,
        ``imputed_tasks``, ``top_reasons``, ``n_reasons_left_out``; one row per visit scored.
    refused : DataFrame
        ``REFUSAL_COLUMNS``; one row per visit refused.

    Raises
    ------
    ModelMismatchError
        If the model uses features this version does not compute (every visit is refused).
    """
    rows = first_visits(table).sort_values("subject_id", kind="stable").reset_index(drop=True)
    X, n_missing = align_to_model(rows, model.bundle.feature_columns)
    lacking = [missing_tasks(model.tasks, present.get(key, frozenset()))
               for key in zip(rows["subject_id"], rows["visit"])]
    refuse = np.array([bool(tasks) and not allow_partial for tasks in lacking], dtype=bool)
    ids = identity(rows, model)
    refused = ids[refuse].assign(missing_tasks=[", ".join(t) for t, r in zip(lacking, refuse) if r],
                                 reason=[task_refusal(model.tasks, t) for t, r in zip(lacking, refuse) if r])
    keep = ~refuse
    if not keep.any():
        return pd.DataFrame(), refused.reset_index(drop=True)
    X = X[keep].reset_index(drop=True)
    predictions = model.bundle.predict(X)
    out = pd.concat([ids[keep].reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
    out["n_missing_features"] = n_missing[keep].to_numpy()
    out["n_model_features"] = len(model.bundle.feature_columns)
    out["imputed_tasks"] = [", ".join(t) for t, k in zip(lacking, keep) if k]
    out["top_reasons"], out["n_reasons_left_out"] = reasons_text(model.bundle, X, predictions, tasks, top)
    return out, refused.reset_index(drop=True)


def choose_models(models: list[TrainedModel], args) -> list[TrainedModel]:
    """The models to score with: all of them, or for ``--video`` those trained on its task alone.

    Raises
    ------
    ModelMismatchError
        If a single clip has no model trained on its task alone and ``--allow-partial`` is off.
    """
    if args.video is None or args.allow_partial:
        return models
    chosen = models_for_task(models, args.task)
    if not chosen:
        raise ModelMismatchError(no_single_task_model(models, args.subject, args.task))
    for model in models:
        if model not in chosen:
            log.info("predict: model %s is not used for one %s clip: it needs %s", model.name,
                     args.task, ", ".join(model.tasks) or "no task")
    return chosen


def run(args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    # Models first: a clip no model can score is refused before minutes of extraction.
    models, unusable = load_models(args.model)
    if args.video is not None:
        args.manifest = single_video_manifest(args)
    models = choose_models(models, args)
    args.allow_unknown_group = True
    if run_stages(args, EXTRACTION) != 0:
        return 1
    table = pd.read_parquet(args.out / "features" / "table.parquet")
    tasks = run_vocabulary(args.out)
    present = tasks_by_visit(pd.read_parquet(args.out / "features" / "recordings.parquet"))
    scored, refused = [], []
    for model in models:
        try:
            predictions, refusals = score(table, present, model, top=args.top, allow_partial=args.allow_partial,
                                          tasks=tasks)
        except ModelMismatchError as exc:
            # The exception's text goes to refused.csv, a table people read.
            reason = scrub_paths(str(exc), run_known_paths(args.out))
            predictions, refusals = pd.DataFrame(), refuse_every_visit(table, model, reason)
        for row in refusals.itertuples():
            log.error("predict: refused subject %s (visit %s) for model %s: %s", row.subject_id, row.visit,
                      model.name, row.reason)
        scored += [predictions] if len(predictions) else []
        refused += [refusals] if len(refusals) else []
    refused += [refuse_every_visit(table, model, f"the model could not be loaded: {model.reason}")
                for model in unusable]
    predictions = pd.concat(scored, ignore_index=True) if scored else pd.DataFrame(columns=KEYS)
    refusals = pd.concat(refused, ignore_index=True) if refused else pd.DataFrame(columns=REFUSAL_COLUMNS)
    for name, frame in (("predictions.csv", predictions), ("refused.csv", refusals)):
        write_csv(frame, args.out / name)
    n_partial = int(predictions["imputed_tasks"].astype(bool).sum()) if len(predictions) else 0
    log.info("predict: %d predictions for %d subjects from %d models (%d refused), %d scored with missing "
             "tasks (--allow-partial), %d refused -> %s, %s", len(predictions), predictions["subject_id"].nunique(),
             len(models), len(unusable), n_partial, len(refusals), args.out / "predictions.csv",
             args.out / "refused.csv")
    return 1 if len(refusals) else 0


def validates_manifest(args) -> bool:
    """predict validates the new recordings' manifest into its own folder (see ``stage_main``)."""
    return True


def main(argv=None) -> int:
    return stage_main("avstroke predict", DESCRIPTION, add_arguments, run, argv,
                      validates_manifest=validates_manifest)


if __name__ == "__main__":
    sys.exit(main())

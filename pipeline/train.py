"""``avstroke train``: XGBoost and the fusion network under subject-grouped nested CV.

For each target (``--targets``) and model (``--models``): the ablation over modality sets on
identical outer folds, metrics with subject-level bootstrap CIs, a label-permutation test,
calibration, the paired fusion-versus-best-unimodal difference and, for recovery, each set's
paired difference with baseline severity (``models.modalities.BENCHMARK_SET``); then a final
model refit on all subjects with every modality, saved in formats that cannot run code on load,
with a model card. ``metrics.json`` also records each target's evaluation plan
(``models.cv.evaluation_plan``).

Writes one model set (``models.modelset``): ``cv_predictions.parquet`` (out-of-fold predictions
per subject, with the outer fold that held each subject out), ``metrics.json`` (with each target's
outer folds, ``evaluation_plan``), the explanations of each target's final XGBoost model that the
report shows (``importance.parquet``, ``shap.parquet``, ``models.explain``; the report fits
nothing), the bundles ``<target>/<model>/`` and the manifest ``model_set.json``, all into a new folder that replaces the previous set in one atomic step at the
end, seen as ``RUN/models/`` (with ``RUN/metrics.json`` and ``RUN/cv_predictions.parquet``). A
training that is killed or fails leaves the previous set in use, whole.

The new set holds the targets of this training only: retraining a subset of targets drops the
others' models and metrics, so ``metrics.json`` and the models always describe one training with
one set of settings. A training in which every target was skipped changes nothing and exits 1.
Skipped when the table, the settings (among them the tasks whose non-speech control is left out,
from the run's task vocabulary) and the modelling code are unchanged.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
from datetime import date

import pandas as pd

from core.errors import ConfigError, TargetError
from models import artifacts, explain, modelset
from models.cv import evaluation_plan, make_outer_splits, n_folds_for
from models.estimators import MODEL_NAMES
from models.evaluate import fit_final, nested_cv, results_summary
from models.modalities import BENCHMARK_SET, FINAL_SET, control_excluded_tasks, modality_sets
from models.targets import build_target
from pipeline import cache, runner
from pipeline.stage import stage_main
from pipeline.task_file import run_vocabulary

log = logging.getLogger("avstroke")
DESCRIPTION = "Train and evaluate XGBoost and the fusion network with subject-grouped nested CV."
CODE_MODULES = ["models.cv", "models.evaluate", "models.estimators", "models.xgb", "models.fusion", "models.metrics", "models.explain",
                "models.preprocess", "models.targets", "models.modalities", "models.artifacts", "models.modelset",
                "pipeline.train", "core.visits"]
DEFAULT_TARGETS = "group:PS-vs-HC,group:ALS-vs-HC,group:3class,score:score_mean_tot,recovery"
INNER_SPLITS = 3
# Permutation-tested sets: the final one, the recording-condition control and the benchmark.
PERMUTATION_SETS = (FINAL_SET, "nonspeech", BENCHMARK_SET)


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Every setting that changes the training results (``control_excluded_tasks``: the tasks
    whose non-speech control the run's task vocabulary leaves out, ``models.modalities``)."""

    targets: tuple
    models: tuple
    folds: int
    seed: int
    permutations: int
    fusion_permutations: int
    bootstrap: int
    permutation_repeats: int
    control_excluded_tasks: tuple


def add_arguments(parser) -> None:
    parser.add_argument("--targets", default=DEFAULT_TARGETS,
                        help="comma-separated targets (default: %(default)s)")
    parser.add_argument("--models", default=",".join(MODEL_NAMES), help="comma-separated: xgb, fusion")
    parser.add_argument("--folds", type=int, default=5, help="outer folds (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of folds and fits (default: %(default)s)")
    parser.add_argument("--permutations", type=int, default=19,
                        help="label permutations of XGBoost's permutation test; each reruns the whole "
                             "nested CV (default: %(default)s, the fewest that can give p = 0.05)")
    parser.add_argument("--fusion-permutations", type=int, default=0,
                        help="label permutations for the fusion network, about 8 times costlier than "
                             "XGBoost's (default: %(default)s)")
    parser.add_argument("--bootstrap", type=int, default=1000,
                        help="subject-level bootstrap resamples of every CI (default: %(default)s)")
    parser.add_argument("--permutation-repeats", type=int, default=5,
                        help="shuffles per feature of the out-of-fold permutation importance "
                             "(default: %(default)s)")


def settings_from(args, vocabulary: dict) -> TrainSettings:
    """The settings of ``args``; ``vocabulary`` (the run's tasks) says whose non-speech control
    is left out (``models.modalities.control_excluded_tasks``)."""
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    for m in models:
        if m not in MODEL_NAMES:
            raise ConfigError(f"--models: {m!r} is not a model; allowed: {', '.join(MODEL_NAMES)}")
    if args.folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {args.folds}")
    if args.permutation_repeats < 1:
        raise ConfigError(f"--permutation-repeats must be at least 1, got {args.permutation_repeats}")
    return TrainSettings(targets=tuple(t.strip() for t in args.targets.split(",") if t.strip()),
                         models=models, folds=args.folds, seed=args.seed,
                         permutations=args.permutations, fusion_permutations=args.fusion_permutations,
                         bootstrap=args.bootstrap, permutation_repeats=args.permutation_repeats,
                         control_excluded_tasks=control_excluded_tasks(vocabulary))


@dataclasses.dataclass
class Trained:
    """What training writes besides the bundles, for one target or for all of them.

    Attributes
    ----------
    metrics : dict
        One target's part of ``metrics.json``, or the whole of it.
    predictions : list of DataFrame
        Out-of-fold subject predictions per target and model.
    importance, shap : list of DataFrame
        The final XGBoost models' explanations (``models.explain.explain_xgb``), per target.
    """

    metrics: dict
    predictions: list = dataclasses.field(default_factory=list)
    importance: list = dataclasses.field(default_factory=list)
    shap: list = dataclasses.field(default_factory=list)


def train_target(table: pd.DataFrame, spec: str, settings: TrainSettings, set_dir, *,
                 workers: int = 1) -> Trained:
    """Evaluate and refit every model on one target, saving the final models into the staged
    model set ``set_dir``; return the target's metrics, predictions and explanations.

    The explanations of the final XGBoost model (``metrics.json``: the target's ``importance``,
    with the reason when there are none) are computed on the evaluation's outer folds."""
    target = build_target(table, spec)
    for reason, n in target.excluded.items():
        log.warning("train: %s: %d subject(s) left out: %s", spec, n, reason)
    rows = target.rows.reset_index(drop=True)
    y = target.y.reset_index(drop=True)
    sets = modality_sets(rows.columns, usable=lambda c: rows[c].notna().any(),
                         excluded_tasks=settings.control_excluded_tasks)
    if not sets:
        raise TargetError(f"target {spec!r}: the feature table has no usable feature columns")
    folds = n_folds_for(y, target.task_type, settings.folds)
    plan = make_outer_splits(y, rows["subject_id"], task_type=target.task_type, n_splits=folds, seed=settings.seed)
    summary = {"task_type": target.task_type, "description": target.description,
               "n_subjects": int(rows["subject_id"].nunique()), "excluded": target.excluded,
               "class_labels": list(target.class_labels),
               "evaluation_plan": evaluation_plan(plan, y, rows["subject_id"],
                                                  requested_splits=settings.folds,
                                                  n_inner_splits=INNER_SPLITS),
               "models": {}}
    trained = Trained(metrics=summary)
    for model in settings.models:
        log.info("train: %s, %s: %d subjects, %d folds, sets %s", spec, model, len(rows), folds, ", ".join(sets))
        results = nested_cv(rows, y, rows["subject_id"], model=model, modality_sets=sets,
                            task_type=target.task_type, outer_splits=plan, seed=settings.seed, n_jobs=workers,
                            n_inner_splits=INNER_SPLITS, n_bootstrap=settings.bootstrap,
                            n_permutations=settings.permutations if model == "xgb" else settings.fusion_permutations,
                            permutation_sets=[s for s in PERMUTATION_SETS if s in sets],
                            benchmark_set=BENCHMARK_SET if BENCHMARK_SET in sets else None)
        summary["models"][model] = results_summary(results)
        subject_preds = results["subject_predictions"].copy()
        subject_preds.insert(0, "model", model)
        subject_preds.insert(0, "target", spec)
        trained.predictions.append(subject_preds)
        final_set = FINAL_SET if FINAL_SET in sets else max(sets, key=lambda s: len(sets[s]))
        final = fit_final(rows, y, rows["subject_id"], model=model, columns=sets[final_set],
                          task_type=target.task_type, seed=settings.seed, n_inner_splits=INNER_SPLITS)
        folder = modelset.bundle_folder(set_dir, spec, model)
        artifacts.save_bundle(folder, model=final, class_labels=list(target.class_labels),
                              target=target.description)
        artifacts.write_model_card(folder, date=date.today().isoformat(), metadata={
            "target": spec, "description": target.description, "estimator": model,
            "modality_set": final_set, "n_subjects": int(rows["subject_id"].nunique()),
            "protocol": summary["models"][model]["protocol"],
            "metrics": [m for m in summary["models"][model]["metrics"] if m.get("modality_set") == final_set],
        })
        if model == "xgb":
            summary["importance"] = _explain(final, rows, y, trained, spec=spec, task_type=target.task_type,
                                             plan=plan, settings=settings)
    return trained


def _explain(final, rows: pd.DataFrame, y: pd.Series, trained: Trained, *, spec: str, task_type: str,
             plan, settings: TrainSettings) -> dict:
    """Add the final XGBoost model's explanations to ``trained``; return their summary, or the
    reason there are none (``{"note": ...}``), shown by the report instead."""
    try:
        summary, importance, shap = explain.explain_xgb(
            final, rows, y, rows["subject_id"], target=spec, task_type=task_type, n_splits=plan.n_splits,
            seed=settings.seed, strategy=plan.strategy, n_repeats=settings.permutation_repeats)
    except explain.ImportanceError as reason:  # the target's metrics stand without explanations
        log.warning("train: %s: no importances: %s", spec, reason)
        return {"note": str(reason)}
    trained.importance.append(importance)
    trained.shap.append(shap)
    return summary


def train_targets(table: pd.DataFrame, settings: TrainSettings, set_dir, *,
                  workers: int = 1) -> Trained:
    """Train every target of ``settings`` into the staged model set ``set_dir``.

    Returns
    -------
    Trained
        ``metrics`` is the ``metrics.json`` content: ``settings``, ``targets`` (those trained)
        and ``skipped_targets`` (specification -> reason).
    """
    trained, failed = Trained(metrics={"settings": dataclasses.asdict(settings), "targets": {}}), {}
    for spec in settings.targets:
        try:
            one = train_target(table, spec, settings, set_dir, workers=workers)
        except TargetError as exc:  # one unsupported target must not hide the others' results
            log.warning("train: target %s skipped: %s", spec, exc)
            failed[spec] = str(exc)
            continue
        trained.metrics["targets"][spec] = one.metrics
        trained.predictions += one.predictions
        trained.importance += one.importance
        trained.shap += one.shap
    trained.metrics["skipped_targets"] = failed
    return trained


def _frame(parts: list, columns: list) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def write_set_files(set_dir, trained: Trained, key: str) -> None:
    """Write the out-of-fold predictions, the explanations, ``metrics.json`` with its cache key,
    and the manifest (made from the metrics) into the staged model set ``set_dir``."""
    cache.write_parquet(pd.concat(trained.predictions, ignore_index=True), set_dir / modelset.CV_PREDICTIONS_FILE)
    cache.write_parquet(_frame(trained.importance, explain.IMPORTANCE_COLUMNS), set_dir / modelset.IMPORTANCE_FILE)
    cache.write_parquet(_frame(trained.shap, explain.SHAP_COLUMNS), set_dir / modelset.SHAP_FILE)
    artifacts.write_json(set_dir / modelset.METRICS_FILE, trained.metrics)
    cache.write_key(set_dir / modelset.METRICS_FILE, key)
    modelset.write_manifest(set_dir, trained.metrics)


def run(args) -> int:
    settings = settings_from(args, run_vocabulary(args.out))
    table_path = args.out / "features" / "table.parquet"
    if not table_path.is_file():
        raise TargetError(f"{table_path} not found: run `avstroke assemble` first")
    key = cache.make_key(inputs={"table": cache.file_digest(table_path)}, params=dataclasses.asdict(settings),
                         code=cache.code_digest(CODE_MODULES))
    current_metrics = args.out / modelset.SET_LINK / modelset.METRICS_FILE
    if cache.is_fresh(current_metrics, key):
        log.info("train: up to date (%s)", current_metrics)
        return 0
    table = pd.read_parquet(table_path)
    # On a cluster every fit is one task and the scheduler spreads them over its workers.
    workers = -1 if args.dask else args.workers
    with modelset.staged_set(args.out) as staged, runner.parallel_backend(args.dask):
        trained = train_targets(table, settings, staged, workers=workers)
        metrics = trained.metrics
        if not metrics["targets"]:
            log.error("train: no target could be trained; the model set in use (%s) is unchanged",
                      args.out / modelset.SET_LINK)
            return 1
        write_set_files(staged, trained, key)
        published = modelset.publish(args.out, staged)
    log.info("train: %d targets trained, %d skipped; model set %s in use as %s", len(metrics["targets"]),
             len(metrics["skipped_targets"]), published.name, args.out / modelset.SET_LINK)
    return 0


def main(argv=None) -> int:
    return stage_main("avstroke train", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())

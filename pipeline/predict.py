"""``avstroke predict``: score new recordings with the trained models.

The new recordings (a manifest, or one video with ``--video --subject --task``) go through the same
extraction stages into ``--out``; then every model bundle under ``--model`` scores each subject's
first visit. Output ``OUT/predictions.csv``: one row per subject, target and model, with class
probabilities (or the predicted score), how many of the model's features were missing, and for
XGBoost models the features that pushed the prediction most (exact TreeSHAP), in plain words.
"""
from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import pandas as pd

from models.artifacts import load_bundle
from models.scoring import align_to_model
from pipeline import cache
from pipeline.errors import ConfigError, ModelMismatchError
from pipeline.run import run_stages, selected_stages
from pipeline.stage import stage_main
from pipeline.tasks import TASKS
from pipeline.visits import first_visits

log = logging.getLogger("avstroke")
DESCRIPTION = "Predict impairment, severity and recovery for new recordings with trained models."
# The run's stages up to the feature table; manual-landmark evaluation has nothing to do here.
EXTRACTION = [stage for stage in selected_stages("validate", "assemble") if stage[0] != "landmarks-eval"]
BUNDLE_FILE = "bundle.json"


def add_arguments(parser) -> None:
    parser.add_argument("--model", type=Path, required=True,
                        help="folder of trained models (RUN/models) or one model bundle folder")
    parser.add_argument("--video", type=Path, default=None, help="one video to score instead of a manifest")
    parser.add_argument("--subject", default=None, help="pseudonymous subject id of --video")
    parser.add_argument("--task", default=None, help=f"task of --video: one of {', '.join(TASKS)}")
    parser.add_argument("--visit", default="01", help="visit of --video (default: %(default)s)")
    parser.add_argument("--top", type=int, default=5, help="reasons listed per prediction (default: %(default)s)")
    for _, module in EXTRACTION:
        importlib.import_module(module).add_arguments(parser)


def single_video_manifest(args) -> Path:
    """Write a one-row manifest for ``--video`` into the output folder."""
    if not args.subject or not args.task:
        raise ConfigError("--video needs --subject and --task")
    if args.task not in TASKS:
        raise ConfigError(f"--task must be one of {', '.join(TASKS)}; got {args.task!r}")
    video = args.video.resolve()
    row = {"recording_id": f"{args.subject}_{args.visit}_{args.task}", "subject_id": args.subject,
           "group": "", "task": args.task, "visit": args.visit, "video_path": str(video)}
    path = args.out / "predict_manifest.csv"
    cache.atomic_write(path, lambda tmp: pd.DataFrame([row]).to_csv(tmp, index=False))
    args.data_root = video.parent
    return path


def bundle_folders(root: Path) -> list[Path]:
    """Every model bundle at or below ``root``."""
    if (root / BUNDLE_FILE).is_file():
        return [root]
    found = sorted(p.parent for p in root.rglob(BUNDLE_FILE))
    if not found:
        raise ConfigError(f"--model {root}: no trained model ({BUNDLE_FILE}) found; run `avstroke train` first")
    return found


def reasons_text(bundle, X: pd.DataFrame, predictions: pd.DataFrame, top: int) -> list[str]:
    """Top SHAP reasons per row for XGBoost bundles; a note for models without exact SHAP."""
    from reports.importance import shap_contributions, signed_contributions, subject_reasons

    if bundle.info.get("kind") != "xgb":
        return ["not available for the fusion network"] * len(X)
    result = shap_contributions(bundle.model, X)
    classes = None
    if bundle.task_type == "multiclass":
        classes = [bundle.class_labels.index(label) for label in predictions["predicted_label"]]
    contributions = signed_contributions(result, classes=classes)
    texts = []
    for i in range(len(X)):
        reasons = subject_reasons(contributions[i], result.data[i], result.columns, top=top)
        if bundle.task_type == "regression":
            outcome = "a higher score"
        elif bundle.task_type == "binary":
            outcome = bundle.class_labels[-1]
        else:
            outcome = predictions["predicted_label"].iloc[i]
        texts.append("; ".join(
            f"{r.name} = {'missing' if pd.isna(r.value) else f'{r.value:.3g}'} "
            f"({'towards' if r.contribution > 0 else 'away from'} {outcome})"
            for r in reasons.itertuples()))
    return texts


def score(table: pd.DataFrame, folder: Path, top: int) -> pd.DataFrame:
    """Predictions of one bundle for each subject's first visit (``pipeline.visits``) in ``table``."""
    bundle = load_bundle(folder)
    rows = first_visits(table).reset_index(drop=True)
    X, n_missing = align_to_model(rows, bundle.feature_columns)
    predictions = bundle.predict(X)
    out = pd.DataFrame({"subject_id": rows["subject_id"], "visit": rows["visit"],
                        "target": bundle.target, "model": bundle.info.get("kind", ""),
                        "model_folder": folder.name})
    out = pd.concat([out, predictions.reset_index(drop=True)], axis=1)
    out["n_missing_features"] = n_missing.to_numpy()
    out["n_model_features"] = len(bundle.feature_columns)
    out["top_reasons"] = reasons_text(bundle, X, predictions, top)
    return out


def run(args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    if args.video is not None:
        args.manifest = single_video_manifest(args)
    args.allow_unknown_group = True
    if run_stages(args, EXTRACTION) != 0:
        return 1
    table = pd.read_parquet(args.out / "features" / "table.parquet")
    results, refused = [], []
    for folder in bundle_folders(args.model):
        try:
            results.append(score(table, folder, args.top))
        except ModelMismatchError as exc:
            log.error("predict: model %s refused: %s", folder, exc)
            refused.append(folder)
    if not results:
        return 1
    predictions = pd.concat(results, ignore_index=True)
    path = args.out / "predictions.csv"
    cache.atomic_write(path, lambda tmp: predictions.to_csv(tmp, index=False))
    log.info("predict: %d predictions for %d subjects from %d models (%d refused) -> %s", len(predictions),
             predictions["subject_id"].nunique(), len(results), len(refused), path)
    return 1 if refused else 0


def main(argv=None) -> int:
    return stage_main("avstroke predict", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())

"""``avstroke report``: the feature-importance report of a trained run.

Reads ``RUN/features/table.parquet``, ``RUN/features/recordings.parquet``, from the model set in
use (``models.modelset``) ``RUN/metrics.json``, ``RUN/cv_predictions.parquet`` and the importances
train computed (``RUN/models/importance.parquet``, ``RUN/models/shap.parquet``; the report fits
no model), ``RUN/errors.csv``, ``RUN/validation.csv``,
``RUN/landmarks_quality.parquet``, when the run measured it ``RUN/landmarks_error.parquet``, when
it trained shape models ``RUN/landmarks_adaptation.csv`` and ``RUN/features/face_generic.parquet``,
and
the media paths of ``RUN/manifest.validated.parquet``, which are removed from the error tables'
messages. Writes ``RUN/report/report.html`` (one self-contained file), ``RUN/report/figures/*.png`` and
``RUN/report/subjects/<id>.html``, each atomically; pages and figures of an earlier report that
the new one no longer has are removed. Skipped when the inputs, the settings and the report code
are unchanged.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

from core.errors import ConfigError
from core.files import atomic_write
from models import modelset
from pipeline import __version__, cache
from pipeline.face_features import GENERIC_TABLE as GENERIC_FACE_TABLE
from pipeline.landmarks_train import ADAPTATION_TABLE
from pipeline.manifest import VALIDATED_FILE
from pipeline.privacy import run_known_paths
from pipeline.runner import ERROR_COLUMNS
from pipeline.stage import stage_main
from pipeline.task_file import run_vocabulary
from pipeline.validate import ISSUE_COLUMNS
from reports.figures import write_png
from reports.html import TEMPLATES, build_report
from reports.sections.inputs import RunInputs
from reports.sections.participants import SUBJECT_FOLDER

log = logging.getLogger("avstroke")
DESCRIPTION = ("Write the feature-importance report (one self-contained HTML file) and "
               "participant pages.")
CODE_MODULES = ["reports.importance", "models.explain", "reports.figures", "reports.methods", "reports.html",
                "reports.export", "reports.longitudinal", "models.modelset", "models.targets",
                "pipeline.report", "core.visits", "pipeline.privacy"]
REPORT_FOLDER = "report"
REPORT_FILE = "report.html"
FIGURE_FOLDER = "figures"
REQUIRED = ("features/table.parquet", "features/recordings.parquet", modelset.METRICS_FILE,
            modelset.CV_PREDICTIONS_FILE)
# The importances are missing from a model set trained before train computed them.
EXPLANATIONS = (f"{modelset.SET_LINK}/{modelset.IMPORTANCE_FILE}", f"{modelset.SET_LINK}/{modelset.SHAP_FILE}")
OPTIONAL = EXPLANATIONS + ("errors.csv", "validation.csv", "landmarks_quality.parquet", "landmarks_error.parquet",
            VALIDATED_FILE, ADAPTATION_TABLE, f"features/{GENERIC_FACE_TABLE}")


def add_arguments(parser) -> None:
    parser.add_argument("--top", type=int, default=15,
                        help="features per importance table and chart (default: %(default)s)")


def _csv(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _optional_parquet(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def load_inputs(run_dir: Path) -> RunInputs:
    """Read every report input of a run folder (see the module docstring)."""
    missing = [name for name in REQUIRED if not (run_dir / name).is_file()]
    if missing:
        raise ConfigError(f"{run_dir}: missing {', '.join(missing)}; run `avstroke assemble` and "
                          f"`avstroke train --out {run_dir}` first")
    importance, shap = (_optional_parquet(run_dir / name) for name in EXPLANATIONS)
    return RunInputs(
        table=pd.read_parquet(run_dir / "features" / "table.parquet"),
        recordings=pd.read_parquet(run_dir / "features" / "recordings.parquet"),
        metrics=json.loads((run_dir / modelset.METRICS_FILE).read_text(encoding="utf-8")),
        cv_predictions=pd.read_parquet(run_dir / modelset.CV_PREDICTIONS_FILE),
        importance=importance, shap=shap,
        errors=_csv(run_dir / "errors.csv", ERROR_COLUMNS),
        validation=_csv(run_dir / "validation.csv", ISSUE_COLUMNS),
        tasks=run_vocabulary(run_dir),
        landmarks_quality=_optional_parquet(run_dir / "landmarks_quality.parquet"),
        landmarks_error=_optional_parquet(run_dir / "landmarks_error.parquet"),
        landmarks_adaptation=(pd.read_csv(run_dir / ADAPTATION_TABLE)
                              if (run_dir / ADAPTATION_TABLE).is_file() else None),
        face_generic=_optional_parquet(run_dir / "features" / GENERIC_FACE_TABLE),
        known_paths=run_known_paths(run_dir),
    )


def report_key(run_dir: Path, *, top: int) -> str:
    """Cache key of the report: input contents, settings, report code and templates."""
    names = list(REQUIRED) + [n for n in OPTIONAL if (run_dir / n).is_file()]
    inputs = {name: cache.file_digest(run_dir / name) for name in names}
    # Every template in the folder, so a shared piece (macros.html) is keyed like the pages.
    inputs.update({f"template:{t.name}": cache.file_digest(t) for t in sorted(TEMPLATES.glob("*.html"))})
    return cache.make_key(inputs=inputs, params={"top": top}, code=cache.code_digest(CODE_MODULES))


def _write_folder(folder: Path, files: dict, suffix: str, write) -> None:
    """Write ``files`` (name -> content) into ``folder`` and remove older ``*suffix`` files of
    an earlier report that this one does not have."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        write(folder / name, content)
    for stale in folder.glob(f"*{suffix}"):
        if stale.name not in files:
            stale.unlink()


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def run(args) -> int:
    if args.top < 1:
        raise ConfigError(f"--top must be at least 1; got {args.top}")
    run_dir = args.out
    key = report_key(run_dir, top=args.top) \
        if all((run_dir / n).is_file() for n in REQUIRED) else None
    target = run_dir / REPORT_FOLDER / REPORT_FILE
    if key is not None and cache.is_fresh(target, key):
        log.info("report: up to date (%s)", target)
        return 0
    inputs = load_inputs(run_dir)
    report = build_report(inputs, created=datetime.now().isoformat(timespec="seconds"),
                          version=__version__, top=args.top)
    folder = run_dir / REPORT_FOLDER
    _write_folder(folder / FIGURE_FOLDER, report.figures, ".png", write_png)
    _write_folder(folder / SUBJECT_FOLDER, report.subjects, ".html", _write_text)
    _write_text(target, report.html)
    cache.write_key(target, key)
    log.info("report: %d targets, %d figures, %d participant pages (%s)",
             len(inputs.metrics.get("targets", {})), len(report.figures), len(report.subjects),
             target)
    return 0


def main(argv=None) -> int:
    return stage_main("avstroke report", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())

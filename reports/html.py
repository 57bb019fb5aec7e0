"""The feature-importance report: one self-contained HTML file plus one page per participant.

``build_report`` turns a run's tables (``RunInputs``, loaded by ``pipeline.report``) into a
``Report``: the main page, the PNG figures and the per-participant pages. Every figure is embedded
as a base64 ``data:`` URI and all styling is inline, so each page opens offline and can be sent as
one file. Only pseudonymous participant ids appear: no paths, file names, recording ids or
images of faces; messages from the run's error tables are shown with every known path of the
manifest and anything path-like replaced (``core.privacy``).

Sections: cohort and data quality, methods, results with confidence intervals (per target,
model and modality set, with each target's evaluation plan and, for recovery, the comparison with
baseline severity), the fusion-versus-single-modality claim exactly as ``metrics.json`` records
it, permutation p-values, calibration, importances, change between visits (every followed-up
participant and a cohort figure of trajectories by outcome, ``reports.longitudinal``), landmark
error (when the run measured it), limitations and links to the participant pages. Each section is
built by its module in ``reports.sections``; this module renders them with the templates.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core.errors import ConfigError, TargetError
from core.privacy import scrub_paths
from core.visits import first_visits
from features.video.face_features import QUALITY_BAR
from reports.methods import methods_paragraphs, reference_list
from reports.sections.change import change_block
from reports.sections.cohort import (cohort_rows, failure_rows, quality_rows, task_rows,
                                     validation_rows)
from reports.sections.common import Figures, fmt, group_words, metric_words
from reports.sections.inputs import RunInputs
from reports.sections.landmarks import adaptation_block, landmark_block
from reports.sections.limitations import limitations
from reports.sections.participants import (SUBJECT_FOLDER, TOP_DEVIATIONS, against_controls,
                                           deviation_rows, subject_file, subject_predictions,
                                           subject_reasons_block)
from reports.sections.results import analyse_target

TEMPLATES = Path(__file__).resolve().parent / "templates"
TOP_FEATURES = 15


@dataclass
class Report:
    """The rendered report: main page, figures by file name, participant pages by file stem."""

    html: str
    figures: dict
    subjects: dict


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                              autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    environment.globals.update(fmt=fmt, metric_words=metric_words)
    return environment


def build_report(inputs: RunInputs, *, created: str, version: str, top: int = TOP_FEATURES) -> Report:
    """Render the report and the participant pages of one run.

    Parameters
    ----------
    inputs : RunInputs
        The run's tables.
    created : str
        Date and time of the report (shown on every page).
    version : str
        avstroke version.
    top : int
        Features shown per importance table and chart (>= 1).

    Returns
    -------
    Report
    """
    if top < 1:
        raise ConfigError(f"top must be at least 1; got {top}")
    if "targets" not in inputs.metrics:
        raise ConfigError("metrics.json has no 'targets' record; rerun `avstroke train`")
    figs = Figures()
    # Rows without a group are visits a participant never had (no recording behind them).
    inputs = replace(inputs, table=inputs.table[inputs.table["group"].notna()])
    cohort = cohort_rows(inputs.table, inputs.recordings, inputs.errors)
    task_groups, tasks = task_rows(inputs.recordings, inputs.tasks)
    sections, skipped = [], dict(inputs.metrics.get("skipped_targets", {}))
    for target in inputs.metrics["targets"]:
        try:
            sections.append(analyse_target(figs, inputs, target, top=top))
        except TargetError as reason:  # the table no longer supports a trained target
            skipped[target] = str(reason)
    landmarks = landmark_block(figs, inputs.landmarks_error)
    adaptation = adaptation_block(inputs)
    subjects = sorted(inputs.table["subject_id"].astype(str).unique())
    files = [subject_file(s) for s in subjects]
    if len(set(files)) != len(files):
        raise ConfigError("two participant ids map to the same page name after removing "
                          "characters unsafe in file names; make the ids distinct")
    z, changes = against_controls(inputs.recordings)
    change = change_block(figs, inputs, sections, changes)
    environment = _environment()
    html = environment.get_template("report.html").render(
        created=created, version=version, cohort=cohort, task_groups=task_groups, tasks=tasks,
        failures=failure_rows(inputs.errors, inputs.known_paths),
        validation=validation_rows(inputs.validation, inputs.known_paths),
        quality=quality_rows(inputs.landmarks_quality, inputs.recordings),
        quality_bar=QUALITY_BAR, methods=methods_paragraphs(inputs.metrics),
        references=reference_list(), sections=sections,
        skipped={target: scrub_paths(reason) for target, reason in skipped.items()},
        limitations=limitations(cohort, sections, landmarks["summary"], inputs.metrics),
        landmarks=landmarks, adaptation=adaptation, z_available=z is not None, change=change,
        change_files={s: f"{SUBJECT_FOLDER}/{subject_file(s)}" for s in change["patients"]},
        subjects=[{"id": s, "file": f"{SUBJECT_FOLDER}/{f}"} for s, f in zip(subjects, files)])
    template = environment.get_template("subject.html")
    group_of = first_visits(inputs.table).set_index("subject_id")["group"].astype(str)
    pages = {filename: template.render(
        created=created, version=version, subject=subject,
        group=group_words(group_of.get(subject, "")),
        predictions=subject_predictions(sections, subject),
        reasons=subject_reasons_block(sections, subject),
        deviations=[] if z is None else deviation_rows(z, subject, top=TOP_DEVIATIONS,
                                                       tasks=inputs.tasks),
        change=change["patients"].get(subject),
        z_available=z is not None) for subject, filename in zip(subjects, files)}
    return Report(html=html, figures=figs.files, subjects=pages)

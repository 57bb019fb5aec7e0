"""``avstroke validate``: check the manifest and every media file before any heavy work.

Writes ``RUN/manifest.validated.parquet`` (rows with absolute paths and a ``valid`` flag; its
metadata records the manifest's path, content digest and data root, which later runs check, and
the run's task vocabulary: NeuroFace's nine tasks and those of the ``--tasks`` file, with the
file's path and digest, ``pipeline.task_file``), ``RUN/media.parquet`` (stream facts per
recording, among them how much of each stream decodes and the sound's peak level) and
``RUN/validation.csv`` (every issue, named by file, row, column and recording id; its messages
name no media path, ``pipeline.privacy``, while the terminal and the log name the file). Exit
status 1 when any error was found. Within ``avstroke run``, errors confined to single recordings
(a missing, undecodable or mostly undecodable file, an unknown task) exclude those recordings and
are listed in ``RUN/errors.csv``; errors in the manifest as a whole, and any error in the tasks
file, stop the run. Warnings about a recording's media (a file that decodes partly, a silent
sound, no sound at all) keep the recording; they stay in ``RUN/validation.csv`` and the run's
summary lists them (``media_warnings``).
"""
from __future__ import annotations

import logging
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from core.privacy import scrub_paths
from core.spreadsheet import write_csv
from pipeline import cache, manifest, task_file
from pipeline.config import DEFAULT_MANIFEST
from pipeline.privacy import known_paths
from pipeline.runner import ItemResult, progress_enabled, record_errors
from pipeline.stage import stage_main

log = logging.getLogger("avstroke")
DESCRIPTION = "Check the manifest and its media; list every problem with its row."
FATAL_COLUMNS = ("recording_id", "subject_id", "group")
MEDIA_COLUMNS = ("video_path", "audio_path")
MAX_PRINTED = 40
# The people-facing table: an issue's media file is named on the terminal and in the log only.
ISSUE_COLUMNS = ["severity", "file", "row", "column", "recording_id", "message"]


def add_arguments(parser) -> None:
    parser.add_argument("--no-probe", action="store_true",
                        help="check the table only, without opening media files")
    parser.add_argument("--tasks", type=Path, default=None,
                        help="CSV of your own tasks (task,kind,face_profile,syllables_per_cycle,"
                             "description), added to NeuroFace's nine built-in tasks")


def is_fatal(issue: manifest.Issue) -> bool:
    """An error that concerns the manifest as a whole rather than one recording."""
    return issue.severity == "error" and (issue.row <= 1 or issue.column in FATAL_COLUMNS)


def issue_rows(issues: list[manifest.Issue], known: list[str]) -> pd.DataFrame:
    """The validation table: one row per issue, its message without ``known`` paths
    (``pipeline.privacy.known_paths``) or anything path-like."""
    return pd.DataFrame([{**asdict(i), "message": scrub_paths(i.message, known)} for i in issues],
                        columns=ISSUE_COLUMNS)


def execute(args) -> tuple[int, bool]:
    """Validate and write the run folder's manifest files.

    Returns
    -------
    n_errors : int
        Errors found (0 = clean).
    fatal : bool
        True when an error concerns the manifest as a whole or the tasks file, so no stage can
        run.
    """
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    progress = ((lambda it, total: tqdm(it, total=total, desc="validate", unit="file"))
                if progress_enabled() else None)
    source = args.manifest if args.manifest is not None else DEFAULT_MANIFEST
    vocabulary, task_issues = task_file.resolve_vocabulary(args.tasks)
    table, media, issues = manifest.validate(source, data_root=args.data_root,
                                             probe_media=not args.no_probe, progress=progress,
                                             require_group=not getattr(args, "allow_unknown_group", False),
                                             vocabulary=vocabulary, workers=args.workers)
    issues = task_issues + issues
    log.info("validate: media paths are read relative to %s",
             manifest.media_root(source, args.data_root))
    issue_table = issue_rows(issues, known_paths(table))
    write_csv(issue_table, out / "validation.csv")
    for issue in issues[:MAX_PRINTED]:
        (log.error if issue.severity == "error" else log.warning)(str(issue))
    if len(issues) > MAX_PRINTED:
        log.warning("... %d more issues in %s", len(issues) - MAX_PRINTED, out / "validation.csv")
    n_err = sum(i.severity == "error" for i in issues)
    # a task the file misdefines would make every recording of it, or their features, wrong
    fatal = [i for i in issues if is_fatal(i)] + [i for i in task_issues if i.severity == "error"]
    if fatal:
        log.error("validate: %d errors, %d warnings; the manifest cannot be used as it is",
                  n_err, len(issues) - n_err)
        return n_err, True
    bad = {}
    for issue in issues:
        if issue.severity == "error":
            bad.setdefault(issue.recording_id, []).append(issue)
    table["valid"] = ~table["recording_id"].isin(bad)
    table["validation_error"] = ["; ".join(f"{i.column}: {i.message}" for i in bad.get(r, []))
                                 for r in table["recording_id"]]
    cache.write_parquet(table, out / manifest.VALIDATED_FILE,
                        metadata={manifest.SOURCE_KEY: manifest.manifest_source(source, args.data_root),
                                  **task_file.vocabulary_metadata(vocabulary, args.tasks)})
    cache.write_parquet(media, out / "media.parquet")
    paths = table.set_index("recording_id")
    record_errors(out, "validate", [
        ItemResult(recording_id=rid, status="failed", file=failed_files(paths.loc[rid], found),
                   error="ValidationError",
                   message="; ".join(f"row {i.row}, {i.column}: {i.message}" for i in found))
        for rid, found in bad.items()])
    log.info("validate: %d recordings, %d valid, %d excluded, %d kept with media warnings; "
             "%d errors, %d warnings (%s)", len(table), int(table["valid"].sum()), len(bad),
             media_warnings(issue_table)["recording_id"].nunique(), n_err, len(issues) - n_err,
             out / "validation.csv")
    if not table["valid"].any():
        log.error("validate: no recording passed validation, so no stage can run; the reasons are "
                  "in %s", out / "validation.csv")
        return n_err, True
    return n_err, False


def failed_files(paths: pd.Series, found: list[manifest.Issue]) -> str:
    """The media files (absolute paths, '; '-joined) of one recording's validation errors.

    The files the errors are about, or, for errors about other cells (an unknown task), every
    media file of the recording. ``errors.csv`` names the recording by its id and removes these
    paths from its messages (``pipeline.privacy``); the log names them.
    """
    named = [c for c in MEDIA_COLUMNS if any(i.column == c for i in found)]
    return "; ".join(paths[c] for c in (named or MEDIA_COLUMNS) if paths[c])


def media_warnings(issue_table: pd.DataFrame) -> pd.DataFrame:
    """Warnings about recordings' media files (``validation.csv`` rows): the recordings stay in
    the run, but part of their media is missing, damaged or silent."""
    return issue_table[(issue_table["severity"] == "warning")
                       & issue_table["column"].isin(MEDIA_COLUMNS)]


def run(args) -> int:
    """Exit status 1 on any error, 0 when only warnings (or nothing) were found."""
    n_err, _ = execute(args)
    return 1 if n_err else 0


def validates_manifest(args) -> bool:
    """Validating is what this command does (see ``stage_main``)."""
    return True


def main(argv=None) -> int:
    return stage_main("avstroke validate", DESCRIPTION, add_arguments, run, argv,
                      validates_manifest=validates_manifest)


if __name__ == "__main__":
    sys.exit(main())

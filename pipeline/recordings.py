"""Shared plumbing of the per-recording stages (landmarks, face features, audio).

Each such stage turns the validated manifest into work items, runs them through the runner with a
per-recording cache file under ``RUN/cache/<kind>/<recording_id>.parquet``, gathers the one-row
feature files into one table, and ends with a summary and the error table.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pipeline.manifest import audio_source_column, load_validated
from pipeline.runner import ItemResult, exit_code, record_errors, summarise

log = logging.getLogger("avstroke")
MANIFEST_COLUMNS = ["recording_id", "subject_id", "group", "task", "visit"]


def cache_path(run_dir: Path, kind: str, recording_id: str) -> Path:
    """Per-recording cache file of one stage."""
    return Path(run_dir) / "cache" / kind / f"{recording_id}.parquet"


def valid_recordings(run_dir: Path) -> pd.DataFrame:
    """Validated manifest rows that passed validation."""
    table = load_validated(run_dir)
    return table[table["valid"]].reset_index(drop=True)


def audio_source(row: pd.Series) -> str:
    """The file the audio comes from: the sidecar if given, else the video (if it has sound)."""
    return row.get(audio_source_column(row), "") or ""


def one_row(values: dict, recording_id: str) -> pd.DataFrame:
    """A one-row feature table keyed by recording_id."""
    return pd.DataFrame([{"recording_id": recording_id, **values}])


def gather(run_dir: Path, kind: str, results: list[ItemResult]) -> pd.DataFrame:
    """Concatenate the one-row cache files of every recording that is done or cached."""
    ok = [r.recording_id for r in results if r.status in ("done", "cached")]
    frames = [pd.read_parquet(cache_path(run_dir, kind, rid)) for rid in ok]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"recording_id": []})


def drop_outputs(run_dir: Path, kind: str, results: list[ItemResult]) -> None:
    """Delete the cache files of the recordings that failed or were skipped in this run.

    Such a file was made from an earlier input (a replaced video, landmarks since lost); left in
    place, a later stage or run would take it for the output of the current one.
    """
    for r in results:
        if r.status in ("failed", "skipped"):
            cache_path(run_dir, kind, r.recording_id).unlink(missing_ok=True)


def recomputed(what: str, problem: str) -> str:
    """Warning for an item whose cache entry could not be read (see ``cache.freshness``), or ''."""
    return f"cached {what} {problem}, recomputed" if problem else ""


def finish(run_dir: Path, stage: str, results: list[ItemResult]) -> int:
    """Log the stage summary and warnings, write its rows of RUN/errors.csv, return the exit code."""
    log.info(summarise(stage, results))
    for r in results:
        if r.warning:
            log.warning("%s %s: %s", stage, r.recording_id, r.warning)
        if r.status == "failed":
            log.warning("%s %s: %s: %s", stage, r.recording_id, r.error, r.message)
    record_errors(run_dir, stage, results)
    return exit_code(results)

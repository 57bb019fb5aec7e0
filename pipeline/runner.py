"""Run one stage's per-recording work with caching, parallelism, progress and a failure table.

A stage hands ``run_items`` a list of items and a module-level work function. Each call either
finds its output up to date ("cached"), computes it ("done") or fails; a failure is recorded with
its reason and the other recordings go on. ``--workers N`` runs items in N local processes
(joblib); ``--dask ADDRESS`` sends the same work to a dask.distributed cluster through joblib's
dask backend. Each item's result depends only on the item, so the number of workers never
changes a result.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import joblib
import pandas as pd
from tqdm import tqdm

from core.privacy import scrub_paths
from core.spreadsheet import write_csv
from core.workers import quiet_worker_recycling
from pipeline.privacy import run_known_paths

log = logging.getLogger("avstroke")

STATUSES = ("done", "cached", "failed", "skipped")
# errors.csv is read by people: a recording is named by its id, never by its file.
ERROR_COLUMNS = ["stage", "recording_id", "error", "message"]


@dataclass(frozen=True)
class ItemResult:
    """What happened to one recording in one stage.

    ``warning`` is something the user should hear about an item that still succeeded (e.g. its
    unreadable cache entry was recomputed); it is returned rather than logged because work in
    worker processes cannot reach this process's log.
    ``file`` is the file the work read; it is not written to ``errors.csv``, only removed from
    the message there.
    """

    recording_id: str
    status: str
    file: str = ""
    error: str = ""
    message: str = ""
    warning: str = ""


def guarded(work: Callable[[dict], ItemResult], item: dict) -> ItemResult:
    """Call ``work(item)``; turn an exception into a 'failed' result that keeps its reason.

    The full traceback goes to the log, so a failure is never silent; the cohort run goes on.
    """
    try:
        return work(item)
    except Exception as exc:  # one bad recording must not stop the cohort; the reason is kept
        log.debug("%s failed:\n%s", item.get("recording_id"), traceback.format_exc())
        return ItemResult(recording_id=str(item.get("recording_id", "")), status="failed",
                          file=str(item.get("file", "")), error=type(exc).__name__,
                          message=str(exc))


@contextlib.contextmanager
def parallel_backend(dask_address: str | None):
    """Within this context, joblib's ``Parallel`` runs on the dask.distributed scheduler at
    ``dask_address`` (None: joblib's local processes, unchanged).

    The scheduler's workers must see the run folder and the media at the same paths as this
    process: they read their inputs and write their outputs there.
    """
    if dask_address is None:
        yield
        return
    from dask.distributed import Client

    with Client(dask_address), joblib.parallel_config(backend="dask"):
        yield


def progress_enabled() -> bool:
    """Progress bars only on an interactive terminal, so logs and CI output stay clean."""
    return sys.stderr.isatty()


def run_items(stage: str, items: list[dict], work: Callable[[dict], ItemResult], *,
              workers: int = 1, dask_address: str | None = None) -> list[ItemResult]:
    """Run ``work`` on every item, in order of the items, and return one result per item.

    Parameters
    ----------
    stage : str
        Stage name, for the progress bar.
    items : list of dict
        One dict per recording; must hold 'recording_id' (and 'file' for error messages).
    work : callable
        Module-level function ``work(item) -> ItemResult`` (module-level so it can be sent to
        worker processes).
    workers : int
        Local worker processes (1 = in this process).
    dask_address : str, optional
        Address of a dask.distributed scheduler; the work runs there instead.
    """
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    bar = tqdm(total=len(items), desc=stage, unit="rec", disable=not progress_enabled())
    results = []
    if workers == 1 and dask_address is None:
        for item in items:
            results.append(guarded(work, item))
            bar.update()
    else:
        with parallel_backend(dask_address), quiet_worker_recycling():
            parallel = joblib.Parallel(n_jobs=-1 if dask_address else workers,
                                       return_as="generator")
            for result in parallel(joblib.delayed(guarded)(work, item) for item in items):
                results.append(result)
                bar.update()
    bar.close()
    return results


def summarise(stage: str, results: Iterable[ItemResult]) -> str:
    """One line: counts per status, and failures grouped by error type."""
    results = list(results)
    counts = Counter(r.status for r in results)
    parts = [f"{counts.get(s, 0)} {s}" for s in STATUSES if counts.get(s, 0) or s != "skipped"]
    line = f"{stage}: " + ", ".join(parts)
    failed = Counter(r.error for r in results if r.status == "failed")
    if failed:
        line += " (" + ", ".join(f"{err}: {n}" for err, n in failed.most_common()) + ")"
    return line


def error_rows(stage: str, results: Iterable[ItemResult], known: list[str]) -> pd.DataFrame:
    """``ERROR_COLUMNS`` of the failed and skipped results, each message without ``known`` paths
    (``pipeline.privacy.known_paths``) or anything path-like."""
    return pd.DataFrame([{"stage": stage, "recording_id": r.recording_id, "error": r.error,
                          "message": scrub_paths(r.message, known)}
                         for r in results if r.status in ("failed", "skipped")], columns=ERROR_COLUMNS)


def record_errors(run_dir: str | Path, stage: str, results: Iterable[ItemResult]) -> Path:
    """Replace this stage's rows of ``RUN/errors.csv`` with its current failures and skips.

    Messages lose the paths of the run's manifest and of the files the items read; the rows of
    other stages are rewritten the same way, so a table from an older version loses its paths too.
    """
    results = list(results)
    path = Path(run_dir) / "errors.csv"
    known = run_known_paths(run_dir, [r.file for r in results])
    old = pd.read_csv(path, dtype=str).fillna("") if path.exists() else pd.DataFrame(columns=ERROR_COLUMNS)
    old = old.loc[old["stage"] != stage].reindex(columns=ERROR_COLUMNS)
    old["message"] = [scrub_paths(message, known) for message in old["message"]]
    new = error_rows(stage, results, known)
    table = pd.concat([old, new], ignore_index=True) if len(old) else new
    return write_csv(table, path)


def exit_code(results: list[ItemResult]) -> int:
    """0 unless every item that was attempted failed (then the stage itself is broken)."""
    attempted = [r for r in results if r.status != "skipped"]
    return 1 if attempted and all(r.status == "failed" for r in attempted) else 0

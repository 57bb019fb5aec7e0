"""Wall time, CPU time and peak memory of each stage of ``avstroke run`` on a NeuroFace-sized cohort.

Run from the repository root::

    .venv/bin/python benchmarks/bench_neuroface.py [--data DIR] [--run DIR] [--workers 2]

A smoke run, to check the script only (its figures mean nothing)::

    .venv/bin/python benchmarks/bench_neuroface.py --subjects 3 --stroke-subjects 3 --seconds 2 \\
        --tasks NSM_SPREAD,DDK_PA

The cohort is a phantom (``avstroke-phantom``) shaped like the NeuroFace release (Bandini et al.
2021: 11 ALS, 14 post-stroke, 11 controls, one session each, 261 videos at 640x480), with 20 s
clips at 50 fps. The release's task mix is known only in part: KISS, OPEN and SPREAD exist for
every participant, BROW and BIGSMILE for few. The generator records the same tasks for every
subject, so the cohort records the seven tasks other than BROW and BIGSMILE for all 36: 252 clips,
the nearest whole number of tasks per subject to the release's 7.25. The script prints the shape
it got next to the release's, group by group. The cohort is written once under ``--data`` (default
``data/bench_neuroface/``), one folder per shape; a later call reuses its clips.

Then ``avstroke manifest --layout neuroface`` and each stage of ``avstroke run --workers N`` run
as separate commands (``--from S --to S``) in a new run folder, so that each stage's figures are
its own: wall time, CPU time (user and system, of the command and every process it started and
waited for, from the operating system's accounting of finished children), the largest resident
memory of any one of those processes (not their sum), and for landmarks the frames tracked per
wall-clock second and per CPU second. landmarks-train is left out: ``avstroke run`` runs it only
with ``--adapt``. Each command pays Python's start-up and imports, so the total is a little
above one ``avstroke run`` of every stage. Generation is timed apart from the pipeline's total.
The commands' output goes to ``<run folder>.log``. Wall and CPU time depend on what else the
machine runs; give its load with the figures.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from peak_memory import maxrss_mb  # noqa: E402
from pipeline.config import STAGES  # noqa: E402

# The release's participants and videos per group (Bandini et al. 2021, IEEE JBHI).
RELEASE_SUBJECTS = {"HC": 11, "PS": 14, "ALS": 11}
RELEASE_VIDEOS = {"HC": 80, "PS": 105, "ALS": 76}
# Every task but BROW and BIGSMILE, which the release has for few participants.
RELEASE_TASKS = ("BBP_NORMAL", "DDK_PA", "DDK_PATAKA", "NSM_SPREAD", "NSM_KISS", "NSM_OPEN",
                 "NSM_BLOW")
CLIP_S = 20.0
# Stages an ``avstroke run`` without --adapt runs.
RUN_STAGES = tuple(name for name, _ in STAGES if name != "landmarks-train")
FRAME_STAGES = ("landmarks",)


def cohort_folder(data: Path, subjects: int, stroke_subjects: int, seconds: float,
                  tasks: tuple) -> Path:
    """The folder of one cohort shape under ``data``.

    Each shape has its own folder because the manifest takes every video it finds: a smaller
    cohort written over a larger one would keep the larger one's extra clips.
    """
    tag = hashlib.sha1(",".join(tasks).encode()).hexdigest()[:8]
    return data / f"hc{subjects}_ps{stroke_subjects}_als{subjects}_{seconds:g}s_tasks{tag}"


def timed(command: list[str], log) -> dict:
    """Run ``command`` from the repository root to its end, its output appended to ``log``.

    Returns
    -------
    dict
        ``wall_s`` (wall-clock seconds), ``cpu_s`` (user + system CPU seconds of the command and
        of every process it started and waited for), ``peak_mb`` (the largest resident memory of
        any one of them, MB) and ``status`` (exit status).
    """
    log.write(f"\n$ {' '.join(command)}\n")
    log.flush()
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                               env=dict(os.environ, PYTHONPATH=str(REPO)))
    # wait4, not wait: it gives this command's own rusage, descendants included
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    return {"wall_s": time.perf_counter() - start, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_mb": maxrss_mb(usage), "status": process.returncode}


def checked(name: str, result: dict, log_path: Path) -> dict:
    """``result`` of step ``name``, or exit naming the log when the step failed."""
    if result["status"] != 0:
        sys.exit(f"{name} exited with status {result['status']}; its output is in {log_path}")
    return result


def manifest_counts(manifest: Path) -> tuple[Counter, Counter]:
    """Subjects and recordings per group in ``manifest``."""
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    subjects = Counter(group for group, _ in {(r["group"], r["subject_id"]) for r in rows})
    return subjects, Counter(r["group"] for r in rows)


def shape_lines(subjects: Counter, clips: Counter) -> list[str]:
    """The cohort's shape next to the release's, group by group and in total."""
    lines = [f"{'group':<6} {'subjects':>8} {'release':>8} {'clips':>6} {'release':>8} {'diff':>6}"]
    for group in RELEASE_SUBJECTS:
        lines.append(f"{group:<6} {subjects[group]:>8d} {RELEASE_SUBJECTS[group]:>8d} "
                     f"{clips[group]:>6d} {RELEASE_VIDEOS[group]:>8d} "
                     f"{clips[group] - RELEASE_VIDEOS[group]:>+6d}")
    total_clips, release_clips = sum(clips.values()), sum(RELEASE_VIDEOS.values())
    lines.append(f"{'all':<6} {sum(subjects.values()):>8d} {sum(RELEASE_SUBJECTS.values()):>8d} "
                 f"{total_clips:>6d} {release_clips:>8d} {total_clips - release_clips:>+6d}")
    return lines


def frames_in(run: Path) -> int:
    """Video frames decoded in the run's recordings (``media.parquet``, written by validate, holds
    the facts of each ``video_path`` file under ``video_`` names)."""
    # imported after every timed command: a child forked from a large parent is charged its size
    import pandas as pd

    return int(pd.read_parquet(run / "media.parquet")["video_n_frames_decoded"].sum())


def table_line(name: str, result: dict, frames: int | None) -> str:
    """One row of the stage table; frame rates only where ``frames`` is given."""
    rates = (f"{frames / result['wall_s']:>9.1f} {frames / result['cpu_s']:>9.1f}"
             if frames else f"{'-':>9} {'-':>9}")
    return (f"{name:<16} {result['wall_s']:>8.1f} {result['cpu_s']:>8.1f} {rates} "
            f"{result['peak_mb']:>8.0f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bench_neuroface",
                        help="folder the phantom cohorts are kept in (default: %(default)s)")
    parser.add_argument("--run", type=Path,
                        help="new run folder to write and keep (default: a temporary folder under "
                             "--data, deleted at the end)")
    parser.add_argument("--workers", type=int, default=2, help="run's --workers (default: %(default)s)")
    parser.add_argument("--subjects", type=int, default=RELEASE_SUBJECTS["HC"],
                        help="controls and ALS subjects, each (default: %(default)s)")
    parser.add_argument("--stroke-subjects", type=int, default=RELEASE_SUBJECTS["PS"],
                        help="post-stroke subjects (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=CLIP_S,
                        help="clip length, s (default: %(default)s)")
    parser.add_argument("--tasks", default=",".join(RELEASE_TASKS),
                        help="comma-separated tasks every subject records (default: %(default)s)")
    args = parser.parse_args(argv)
    # the commands run from the repository root, so every path they get is absolute
    args.data = args.data.resolve()
    args.run = args.run and args.run.resolve()
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    cohort = cohort_folder(args.data, args.subjects, args.stroke_subjects, args.seconds, tasks)
    if args.run and args.run.exists():
        # a finished run's caches would make every stage instant
        sys.exit(f"--run {args.run} exists; give a new folder")
    args.data.mkdir(parents=True, exist_ok=True)
    run = args.run or Path(tempfile.mkdtemp(prefix="run_", dir=args.data)) / "run"
    run.parent.mkdir(parents=True, exist_ok=True)
    log_path = run.parent / f"{run.name}.log"
    print(f"cohort {cohort}; run {run}; --workers {args.workers}; "
          f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)

    with log_path.open("a") as log:
        generation = checked("avstroke-phantom", timed(
            [sys.executable, "-m", "phantom", "--out", str(cohort), "--subjects", str(args.subjects),
             "--stroke-subjects", str(args.stroke_subjects), "--followup-share", "0",
             "--seconds", str(args.seconds), "--tasks", ",".join(tasks),
             "--workers", str(args.workers)], log), log_path)
        print(f"generation: {generation['wall_s']:.1f} s wall, {generation['cpu_s']:.1f} s CPU "
              f"(clips written before are reused; not part of the pipeline's total)", flush=True)
        manifest = cohort / "manifest.csv"
        results = {"manifest": checked("manifest", timed(
            [sys.executable, "-m", "pipeline.cli", "manifest", "--layout", "neuroface",
             str(cohort), "--out", str(manifest)], log), log_path)}
        for stage in RUN_STAGES:
            command = [sys.executable, "-m", "pipeline.cli", "run", "--out", str(run),
                       "--from", stage, "--to", stage, "--workers", str(args.workers)]
            if stage == "validate":
                command += ["--manifest", str(manifest)]
            results[stage] = checked(stage, timed(command, log), log_path)
            print(f"  {stage} done in {results[stage]['wall_s']:.1f} s", flush=True)

    for line in shape_lines(*manifest_counts(manifest)):
        print(line)
    frames = frames_in(run)
    print(f"{len(tasks)} tasks of {args.seconds:g} s per subject, {frames} video frames")
    print(f"{'step':<16} {'wall s':>8} {'CPU s':>8} {'frames/s':>9} {'fr/CPU-s':>9} {'peak MB':>8}")
    for name, result in results.items():
        print(table_line(name, result, frames if name in FRAME_STAGES else None))
    total = {key: sum(r[key] for r in results.values()) for key in ("wall_s", "cpu_s")}
    total["peak_mb"] = max(r["peak_mb"] for r in results.values())
    print(table_line("total", total, None) +
          f"  (load average {os.getloadavg()[0]:.1f} at the end)")
    if args.run is None:
        shutil.rmtree(run.parent)
    else:
        print(f"run folder kept: {run}; commands' output: {log_path}")


if __name__ == "__main__":
    main()

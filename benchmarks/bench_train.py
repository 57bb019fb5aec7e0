"""Print the wall time and CPU time of ``avstroke train`` per target and per model.

The cohort is fixed and synthetic, shaped like the demo's (``make demo``): 24 subjects (12
post-stroke, all followed up to a second visit, 6 controls, 6 ALS), every feature of the registry
on three tasks of its kind (about 600 columns), a facial asymmetry and a voice measure that carry
the group, the SLP score and recovery, the rest noise. The targets and settings are the demo's
(``--targets`` below, the train defaults: 19 XGBoost permutations, 1000 bootstrap resamples).

Each target and model is trained by its own command (``python -m pipeline.train``) in its own run
folder, so the CPU time (the command and every worker process it started, from the operating
system's accounting of finished child processes) covers exactly that training, Python's start-up
and imports included. Wall and CPU time depend on what else the machine runs; give its load with
the figures.

Usage::

    .venv/bin/python benchmarks/bench_train.py [--workers 2] [--code DIR] [--keep DIR]

``--code DIR`` times the checkout in DIR instead of this one (e.g. an older version, for a
before/after comparison on the same cohort).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from features.registry import entries, load_all  # noqa: E402
from features.table import subject_table  # noqa: E402
from models.estimators import MODEL_NAMES  # noqa: E402

TARGETS = ("group:PS-vs-HC", "group:3class", "score:score_mean_tot", "recovery")
GROUPS = {"PS": 12, "HC": 6, "ALS": 6}
# Three tasks per kind of measure, as a demo visit records them.
FACE_TASKS = ("NSM_SPREAD", "NSM_KISS", "NSM_OPEN")
SOUND_TASKS = ("BBP_NORMAL", "DDK_PA", "DDK_PATAKA")
SEED = 0
# The columns that carry the truth; every other feature is noise.
ASYMMETRY = "face__commissure_excursion_asym_pct"
JITTER = "voice__jitter_local_pct"


def recordings(seed: int = SEED) -> pd.DataFrame:
    """Recording-level table of the fixed cohort: one row per subject, visit and task.

    Post-stroke subjects have a larger mouth-corner asymmetry (%) and jitter (%), which set their
    SLP total score (``score_mean_tot``, normal 5); their follow-up keeps a random share of the
    impairment, about half of them recovering. ALS subjects have more jitter only.
    """
    load_all()
    features = [f for f in entries() if f.modality != "meta"]
    rng = np.random.default_rng(seed)
    rows = []
    for group, n in GROUPS.items():
        for k in range(1, n + 1):
            subject = f"{group}{k:03d}"
            impairment = rng.uniform(0.5, 1.5) if group == "PS" else 0.0
            kept = rng.uniform(0.1, 0.9)
            age, female = float(rng.integers(45, 80)), float(rng.integers(0, 2))
            visits = ("02", "03") if group == "PS" else ("02",)
            for v, visit in enumerate(visits):
                severity = impairment * (kept if v else 1.0)
                jitter = 1.0 + 1.5 * severity + (0.8 if group == "ALS" else 0.0)
                for task in FACE_TASKS + SOUND_TASKS:
                    row = {"recording_id": f"{subject}_{visit}_{task}", "subject_id": subject,
                           "group": group, "task": task, "visit": visit,
                           "score_mean_tot": 5.0 + 10.0 * severity + rng.normal(0, 0.3),
                           "meta__age": age, "meta__sex_female": female}
                    face = task in FACE_TASKS
                    for f in features:
                        if (f.modality in ("face", "quality")) == face:
                            row[f.column] = rng.normal(10.0, 3.0)
                    if face:
                        row[ASYMMETRY] = rng.normal(8.0 + 20.0 * severity, 4.0)
                    else:
                        row[JITTER] = rng.normal(jitter, 0.3)
                    rows.append(row)
    return pd.DataFrame(rows)


def train_once(code: Path, run: Path, target: str, model: str, workers: int) -> tuple[float, float]:
    """Train one target with one model in a fresh command.

    Returns
    -------
    wall_s, cpu_s : float
        Wall-clock seconds of the command, and the CPU seconds (user + system) of the command and
        of every process it started.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline.train", "--out", str(run), "--targets", target,
                    "--models", model, "--workers", str(workers), "--seed", str(SEED)],
                   cwd=code, env=dict(os.environ, PYTHONPATH=str(code)), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="train's --workers (default: %(default)s)")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout to time (default: this one)")
    parser.add_argument("--keep", type=Path,
                        help="write the run folders into this new folder and keep them")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True)  # a new folder: a trained one would be skipped as up to date
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_train_"))
    table = subject_table(recordings())
    print(f"cohort: {table['subject_id'].nunique()} subjects, {len(table)} visits, "
          f"{sum('__' in c for c in table.columns)} feature columns; code {args.code.resolve()}; "
          f"--workers {args.workers}; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{'target':24} {'model':7} {'wall s':>8} {'CPU s':>8}")
    total_wall = total_cpu = 0.0
    for target in TARGETS:
        for model in MODEL_NAMES:
            run = root / f"{target.replace(':', '_')}__{model}"
            (run / "features").mkdir(parents=True, exist_ok=True)
            table.to_parquet(run / "features" / "table.parquet")
            wall, cpu = train_once(args.code.resolve(), run, target, model, args.workers)
            total_wall, total_cpu = total_wall + wall, total_cpu + cpu
            print(f"{target:24} {model:7} {wall:8.1f} {cpu:8.1f}", flush=True)
    print(f"{'all':24} {'':7} {total_wall:8.1f} {total_cpu:8.1f}  "
          f"(load average {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()

"""Peak memory of the landmark and audio stages on a short and a long clip.

Run from the repository root::

    .venv/bin/python benchmarks/bench_memory.py [--data DIR] [--seconds 20 600]

For each length it makes, once, a phantom clip of a post-stroke subject repeating /pa-ta-ka/ (640x480,
50 fps H.264 with 44.1 kHz PCM sound, the phantom's format; a DDK task runs every audio family:
eGeMAPS, voice quality, timing, DDK and the non-speech control), with a one-row manifest and a
validated run folder, all kept under ``--data`` (default ``data/bench_memory/``) so later runs
start at once. Then ``avstroke landmarks`` and ``avstroke audio`` each run from scratch (their
cached outputs deleted first) in a fresh process, which prints its peak resident memory
(``VmHWM``: the whole stage, imports and models included). The last lines give how much each
stage's peak rose from the shortest clip to the longest.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from peak_memory import peak_rss_mb  # noqa: E402

TASK = "DDK_PATAKA"
# Each stage's cache folders under RUN/cache, deleted so that the stage computes everything.
STAGES = {"landmarks": ("landmarks",), "audio": ("audio", "audio16k")}


def make_clip(folder: Path, seconds: float) -> Path:
    """Write one phantom clip of ``seconds`` and its manifest into ``folder``; return the manifest.

    The clip is the cohort's first post-stroke subject at baseline (seed 0), the phantom's
    defaults otherwise.
    """
    from phantom.design import BASELINE_VISIT
    from phantom.generate import (CODE_MODULES, PhantomParams, cohort_of, face_sources,
                                  make_clip as render, recording_id, source_for)
    from pipeline import neuroface
    from pipeline.cache import code_digest

    params = PhantomParams(subjects_per_group=2, stroke_subjects=2, clip_s=seconds)
    truth = next(s for s in cohort_of(params) if s.group == "PS" and s.visit == BASELINE_VISIT)
    render(folder, params, truth, TASK, source_for(truth, params, face_sources(None)),
           code_digest(CODE_MODULES))
    video = neuroface.video_path(folder, truth.group, truth.subject_id, truth.visit, TASK)
    manifest = folder / "manifest.csv"
    manifest.write_text("recording_id,subject_id,group,task,visit,video_path\n"
                        f"{recording_id(truth, TASK)},{truth.subject_id},{truth.group},{TASK},"
                        f"{truth.visit},{video.relative_to(folder).as_posix()}\n")
    return manifest


def prepared_run(folder: Path, seconds: float) -> Path:
    """The validated run folder of the clip of ``seconds`` (made and validated if absent)."""
    run = folder / "run"
    if not (run / "manifest.validated.parquet").is_file():
        manifest = make_clip(folder, seconds)
        subprocess.run([sys.executable, "-m", "pipeline.cli", "validate", "--manifest",
                        str(manifest), "--out", str(run)], check=True, cwd=REPO)
    return run


def measure(run: Path, stage: str) -> float:
    """Run ``stage`` from scratch on ``run`` in a fresh process; return its peak memory, MB."""
    for kind in STAGES[stage]:
        shutil.rmtree(run / "cache" / kind, ignore_errors=True)
    done = subprocess.run([sys.executable, __file__, "--stage", stage, "--run", str(run)],
                          check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def run_stage(stage: str, run: Path) -> dict:
    """Run one stage in this process (the child's side of ``measure``)."""
    from pipeline.cli import main as cli

    status = cli([stage, "--out", str(run)])
    if status != 0:
        raise SystemExit(f"avstroke {stage} exited with {status}")
    return {"stage": stage, "peak_rss_mb": peak_rss_mb()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bench_memory",
                        help="folder the clips and their run folders are kept in")
    parser.add_argument("--seconds", type=float, nargs="+", default=[20.0, 600.0],
                        help="clip lengths, s (default: %(default)s)")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.run)))
        return

    peaks: dict = {}
    print(f"{'stage':<10} {'clip s':>7} {'peak MB':>8}")
    for seconds in args.seconds:
        run = prepared_run(args.data / f"{TASK}_{seconds:g}s", seconds)
        for stage in STAGES:
            peaks[stage, seconds] = measure(run, stage)
            print(f"{stage:<10} {seconds:>7g} {peaks[stage, seconds]:>8.1f}", flush=True)
    short, long = min(args.seconds), max(args.seconds)
    for stage in STAGES:
        print(f"{stage}: peak rises {peaks[stage, long] - peaks[stage, short]:+.1f} MB "
              f"from {short:g} s to {long:g} s")


if __name__ == "__main__":
    main()

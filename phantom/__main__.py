"""``avstroke-phantom --out DIR`` (or ``python -m phantom``): write the synthetic NeuroFace-layout demo cohort with its truth."""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

from core.errors import ConfigError, check_option
from core.tasks import NEUROFACE
from phantom.generate import (TRUTH_TASKS, PhantomParams, generate,
                              truth_cohort_params)
from pipeline.stage import stage_main

log = logging.getLogger("avstroke")
DESCRIPTION = "Write a synthetic cohort with known truth, laid out like the NeuroFace release."
DEFAULT_OUT = Path("data/phantom")


def add_arguments(parser) -> None:
    defaults = PhantomParams()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder to write (default: %(default)s)")
    parser.add_argument("--subjects", type=int, default=defaults.subjects_per_group,
                        help="controls and ALS subjects, each (default: %(default)s)")
    parser.add_argument("--stroke-subjects", type=int, default=defaults.stroke_subjects,
                        help="post-stroke subjects (default: %(default)s, so that recovery can be "
                             "evaluated; give the same number as --subjects for equal groups)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=defaults.fps,
                        help="video frame rate in frames/s (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=defaults.clip_s,
                        help="clip length in seconds (default: %(default)s)")
    parser.add_argument("--followup-share", type=float, default=defaults.followup_share,
                        help="share of post-stroke subjects with a follow-up visit (default: %(default)s)")
    parser.add_argument("--annotate-followups", action="store_true",
                        help="write manual landmark files for follow-up visits too, as NeuroFace "
                             "does (default: first visits only, as a clinic that annotates a "
                             "patient once; the truth cohort annotates every visit)")
    parser.add_argument("--faces", type=Path, default=None,
                        help="folder of face photos with manual landmarks (*.png with an iBUG .pts "
                             "beside each); identities are made from these instead of the "
                             "default photo")
    parser.add_argument("--truth-cohort", action="store_true",
                        help="the cohort the truth checks use (needs --faces): smile, /pa/, "
                             "/pa-ta-ka/ and sentence clips long enough for several attempts, a "
                             "first frame at pts 1, manual frames at every visit, --subjects in "
                             "every group; --stroke-subjects, --tasks, --seconds, --followup-share "
                             "and --annotate-followups are then ignored")
    parser.add_argument("--tasks", default=",".join(NEUROFACE),
                        help="comma-separated task codes to record (default: all)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes (default: %(default)s)")


def run(args) -> int:
    if min(args.subjects, args.stroke_subjects) < 2:
        raise ConfigError(f"--subjects and --stroke-subjects must be at least 2, got {args.subjects} and "
                          f"{args.stroke_subjects}")
    if not 10 <= args.fps <= 240:
        raise ConfigError(f"--fps must be within 10-240, got {args.fps}")
    if not 1.5 <= args.seconds <= 120:
        raise ConfigError(f"--seconds must be within 1.5-120, got {args.seconds}")
    if not 0 <= args.followup_share <= 1:
        raise ConfigError(f"--followup-share must be within 0-1, got {args.followup_share}")
    if args.faces is not None and not args.faces.is_dir():
        raise ConfigError(f"--faces {args.faces}: folder not found")
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    for task in tasks:
        check_option("--tasks", task, NEUROFACE)
    if args.truth_cohort:
        if args.faces is None:
            raise ConfigError("--truth-cohort needs --faces: its identities come from photos with "
                              "manual landmarks, never from dlib's own fit")
        params = dataclasses.replace(truth_cohort_params(subjects_per_group=args.subjects,
                                                         seed=args.seed), fps=args.fps)
        tasks = TRUTH_TASKS
    else:
        params = PhantomParams(subjects_per_group=args.subjects, stroke_subjects=args.stroke_subjects,
                               followup_share=args.followup_share, seed=args.seed, fps=args.fps,
                               clip_s=args.seconds, annotate_followups=args.annotate_followups)
    start = time.monotonic()
    counts = generate(args.out, params, workers=args.workers, faces_dir=args.faces,
                      tasks=tasks)
    log.info("phantom: %d clips of %d subjects in %s (%.0f s)", counts["clips"], counts["subjects"],
             args.out, time.monotonic() - start)
    return 0


def main(argv=None) -> int:
    return stage_main("avstroke-phantom", DESCRIPTION, add_arguments, run, argv, common=False)


if __name__ == "__main__":
    sys.exit(main())

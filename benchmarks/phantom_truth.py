"""Print how well the features recover the truth of a phantom cohort dlib cannot have shaped.

Usage::

    .venv/bin/python benchmarks/phantom_truth.py [--faces ../shared/realdata/faces/lfpw]
                                                 [--subjects 6] [--seed 21]
                                                 [--run runs/phantom_truth] [-- RUN_OPTIONS]

Builds the truth cohort (``avstroke-phantom --truth-cohort``: identities from the hand-annotated
LFPW photos, balanced across groups; DDK clips of several attempts separated by pauses; sentence
clips of several sentences; a first frame at pts 1) in ``data/phantom_truth``, runs every stage up
to ``assemble`` in ``runs/phantom_truth`` with landmarks adapted to the cohort's annotated frames
(``TRUTH_RUN_OPTIONS``; both folders are reused when up to date), and prints the landmark error
against the true landmarks of the generic and the adapted models (held out, and every frame of
the smile clips), the DDK rate and rhythm against the true within-train values, the smile
asymmetry against the true left-right difference from the generic and from the adapted
landmarks, and the measured jitter against the injected one. ``tests/test_phantom_truth.py``
asserts the bars on a cohort of the same kind.

To compare landmarks-train options, give another run folder and the options after ``--``, e.g.
``--run runs/phantom_truth_os10 -- --oversampling 10``: they are added to ``avstroke run``. A copy
of the default run folder (``cp -a``) saves tracking the clips again; the cache keys make the
copy recompute exactly what the options change.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scipy.stats import spearmanr  # noqa: E402

from phantom.__main__ import main as phantom_command  # noqa: E402
from pipeline.cli import main as avstroke  # noqa: E402
from tests.oracle import (SMILE_TASK, TRUTH_RUN_OPTIONS, ddk_truth_figures,  # noqa: E402
                          heldout_mouth_figures, landmark_nme, recordings_with_truth,
                          smile_truth_figures)

DEFAULT_FACES = REPO.parent / "shared" / "realdata" / "faces" / "lfpw"


def build(faces: Path, subjects: int, seed: int, run: Path, run_options: list[str]
          ) -> tuple[Path, Path]:
    """Generate the cohort and run the stages up to assemble in ``run`` with
    ``TRUTH_RUN_OPTIONS`` and then ``run_options``; return (phantom, run) folders."""
    phantom = REPO / "data" / "phantom_truth"
    manifest = phantom.parent / "phantom_truth_manifest.csv"  # media paths relative to data/
    run.parent.mkdir(parents=True, exist_ok=True)
    if phantom_command(["--out", str(phantom), "--faces", str(faces), "--truth-cohort",
                        "--subjects", str(subjects), "--seed", str(seed)]) != 0:
        sys.exit("avstroke-phantom failed")
    steps = (["manifest", "--layout", "neuroface", str(phantom), "--out", str(manifest)],
             ["run", "--manifest", str(manifest), "--out", str(run), "--to", "assemble",
              "--workers", "2", *TRUTH_RUN_OPTIONS, *run_options])
    for step in steps:
        if avstroke(step) != 0:
            sys.exit(f"avstroke {' '.join(step)} failed")
    return phantom, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES,
                        help="photos with manual 68-point .pts files (default: %(default)s)")
    parser.add_argument("--subjects", type=int, default=6, help="subjects per group")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "phantom_truth",
                        help="run folder (default: %(default)s)")
    parser.add_argument("run_options", nargs=argparse.REMAINDER,
                        help="after --: further options of avstroke run, e.g. landmarks-train's "
                             "--oversampling 10")
    args = parser.parse_args()
    options = args.run_options[1:] if args.run_options[:1] == ["--"] else args.run_options
    phantom, run = build(args.faces, args.subjects, args.seed, args.run, options)
    table = recordings_with_truth(phantom, run)
    smile = table[table["task"] == SMILE_TASK]
    print(f"landmark error against the true landmarks, every frame of {len(smile)} smile clips: "
          f"generic {landmark_nme(phantom, run, smile['recording_id'], kind='landmarks_generic'):.4f}"
          f", adapted {landmark_nme(phantom, run, smile['recording_id']):.4f} inter-ocular "
          f"distances (the adapted models saw the clips' annotated frames)")
    held = heldout_mouth_figures(phantom, run)
    tasks = "; ".join(f"{task} {f['generic']:.4f} -> {f['adapted']:.4f} ({f['change_pct']:+.0f}%)"
                      for task, f in held["by_task"].items())
    print(f"mouth error against the true landmarks, subject models held out (each video's "
          f"{held['frames']} annotated frames fitted by a model trained on the subject's other "
          f"videos), {held['subjects']} subjects: generic {held['generic']:.4f} -> adapted "
          f"{held['adapted']:.4f} ({held['change_pct']:+.0f}%); by task: {tasks}")
    for task in ("DDK_PA", "DDK_PATAKA"):
        f = ddk_truth_figures(table, task)
        print(f"{task}, {f['clips']} clips: within-train syllable rate error median "
              f"{f['rate_error_median']:.1%}, max {f['rate_error_max']:.1%}; train count right in "
              f"{f['trains_right']:.0%}; Spearman(interval CV, true) = "
              f"{f['interval_cv_spearman']:.3f}; audio and video rates within 10% in "
              f"{f['video_within_10pct']:.0%} of clips (largest disagreement "
              f"{f['video_disagreement_max']:.1f}%; {f['video_missing']} clips without a video rate)")
    for name, f in (("generic", smile_truth_figures(recordings_with_truth(phantom, run, generic=True))),
                    ("adapted", smile_truth_figures(table))):
        medians = ", ".join(f"{g} {f['median_by_group'][g]:.1f}% "
                            f"(true {f['true_median_by_group'][g]:.1f}%)" for g in ("HC", "ALS", "PS"))
        print(f"{SMILE_TASK}, {f['visits']} visits, {name} landmarks: Spearman(asymmetry %, true "
              f"left-right difference) = {f['spearman_all']:.3f} over all visits, "
              f"{f['spearman_stroke']:.3f} over post-stroke visits; weaker side named in "
              f"{f['weak_side_right']:.0%} of post-stroke visits; median asymmetry {medians}; "
              f"measured / true (post-stroke median) {f['registered']:.2f}")
    sentence = table[table["task"] == "BBP_NORMAL"].dropna(subset=["voice__jitter_local_pct"])
    rho = spearmanr(sentence["voice__jitter_local_pct"], sentence["voice_jitter_pct"]).statistic
    print(f"BBP_NORMAL, {len(sentence)} clips: Spearman(measured jitter, injected jitter) = {rho:.3f}")


if __name__ == "__main__":
    main()

"""Print how close the models come to an oracle on the phantom's true latent parameters.

Usage (after a run that reached ``assemble`` on a phantom cohort)::

    .venv/bin/python benchmarks/phantom_models.py --phantom data/phantom --run runs/demo

For each target and model: the AUC (classes) or Spearman correlation (scores) of every modality
set with its subject-level bootstrap 95% CI, the oracle's on identical outer folds, and the gap;
the paired comparison of video+audio with the better single modality; and, with
``--permutations``, the mean AUC of nested CV rerun on shuffled labels. The target
``outcome:outcome_face_plus_voice`` is facial weakness plus voice jitter, so each modality holds
part of it (tests/oracle.py).

The figures in the README come from a cohort of 25 subjects per group (the one the slow tests
build)::

    .venv/bin/avstroke-phantom --out /tmp/p25/data --subjects 25 --seed 5 \
        --tasks NSM_SPREAD,DDK_PA,BBP_NORMAL
    .venv/bin/avstroke manifest --layout neuroface /tmp/p25/data --out /tmp/p25/manifest.csv
    .venv/bin/avstroke run --manifest /tmp/p25/manifest.csv --out /tmp/p25/run --to assemble
    .venv/bin/python benchmarks/phantom_models.py --phantom /tmp/p25/data --run /tmp/p25/run \
        --permutations 19
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.errors import TargetError  # noqa: E402
from tests.oracle import (FACE_PLUS_VOICE, ORACLE_SET, compare_with_oracle,  # noqa: E402
                          face_plus_voice_outcome, read_truth)

TARGETS = f"group:PS-vs-HC,group:3class,score:score_mean_tot,recovery,outcome:{FACE_PLUS_VOICE}"


def describe(spec: str, model: str, outcome: dict) -> list[str]:
    """Lines of text for one target and model."""
    scores = outcome["scores"].set_index("modality_set")
    oracle = scores.loc[ORACLE_SET, "estimate"]
    counts = ", ".join(f"class {k}: {v}" for k, v in outcome["class_counts"].items())
    lines = [f"{spec}, {model}: {outcome['n_subjects']} subjects"
             + (f" ({counts})" if counts else "") + f"; {outcome['metric']}"]
    for name, row in scores.iterrows():
        gap = "" if name == ORACLE_SET else f"   gap to oracle {oracle - row.estimate:+.3f}"
        lines.append(f"  {name:<12} {row.estimate:6.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]{gap}")
    headline = outcome["results"]["fusion_vs_unimodal"]
    if "difference" in headline:
        verdict = "better (CI excludes 0)" if headline["fusion_beats_unimodal"] else "not shown better"
        lines.append(f"  {headline['fusion_set']} vs {headline['unimodal_set']} ({headline['metric']}): "
                     f"difference {headline['difference']:+.3f} [{headline['ci_low']:+.3f}, "
                     f"{headline['ci_high']:+.3f}], {verdict}")
    for row in outcome["results"]["permutation"].itertuples():
        lines.append(f"  shuffled labels ({row.n_permutations} runs, set {row.modality_set}): mean "
                     f"{row.metric} {row.null_mean:.3f} (SD {row.null_sd:.3f}); observed "
                     f"{row.observed:.3f}, p = {row.p_value:.3f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantom", type=Path, default=REPO / "data" / "phantom")
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "demo")
    parser.add_argument("--targets", default=TARGETS)
    parser.add_argument("--models", default="xgb,fusion")
    parser.add_argument("--permutations", type=int, default=0,
                        help="label permutations of the 'all' set (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    table = pd.read_parquet(args.run / "features" / "table.parquet").merge(
        face_plus_voice_outcome(args.phantom), on=["subject_id", "visit"], how="left")
    truth = read_truth(args.phantom)
    for spec in args.targets.split(","):
        for model in args.models.split(","):
            try:
                outcome = compare_with_oracle(table, truth, spec, model=model,
                                              n_permutations=args.permutations,
                                              n_jobs=args.workers)
            except TargetError as error:
                print(f"{spec}, {model}: not evaluated: {error}")
                continue
            print("\n".join(describe(spec, model, outcome)), flush=True)


if __name__ == "__main__":
    main()

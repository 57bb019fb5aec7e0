"""Print how well a run's features recover the phantom's known truth.

Usage (after `make demo`)::

    .venv/bin/python benchmarks/phantom_truth.py --phantom data/phantom --run runs/demo

Prints, for the smile task (NSM_SPREAD), the Spearman correlation between the measured mouth-corner
asymmetry and the true facial weakness of the post-stroke visits, the share of them whose weaker
side is identified, and how much of the true asymmetry dlib registers; for DDK_PA and DDK_PATAKA,
the syllable-rate error against the true event rate; for the sentence task (BBP_NORMAL), the
Spearman correlation of measured and injected jitter; and the landmark error against the truth.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from features.video.landmarks import landmark_array  # noqa: E402
from pipeline.phantom.proof import recordings_with_truth  # noqa: E402


def truth_nme(phantom: Path, run: Path, recording_ids) -> float:
    errors = []
    for rid in recording_ids:
        tracked = landmark_array(pd.read_parquet(run / "cache" / "landmarks" / f"{rid}.parquet"))
        truth = landmark_array(pd.read_parquet(phantom / "truth" / "landmarks" / f"{rid}.parquet"))
        iod = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=1)
        errors.append(np.nanmean(np.linalg.norm(tracked - truth, axis=2).mean(axis=1) / iod))
    return float(np.mean(errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantom", type=Path, default=REPO / "data" / "phantom")
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "demo")
    args = parser.parse_args()
    table = recordings_with_truth(args.phantom, args.run)
    spread = table[table["task"] == "NSM_SPREAD"]
    stroke = spread[spread["group"] == "PS"]
    rho = spearmanr(stroke["face__commissure_excursion_asym_pct"], stroke["facial_weakness"]).statistic
    side = np.where(stroke["face__commissure_excursion_asym_signed"] < 0, "left", "right")
    registered = (stroke["face__commissure_excursion_asym_pct"] / (100 * stroke["facial_weakness"])).median()
    print(f"SPREAD, {len(stroke)} post-stroke visits: Spearman(asymmetry %, true weakness) = {rho:.3f}; "
          f"weaker side identified in {np.mean(side == stroke['weak_side']):.0%}; "
          f"measured / true asymmetry (median) = {registered:.2f}")
    for task in ("DDK_PA", "DDK_PATAKA"):
        ddk = table[table["task"] == task]
        error = (ddk["ddk__syllable_rate"] - ddk["event_rate_hz"]).abs() / ddk["event_rate_hz"]
        print(f"{task}, {len(ddk)} clips: syllable-rate error median {error.median():.1%}, max {error.max():.1%}; "
              f"audio-video rate disagreement max {ddk['ddk__video_rate_disagreement_pct'].abs().max():.1f}%")
    sentence = table[table["task"] == "BBP_NORMAL"].dropna(subset=["voice__jitter_local_pct"])
    rho_j = spearmanr(sentence["voice__jitter_local_pct"], sentence["voice_jitter_pct"]).statistic
    print(f"BBP_NORMAL, {len(sentence)} clips: Spearman(measured jitter, injected jitter) = {rho_j:.3f}")
    print(f"landmark NME against the phantom's truth, every frame of {len(spread)} SPREAD clips: "
          f"{truth_nme(args.phantom, args.run, spread['recording_id']):.4f} inter-ocular distances")


if __name__ == "__main__":
    main()

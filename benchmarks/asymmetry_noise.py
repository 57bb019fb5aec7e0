"""How the smile asymmetry index behaves as landmark noise and movement amplitude vary.

Usage::

    .venv/bin/python benchmarks/asymmetry_noise.py [--draws 15]

A smile (NSM_SPREAD, 4 s, 50 fps) is animated with the phantom's motion model on a neutral face,
with a one-sided weakness (0, 0.2 or 0.5 of the weak side's range lost) and a bilateral loss of
range (0, 40, 70 or 85%: the movement's amplitude is 1 minus that). Noise is added to every
landmark coordinate, either jitter (independent from frame to frame) or drift (Gaussian-filtered
over 0.1 s), with an SD of 0.01, 0.02 or 0.04 inter-ocular distances. For each cell the script
prints the median over ``--draws`` noise draws of

- ``ratio``: the previous index, |L - R| / max(L, R) of the Emotrics commissure excursions (the
  corner's distance from the lower-lip midline point, peak minus rest), in percent;
- ``corrected``: ``face__commissure_excursion_asym_pct`` as avstroke computes it now (each corner's
  travel from its own rest, its left-right difference shrunk by the landmark noise the clip
  shows; see ``features.video.face_features``);
- ``noise``: ``face__commissure_excursion_asym_noise_pct``, the noise the clip itself reports.

The truth is 0 for no weakness, 20 for 0.2 and 50 for 0.5 at every amplitude.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.tasks import NEUROFACE  # noqa: E402
from features.video.face_features import PROFILES, face_features, rest_and_peak_frames  # noqa: E402
from features.video.normalise import normalise_frames  # noqa: E402
from features.video.signals import frame_signals  # noqa: E402
from phantom import face, motion  # noqa: E402
from phantom.schedule import build_schedule  # noqa: E402

FPS = 50.0
SECONDS = 4.0
WEAKNESS = (0.0, 0.2, 0.5)
BILATERAL = (0.0, 0.4, 0.7, 0.85)
NOISE_SD_IOD = (0.01, 0.02, 0.04)
NOISE_KINDS = {"jitter": 0.0, "drift": 0.1}


def smile_track(neutral: np.ndarray, *, weakness: float, bilateral: float) -> np.ndarray:
    """Landmarks (frames, 68, 2) of one smile clip with a right-sided weakness."""
    schedule = build_schedule("NSM_SPREAD", duration_s=SECONDS, rate_hz=5.0, rate_cv=0.0,
                              fatigue=0.0, movement_s=1.1, rng=np.random.default_rng(0))
    impairment = motion.FaceImpairment(weak_side="right" if weakness else None,
                                       weakness=weakness, bilateral=bilateral)
    n_frames = int(SECONDS * FPS)
    return neutral + motion.task_displacements(schedule, impairment=impairment,
                                               neutral_landmarks=neutral, fps=FPS,
                                               n_frames=n_frames)


def with_noise(track: np.ndarray, sd_px: float, smooth_s: float, rng) -> np.ndarray:
    noise = rng.standard_normal(track.shape)
    if smooth_s > 0:
        noise = gaussian_filter1d(noise, sigma=smooth_s * FPS, axis=0)
        noise /= noise.std()
    return track + sd_px * noise


def previous_ratio(points: np.ndarray, times: np.ndarray) -> float:
    """|L - R| / max(L, R) x 100 of the Emotrics excursions, as avstroke computed it before."""
    normalised, _ = normalise_frames(points)
    frames, _ = frame_signals(normalised)
    profile = PROFILES[NEUROFACE["NSM_SPREAD"].face_profile]
    rest, peak, _ = rest_and_peak_frames(normalised, times, region=profile.region,
                                         main_signal=frames["lip_width"].to_numpy(), polarity=1)
    sides = [abs(np.median(frames[f"commissure_excursion_{s}"][peak])
                 - np.median(frames[f"commissure_excursion_{s}"][rest])) for s in ("left", "right")]
    return 100.0 * abs(sides[0] - sides[1]) / max(sides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=15, help="noise draws per cell")
    args = parser.parse_args()
    neutral = np.asarray(face.astronaut_source()[1], dtype=float)
    iod_px = face.inter_ocular_distance(neutral)
    times = np.arange(int(SECONDS * FPS)) / FPS
    rng = np.random.default_rng(0)
    rows = []
    for weakness in WEAKNESS:
        for bilateral in BILATERAL:
            clean = smile_track(neutral, weakness=weakness, bilateral=bilateral)
            for kind, smooth_s in NOISE_KINDS.items():
                for sd in NOISE_SD_IOD:
                    for _ in range(args.draws):
                        points = with_noise(clean, sd * iod_px, smooth_s, rng)
                        row, _ = face_features(points, times, task=NEUROFACE["NSM_SPREAD"],
                                               face_found=np.ones(len(times), bool))
                        rows.append({"noise": kind, "sd_iod": sd, "weakness": weakness,
                                     "amplitude": 1 - bilateral,
                                     "ratio": previous_ratio(points, times),
                                     "corrected": row["face__commissure_excursion_asym_pct"],
                                     "noise_pct": row["face__commissure_excursion_asym_noise_pct"]})
    table = pd.DataFrame(rows).fillna({"corrected": 0.0})
    summary = table.groupby(["noise", "weakness", "amplitude", "sd_iod"])[
        ["ratio", "corrected", "noise_pct"]].median().unstack("sd_iod").round(1)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(summary.to_string())
    symmetric = table[table["weakness"] == 0]
    print(f"\nsymmetric smiles, all amplitudes and noise: median previous index "
          f"{symmetric['ratio'].median():.1f}%, median corrected index "
          f"{symmetric['corrected'].median():.1f}% ({len(symmetric)} clips)")


if __name__ == "__main__":
    main()

"""The phantom cohort's design: who the subjects are and what is true about them.

Every latent value is drawn here from a generator seeded by (cohort seed, subject number), so a
subject's truth does not change when the cohort grows. Group decides only the impairment; sex,
age, identity, lighting, room and recording settings are drawn independently of group, so only the
impairment itself separates the groups.

Scales (all fractions in [0, 1]):

- ``facial_weakness``: one-sided loss of movement excursion (post-stroke), on ``weak_side``;
- ``bilateral``: loss of range and speed on both sides (ALS; small in others);
- ``dysarthria``: speech motor severity, driving syllable rate, rhythm, fatigue and voice quality.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core.tasks import GROUPS

ID_PREFIX = {"HC": "N", "PS": "S", "ALS": "A"}
BASELINE_VISIT = "02"
FOLLOWUP_VISIT = "03"
RECOVERED_IMPROVEMENT = 0.55


@dataclass(frozen=True)
class SubjectTruth:
    """Latent truth of one subject at one visit."""

    subject_id: str
    group: str
    visit: str
    sex: str
    age: float
    weak_side: str  # 'left', 'right' or '' (subject's own side)
    facial_weakness: float
    bilateral: float
    natural_asymmetry: float
    dysarthria: float
    ddk_rate_hz: float
    speech_rate_hz: float
    rate_cv: float
    fatigue: float
    movement_s: float
    improvement: float  # fractional recovery at follow-up (NaN where no follow-up)
    recovered: float  # 1.0 / 0.0, NaN where no follow-up
    identity_seed: int
    index: int


def number_in_group(truth: SubjectTruth) -> int:
    """The subject's 1-based number within its group (S003 is 3)."""
    return int(truth.subject_id[len(ID_PREFIX[truth.group]):])


def subject_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """Generator for one subject's draws; ``stream`` separates independent purposes."""
    return np.random.default_rng([seed, index, stream])


def _speech_and_motion(dysarthria: float, slowing: float, rng: np.random.Generator) -> dict:
    """Task-timing parameters from the severities (documented monotonic mappings)."""
    return {
        "ddk_rate_hz": float(np.clip(6.3 - 3.2 * dysarthria + rng.normal(0, 0.25), 2.0, 7.5)),
        "speech_rate_hz": float(np.clip(5.0 - 2.2 * dysarthria + rng.normal(0, 0.2), 2.0, 6.0)),
        "rate_cv": float(0.04 + 0.22 * dysarthria),
        "fatigue": float(np.clip(0.04 + 0.35 * max(dysarthria, slowing) + rng.normal(0, 0.02), 0, 0.6)),
        "movement_s": float(1.0 * (1 + 0.9 * slowing)),
    }


def draw_subject(group: str, number: int, index: int, *, seed: int) -> SubjectTruth:
    """Draw one subject's baseline truth.

    Parameters
    ----------
    group : str
        'HC', 'PS' or 'ALS'.
    number : int
        1-based number within the group (names the subject, e.g. S003).
    index : int
        0-based index in the whole cohort (seeds the subject's draws).
    seed : int
        Cohort seed.
    """
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, got {group!r}")
    rng = subject_rng(seed, index)
    # drawn before anything group-specific, so they are the same whatever the group
    sex = str(rng.choice(["M", "F"]))
    age = float(np.round(rng.uniform(40, 82), 0))
    identity_seed = int(rng.integers(2**31))
    weak_side, weakness, asym = "", 0.0, float(rng.uniform(-0.06, 0.06))
    if group == "PS":
        weak_side = str(rng.choice(["left", "right"]))
        weakness = float(rng.uniform(0.25, 0.8))
        asym = 0.0
        bilateral = float(rng.uniform(0.0, 0.1))
        dysarthria = float(rng.uniform(0.1, 0.7))
    elif group == "ALS":
        bilateral = float(rng.uniform(0.25, 0.6))
        dysarthria = float(rng.uniform(0.3, 0.9))
    else:
        bilateral = float(rng.uniform(0.0, 0.05))
        dysarthria = float(rng.uniform(0.0, 0.1))
    slowing = max(bilateral, 0.5 * weakness)
    return SubjectTruth(
        subject_id=f"{ID_PREFIX[group]}{number:03d}", group=group, visit=BASELINE_VISIT, sex=sex,
        age=age, weak_side=weak_side, facial_weakness=weakness, bilateral=bilateral,
        natural_asymmetry=asym, dysarthria=dysarthria, improvement=float("nan"),
        recovered=float("nan"), identity_seed=identity_seed, index=index,
        **_speech_and_motion(dysarthria, slowing, rng))


def recovery(baseline: SubjectTruth, *, seed: int) -> tuple[float, float]:
    """Fractional improvement by follow-up and whether it counts as recovered.

    Improvement falls with baseline facial weakness and dysarthria (worse at baseline, less
    recovery) and with age, plus noise, so recovery is predictable from baseline recordings but
    not exactly.
    """
    rng = subject_rng(seed, baseline.index, stream=1)
    improvement = (1.1 - 0.7 * baseline.facial_weakness - 0.45 * baseline.dysarthria
                   - 0.004 * (baseline.age - 60) + rng.normal(0, 0.08))
    improvement = float(np.clip(improvement, 0.0, 0.95))
    return improvement, float(improvement >= RECOVERED_IMPROVEMENT)


def followup(baseline: SubjectTruth, *, seed: int) -> SubjectTruth:
    """The same subject at the follow-up visit, its impairments reduced by its improvement."""
    improvement, recovered = recovery(baseline, seed=seed)
    keep = 1.0 - improvement
    weakness = baseline.facial_weakness * keep
    dysarthria = baseline.dysarthria * keep
    bilateral = baseline.bilateral * keep
    rng = subject_rng(seed, baseline.index, stream=2)
    return replace(baseline, visit=FOLLOWUP_VISIT, facial_weakness=weakness, bilateral=bilateral,
                   dysarthria=dysarthria, improvement=improvement, recovered=recovered,
                   **_speech_and_motion(dysarthria, max(bilateral, 0.5 * weakness), rng))


def draw_cohort(*, subjects_per_group: int, followup_share: float, seed: int,
                stroke_subjects: int | None = None) -> list[SubjectTruth]:
    """All subject-visits: every subject at baseline, a share of post-stroke ones at follow-up.

    ``subjects_per_group`` controls and ALS subjects and ``stroke_subjects`` post-stroke ones
    (default: as many as the other groups). Subjects are drawn group by group in ``GROUPS``
    order, so a post-stroke subject's truth depends on the number of controls, not on the size of
    its own group. The baseline truth of a subject at follow-up carries its improvement and
    recovered flag too, so a recovery model can be trained on baseline rows alone.
    """
    stroke_subjects = subjects_per_group if stroke_subjects is None else stroke_subjects
    if min(subjects_per_group, stroke_subjects) < 2:
        raise ValueError(f"every group needs at least 2 subjects, got {subjects_per_group} per group and "
                         f"{stroke_subjects} post-stroke")
    cohort, index = [], 0
    for group in GROUPS:
        for number in range(1, (stroke_subjects if group == "PS" else subjects_per_group) + 1):
            cohort.append(draw_subject(group, number, index, seed=seed))
            index += 1
    stroke = [s for s in cohort if s.group == "PS"]
    n_follow = int(round(followup_share * len(stroke)))
    visits = []
    for subject in stroke[:n_follow]:
        later = followup(subject, seed=seed)
        visits.append(later)
        cohort[cohort.index(subject)] = replace(subject, improvement=later.improvement,
                                                recovered=later.recovered)
    return cohort + visits

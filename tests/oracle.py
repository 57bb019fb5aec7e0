"""Proofs on the phantom: measured features beside the truth behind them, the models' gap to an
oracle that sees the true latent parameters, and a label-permutation run.

The phantom writes the truth behind every subject and visit (``truth/subjects.csv``). An oracle
model is the same estimator fitted, under the same outer folds, on those latent severities
instead of measured features: what a perfect measurement would allow on this cohort, given the
rater noise in the scores and the random part of recovery. A measured model close to the oracle
has lost little to landmark and acoustic measurement; one far below it has.

Fusion can only beat the best single modality where each modality holds information the other
lacks. In the phantom, dysarthria is both heard and seen (slow, irregular lip movement), so
video alone already carries the group and the SLP scores. ``FACE_PLUS_VOICE`` is an outcome
built from two truths that only one modality can see each: facial weakness (video; the voice is
unaffected by it) plus the speaker's pitch (audio; drawn from sex and the individual only,
independently of every movement parameter and of the face, which the phantom takes from photos
regardless of sex). Jitter would not do: dysarthria raises it and also slows the lips, so video
sees much of it too.

The permutation run refits the whole nested CV on subject-wise shuffled labels; with no leak
from test subjects into training, its AUC centres on 0.5.

The latents enter the model as metadata columns (``meta__true_<name>``), because they are known
per subject and visit and belong to no task.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from core.errors import TargetError
from core.ibug68 import inter_ocular_px
from features.video.landmark_error import face_errors
from features.video.landmarks import landmark_array
from models.cv import make_outer_splits, n_folds_for
from models.evaluate import nested_cv
from models.modalities import modality_sets
from models.targets import build_target

# The severities the phantom's media, scores and recovery are generated from; age and sex are
# measured metadata and already in the table.
LATENTS = ("facial_weakness", "bilateral", "dysarthria", "natural_asymmetry", "rate_cv", "fatigue",
           "movement_s")
ORACLE_SET = "oracle"
TRUTH_PREFIX = "meta__true_"
FACE_PLUS_VOICE = "outcome_face_plus_voice"
# Ranking quality of every target type: AUC for classes, Spearman for scores (the terms).
HEADLINE_METRIC = {"binary": "roc_auc", "multiclass": "roc_auc", "regression": "spearman"}


def _truth_table(phantom: Path, name: str) -> pd.DataFrame:
    """One CSV of the phantom's ``truth/`` folder, ids and visits as text."""
    path = Path(phantom) / "truth" / name
    if not path.is_file():
        raise TargetError(f"{path} not found: the model proofs need a phantom cohort's truth "
                          f"(written by `avstroke-phantom`)")
    return pd.read_csv(path, dtype={"visit": str, "subject_id": str})


# The clip truth the feature checks compare with (``truth/recordings.csv``).
CLIP_TRUTH = ("event_rate_hz", "event_interval_cv", "n_trains", "voice_jitter_pct",
              "motion_corner_excursion_left", "motion_corner_excursion_right")
SMILE_TASK = "NSM_SPREAD"


# How the truth cohort is run (tests and benchmark): landmarks adapted to its own annotated frames,
# subject models only, because its subjects share four photos, so a subject held out from a cohort
# model would be no unseen face; three folds of videos instead of one per video keep the training
# to a few minutes.
TRUTH_RUN_OPTIONS = ("--adapt", "--no-cohort-model", "--subject-folds", "3")
# Written by landmarks-train and face-features in a run with adapted landmarks (``run --adapt``).
ADAPTATION_FRAMES = "landmarks_adaptation_frames.parquet"
GENERIC_FACE_FEATURES = Path("features") / "face_generic.parquet"


def recordings_with_truth(phantom: Path, run: Path, *, generic: bool = False) -> pd.DataFrame:
    """One row per recording: the run's measured features beside the subject's latent truth
    (``truth/subjects.csv``) and the clip's truth (``CLIP_TRUTH``).

    Parameters
    ----------
    phantom : Path
        Folder written by ``avstroke-phantom``.
    run : Path
        Run folder that reached ``assemble`` on that phantom's manifest.
    generic : bool
        In a run with adapted landmarks, take the face features from the generic model's
        landmarks (``features/face_generic.parquet``, the "before") instead of those in use.
    """
    recordings = pd.read_parquet(Path(run) / "features" / "recordings.parquet")
    if generic:
        before = pd.read_parquet(Path(run) / GENERIC_FACE_FEATURES)
        face = [c for c in before.columns if c.startswith("face__")]
        recordings = recordings.drop(columns=face).merge(before[["recording_id", *face]],
                                                         on="recording_id")
    subjects = _truth_table(phantom, "subjects.csv").drop(columns="group")
    clips = _truth_table(phantom, "recordings.csv")
    return recordings.merge(subjects, on=["subject_id", "visit"]).merge(
        clips[["recording_id", *CLIP_TRUTH]], on="recording_id")


def true_asymmetry_pct(table: pd.DataFrame) -> pd.Series:
    """The true left-right difference of the mouth corners' travel, |L - R| / max(L, R) x 100."""
    left = table["motion_corner_excursion_left"]
    right = table["motion_corner_excursion_right"]
    return 100.0 * (left - right).abs() / np.maximum(left, right)


def ddk_truth_figures(table: pd.DataFrame, task: str) -> dict:
    """How one DDK task's features recover the truth, from ``recordings_with_truth``.

    Returns
    -------
    dict
        ``clips``; ``rate_error_max`` and ``rate_error_median`` (|measured - true| / true
        within-train syllable rate); ``trains_right`` (share of clips whose train count is
        right); ``interval_cv_spearman`` (measured against true within-train CV);
        ``video_disagreement_max`` (|audio - video rate| in % of the video rate),
        ``video_within_10pct`` (share of clips where they agree within 10%) and
        ``video_missing`` (clips without a video rate).
    """
    ddk = table[table["task"] == task]
    error = (ddk["ddk__syllable_rate"] - ddk["event_rate_hz"]).abs() / ddk["event_rate_hz"]
    disagreement = ddk["ddk__video_rate_disagreement_pct"].abs()
    return {"clips": len(ddk), "rate_error_max": float(error.max()),
            "rate_error_median": float(error.median()),
            "trains_right": float((ddk["ddk__train_count"] == ddk["n_trains"]).mean()),
            "interval_cv_spearman": float(spearmanr(ddk["ddk__interval_cv"],
                                                    ddk["event_interval_cv"]).statistic),
            "video_disagreement_max": float(disagreement.max()),
            "video_within_10pct": float((disagreement < 10).mean()),
            "video_missing": int(disagreement.isna().sum())}


def smile_truth_figures(table: pd.DataFrame) -> dict:
    """How the smile asymmetry recovers the truth, from ``recordings_with_truth``.

    A clip whose corners did not move measurably (asymmetry NaN) counts as symmetric (0).

    Returns
    -------
    dict
        ``visits``; ``spearman_all`` (measured ``face__commissure_excursion_asym_pct`` against
        ``true_asymmetry_pct`` over every visit) and ``spearman_stroke`` (post-stroke visits);
        ``weak_side_right`` (share of post-stroke visits whose signed index points to the
        weak side); ``median_by_group`` (measured, %), ``true_median_by_group`` (%), and
        ``registered`` (median measured / true asymmetry of the post-stroke visits).
    """
    smile = table[table["task"] == SMILE_TASK]
    measured = smile["face__commissure_excursion_asym_pct"].fillna(0.0)
    truth = true_asymmetry_pct(smile)
    stroke = smile["group"] == "PS"
    signed = smile.loc[stroke, "face__commissure_excursion_asym_signed"]
    found = np.where(signed < 0, "left", np.where(signed > 0, "right", ""))
    return {"visits": len(smile),
            "spearman_all": float(spearmanr(measured, truth).statistic),
            "spearman_stroke": float(spearmanr(measured[stroke], truth[stroke]).statistic),
            "weak_side_right": float(np.mean(found == smile.loc[stroke, "weak_side"])),
            "median_by_group": measured.groupby(smile["group"]).median().to_dict(),
            "true_median_by_group": truth.groupby(smile["group"]).median().to_dict(),
            "registered": float((measured[stroke] / truth[stroke]).median())}


def heldout_mouth_figures(phantom: Path, run: Path) -> dict:
    """Mouth error of the generic model and of the subject models held out (each video's
    annotated frames fitted by a model trained on the subject's other videos), both against the
    true landmarks, from a run's ``landmarks_adaptation_frames.parquet``.

    Returns
    -------
    dict
        ``frames``, ``subjects``; ``generic`` and ``adapted`` (mean over subjects of the mean lips
        error, inter-ocular distances of the true landmarks); ``change_pct`` (adapted against
        generic, %); ``by_task`` (task -> the same three figures).
    """
    frames = pd.read_parquet(Path(run) / ADAPTATION_FRAMES)
    scored = []
    for rid, part in frames[frames["model"] == "subject"].groupby("recording_id"):
        rows = part["frame"].to_numpy()
        truth = landmark_array(pd.read_parquet(Path(phantom) / "truth" / "landmarks"
                                               / f"{rid}.parquet"))[rows]
        generic = landmark_array(pd.read_parquet(Path(run) / "cache" / "landmarks_generic"
                                                 / f"{rid}.parquet"))[rows]
        scored.append(part.assign(
            generic_mouth=face_errors(generic, truth)["lips"].to_numpy(),
            adapted_mouth=face_errors(landmark_array(part), truth)["lips"].to_numpy()))
    frames = pd.concat(scored, ignore_index=True)

    def summary(part: pd.DataFrame) -> dict:
        means = part.groupby("subject_id")[["generic_mouth", "adapted_mouth"]].mean().mean()
        return {"generic": float(means["generic_mouth"]), "adapted": float(means["adapted_mouth"]),
                "change_pct": float(100 * (means["adapted_mouth"] / means["generic_mouth"] - 1))}

    return {"frames": len(frames), "subjects": int(frames["subject_id"].nunique()),
            **summary(frames),
            "by_task": {task: summary(part) for task, part in frames.groupby("task")}}


def landmark_nme(phantom: Path, run: Path, recording_ids, *, kind: str = "landmarks") -> float:
    """Mean over recordings of the mean landmark error against the truth, every frame, in
    inter-ocular distances of the true landmarks; ``kind`` names the landmark tables
    (``landmarks``: those in use; ``landmarks_generic``: the generic model's in a run with
    adapted landmarks)."""
    errors = []
    for rid in recording_ids:
        tracked = landmark_array(pd.read_parquet(Path(run) / "cache" / kind / f"{rid}.parquet"))
        truth = landmark_array(pd.read_parquet(Path(phantom) / "truth" / "landmarks" / f"{rid}.parquet"))
        iod = inter_ocular_px(truth)
        errors.append(np.nanmean(np.linalg.norm(tracked - truth, axis=2).mean(axis=1) / iod))
    return float(np.mean(errors))


def read_truth(phantom: Path) -> pd.DataFrame:
    """The latent truth per subject and visit, as ``meta__true_<latent>`` columns.

    Parameters
    ----------
    phantom : Path
        Folder written by ``avstroke-phantom``.

    Returns
    -------
    DataFrame
        ``subject_id``, ``visit`` (text, e.g. ``"02"``) and one column per entry of ``LATENTS``.
    """
    truth = _truth_table(phantom, "subjects.csv")
    missing = [c for c in LATENTS if c not in truth.columns]
    if missing:
        raise TargetError(f"{Path(phantom) / 'truth' / 'subjects.csv'}: latent column(s) "
                          f"{', '.join(missing)} missing")
    return truth[["subject_id", "visit", *LATENTS]].rename(
        columns={name: TRUTH_PREFIX + name for name in LATENTS})


def _standardised(values: pd.Series) -> pd.Series:
    return (values - values.mean()) / values.std()


def face_plus_voice_outcome(phantom: Path) -> pd.DataFrame:
    """Facial weakness plus log voice pitch, each standardised over the cohort's visits.

    Parameters
    ----------
    phantom : Path
        Folder written by ``avstroke-phantom``.

    Returns
    -------
    DataFrame
        ``subject_id``, ``visit`` and ``FACE_PLUS_VOICE`` (dimensionless, mean 0).
    """
    subjects = _truth_table(phantom, "subjects.csv")
    clips = _truth_table(phantom, "recordings.csv")
    # The voice is drawn once per subject and visit, so every clip of a visit has one pitch.
    pitch = clips.groupby(["subject_id", "visit"], as_index=False)["voice_f0_hz"].first()
    merged = subjects.merge(pitch, on=["subject_id", "visit"], validate="one_to_one")
    merged[FACE_PLUS_VOICE] = (_standardised(merged["facial_weakness"])
                               + _standardised(np.log(merged["voice_f0_hz"])))
    return merged[["subject_id", "visit", FACE_PLUS_VOICE]]


def with_truth(table: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The subject table with the truth columns joined on subject and visit.

    Raises
    ------
    TargetError
        If a row of the table has no truth (the table is not from this phantom).
    """
    merged = table.merge(truth, on=["subject_id", "visit"], how="left", validate="one_to_one")
    lost = merged[TRUTH_PREFIX + LATENTS[0]].isna()
    if lost.any():
        shown = ", ".join(f"{s}/{v}" for s, v in merged.loc[lost, ["subject_id", "visit"]]
                          .head(5).itertuples(index=False))
        raise TargetError(f"{int(lost.sum())} subject visit(s) of the feature table have no "
                          f"phantom truth, e.g. {shown}: is the table from this phantom?")
    return merged


def oracle_columns(columns) -> list[str]:
    """Truth columns plus the measured age and sex columns."""
    return [c for c in columns if c.startswith(TRUTH_PREFIX)] + \
        [c for c in columns if c.startswith("meta__") and not c.startswith(TRUTH_PREFIX)]


def compare_with_oracle(table: pd.DataFrame, truth: pd.DataFrame, spec: str, *, model: str,
                        sets: tuple | None = None, seed: int = 0, n_splits: int = 5,
                        n_bootstrap: int = 1000, n_permutations: int = 0,
                        model_params: dict | None = None, n_jobs: int = 1) -> dict:
    """Evaluate ``model`` on the modality sets and on the oracle set, on identical outer folds.

    Parameters
    ----------
    table : DataFrame
        Subject table from ``avstroke assemble`` (``features/table.parquet``).
    truth : DataFrame
        From ``read_truth``.
    spec : str
        Target specification, e.g. ``"group:PS-vs-HC"``.
    model : {"xgb", "fusion"}
    sets : tuple of str, optional
        Modality sets to evaluate besides the oracle (default: every set with data).
    seed : int
        Seed of the folds and the fits.
    n_splits : int
        Outer folds (lowered to the scarcest class's subject count).
    n_bootstrap : int
        Bootstrap resamples of each CI.
    n_permutations : int
        Label permutations of the ``"all"`` set (0: none).
    model_params : dict, optional
        As in ``models.evaluate.nested_cv``.
    n_jobs : int
        joblib workers.

    Returns
    -------
    dict
        ``metric`` (name), ``scores`` (DataFrame: ``modality_set``, ``estimate``, ``ci_low``,
        ``ci_high``; the oracle is the row ``ORACLE_SET``), ``results`` (``nested_cv``'s output,
        whose ``permutation`` table holds the permuted runs' mean AUC), ``task_type``,
        ``n_subjects`` and ``class_counts`` (subjects per class code; empty for regression).
    """
    target = build_target(with_truth(table, truth), spec)
    rows, y = target.rows.reset_index(drop=True), target.y.reset_index(drop=True)
    measured = [c for c in rows.columns if not c.startswith(TRUTH_PREFIX)]
    available = modality_sets(measured, usable=lambda c: rows[c].notna().any())
    if sets is not None:
        missing = [name for name in sets if name not in available]
        if missing:
            raise TargetError(f"target {spec!r}: modality set(s) {', '.join(missing)} have no "
                              f"data; available: {', '.join(available)}")
        available = {name: available[name] for name in sets}
    available[ORACLE_SET] = oracle_columns(rows.columns)
    plan = make_outer_splits(y, rows["subject_id"], task_type=target.task_type,
                             n_splits=n_folds_for(y, target.task_type, n_splits), seed=seed)
    results = nested_cv(rows, y, rows["subject_id"], model=model, modality_sets=available,
                        task_type=target.task_type, outer_splits=plan, seed=seed,
                        n_jobs=n_jobs, n_bootstrap=n_bootstrap,
                        n_permutations=n_permutations,
                        permutation_sets=["all"] if "all" in available else [],
                        model_params=model_params)
    metric = HEADLINE_METRIC[target.task_type]
    metrics = results["metrics"]
    scores = metrics[metrics.metric == metric][["modality_set", "estimate", "ci_low", "ci_high"]]
    return {"metric": metric, "scores": scores.reset_index(drop=True), "results": results,
            "n_subjects": int(rows["subject_id"].nunique()),
            "class_counts": {int(k): int(v) for k, v in y.value_counts().sort_index().items()}
            if target.task_type != "regression" else {},
            "task_type": target.task_type}


def gap_to_oracle(scores: pd.DataFrame, modality_set: str) -> float:
    """Oracle minus measured estimate for one set (positive: the oracle does better)."""
    by_set = scores.set_index("modality_set")["estimate"]
    return float(by_set[ORACLE_SET] - by_set[modality_set]) if np.isfinite(by_set[modality_set]) \
        else float("nan")

"""Print the AUC that outer-fold schemes give on pure noise with a small class, by scheme.

Why the small followed-up group of a recovery target is split by stratified grouped k-fold with as
many folds as its smaller class has subjects (``models.cv.n_folds_for``), not leave-one-subject-out:
when one subject is held out, its own class is one subject short in the training part, so the base
rate a model learns is lowest exactly for the subjects it then scores. On data without signal the
AUC should centre on 0.5; a scheme that centres below it understates every real AUC too.

Usage::

    .venv/bin/python benchmarks/small_class_cv.py [--draws 30] [--subjects 12] [--positives 4]

Each draw makes ``--subjects`` subjects, ``--positives`` of them of class 1, with 20 noise features,
and scores XGBoost (one fixed shallow setting, so no inner search hides the effect) by nested CV
with each scheme on the same data.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.cv import make_outer_splits  # noqa: E402
from models.evaluate import nested_cv  # noqa: E402

SETTING = {"grid": [{"max_depth": 1, "n_estimators": 100, "learning_rate": 0.1, "min_child_rows": 2}]}
COLUMNS = [f"face__NSM_SPREAD__noise{j}" for j in range(20)]
SCHEMES = {"leave-one-subject-out": "leave_one_subject_out", "stratified k-fold": "kfold"}


def noise_auc(seed: int, *, n_subjects: int, n_positive: int, strategy: str) -> float:
    """Out-of-fold ROC AUC of XGBoost on one draw of pure noise."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat([1, 0], [n_positive, n_subjects - n_positive]))
    X = pd.DataFrame(rng.normal(size=(n_subjects, len(COLUMNS))), columns=COLUMNS)
    groups = pd.Series([f"S{i:03d}" for i in range(n_subjects)])
    plan = make_outer_splits(y, groups, task_type="binary", n_splits=n_positive, strategy=strategy, seed=seed)
    results = nested_cv(X, pd.Series(y), groups, model="xgb", modality_sets={"noise": COLUMNS},
                        task_type="binary", outer_splits=plan, seed=seed, n_bootstrap=1, n_permutations=0,
                        model_params=SETTING)
    table = results["metrics"]
    return float(table.loc[table.metric == "roc_auc", "estimate"].iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=30)
    parser.add_argument("--subjects", type=int, default=12)
    parser.add_argument("--positives", type=int, default=4, help="subjects of class 1 (k of k-fold)")
    args = parser.parse_args()
    print(f"{args.draws} draws of {args.subjects} subjects ({args.positives} of class 1), pure noise:")
    for name, strategy in SCHEMES.items():
        aucs = [noise_auc(seed, n_subjects=args.subjects, n_positive=args.positives, strategy=strategy)
                for seed in range(args.draws)]
        print(f"  {name:<22} mean AUC {np.mean(aucs):.3f} (SD {np.std(aucs):.3f})")


if __name__ == "__main__":
    main()

"""The run folder never serves stale or damaged results: a failed re-extraction drops what was built
from the old input, a damaged cache file is recomputed, two commands never share a folder at
once, a different manifest is refused, and temporary files of killed writes are cleared."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main as cli

REPO = Path(__file__).resolve().parents[1]
N_RECORDINGS = 3


def mtimes(folder: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.parquet")}


@pytest.fixture
def manifest(small_phantom, tmp_path) -> Path:
    """A copy of the small phantom and a manifest of three of its recordings (two of one subject),
    so that a whole run takes seconds."""
    data = tmp_path / "data"
    shutil.copytree(small_phantom, data)
    full = tmp_path / "full_manifest.csv"
    assert cli(["manifest", "--layout", "neuroface", str(data), "--out", str(full)]) == 0
    table = pd.read_csv(full, dtype=str, keep_default_na=False)
    first = table[table["subject_id"] == table["subject_id"].iloc[0]]
    other = table[(table["subject_id"] != first["subject_id"].iloc[0]) & (table["task"] == "NSM_SPREAD")]
    path = tmp_path / "data_manifest.csv"
    pd.concat([first, other.head(N_RECORDINGS - len(first))]).to_csv(path, index=False)
    return path


def test_a_truncated_landmark_file_is_recomputed_with_a_warning(manifest, tmp_path):
    run = tmp_path / "run"
    args = ["run", "--manifest", str(manifest), "--out", str(run), "--to", "landmarks-eval"]
    assert cli(args) == 0
    damaged = sorted((run / "cache" / "landmarks").glob("*.parquet"))[0]
    rid = damaged.stem
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])

    assert cli(args) == 0
    assert len(pd.read_parquet(damaged)) > 0
    logged = (run / "logs" / "avstroke.log").read_text().splitlines()
    warned = [line for line in logged if "WARNING" in line and rid in line]
    assert len(warned) == 1 and "unreadable (ArrowInvalid), recomputed" in warned[0]
    assert str(damaged) not in warned[0] and damaged.name not in warned[0]
    assert any(line.endswith("landmarks: 1 done, 2 cached, 0 failed") for line in logged)
    assert rid in set(pd.read_parquet(run / "landmarks_error.parquet")["recording_id"])
    assert not (run / "errors.csv").exists() or pd.read_csv(run / "errors.csv").empty

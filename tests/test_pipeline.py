"""The stage runner end to end on a small phantom: resume after a kill, recompute only what a
changed parameter touches, one bad recording does not stop the run, and prediction."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main as cli

REPO = Path(__file__).resolve().parents[1]


def mtimes(folder: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.parquet")}


@pytest.fixture(scope="module")
def manifest(small_phantom, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    data = root / "data"
    shutil.copytree(small_phantom, data)
    path = root / "data_manifest.csv"
    assert cli(["manifest", "--layout", "neuroface", str(data), "--out", str(path)]) == 0
    return path


def test_interrupted_stage_resumes_without_redoing_finished_recordings(manifest, tmp_path):
    run = tmp_path / "run"
    assert cli(["validate", "--manifest", str(manifest), "--out", str(run)]) == 0
    cache = run / "cache" / "landmarks"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.landmarks", "--manifest", str(manifest),
                             "--out", str(run)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(cache.glob("*.parquet"))) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = mtimes(cache)
    n_total = len(pd.read_csv(manifest))
    assert 2 <= len(finished) < n_total, "the kill should land half way"
    # every file that exists is complete and readable; no half-written output under a final name
    for name in finished:
        assert len(pd.read_parquet(cache / name)) > 0
    assert cli(["landmarks", "--manifest", str(manifest), "--out", str(run)]) == 0
    after = mtimes(cache)
    assert len(after) == n_total
    assert {name: after[name] for name in finished} == finished, "finished recordings were redone"
    leftovers = [p.name for p in cache.iterdir() if p.suffix == ".tmp" and not p.name.startswith(".")]
    assert leftovers == []


def test_changed_parameter_recomputes_only_what_it_touches(manifest, tmp_path):
    run = tmp_path / "run"
    args = ["--manifest", str(manifest), "--out", str(run)]
    assert cli(["run", *args, "--to", "audio"]) == 0
    first = {kind: mtimes(run / "cache" / kind) for kind in ("landmarks", "face", "audio")}
    assert cli(["run", *args, "--to", "audio"]) == 0
    assert {kind: mtimes(run / "cache" / kind) for kind in first} == first, "an unchanged run recomputed"
    assert cli(["run", *args, "--to", "audio", "--redetect-every", "10"]) == 0
    second = {kind: mtimes(run / "cache" / kind) for kind in first}
    n = len(first["landmarks"])
    changed = {kind: sum(second[kind][k] != first[kind][k] for k in first[kind]) for kind in first}
    assert changed == {"landmarks": n, "face": n, "audio": 0}


def test_one_bad_recording_is_listed_and_the_rest_go_on(manifest, tmp_path):
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    broken = manifest.parent / "broken_color.avi"
    broken.write_bytes(b"RIFF not really a video" * 50)
    bad = table.iloc[0].copy()
    bad["recording_id"] = "N009_02_NSM_SPREAD"
    bad["subject_id"] = "N009"
    bad["video_path"] = broken.name
    edited = manifest.parent / "with_bad.csv"
    pd.concat([table, bad.to_frame().T]).to_csv(edited, index=False)
    run = tmp_path / "run"
    assert cli(["run", "--manifest", str(edited), "--out", str(run), "--to", "assemble"]) == 0
    errors = pd.read_csv(run / "errors.csv")
    assert list(errors["recording_id"]) == ["N009_02_NSM_SPREAD"]
    assert "cannot decode" in errors.loc[0, "message"]
    summary = pd.read_csv(run / "landmarks_error_summary.csv")
    assert set(summary["group"]) == {"HC", "PS", "ALS"} and (summary["overall"] < 0.05).all()
    assert (run / "landmarks_error.png").stat().st_size > 1000
    recordings = pd.read_parquet(run / "features" / "recordings.parquet")
    assert len(recordings) == len(table) and "N009_02_NSM_SPREAD" not in set(recordings["recording_id"])


def test_train_then_predict_one_clip_refused_unless_partial_input_is_allowed(manifest, tmp_path):
    run = tmp_path / "run"
    args = ["--manifest", str(manifest), "--out", str(run)]
    assert cli(["run", *args, "--to", "train", "--targets", "score:score_mean_tot", "--models", "xgb",
                "--folds", "3", "--permutations", "2", "--bootstrap", "50"]) == 0
    bundle = run / "models" / "score_score_mean_tot" / "xgb"
    assert (bundle / "bundle.json").is_file() and (bundle / "model_card.md").is_file()
    out = tmp_path / "new"
    recordings = pd.read_csv(manifest)
    video = recordings.loc[recordings["task"] == "NSM_SPREAD", "video_path"].iloc[0]
    clip = ["predict", "--model", str(run / "models"), "--video", str(manifest.parent / video),
            "--subject", "NEW1", "--task", "NSM_SPREAD", "--out", str(out)]
    # The model read both phantom tasks: one smile clip is refused before any extraction.
    assert cli(clip) == 2
    logged = (out / "logs" / "avstroke.log").read_text()
    assert "no trained model uses only NSM_SPREAD" in logged
    assert "score:score_mean_tot/xgb needs DDK_PA, NSM_SPREAD" in logged
    assert not (out / "features").exists() and not (out / "predictions.csv").exists()
    assert cli([*clip, "--allow-partial"]) == 0
    predictions = pd.read_csv(out / "predictions.csv")
    assert predictions["subject_id"].tolist() == ["NEW1"]
    assert predictions["imputed_tasks"].tolist() == ["DDK_PA"]
    assert predictions["predicted"].notna().all() and predictions["top_reasons"].str.len().gt(0).all()
    assert not predictions["top_reasons"].str.contains("'pa' repetition task").any()
    assert pd.read_csv(out / "refused.csv").empty


def test_overlays_only_on_request(manifest, tmp_path):
    from features.video.overlay import draw_landmarks

    run = tmp_path / "run"
    assert cli(["run", "--manifest", str(manifest), "--out", str(run), "--to", "landmarks"]) == 0
    assert not (run / "overlays").exists()
    assert cli(["landmarks", "--manifest", str(manifest), "--out", str(run), "--overlays"]) == 0
    folders = [p for p in (run / "overlays").iterdir() if p.is_dir()]
    assert len(folders) == len(pd.read_csv(manifest))
    assert (run / "overlays" / "IDENTIFIABLE.txt").is_file()
    assert len(list(folders[0].glob("frame_*.png"))) == 6 and (folders[0] / "clip.avi").is_file()
    frame = np.zeros((40, 40, 3), np.uint8)
    points = np.full((68, 2), 20.0)
    drawn = draw_landmarks(frame, points)
    assert drawn[20, 20].any() and not frame.any()

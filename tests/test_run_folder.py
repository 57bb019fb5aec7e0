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
from tests.conftest import tiny_clip

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


def test_a_faceless_replacement_video_drops_the_old_face_features(manifest, tmp_path):
    run = tmp_path / "run"
    args = ["run", "--manifest", str(manifest), "--out", str(run), "--to", "assemble"]
    assert cli(args) == 0
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False).set_index("recording_id")
    victim = table.index[table["task"] == "NSM_SPREAD"][0]
    assert victim in set(pd.read_parquet(run / "features" / "face.parquet")["recording_id"])
    before = {kind: mtimes(run / "cache" / kind) for kind in ("landmarks", "face", "audio")}
    tiny_clip(manifest.parent / table.loc[victim, "video_path"], seconds=2.0)  # gradient frames, no face

    assert cli(args) == 0
    errors = pd.read_csv(run / "errors.csv")
    assert ("landmarks", victim, "NoFaceError") in set(zip(errors["stage"], errors["recording_id"], errors["error"]))
    assert set(errors["recording_id"]) == {victim}
    assert not (run / "cache" / "landmarks" / f"{victim}.parquet").exists()
    assert not (run / "cache" / "face" / f"{victim}.parquet").exists()
    assert victim not in set(pd.read_parquet(run / "features" / "face.parquet")["recording_id"])
    assert victim not in set(pd.read_parquet(run / "landmarks_quality.parquet")["recording_id"])
    recordings = pd.read_parquet(run / "features" / "recordings.parquet").set_index("recording_id")
    face = [c for c in recordings.columns if c.startswith("face__")]
    assert face and recordings.loc[victim, face].isna().all()
    assert pd.isna(recordings.loc[victim, "quality__face_share"])
    assert recordings.drop(index=victim)[face].notna().any(axis=1).all()
    subjects = pd.read_parquet(run / "features" / "table.parquet").set_index(["subject_id", "visit"])
    spread = [c for c in subjects.columns if c.startswith("face__NSM_SPREAD__")]
    assert subjects.loc[(table.loc[victim, "subject_id"], table.loc[victim, "visit"]), spread].isna().all()
    # nothing else was recomputed
    after = {kind: mtimes(run / "cache" / kind) for kind in before}
    for kind in before:
        assert {k: v for k, v in after[kind].items() if k != f"{victim}.parquet"} == \
            {k: v for k, v in before[kind].items() if k != f"{victim}.parquet"}
    assert after["audio"][f"{victim}.parquet"] != before["audio"][f"{victim}.parquet"], \
        "the new video's sound is new and was analysed"


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


@pytest.fixture
def tiny_manifest(tmp_path) -> Path:
    """A one-recording manifest; with --no-probe, validation of it takes milliseconds."""
    tiny_clip(tmp_path / "a.avi")
    path = tmp_path / "tiny.csv"
    path.write_text("recording_id,subject_id,group,task,visit,video_path\nr1,S1,HC,NSM_SPREAD,02,a.avi\n")
    return path


HOLD_LOCK = """
import sys, time
from pipeline.run_folder import locked
with locked(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_run_on_a_locked_folder_is_refused_with_the_holders_pid(tiny_manifest, tmp_path):
    run = tmp_path / "run"
    args = ["run", "--manifest", str(tiny_manifest), "--out", str(run), "--to", "validate", "--no-probe"]
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert cli(args) == 2
        logged = (run / "logs" / "avstroke.log").read_text()
        assert f"run folder {run} is in use by another avstroke command (process {holder.pid})" in logged
        assert not (run / "manifest.validated.parquet").exists(), "the refused run wrote nothing"
    finally:
        holder.kill()  # as a crash would: the operating system releases the lock
        holder.wait()
    assert cli(args) == 0
    assert (run / "manifest.validated.parquet").is_file()
    assert cli(args) == 0, "a finished command releases the lock"


def test_temporary_files_of_killed_writes_are_removed_and_nothing_else(tiny_manifest, tmp_path):
    run = tmp_path / "run"
    args = ["run", "--manifest", str(tiny_manifest), "--out", str(run), "--to", "validate", "--no-probe"]
    assert cli(args) == 0
    planted = [run / "export" / ".features.xlsx.k3j_h5g6.tmp", run / ".errors.csv.x1y2z3w4.tmp",
               run / "cache" / "landmarks" / ".r1.parquet.abcdefgh.tmp"]
    kept = {run / "export" / "features.xlsx": b"a finished export", run / "export" / "notes.tmp": b"a user's file",
            run / ".hidden": b"dot file", run / "cache" / "landmarks" / ".tmp": b"only a suffix",
            run / "cache" / "landmarks" / "r1.parquet.key": b"abc\n"}
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a table")
    for path, content in kept.items():
        path.write_bytes(content)
    before = {p for p in run.rglob("*") if p.is_file()}

    assert cli(args) == 0
    after = {p for p in run.rglob("*") if p.is_file()}
    assert after == before - set(planted)
    assert {path: path.read_bytes() for path in kept} == kept
    assert "removed 3 temporary files" in (run / "logs" / "avstroke.log").read_text()


def test_a_different_manifest_is_refused_when_the_run_starts_after_validate(tiny_manifest, tmp_path):
    run = tmp_path / "run"
    other = tmp_path / "other.csv"
    other.write_text(tiny_manifest.read_text().replace("r1,S1,HC", "r2,S2,PS"))
    moved = tmp_path / "moved" / tiny_manifest.name  # same text, media paths relative to another folder
    moved.parent.mkdir()
    moved.write_text(tiny_manifest.read_text())
    later = ["--out", str(run), "--from", "assemble", "--to", "assemble"]
    assert cli(["run", "--manifest", str(tiny_manifest), "--out", str(run), "--to", "validate", "--no-probe"]) == 0

    for refused in (other, moved):
        assert cli(["run", "--manifest", str(refused), *later]) == 2
        logged = (run / "logs" / "avstroke.log").read_text().splitlines()[-1]
        assert f"was validated from {tiny_manifest} (data root {tiny_manifest.parent})" in logged
        assert f"not from --manifest {refused}" in logged and "run from validate" in logged
    assert cli(["assemble", "--manifest", str(other), "--out", str(run)]) == 2, "a single stage, too"
    assert not (run / "features").exists(), "a refused run ran no stage"
    assert cli(["run", "--manifest", str(tiny_manifest), *later]) == 0
    assert cli(["run", *later]) == 0, "without --manifest the validated one is used"
    assert list(pd.read_parquet(run / "features" / "recordings.parquet")["recording_id"]) == ["r1"]
    # re-validating is how a new manifest enters the folder
    assert cli(["run", "--manifest", str(other), "--out", str(run), "--to", "validate", "--no-probe"]) == 0
    assert cli(["run", "--manifest", str(other), *later]) == 0
    assert list(pd.read_parquet(run / "features" / "recordings.parquet")["recording_id"]) == ["r2"]

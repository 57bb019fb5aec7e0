"""The cluster path: landmarks, face features and audio sent to a dask.distributed cluster of
worker processes give the same tables, the same failure list and the same run summary as one
local process."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from dask import distributed

from pipeline.cli import main as cli
from tests.conftest import tiny_clip

pytestmark = pytest.mark.slow  # two runs and a cluster of worker processes: a few minutes


@pytest.fixture(scope="module")
def manifest_with_a_faceless_clip(small_phantom, tmp_path_factory) -> tuple[Path, str]:
    """The small phantom's manifest, one of whose smile videos is replaced by a clip without a
    face, so that one recording fails inside a worker."""
    root = tmp_path_factory.mktemp("dask")
    data = root / "data"
    shutil.copytree(small_phantom, data)
    path = root / "data_manifest.csv"
    assert cli(["manifest", "--layout", "neuroface", str(data), "--out", str(path)]) == 0
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    victim = table[table["task"] == "NSM_SPREAD"].iloc[-1]
    tiny_clip(root / victim["video_path"], seconds=2.0)
    return path, victim["recording_id"]


def run_to_assemble(manifest: Path, run: Path, *parallel: str) -> None:
    assert cli(["run", "--manifest", str(manifest), "--out", str(run), "--to", "assemble",
                *parallel]) == 0


def parquet_tables(run: Path) -> dict[str, pd.DataFrame]:
    """Every table the three per-recording stages wrote and the features built from them."""
    folders = [run / "cache" / "landmarks", run / "cache" / "face", run / "cache" / "audio",
               run / "features"]
    return {str(p.relative_to(run)): pd.read_parquet(p)
            for folder in folders for p in sorted(folder.glob("*.parquet"))}


def stage_lines(run: Path) -> list[str]:
    """What the three per-recording stages logged (counts per status, each failure and its
    reason), without the time stamps."""
    log = (run / "logs" / "avstroke.log").read_text(encoding="utf-8")
    messages = [line.split(" ", 3)[3] for line in log.splitlines() if line.count(" ") >= 3]
    return [m for m in messages if m.split(":")[0].split(" ")[0] in ("landmarks", "face-features", "audio")]


def test_a_local_cluster_of_worker_processes_gives_the_tables_of_one_process(
        manifest_with_a_faceless_clip, tmp_path):
    manifest, victim = manifest_with_a_faceless_clip
    run_to_assemble(manifest, tmp_path / "local", "--workers", "1")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        run_to_assemble(manifest, tmp_path / "cluster", "--dask", cluster.scheduler_address)
        with distributed.Client(cluster.scheduler_address) as client:
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    n_recordings = len(pd.read_csv(manifest))
    # landmarks, face features and audio each send every recording (but the faceless one, after
    # landmarks) to the workers, and both worker processes take part
    assert sum(executed.values()) >= 3 * n_recordings - 2 and min(executed.values()) > 0, executed

    local, clustered = parquet_tables(tmp_path / "local"), parquet_tables(tmp_path / "cluster")
    assert local.keys() == clustered.keys() and len(local) > 10
    for name, table in local.items():
        pd.testing.assert_frame_equal(table, clustered[name], obj=name)
    errors = {kind: pd.read_csv(tmp_path / kind / "errors.csv") for kind in ("local", "cluster")}
    pd.testing.assert_frame_equal(errors["local"], errors["cluster"])
    assert ("landmarks", victim, "NoFaceError") in set(
        zip(errors["cluster"]["stage"], errors["cluster"]["recording_id"], errors["cluster"]["error"]))
    lines = stage_lines(tmp_path / "cluster")
    assert f"landmarks: {n_recordings - 1} done, 0 cached, 1 failed (NoFaceError: 1)" in lines
    assert lines == stage_lines(tmp_path / "local")

"""The cluster path: landmarks, face features and audio sent to a dask.distributed cluster of
worker processes give the same tables, the same failure list and the same stage log as one
local process, and so does train's nested cross-validation."""
from __future__ import annotations

import json
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


TRAIN = ["--targets", "score:score_mean_tot", "--models", "xgb", "--folds", "3",
         "--permutations", "2", "--bootstrap", "50"]


def run_stages(manifest: Path, run: Path, to: str, *options: str) -> None:
    assert cli(["run", "--manifest", str(manifest), "--out", str(run), "--to", to, *options]) == 0


def executed_tasks(address: str) -> dict[str, int]:
    """Tasks each worker of the cluster has run so far."""
    with distributed.Client(address) as client:
        return client.run(lambda dask_worker: dask_worker.state.executed_count)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local_cluster:
        yield local_cluster


@pytest.fixture(scope="module")
def runs(manifest_with_a_faceless_clip, cluster, tmp_path_factory) -> dict:
    """The same manifest run to ``assemble`` in one process and on the cluster."""
    manifest, victim = manifest_with_a_faceless_clip
    root = tmp_path_factory.mktemp("dask_runs")
    run_stages(manifest, root / "local", "assemble", "--workers", "1")
    run_stages(manifest, root / "cluster", "assemble", "--dask", cluster.scheduler_address)
    return {"local": root / "local", "cluster": root / "cluster", "manifest": manifest,
            "victim": victim, "executed": executed_tasks(cluster.scheduler_address)}


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


def test_a_local_cluster_of_worker_processes_gives_the_tables_of_one_process(runs):
    n_recordings = len(pd.read_csv(runs["manifest"]))
    executed = runs["executed"]
    # joblib sends the recordings in batches, so tasks are fewer than recordings; both worker
    # processes take part
    assert len(executed) == 2 and min(executed.values()) > 0, executed

    local, clustered = parquet_tables(runs["local"]), parquet_tables(runs["cluster"])
    assert local.keys() == clustered.keys() and len(local) > 10
    for name, table in local.items():
        pd.testing.assert_frame_equal(table, clustered[name], obj=name)
    errors = {kind: pd.read_csv(runs[kind] / "errors.csv") for kind in ("local", "cluster")}
    pd.testing.assert_frame_equal(errors["local"], errors["cluster"])
    assert ("landmarks", runs["victim"], "NoFaceError") in set(
        zip(errors["cluster"]["stage"], errors["cluster"]["recording_id"], errors["cluster"]["error"]))
    lines = stage_lines(runs["cluster"])
    assert f"landmarks: {n_recordings - 1} done, 0 cached, 1 failed (NoFaceError: 1)" in lines
    assert lines == stage_lines(runs["local"])


def test_train_on_the_cluster_gives_the_metrics_of_one_process(runs, cluster):
    before = sum(executed_tasks(cluster.scheduler_address).values())
    run_stages(runs["manifest"], runs["local"], "train", "--from", "train", "--workers", "1", *TRAIN)
    run_stages(runs["manifest"], runs["cluster"], "train", "--from", "train",
               "--dask", cluster.scheduler_address, *TRAIN)
    fits = sum(executed_tasks(cluster.scheduler_address).values()) - before
    assert fits >= 3, "the outer folds' fits ran on the cluster"
    predictions = {kind: pd.read_parquet(runs[kind] / "models" / "cv_predictions.parquet")
                   for kind in ("local", "cluster")}
    assert len(predictions["local"]) > 0
    pd.testing.assert_frame_equal(predictions["local"], predictions["cluster"])
    metrics = {kind: json.loads((runs[kind] / "models" / "metrics.json").read_text())
               for kind in ("local", "cluster")}
    assert metrics["local"]["targets"] == metrics["cluster"]["targets"]

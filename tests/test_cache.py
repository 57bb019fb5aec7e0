"""The cache contract: content, parameters and code in the key; atomic writes."""
from __future__ import annotations

import pandas as pd
import pytest

from core.files import atomic_write, remove_temp_files, TEMP_NAME
from pipeline import cache


def test_key_changes_with_content_params_and_code(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"one")
    base = dict(inputs={"video": cache.file_digest(a)}, params={"scale": 0.5}, code="c1")
    key = cache.make_key(**base)
    assert cache.make_key(**base) == key
    assert cache.make_key(**{**base, "params": {"scale": 0.25}}) != key
    assert cache.make_key(**{**base, "code": "c2"}) != key
    a.write_bytes(b"two")
    assert cache.make_key(**{**base, "inputs": {"video": cache.file_digest(a)}}) != key


def test_code_digest_tracks_the_module_source():
    one = cache.code_digest(["pipeline.cache"])
    assert one == cache.code_digest(["pipeline.cache"])
    assert one != cache.code_digest(["pipeline.cache", "core.errors"])
    with pytest.raises(ModuleNotFoundError):
        cache.code_digest(["pipeline.no_such_module"])


def test_code_digest_follows_imports_so_no_module_is_missed(tmp_path, monkeypatch):
    package = tmp_path / "demo_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "entry.py").write_text("from demo_pkg import helper\nfrom . import relative\nimport os\n")
    (package / "helper.py").write_text("from demo_pkg.deeper import VALUE\n")
    (package / "deeper.py").write_text("VALUE = 1\n")
    (package / "relative.py").write_text("")
    (package / "unused.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    kwargs = {"packages": ("demo_pkg",)}
    assert cache.code_modules(["demo_pkg.entry"], **kwargs) == [
        "demo_pkg", "demo_pkg.deeper", "demo_pkg.entry", "demo_pkg.helper", "demo_pkg.relative"]
    before = cache.code_digest(["demo_pkg.entry"], **kwargs)
    (package / "unused.py").write_text("X = 2\n")
    assert cache.code_digest(["demo_pkg.entry"], **kwargs) == before
    (package / "deeper.py").write_text("VALUE = 2\n")  # two imports away from the entry module
    assert cache.code_digest(["demo_pkg.entry"], **kwargs) != before


def test_stage_keys_cover_the_helpers_their_code_imports():
    from pipeline import audio, face_features, landmarks

    assert {"features.rhythm", "features.runs"} <= set(cache.code_modules(face_features.CODE_MODULES))
    assert "features.rhythm" in cache.code_modules(audio.FEATURE_MODULES)
    assert "features.runs" in cache.code_modules(landmarks.CODE_MODULES)


def test_stage_keys_change_with_the_version_of_a_library_that_computes_the_numbers(monkeypatch):
    import importlib.metadata

    from pipeline import audio, landmarks

    assert "dlib-bin" in cache.library_versions(landmarks.CODE_MODULES)
    assert {"opensmile", "praat-parselmouth"} <= set(cache.library_versions(audio.FEATURE_MODULES))
    before = cache.code_digest(landmarks.CODE_MODULES)
    installed = importlib.metadata.version

    def upgraded(name):
        return "99.0" if name == "dlib-bin" else installed(name)

    monkeypatch.setattr(importlib.metadata, "version", upgraded)
    assert cache.library_versions(landmarks.CODE_MODULES)["dlib-bin"] == "99.0"
    assert cache.code_digest(landmarks.CODE_MODULES) != before
    assert "dlib-bin" not in cache.library_versions(audio.FEATURE_MODULES)  # audio does not use it


def test_parquet_carries_its_key_and_metadata(tmp_path):
    path = tmp_path / "out.parquet"
    cache.write_parquet(pd.DataFrame({"x": [1.0, 2.0]}), path, key="k1", metadata={"info": {"n": 2}})
    assert cache.stored_key(path) == "k1" and cache.is_fresh(path, "k1") and not cache.is_fresh(path, "k2")
    assert cache.read_parquet_metadata(path) == {"info": {"n": 2}}
    assert list(pd.read_parquet(path)["x"]) == [1.0, 2.0]


def test_a_long_table_is_written_in_row_groups_and_reads_back_whole(tmp_path):
    import numpy as np
    import pyarrow.parquet as pq

    n = 2 * cache.ROW_GROUP_ROWS + 3
    table = pd.DataFrame({"x": np.linspace(0, 1, n), "n": np.arange(n),
                          "name": [f"r{i}" for i in range(n)], "flag": np.arange(n) % 2 == 0,
                          "small": np.full(n, 0.1, dtype=np.float32)})
    table.loc[5, "x"] = np.nan
    path = cache.write_parquet(table, tmp_path / "long.parquet", key="k1", metadata={"n": n})
    assert pq.ParquetFile(path).num_row_groups == 3
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)
    assert cache.is_fresh(path, "k1") and cache.read_parquet_metadata(path) == {"n": n}
    empty = cache.write_parquet(table.iloc[:0], tmp_path / "empty.parquet", key="k2")
    pd.testing.assert_frame_equal(pd.read_parquet(empty), table.iloc[:0])
    assert cache.is_fresh(empty, "k2")


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old\n")

    def half_written(tmp):
        tmp.write_text("partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(path, half_written)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_sidecar_key_for_other_files(tmp_path):
    path = tmp_path / "model.json"
    assert cache.stored_key(path) is None
    path.write_text("{}")
    cache.write_key(path, "abc")
    assert cache.is_fresh(path, "abc")
    path.unlink()
    assert not cache.is_fresh(path, "abc")


def test_a_truncated_output_counts_as_absent(tmp_path):
    path = tmp_path / "out.parquet"
    cache.write_parquet(pd.DataFrame({"x": range(1000)}), path, key="k1")
    path.write_bytes(path.read_bytes()[:100])
    fresh, problem = cache.freshness(path, "k1")
    assert not fresh and problem == "unreadable (ArrowInvalid)"
    assert not cache.is_fresh(path, "k1")
    assert cache.freshness(tmp_path / "absent.parquet", "k1") == (False, "")


def test_the_temporary_name_pattern_is_the_one_atomic_write_uses(tmp_path):
    names = []
    atomic_write(tmp_path / "features.xlsx", lambda tmp: names.append(tmp.name) or tmp.write_text("x"))
    assert TEMP_NAME.match(names[0])
    assert not TEMP_NAME.match("features.xlsx") and not TEMP_NAME.match("notes.tmp")
    left = tmp_path / names[0]
    left.write_text("left by a killed write")
    assert remove_temp_files(tmp_path) == [left]
    assert [p.name for p in tmp_path.iterdir()] == ["features.xlsx"]

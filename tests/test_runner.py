"""The runner: failures are kept with their reason, the rest go on, and workers change nothing."""
from __future__ import annotations

import pandas as pd

from core.errors import MediaError
from pipeline.runner import ItemResult, exit_code, record_errors, run_items, summarise


def square_or_fail(item: dict) -> ItemResult:
    if item["value"] < 0:
        raise MediaError(f"{item['file']}: negative value {item['value']}")
    if item["value"] == 0:
        return ItemResult(item["recording_id"], "cached")
    return ItemResult(item["recording_id"], "done", message=str(item["value"] ** 2))


ITEMS = [{"recording_id": f"r{i}", "file": f"f{i}.avi", "value": v} for i, v in enumerate([3, -1, 0, 5])]


def test_one_failure_does_not_stop_the_others():
    results = run_items("toy", ITEMS, square_or_fail)
    assert [r.status for r in results] == ["done", "failed", "cached", "done"]
    assert results[1].error == "MediaError" and "f1.avi: negative value -1" in results[1].message
    assert summarise("toy", results) == "toy: 2 done, 1 cached, 1 failed (MediaError: 1)"
    assert exit_code(results) == 0
    assert exit_code([results[1]]) == 1


def test_results_do_not_depend_on_workers():
    assert run_items("toy", ITEMS, square_or_fail, workers=2) == run_items("toy", ITEMS, square_or_fail)


def test_errors_table_replaces_only_its_stage(tmp_path):
    results = run_items("toy", ITEMS, square_or_fail)
    record_errors(tmp_path, "other", [ItemResult("r9", "failed", "x.avi", "NoFaceError", "no face")])
    record_errors(tmp_path, "toy", results)
    record_errors(tmp_path, "toy", results)
    table = pd.read_csv(tmp_path / "errors.csv")
    assert sorted(zip(table["stage"], table["recording_id"])) == [("other", "r9"), ("toy", "r1")]


def test_errors_table_holds_no_formula_and_marks_once(tmp_path):
    record_errors(tmp_path, "toy", [ItemResult("r1", "failed", "", "MediaError", "=1+1"),
                                    ItemResult("r2", "failed", "", "MediaError", "-1+2 frames decoded")])
    # Writing another stage reads the table back and writes it again.
    record_errors(tmp_path, "other", [ItemResult("r3", "skipped", "", "NoAudioError", "@SUM(1)")])
    table = pd.read_csv(tmp_path / "errors.csv", dtype=str)
    assert list(table["message"]) == ["'=1+1", "'-1+2 frames decoded", "'@SUM(1)"]

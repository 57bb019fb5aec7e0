"""Manifest validation: every problem is listed at once, with its row, column and the allowed values."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pipeline import manifest
from pipeline.cli import main as cli

HEADER = "recording_id,subject_id,group,task,visit,video_path,audio_path,age,sex,score_slp1_tot\n"


def write_manifest(folder: Path, rows: list[str], header: str = HEADER) -> Path:
    path = folder / "data_manifest.csv"
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def messages(issues, severity="error"):
    return [str(i) for i in issues if i.severity == severity]


def test_clean_manifest_validates_with_media_facts(media_dir):
    path = write_manifest(media_dir, [
        "S001_02_NSM_KISS,S001,PS,NSM_KISS,02,a.avi,,61,M,12",
        "N001_02_DDK_PA,N001,HC,DDK_PA,02,b.avi,,55,F,5",
    ])
    table, media, issues = manifest.validate(path)
    assert messages(issues) == []
    assert list(table["recording_id"]) == ["S001_02_NSM_KISS", "N001_02_DDK_PA"]
    assert Path(table.loc[0, "video_path"]).is_absolute()
    assert table["age"].dtype.kind == "f" and table.loc[0, "score_slp1_tot"] == 12
    assert media.loc[0, "video_fps"] == 25 and media.loc[0, "video_n_frames"] == 25
    assert media.loc[0, "video_has_audio"] and media.loc[0, "video_audio_rate"] == 16000


def test_every_problem_is_listed_with_row_and_allowed_values(media_dir):
    path = write_manifest(media_dir, [
        "S001_02_NSM_KISS,S001,PS,NSM_KISS,02,a.avi,,61,M,12",
        "S001_02_NSM_KISS,S001,PS,NSM_OPEN,02,a.avi,,61,M,12",      # row 3: duplicate id
        "X_1,X9,STROKE,NSM_SMILE,02,b.avi,,61,Q,high",             # row 4: group, task, sex, score
        "X_2,X10,HC,DDK_PA,,missing.avi,,200,,",                   # row 5: visit, file, age
        "X_3,X11,HC,DDK_PA,02,../outside.avi,,,,",                  # row 6: escapes root
        "X_4,S001,HC,DDK_PA,02,broken.avi,,,,",                     # row 7: two groups, undecodable
        "X_5,X12,HC,DDK_PA,02,,,,,",                                # row 8: no media at all
    ])
    _, _, issues = manifest.validate(path)
    errors = messages(issues)
    expect = [
        ("row 3", "recording_id", "duplicate recording_id (first on row 2)"),
        ("row 4", "group", "'STROKE' is not a known group; allowed: HC, PS, ALS"),
        ("row 4", "task", "'NSM_SMILE' is not a known task; allowed: BBP_NORMAL"),
        ("row 4", "sex", "'Q' is not allowed; allowed: M, F"),
        ("row 4", "score_slp1_tot", "'high' is not a number"),
        ("row 5", "visit", "visit is empty"),
        ("row 5", "video_path", "file not found"),
        ("row 5", "age", "outside 0-120 years"),
        ("row 6", "video_path", "escapes the data root"),
        ("row 2", "group", "subject 'S001' has more than one group (HC, PS) on rows 2, 3, 7"),
        ("row 7", "video_path", "cannot decode"),
        ("row 8", "video_path", "neither video_path nor audio_path is given"),
    ]
    for row, column, text in expect:
        hits = [e for e in errors if re.search(rf" {row}\b", e) and f"column '{column}'" in e and text in e]
        assert hits, f"no error for {row} {column}: {text!r} in\n" + "\n".join(errors)
    assert all(str(path) in e for e in errors)


def test_missing_columns_and_unknown_columns(media_dir):
    path = write_manifest(media_dir, ["r1,s1,HC,a.avi,zzz"], header="recording_id,subject_id,group,video_path,notes\n")
    _, _, issues = manifest.validate(path)
    errors = messages(issues)
    assert any("required column 'task' is missing" in e for e in errors)
    assert any("required column 'visit' is missing" in e for e in errors)
    assert any("unknown column 'notes' is ignored" in w for w in messages(issues, "warning"))


def test_no_audio_anywhere_is_a_warning_and_wrong_rates_are_errors(media_dir):
    path = write_manifest(media_dir, ["N001_02_NSM_OPEN,N001,HC,NSM_OPEN,02,silent.avi,,,,"])
    _, media, issues = manifest.validate(path)
    assert messages(issues) == []
    assert any("no audio" in w and "row 2" in w for w in messages(issues, "warning"))
    assert not media.loc[0, "video_has_audio"]


def test_audio_only_manifest_is_valid(media_dir):
    path = write_manifest(media_dir, ["N001_02_DDK_PA,N001,HC,DDK_PA,02,,a.avi,,,"])
    table, media, issues = manifest.validate(path)
    assert messages(issues) == []
    assert media.loc[0, "audio_has_audio"]


def test_validate_command_writes_run_files_and_exit_status(media_dir, tmp_path):
    good = write_manifest(media_dir, ["N001_02_DDK_PA,N001,HC,DDK_PA,02,a.avi,,,,"])
    run = tmp_path / "run"
    assert cli(["validate", "--manifest", str(good), "--out", str(run)]) == 0
    assert pd.read_parquet(run / "manifest.validated.parquet")["valid"].all()
    assert (run / "media.parquet").is_file() and (run / "validation.csv").is_file()
    bad = write_manifest(media_dir, ["N001_02_DDK_PA,N001,HC,DDK_PA,02,a.avi,,,,",
                                     "N002_02_DDK_PA,N002,HC,DDK_PA,02,broken.avi,,,,"])
    assert cli(["validate", "--manifest", str(bad), "--out", str(run)]) == 1
    validated = pd.read_parquet(run / "manifest.validated.parquet")
    assert list(validated["valid"]) == [True, False]
    errors = pd.read_csv(run / "errors.csv")
    assert list(errors["recording_id"]) == ["N002_02_DDK_PA"] and "cannot decode" in errors.loc[0, "message"]


def test_missing_manifest_is_a_clear_error(tmp_path, caplog):
    assert cli(["validate", "--manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path / "r")]) == 2


def test_video_only_recording_is_skipped_by_the_audio_stage(media_dir, tmp_path):
    path = write_manifest(media_dir, ["N001_02_NSM_OPEN,N001,HC,NSM_OPEN,02,silent.avi,,,,"])
    run = tmp_path / "run"
    assert cli(["validate", "--manifest", str(path), "--out", str(run)]) == 0
    assert cli(["audio", "--manifest", str(path), "--out", str(run)]) == 0
    errors = pd.read_csv(run / "errors.csv")
    assert errors[["stage", "recording_id", "error"]].values.tolist() == [["audio", "N001_02_NSM_OPEN", "NoAudioError"]]
    assert len(pd.read_parquet(run / "features" / "audio.parquet")) == 0


DATED = "recording_id,subject_id,group,task,visit,visit_date,video_path\n"


def test_visit_dates_are_checked_per_row_and_the_rows_are_numbered(media_dir):
    path = write_manifest(media_dir, [
        "S1_pre,S1,PS,NSM_KISS,pre,2021-11-15,a.avi",
        "S1_post,S1,PS,NSM_KISS,post,15/03/2022,a.avi",     # row 3: not ISO 8601
        "S2_pre,S2,PS,NSM_KISS,pre,2023-02-30,a.avi",       # row 4: no such day
        "S3_pre,S3,PS,NSM_KISS,pre,,a.avi",                 # row 5: empty
    ], header=DATED)
    table, _, issues = manifest.validate(path, probe_media=False)
    errors = messages(issues)
    expect = [("row 3", "'15/03/2022' is not a date written as YYYY-MM-DD"),
              ("row 4", "'2023-02-30' is not a date written as YYYY-MM-DD"),
              ("row 5", "visit_date is empty")]
    for row, text in expect:
        assert [e for e in errors if f"{path} {row} " in e and "column 'visit_date'" in e and text in e], \
            f"no error for {row}: {text!r} in\n" + "\n".join(errors)
    assert len(errors) == len(expect)
    assert not messages(issues, "warning")  # visit_date is a known column
    assert table["manifest_row"].tolist() == [2, 3, 4, 5]


def test_visits_whose_order_is_unknown_stop_the_manifest(media_dir):
    path = write_manifest(media_dir, [
        "S1_pre,S1,PS,NSM_KISS,pre,2021-11-15,a.avi",
        "S1_post,S1,PS,NSM_KISS,post,2021-11-15,a.avi",
    ], header=DATED)
    _, _, issues = manifest.validate(path, probe_media=False)
    [error] = messages(issues)
    assert error.startswith(f"error: {path}, column 'visit': ")
    assert "subject S1 has visits pre, post with the same visit_date (manifest rows 2, 3)" in error
    assert issues[0].row == 0  # the whole file: no stage may run on it
    numbered = write_manifest(media_dir, ["S1_a,S1,PS,NSM_KISS,02,a.avi", "S1_b,S1,PS,NSM_KISS,2,a.avi"],
                              header="recording_id,subject_id,group,task,visit,video_path\n")
    _, _, issues = manifest.validate(numbered, probe_media=False)
    [error] = messages(issues)
    assert "subject S1 has visits 02, 2 with the same session number (manifest rows 2, 3)" in error


def test_a_visit_typed_like_a_formula_or_a_date_is_refused_with_its_row(media_dir, tmp_path):
    path = write_manifest(media_dir, [
        "N001_02_DDK_PA,N001,HC,DDK_PA,02,a.avi,,,,",
        "N002_v_DDK_PA,N002,HC,DDK_PA,=1+1,a.avi,,,,",      # row 3
        "N003_v_DDK_PA,N003,HC,DDK_PA,02/03,b.avi,,,,",     # row 4
    ])
    _, _, issues = manifest.validate(path, probe_media=False)
    errors = messages(issues)
    for row, visit in (("row 3", "=1+1"), ("row 4", "02/03")):
        assert [e for e in errors if f"{path} {row} " in e and "column 'visit'" in e
                and f"visit {visit!r} may hold only letters, digits, '_', '-' and '.'" in e], \
            f"no visit error on {row} in\n" + "\n".join(errors)
    assert len(errors) == 2
    run = tmp_path / "run"
    assert cli(["validate", "--manifest", str(path), "--out", str(run)]) == 1
    validation = pd.read_csv(run / "validation.csv", dtype=str, keep_default_na=False)
    visits = validation[validation["column"] == "visit"]
    assert list(visits["row"]) == ["3", "4"] and list(visits["severity"]) == ["error", "error"]
    assert list(pd.read_parquet(run / "manifest.validated.parquet")["valid"]) == [True, False, False]
    errors_table = pd.read_csv(run / "errors.csv")
    assert list(errors_table["recording_id"]) == ["N002_v_DDK_PA", "N003_v_DDK_PA"]


def test_validation_table_holds_no_formula(media_dir, tmp_path):
    path = write_manifest(media_dir, ["=1+1,N001,HC,DDK_PA,02,a.avi,,,,,x"],
                          header=HEADER.strip() + ",@note\n")
    run = tmp_path / "run"
    assert cli(["validate", "--manifest", str(path), "--out", str(run), "--no-probe"]) == 1
    validation = pd.read_csv(run / "validation.csv", dtype=str, keep_default_na=False)
    assert "'@note" in set(validation["column"]) and "'=1+1" in set(validation["recording_id"])
    cells = list(validation.columns) + [t for t in validation.to_numpy().ravel() if t]
    assert not [t for t in cells if t[0] in "=+-@\t\r"]

"""Manifest validation: every problem is listed at once, with its row, column and the allowed values."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import ManifestError
from core.media_writer import write_clip
from pipeline import cache, manifest
from pipeline.cli import main as cli
from pipeline.run import run_summary
from pipeline.runner import ItemResult, record_errors
from tests.conftest import realdata, tiny_clip, tiny_wav

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
    # decoding on two processes finds the same, in the same order, with the same facts
    table, media, found = manifest.validate(path)
    table2, media2, found2 = manifest.validate(path, workers=2)
    assert [str(i) for i in found2] == [str(i) for i in found]
    pd.testing.assert_frame_equal(media2, media)
    pd.testing.assert_frame_equal(table2, table)


def test_missing_columns_and_unknown_columns(media_dir):
    path = write_manifest(media_dir, ["r1,s1,HC,a.avi,zzz"], header="recording_id,subject_id,group,video_path,notes\n")
    _, _, issues = manifest.validate(path)
    errors = messages(issues)
    assert any("required column 'task' is missing" in e for e in errors)
    assert any("required column 'visit' is missing" in e for e in errors)
    assert any("unknown column 'notes' is ignored" in w for w in messages(issues, "warning"))


def test_no_audio_anywhere_is_a_warning(media_dir):
    path = write_manifest(media_dir, ["N001_02_NSM_OPEN,N001,HC,NSM_OPEN,02,silent.avi,,,,"])
    _, media, issues = manifest.validate(path)
    assert messages(issues) == []
    assert any("no audio" in w and "row 2" in w for w in messages(issues, "warning"))
    assert not media.loc[0, "video_has_audio"]


def has_message(issues, row: int, column: str, media: str, text: str, severity="error") -> bool:
    """Whether an issue of ``severity`` names the row, the column, the media file and ``text``."""
    return any(i.severity == severity and i.row == row and i.column == column and i.media == media
               and text in i.message and f"row {row} " in str(i) and f"({media})" in str(i)
               for i in issues)


def test_frame_rate_and_video_duration_outside_their_ranges_are_errors(tmp_path):
    tiny_clip(tmp_path / "slow.avi", seconds=2.0, fps=5.0)
    tiny_clip(tmp_path / "brief.avi", seconds=0.2)
    tiny_clip(tmp_path / "fine.avi", seconds=0.6, fps=10.0)  # just inside both ranges
    path = write_manifest(tmp_path, ["R1,S1,HC,NSM_OPEN,02,slow.avi,,,,",
                                     "R2,S2,HC,NSM_OPEN,02,brief.avi,,,,",
                                     "R3,S3,HC,NSM_OPEN,02,fine.avi,,,,"])
    _, _, issues = manifest.validate(path)
    assert has_message(issues, 2, "video_path", "slow.avi", "frame rate 5.00 fps is outside 10-240 fps")
    assert has_message(issues, 3, "video_path", "brief.avi", "video duration 0.20 s is outside 0.5-600 s")
    assert has_message(issues, 3, "video_path", "brief.avi", "audio duration 0.20 s is outside 0.5-600 s")
    assert len(messages(issues)) == 3


def test_sample_rate_and_audio_duration_outside_their_ranges_are_errors(tmp_path):
    tiny_wav(tmp_path / "low.wav", rate=4000)
    tiny_wav(tmp_path / "brief.wav", seconds=0.3)
    tiny_wav(tmp_path / "fine.wav", seconds=0.6, rate=8000)  # just inside both ranges
    path = write_manifest(tmp_path, ["R1,S1,HC,DDK_PA,02,,low.wav,,,",
                                     "R2,S2,HC,DDK_PA,02,,brief.wav,,,",
                                     "R3,S3,HC,DDK_PA,02,,fine.wav,,,"])
    _, _, issues = manifest.validate(path)
    assert has_message(issues, 2, "audio_path", "low.wav", "audio sample rate 4000 Hz is outside 8000-96000 Hz")
    assert has_message(issues, 3, "audio_path", "brief.wav", "audio duration 0.30 s is outside 0.5-600 s")
    assert len(messages(issues)) == 2


def damaged_copies(folder: Path) -> None:
    """``whole.avi`` (150 frames, 6 s of sound), ``cut.avi`` (its first half of bytes, as an
    interrupted copy leaves it), ``corrupt.avi`` (a twentieth of its bytes overwritten in the
    middle) and ``cut.wav`` (the first half of a 2 s WAV file)."""
    data = tiny_clip(folder / "whole.avi", seconds=6.0, fps=25.0).read_bytes()
    (folder / "cut.avi").write_bytes(data[:len(data) // 2])
    damaged = bytearray(data)
    middle = slice(len(data) // 2, len(data) // 2 + len(data) // 20)
    damaged[middle] = bytes((7 * b + 13) % 256 for b in damaged[middle])
    (folder / "corrupt.avi").write_bytes(bytes(damaged))
    sound = tiny_wav(folder / "whole.wav", seconds=2.0).read_bytes()
    (folder / "cut.wav").write_bytes(sound[:len(sound) // 2])


FRAMES_DECODE = re.compile(r"^(\d+) of 150 frames decode \((\d+)%\)")


def test_files_cut_short_or_corrupted_are_flagged_with_what_is_missing(tmp_path, capsys):
    damaged_copies(tmp_path)
    path = write_manifest(tmp_path, ["R_whole,S1,HC,NSM_OPEN,02,whole.avi,,,,",
                                     "R_cut,S2,HC,NSM_OPEN,02,cut.avi,,,,",
                                     "R_corrupt,S3,HC,NSM_OPEN,02,corrupt.avi,,,,",
                                     "R_cut_wav,S4,HC,DDK_PA,02,,cut.wav,,,"])
    run = tmp_path / "run"
    assert cli(["run", "--manifest", str(path), "--out", str(run), "--to", "validate"]) == 0
    issues = pd.read_csv(run / "validation.csv", keep_default_na=False)
    assert (issues["row"] != 2).all()  # the whole file decodes as it says
    video = issues[issues["message"].str.contains("frames decode")].set_index("recording_id")
    assert video.loc["R_cut", ["severity", "row", "column"]].tolist() == ["error", 3, "video_path"]
    assert video.loc["R_corrupt", ["severity", "row", "column"]].tolist() == ["warning", 4, "video_path"]
    cut_frames = int(FRAMES_DECODE.match(video.loc["R_cut", "message"]).group(1))
    corrupt_frames = int(FRAMES_DECODE.match(video.loc["R_corrupt", "message"]).group(1))
    assert cut_frames < 150 * (1 - manifest.EXCLUDED_MISSING_SHARE) <= corrupt_frames < 150
    assert "more than 20% is missing, so the recording is excluded" in video.loc["R_cut", "message"]

    # FFmpeg reads a WAV file's length from its size; its header still says 2 s were written
    [wav] = issues.loc[issues["recording_id"] == "R_cut_wav", "message"]
    assert wav.startswith("1.00 of 2.00 s of sound decode (50%): more than 20% is missing")

    media = pd.read_parquet(run / "media.parquet").set_index("recording_id")
    assert media["video_n_frames"].tolist()[:3] == [150, 150, 150]
    assert media["video_n_frames_decoded"].tolist()[:3] == [150, cut_frames, corrupt_frames]
    # columns are <file kind>_<fact>: the video file's own video stream and its sound
    assert media.loc["R_corrupt", "video_video_missing_share"] == pytest.approx(1 - corrupt_frames / 150)
    assert media.loc["R_cut", "video_audio_missing_share"] > manifest.EXCLUDED_MISSING_SHARE
    assert pd.read_parquet(run / "manifest.validated.parquet")["valid"].tolist() == [True, False, True, False]

    errors = pd.read_csv(run / "errors.csv")
    assert errors["recording_id"].tolist() == ["R_cut", "R_cut_wav"]
    assert f"row 3, video_path: {cut_frames} of 150 frames decode" in errors.loc[0, "message"]
    summary = capsys.readouterr().err
    assert "excluded, failed or skipped in a stage: 2" in summary
    assert "kept with warnings about their media: 1" in summary
    assert (f"  warning: {path} row 4 (R_corrupt), column 'video_path' (corrupt.avi): "
            f"{corrupt_frames} of 150 frames decode ({corrupt_frames / 150:.0%})") in summary


def test_real_recordings_decode_as_they_state(tmp_path):
    """Files nobody on this project made: a speech WAV, MPEG-1 with MP2 sound, H.264 with MP3 or
    with an AAC track of digital silence. Only the silence is reported."""
    root = realdata()
    path = write_manifest(tmp_path, [
        "R_wav,S1,HC,DDK_PA,02,,speech/neurospeech_hc/DDK.wav,,,",
        "R_mpg,S2,HC,BBP_NORMAL,02,video/grid/bbaf2n.mpg,,,,",
        "R_quiet,S3,HC,NSM_BIGSMILE,02,video/pyfeat/single_face.mp4,,,,",  # room noise at -40 dBFS
        "R_mute,S4,HC,BBP_NORMAL,02,video/pyfeat/WolfgangLanger_Pexels.mp4,,,,",
    ])
    _, media, issues = manifest.validate(path, data_root=root)
    assert [(i.severity, i.row, i.message) for i in issues] == [
        ("warning", 5, "the sound is digital silence (every sample is 0); its eGeMAPS, voice, "
                       "timing and DDK features will be NaN")]
    shares = media.filter(like="missing_share").to_numpy(dtype=float)
    assert np.nanmax(shares) < 0.01


def test_silent_sound_is_a_warning_and_its_speech_features_are_nan_with_the_reason(tmp_path):
    write_clip(tmp_path / "mute.avi", (np.zeros((48, 64, 3), np.uint8) for _ in range(50)), fps=25.0,
               size=(64, 48), audio=np.zeros(32000), audio_rate=16000)
    tiny_wav(tmp_path / "voice.wav", seconds=2.0)
    path = write_manifest(tmp_path, ["R_mute,S1,HC,DDK_PA,02,mute.avi,,,,",
                                     "R_sidecar,S2,HC,DDK_PA,02,mute.avi,voice.wav,,,",
                                     "R_smile,S3,HC,NSM_SPREAD,02,mute.avi,,,,"])
    run = tmp_path / "run"
    assert cli(["validate", "--manifest", str(path), "--out", str(run)]) == 0
    issues = pd.read_csv(run / "validation.csv", keep_default_na=False)
    # the sidecar's row uses the sidecar's sound; a smile asks for no speech
    assert issues[["severity", "row", "column", "recording_id"]].values.tolist() == [
        ["warning", 2, "video_path", "R_mute"]]
    assert "digital silence" in issues.loc[0, "message"] and "features will be NaN" in issues.loc[0, "message"]
    media = pd.read_parquet(run / "media.parquet").set_index("recording_id")
    assert media.loc["R_mute", "video_audio_peak_dbfs"] == -np.inf
    assert media.loc["R_sidecar", "audio_audio_peak_dbfs"] == pytest.approx(20 * np.log10(0.2), abs=0.1)
    assert any("row 2 (R_mute), column 'video_path' (mute.avi): the sound is digital silence" in line
               for line in run_summary(run))

    assert cli(["audio", "--manifest", str(path), "--out", str(run)]) == 0
    features = pd.read_parquet(run / "features" / "audio.parquet").set_index("recording_id")
    assert np.isnan(features.loc["R_mute", "ddk__syllable_count"])
    assert not np.isnan(features.loc["R_sidecar", "ddk__syllable_count"])
    reasons = cache.read_parquet_metadata(run / "cache" / "audio" / "R_mute.parquet")["nan_reasons"]
    assert reasons["ddk__syllable_count"] == "the sound is digital silence (every sample is 0)"


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


def test_missing_manifest_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "none.csv"
    assert cli(["validate", "--manifest", str(missing), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {missing}: manifest not found"


def test_video_only_recording_is_skipped_by_the_audio_stage(media_dir, tmp_path):
    path = write_manifest(media_dir, ["N001_02_NSM_OPEN,N001,HC,NSM_OPEN,02,silent.avi,,,,"])
    run = tmp_path / "run"
    assert cli(["validate", "--manifest", str(path), "--out", str(run)]) == 0
    assert cli(["audio", "--manifest", str(path), "--out", str(run)]) == 0
    errors = pd.read_csv(run / "errors.csv")
    assert errors[["stage", "recording_id", "error"]].values.tolist() == [["audio", "N001_02_NSM_OPEN", "NoAudioError"]]
    assert len(pd.read_parquet(run / "features" / "audio.parquet")) == 0


DATED = "recording_id,subject_id,group,task,visit,visit_date,video_path\n"


def test_unprobed_recordings_are_not_said_to_lack_sound(media_dir, tmp_path):
    path = write_manifest(media_dir, ["N001_02_DDK_PA,N001,HC,DDK_PA,02,a.avi,,,,"])
    run = tmp_path / "run"
    assert cli(["validate", "--no-probe", "--manifest", str(path), "--out", str(run)]) == 0
    assert cli(["audio", "--manifest", str(path), "--out", str(run)]) == 0
    assert not (run / "errors.csv").is_file() or pd.read_csv(run / "errors.csv").empty
    assert pd.read_parquet(run / "features" / "audio.parquet")["recording_id"].tolist() == ["N001_02_DDK_PA"]


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


def test_an_empty_file_is_said_to_be_empty(media_dir):
    (media_dir / "empty.avi").write_bytes(b"")
    path = write_manifest(media_dir, ["R1,S1,HC,NSM_OPEN,02,empty.avi,,,,"])
    _, _, issues = manifest.validate(path)
    [error] = [i for i in issues if i.severity == "error"]
    assert error.message == f"{media_dir / 'empty.avi'}: the file is empty (0 bytes)"
    assert (error.row, error.column, error.media) == (2, "video_path", "empty.avi")


def test_no_audio_warning_only_for_files_that_opened(media_dir):
    path = write_manifest(media_dir, ["R1,S1,HC,NSM_OPEN,02,broken.avi,,,,",
                                      "R2,S2,HC,NSM_OPEN,02,gone.avi,,,,",
                                      "R3,S3,HC,NSM_OPEN,02,silent.avi,,,,"])
    _, _, issues = manifest.validate(path)
    assert {(i.row, i.column) for i in issues if i.severity == "error"} == {(2, "video_path"), (3, "video_path")}
    [warning] = [i for i in issues if i.severity == "warning"]
    assert warning.row == 4 and "no audio" in warning.message


def test_validation_failures_name_the_file_in_the_log_and_the_recording_in_errors_csv(media_dir,
                                                                                      tmp_path):
    path = write_manifest(media_dir, ["R1,S1,HC,NSM_OPEN,02,broken.avi,,,,",
                                      "R2,S2,HC,READING,02,a.avi,b.avi,,,"])
    run = tmp_path / "run"
    assert cli(["validate", "--manifest", str(path), "--out", str(run)]) == 1
    errors = pd.read_csv(run / "errors.csv").set_index("recording_id")
    # errors.csv is read by people: the recording by its id, the cell by row and column
    assert errors.loc["R1", "message"].startswith("row 2, video_path: ")
    assert errors.loc["R2", "message"].startswith("row 3, task: 'READING' is not a known task")
    assert "broken.avi" not in errors.to_csv() and "file" not in errors.columns
    # the operator's log names the file
    log = (run / "logs" / "avstroke.log").read_text()
    assert "row 2 (R1), column 'video_path' (broken.avi)" in log


def test_run_summary_counts_recordings_not_rows(tmp_path):
    record_errors(tmp_path, "landmarks", [ItemResult("R1", "failed", "r1.avi", "NoFaceError", "no face")])
    record_errors(tmp_path, "audio", [ItemResult("R1", "skipped", "r1.avi", "NoAudioError", "no sound"),
                                      ItemResult("R2", "failed", "r2.avi", "MediaError", "bad")])
    assert len(pd.read_csv(tmp_path / "errors.csv")) == 3
    assert "excluded, failed or skipped in a stage: 2 " in run_summary(tmp_path)[0]


@pytest.mark.parametrize("separator, name", [(";", "';'"), ("\t", "tabs")])
def test_a_manifest_of_one_column_suggests_its_separator(tmp_path, separator, name):
    path = write_manifest(tmp_path, [separator.join(["R1", "S1", "HC", "NSM_OPEN", "02", "a.avi"])],
                          header=separator.join(manifest.REQUIRED + ("video_path",)) + "\n")
    with pytest.raises(ManifestError, match=re.escape(f"{path}: the manifest has one column: is it "
                                                      f"separated by {name}?")):
        manifest.validate(path, probe_media=False)


def test_a_manifest_that_is_not_utf8_names_the_row_and_the_encoding(tmp_path):
    path = tmp_path / "data_manifest.csv"
    rows = [HEADER, "R1,S1,HC,NSM_OPEN,02,a.avi,,,,\n", "R2,S2,HC,NSM_OPEN,02,b.avi,,,,\n",
            "R3,S3,HC,NSM_OPEN,02,c.avi,,,,\n", "R4,S4,HC,NSM_OPEN,02,José.avi,,,,\n"]
    path.write_bytes("".join(rows).encode("cp1252"))  # as a spreadsheet saves 'CSV' on Windows
    with pytest.raises(ManifestError, match=re.escape(f"{path}: row 5 is not UTF-8 text; save the "
                                                      "file as UTF-8")):
        manifest.validate(path, probe_media=False)


def test_an_absolute_path_outside_the_manifest_folder_suggests_data_root(tmp_path):
    media = tmp_path / "recordings"
    media.mkdir()
    tiny_clip(media / "a.avi")
    folder = tmp_path / "manifests"
    folder.mkdir()
    path = write_manifest(folder, [f"R1,S1,HC,NSM_OPEN,02,{media / 'a.avi'},,,,"])
    _, _, issues = manifest.validate(path)
    [error] = messages(issues)
    assert f"absolute path '{media / 'a.avi'}' is outside the data root {folder}" in error
    assert f"pass --data-root with a folder that holds every recording, e.g. --data-root {media}" in error
    _, _, issues = manifest.validate(path, data_root=media)  # the suggestion works
    assert messages(issues) == []


def test_a_run_whose_every_recording_fails_validation_stops_with_the_reason(media_dir, tmp_path, capsys):
    path = write_manifest(media_dir, ["R1,S1,HC,NSM_OPEN,02,gone.avi,,,,",
                                      "R2,S2,HC,NSM_OPEN,02,broken.avi,,,,"])
    run = tmp_path / "run"
    assert cli(["run", "--manifest", str(path), "--out", str(run), "--to", "assemble"]) == 1
    printed = capsys.readouterr().err
    assert "validate: no recording passed validation, so no stage can run" in printed
    assert "Traceback" not in printed and not (run / "features").exists()

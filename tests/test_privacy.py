"""Recordings are named by recording_id only: file names holding a name and a birth date, with
spaces, dots and non-ASCII letters, reach neither the people-facing tables nor the exports."""
from __future__ import annotations

import openpyxl
import pandas as pd

from core.errors import MediaError
from core.privacy import PLACEHOLDER, path_forms, scrub_paths
from pipeline import export as export_stage
from pipeline.cli import main as cli
from pipeline.privacy import known_paths
from pipeline.runner import ItemResult, record_errors, run_items
from tests.conftest import tiny_clip
from tests.test_export import recordings_table

# File names as clinics write them.
PRIVATE_FILES = ("Smith John 1961-03-02 smile.avi", "Müller.Anna.2.mp4", "Øyvind Ås – 1.avi")
# Any of these in a table or page means part of a file name got through.
PRIVATE_PARTS = ("Smith", "John", "1961-03-02", "Müller", "Anna", "Øyvind", "Ås", "smile.avi", ".mp4")
SMITH, MULLER, OYVIND = PRIVATE_FILES
IDS = {SMITH: "R_smith", MULLER: "R_muller", OYVIND: "R_oyvind"}


def leaked(texts) -> list[str]:
    return [part for text in texts for part in PRIVATE_PARTS if part in str(text)]


def test_a_path_is_known_by_its_whole_forms_not_by_words():
    assert path_forms(f"/data/clinic/{SMITH}") == [
        f"/data/clinic/{SMITH}", f"data/clinic/{SMITH}", f"clinic/{SMITH}", SMITH, SMITH[:-4]]
    known = known_paths(pd.DataFrame({"video_path": [f"/data/{SMITH}", f"/data/{MULLER}", ""],
                                      "audio_path": ["", "", f"/data/{OYVIND}"]}))
    messages = {
        f"/data/{SMITH}: cannot be read ('/data/{SMITH}')": f"{PLACEHOLDER}: cannot be read ('{PLACEHOLDER}')",
        f"{SMITH} has no audio stream": f"{PLACEHOLDER} has no audio stream",
        "no face found in Müller.Anna.2 (25 frames)": f"no face found in {PLACEHOLDER} (25 frames)",
        f"/mnt/copy/{OYVIND}: 67 points in frame 3": f"{PLACEHOLDER}: 67 points in frame 3",
        "R_smith row 3: John's smile": "R_smith row 3: John's smile",
    }
    for message, expected in messages.items():
        assert scrub_paths(message, known) == expected
    # An unknown path is removed as far as it looks like one, spaces and all.
    assert scrub_paths("/x/Jane Doe 1950-01-01 smile.avi: failed") == f"{PLACEHOLDER}: failed"


def _failing_open(item: dict) -> ItemResult:
    raise MediaError(f"{item['file']}: cannot be opened as a video file (Invalid data found when "
                     f"processing input: '{item['file']}')")


def test_validation_and_error_tables_name_recordings_by_id_only(media_dir, tmp_path):
    (media_dir / SMITH).write_bytes(b"RIFF\x00\x00not a video at all" * 10)  # cannot be decoded
    tiny_clip(media_dir / OYVIND, audio=False)  # valid, silent: the audio stage skips it
    # MULLER is not there at all.
    manifest = media_dir / "data_manifest.csv"
    manifest.write_text("recording_id,subject_id,group,task,visit,video_path\n" + "".join(
        f"{IDS[name]},{IDS[name][2:]},HC,NSM_OPEN,02,{name}\n" for name in PRIVATE_FILES), encoding="utf-8")
    run = tmp_path / "run"
    assert cli(["validate", "--manifest", str(manifest), "--out", str(run)]) == 1
    assert cli(["audio", "--manifest", str(manifest), "--out", str(run)]) == 0
    # An exception whose message holds the path, as the decoders raise them, through the runner.
    results = run_items("landmarks", [{"recording_id": IDS[OYVIND], "file": str(media_dir / OYVIND)}],
                        _failing_open)
    record_errors(run, "landmarks", results)
    assert str(media_dir / OYVIND) in results[0].message

    validation = pd.read_csv(run / "validation.csv", dtype=str, keep_default_na=False)
    errors = pd.read_csv(run / "errors.csv", dtype=str, keep_default_na=False)
    assert not leaked(validation.to_numpy().ravel())
    assert not leaked(errors.to_numpy().ravel()) and "file" not in errors.columns
    assert set(validation.loc[validation["severity"] == "error", "recording_id"]) == {IDS[SMITH], IDS[MULLER]}
    assert sorted(zip(errors["stage"], errors["recording_id"], errors["error"])) == [
        ("audio", IDS[OYVIND], "NoAudioError"), ("landmarks", IDS[OYVIND], "MediaError"),
        ("validate", IDS[MULLER], "ValidationError"), ("validate", IDS[SMITH], "ValidationError")]
    by_id = dict(zip(errors["recording_id"] + errors["stage"], errors["message"]))
    assert by_id[IDS[SMITH] + "validate"].startswith("row 2, video_path: [file]: cannot decode")
    assert by_id[IDS[MULLER] + "validate"].startswith("row 3, video_path: file not found")
    assert by_id[IDS[OYVIND] + "landmarks"].startswith("[file]: cannot be opened as a video file")


def test_exports_hold_no_part_of_a_file_name(tmp_path):
    recordings = recordings_table()
    names = [PRIVATE_FILES[i % 3] for i in range(len(recordings))]
    recordings["video_path"] = [f"/data/{name}" for name in names]
    recordings["audio_path"] = names
    run = tmp_path / "run"
    (run / "features").mkdir(parents=True)
    recordings.to_parquet(run / "features" / "recordings.parquet")
    assert export_stage.main(["--out", str(run)]) == 0
    folder = run / "export"
    book = openpyxl.load_workbook(folder / "features.xlsx")
    cells = [c.value for sheet in book for row in sheet.iter_rows() for c in row]
    assert not leaked(cells)
    assert set(recordings["subject_id"]) <= set(cells)
    for csv in folder.glob("*.csv"):
        assert not leaked([csv.read_text(encoding="utf-8")]), csv.name

"""Clinic-defined tasks: the tasks file, its errors by row, the vocabulary a run carries, and a run
of a sustained vowel and a reading passage from validation to the export's data dictionary."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, ManifestError
from core.tasks import KINDS, NEUROFACE, TaskSpec, vocabulary_from_records, vocabulary_records
from features import registry
from features.video import face_features as ff
from features.video.landmarks import X_COLUMNS, Y_COLUMNS
from pipeline import cache, manifest, predict, task_file
from pipeline.cli import main as cli
from pipeline.recordings import cache_path
from reports.importance import plain_name
from reports.sections.cohort import task_rows
from tests.conftest import tiny_clip
from tests.test_audio_features import (SR, perturbed_pulse_train, syllable_train,
                                       vowel_with_unsteady_edges, write_wav)
from tests.test_face_features import open_lips, regular_times, still, to_image

HEADER = "task,kind,face_profile,syllables_per_cycle,description\n"
BEFORE = Path(__file__).parent / "fixtures" / "neuroface_tasks_before.json"
CLINIC_TASKS = HEADER + "VOWEL_A,vowel,,,sustained /a/\nREADING,speech,,,reading passage\n"


def tasks_file(folder: Path, text: str, name: str = "tasks.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def errors(issues) -> list[str]:
    return [str(issue) for issue in issues if issue.severity == "error"]


# ---------------------------------------------------------------- the file and its checks


def test_a_tasks_file_adds_clinic_tasks_with_profiles_by_kind(tmp_path):
    path = tasks_file(tmp_path, HEADER + "\n".join([
        "VOWEL_A,vowel,,,sustained /a/",
        "VOWEL_I,vowel,smile,,sustained /i/",
        "READING,speech,,,reading passage",
        "DDK_TA,ddk,,1,'ta' repetition",
        "DDK_PATA,ddk,,2,",
        "CHEEK_PUFF,movement,blow,,puff the cheeks",
    ]) + "\n")
    vocabulary, issues = task_file.read_tasks_file(path)
    assert issues == []
    assert list(vocabulary) == list(NEUROFACE) + ["VOWEL_A", "VOWEL_I", "READING", "DDK_TA", "DDK_PATA",
                                                  "CHEEK_PUFF"]
    assert vocabulary["VOWEL_A"] == TaskSpec("VOWEL_A", "vowel", "open", "sustained /a/")
    assert vocabulary["VOWEL_I"].face_profile == "smile"
    assert vocabulary["READING"] == TaskSpec("READING", "speech", "sentence", "reading passage")
    assert (vocabulary["DDK_TA"].face_profile, vocabulary["DDK_TA"].syllables_per_cycle) == ("pa", 1)
    assert (vocabulary["DDK_PATA"].face_profile, vocabulary["DDK_PATA"].syllables_per_cycle) == ("pataka", 2)
    assert vocabulary["DDK_PATA"].description == "DDK_PATA (syllable repetition)"
    assert vocabulary["CHEEK_PUFF"].kind == "movement"
    # what a run stores is what it reads back
    assert vocabulary_from_records(json.loads(json.dumps(vocabulary_records(vocabulary)))) == vocabulary


def test_every_problem_of_a_tasks_file_is_listed_with_its_row(tmp_path):
    path = tasks_file(tmp_path, HEADER + "\n".join([
        "VOWEL_A,vowel,,,sustained /a/",       # row 2: fine
        "HUM,singing,,,humming",               # row 3: unknown kind
        "GRIN,movement,grin,,grin",            # row 4: unknown profile
        "PUFF,movement,,,puff",                # row 5: movement without a profile
        "DDK_TA,ddk,,,ta",                     # row 6: ddk without a cycle
        "DDK_KA,ddk,,one,ka",                  # row 7: cycle not a number
        "READ,speech,,3,reading",              # row 8: a cycle for a speech task
        "my task,speech,,,x",                  # row 9: bad characters
        "VOWEL__O,vowel,,,x",                  # row 10: '__' would break column names
        "DDK_PA,ddk,pataka,3,pa again",        # row 11: a built-in name, another definition
        "nsm_open,movement,open,,open",        # row 12: a built-in name in other case
        "vowel_a,vowel,,,again",               # row 13: the same task twice
        ",vowel,,,no name",                    # row 14: no name
    ]) + "\n")
    vocabulary, issues = task_file.read_tasks_file(path)
    assert errors(issues) == [f"error: {path} row {row}, column '{column}': {message}" for row, column, message in [
        (3, "kind", "'singing' is not a task kind; allowed: speech (connected speech), ddk (syllable "
                    "repetition), vowel (sustained vowel), movement (non-speech movement)"),
        (4, "face_profile", f"'grin' is not a face profile; allowed: {', '.join(ff.PROFILES)}"),
        (5, "face_profile", "a movement task needs a face_profile, the movement its video is measured on; "
                            f"allowed: {', '.join(ff.PROFILES)}"),
        (6, "syllables_per_cycle", "a ddk task needs syllables_per_cycle, the syllables of one repeated "
                                   "cycle (1 for /pa/, 3 for /pa-ta-ka/)"),
        (7, "syllables_per_cycle", "'one' is not a whole number of syllables of at least 1"),
        (8, "syllables_per_cycle", "only ddk tasks have syllables per cycle; leave it empty for a speech task"),
        (9, "task", f"task 'my task' {manifest.ID_RULE}, and may not hold '__' (it separates the parts of "
                    "column names)"),
        (10, "task", f"task 'VOWEL__O' {manifest.ID_RULE}, and may not hold '__' (it separates the parts "
                     "of column names)"),
        (11, "task", "DDK_PA is a built-in NeuroFace task (kind ddk, face profile pa, "
                     "syllables_per_cycle 1); a row of that name must define it so, or give your task another name"),
        (12, "task", "task 'nsm_open' differs from the built-in task 'NSM_OPEN' only in case; name it "
                     "'NSM_OPEN' or give it another name"),
        (13, "task", "task 'vowel_a' is defined already on row 2 as 'VOWEL_A' (names are compared "
                     "ignoring case)"),
        (14, "task", "task is empty; give the code the manifest's task column uses, e.g. VOWEL_A"),
    ]]
    assert list(vocabulary) == list(NEUROFACE) + ["VOWEL_A"], "only the sound rows join"
    assert vocabulary["DDK_PA"] == NEUROFACE["DDK_PA"]


def test_a_row_naming_a_built_in_task_may_reword_it_but_not_redefine_it(tmp_path):
    path = tasks_file(tmp_path, HEADER + "DDK_PA,ddk,pa,1,repetition of 'pa'\nNSM_BROW,movement,brow,,\n")
    vocabulary, issues = task_file.read_tasks_file(path)
    assert issues == []
    assert vocabulary["DDK_PA"].description == "repetition of 'pa'"
    assert vocabulary["DDK_PA"].definition() == NEUROFACE["DDK_PA"].definition()


def test_the_tasks_files_header_and_format_are_checked(tmp_path):
    _, issues = task_file.read_tasks_file(tasks_file(tmp_path, "task,face_profile\nX,open\n", "a.csv"))
    assert errors(issues) == [f"error: {tmp_path / 'a.csv'} row 1, column 'kind': required column 'kind' is "
                              "missing; required: task, kind"]
    vocabulary, issues = task_file.read_tasks_file(
        tasks_file(tmp_path, "task,kind,notes\nVOWEL_A,vowel,quiet room\n", "b.csv"))
    assert errors(issues) == [] and "VOWEL_A" in vocabulary
    assert [str(i) for i in issues] == [
        f"warning: {tmp_path / 'b.csv'} row 1, column 'notes': unknown column 'notes' is ignored; the "
        "columns are task, kind, face_profile, syllables_per_cycle, description"]
    _, issues = task_file.read_tasks_file(tasks_file(tmp_path, HEADER, "c.csv"))
    assert errors(issues) == [f"error: {tmp_path / 'c.csv'}: the tasks file has no rows; give one row per "
                              "task of your own"]
    with pytest.raises(ManifestError, match="the tasks file has one column: is it separated by ';'"):
        task_file.read_tasks_file(tasks_file(tmp_path, "task;kind\nVOWEL_A;vowel\n", "d.csv"))
    with pytest.raises(ManifestError, match="tasks file not found"):
        task_file.read_tasks_file(tmp_path / "missing.csv")
    assert task_file.resolve_vocabulary(None) == (NEUROFACE, [])


# ---------------------------------------------------------------- NeuroFace's nine, unchanged


def test_the_nine_built_in_tasks_measure_what_they_measured_before():
    before = json.loads(BEFORE.read_text())
    assert list(ff.COLUMNS) == before["face_columns"]
    for name, spec in NEUROFACE.items():
        profile = dataclasses.asdict(ff.PROFILES[spec.face_profile])
        # the cycle of a syllable repetition is now the task's, no longer the profile's
        profile["train_cycle"] = spec.syllables_per_cycle if spec.kind == "ddk" else None
        assert json.loads(json.dumps(profile)) == before["profiles"][name], name
    extra = {feature.column for feature in registry.entries()} - set(before["feature_tasks"])
    assert all(column.startswith("meta__") for column in extra), "only covariates registered by tests"
    for column, tasks in before["feature_tasks"].items():
        feature = registry.lookup(column)
        applies = sorted(name for name, spec in NEUROFACE.items() if feature.applies_to(spec))
        assert applies == (tasks or sorted(NEUROFACE)), column


def test_every_kind_and_built_in_profile_is_known():
    assert {spec.kind for spec in NEUROFACE.values()} == set(KINDS) - {"vowel"}
    assert {spec.face_profile for spec in NEUROFACE.values()} == set(ff.PROFILES)
    assert all((spec.syllables_per_cycle is not None) == (spec.kind == "ddk") for spec in NEUROFACE.values())


# ---------------------------------------------------------------- a run with clinic tasks


JAW = list(range(5, 12))  # the chin and the jaw line beside it


def open_vowel_landmarks(path: Path) -> None:
    """A landmark cache file of 3 s of a face that opens the mouth (lips and jaw, by 0.25 IOD)
    once and holds it open."""
    times = regular_times(3.0)
    opening = np.clip((times - 0.5) / 0.3, 0.0, 1.0) * 0.25
    faces = open_lips(still(times), opening)
    faces[:, JAW, 1] += opening[:, None]
    points = to_image(faces)
    table = pd.DataFrame({"frame": np.arange(len(times)), "time_s": times,
                          "face_found": np.ones(len(times), bool),
                          **dict(zip(X_COLUMNS, points[:, :, 0].T)), **dict(zip(Y_COLUMNS, points[:, :, 1].T))})
    cache.write_parquet(table, path, key="synthetic landmarks")


@pytest.fixture
def clinic_run(tmp_path) -> dict:
    """Media of a sustained /a/ (video and sound) and a read passage (sound), a manifest naming
    them by clinic tasks, and the tasks file defining those tasks."""
    # file names unlike any word of a message: validation.csv removes media names from messages
    vowel = perturbed_pulse_train(f0=120.0, duration_s=2.5, jitter=0.004, shimmer=0.02)
    write_wav(tmp_path / "s1_a.wav", vowel[None, :], SR)
    tiny_clip(tmp_path / "s1_a.avi", seconds=2.0)
    write_wav(tmp_path / "s1_text.wav", syllable_train(rate_hz=4.0, n_syllables=12)[None, :], SR)
    rows = ["recording_id,subject_id,group,task,visit,video_path,audio_path",
            "S1_VOWEL,S1,HC,VOWEL_A,01,s1_a.avi,s1_a.wav",
            "S1_READ,S1,HC,READING,01,,s1_text.wav"]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return {"manifest": tmp_path / "manifest.csv", "tasks": tasks_file(tmp_path, CLINIC_TASKS),
            "run": tmp_path / "run"}


def validate_args(clinic_run: dict, tasks: Path | None = None) -> list[str]:
    return ["validate", "--manifest", str(clinic_run["manifest"]), "--out", str(clinic_run["run"]),
            "--tasks", str(tasks or clinic_run["tasks"])]


def test_a_run_measures_a_clinic_vowel_and_reading_passage_by_their_kinds(clinic_run):
    run = clinic_run["run"]
    assert cli(validate_args(clinic_run)) == 0
    vocabulary = task_file.run_vocabulary(run)
    assert vocabulary["VOWEL_A"] == TaskSpec("VOWEL_A", "vowel", "open", "sustained /a/")
    stored = cache.read_parquet_metadata(run / manifest.VALIDATED_FILE)["tasks_source"]
    assert stored == {"file": str(clinic_run["tasks"].resolve()),
                      "sha256": cache.file_digest(clinic_run["tasks"])}

    open_vowel_landmarks(cache_path(run, "landmarks", "S1_VOWEL"))
    assert cli(["face-features", "--out", str(run)]) == 0
    face = pd.read_parquet(run / "features" / "face.parquet").set_index("recording_id")
    assert list(face.index) == ["S1_VOWEL"]
    assert face.loc["S1_VOWEL", "face__jaw_opening_rom"] == pytest.approx(0.25, abs=0.03)  # open profile
    assert np.isnan(face.loc["S1_VOWEL", "face__brow_elevation_asym_pct"])
    reasons = cache.read_parquet_metadata(cache_path(run, "face", "S1_VOWEL"))["reasons"]
    assert reasons["face__brow_elevation_asym_pct"] == ("not measured in VOWEL_A (face profile open); it "
                                                        "applies to tasks with face profile brow")

    assert cli(["audio", "--out", str(run)]) == 0
    audio = pd.read_parquet(run / "features" / "audio.parquet").set_index("recording_id")
    assert audio.loc["S1_VOWEL", "voice__f0_mean_hz"] == pytest.approx(120.0, abs=1.0)
    assert np.isnan(audio.loc["S1_VOWEL", "timing__speaking_rate"])
    assert np.isnan(audio.loc["S1_VOWEL", "ddk__syllable_rate"])
    assert audio.loc["S1_READ", "timing__syllable_count"] == 12
    assert np.isfinite(audio.loc["S1_READ", "voice__f0_mean_hz"])
    vowel_meta = cache.read_parquet_metadata(cache_path(run, "audio", "S1_VOWEL"))
    assert vowel_meta["nan_reasons"]["timing__speaking_rate"] == ("VOWEL_A is a sustained vowel: it has no "
                                                                  "syllables or pauses to count or time")
    start, end = vowel_meta["vowel"]["span_s"]
    assert start == pytest.approx(0.35, abs=0.02) and end == pytest.approx(2.25, abs=0.03)

    assert cli(["assemble", "--out", str(run)]) == 0
    table = pd.read_parquet(run / "features" / "table.parquet")
    assert {"voice__VOWEL_A__jitter_local_pct", "timing__READING__speaking_rate",
            "face__VOWEL_A__jaw_opening_rom"} <= set(table.columns)
    assert "timing__VOWEL_A__speaking_rate" not in table.columns  # NaN for every subject: dropped
    assert plain_name("voice__VOWEL_A__jitter_local_pct", vocabulary).endswith(", sustained /a/")
    recordings = pd.read_parquet(run / "features" / "recordings.parquet")
    assert task_rows(recordings, vocabulary)[1] == [
        {"task": "READING", "words": "reading passage", "kind": "connected speech", "counts": [1]},
        {"task": "VOWEL_A", "words": "sustained /a/", "kind": "sustained vowel", "counts": [1]}]

    assert cli(["export", "--out", str(run)]) == 0
    dictionary = pd.read_csv(run / "export" / "dictionary.csv", keep_default_na=False).set_index("column")
    assert dictionary.loc["voice__jitter_local_pct", "tasks"] == "all tasks"
    assert dictionary.loc["timing__speaking_rate", "tasks"] == "READING"
    assert dictionary.loc["face__jaw_opening_rom", "tasks"] == "all tasks"
    assert dictionary.loc["face__smile_angle_diff_peak", "tasks"] == "none of these tasks"
    assert dictionary.loc["task", "description"] == ("Examination task the recording shows: VOWEL_A = "
                                                     "sustained /a/; READING = reading passage.")


def test_changing_a_tasks_kind_measures_its_recordings_again_and_only_them(clinic_run, tmp_path):
    run = clinic_run["run"]
    assert cli(validate_args(clinic_run)) == 0
    assert cli(["audio", "--out", str(run)]) == 0
    keys = {rid: cache.stored_key(cache_path(run, "audio", rid)) for rid in ("S1_VOWEL", "S1_READ")}
    as_vowel = pd.read_parquet(run / "features" / "audio.parquet").set_index("recording_id")
    reworded = tasks_file(tmp_path, CLINIC_TASKS.replace("sustained /a/", "held 'ah'"), "reworded.csv")
    assert cli(validate_args(clinic_run, reworded)) == 0
    assert cli(["audio", "--out", str(run)]) == 0
    assert {rid: cache.stored_key(cache_path(run, "audio", rid)) for rid in keys} == keys, \
        "words for reports change no feature"

    as_speech = tasks_file(tmp_path, CLINIC_TASKS.replace("VOWEL_A,vowel", "VOWEL_A,speech"), "speech.csv")
    assert cli(validate_args(clinic_run, as_speech)) == 0
    assert cli(["audio", "--out", str(run)]) == 0
    assert cache.stored_key(cache_path(run, "audio", "S1_VOWEL")) != keys["S1_VOWEL"]
    assert cache.stored_key(cache_path(run, "audio", "S1_READ")) == keys["S1_READ"]
    as_speech = pd.read_parquet(run / "features" / "audio.parquet").set_index("recording_id")
    # as speech, its voice rests on the whole recording, no longer on the vowel's middle
    assert as_speech.loc["S1_VOWEL", "voice__n_periods"] > as_vowel.loc["S1_VOWEL", "voice__n_periods"] + 50
    reasons = cache.read_parquet_metadata(cache_path(run, "audio", "S1_VOWEL"))["nan_reasons"]
    assert "sustained vowel" not in reasons.get("timing__speaking_rate", "")


def test_a_broken_tasks_file_stops_validation_naming_its_rows(clinic_run, tmp_path):
    broken = tasks_file(tmp_path, HEADER + "VOWEL_A,vowel,,,sustained /a/\nREADING,reading,,,passage\n",
                        "broken.csv")
    assert cli(validate_args(clinic_run, broken)) == 1
    issues = pd.read_csv(clinic_run["run"] / "validation.csv", keep_default_na=False)
    first = issues.iloc[0]
    assert (first["file"], first["row"], first["column"]) == (str(broken), 3, "kind")
    assert first["message"].startswith("'reading' is not a task kind")
    # the manifest's READING row is unknown to the vocabulary the file could give
    assert "'READING' is not a known task" in " ".join(issues["message"])
    assert not (clinic_run["run"] / manifest.VALIDATED_FILE).exists()


def test_a_later_stage_refuses_a_tasks_file_other_than_the_validated_one(clinic_run, tmp_path):
    run = clinic_run["run"]
    assert cli(validate_args(clinic_run)) == 0
    other = tasks_file(tmp_path, CLINIC_TASKS.replace("VOWEL_A,vowel", "VOWEL_A,speech"), "other.csv")
    later = ["run", "--out", str(run), "--from", "assemble", "--to", "assemble"]
    assert cli([*later, "--tasks", str(other)]) == 2
    logged = (run / "logs" / "avstroke.log").read_text().splitlines()[-1]
    assert f"was validated with the tasks file {clinic_run['tasks'].resolve()}, not with --tasks {other}" in logged
    assert not (run / "features").exists()
    assert cli([*later, "--tasks", str(clinic_run["tasks"])]) == 0
    plain = tmp_path / "plain"
    # without the file its clinic tasks are unknown: those recordings are excluded
    assert cli(["validate", "--manifest", str(clinic_run["manifest"]), "--out", str(plain), "--no-probe"]) == 1
    with pytest.raises(ConfigError, match="validated without a tasks file"):
        task_file.check_tasks_from(plain, clinic_run["tasks"])


def test_predict_takes_a_single_clip_of_a_clinic_task(tmp_path):
    tasks = tasks_file(tmp_path, CLINIC_TASKS)
    args = predict_args(tmp_path, task="VOWEL_A", tasks=tasks)
    written = pd.read_csv(predict.single_video_manifest(args), dtype=str)
    assert written.loc[0, "task"] == "VOWEL_A"
    with pytest.raises(ConfigError, match="--task must be one of .*VOWEL_A.*; got 'VOWEL_O'"):
        predict.single_video_manifest(predict_args(tmp_path, task="VOWEL_O", tasks=tasks))
    with pytest.raises(ConfigError, match="a task of your own is defined in a tasks file"):
        predict.single_video_manifest(predict_args(tmp_path, task="VOWEL_A", tasks=None))


def predict_args(folder: Path, *, task: str, tasks: Path | None) -> argparse.Namespace:
    return argparse.Namespace(video=folder / "clip.avi", subject="NEW1", task=task, visit="01", tasks=tasks,
                              out=folder, data_root=None)


# ---------------------------------------------------------------- the vowel's stable middle


def test_the_stable_middle_of_a_vowel_leaves_out_its_unsteady_edges():
    from features.audio import voice_quality

    signal, _, middle = vowel_with_unsteady_edges(seed=1)
    track = voice_quality.analyse_pitch(voice_quality.to_sound(signal, SR))
    start, end = voice_quality.stable_vowel_span(track)
    # within a period (8 ms) of the steady middle, never a period more into the glides
    assert middle[0] - 0.01 <= start < middle[0] + 0.1 and middle[1] - 0.3 < end <= middle[1] + 0.01
    short = perturbed_pulse_train(f0=120.0, duration_s=0.8, jitter=0.0, shimmer=0.0)
    start, end = voice_quality.stable_vowel_span(voice_quality.analyse_pitch(voice_quality.to_sound(short, SR)))
    assert end - start == pytest.approx(0.4, abs=0.03), "a short vowel keeps its middle half"
    silent = voice_quality.analyse_pitch(voice_quality.to_sound(np.zeros(SR), SR))
    assert voice_quality.stable_vowel_span(silent) is None

"""Clinician export: values round trip, privacy, z-scores with known answers, dictionary, stage."""
from __future__ import annotations

import math
import re

import numpy as np
import openpyxl
from openpyxl.utils import get_column_letter
import pandas as pd
import pytest

from core.errors import ConfigError, ManifestError
from core.tasks import NEUROFACE
from features import registry
from pipeline import export as export_stage
from reports import export

FACE = next(f for f in registry.entries("face") if f.direction == "higher_worse")
VOICE = registry.entries("voice")[0]
DDK = registry.entries("ddk")[0]
BELOW_BAR = registry.lookup("quality__below_bar")
AGE = registry.lookup("meta__age")
FEATURES = [FACE, VOICE, DDK, BELOW_BAR, AGE]
READ_IDS_AS_TEXT = {"subject_id": str, "visit": str}

# Controls' first visits in NSM_SPREAD: FACE = 2, 4, 6 -> mean 4, SD 2 (ddof 1), n 3.
# N001's second visit holds an outlier that must not enter the norms.
# (subject, group, visit, task, FACE, VOICE, DDK, BELOW_BAR)
ROWS = [
    ("N001", "HC", "02", "NSM_SPREAD", 2.0, 10.0, np.nan, 0.0),
    ("N002", "HC", "02", "NSM_SPREAD", 4.0, 11.0, np.nan, 0.0),
    ("N003", "HC", "02", "NSM_SPREAD", 6.0, 12.0, np.nan, 0.0),
    ("N001", "HC", "03", "NSM_SPREAD", 100.0, 50.0, np.nan, 0.0),
    ("N001", "HC", "02", "DDK_PA", np.nan, 20.0, 5.0, 0.0),
    ("N002", "HC", "02", "DDK_PA", np.nan, 22.0, 6.0, 0.0),
    ("N003", "HC", "02", "DDK_PA", np.nan, 24.0, np.nan, 0.0),
    ("S001", "PS", "02", "NSM_SPREAD", 9.0, np.nan, np.nan, 1.0),
    ("S001", "PS", "03", "NSM_SPREAD", 5.0, 11.5, np.nan, 0.0),
    ("S002", "PS", "02", "NSM_SPREAD", -1.0, 13.0, np.nan, 0.0),
    ("S002", "PS", "02", "DDK_PA", np.nan, 18.0, 3.0, 0.0),
]


def recordings_table() -> pd.DataFrame:
    """A recording-level table shaped like features/recordings.parquet, with paths and scores."""
    rows = []
    for subject, group, visit, task, face, voice, ddk, below in ROWS:
        rid = f"{subject}_{visit}_{task}"
        rows.append({"recording_id": rid, "subject_id": subject, "group": group, "task": task, "visit": visit,
                     "video_path": f"videos/{rid}_color.avi", "audio_path": f"audio/{rid}.wav",
                     "score_mean_tot": 7.0, "sex": "F", "age": 60.0, AGE.column: 60.0,
                     FACE.column: face, VOICE.column: voice, DDK.column: ddk, BELOW_BAR.column: below})
    return pd.DataFrame(rows)


def all_sheets(recordings: pd.DataFrame, columns=None) -> dict:
    values = export.feature_values(recordings, columns=columns)
    norms = export.control_norms(values, control_group="HC")
    return {"values": values, "z_scores": export.z_scores(values, norms),
            "changes": export.change_scores(recordings, values, norms), "control_norms": norms,
            "dictionary": export.data_dictionary(list(values.columns), list(NEUROFACE.values())),
            "about": export.about_sheet(created="2026-01-01T00:00:00", version="test", control_group="HC",
                                        highlight_beyond=2.0, selected=columns, values=values)}


def row_of(table: pd.DataFrame, subject: str, visit: str, task: str) -> pd.Series:
    hit = table[(table["subject_id"] == subject) & (table["visit"] == visit) & (table["task"] == task)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_values_sheet_round_trips_through_the_workbook(tmp_path):
    sheets = all_sheets(recordings_table())
    path = tmp_path / "features.xlsx"
    export.write_workbook(path, sheets)
    back = pd.read_excel(path, sheet_name="values", dtype=READ_IDS_AS_TEXT)
    values = sheets["values"]
    assert list(back.columns) == list(values.columns)
    pd.testing.assert_frame_equal(back, values, check_dtype=False, rtol=1e-12)
    assert back[FACE.column].isna().sum() == values[FACE.column].isna().sum() > 0
    sheet = openpyxl.load_workbook(path)["values"]
    column = list(values.columns).index(FACE.column) + 1
    first_nan = int(np.flatnonzero(values[FACE.column].isna())[0])
    assert sheet.cell(row=first_nan + 2, column=column).value is None
    assert sheet.freeze_panes == "E2"
    assert all(cell.font.bold for cell in sheet[1])
    assert not [p for p in tmp_path.iterdir() if p.name != "features.xlsx"], "temporary files left behind"


def test_values_are_one_row_per_subject_visit_task_sorted_with_ids_only():
    values = export.feature_values(recordings_table())
    assert list(values.columns[:4]) == ["subject_id", "group", "visit", "task"]
    assert set(values.columns[4:]) == {f.column for f in FEATURES}
    assert len(values) == len(ROWS)
    assert list(values[["subject_id", "visit", "task"]].itertuples(index=False, name=None))[:3] == [
        ("N001", "02", "DDK_PA"), ("N001", "02", "NSM_SPREAD"), ("N001", "03", "NSM_SPREAD")]
    assert row_of(values, "S001", "02", "NSM_SPREAD")[FACE.column] == 9.0


FILE_LIKE = re.compile(r"[/\\]|\.(?:avi|wav|mp4|txt)\b", re.IGNORECASE)


def test_no_paths_file_names_or_recording_ids_anywhere(tmp_path):
    sheets = all_sheets(recordings_table())
    export.write_workbook(tmp_path / "features.xlsx", sheets)
    book = openpyxl.load_workbook(tmp_path / "features.xlsx")
    for name in ("values", "z_scores", "changes", "control_norms", "about"):
        header = [c.value for c in book[name][1]]
        assert "recording_id" not in header and not any(str(h).endswith("_path") for h in header)
        texts = [c.value for row in book[name].iter_rows() for c in row if isinstance(c.value, str)]
        assert not [t for t in texts if FILE_LIKE.search(t)], name
    # Descriptions may hold ratios like "SD / mean", but never media file names or the data folders.
    dictionary_text = " ".join(map(str, sheets["dictionary"].to_numpy().ravel()))
    assert not re.search(r"\.(avi|wav)\b|videos/|audio/", dictionary_text)


def test_an_id_that_looks_like_a_file_name_is_refused():
    recordings = recordings_table()
    recordings.loc[0, "subject_id"] = "N001_02_NSM_SPREAD_color.avi"
    with pytest.raises(ManifestError, match="looks like a path or a file name"):
        export.feature_values(recordings)
    recordings.loc[0, "subject_id"] = "site/N001"
    with pytest.raises(ManifestError, match="site/N001"):
        export.feature_values(recordings)


def test_two_recordings_of_one_subject_visit_task_are_refused():
    recordings = pd.concat([recordings_table(), recordings_table().iloc[[0]]], ignore_index=True)
    with pytest.raises(ManifestError, match="N001 visit 02 task NSM_SPREAD"):
        export.feature_values(recordings)


def test_control_norms_use_first_visits_and_give_known_z_scores():
    values = export.feature_values(recordings_table())
    norms = export.control_norms(values, control_group="HC")
    spread = norms[(norms["task"] == "NSM_SPREAD") & (norms["column"] == FACE.column)].iloc[0]
    assert (spread["mean"], spread["sd"], spread["n"], spread["note"]) == (4.0, 2.0, 3, "")
    z = export.z_scores(values, norms)
    assert row_of(z, "S001", "02", "NSM_SPREAD")[FACE.column] == pytest.approx(2.5)   # (9 - 4) / 2
    assert row_of(z, "S001", "03", "NSM_SPREAD")[FACE.column] == pytest.approx(0.5)   # (5 - 4) / 2
    assert row_of(z, "S002", "02", "NSM_SPREAD")[FACE.column] == pytest.approx(-2.5)  # (-1 - 4) / 2
    assert row_of(z, "N001", "03", "NSM_SPREAD")[FACE.column] == pytest.approx(48.0)  # (100 - 4) / 2
    # VOICE in DDK_PA: controls 20, 22, 24 -> mean 22, SD 2; the patient's 18 -> -2.
    assert row_of(z, "S002", "02", "DDK_PA")[VOICE.column] == pytest.approx(-2.0)
    assert AGE.column not in z.columns and AGE.column not in set(norms["column"])


def test_z_is_empty_with_fewer_than_three_controls_or_zero_sd():
    values = export.feature_values(recordings_table())
    norms = export.control_norms(values, control_group="HC")
    ddk = norms[(norms["task"] == "DDK_PA") & (norms["column"] == DDK.column)].iloc[0]
    assert ddk["n"] == 2 and ddk["note"] == export.NOTE_FEW_CONTROLS
    flat = norms[(norms["task"] == "NSM_SPREAD") & (norms["column"] == BELOW_BAR.column)].iloc[0]
    assert flat["sd"] == 0 and flat["note"] == export.NOTE_ZERO_SD
    no_controls = norms[(norms["task"] == "DDK_PA") & (norms["column"] == FACE.column)].iloc[0]
    assert no_controls["n"] == 0 and math.isnan(no_controls["mean"])
    z = export.z_scores(values, norms)
    assert row_of(z, "S002", "02", "DDK_PA")[[DDK.column, FACE.column]].isna().all()
    assert z[BELOW_BAR.column].isna().all()


def test_first_visit_is_chosen_by_number_not_text():
    recordings = recordings_table()
    recordings.loc[recordings["visit"] == "02", "visit"] = "9"
    recordings.loc[recordings["visit"] == "03", "visit"] = "10"
    norms = export.control_norms(export.feature_values(recordings), control_group="HC")
    spread = norms[(norms["task"] == "NSM_SPREAD") & (norms["column"] == FACE.column)].iloc[0]
    assert spread["mean"] == 4.0  # visit "10" (the outlier) would sort first as text


def change_row(changes: pd.DataFrame, subject: str, task: str, column: str) -> pd.Series:
    hit = changes[(changes["subject_id"] == subject) & (changes["task"] == task) & (changes["column"] == column)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_change_scores_of_a_known_case_read_the_direction():
    """S001's mouth-corner measure (higher is worse) falls from 9 to 5 between visits 02 and 03: a
    change of -4, better, -2 control SDs (controls' first visits: SD 2). Without controls seen
    twice the reliable change index is empty and the note says the test-retest spread is not
    known. S002, seen once, has no change rows."""
    recordings = recordings_table()
    values = export.feature_values(recordings)
    norms = export.control_norms(recordings, control_group="HC")
    changes = export.change_scores(recordings, values, norms)
    assert list(changes.columns) == export.CHANGE_COLUMNS
    face = change_row(changes, "S001", "NSM_SPREAD", FACE.column)
    assert (face["baseline_visit"], face["followup_visit"]) == ("02", "03")
    assert (face["baseline"], face["followup"], face["change"]) == (9.0, 5.0, -4.0)
    assert face["change_means"] == "better" and face["unit"] == FACE.unit
    assert face["change_control_sd"] == pytest.approx(-2.0)
    assert math.isnan(face["reliable_change_index"]) and "test-retest spread not known" in face["note"]
    assert "S002" not in set(changes["subject_id"])
    assert AGE.column not in set(changes["column"])
    # The outlier follow-up of a control (2 -> 100, higher is worse) reads as worse.
    assert change_row(changes, "N001", "NSM_SPREAD", FACE.column)["change_means"] == "worse"
    dictionary = export.data_dictionary(list(values.columns), list(NEUROFACE.values())).set_index("column")
    assert dictionary.loc[FACE.column, "improvement_is"] == "a fall"
    assert dictionary.loc[VOICE.column, "improvement_is"] == export.IMPROVEMENT_WORDS[VOICE.direction]


def test_change_meaning_follows_the_clinical_direction():
    assert export.change_meaning(-1.0, "higher_worse") == "better"
    assert export.change_meaning(1.0, "higher_worse") == "worse"
    assert export.change_meaning(1.0, "higher_better") == "better"
    assert export.change_meaning(0.0, "higher_better") == "no change"
    assert export.change_meaning(2.0, "neutral") == "a rise, no clinical direction"
    assert export.change_meaning(float("nan"), "higher_worse") == ""


def test_reliable_change_index_uses_the_controls_test_retest_spread():
    """Three controls seen twice change by +1, -1 and +3 (SD 2): a patient's change of -6 is an
    RCI of -3, beyond measurement noise; the control SD of first visits (2, 4, 6: SD 2) scales
    it to -3 control SDs as well."""
    rows = []
    for subject, group, first, last in (("N001", "HC", 2.0, 3.0), ("N002", "HC", 4.0, 3.0),
                                        ("N003", "HC", 6.0, 9.0), ("S001", "PS", 12.0, 6.0)):
        for visit, value in (("02", first), ("03", last)):
            rows.append({"recording_id": f"{subject}_{visit}", "subject_id": subject, "group": group,
                         "visit": visit, "task": "NSM_SPREAD", FACE.column: value})
    recordings = pd.DataFrame(rows)
    values = export.feature_values(recordings)
    changes = export.change_scores(recordings, values, export.control_norms(recordings, control_group="HC"))
    patient = change_row(changes, "S001", "NSM_SPREAD", FACE.column)
    assert patient["change"] == -6.0 and patient["change_means"] == "better"
    assert patient["reliable_change_index"] == pytest.approx(-3.0)
    assert abs(patient["reliable_change_index"]) > export.RELIABLE_CHANGE
    assert patient["change_control_sd"] == pytest.approx(-3.0) and patient["note"] == ""


def test_the_last_visit_is_the_follow_up_by_visit_order():
    """Visits 9, 10 and 2 of one subject: the first is 2 and the last 10 (by number, not text)."""
    rows = [{"recording_id": f"S001_{v}", "subject_id": "S001", "group": "PS", "visit": v, "task": "NSM_SPREAD",
             FACE.column: value} for v, value in (("9", 5.0), ("10", 4.0), ("2", 8.0))]
    pairs = export.followed_up_visits(pd.DataFrame(rows))
    assert pairs.to_dict("records") == [{"subject_id": "S001", "baseline_visit": "2", "followup_visit": "10"}]


def test_cells_beyond_the_threshold_are_highlighted_by_a_rule_that_follows_edits(tmp_path):
    sheets = all_sheets(recordings_table())
    path = tmp_path / "features.xlsx"
    n_highlighted = export.write_workbook(path, sheets, highlight_beyond=2.0)
    z = sheets["z_scores"]
    sheet = openpyxl.load_workbook(path)["z_scores"]
    rules = {str(entry.sqref): entry.rules for entry in sheet.conditional_formatting}
    letter = get_column_letter(list(z.columns).index(FACE.column) + 1)
    (rule,) = rules[f"{letter}2:{letter}{len(z) + 1}"]
    assert rule.formula == [f"AND(ISNUMBER({letter}2),ABS({letter}2)>2.0)"]
    assert rule.dxf.fill.fgColor.rgb == export.HIGHLIGHT_FILL.start_color.rgb
    # one rule per numeric z column, none on the id columns, and no cell filled by hand
    numeric = z.select_dtypes("number").columns
    assert len(rules) == len(numeric)
    assert all(cell.fill.fill_type is None for row in sheet.iter_rows() for cell in row)
    # |z| > 2: FACE 2.5, -2.5 and 48 (N001 visit 03); VOICE 39 (N001 visit 03). S002's VOICE z of
    # exactly 2 and -2 is not beyond the threshold; DDK and BELOW_BAR have no z.
    expected = int((np.abs(z.iloc[:, 4:].to_numpy(dtype=float)) > 2.0).sum())
    assert n_highlighted == expected == 4


def test_dictionary_covers_every_column_with_registry_words():
    values = export.feature_values(recordings_table())
    dictionary = export.data_dictionary(list(values.columns), list(NEUROFACE.values())).set_index("column")
    assert list(dictionary.index) == list(values.columns)
    for feature in FEATURES:
        row = dictionary.loc[feature.column]
        assert (row["unit"], row["description"], row["source"]) == (feature.unit, feature.description, feature.source)
        assert row["direction"] == export.DIRECTION_WORDS[feature.direction]
    assert dictionary.loc[FACE.column, "direction"] == "higher is worse"
    assert dictionary.loc[FACE.column, "positive_z_means"] == "worse than controls"
    assert dictionary.loc["subject_id", "description"].startswith("Pseudonymous")


def test_a_manifest_covariate_gets_a_dictionary_entry():
    dictionary = export.data_dictionary(["meta__smoker_test_only"], list(NEUROFACE.values()))
    assert dictionary.loc[0, "description"] == "Covariate 'smoker_test_only' declared in the manifest."


def test_columns_subset_by_feature_or_column_name_in_the_order_given():
    values = export.feature_values(recordings_table(), columns=[DDK.column, FACE.name])
    assert list(values.columns) == ["subject_id", "group", "visit", "task", DDK.column, FACE.column]


def test_unknown_column_raises_naming_it_and_close_matches():
    misspelt = FACE.name[:-1] + "x"
    with pytest.raises(ConfigError, match=rf"{re.escape(misspelt)}.*close matches: .*{re.escape(FACE.name)}"):
        export.feature_values(recordings_table(), columns=[misspelt])
    registered_but_absent = registry.entries("timing")[0].column
    with pytest.raises(ConfigError, match="registered but this table has no such column"):
        export.feature_values(recordings_table(), columns=[registered_but_absent])
    with pytest.raises(ConfigError, match="subject-level"):
        export.feature_values(recordings_table(), columns=[registry.subject_column(FACE.column, "NSM_SPREAD")])


def test_a_name_shared_by_two_modalities_is_ambiguous():
    shared = "hnr_db"
    recordings = recordings_table().assign(**{f"voice__{shared}": 1.0, f"nonspeech__{shared}": 2.0})
    with pytest.raises(ConfigError, match="ambiguous.*voice__hnr_db.*nonspeech__hnr_db"):
        export.feature_values(recordings, columns=[shared])


def test_stage_writes_workbook_and_csvs(tmp_path):
    run = tmp_path / "run"
    (run / "features").mkdir(parents=True)
    recordings_table().to_parquet(run / "features" / "recordings.parquet")
    code = export_stage.main(["--out", str(run), "--columns", f"{FACE.name},{VOICE.column}"])
    assert code == 0
    folder = run / "export"
    assert {p.name for p in folder.iterdir()} == {"features.xlsx", "values.csv", "z_scores.csv", "changes.csv",
                                                  "control_norms.csv", "dictionary.csv", "about.csv"}
    values = pd.read_csv(folder / "values.csv", dtype=READ_IDS_AS_TEXT)
    assert list(values.columns) == ["subject_id", "group", "visit", "task", FACE.column, VOICE.column]
    z = pd.read_excel(folder / "features.xlsx", sheet_name="z_scores", dtype=READ_IDS_AS_TEXT)
    assert row_of(z, "S001", "02", "NSM_SPREAD")[FACE.column] == pytest.approx(2.5)
    assert list(pd.read_excel(folder / "features.xlsx", sheet_name=None)) == list(export.SHEETS)


def test_stage_fails_clearly_before_assemble(tmp_path):
    assert export_stage.main(["--out", str(tmp_path / "empty_run")]) == 2
    log_text = (tmp_path / "empty_run" / "logs" / "avstroke.log").read_text()
    assert "recordings.parquet not found" in log_text and "avstroke assemble" in log_text


def test_stage_refuses_an_unknown_control_group(tmp_path):
    run = tmp_path / "run"
    (run / "features").mkdir(parents=True)
    recordings_table().to_parquet(run / "features" / "recordings.parquet")
    assert export_stage.main(["--out", str(run), "--control-group", "CTRL"]) == 2
    assert not (run / "export").exists()


# ---------------------------------------------------------------- nothing typed becomes a formula

# Visits as a user might type them, and a face value; each subject has one visit, ordered by
# manifest row.
FORMULA_VISITS = {"N001": ("=1+1", 2.0), "N002": ("@SUM(1)", 4.0), "N003": ("+1", 6.0), "S001": ("-1+2", -1.0)}
TYPED_VISITS = [visit for visit, _ in FORMULA_VISITS.values()]
# A text column a clinic added, as it would reach the writer.
CLINIC_NOTES = ['=HYPERLINK("http://x","y")', "\tleft side", "\rright side", "#N/A"]
# S001's follow-up visit, typed like a formula too, for the changes sheet.
FORMULA_FOLLOW_UP = "=2+2"


def formula_sheets() -> dict:
    """Export sheets whose visits start like formulas, plus a clinic's text column, with negative
    feature values (and so negative z-scores)."""
    rows = []
    for row, (subject, (visit, face)) in enumerate(FORMULA_VISITS.items(), start=2):
        rows.append({"recording_id": f"{subject}_r", "subject_id": subject,
                     "group": "PS" if subject.startswith("S") else "HC", "task": "NSM_SPREAD",
                     "visit": visit, "manifest_row": row, FACE.column: face, VOICE.column: -face})
    recordings = pd.DataFrame(rows)
    values = export.feature_values(recordings)
    norms = export.control_norms(recordings, control_group="HC")
    followed = pd.concat([recordings, pd.DataFrame([{**rows[-1], "recording_id": "S001_f", "visit": FORMULA_FOLLOW_UP,
                                                    "manifest_row": len(rows) + 2}])], ignore_index=True)
    sheets = {"values": values, "z_scores": export.z_scores(values, norms),
              "changes": export.change_scores(followed, export.feature_values(followed), norms),
              "control_norms": norms,
              "dictionary": export.data_dictionary(list(values.columns), list(NEUROFACE.values())),
              "about": export.about_sheet(created="2026-01-01T00:00:00", version="test", control_group="HC",
                                          highlight_beyond=2.0, selected=None, values=values)}
    for name in ("values", "z_scores"):
        sheets[name] = sheets[name].assign(clinic_note=CLINIC_NOTES)
    return sheets


def starts_like_a_formula(text: str) -> bool:
    return text[:1] in ("=", "+", "-", "@", "\t", "\r", "\n")


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_no_workbook_cell_is_a_formula_and_typed_text_is_marked(tmp_path):
    sheets = formula_sheets()
    path = tmp_path / "features.xlsx"
    export.write_workbook(path, sheets)
    book = openpyxl.load_workbook(path)
    for name in export.SHEETS:
        cells = [c for row in book[name].iter_rows() for c in row if c.value is not None]
        assert not [c.coordinate for c in cells if c.data_type == "f"], name
        assert not [c.value for c in cells if isinstance(c.value, str) and starts_like_a_formula(c.value)], name
    for name in ("values", "z_scores"):
        sheet = book[name]
        header = [c.value for c in sheet[1]]
        column = {h: [sheet.cell(row=r, column=header.index(h) + 1) for r in range(2, sheet.max_row + 1)]
                  for h in header}
        assert sorted(c.value for c in column["visit"]) == sorted("'" + v for v in TYPED_VISITS)
        # openpyxl writes a carriage return as is and XML reads it back as a line feed.
        assert [c.value for c in column["clinic_note"]] == \
            ["'" + CLINIC_NOTES[0], "'\tleft side", "'\nright side", "#N/A"]
        assert all(c.data_type == "s" for c in column["visit"] + column["clinic_note"])
        for feature in (FACE.column, VOICE.column):
            numbers = sheets[name][feature].to_numpy(dtype=float)
            assert [c.data_type for c in column[feature]] == ["n"] * len(numbers)
            assert [c.value for c in column[feature]] == pytest.approx(list(numbers))
        assert min(c.value for c in column[VOICE.column]) < 0, "negative numbers stay numbers"
    changes = book["changes"]
    header = [c.value for c in changes[1]]
    visits = {(changes.cell(row=r, column=header.index("baseline_visit") + 1).value,
               changes.cell(row=r, column=header.index("followup_visit") + 1).value)
              for r in range(2, changes.max_row + 1)}
    assert visits == {("'" + FORMULA_VISITS["S001"][0], "'" + FORMULA_FOLLOW_UP)}


def test_no_export_csv_cell_starts_like_a_formula(tmp_path):
    sheets = formula_sheets()
    export.write_csvs(tmp_path, sheets)
    for name in export.SHEETS:
        back = pd.read_csv(tmp_path / f"{name}.csv", dtype=str, keep_default_na=False)
        texts = list(back.columns) + [t for t in back.to_numpy().ravel() if t]
        typed = [t for t in texts if starts_like_a_formula(t)]
        assert all(is_number(t) for t in typed), (name, typed)
        for column in sheets[name].select_dtypes("number").columns:
            pd.testing.assert_series_equal(pd.to_numeric(back[column]), sheets[name][column].astype(float),
                                           check_names=False, check_dtype=False)
    for name in ("values", "z_scores"):
        back = pd.read_csv(tmp_path / f"{name}.csv", dtype=str, keep_default_na=False)
        assert sorted(back["visit"]) == sorted("'" + v for v in TYPED_VISITS)
        assert list(back["clinic_note"]) == ["'" + CLINIC_NOTES[0], "'\tleft side", "'\rright side", "#N/A"]
        assert (pd.to_numeric(back[VOICE.column]) < 0).any(), "negative numbers stay numbers"

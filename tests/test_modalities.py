"""Modality sets of the ablation, and what the recording-condition control may contain."""
from __future__ import annotations

from core.tasks import NEUROFACE, TaskSpec
from models.modalities import control_excluded_tasks, modality_sets

COLUMNS = ["face__NSM_SPREAD__commissure_excursion_asym_pct", "quality__NSM_SPREAD__face_share",
           "voice__BBP_NORMAL__jitter_local_pct", "meta__age", "nonspeech__DDK_PA__level_dbfs",
           "nonspeech__DDK_PA__duration_s", "nonspeech__NSM_BLOW__level_dbfs", "subject_id", "score_mean_tot"]


def test_sets_hold_the_right_families():
    sets = modality_sets(COLUMNS, usable=lambda c: True)
    assert sets["video"] == COLUMNS[:2] and sets["audio"] == [COLUMNS[2]] and sets["metadata"] == ["meta__age"]
    assert sets["all"] == COLUMNS[:4] and sets["video+audio"] == COLUMNS[:3]


def test_control_holds_room_descriptors_only():
    sets = modality_sets(COLUMNS, usable=lambda c: True)
    assert sets["nonspeech"] == ["nonspeech__DDK_PA__level_dbfs"]
    assert all("nonspeech" not in c for name, cols in sets.items() if name != "nonspeech" for c in cols)


def test_unusable_columns_and_empty_sets_are_dropped():
    sets = modality_sets(COLUMNS, usable=lambda c: not c.startswith("voice__"))
    assert "audio" not in sets and "video+audio" in sets


def test_the_control_leaves_out_every_blowing_task_of_the_vocabulary():
    vocabulary = {**NEUROFACE, "CHEEK_PUFF": TaskSpec("CHEEK_PUFF", "movement", "blow", "puff the cheeks")}
    assert control_excluded_tasks(NEUROFACE) == ("NSM_BLOW",)
    excluded = control_excluded_tasks(vocabulary)
    assert excluded == ("NSM_BLOW", "CHEEK_PUFF")
    columns = ["nonspeech__CHEEK_PUFF__level_dbfs", "nonspeech__DDK_PA__level_dbfs"]
    assert modality_sets(columns, usable=lambda c: True)["nonspeech"] == columns
    assert modality_sets(columns, usable=lambda c: True, excluded_tasks=excluded)["nonspeech"] == columns[1:]

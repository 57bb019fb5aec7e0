"""Which feature columns belong to which modality set of the ablation.

The sets are fixed so every model and target is compared on the same terms: video alone, audio
alone, metadata alone, video+audio, and all three. The non-speech acoustic control (the same
descriptors on the recording's silences) is its own set: if it separates the groups, a model is
reading the room, not the voice.

A target may also give a clinical benchmark, the ``clinical`` family (``clinical__<score column>``,
made by ``models.targets``): recovery gives the SLP total at the first visit. It is its own set,
``BENCHMARK_SET``, never part of the others, so the recordings are judged by what they add to
the clinician's own rating of severity.
"""
from __future__ import annotations

from core.tasks import NEUROFACE
from features.registry import SEP, parse_column

FAMILIES = {
    "video": ("face", "quality"),
    "audio": ("audio", "voice", "ddk", "timing"),
    "metadata": ("meta",),
    "nonspeech": ("nonspeech",),
    "clinical": ("clinical",),
}
BENCHMARK_SET = "severity"
SETS = {
    "video": ("video",),
    "audio": ("audio",),
    "metadata": ("metadata",),
    "video+audio": ("video", "audio"),
    "all": ("video", "audio", "metadata"),
    "nonspeech": ("nonspeech",),
    BENCHMARK_SET: ("clinical",),
}
FINAL_SET = "all"
# The control must describe the room and the recording only. How much non-speech time a clip
# has is speech timing (slow speakers leave less silence in a fixed-length DDK clip), and the
# "silences" of a blowing task (face profile blow: NSM_BLOW, or a clinic's task measured like it)
# hold the task's own breath sound: both would let the control predict impairment for reasons
# that are not the room.
CONTROL_EXCLUDED_FEATURES = ("duration_s",)
CONTROL_EXCLUDED_PROFILES = ("blow",)


def control_excluded_tasks(vocabulary: dict) -> tuple:
    """The tasks of ``vocabulary`` (task name -> ``core.tasks.TaskSpec``) whose non-speech
    control is left out (``CONTROL_EXCLUDED_PROFILES``)."""
    return tuple(name for name, spec in vocabulary.items() if spec.face_profile in CONTROL_EXCLUDED_PROFILES)


NEUROFACE_EXCLUDED_TASKS = control_excluded_tasks(NEUROFACE)


def family_of(column: str, *, excluded_tasks: tuple = NEUROFACE_EXCLUDED_TASKS) -> str | None:
    """The family ('video', 'audio', 'metadata', 'nonspeech') of a feature column, or None.

    Non-speech columns that do not describe the recording conditions (``CONTROL_EXCLUDED_FEATURES``,
    and every column of ``excluded_tasks``, by default NeuroFace's, ``control_excluded_tasks``)
    belong to no family.
    """
    if SEP not in column:
        return None
    modality, task, name = parse_column(column)
    family = next((fam for fam, mods in FAMILIES.items() if modality in mods), None)
    if family == "nonspeech" and (name in CONTROL_EXCLUDED_FEATURES or task in excluded_tasks):
        return None
    return family


def modality_sets(columns, *, usable, excluded_tasks: tuple = NEUROFACE_EXCLUDED_TASKS
                  ) -> dict[str, list[str]]:
    """Columns of each set, keeping only ``usable`` columns and sets that have any.

    Parameters
    ----------
    columns : iterable of str
        Candidate columns of the subject table.
    usable : callable
        ``usable(column) -> bool``, e.g. not entirely missing on the target's rows.
    excluded_tasks : tuple of str
        Tasks whose non-speech control is left out (``control_excluded_tasks`` of the run's
        vocabulary).
    """
    by_family: dict[str, list[str]] = {fam: [] for fam in FAMILIES}
    for column in columns:
        family = family_of(column, excluded_tasks=excluded_tasks)
        if family is not None and usable(column):
            by_family[family].append(column)
    sets = {name: [c for fam in fams for c in by_family[fam]] for name, fams in SETS.items()}
    return {name: cols for name, cols in sets.items() if cols}

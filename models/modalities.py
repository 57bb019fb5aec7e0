"""Which feature columns belong to which modality set of the ablation.

The sets are fixed so every model and target is compared on the same terms: video alone, audio
alone, metadata alone, video+audio, and all three. The non-speech acoustic control (the same
descriptors on the recording's silences) is its own set: if it separates the groups, a model is
reading the room, not the voice.
"""
from __future__ import annotations

from features.registry import SEP, parse_column

FAMILIES = {
    "video": ("face", "quality"),
    "audio": ("audio", "voice", "ddk", "timing"),
    "metadata": ("meta",),
    "nonspeech": ("nonspeech",),
}
SETS = {
    "video": ("video",),
    "audio": ("audio",),
    "metadata": ("metadata",),
    "video+audio": ("video", "audio"),
    "all": ("video", "audio", "metadata"),
    "nonspeech": ("nonspeech",),
}
FINAL_SET = "all"
# The control must describe the room and the recording only. How much non-speech time a clip
# has is speech timing (slow speakers leave less silence in a fixed-length DDK clip), and the
# "silences" of the blowing task hold the task's own breath sound: both would let the control
# predict impairment for reasons that are not the room.
CONTROL_EXCLUDED_FEATURES = ("duration_s",)
CONTROL_EXCLUDED_TASKS = ("NSM_BLOW",)


def family_of(column: str) -> str | None:
    """The family ('video', 'audio', 'metadata', 'nonspeech') of a feature column, or None.

    Non-speech columns that do not describe the recording conditions (see
    ``CONTROL_EXCLUDED_FEATURES`` and ``CONTROL_EXCLUDED_TASKS``) belong to no family.
    """
    if SEP not in column:
        return None
    modality, task, name = parse_column(column)
    family = next((fam for fam, mods in FAMILIES.items() if modality in mods), None)
    if family == "nonspeech" and (name in CONTROL_EXCLUDED_FEATURES or task in CONTROL_EXCLUDED_TASKS):
        return None
    return family


def modality_sets(columns, *, usable) -> dict[str, list[str]]:
    """Columns of each set, keeping only ``usable`` columns and sets that have any.

    Parameters
    ----------
    columns : iterable of str
        Candidate columns of the subject table.
    usable : callable
        ``usable(column) -> bool``, e.g. not entirely missing on the target's rows.
    """
    by_family: dict[str, list[str]] = {fam: [] for fam in FAMILIES}
    for column in columns:
        family = family_of(column)
        if family is not None and usable(column):
            by_family[family].append(column)
    sets = {name: [c for fam in fams for c in by_family[fam]] for name, fams in SETS.items()}
    return {name: cols for name, cols in sets.items() if cols}

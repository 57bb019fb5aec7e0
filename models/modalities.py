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


def family_of(column: str) -> str | None:
    """The family ('video', 'audio', 'metadata', 'nonspeech') of a feature column, or None."""
    if SEP not in column:
        return None
    modality = parse_column(column)[0]
    return next((fam for fam, mods in FAMILIES.items() if modality in mods), None)


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

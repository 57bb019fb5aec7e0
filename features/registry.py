"""The feature registry: one entry per feature, with what a clinician needs to read it.

Column names follow one contract (docs/features.md, "Column names"):

- recording level: ``<modality>__<feature>``, e.g. ``face__commissure_excursion_asym_pct``;
- subject level: ``<modality>__<task>__<feature>``, e.g. ``face__NSM_SPREAD__commissure_excursion_asym_pct``.

``parse_column`` inverts both, so reports and exports can join any column back to its entry.
Feature modules register their entries at import; ``load_all`` imports every feature module so
the registry is complete before it is read.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

SEP = "__"
MODALITIES = ("face", "quality", "audio", "voice", "ddk", "timing", "nonspeech", "meta")
DIRECTIONS = ("higher_worse", "higher_better", "neutral")

# Modules whose import registers features; extended as stages are added.
FEATURE_MODULES: list[str] = ["features.video.face_features", "features.audio.audio_features",
                              "features.metadata", "features.crosscheck"]


@dataclass(frozen=True)
class Feature:
    """Metadata of one feature.

    Parameters
    ----------
    name : str
        Short name inside its modality (lower case, single underscores only).
    modality : str
        One of ``MODALITIES``.
    unit : str
        Unit in words a clinician reads, e.g. ``"inter-ocular distances"``, ``"Hz"``, ``"%"``.
    description : str
        Plain clinical description of what the value measures.
    direction : str
        ``"higher_worse"``, ``"higher_better"`` or ``"neutral"`` (no clinical direction).
    source : str
        The reference the definition follows.
    kinds : tuple of str
        Task kinds (``core.tasks.KINDS``) the feature is meaningful for; empty means every
        kind.
    profiles : tuple of str
        Face profiles (``features.video.face_features.PROFILES``) the feature is meaningful for;
        empty means every profile.

    A feature applies to a task by the task's kind and face profile, never by its name, so a
    clinic's own tasks (``pipeline.task_file``) get the features their kind and profile call for.
    """

    name: str
    modality: str
    unit: str
    description: str
    direction: str
    source: str
    kinds: tuple = field(default_factory=tuple)
    profiles: tuple = field(default_factory=tuple)

    @property
    def column(self) -> str:
        """Recording-level column name ``<modality>__<name>``."""
        return f"{self.modality}{SEP}{self.name}"

    def applies_to(self, task) -> bool:
        """Whether the feature is meaningful for ``task`` (a ``core.tasks.TaskSpec``)."""
        return ((not self.kinds or task.kind in self.kinds)
                and (not self.profiles or task.face_profile in self.profiles))

    def applicability(self) -> str:
        """In words, the tasks the feature is meaningful for, e.g. "tasks of kind ddk"."""
        parts = []
        if self.kinds:
            parts.append(f"tasks of kind {_either(self.kinds)}")
        if self.profiles:
            parts.append(f"tasks with face profile {_either(self.profiles)}")
        return " and ".join(parts) or "every task"


def _either(names: tuple) -> str:
    """``("a", "b", "c")`` -> ``"a, b or c"``."""
    return " or ".join(filter(None, (", ".join(names[:-1]), names[-1])))


_REGISTRY: dict[str, Feature] = {}


def register(feature: Feature) -> Feature:
    """Add one feature; a second entry under the same column name is an error."""
    if feature.modality not in MODALITIES:
        raise ValueError(f"feature {feature.name!r}: modality must be one of {MODALITIES}, "
                         f"got {feature.modality!r}")
    if feature.direction not in DIRECTIONS:
        raise ValueError(f"feature {feature.name!r}: direction must be one of {DIRECTIONS}, "
                         f"got {feature.direction!r}")
    if SEP in feature.name or not feature.name:
        raise ValueError(f"feature name {feature.name!r} must be non-empty and contain no {SEP!r}")
    existing = _REGISTRY.get(feature.column)
    if existing is not None and existing != feature:
        raise ValueError(f"feature {feature.column!r} is registered twice with different metadata")
    _REGISTRY[feature.column] = feature
    return feature


def register_table(modality: str, rows, *, ending: str, source: str = "", kinds: tuple = ()
                   ) -> tuple[str, ...]:
    """Register a module's table of features and return their column names, in order.

    Parameters
    ----------
    modality : str
        One of ``MODALITIES``.
    rows : iterable of tuple
        ``(name, unit, words[, direction[, source]])``: ``words`` is a lower-case phrase that
        becomes the description (capitalised, then ``ending``); ``direction`` defaults to
        ``"neutral"`` and ``source`` to the ``source`` argument.
    ending : str
        Text after the words, e.g. ``"; one speech task."``.
    source, kinds
        As in ``Feature``.
    """
    columns = []
    for name, unit, words, *rest in rows:
        direction = rest[0] if rest else "neutral"
        row_source = rest[1] if len(rest) > 1 else source
        feature = register(Feature(name=name, modality=modality, unit=unit,
                                   description=f"{words[0].upper()}{words[1:]}{ending}",
                                   direction=direction, source=row_source, kinds=kinds))
        columns.append(feature.column)
    return tuple(columns)


def parse_column(column: str) -> tuple[str, str | None, str]:
    """Split a column name into ``(modality, task or None, feature name)``.

    Raises
    ------
    KeyError
        If the column does not follow the naming contract.
    """
    parts = column.split(SEP)
    if len(parts) == 2:
        return parts[0], None, parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise KeyError(f"column {column!r} is not '<modality>__<feature>' "
                   f"or '<modality>__<task>__<feature>'")


def subject_column(column: str, task: str) -> str:
    """Subject-level name of a recording-level column for one task."""
    modality, _, name = parse_column(column)
    return f"{modality}{SEP}{task}{SEP}{name}"


def lookup(column: str) -> Feature:
    """Registry entry of a recording- or subject-level column name."""
    load_all()
    modality, _, name = parse_column(column)
    try:
        return _REGISTRY[f"{modality}{SEP}{name}"]
    except KeyError:
        raise KeyError(f"column {column!r} has no registry entry") from None


def entries(modality: str | None = None) -> list[Feature]:
    """All registered features, optionally of one modality, in registration order."""
    load_all()
    return [f for f in _REGISTRY.values() if modality is None or f.modality == modality]


def load_all() -> None:
    """Import every feature module so that all entries are registered."""
    for module in FEATURE_MODULES:
        importlib.import_module(module)

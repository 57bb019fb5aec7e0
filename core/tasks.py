"""The task vocabulary: what each examination task is, and the participant groups avstroke knows.

A task is described by a ``TaskSpec``: its name (the manifest's ``task`` cell and the middle part
of a subject-level column ``<modality>__<task>__<feature>``), its kind, the face profile its video
is measured with (``features.video.face_features.PROFILES``), for syllable repetition the
syllables in one repeated cycle, and plain words for reports. Which features a recording gets
follows from its kind and face profile, never from its name:

- ``speech`` (connected speech: a sentence, a reading passage): voice quality and speech timing;
- ``ddk`` (syllable repetition, diadochokinesis): voice quality, speech timing and DDK rate and
  rhythm, measured over whole cycles of ``syllables_per_cycle`` syllables;
- ``vowel`` (a sustained vowel): voice quality on the vowel's stable middle;
- ``movement`` (a non-speech orofacial movement): face features only (the sound is described by
  eGeMAPS and the recording-condition control, as for every kind).

``NEUROFACE`` holds the nine tasks of the Toronto NeuroFace release (docs/neuroface.md), built
in. A clinic adds its own with a tasks file (``pipeline.task_file``); a run's resolved vocabulary
is stored with its validated manifest. Group codes are the manifest's; ``GROUP_NAMES`` gives the
words used in reports.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from core.errors import ConfigError

SPEECH, DDK, VOWEL, MOVEMENT = "speech", "ddk", "vowel", "movement"
KINDS = (SPEECH, DDK, VOWEL, MOVEMENT)
KIND_WORDS = {SPEECH: "connected speech", DDK: "syllable repetition", VOWEL: "sustained vowel",
              MOVEMENT: "non-speech movement"}
# Kinds in which the participant's voice is asked for: voice quality is measured, and a silent
# sound is a fault of the recording.
VOICE_KINDS = (SPEECH, DDK, VOWEL)
# Kinds made of syllables and pauses, which speech timing counts.
TIMING_KINDS = (SPEECH, DDK)


@dataclass(frozen=True)
class TaskSpec:
    """One examination task.

    Attributes
    ----------
    name : str
        Task code, e.g. ``"NSM_SPREAD"``.
    kind : str
        One of ``KINDS``.
    face_profile : str
        Key of ``features.video.face_features.PROFILES``: what the face video is measured on.
    description : str
        Plain words for reports, e.g. ``"tight-lip smile task"``.
    syllables_per_cycle : int or None
        For ``ddk`` tasks, syllables in one repeated cycle (1 for /pa/, 3 for /pa-ta-ka/); rate
        and rhythm are measured over whole cycles. None for every other kind.
    """

    name: str
    kind: str
    face_profile: str
    description: str
    syllables_per_cycle: int | None = None

    def record(self) -> dict:
        """The spec as a plain dict (for JSON)."""
        return asdict(self)

    def definition(self) -> dict:
        """What a recording's features depend on: every field but the words for reports (the
        cache keys of the feature stages hold it, so a reworded description recomputes nothing)."""
        return {key: value for key, value in asdict(self).items() if key != "description"}


NEUROFACE = {spec.name: spec for spec in (
    TaskSpec("BBP_NORMAL", SPEECH, "sentence", "sentence task ('buy Bobby a puppy')"),
    TaskSpec("DDK_PA", DDK, "pa", "'pa' repetition task", syllables_per_cycle=1),
    TaskSpec("DDK_PATAKA", DDK, "pataka", "'pataka' repetition task", syllables_per_cycle=3),
    TaskSpec("NSM_SPREAD", MOVEMENT, "smile", "tight-lip smile task"),
    TaskSpec("NSM_KISS", MOVEMENT, "pucker", "kiss (lip pucker) task"),
    TaskSpec("NSM_OPEN", MOVEMENT, "open", "mouth-opening task"),
    TaskSpec("NSM_BROW", MOVEMENT, "brow", "eyebrow-raise task"),
    TaskSpec("NSM_BLOW", MOVEMENT, "blow", "cheek-puff (blow) task"),
    TaskSpec("NSM_BIGSMILE", MOVEMENT, "big_smile", "big-smile task"),
)}

GROUPS = ("HC", "PS", "ALS")
GROUP_NAMES = {"HC": "healthy control", "PS": "post-stroke", "ALS": "ALS"}
SEXES = ("M", "F")


def task_spec(name: str, vocabulary: dict) -> TaskSpec:
    """The spec of task ``name`` in ``vocabulary`` (task name -> TaskSpec).

    Raises
    ------
    ConfigError
        If the vocabulary has no such task.
    """
    if name not in vocabulary:
        raise ConfigError(f"task {name!r} is not in this run's task vocabulary ({', '.join(vocabulary)}); "
                          "a task of your own is defined in a tasks file given with --tasks")
    return vocabulary[name]


def spec_from_record(record: dict) -> TaskSpec:
    """A TaskSpec from ``TaskSpec.record`` output (e.g. read back from JSON)."""
    return TaskSpec(**record)


def vocabulary_records(vocabulary: dict) -> list[dict]:
    """A vocabulary (task name -> TaskSpec) as a list of plain dicts, in its order."""
    return [spec.record() for spec in vocabulary.values()]


def vocabulary_from_records(records: list[dict]) -> dict:
    """Inverse of ``vocabulary_records``."""
    specs = [spec_from_record(record) for record in records]
    return {spec.name: spec for spec in specs}

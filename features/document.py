"""The feature reference ``docs/features.md``, written from the feature registry.

``python -m features.document > docs/features.md`` regenerates the file: a fixed introduction
(``INTRODUCTION``, the conventions every feature shares), then one table per modality with every
registry entry's column name, unit, direction, the tasks it applies to (by kind and face profile,
and which of NeuroFace's built-in tasks that means), what it measures and its source, and a
numbered list of the sources. ``tests/test_docs.py`` fails when the file in the repository differs
from what this module prints, so the reference cannot fall behind the code.

Run it in a fresh interpreter: entries are listed per modality in the order their modules register
them, which an earlier import of one feature module could change. Covariates declared in a
manifest (``covariate_<name>``) are registered only when a table is assembled and are the user's,
so they are described in the introduction and never listed.
"""
from __future__ import annotations

import sys

from core.tasks import NEUROFACE
from features import registry
from features.metadata import COVARIATE_SOURCE
from features.registry import Feature

DIRECTION_WORDS = {"higher_worse": "higher = worse", "higher_better": "higher = better",
                   "neutral": "none"}
MODALITY_TITLES = {
    "face": "face: facial movement and asymmetry (video)",
    "quality": "quality: how well the landmarks could be tracked (video)",
    "audio": "audio: eGeMAPSv02 functionals (openSMILE)",
    "voice": "voice: Praat voice quality (parselmouth)",
    "ddk": "ddk: diadochokinesis (syllable repetition)",
    "timing": "timing: speech timing",
    "nonspeech": "nonspeech: the recording-condition control",
    "meta": "meta: participant metadata",
}
MODALITY_NOTES = {
    "face": (
        "Measured on the 68 landmarks of every frame after head motion is removed. Distances are "
        "in inter-ocular distances (IOD), speeds in IOD per second. Which signals a recording's "
        "kinematics describe follows its task's face profile; a feature outside the profile is "
        "empty for that task."),
    "quality": (
        "Describe the landmark track itself, not the face. A recording below the quality bar keeps "
        "its face features and is flagged by `quality__below_bar`."),
    "audio": (
        "The 88 functionals of openSMILE's eGeMAPSv02 set, computed on the recording's 16 kHz mono "
        "sound (one code path: the signal in memory). The column is `audio__` and openSMILE's own "
        "name with `.` written `p` and `-` written `_`, so that each can be looked up in Eyben et "
        "al. (2016). A functional of voiced frames on a recording without any voiced frame is "
        "empty, not 0."),
    "voice": (
        "Praat's measures on voiced frames only. Speech and ddk tasks are measured over the whole "
        "recording, a sustained vowel over its stable middle (the longest voiced stretch less "
        "0.3 s at each end, at most a quarter of it at each end). The counts "
        "(`n_voiced_frames`, `n_periods`, `voiced_duration_s`, `n_formant_frames`) say what each "
        "value rests on. Movement tasks get none: voicing there is not the participant's "
        "voice."),
    "ddk": (
        "Syllable nuclei are peaks of a 300-1500 Hz energy envelope; rate and rhythm are measured "
        "within each attempt (train), never across the pause between two attempts (see the "
        "introduction). `video_rate_disagreement_pct` is added when the tables are assembled, from "
        "the audio rate and the video cycle rate of the same clip."),
    "timing": (
        "Speech and pauses from the recording's own loudness (a pause is a silence of at least "
        "0.15 s between two stretches of speech); syllable nuclei after de Jong and Wempe (2009)."),
    "nonspeech": (
        "The same kind of descriptors as the audio and voice features, computed only on frames at "
        "least 0.1 s from any speech (empty when less than 0.3 s of such frames exists). They "
        "describe the room and the recording chain, so a model trained on them should predict "
        "nothing. The ablation's control set leaves out `nonspeech__duration_s` (how much silence "
        "a clip holds is speech timing) and every column of tasks with face profile `blow`, whose "
        "silences hold the task's own breath sound."),
    "meta": (
        "One value per subject and visit, with no task part in the subject-level name "
        "(`meta__age`, `meta__sex_female`). A manifest's `covariate_<name>` columns join them as "
        "`meta__<name>` (unit as given; not listed here)."),
}

INTRODUCTION = """\
# Feature reference

Every feature avstroke computes: its column name, unit, direction, the tasks it applies to, what
it measures and the source its definition follows. The tables below are generated from the
feature registry (`features/registry.py`) by `python -m features.document > docs/features.md`;
`tests/test_docs.py` fails when this file differs from what the registry gives, so edit the
registry or `features/document.py`, never this file by hand.

## Column names

- Recording level (`RUN/features/recordings.parquet`, one row per recording):
  `<modality>__<feature>`, e.g. `face__commissure_excursion_asym_pct`.
- Subject level (`RUN/features/table.parquet`, one row per subject and visit, the table the models
  are trained on): `<modality>__<task>__<feature>`, e.g.
  `face__NSM_SPREAD__commissure_excursion_asym_pct`, where `<task>` is the manifest's task code.
  Each task keeps its own column: the same measure means different things in different tasks
  (fast syllable repetition raises jitter and shimmer about as much as dysarthria does), so tasks
  are never pooled. Metadata (`meta__*`) has no task part.
- `registry.parse_column` splits either form, so every column of a table, a report or an export
  leads back to its entry here. Parts are separated by a double underscore, which no feature or
  task name may hold.

## Which tasks a feature applies to

A feature applies to a task through the task's *kind* and *face profile*, never through its name
(`core/tasks.py`), so a clinic's own tasks (`--tasks`) get the features their kind and profile
call for. Kinds: `speech` (connected speech), `ddk` (syllable repetition), `vowel` (a sustained
vowel), `movement` (a non-speech orofacial movement). Face profiles say what the video is measured
on: `smile` (NSM_SPREAD), `big_smile` (NSM_BIGSMILE), `pucker` (NSM_KISS), `blow` (NSM_BLOW),
`open` (NSM_OPEN), `brow` (NSM_BROW), `pa` (DDK_PA), `pataka` (DDK_PATAKA), `sentence`
(BBP_NORMAL). Every recording gets every column of the modalities it was measured in; a feature
that does not apply, or cannot be computed (too few cycles, no voiced frame, a silent microphone),
is empty (NaN), with the reason in the per-recording metadata of the feature files, never 0.

## Direction

`higher = worse` or `higher = better` is the clinical reading of a larger value; `none` means the
value has no clinical direction by itself (a count, a pitch, a room descriptor). The direction also
reads a change between two visits: the export's changes sheet calls a fall of a `higher = worse`
feature better and a rise worse, the other way round for `higher = better`, and only says which
way a `none` feature moved; its data dictionary states this as `improvement_is`. The report's
change between visits follows only features with a direction.

## Face: landmarks, frame and unit

- Landmarks are dlib's 68 points in the iBUG order, numbered from 0: jaw 0-16, right brow 17-21,
  left brow 22-26, nose 27-35, right eye 36-41, left eye 42-47, outer lips 48-59 (48 the right
  mouth corner, 54 the left), inner lips 60-67 (62 top, 66 bottom).
- Each frame is put into a head-fixed frame: origin between the two eye centres (each the
  midpoint of its eye's corners), x along the eye line towards the subject's left, y downwards.
  Rotation and translation are removed per frame; the head's apparent size change (leaning
  towards or away from the camera) is removed with the spread of eight rigid points (nose ridge,
  eye corners).
- The unit of distance is the inter-ocular distance (IOD), the distance between the outer eye
  corners |p36 - p45|, taken as its median over the recording in that size-corrected frame. An
  adult's IOD is roughly 9 cm, so 0.01 IOD is about 1 mm. Speeds are IOD per second and
  accelerations IOD per second squared, on the video's own frame times.
- Rest and peak: the rest frames are the 10% of frames whose mouth (or brows, for the brow
  profile) is closest to its shape in the clip's first 0.25 s; the peak frames are the 10% in which
  the task's main signal has moved furthest. A static excursion is the median over peak frames
  less the median over rest frames.

## Face: sides and asymmetry

- Left and right are the subject's own sides. This assumes a frontal video that is not mirrored;
  a mirrored (selfie) recording swaps the sides and cannot be recognised from the landmarks.
- Signed indices are (L - R) / (L + R), from -1 to 1: negative means the left side moved less (the
  left is the weaker side), positive the right.
- Each side is measured against its own rest: a mouth corner's travel is its displacement from its
  own rest position along the task's movement direction, a brow's its height change from its own
  rest height; a side's excursion is the median of its travel over the peak frames.
- Noise correction (`*_asym_pct`): with small movements, landmark jitter alone makes a ratio of
  two sides look asymmetric. The standard error of the left-minus-right difference is estimated
  from the clip's own frame-to-frame spread over the rest and peak frames (allowing for the
  correlation of noise between neighbouring frames), and the difference counts only beyond 2 such
  standard errors: its magnitude becomes sqrt(d^2 - 4 var), and 0 below that. A symmetric movement
  reads 0 whatever its size and the noise; a weakness well above the noise keeps its size, in
  percent of the stronger side. `*_asym_noise_pct` reports the noise, so a reader can see when an
  asymmetry could not have been seen. The signed index keeps the raw difference and names the side
  that moved less even within the noise. When neither side moved more than 0.01 IOD the
  asymmetry is empty: a ratio of two jitter-sized numbers means nothing. An error that is the same in every frame, such as dlib registering one side's
  movement short, is not noise in this sense and is not removed: `avstroke landmarks-eval`
  measures the landmark error where manual landmarks exist.
- Quality bar: a recording whose face was found in fewer than 90% of frames, or with a gap
  without a face longer than 0.5 s, is flagged (`quality__below_bar` = 1), not dropped.

## DDK: attempts (trains), rate and rhythm

- An examination clip of a repetition task holds several attempts separated by pauses. Onsets are
  split into trains where an onset interval is longer than twice the clip's median interval: that
  interval is a pause between attempts and never counts as an interval. A pause shorter than about
  one syllable period plus the usual closure cannot be told from one slow syllable.
- A train needs at least 3 syllables to count towards rate and rhythm. A task whose syllables form
  a cycle (`syllables_per_cycle`, 3 for /pa-ta-ka/) is measured over whole cycles, because its
  consonants start their vowels at different delays.
- Rate of a train: the syllables of its whole cycles over the time they span (syllables per s);
  `ddk__syllable_rate` is the median over trains, `ddk__syllable_rate_pooled` all trains' cycles
  together. `ddk__interval_cv` pools cycle durations within trains, each relative to its own
  train's mean, so a change of tempo between attempts does not inflate it.
  `ddk__rate_decline_pct` and `ddk__intensity_decline_db` compare the first train with the last;
  `ddk__intensity_decay_db_per_s` is the slope of syllable loudness within trains.
- Automatic syllable detection fails on severe speech; `ddk__video_rate_disagreement_pct`
  compares it with the lip and jaw movement rate of the same clip.

## Audio: sound and clock

- The sound is the `audio_path` file when given, else the video's own audio stream, decoded to
  16 kHz mono. Every stored time (landmark frames, speech intervals, syllable onsets) is on one
  clock: seconds since the start of the recording's container.
- A task that asks for the voice (kinds speech, ddk and vowel) whose sound is digital silence or
  peaks below -60 dBFS gets empty eGeMAPS, voice, timing and DDK features, with the reason; the
  non-speech control is still computed.
"""


def _escape(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def listed(features: list[Feature]) -> list[Feature]:
    """The entries the reference lists: every one but manifest covariates, per modality in the
    registry's modality order, in registration order within a modality."""
    kept = [f for f in features if f.source != COVARIATE_SOURCE]
    return sorted(kept, key=lambda f: registry.MODALITIES.index(f.modality))


def applies_to(feature: Feature) -> str:
    """The tasks a feature applies to, in words, with the built-in tasks that means."""
    if feature.modality == "meta":
        return "every subject and visit (no task)"
    rule = feature.applicability()
    if not feature.kinds and not feature.profiles:
        return rule
    tasks = [name for name, spec in NEUROFACE.items() if feature.applies_to(spec)]
    return f"{rule} (built-in: {', '.join(tasks) or 'none'})"


def source_numbers(features: list[Feature]) -> dict[str, int]:
    """Source text -> its number in the reference, in order of first use."""
    numbers: dict[str, int] = {}
    for feature in features:
        numbers.setdefault(feature.source, len(numbers) + 1)
    return numbers


def markdown(features: list[Feature] | None = None) -> str:
    """The whole reference as Markdown.

    Parameters
    ----------
    features : list of Feature, optional
        Entries to document (default: every registry entry, ``registry.entries()``).
    """
    features = listed(registry.entries() if features is None else features)
    numbers = source_numbers(features)
    lines = [INTRODUCTION.rstrip("\n"), "", "## Overview", "",
             "| modality | features | what |", "|---|---|---|"]
    modalities = [m for m in registry.MODALITIES if any(f.modality == m for f in features)]
    for modality in modalities:
        count = sum(f.modality == modality for f in features)
        title = MODALITY_TITLES.get(modality, modality).partition(": ")[2]
        lines.append(f"| [`{modality}`](#{modality}) | {count} | {_escape(title)} |")
    lines.append("")
    lines.append(f"{len(features)} features in all.")
    for modality in modalities:
        lines += ["", f'<a id="{modality}"></a>', "",
                  f"## {MODALITY_TITLES.get(modality, modality)}", ""]
        if modality in MODALITY_NOTES:
            lines += [MODALITY_NOTES[modality], ""]
        lines += ["| column | unit | direction | applies to | what it measures | source |",
                  "|---|---|---|---|---|---|"]
        for f in (f for f in features if f.modality == modality):
            lines.append(f"| `{f.column}` | {_escape(f.unit)} | {DIRECTION_WORDS[f.direction]} | "
                         f"{_escape(applies_to(f))} | {_escape(f.description)} | "
                         f"[{numbers[f.source]}] |")
    lines += ["", "## Sources", ""]
    lines += [f"{n}. {_escape(source)}" for source, n in numbers.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Print the reference (``python -m features.document > docs/features.md``)."""
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A clinic's own tasks: the tasks file given with ``--tasks``, and the vocabulary a run carries.

The tasks file is a CSV with one row per task (the header is row 1):

- ``task`` (required): the code the manifest's ``task`` column uses, e.g. ``VOWEL_A``. It keeps
  to the characters of the manifest's ids (letters, digits, '_', '-', '.', starting with a letter
  or digit) and holds no ``__``, which separates the parts of a subject-level column
  ``<modality>__<task>__<feature>``;
- ``kind`` (required): ``speech`` (a sentence, a reading passage), ``ddk`` (syllable
  repetition), ``vowel`` (a sustained vowel) or ``movement`` (a non-speech movement); the kind
  decides which features the task gets (``core.tasks``);
- ``face_profile``: what its video is measured on, one of
  ``features.video.face_features.PROFILES``; when empty, the kind's default
  (``default_profile``: speech -> sentence, ddk -> pa or pataka by cycle, vowel -> open); a
  movement task must name one;
- ``syllables_per_cycle``: a ddk task's syllables in one repeated cycle (1 for /pa/, 3 for
  /pa-ta-ka/), required for ddk and empty for every other kind;
- ``description``: the words reports use for the task, e.g. ``sustained /a/``; when empty,
  the task code and its kind.

Names are compared ignoring case: two rows may not name one task, and a row naming one of
NeuroFace's nine built-in tasks must define it as built in (same kind, face profile and cycle),
though its description may reword it. Every problem is listed at once, each with the file, its row
and column and what was expected; any error makes the tasks file, and so the run, unusable.

The run's resolved vocabulary (NeuroFace's nine, then the file's own) is stored by ``avstroke
validate`` in the metadata of ``RUN/manifest.validated.parquet``, beside the rows it describes,
with the tasks file's path and digest. Every later stage reads it from there (``run_vocabulary``),
and hands each recording's ``TaskSpec`` to the worker that measures it, so no stage or worker
needs the file; the per-recording cache keys hold the spec, so a task whose kind or profile
changes is measured again.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from core.errors import ConfigError
from core.tasks import (DDK, KIND_WORDS, KINDS, MOVEMENT, NEUROFACE, TaskSpec, vocabulary_from_records,
                        vocabulary_records)
from features.registry import SEP
from features.video.face_features import PROFILES, default_profile
from pipeline.cache import file_digest, read_parquet_metadata
from pipeline.manifest import ID_PATTERN, ID_RULE, VALIDATED_FILE, Issue, read_csv_cells

REQUIRED = ("task", "kind")
OPTIONAL = ("face_profile", "syllables_per_cycle", "description")
WHAT = "tasks file"
# Metadata keys of the validated manifest: the run's vocabulary, and the tasks file it came from.
VOCABULARY_KEY = "tasks"
TASKS_SOURCE_KEY = "tasks_source"
CYCLE = re.compile(r"^[0-9]+$")


def _kinds_allowed() -> str:
    return ", ".join(f"{kind} ({words})" for kind, words in KIND_WORDS.items())


def _name_problem(name: str) -> str:
    """Why a task cell cannot name a task ('' when it can)."""
    if not name:
        return "task is empty; give the code the manifest's task column uses, e.g. VOWEL_A"
    if not ID_PATTERN.match(name) or SEP in name:
        return (f"task {name!r} {ID_RULE}, and may not hold {SEP!r} (it separates the parts of "
                "column names)")
    return ""


def _cycle(kind: str, text: str) -> tuple[int | None, str]:
    """A row's syllables per cycle and why the cell is wrong ('' when it is right)."""
    if kind != DDK:
        return None, (f"only ddk tasks have syllables per cycle; leave it empty for a {kind} task"
                      if text and kind in KINDS else "")
    if not text:
        return None, ("a ddk task needs syllables_per_cycle, the syllables of one repeated cycle "
                      "(1 for /pa/, 3 for /pa-ta-ka/)")
    if not CYCLE.match(text) or int(text) < 1:
        return None, f"{text!r} is not a whole number of syllables of at least 1"
    return int(text), ""


def _profile(kind: str, text: str, cycle: int | None) -> tuple[str | None, str]:
    """A row's face profile (given, or its kind's default) and why the cell is wrong."""
    allowed = ", ".join(PROFILES)
    if text:
        return (text, "") if text in PROFILES else (None, f"{text!r} is not a face profile; "
                                                          f"allowed: {allowed}")
    if kind == MOVEMENT:
        return None, (f"a movement task needs a face_profile, the movement its video is measured "
                      f"on; allowed: {allowed}")
    return (default_profile(kind, cycle), "") if kind in KINDS else (None, "")


def row_spec(cells: dict) -> tuple[TaskSpec | None, list[tuple[str, str]]]:
    """The task one row of a tasks file defines, or the problems that keep it from one.

    Parameters
    ----------
    cells : dict
        Column -> stripped cell text (absent optional columns may be missing).

    Returns
    -------
    spec : TaskSpec or None
        None when any cell is wrong.
    problems : list of (column, message)
        Every wrong cell.
    """
    name, kind = cells["task"], cells["kind"]
    problems = [("task", _name_problem(name))]
    if kind not in KINDS:
        problems.append(("kind", f"{kind!r} is not a task kind; allowed: {_kinds_allowed()}"))
    cycle, why = _cycle(kind, cells.get("syllables_per_cycle", ""))
    problems.append(("syllables_per_cycle", why))
    profile, why = _profile(kind, cells.get("face_profile", ""), cycle)
    problems.append(("face_profile", why))
    problems = [(column, message) for column, message in problems if message]
    if problems:
        return None, problems
    description = cells.get("description", "") or f"{name} ({KIND_WORDS[kind]})"
    return TaskSpec(name, kind, profile, description, syllables_per_cycle=cycle), []


def _clash(spec: TaskSpec, taken: dict) -> str:
    """Why ``spec`` may not join the tasks in ``taken`` (lower-case name -> (spec, row; 0 for a
    built-in task)); '' when it may."""
    other, row = taken.get(spec.name.lower(), (None, 0))
    if other is None:
        return ""
    if row:
        return f"task {spec.name!r} is defined already on row {row}" + (
            f" as {other.name!r} (names are compared ignoring case)" if other.name != spec.name else "")
    if other.name != spec.name:
        return (f"task {spec.name!r} differs from the built-in task {other.name!r} only in case; "
                f"name it {other.name!r} or give it another name")
    if other.definition() != spec.definition():
        cycle = (f", syllables_per_cycle {other.syllables_per_cycle}"
                 if other.syllables_per_cycle else "")
        return (f"{other.name} is a built-in NeuroFace task (kind {other.kind}, face profile "
                f"{other.face_profile}{cycle}); a row of that name must define it so, or give "
                "your task another name")
    return ""


def header_issues(columns, file: str) -> list[Issue]:
    """Missing required columns are errors; unknown columns are warnings (they are ignored)."""
    issues = [Issue("error", file, 1, column, "", f"required column '{column}' is missing; "
                    f"required: {', '.join(REQUIRED)}") for column in REQUIRED if column not in columns]
    issues += [Issue("warning", file, 1, column, "", f"unknown column '{column}' is ignored; the "
                     f"columns are {', '.join(REQUIRED + OPTIONAL)}")
               for column in columns if column not in REQUIRED + OPTIONAL]
    return issues


def table_vocabulary(table: pd.DataFrame, file: str) -> tuple[dict, list[Issue]]:
    """NeuroFace's tasks and the sound rows of a tasks-file table, and every row's problems.

    Parameters
    ----------
    table : DataFrame
        The file's cells (``pipeline.manifest.read_csv_cells``) with the required columns.
    file : str
        The file, for messages.

    Returns
    -------
    vocabulary : dict
        Task name -> TaskSpec: the built-in tasks, then each row without a problem.
    issues : list of Issue
        Every problem, named by row (the header is row 1) and column.
    """
    vocabulary = dict(NEUROFACE)
    taken = {name.lower(): (spec, 0) for name, spec in NEUROFACE.items()}
    issues = []
    for index, cells in enumerate(table.to_dict("records")):
        row = index + 2
        spec, problems = row_spec(cells)
        clash = _clash(spec, taken) if spec is not None else ""
        if clash:
            problems = [("task", clash)]
        issues += [Issue("error", file, row, column, "", message) for column, message in problems]
        if not problems:
            vocabulary[spec.name] = spec
            taken[spec.name.lower()] = (spec, row)
    return vocabulary, issues


def read_tasks_file(path: str | Path) -> tuple[dict, list[Issue]]:
    """The vocabulary of a run given ``--tasks path``, and every problem of the file.

    Returns
    -------
    vocabulary : dict
        Task name -> TaskSpec: NeuroFace's nine, then the file's tasks that have no problem.
    issues : list of Issue
        Errors and warnings, each with the file, row and column.

    Raises
    ------
    ManifestError
        If the file is missing or is not a comma-separated UTF-8 CSV with a header.
    """
    file = str(path)
    table = read_csv_cells(path, what=WHAT)
    issues = header_issues(list(table.columns), file)
    if any(issue.severity == "error" for issue in issues):
        return dict(NEUROFACE), issues
    if table.empty:
        return dict(NEUROFACE), issues + [Issue("error", file, 0, "", "", "the tasks file has no "
                                                "rows; give one row per task of your own")]
    vocabulary, row_issues = table_vocabulary(table, file)
    return vocabulary, issues + row_issues


def resolve_vocabulary(path: str | Path | None) -> tuple[dict, list[Issue]]:
    """``read_tasks_file(path)``, or NeuroFace's tasks alone when no tasks file is given."""
    return read_tasks_file(path) if path is not None else (dict(NEUROFACE), [])


def tasks_source(path: str | Path | None) -> dict | None:
    """The tasks file a vocabulary came from (its path and SHA-256), None without one."""
    return None if path is None else {"file": str(Path(path).resolve()), "sha256": file_digest(path)}


def vocabulary_metadata(vocabulary: dict, path: str | Path | None) -> dict:
    """What the validated manifest's metadata stores of a run's tasks (see the module docstring)."""
    return {VOCABULARY_KEY: vocabulary_records(vocabulary), TASKS_SOURCE_KEY: tasks_source(path)}


def _validated_metadata(run_dir: str | Path) -> dict:
    """The validated manifest's metadata; empty when the folder holds none."""
    path = Path(run_dir) / VALIDATED_FILE
    return read_parquet_metadata(path) if path.is_file() else {}


def run_vocabulary(run_dir: str | Path) -> dict:
    """Task name -> TaskSpec of the tasks a run folder was validated with.

    A folder validated by an avstroke older than tasks files knew NeuroFace's nine only, and gets
    them; so does a folder without a validated manifest (tables assembled elsewhere), whose other
    tasks then read as unknown (``core.tasks.task_spec``).
    """
    records = _validated_metadata(run_dir).get(VOCABULARY_KEY)
    return dict(NEUROFACE) if records is None else vocabulary_from_records(records)


def check_tasks_from(run_dir: str | Path, path: str | Path) -> None:
    """Refuse a ``--tasks`` file other than the one the run folder was validated with.

    The stages after validate read the vocabulary stored with the validated manifest, not the
    file, so a different ``--tasks`` given to them would be silently ignored. Nothing is checked
    while the folder holds no validated manifest (the stages then say to validate first).

    Raises
    ------
    ConfigError
        If the file's content differs from the validated one's, or the run was validated
        without a tasks file.
    """
    metadata = _validated_metadata(run_dir)
    if not metadata:
        return
    if not Path(path).is_file():
        raise ConfigError(f"--tasks {path}: {WHAT} not found")
    stored = metadata.get(TASKS_SOURCE_KEY)
    if stored is not None and stored["sha256"] == file_digest(path):
        return
    was = f"with the tasks file {stored['file']}" if stored is not None else "without a tasks file"
    raise ConfigError(f"{run_dir} was validated {was}, not with --tasks {path}: run from validate to "
                      f"use these tasks (`avstroke validate`, or `avstroke run` without --from), or "
                      f"give another --out")

"""The recording manifest (``data_manifest.csv``): reading and validation.

One row per recording. Columns:

- required: ``recording_id, subject_id, group, task, visit``; ``task`` is one of NeuroFace's nine
  task codes (``core.tasks.NEUROFACE``) or a task of the clinic's tasks file
  (``pipeline.task_file``, ``--tasks``);
- media: ``video_path`` and/or ``audio_path`` (either may be empty; a row needs one of them);
  paths are relative to the data root (the manifest's folder unless ``--data-root`` is given) and
  may not escape it;
- optional: ``landmarks_path`` (manual landmarks), ``age`` (years), ``sex`` (M/F),
  ``visit_date`` (``YYYY-MM-DD``; orders the visits when their codes are not all numbers, see
  ``core.visits``), ``score_<name>`` (clinical scores, numeric, per recording),
  ``outcome_<name>`` (numeric outcomes), ``covariate_<name>`` (numeric covariates for the
  metadata model).

Validation lists every problem at once, each with the file, its row number (the header is row 1)
and column, and what was expected. The validated table gains ``manifest_row``, that row number, so
the manifest's order of visits survives later sorting.

Media checks (``pipeline.media``) apply to the video stream of ``video_path`` and to the sound the
audio features use (``audio_source_column``): frame rate, sample rate and duration within range;
every stream decoding as much as its file states (a cut or corrupted file decodes less), up to
``TOLERATED_MISSING_S``; a recording missing more is kept with a warning up to
``EXCLUDED_MISSING_SHARE`` of a stream and excluded beyond it; the silent sound of a task that
asks for the voice (``features.audio.silence``) is a warning, as its voice and speech features
will be NaN.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

from core.errors import ConfigError, ManifestError, MediaError
from core.tasks import GROUPS, NEUROFACE, SEXES, TaskSpec
from core.visits import DATE_COLUMN, ROW_COLUMN, visit_rank
from core.workers import quiet_worker_recycling
from features.audio.silence import silence_reason
from pipeline.cache import file_digest, read_parquet_metadata
from pipeline.media import MediaFacts, probe

REQUIRED = ("recording_id", "subject_id", "group", "task", "visit")
PATH_COLUMNS = ("video_path", "audio_path", "landmarks_path")
OPTIONAL = PATH_COLUMNS + ("age", "sex", DATE_COLUMN)
NUMERIC_PREFIXES = ("score_", "outcome_", "covariate_")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ID_RULE = "may hold only letters, digits, '_', '-' and '.', and must start with a letter or digit"
DATE_PATTERN = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
ORDER_COLUMNS = ("subject_id", "visit", DATE_COLUMN)
FPS_RANGE = (10.0, 240.0)
DURATION_RANGE_S = (0.5, 600.0)
AUDIO_RATE_RANGE_HZ = (8000, 96000)
AGE_RANGE = (0.0, 120.0)
VALIDATED_FILE = "manifest.validated.parquet"
SOURCE_KEY = "source"  # metadata of VALIDATED_FILE: the manifest and data root it came from
# A stream can decode a little less than its file states with nothing lost: an encoder's priming
# samples (AAC: 1024-2112 samples, under 0.05 s), a length rounded to a frame or a millisecond.
# The real clips the tests read fall short by at most 0.03 s. More than 0.1 s is content lost.
TOLERATED_MISSING_S = 0.1
# Features summarise a whole task: its repetitions, its first and last DDK attempts, the widest
# movement. With up to a fifth of a stream lost (at most about one repetition in five), they still
# describe the task as performed, so the recording is kept with a warning and the shortfall is
# recorded (media.parquet) for a sensitivity analysis; with more lost, they describe a fragment
# (a file cut in half has no second half of the task), so the recording is excluded.
EXCLUDED_MISSING_SHARE = 0.2
# Separators a spreadsheet may have written instead of commas: how a message names each.
OTHER_SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}


@dataclass(frozen=True)
class Issue:
    """One validation finding.

    ``row`` is the line number in the CSV (header = 1), 0 for the file as a whole.
    """

    severity: str  # "error" or "warning"
    file: str
    row: int
    column: str
    recording_id: str
    message: str
    media: str = ""  # the media file the issue is about, as the manifest cell gives it

    def __str__(self) -> str:
        where = f"{self.file}" + (f" row {self.row}" if self.row else "")
        who = f" ({self.recording_id})" if self.recording_id else ""
        col = f", column '{self.column}'" if self.column else ""
        media = f" ({self.media})" if self.media else ""
        return f"{self.severity}: {where}{who}{col}{media}: {self.message}"


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest as strings, keeping empty cells as empty strings.

    Raises
    ------
    ManifestError
        If the file is missing or is not a CSV with a header.
    """
    return read_csv_cells(path, what="manifest")


def read_csv_cells(path: str | Path, *, what: str) -> pd.DataFrame:
    """Read a CSV a person wrote (a manifest, a tasks file) as stripped strings, empty cells as ''.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file is, for messages, e.g. "manifest".

    Raises
    ------
    ManifestError
        If the file is missing, is not UTF-8, seems separated by something other than commas, or
        is not a CSV with a header.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: {what} not found")
    raw = path.read_bytes()
    row = first_row_not_utf8(raw)
    if row:
        raise ManifestError(f"{path}: row {row} is not UTF-8 text; save the file as UTF-8 (in "
                            "Excel: Save As > 'CSV UTF-8'; in LibreOffice: character set "
                            "'Unicode (UTF-8)')")
    hint = separator_hint(raw.decode("utf-8").partition("\n")[0], what=what)
    if hint:
        raise ManifestError(f"{path}: {hint}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ManifestError(f"{path}: not a readable CSV file ({exc})") from exc
    table.columns = [c.strip() for c in table.columns]
    return table.apply(lambda col: col.str.strip())


def first_row_not_utf8(raw: bytes) -> int:
    """Row number (header = 1) of the first line of ``raw`` that is not UTF-8; 0 when all are."""
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return 0


def separator_hint(header: str, *, what: str) -> str:
    """What to say when a header line has one column but holds another separator ('' if not).

    Parameters
    ----------
    header : str
        The file's first line.
    what : str
        What the file is, e.g. "manifest".
    """
    if "," in header:
        return ""
    for separator, name in OTHER_SEPARATORS.items():
        if separator in header:
            return (f"the {what} has one column: is it separated by {name}? avstroke reads "
                    "comma-separated files; save it as CSV with commas (in Excel: 'CSV (Comma "
                    "delimited)')")
    return ""


def _is_iso_date(value: str) -> bool:
    """Whether a cell is a real calendar date written ``YYYY-MM-DD``."""
    if not DATE_PATTERN.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:  # well-formed but not in the calendar, e.g. 2023-02-30
        return False
    return True


def _date_problem(value: str) -> str:
    """Why a ``visit_date`` cell is not a date (empty when it is one)."""
    if not value:
        return f"{DATE_COLUMN} is empty; give the visit's date as YYYY-MM-DD, or leave the column out"
    return "" if _is_iso_date(value) else f"{value!r} is not a date written as YYYY-MM-DD, e.g. 2023-04-17"


def _manifest_rows(table: pd.DataFrame) -> pd.Series:
    """The CSV line of each row of a table read by ``read_manifest`` (header = line 1)."""
    return pd.Series(table.index + 2, index=table.index, name=ROW_COLUMN)


def _numeric_columns(columns) -> list[str]:
    return [c for c in columns if c.startswith(NUMERIC_PREFIXES)] + (["age"] if "age" in columns else [])


def resolve_media_path(value: str, data_root: Path) -> Path:
    """Absolute path of a manifest path cell relative to ``data_root``."""
    candidate = Path(value)
    return (candidate if candidate.is_absolute() else data_root / candidate).resolve()


def audio_source_column(row) -> str:
    """The column of the file the audio features read: ``audio_path`` if given, else the video."""
    return "audio_path" if row.get("audio_path") else "video_path"


def _outside_root_message(value: str, resolved: Path, root: Path) -> str:
    """Why a path cell outside the data root is refused, and how to fix it."""
    if Path(value).is_absolute():
        return (f"absolute path {value!r} is outside the data root {root} (the manifest's folder "
                f"unless --data-root is given); pass --data-root with a folder that holds every "
                f"recording, e.g. --data-root {resolved.parent}, or give paths relative to {root}")
    return f"path {value!r} escapes the data root {root}"


def _row_issues(table: pd.DataFrame, file: str, data_root: Path, require_group: bool,
                vocabulary: dict) -> list[Issue]:
    issues = []
    root = data_root.resolve()
    numeric = _numeric_columns(table.columns)

    def add(sev, row, col, rid, msg, media=""):
        issues.append(Issue(sev, file, row, col, rid, msg, media))

    seen_ids: dict[str, int] = {}
    for i, rec in table.iterrows():
        row = int(i) + 2
        rid = rec["recording_id"]
        if not rid:
            add("error", row, "recording_id", "", "recording_id is empty")
        elif not ID_PATTERN.match(rid):
            add("error", row, "recording_id", rid, f"recording_id {rid!r} {ID_RULE} (it names cache files)")
        elif rid in seen_ids:
            add("error", row, "recording_id", rid, f"duplicate recording_id (first on row {seen_ids[rid]})")
        else:
            seen_ids[rid] = row
        if not rec["subject_id"]:
            add("error", row, "subject_id", rid, "subject_id is empty")
        elif not ID_PATTERN.match(rec["subject_id"]):
            add("error", row, "subject_id", rid, f"subject_id {rec['subject_id']!r} {ID_RULE}")
        if rec["group"] not in GROUPS and (require_group or rec["group"]):
            add("error", row, "group", rid, f"{rec['group']!r} is not a known group; allowed: {', '.join(GROUPS)}")
        if rec["task"] not in vocabulary:
            add("error", row, "task", rid, f"{rec['task']!r} is not a known task; allowed: "
                f"{', '.join(vocabulary)} (a task of your own is defined in a tasks file, --tasks)")
        if not rec["visit"]:
            add("error", row, "visit", rid, "visit is empty; give the session number, e.g. 02")
        elif not ID_PATTERN.match(rec["visit"]):
            # The visit is exported beside the ids, so it keeps to their characters.
            add("error", row, "visit", rid, f"visit {rec['visit']!r} {ID_RULE}, e.g. 02")
        if DATE_COLUMN in table.columns and _date_problem(rec[DATE_COLUMN]):
            add("error", row, DATE_COLUMN, rid, _date_problem(rec[DATE_COLUMN]))
        if "sex" in table.columns and rec["sex"] and rec["sex"] not in SEXES:
            add("error", row, "sex", rid, f"{rec['sex']!r} is not allowed; allowed: {', '.join(SEXES)} or empty")
        for col in numeric:
            value = rec[col]
            if value == "":
                continue
            try:
                number = float(value)
            except ValueError:
                add("error", row, col, rid, f"{value!r} is not a number")
                continue
            if col == "age" and not AGE_RANGE[0] <= number <= AGE_RANGE[1]:
                add("error", row, col, rid, f"age {number} is outside {AGE_RANGE[0]:g}-{AGE_RANGE[1]:g} years")
        present = [c for c in ("video_path", "audio_path") if c in table.columns and rec[c]]
        if not present:
            add("error", row, "video_path", rid, "neither video_path nor audio_path is given")
        for col in PATH_COLUMNS:
            if col not in table.columns or not rec[col]:
                continue
            resolved = resolve_media_path(rec[col], root)
            if not resolved.is_relative_to(root):
                add("error", row, col, rid, _outside_root_message(rec[col], resolved, root), rec[col])
            elif not resolved.is_file():
                add("error", row, col, rid, f"file not found: {resolved}", rec[col])
    groups_per_subject = table[table["group"] != ""].groupby("subject_id")["group"].unique()
    for subject, groups in groups_per_subject.items():
        if subject and len(groups) > 1:
            rows = [int(i) + 2 for i in table.index[table["subject_id"] == subject]]
            add("error", rows[0], "group", "", f"subject {subject!r} has more than one group "
                f"({', '.join(sorted(groups))}) on rows {', '.join(map(str, rows))}")
    return issues


def _visit_order_issues(table: pd.DataFrame, file: str, row_issues: list[Issue]) -> list[Issue]:
    """A conflict in the visit order (see ``core.visits``) among the rows whose subject, visit
    and date cells are sound; it concerns the cohort, not one recording."""
    unsound = {i.row for i in row_issues if i.severity == "error" and i.column in ORDER_COLUMNS}
    rows = _manifest_rows(table)
    sound = table[~rows.isin(unsound)].assign(**{ROW_COLUMN: rows})
    try:
        visit_rank(sound)
    except ManifestError as exc:
        return [Issue("error", file, 0, "visit", "", str(exc))]
    return []


def shortfall_message(decoded: str, stated: str, share: float) -> tuple[str, str]:
    """Severity and message for a stream that decodes only part of what its file states.

    Parameters
    ----------
    decoded, stated : str
        The amounts, written with their unit, e.g. '135' and '150 frames'.
    share : float
        Share (0-1) of the stated amount that does not decode.
    """
    said = f"{decoded} of {stated} decode ({1.0 - share:.0%})"
    if share > EXCLUDED_MISSING_SHARE:
        return "error", (f"{said}: more than {EXCLUDED_MISSING_SHARE:.0%} is missing, so the "
                         "recording is excluded; the file is cut short or damaged")
    return "warning", (f"{said}: the file is cut short or damaged; its features rest on the part "
                       "that decodes")


def _video_issues(facts: MediaFacts) -> list[tuple[str, str]]:
    """(severity, message) of each problem of a video stream."""
    if not facts.has_video:
        return [("error", "has no video stream")]
    out = []
    if not FPS_RANGE[0] <= facts.fps <= FPS_RANGE[1]:
        out.append(("error", f"frame rate {facts.fps:.2f} fps is outside "
                             f"{FPS_RANGE[0]:g}-{FPS_RANGE[1]:g} fps"))
    if not DURATION_RANGE_S[0] <= facts.video_duration_s <= DURATION_RANGE_S[1]:
        out.append(("error", f"video duration {facts.video_duration_s:.2f} s is outside "
                             f"{DURATION_RANGE_S[0]:g}-{DURATION_RANGE_S[1]:g} s"))
    missing_s = (facts.n_frames - facts.n_frames_decoded) / facts.fps
    if missing_s > TOLERATED_MISSING_S:
        out.append(shortfall_message(f"{facts.n_frames_decoded}", f"{facts.n_frames} frames",
                                     facts.video_missing_share))
    return out


def _audio_issues(facts: MediaFacts, task: TaskSpec | None) -> list[tuple[str, str]]:
    """(severity, message) of each problem of the sound a ``task`` recording's features read
    (``task`` None when the recording's task is unknown: its error stands for the silence check)."""
    if not facts.has_audio:
        return [("error", "has no audio stream")]
    out = []
    if not AUDIO_RATE_RANGE_HZ[0] <= facts.audio_rate <= AUDIO_RATE_RANGE_HZ[1]:
        out.append(("error", f"audio sample rate {facts.audio_rate} Hz is outside "
                             f"{AUDIO_RATE_RANGE_HZ[0]}-{AUDIO_RATE_RANGE_HZ[1]} Hz"))
    if not math.isnan(facts.audio_duration_s) and not (
            DURATION_RANGE_S[0] <= facts.audio_duration_s <= DURATION_RANGE_S[1]):
        out.append(("error", f"audio duration {facts.audio_duration_s:.2f} s is outside "
                             f"{DURATION_RANGE_S[0]:g}-{DURATION_RANGE_S[1]:g} s"))
    if facts.audio_duration_s - facts.audio_decoded_s > TOLERATED_MISSING_S:
        out.append(shortfall_message(f"{facts.audio_decoded_s:.2f}",
                                     f"{facts.audio_duration_s:.2f} s of sound",
                                     facts.audio_missing_share))
    silent = silence_reason(facts.audio_peak_dbfs, task) if task is not None else ""
    if silent:
        out.append(("warning", f"{silent}; its eGeMAPS, voice, timing and DDK features will be "
                               "NaN"))
    return out


def _media_issues(facts: MediaFacts, *, kind: str, sound_used: bool, task: TaskSpec | None
                  ) -> list[tuple[str, str]]:
    """(severity, message) of each problem of one media file.

    Parameters
    ----------
    facts : MediaFacts
        The file's probe.
    kind : str
        'video' for a ``video_path`` file, 'audio' for an ``audio_path`` file.
    sound_used : bool
        Whether the recording's audio features read this file's sound; a video's own sound is
        checked only then (a sidecar file replaces it).
    task : TaskSpec or None
        The recording's task (a silent sound matters only where the voice is asked for); None
        when the task is unknown.
    """
    out = _video_issues(facts) if kind == "video" else []
    if sound_used and (kind == "audio" or facts.has_audio):
        out += _audio_issues(facts, task)
    return out


def check_columns(table: pd.DataFrame, file: str) -> list[Issue]:
    """Missing required columns are errors; unknown columns are warnings (they are ignored)."""
    issues = [Issue("error", file, 1, col, "", f"required column '{col}' is missing; "
                    f"required: {', '.join(REQUIRED)}") for col in REQUIRED if col not in table.columns]
    if not any(c in table.columns for c in ("video_path", "audio_path")):
        issues.append(Issue("error", file, 1, "video_path", "",
                            "the manifest needs a video_path or an audio_path column"))
    known = set(REQUIRED) | set(OPTIONAL)
    for col in table.columns:
        if col not in known and not col.startswith(NUMERIC_PREFIXES):
            issues.append(Issue("warning", file, 1, col, "", f"unknown column '{col}' is ignored; "
                                f"extra numeric columns must start with one of {', '.join(NUMERIC_PREFIXES)}"))
    return issues


def media_root(path: str | Path, data_root: str | Path | None) -> Path:
    """The folder a manifest's media paths are relative to: ``data_root``, else the manifest's."""
    return Path(data_root) if data_root is not None else Path(path).parent


def manifest_source(path: str | Path, data_root: str | Path | None = None) -> dict:
    """What a validated manifest is made from: the CSV, the SHA-256 of its content, the data root.

    Raises
    ------
    ManifestError
        If the manifest file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    return {"manifest": str(path.resolve()), "sha256": file_digest(path),
            "data_root": str(media_root(path, data_root).resolve())}


def check_validated_from(run_dir: str | Path, path: str | Path, data_root: str | Path | None = None) -> None:
    """Refuse a manifest other than the one the run folder's validated manifest was made from.

    The stages after validate read the validated manifest, not the CSV, so a different
    ``--manifest`` given to them would be silently ignored. Nothing is checked while the folder
    holds no validated manifest (the stages then say to validate first).

    Raises
    ------
    ConfigError
        If the manifest's content or data root differs from the validated one's, or the
        validated manifest does not record where it came from (made by an older version).
    """
    validated = Path(run_dir) / VALIDATED_FILE
    if not validated.is_file():
        return
    stored = read_parquet_metadata(validated).get(SOURCE_KEY)
    given = manifest_source(path, data_root)
    if stored is not None and (stored["sha256"], stored["data_root"]) == (given["sha256"], given["data_root"]):
        return
    was = (f"{stored['manifest']} (data root {stored['data_root']})" if stored is not None
           else "a manifest it kept no record of (an older avstroke)")
    raise ConfigError(f"{run_dir} was validated from {was}, not from --manifest {path} (data root "
                      f"{given['data_root']}): run from validate to use this manifest (`avstroke "
                      f"validate`, or `avstroke run` without --from), or give another --out")


def _media_columns(rec: pd.Series, probe_media: bool) -> list[str]:
    """The media columns of a manifest row whose files are to be opened."""
    return [c for c in ("video_path", "audio_path") if rec[c]] if probe_media else []


def _probe_outcome(path: Path) -> MediaFacts | MediaError:
    """``probe``'s facts of one file, or the error it raised, returned so that it is reported
    with its manifest row like every other issue."""
    try:
        return probe(path)
    except MediaError as exc:
        return exc


def _probe_all(paths: list[Path], *, workers: int, progress) -> dict:
    """Every file decoded in full on ``workers`` processes: path -> ``_probe_outcome``."""
    unique = list(dict.fromkeys(paths))
    with quiet_worker_recycling():
        outcomes = Parallel(n_jobs=workers, return_as="generator")(
            delayed(_probe_outcome)(path) for path in unique)
        if progress:
            outcomes = progress(outcomes, len(unique))
        return dict(zip(unique, outcomes))


def validate(path: str | Path, *, data_root: str | Path | None = None, probe_media: bool = True,
             require_group: bool = True, progress=None, vocabulary: dict = NEUROFACE,
             workers: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, list[Issue]]:
    """Check a manifest and its media; return the validated table, media facts and all issues.

    Parameters
    ----------
    path : str or Path
        The manifest CSV.
    data_root : str or Path, optional
        Folder the media paths are relative to; default the manifest's folder.
    probe_media : bool
        Open every media file and check its streams (False checks only the table).
    require_group : bool
        False for recordings to be predicted, whose group is not known (empty cells allowed).
    progress : callable, optional
        ``progress(iterable, total)`` wraps the files being decoded to show progress (e.g. tqdm).
    vocabulary : dict
        Task name -> ``core.tasks.TaskSpec`` of every task the manifest may name: NeuroFace's
        nine, and a clinic's own from its tasks file (``pipeline.task_file``).
    workers : int
        Processes that decode the media files (each file is decoded in full once).

    Returns
    -------
    manifest : DataFrame
        The rows with absolute media paths (``*_path`` columns), numeric columns as floats and
        ``manifest_row``, each row's line in the CSV.
    media : DataFrame
        One row per recording: the video's and the audio's stream facts.
    issues : list of Issue
        Every error and warning found.
    """
    path = Path(path)
    file = str(path)
    root = media_root(path, data_root)
    table = read_manifest(path)
    issues = check_columns(table, file)
    if any(i.severity == "error" for i in issues):
        return table, pd.DataFrame(), issues
    if table.empty:
        return table, pd.DataFrame(), [Issue("error", file, 0, "", "", "the manifest has no rows")]
    for col in PATH_COLUMNS:
        if col not in table.columns:
            table[col] = ""
    row_issues = _row_issues(table, file, root, require_group, vocabulary)
    issues += row_issues + _visit_order_issues(table, file, row_issues)
    media_rows = []
    rows = list(table.iterrows())
    to_open = {i: [(col, resolve_media_path(rec[col], root)) for col in _media_columns(rec, probe_media)]
               for i, rec in rows}
    outcomes = _probe_all([path for files in to_open.values() for _, path in files
                           if path.is_file() and path.is_relative_to(root.resolve())],
                          workers=workers, progress=progress)
    for i, rec in rows:
        row, rid = int(i) + 2, rec["recording_id"]
        facts = {"recording_id": rid}
        given = [col for col, _ in to_open[i]]
        opened = []
        for col, resolved in to_open[i]:
            kind = col.removesuffix("_path")
            if resolved not in outcomes:
                continue  # missing or outside the data root: already reported
            found = outcomes[resolved]
            if isinstance(found, MediaError):
                issues.append(Issue("error", file, row, col, rid, str(found), rec[col]))
                continue
            found_issues = _media_issues(found, kind=kind, sound_used=col == audio_source_column(rec),
                                         task=vocabulary.get(rec["task"]))
            issues += [Issue(severity, file, row, col, rid, message, rec[col])
                       for severity, message in found_issues]
            opened.append(found)
            facts.update({f"{kind}_{k}": v for k, v in asdict(found).items()})
        # A file that never opened says nothing about sound: its own error stands for it.
        if given and not rec["audio_path"] and len(opened) == len(given) \
                and not any(f.has_audio for f in opened):
            issues.append(Issue("warning", file, row, "audio_path", rid,
                                "no audio: audio_path is empty and the video has no audio stream; "
                                "audio features will be missing for this recording"))
        media_rows.append(facts)
    validated = table.assign(**{ROW_COLUMN: _manifest_rows(table)})
    for col in PATH_COLUMNS:
        validated[col] = [str(resolve_media_path(v, root)) if v else "" for v in table[col]]
    for col in _numeric_columns(table.columns):
        validated[col] = pd.to_numeric(table[col].replace("", None), errors="coerce").astype(float)
    return validated, pd.DataFrame(media_rows), issues


def load_validated(run_dir: str | Path) -> pd.DataFrame:
    """The validated manifest of a run folder, written by ``avstroke validate``."""
    path = Path(run_dir) / VALIDATED_FILE
    if not path.is_file():
        raise ManifestError(f"{path} not found: run `avstroke validate` (or `avstroke run`) first")
    return pd.read_parquet(path)

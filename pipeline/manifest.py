"""The recording manifest (``data_manifest.csv``): reading and validation.

One row per recording. Columns:

- required: ``recording_id, subject_id, group, task, visit``;
- media: ``video_path`` and/or ``audio_path`` (either may be empty; a row needs one of them);
  paths are relative to the data root (the manifest's folder unless ``--data-root`` is given) and
  may not escape it;
- optional: ``landmarks_path`` (manual landmarks), ``age`` (years), ``sex`` (M/F),
  ``visit_date`` (``YYYY-MM-DD``; orders the visits when their codes are not all numbers, see
  ``pipeline.visits``), ``score_<name>`` (clinical scores, numeric, per recording),
  ``outcome_<name>`` (numeric outcomes), ``covariate_<name>`` (numeric covariates for the
  metadata model).

Validation lists every problem at once, each with the file, its row number (the header is row 1)
and column, and what was expected. The validated table gains ``manifest_row``, that row number, so
the manifest's order of visits survives later sorting.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from pipeline.cache import file_digest, read_parquet_metadata
from pipeline.errors import ConfigError, ManifestError, MediaError
from pipeline.media import MediaFacts, probe
from pipeline.tasks import GROUPS, SEXES, TASKS
from pipeline.visits import DATE_COLUMN, ROW_COLUMN, visit_rank

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
# Messages name the row and column, never the path: they reach tables people read.
PATH_RULE = "give the path relative to the data root (the manifest's folder, or --data-root)"


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

    def __str__(self) -> str:
        where = f"{self.file}" + (f" row {self.row}" if self.row else "")
        who = f" ({self.recording_id})" if self.recording_id else ""
        col = f", column '{self.column}'" if self.column else ""
        return f"{self.severity}: {where}{who}{col}: {self.message}"


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest as strings, keeping empty cells as empty strings.

    Raises
    ------
    ManifestError
        If the file is missing or is not a CSV with a header.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not a readable CSV file ({exc})") from exc
    table.columns = [c.strip() for c in table.columns]
    return table.apply(lambda col: col.str.strip())


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


def _row_issues(table: pd.DataFrame, file: str, data_root: Path, require_group: bool) -> list[Issue]:
    issues = []
    root = data_root.resolve()
    numeric = _numeric_columns(table.columns)

    def add(sev, row, col, rid, msg):
        issues.append(Issue(sev, file, row, col, rid, msg))

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
        if rec["task"] not in TASKS:
            add("error", row, "task", rid, f"{rec['task']!r} is not a known task; allowed: {', '.join(TASKS)}")
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
                add("error", row, col, rid, f"the path escapes the data root; {PATH_RULE}")
            elif not resolved.is_file():
                add("error", row, col, rid, f"file not found; {PATH_RULE}")
    groups_per_subject = table[table["group"] != ""].groupby("subject_id")["group"].unique()
    for subject, groups in groups_per_subject.items():
        if subject and len(groups) > 1:
            rows = [int(i) + 2 for i in table.index[table["subject_id"] == subject]]
            add("error", rows[0], "group", "", f"subject {subject!r} has more than one group "
                f"({', '.join(sorted(groups))}) on rows {', '.join(map(str, rows))}")
    return issues


def _visit_order_issues(table: pd.DataFrame, file: str, row_issues: list[Issue]) -> list[Issue]:
    """A conflict in the visit order (see ``pipeline.visits``) among the rows whose subject, visit
    and date cells are sound; it concerns the cohort, not one recording."""
    unsound = {i.row for i in row_issues if i.severity == "error" and i.column in ORDER_COLUMNS}
    rows = _manifest_rows(table)
    sound = table[~rows.isin(unsound)].assign(**{ROW_COLUMN: rows})
    try:
        visit_rank(sound)
    except ManifestError as exc:
        return [Issue("error", file, 0, "visit", "", str(exc))]
    return []


def _media_issues(facts: MediaFacts, *, kind: str, file: str, row: int, column: str, rid: str) -> list[Issue]:
    out = []

    def add(msg, sev="error"):
        out.append(Issue(sev, file, row, column, rid, msg))

    if kind == "video":
        if not facts.has_video:
            add("has no video stream")
            return out
        if not FPS_RANGE[0] <= facts.fps <= FPS_RANGE[1]:
            add(f"frame rate {facts.fps:.2f} fps is outside {FPS_RANGE[0]:g}-{FPS_RANGE[1]:g} fps")
        if not DURATION_RANGE_S[0] <= facts.video_duration_s <= DURATION_RANGE_S[1]:
            add(f"video duration {facts.video_duration_s:.2f} s is outside "
                f"{DURATION_RANGE_S[0]:g}-{DURATION_RANGE_S[1]:g} s")
    if kind == "audio" or (kind == "video" and facts.has_audio):
        if not facts.has_audio:
            add("has no audio stream")
            return out
        if not AUDIO_RATE_RANGE_HZ[0] <= facts.audio_rate <= AUDIO_RATE_RANGE_HZ[1]:
            add(f"audio sample rate {facts.audio_rate} Hz is outside "
                f"{AUDIO_RATE_RANGE_HZ[0]}-{AUDIO_RATE_RANGE_HZ[1]} Hz")
        if not math.isnan(facts.audio_duration_s) and not (
                DURATION_RANGE_S[0] <= facts.audio_duration_s <= DURATION_RANGE_S[1]):
            add(f"audio duration {facts.audio_duration_s:.2f} s is outside "
                f"{DURATION_RANGE_S[0]:g}-{DURATION_RANGE_S[1]:g} s")
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


def validate(path: str | Path, *, data_root: str | Path | None = None, probe_media: bool = True,
             require_group: bool = True, progress=None) -> tuple[pd.DataFrame, pd.DataFrame, list[Issue]]:
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
        Wraps an iterable to show progress (e.g. tqdm).

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
    row_issues = _row_issues(table, file, root, require_group)
    issues += row_issues + _visit_order_issues(table, file, row_issues)
    media_rows = []
    rows = list(table.iterrows())
    for i, rec in (progress(rows) if progress else rows):
        row, rid = int(i) + 2, rec["recording_id"]
        facts = {"recording_id": rid}
        has_audio_somewhere = False
        for col, kind in (("video_path", "video"), ("audio_path", "audio")):
            if not rec[col] or not probe_media:
                continue
            resolved = resolve_media_path(rec[col], root)
            if not resolved.is_file() or not resolved.is_relative_to(root.resolve()):
                continue  # already reported
            try:
                found = probe(resolved)
            except MediaError as exc:
                issues.append(Issue("error", file, row, col, rid, f"cannot decode: {exc}"))
                continue
            issues += _media_issues(found, kind=kind, file=file, row=row, column=col, rid=rid)
            has_audio_somewhere |= found.has_audio
            facts.update({f"{kind}_{k}": v for k, v in asdict(found).items()})
        if probe_media and (rec["video_path"] or rec["audio_path"]) and not has_audio_somewhere:
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

"""Clinician export: feature values, control norms, z-scores and a data dictionary, as CSV and XLSX.

Everything here works on tables; only ``write_workbook`` and ``write_csvs`` touch files.

- ``feature_values``: one row per subject, visit and task (pseudonymous ``subject_id``, ``group``,
  ``visit``, ``task``), then recording-level feature columns ``<modality>__<feature>``. Recording
  ids and media paths are never exported.
- ``control_norms``: mean, SD and number of values of the control group's first visit
  (``core.visits``), per task and feature (a measure means different things in different
  tasks, so norms are never pooled).
- ``z_scores``: raw z = (value - control mean) / control SD, same layout as the values. The sign is
  not flipped by clinical direction; the dictionary's ``direction`` and ``positive_z_means``
  columns say whether a high value is worse.
- ``change_scores``: per followed-up subject, task and feature, the first and the last visit's
  values (``core.visits``), the change, the change in control SDs and, where controls were
  recorded twice, a reliable change index; ``change_means`` reads the sign with the clinical
  direction, and the dictionary's ``improvement_is`` says which way is better.
- ``data_dictionary``: one row per exported column, in words, from the feature registry.

Column headers keep the machine names (``face__commissure_excursion_asym_pct``), so a sheet reads
back into pandas unchanged; the plain words live in the dictionary sheet. Text that starts like a
spreadsheet formula is written with a leading ``'`` (``core.spreadsheet``), in the workbook and
in the CSV files.
"""
from __future__ import annotations

import difflib
import math
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

# Importing features.metadata also registers meta__age and meta__sex_female.
from core.errors import ConfigError, ManifestError, check_option
from core.files import atomic_write
from core.privacy import FILE_LIKE
from core.spreadsheet import neutralised, store_text_as_text, write_csv
from core.tasks import GROUP_NAMES, GROUPS
from core.visits import RULE_WORDS, first_visits, visit_rank
from features.metadata import COVARIATE_PREFIX, register_covariate
from features.registry import SEP, Feature, lookup, parse_column

KEY_COLUMNS = ["subject_id", "group", "visit", "task"]
SHEETS = ("values", "z_scores", "changes", "control_norms", "dictionary", "about")
NORM_COLUMNS = ["task", "column", "mean", "sd", "n", "note"]
MIN_CONTROLS = 3
# Person attributes (age, sex, covariates) are not measures of impairment: no norms, no z-scores.
NOT_SCORED_MODALITIES = ("meta",)
NOTE_FEW_CONTROLS = f"fewer than {MIN_CONTROLS} control values: no z-score"
NOTE_ZERO_SD = "control SD is 0: no z-score"
# 95% of test-retest differences of a stable person lie within 1.96 of their SD (Jacobson and
# Truax 1991): a reliable change index beyond it is change beyond measurement noise.
RELIABLE_CHANGE = 1.96
CHANGE_COLUMNS = ["subject_id", "group", "task", "column", "unit", "baseline_visit", "followup_visit",
                  "baseline", "followup", "change", "change_means", "change_control_sd",
                  "reliable_change_index", "note"]
VISIT_PAIR_COLUMNS = ["subject_id", "baseline_visit", "followup_visit"]

DIRECTION_WORDS = {"higher_worse": "higher is worse", "higher_better": "higher is better",
                   "neutral": "no clinical direction"}
POSITIVE_Z_WORDS = {"higher_worse": "worse than controls", "higher_better": "better than controls",
                    "neutral": "higher than controls (no clinical direction)"}
IMPROVEMENT_WORDS = {"higher_worse": "a fall", "higher_better": "a rise",
                     "neutral": "neither (no clinical direction)"}
# What a rise and what a fall of each direction's feature mean for the participant.
CHANGE_WORDS = {"higher_worse": ("worse", "better"), "higher_better": ("better", "worse"),
                "neutral": ("a rise, no clinical direction", "a fall, no clinical direction")}
MODALITY_WORDS = {
    "face": "face video (68 facial landmarks)",
    "quality": "face video: landmark tracking quality",
    "audio": "voice acoustics (eGeMAPS, openSMILE)",
    "voice": "voice quality (Praat)",
    "ddk": "syllable repetition (diadochokinesis)",
    "timing": "speech timing",
    "nonspeech": "recording-condition control (audio between speech)",
    "meta": "participant information",
}
KEY_DESCRIPTIONS = {
    "subject_id": "Pseudonymous participant id (no names, no file names).",
    "group": "Participant group: " + ", ".join(f"{code} = {GROUP_NAMES[code]}" for code in GROUPS) + ".",
    "visit": ("Session (visit) code as given in the manifest, e.g. 02 = baseline, 03 = follow-up; "
              f"rows are in visit order: {RULE_WORDS}."),
}
HIGHLIGHT_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")
MAX_COLUMN_WIDTH = 60
MIN_COLUMN_WIDTH = 8


def _feature_columns(table: pd.DataFrame) -> list[str]:
    """Recording-level feature columns (``<modality>__<feature>``) of a table, in table order."""
    out = []
    for column in table.columns:
        if SEP not in column:
            continue
        if parse_column(column)[1] is not None:
            raise ValueError(f"column {column!r} is a subject-level column; the export needs the "
                             "recording-level table (features/recordings.parquet)")
        out.append(column)
    return out


def _scored_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if parse_column(c)[0] not in NOT_SCORED_MODALITIES]


def _check_keys(table: pd.DataFrame, *, what: str) -> None:
    missing = [c for c in KEY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{what} lacks the key columns {missing}; it needs {KEY_COLUMNS}")


def resolve_columns(names: list[str], available: list[str]) -> list[str]:
    """Turn feature names or column names into the table's recording-level column names.

    Parameters
    ----------
    names : list of str
        Each a column name (``voice__jitter_local``) or a bare feature name (``jitter_local``).
    available : list of str
        The feature columns the table has.

    Returns
    -------
    list of str
        Column names in the order given, each once.

    Raises
    ------
    ConfigError
        For a name the table does not have (listing close matches), a registered feature whose
        stage produced no column, or a bare name that several modalities share.
    """
    by_name: dict[str, list[str]] = {}
    for column in available:
        by_name.setdefault(parse_column(column)[2], []).append(column)
    resolved: list[str] = []
    for raw in names:
        name = raw.strip()
        if name in available:
            matches = [name]
        elif name in by_name:
            matches = by_name[name]
        else:
            raise ConfigError(_unknown_message(name, available, list(by_name)))
        if len(matches) > 1:
            raise ConfigError(f"feature name {name!r} is ambiguous: it exists as {', '.join(matches)}; "
                              "give the full column name")
        if matches[0] not in resolved:
            resolved.append(matches[0])
    return resolved


def _unknown_message(name: str, available: list[str], bare: list[str]) -> str:
    close = difflib.get_close_matches(name, available + bare, n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else "; no close match"
    try:
        modality, task, feature = parse_column(name)
    except KeyError:
        return f"unknown feature or column {name!r}{hint}"
    recording_level = f"{modality}{SEP}{feature}"
    if task is not None:
        return (f"{name!r} is a subject-level column name; the export has one row per task, so give "
                f"the recording-level name {recording_level!r}")
    try:
        lookup(recording_level)
    except KeyError:
        return f"unknown feature or column {name!r}{hint}"
    return (f"feature {name!r} is registered but this table has no such column "
            f"(did the stage computing {modality} features run on these recordings?)")


def _check_no_files(table: pd.DataFrame, *, columns: list[str]) -> None:
    for column in columns:
        cells = table[column].astype(str)
        # A cell that looks like a path or a file name would leak where recordings live.
        bad = cells[cells.str.contains(FILE_LIKE)]
        if len(bad):
            raise ManifestError(f"{column} {bad.iloc[0]!r} looks like a path or a file name; exports carry "
                                "pseudonymous ids only: give ids without folders or file extensions "
                                "in the manifest")


def _check_one_per_key(table: pd.DataFrame) -> None:
    repeated = table[table.duplicated(KEY_COLUMNS, keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        n = int((table[KEY_COLUMNS] == first[KEY_COLUMNS]).all(axis=1).sum())
        raise ManifestError(f"{len(repeated)} recordings share a subject, visit and task, e.g. subject "
                            f"{first['subject_id']} visit {first['visit']} task {first['task']} ({n} "
                            "recordings); the export needs one recording per subject, visit and task")


def feature_values(recordings: pd.DataFrame, *, columns: list[str] | None = None) -> pd.DataFrame:
    """The values sheet: one row per subject, visit and task, with recording-level features.

    Parameters
    ----------
    recordings : DataFrame
        The recording-level table (``features/recordings.parquet``): ``subject_id``, ``group``,
        ``visit``, ``task`` and ``<modality>__<feature>`` columns, and what ``core.visits``
        orders visits by. Paths, ``recording_id``, clinical scores, ``manifest_row`` and
        ``visit_date`` are not exported.
    columns : list of str, optional
        Only these features (bare names or column names), in this order. Default: every feature.

    Returns
    -------
    DataFrame
        ``subject_id, group, visit, task`` then float feature columns, sorted by subject, visit
        (in ``core.visits`` order) and task; NaN where a value is not computable.

    Raises
    ------
    ConfigError
        For an unknown or ambiguous name in ``columns``.
    ManifestError
        If an id looks like a path or file name, or two recordings share subject, visit and task.
    """
    _check_keys(recordings, what="the recordings table")
    available = _feature_columns(recordings)
    if columns is not None:
        if not columns:
            raise ConfigError("the list of export columns is empty; give at least one feature")
        chosen = resolve_columns(list(columns), available)
    else:
        chosen = available
    keys = recordings[KEY_COLUMNS].astype(str)
    _check_no_files(keys, columns=KEY_COLUMNS)
    _check_one_per_key(keys)
    non_numeric = [c for c in chosen if not (pd.api.types.is_numeric_dtype(recordings[c])
                                             or pd.api.types.is_bool_dtype(recordings[c]))]
    if non_numeric:
        raise ValueError(f"feature columns {non_numeric[:5]} are not numeric")
    values = pd.concat([keys, recordings[chosen].astype(float)], axis=1).reset_index(drop=True)
    ranked = values.assign(rank=visit_rank(recordings).to_numpy())
    order = ranked.sort_values(["subject_id", "rank", "task"], kind="stable").index
    return values.loc[order].reset_index(drop=True)


def control_norms(recordings: pd.DataFrame, *, control_group: str = "HC",
                  columns: list[str] | None = None) -> pd.DataFrame:
    """Mean, SD and count of each feature in the control group's first visits, per task.

    Parameters
    ----------
    recordings : DataFrame
        The recording-level table, with what ``core.visits`` orders visits by. The output of
        ``feature_values`` lacks that and serves only when the visit codes are numbers.
        Participant information (``meta__*``) is not normed.
    control_group : str
        Group code of the controls, one of ``core.tasks.GROUPS``.
    columns : list of str, optional
        Only these feature columns, in this order (e.g. those ``feature_values`` kept); default
        every feature column of ``recordings``.

    Returns
    -------
    DataFrame
        One row per task present and feature: ``task``, ``column``, ``mean``, ``sd`` (sample SD,
        ddof = 1, in the feature's unit), ``n`` (controls with a value) and ``note``, which says
        why no z-score is given (fewer than ``MIN_CONTROLS`` values, or SD 0); empty when usable.
        A task with no controls has n = 0 and NaN mean and SD.
    """
    check_option("control group", control_group, GROUPS)
    _check_keys(recordings, what="the recordings table")
    columns = _scored_columns(_feature_columns(recordings) if columns is None else list(columns))
    # First visits are found in the whole cohort: the visit rule is chosen for all codes at once.
    first = first_visits(recordings)
    controls = first[first["group"].astype(str) == control_group]
    tasks = sorted(recordings["task"].astype(str).unique())
    rows = []
    for task in tasks:
        values = controls.loc[controls["task"].astype(str) == task, columns].astype(float)
        n = values.notna().sum()
        sd = values.std(ddof=1)
        mean = values.mean()
        for column in columns:
            rows.append({"task": task, "column": column, "mean": float(mean[column]),
                         "sd": float(sd[column]), "n": int(n[column])})
    norms = pd.DataFrame(rows, columns=NORM_COLUMNS[:-1])
    norms["note"] = np.where(norms["n"] < MIN_CONTROLS, NOTE_FEW_CONTROLS,
                             np.where(norms["sd"] == 0, NOTE_ZERO_SD, ""))
    return norms


def z_scores(recordings: pd.DataFrame, norms: pd.DataFrame) -> pd.DataFrame:
    """Raw z-scores against the control norms of the same task.

    Parameters
    ----------
    recordings : DataFrame
        Usually the output of ``feature_values`` (keys plus feature columns).
    norms : DataFrame
        Output of ``control_norms``; every normed column must be in ``recordings``.

    Returns
    -------
    DataFrame
        ``subject_id, group, visit, task`` and, for every normed column, z = (value - control mean)
        / control SD (dimensionless). Not flipped by direction: a positive z is a value above the
        controls' mean. NaN where the value is missing, the task has no norm, the controls have
        SD 0, or fewer than ``MIN_CONTROLS`` controls have a value.
    """
    _check_keys(recordings, what="the recordings table")
    missing = [c for c in NORM_COLUMNS[:-1] if c not in norms.columns]
    if missing:
        raise ValueError(f"norms lack the columns {missing}; expected the output of control_norms")
    columns = list(dict.fromkeys(norms["column"]))
    absent = [c for c in columns if c not in recordings.columns]
    if absent:
        raise ValueError(f"normed columns {absent[:5]} are not in the recordings table")
    usable = norms[(norms["n"] >= MIN_CONTROLS) & (norms["sd"] > 0)]
    mean = usable.pivot(index="task", columns="column", values="mean").reindex(columns=columns)
    sd = usable.pivot(index="task", columns="column", values="sd").reindex(columns=columns)
    tasks = recordings["task"].astype(str)
    values = recordings[columns].astype(float).to_numpy()
    z = (values - mean.reindex(tasks).to_numpy()) / sd.reindex(tasks).to_numpy()
    out = recordings[KEY_COLUMNS].astype(str).reset_index(drop=True)
    return pd.concat([out, pd.DataFrame(z, columns=columns)], axis=1)


def followed_up_visits(table: pd.DataFrame) -> pd.DataFrame:
    """Each followed-up subject's first and last visit codes, in ``core.visits`` order.

    Parameters
    ----------
    table : DataFrame
        Rows with ``subject_id`` and ``visit`` and what ``core.visits`` orders visits by: the
        recording table (``features/recordings.parquet``) or the subject table.

    Returns
    -------
    DataFrame
        ``subject_id``, ``baseline_visit``, ``followup_visit``: one row per subject seen at two or
        more visits (the visits between the first and the last are not used), sorted by subject.
    """
    rank = visit_rank(table)
    keyed = pd.DataFrame({"subject_id": table["subject_id"].astype(str).to_numpy(),
                          "visit": table["visit"].astype(str).to_numpy(), "rank": rank.to_numpy()})
    keyed = keyed.drop_duplicates().sort_values(["subject_id", "rank"])
    ends = keyed.groupby("subject_id").agg(baseline_visit=("visit", "first"), followup_visit=("visit", "last"),
                                           n_visits=("rank", "max"))
    ends = ends[ends["n_visits"] > 1].reset_index()
    return ends[VISIT_PAIR_COLUMNS].reset_index(drop=True)


def _visit_values(values: pd.DataFrame, pairs: pd.DataFrame, columns: list[str], which: str) -> pd.DataFrame:
    """Long table (subject, group, task, column, value) of one end of each visit pair."""
    keyed = pairs[["subject_id", which]].rename(columns={which: "visit"})
    rows = values.merge(keyed, on=["subject_id", "visit"])
    return rows.melt(id_vars=["subject_id", "group", "task"], value_vars=columns, var_name="column",
                     value_name=which.replace("_visit", ""))


def paired_visit_values(values: pd.DataFrame, pairs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Baseline and follow-up values of each followed-up subject, task and feature.

    Parameters
    ----------
    values : DataFrame
        ``feature_values`` output (keys and recording-level feature columns).
    pairs : DataFrame
        ``followed_up_visits`` output.
    columns : list of str
        Feature columns to pair.

    Returns
    -------
    DataFrame
        ``subject_id, group, task, column, baseline_visit, followup_visit, baseline, followup,
        change`` (follow-up minus baseline, in the feature's unit); rows where neither visit has
        a value are left out, so is a task recorded at one visit only.
    """
    baseline = _visit_values(values, pairs, columns, "baseline_visit")
    followup = _visit_values(values, pairs, columns, "followup_visit")
    both = baseline.merge(followup, on=["subject_id", "group", "task", "column"]).merge(pairs, on="subject_id")
    both = both[both["baseline"].notna() | both["followup"].notna()]
    both["change"] = both["followup"] - both["baseline"]
    order = ["subject_id", "group", "task", "column", "baseline_visit", "followup_visit", "baseline", "followup",
             "change"]
    return both[order].sort_values(["subject_id", "task", "column"], kind="stable").reset_index(drop=True)


def retest_spread(paired: pd.DataFrame, *, control_group: str = "HC") -> pd.DataFrame:
    """Test-retest spread per task and feature: the SD of the control group's changes.

    Controls do not change between visits, so the spread of their differences is what
    measurement and day-to-day variation alone give (the denominator of the reliable change
    index, Jacobson and Truax 1991).

    Parameters
    ----------
    paired : DataFrame
        ``paired_visit_values`` output.
    control_group : str
        Group code of the controls.

    Returns
    -------
    DataFrame
        ``task``, ``column``, ``retest_sd`` (sample SD of the controls' changes, ddof = 1, in the
        feature's unit) and ``retest_n`` (controls with both values), for every task and feature
        with at least ``MIN_CONTROLS`` such controls.
    """
    controls = paired[(paired["group"] == control_group) & paired["change"].notna()]
    spread = controls.groupby(["task", "column"])["change"].agg(retest_sd="std", retest_n="count").reset_index()
    return spread[spread["retest_n"] >= MIN_CONTROLS].reset_index(drop=True)


def change_meaning(change: float, direction: str) -> str:
    """A change read with the feature's clinical direction: 'better', 'worse', 'no change', or
    which way a feature without a clinical direction moved; empty when the change is missing."""
    if change is None or not math.isfinite(change):
        return ""
    if change == 0:
        return "no change"
    rise, fall = CHANGE_WORDS[direction]
    return rise if change > 0 else fall


def _change_note(norm_note: str, retest_sd: float, retest_n: float, control_group: str) -> str:
    """Why a row's change in control SDs or reliable change index is missing ('' when neither is)."""
    notes = [] if not norm_note else [norm_note.replace("z-score", "change in control SDs")]
    if not retest_n >= MIN_CONTROLS:
        notes.append(f"test-retest spread not known: fewer than {MIN_CONTROLS} {control_group} participants "
                     "have this value at two visits, so no reliable change index")
    elif not retest_sd > 0:
        notes.append(f"the {control_group} participants' test-retest SD is 0: no reliable change index")
    return "; ".join(notes)


def change_scores(recordings: pd.DataFrame, values: pd.DataFrame, norms: pd.DataFrame, *,
                  control_group: str = "HC") -> pd.DataFrame:
    """The changes sheet: per followed-up subject, task and feature, baseline, follow-up and change.

    Parameters
    ----------
    recordings : DataFrame
        The recording-level table, with what ``core.visits`` orders visits by.
    values : DataFrame
        ``feature_values`` output.
    norms : DataFrame
        ``control_norms`` output for ``values``' columns; its columns are the ones paired.
    control_group : str
        Group code of the controls (norms and test-retest spread).

    Returns
    -------
    DataFrame
        ``CHANGE_COLUMNS``: ids, task, feature column and its unit, the visits compared (first
        and last), ``baseline``, ``followup``, ``change`` (follow-up minus baseline, feature
        unit), ``change_means`` (``change_meaning``), ``change_control_sd`` (change divided by the
        control SD of the task's first visits, dimensionless), ``reliable_change_index`` (change
        divided by the controls' test-retest SD, ``retest_spread``; beyond +/-
        ``RELIABLE_CHANGE`` is change beyond measurement noise) and ``note`` saying why a scaled
        change is missing. Empty when no subject was seen twice.
    """
    columns = list(dict.fromkeys(norms["column"]))
    paired = paired_visit_values(values, followed_up_visits(recordings), columns)
    usable = norms[norms["note"] == ""][["task", "column", "sd"]]
    table = paired.merge(norms[["task", "column", "note"]], on=["task", "column"], how="left") \
        .merge(usable, on=["task", "column"], how="left") \
        .merge(retest_spread(paired, control_group=control_group), on=["task", "column"], how="left")
    entries = {column: _entry(column) for column in columns}
    table["unit"] = table["column"].map(lambda c: entries[c].unit)
    table["change_means"] = [change_meaning(change, entries[c].direction)
                             for change, c in zip(table["change"], table["column"])]
    table["change_control_sd"] = table["change"] / table["sd"]
    table["reliable_change_index"] = table["change"] / table["retest_sd"].where(table["retest_sd"] > 0)
    table["note"] = [_change_note(note if isinstance(note, str) else NOTE_FEW_CONTROLS, sd, n, control_group)
                     for note, sd, n in zip(table["note"], table["retest_sd"], table["retest_n"])]
    return table[CHANGE_COLUMNS].reset_index(drop=True)


def _entry(column: str) -> Feature:
    """Registry entry of a column; a manifest covariate is registered on first sight."""
    try:
        return lookup(column)
    except KeyError:
        modality, _, name = parse_column(column)
        if modality != "meta":
            raise
        return register_covariate(COVARIATE_PREFIX + name)


def task_key_description(tasks: list) -> str:
    """What the ``task`` column holds: each exported task's code and words."""
    return ("Examination task the recording shows: "
            + "; ".join(f"{spec.name} = {spec.description}" for spec in tasks) + ".")


def applicable_tasks(entry: Feature, tasks: list) -> str:
    """The exported tasks a feature is meaningful for (by their kind and face profile), in words."""
    names = [spec.name for spec in tasks if entry.applies_to(spec)]
    if len(names) == len(tasks):
        return "all tasks"
    return ", ".join(names) or "none of these tasks"


def data_dictionary(columns: list[str], tasks: list) -> pd.DataFrame:
    """One row per exported column, in plain words, from the feature registry.

    Parameters
    ----------
    columns : list of str
        Key columns (``subject_id``, ``group``, ``visit``, ``task``) and recording-level feature
        columns, e.g. ``list(values.columns)``.
    tasks : list of TaskSpec
        The exported rows' tasks (``core.tasks.TaskSpec`` from the run's vocabulary): the
        ``task`` column's description words them, and a feature's ``tasks`` cell lists those it
        applies to.

    Returns
    -------
    DataFrame
        ``column, description, unit, modality, measured_from, tasks, direction, positive_z_means,
        improvement_is, source``: ``improvement_is`` says which change between visits is an
        improvement (a fall, a rise, or neither). Key columns have only a description.

    Raises
    ------
    KeyError
        If a feature column has no registry entry (a broken contract, not a user error).
    """
    rows = []
    for column in columns:
        if column == "task":
            rows.append({"column": column, "description": task_key_description(tasks)})
            continue
        if column in KEY_DESCRIPTIONS:
            rows.append({"column": column, "description": KEY_DESCRIPTIONS[column]})
            continue
        entry = _entry(column)
        rows.append({
            "column": column, "description": entry.description, "unit": entry.unit,
            "modality": entry.modality, "measured_from": MODALITY_WORDS.get(entry.modality, entry.modality),
            "tasks": applicable_tasks(entry, tasks),
            "direction": DIRECTION_WORDS[entry.direction],
            "positive_z_means": ("" if entry.modality in NOT_SCORED_MODALITIES
                                 else POSITIVE_Z_WORDS[entry.direction]),
            "improvement_is": ("" if entry.modality in NOT_SCORED_MODALITIES
                               else IMPROVEMENT_WORDS[entry.direction]),
            "source": entry.source,
        })
    return pd.DataFrame(rows, columns=["column", "description", "unit", "modality", "measured_from", "tasks",
                                       "direction", "positive_z_means", "improvement_is", "source"]).fillna("")


def about_sheet(*, created: str, version: str, control_group: str, highlight_beyond: float,
                selected: list[str] | None, values: pd.DataFrame) -> pd.DataFrame:
    """The 'about' sheet: what the file is, when and how it was made, and the privacy note.

    Parameters
    ----------
    created : str
        Date and time of the export (ISO format).
    version : str
        avstroke version that made it.
    control_group : str
        Group code the norms come from.
    highlight_beyond : float
        |z| above which z-score cells are highlighted (dimensionless).
    selected : list of str or None
        The features asked for, or None for all.
    values : DataFrame
        The values sheet (for its counts).

    Returns
    -------
    DataFrame
        Two columns, ``item`` and ``value``.
    """
    n_features = len(_feature_columns(values))
    items = [
        ("what this file is", "Audio-visual biomarkers of orofacial function per participant, visit and "
                              "examination task, computed by avstroke from face video and voice recordings."),
        ("created", created),
        ("avstroke version", version),
        ("sheets", "values: feature values; z_scores: z-scores against the control group; changes: change "
                   "between the first and the last visit of every participant seen twice or more; control_norms: "
                   "control mean, SD and n per task and feature; dictionary: what each column means; "
                   "about: this sheet"),
        ("rows", f"{len(values)} recordings of {values['subject_id'].nunique()} participants, "
                 f"{values['task'].nunique()} tasks"),
        ("features", f"{n_features} ({'selected: ' + ', '.join(selected) if selected else 'all features'})"),
        ("control group", f"{control_group} ({GROUP_NAMES.get(control_group, control_group)}), first visit of "
                          "each control participant"),
        ("z-score", "z = (value - control mean) divided by the control SD, per task; not flipped by direction: see the "
                    "dictionary's direction and positive_z_means columns"),
        ("missing z-scores", f"empty where the value is missing, or the control norm has fewer than "
                             f"{MIN_CONTROLS} values or SD 0 (see control_norms, column note); participant "
                             "information (age, sex, covariates) gets no z-score"),
        ("changes", "one row per followed-up participant, task and feature: baseline (first visit), followup "
                    "(last visit), change = followup - baseline in the feature's unit, change_means = the change read "
                    "with the feature's clinical direction (better, worse; the dictionary's improvement_is says which "
                    "way is better), change_control_sd = change divided by the control SD of that task (first "
                    "visits), reliable_change_index = change divided by the SD of the control participants' own "
                    f"changes between two visits (test-retest; above {RELIABLE_CHANGE:g} or below -{RELIABLE_CHANGE:g} is change beyond "
                    "measurement noise, Jacobson and Truax 1991); empty with the reason in note where not known"),
        ("highlighted", f"z-score cells with |z| > {highlight_beyond:g} are coloured by a rule of the sheet, so the "
                        "colour follows a value that is edited"),
        ("missing values", "empty cells: the measure could not be computed for that recording (e.g. not "
                           "meaningful for the task, too few cycles, no face found)"),
        ("reading in pandas", "pd.read_excel(file, sheet_name='values', dtype={'subject_id': str, 'visit': "
                              "str}) keeps ids such as visit 02 as text"),
        ("privacy", "Pseudonymous participant ids only: no names, no file names, no paths. Faces and "
                    "voices are identifying; keep the recordings themselves separate from this file."),
    ]
    return pd.DataFrame(items, columns=["item", "value"])


def _display_width(series: pd.Series, header: str) -> int:
    cells = series.map(lambda v: "" if isinstance(v, float) and math.isnan(v) else
                       (f"{v:.6g}" if isinstance(v, float) else str(v)))
    longest = max([len(header)] + [len(c) for c in cells])
    return max(MIN_COLUMN_WIDTH, min(MAX_COLUMN_WIDTH, longest + 2))


def _style_sheet(sheet, table: pd.DataFrame) -> None:
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    n_keys = len([c for c in table.columns if c in KEY_COLUMNS])
    sheet.freeze_panes = sheet.cell(row=2, column=n_keys + 1).coordinate
    for i, column in enumerate(table.columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = _display_width(table[column], str(column))


def _highlight(sheet, z: pd.DataFrame, *, beyond: float) -> int:
    """Colour the z-score cells (the numeric columns) with |z| > beyond; return how many are now.

    The colour comes from one conditional-formatting rule per column rather than a fill per cell,
    so it follows the value when someone edits a cell or pastes in a corrected one.
    """
    numeric = list(z.select_dtypes("number").columns)
    if z.empty or not numeric:
        return 0
    last_row = len(z) + 1  # row 1 is the header
    for j, column in enumerate(z.columns, start=1):
        if column in numeric:
            letter = get_column_letter(j)
            sheet.conditional_formatting.add(
                f"{letter}2:{letter}{last_row}",
                FormulaRule(formula=[highlight_formula(f"{letter}2", beyond)], fill=HIGHLIGHT_FILL))
    return int((np.abs(z[numeric].to_numpy(dtype=float)) > beyond).sum())


def highlight_formula(cell: str, beyond: float) -> str:
    """The spreadsheet condition of a highlighted z-score: a number whose magnitude exceeds
    ``beyond`` (an empty cell or text never is)."""
    return f"AND(ISNUMBER({cell}),ABS({cell})>{beyond!r})"


def _check_sheets(sheets: dict) -> None:
    if list(sheets) != list(SHEETS):
        raise ValueError(f"sheets must be, in order, {list(SHEETS)}; got {list(sheets)}")


def write_workbook(path: str | Path, sheets: dict, *, highlight_beyond: float = 2.0) -> int:
    """Write the export workbook atomically.

    Parameters
    ----------
    path : str or Path
        The ``.xlsx`` file.
    sheets : dict
        Sheet name -> DataFrame, exactly ``SHEETS`` in that order.
    highlight_beyond : float
        z-score cells with |z| above this (dimensionless, > 0) are coloured.

    Returns
    -------
    int
        Number of z-score cells coloured as written.

    Notes
    -----
    One header row of machine column names, bold and frozen (with the id columns), so
    ``pd.read_excel(path, sheet_name="values")`` gives back the values table; missing values are
    empty cells. Every text cell is neutralised (``core.spreadsheet``) and stored as text, so
    no cell is a formula.
    """
    if not (isinstance(highlight_beyond, (int, float)) and math.isfinite(highlight_beyond)
            and highlight_beyond > 0):
        raise ConfigError(f"highlight threshold must be a positive number of SDs; got {highlight_beyond!r}")
    _check_sheets(sheets)
    highlighted = 0

    def write(tmp: Path) -> None:
        nonlocal highlighted
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            for name, table in sheets.items():
                safe = neutralised(table)
                safe.to_excel(writer, sheet_name=name, index=False)
                store_text_as_text(writer.sheets[name])
                _style_sheet(writer.sheets[name], safe)
            highlighted = _highlight(writer.sheets["z_scores"], sheets["z_scores"], beyond=highlight_beyond)

    atomic_write(path, write)
    return highlighted


def write_csvs(folder: str | Path, sheets: dict) -> list[Path]:
    """Write each sheet as ``<folder>/<sheet>.csv`` with ``core.spreadsheet.write_csv``."""
    _check_sheets(sheets)
    folder = Path(folder)
    return [write_csv(table, folder / f"{name}.csv") for name, table in sheets.items()]

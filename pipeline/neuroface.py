"""The Toronto NeuroFace release's file layout, and the adapter that builds a manifest from it.

Names (docs/neuroface.md): videos ``<SUBJ>_<SESSION>_<TASK>_color.avi`` (e.g.
``A022_02_BBP_NORMAL_color.avi``); manual landmarks in a ``.txt`` with the video's stem; face boxes
``<stem>_gt.txt`` (not used); audio either in the video or in a sidecar ``.wav`` with the video's
stem; scores in ``SLP_Assessment_<ALS|HC|PS>.xlsx`` (``File Name``, ``Subject ID``, then Symmetry,
ROM, Speed, Variability, Fatigue and Tot for raters SLP1 and SLP2). Participant facts, where a
release or a clinic has them, in ``participants*.csv`` (``Subject ID``, ``Sex``, ``Age``).
The release's folder nesting varies with how its zips were unpacked, so files are found by name
anywhere under the root.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.errors import ManifestError
from core.tasks import NEUROFACE

VIDEO_PATTERN = re.compile(r"^(?P<subject>(?:[ASN]\d{3}|OP\d{2}))_(?P<session>\d{2})_"
                           r"(?P<task>[A-Z]+_[A-Z]+)_color\.avi$", re.IGNORECASE)
GROUP_OF_PREFIX = {"A": "ALS", "S": "PS", "OP": "PS", "N": "HC"}
GROUP_FOLDERS = {"ALS": "als", "PS": "stroke", "HC": "healthy_controls"}
VIDEO_FOLDERS = {"ALS": "Videos", "PS": "Videos_and_metadata", "HC": "Videos"}
LANDMARK_FOLDER = "Landmarks_gt"
WORKBOOK_OF_GROUP = {"ALS": "SLP_Assessment_ALS.xlsx", "HC": "SLP_Assessment_HC.xlsx",
                     "PS": "SLP_Assessment_PS.xlsx"}
ITEMS = ("Symmetry", "ROM", "Speed", "Variability", "Fatigue", "Tot")
RATERS = ("SLP1", "SLP2")
SCORE_HEADER = re.compile(r"(SLP\s*[12]).*?(Symmetry|ROM|Speed|Variability|Fatigue|Tot)", re.IGNORECASE)


def group_of_subject(subject_id: str) -> str:
    """Group code from a NeuroFace subject id (A: ALS, S or OP: post-stroke, N: control)."""
    prefix = "OP" if subject_id.upper().startswith("OP") else subject_id[:1].upper()
    if prefix not in GROUP_OF_PREFIX:
        raise ManifestError(f"subject id {subject_id!r} does not start with A, S, OP or N")
    return GROUP_OF_PREFIX[prefix]


def score_column(rater: str, item: str) -> str:
    """Manifest column of one rater's item, e.g. ``score_slp1_symmetry``."""
    return f"score_{rater.lower()}_{item.lower()}"


@dataclass
class Placement:
    """What the adapter found: the manifest rows and the files it could not place."""

    manifest: pd.DataFrame
    unplaced: list[str]
    counts: dict[str, int]


def _read_scores(path: Path) -> pd.DataFrame:
    """One score workbook as rows keyed by video stem, columns ``score_<rater>_<item>``."""
    for header in (0, [0, 1]):
        sheet = pd.read_excel(path, header=header)
        if isinstance(sheet.columns, pd.MultiIndex):
            sheet.columns = [" ".join(str(p) for p in col if not str(p).startswith("Unnamed")).strip()
                             for col in sheet.columns]
        names = {}
        for col in sheet.columns:
            match = SCORE_HEADER.search(str(col))
            if match:
                names[col] = score_column(match.group(1).replace(" ", ""), match.group(2))
            elif str(col).strip().lower() == "file name":
                names[col] = "file_name"
        if "file_name" in names.values() and len(names) > 1:
            table = sheet[list(names)].rename(columns=names)
            table["stem"] = table["file_name"].astype(str).str.strip().str.replace(
                r"\.avi$", "", regex=True)
            return table.drop(columns="file_name")
    raise ManifestError(f"{path}: no 'File Name' column with SLP1/SLP2 score columns found")


def _read_participants(paths: list[Path]) -> pd.DataFrame:
    frames = []
    for path in paths:
        table = pd.read_csv(path, dtype=str)
        table.columns = [c.strip().lower() for c in table.columns]
        if "subject id" not in table.columns:
            raise ManifestError(f"{path}: participants file needs a 'Subject ID' column")
        frames.append(table.rename(columns={"subject id": "subject_id"}))
    if not frames:
        return pd.DataFrame(columns=["subject_id"])
    return pd.concat(frames, ignore_index=True).drop_duplicates("subject_id")


def place_neuroface(root: str | Path, manifest_dir: str | Path) -> Placement:
    """Build manifest rows from a NeuroFace-layout folder.

    Parameters
    ----------
    root : str or Path
        Folder holding the release (searched recursively).
    manifest_dir : str or Path
        Folder the manifest will be written to; media paths are made relative to it.
    """
    root, manifest_dir = Path(root), Path(manifest_dir).resolve()
    if not root.is_dir():
        raise ManifestError(f"{root}: folder not found")
    files = [p for p in root.rglob("*") if p.is_file()]
    by_name: dict[str, list[Path]] = {}
    for path in files:
        by_name.setdefault(path.name.lower(), []).append(path)
    rows, unplaced = [], []
    for path in sorted(files):
        if path.suffix.lower() != ".avi":
            continue
        match = VIDEO_PATTERN.match(path.name)
        if not match or match.group("task").upper() not in NEUROFACE:
            unplaced.append(f"{path}: name is not <SUBJ>_<SESSION>_<TASK>_color.avi with a known task")
            continue
        stem = path.name[:-len(".avi")]
        subject, session, task = match.group("subject").upper(), match.group("session"), match.group("task").upper()
        sidecar = by_name.get(f"{stem}.wav".lower(), [])
        marks = by_name.get(f"{stem}.txt".lower(), [])
        rows.append({
            "recording_id": f"{subject}_{session}_{task}", "subject_id": subject,
            "group": group_of_subject(subject), "task": task, "visit": session,
            "video_path": _relative(path, manifest_dir),
            "audio_path": _relative(sidecar[0], manifest_dir) if sidecar else "",
            "landmarks_path": _relative(marks[0], manifest_dir) if marks else "",
            "stem": stem,
        })
    if not rows:
        raise ManifestError(f"{root}: no NeuroFace videos (<SUBJ>_<SESSION>_<TASK>_color.avi) found")
    table = pd.DataFrame(rows)
    workbooks = [p for p in files if re.match(r"^SLP_Assessment_.*\.xlsx$", p.name, re.IGNORECASE)]
    if workbooks:
        scores = pd.concat([_read_scores(p) for p in sorted(workbooks)], ignore_index=True)
        known = set(table["stem"])
        unplaced += [f"score row for {s!r}: no such video" for s in scores["stem"] if s not in known]
        table = table.merge(scores.drop_duplicates("stem"), on="stem", how="left")
        for item in ITEMS:
            cols = [score_column(r, item) for r in RATERS if score_column(r, item) in table.columns]
            if cols:
                table[f"score_mean_{item.lower()}"] = table[cols].mean(axis=1)
    participants = _read_participants(sorted(p for p in files if re.match(
        r"^participants.*\.csv$", p.name, re.IGNORECASE)))
    for col in ("sex", "age"):
        if col in participants.columns:
            table[col] = table["subject_id"].map(participants.set_index("subject_id")[col]).fillna("")
    counts = {"videos": len(table),
              "with_sidecar_audio": int((table["audio_path"] != "").sum()),
              "with_manual_landmarks": int((table["landmarks_path"] != "").sum()),
              "with_scores": int(table.filter(like="score_").notna().any(axis=1).sum()),
              "subjects": table["subject_id"].nunique()}
    table = table.drop(columns="stem").sort_values(["group", "subject_id", "visit", "task"])
    return Placement(manifest=table.reset_index(drop=True), unplaced=unplaced, counts=counts)


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path.resolve(), base)).as_posix()


def video_path(root: Path, group: str, subject: str, session: str, task: str) -> Path:
    """Where the release keeps one video (used by the phantom to mimic the layout)."""
    return root / GROUP_FOLDERS[group] / VIDEO_FOLDERS[group] / f"{subject}_{session}_{task}_color.avi"


def landmarks_path(root: Path, group: str, subject: str, session: str, task: str) -> Path:
    """Where the release keeps one video's manual landmarks."""
    return root / GROUP_FOLDERS[group] / LANDMARK_FOLDER / f"{subject}_{session}_{task}_color.txt"


def workbook_path(root: Path, group: str) -> Path:
    """Where the release keeps a group's score workbook."""
    return root / GROUP_FOLDERS[group] / WORKBOOK_OF_GROUP[group]

"""Manual landmark files and the error of automatic landmarks against them.

Readers for the two manual 68-point formats the project meets (NeuroFace ``.txt`` tables and
iBUG/300-W ``.pts`` files) and the normalised mean error (NME) used in the face-alignment
literature: the mean point-to-point distance divided by the inter-ocular distance (outer eye
corners, points 36 and 45, 0-based) of the manual landmarks.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError, MediaError
from core.ibug68 import N_POINTS, POINT_GROUPS, inter_ocular_px

# The columns of a face_errors table: the mean over all 68 points, then each region's.
ERROR_REGIONS = ("overall", *POINT_GROUPS)
NEUROFACE_HEADER = ["Frame"] + [f"{axis}{k}" for k in range(1, N_POINTS + 1) for axis in "xy"]


def _read_lines(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise MediaError(f"{path}: {what} file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: cannot be read as a text {what} file ({exc})") from exc
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise MediaError(f"{path}: the {what} file is empty")
    return lines


def _number(text: str, path: Path, line_no: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MediaError(f"{path}, line {line_no}: {column} is {text!r}, not a number") from None
    if not math.isfinite(value):
        raise MediaError(f"{path}, line {line_no}: {column} is {text!r}, not a finite number")
    return value


def read_neuroface_landmarks(path: str | Path) -> pd.DataFrame:
    """Read a NeuroFace manual-landmark table.

    The file is comma-separated with the header ``Frame, x1, y1, ..., x68, y68`` (137 columns,
    spaces after commas allowed) and one annotated frame per line, in pixel coordinates.

    Parameters
    ----------
    path : str or Path
        The ``.txt`` file.

    Returns
    -------
    DataFrame
        Columns ``frame`` (int, as written in the file; whether the release counts frames from 0
        or 1 is unverified), then ``x0..x67`` and ``y0..y67`` (float pixels): the file's 1-based
        point names are renamed to the 0-based names of the landmark tables (``x1`` -> ``x0``),
        so ``landmarks.landmark_array`` reads both alike. Sorted by frame.

    Raises
    ------
    MediaError
        If the file is missing or empty, the header is not the expected one, a line has the wrong
        number of fields or a non-numeric or non-finite value, a frame number is not a whole
        number, or a frame appears twice. The message names the file, line and column.
    """
    path = Path(path)
    lines = _read_lines(path, "NeuroFace landmark")
    header = [name.strip() for name in lines[0].split(",")]
    if header != NEUROFACE_HEADER:
        if len(header) != len(NEUROFACE_HEADER):
            raise MediaError(f"{path}, line 1: the header has {len(header)} columns; a NeuroFace "
                             f"landmark file has {len(NEUROFACE_HEADER)} "
                             f"(Frame, x1, y1, ..., x68, y68)")
        column = next(k for k, (got, want) in enumerate(zip(header, NEUROFACE_HEADER))
                      if got != want)
        raise MediaError(f"{path}, line 1: header column {column + 1} is {header[column]!r}; "
                         f"expected {NEUROFACE_HEADER[column]!r} (Frame, x1, y1, ..., x68, y68)")
    frames, coords, seen = [], [], {}
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            raise MediaError(f"{path}, line {line_no}: blank line inside the table")
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != len(NEUROFACE_HEADER):
            raise MediaError(f"{path}, line {line_no}: {len(fields)} fields; expected "
                             f"{len(NEUROFACE_HEADER)} (Frame and 68 x, y pairs)")
        frame = _number(fields[0], path, line_no, "Frame")
        if frame != int(frame):
            raise MediaError(f"{path}, line {line_no}: Frame is {fields[0]!r}, not a whole number")
        frame = int(frame)
        if frame in seen:
            raise MediaError(f"{path}, line {line_no}: frame {frame} was already annotated on "
                             f"line {seen[frame]}")
        seen[frame] = line_no
        values = [_number(text, path, line_no, name)
                  for text, name in zip(fields[1:], NEUROFACE_HEADER[1:])]
        frames.append(frame)
        coords.append(values)
    if not frames:
        raise MediaError(f"{path}: the NeuroFace landmark file has a header but no annotated frame")
    pairs = np.asarray(coords, dtype=np.float64).reshape(len(frames), N_POINTS, 2)
    table = pd.DataFrame({"frame": np.asarray(frames, dtype=np.int64)})
    xs = pd.DataFrame(pairs[:, :, 0], columns=[f"x{k}" for k in range(N_POINTS)])
    ys = pd.DataFrame(pairs[:, :, 1], columns=[f"y{k}" for k in range(N_POINTS)])
    table = pd.concat([table, xs, ys], axis=1)
    return table.sort_values("frame", kind="stable").reset_index(drop=True)


def read_ibug_pts(path: str | Path, *, one_based: bool = True) -> np.ndarray:
    """Read a 68-point iBUG ``.pts`` file.

    The layout is ``version: 1``, ``n_points: 68``, ``{``, 68 lines ``x y``, ``}``.

    Parameters
    ----------
    path : str or Path
        The ``.pts`` file.
    one_based : bool
        True (the 300-W convention: the top-left pixel's centre is (1, 1)) subtracts 1 from every
        coordinate so the result is in 0-based pixel coordinates like dlib's.

    Returns
    -------
    ndarray, shape (68, 2)
        Pixel coordinates (x, y) in iBUG/dlib order.

    Raises
    ------
    MediaError
        If the file is missing, empty, or breaks the layout; the message names the file and line.
    """
    path = Path(path)
    lines = [line.strip() for line in _read_lines(path, "iBUG .pts")]
    expected_lines = N_POINTS + 4
    key, _, value = lines[0].partition(":")
    if key.strip() != "version" or not value.strip():
        raise MediaError(f"{path}, line 1: expected 'version: 1'; got {lines[0]!r}")
    if len(lines) < 2:
        raise MediaError(f"{path}: ends after line 1; expected 'n_points: {N_POINTS}' on line 2")
    key, _, value = lines[1].partition(":")
    if key.strip() != "n_points":
        raise MediaError(f"{path}, line 2: expected 'n_points: {N_POINTS}'; got {lines[1]!r}")
    if value.strip() != str(N_POINTS):
        raise MediaError(f"{path}, line 2: n_points is {value.strip()!r}; only {N_POINTS}-point "
                         f"files are supported")
    if len(lines) < 3 or lines[2] != "{":
        raise MediaError(f"{path}, line 3: expected '{{' to open the point list")
    points = []
    for line_no in range(4, 4 + N_POINTS):
        if line_no > len(lines) or lines[line_no - 1] == "}":
            raise MediaError(f"{path}, line {min(line_no, len(lines) + 1)}: the point list ends "
                             f"after {len(points)} points; expected {N_POINTS}")
        fields = lines[line_no - 1].split()
        if len(fields) != 2:
            raise MediaError(f"{path}, line {line_no}: expected two numbers 'x y'; "
                             f"got {lines[line_no - 1]!r}")
        points.append([_number(fields[0], path, line_no, "x"),
                       _number(fields[1], path, line_no, "y")])
    if len(lines) < expected_lines or lines[expected_lines - 1] != "}":
        got = lines[expected_lines - 1] if len(lines) >= expected_lines else "the end of the file"
        raise MediaError(f"{path}, line {expected_lines}: expected '}}' after {N_POINTS} points; "
                         f"got {got!r}")
    if len(lines) > expected_lines:
        raise MediaError(f"{path}, line {expected_lines + 1}: unexpected text after the "
                         f"closing '}}'")
    array = np.asarray(points, dtype=np.float64)
    return array - 1.0 if one_based else array


def _as_stack(name: str, value) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape == (N_POINTS, 2):
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (N_POINTS, 2):
        raise ConfigError(f"{name} must have shape (N, {N_POINTS}, 2) or ({N_POINTS}, 2); "
                          f"got {array.shape}")
    return array


def face_errors(pred, truth, *, groups: dict[str, tuple[int, ...]] = POINT_GROUPS) -> pd.DataFrame:
    """Normalised error of each face: overall and per point group.

    The error of one face is the mean over points of the Euclidean distance between predicted
    and manual point, divided by the manual inter-ocular distance ``|p36 - p45|``; per group the
    mean runs over that group's points only.

    Parameters
    ----------
    pred : array_like, shape (N, 68, 2) or (68, 2)
        Predicted landmarks in pixels; a face with any non-finite coordinate (no face found)
        gets NaN errors.
    truth : array_like, same shape
        Manual landmarks in pixels; must be finite.
    groups : dict of str to sequence of int
        Point groups (0-based indices) to report besides the overall value.

    Returns
    -------
    DataFrame
        One row per face: ``overall`` and one column per group, in inter-ocular distances.

    Raises
    ------
    ConfigError
        If shapes differ or are not 68-point stacks, a group index is out of range, ``truth`` has
        non-finite values, or a manual inter-ocular distance is zero.
    """
    pred, truth = _as_stack("pred", pred), _as_stack("truth", truth)
    if pred.shape != truth.shape:
        raise ConfigError(f"pred and truth must have the same shape; "
                          f"got {pred.shape} and {truth.shape}")
    for name, indices in groups.items():
        if not indices or any(not 0 <= int(k) < N_POINTS for k in indices):
            raise ConfigError(f"point group {name!r} must list indices in 0..{N_POINTS - 1}; "
                              f"got {list(indices)}")
    if not np.isfinite(truth).all():
        raise ConfigError("truth has non-finite coordinates; manual landmarks must be complete")
    iod = inter_ocular_px(truth)
    if (iod <= 0).any():
        raise ConfigError(f"manual inter-ocular distance is zero for face(s) "
                          f"{np.flatnonzero(iod <= 0).tolist()}")
    distance = np.linalg.norm(pred - truth, axis=-1) / iod[:, None]
    distance[~np.isfinite(pred).all(axis=(1, 2))] = np.nan
    table = pd.DataFrame({"overall": distance.mean(axis=1)})
    for name, indices in groups.items():
        table[name] = distance[:, list(indices)].mean(axis=1)
    return table


def normalised_mean_error(pred, truth, *, groups: dict[str, tuple[int, ...]] = POINT_GROUPS
                          ) -> dict:
    """Normalised mean error of predicted landmarks against manual ones (see ``face_errors``),
    averaged over faces.

    Parameters
    ----------
    pred : array_like, shape (N, 68, 2) or (68, 2)
        Predicted landmarks in pixels. Faces with any non-finite coordinate (no face found) are
        left out and counted in ``n_missing``.
    truth : array_like, same shape
        Manual landmarks in pixels; must be finite.
    groups : dict of str to sequence of int
        Point groups (0-based indices) to report besides the overall value.

    Returns
    -------
    dict
        ``overall`` and one entry per group (inter-ocular distances, unitless); ``n_faces`` (faces
        the means rest on) and ``n_missing`` (faces without a prediction). When no face has a
        prediction the error values are NaN (not computable).

    Raises
    ------
    ConfigError
        As ``face_errors``.
    """
    errors = face_errors(pred, truth, groups=groups)
    usable = errors["overall"].notna()
    result = {"n_faces": int(usable.sum()), "n_missing": int((~usable).sum())}
    result.update({name: float(errors.loc[usable, name].mean()) if usable.any() else math.nan
                   for name in ["overall", *groups]})
    return result

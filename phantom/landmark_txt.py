"""Write the phantom's manual-landmark files in the NeuroFace release's format.

Manual-landmark files follow the release's comma-separated layout ``Frame, x1, y1, ..., x68, y68``;
they are written to a temporary name and renamed into place. The clips themselves are written by
``core.media_writer``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.files import atomic_write


def landmark_table(frames: np.ndarray, points: np.ndarray) -> pd.DataFrame:
    """A NeuroFace manual-landmark table: ``Frame, x1, y1, ..., x68, y68``.

    Parameters
    ----------
    frames : ndarray of int, shape (N,)
        Frame indices (0-based).
    points : ndarray, shape (N, 68, 2)
        Pixel coordinates (x, y).
    """
    columns = {"Frame": frames.astype(int)}
    for k in range(points.shape[1]):
        columns[f"x{k + 1}"] = np.round(points[:, k, 0], 2)
        columns[f"y{k + 1}"] = np.round(points[:, k, 1], 2)
    return pd.DataFrame(columns)


def write_landmark_txt(path: str | Path, table: pd.DataFrame) -> Path:
    """Write a manual-landmark table in the release's comma-separated text format."""
    return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False, sep=",", lineterminator="\n"))

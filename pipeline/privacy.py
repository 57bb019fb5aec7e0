"""The known paths of a manifest and of a run folder, which ``core.privacy.scrub_paths`` removes
from messages before they reach a table, a report or an export."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from core.privacy import path_forms
from pipeline.manifest import PATH_COLUMNS, VALIDATED_FILE


def known_paths(table: pd.DataFrame | None, extra: Iterable[str] = ()) -> list[str]:
    """Every form (``path_forms``) of the paths in a manifest's path columns and of ``extra``.

    Parameters
    ----------
    table : DataFrame or None
        A manifest, as read or validated; its ``PATH_COLUMNS`` present are used.
    extra : iterable of str
        More paths, e.g. the files the failed work items read.

    Returns
    -------
    list of str
        Distinct forms, longest first, so that a path is removed before its name.
    """
    paths = list(extra)
    if table is not None:
        for column in PATH_COLUMNS:
            if column in table.columns:
                paths += [str(v) for v in table[column] if isinstance(v, str) and v]
    forms = {form for path in paths if path for form in path_forms(path)}
    return sorted(forms, key=len, reverse=True)


def run_known_paths(run_dir: str | Path, extra: Iterable[str] = ()) -> list[str]:
    """``known_paths`` of a run folder's validated manifest (none before ``avstroke validate`` has
    written it) and of ``extra``."""
    path = Path(run_dir) / VALIDATED_FILE
    return known_paths(pd.read_parquet(path) if path.is_file() else None, extra)

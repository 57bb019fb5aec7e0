"""Atomic file writing: readers see the old file or the complete new one, never a partial one.

Every write goes to a temporary file in the destination's folder (``.<name>.<random>.tmp``) and is
renamed into place. A process killed mid-write leaves only such a temporary file, which
``remove_temp_files`` clears on the next run.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable

# Temporary names of atomic_write: "." + final name + "." + mkstemp's random letters + ".tmp".
TEMP_SUFFIX = ".tmp"
TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]+" + re.escape(TEMP_SUFFIX) + "$")
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the temporary file onto ``path``.

    The rename is atomic on one filesystem, so readers see the old file or the complete new one,
    never a partial one. The temporary file is removed if ``write`` fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files ``atomic_write`` left under ``folder`` when its process died.

    Only names of the form ``.<name>.<random>.tmp`` are touched. Call it only while no other
    process can be writing in ``folder`` (the run folder's lock, ``pipeline.run_folder``).

    Returns
    -------
    list of Path
        The files deleted.
    """
    removed = []
    for parent, _, names in os.walk(folder):
        for name in names:
            if TEMP_NAME.match(name):
                path = Path(parent) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return sorted(removed)

"""One command at a time in a run folder.

Every command that writes into a run folder holds an exclusive lock on ``RUN/.lock`` for as long
as it runs, so two runs never interleave (one building face features from the other's half-updated
landmarks). The lock is an ``flock`` on an open file: the operating system drops it when the
process ends, however it ends, so a killed run never leaves the folder locked. The holder writes
its process id into the file for the message a refused command prints. With the lock held no
other avstroke process can be mid-write in the folder, so the temporary files that killed writes
left behind are removed.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Iterator

from core.errors import RunFolderBusyError
from core.files import remove_temp_files

log = logging.getLogger("avstroke")
LOCK_FILE = ".lock"


def holder_pid(lock_path: Path) -> str:
    """The process id the lock's holder wrote, or a phrase saying it is not known yet."""
    try:
        text = lock_path.read_text().strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown (it has not written its id yet)"


@contextlib.contextmanager
def locked(run_dir: str | Path) -> Iterator[Path]:
    """Hold the run folder's lock for the duration of the ``with`` block.

    Parameters
    ----------
    run_dir : str or Path
        The run folder (created if absent).

    Raises
    ------
    RunFolderBusyError
        If another process holds the lock; the message names its process id.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock_path = run_dir / LOCK_FILE
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderBusyError(
                f"run folder {run_dir} is in use by another avstroke command (process "
                f"{holder_pid(lock_path)}); wait for it to finish, or give another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock_path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def prepared(run_dir: str | Path) -> Iterator[None]:
    """Lock the run folder and clear the temporary files of writes that were killed."""
    with locked(run_dir):
        removed = remove_temp_files(run_dir)
        if removed:
            log.info("run folder: removed %d temporary files left by an interrupted run", len(removed))
            for path in removed:
                log.debug("removed %s", path)
        yield

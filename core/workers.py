"""Independent tasks run on joblib's worker processes, results in the order of the tasks."""
from __future__ import annotations

import contextlib
import warnings

from joblib import Parallel

# loky replaces a worker whose memory grew past 300 MB (torch or a dlib training alone takes that)
# between two tasks and reports it with this generic warning (joblib issue 869), which reads like
# a failure but loses no task; a worker that really dies raises TerminatedWorkerError instead.
LOKY_RECYCLING_WARNING = "A worker stopped while some jobs were given to the executor"


@contextlib.contextmanager
def quiet_worker_recycling():
    """Within this context, loky's replacement of a grown worker is not reported as a warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LOKY_RECYCLING_WARNING, category=UserWarning)
        yield


def run_parallel(calls, *, n_jobs: int) -> list:
    """Run ``joblib.delayed`` calls on ``n_jobs`` processes (1: in this process; -1: every worker
    of the active joblib backend) and return their results in the order of ``calls``."""
    with quiet_worker_recycling():
        return Parallel(n_jobs=n_jobs)(calls)

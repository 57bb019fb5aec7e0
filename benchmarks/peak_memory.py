"""Peak resident memory of the running process, for the benchmarks that report it."""
from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (2**20 bytes).

    Linux's ``VmHWM`` starts afresh at ``exec``; ``ru_maxrss`` (the fallback elsewhere) keeps the
    parent's peak across fork and exec, so it would charge a large parent to every child measured.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

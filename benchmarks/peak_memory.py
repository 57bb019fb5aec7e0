"""Peak resident memory of this process or of a finished child, for the benchmarks."""
from __future__ import annotations

import resource
from pathlib import Path


def maxrss_mb(usage: resource.struct_rusage) -> float:
    """``ru_maxrss`` of ``usage`` in MB (2**20 bytes); Linux counts it in kB."""
    return usage.ru_maxrss / 1024


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
    return maxrss_mb(resource.getrusage(resource.RUSAGE_SELF))

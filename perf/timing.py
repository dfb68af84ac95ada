"""The measuring primitives the tools share (perf/bench.py, perf/baseline_pandas.py, perf/loadtest.py): a timer,
nearest-rank percentiles and the summaries built on them, and the readings of the process and the machine
(peak memory, CPU seconds, cores, load average).

Percentiles are nearest-rank: with 5–20 runs, p95 is the largest or second largest observation — honest, never
interpolated down.
"""
from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path


# ------------------------------------------------------------------------------------------------ time
def timeit(fn: Callable[[], object]) -> float:
    """Seconds one call of fn() takes (wall clock, perf_counter)."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def percentile(xs: list[float], q: float) -> float | None:
    """The nearest-rank q-quantile (0 < q ≤ 1) of xs; None for no observations. The rank ⌈q·n⌉ is taken on q·n
    cut to three decimals, so float noise (0.95 × 20 = 19.000…01) cannot push it one rank up."""
    if not xs:
        return None
    xs = sorted(xs)
    n = len(xs)
    return xs[min(n - 1, max(0, -(-int(q * n * 1000) // 1000) - 1))]


def stats(xs: list[float]) -> dict:
    """The benchmark's figure of repeated runs: median, p95, min, max (seconds, 5 decimals) and the run count."""
    xs = sorted(xs)
    return {"median_s": round(statistics.median(xs), 5), "p95_s": round(percentile(xs, 0.95), 5),
            "min_s": round(xs[0], 5), "max_s": round(xs[-1], 5), "runs": len(xs)}


def summary(xs: list[float]) -> dict:
    """The load test's figure of observed durations: count, p50, p95, max (seconds, 3 decimals; None when empty)."""
    p95 = percentile(xs, 0.95)
    return {"n": len(xs), "p50_s": round(statistics.median(xs), 3) if xs else None,
            "p95_s": None if p95 is None else round(p95, 3), "max_s": round(max(xs), 3) if xs else None}


# ------------------------------------------------------------------------------------------------ readings
def peak_rss_mb() -> float:
    """This process's peak resident memory so far (MB, getrusage)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def peak_rss_children_mb() -> float:
    """The largest peak of the finished child processes (e.g. the ETL's landing workers), MB."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc); None when it cannot be read."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cores() -> int:
    """The CPU cores this process may run on (its affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def loadavg() -> list[float]:
    """The 1, 5 and 15-minute load averages (other work on the machine inflates every figure)."""
    return [round(x, 2) for x in os.getloadavg()]

"""The old command path of the load test, which moved to perf/loadtest.py:

    python -m warehouse.loadtest …   →  python -m perf loadtest …   (same options)

An alias only (warehouse/aliases.py): it replaces the process with the perf command and never imports perf.
"""
from __future__ import annotations

import sys

if __name__ == "__main__":
    from warehouse.aliases import hand_over

    hand_over("loadtest", sys.argv[1:])

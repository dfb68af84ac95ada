"""The old command paths of the measuring tools, which moved to the top-level package `perf/`:

    python -m warehouse bench …      →  python -m perf bench …
    python -m warehouse.loadtest …   →  python -m perf loadtest …

Production code may not import a tool (tests/test_layers.py: nothing imports perf), so an alias does not call
perf: it replaces this process with `python -m perf <command> …` (same interpreter, same arguments, same working
directory; the project root is put on PYTHONPATH so that `perf` is found from anywhere).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def perf_argv(command: str, args: list[str]) -> list[str]:
    """The command line the alias runs."""
    return [sys.executable, "-m", "perf", command, *args]


def perf_env(config: str | None = None) -> dict[str, str]:
    """The environment of the handed-over command: ours, with the project root first on PYTHONPATH, and
    GRIDWATCH_CONFIG set when a --config was given to the old command."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if config:
        env["GRIDWATCH_CONFIG"] = os.path.abspath(config)
    return env


def hand_over(command: str, args: list[str], config: str | None = None):
    """Replace this process with `python -m perf <command> <args…>`; does not return (its exit code is the
    process's)."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = perf_argv(command, args)
    os.execve(argv[0], argv, perf_env(config))

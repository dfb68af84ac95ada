"""Worker processes that are safe to start from any process, including a running Streamlit server.

Workers are spawned (never forked: forking a process that runs threads — a Streamlit server, DuckDB — can
deadlock). A spawned process re-imports the parent's `__main__`; when that is a Streamlit script the child would
run the app, so workers are started with a neutral `__main__`.
"""
from __future__ import annotations

import os
import signal
import sys
import types
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context


@contextmanager
def _neutral_main():
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _die_with_parent(parent: int, initializer: Callable | None, initargs: tuple) -> None:
    """Worker start: be killed with the parent (Linux PR_SET_PDEATHSIG), so that a `kill -9` of an ETL run
    cannot leave workers landing files after its lock is gone; then the caller's initializer."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the worker ends when it next reads the closed task queue
        pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if initializer is not None:
        initializer(*initargs)


def pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_die_with_parent,
                               initargs=(os.getpid(), initializer, initargs))


def submit_all(ex: ProcessPoolExecutor, fn: Callable, jobs: Iterable[tuple]) -> list[Future]:
    """Submit fn(*job) for every job; the pool's processes start here, under a neutral `__main__`."""
    with _neutral_main():
        return [ex.submit(fn, *job) for job in jobs]


def run_in_process(fn: Callable, *args, **kwargs):
    """fn(*args, **kwargs) in a fresh spawned process: its own peak memory, a cold DuckDB."""
    with pool(1) as ex:
        with _neutral_main():
            future = ex.submit(fn, *args, **kwargs)
        return future.result()

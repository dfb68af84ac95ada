"""The load test's machinery (perf/loadtest.py): its verdict from the observations, one tiny live run, and the old
command path `python -m warehouse.loadtest` handing over to `python -m perf loadtest`."""
from __future__ import annotations

import datetime as dt

import pytest

from core import config
from perf import loadtest


def _cycles(times: list[float], t0: float = 1000.0, server_ms: float = 50) -> list[dict]:
    return [{"t": t0 + t, "cycle": str(i), "server_start": t0 + t - 0.2, "server_ms": server_ms}
            for i, t in enumerate(times)]


def _pages(n: int) -> list[dict]:
    return [{"user": 0, "page": p, "round": 1, "s": 0.5} for p in loadtest.PAGES][:n]


def test_a_wall_on_time_keeps_its_interval():
    cyc = _cycles([-20, -10, 0.5, 10.4, 20.6, 30.5, 40.5, 50.4])
    r = loadtest.analyse(_pages(6), [], cyc, cyc[:3], 1000.0, 1055.0, 1, 1, 10)
    assert r["wall_keeps_interval"], r["verdict"]
    assert r["wall_gap_while_busy"]["max_s"] <= 11
    assert r["verdict"][0].startswith("wall KEEPS")


def test_a_skipped_refresh_misses():
    cyc = _cycles([-10, 0.5, 10.4, 29.9, 40.1, 50.2])  # the refresh due at ≈ 20 s never came
    r = loadtest.analyse(_pages(6), [], cyc, cyc[:1], 1000.0, 1055.0, 1, 1, 10)
    assert not r["wall_keeps_interval"]
    assert r["wall_gap_while_busy"]["max_s"] == pytest.approx(19.5, abs=0.01)
    assert "MISSES" in r["verdict"][0]


def test_a_wall_that_stalls_at_the_end_misses():
    # on time until 20 s, then nothing more while the users work on until 55 s: the open wait counts
    cyc = _cycles([-10, 0.5, 10.4, 20.3])
    r = loadtest.analyse(_pages(6), [], cyc, cyc[:1], 1000.0, 1055.0, 1, 1, 10)
    assert not r["wall_keeps_interval"]
    assert r["wall_open_gap_at_end_s"] == pytest.approx(34.7, abs=0.01)
    assert r["wall_gap_while_busy"]["max_s"] == pytest.approx(34.7, abs=0.01)


def test_missing_page_opens_and_errors_are_reported():
    cyc = _cycles([-10, 0.5, 10.4, 20.3, 30.2, 40.4, 50.0])
    r = loadtest.analyse(_pages(4), ["user 1: TimeoutError"], cyc, cyc[:1], 1000.0, 1055.0, 1, 1, 10)
    assert r["verdict"][0].startswith("INCOMPLETE: 4 of 6 page opens, 1 errors")
    assert "error: user 1: TimeoutError" in loadtest.report({**r, "machine": {
        "cores": 2, "loadavg_start": [1, 1, 1], "loadavg_end": [1, 1, 1]}})


@pytest.mark.browser
@pytest.mark.slow
def test_a_tiny_live_run(tmp_path):
    from support.county import sample_county
    from support.server import require_chromium

    require_chromium()
    wh = sample_county().build(tmp_path, settings=config.Settings().resolve(tmp_path),
                               load_time=dt.datetime(2024, 4, 1))
    r = loadtest.run(wh, sessions=2, rounds=1, wall_refresh=2)
    assert r["errors"] == [], r["errors"]
    assert r["page_opens"] == 2 * len(loadtest.PAGES)
    assert r["page_time"]["p50_s"] > 0 and set(r["by_page"]) == set(loadtest.PAGES)
    assert r["wall_cycles_while_busy"] >= 1 and r["wall_gap_idle"]["n"] >= 2
    # the wall's marker carries the server's side of each refresh
    assert all(c[2] is not None and c[3] is not None for c in r["wall_cycles"])
    text = loadtest.report(r)
    assert "verdict: " in text and "wall gap, users working" in text


def test_the_old_command_path_hands_over_to_perf(tmp_path):
    """`python -m warehouse.loadtest` still runs: the same options, from any directory, through `python -m perf
    loadtest` (its help, and its refusal of a missing --warehouse, exit code 2)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "warehouse.loadtest", "--help"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: python -m perf loadtest") and "--wall-refresh" in r.stdout
    r = subprocess.run([sys.executable, "-m", "warehouse.loadtest", "--sessions", "2"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--warehouse" in r.stderr

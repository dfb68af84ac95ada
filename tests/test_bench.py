"""The benchmark machinery (perf/bench.py, perf/timing.py) on a tiny scale, its page-query table against the code,
and the old command path `python -m warehouse bench` handing over to `python -m perf bench`."""
import json
import re
from pathlib import Path

import pytest

from perf import bench, timing
from warehouse import metrics

ROOT = Path(__file__).resolve().parent.parent


def _calls_in_code() -> set[str]:
    names = set()
    for f in list((ROOT / "pages").glob("*.py")) + list((ROOT / "dashboard").glob("*.py")):
        names |= set(re.findall(r"""data\.q\(\s*["']([a-z_]+/[a-z_]+)["']""", f.read_text(encoding="utf-8")))
        names |= set(re.findall(r"""\bq\(\s*["']([a-z_]+/[a-z_]+)["']""", f.read_text(encoding="utf-8")))
    return names


def test_page_table_matches_the_sql_files_and_the_pages():
    on_pages = {name for calls in bench.PAGES.values() for name, _, _ in calls}
    available = set(metrics.available())
    assert on_pages <= available, f"queries in bench.PAGES that do not exist: {sorted(on_pages - available)}"
    assert bench.NOT_ON_PAGES <= available
    assert not (on_pages & bench.NOT_ON_PAGES)
    assert available == on_pages | bench.NOT_ON_PAGES, \
        f"SQL files the benchmark neither measures nor lists: {sorted(available - on_pages - bench.NOT_ON_PAGES)}"
    called = _calls_in_code()
    assert called, "no data.q(...) calls found: the pattern is out of date"
    assert called <= on_pages, f"pages call queries the benchmark does not measure: {sorted(called - on_pages)}"
    for calls in bench.PAGES.values():
        for name, scope, spec in calls:
            assert scope in ("admin", "wall", "none")
            assert spec.get("kind") in (None, "prm", "wall", "period", "trend", "as_of", "warnings", "quarter",
                                        "quarter_prm")


def test_stats_p95_is_nearest_rank():
    s = timing.stats([0.1, 0.2, 0.3, 0.4, 1.0])
    assert s["median_s"] == 0.3 and s["p95_s"] == 1.0 and s["runs"] == 5
    xs = [float(i) for i in range(1, 21)]  # 20 runs: p95 is the 19th, not pushed to the 20th by float noise
    assert timing.percentile(xs, 0.95) == 19.0 and timing.stats(xs)["p95_s"] == 19.0
    assert timing.summary(xs) == {"n": 20, "p50_s": 10.5, "p95_s": 19.0, "max_s": 20.0}
    assert timing.percentile([], 0.95) is None and timing.summary([])["p95_s"] is None


def test_the_old_command_path_hands_over_to_perf(tmp_path):
    """`python -m warehouse bench` is listed by the warehouse CLI and runs `python -m perf bench` with the same
    arguments (from any directory), without warehouse importing perf."""
    import subprocess
    import sys

    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)

    r = run("warehouse", "--help")
    assert r.returncode == 0 and re.search(r"^\s+bench\s", r.stdout, re.M), r.stdout
    r = run("warehouse", "bench", "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: python -m perf bench") and "--no-pandas-ingest" in r.stdout
    r = run("warehouse", "bench", "--scale", "tiny", "--runs", "2")  # perf's own check, before any work
    assert r.returncode == 2 and "--runs 至少为 5" in r.stderr
    r = run("warehouse", "bench", "--scale", "huge")
    assert r.returncode == 2 and "python -m perf bench: error" in r.stderr
    r = run("warehouse", "review", "--bogus")  # the other commands still refuse unknown options
    assert r.returncode == 2 and "unrecognized arguments: --bogus" in r.stderr
    r = run("perf", "--help")
    assert r.returncode == 0 and "bench" in r.stdout and "loadtest" in r.stdout


@pytest.mark.timeout(600)
def test_tiny_benchmark_writes_every_figure(tmp_path):
    out = tmp_path / "r.json"
    bench.run("tiny", work=tmp_path / "w", out=out, runs=5, log=lambda s: None)
    r = json.loads(out.read_text(encoding="utf-8"))
    for k in ("scale", "machine", "targets", "generate", "ingest", "pages", "figures", "ratios", "verdict"):
        assert k in r
    assert r["machine"]["cores"] >= 1 and r["machine"]["ram_gb"] > 0 and r["machine"]["duckdb"]
    assert r["generate"]["seconds"] > 0 and r["generate"]["files"] > 5
    ours = r["ingest"]["ours"]
    assert ours["rows_in"] > 100_000 and ours["seconds"] > 0 and ours["rows_per_s"] > 0
    assert ours["peak_rss_mb"] > 50 and ours["warehouse_bytes"] > 0
    assert set(ours["datasets"]) >= {"activity_log", "events", "accounts"}
    assert r["ingest"]["pandas"]["rows"] == ours["rows_in"]  # the same files, every row
    assert r["ingest"]["lower_bound_csv_to_parquet"]["rows"] > 0
    for page in bench.PAGES:
        p = r["pages"]["pages"][page]
        for kind in ("cold", "warm"):
            assert p[kind]["runs"] == 5 and 0 < p[kind]["median_s"] <= p[kind]["p95_s"] < 60
    assert r["pages"]["bulletin"]["compute_md_docx"]["warm"]["median_s"] > 0
    assert len(r["figures"]["figures"]) == 3
    for f in r["figures"]["figures"].values():
        assert f["equal"] is True and f["rows_compared"] > 0
    assert r["ratios"]["ingest_ours_vs_pandas"] > 0
    assert r["ratios"]["ingest_ours_end_to_end_vs_lower_bound"] > 0
    assert all(v["met"] in (True, False, None) for v in r["verdict"])
    assert "| page |" in bench.table(r)


def test_city_counties_get_distinct_codes_and_ids():
    import numpy as np

    import demo

    assert demo.county_code(0) == demo.COUNTY_CODE == "510799"
    assert len({demo.county_code(i) for i in range(10)}) == 10
    cols = {"grid_code": np.array(["510799001001001", " 510799002 ", None, "999"], dtype=object),
            "account_id": np.array(["WG00001", " WG00002", "", None], dtype=object),
            "op_type": np.array(["登录"] * 4, dtype=object)}
    out = demo.writers._rekey(cols, 3)
    assert out["grid_code"].tolist() == ["510796001001001", " 510796002 ", None, "999"]
    assert out["account_id"].tolist() == ["C3WG00001", " C3WG00002", "", None]  # a blank stays blank
    assert out["op_type"] is cols["op_type"]


def test_wall_is_measured_as_the_app_fetches_it():
    """The benchmark's wall runs what dashboard.wall.queries prefetches, with as many cursors as the app."""
    import datetime as dt

    from dashboard import data, wall
    from warehouse import warnings
    from warehouse.metrics import Period

    prm = wall.params(Period.parse_month("2026-10"), dt.datetime(2026, 11, 3))
    app = {name for name, _, _ in wall.queries(prm, overview=True, warn=warnings.params(dt.date(2026, 11, 2)))}
    first = bench.PREFETCHED_AFTER["wall"]
    measured = [name for name, _, _ in bench.PAGES["wall"]]
    assert measured[:first] == ["quality/meta"]
    assert set(measured[first:]) == app
    assert bench.PREFETCH_THREADS == data.PREFETCH_THREADS

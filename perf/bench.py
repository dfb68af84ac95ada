"""The performance benchmark: `python -m perf bench [--scale tiny|county|city] [--out results.json]`
(`python -m warehouse bench …` is an alias that hands over to it).

One run on one machine measures, each phase in a fresh process (so peak memory is the phase's own, read from
getrusage at its end):

1. generation of the demo data at the scale (tiny: 1 month; county: the default 14-month demo; city: ten demo
   counties, about 10× the rows), reported apart;
2. ingest, three ways over the same delivered files:
   - ours: `etl.pipeline.run` (read, normalise, land, build, publish; the Parquet export included), rows/s per
     dataset (landing, from the manifests), end to end, peak memory, warehouse and lake size;
   - the plain way (perf/baseline_pandas.py): pandas read_excel / read_csv / read_json, concat, into DuckDB;
   - the lower bound: DuckDB copying the same csv files straight to Parquet (no repair, no dedupe);
3. every page's queries (PAGES below, the calls pages/*.py and dashboard/*.py make) and the bulletin + weekly
   review for a month: cold (a freshly opened connection; the OS page cache cannot be dropped here, so "cold" is a
   cold DuckDB, not a cold disk) and warm (same connection, after one unmeasured run), median and p95 of ≥ 5 runs;
4. the same page figures computed the plain-pandas way (load the facts into DataFrames, groupby), checked equal
   to ours, cold (read + compute) and warm (compute only);
5. a table on stdout and JSON with every figure, the ratios and the targets met or missed.

The app also caches results (dashboard/data.py); these figures are the uncached queries, i.e. the first viewer
of a page after each publish.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from etl.procs import run_in_process as _in_process  # a fresh process per phase: its own peak memory, a cold DuckDB
from perf import timing

SCALES = {
    # months of data, counties
    "tiny": {"months": 1, "counties": 1},
    "county": {"months": 14, "counties": 1},
    "city": {"months": 14, "counties": 10},
}
END_MONTH = "2026-10"  # fixed, so that every run of the benchmark measures the same data
SEED = 20240401

TARGETS = {
    "ingest_vs_lower_bound_min": 0.5,   # our ingest rate ≥ ½ the csv→Parquet lower bound
    "ingest_vs_pandas_min": 5.0,        # ≥ 5× the plain pandas ingest rate
    "page_warm_p95_s": 0.1,             # county
    "page_cold_s": 1.0,                 # county
    "bulletin_s": 2.0,                  # county
    "city_page_warm_p95_s": 1.0,
    "city_ingest_time_per_row_ratio_max": 1.2,  # 10× rows in ≤ 12× time
    "pandas_figures_slower_min": 10.0,
}

# ------------------------------------------------------------------------------------------------ the pages
# Each page's metrics-layer calls, as pages/*.py and dashboard/*.py make them on a first view of the month with
# no unit chosen (drill-downs take the first reporting unit / community / category). Kinds of parameters:
#   prm     $start/$end + $prev_start/$prev_end + cutoff=None   (Ctx.prm)
#   wall    prm + as_of                                        (dashboard.wall.params)
#   period  $start/$end                                         (Period.params())
#   trend   end, months_back=12
# Every page also runs ui.page()'s calls (COMMON). tests/test_bench.py checks this table against the SQL files
# and against the data.q("…") calls in pages/ and dashboard/, so it cannot silently rot.
# the 预警 rules (warehouse.warnings.RULE_QUERIES; not imported here: listed as the page and the wall run them)
WARNING_RULES = ("warnings/weekly_drop", "warnings/completion_low", "warnings/signoff_backlog", "warnings/silent_unit",
                 "warnings/quiet_source", "warnings/effective_gap")
COMMON = [("quality/meta", "none", {}), ("quality/freshness", "admin", {}),
          ("units/reporting_units", "admin", {}), ("overview/coverage", "admin", {"kind": "period"})]
PAGES: dict[str, list[tuple[str, str, dict]]] = {
    # a city deployment's 全市总览 (dashboard/city.py; its county ranking and trend run on Scope(by_county=True) in
    # the app, measured here on the whole warehouse)
    "city": COMMON + [("city/counties", "none", {}), ("overview/headline", "admin", {"kind": "prm"}),
                      ("overview/unit_ranking", "admin", {"kind": "prm"}), ("overview/map_units", "admin", {"kind": "prm"}),
                      ("comparison/long", "admin", {"kind": "trend"}),
                      ("city/township_ranking", "admin", {"kind": "prm"})],
    "home": COMMON + [("overview/headline", "admin", {"kind": "prm"}),
                      ("overview/unit_ranking", "admin", {"kind": "prm"})],
    "activity": COMMON + [
        ("activity/headline", "admin", {"kind": "prm"}), ("activity/by_unit", "admin", {"kind": "prm"}),
        ("activity/by_community", "admin", {"kind": "prm", "ru_code": True}),
        ("activity/by_grid", "admin", {"kind": "prm", "ru_code": True, "community_code": True}),
        ("activity/inactive_accounts", "admin", {"kind": "period", "ru_code": True, "community_code": True,
                                                 "limit": 2000}),
        ("activity/by_office", "admin", {"kind": "prm"}), ("activity/trend", "admin", {"kind": "trend"}),
        ("activity_quality/headline", "admin", {"kind": "prm", "ru_code": None}),
        ("activity_quality/by_unit", "admin", {"kind": "prm"}),
        ("activity_quality/accounts", "admin", {"kind": "prm", "ru_code": None}),
        ("activity_quality/account_hours", "admin", {"kind": "period", "account_id": True}),
        ("activity_quality/account_points", "admin", {"kind": "period", "account_id": True}),
        ("activity_quality/coverage", "admin", {"kind": "prm", "ru_code": True})],
    "events": COMMON + [
        ("events/by_unit", "admin", {"kind": "prm"}), ("events/totals", "admin", {"kind": "prm", "ru_code": None}),
        ("events/groups", "admin", {"kind": "period"}),
        ("events/category_mix", "admin", {"kind": "prm"}), ("events/time_to_close", "admin", {"kind": "period"}),
        ("events/list", "admin", {"kind": "period", "ru_code": None, "grid_code": None, "limit": 2000})],
    "key_persons": COMMON + [
        ("overview/kp_tallies", "admin", {"kind": "prm"}), ("kp/by_category_unit", "admin", {"kind": "prm"}),
        ("kp/by_unit", "admin", {"kind": "prm", "ru_code": None}),
        ("kp/by_office", "admin", {"kind": "prm", "as_of": True}),
        ("kp/overdue_signoffs", "admin", {"kind": "as_of", "category": None, "limit": 2000}),
        ("kp/trend", "admin", {"kind": "trend", "cutoff": None})],
    "compare": COMMON + [("comparison/long", "admin", {"kind": "trend"}),
                         ("comparison/rankings", "admin", {"kind": "prm"})],
    "quality": [("quality/meta", "none", {}), ("quality/freshness", "admin", {}),
                ("quality/runs", "admin", {"limit": 50}), ("quality/file_issues", "admin", {}),
                ("quality/quarantine_by_reason", "admin", {}),
                ("quality/quarantine_rows", "admin", {"dataset": True, "reason_kind": True, "limit": 500}),
                ("quality/flags", "admin", {}), ("quality/files", "admin", {"limit": 500}),
                ("quality/quarantine_townships", "admin", {}),
                ("quality/quarantine_files", "admin", {"township": None}),
                ("quality/quarantine_file_rows", "admin", {"delivery": True})],
    "wall": [("quality/meta", "none", {}), ("quality/freshness", "wall", {}),
             ("overview/headline", "wall", {"kind": "wall"}), ("overview/unit_ranking", "wall", {"kind": "wall"}),
             ("overview/event_funnel", "wall", {"kind": "wall"}), ("overview/map_units", "wall", {"kind": "wall"}),
             ("overview/event_points", "wall", {"kind": "wall"}), ("wall/kp_persons", "wall", {"kind": "wall"}),
             ("wall/today", "wall", {"kind": "as_of"}), ("overview/signoff_backlog", "wall", {"kind": "as_of"}),
             ("overview/recent_events", "wall", {"kind": "wall", "limit": 30}),
             *[(n, "wall", {"kind": "warnings"}) for n in WARNING_RULES]],
    "warnings": [("quality/meta", "none", {}), *[(n, "admin", {"kind": "warnings"}) for n in WARNING_RULES],
                 ("warnings/order_items", "admin", {"kind": "warnings", "ru_code": True, "office_name": None}),
                 ("warnings/item_status", "admin", {"event_ids": True, "signoff_keys": True})],
    # 考核: the quarter of the month, with its 有效活跃度 per unit (warehouse.assessment.query_params runs it first)
    "assessment": [("quality/meta", "none", {}), ("activity_quality/by_unit", "admin", {"kind": "quarter_prm"}),
                   ("assessment/scores", "admin", {"kind": "quarter"})],
}
# Pages that fetch their queries at once (dashboard.data.prefetch, PREFETCH_THREADS cursors) after the first N,
# as the app does: the wall reads its meta first (the period depends on it), then prefetches the rest.
PREFETCHED_AFTER = {"wall": 1}
PREFETCH_THREADS = 3  # = dashboard.data.PREFETCH_THREADS (not imported: the benchmark runs without Streamlit)
# queries no page calls directly (the bulletin and the weekly review use them; measured inside "bulletin")
NOT_ON_PAGES = {"kp/by_office_category", "quality/source_health"}  # the last: the published health; the pages read it live (etl.sources)


def _scopes():
    from warehouse.metrics import Scope

    return {"admin": Scope(personal="masked", label="全县"), "wall": Scope(personal="none", label="全县"),
            "none": Scope(personal="none")}


def _page_calls(con, page: str, period, as_of: dt.datetime) -> list[tuple[str, object, dict]]:
    """The concrete (name, scope, params) of a page for `period`; drill-downs take the first unit found."""
    from warehouse import metrics

    scopes = _scopes()
    calls = []
    pick = {}

    def first(sql: str, *args):
        key = (sql, args)
        if key not in pick:
            row = con.execute(sql, list(args)).fetchone()
            pick[key] = row[0] if row else None
        return pick[key]

    for name, scope, spec in PAGES[page]:
        spec = dict(spec)
        kind = spec.pop("kind", None)
        params: dict = {}
        if kind in ("prm", "wall"):
            params.update(metrics.period_params(period), cutoff=None)
            if kind == "wall":
                params["as_of"] = as_of
        elif kind == "period":
            params.update(period.params())
        elif kind == "trend":
            params.update(end=period.end, months_back=12)
        elif kind == "as_of":
            params["as_of"] = as_of
        elif kind in ("quarter", "quarter_prm"):  # the quarter holding the month (季度考核)
            from core.config import settings as default_settings
            from warehouse import assessment

            q = assessment.Quarter.containing(period.start)
            if kind == "quarter":
                params.update(assessment.query_params(con, q, default_settings()))
            else:
                params.update(start=q.start, end=q.end, prev_start=q.prev().start, prev_end=q.prev().end)
        elif kind == "warnings":  # as of the last day of the period (the data date of a published month)
            from warehouse import warnings

            params.update(warnings.params(period.end - dt.timedelta(days=1)))
        ru = first("SELECT ru_code FROM dim_reporting_unit ORDER BY sort_order LIMIT 1")
        for k, v in spec.items():
            if v is True:
                if k == "ru_code":
                    v = ru
                elif k == "community_code":
                    v = first("SELECT community_code FROM dim_unit WHERE ru_code = $1 AND community_code IS NOT NULL "
                              "ORDER BY community_code LIMIT 1", ru)
                elif k == "as_of":
                    v = as_of
                elif k == "dataset":
                    v = first("SELECT dataset FROM quarantine GROUP BY ALL ORDER BY count(*) DESC LIMIT 1")
                elif k == "delivery":  # the delivery with the most quarantined rows
                    v = first("SELECT delivery FROM quarantine GROUP BY ALL ORDER BY count(*) DESC LIMIT 1")
                elif k == "event_ids":  # a 督办单's items: the first unit's 50 latest events
                    v = [r[0] for r in con.execute("SELECT event_id FROM agg_event WHERE ru_code = $1 "
                                                   "ORDER BY reported_at DESC LIMIT 50", [ru]).fetchall()] or [""]
                elif k == "signoff_keys":
                    v = [f"{r[0]}|{r[1]}" for r in con.execute(
                        "SELECT report_id, office_name FROM fact_kp_signoff WHERE office_name IS NOT NULL "
                        "ORDER BY reported_at DESC LIMIT 50").fetchall()] or [""]
                elif k == "account_id":  # the grid worker with the most 巡查 points (the heaviest drill)
                    v = first("SELECT account_id FROM agg_patrol_point GROUP BY ALL ORDER BY count(*) DESC, "
                              "account_id LIMIT 1")
                elif k == "reason_kind":
                    v = first("SELECT reason_kind FROM quarantine GROUP BY ALL ORDER BY count(*) DESC LIMIT 1")
            params[k] = v
        calls.append((name, scopes[scope], params))
    return calls


# ------------------------------------------------------------------------------------------------ helpers
def _dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in Path(p).rglob("*") if f.is_file())


def machine() -> dict:
    import duckdb
    import numpy
    import pandas
    import pyarrow

    mem = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"cores": timing.cores(), "cpu": cpu, "ram_gb": round(mem / 2 ** 30, 1), "platform": platform.platform(),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "pandas": pandas.__version__,
            "pyarrow": pyarrow.__version__, "numpy": numpy.__version__,
            "os_page_cache": "not dropped (no privilege): cold = freshly opened DuckDB connection, warm OS cache",
            "loadavg": timing.loadavg()}


# ------------------------------------------------------------------------------------------------ phases
def phase_generate(out: str, months: int, counties: int) -> dict:
    import demo

    t = time.perf_counter()
    rows = 0
    out = Path(out)
    if counties == 1:
        truth = demo.generate(out, months=months, seed=SEED, end_month=END_MONTH)
        rows = sum(truth.get("rows_delivered", {}).values()) if isinstance(truth.get("rows_delivered"), dict) else 0
    else:
        for truth in demo.generate_city(out, counties, months=months, seed=SEED, end_month=END_MONTH):
            rows += sum(truth.get("rows_delivered", {}).values()) if isinstance(truth.get("rows_delivered"), dict) else 0
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith("_")]
    return {"seconds": round(time.perf_counter() - t, 2), "files": len(files),
            "bytes": sum(p.stat().st_size for p in files), "rows_delivered": rows, "peak_rss_mb": timing.peak_rss_mb()}


def drops(data: Path) -> list[Path]:
    """The drop folders of a generated scale (one per county)."""
    subs = sorted(p for p in Path(data).glob("county*") if p.is_dir())
    return subs or [Path(data)]


def phase_ingest_ours(data: str, wh: str) -> dict:
    from core.config import load_settings
    from etl import pipeline

    settings = load_settings()
    wh = Path(wh)
    shutil.rmtree(wh, ignore_errors=True)
    t = time.perf_counter()
    # one run over the whole drop (a city's counties are subfolders: the drop is read recursively)
    res = pipeline.run(Path(data), settings, warehouse_dir=wh, lake_dir=wh / "lake", log=lambda s: None)
    if res.status != "ok":
        raise RuntimeError(f"ETL failed: {res.error}")
    runs = [res]
    total = time.perf_counter() - t
    peak = timing.peak_rss_mb()
    peak_workers = timing.peak_rss_children_mb()
    workers = res.landing_workers
    from etl.lake import Lake

    mans = Lake(wh / "lake").manifests()
    per: dict[str, dict] = {}
    for m in mans:
        d = per.setdefault(m["dataset"], {"files": 0, "rows_in": 0, "rows_landed": 0, "landing_s": 0.0,
                                           "csv_rows_in": 0, "csv_landing_s": 0.0})
        d["files"] += 1
        d["rows_in"] += m["rows_in"]
        d["rows_landed"] += m["rows_landed"]
        d["landing_s"] += m.get("seconds") or 0.0
        if m.get("format") == "csv":
            d["csv_rows_in"] += m["rows_in"]
            d["csv_landing_s"] += m.get("seconds") or 0.0
    for d in per.values():
        d["landing_s"] = round(d["landing_s"], 3)
        d["csv_landing_s"] = round(d["csv_landing_s"], 3)
        d["landing_rows_per_s"] = round(d["rows_in"] / d["landing_s"]) if d["landing_s"] else None
    build_s = sum(r.build_s for r in runs)
    rows = sum(d["rows_in"] for d in per.values())
    versions = list((wh / "versions").glob("*.duckdb"))
    cur = (wh / "CURRENT").read_text().strip()
    return {"seconds": round(total, 2), "landing_s": round(total - build_s, 2), "build_publish_s": round(build_s, 2),
            "rows_in": rows, "rows_per_s": round(rows / total), "datasets": per,
            "peak_rss_mb": peak, "peak_rss_worker_mb": peak_workers, "workers": workers,
            # an upper bound: the main process and every landing worker at their peaks at once
            "peak_rss_total_mb": round(peak + workers * peak_workers, 1) if workers > 1 else peak,
            "warehouse_bytes": (wh / "versions" / cur).stat().st_size,
            "published_parquet_bytes": _dir_bytes(wh / "lake" / "published"),
            "landed_parquet_bytes": _dir_bytes(wh / "lake" / "landed"), "versions": len(versions),
            "csv_rows_in": sum(d["csv_rows_in"] for d in per.values()),
            "csv_landing_s": round(sum(d["csv_landing_s"] for d in per.values()), 3)}


def phase_increment(wh: str, out: str) -> dict:
    """A day's delivery on top of the loaded warehouse, as the daily (or `watch`) run sees it: a day of activity
    (the last day's logs again under new ids, one day later) and updates to 50 open events. Reports the run's
    landing and build + publish times and how many month partitions the Parquet export wrote or linked."""
    import duckdb

    from core.config import load_settings
    from core.spec import DATASETS
    from etl import pipeline
    from warehouse import db

    settings = load_settings()
    wh, out = Path(wh), Path(out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = db.open_published(wh)
    last = con.execute("SELECT max(op_date) FROM fact_activity WHERE op_date <= current_date").fetchall()[0][0]
    day = last + dt.timedelta(days=1)
    heads = {ds: {c.name: c.header for c in DATASETS[ds].columns} for ds in ("activity_log", "events")}
    act = con.sql("""
        SELECT 'INC' || log_id AS log_id, account_id, op_time + INTERVAL 1 DAY AS op_time, op_type, terminal,
               lon, lat, 'WGS84' AS coord_sys, op_time + INTERVAL 1 DAY AS updated_at
        FROM fact_activity WHERE op_date = $d ORDER BY op_time""", params={"d": last}).to_arrow_table()
    ev = con.sql("""
        SELECT event_id, reported_at, reporter_account, grid_code, category, source, summary, lon, lat,
               'WGS84' AS coord_sys, handling_level, '已办结' AS status, deadline, $t AS closed_at, satisfaction,
               supervision, $t AS updated_at
        FROM fact_event WHERE NOT is_closed AND reported_at < $t ORDER BY reported_at DESC LIMIT 50""",
                 params={"t": dt.datetime.combine(day, dt.time(18))}).to_arrow_table()
    con.close()
    rows = 0
    for ds, t in (("activity_log", act), ("events", ev)):
        t = t.select([c for c in heads[ds] if c in t.column_names])
        t = t.rename_columns([heads[ds][c] for c in t.column_names])
        duckdb.from_arrow(t).write_csv(str(out / f"{ds}_{day:%Y%m%d}_daily.csv"))
        rows += t.num_rows
    t0 = time.perf_counter()
    res = pipeline.run(out, settings, warehouse_dir=wh, lake_dir=wh / "lake", log=lambda s: None)
    total = time.perf_counter() - t0
    if res.status != "ok" or res.files_new != 2:
        raise RuntimeError(f"increment failed: {res.status} {res.error} files_new={res.files_new}")
    return {"day": str(day), "rows_in": rows, "seconds": round(total, 2),
            "landing_s": round(total - res.build_s, 2), "build_publish_s": res.build_s,
            "build_steps_s": res.build_steps, "export": res.export, "tables": res.tables,
            "peak_rss_mb": timing.peak_rss_mb()}


def phase_lower_bound(data: str, out: str) -> dict:
    """DuckDB copying the delivered csv files straight to Parquet: no repair, no dedupe, no warehouse. GBK files
    are read as latin-1 (DuckDB has no GBK decoder without the encodings extension, which would need a download;
    GBK's trail bytes never collide with comma, quote or newline, so the rows and fields are the same)."""
    import duckdb

    from etl.readers import detect_encoding

    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = duckdb.connect(config={"threads": 2, "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    files = [p for d in drops(Path(data)) for p in sorted(d.glob("*.csv"))]
    t = time.perf_counter()
    rows = 0
    for i, p in enumerate(files):
        enc = "utf-8" if detect_encoding(p).lower().replace("-sig", "") in ("utf-8", "utf8") else "latin-1"
        target = out / f"{i:04d}.parquet"
        con.execute(f"COPY (SELECT * FROM read_csv($f, encoding = '{enc}', all_varchar = true, header = true, "
                    f"strict_mode = false)) TO '{target}' (FORMAT parquet, COMPRESSION zstd)", {"f": str(p)})
        rows += con.execute("SELECT count(*) FROM read_parquet($f)", {"f": str(target)}).fetchone()[0]
    s = time.perf_counter() - t
    con.close()
    return {"seconds": round(s, 3), "files": len(files), "rows": rows, "rows_per_s": round(rows / s) if s else None,
            "bytes_in": sum(p.stat().st_size for p in files), "peak_rss_mb": timing.peak_rss_mb()}


def phase_ingest_pandas(data: str, dbfile: str) -> dict:
    from perf import baseline_pandas

    t = time.perf_counter()
    r = baseline_pandas.ingest([str(d) for d in drops(Path(data))], dbfile)
    r["seconds"] = round(time.perf_counter() - t, 2)
    r["rows_per_s"] = round(r["rows"] / r["seconds"]) if r["seconds"] else None
    r["peak_rss_mb"] = timing.peak_rss_mb()
    return r


def phase_pages(wh: str, month: str, runs: int) -> dict:
    from warehouse import bulletin, db, metrics, review
    from warehouse.bulletin_docx import render_docx
    from warehouse.metrics import Period

    path = db.current_version(Path(wh))
    period = Period.parse_month(month)
    as_of = dt.datetime.combine(period.end, dt.time()) + dt.timedelta(days=3)
    week = Period.containing(period.end - dt.timedelta(days=7), "week")

    def connect():
        return db.connect(path, read_only=True, threads=2)

    con = connect()
    calls = {page: _page_calls(con, page, period, as_of) for page in PAGES}
    con.close()

    def run_page(c, page):
        first = PREFETCHED_AFTER.get(page, len(calls[page]))
        for name, scope, params in calls[page][:first]:
            metrics.query(c, name, scope, **params)
        rest = calls[page][first:]
        if rest:  # as dashboard.data.prefetch: a cursor each (inside metrics.query), PREFETCH_THREADS at once
            with ThreadPoolExecutor(max_workers=PREFETCH_THREADS) as ex:
                list(ex.map(lambda call: metrics.query(c, call[0], call[1], **call[2]), rest))

    def run_bulletin(c):
        b = bulletin.compute(c, period)
        bulletin.render_md(b)
        return b

    out: dict = {"month": month, "pages": {}, "queries": {}}
    # cold: a freshly opened connection per run (the first query pays for loading the catalog and the blocks)
    for page in PAGES:
        cold = []
        for _ in range(runs):
            c = connect()
            cold.append(timing.timeit(lambda: run_page(c, page)))
            c.close()
        out["pages"][page] = {"cold": timing.stats(cold), "queries": len(calls[page])}
    def time_bulletin(c, md: list, docx: list) -> None:
        t = time.perf_counter()
        b = run_bulletin(c)
        t1 = time.perf_counter()
        render_docx(b)
        md.append(t1 - t)
        docx.append(time.perf_counter() - t)

    cold_b, cold_docx, cold_r = [], [], []
    for _ in range(runs):
        c = connect()
        time_bulletin(c, cold_b, cold_docx)
        c.close()
        c = connect()
        cold_r.append(timing.timeit(lambda: review.compute(c, week)))
        c.close()
    # warm: one connection, one unmeasured run, then `runs` measured runs
    c = connect()
    for page in PAGES:
        run_page(c, page)
        warm = [timing.timeit(lambda: run_page(c, page)) for _ in range(runs)]
        out["pages"][page]["warm"] = timing.stats(warm)
        for name, scope, params in calls[page]:
            if name in out["queries"]:
                continue
            metrics.query(c, name, scope, **params)
            out["queries"][name] = timing.stats([timing.timeit(lambda: metrics.query(c, name, scope, **params))
                                           for _ in range(runs)])
    b = run_bulletin(c)
    render_docx(b)
    warm_b, warm_docx = [], []
    for _ in range(runs):
        time_bulletin(c, warm_b, warm_docx)
    review.compute(c, week)
    warm_r = [timing.timeit(lambda: review.compute(c, week)) for _ in range(runs)]
    c.close()
    out["bulletin"] = {"compute_md": {"cold": timing.stats(cold_b), "warm": timing.stats(warm_b)},
                       "compute_md_docx": {"cold": timing.stats(cold_docx), "warm": timing.stats(warm_docx)}}
    out["review"] = {"week": week.key, "cold": timing.stats(cold_r), "warm": timing.stats(warm_r)}
    out["peak_rss_mb"] = timing.peak_rss_mb()
    return out


def phase_figures(wh: str, month: str, runs: int) -> dict:
    from perf import baseline_pandas

    return baseline_pandas.figures_benchmark(wh, month, runs) | {"peak_rss_mb": timing.peak_rss_mb()}


# ------------------------------------------------------------------------------------------------ run
def _ratio(a, b, digits=2):
    return round(a / b, digits) if a and b else None


def run(scale: str = "county", *, work: Path | None = None, out: Path | None = None, data: Path | None = None,
        runs: int = 5, month: str | None = None, pandas_ingest: bool = True, log=print) -> dict:
    cfg = SCALES[scale]
    work = Path(work or Path(os.environ.get("TMPDIR", "/tmp")) / f"gridwatch-bench-{scale}")
    work.mkdir(parents=True, exist_ok=True)
    month = month or END_MONTH
    res: dict = {"scale": scale, "months": cfg["months"], "counties": cfg["counties"], "month": month,
                 "runs": runs, "started_at": dt.datetime.now().isoformat(timespec="seconds"),
                 "machine": machine(), "targets": TARGETS}
    if data is None:
        data = work / "data"
        log(f"[bench] generating the demo data ({scale}) → {data}")
        shutil.rmtree(data, ignore_errors=True)
        res["generate"] = _in_process(phase_generate, str(data), cfg["months"], cfg["counties"])
        log(f"[bench]   {res['generate']['seconds']} s, {res['generate']['files']} files")
    else:
        res["generate"] = {"seconds": None, "note": f"reused {data}"}
    log("[bench] ingest: ours (etl run: land, build, publish)")
    wh = work / "wh"
    res["ingest"] = {"ours": _in_process(phase_ingest_ours, str(data), str(wh))}
    log(f"[bench]   {res['ingest']['ours']['seconds']} s")
    log("[bench] ingest: a day's delivery on top (the daily run)")
    res["ingest"]["increment"] = _in_process(phase_increment, str(wh), str(work / "increment"))
    log(f"[bench]   {res['ingest']['increment']['seconds']} s")
    log("[bench] ingest: lower bound (DuckDB csv → Parquet)")
    res["ingest"]["lower_bound_csv_to_parquet"] = _in_process(phase_lower_bound, str(data), str(work / "lb"))
    if pandas_ingest:
        log("[bench] ingest: plain pandas")
        (work / "pandas.duckdb").unlink(missing_ok=True)
        res["ingest"]["pandas"] = _in_process(phase_ingest_pandas, str(data), str(work / "pandas.duckdb"))
        (work / "pandas.duckdb").unlink(missing_ok=True)
    shutil.rmtree(work / "lb", ignore_errors=True)
    log(f"[bench] pages and bulletin for {month} ({runs} runs each, cold and warm)")
    res["pages"] = _in_process(phase_pages, str(wh), month, runs)
    log("[bench] the same figures the plain-pandas way")
    res["figures"] = _in_process(phase_figures, str(wh), month, runs)
    res["ratios"] = ratios(res)
    res["verdict"] = verdict(res)
    res["finished_at"] = dt.datetime.now().isoformat(timespec="seconds")
    res["machine"]["loadavg_end"] = timing.loadavg()
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(res, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    log(table(res))
    return res


def ratios(res: dict) -> dict:
    ours = res["ingest"]["ours"]
    lb = res["ingest"]["lower_bound_csv_to_parquet"]
    pd_ = res["ingest"].get("pandas") or {}
    csv_rate = ours["csv_rows_in"] / ours["csv_landing_s"] if ours.get("csv_landing_s") else None
    r = {
        # rates: rows per second; ours ÷ other (> 1: ours faster)
        "ingest_ours_end_to_end_vs_lower_bound": _ratio(ours["rows_per_s"], lb["rows_per_s"]),
        "ingest_ours_csv_landing_vs_lower_bound": _ratio(csv_rate, lb["rows_per_s"]),
        "ingest_ours_vs_pandas": _ratio(ours["rows_per_s"], pd_.get("rows_per_s")),
        # times: ours ÷ pandas (< 1: ours faster)
        "figures_time_ours_over_pandas": {},
    }
    for k, f in res["figures"]["figures"].items():
        r["figures_time_ours_over_pandas"][k] = {
            "warm": _ratio(f["ours"]["warm"]["median_s"], f["pandas"]["warm"]["median_s"], 4),
            "cold": _ratio(f["ours"]["cold"]["median_s"], f["pandas"]["cold"]["median_s"], 4)}
    return r


def verdict(res: dict) -> list[dict]:
    """Each target: met or missed, with the figure."""
    T, out = TARGETS, []
    city = res["scale"] == "city"
    r = res["ratios"]

    def add(name, value, ok, note=""):
        out.append({"target": name, "value": value, "met": bool(ok) if value is not None else None, "note": note})

    v = r["ingest_ours_end_to_end_vs_lower_bound"]
    add("ingest ≥ ½ × csv→Parquet lower bound (rows/s, end to end)", v, v is not None and v >= T["ingest_vs_lower_bound_min"],
        "ours repairs, validates, dedupes, builds dims/facts/aggregates and exports Parquet; the lower bound only copies")
    v = r["ingest_ours_vs_pandas"]
    add("ingest ≥ 5× the pandas way", v, v is not None and v >= T["ingest_vs_pandas_min"])
    lim = T["city_page_warm_p95_s"] if city else T["page_warm_p95_s"]
    worst = max(res["pages"]["pages"].items(), key=lambda kv: kv[1]["warm"]["p95_s"])
    add(f"every page warm p95 < {lim * 1000:.0f} ms", f"{worst[0]} {worst[1]['warm']['p95_s'] * 1000:.0f} ms",
        worst[1]["warm"]["p95_s"] < lim)
    if not city:
        worst = max(res["pages"]["pages"].items(), key=lambda kv: kv[1]["cold"]["p95_s"])
        add("every page cold < 1 s (p95)", f"{worst[0]} {worst[1]['cold']['p95_s'] * 1000:.0f} ms",
            worst[1]["cold"]["p95_s"] < T["page_cold_s"])
        b = res["pages"]["bulletin"]["compute_md_docx"]["cold"]["p95_s"]
        add("bulletin < 2 s (cold, computed + docx, p95)", f"{b:.2f} s", b < T["bulletin_s"])
    for k, f in r["figures_time_ours_over_pandas"].items():
        w = f["warm"]
        add(f"pandas ≥ 10× slower: {k} (warm)", None if w is None else round(1 / w, 1),
            w is not None and 1 / w >= T["pandas_figures_slower_min"],
            res["figures"]["figures"][k].get("note", ""))
    return out


def _ms(s) -> str:
    return "—" if s is None else f"{s * 1000:.0f}"


def table(res: dict) -> str:
    ours, lb = res["ingest"]["ours"], res["ingest"]["lower_bound_csv_to_parquet"]
    pd_ = res["ingest"].get("pandas")
    L = [f"## Benchmark — scale {res['scale']} ({res['counties']} county × {res['months']} months), month {res['month']}",
         f"machine: {res['machine']['cores']} cores, {res['machine']['ram_gb']} GB, duckdb {res['machine']['duckdb']}, "
         f"pandas {res['machine']['pandas']}, {res['runs']} runs per figure; load average at start "
         f"{res['machine'].get('loadavg')}, at end {res['machine'].get('loadavg_end')} (other work on the machine "
         "inflates every figure)", ""]
    g = res.get("generate") or {}
    if g.get("seconds") is not None:
        L.append(f"generation: {g['seconds']} s, {g['files']} files, {g['bytes'] / 1e6:.0f} MB (not part of ingest)")
        L.append("")
    L += ["| ingest | rows | seconds | rows/s | peak MB | note |", "| --- | ---: | ---: | ---: | ---: | --- |",
          f"| ours: etl run (land + build + publish) | {ours['rows_in']:,} | {ours['seconds']} | {ours['rows_per_s']:,} | "
          f"{ours.get('peak_rss_total_mb', ours['peak_rss_mb']):.0f} | landing {ours['landing_s']} s "
          f"({ours.get('workers', 1)} processes), build+publish {ours['build_publish_s']} s; "
          f"warehouse {ours['warehouse_bytes'] / 1e6:.0f} MB, published Parquet {ours['published_parquet_bytes'] / 1e6:.0f} MB; "
          + (f"peak MB: main {ours['peak_rss_mb']:.0f}, each landing worker ≤ {ours['peak_rss_worker_mb']:.0f} "
             "(the peak column adds them all) |" if ours.get("workers", 1) > 1 else "|")]
    inc = res["ingest"].get("increment")
    if inc:
        ex = inc.get("export") or {}
        L.append(f"| ours: a day's delivery on top ({inc['day']}) | {inc['rows_in']:,} | {inc['seconds']} | — | "
                 f"{inc['peak_rss_mb']:.0f} | landing {inc['landing_s']} s, build+publish {inc['build_publish_s']} s; "
                 f"export wrote {ex.get('written')} and linked {ex.get('linked')} month partitions |")
    if pd_:
        L.append(f"| plain pandas (read_excel/read_csv/read_json → DuckDB) | {pd_['rows']:,} | {pd_['seconds']} | "
                 f"{pd_['rows_per_s']:,} | {pd_['peak_rss_mb']:.0f} | no repair, no dedupe |")
    L.append(f"| lower bound: DuckDB csv → Parquet ({lb['files']} csv files) | {lb['rows']:,} | {lb['seconds']} | "
             f"{lb['rows_per_s']:,} | {lb['peak_rss_mb']:.0f} | copy only |")
    L += ["", "| dataset | rows in | landing s | landing rows/s |", "| --- | ---: | ---: | ---: |"]
    for k, d in ours["datasets"].items():
        L.append(f"| {k} | {d['rows_in']:,} | {d['landing_s']} | {d['landing_rows_per_s'] or 0:,} |")
    P = res["pages"]
    L += ["", "| page | queries | cold median ms | cold p95 ms | warm median ms | warm p95 ms |",
          "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for k, p in P["pages"].items():
        L.append(f"| {k} | {p['queries']} | {_ms(p['cold']['median_s'])} | {_ms(p['cold']['p95_s'])} | "
                 f"{_ms(p['warm']['median_s'])} | {_ms(p['warm']['p95_s'])} |")
    b = P["bulletin"]
    L.append(f"| bulletin (compute + md) | — | {_ms(b['compute_md']['cold']['median_s'])} | {_ms(b['compute_md']['cold']['p95_s'])} | "
             f"{_ms(b['compute_md']['warm']['median_s'])} | {_ms(b['compute_md']['warm']['p95_s'])} |")
    L.append(f"| bulletin (compute + md + docx) | — | {_ms(b['compute_md_docx']['cold']['median_s'])} | "
             f"{_ms(b['compute_md_docx']['cold']['p95_s'])} | {_ms(b['compute_md_docx']['warm']['median_s'])} | "
             f"{_ms(b['compute_md_docx']['warm']['p95_s'])} |")
    rv = P["review"]
    L.append(f"| weekly review ({rv['week']}) | — | {_ms(rv['cold']['median_s'])} | {_ms(rv['cold']['p95_s'])} | "
             f"{_ms(rv['warm']['median_s'])} | {_ms(rv['warm']['p95_s'])} |")
    F = res["figures"]
    L += ["", f"pandas baseline: facts loaded from the published Parquet in {F['load_s']} s "
              f"({F['load_rows']:,} rows; part of every cold figure)", "",
          "| figure | ours warm ms | pandas warm ms | pandas ÷ ours (warm) | ours cold ms | pandas cold ms | same answer |",
          "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for k, f in F["figures"].items():
        ow, pw = f["ours"]["warm"]["median_s"], f["pandas"]["warm"]["median_s"]
        L.append(f"| {k} | {_ms(ow)} | {_ms(pw)} | {pw / ow:.1f}× | {_ms(f['ours']['cold']['median_s'])} | "
                 f"{_ms(f['pandas']['cold']['median_s'])} | {'yes' if f['equal'] else 'NO'} |")
    r = res["ratios"]
    L += ["", f"ratios (rows/s, ours ÷ other): vs lower bound end to end {r['ingest_ours_end_to_end_vs_lower_bound']}, "
              f"csv landing only {r['ingest_ours_csv_landing_vs_lower_bound']}; vs pandas {r['ingest_ours_vs_pandas']}", "",
          "| target | value | met |", "| --- | --- | --- |"]
    for v in res["verdict"]:
        met = "—" if v["met"] is None else ("yes" if v["met"] else "**missed**")
        L.append(f"| {v['target']} | {v['value']} | {met} |")
    return "\n".join(L)


# ------------------------------------------------------------------------------------------------ CLI
def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="性能基准: 生成示例数据、导入、页面查询与通报, 对比 pandas 常规写法")
    p.add_argument("--scale", choices=tuple(SCALES), default="county")
    p.add_argument("--out", type=Path, help="写出 JSON 结果")
    p.add_argument("--work", type=Path, help="工作目录 (默认 $TMPDIR/gridwatch-bench-<scale>)")
    p.add_argument("--data", type=Path, help="复用已生成的投递目录 (不再生成)")
    p.add_argument("--runs", type=int, default=5, help="每项测量次数 (≥ 5)")
    p.add_argument("--month", help="页面与通报的月份 YYYY-MM (默认 2026-10)")
    p.add_argument("--no-pandas-ingest", action="store_true", help="不测 pandas 导入 (最慢的一项)")
    p.set_defaults(run=_cli)


def _cli(args) -> int:
    if args.runs < 5:
        print("错误: --runs 至少为 5", file=sys.stderr)
        return 2
    run(args.scale, work=args.work, out=args.out, data=args.data, runs=args.runs, month=args.month,
        pandas_ingest=not args.no_pandas_ingest)
    return 0

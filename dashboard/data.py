"""The app's only way to the warehouse: one cached read-only connection per published version, a cursor per
query (inside warehouse.metrics.query), and result caching keyed by version, query, scope and parameters.

A newly published version is picked up on the next call without a restart: the pointer file is read on every
call (a tiny file read), the connection cache is keyed by the version's path, and the old connection is closed
when it is evicted.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from core.config import settings
from dashboard import auth, session
from warehouse import db, metrics
from warehouse.metrics import Scope


def warehouse_path() -> Path | None:
    """The version to read: the one CURRENT names, or, when CURRENT is damaged or names a missing or damaged
    file, the newest version that is whole (version_warning() then says so)."""
    return _published()[0]


def version_warning() -> str | None:
    """One line for a banner when the app reads a fallback version instead of the published one."""
    return _published()[1]


_GOOD: set[tuple] = set()
_BAD: dict[tuple, float] = {}  # version file → when it last failed to open
# A version that failed to open is tried again after this long: the failure may be passing — in the server's own
# process the first-start build still holds the just-published file open (its Parquet export) with another
# configuration, and a failure remembered for good made every later visitor start the build again.
RETRY_BAD_SECONDS = 10.0


def _usable(path: Path) -> bool:
    """Opens (through the cached connection, once per version file) and has its meta table. A file the process
    already holds open is not opened again (DuckDB's instance cache): damage in place shows at a restart."""
    try:
        st_ = path.stat()
    except OSError:
        return False
    key = (str(path), st_.st_size, st_.st_mtime_ns)
    if key in _GOOD:
        return True
    if time.monotonic() - _BAD.get(key, -RETRY_BAD_SECONDS) < RETRY_BAD_SECONDS:
        return False
    try:
        _connection(str(path)).cursor().execute("SELECT count(*) FROM meta").fetchone()
    except Exception:  # noqa: BLE001 — duckdb raises several kinds for a damaged file
        _BAD[key] = time.monotonic()
        return False
    _BAD.pop(key, None)
    _GOOD.add(key)
    return True


def _published() -> tuple[Path | None, str | None]:
    wdir = settings().paths.warehouse_dir
    cur, problem = db.pointed_version(wdir)  # the usual case: a pointer read and a stat or two
    if cur is not None:
        if _usable(cur):
            return cur, None
        problem = f"{cur.name} 无法打开"
    for path in db.fallback_versions(wdir, cur):
        if _usable(path):
            return path, (f"当前发布的数据仓库不可用 ({problem}), 正在显示上一个完好的版本 {path.name}; "
                          "下一次导入 (python -m etl run) 会重新发布。")
    return None, None


@st.cache_resource(max_entries=2, show_spinner=False, validate=lambda con: _alive(con),
                   on_release=lambda con: con.close())
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    return db.connect(path, read_only=True, threads=2)


def _alive(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        con.cursor().execute("SELECT 1").fetchone()
        return True
    except duckdb.Error:
        return False


def connection() -> tuple[duckdb.DuckDBPyConnection, str]:
    """(connection, version name) of the published warehouse; raises db.NoWarehouse when there is none."""
    path = warehouse_path()
    if path is None:
        raise db.NoWarehouse("尚未发布数据仓库")
    return _connection(str(path)), path.name


# The queries each role may run: those its pages call, and no other (a role without a page for a query cannot run
# it through the data layer either: a 部门用户 gets no county ranking or headline, the wall no record lists).
# 县领导 and 大屏 see aggregates only: no query that returns a row per event, person or account.
_FRAME = {"quality/meta", "quality/freshness", "units/reporting_units", "overview/coverage",  # ui.page, banner
          "city/counties"}  # a city deployment's county selector and breadcrumb (one county for a county user)
_PAGE_QUERIES = {
    # a city deployment's 全市总览 (市级管理员 / 市领导): the county ranking, trend and map, the city's 乡镇 ranking
    "city": {"overview/headline", "overview/unit_ranking", "comparison/long", "overview/map_units",
             "city/township_ranking"},
    "home": {"overview/headline", "overview/unit_ranking"},
    "activity": {"activity/headline", "activity/by_unit", "activity/by_community", "activity/by_grid",
                 "activity/inactive_accounts", "activity/by_office", "activity/trend",
                 "activity_quality/headline", "activity_quality/by_unit", "activity_quality/coverage",
                 "activity_quality/accounts", "activity_quality/account_hours", "activity_quality/account_points"},
    "events": {"events/by_unit", "events/totals", "events/groups", "events/category_mix", "events/time_to_close", "events/list"},
    "key_persons": {"overview/kp_tallies", "kp/by_category_unit", "kp/by_unit", "kp/by_office", "kp/overdue_signoffs", "kp/trend"},
    "compare": {"comparison/long", "comparison/rankings"},
    "bulletin": {"overview/coverage", "overview/headline", "activity/by_unit", "activity/by_office", "events/by_unit",
                 "kp/by_category_unit", "overview/kp_tallies", "kp/by_office_category", "kp/by_office",
                 "overview/unit_ranking"},
    "wall": {"quality/freshness", "quality/source_health", "overview/headline", "overview/unit_ranking",
             "overview/event_funnel", "overview/map_units", "overview/event_points", "overview/kp_tallies",
             "overview/signoff_backlog", "overview/recent_events", "wall/today", "wall/kp_persons",
             "warnings/weekly_drop", "warnings/completion_low", "warnings/signoff_backlog", "warnings/silent_unit",
             "warnings/quiet_source", "warnings/effective_gap"},
    "quality": {"quality/runs", "quality/file_issues", "quality/quarantine_by_reason", "quality/quarantine_rows",
                "quality/flags", "quality/files", "quality/source_health", "quality/quarantine_townships",
                "quality/quarantine_files", "quality/quarantine_file_rows"},
    "warnings": {"warnings/weekly_drop", "warnings/completion_low", "warnings/signoff_backlog", "warnings/silent_unit",
                 "warnings/quiet_source", "warnings/effective_gap", "warnings/order_items", "warnings/item_status"},
    # through dashboard/assessment.py (warehouse.assessment; its 有效活跃度 from [assessment] effective_query)
    "assessment": {"assessment/scores", "activity_quality/by_unit"},
    "upload": set(),  # the preview reads the files, not the warehouse (dashboard/upload.py)
    "users": {"units/reporting_units"},
    "audit": set(),
}
RECORD_QUERIES = {"events/list", "kp/overdue_signoffs", "activity/inactive_accounts", "quality/quarantine_rows",
                  "quality/quarantine_file_rows", "warnings/order_items",
                  "activity_quality/accounts", "activity_quality/account_hours",
                  "activity_quality/account_points"}
AGGREGATE_ROLES = (auth.LEADER, auth.DISPLAY)


def role_queries(role: str) -> frozenset[str]:
    """The allow-list of query names for `role`: its pages' queries (minus record-level ones for the roles that
    see aggregates only). The 县级管理员 has every page, so every query."""
    if role == auth.ADMIN:
        return frozenset(metrics.available())
    names = set(_FRAME)
    for page in auth.PAGES[role] + (auth.CITY_PAGES if role in (auth.ADMIN, auth.LEADER) else ()):
        names |= _PAGE_QUERIES[page]
    if role in AGGREGATE_ROLES:
        names -= RECORD_QUERIES
    return frozenset(names)


def allow(ident: auth.Identity, name: str) -> None:
    """Refuse a query that no page of the caller's role calls (after auth.authorize has checked the scope)."""
    if name not in role_queries(ident.role):
        raise metrics.ScopeError(f"{name}: not a query of the role {ident.role}")


@st.cache_data(ttl=settings().dashboard.cache_ttl_seconds, max_entries=settings().dashboard.cache_max_entries,
               show_spinner=False)
def _cached(version: str, name: str, scope: Scope, params: tuple) -> pd.DataFrame:
    con, _ = connection()
    return metrics.query(con, name, scope, **dict(params))


def q(name: str, scope: Scope, *, keyed: bool = False, **params):
    """Run a metrics-layer query for `scope`, cached per published version. The caller's identity must allow
    `scope` (dashboard.auth.authorize): a page cannot widen its scope or ask for more personal data.

    keyed=True returns (frame, key): the key the result is cached under (published version, query, scope, the
    parameters it reads). Equal keys, equal results: what is derived from a result (a chart, the wall's map) can
    be cached by its key instead of hashing the frame."""
    allow(auth.authorize(name, scope), name)
    path = warehouse_path()  # the version names the cache entry; the connection is opened on a miss only
    if path is None:
        raise db.NoWarehouse("尚未发布数据仓库")
    key = _params_key(name, params)
    df = _cached(path.name, name, scope, key)
    return (df, (path.name, name, scope, key)) if keyed else df


def _params_key(name: str, params: dict) -> tuple:
    """Only the parameters the query reads make its key: the wall's as_of (to the minute) must not expire the
    queries that do not use it (scope_* go through, for metrics.bind to refuse)."""
    used = metrics.sql_params(name)
    return tuple(sorted((k, v) for k, v in params.items() if k in used or k.startswith("scope_")))


PREFETCH_THREADS = 3


def prefetch(calls: list[tuple[str, Scope, dict]]) -> None:
    """Run the queries a screen is about to draw at once, a cursor each, so that its data.q calls then find them
    cached: the wall's ten queries of 2–30 ms wait for the slowest few instead of their sum (DuckDB plans and runs
    each on its own cursor; the GIL is released meanwhile). Authorised here, in the caller's run, like data.q. A
    query that fails is left for the screen's own data.q call to report."""
    path = warehouse_path()
    if path is None or not calls:
        return
    jobs = []
    for name, scope, params in calls:
        allow(auth.authorize(name, scope), name)
        jobs.append((path.name, name, scope, _params_key(name, params)))
    ctx = get_script_run_ctx()

    def run(job):
        add_script_run_ctx(threading.current_thread(), ctx)
        try:
            _cached(*job)
        except Exception:  # noqa: BLE001 — reported by the data.q call that needs it
            pass

    with ThreadPoolExecutor(max_workers=min(PREFETCH_THREADS, len(jobs)), thread_name_prefix="gw-prefetch") as ex:
        list(ex.map(run, jobs))


def meta() -> dict[str, str]:
    """The warehouse's facts (data dates, …) of the county the page looks at (session.county_scope: a 市级 user's
    chosen county's own data date, as its users see it)."""
    ident = auth.require()
    s = dataclasses.replace(session.county_scope(ident), personal="none")
    return dict(q("quality/meta", s).itertuples(index=False, name=None))


def _unmasked_scope(ident: auth.Identity) -> Scope:
    """The scope of a full record or export: the view's (a 市级 user's chosen county, or the 全市 view), so that it
    holds the rows the masked table on the page showed, never more; personal data in full."""
    auth.unmask_scope(ident)  # refuses a role that may not unmask
    return dataclasses.replace(session.scope(), personal="full")


def unmasked_record(name: str, params: dict, key_col: str, key_value: str, reason: str) -> pd.DataFrame:
    """One record of a query with its personal data in full, for a role that may unmask, after the reason has been
    written to the audit log. Never cached (st.cache_data would keep it for other sessions' lookups)."""
    ident = auth.require()
    full = _unmasked_scope(ident)
    allow(auth.authorize(name, dataclasses.replace(full, personal=ident.scope.personal)), name)
    auth.audit("unmask", f"{name} · {key_col}={key_value}", full.label, reason)
    con, _ = connection()
    df = metrics.query(con, name, full, **params)
    return df[df[key_col].astype(str) == str(key_value)]


def unmasked_table(name: str, params: dict, table: str, reason: str) -> pd.DataFrame:
    """A whole table in full for an export asked for by a role that may unmask (audited, not cached)."""
    ident = auth.require()
    full = _unmasked_scope(ident)
    allow(auth.authorize(name, dataclasses.replace(full, personal=ident.scope.personal)), name)
    con, _ = connection()
    df = metrics.query(con, name, full, **params)
    auth.audit("export_full", table, f"{len(df)} 行 · {name} · {full.label}", reason)
    return df

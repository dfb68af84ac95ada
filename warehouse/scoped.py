"""County scope that cannot leak: a connection that sees one county of a city warehouse and nothing else.

A city deployment ([deployment] level = "city") holds several counties in one published version. A county-scoped
caller (Scope(county_code=…), warehouse/metrics.py) must get exactly the figures that county's own warehouse would
give, and no row of another county, from every query file and every macro, unchanged. So its queries run on a
connection of their own:

    an in-memory DuckDB  ── ATTACH '<version file>' AS wh (READ_ONLY)
      gw_scope           one row: the county's code (bound as a parameter, never formatted into SQL)
      <table>            a view `SELECT * FROM wh.main.<table> WHERE <the row is the county's>` for every table of
                         the version (COUNTY_FILTERS; a table of no county: a plain view, or no rows, see below);
                         the small ones (MATERIALIZED: units, accounts, offices, …) copied as tables instead
      m_* macros         the persistent macros of warehouse/schema/*.sql, created again here from those files (the
                         same text), so that their unqualified table names read these views
      meta, dq_flag, dataset_freshness, dq_unknown_code   computed for the county (COMPUTED), dq_flag and
                         dataset_freshness by their statements of 40_quality.sql, dq_unknown_code by
                         warehouse.build.unknown_codes

The same machinery gives the city with its COUNTIES AS THE UNITS (county_connection(version, None),
Scope(by_county=True)): CITY_VIEWS rewrite the reporting units to one per county, so every query gives a row per
county where it gives one per 乡镇 (the county ranking, the comparison, the 全市通报).

The default database is the in-memory one (a cursor of the connection starts there too: nothing per query), so
an unqualified name never reaches an unfiltered table. Every table of the version must be listed here: one that is
not makes `county_connection` fail (a new table cannot leak by being forgotten).

Which rows are a county's: the first 6 digits of its unit or grid code (区划代码); activity by its account's unit;
the event flow by its event; quarantined rows by the 乡镇 dq_quarantine finds for them; delivered files
(etl_file, etl_file_issue) those that brought any of the county's rows (or were uploaded for one of its 乡镇).
A row whose county cannot be told (an unknown grid code of no county, an operation of an unknown account, a
quarantined row without a 乡镇, a file that failed as a whole) is in the city's figures only.
City operations are not a county's: its ETL runs (etl_run) and feeding sources (source_health) show no rows.
dataset_freshness is the county's: its statement of 40_quality.sql run over the county's rows of
dq_county_freshness and dq_county_delivery (per county: its records, landed rows, quarantined rows, deliveries;
README "地市部署"). meta names the county (county_name, county_code) and its own first and last data days.

One connection per (version file, county) per process, kept (a published version never changes); queries run on a
cursor of it each (metrics.query), never on the connection itself, never one cursor for two sessions.
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path

import duckdb

from warehouse import db, statements

SCOPE_TABLE = "gw_scope"
CITY = "city"  # gw_scope.county_code of the city connection (counties as units)
_C = f"(SELECT county_code FROM {SCOPE_TABLE})"
_BY_ACCOUNT = f"account_id IN (SELECT account_id FROM wh.main.dim_account WHERE county_code = {_C})"
_BY_GRID = f"left(grid_code, 6) = {_C}"

# table → the condition on its rows (in wh.main) that makes a row the county's; None: every row (configuration)
COUNTY_FILTERS: dict[str, str | None] = {
    "dim_county": f"county_code = {_C}",
    "dim_reporting_unit": f"county_code = {_C}",
    "dim_unit": f"county_code = {_C}",
    "dim_account": f"county_code = {_C}",
    "dim_office": f"county_code = {_C}",
    "map_code": f"county_code = {_C}",
    "fact_activity": _BY_ACCOUNT,
    "fact_event": _BY_GRID,
    "fact_event_flow": f"event_id IN (SELECT event_id FROM wh.main.fact_event WHERE {_BY_GRID})",
    "fact_kp_report": _BY_GRID,
    "fact_kp_signoff": _BY_GRID,
    "fact_collection": _BY_GRID,
    "agg_account_day": _BY_ACCOUNT,
    "agg_account_month": _BY_ACCOUNT,
    "agg_aq_day": _BY_ACCOUNT,
    "agg_aq_hour": _BY_ACCOUNT,
    "agg_patrol_point": _BY_ACCOUNT,
    "dq_activity_file": _BY_ACCOUNT,
    "agg_event": _BY_GRID,
    "agg_kp_report": _BY_GRID,
    "agg_kp_signoff": _BY_GRID,
    "agg_collection_month": _BY_GRID,
    "agg_collection_asof": _BY_GRID,
    "dq_quarantine": f"left(township_code, 6) = {_C}",
    "quarantine": (f"EXISTS (SELECT 1 FROM wh.main.dq_quarantine d WHERE d.delivery = quarantine.delivery "
                   f"AND d.source_row = quarantine.source_row AND left(d.township_code, 6) = {_C})"),
    "warning": f"left(coalesce(township_code, ru_code, unit_code), 6) = {_C}",
    "etl_file": f"file IN (SELECT file FROM gw_files) OR left(scope_township, 6) = {_C}",
    "etl_file_issue": "file IN (SELECT file FROM etl_file)",
    "etl_run": "FALSE",
    "source_health": "FALSE",
    "dq_county_freshness": f"county_code = {_C}",
    "dq_county_delivery": f"county_code = {_C}",
    "cfg_split": None, "cfg_dataset": None, "cfg_kp_office": None, "cfg_kp_category": None, "cfg_event_category": None,
    "cfg_office_kind": None, "cfg_county": None,
}
# their sort_order counted again within the county (1, 2, … in the city's order), as the county's own build has it
RENUMBERED = ("dim_county", "dim_reporting_unit")
# small tables copied into the connection when it is made (a county's or the city's units, accounts, offices and
# key-person reports: thousands of rows; read by nearly every query): planned and joined as tables, filtered once
MATERIALIZED = ("dim_county", "dim_reporting_unit", "dim_unit", "dim_account", "dim_office", "map_code",
                "agg_kp_report", "agg_kp_signoff", "cfg_split", "cfg_kp_office", "cfg_kp_category",
                "cfg_event_category", "cfg_office_kind", "cfg_county", "cfg_dataset")
# computed for the county when the connection is made (not views of the version's tables)
COMPUTED = ("meta", "dq_flag", "dataset_freshness", "dq_unknown_code")
# the tables whose _file names the delivered files a county's rows came from
_FILE_TABLES = ("dim_unit", "dim_account", "fact_activity", "fact_event", "fact_event_flow", "fact_kp_report",
                "fact_collection")
# the dataset each current-record table holds (dq_unknown_code, recomputed over the county's records)
DATASET_TABLES = {"org_units": "dim_unit", "accounts": "dim_account", "activity_log": "fact_activity",
                  "events": "fact_event", "event_flow": "fact_event_flow", "key_person_reports": "fact_kp_report",
                  "collection_stats": "fact_collection"}

_LEAD_COMMENTS = re.compile(r"^(\s*--[^\n]*\n)*\s*", re.S)


class ScopeTableError(RuntimeError):
    """The version holds a table the county scope does not know: refused rather than shown unfiltered."""


@lru_cache(maxsize=1)
def _schema_statements() -> tuple[str, ...]:
    con = db.connect(None)
    try:
        out = []
        for f in statements.schema_files():
            out += [s.query for s in con.extract_statements(f.read_text(encoding="utf-8"))]
        return tuple(out)
    finally:
        con.close()


def macro_statements() -> list[str]:
    """The persistent macros of warehouse/schema/*.sql, as written there (TEMP macros are the build's own)."""
    return [q for q in _schema_statements()
            if re.match(r"CREATE\s+(OR\s+REPLACE\s+)?MACRO\b", _LEAD_COMMENTS.sub("", q), re.I)]


def _table_statement(table: str) -> str:
    """The `CREATE TABLE <table> AS …` statement of warehouse/schema/*.sql (run again over a county's views)."""
    pat = re.compile(rf"CREATE\s+TABLE\s+{table}\s+AS\b", re.I)
    for q in _schema_statements():
        if pat.match(_LEAD_COMMENTS.sub("", q)):
            return q
    raise ScopeTableError(f"{table}: no definition in {statements.SCHEMA_DIR}")


# ---------------------------------------------------------------------------------------------------- 全市: counties as units
# The city seen with its counties as the units: every query file, unchanged, gives one row per county where it
# gives one per reporting unit (or 乡镇) — the same rules and thresholds (the 全市通报, the county comparison).
# Reporting unit = 乡镇 = the county: ru_code and township_code are its 6-digit code, the names its name; an office
# is named with its county in front ("东岭县文昌派出所": two counties' offices of one name stay two).
_K = "(SELECT k.county_name FROM wh.main.dim_county k WHERE k.county_code = left(x.{col}, 6))"
_UNIT = "left(x.ru_code, 6) AS ru_code, left(x.township_code, 6) AS township_code"
_OFFICES = ("police_station", "justice_office", "health_center")


def _prefixed(col: str, code_col: str) -> str:
    return f"{_K.format(col=code_col)} || x.{col} AS {col}"


CITY_VIEWS: dict[str, str] = {
    "dim_reporting_unit": (
        "SELECT county_code AS township_code, county_name AS township_name, county_code AS ru_code, "
        "county_name AS ru_name, county_name AS short_name, '全部' AS part, 0 AS part_order, sort_order, "
        "county_code, county_name FROM wh.main.dim_county"),
    "map_code": f"SELECT x.* REPLACE ({_UNIT}) FROM wh.main.map_code x",
    "dim_unit": (f"SELECT x.* REPLACE ({_UNIT}, {_K.format(col='township_code')} AS township_name) "
                 "FROM wh.main.dim_unit x"),
    "dim_account": (f"SELECT x.* REPLACE ({_UNIT}, CASE WHEN x.dept_kind IS NOT NULL THEN "
                    f"{_K.format(col='unit_code')} || x.dept_name END AS dept_name) FROM wh.main.dim_account x"),
    "dim_office": ("SELECT x.* REPLACE (" + _prefixed("office_name", "county_code")
                   + ", x.county_code AS township_code, " + _K.format(col="county_code")
                   + " AS township_name) FROM wh.main.dim_office x"),
    "dq_quarantine": ("SELECT x.* REPLACE (left(x.township_code, 6) AS township_code, coalesce("
                      + _K.format(col="township_code") + ", x.township_name) AS township_name) "
                      "FROM wh.main.dq_quarantine x"),
    "warning": f"SELECT x.* REPLACE ({_UNIT}) FROM wh.main.warning x",
    **{t: f"SELECT x.* REPLACE ({_UNIT}) FROM wh.main.{t} x"
       for t in ("fact_activity", "fact_event", "fact_event_flow", "fact_collection", "agg_event",
                 "agg_patrol_point")},
    **{t: (f"SELECT x.* REPLACE ({_UNIT}, " + ", ".join(_prefixed(c, "grid_code") for c in cols)
           + f") FROM wh.main.{t} x")
       for t, cols in (("fact_kp_report", _OFFICES), ("agg_kp_report", _OFFICES),
                       ("fact_kp_signoff", ("office_name",)), ("agg_kp_signoff", ("office_name", *_OFFICES)))},
}


def _views(con, tables: list[str], county_code: str | None) -> None:
    """One view per table of the version: the county's rows (county_code), or the city with counties as units."""
    unknown = sorted(set(tables) - set(COUNTY_FILTERS) - set(COMPUTED))
    if unknown:
        raise ScopeTableError(f"数据仓库中有未规定县级范围的表: {', '.join(unknown)}")
    late = ("etl_file", "etl_file_issue")
    for t in [t for t in COUNTY_FILTERS if t in tables and t not in late]:
        kind = "TABLE" if t in MATERIALIZED else "VIEW"
        if county_code is None:
            con.execute(f"CREATE {kind} {t} AS " + CITY_VIEWS.get(t, f"SELECT * FROM wh.main.{t}"))
            continue
        where = COUNTY_FILTERS[t]
        cols = ("* REPLACE (CAST(row_number() OVER (ORDER BY sort_order) AS INTEGER) AS sort_order)"
                if t in RENUMBERED else "*")
        con.execute(f"CREATE {kind} {t} AS SELECT {cols} FROM wh.main.{t}" + (f" WHERE {where}" if where else ""))
    if county_code is None:
        for t in late:
            con.execute(f"CREATE VIEW {t} AS SELECT * FROM wh.main.{t}")
        return
    files = " UNION ".join(f"SELECT _file AS file FROM {t}" for t in _FILE_TABLES if t in tables)
    con.execute(f"CREATE TABLE gw_files AS SELECT DISTINCT file FROM ({files} "
                "UNION SELECT source_file FROM quarantine) WHERE file IS NOT NULL")
    for t in late:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM wh.main.{t} WHERE {COUNTY_FILTERS[t]}")


def _make(version_file: Path, county_code: str | None) -> duckdb.DuckDBPyConnection:
    """county_code: the connection of that county; None: the city with its counties as units."""
    from warehouse.build import data_days, unknown_codes

    con = db.connect(None, threads=2)
    try:
        con.execute("ATTACH $p AS wh (READ_ONLY)", {"p": str(version_file)})
        con.execute(f"CREATE TABLE {SCOPE_TABLE} AS SELECT CAST($c AS VARCHAR) AS county_code, $by AS by_county",
                    {"c": county_code or CITY, "by": county_code is None})
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = 'main' "
            "ORDER BY table_name").fetchall()]
        _views(con, tables, county_code)
        for q in macro_statements():
            con.execute(q)
        if county_code is None:
            for t in ("dq_flag", "dataset_freshness", "dq_unknown_code"):
                con.execute(f"CREATE VIEW {t} AS SELECT * FROM wh.main.{t}")
            # meta names the city (county_name / county_code: the area the figures are of)
            con.execute("""
                CREATE TABLE meta AS
                SELECT key, CASE key WHEN 'county_code' THEN coalesce((SELECT value FROM wh.main.meta
                                                                       WHERE key = 'city_code'), value)
                                     WHEN 'county_name' THEN coalesce((SELECT value FROM wh.main.meta
                                                                       WHERE key = 'city_name'), value)
                                     ELSE value END AS value
                FROM wh.main.meta""")
        else:
            con.execute(_table_statement("dq_flag"))
            if "dq_county_freshness" in tables:
                con.execute(_table_statement("dataset_freshness"))
            else:  # a version built before freshness was kept per county (rebuilt by the next run): none shown
                con.execute("CREATE TABLE dataset_freshness AS SELECT * FROM wh.main.dataset_freshness WHERE FALSE")
            unknown_codes(con, dict(DATASET_TABLES))
            # meta: the version's, naming the county and its own data days
            built_at = con.execute("SELECT try_cast(value AS TIMESTAMP) FROM wh.main.meta "
                                   "WHERE key = 'built_at'").fetchone()
            first_day, last_day = data_days(con, built_at[0] if built_at else None)
            con.execute("""
                CREATE TABLE meta AS
                SELECT key, CASE key WHEN 'county_code' THEN $c
                                     WHEN 'county_name' THEN coalesce((SELECT county_name FROM dim_county), $c)
                                     WHEN 'data_first_day' THEN $first WHEN 'data_last_day' THEN $last
                                     ELSE value END AS value
                FROM wh.main.meta""", {"c": county_code, "first": str(first_day) if first_day else "",
                                       "last": str(last_day) if last_day else ""})
        missing = _macro_names(con, "wh") - _macro_names(con, "memory")
        if missing:
            raise ScopeTableError(f"县级范围缺少宏: {', '.join(sorted(missing))}")
    except BaseException:
        con.close()
        raise
    return con


def _macro_names(con, database: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT function_name FROM duckdb_functions() WHERE database_name = $d AND schema_name = 'main' "
        "AND function_type IN ('macro', 'table_macro')", {"d": database}).fetchall()}


_CONS: dict[tuple[str, str], duckdb.DuckDBPyConnection] = {}
_LOCK = threading.Lock()
_MAX = 64  # (version, county) pairs kept: ten counties of two or three versions, and room


def county_connection(version_file: str | Path, county_code: str | None) -> duckdb.DuckDBPyConnection:
    """The process's connection that sees only `county_code` of the published version `version_file` — or, with
    None, the city with its counties as the units (CITY_VIEWS) — made once per pair; run queries on a cursor of it
    each."""
    if county_code is not None and not re.fullmatch(r"\d{6}", county_code):
        raise ValueError(f"bad county code {county_code!r}")
    key = (str(Path(version_file).resolve()), county_code or CITY)
    with _LOCK:
        con = _CONS.get(key)
        if con is None:
            con = _make(Path(key[0]), county_code)
            if len(_CONS) >= _MAX:  # the oldest goes (cursors of it keep it alive while they run)
                _CONS.pop(next(iter(_CONS)))
            _CONS[key] = con
        return con


def scope_of(con: duckdb.DuckDBPyConnection) -> str | None:
    """The county a connection (or cursor) is scoped to (CITY: the counties-as-units connection), None for a
    connection to a whole version."""
    cur = con.cursor()  # never the connection itself: other sessions' threads run queries on it at the same time
    try:
        row = cur.execute(f"SELECT county_code FROM memory.main.{SCOPE_TABLE}").fetchone()
    except duckdb.Error:
        return None
    finally:
        cur.close()
    return row[0] if row else None


def version_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The version file a whole-version connection reads (None: not a file, e.g. a test's in-memory database)."""
    cur = con.cursor()  # as scope_of: a cursor of its own
    try:
        row = cur.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    finally:
        cur.close()
    return Path(row[0]) if row and row[0] else None


def for_county(con: duckdb.DuckDBPyConnection, county_code: str | None) -> duckdb.DuckDBPyConnection:
    """A connection for a query of `county_code` (None: the city by county): `con` itself when it is already that
    one, else the county connection of the version `con` reads. Scoped to another: refused."""
    from warehouse.metrics import ScopeError

    scoped = scope_of(con)
    if scoped is not None:
        if scoped != (county_code or CITY):
            raise ScopeError("connection scoped to another county")
        return con
    path = version_file(con)
    if path is None:
        raise ScopeError("a county scope needs a published version file")
    return county_connection(path, county_code)

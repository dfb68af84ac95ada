"""Build a complete warehouse from the lake into a new file, then publish it atomically.

Order: configuration tables → staging (latest version of every key, generated from the contract) →
warehouse/schema/*.sql in name order (dims, facts, aggregates, quality) → meta → checkpoint, close → publish.
The published facts are also exported as hive-partitioned Parquet under lake/published/<version>/.

A daily run starts its new file as a copy of the previous version and replaces only the changed days or months of
the month-local tables (MONTH_LOCAL) and the changed events of the key-local ones (KEY_LOCAL); every other table is
built again in full, by the same statements (`Reuse`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from core.config import Settings
from core.files import write_json
from core.spec import DATASETS, EVENT_CATEGORIES, KP_CATEGORIES, KP_OFFICES, OFFICE_KINDS, Dataset
from etl.lake import UNKNOWN_COUNTY, Lake, order_key
from warehouse import db, parquet, staged, statements

SCHEMA_VERSION = 1

_ARROW_TYPES = {"str": pa.string(), "code": pa.string(), "int": pa.int64(), "float": pa.float64(),
                "ts": pa.timestamp("us"), "date": pa.date32()}

# facts exported as Parquet, with the column whose month partitions them
PUBLISHED_PARQUET = {
    "dim_unit": None, "dim_account": None, "dim_reporting_unit": None, "dim_office": None,
    "fact_activity": "op_time", "fact_event": "reported_at", "fact_event_flow": "action_time",
    "fact_kp_report": "reported_at", "fact_kp_signoff": "reported_at", "fact_collection": "stat_date",
    "agg_account_day": "day", "agg_account_month": "month",
}


def empty_landed(ds: Dataset) -> pa.Table:
    fields = [pa.field(c.name, _ARROW_TYPES[c.type]) for c in ds.columns]
    fields += [pa.field("_row", pa.int64()), pa.field("_flags", pa.list_(pa.string())),
               pa.field("_file", pa.string()), pa.field("_delivery", pa.int64())]
    return pa.schema(fields).empty_table()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _delivery_order(lake: Lake) -> pa.Table:
    """delivery → its rank in the order of deliveries (etl.lake.order_key: from the delivery's name, never from
    when it landed; the delivery number only breaks a tie of equal names)."""
    mans = sorted(lake.manifests(), key=lambda m: (order_key(m), m["delivery"]))
    return pa.table({"_delivery": pa.array([m["delivery"] for m in mans], pa.int64()),
                     "_order": pa.array(range(len(mans)), pa.int64())})


def _rule_sql(ds: Dataset, src: str) -> str:
    """The staging rule, one definition for the full and the incremental build and for both engines (the Spark
    build runs it transpiled by warehouse/portable.py): of the rows of `src` (landed rows, or a previous state's
    current records with the new deliveries' rows), the current version of every key — the latest updated_at wins;
    ties: the later delivery by its order (delivery_order: by name, not by landing), then the later row of that
    delivery. The result keeps `_delivery` (the staged state stores it: a delivery inserted earlier in the order
    later shifts every rank, so ranks are looked up again at every merge). Portable SQL (no QUALIFY, no
    `* EXCLUDE`): the columns are listed; a key with an empty value never matches a duplicate (kept as it is).

    Performance: most keys are delivered once, so only the keys delivered more than once go through the window
    (on Spark a small set, broadcast: the landed rows are never shuffled for the joins)."""
    key = ", ".join(_q(k) for k in ds.key)
    cols = ", ".join(_q(c) for c in empty_landed(ds).column_names)
    return f"""
        WITH src AS MATERIALIZED (SELECT {cols} FROM {src}),
             dup AS (SELECT {key} FROM src GROUP BY {key} HAVING count(*) > 1)
        SELECT {cols} FROM src ANTI JOIN dup USING ({key})
        UNION ALL
        SELECT {cols} FROM (
            SELECT d.*, row_number() OVER (
                PARTITION BY {", ".join(f"d.{_q(k)}" for k in ds.key)}
                ORDER BY d.updated_at DESC NULLS LAST, coalesce(o._order, -1) DESC, d._delivery DESC,
                         d._row DESC) AS _rn
            FROM (SELECT src.* FROM src SEMI JOIN dup USING ({key})) d
            LEFT JOIN delivery_order o ON o._delivery = d._delivery) w
        WHERE _rn = 1"""


def _rule_contract() -> str:
    return "\n".join(_rule_sql(ds, "src") for ds in DATASETS.values()) + _month_sql(DATASETS["events"])


def _month_sql(ds: Dataset) -> str:
    """A staged record's month partition (as the lake's: the month of the dataset's month column)."""
    return _month_of(_q(ds.month_col))


def _month_of(expr: str) -> str:
    """The month label (YYYY-MM; 'none' without a time) of a time or date: staged partitions, replaced months."""
    return f"coalesce(strftime({expr}, '%Y-%m'), 'none')"


_PARQUET = "read_parquet($files, hive_partitioning = false, union_by_name = true)"


def _stage(con, lake: Lake, *, tolerance_hours: float = 24, built_at: dt.datetime | None = None,
           rebuild: bool = False, info: dict | None = None, unknown_kept: bool = False) -> None:
    """stg_<dataset> (TEMP): the current version of every key (_rule_sql); the quality bookkeeping (bookkeeping).

    Incremental (warehouse/staged.py): the previous build's staged state is kept as month-partitioned Parquet;
    when the lake holds the state's deliveries and more, only the new deliveries' rows are merged, with the
    state's records of the months they touch (the months of the new rows and those of the current records of
    their keys): the same rule over fewer rows gives the same winners, as the rule is a maximum over a total
    order. Months not touched are read back as they are. Anything else (no state, `rebuild`, a changed contract,
    a delivery removed or set aside, a state file missing or unreadable) stages from every landed part. Either way
    the new state is written."""
    bookkeeping(con, lake, tolerance_hours, built_at or dt.datetime.now())
    con.register("order_arrow", _delivery_order(lake))
    con.execute("CREATE TEMP TABLE delivery_order AS SELECT * FROM order_arrow")
    con.unregister("order_arrow")
    manifests = lake.manifests()
    rule = _rule_contract()
    pl = staged.plan(lake, manifests, rule, rebuild=rebuild)
    try:
        _stage_all(con, lake, pl, manifests, rule, info)
    except duckdb.Error as exc:  # a state file that cannot be read after all (its footer was readable)
        if pl.full:
            raise
        _drop_staging(con)
        _stage_all(con, lake, staged.Plan(True, f"state unreadable: {type(exc).__name__}"), manifests, rule, info)
    info = info if info is not None else {}
    # unknown_kept (Reuse.start): the previous version's dq_unknown_code is in the copy — after an incremental
    # staging, the rows of the datasets without a new delivery stay (their records are the previous state's)
    carried = ({ds for ds in DATASETS if not pl.new.get(ds)} if unknown_kept and info.get("mode") == "incremental"
               else set())
    unknown_codes(con, carried=carried, kept=unknown_kept)


_COUNTY_PART = re.compile(r"(?:^|/)county=([^/]+)/")


def bookkeeping(con, lake: Lake, tolerance_hours: float, built_at: dt.datetime) -> None:
    """The TEMP tables the quality statements (40_quality.sql) read besides the staged records, one definition for
    both engines' builds:

    - file_limit (file, lim): a delivered file's landing + the tolerance of the normaliser's future_time flag; a
      record's updated_at counts as freshness only up to it (later: future-dated, a wrong clock, counted apart, so
      that it never makes a stale feed look fresh); build_limit (lim): the limit of a record of a file with no
      manifest (the build time + the tolerance);
    - stg_landed (dataset, delivery, county_code, landed_rows): every delivery's landed rows per county partition
      of the lake (etl/lake.py: county=<code>; NULL for county=unknown and the layout before counties) — of the
      manifest when all its parts are of one partition, else of its part_rows (recorded at landing; the parts'
      Parquet footers for a delivery landed before)."""
    tol_us = int(round(tolerance_hours * 3600e6))
    con.execute("CREATE TEMP TABLE file_limit AS SELECT file, max(landed_at) + to_microseconds($tol_us) AS lim "
                "FROM etl_file GROUP BY ALL", {"tol_us": tol_us})
    con.execute("CREATE TEMP TABLE build_limit AS SELECT CAST($now AS TIMESTAMP) + to_microseconds($tol_us) AS lim",
                {"now": built_at, "tol_us": tol_us})
    rows, split = [], {}
    for m in lake.manifests():
        counties = {}
        for p in m["landed_parts"]:
            c = _COUNTY_PART.search(p)
            counties.setdefault(None if c is None or c.group(1) == UNKNOWN_COUNTY else c.group(1), []).append(p)
        if len(counties) == 1:
            rows.append((m["dataset"], m["delivery"], next(iter(counties)), m["rows_landed"]))
        for county, parts in (counties.items() if len(counties) > 1 else ()):
            for p in parts:
                if p in (m.get("part_rows") or {}):  # recorded at landing
                    rows.append((m["dataset"], m["delivery"], county, m["part_rows"][p]))
                else:
                    split[str(lake.root / p)] = (m["dataset"], m["delivery"], county)
    if split:  # a delivery of rows of several counties landed before part_rows: each part's rows from its footer
        for f, n in con.execute("SELECT file_name, num_rows FROM parquet_file_metadata($f)",
                                {"f": list(split)}).fetchall():
            rows.append((*split[f], n))
    con.register("landed_arrow", pa.table({
        "dataset": pa.array([r[0] for r in rows], pa.string()), "delivery": pa.array([r[1] for r in rows], pa.int64()),
        "county_code": pa.array([r[2] for r in rows], pa.string()),
        "landed_rows": pa.array([r[3] for r in rows], pa.int64())}))
    con.execute("CREATE TEMP TABLE stg_landed AS SELECT dataset, delivery, county_code, "
                "CAST(sum(landed_rows) AS BIGINT) AS landed_rows FROM landed_arrow GROUP BY ALL")
    con.unregister("landed_arrow")


def _stage_all(con, lake: Lake, pl: staged.Plan, manifests: list[dict], rule: str, info: dict | None) -> None:
    """Every dataset's stg_<dataset> by the plan, the new state committed."""
    writer = staged.Writer(lake, None if pl.full else pl.state)
    info = info if info is not None else {}
    info.update(mode="full" if pl.full else "incremental", reason=pl.reason, written=0, linked=0)
    try:
        for ds in DATASETS.values():
            landed, keep = _stage_dataset(con, lake, ds, pl, writer)
            info.setdefault("kept", {})[ds.name] = sorted(keep)  # the months linked unchanged (Reuse)
            for k, v in writer.dataset(ds.name, landed, keep=keep).items():
                info[k] += v
        writer.commit(manifests, rule)
    except BaseException:
        writer.abandon()
        raise
    if not pl.full:
        _stage_views(con, writer)


def _stage_views(con, writer: staged.Writer) -> None:
    """After an incremental staging: every stg_<ds> one scan of the new generation's files (the months merged and
    those linked), the merge's tables dropped.

    Memory: a view of the merged months' table UNION ALL the linked months' Parquet made the facts' ORDER BY run
    out of memory (DuckDB 2.0, a list column: 3 demo counties' fact_activity at a 1 GB memory_limit failed in under a
    second, the same rows in one Parquet scan sorted in 12 s; a prefecture's daily run failed at 4 GB): one scan
    sorts within the limit, spilling."""
    for ds in DATASETS:
        files = writer.files(ds)
        if not files:  # nothing staged: stg_<ds> stays the empty table
            continue
        con.execute(f"DROP VIEW IF EXISTS stg_{ds}")
        for kind, name in (("VIEW", f"stg_rest_{ds}"), ("TABLE", f"stg_new_{ds}")):
            con.execute(f"DROP {kind} IF EXISTS {name}")
        con.read_parquet(files, hive_partitioning=False, union_by_name=True).create_view(f"stg_state_{ds}")
        con.execute(f"CREATE TEMP VIEW stg_{ds} AS SELECT * EXCLUDE (_delivery) FROM stg_state_{ds}")


def _stage_dataset(con, lake: Lake, ds: Dataset, pl: staged.Plan, writer: staged.Writer) -> tuple[int, set[str]]:
    """stg_<ds>, its written months in writer.scratch(ds). Returns the landed rows of the dataset (all its landed
    parts) and the months to link from the previous state.

    Performance: in an incremental build only the merged months are a table (stg_new_<ds>), written as the new
    generation's months; stg_<ds> is then one view of the new generation's files (_stage_views)."""
    stg, month = f"stg_{ds.name}", _month_sql(ds)

    def write(table: str) -> None:  # the staged months written, partitioned as the lake (month=YYYY-MM)
        # performance: in any row order (the rule does not depend on it): 40 % less time for a county's activity.
        # DuckDB's own writer, not warehouse/parquet.py's: the rows come in no order of months, and pyarrow's
        # writer either holds a row group of every month (+0.9 GB at a county) or writes 4× the row groups, which
        # every daily run then reads (a county's day +0.06 s)
        keep_order = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
        con.execute("SET preserve_insertion_order = false")
        try:
            con.sql(f"SELECT *, {month} AS _month FROM {table}").to_parquet(
                str(writer.scratch(ds.name)), compression="zstd", partition_by=["_month"])
        finally:
            con.execute(f"SET preserve_insertion_order = {'true' if keep_order else 'false'}")

    def empty(name: str) -> None:
        con.register(f"empty_{ds.name}", empty_landed(ds))
        con.execute(f"CREATE TEMP TABLE {name} AS {_rule_sql(ds, f'empty_{ds.name}')}")
        con.unregister(f"empty_{ds.name}")

    if pl.full:
        files = lake.landed_files(ds.name)
        # performance: the landed Parquet is read once, straight into the dedupe (no temporary copy of every
        # landed row); the row count comes from the Parquet metadata. Staging tables are TEMP (never compressed
        # into the warehouse file, where dropping them would leave free blocks behind).
        if files:
            con.execute(f"CREATE TEMP TABLE {stg} AS {_rule_sql(ds, _PARQUET)}", {"files": files})
        else:
            empty(stg)
        write(stg)
        con.execute(f"ALTER TABLE {stg} DROP COLUMN _delivery")
        return (_parquet_rows(con, files) if files else 0), set()
    prev = writer.months_of(ds.name)
    old = [f for fs in prev.values() for f in fs]
    new = [str(lake.root / p) for m in pl.new.get(ds.name, []) for p in m["landed_parts"]]
    landed = pl.state["datasets"][ds.name]["landed_rows"] + (_parquet_rows(con, new) if new else 0)
    if not new:  # its months linked; stg_<ds>: _stage_views, over the new generation
        if not old:
            empty(stg)
            con.execute(f"ALTER TABLE {stg} DROP COLUMN _delivery")
        return landed, set(prev)
    state = "read_parquet($old, hive_partitioning = false, union_by_name = true)" if old else None
    touched = {r[0] for r in con.execute(_touched_sql(ds, state, _PARQUET),
                                         {"files": new, **({"old": old} if old else {})}).fetchall()}
    keep = set(prev) - touched
    merge = [f for m in sorted(touched & set(prev)) for f in prev[m]] + new
    con.execute(f"CREATE TEMP TABLE stg_new_{ds.name} AS {_rule_sql(ds, _PARQUET)}", {"files": merge})
    write(f"stg_new_{ds.name}")  # stg_<ds>: _stage_views, over the new generation (the months merged and kept)
    return landed, keep


def _touched_sql(ds: Dataset, state: str | None, delivered: str) -> str:
    """The staged months new rows touch, one definition for both engines (the Spark build runs it transpiled): the
    months of the rows of `delivered`, and those holding the current record of one of their keys in `state` (a
    staged state's records, each in the partition of its month; None: no state records)."""
    month, key = _month_sql(ds), ", ".join(_q(k) for k in ds.key)
    sql = f"SELECT DISTINCT {month} FROM {delivered}"
    if state:
        sql += (f" UNION SELECT DISTINCT {month} FROM {state} "
                f"SEMI JOIN (SELECT DISTINCT {key} FROM {delivered}) n USING ({key})")
    return sql


def _drop_staging(con) -> None:
    """The staging tables and views, before the checkpoint (the facts and dims hold everything they held; the
    views over the state's Parquet, which a relation creates outside TEMP, must not stay in the file)."""
    names = [n for ds in DATASETS for n in (f"stg_{ds}", f"stg_new_{ds}", f"stg_rest_{ds}", f"stg_state_{ds}")]
    for kind, name in con.execute("""
            SELECT 'VIEW', view_name FROM duckdb_views() WHERE list_contains($names, view_name)
            UNION ALL SELECT 'TABLE', table_name FROM duckdb_tables() WHERE list_contains($names, table_name)""",
                                  {"names": names}).fetchall():
        con.execute(f"DROP {kind} {name}")


def _parquet_rows(con, files: list[str]) -> int:
    return int(con.execute("SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata($files)",
                           {"files": files}).fetchall()[0][0])


_CAST = {"int": "BIGINT", "float": "DOUBLE", "date": "DATE", "ts": "TIMESTAMP"}
# the column a keyless quarantined row is looked up by (an equality join: never a scan of every landed row)
_ANCHORS = ("grid_code", "account_id", "unit_code", "event_id", "id_number", "reporter_account")


def _text(col) -> str:
    """A quarantined row's delivered value of `col` (raw JSON text), trimmed; NULL when empty."""
    return f"nullif(trim(json_extract_string(q.raw, '$.{col.name}')), '')"


def _delivered(col) -> str:
    """The delivered value as the landed column's type (NULL when it does not read as one)."""
    return f"TRY_CAST({_text(col)} AS {_CAST[col.type]})" if col.type in _CAST else _text(col)


def _quarantine_resolution(con, carried: set[str] = frozenset()) -> None:
    """q_resolution: the quarantined rows that a later delivery corrected — (delivery, source_row) of the entry,
    the correcting file and its delivery. The correcting delivery is later in the order of deliveries and landed
    after the entry's (a correction comes after the quarantine was seen: another part of the same export, landed
    in the same run, corrects nothing). One rule per row:

    - by record key: the current record of the entry's key (all key values delivered) came from a delivery later
      (in the order of deliveries, etl.lake.order_key) than the entry's. Key values are compared as the landed
      column's type (a date delivered as `2024/3/28` in the entry is not matched: it stays open);
    - a row whose key was missing: a current record of the same dataset from a later delivery that has the same
      value in the anchor column (the first of _ANCHORS the dataset has) and in every other column the entry
      delivered (compared as the column's type; coordinates and decimals left out, the normaliser converts
      them), with at least three such values in common — a corrected re-send of the row with its key filled in.
      A row the reader could not split into values (`_line`) is never matched: it stays open.

    `carried` (a daily build, Reuse.staged): datasets whose entries' resolution is the previous version's (TEMP
    q_resolution_prev) — no new delivery of them and no new delivery under a file name of theirs, so neither their
    records, their entries nor their files' order and landing changed.
    """
    con.execute("CREATE TEMP TABLE file_order AS SELECT file, max(delivery_order) AS ord, max(landed_at) AS landed "
                "FROM etl_file GROUP BY ALL")
    parts = []
    for ds in DATASETS.values():
        if ds.name in carried:
            continue
        keys = [ds.col(k) for k in ds.key]
        on_key = " AND ".join(f"s.{_q(k.name)} = {_delivered(k)}" for k in keys)
        parts.append(f"""
            SELECT q.delivery, q.source_row, s._file AS corrected_file, o.ord AS corrected_order, 'key' AS matched_by
            FROM quarantine q JOIN stg_{ds.name} s ON q.dataset = '{ds.name}' AND {on_key}
            JOIN file_order o ON o.file = s._file
            JOIN etl_file qf ON qf.delivery = q.delivery
            WHERE o.ord > qf.delivery_order AND o.landed > qf.landed_at
              AND json_extract_string(q.raw, '$._line') IS NULL""")
        anchor = next((c for c in _ANCHORS if c in ds.names and c not in ds.key), None)
        if anchor is None:
            continue
        # every delivered value but coordinates and numbers with decimals (the normaliser converts datums) must be
        # equal, compared as the column's type (a time in another format than ISO does not match: stays open)
        texts = [c for c in ds.columns if c.type != "float" and c.name not in ds.key and c.name != anchor
                 and c.name not in ("boundary", "coord_sys", "updated_at")]  # updated_at: the version, not content
        a = ds.col(anchor)
        same = " AND ".join([f"({_text(c)} IS NULL OR s.{_q(c.name)} = {_delivered(c)})" for c in texts]
                            or ["TRUE"])
        given = " + ".join([f"CAST({_text(c)} IS NOT NULL AS INTEGER)" for c in texts] or ["0"])
        missing = " OR ".join(f"{_delivered(k)} IS NULL" for k in keys)
        parts.append(f"""
            SELECT q.delivery, q.source_row, s._file, o.ord, 'content'
            FROM quarantine q JOIN (SELECT * FROM stg_{ds.name} SEMI JOIN q_late_file USING (_file)) s
                 ON q.dataset = '{ds.name}' AND s.{_q(anchor)} = {_delivered(a)}
            JOIN file_order o ON o.file = s._file
            JOIN etl_file qf ON qf.delivery = q.delivery
            WHERE o.ord > qf.delivery_order AND o.landed > qf.landed_at
              AND json_extract_string(q.raw, '$._line') IS NULL
              AND ({missing}) AND {same} AND 1 + {given} >= 3""")
    # performance: only records of files landed after the earliest quarantined row's delivery can correct one
    # (implied by `o.landed > qf.landed_at`); filtering first keeps the content match from pairing every
    # quarantined row with every record of its anchor (a county's activity: 20 s under some plans)
    con.execute("""CREATE TEMP TABLE q_late_file AS SELECT file AS _file FROM file_order
                   WHERE landed > (SELECT min(f.landed_at) FROM etl_file f SEMI JOIN quarantine q USING (delivery))""")
    prev = ("SELECT delivery, source_row, corrected_file, corrected_delivery, corrected_at, matched_by "
            "FROM q_resolution_prev")
    con.execute("CREATE TEMP TABLE q_resolution AS " + (f"""
        SELECT m.delivery, m.source_row, arg_min(m.corrected_file, m.corrected_order) AS corrected_file,
               arg_min(f.delivery, m.corrected_order) AS corrected_delivery,
               arg_min(f.landed_at, m.corrected_order) AS corrected_at, max(m.matched_by) AS matched_by
        FROM ({" UNION ALL ".join(parts)}) m
        JOIN etl_file f ON f.file = m.corrected_file AND f.delivery_order = m.corrected_order
        GROUP BY ALL""" if parts else prev) + (f" UNION ALL {prev}" if carried and parts else ""))
    con.execute("DROP TABLE file_order")
    con.execute("DROP TABLE q_late_file")


def unknown_codes(con, tables: dict[str, str] | None = None, *, carried: set[str] = frozenset(),
                  kept: bool = False) -> None:
    """dq_unknown_code: per dataset and code column, each delivered value not in the contract's code list (flag
    unknown_code:<column>) and how many current records hold it — the 数据质量 page names them. `tables`: the
    table holding each dataset's current records (default its staging table; warehouse/scoped.py: a county's).
    `kept`: a previous version's dq_unknown_code is there (a daily build's copy); its rows of the `carried`
    datasets (no new delivery: the same records) stay, the others' are counted again."""
    tables = tables or {ds: f"stg_{ds}" for ds in DATASETS}
    prev = None
    if kept:
        if carried:
            con.execute("CREATE TEMP TABLE dq_unknown_code_prev AS SELECT * FROM main.dq_unknown_code "
                        "WHERE list_contains($c, dataset)", {"c": sorted(carried)})
            prev = "SELECT * FROM dq_unknown_code_prev"
        con.execute("DROP TABLE main.dq_unknown_code")
    have = set(con.execute("SELECT table_name, column_name FROM duckdb_columns()").fetchall())
    ctes, parts = [], []
    for ds in DATASETS.values():
        cols = [c for c in ds.columns if c.type == "code" and c.codes and (tables[ds.name], c.name) in have]
        if not cols or ds.name in carried:
            continue
        # performance: one scan of the dataset's records for all its code columns, keeping the flagged ones (a
        # list's length is cheaper to test than its values: most records have no flag)
        ctes.append(f"u_{ds.name} AS MATERIALIZED (SELECT {', '.join(_q(c.name) for c in cols)}, _flags "
                    f"FROM {tables[ds.name]} WHERE len(_flags) > 0)")
        parts += [f"SELECT '{ds.name}' AS dataset, '{c.name}' AS column_name, '{c.header}' AS header, "
                  f"CAST({_q(c.name)} AS VARCHAR) AS code, count(*) AS n FROM u_{ds.name} "
                  f"WHERE list_contains(_flags, 'unknown_code:{c.name}') GROUP BY ALL" for c in cols]
    if prev:
        parts.append(prev)
    if not parts:
        con.execute("CREATE TABLE dq_unknown_code (dataset VARCHAR, column_name VARCHAR, header VARCHAR, "
                    "code VARCHAR, n BIGINT)")
        return
    con.execute(f"CREATE TABLE dq_unknown_code AS {'WITH ' + ', '.join(ctes) if ctes else ''} SELECT * FROM ("
                + " UNION ALL ".join(parts) + ") ORDER BY dataset, column_name, n DESC, code")


CONFIG_TABLES = ("cfg_county", "cfg_split", "cfg_kp_office", "cfg_kp_category", "cfg_event_category", "cfg_dataset",
                 "cfg_office_kind")  # _config_tables: of the settings and core/spec.py (both build inputs)


def _config_tables(con, settings: Settings) -> None:
    # the configured county's name: the fallback of dim_county for a county without a 县 row in org_units
    con.execute("CREATE TABLE cfg_county (county_code VARCHAR, county_name VARCHAR)")
    con.execute("INSERT INTO cfg_county VALUES ($1, $2)", [settings.county.code, settings.county.name])
    con.execute("CREATE TABLE cfg_split (township VARCHAR, urban_name VARCHAR, rural_name VARCHAR)")
    for s in settings.reporting_units.split:
        con.execute("INSERT INTO cfg_split VALUES ($1, $2, $3)", [s.township, s.urban_name, s.rural_name])
    con.execute("CREATE TABLE cfg_kp_office (category VARCHAR, office_kind VARCHAR)")
    for cat, offices in KP_OFFICES.items():
        for o in offices:
            con.execute("INSERT INTO cfg_kp_office VALUES ($1, $2)", [cat, OFFICE_KINDS[o]])
    con.execute("CREATE TABLE cfg_kp_category (category VARCHAR, category_order INTEGER)")
    for i, cat in enumerate(KP_CATEGORIES, 1):
        con.execute("INSERT INTO cfg_kp_category VALUES ($1, $2)", [cat, i])
    con.execute("CREATE TABLE cfg_event_category (category VARCHAR, category_order INTEGER)")
    for i, cat in enumerate(EVENT_CATEGORIES, 1):
        con.execute("INSERT INTO cfg_event_category VALUES ($1, $2)", [cat, i])
    con.execute("CREATE TABLE cfg_dataset (dataset VARCHAR, title VARCHAR)")  # the contract's datasets
    for ds in DATASETS.values():
        con.execute("INSERT INTO cfg_dataset VALUES ($1, $2)", [ds.name, ds.title])
    con.execute("CREATE TABLE cfg_office_kind (office_kind VARCHAR, kind_order INTEGER)")
    for i, kind in enumerate(OFFICE_KINDS.values(), 1):
        con.execute("INSERT INTO cfg_office_kind VALUES ($1, $2)", [kind, i])


def _etl_tables(con, lake: Lake, current_run: dict | None, settings: Settings | None = None,
                built_at: dt.datetime | None = None, version: str | None = None, *,
                quarantine_kept: bool = False) -> None:
    """The ETL's tables (etl_file, etl_run, etl_file_issue, source_health, quarantine). `quarantine_kept`: the
    previous version's quarantine table is in the copy (Reuse.start) — only the rows of deliveries it lacks are
    added (a delivery's quarantine part never changes), those of deliveries no longer in the lake removed."""
    mans = lake.manifests()
    rank = dict(zip(*_delivery_order(lake).to_pydict().values()))
    files = pa.Table.from_pylist([{
        "file": m["file"], "sha256": m["sha256"], "dataset": m["dataset"], "delivery": m["delivery"],
        "run_id": m.get("run_id"), "format": m.get("format"), "encoding": m.get("encoding"),
        "bytes": m.get("bytes"), "rows_in": m["rows_in"], "rows_landed": m["rows_landed"],
        "rows_quarantined": m["rows_quarantined"], "banner_rows": m.get("banner_rows", 0),
        "summary_rows": len(m.get("summary_rows") or []),
        "unknown_columns": "、".join(m.get("unknown_columns") or []),
        "missing_columns": "、".join(m.get("missing_columns") or []),
        "landed_at": dt.datetime.fromisoformat(m["landed_at"]), "seconds": m.get("seconds"),
        "delivery_order": rank.get(m["delivery"]),
        "headers": json.dumps(m.get("headers") or {}, ensure_ascii=False),  # the file's own headers
        "scope_township": (m.get("scope") or {}).get("township_code"),  # a 乡镇用户's upload: its 乡镇
    } for m in mans], schema=pa.schema([
        ("file", pa.string()), ("sha256", pa.string()), ("dataset", pa.string()), ("delivery", pa.int64()),
        ("run_id", pa.string()), ("format", pa.string()), ("encoding", pa.string()), ("bytes", pa.int64()),
        ("rows_in", pa.int64()), ("rows_landed", pa.int64()), ("rows_quarantined", pa.int64()),
        ("banner_rows", pa.int64()), ("summary_rows", pa.int64()), ("unknown_columns", pa.string()),
        ("missing_columns", pa.string()), ("landed_at", pa.timestamp("us")), ("seconds", pa.float64()),
        ("delivery_order", pa.int64()), ("headers", pa.string()), ("scope_township", pa.string())]))
    con.register("files_arrow", files)
    con.execute("CREATE TABLE etl_file AS SELECT * FROM files_arrow ORDER BY delivery")
    con.unregister("files_arrow")

    runs = [dict(r, final=True) for r in lake.runs() if not current_run or r["run_id"] != current_run["run_id"]]
    if current_run:
        # the run that builds this warehouse has not finished: its copy says which version it publishes (this
        # one) and has no end or duration yet (final = false); readers take those from its final record,
        # lake/runs/<run_id>.json (final_runs)
        runs.append(dict(current_run, final=False, finished_at=None, duration_s=None,
                         published=version or current_run.get("published")))
    run_schema = pa.schema([
        ("run_id", pa.string()), ("source", pa.string()), ("status", pa.string()),
        ("started_at", pa.timestamp("us")), ("finished_at", pa.timestamp("us")), ("duration_s", pa.float64()),
        ("files_new", pa.int64()), ("files_already_loaded", pa.int64()), ("files_failed", pa.int64()),
        ("files_ignored", pa.int64()), ("rows_in", pa.int64()), ("rows_landed", pa.int64()),
        ("rows_quarantined", pa.int64()), ("published", pa.string()), ("error", pa.string()),
        ("detail", pa.string()), ("final", pa.bool_()), ("run_seq", pa.int64())])
    ts = lambda v: dt.datetime.fromisoformat(v) if v else None  # noqa: E731
    con.register("runs_arrow", pa.Table.from_pylist([{
        "run_id": r["run_id"], "source": r.get("source"), "status": r.get("status"),
        "started_at": ts(r.get("started_at")), "finished_at": ts(r.get("finished_at")),
        "duration_s": r.get("duration_s"), "files_new": r.get("files_new", 0),
        "files_already_loaded": r.get("files_already_loaded", 0), "files_failed": len(r.get("files_failed") or []),
        "files_ignored": len(r.get("files_ignored") or []), "rows_in": r.get("rows_in", 0),
        "rows_landed": r.get("rows_landed", 0), "rows_quarantined": r.get("rows_quarantined", 0),
        "published": r.get("published"), "error": r.get("error"),
        "detail": json.dumps({k: r.get(k) for k in ("quarantine_by_reason", "rows_by_dataset")}, ensure_ascii=False),
        "final": r["final"], "run_seq": i,  # the order the runs started (started_at is to the second)
    } for i, r in enumerate(runs)], schema=run_schema))
    con.execute("CREATE TABLE etl_run AS SELECT * FROM runs_arrow")  # in the order of lake.runs(), this run last
    con.unregister("runs_arrow")

    latest = runs[-1] if runs else {}
    issues = [{"run_id": latest.get("run_id"), "file": f["file"], "kind": kind, "reason": f["reason"]}
              for kind, key in (("读取失败", "files_failed"), ("已忽略", "files_ignored"))
              for f in latest.get(key) or []]
    con.register("issues_arrow", pa.Table.from_pylist(issues, schema=pa.schema([
        ("run_id", pa.string()), ("file", pa.string()), ("kind", pa.string()), ("reason", pa.string())])))
    con.execute("CREATE TABLE etl_file_issue AS SELECT * FROM issues_arrow")
    con.unregister("issues_arrow")

    # the configured feeding sources (etl/sources: lake/state/sources.json) as of this build; the status is
    # recomputed against the current time by warehouse/sql/quality/source_health.sql
    from etl.sources import health

    hs = health(settings, lake_dir=lake.root, now=built_at) if settings is not None else []
    con.register("health_arrow", pa.Table.from_pylist([dict(h, checked_at=built_at) for h in hs], schema=pa.schema([
        ("name", pa.string()), ("kind", pa.string()), ("kind_label", pa.string()), ("source", pa.string()),
        ("status", pa.string()), ("status_label", pa.string()), ("last_attempt", pa.timestamp("us")),
        ("last_success", pa.timestamp("us")), ("last_failure", pa.timestamp("us")),
        ("last_new_data", pa.timestamp("us")), ("first_success", pa.timestamp("us")), ("error", pa.string()),
        ("quiet_hours", pa.float64()), ("message", pa.string()), ("checked_at", pa.timestamp("us"))])))
    con.execute("CREATE TABLE source_health AS SELECT * FROM health_arrow")
    con.unregister("health_arrow")

    qfiles = lake.quarantine_files()
    cols = "dataset, source_file, source_row, reason, reason_kind, raw, _delivery AS delivery"
    parquet = "read_parquet($f, hive_partitioning = false, union_by_name = true)"
    if quarantine_kept:
        parts = {m["delivery"]: str(lake.root / m["quarantine_part"]) for m in mans if m.get("quarantine_part")}
        have = {r[0] for r in con.execute("SELECT DISTINCT delivery FROM quarantine").fetchall()}
        if have - set(parts):
            con.execute("DELETE FROM quarantine WHERE list_contains($d, delivery)", {"d": sorted(have - set(parts))})
        if set(parts) - have:  # later deliveries: after the rows there, in the table's order
            con.execute(f"INSERT INTO quarantine SELECT {cols} FROM {parquet} ORDER BY delivery, source_row",
                        {"f": [parts[d] for d in sorted(set(parts) - have)]})
    elif qfiles:
        con.execute(f"CREATE TABLE quarantine AS SELECT {cols} FROM {parquet} ORDER BY delivery, source_row",
                    {"f": qfiles})
    else:
        con.execute("CREATE TABLE quarantine (dataset VARCHAR, source_file VARCHAR, source_row BIGINT, "
                    "reason VARCHAR, reason_kind VARCHAR, raw VARCHAR, delivery BIGINT)")


def data_days(con, now) -> tuple:
    """(first, last) day records really happened on: nothing later than `now`, nor a time the ETL flagged as later
    than the delivery was loaded (future_time: a clock or a typo, not the data's date)."""
    return con.execute("""
        SELECT least(a.first, e.first), greatest(a.last, e.last)
        FROM (SELECT min(op_date) AS first, max(op_date) AS last FROM fact_activity
              WHERE op_date <= $now AND NOT coalesce(list_contains(_flags, 'future_time'), FALSE)) a,
             (SELECT CAST(min(reported_at) AS DATE) AS first, CAST(max(reported_at) AS DATE) AS last FROM fact_event
              WHERE reported_at <= $now AND NOT coalesce(list_contains(_flags, 'future_time'), FALSE)) e
    """, {"now": now}).fetchone()


def schema_hash() -> str:
    """The hash of warehouse/schema/*.sql (names and text), kept in every version's meta: a published version built
    by other schema files (an upgrade that added a macro or changed a table) is stale, and the next ETL run builds
    it again (stale), instead of the app querying a file without the macros its queries now call."""
    h = hashlib.sha256()
    for f in statements.schema_files():
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def built_schema(path: Path) -> str | None:
    """The schema_hash a published version was built with (None: built before it was recorded)."""
    con = db.connect(path, read_only=True)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_hash'").fetchone()
    finally:
        con.close()
    return row[0] if row else None


def _meta(con, settings: Settings, version: str, built_at: dt.datetime) -> None:
    first, last = data_days(con, built_at)
    meta = {"schema_version": str(SCHEMA_VERSION), "schema_hash": schema_hash(), "version": version,
            "built_at": built_at.isoformat(sep=" "),
            "county_name": settings.county.name, "county_code": settings.county.code,
            "data_first_day": str(first) if first else "", "data_last_day": str(last) if last else ""}
    if settings.deployment.level == "city":  # a county deployment's meta is as it always was
        meta.update(deployment_level="city", city_name=settings.city.name, city_code=settings.city.code)
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))


def _warnings(con, settings: Settings) -> None:
    """预警 as of the data date, evaluated at publish (warehouse/warnings.py): the table `warning` of this version
    (the app and the CLI evaluate again, for any date; this is the record of what the publish raised)."""
    import pyarrow as pa

    from warehouse import warnings

    cur = con.cursor()  # its own cursor: the build's connection may hold the last statement's result
    ws = warnings.evaluate(cur, settings=settings)
    as_of = warnings.data_date(cur)
    rows = [{"as_of": as_of, "key": w.key, "level": w.level, "rule": w.rule, "unit_kind": w.unit_kind,
             "unit_code": w.unit_code, "unit": w.unit, "ru_code": w.ru_code, "township_code": w.township_code,
             "first_seen": w.first_seen, "reason": w.reason,
             "figures": json.dumps(w.figures, ensure_ascii=False, default=str)} for w in ws]
    cur.register("warning_arrow", pa.Table.from_pylist(rows, schema=pa.schema([
        ("as_of", pa.date32()), ("key", pa.string()), ("level", pa.string()), ("rule", pa.string()),
        ("unit_kind", pa.string()), ("unit_code", pa.string()), ("unit", pa.string()), ("ru_code", pa.string()),
        ("township_code", pa.string()), ("first_seen", pa.date32()), ("reason", pa.string()),
        ("figures", pa.string())])))
    cur.execute("CREATE TABLE warning AS SELECT * FROM warning_arrow")
    cur.unregister("warning_arrow")
    cur.close()

# ------------------------------------------------------------------------------------------ the daily run's tables
# Month-local tables: (dataset, column, grain). A day's (grain "day") or a month's rows of the table — the day or
# month of its column — depend only on the staged records of that day or month of the dataset (of its month
# column, as warehouse.staged partitions it) and on tables equal to the previous version's (checked at every
# reuse: Reuse.staged). tests/test_incremental.py proves the set: every table of a reusing build equals a full
# rebuild's.
MONTH_LOCAL = {"fact_activity": ("activity_log", "op_time", "day"), "agg_account_day": ("activity_log", "day", "day"),
               "agg_account_month": ("activity_log", "month", "month"),
               "agg_patrol_point": ("activity_log", "day", "day"), "agg_aq_day": ("activity_log", "day", "day"),
               "agg_aq_hour": ("activity_log", "day", "day"),
               "fact_collection": ("collection_stats", "stat_date", "month"),
               "dq_activity_file": ("activity_log", "month", "month")}
# month-local tables that also read the files' limits (build.bookkeeping: file_limit, build_limit), keeping the one
# each row was counted under in its `lim`: a month with a row whose limit changed is replaced too (_stale_months)
LIMITED = {"dq_activity_file": ("file_limit", "build_limit")}
# Key-local tables: (datasets, key). A row of the table depends only on the staged records of its key in those
# datasets (an event's record and its flow), on the rows of its key of the key-local tables before it, and on
# tables equal to the previous version's (checked at every reuse, as for MONTH_LOCAL). A daily run recomputes the
# rows of the keys its new deliveries of those datasets hold and replaces them (DELETE + INSERT): the other keys'
# current records did not change (the staging rule picks a key's record from its own versions only).
# tests/test_incremental.py proves the set, as MONTH_LOCAL's.
KEY_LOCAL = {"fact_event": (("events", "event_flow"), "event_id"),
             "fact_event_flow": (("events", "event_flow"), "event_id"),
             "agg_event": (("events", "event_flow"), "event_id")}
REUSED = {**MONTH_LOCAL, **KEY_LOCAL}  # the tables a reusing build keeps in the copy of the previous version
COMPARE_MAX_ROWS = 200_000  # a table others read, of at most this many rows: compared once built (Reuse)
MAX_DAYS = 31  # more changed days of a dataset than this: its day tables replace whole months
REUSE_FORMAT = 1  # how a version is reused; a change makes the next build a full one
# a previous version with more of its blocks free (and more than 64, 16 MB) is not reused: the next is written
# compactly (measured: 2–3 % free after daily runs at county scale, docs/performance.md)
MAX_FREE_SHARE = 0.25
_NEW = "_new_"  # a table built again, before it is compared with the previous version's (TEMP)
_MONTHS = "_months_"  # a month-local table's (or staging table's) changed months (TEMP)
_KEYS = "_keys_"  # the changed keys of the key-local tables, a key-local table's (or staging table's) rows of them


def build_inputs(settings: Settings) -> str:
    """What a version's tables are built under besides the lake: the schema files, this module and the two it reuses
    by (staged, statements, portable), the contract and vocabulary (core/spec.py: the configuration tables), the settings and DuckDB's version. A version is reused only by a build under the same
    (recorded in PUBLISHED.json)."""
    h = hashlib.sha256(f"{REUSE_FORMAT}\n{SCHEMA_VERSION}\n{duckdb.__version__}\n{schema_hash()}\n".encode())
    import core.spec

    for f in (Path(__file__), Path(staged.__file__), Path(statements.__file__), Path(__file__).with_name("portable.py"),
              Path(core.spec.__file__)):
        h.update(f.read_bytes())
    kept = settings.model_dump(mode="json")
    for section, keys in NOT_INPUTS.items():
        for k in keys:
            kept.get(section, {}).pop(k, None)
    h.update(json.dumps(kept, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


# settings that change how fast or where a build runs, never a table's rows: a change of them keeps the previous
# version reusable (lowering the memory limit after a run out of memory must not make the next run a full build)
NOT_INPUTS = {"etl": ("duckdb_memory_limit", "duckdb_threads", "workers", "parallel_min_mb"),
              "paths": ("keep_versions",)}


def state_digest(state: dict | None) -> str | None:
    """The identity of a staged state (its STATE.json: generation, deliveries, files with their sizes)."""
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest() if state else None


class Reuse:
    """A build that starts from a copy of the previous version (`previous`, its build record `record`:
    {"inputs": build_inputs, "state": state_digest of the staged state it was built from}).

    Used only when nothing can differ but the changed days or months: the previous version was built under the
    same inputs from the staged state this build's staging merges from (so the months staging kept are the
    previous version's months), the staging was incremental, and every table the month-local statements read
    (their text names it; through TEMP tables, the tables those read) is equal to the previous version's, EXCEPT
    ALL both ways. Then, at a month-local statement, only the changed days (grain "day") or months are computed —
    the same statement over the staged records of them, the recomputed rows of the tables of its grain and the
    rows of its months of a table by day — and replaced (DELETE + INSERT); every other statement runs as written.
    A table none of whose inputs changed is the previous version's, kept as it is: its inputs are the staged
    records of datasets without a new delivery, configuration tables (cfg_*: of the settings, a build input) and
    tables of the schema that are unchanged — kept, or built again and equal to the previous version's (the small
    ones that others read are compared, EXCEPT ALL both ways, COMPARE_MAX_ROWS). Any other name a statement (or a
    macro it calls) mentions — the ETL's tables, the build's bookkeeping — counts as changed.
    Key-local tables (KEY_LOCAL) likewise: only the rows of the keys the new deliveries hold are computed (the
    same statement over the staged records of those keys and the recomputed rows of the key-local tables before
    it) and replaced; a new row without a key: those tables built again in full.
    Anything else: a full build, in the copy (`fallback`: the reused tables dropped first) or in a new file;
    `info` says which and why (mode, reason, months, days, keys, kept, carried, replaced)."""

    def __init__(self, info: dict):
        self.info = info
        self.active = False
        self.deps: set[str] | None = set()
        self.months: dict[str, list[str]] = {}
        self.days: dict[str, list[dt.date] | None] = {}
        self.keys: int | None = None  # how many keys changed (None: the key-local tables built in full)
        self.same: set[str] = set()  # names whose rows are the previous version's (inputs, or compared)
        self.inputs: dict[str, set[str]] = {}  # a table statement's inputs (the names it and its macros read)
        self.compare: set[str] = set()  # tables compared with the previous version's once built
        self.kept: list[str] = []  # tables kept as the previous version's (their inputs unchanged)
        self.pending: set[str] = set()  # the previous version's tables of the schema whose statement is to come
        self.carried: set[str] = set()  # datasets whose quarantine resolution is the previous version's
        self.macros: set[str] = set()  # the previous version's macros, kept in the copy
        self.quarantine = False  # the previous version's quarantine table kept in the copy
        self.config = False  # the previous version's configuration tables kept in the copy
        self.unknown = False  # the previous version's dq_unknown_code kept in the copy
        self.key_months: dict[str, list[str]] = {}  # an exported key-local table's months of the changed rows

    def problem(self, previous: Path | None, record: dict | None, inputs: str, state: dict | None,
                rebuild: bool) -> str | None:
        """Why the previous version cannot be reused (None: it can be tried)."""
        if rebuild:
            return "rebuild"
        if previous is None:
            return "no previous version"
        if not record:
            return "previous version's build not recorded"
        if record.get("inputs") != inputs:
            return "schema, settings or DuckDB changed"
        if not state or record.get("state") != state_digest(state):
            return "previous version not built from the staged state merged from"
        return db.check_version(previous)

    def start(self, con) -> None:
        """In the copy: views dropped, and the tables the build creates outside the schema files (the ETL's, meta,
        warning …) but the configuration and the quarantine; the macros and the schema's tables stay, each table in
        place until its statement (`run`).

        Performance: no table is renamed (a checkpoint after renaming tables rewrote them: 0.05 s at county
        scale), and a table built again is dropped before its blocks are needed (staged: drops, then a
        checkpoint)."""
        main = "database_name = current_database() AND schema_name = 'main'"
        tables = {r[0] for r in con.execute(f"SELECT table_name FROM duckdb_tables() WHERE {main}").fetchall()}
        if set(REUSED) - tables:
            raise _NoReuse(f"previous version lacks {sorted(set(REUSED) - tables)}")
        total, free = con.execute("SELECT total_blocks, free_blocks FROM pragma_database_size()").fetchone()
        if free > max(MAX_FREE_SHARE * total, 64):  # the copies' free blocks grew: a new file, written compactly
            raise _NoReuse(f"{free} of {total} blocks free")
        for (name,) in con.execute(f"SELECT view_name FROM duckdb_views() WHERE {main} AND NOT internal").fetchall():
            con.execute(f"DROP VIEW main.{_q(name)}")
        # the macros stay: the previous version was built by the same schema files (build_inputs), its macros are
        # the ones their statements make (run skips those)
        macros = {r[0] for r in con.execute(f"""
                SELECT DISTINCT function_name FROM duckdb_functions()
                WHERE {main} AND function_type IN ('macro', 'table_macro') AND NOT internal""").fetchall()}
        schema = {st.name for st in _schema_statements() if st.kind == "table"}
        # kept in place: the quarantine (_etl_tables adds the new deliveries' rows) and the configuration tables (of
        # the settings and the spec, build inputs: the same as the previous version's)
        self.config = set(CONFIG_TABLES) <= tables
        for t in sorted(tables - set(REUSED) - schema - {"quarantine", "dq_unknown_code"}
                        - (set(CONFIG_TABLES) if self.config else set())):
            con.execute(f"DROP TABLE main.{_q(t)}")
        self.unknown = "dq_unknown_code" in tables  # kept: build.unknown_codes counts the new deliveries' again
        self.quarantine = "quarantine" in tables  # kept: _etl_tables adds the new deliveries' rows
        self.pending = (tables & schema) - set(REUSED)
        self.macros = macros  # last: a start that failed keeps none (its build is in a new file)
        self.active = True

    def staged(self, con, lake: Lake, staging: dict, before: dict | None, after: dict | None) -> None:
        """After staging: the months to replace per dataset (those staging did not keep, of the previous state and
        the new) and, for a dataset with day tables, the days within them (_changed_days); the tables the
        month-local statements read, compared with the previous version's — any difference, or a statement
        reading another dataset's months or a coarser table of its own: a full build."""
        if staging.get("mode") != "incremental":
            return self.fallback(con, f"staging {staging.get('mode')}: {staging.get('reason')}")
        inputs = {ds for ds, _, _ in MONTH_LOCAL.values()}
        for ds in sorted(inputs):
            kept = set((staging.get("kept") or {}).get(ds, []))
            months = set()
            for st in (before, after):
                months |= set(((st or {}).get("datasets") or {}).get(ds, {}).get("months", {}))
            self.months[ds] = sorted(months - kept)
            if self.months[ds] and any(d == ds and g == "day" for d, _, g in MONTH_LOCAL.values()):
                self.days[ds] = _changed_days(con, lake, ds, self.months[ds], before)
                if self.days[ds] is not None:  # the months that can differ: those of the changed days
                    self.months[ds] = sorted({f"{d:%Y-%m}" for d in self.days[ds]})
        for t, (ds, _, _) in MONTH_LOCAL.items():
            stale = _stale_months(con, t) if t in LIMITED else set()
            if stale - set(self.months[ds]):  # whole months of the dataset replaced: theirs, and the changed ones
                self.months[ds] = sorted(set(self.months[ds]) | stale)
                self.days[ds] = None
        self.info["months"] = {ds: m for ds, m in self.months.items() if m}
        self.info["days"] = {ds: [str(d) for d in v] for ds, v in self.days.items() if v is not None}
        self.keys = _changed_keys(con, lake, before)
        self.info["keys"] = {"event_id": "all" if self.keys is None else self.keys}
        stmts = _schema_statements()
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM "
                                           "duckdb_views() WHERE NOT internal").fetchall()}
        # and the tables made after staging that a statement may read (build._quarantine_resolution): never unchanged
        names |= {s.name for s in stmts if s.kind != "macro"} | {"q_resolution"}
        refs = {s.name: _names_in(s.body(), names - {s.name}) for s in stmts if s.kind in ("table", "temp")}
        temp = {s.name for s in stmts if s.kind == "temp"}
        self.inputs = _inputs(stmts, refs, names)
        month_of = {**{t: ds for t, (ds, _, _) in MONTH_LOCAL.items()}, **{f"stg_{ds}": ds for ds in inputs}}
        deps: set[str] = set()
        for t in REUSED:
            todo = [t]
            while todo:
                for r in refs.get(todo.pop(), ()):
                    if r in temp:
                        todo.append(r)
                    elif t in KEY_LOCAL and (r in KEY_LOCAL or r in {f"stg_{d}" for d in KEY_LOCAL[t][0]}):
                        continue  # its rows of the changed keys (run)
                    elif t in KEY_LOCAL and (r in month_of or r.startswith("stg_")):
                        return self.fallback(con, f"{t} reads {r}, not of its key")
                    elif r in LIMITED.get(t, ()):
                        continue  # the limits its rows were counted under: checked (_stale_months)
                    elif r in month_of:
                        if month_of[r] != month_of[t]:
                            return self.fallback(con, f"{t} reads {r}, of the months of another dataset")
                        if r in MONTH_LOCAL and (MONTH_LOCAL[r][2], MONTH_LOCAL[t][2]) == ("month", "day"):
                            return self.fallback(con, f"{t} (by day) reads {r} (by month)")
                    else:
                        deps.add(r)
        new = {m["dataset"] for m in _new_manifests(lake, before)}
        self._carry_resolution(con, lake, before)
        self.same = {f"stg_{ds}" for ds in DATASETS if ds not in new} | {n for n in names if n.startswith("cfg_")}
        self.same |= {t for t, (ds, _, _) in MONTH_LOCAL.items() if not self.months.get(ds)}
        if self.keys == 0:
            self.same |= set(KEY_LOCAL)
        if deps - self.pending - self.same:  # neither kept by construction nor comparable
            return self.fallback(con, f"previous version lacks {sorted(deps - self.pending - self.same)}")
        prev = self.pending
        rows = dict(con.execute("SELECT table_name, estimated_size FROM duckdb_tables() WHERE database_name = "
                                "current_database() AND schema_name = 'main'").fetchall())
        # the tables that may be kept: those whose inputs may all turn out unchanged (the small ones compared)
        small = {t for t in prev if rows.get(t, 0) <= COMPARE_MAX_ROWS}
        may = set(self.same)
        for st in stmts:
            if st.kind in ("table", "temp") and st.name not in REUSED and self.inputs[st.name] <= may | small:
                may.add(st.name)
        # compared once built: what the reused tables read, and the small tables a table that may be kept reads
        self.compare = deps | {r for st in stmts if st.kind in ("table", "temp") and st.name in may
                               for r in self.inputs[st.name] & small}
        # the previous version's tables that cannot be kept or compared: dropped, their blocks free for the new
        for t in sorted(prev - may - self.compare):
            con.execute(f"DROP TABLE main.{_q(t)}")
        self.pending = prev & (may | self.compare)
        con.execute("CHECKPOINT")
        self.deps = deps

    def _carry_resolution(self, con, lake: Lake, before: dict) -> None:
        """The datasets whose quarantine resolution is carried over (_quarantine_resolution): no new delivery of
        them, none under the name of a file of theirs (a workbook of several datasets); their resolved entries of
        the previous version's dq_quarantine, kept as q_resolution_prev (TEMP) before it is dropped."""
        names = {m["file"] for m in _new_manifests(lake, before)}
        self.carried = set(DATASETS) - {m["dataset"] for m in lake.manifests() if m["file"] in names}
        if "dq_quarantine" not in self.pending:
            self.carried = set()
            return
        con.execute("""CREATE TEMP TABLE q_resolution_prev AS
            SELECT delivery, source_row, corrected_file, corrected_delivery, corrected_at, matched_by
            FROM main.dq_quarantine WHERE corrected_file IS NOT NULL AND list_contains($carried, dataset)""",
                    {"carried": sorted(self.carried)})
        self.info["carried"] = sorted(self.carried)

    def run(self, con, s) -> None:
        """One schema statement: as written, or for a month-local table its changed months replaced, for a
        key-local one its changed keys, one whose inputs did not change kept."""
        if s.kind == "macro" and s.name in self.macros:  # kept in the copy (also after a fallback)
            return
        if not self.active or s.kind == "macro" or s.kind == "drop":
            con.execute(s.sql)
            return
        if s.kind == "temp":
            con.execute(s.sql)
            if self.inputs[s.name] <= self.same:
                self.same.add(s.name)
            return
        if s.name not in REUSED:
            return self._run_other(con, s)
        if self.deps is not None:  # at the first reused table's statement: what they read must be unchanged
            deps, self.deps = self.deps, None
            if deps - self.same:
                self.fallback(con, f"{sorted(deps - self.same)[0]} changed")
                con.execute(s.sql)
                return
        if s.name in KEY_LOCAL:
            return self._run_keys(con, s)
        ds, col, grain = MONTH_LOCAL[s.name]
        if not self.months[ds]:  # no month of its dataset changed: the previous version's rows stand
            return
        # what the statement reads of its dataset: the staged records of its days or months, the recomputed rows
        # of the tables of its grain, the (replaced) rows of its months of a table by day
        names = {}
        for r in _names_in(s.body(), {f"stg_{ds}", *(t for t, v in MONTH_LOCAL.items() if v[0] == ds)}):
            if r in MONTH_LOCAL and MONTH_LOCAL[r][2] == grain:
                names[r] = _MONTHS + r
                continue
            names[r] = f"{_MONTHS}{grain}_{r}"
            if not _table_exists(con, names[r]):
                pred, params = self._periods(DATASETS[ds].month_col if r == f"stg_{ds}" else MONTH_LOCAL[r][1],
                                             ds, grain)
                con.execute(f"CREATE TEMP TABLE {names[r]} AS SELECT * FROM {r} WHERE {pred}", params)
        body = re.sub(r"\b(" + "|".join(names) + r")\b", lambda m: names[m.group(1)], s.body()) if names \
            else s.body()
        con.execute(f"CREATE TEMP TABLE {_MONTHS}{s.name} AS {body}")
        pred, params = self._periods(col, ds, grain)
        con.execute(f"DELETE FROM main.{s.name} WHERE {pred}", params)
        con.execute(f"INSERT INTO main.{s.name} SELECT * FROM {_MONTHS}{s.name}")

    def _run_other(self, con, s) -> None:
        """A table neither month- nor key-local: kept when its inputs did not change, else built as written (and,
        when others read it, compared with the previous version's: equal, it counts as unchanged)."""
        if s.name not in self.pending:  # no previous version of it left (dropped: it is built again)
            con.execute(s.sql)
            return
        self.pending.discard(s.name)
        old = f"main.{_q(s.name)}"
        if self.inputs[s.name] <= self.same:
            self.same.add(s.name)
            self.kept.append(s.name)
            self.info["kept"] = self.kept
            return
        if s.name not in self.compare:
            con.execute(f"DROP TABLE {old}")
            con.execute(s.sql)
            return
        new = _q(_NEW + s.name)  # built (TEMP) and compared: equal, the previous version's stays
        con.execute(f"CREATE TEMP TABLE {new} AS {s.body()}")
        try:
            n = [con.execute(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})").fetchone()[0]
                 for a, b in ((old, new), (new, old))]
        except duckdb.Error:  # of other columns
            n = [1]
        if any(n):
            con.execute(f"DROP TABLE {old}")
            con.execute(f"CREATE TABLE {old} AS SELECT * FROM {new}")
        else:
            self.same.add(s.name)
        con.execute(f"DROP TABLE {new}")

    def _run_keys(self, con, s) -> None:
        """A key-local statement: the rows of the changed keys computed (its staged records and key-local tables
        restricted to them) and replaced; every key changed (None): the table built again as written."""
        datasets, key = KEY_LOCAL[s.name]
        if self.keys is None:
            con.execute(f"DROP TABLE main.{_q(s.name)}")
            con.execute(s.sql)
            return
        if not self.keys:  # no new record of its datasets: the previous version's rows stand
            return
        names = {}
        for r in _names_in(s.body(), {*(f"stg_{d}" for d in datasets), *KEY_LOCAL}):
            names[r] = _KEYS + r  # a key-local table before it: its recomputed rows (made by its own statement)
            if r not in KEY_LOCAL and not _table_exists(con, names[r]):
                con.execute(f"CREATE TEMP TABLE {names[r]} AS SELECT * FROM {r} SEMI JOIN {_KEYS}{key} USING ({key})")
        body = re.sub(r"\b(" + "|".join(names) + r")\b", lambda m: names[m.group(1)], s.body()) if names \
            else s.body()
        con.execute(f"CREATE TEMP TABLE {_KEYS}{s.name} AS {body}")
        if PUBLISHED_PARQUET.get(s.name):  # the months of its export that can differ: of the rows replaced
            ym = _month_of(_q(PUBLISHED_PARQUET[s.name]))
            self.key_months[s.name] = sorted(r[0] for r in con.execute(
                f"SELECT DISTINCT {ym} FROM main.{_q(s.name)} WHERE {key} IN (SELECT {key} FROM {_KEYS}{key}) "
                f"UNION SELECT DISTINCT {ym} FROM {_KEYS}{s.name}").fetchall())
        con.execute(f"DELETE FROM main.{_q(s.name)} WHERE {key} IN (SELECT {key} FROM {_KEYS}{key})")
        con.execute(f"INSERT INTO main.{_q(s.name)} SELECT * FROM {_KEYS}{s.name}")

    def _periods(self, col: str, ds: str, grain: str) -> tuple[str, dict]:
        """The filter on `col` for the changed days (grain "day", when known) or months of `ds`."""
        days = self.days.get(ds)
        return _in_days(col, days) if grain == "day" and days is not None else _in_months(col, self.months[ds])

    def finish(self, con) -> None:
        """After the schema statements: no table of the previous version left that no statement made; per
        exported table, the months of its export that can differ from the previous version's (info["replaced"],
        export_parquet): a month-local table's changed months, a key-local one's months of the changed rows, none
        for a table kept or built equal."""
        self._drop_pending(con)
        replaced = {}
        for t in PUBLISHED_PARQUET:
            if t in MONTH_LOCAL:
                replaced[t] = self.months.get(MONTH_LOCAL[t][0], [])
            elif t in self.key_months:
                replaced[t] = self.key_months[t]
            elif t in self.same:
                replaced[t] = []
        self.info["replaced"] = replaced

    def fallback(self, con, reason: str) -> None:
        """A full build in the copy from here: the reused tables dropped (before any was rebuilt)."""
        self.info.update(mode="full", reason=reason, months={}, days={})
        self.info.pop("keys", None)
        self.info.pop("kept", None)
        self.info.pop("carried", None)
        self.info.pop("replaced", None)
        self.carried = set()
        self.active = False
        self._drop_pending(con)
        for t in REUSED:
            con.execute(f"DROP TABLE IF EXISTS main.{_q(t)}")
        con.execute("CHECKPOINT")

    def _drop_pending(self, con) -> None:
        for t in sorted(self.pending):
            con.execute(f"DROP TABLE IF EXISTS main.{_q(t)}")
        self.pending = set()


class _NoReuse(Exception):
    """The copy of the previous version cannot be reused (a full build in a new file)."""


def _names_in(sql: str, names: set[str]) -> set[str]:
    words = set(re.findall(r"\w+", sql.lower()))
    return {n for n in names if n.lower() in words}


def _changed_days(con, lake: Lake, ds: str, months: list[str], before: dict) -> list[dt.date] | None:
    """The days (of the month column) of the records of `ds` that differ from the previous state `before`, within
    its changed months: the days of the new deliveries' keys, before (the state's record) and now (stg_<ds>) — a
    key's current record depends on its own versions only (_rule_sql), so no other record changed. None: a
    record without a time among them, or more than MAX_DAYS days (whole months are replaced)."""
    new = [str(lake.root / p) for m in _new_manifests(lake, before) if m["dataset"] == ds for p in m["landed_parts"]]
    if not new:  # months merged without a new delivery of the dataset: not the case this is made for
        return None
    info = (before.get("datasets") or {}).get(ds) or {"months": {}}
    root = staged.state_dir(lake) / before["generation"] / ds
    old = [str(root / rel) for m in months for rel in sorted(info["months"].get(m, {}))]
    d = DATASETS[ds]
    key, mc = ", ".join(_q(k) for k in d.key), _q(d.month_col)
    pred, params = _in_months(d.month_col, months)
    con.execute(f"CREATE TEMP TABLE {_MONTHS}keys_{ds} AS SELECT DISTINCT {key} FROM {_PARQUET}", {"files": new})
    q = f"SELECT DISTINCT CAST({mc} AS DATE) FROM stg_{ds} SEMI JOIN {_MONTHS}keys_{ds} USING ({key}) WHERE {pred}"
    if old:
        q += (f" UNION SELECT DISTINCT CAST({mc} AS DATE) FROM read_parquet($old, hive_partitioning = false, "
              f"union_by_name = true) SEMI JOIN {_MONTHS}keys_{ds} USING ({key})")
        params["old"] = old
    days = [r[0] for r in con.execute(q, params).fetchall()]
    con.execute(f"DROP TABLE {_MONTHS}keys_{ds}")
    return None if None in days or len(days) > MAX_DAYS else sorted(days)


def _stale_months(con, table: str) -> set[str]:
    """The months (YYYY-MM; 'none') of the previous version's rows of a LIMITED table whose limit is not the one
    its file has now (file_limit, else build_limit — which changes every build: a file without a manifest)."""
    return {r[0] for r in con.execute(f"""
        SELECT DISTINCT {_month_of("x.month")} FROM main.{_q(table)} x
        LEFT JOIN file_limit f ON f.file = x._file
        WHERE x.lim IS DISTINCT FROM coalesce(f.lim, (SELECT lim FROM build_limit))""").fetchall()}


def _table_exists(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = $t", {"t": name}).fetchone()[0])


def _new_manifests(lake: Lake, before: dict) -> list[dict]:
    """The manifests of the deliveries the previous state `before` does not hold (the daily run's new ones)."""
    held = before.get("deliveries") or {}
    return [m for m in lake.manifests() if m["sha256"] not in held]


def _schema_statements():
    return [s for f in statements.schema_files() for s in statements.statements(f)]


def _inputs(stmts, refs: dict[str, set[str]], names: set[str]) -> dict[str, set[str]]:
    """Every table statement's inputs: the names its query mentions (refs) and those of the macros it calls
    (and they call)."""
    macros = {s.name for s in stmts if s.kind == "macro"}
    macro_refs = {s.name: _names_in(s.sql, (names | macros) - {s.name}) for s in stmts if s.kind == "macro"}
    out = {}
    for s in stmts:
        if s.kind not in ("table", "temp"):
            continue
        used, todo = set(), list(_names_in(s.body(), macros))
        while todo:
            m = todo.pop()
            if m not in used:
                used.add(m)
                todo += list(macro_refs[m] & macros)
        out[s.name] = refs[s.name] | {r for m in used for r in macro_refs[m] if r not in macros}
    return out


def _changed_keys(con, lake: Lake, before: dict) -> int | None:
    """The keys of the key-local tables (KEY_LOCAL) whose records can differ from the previous state `before`:
    those of the new deliveries' rows of their datasets, in the TEMP table _keys_<key>. Returns how many; None: a
    new row without a key (its record is kept beside the others, never matched: the tables are built in full)."""
    datasets = {d for ds, _ in KEY_LOCAL.values() for d in ds}
    (key,) = {k for _, k in KEY_LOCAL.values()}
    new = [str(lake.root / p) for m in _new_manifests(lake, before) if m["dataset"] in datasets
           for p in m["landed_parts"]]
    if not new:
        con.execute(f"CREATE TEMP TABLE {_KEYS}{key} ({key} VARCHAR)")
        return 0
    con.execute(f"CREATE TEMP TABLE {_KEYS}{key} AS SELECT DISTINCT {key} FROM {_PARQUET}", {"files": new})
    n, nulls = con.execute(f"SELECT count(*), count(*) FILTER ({key} IS NULL) FROM {_KEYS}{key}").fetchone()
    return None if nulls else n


def _in_days(col: str, days: list[dt.date]) -> tuple[str, dict]:
    """A filter on `col` for rows of the days, as ranges (zone maps prune them)."""
    parts, params = [], {}
    for i, d in enumerate(days):
        params[f"lo{i}"], params[f"hi{i}"] = d, d + dt.timedelta(days=1)
        parts.append(f"({_q(col)} >= $lo{i} AND {_q(col)} < $hi{i})")
    return " OR ".join(parts) or "FALSE", params


def _in_months(col: str, months: list[str]) -> tuple[str, dict]:
    """A filter on `col` for rows of the months (YYYY-MM; 'none': no time), as ranges (zone maps prune them)."""
    parts, params = [], {}
    for i, m in enumerate(x for x in months if x != "none"):
        y, mo = int(m[:4]), int(m[5:7])
        params[f"lo{i}"], params[f"hi{i}"] = dt.date(y, mo, 1), dt.date(y + mo // 12, mo % 12 + 1, 1)
        parts.append(f"({_q(col)} >= $lo{i} AND {_q(col)} < $hi{i})")
    if "none" in months:
        parts.append(f"{_q(col)} IS NULL")
    return " OR ".join(parts) or "FALSE", params



def build(lake: Lake, path: Path, settings: Settings, *, current_run: dict | None = None,
          version: str = "", built_at: dt.datetime | None = None, rebuild: bool = False,
          staging: dict | None = None, previous: Path | None = None, previous_build: dict | None = None,
          tables: dict | None = None) -> dict:
    """Build a complete warehouse at `path` (which must not exist). Returns timings per step. `rebuild`: stage
    from every landed part, whatever the staged state (_stage), and build every table in full; `staging`, when
    given, receives how it staged. `previous`: the published version, `previous_build` its build record, which
    the build starts from when it can (Reuse); `tables`, when given, receives how the tables were built (mode,
    reason, the months replaced) and this version's build record ("record")."""
    timings = {}
    built_at = built_at or dt.datetime.now().replace(microsecond=0)
    staging = staging if staging is not None else {}
    info = tables if tables is not None else {}
    inputs = build_inputs(settings)
    before = staged.read_state(lake)
    reuse = Reuse(info)
    problem = reuse.problem(previous, previous_build, inputs, before, rebuild)
    info.update(mode="full" if problem else "incremental", reason=problem or "incremental", months={})
    if not problem:
        t = time.perf_counter()
        try:
            _copy_version(previous, path)
        except OSError as exc:
            path.unlink(missing_ok=True)
            info.update(mode="full", reason=f"copy failed: {exc}")
        timings["copy"] = time.perf_counter() - t

    def connect():
        return db.connect(path, read_only=False, threads=settings.etl.duckdb_threads,
                          memory_limit=settings.etl.duckdb_memory_limit)
    con = connect()
    if info["mode"] == "incremental":
        try:
            reuse.start(con)
        except (duckdb.Error, _NoReuse) as exc:  # the copy does not open as a version: a new file
            con.close()
            for p in path.parent.glob(path.name + "*"):
                p.unlink(missing_ok=True)
            info.update(mode="full", reason=f"previous version not reusable: {exc}")
            con = connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        t = time.perf_counter()
        if not (reuse.active and reuse.config):
            _config_tables(con, settings)
        _etl_tables(con, lake, current_run, settings, built_at, version or path.name,
                    quarantine_kept=reuse.active and reuse.quarantine)
        timings["etl_tables"] = time.perf_counter() - t
        t = time.perf_counter()
        _stage(con, lake, tolerance_hours=settings.etl.future_tolerance_hours, built_at=built_at, rebuild=rebuild,
               unknown_kept=reuse.active and reuse.unknown,
               info=staging)
        timings["staging"] = time.perf_counter() - t
        after = staged.read_state(lake)
        info["record"] = {"inputs": inputs, "state": state_digest(after)}
        if reuse.active:
            t = time.perf_counter()
            reuse.staged(con, lake, staging, before, after)
            timings["reuse"] = time.perf_counter() - t
        t = time.perf_counter()
        _quarantine_resolution(con, reuse.carried if reuse.active else set())
        timings["q_resolution"] = time.perf_counter() - t
        for f in statements.schema_files():
            t = time.perf_counter()
            if reuse.active or reuse.macros:  # after a fallback too: the macros kept are not made again
                for s in statements.statements(f):
                    ts = time.perf_counter()
                    reuse.run(con, s)
                    if s.kind != "macro":
                        timings[f"{f.stem}/{'drop ' if s.kind == 'drop' else ''}{s.name}"] = time.perf_counter() - ts
            else:
                con.execute(f.read_text(encoding="utf-8"))
            timings[f.stem] = time.perf_counter() - t
        if reuse.active:
            reuse.finish(con)
        _meta(con, settings, version or path.name, built_at)
        t = time.perf_counter()
        _warnings(con, settings)
        timings["warnings"] = time.perf_counter() - t
        t = time.perf_counter()
        _drop_staging(con)
        con.execute("CHECKPOINT")
        timings["checkpoint"] = time.perf_counter() - t
    finally:
        con.close()
    return timings


def _copy_version(src: Path, dst: Path) -> None:
    """The previous version's file copied to start the new one (never written: readers may hold it). In the
    kernel (copy_file_range: where the file system shares extents — XFS, Btrfs — a reflink, nothing copied; on
    ext4 a copy, 0.2–0.4 s for a county's 175 MB, docs/performance.md)."""
    try:
        with open(src, "rb") as i, open(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as o:
            n = os.fstat(i.fileno()).st_size
            while n > 0:
                k = os.copy_file_range(i.fileno(), o.fileno(), n)
                if k <= 0:
                    raise OSError("copy_file_range copied nothing")
                n -= k
    except (OSError, AttributeError):  # not supported here (another file system, an old kernel): a plain copy
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o600)  # personal data: owner-only, as every file of the warehouse


RUN_FINAL_COLUMNS = ("status", "finished_at", "duration_s", "published", "error")


def final_runs(runs, lake: Lake):
    """quality/runs rows (a DataFrame) with the warehouse's copy of an unfinished run (final = false: the run
    that built this version, copied before it ended) replaced by the run's final record in lake/runs/<run_id>.json:
    its status, end, duration, published version and error. Without a readable final record (the run was killed
    after publishing) the copy stays: duration and end empty, the version it published."""
    import pandas as pd

    runs = runs.copy()
    for i in runs.index[~runs["final"].fillna(True).astype(bool)]:
        try:
            rec = json.loads((lake.runs_dir / f"{runs.at[i, 'run_id']}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for c in RUN_FINAL_COLUMNS:
            if c not in runs.columns:
                continue
            v = rec.get(c)
            runs.at[i, c] = pd.Timestamp(v) if c == "finished_at" and v else v
        runs.at[i, "final"] = True
    return runs


FINGERPRINTS = "_fingerprints.json"


def export_parquet(version_file: Path, out_dir: Path, previous: Path | None = None,
                   replaced: dict[str, list[str]] | None = None) -> dict:
    """Published facts and dims as hive-partitioned (month=YYYY-MM), ZSTD Parquet for other engines.

    Incremental: each month partition has a fingerprint (row count and the sum of the rows' hashes); a month whose
    fingerprint equals the one in the `previous` export is hard-linked from there instead of written again, so a
    daily load rewrites only the months it touched. `replaced`: per table, the only months that can differ from
    the version `previous` is the export of ('none': the rows without a time; Reuse: the months it replaced) —
    the other months' fingerprints are taken from there, not computed again; a table without months that is in
    `replaced` (with no month: Reuse kept it, or built it equal) is linked from there. Returns {"written": n,
    "linked": n} month partitions."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    old: dict = {}
    if previous is not None and (previous / FINGERPRINTS).exists():
        old = json.loads((previous / FINGERPRINTS).read_text(encoding="utf-8"))
    fps: dict[str, dict[str, str]] = {}
    counts = {"written": 0, "linked": 0}
    con = db.connect(version_file, read_only=True)
    try:
        for table, month_col in PUBLISHED_PARQUET.items():
            if not month_col:
                same = previous is not None and replaced is not None and replaced.get(table) == [] \
                    and (previous / table / "part-0.parquet").is_file()
                if same:
                    _link_tree(previous / table, tmp / table)
                else:
                    (tmp / table).mkdir()
                    con.table(table).to_parquet(str(tmp / table / "part-0.parquet"), compression="zstd")
                continue
            ym = f"strftime({_q(month_col)}, '%Y-%m')"
            # a NULL month is written every time (never linked); a table with its own `month` column (a date)
            # is partitioned by it, as YYYY-MM
            where, params, fps[table] = "TRUE", {}, {}
            if replaced is not None and table in replaced and table in old:
                gone = {"" if m == "none" else m for m in replaced[table]}
                fps[table] = {m: fp for m, fp in old[table].items() if m not in gone}
                where, params = _in_months(month_col, replaced[table])
            fps[table].update({m or "": f"{n}:{h}" for m, n, h in con.execute(
                f"SELECT {ym}, count(*), sum(hash(t)::HUGEINT)::VARCHAR FROM {_q(table)} t WHERE {where} GROUP BY ALL",
                params).fetchall()})
            same = {m for m, fp in fps[table].items()
                    if m and old.get(table, {}).get(m) == fp and (previous / table / f"month={m}").is_dir()}
            changed = sorted(set(fps[table]) - same)
            if changed:  # written first: DuckDB writes partitions into a new directory
                cols = "* EXCLUDE (month)" if month_col == "month" else "*"
                where, params = _in_months(month_col, [m or "none" for m in changed])
                rel = con.sql(f"SELECT {cols}, {ym} AS month FROM {_q(table)} WHERE {where}", params=params)
                parquet.write_partitioned(rel, tmp / table, "month")
            (tmp / table).mkdir(exist_ok=True)
            for m in sorted(same):
                _link_tree(previous / table / f"month={m}", tmp / table / f"month={m}")
            counts["written"] += len(changed)
            counts["linked"] += len(same)
    finally:
        con.close()
    (tmp / FINGERPRINTS).write_text(json.dumps(fps, indent=1), encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return counts


def _link_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        try:
            os.link(f, dst / f.name)
        except OSError:  # another file system, or links not supported
            shutil.copy2(f, dst / f.name)


def build_and_publish(lake: Lake, warehouse_dir: Path, settings: Settings, *, current_run: dict | None = None,
                      export: bool = True, stats: dict | None = None, rebuild: bool = False, engine: str = "duckdb",
                      master: str = "local[*]") -> Path:
    """Build, publish, export. `stats`, when given, receives the seconds per build step ("build"), how staging
    went ("staging": full or incremental, why, state months written and linked), how the tables were built
    ("tables": incremental — a copy of the previous version with the changed months of the month-local tables
    replaced, Reuse — or full, why; the months replaced) and the export's written and linked month partitions
    ("export"). `rebuild`: stage from every landed part (never from the staged state) and build every table.
    engine "spark": the tables are computed by Spark (warehouse/spark_build.py, `master` its master URL) into the
    same serving DuckDB file."""
    built_at = dt.datetime.now().replace(microsecond=0)
    db.clean_building(Path(warehouse_dir))  # leftovers of killed builds (we hold the warehouse's lock)
    try:  # the export of the version now published is the one the new export can link from
        previous = db.current_version(warehouse_dir)
        before = previous.stem
    except db.NoWarehouse:
        previous = before = None
    tmp, final = db.new_version_path(warehouse_dir, built_at)
    tables: dict = {}
    try:
        staging: dict = {}
        if engine == "spark":
            from warehouse import spark_build

            timings = spark_build.build(lake, tmp, settings, current_run=current_run, version=final.name,
                                        built_at=built_at, master=master, rebuild=rebuild, staging=staging)
            tables = {"mode": "full", "reason": "spark"}
        else:
            kw = dict(current_run=current_run, version=final.name, built_at=built_at, rebuild=rebuild)
            try:
                timings = build(lake, tmp, settings, staging=staging, previous=previous,
                                previous_build=published_build(warehouse_dir, previous), tables=tables, **kw)
            except duckdb.Error as exc:  # reusing the previous version failed (a damaged block): build in full
                if tables.get("mode") != "incremental" or isinstance(exc, duckdb.OutOfMemoryException):
                    raise
                _remove_build(tmp)
                staging, tables = {}, {}
                timings = build(lake, tmp, settings, staging=staging, tables=tables, **kw)
                tables["reason"] = f"reuse failed: {type(exc).__name__}"
        published = db.publish(warehouse_dir, tmp, final, keep=settings.paths.keep_versions)
    except BaseException as exc:  # a failed build (a full disk) leaves nothing behind: its file, WAL, spill folder
        _remove_build(tmp)
        if isinstance(exc, (OSError, duckdb.IOException, duckdb.FatalException, duckdb.OutOfMemoryException)):
            raise db.WarehouseError(f"无法写入数据仓库 {tmp.parent}: {exc}") from exc
        raise
    if export:
        pub_root = lake.root / "published"
        t = time.perf_counter()
        # the months that can differ from the previous version's (Reuse.finish); the others: its export's
        replaced = tables.get("replaced") if tables.get("mode") == "incremental" else None
        counts = export_parquet(published, pub_root / published.stem, pub_root / before if before else None,
                                replaced=replaced)
        timings["export_parquet"] = time.perf_counter() - t
        keep = {p.stem for p in (Path(warehouse_dir) / db.VERSIONS).glob("wh-*.duckdb")}
        for d in pub_root.iterdir():
            if d.is_dir() and d.name not in keep:
                shutil.rmtree(d, ignore_errors=True)
        if stats is not None:
            stats["export"] = counts
    record = tables.pop("record", None)
    # after the export: a run killed in it exports again
    _mark_published(lake, warehouse_dir, published.name, build=record)
    if stats is not None:
        stats["build"] = {k: round(v, 3) for k, v in timings.items()}
        stats["staging"] = staging
        stats["tables"] = tables
    return published


def _remove_build(tmp: Path) -> None:
    for p in tmp.parent.glob(tmp.name + "*"):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


# in the warehouse directory: the version last published, what it holds and how it was built (its build record:
# what a next build may reuse it under, Reuse)
PUBLISHED_STATE = "PUBLISHED.json"


def _mark_published(lake: Lake, warehouse_dir: Path, version: str, build: dict | None = None) -> None:
    st = {"version": version, "deliveries": lake.fingerprint()}
    if build:
        st["build"] = build
    write_json(Path(warehouse_dir) / PUBLISHED_STATE, st)


def published_build(warehouse_dir: Path, version: Path | None) -> dict | None:
    """The build record of `version` (PUBLISHED.json's, when it names that version)."""
    if version is None:
        return None
    try:
        st = json.loads((Path(warehouse_dir) / PUBLISHED_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return st.get("build") if isinstance(st, dict) and st.get("version") == version.name else None


def stale(lake: Lake, warehouse_dir: Path) -> bool:
    """Called by every ETL run under the warehouse's lock: first removes the leftovers of killed builds
    (db.clean_building), then answers True when the lake's landed deliveries are not all in the published warehouse (e.g. a run died while
    building), or the published version is damaged (db.check_version: size, opens, has its meta table), or its
    Parquet export is missing, or it was built by other schema files (schema_hash: after an upgrade): the next run
    builds and publishes again."""
    db.clean_building(Path(warehouse_dir))
    if not lake.manifest_dir.exists():
        return False
    try:
        path = db.current_version(warehouse_dir)
    except db.NoWarehouse:
        return bool(lake.manifests())
    if db.check_version(path) is not None:  # the published file is damaged: publish again
        return True
    if built_schema(path) != schema_hash():  # built by other schema files (an upgrade): build it again
        return True
    if not (lake.root / "published" / path.stem / "_fingerprints.json").exists():
        return True  # its Parquet export is missing (a run killed while exporting): build and export again
    p = Path(warehouse_dir) / PUBLISHED_STATE
    if not p.exists():
        return True
    st = json.loads(p.read_text(encoding="utf-8"))
    return st.get("version") != path.name or st.get("deliveries") != lake.fingerprint()

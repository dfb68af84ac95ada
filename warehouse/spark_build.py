"""The build on Spark: the same warehouse as warehouse/build.py, its tables computed by Apache Spark.

    python -m warehouse build --engine spark [--master local[*] | spark://host:7077] [--warehouse PATH]

Spark reads the hive-partitioned Parquet lake (lake/landed/<dataset>/county=…/month=YYYY-MM/part-*.parquet), stages it
(the latest version of every key), and computes every dimension, fact and aggregate of warehouse/schema/*.sql —
the same statements, transpiled to Spark SQL by warehouse/portable.py — writing each table as Parquet. The serving
DuckDB file then gets, in order:

1. the tables the build makes in Python (cfg_*, etl_file, etl_run, etl_file_issue, source_health, quarantine:
   build._config_tables, build._etl_tables), the same code as the DuckDB build;
2. every schema file run over EMPTY staging tables: the macros the app calls (DuckDB-only) and every table, empty,
   with exactly the column types of the DuckDB build; Spark's Parquet is then loaded into them, cast to those
   types (a table of the serving file is the same table whichever engine computed its rows);
3. the quality tables over ETL bookkeeping (40_quality.sql: dq_flag, dataset_freshness, dq_quarantine) with the
   staging statistics, the unknown codes and the quarantine resolution (build.unknown_codes,
   build._quarantine_resolution), run by DuckDB over Spark's staged Parquet;
4. meta and the warnings of the publish (build._meta, build._warnings), CHECKPOINT — and build_and_publish
   publishes it with the same CURRENT switch, so the app and the metrics layer do not change.

Spark runs offline (no package downloads), without its UI, with the session time zone UTC and timestamps without
time zone (TIMESTAMP_NTZ, as the lake and DuckDB hold them), ANSI mode off (division by zero is NULL, as in DuckDB).
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from core.config import Settings
from core.spec import DATASETS, Dataset
from etl.lake import Lake
from warehouse import build as duck
from warehouse import db, portable

# the schema files whose tables DuckDB computes in a Spark build: the quality of the ETL bookkeeping, read from the
# tables made in Python (etl_file, quarantine, q_resolution, stg_stats); small whatever the lake holds
DUCKDB_SIDE = ("40_quality.sql",)

_SESSIONS: dict[str, object] = {}


def _spark_type(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return f"array<{_spark_type(t.value_type)}>"
    return {pa.string(): "string", pa.int64(): "bigint", pa.float64(): "double", pa.timestamp("us"): "timestamp_ntz",
            pa.date32(): "date"}[t]


def session(master: str = "local[*]"):
    """A Spark session for `master`, made once per process (a JVM start takes seconds)."""
    if master in _SESSIONS:
        return _SESSIONS[master]
    from pyspark.sql import SparkSession

    local = master.startswith("local")
    b = (SparkSession.builder.master(master).appName("gridwatch-build")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
         .config("spark.sql.ansi.enabled", "false")
         .config("spark.sql.adaptive.enabled", "true")
         .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
         .config("spark.sql.sources.partitionOverwriteMode", "static")
         .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
         .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC"))
    if local:
        b = (b.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.driver.memory", os.environ.get("GRIDWATCH_SPARK_DRIVER_MEMORY", "4g")))
    s = b.getOrCreate()
    s.sparkContext.setLogLevel("ERROR")
    _SESSIONS[master] = s
    return s


# performance: a shuffle partition per this many landed bytes (Parquet), at least one and at most two per core: small
# data in few partitions (each one is a task: on a county's lake their overhead is most of the time)
SHUFFLE_BYTES = 64 << 20


def tune(spark, lake: Lake) -> None:
    """Per build, for the size of the lake: the shuffle partitions; and on a lake smaller than one partition's
    bytes, no whole-stage code generation (compiling each query costs more than it saves on small data: a build of
    the test lake takes 25 % less)."""
    landed = sum(Path(f).stat().st_size for ds in DATASETS for f in lake.landed_files(ds))
    cores = spark.sparkContext.defaultParallelism
    spark.conf.set("spark.sql.shuffle.partitions", str(max(cores, min(2 * cores, -(-landed // SHUFFLE_BYTES)))))
    spark.conf.set("spark.sql.codegen.wholeStage", "false" if landed < SHUFFLE_BYTES else "true")


def stop_sessions() -> None:
    while _SESSIONS:
        _SESSIONS.popitem()[1].stop()


def _source(spark, ds: Dataset, files: list[str]):
    """The rows of `files` (landed parts, or staged state files) with the contract's schema, given (no
    footer-reading job to infer it); a column a part lacks reads as NULL, as DuckDB's union_by_name."""
    ddl = ", ".join(f"`{f.name}` {_spark_type(f.type)}" for f in duck.empty_landed(ds).schema)
    return spark.read.schema(ddl).parquet(*files) if files else spark.createDataFrame([], ddl)


def _stage(spark, lake: Lake, work: Path, order: Path, timings: dict) -> dict[str, str]:
    """stg_<dataset>: the latest version of every key by the one staging rule (build._rule_sql, transpiled by
    warehouse/portable.py). Written as Parquet (with `_delivery`; the view stg_<dataset> without it, as the DuckDB
    build's table); returns dataset → its folder."""
    spark.read.parquet(str(order)).createOrReplaceTempView("delivery_order")
    out = {}
    for ds in DATASETS.values():
        t = time.perf_counter()
        _source(spark, ds, lake.landed_files(ds.name)).createOrReplaceTempView("stg_src")
        df = spark.sql(portable.query_to_spark(duck._rule_sql(ds, "stg_src"), f"staging rule of {ds.name}"))
        out[ds.name] = str(work / "stg" / ds.name)
        df.write.mode("overwrite").parquet(out[ds.name])
        spark.read.parquet(out[ds.name]).drop("_delivery").createOrReplaceTempView(f"stg_{ds.name}")
        timings[f"spark/stg_{ds.name}"] = time.perf_counter() - t
    return out


def _spark_tables(spark, work: Path, plan, timings: dict) -> dict[str, str]:
    """Run every transpiled table statement in order; a table is written as Parquet and read back from there by
    the statements after it (each table computed once); a temporary one is cached, then dropped. Returns table →
    its folder; timings gets the seconds of each ("spark/<table>")."""
    out = {}
    temp = {}
    for stmt, sql in plan:
        t = time.perf_counter()
        if stmt.kind == "drop":
            if stmt.name in temp:
                temp.pop(stmt.name).unpersist()
            spark.catalog.dropTempView(stmt.name)
            continue
        df = spark.sql(sql)
        if stmt.kind == "temp":
            temp[stmt.name] = df.cache()
            df.createOrReplaceTempView(stmt.name)
            continue
        out[stmt.name] = str(work / "tables" / stmt.name)
        df.write.mode("overwrite").parquet(out[stmt.name])
        spark.read.parquet(out[stmt.name]).createOrReplaceTempView(stmt.name)
        timings[f"spark/{stmt.name}"] = time.perf_counter() - t
    return out


def _parts(folder: str) -> list[str]:
    """The Parquet parts Spark wrote into `folder`, in the order it wrote them."""
    return sorted(str(p) for p in Path(folder).glob("*.parquet"))


def _load(con, name: str, folder: str) -> None:
    """Spark's rows of `name` into the (empty) table of the DuckDB schema, cast to its column types, in the order
    Spark wrote them (part files by name)."""
    cols = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $t "
                       "ORDER BY ordinal_position", {"t": name}).fetchall()
    sel = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in cols)
    files = _parts(folder)
    if files:
        con.execute(f'INSERT INTO "{name}" SELECT {sel} FROM read_parquet($f)', {"f": files})


def _stage_stats(con, lake: Lake, tolerance_hours: float, built_at: dt.datetime) -> None:
    """stg_stats (and file_limit), as build._stage makes them: per dataset the landed rows, the current records,
    the newest updated_at no later than its delivery's landing + the tolerance, and the future-dated ones."""
    tol = {"tol_us": int(round(tolerance_hours * 3600e6)), "now": built_at}
    con.execute("CREATE TEMP TABLE file_limit AS SELECT file, max(landed_at) + to_microseconds($tol_us) AS lim "
                "FROM etl_file GROUP BY ALL", {"tol_us": tol["tol_us"]})
    stats = []
    for ds in DATASETS.values():
        files = lake.landed_files(ds.name)
        landed = con.execute("SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata($files)",
                             {"files": files}).fetchall()[0][0] if files else 0
        stats.append(duck.dataset_stats(con, ds, landed, tol))
    duck.write_stats(con, stats)


def build(lake: Lake, path: Path, settings: Settings, *, current_run: dict | None = None, version: str = "",
          built_at: dt.datetime | None = None, master: str = "local[*]") -> dict:
    """Build a complete warehouse at `path` (which must not exist) with Spark. Returns timings per step."""
    timings: dict[str, float] = {}
    built_at = built_at or dt.datetime.now().replace(microsecond=0)
    work = path.with_name(path.name + ".spark")  # removed with the build's leftovers (db.clean_building)
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    files = portable.schema_files()
    on_spark = [f for f in files if f.name not in DUCKDB_SIDE]
    plan = portable.spark_plan(files)  # every file must transpile, also the ones DuckDB runs here
    plan = [(s, sql) for s, sql in plan if s.file not in DUCKDB_SIDE]
    con = db.connect(path, read_only=False, threads=settings.etl.duckdb_threads,
                     memory_limit=settings.etl.duckdb_memory_limit)
    try:
        con.execute("SET preserve_insertion_order = true")
        t = time.perf_counter()
        duck._config_tables(con, settings)
        duck._etl_tables(con, lake, current_run, settings, built_at, version or path.name)
        for (name,) in con.execute("SELECT table_name FROM information_schema.tables "
                                   "WHERE table_name LIKE 'cfg_%'").fetchall():
            con.table(name).write_parquet(str(work / "in" / f"{name}.parquet"))
        order = work / "in" / "delivery_order.parquet"
        pq.write_table(duck._delivery_order(lake), order)
        timings["python_tables"] = time.perf_counter() - t

        t = time.perf_counter()
        spark = session(master)
        tune(spark, lake)
        timings["spark_session"] = time.perf_counter() - t
        t = time.perf_counter()
        for p in (work / "in").glob("cfg_*.parquet"):
            spark.read.parquet(str(p)).createOrReplaceTempView(p.stem)
        staged = _stage(spark, lake, work, order, timings)
        timings["spark_staging"] = time.perf_counter() - t
        t = time.perf_counter()
        tables = _spark_tables(spark, work, plan, timings)
        timings["spark_tables"] = time.perf_counter() - t

        # the DuckDB schema over empty staging: every macro, every table empty with the DuckDB build's types
        t = time.perf_counter()
        for ds in DATASETS.values():
            con.register(f"empty_{ds.name}", duck.empty_landed(ds))
            con.execute(f"CREATE TEMP TABLE stg_{ds.name} AS SELECT * EXCLUDE (_delivery) FROM empty_{ds.name}")
            con.unregister(f"empty_{ds.name}")
        for f in on_spark:
            con.execute(f.read_text(encoding="utf-8"))
        for ds in DATASETS:  # the staged rows, for the quality tables below
            con.execute(f"DROP TABLE stg_{ds}")
            parts = _parts(staged[ds])
            rel = con.read_parquet(parts) if parts else con.from_arrow(duck.empty_landed(DATASETS[ds]))
            rel.project("* EXCLUDE (_delivery)").to_view(f"stg_{ds}")
        con.execute("SET TimeZone = 'UTC'")  # the session time zone of Spark, should a value carry one
        for name, folder in tables.items():
            _load(con, name, folder)
        con.execute("RESET TimeZone")
        timings["load_duckdb"] = time.perf_counter() - t

        t = time.perf_counter()
        _stage_stats(con, lake, settings.etl.future_tolerance_hours, built_at)
        duck.unknown_codes(con)
        duck._quarantine_resolution(con)
        for f in files:
            if f.name in DUCKDB_SIDE:
                con.execute(f.read_text(encoding="utf-8"))
        timings["quality"] = time.perf_counter() - t
        duck._meta(con, settings, version or path.name, built_at)
        t = time.perf_counter()
        duck._warnings(con, settings)
        timings["warnings"] = time.perf_counter() - t
        for ds in DATASETS:
            con.execute(f"DROP VIEW stg_{ds}")
        con.execute("CHECKPOINT")
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
    return timings

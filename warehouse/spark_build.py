"""The build on Spark: the same warehouse as warehouse/build.py, its tables computed by Apache Spark.

    python -m warehouse build --engine spark [--master local[*] | spark://host:7077] [--warehouse PATH]

Spark reads the hive-partitioned Parquet lake (lake/landed/<dataset>/county=…/month=YYYY-MM/part-*.parquet), stages it
(the latest version of every key: build._rule_sql, into the staged state of warehouse/staged.py, incremental as
the DuckDB build), and computes every dimension, fact and aggregate of warehouse/schema/*.sql —
the same statements, transpiled to Spark SQL by warehouse/portable.py — writing each table as Parquet. The serving
DuckDB file then gets, in order:

1. the tables the build makes in Python (cfg_*, etl_file, etl_run, etl_file_issue, source_health, quarantine:
   build._config_tables, build._etl_tables), the same code as the DuckDB build;
2. every schema file run over EMPTY staging tables: the macros the app calls (DuckDB-only) and every table, empty,
   with exactly the column types of the DuckDB build; Spark's Parquet is then loaded into them, cast to those
   types (a table of the serving file is the same table whichever engine computed its rows);
3. the quality tables over ETL bookkeeping (40_quality.sql: dq_flag, dq_quarantine, the freshness per county and
   dataset_freshness) with the bookkeeping (build.bookkeeping: landed rows per county, future limits), the unknown
   codes and the quarantine resolution (build.unknown_codes, build._quarantine_resolution), run by DuckDB over
   Spark's staged Parquet;
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
from warehouse import db, portable, staged

# the schema files whose tables DuckDB computes in a Spark build: the quality of the ETL bookkeeping, read from the
# tables made in Python (etl_file, quarantine, q_resolution, the bookkeeping of build.bookkeeping); small whatever
# the lake holds
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


def _stage(spark, lake: Lake, order: Path, timings: dict, *, rebuild: bool = False,
           info: dict | None = None) -> dict[str, list[str]]:
    """stg_<dataset>: the latest version of every key by the one staging rule (build._rule_sql, transpiled by
    warehouse/portable.py), staged as the DuckDB build stages (build._stage): from the same staged state
    (warehouse/staged.py: the same plan, layout, contract and fallbacks), so either engine's build merges into the
    state the other left. Incremental: of the state, only the months the new deliveries touch (those of the new
    rows, and those holding the current record of one of their keys) are read, with the new deliveries' files,
    and written anew; the others are linked. Anything else (`rebuild`, no state, a changed contract, …) stages from
    every landed part. The view stg_<dataset> (without `_delivery`, as the DuckDB build's table) reads the new
    generation; returns dataset → its files there. `info` receives how it staged (as build._stage)."""
    spark.read.parquet(str(order)).createOrReplaceTempView("delivery_order")
    manifests = lake.manifests()
    rule = duck._rule_contract()
    pl = staged.plan(lake, manifests, rule, rebuild=rebuild)
    try:
        return _stage_all(spark, lake, pl, manifests, rule, timings, info)
    except Exception as exc:  # noqa: BLE001 — a state file Spark cannot read after all (its footer was readable)
        if pl.full:
            raise
        return _stage_all(spark, lake, staged.Plan(True, f"state unreadable: {type(exc).__name__}"), manifests,
                          rule, timings, info)


def _stage_all(spark, lake: Lake, pl: staged.Plan, manifests: list[dict], rule: str, timings: dict,
               info: dict | None) -> dict[str, list[str]]:
    writer = staged.Writer(lake, None if pl.full else pl.state)
    info = info if info is not None else {}
    info.update(mode="full" if pl.full else "incremental", reason=pl.reason, written=0, linked=0)
    try:
        for ds in DATASETS.values():
            t = time.perf_counter()
            landed, keep = _stage_dataset(spark, lake, ds, pl, writer)
            for k, v in writer.dataset(ds.name, landed, keep=keep).items():
                info[k] += v
            timings[f"spark/stg_{ds.name}"] = time.perf_counter() - t
        writer.commit(manifests, rule)
    except BaseException:
        writer.abandon()
        raise
    out = {}
    for ds in DATASETS.values():
        out[ds.name] = writer.files(ds.name)
        _source(spark, ds, out[ds.name]).drop("_delivery").createOrReplaceTempView(f"stg_{ds.name}")
    return out


def _stage_dataset(spark, lake: Lake, ds: Dataset, pl: staged.Plan, writer: staged.Writer) -> tuple[int, set[str]]:
    """The staged months of `ds` written into writer.scratch(ds) (as build._stage_dataset). Returns the landed
    rows of the dataset and the months to link from the previous state."""
    month = duck._month_sql(ds)

    def spark_sql(sql: str, what: str):
        return spark.sql(portable.query_to_spark(sql, f"{what} of {ds.name}"))

    def write(files: list[str]) -> None:  # the rule over `files`, partitioned as the lake (month=YYYY-MM)
        _source(spark, ds, files).createOrReplaceTempView("stg_src")
        spark_sql(duck._rule_sql(ds, "stg_src"), "staging rule").createOrReplaceTempView("stg_out")
        out = writer.scratch(ds.name)
        (spark_sql(f"SELECT *, {month} AS _month FROM stg_out", "staged month")
         .write.mode("overwrite").partitionBy("_month").option("compression", "zstd").parquet(str(out)))
        for p in sorted(out.rglob("*")):  # Spark's markers and checksums: the state holds the parts only
            if p.is_file() and (not p.name.endswith(".parquet") or p.name.startswith((".", "_"))):
                p.unlink()

    if pl.full:
        files = lake.landed_files(ds.name)
        write(files)
        return _rows(files), set()
    prev = writer.months_of(ds.name)
    new = [str(lake.root / p) for m in pl.new.get(ds.name, []) for p in m["landed_parts"]]
    landed = pl.state["datasets"][ds.name]["landed_rows"] + _rows(new)
    if not new:
        return landed, set(prev)
    _source(spark, ds, new).createOrReplaceTempView("stg_delivered")
    old = [f for fs in prev.values() for f in fs]
    if old:
        _source(spark, ds, old).createOrReplaceTempView("stg_state")
    touched = {r[0] for r in spark_sql(duck._touched_sql(ds, "stg_state" if old else None, "stg_delivered"),
                                       "months touched").collect()}
    write([f for m in sorted(touched & set(prev)) for f in prev[m]] + new)
    return landed, set(prev) - touched


def _rows(files: list[str]) -> int:
    return sum(pq.read_metadata(f).num_rows for f in files)


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


def build(lake: Lake, path: Path, settings: Settings, *, current_run: dict | None = None, version: str = "",
          built_at: dt.datetime | None = None, master: str = "local[*]", rebuild: bool = False,
          staging: dict | None = None) -> dict:
    """Build a complete warehouse at `path` (which must not exist) with Spark. Returns timings per step.
    `rebuild`: stage from every landed part, whatever the staged state; `staging` receives how it staged."""
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
        stg_files = _stage(spark, lake, order, timings, rebuild=rebuild, info=staging)
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
        for ds, parts in stg_files.items():  # the staged rows, for the quality tables below (none: stays empty)
            if parts:
                con.execute(f"DROP TABLE stg_{ds}")
                con.read_parquet(parts, union_by_name=True).project("* EXCLUDE (_delivery)").to_view(f"stg_{ds}")
        con.execute("SET TimeZone = 'UTC'")  # the session time zone of Spark, should a value carry one
        for name, folder in tables.items():
            _load(con, name, folder)
        con.execute("RESET TimeZone")
        timings["load_duckdb"] = time.perf_counter() - t

        t = time.perf_counter()
        duck.bookkeeping(con, lake, settings.etl.future_tolerance_hours, built_at)
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
        duck._drop_staging(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
    return timings

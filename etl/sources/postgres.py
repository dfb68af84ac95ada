"""The 前置库 (exchange database): one PostgreSQL table per dataset, English column names, `updated_at` on each.

Rows are read in bulk — `COPY (SELECT …) TO STDOUT (FORMAT csv)` straight into an Arrow table of strings — never
row by row. Each dataset is read in one REPEATABLE READ, READ ONLY transaction (one consistent snapshot), in
chunks of about `feeds.pg_batch_rows` rows cut at whole-second `updated_at` boundaries:

    T   = the updated_at of the n-th row with updated_at ≥ W + 1 s       (an index scan; None when fewer rows)
    rows: updated_at ≥ W − lookback  AND  updated_at < T + 1 s           (ORDER BY updated_at, ctid)

where W is the watermark (etl/sources/common.py). Every chunk holds at least one row newer than W, so a table in
which a million rows share one timestamp still makes progress. The very first pull of a table also takes the rows
whose updated_at is NULL (they are landed — quarantined, or given their fallback time — once); later pulls cannot
see such rows, and the run log counts them (`null_updated_at`).

Values are converted to text the way the file readers give them: timestamps as `YYYY-MM-DD HH:MM:SS` (timestamptz
converted to Asia/Shanghai), dates as `YYYY-MM-DD`, numbers in their shortest exact form, so one set of repair rules
serves every channel. What has no such form stays text for the normaliser to judge: `NaN`, `Infinity`, 20-digit
numerics, `infinity` and BC timestamps. Chunk bounds are computed in the database (as text), so no stamp has to fit
a Python datetime; a chunk that still cannot be converted is a BatchError (listed, the dataset stops there). Ties
between versions of a record with the same updated_at go to the later row in the table (ctid order; in a view, the
order of the view).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv

from core.config import Settings
from core.spec import DATASETS
from etl.lake import Lake
from etl.sources import cursor_for, pg_password, redact, scrub
from etl.sources.common import (
    Batch,
    BatchError,
    DatasetError,
    DatasetMissing,
    SourceError,
    batch_name,
    canonical_ts_array,
    finish,
)

TS_TYPES = ("timestamp without time zone", "timestamp with time zone", "date")
TZ = "Asia/Shanghai"


class PostgresSource:
    kind = "postgres"
    prefix = "pg"

    def __init__(self, url: str, settings: Settings, *, name: str | None = None, log: Callable[[str], None] = print):
        self.url = url
        self.display = redact(url)
        self.name = name or self.display
        self.settings = settings
        self.schema = settings.feeds.pg_schema
        self.log = log
        self._password = pg_password(settings, name, url)
        self._secrets = [self._password, urlsplit(url).password]
        self.conn = None

    # ---------------------------------------------------------------------------------------------- connection
    def __enter__(self) -> PostgresSource:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def connect(self) -> None:
        import psycopg

        kw = {"connect_timeout": self.settings.feeds.pg_connect_timeout_seconds,
              "application_name": "gridwatch-etl", "autocommit": True}
        if self._password:
            kw["password"] = self._password
        try:
            self.conn = psycopg.connect(self.url, **kw)
            for stmt in (f"SET TIME ZONE '{TZ}'", "SET DateStyle = 'ISO, YMD'", "SET extra_float_digits = 1",
                         "SET IntervalStyle = 'iso_8601'"):
                self.conn.execute(stmt)
        except psycopg.Error as exc:
            raise SourceError(f"无法连接前置库 {self.display}: {self.scrub(str(exc)).strip()}") from None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    # ---------------------------------------------------------------------------------------------- discovery
    def datasets(self, wanted: list[str] | None = None) -> list[str]:
        return [d for d in DATASETS if not wanted or d in wanted]

    def _columns(self, dataset: str) -> tuple[str, bool, dict[str, tuple[str, str]]]:
        """(table name, is a base table, {contract column: (column name, data type)})."""
        rows = self.conn.execute(
            "SELECT t.table_name, t.table_type, c.column_name, c.data_type FROM information_schema.tables t "
            "JOIN information_schema.columns c USING (table_schema, table_name) "
            "WHERE t.table_schema = %s AND lower(t.table_name) = %s ORDER BY c.ordinal_position",
            (self.schema, dataset)).fetchall()
        if not rows:
            raise DatasetMissing(f"前置库 {self.schema} 中没有表 {dataset}")
        table, ttype = rows[0][0], rows[0][1]
        cols = {}
        for _, _, col, typ in rows:
            cols.setdefault(col.lower(), (col, typ))
        return table, ttype == "BASE TABLE", cols

    # ---------------------------------------------------------------------------------------------- pulling
    def pull(self, dataset: str, lake: Lake, info: dict, load_time: dt.datetime) -> Iterator[Batch]:
        """Batches of new or changed rows of one table, oldest first; each batch's commit() moves the watermark.
        A chunk that cannot be converted stops this dataset with a BatchError naming it (the chunks before it are
        landed and committed; the rows from there on are read again next run). `info["watermark_to"]` is the
        watermark last saved."""
        import psycopg
        from psycopg import sql

        ds = DATASETS[dataset]
        try:
            table, is_table, cols = self._columns(dataset)
        except psycopg.OperationalError as exc:
            raise SourceError(f"前置库读取中断: {self.scrub(str(exc)).strip()}") from None
        except psycopg.Error as exc:
            raise DatasetError(f"前置库表 {dataset} 无法读取: {self.scrub(str(exc)).strip()}") from None
        if "updated_at" not in cols:
            raise DatasetError(f"前置库表 {table} 没有 updated_at 列, 无法增量读取")
        ua_type = cols["updated_at"][1]
        if ua_type not in TS_TYPES[:2]:
            raise DatasetError(f"前置库表 {table} 的 updated_at 类型为 {ua_type}, 应为 timestamp")
        present = [c for c in ds.names if c in cols]
        missing = [c for c in ds.names if c not in cols]
        unknown = [cols[k][0] for k in cols if k not in ds.names]
        # contract timestamps held as text by the 前置库: the zone rule of the other channels (canonical_ts)
        text_ts = [c for c in present if ds.col(c).type == "ts" and cols[c][1] not in TS_TYPES]
        select = sql.SQL(", ").join(self._expr(ds.col(c).type, *cols[c]) for c in present)
        src = sql.Identifier(self.schema, table)
        ua = sql.Identifier(cols["updated_at"][0])
        order = sql.SQL("{} NULLS FIRST, ctid").format(ua) if is_table else sql.SQL("{} NULLS FIRST").format(ua)
        cur = cursor_for(lake, self.url, dataset, self.settings, load_time)
        if cur.damaged:
            info["watermark_reset"] = cur.damaged.name
            self.log(f"  ! {dataset}: 水位文件损坏, 已移到 {cur.damaged.name}; 从头读取 (已导入的批次按摘要跳过)")
        n = self.settings.feeds.pg_batch_rows
        info.update(watermark_from=cur.watermark, watermark_to=cur.watermark, rows=0, batches=0)
        lit = sql.Literal
        local = self._local(ua, ua_type)  # updated_at as a local timestamp (Asia/Shanghai)

        def at(local_ts):  # a local timestamp expression, comparable with updated_at
            return sql.SQL("({} AT TIME ZONE {})").format(local_ts, lit(TZ)) if ua_type == TS_TYPES[1] else local_ts

        def save(state: dict) -> None:
            cur.save(state)
            info["watermark_to"] = state["watermark"]

        try:
            with self.conn.transaction():
                self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                info["null_updated_at"] = self.conn.execute(
                    sql.SQL("SELECT count(*) FROM {} WHERE {} IS NULL").format(src, ua)).fetchone()[0]
                if info["null_updated_at"] and cur.nulls_done:
                    self.log(f"  ! {table}: {info['null_updated_at']} 行 updated_at 为空, 增量读取看不到它们")
                # Chunk bounds stay in the database as text of a local whole second: a stamp Python cannot hold
                # (`infinity`, year 1 BC, year 10000) bounds a chunk like any other.
                pos: str | None = None  # the last whole second read in this snapshot
                while True:
                    # the chunk ends with the whole second of the n-th row after the previous chunk / the watermark
                    if pos is not None:
                        lo = at(sql.SQL("({}::timestamp + interval '1 second')").format(lit(pos)))
                    elif cur.watermark is not None:
                        lo = at(lit(cur.next_second()))
                    else:
                        lo = None
                    where_lo = sql.SQL("{} >= {}").format(ua, lo) if lo else sql.SQL("{} IS NOT NULL").format(ua)
                    row = self.conn.execute(sql.SQL(
                        "SELECT date_trunc('second', {})::text, isfinite({}) FROM {} WHERE {} ORDER BY {} "
                        "OFFSET {} LIMIT 1").format(local, ua, src, where_lo, ua, lit(n - 1))).fetchone()
                    # past the n-th row only when it is a real time: `infinity` + 1 s is `infinity` again
                    end = (at(sql.SQL("({}::timestamp + interval '1 second')").format(lit(row[0])))
                           if row and row[1] else None)
                    conds = []
                    if pos is not None:  # later chunks of the same snapshot follow on exactly
                        conds.append(sql.SQL("{} >= {}").format(ua, lo))
                    elif cur.watermark is not None:  # the first: from the watermark minus the look-back
                        conds.append(sql.SQL("{} >= {}").format(ua, at(lit(dt.datetime.fromisoformat(cur.since())))))
                    elif cur.nulls_done:
                        conds.append(sql.SQL("{} IS NOT NULL").format(ua))
                    if end:
                        if pos is None and cur.watermark is None and not cur.nulls_done:  # first pull ever
                            conds.append(sql.SQL("({} IS NULL OR {} < {})").format(ua, ua, end))
                        else:
                            conds.append(sql.SQL("{} < {}").format(ua, end))
                    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds) if conds else sql.SQL("")
                    q = sql.SQL("COPY (SELECT {} FROM {}{} ORDER BY {}) TO STDOUT (FORMAT csv)").format(
                        select, src, where, order)
                    try:
                        t = self._copy(q, dataset, present, text_ts)
                        t = cur.filter(t)
                        cur.advance(t)
                    except psycopg.Error:
                        raise
                    except Exception as exc:  # noqa: BLE001 — this chunk cannot be converted; the others can
                        after = cur.watermark or (pos and f"{pos} 之后") or "开头"
                        raise BatchError(f"{self.prefix}:{dataset} (自 {after} 起的一批)",
                                         f"无法转换: {type(exc).__name__}: {exc}") from None
                    state = cur.state()
                    info["rows"] += t.num_rows
                    info["batches"] += bool(t.num_rows)
                    yield Batch(name=batch_name(self.prefix, dataset, t), dataset=dataset, table=t, fmt="postgres",
                                unknown_columns=unknown, missing_columns=missing,
                                commit=lambda s=state: save(s))
                    if end is None:
                        break
                    pos = row[0]
        except psycopg.OperationalError as exc:
            raise SourceError(f"前置库读取中断 ({table}): {self.scrub(str(exc)).strip()}") from None
        except psycopg.Error as exc:
            raise DatasetError(f"前置库表 {table} 读取失败: {self.scrub(str(exc)).strip()}") from None

    @staticmethod
    def _local(col, typ: str):
        """A timestamp column as local time (Asia/Shanghai): timestamptz converted, timestamp as it is."""
        from psycopg import sql

        if typ == "timestamp with time zone":
            return sql.SQL("({} AT TIME ZONE {})").format(col, sql.Literal(TZ))
        return col

    @classmethod
    def _expr(cls, spec_type: str, col: str, typ: str):
        """The column as the text a file reader would give. Timestamps: local time (timestamptz converted to
        Asia/Shanghai, whatever the session's zone); one that has no `YYYY-MM-DD HH:MM:SS` form — `infinity`,
        a year BC — as PostgreSQL writes it, for the normaliser to judge (to_char would give NULL or drop the
        `BC`). Numbers as PostgreSQL writes them (`NaN`, `Infinity`, 20-digit numerics included)."""
        from psycopg import sql

        c = sql.Identifier(col)
        if typ in TS_TYPES:
            x = cls._local(c, typ)
            fmt = "YYYY-MM-DD" if spec_type == "date" or typ == "date" else "YYYY-MM-DD HH24:MI:SS"
            floor = "DATE '0001-01-01'" if typ == "date" else "TIMESTAMP '0001-01-01 00:00:00'"
            return sql.SQL("CASE WHEN isfinite({x}) AND {x} >= {floor} THEN to_char({x}, {fmt}) "
                           "ELSE {x}::text END").format(x=x, floor=sql.SQL(floor), fmt=sql.Literal(fmt))
        return sql.SQL("{}::text").format(c)

    def _copy(self, q, dataset: str, present: list[str], text_ts: list[str] = ()) -> pa.Table:
        chunks = []
        with self.conn.cursor() as cur, cur.copy(q) as copy:
            for data in copy:
                chunks.append(bytes(data))
        data = b"".join(chunks)
        if not data:
            return finish(dataset, {}, 0)
        try:
            t = _read_csv(data, present, 1 << 24)
        except pa.ArrowInvalid as exc:
            if "straddling" not in str(exc):
                raise
            t = _read_csv(data, present, len(data) + 1)  # one value (a boundary) larger than a block
        out = {c: t.column(c).combine_chunks() for c in present}
        for c in text_ts:
            out[c] = canonical_ts_array(out[c])
        return finish(dataset, out, t.num_rows)


def _read_csv(data: bytes, present: list[str], block: int) -> pa.Table:
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=present, block_size=block),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in present},
                                             strings_can_be_null=True, null_values=[""],
                                             quoted_strings_can_be_null=False))

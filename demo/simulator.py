"""The feed simulator: a drop folder (by default the demo county) as a 前置库 and as the provincial HTTP API.

    typed_tables(drop)                   the drop's records with proper types, in delivery order
    load_postgres(url, tables, …)        → one table per dataset (English names, proper types, index on updated_at)
    DemoApi(tables, token, faults=…)     → GET /api/v1/{dataset}?updated_since=&page=&page_size=, Bearer auth
    FaultPlan("429:0.1,500:0.1,…")       injected failures: 429 (Retry-After), 500, 503, 400, slow, drop, truncate, short,
                                         and pages that are valid JSON but unusable: not_list, not_object

Times: the API serves timestamps as local time (Asia/Shanghai) without a zone, `YYYY-MM-DDTHH:MM:SS`; records
put in with `upsert` are served as given (`Z`, `+08:00` and all). `updated_since` is read by the channels' one
zone rule (etl/sources/common.py canonical_ts): with a zone (`…+08:00`, `…Z`, as the client sends it) converted
to Asia/Shanghai, without one taken as local.

A database or an API delivers typed values, not text: the simulator reads the drop with the ETL's own readers and
types each value with the ETL's own parsing rules (etl/sql/macros.sql: gw_ts, gw_int, gw_float), so the records
are those of the files, minus what a typed store cannot hold — a timestamp or number that cannot be read becomes
NULL (such a row is still quarantined when the column is required), and an ID number's "stored as an Excel number"
doubt is gone. Text columns are kept as delivered (spaces, old category names, lower-case x and all), so the repair
rules are exercised on every channel. `updated_at`, empty in files for activity_log / event_flow /
collection_stats, is filled with its documented fallback, as the contract says every table has it.
"""
from __future__ import annotations

import bisect
import hmac
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from core.spec import DATASETS
from etl import readers
from etl.normalize import connect_memory
from etl.sources.common import canonical_ts

PG_TYPES = {"str": "text", "code": "text", "int": "bigint", "float": "double precision", "ts": "timestamp",
            "date": "date"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ------------------------------------------------------------------------------------------------ typed records
def typed_tables(drop: Path, log: Callable[[str], None] = lambda m: None) -> dict[str, pa.Table]:
    """Every dataset of a drop folder as one typed Arrow table, rows in delivery order (file date, name, row)."""
    from etl.pipeline import list_drop

    files, _ = list_drop(Path(drop))
    parts: dict[str, list[pa.Table]] = {d: [] for d in DATASETS}
    for p in files:
        try:
            ds, raw, _info = readers.read_file(p)
        except readers.ReadError as exc:
            log(f"  跳过 {p.name}: {exc}")
            continue
        parts[ds].append(raw.drop_columns(["_row"]))
    con = connect_memory()
    out = {}
    try:
        for ds, ts in parts.items():
            spec = DATASETS[ds]
            if ts:
                t = pa.concat_tables(ts)
            else:
                t = pa.table({c: pa.array([], pa.string()) for c in spec.names})
            t = t.append_column("_seq", pa.array(np.arange(t.num_rows, dtype="int64")))
            exprs = []
            for c in spec.columns:
                v = f"gw_clean(r.{_q(c.name)})"
                e = {"int": f"gw_int({v})", "float": f"gw_float({v})", "ts": f"gw_ts({v})",
                     "date": f"CAST(gw_ts({v}) AS DATE)"}.get(c.type, f"r.{_q(c.name)}")
                if c.name == "updated_at" and spec.updated_fallback:
                    fb = spec.updated_fallback
                    fbv = f"gw_ts(gw_clean(r.{_q(fb)}))"
                    e = (f"coalesce({e}, CAST(CAST({fbv} AS DATE) AS TIMESTAMP) + INTERVAL 86399 SECOND)"
                         if spec.col(fb).type == "date" else f"coalesce({e}, {fbv})")
                exprs.append(f"{e} AS {_q(c.name)}")
            con.register("r", t)
            try:
                out[ds] = con.sql(f"SELECT {', '.join(exprs)} FROM r ORDER BY _seq").to_arrow_table()
            finally:
                con.unregister("r")
    finally:
        con.close()
    return out


# ------------------------------------------------------------------------------------------------ PostgreSQL
def load_postgres(url: str, tables: dict[str, pa.Table], *, password: str | None = None, schema: str = "public",
                  log: Callable[[str], None] = lambda m: None) -> dict[str, int]:
    """(Re)create one table per dataset and COPY the rows in (in delivery order). Returns rows per table."""
    import psycopg
    from psycopg import sql

    kw = {"password": password} if password else {}
    counts = {}
    with psycopg.connect(url, autocommit=False, connect_timeout=10, **kw) as con:
        con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for ds, t in tables.items():
            spec = DATASETS[ds]
            name = sql.Identifier(schema, ds)
            cols = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(PG_TYPES[c.type]))
                                      for c in spec.columns)
            con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))
            con.execute(sql.SQL("CREATE TABLE {} ({})").format(name, cols))
            buf = pa.BufferOutputStream()
            pacsv.write_csv(t.select(spec.names), buf, pacsv.WriteOptions(include_header=False))
            with con.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                    name, sql.SQL(", ").join(sql.Identifier(c) for c in spec.names))) as copy:
                copy.write(buf.getvalue().to_pybytes())
            con.execute(sql.SQL("CREATE INDEX {} ON {} (updated_at)").format(
                sql.Identifier(f"{ds}_updated_at_idx"), name))
            con.execute(sql.SQL("ANALYZE {}").format(name))
            counts[ds] = t.num_rows
            log(f"  {ds:<20} {t.num_rows:>9} 行")
        con.commit()
    return counts


# ------------------------------------------------------------------------------------------------ faults
FAULT_KINDS = ("429", "500", "503", "400", "slow", "drop", "truncate", "short", "not_list", "not_object")


@dataclass
class FaultPlan:
    """Which requests fail, and how. `script`: the next requests' faults in order (None = answer normally), then
    `rates` (kind → probability) drawn with `seed`. Only requests for `datasets` (all when empty) are touched."""
    rates: dict[str, float] = field(default_factory=dict)
    script: list[str | None] = field(default_factory=list)
    seed: int = 0
    slow_seconds: float = 3.0
    retry_after: int = 1
    datasets: set[str] = field(default_factory=set)
    injected: list[tuple[str, str]] = field(default_factory=list)  # (request path+query, fault)

    def __post_init__(self):
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        for k in list(self.rates) + [s for s in self.script if s]:
            if k not in FAULT_KINDS:
                raise ValueError(f"unknown fault {k!r}; one of {FAULT_KINDS}")

    @classmethod
    def parse(cls, spec: str, seed: int = 0, **kw) -> FaultPlan:
        """`429:0.1,500:0.05,slow:0.02,drop:0.02` → rates."""
        rates = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            kind, _, rate = part.partition(":")
            rates[kind] = float(rate or 0.1)
        return cls(rates=rates, seed=seed, **kw)

    def next(self, dataset: str, what: str) -> str | None:
        if self.datasets and dataset not in self.datasets:
            return None
        with self._lock:
            if self.script:
                f = self.script.pop(0)
            else:
                f = None
                x = self._rng.random()
                for kind, rate in self.rates.items():
                    if x < rate:
                        f = kind
                        break
                    x -= rate
            if f:
                self.injected.append((what, f))
            return f


# ------------------------------------------------------------------------------------------------ HTTP API
class _Feed:
    """One dataset as served: rows sorted by (updated_at, delivery order), pre-serialised as JSON."""

    def __init__(self, dataset: str, table: pa.Table, con):
        self.dataset = dataset
        self.keys = DATASETS[dataset].key
        spec = DATASETS[dataset]
        exprs = []
        for c in spec.columns:
            v = f"t.{_q(c.name)}"
            if c.type == "ts":
                v = f"strftime({v}, '%Y-%m-%dT%H:%M:%S')"
            elif c.type == "date":
                v = f"strftime({v}, '%Y-%m-%d')"
            exprs.append(f"{_q(c.name)} := {v}")
        t = table.select(spec.names)
        t = t.append_column("_seq", pa.array(np.arange(t.num_rows, dtype="int64")))
        con.register("t", t)
        try:
            rows = con.execute(f"""
                SELECT strftime(t.updated_at, '%Y-%m-%d %H:%M:%S'), to_json(struct_pack({', '.join(exprs)})),
                       {', '.join(f'CAST(t.{_q(k)} AS VARCHAR)' for k in self.keys)}
                FROM t ORDER BY t.updated_at NULLS FIRST, t._seq""").fetchall()
        finally:
            con.unregister("t")
        self.lock = threading.Lock()
        self.rows = [(r[0], r[1], tuple(r[2:])) for r in rows]  # (updated_at or None, json, key)
        self._index()

    def _index(self) -> None:
        self.nulls = sum(1 for r in self.rows if r[0] is None)
        self.ts = [r[0] for r in self.rows[self.nulls:]]

    def upsert(self, records: list[dict]) -> None:
        """Records (English keys; timestamps as text; any JSON value, NaN included) that replace the rows with the
        same key, or are new; they go to the end of their updated_at (a later write)."""
        self._put([(rec.get("updated_at"), json.dumps(rec, ensure_ascii=False),
                    tuple(None if rec.get(k) is None else str(rec.get(k)) for k in self.keys)) for rec in records])

    def put_raw(self, updated_at: str | None, text: str, key: tuple | None = None) -> None:
        """One element of `data` exactly as given (JSON text: a string, a number, an object…), served in the
        order of `updated_at` — a record of a broken export. `key`: the row it replaces, if any."""
        self._put([(updated_at, text, key or ("\x00raw", text))])

    def remove(self, key: tuple) -> None:
        with self.lock:
            self.rows = [r for r in self.rows if r[2] != key]
            self._index()

    def _put(self, new: list[tuple]) -> None:
        with self.lock:
            new_keys = {k for _, _, k in new}
            rows = [r for r in self.rows if r[2] not in new_keys]
            for ua, text, key in new:
                rows.append((None if ua is None else canonical_ts(str(ua)), text, key))
            nulls = [r for r in rows if r[0] is None]
            rest = sorted((r for r in rows if r[0] is not None), key=lambda r: r[0])  # stable: later writes last
            self.rows = nulls + rest
            self._index()

    def page(self, since: str | None, page: int, size: int) -> tuple[list[str], int]:
        with self.lock:
            start = 0 if since is None else self.nulls + bisect.bisect_left(self.ts, since)
            total = len(self.rows) - start
            a = start + (page - 1) * size
            return [r[1] for r in self.rows[a:a + size]], total


class DemoApi:
    """The provincial API contract over typed tables; a ThreadingHTTPServer on its own thread."""

    def __init__(self, tables: dict[str, pa.Table], token: str, *, faults: FaultPlan | None = None,
                 max_page_size: int = 10000, log: Callable[[str], None] | None = None):
        self.token = token
        self.faults = faults or FaultPlan()
        self.max_page_size = max_page_size
        self.log = log
        self.requests = 0
        con = connect_memory()
        try:
            self.feeds = {ds: _Feed(ds, t, con) for ds, t in tables.items()}
        finally:
            con.close()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="demo-api", daemon=True)
        self.thread.start()
        return self.url

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8765) -> None:
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.server.serve_forever()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> DemoApi:
        if self.server is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _handler(api: DemoApi):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "gridwatch-demo-api/1"

        def log_message(self, fmt, *args):  # the request line only; never headers (the token)
            if api.log:
                api.log(f"{self.address_string()} {fmt % args}")

        def _send(self, status: int, obj: object, headers: dict | None = None) -> None:
            body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            api.requests += 1
            u = urlsplit(self.path)
            parts = [p for p in u.path.split("/") if p]
            if parts == ["healthz"]:
                return self._send(200, {"ok": True})
            got = self.headers.get("Authorization", "")
            if not hmac.compare_digest(got.encode(), f"Bearer {api.token}".encode()):
                return self._send(401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Bearer realm="gms"'})
            if parts == ["api", "v1"]:
                return self._send(200, {"datasets": sorted(api.feeds)})
            if len(parts) != 3 or parts[:2] != ["api", "v1"] or parts[2] not in api.feeds:
                return self._send(404, {"error": "not found"})
            ds = parts[2]
            qs = {k: v[-1] for k, v in parse_qs(u.query).items()}
            try:
                page = int(qs.get("page", 1))
                size = min(int(qs.get("page_size", 1000)), api.max_page_size)
                since = qs.get("updated_since")
                since = canonical_ts(since) if since else None
                if page < 1 or size < 1 or (since is not None and (len(since) != 19 or since[10] != " ")):
                    raise ValueError
            except ValueError:
                return self._send(400, {"error": "bad parameters"})
            fault = api.faults.next(ds, self.path)
            if fault in ("429",):
                return self._send(429, {"error": "too many requests"}, {"Retry-After": str(api.faults.retry_after)})
            if fault in ("500", "503"):
                return self._send(int(fault), {"error": "server error"})
            if fault == "400":
                return self._send(400, {"error": "bad request"})
            data, total = api.feeds[ds].page(since, page, size)
            if fault == "short" and data:
                data = data[:-1]
            if fault == "not_object" and data:
                data = data[:-1] + [json.dumps(f"第 {len(data)} 行", ensure_ascii=False)]
            items = "[" + ",".join(data) + "]"
            if fault == "not_list":
                items = '{"rows":' + items + "}"
            body = ('{"data":' + items + f',"page":{page},"page_size":{size},"total":{total}}}').encode("utf-8")
            if fault == "slow":
                time.sleep(api.faults.slow_seconds)
            if fault == "truncate":
                body = body[: max(1, len(body) // 2)]
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                if fault == "drop":  # half the promised body, then the connection goes away
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    import socket as _s

                    self.connection.shutdown(_s.SHUT_RDWR)
                    return
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


# ------------------------------------------------------------------------------------------------ demo helpers
def demo_drop(out: Path, *, months: int, seed: int, end_month: str | None, log=print) -> Path:
    """The demo county's file drop in `out` (generated when it holds no deliveries yet)."""
    from demo import generate

    out = Path(out)
    if not any(out.glob("*_*.*")) or not (out / "_demo_truth.json").exists():
        t0 = time.perf_counter()
        log(f"生成示例县数据 ({months} 个月) → {out}")
        generate(out, months=months, seed=seed, end_month=end_month)
        log(f"  用时 {time.perf_counter() - t0:.1f} 秒")
    return out

"""Shared by the channel tests: the demo county (generated once per test process), its file-drop warehouse, and a
fingerprint of every dim_/fact_/agg_ table to compare warehouses loaded through different channels."""
from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import shutil
import tempfile
import threading
from pathlib import Path

from core.config import Settings
from etl.pipeline import run
from warehouse import db

LOAD_TIME = dt.datetime(2030, 1, 1)
DEMO_MONTHS, DEMO_END = 2, "2025-02"
# columns that legitimately differ by channel: where a row came from, and in which delivery
CHANNEL_COLUMNS = {"_file", "_row", "delivery", "_delivery"}
# flags that only a file format can raise: an ID number typed into an Excel number cell (a typed store holds text)
CHANNEL_FLAGS = {"id_excel_number"}

_lock = threading.Lock()
_cache: dict[str, object] = {}


def settings(root: Path, **feeds) -> Settings:
    s = Settings().resolve(root)
    if feeds:
        s.feeds = s.feeds.model_copy(update=feeds)
    return s


def load(source, root: Path, s: Settings | None = None, **kw):
    res = run(source, s or settings(root), warehouse_dir=root / "wh", lake_dir=root / "lake", load_time=LOAD_TIME,
              log=kw.pop("log", lambda m: None), **kw)
    return res


def _tmp(prefix: str) -> Path:
    p = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, p, True)
    return p


def demo() -> dict:
    """{'drop': Path, 'tables': typed tables, 'files_wh': warehouse dir loaded from the files, 'files_fp': …}."""
    with _lock:
        if "demo" not in _cache:
            from demo import generate
            from demo.simulator import typed_tables

            root = _tmp("gridwatch-demo-")
            generate(root / "drop", months=DEMO_MONTHS, end_month=DEMO_END)
            res = load(root / "drop", root)
            assert res.status == "ok", res.error
            _cache["demo"] = {"drop": root / "drop", "tables": typed_tables(root / "drop"), "files_wh": root / "wh",
                              "files_fp": fingerprint(root / "wh"), "files_run": res}
        return _cache["demo"]


def fingerprint(wh: Path) -> dict[str, tuple[int, str]]:
    """Every dim_/fact_/agg_ table of the published warehouse: (rows, hash of its sorted rows), with the channel
    columns left out and the channel-only flags removed from `_flags`."""
    con = db.open_published(wh)
    try:
        out = {}
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE regexp_matches(table_name, '^(dim|fact|agg)_') "
            "ORDER BY 1").fetchall()]
        for t in tables:
            cols = [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall() if r[0] not in CHANNEL_COLUMNS]
            exprs = []
            for c in cols:
                if c == "_flags":
                    exprs.append("list_sort(list_filter(_flags, lambda x: NOT list_contains($drop, x))) AS _flags")
                else:
                    exprs.append(f'"{c}"')
            rows = con.execute(f"SELECT {', '.join(exprs)} FROM {t}",
                               {"drop": sorted(CHANNEL_FLAGS)} if "_flags" in cols else {}).fetchall()
            h = hashlib.sha256()
            for r in sorted(map(repr, rows)):
                h.update(r.encode())
            out[t] = (len(rows), h.hexdigest()[:16])
        return out
    finally:
        con.close()


def diff(a: dict, b: dict) -> dict:
    return {t: (a.get(t), b.get(t)) for t in sorted(set(a) | set(b)) if a.get(t) != b.get(t)}


def table_rows(wh: Path, sql: str, params=None) -> list[tuple]:
    con = db.open_published(wh)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()

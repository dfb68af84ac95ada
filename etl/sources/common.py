"""What the database and API channels share: batches, watermarks (cursors), and the string form of values.

A batch pulled from a 前置库 table or from API pages is a delivery like a file: it has a name
(`pg:events@2025-01-01T08:00:00..2025-02-28T23:59:59`), a digest computed from its content, and a table of
strings with `_row` — the same shape the file readers produce — so that one normaliser and one set of repair rules
serve every channel.

Watermarks (`Cursor`), per source and dataset, in `lake/state/watermarks/<source>/<dataset>.json`:
- `watermark` W: the newest `updated_at` (canonical text, whole seconds) among the rows landed so far;
- `seen`: a content hash → `updated_at` for every landed row with `updated_at ≥ W − lookback` (as text: a stamp
  that is no time, `infinity` or `不详`, sorts after every date and is remembered too, so it is landed once).
Each pull asks for `updated_at ≥ W − lookback` (lookback ≥ 1 s), so rows sharing the last timestamp, and rows
committed late with a slightly older one, are read again; the rows among them whose content is in `seen` were
landed already and are dropped, so nothing is lost and nothing is doubled. A row changed without a new
`updated_at` has a new hash and is taken. The watermark file is written (atomically) only after the batch's
manifest — a crash in between re-pulls the same rows, which give the same digest, which is skipped.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from core.spec import DATASETS
from etl.lake import write_json
from etl.readers import _cell_to_str, header_map

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # docs/feeds.md: timestamps are local time, Asia/Shanghai
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
CANONICAL_TS = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
_SURROGATE = re.compile("[\ud800-\udfff]")
_ISO_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$")
MIN_LOOKBACK = 1.0  # whole seconds: a source with sub-second timestamps or an exclusive `updated_since` loses nothing
# A watermark is never taken from a stamp before this (year 1, 1900-01-01: a default value, not a time of change):
# such rows are landed and judged by the normaliser, but W − lookback stays a time every server and Python can read.
WATERMARK_FLOOR = "1901-01-01 00:00:00"


class SourceError(Exception):
    """The source cannot be read now (connection refused, authentication, retries exhausted): stop this source."""


class DatasetError(Exception):
    """One dataset cannot be read (e.g. no updated_at column); the other datasets of the source go on."""


class DatasetMissing(DatasetError):
    """The source does not offer this dataset (no such table, 404): listed as ignored."""


class BatchError(DatasetError):
    """One batch or page cannot be read (an API page that is not a list of objects, a chunk the conversion cannot
    take): listed as failed with its name and reason; the dataset stops there — its watermark stays at the last
    landed batch, so the same rows are asked for again next run — and the other datasets go on."""

    def __init__(self, name: str, reason: str, rows: int | None = None):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason
        self.rows = rows  # the data rows it held, when they could be counted


# ------------------------------------------------------------------------------------------------ string form
def canonical_ts(v: object) -> object:
    """An ISO-8601 timestamp (`T`, fraction, `Z` or an offset, date only) → `YYYY-MM-DD HH:MM:SS` local time.
    The zone rule of every channel: a stamp with a zone (`Z`, `+08:00`, `-0500`) is converted to Asia/Shanghai,
    a stamp without one is already local. Anything else — and a zoned stamp whose local time Python cannot hold
    (year 1, year 9999 + 8 h) — is returned unchanged: the normaliser's rules decide about it. Never raises."""
    if not isinstance(v, str):
        return v
    s = v.strip()
    if len(s) == 19 and s[10] == " " and s[4] == "-":
        return s
    if not _ISO_LIKE.match(s):
        return v
    try:
        t = dt.datetime.fromisoformat(s.replace(",", "."))
        if t.tzinfo is not None:
            t = t.astimezone(LOCAL_TZ).replace(tzinfo=None)
        out = t.strftime(TS_FORMAT)
    except (ValueError, OverflowError):
        return v
    return out if len(out) == 19 else v  # a year before 1000 is not written with four digits everywhere


def local_iso(ts: str) -> str:
    """A canonical local timestamp as ISO 8601 with its Asia/Shanghai offset (`2024-03-04T00:00:00+08:00`): how
    `updated_since` is sent, so that a server reads it in the right zone whatever its own."""
    return _parse(ts).replace(tzinfo=LOCAL_TZ).isoformat()


def value_to_str(v: object) -> str | None:
    """A typed value as the readers would give it (integral floats without `.0`, nested values as JSON). A value
    no column can hold is kept as text the normaliser can judge — `NaN`, `Infinity`, 20-digit integers, `1e+20`
    — never dropped and never an exception."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return _cell_to_str(v)


def text_array(vals: list) -> tuple[pa.Array, int]:
    """Strings → an Arrow string array, and how many characters had to be replaced: a lone UTF-16 surrogate (JSON
    `"\\ud800"`) is no character and cannot be stored; it becomes U+FFFD (counted in the run log)."""
    try:
        return pa.array(vals, pa.string()), 0
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    n = 0
    out = []
    for v in vals:
        if isinstance(v, str):
            v, k = _SURROGATE.subn("\ufffd", v)
            n += k
        out.append(v)
    return pa.array(out, pa.string()), n


def finish(dataset: str, cols: dict[str, pa.Array | list], n: int) -> pa.Table:
    """The readers' shape: one string column per contract column (missing ones null) and `_row` = 1..n."""
    ds = DATASETS[dataset]
    arrays = []
    for c in ds.names:
        a = cols.get(c)
        if a is None:
            arrays.append(pa.nulls(n, pa.string()))
        elif isinstance(a, list):
            arrays.append(pa.array(a, type=pa.string()))
        else:
            arrays.append(a.cast(pa.string()) if a.type != pa.string() else a)
    arrays.append(pa.array(np.arange(1, n + 1, dtype="int64")))
    return pa.Table.from_arrays(arrays, names=ds.names + ["_row"])


def records_to_table(dataset: str, records: list[dict], info: dict | None = None) -> tuple[pa.Table, list[str]]:
    """API records (English keys, typed JSON values) → the string table; also the keys that are not contract
    columns. Timestamp columns are put in the canonical `YYYY-MM-DD HH:MM:SS` form (zones converted, see
    canonical_ts). Characters that cannot be stored are counted in `info["replaced_chars"]`. The caller has checked
    that every record is an object (a page that holds anything else is unreadable as a whole)."""
    ds = DATASETS[dataset]
    hm = header_map(ds)
    keys: dict[str, None] = {}
    for r in records:
        if not isinstance(r, dict):
            raise ValueError("data 中的记录不是 JSON 对象")
        keys.update(dict.fromkeys(r))
    cols: dict[str, list] = {}
    unknown = []
    replaced = 0
    for k in keys:
        name = hm.get(k) or hm.get(str(k).lower())
        if name is None or name in cols:
            unknown.append(_SURROGATE.sub("\ufffd", str(k)))  # listed in the manifest, which is UTF-8
            continue
        vals = [r.get(k) for r in records]
        if not all(v is None or isinstance(v, str) for v in vals):
            vals = [value_to_str(v) for v in vals]
        arr, n = text_array(vals)
        replaced += n
        cols[name] = canonical_ts_array(arr) if ds.col(name).type == "ts" else arr
    if replaced and info is not None:
        info["replaced_chars"] = info.get("replaced_chars", 0) + replaced
    return finish(dataset, cols, len(records)), unknown


def canonical_ts_array(arr: pa.Array) -> pa.Array:
    """canonical_ts over an array: `YYYY-MM-DDTHH:MM:SS` vectorised, the rarer ISO forms one by one."""
    plain_t = pc.fill_null(pc.match_substring_regex(arr, r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"), False)
    arr = pc.if_else(plain_t, pc.replace_substring(arr, "T", " ", max_replacements=1), arr)
    odd = pc.fill_null(pc.and_(pc.match_substring_regex(arr, r"^\d{4}-\d{2}-\d{2}"),
                               pc.invert(pc.match_substring_regex(arr, CANONICAL_TS))), False)
    idx = np.flatnonzero(odd.to_numpy(zero_copy_only=False))
    if not len(idx):
        return arr
    vals = arr.to_pylist()
    for i in idx:
        vals[i] = canonical_ts(vals[i])
    return pa.array(vals, pa.string())


def table_csv(table: pa.Table) -> bytes:
    body = table.drop_columns([c for c in ("_row",) if c in table.column_names])
    buf = pa.BufferOutputStream()
    pacsv.write_csv(body, buf)
    return buf.getvalue().to_pybytes()


def digest_of(dataset: str, table: pa.Table) -> tuple[str, int]:
    """The content digest of a batch (dataset + rows, in order) and its size as CSV. The same rows pulled again
    give the same digest, whichever channel they came through."""
    data = table_csv(table)
    h = hashlib.sha256(b"gridwatch-batch/1\n" + dataset.encode() + b"\n")
    h.update(data)
    return h.hexdigest(), len(data)


def row_hashes(table: pa.Table, names: list[str]) -> list[str]:
    cols = [table.column(c).to_pylist() for c in names]
    out = []
    for vals in zip(*cols):
        h = hashlib.blake2b(digest_size=12)
        for v in vals:
            h.update(b"\x00" if v is None else v.encode("utf-8"))
            h.update(b"\x1f")
        out.append(h.hexdigest())
    return out


def _parse(ts: str) -> dt.datetime:
    return dt.datetime.strptime(ts, TS_FORMAT)


# ------------------------------------------------------------------------------------------------ batches
@dataclass
class Batch:
    """One pull: landed like a file when it has rows; `commit()` advances the watermark (after landing)."""
    name: str
    dataset: str
    table: pa.Table
    fmt: str  # postgres | api
    last_ts: str | None = None
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    commit: Callable[[], None] = lambda: None
    _digest: tuple[str, int] | None = None

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = digest_of(self.dataset, self.table)
        return self._digest[0]

    @property
    def bytes(self) -> int:
        self.digest  # noqa: B018 — computes both
        return self._digest[1]


def batch_span(table: pa.Table) -> tuple[str | None, str | None]:
    ua = table.column("updated_at")
    ok = pc.fill_null(pc.match_substring_regex(ua, CANONICAL_TS), False)
    vals = ua.filter(ok)
    if len(vals) == 0:
        return None, None
    return pc.min(vals).as_py(), pc.max(vals).as_py()


def _max_ts(table: pa.Table, cap: str | None) -> str | None:
    """The newest canonical updated_at not beyond `cap`: a row stamped in the future (a wrong clock, a typo) is
    landed and flagged, but must not carry the watermark past rows that are still to come. Only a real time from
    WATERMARK_FLOOR on counts (`2024-13-45 25:00:00` has the shape, not the meaning)."""
    ua = table.column("updated_at")
    real = pc.is_valid(pc.strptime(ua, format=TS_FORMAT, unit="s", error_is_null=True))
    ok = pc.and_(pc.and_(pc.match_substring_regex(ua, CANONICAL_TS), real),
                 pc.greater_equal(ua, WATERMARK_FLOOR))
    if cap is not None:
        ok = pc.and_(ok, pc.less_equal(ua, cap))
    vals = ua.filter(pc.fill_null(ok, False))
    return pc.max(vals).as_py() if len(vals) else None


def batch_name(prefix: str, dataset: str, table: pa.Table) -> str:
    lo, hi = batch_span(table)
    fmt = lambda s: s.replace(" ", "T") if s else "∅"  # noqa: E731
    return f"{prefix}:{dataset}@{fmt(lo)}..{fmt(hi)}"


# ------------------------------------------------------------------------------------------------ watermarks
class Cursor:
    """The watermark of one dataset of one source (see the module docstring). The running cursor moves as rows
    are pulled; `state()` snapshots it and `save(state)` makes a snapshot durable once its rows are landed."""

    def __init__(self, path: Path, dataset: str, lookback: float, source: str = "", cap: str | None = None):
        self.path = Path(path)
        self.cap = cap  # timestamps beyond this (the load time + the future tolerance) never move the watermark
        self.dataset = dataset
        self.source = source
        self.lookback = max(float(lookback), MIN_LOOKBACK)
        self.names = DATASETS[dataset].names
        self.damaged: Path | None = None  # where an unreadable watermark file was put aside
        st = self._load()
        self.watermark: str | None = st.get("watermark")
        self.seen: dict[str, str] = dict(st.get("seen") or {})
        self.nulls_done: bool = bool(st.get("nulls_done"))
        self.extra: dict = dict(st.get("extra") or {})

    def _load(self) -> dict:
        """The saved state; a file that is damaged (not JSON, a watermark that is no time) is moved aside and the
        dataset is read from the start — the batches landed before give the same digests and are skipped."""
        if not self.path.exists():
            return {}
        try:
            st = json.loads(self.path.read_text(encoding="utf-8"))
            w = st.get("watermark")
            if w is not None:
                _parse(w)
            if not all(isinstance(v, str) for v in dict(st.get("seen") or {}).values()):
                raise ValueError("seen")
            dict(st.get("extra") or {})
            return st
        except (OSError, ValueError, TypeError, AttributeError):
            aside = self.path.with_name(f"{self.path.name}.damaged-{dt.datetime.now():%Y%m%dT%H%M%S}")
            os.replace(self.path, aside)
            self.damaged = aside
            return {}

    def since(self) -> str | None:
        """Where the next pull starts: the watermark minus the look-back, or None (everything)."""
        if self.watermark is None:
            return None
        return (_parse(self.watermark) - dt.timedelta(seconds=self.lookback)).strftime(TS_FORMAT)

    def next_second(self) -> dt.datetime | None:
        return None if self.watermark is None else _parse(self.watermark) + dt.timedelta(seconds=1)

    def filter(self, t: pa.Table) -> pa.Table:
        """Drop the rows already landed (content in `seen`)."""
        if not self.seen or t.num_rows == 0:
            return t
        stamps = pa.array(sorted(set(self.seen.values())), pa.string())
        mask = pc.is_in(t.column("updated_at"), value_set=stamps).to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(mask)
        if not len(idx):
            return t
        hashes = row_hashes(t.take(idx), self.names)
        drop = np.zeros(t.num_rows, dtype=bool)
        for i, h in zip(idx, hashes):
            if h in self.seen:
                drop[i] = True
        if not drop.any():
            return t
        return t.filter(pa.array(~drop))

    def advance(self, t: pa.Table) -> None:
        """Move the running watermark over the rows of `t` (which are being landed)."""
        self.nulls_done = True
        if t.num_rows == 0:
            return
        hi = _max_ts(t, self.cap)
        if hi is not None and (self.watermark is None or hi > self.watermark):
            self.watermark = hi
        if self.watermark is None:
            return
        cutoff = self.since()
        self.seen = {h: ts for h, ts in self.seen.items() if ts >= cutoff}
        # rows in the look-back window — and rows whose updated_at is no time at all (`infinity`, `不详`: a source
        # hands them out on every pull, text order puts them after every date) — are remembered by content
        ua = t.column("updated_at")
        mask = pc.fill_null(pc.greater_equal(ua, cutoff), False)
        recent = t.filter(mask)
        if recent.num_rows:
            for h, ts in zip(row_hashes(recent, self.names), recent.column("updated_at").to_pylist()):
                self.seen[h] = ts

    def state(self) -> dict:
        return {"source": self.source, "dataset": self.dataset, "watermark": self.watermark,
                "lookback_seconds": self.lookback, "nulls_done": self.nulls_done, "seen": dict(self.seen),
                "extra": dict(self.extra)}

    def save(self, state: dict | None = None) -> None:
        st = dict(state or self.state())
        st["saved_at"] = dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")
        write_json(self.path, st)

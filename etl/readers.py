"""Read one delivered file into an Arrow table of strings, with its source row numbers.

Every reader returns (table, info): `table` has one string column per recognised contract column (English name)
plus `_row` (int64), the row number a person opening the file would see:
  - xlsx: the Excel row number (1-based; banner rows and the header row count);
  - csv: the record number in the file, header = 1, first data record = 2 (records, not physical lines);
  - jsonl: the line number; json: the 1-based position in the array.
`info` records what was skipped and why (banner rows, summary rows, unknown columns), so nothing is dropped
silently.

Header rules (documented in README): surrounding white space (ASCII and full-width) is stripped, a trailing `*`
(required marker) is removed, a trailing note in ASCII or full-width parentheses is removed, then the header is
matched against the contract's Chinese headers and English names.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from etl.spec import DATASETS, FILE_EXTENSIONS, Dataset

FILE_RE = re.compile(
    r"^(?P<dataset>[a-z_]+?)_(?P<date>\d{8})(?:_[^.]*)?\.(?P<ext>" + "|".join(FILE_EXTENSIONS) + r")$", re.I)

_NOTE_RE = re.compile(r"[（(][^（）()]*[)）]\s*$")
SUMMARY_PREFIXES = ("合计", "总计")
MAX_BANNER_ROWS = 3


class ReadError(Exception):
    """A file that cannot be read at all (it is recorded in the run log and retried on the next run)."""


@dataclass
class ReadInfo:
    encoding: str | None = None
    header_row: int = 1
    banner_rows: int = 0
    summary_rows: list[int] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    # rows whose cell in a text column was a number too large to be exact (e.g. an ID number typed as a number)
    imprecise_rows: set[int] = field(default_factory=set)


def parse_file_name(name: str) -> tuple[str, str, str] | None:
    """`events_20240401_part2.xlsx` → ('events', '20240401', 'xlsx'); None when it is not a delivery."""
    m = FILE_RE.match(name)
    if not m or m.group("dataset") not in DATASETS:
        return None
    return m.group("dataset"), m.group("date"), m.group("ext").lower()


def clean_header(h: object) -> str:
    s = "" if h is None else str(h)
    s = s.replace("\u3000", " ").replace("\ufeff", "").strip()
    prev = None
    while prev != s:  # `上报时间(必填)*`, `所属网格 （必填） *`
        prev = s
        s = s.rstrip("*＊ ").strip()
        s = _NOTE_RE.sub("", s).strip()
    return s


def header_map(ds: Dataset) -> dict[str, str]:
    m = {}
    for c in ds.columns:
        m[c.header] = c.name
        m[c.name] = c.name
        m[c.name.lower()] = c.name
    return m


def _match_headers(ds: Dataset, raw: list[object], info: ReadInfo) -> list[str | None]:
    hm = header_map(ds)
    out: list[str | None] = []
    seen = set()
    for h in raw:
        name = hm.get(clean_header(h)) or hm.get(clean_header(h).lower())
        if name is None or name in seen:
            if clean_header(h):
                info.unknown_columns.append(str(h))
            out.append(None)
        else:
            seen.add(name)
            out.append(name)
    info.missing_columns = [c for c in ds.names if c not in seen]
    return out


def _finish(ds: Dataset, cols: dict[str, pa.Array], rows: pa.Array, n: int) -> pa.Table:
    arrays, names = [], []
    for c in ds.names:
        arrays.append(cols[c] if c in cols else pa.nulls(n, pa.string()))
        names.append(c)
    arrays.append(rows)
    names.append("_row")
    return pa.Table.from_arrays(arrays, names=names)


def _cell_to_str(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return None
        if v.is_integer() and abs(v) < 1e19:
            return str(int(v))
        return repr(v)
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, dt.time):
        return v.strftime("%H:%M:%S")
    if isinstance(v, dt.timedelta):  # calamine gives durations for time-only cells
        return str(v)
    return str(v)


# ---------------------------------------------------------------------------------------------------------- xlsx
def read_xlsx(path: Path, ds: Dataset) -> tuple[pa.Table, ReadInfo]:
    from python_calamine import CalamineWorkbook

    info = ReadInfo()
    try:
        wb = CalamineWorkbook.from_path(str(path))
        sheet = wb.get_sheet_by_index(0)
        data = sheet.to_python(skip_empty_area=False)
    except Exception as exc:  # noqa: BLE001 — calamine raises several types for broken files
        raise ReadError(f"无法读取 Excel 文件: {exc}") from exc
    # calamine starts at the first non-empty cell unless told otherwise; find where the sheet really starts
    start_row = getattr(sheet, "start", None)
    row_offset = start_row[0] if start_row else 0
    hm = header_map(ds)
    header_idx = None
    for i, row in enumerate(data[: MAX_BANNER_ROWS + 1]):
        hits = sum(1 for v in row if clean_header(v) in hm)
        if hits >= 2:
            header_idx = i
            break
    if header_idx is None:
        raise ReadError(f"前 {MAX_BANNER_ROWS + 1} 行中找不到表头(应为 {', '.join(c.header for c in ds.columns[:3])} …)")
    info.banner_rows = header_idx
    info.header_row = row_offset + header_idx + 1
    names = _match_headers(ds, data[header_idx], info)
    body = data[header_idx + 1:]
    excel_rows = list(range(info.header_row + 1, info.header_row + 1 + len(body)))
    # trailing empty rows, then a summary row (合计/总计) at the end
    while body and all(v in (None, "") for v in body[-1]):
        body.pop()
        excel_rows.pop()
    if body:
        first = body[-1][0] if body[-1] else None
        if isinstance(first, str) and first.strip().startswith(SUMMARY_PREFIXES):
            info.summary_rows.append(excel_rows[-1])
            body.pop()
            excel_rows.pop()
    # drop fully empty rows inside the body (Excel "blank lines"), keeping row numbers right
    keep = [i for i, r in enumerate(body) if any(v not in (None, "") for v in r)]
    body = [body[i] for i in keep]
    excel_rows = [excel_rows[i] for i in keep]
    n = len(body)
    cols: dict[str, pa.Array] = {}
    for j, name in enumerate(names):
        if name is None:
            continue
        values = [r[j] if j < len(r) else None for r in body]
        if ds.col(name).type == "str":
            info.imprecise_rows.update(
                excel_rows[i] for i, v in enumerate(values) if isinstance(v, float) and abs(v) >= 2 ** 53)
        cols[name] = pa.array([_cell_to_str(v) for v in values], type=pa.string())
    return _finish(ds, cols, pa.array(excel_rows, type=pa.int64()), n), info


# ----------------------------------------------------------------------------------------------------------- csv
def detect_encoding(path: Path, chunk: int = 1 << 22) -> str:
    """'utf-8-sig', 'utf-8' or 'gb18030' (a superset of GBK): strict UTF-8 decoding of the whole file decides."""
    dec = __import__("codecs").getincrementaldecoder("utf-8")(errors="strict")
    with open(path, "rb") as fh:
        head = fh.read(3)
        bom = head == b"\xef\xbb\xbf"
        data = head
        try:
            while data:
                dec.decode(data)
                data = fh.read(chunk)
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8-sig" if bom else "utf-8"


def read_csv(path: Path, ds: Dataset) -> tuple[pa.Table, ReadInfo]:
    info = ReadInfo()
    enc = detect_encoding(path)
    info.encoding = enc
    with open(path, "r", encoding=enc, newline="") as fh:
        first = fh.readline()
    header = next(csv.reader(io.StringIO(first)), [])
    if not header:
        raise ReadError("文件为空或没有表头")
    names = _match_headers(ds, header, info)
    if sum(1 for n in names if n) < 2:
        raise ReadError(f"找不到表头: {header[:5]}")
    # read everything as strings under positional names; pyarrow transcodes non-UTF-8 itself
    pos = [f"c{i}" for i in range(len(header))]
    try:
        tbl = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=pos, skip_rows=1,
                                           encoding="utf8" if enc.startswith("utf-8") else enc,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={p: pa.string() for p in pos},
                                                 strings_can_be_null=True, null_values=[""],
                                                 quoted_strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        raise ReadError(f"CSV 格式错误: {exc}") from exc
    n = tbl.num_rows
    cols = {name: tbl.column(p).combine_chunks() for p, name in zip(pos, names) if name}
    import numpy as np

    rows = pa.array(np.arange(2, n + 2, dtype="int64"))
    table = _finish(ds, cols, rows, n)
    # a trailing summary row (合计/总计) is not data, in csv exports as in xlsx
    if n and tbl.column(0)[n - 1].as_py() and str(tbl.column(0)[n - 1].as_py()).strip().startswith(SUMMARY_PREFIXES):
        info.summary_rows.append(n + 1)
        table = table.slice(0, n - 1)
    return table, info


# ---------------------------------------------------------------------------------------------------------- json
def _records_to_table(ds: Dataset, recs: list, rows: list[int], info: ReadInfo) -> pa.Table:
    keys: dict[str, None] = {}
    for r in recs:
        if not isinstance(r, dict):
            raise ReadError("JSON 内容不是对象数组")
        keys.update(dict.fromkeys(r))
    names = _match_headers(ds, list(keys), info)
    cols = {}
    for k, name in zip(keys, names):
        if name:
            cols[name] = pa.array([_json_val(r.get(k)) for r in recs], type=pa.string())
    return _finish(ds, cols, pa.array(rows, type=pa.int64()), len(recs))


def _json_val(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return _cell_to_str(v)


def read_json(path: Path, ds: Dataset) -> tuple[pa.Table, ReadInfo]:
    info = ReadInfo(encoding="utf-8")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReadError(f"JSON 格式错误: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("data"), list):  # an API page saved to disk
        data = data["data"]
    if not isinstance(data, list):
        raise ReadError("JSON 内容不是对象数组")
    return _records_to_table(ds, data, list(range(1, len(data) + 1)), info), info


def read_jsonl(path: Path, ds: Dataset) -> tuple[pa.Table, ReadInfo]:
    info = ReadInfo(encoding="utf-8")
    # fast path: Arrow's reader, then every column cast to string; falls back when types are mixed
    try:
        tbl = pajson.read_json(path, read_options=pajson.ReadOptions(block_size=1 << 24))
        lines = _nonblank_line_numbers(path)
        if len(lines) == tbl.num_rows and all(
                not pa.types.is_nested(f.type) for f in tbl.schema):
            names = _match_headers(ds, tbl.column_names, info)
            cols = {}
            for k, name in zip(tbl.column_names, names):
                if name:
                    cols[name] = _arrow_to_str(tbl.column(k).combine_chunks())
            return _finish(ds, cols, pa.array(lines, type=pa.int64()), tbl.num_rows), info
        info = ReadInfo(encoding="utf-8")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        info = ReadInfo(encoding="utf-8")
    recs, rows = [], []
    with open(path, encoding="utf-8-sig") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ReadError(f"第 {i} 行 JSON 格式错误: {exc}") from exc
            rows.append(i)
    return _records_to_table(ds, recs, rows, info), info


def _nonblank_line_numbers(path: Path) -> list[int]:
    out = []
    with open(path, "rb") as fh:
        for i, line in enumerate(fh, start=1):
            if line.strip():
                out.append(i)
    return out


def _arrow_to_str(arr: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr.cast(pa.string())
    if pa.types.is_timestamp(t):
        return pc.strftime(arr, format="%Y-%m-%d %H:%M:%S")
    if pa.types.is_floating(t):
        # integral floats print without ".0" (an ID number or a count)
        return pa.array([_cell_to_str(v) for v in arr.to_pylist()], type=pa.string())
    return arr.cast(pa.string())


READERS = {"xlsx": read_xlsx, "csv": read_csv, "json": read_json, "jsonl": read_jsonl}


def read_file(path: Path, dataset: str | None = None) -> tuple[str, pa.Table, ReadInfo]:
    parsed = parse_file_name(path.name)
    if parsed is None and dataset is None:
        raise ReadError("文件名不符合 {数据集}_{YYYYMMDD}[_说明].{xlsx|csv|json|jsonl}")
    ds_name = dataset or parsed[0]
    ext = parsed[2] if parsed else path.suffix.lstrip(".").lower()
    ds = DATASETS[ds_name]
    table, info = READERS[ext](path, ds)
    present = [c for c in ds.names if c not in info.missing_columns]
    if not present:
        raise ReadError("没有任何可识别的列")
    return ds_name, table, info

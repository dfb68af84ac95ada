"""The file writers (xlsx, csv GBK/UTF-8/BOM, json, jsonl with banners, decorated headers and summary rows) and
the rekeying of another county of a prefecture."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import xlsxwriter

from core.spec import DATASETS
from demo.constants import BANNER_TITLES, COUNTY_CODE, COUNTY_NAMES, DAY, SYSTEM
from demo.helpers import NumId, Serial, _fmt_date, _sec

_STD_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_STD_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _headers(ds: str, R: random.Random, decorate: bool) -> list[str]:
    out = []
    for col in DATASETS[ds].columns:
        h = col.header
        if decorate:
            r = R.random()
            if col.required and r < 0.35:
                h += R.choice(("*", "（必填）", "(必填)"))
            elif r < 0.5:
                h = R.choice((" {} ", "{} ", " {}")).format(h)
        out.append(h)
    return out


def _csv_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, Serial):
        return f"{float(v):.5f}".rstrip("0").rstrip(".")
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".")
    return str(v)


def _write_file(path: Path, ds: str, fmt: str, cols: dict, R: random.Random, export: str, ym):
    names = DATASETS[ds].names
    n = len(cols[names[0]])
    if fmt in ("json", "jsonl"):
        rows = (dict(zip(names, vals)) for vals in zip(*(cols[k].tolist() for k in names)))
        if fmt == "jsonl":
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        else:
            text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n"
        path.write_bytes(text.encode("utf-8"))
        return
    if fmt == "xlsx":
        _write_xlsx(path, ds, cols, R, export, ym)
        return
    enc = "gbk" if fmt == "csv-gbk" else "utf-8"
    head = io.StringIO()
    eol = "\r\n" if fmt == "csv-gbk" and ds != "activity_log" else "\n"
    csv.writer(head, lineterminator=eol).writerow(
        _headers(ds, R, R.random() < 0.5))
    with open(path, "wb") as f:
        if fmt == "csv-utf8-bom":
            f.write(b"\xef\xbb\xbf")
        f.write(head.getvalue().encode(enc))
        if ds == "activity_log":  # large: pyarrow, in chunks, transcoded when GBK
            arrays = {}
            for k in names:
                try:
                    arrays[k] = pa.array(cols[k], pa.string())
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # a Serial or number among the strings
                    arrays[k] = pa.array([None if v is None else _csv_text(v) for v in cols[k]], pa.string())
            table = pa.table(arrays)
            opts = pacsv.WriteOptions(include_header=False, quoting_style="none",
                                      batch_size=50_000)
            step = 200_000
            for s in range(0, n, step):
                buf = pa.BufferOutputStream()
                pacsv.write_csv(table.slice(s, step), buf, opts)
                data = buf.getvalue().to_pybytes()
                f.write(data if enc == "utf-8" else data.decode("utf-8").encode(enc))
            return
        # None → empty, numbers as Python prints them (coordinates are rounded to 6 decimals already)
        body = io.StringIO()
        csv.writer(body, lineterminator=eol).writerows(zip(*(cols[k].tolist() for k in names)))
        f.write(body.getvalue().encode(enc))


def _excel_datetime(v: str, typ: str) -> dt.datetime | None:
    """A standard timestamp (or date) as a datetime for a real Excel date cell; None for anything else."""
    try:
        if typ == "ts" and _STD_TS.match(v):
            return dt.datetime(int(v[:4]), int(v[5:7]), int(v[8:10]), int(v[11:13]), int(v[14:16]), int(v[17:19]))
        if typ == "date" and _STD_DATE.match(v):
            return dt.datetime(int(v[:4]), int(v[5:7]), int(v[8:10]))
    except ValueError:  # e.g. 0000-00-00 00:00:00
        return None
    return None


def _write_xlsx(path: Path, ds: str, cols: dict, R: random.Random, export: str, ym):
    spec = DATASETS[ds]
    names = spec.names
    n = len(cols[names[0]])
    created = dt.datetime(int(export[:4]), int(export[4:6]), int(export[6:8]), 8, 0, 0)
    wb = xlsxwriter.Workbook(str(path), {"in_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"created": created, "author": SYSTEM, "title": BANNER_TITLES[ds]})
    ws = wb.add_worksheet(BANNER_TITLES[ds][:31])
    f_ts = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    f_date = wb.add_format({"num_format": "yyyy-mm-dd"})
    bold = wb.add_format({"bold": True})
    nb = R.choice((0, 1, 2, 3, 2))
    banners = [f"{SYSTEM} {BANNER_TITLES[ds]}", f"导出时间：{export[:4]}-{export[4:6]}-{export[6:]} 08:00",
               f"数据范围：{ym[0]:04d}-{ym[1]:02d}-01 至 {_fmt_date(_sec(int(export[:4]), int(export[4:6]), 1) - DAY)}"]
    for r in range(nb):
        ws.write_string(r, 0, banners[r], bold if r == 0 else None)
    ws.write_row(nb, 0, _headers(ds, R, R.random() < 0.6), bold)
    # per column: timestamps as real Excel dates or as text
    as_date = {c.name: R.random() < 0.7 for c in spec.columns if c.type in ("ts", "date")}
    if len(as_date) >= 2 and len(set(as_date.values())) == 1:  # both kinds of cell in every file
        flip = R.choice(sorted(as_date))
        as_date[flip] = not as_date[flip]
    types = {c.name: c.type for c in spec.columns}
    for j, k in enumerate(names):
        typ, dcell = types[k], as_date.get(k, False)
        f_when = f_ts if typ == "ts" else f_date
        for r, v in enumerate(cols[k].tolist(), start=nb + 1):
            cls = v.__class__
            if v is None:
                continue
            if cls is str:
                when = _excel_datetime(v, typ) if dcell else None
                if when is None:
                    ws.write_string(r, j, v)
                else:
                    ws.write_datetime(r, j, when, f_when)
            elif cls in (int, float, Serial, NumId):
                ws.write_number(r, j, float(v))
            else:
                ws.write_string(r, j, str(v))
    if R.random() < 0.7:
        ws.write_string(nb + 1 + n, 0, "合计")
        ws.write_number(nb + 1 + n, 1, n)
    wb.close()


# ---------------------------------------------------------------------------------------------------------------
def county_code(county_index: int) -> str:
    """The 区划代码 of demo county number `county_index` of a prefecture: 0 is 510799 (示例县), 1 is 510798, …"""
    return COUNTY_CODE if not county_index else f"5107{99 - int(county_index):02d}"


def county_name(county_index: int) -> str:
    """The name of demo county number `county_index` (its 县 row in org_units): 示例县, 东岭县, 西河县, …"""
    i = int(county_index)
    return COUNTY_NAMES[i] if i < len(COUNTY_NAMES) else f"示例{i}县"


# columns rewritten for another county of a prefecture (county_index > 0): unit codes get its 区划代码, record and
# account ids a prefix "C<n>" (after any leading blank the mess put there, so that trimming still repairs it)
_REKEY_CODES = ("unit_code", "parent_code", "grid_code", "from_unit", "to_unit")
_REKEY_IDS = ("account_id", "reporter_account", "event_id", "report_id", "log_id")


def _rekey(cols: dict, county_index: int) -> dict:
    code, tag = county_code(county_index), f"C{county_index}"

    def fix_code(v):
        if isinstance(v, str):
            i = len(v) - len(v.lstrip())
            if v.startswith(COUNTY_CODE, i):
                return v[:i] + code + v[i + len(COUNTY_CODE):]
        return v

    def fix_id(v):
        if isinstance(v, str) and v.strip():
            i = len(v) - len(v.lstrip())
            return v[:i] + tag + v[i:]
        return v

    out = dict(cols)
    for c, fn in [(c, fix_code) for c in _REKEY_CODES] + [(c, fix_id) for c in _REKEY_IDS]:
        if c in out:
            out[c] = np.array([fn(v) for v in out[c].tolist()] + [None], dtype=object)[:-1]
    return out

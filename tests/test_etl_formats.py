"""Every delivery format and every kind of mess in docs/feeds.md, on real files through the real ETL."""
from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
import xlsxwriter

from core.config import Settings
from etl import readers
from etl.pipeline import run
from warehouse import db

LOAD_TIME = dt.datetime(2024, 4, 2, 9, 0)

ORG_CSV = """区划代码,名称,层级,上级代码,类型,户数,人口数,中心经度,中心纬度,边界,坐标系,更新时间
510799,示例县,县,,,,,,,,,2024-03-01 08:00:00
510799001,文兴乡,乡镇,510799,乡,,,,,,,2024-03-01 08:00:00
510799001201,文兴村,村,510799001,,,,,,,,2024-03-01 08:00:00
510799001201001,文兴村第一网格,网格,510799001201,农村网格,400,1200,105.2,31.6,,,2024-03-01 08:00:00
"""


def _settings(tmp_path) -> Settings:
    return Settings().resolve(tmp_path)


def _load(tmp_path, load_time=LOAD_TIME, status="ok"):
    res = run(tmp_path / "drop", _settings(tmp_path), warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "lake",
              load_time=load_time, log=lambda m: None)
    assert res.status == status, res.error
    return res, db.open_published(tmp_path / "wh")


def _write_events_xlsx(path):
    """An export as clerks get it: two banner rows, decorated headers, real and text dates, a 合计 row."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("事件台账")
    datefmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    ws.write(0, 0, "示例县网格化服务管理信息系统 事件台账")
    ws.write(1, 0, "导出时间：2024-04-01 08:00")
    headers = [" 事件编号* ", "上报时间(必填)", "所属网格（必填）", "事件类别", "状态", "办结时间", "办理时限",
               "经度", "纬度", "坐标系", "更新时间", "事件描述"]
    for j, h in enumerate(headers):
        ws.write(2, j, h)
    rows = [
        # real Excel datetime cells
        ["E1", dt.datetime(2024, 3, 5, 14, 2, 11), "510799001201001", "矛盾纠纷", "已办结",
         dt.datetime(2024, 3, 6, 10, 0), dt.datetime(2024, 3, 12), 105.21, 31.61, "GCJ02",
         dt.datetime(2024, 3, 6, 10, 0), "邻里纠纷, 联系人 13812345678"],
        # text dates in every documented format; code with spaces; swapped coordinates
        ["E2", "2024/3/5 14:02", "510799001201001", " 治安隐患 ", "办理中", None, "2024年3月12日 14:02",
         31.61, 105.21, None, "2024-03-05T14:02:11", "x"],
        # Excel serial number in a text-formatted column; BD09 coordinates
        ["E3", 45356.5847, "510799001201001", "安全隐患", "办理中", None, "2024-03-12", 105.2166, 31.6123, "BD09",
         "2024-03-05", "y"],
        # unknown category (kept, flagged), future report time, zero coordinates
        ["E4", "2025-03-05 08:00:00", "510799001201001", "网络舆情", "待受理", None, None, 0, 0, None,
         "2024-03-05 08:00:00", "z"],
        # closed before reported; unknown grid
        ["E5", "2024-03-10 08:00:00", "510799009201001", "环境卫生", "已办结", "2024-03-09 08:00:00", None, None,
         None, None, "2024-03-10 08:00:00", "w"],
        # missing required grid → quarantine
        ["E6", "2024-03-10 08:00:00", None, "环境卫生", "办理中", None, None, None, None, None,
         "2024-03-10 08:00:00", "v"],
        # unreadable required time → quarantine
        ["E7", "不详", "510799001201001", "环境卫生", "办理中", None, None, None, None, None,
         "2024-03-10 08:00:00", "u"],
    ]
    for i, r in enumerate(rows, start=3):
        for j, v in enumerate(r):
            if isinstance(v, dt.datetime):
                ws.write_datetime(i, j, v, datefmt)
            elif v is not None:
                ws.write(i, j, v)
    ws.write(3 + len(rows), 0, "合计")
    ws.write(3 + len(rows), 1, len(rows))
    wb.close()


def _write_kp_xlsx(path):
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    headers = ["报送编号", "人员类别", "身份证号", "姓名", "所属网格", "报送时间", "接收派出所", "派出所签收时间",
               "接收司法所", "司法所签收时间", "接收卫生院", "卫生院签收时间", "更新时间"]
    ws.write_row(0, 0, headers)
    rows = [
        ["K1", "刑释人员", "51072319900101123x", "张三丰", "510799001201001", "2024-03-05 10:00", None, None,
         "文兴司法所", "2024-03-05 12:00", None, None, "2024-03-05 12:00"],
        ["K2", "重症精神病患者", "510723900101123", "李四", "510799001201001", "2024-03-06 10:00", "文兴派出所",
         None, None, None, "文兴卫生院", "2024-03-07 10:00", "2024-03-07 10:00"],
        ["K3", "流动人口", 510723199001011234, "王五", "510799001201001", "2024-03-07 10:00", "文兴派出所", None,
         None, None, None, None, "2024-03-07 10:00"],
        ["K4", "社区服刑人员", "510723199001011232", "赵六", "510799001201001", "2024-03-08 10:00", None, None,
         "文兴司法所", None, None, None, "2024-03-08 10:00"],
    ]
    for i, r in enumerate(rows, start=1):
        for j, v in enumerate(r):
            if v is not None:
                ws.write(i, j, v)
    wb.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formats")
    drop = tmp / "drop"
    drop.mkdir()
    (drop / "org_units_20240401.csv").write_text(ORG_CSV, encoding="utf-8-sig")  # UTF-8 with BOM
    accounts = ("账号*,姓名,手机号,所属单位代码,账号类型,部门名称,状态,开通时间,停用时间,更新时间\n"
                "A1,张三丰,13812345678,510799001201001,网格员,,启用,2023-01-01,,2024-03-01\n"
                "P1,李四,13812345679,510799001,派出所,文兴派出所, 启用 ,2023-01-01,,2024-03-01\n")
    (drop / "accounts_20240401.csv").write_bytes(accounts.encode("gbk"))  # GBK
    activity = [
        {"log_id": "L1", "account_id": "A1", "op_time": "2024-03-05 09:00:00", "op_type": "登录"},
        {"log_id": "L2", "account_id": "A1", "op_time": "2024年3月6日 09:00", "op_type": "巡查",
         "lon": 105.21, "lat": 31.61, "coord_sys": "GCJ02"},
        {"log_id": "L3", "account_id": "GHOST", "op_time": "2024-03-06 10:00:00", "op_type": "登录"},
        {"log_id": "L4", "account_id": "A1", "op_time": None, "op_type": "登录"},
        {"log_id": "L5", "account_id": "A1", "op_time": "2024-03-07 10:00:00", "op_type": "视频巡查"},
    ]
    (drop / "activity_log_20240401.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in activity), encoding="utf-8")
    flow = [{"event_id": "E1", "seq": 1, "action": "上报", "action_time": "2024-03-05 14:02:11"},
            {"event_id": "E1", "seq": 2, "action": "办结", "action_time": "2024-03-06 10:00:00", "note": "已调解"},
            {"event_id": "E1", "seq": "x", "action": "办结", "action_time": "2024-03-06 10:00:00"}]
    (drop / "event_flow_20240401.json").write_text(json.dumps(flow, ensure_ascii=False), encoding="utf-8")
    (drop / "collection_stats_20240401.csv").write_text(
        "网格编码,统计日期,已采集户数,人口信息\n510799001201001,2024/3/31,380,1100\n510799001201001,2024-03-30,370,1000\n",
        encoding="utf-8")
    _write_events_xlsx(drop / "events_20240401.xlsx")
    _write_kp_xlsx(drop / "key_person_reports_20240401_week1.xlsx")
    (drop / "readme.txt").write_text("not a delivery", encoding="utf-8")
    (drop / "events_20240402.csv").write_bytes(b"\x00\x01garbage")
    res, con = _load(tmp, status="partial")  # one file cannot be read: listed as failed, the rest published
    yield tmp, res, con
    con.close()


def test_every_file_is_accounted_for(loaded):
    _, res, con = loaded
    assert res.files_new == 7
    assert [f["file"] for f in res.files_ignored] == ["readme.txt"]
    assert [f["file"] for f in res.files_failed] == ["events_20240402.csv"]
    files = dict(con.execute("SELECT file, format FROM etl_file").fetchall())
    assert files["accounts_20240401.csv"] == "csv"
    enc = dict(con.execute("SELECT file, encoding FROM etl_file").fetchall())
    assert enc["accounts_20240401.csv"] == "gb18030"
    assert enc["org_units_20240401.csv"] == "utf-8-sig"
    issues = con.execute("SELECT file, kind FROM etl_file_issue ORDER BY file").fetchall()
    assert issues == [("events_20240402.csv", "读取失败"), ("readme.txt", "已忽略")]


def test_xlsx_banner_summary_and_row_numbers(loaded):
    _, _, con = loaded
    banner, summary, header = con.execute(
        "SELECT banner_rows, summary_rows, rows_in FROM etl_file WHERE file = 'events_20240401.xlsx'").fetchone()
    assert (banner, summary, header) == (2, 1, 7)
    # Excel row numbers: banner rows 1-2, header row 3, E1 is on row 4
    rows = dict(con.execute("SELECT event_id, _row FROM fact_event").fetchall())
    assert rows["E1"] == 4 and rows["E5"] == 8


def test_timestamps_in_every_format(loaded):
    _, _, con = loaded
    got = dict(con.execute("SELECT event_id, reported_at FROM fact_event").fetchall())
    assert got["E1"] == dt.datetime(2024, 3, 5, 14, 2, 11)
    assert got["E2"] == dt.datetime(2024, 3, 5, 14, 2)
    assert got["E3"] == dt.datetime(2024, 3, 5, 14, 1, 58)  # Excel serial 45356.5847
    deadline = con.execute("SELECT deadline FROM fact_event WHERE event_id = 'E2'").fetchone()[0]
    assert deadline == dt.datetime(2024, 3, 12, 14, 2)  # 2024年3月12日 14:02
    op = con.execute("SELECT op_time FROM fact_activity WHERE log_id = 'L2'").fetchone()[0]
    assert op == dt.datetime(2024, 3, 6, 9, 0)
    day = con.execute("SELECT stat_date FROM fact_collection ORDER BY stat_date DESC LIMIT 1").fetchone()[0]
    assert day == dt.date(2024, 3, 31)


def test_quarantine_has_file_row_and_reason(loaded):
    _, _, con = loaded
    q = con.execute("SELECT dataset, source_file, source_row, reason FROM quarantine ORDER BY dataset, source_row").fetchall()
    assert q == [
        ("activity_log", "activity_log_20240401.jsonl", 4, "缺少必填字段「操作时间」"),
        ("event_flow", "event_flow_20240401.json", 3, "无法识别的必填字段「序号」: x"),
        ("events", "events_20240401.xlsx", 9, "缺少必填字段「所属网格」"),
        ("events", "events_20240401.xlsx", 10, "无法识别的必填字段「上报时间」: 不详"),
    ]
    raw = json.loads(con.execute("SELECT raw FROM quarantine WHERE source_row = 10").fetchone()[0])
    assert raw["event_id"] == "E7" and raw["reported_at"] == "不详"


def test_codes_flags_and_references(loaded):
    _, _, con = loaded
    flags = {r[0]: r[1] for r in con.execute("SELECT event_id, _flags FROM fact_event").fetchall()}
    assert con.execute("SELECT category FROM fact_event WHERE event_id = 'E2'").fetchone()[0] == "治安隐患"
    assert flags["E1"] == []
    assert "coord_swapped" in flags["E2"]
    assert "coord_bd09" in flags["E3"]
    assert {"unknown_code:category", "future_time", "coord_zero"} <= set(flags["E4"])
    assert {"closed_before_reported", "unknown_grid"} <= set(flags["E5"])
    # an unknown grid still belongs to its 乡镇 by code
    assert con.execute("SELECT township_code FROM fact_event WHERE event_id = 'E5'").fetchone()[0] == "510799009"
    act = dict(con.execute("SELECT log_id, _flags FROM fact_activity").fetchall())
    assert act["L3"] == ["unknown_account"]
    assert act["L5"] == ["unknown_code:op_type"]
    # account status with surrounding spaces repaired
    assert con.execute("SELECT status FROM dim_account WHERE account_id = 'P1'").fetchone()[0] == "启用"


def test_coordinates_end_in_wgs84(loaded):
    from etl import coords

    _, _, con = loaded
    lon, lat = con.execute("SELECT lon, lat FROM fact_event WHERE event_id = 'E1'").fetchone()
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    assert abs(glon - 105.21) < 1e-6 and abs(glat - 31.61) < 1e-6
    lon2, lat2 = con.execute("SELECT lon, lat FROM fact_event WHERE event_id = 'E2'").fetchone()
    assert (lon2, lat2) == (lon, lat)  # swapped pair repaired to the same point
    blon, blat = coords.wgs84_to_bd09(*con.execute("SELECT lon, lat FROM fact_event WHERE event_id = 'E3'").fetchone())
    assert abs(blon - 105.2166) < 1e-6 and abs(blat - 31.6123) < 1e-6
    assert con.execute("SELECT lon FROM fact_event WHERE event_id = 'E4'").fetchone()[0] is None


def test_id_numbers_and_category_aliases(loaded):
    _, _, con = loaded
    got = {r[0]: r[1:] for r in con.execute("SELECT report_id, category, id_number, _flags FROM fact_kp_report").fetchall()}
    assert got["K1"][0] == "刑满释放人员" and got["K1"][1] == "51072319900101123X"
    assert {"category_alias", "id_lowercase_x"} <= set(got["K1"][2])
    assert got["K2"][0] == "严重精神障碍患者"
    assert got["K2"][1] == "510723199001011232" and "id_upgraded_15" in got["K2"][2]  # 15 → 18 digits
    assert {"id_excel_number", "id_invalid"} <= set(got["K3"][2])  # a number cell lost its last digits
    assert got["K4"][0] == "社区矫正人员" and got["K4"][2] == ["category_alias"]
    # 严重精神障碍患者 need two sign-offs
    offs = con.execute("SELECT office_kind, office_name, signed_at FROM fact_kp_signoff WHERE report_id = 'K2' "
                   "ORDER BY office_kind").fetchall()
    assert offs == [("卫生院", "文兴卫生院", dt.datetime(2024, 3, 7, 10)), ("派出所", "文兴派出所", None)]


def test_flag_counts_are_published(loaded):
    _, _, con = loaded
    n = dict(con.execute("SELECT flag, n FROM dq_flag WHERE dataset = 'events'").fetchall())
    assert n["unknown_code:category"] == 1 and n["unknown_grid"] == 1 and n["closed_before_reported"] == 1
    fresh = {r[0]: r[1:] for r in con.execute("SELECT dataset, records, quarantined FROM dataset_freshness").fetchall()}
    assert fresh["events"] == (5, 2)
    assert fresh["activity_log"] == (4, 1)


def test_read_file_rejects_unknown_header(tmp_path):
    p = tmp_path / "events_20240401.csv"
    p.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(readers.ReadError, match="找不到表头"):
        readers.read_file(p)


def test_header_cleaning():
    assert readers.clean_header(" 所属网格（必填） ") == "所属网格"
    assert readers.clean_header("上报时间(必填)*") == "上报时间"
    assert readers.clean_header("事件编号 *") == "事件编号"
    assert readers.clean_header("\ufeff区划代码") == "区划代码"


def test_published_parquet_is_hive_partitioned(loaded):
    tmp, _, con = loaded
    version = con.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0]
    root = tmp / "lake" / "published" / version.removesuffix(".duckdb")
    parts = sorted(p.relative_to(root / "fact_event").as_posix() for p in (root / "fact_event").rglob("*.parquet"))
    assert parts and all(p.startswith("month=") for p in parts)
    n = duckdb.execute(f"SELECT count(*) FROM read_parquet('{root}/fact_event/*/*.parquet', hive_partitioning=true)").fetchone()[0]
    assert n == 5
    landed = list((tmp / "lake" / "landed" / "events").glob("county=*/month=*/*.parquet"))
    assert {p.parent.name for p in landed} == {"month=2024-03", "month=2025-03"}


def test_arrow_cleaning_is_the_gw_clean_rule():
    """The normaliser trims in Arrow for speed; it must be exactly the documented SQL macro gw_clean."""
    import pyarrow as pa

    from etl.normalize import clean, connect_memory

    values = ["  a b  ", "\u3000全角\u3000", "\ufeffBOM", "\u00a0nbsp\u00a0", "\t\r\nx\f", "", "   ", None, "中 间",
              "x\u2003", "\u200bzero-width", "a\x0b"]
    raw = pa.table({"_row": pa.array(range(len(values)), pa.int64()), "v": pa.array(values, pa.string())})
    ours = clean(raw, ["v"]).column("v").to_pylist()
    con = connect_memory(1, "1GB")
    con.register("raw", raw)
    theirs = [r[0] for r in con.execute("SELECT gw_clean(v) FROM raw ORDER BY _row").fetchall()]
    assert ours == theirs
    assert ours[:3] == ["a b", "全角", "BOM"] and ours[5:8] == [None, None, None]

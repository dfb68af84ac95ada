"""Real exports as counties have them (issue 15, ETL side): provincial .xls templates read by the shipped source
profile (etl/profiles/sichuan.toml) through the real pipeline, next to contract files in one drop folder.

The .xls files are written here with xlwt in exactly the Sichuan template layout: A1 version + title, a
填写注意事项 row, the 填报单位 as value/label pairs, an empty row, the header (a merged group 户籍地 over
省* | 市* | 区县* in a second header row), `*` leading and trailing, names instead of codes, hidden lookup sheets."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import xlwt
from support.county import MiniCounty

from core.config import Settings
from etl import readers
from etl.pipeline import list_drop, run
from warehouse import db, metrics
from warehouse.metrics import Period

MARCH = Period.month(2026, 3)
LOAD = dt.datetime(2026, 4, 1, 8)
NOTES = "填写注意事项：" + "".join(f"{i}. 第{i}条说明；" for i in range(1, 10))
KP_TITLES = {"流动人口": "流动人口信息登记表", "吸毒人员": "吸毒人员信息登记表",
             "严重精神障碍患者": "易肇事肇祸精神病人信息登记表", "社区矫正人员": "矫正人员信息登记表",
             "刑满释放人员": "刑释解教人员信息登记表"}


def write_template(path: Path, title: str, unit: tuple[str, str], header: list, rows: list[list],
                   mtime: dt.datetime | None = None) -> Path:
    """header: a str (one cell over both header rows) or (group, [sub, …]) for a merged group."""
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet1")
    ws.write(0, 0, "1.0")
    ws.write_merge(0, 0, 1, 8, title)
    ws.write_merge(1, 1, 0, 8, NOTES)
    for j, v in enumerate(["四川省", "省*", "某某市", "市*", "示例县", "市/县/区*", unit[0], "乡镇/街道*",
                           unit[1], "社区/村*"]):
        ws.write(2, j, v)
    two = any(isinstance(h, tuple) for h in header)
    col = 0
    for h in header:
        if isinstance(h, tuple):
            ws.write_merge(4, 4, col, col + len(h[1]) - 1, h[0])
            for k, sub in enumerate(h[1]):
                ws.write(5, col + k, sub)
            col += len(h[1])
        else:
            (ws.write_merge(4, 5, col, col, h) if two else ws.write(4, col, h))
            col += 1
    first = 6 if two else 5
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            if isinstance(v, dt.date):
                ws.write(first + i, j, v, date_style)
            elif v is not None:
                ws.write(first + i, j, v)
    for name in ("bean", "省市", "市县"):  # the hidden drop-down lookup lists
        hs = wb.add_sheet(name)
        hs.write(0, 0, "lookup")
        hs.visibility = 1
    wb.save(str(path))
    if mtime:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


KP_HEADER = ["姓名*", "身份证号码*", "性别", ("户籍地", ["省*", "市*", "区县*"]), "所属网格*"]


def kp_rows(category: str, n: int, grid: str, start: int = 1) -> list[list]:
    return [[f"{category[:1]}某{i}", f"5107{category.encode('utf-8').hex()[:4]}{i:010d}", "男", "四川省", "某某市",
             "某某县", grid] for i in range(start, start + n)]


def county() -> MiniCounty:
    c = MiniCounty()
    by = c.township("白云乡")
    one, two = c.community(by, "一社区"), c.community(by, "二社区")
    g1 = c.grid(one, name="第一网格")
    g2 = c.grid(one, name="第二网格")
    g3 = c.grid(two, name="第一网格")  # the same name in another 社区: ambiguous without the 社区
    for g in (g1, g2, g3):
        c.account(g)
    c.grids = (g1, g2, g3)
    return c


def foreign_files(drop: Path) -> None:
    write_template(drop / "流动人口信息登记表_20260325.xls", "流动人口信息登记表", ("白云乡", "一社区"),
                   ["姓名*", "身份证号码*", ("户籍地", ["省*", "市*", "区县*"]), "所属网格*", " 流入原因*", "流入时间*",
                    "预计到期日期*", "暂住处所*"],
                   [r[:2] + r[3:] + ["务工", dt.date(2026, 1, 5), dt.date(2026, 12, 31), "白云乡某街"]
                    for r in kp_rows("流动人口", 3, "第一网格")])
    # a clerk's own file name, no date in it: dated by its modification time
    write_template(drop / "3月份吸毒人员登记表.xls", "吸毒人员信息登记表", ("白云", "一社区"), KP_HEADER,
                   kp_rows("吸毒人员", 2, "1网格"), mtime=dt.datetime(2026, 3, 20, 9))
    write_template(drop / "易肇事肇祸精神病人信息登记表20260310.xls", "易肇事肇祸精神病人信息登记表",
                   ("白云乡", "一社区"), KP_HEADER, kp_rows("严重精神障碍患者", 4, "第二网格"))
    write_template(drop / "矫正人员信息登记表20260311.xls", "矫正人员信息登记表", ("白云乡", "二社区"),
                   KP_HEADER, kp_rows("社区矫正人员", 1, "第一网格"))
    write_template(drop / "刑释解教人员信息登记表20260312.xls", "刑释解教人员信息登记表", ("白云乡", "一社区"),
                   KP_HEADER, kp_rows("刑满释放人员", 2, "第２网格"))
    # events: no 社区 in the 填报单位, so 第一网格 is ambiguous; 发生时间 split over 时 | 分
    write_template(drop / "对接事件信息登记表20260318.xls", "对接事件信息登记表", ("白云乡", ""),
                   ["*事件类型（大类）", "*发生时间", "时", "分", "*所属网格", "*事件描述", "事件来源"],
                   [["矛盾纠纷", dt.date(2026, 3, 3), 9, 30, "第二网格", "邻里纠纷", "群众反映"],
                    ["治安类", dt.date(2026, 3, 4), 14, 5, "2网格", "可疑人员", "网格员巡查"],
                    ["环境卫生", dt.date(2026, 3, 5), 8, 0, "第一网格", "垃圾堆放", "网格员巡查"]])


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("real_exports")
    c = county()
    drop = root / "drop"
    c.write(drop)
    foreign_files(drop)
    s = Settings().resolve(root)
    res = run(drop, s, warehouse_dir=root / "wh", lake_dir=root / "lake", load_time=LOAD, log=lambda m: None)
    con = db.open_published(root / "wh")
    yield root, c, s, res, con
    con.close()


def test_template_read_with_banner_two_row_header_and_names(tmp_path):
    p = write_template(tmp_path / "吸毒人员信息登记表.xls", "吸毒人员信息登记表", ("白云乡", "一社区"), KP_HEADER,
                       kp_rows("吸毒人员", 2, "第一网格"), mtime=dt.datetime(2026, 3, 20, 9))
    units = [{"unit_code": "X", "unit_name": "示例县", "level": "县", "parent_code": None},
             {"unit_code": "T", "unit_name": "白云乡", "level": "乡镇", "parent_code": "X"},
             {"unit_code": "C", "unit_name": "一社区", "level": "社区", "parent_code": "T"},
             {"unit_code": "G", "unit_name": "第一网格", "level": "网格", "parent_code": "C"}]
    ds, t, info = readers.read_any(p, units=units)
    assert ds == "key_person_reports"
    assert info.header_row == 5 and info.banner_rows == 4 and "吸毒人员" in info.profile
    assert info.headers["person_name"] == "姓名*" and info.headers["grid_code"] == "所属网格*"
    assert {"户籍地省*", "户籍地市*", "户籍地区县*", "性别"} <= set(info.unknown_columns)
    assert t.column("_row").to_pylist() == [7, 8]
    assert t.column("grid_code").to_pylist() == ["G", "G"]
    assert set(t.column("category").to_pylist()) == {"吸毒人员"}
    assert t.column("reported_at").to_pylist() == ["2026-03-20 00:00:00"] * 2  # the file's mtime: no date in name
    ids = t.column("report_id").to_pylist()
    assert len(set(ids)) == 2 and all(i.startswith("SCKP-") for i in ids)
    assert readers.read_any(p, units=units)[1].column("report_id").to_pylist() == ids  # stable


def test_mixed_drop_lists_and_loads_both(loaded):
    root, c, s, res, con = loaded
    files, ignored = list_drop(root / "drop")
    names = [f.name for f in files]
    assert "3月份吸毒人员登记表.xls" in names and "对接事件信息登记表20260318.xls" in names
    assert names.index("org_units_20240101.json") < names.index("3月份吸毒人员登记表.xls")
    assert not ignored
    assert res.status == "ok", res.error


def test_key_person_templates_in_the_figures(loaded):
    root, c, s, res, con = loaded
    df = metrics.query(con, "kp/by_category_unit", settings=Settings(), **metrics.period_params(MARCH))
    by_cat = df.groupby("category")["reported"].sum().to_dict() if "category" in df else {}
    assert {k: int(v) for k, v in by_cat.items()} == {"流动人口": 3, "吸毒人员": 2, "严重精神障碍患者": 4,
                                                     "社区矫正人员": 1, "刑满释放人员": 2}, df


def test_events_template_split_time_and_ambiguous_grid(loaded):
    root, c, s, res, con = loaded
    g1, g2, g3 = c.grids
    got = con.execute("SELECT grid_code, reported_at, category, status FROM fact_event ORDER BY reported_at").fetchall()
    by_unit = metrics.query(con, "events/by_unit", settings=Settings(), **metrics.period_params(MARCH))
    assert dict(zip(by_unit["ru_name"], by_unit["reported"].astype(int))) == {"白云乡": 2}  # the bulletin's figure
    assert [(g, str(t), cat, st) for g, t, cat, st in got] == [
        (g2, "2026-03-03 09:30:00", "矛盾纠纷", "待受理"), (g2, "2026-03-04 14:05:00", "治安隐患", "待受理")]
    q = con.execute("SELECT reason FROM quarantine WHERE dataset = 'events'").fetchall()
    assert len(q) == 1 and g1 in q[0][0] and g3 in q[0][0] and "第一网格" in q[0][0], q
    raw = json.loads(con.execute("SELECT raw FROM quarantine WHERE dataset = 'events'").fetchone()[0])
    assert raw["grid_code"] == "第一网格"  # the delivered name, for sending the row back


def test_resent_corrected_file_doubles_nothing(loaded, tmp_path):
    root, c, s, res, con = loaded
    drop = root / "drop"
    rows = kp_rows("吸毒人员", 2, "1网格")
    rows[1][0] = "吸某二(更正)"
    write_template(drop / "吸毒人员信息登记表_20260328.xls", "吸毒人员信息登记表", ("白云乡", "一社区"),
                   KP_HEADER, rows)
    res2 = run(drop, s, warehouse_dir=root / "wh", lake_dir=root / "lake", load_time=LOAD, log=lambda m: None)
    assert res2.status == "ok", res2.error
    con2 = db.open_published(root / "wh")
    try:
        n = con2.execute("SELECT count(*) FROM fact_kp_report WHERE category = '吸毒人员'").fetchone()[0]
        names = {r[0] for r in con2.execute(
            "SELECT person_name FROM fact_kp_report WHERE category = '吸毒人员'").fetchall()}
    finally:
        con2.close()
    assert n == 2 and "吸某二(更正)" in names


def test_cli_run_from_mixed_folder(tmp_path):
    c = county()
    drop = tmp_path / "drop"
    c.write(drop)
    foreign_files(drop)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    p = subprocess.run([sys.executable, "-m", "etl", "run", "--from", str(drop), "--warehouse", str(tmp_path / "wh"),
                        "--lake", str(tmp_path / "lake")], cwd=Path(__file__).parents[1], env=env,
                       capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "不符合" not in out, out  # no template listed as "not a delivery"
    con = db.open_published(tmp_path / "wh")
    try:
        assert con.execute("SELECT count(*) FROM fact_kp_report").fetchone()[0] >= 12
        assert con.execute("SELECT count(*) FROM fact_event").fetchone()[0] >= 2
    finally:
        con.close()


VENDOR_PROFILE = '''
[[profile]]
id = "vendor_drug"
title = "某厂商 吸毒人员导出"
dataset = "key_person_reports"
match = { sheet = ["吸毒人员导出"] }
constants = { category = "吸毒人员" }
resolve = { grid_code = "网格" }
key = { column = "report_id", prefix = "VD-", fields = ["id_number"] }
delivery_time = ["updated_at"]
[profile.headers]
person_name = ["人员姓名"]
id_number = ["证件号码"]
grid_code = ["网格名称"]
reported_at = ["登记日期"]
'''


def test_county_adds_a_layout_by_configuration(tmp_path):
    """A profile in a configured folder ([etl].profile_dirs) makes another vendor's export a delivery; no code."""
    conf = tmp_path / "profiles"
    conf.mkdir()
    (conf / "vendor.toml").write_text(VENDOR_PROFILE, encoding="utf-8")
    drop = tmp_path / "drop"
    drop.mkdir()
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("吸毒人员导出")
    for j, h in enumerate(["人员姓名", "证件号码", "网格名称", "登记日期"]):
        ws.write(0, j, h)
    for j, v in enumerate(["王某", "510700199001011234", "第二网格", "2026-03-09 10:00:00"]):
        ws.write(1, j, v)
    wb.save(str(drop / "export.xls"))
    assert list_drop(drop)[0] == []  # without the configuration: not a delivery
    assert [p.name for p in list_drop(drop, [conf])[0]] == ["export.xls"]
    units = [{"unit_code": "G2", "unit_name": "第二网格", "level": "网格", "parent_code": None}]
    ds, t, info = readers.read_any(drop / "export.xls", units=units, profile_dirs=[conf],
                                   delivery_date=dt.date(2026, 3, 10))
    assert ds == "key_person_reports" and info.profile.startswith("某厂商")
    assert t.select(["grid_code", "category", "reported_at", "updated_at"]).to_pylist() == [
        {"grid_code": "G2", "category": "吸毒人员", "reported_at": "2026-03-09 10:00:00",
         "updated_at": "2026-03-10 00:00:00"}]


def test_resent_template_resolves_its_quarantine_entry(tmp_path):
    """The round trip with the 乡镇: the events template's ambiguous 第一网格 is quarantined; the clerk sends the
    file again with the 社区 stated in the 填报单位 row — the entry shows 已更正 (by that delivery, matched by the
    derived key) and the two events already landed are updated, not doubled."""
    c = county()
    g1, g2, g3 = c.grids
    drop = tmp_path / "drop"
    c.write(drop)
    header = ["*事件类型（大类）", "*发生时间", "时", "分", "*所属网格", "*事件描述", "事件来源"]
    rows = [["矛盾纠纷", dt.date(2026, 3, 3), 9, 30, "第二网格", "邻里纠纷", "群众反映"],
            ["环境卫生", dt.date(2026, 3, 5), 8, 0, "第一网格", "垃圾堆放", "网格员巡查"]]
    write_template(drop / "对接事件信息登记表20260318.xls", "对接事件信息登记表", ("白云乡", ""), header, rows)
    s = Settings().resolve(tmp_path)
    kw = dict(warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "lake", log=lambda m: None)
    assert run(drop, s, load_time=LOAD, **kw).status == "ok"
    second = tmp_path / "second"
    second.mkdir()
    write_template(second / "对接事件信息登记表20260320.xls", "对接事件信息登记表", ("白云乡", "二社区"), header,
                   [rows[1]])
    assert run(second, s, load_time=LOAD + dt.timedelta(days=1), **kw).status == "ok"
    con = db.open_published(tmp_path / "wh")
    try:
        q = con.execute("SELECT status, corrected_file, matched_by FROM dq_quarantine "
                        "WHERE source_file = '对接事件信息登记表20260318.xls'").fetchall()
        ev = con.execute("SELECT grid_code, category FROM fact_event ORDER BY reported_at").fetchall()
    finally:
        con.close()
    assert q == [("已更正", "对接事件信息登记表20260320.xls", "key")]
    assert ev == [(g2, "矛盾纠纷"), (g3, "环境卫生")]  # the corrected row in the 社区 named; nothing doubled

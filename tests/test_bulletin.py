"""The monthly bulletin: every group of every section known in advance (tests/support/bulletin_county.py), the json lists
checked exactly, the md text sentence by sentence; the renderers and the CLI; and, on a small generated demo
county, the bulletin's numbers against direct SQL over the facts."""
from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import docx
import openpyxl
import pytest
from support import bulletin_county

from core.config import Settings
from core.spec import KP_CATEGORIES
from warehouse import bulletin, db
from warehouse.bulletin_docx import render_docx, typeset
from warehouse.bulletin_xlsx import render_xlsx
from warehouse.metrics import Period, Scope

ROOT = Path(__file__).resolve().parent.parent
MARCH, FEB = Period.month(2026, 3), Period.month(2026, 2)


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    c, t = bulletin_county.build()
    return c.build(tmp_path_factory.mktemp("bulletin_county")), t


@pytest.fixture(scope="module")
def con(wh):
    con = db.open_published(wh[0])
    yield con
    con.close()


@pytest.fixture(scope="module")
def march(con):
    return bulletin.compute(con, MARCH, settings=Settings())


@pytest.fixture(scope="module")
def feb(con):
    return bulletin.compute(con, FEB, settings=Settings())


def names(items: list[dict]) -> list[str]:
    return [u["name"] for u in items]


def sentences(text: str) -> list[str]:
    return [s + "。" for s in text.split("。") if s]


# ---------------------------------------------------------------------------------------------------- json
def test_activity_groups(march, feb):
    d = march.to_dict()["activity"]
    assert {g: names(v) for g, v in d["groups"].items()} == {
        "100%": ["文昌镇农村网格", "宏仁"], "相对较好": ["卧龙", "文兴"], "相对较差": ["文昌镇四个社区", "大新"],
        "为0": ["长卿", "双峰"], "—": ["白云"]}
    assert [(u["accounts"], u["active"]) for u in d["groups"]["相对较好"]] == [(6, 4), (3, 2)]
    assert d["groups"]["—"][0]["rate"] is None
    assert d["county"] == {"accounts": 20, "active": 12, "rate": 0.6, "prev_rate": 0.6}
    assert names(d["offices"]["above_zero"]) == ["卧龙司法所", "文兴派出所"]
    assert names(d["offices"]["zero"]) == ["文昌派出所", "宏仁派出所", "宏仁卫生院", "卧龙派出所", "长卿派出所",
                                           "大新派出所", "大新卫生院", "白云司法所"]
    assert names(d["offices"]["no_account"]) == ["双峰司法所"]
    assert {g: names(v) for g, v in feb.to_dict()["activity"]["groups"].items()} == {
        "100%": ["宏仁"], "相对较好": ["卧龙", "文兴"], "相对较差": ["文昌镇四个社区", "长卿", "大新"],
        "为0": ["文昌镇农村网格", "双峰", "白云"], "—": []}


def test_event_groups(march):
    d = march.to_dict()["events"]
    assert {g: names(v) for g, v in d["groups"].items()} == {
        "100%以上": ["文昌镇四个社区", "卧龙"], "50%以下": ["文昌镇农村网格", "长卿", "文兴"],
        "其他": ["宏仁", "大新"], "—": ["双峰", "白云"]}
    assert [(u["reported"], u["closed"], u["completion_rate"]) for u in d["groups"]["100%以上"]] == [(2, 2, 1.0), (1, 3, 3.0)]
    c = d["county"]
    assert (c["reported"], c["closed"], c["closed_on_time"], c["overdue_open"], c["prev_reported"], c["prev_closed"]) == \
        (15, 11, 7, 6, 3, 1)


def test_key_task_groups(march):
    cats = {c["category"]: c for c in march.to_dict()["key_tasks"]["categories"]}
    assert list(cats) == ["流动人口", "吸毒人员", "严重精神障碍患者", "社区矫正人员", "刑满释放人员"]
    f = cats["流动人口"]
    assert (f["mode"], f["reported"], f["units_reporting"], f["needed"], f["signed"]) == ("top", 16, 5, 16, 9)
    assert names(f["reporters"]) == ["文昌镇四个社区", "宏仁", "卧龙", "大新", "文兴"]
    assert names(f["report_good"]) == ["文昌镇四个社区", "宏仁", "卧龙"]  # ⌈5/3⌉ = 2, tie for second included
    assert names(f["sign_good"]) == ["文昌镇四个社区", "文兴"]
    assert {k: names(v) for k, v in f["offices_signed"].items()} == {
        "派出所": ["文昌派出所", "宏仁派出所", "大新派出所", "文兴派出所"]}
    assert {k: names(v) for k, v in f["offices_zero"].items()} == {"派出所": ["卧龙派出所", "长卿派出所"]}
    d = cats["吸毒人员"]
    assert (d["mode"], [(u["name"], u["reported"]) for u in d["reporters"]]) == ("each", [("大新", 4)])
    m = cats["严重精神障碍患者"]
    assert m["offices"] == ["派出所", "卫生院"] and (m["needed"], m["signed"]) == (6, 4)
    assert [(u["name"], u["reported"], u["fully_signed"]) for u in m["reporters"]] == [("宏仁", 2, 1), ("大新", 1, 0)]
    assert m["sign_good"] == []
    assert {k: names(v) for k, v in m["offices_signed"].items()} == {"派出所": ["宏仁派出所", "大新派出所"],
                                                                    "卫生院": ["宏仁卫生院"]}
    assert cats["社区矫正人员"]["mode"] == "none" and cats["社区矫正人员"]["reporters"] == []
    r = cats["刑满释放人员"]
    assert names(r["reporters"]) == ["卧龙", "双峰"] and names(r["sign_good"]) == ["卧龙"]
    assert {k: names(v) for k, v in r["offices_zero"].items()} == {"司法所": ["双峰司法所", "白云司法所"]}
    assert march.to_dict()["key_tasks"]["county"] == {
        "reported": 25, "prev_reported": 3, "needed": 28, "signed": 18, "sign_rate": 18 / 28, "prev_sign_rate": 1.0,
        "fully_signed": 15, "unknown_category": 0}


def test_red_black(march, feb):
    d = march.to_dict()["red_black"]
    assert names(d["red"]) == ["宏仁", "文昌镇四个社区", "文兴"]
    assert names(d["black"]) == ["长卿", "双峰", "文昌镇农村网格"]  # worst first
    assert names(d["black_repeat"]) == ["双峰", "文昌镇农村网格"]  # black in February too
    f = feb.to_dict()["red_black"]
    assert names(f["red"]) == ["宏仁", "卧龙", "文兴"] and names(f["black"]) == ["文昌镇农村网格", "双峰", "白云"]


# ---------------------------------------------------------------------------------------------------- text
MARCH_TEXT = [
    '3月份,全县网格员账号20个,活跃账号12个,账户活跃度为60%,与上月持平(上月为60%)。',
    '其中,文昌镇农村网格、宏仁活跃度达到100%;卧龙、文兴活跃度相对较好;文昌镇四个社区、大新活跃度相对较差;'
    '长卿、双峰活跃度为"0";白云乡无网格员账号。',
    '部门账号方面,全县派出所、司法所、卫生院账号10个,活跃账号2个,账户活跃度为20%,较上月有所提升(上月为0%);'
    '除卧龙司法所、文兴派出所以外,其余派出所、司法所、卫生院账号活跃度均为"0";双峰司法所未开通账号。',
    '3月份,全县共上报事件15件,办结事件11件,事件办结完成率为73.3%,较上月有所提升(上月为33.3%);'
    '按期办结率为63.6%,月末超期未办结事件6件。',
    '其中,文昌镇四个社区、卧龙事件办结完成率达到100%以上;文昌镇农村网格、长卿、文兴事件办结完成率在50%以下;'
    '双峰、白云本月未上报事件。',
    '3月份,全县网格员共报送重点人员信息25条,较上月有所增加(上月为3条);派出所、司法所、卫生院应签收28条次,'
    '已签收18条次,签收率为64.3%,较上月有所下降(上月为100%)。',
    '(一)流动人口。全县共报送16条信息,文昌镇四个社区、宏仁、卧龙报送相对较好。文昌镇四个社区、文兴签收相对较好。'
    '全县文昌派出所、宏仁派出所、大新派出所、文兴派出所进行了签收,其余派出所签收均为"0"。',
    '(二)吸毒人员。仅大新报送了4条信息,其余各地网格员均未报送。大新乡签收相对较好。'
    '全县仅大新派出所进行了签收,其余派出所签收均为"0"。',
    '(三)严重精神障碍患者。仅宏仁报送了2条、大新报送了1条信息,其余各地网格员均未报送。'
    '各地报送信息的签收率均未达到80%。派出所方面,全县仅宏仁派出所、大新派出所进行了签收,其余派出所签收均为"0";'
    '卫生院方面,全县仅宏仁卫生院进行了签收,其余卫生院签收均为"0"。',
    '(四)社区矫正人员。全县各地网格员均未报送。',
    '(五)刑满释放人员。仅卧龙报送了1条、双峰报送了1条信息,其余各地网格员均未报送。卧龙镇签收相对较好。'
    '全县仅卧龙司法所进行了签收,其余司法所签收均为"0"。',
    '综合账号活跃度、事件办结完成率和重点人员信息签收情况排名(综合得分见附件),3月份红榜:宏仁、文昌镇四个社区、文兴;'
    '黑榜:长卿、双峰、文昌镇农村网格。其中,双峰、文昌镇农村网格连续两个月列入黑榜。',
]


def test_march_text_sentence_by_sentence(march):
    got = march.paragraphs
    assert len(got) == len(MARCH_TEXT)
    for g, want in zip(got, MARCH_TEXT):
        assert sentences(g) == sentences(want)
    assert march.title == "3月份全县网格化服务管理工作情况通报"
    assert [s.heading for s in march.sections] == ["一、各地账户活跃度情况", "二、事件报送情况",
                                                   '三、"三项重点工作"开展情况', "四、红黑榜"]


def test_md_document(march):
    md = bulletin.render_md(march)
    lines = md.splitlines()
    assert lines[0] == "# 3月份全县网格化服务管理工作情况通报"
    for heading in ("## 一、各地账户活跃度情况", "## 二、事件报送情况", '## 三、"三项重点工作"开展情况', "## 四、红黑榜"):
        assert heading in lines
    for p in MARCH_TEXT:
        assert p in lines
    assert "附件:1.各地网格员账号活跃度统计表" in lines and "2026年4月1日" in lines
    assert "### 附件3 事件办结情况统计表" in lines
    assert "| 8 | 白云 | 0 | 1 | — | 0% | 0 | 0% | — |" in lines  # no events reported: "—", in no list
    assert "| 4 | 卧龙 | 1 | 3 | 300% | 33.3% | 0 | — | 100%以上 |" in lines


def test_february_names_a_single_unit_in_full_and_the_rest(feb):
    assert feb.title == "2月份全县网格化服务管理工作情况通报"
    assert feb.paragraphs[0] == "2月份,全县网格员账号20个,活跃账号12个,账户活跃度为60%,较上月有所提升(上月为0%)。"
    assert feb.paragraphs[1] == ('其中,宏仁乡活跃度达到100%;卧龙、文兴活跃度相对较好;其余各地活跃度相对较差,'
                                 '其中文昌镇农村网格、双峰、白云活跃度为"0"。')


def test_the_first_month_of_data_has_no_comparison(con):
    b = bulletin.compute(con, Period.month(2026, 1), settings=Settings())
    assert b.paragraphs[:2] == ["1月份,全县网格员账号21个,活跃账号0个,账户活跃度为0%。", '各地活跃度均为"0"。']
    assert b.section("events").paragraphs[0] == \
        "1月份,全县共上报事件3件,办结事件0件,事件办结完成率为0%;月末超期未办结事件2件。"
    assert b.section("key_tasks").paragraphs[0] == "1月份,全县网格员均未报送重点人员信息。"
    assert all(r[5] is None for r in b.tables[0].rows)  # 上月活跃度: "—"


def test_cutoff_counts_later_sign_offs(con):
    b = bulletin.compute(con, MARCH, settings=Settings(), cutoff=dt.datetime(2026, 4, 6))
    cats = {c["category"]: c for c in b.to_dict()["key_tasks"]["categories"]}
    assert names(cats["流动人口"]["sign_good"]) == ["文昌镇四个社区", "大新", "文兴"]
    assert names(cats["严重精神障碍患者"]["sign_good"]) == ["大新"]
    assert "卫生院方面,全县卫生院均进行了签收" in cats["严重精神障碍患者"]["text"]
    assert b.to_dict()["key_tasks"]["county"]["signed"] == 20
    assert b.issued == dt.date(2026, 4, 6) and b.cutoff == dt.datetime(2026, 4, 6)


def test_thresholds_come_from_configuration(con):
    s = Settings()
    s.metrics.activity_good = 0.5
    s.metrics.event_low = 0.34
    b = bulletin.compute(con, MARCH, settings=s)
    act = {g: names(v) for g, v in b.to_dict()["activity"]["groups"].items()}
    assert act["相对较好"] == ["文昌镇四个社区", "卧龙", "大新", "文兴"] and act["相对较差"] == []
    ev = {g: names(v) for g, v in b.to_dict()["events"]["groups"].items()}
    assert ev["34%以下"] == ["文昌镇农村网格", "长卿", "文兴"]
    assert "文昌镇农村网格、长卿、文兴事件办结完成率在34%以下" in b.paragraphs[4]


def test_township_scope(con, wh):
    _, t = wh
    b = bulletin.compute(con, MARCH, Scope(township_code=t["卧龙镇"], label="卧龙镇"), settings=Settings())
    assert b.title == "3月份卧龙镇网格化服务管理工作情况通报"
    assert b.paragraphs[0] == "3月份,卧龙镇网格员账号6个,活跃账号4个,账户活跃度为66.7%,较上月有所下降(上月为80%)。"
    d = b.to_dict()
    assert {g: names(v) for g, v in d["activity"]["groups"].items() if v} == {"相对较好": ["卧龙"]}
    assert all(r[1] in ("卧龙", "合计") for r in d["tables"][0]["rows"])


def test_a_month_without_data_is_an_error(con):
    with pytest.raises(bulletin.NoData, match="2026-05"):
        bulletin.compute(con, Period.month(2026, 5), settings=Settings())
    with pytest.raises(bulletin.NoData, match="2025-11"):
        bulletin.compute(con, Period.month(2025, 11), settings=Settings())


# ---------------------------------------------------------------------------------------------------- renderers
def test_docx_is_an_official_document(march):
    data = render_docx(march)
    d = docx.Document(io.BytesIO(data))
    sec = d.sections[0]
    assert (round(sec.page_width.mm), round(sec.page_height.mm)) == (210, 297)
    assert round(sec.top_margin.mm) == 37 and round(sec.left_margin.mm) == 28
    texts = [p.text for p in d.paragraphs]
    assert texts[0] == "3月份全县网格化服务管理工作情况通报"
    assert typeset(MARCH_TEXT[1]) in texts and "”" in typeset(MARCH_TEXT[1])
    assert "（二）吸毒人员。仅大新报送了4条信息，其余各地网格员均未报送。大新乡签收相对较好。" \
           "全县仅大新派出所进行了签收，其余派出所签收均为“0”。" in texts
    assert "2026年4月1日" in texts and "示例县网格化服务管理中心" in texts
    assert len(d.tables) == 6 and d.tables[0].rows[0].cells[1].text == "单位"
    footer_xml = sec.footer._element.xml
    assert "PAGE" in footer_xml and sec.even_page_footer._element.xml.count("PAGE") == 1


def test_xlsx_holds_every_table(march):
    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(march)))
    assert wb.sheetnames[:6] == ["附件1 各地网格员账号活跃度统计表", "附件2 部门账号活跃度统计表", "附件3 事件办结情况统计表",
                                 "附件4 三项重点工作信息报送情况统计表", "附件5 部门签收情况统计表", "附件6 综合排名表(红黑榜)"]
    assert wb.sheetnames[6:] == ["通报分组", "通报正文"]
    for ws in wb.worksheets:  # row 1 the title, row 2 the header: both frozen
        assert ws.freeze_panes == "A3", ws.title
        assert ws.column_dimensions["B"].width >= 8, ws.title
    ws = wb["附件1 各地网格员账号活跃度统计表"]
    assert ws["A1"].value == "附件1 各地网格员账号活跃度统计表"
    assert [c.value for c in ws[2]] == ["序号", "单位", "账号数", "活跃账号数", "活跃度", "上月活跃度", "分组"]
    assert [c.value for c in ws[10]][:6] == [8, "白云", 0, 0, "—", 0]
    assert ws["E3"].number_format == "0.0%"
    groups = [(r[0], r[1], r[4]) for r in wb["通报分组"].iter_rows(min_row=3, values_only=True)]
    assert ("红黑榜(排名)", "连续两月黑榜", "双峰") in groups


# ---------------------------------------------------------------------------------------------------- CLI
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "warehouse", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_cli_formats(wh, tmp_path, march):
    path = str(wh[0])
    r = _cli("bulletin", "--month", "2026-03", "--warehouse", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip("\n") == bulletin.render_md(march).rstrip("\n")
    r = _cli("bulletin", "--month", "2026-03", "--format", "json", "--warehouse", path, "--out", str(tmp_path / "b.json"))
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert names(d["activity"]["groups"]["100%"]) == ["文昌镇农村网格", "宏仁"] and d["month"] == "2026-03"
    for fmt in ("docx", "xlsx"):
        out = tmp_path / f"b.{fmt}"
        r = _cli("bulletin", "--month", "2026-03", "--format", fmt, "--warehouse", path, "--out", str(out))
        assert r.returncode == 0 and out.stat().st_size > 5000, r.stderr
    # the .duckdb file itself works too, and --cutoff moves the cut-off to the end of that day
    version = db.resolve(wh[0])
    r = _cli("bulletin", "--month", "2026-03", "--format", "json", "--warehouse", str(version), "--cutoff", "2026-04-05")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["cutoff"] == "2026-04-06 00:00:00" and d["key_tasks"]["county"]["signed"] == 20


def test_cli_errors(wh, tmp_path):
    r = _cli("bulletin", "--month", "2026-05", "--warehouse", str(wh[0]))
    assert r.returncode == 2 and "没有 2026-05 的数据" in r.stderr and not r.stdout
    r = _cli("bulletin", "--month", "2026-03", "--warehouse", str(tmp_path / "none"))
    assert r.returncode == 2 and "尚未发布数据仓库" in r.stderr
    r = _cli("bulletin", "--month", "March", "--warehouse", str(wh[0]))
    assert r.returncode == 2 and "月份格式应为 YYYY-MM" in r.stderr


# ---------------------------------------------------------------------------------------------------- demo county
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from demo import generate
    from etl.pipeline import run

    root = tmp_path_factory.mktemp("demo_small")
    generate(root / "drop", months=2, end_month="2026-03")
    s = Settings().resolve(root)
    res = run(root / "drop", s, warehouse_dir=root / "wh", lake_dir=root / "lake", log=lambda m: None)
    assert res.status == "ok", res.error
    con = db.open_published(root / "wh")
    yield con
    con.close()


def _direct(con, sql: str, **params) -> dict:
    return {r[0]: tuple(r[1:]) for r in con.execute(sql, params).fetchall()}


def test_demo_bulletin_agrees_with_direct_sql_over_the_facts(demo):
    t0 = time.perf_counter()
    b = bulletin.compute(demo, MARCH, settings=Settings())
    render_docx(b), render_xlsx(b), bulletin.render_md(b)
    assert time.perf_counter() - t0 < 5
    d = b.to_dict()
    s, e = dt.datetime(2026, 3, 1), dt.datetime(2026, 4, 1)
    # activity straight from the 4-million-row fact (not the aggregates the layer reads)
    act = _direct(demo, """
        WITH days AS (SELECT account_id, count(DISTINCT op_date) AS n FROM fact_activity
                      WHERE op_time >= $s AND op_time < $e GROUP BY ALL),
        acc AS (SELECT a.ru_code, a.account_id, coalesce(d.n, 0) >= 20 AS active FROM dim_account a
                LEFT JOIN days d USING (account_id)
                WHERE a.role IN ('网格员', '网格长') AND coalesce(a.opened_at, TIMESTAMP '1900-01-01') < $e
                  AND (a.status <> '停用' OR coalesce(a.closed_at, a.updated_at) >= $s))
        SELECT r.short_name, count(acc.account_id), count(*) FILTER (acc.active)
        FROM dim_reporting_unit r LEFT JOIN acc USING (ru_code) GROUP BY ALL""", s=s, e=e)
    got = {u["name"]: (u["accounts"], u["active"]) for g in d["activity"]["groups"].values() for u in g}
    assert got == act
    for u in d["activity"]["groups"]["100%"]:
        assert u["active"] == u["accounts"] > 0
    for u in d["activity"]["groups"]["为0"]:
        assert u["active"] == 0 < u["accounts"]
    ev = _direct(demo, """
        SELECT r.short_name, count(*) FILTER (e.reported_at >= $s AND e.reported_at < $e),
               count(*) FILTER (e.closed_at >= $s AND e.closed_at < $e)
        FROM dim_reporting_unit r LEFT JOIN fact_event e USING (ru_code) GROUP BY ALL""", s=s, e=e)
    got = {u["name"]: (u["reported"], u["closed"]) for g in d["events"]["groups"].values() for u in g}
    assert got == ev
    assert {u["name"] for u in d["events"]["groups"]["100%以上"]} == {
        k for k, (rep, clo) in ev.items() if rep and clo / rep >= 1}
    assert {u["name"] for u in d["events"]["groups"]["50%以下"]} == {k for k, (rep, clo) in ev.items() if rep and clo / rep < 0.5}
    kp = _direct(demo, """
        SELECT category, count(*) FROM fact_kp_report WHERE reported_at >= $s AND reported_at < $e GROUP BY ALL""",
                 s=s, e=e)
    cats = {c["category"]: c for c in d["key_tasks"]["categories"]}
    assert {k: c["reported"] for k, c in cats.items() if c["reported"]} == {
        k: v[0] for k, v in kp.items() if k in KP_CATEGORIES}
    assert d["key_tasks"]["county"]["reported"] == sum(v[0] for v in kp.values())  # unknown categories count too
    signed = _direct(demo, """
        SELECT office_name, count(*) FROM fact_kp_signoff
        WHERE reported_at >= $s AND reported_at < $e AND signed_at < $e AND category = '流动人口' GROUP BY ALL""",
                     s=s, e=e)
    assert {o["name"]: o["signed"] for o in cats["流动人口"]["offices_signed"]["派出所"]} == {k: v[0] for k, v in signed.items()}
    county = d["activity"]["county"]
    assert county["accounts"] == sum(v[0] for v in act.values())
    assert math.isclose(county["rate"], sum(v[1] for v in act.values()) / county["accounts"])
    # the demo county's story: 宏仁 always at 100%, the three idle 乡镇 at 0
    assert "宏仁" in names(d["activity"]["groups"]["100%"])
    assert {"长卿", "双峰", "双板"} <= set(names(d["activity"]["groups"]["为0"]))
    md = bulletin.render_md(b)
    assert re.search(r'长卿、双峰、双板活跃度为"0"', md)

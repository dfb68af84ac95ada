"""预警 (warehouse/warnings.py) on tests/support/warning_county.py: each rule raises its warning with the exact reason
line as of the day (or the end of the week) that shows it, and not a day or a week earlier; first_seen traced back
in the data; scope; the CLI as a subprocess; the supervision store (acknowledgements, 督办单 answered / overdue /
pending, answered() for the quarterly assessment) and the 督办单 document."""
from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import warning_county

from core.config import Settings
from warehouse import db, supervision, warnings
from warehouse.metrics import Scope

ROOT = Path(__file__).resolve().parent.parent
D = dt.date


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return warning_county.build(tmp_path_factory.mktemp("warning_county"))


@pytest.fixture(scope="module")
def con(county):
    con = db.open_published(county[0])
    yield con
    con.close()


def _by(con, day, scope=Scope(), settings=None):
    return {(w.rule, w.unit): w for w in warnings.evaluate(con, day, scope, settings=settings or Settings())}


CASES = [  # (rule, unit, the first day it shows, level, reason on that day, first_seen)
    ("activity_drop", "卧龙镇", D(2024, 3, 17), "红", "卧龙镇 本周账号活跃度 40%，上周 100%，下降 60 个百分点"),
    ("completion_drop", "宏仁乡", D(2024, 3, 17), "橙", "宏仁乡 本周事件办结率 20%，上周 80%，下降 60 个百分点"),
    ("completion_low", "石桥镇", D(2024, 2, 29), "黄", "石桥镇 事件办结率连续 2 个月低于 50%：2月 30%，1月 40%"),
    ("signoff_backlog", "宏仁派出所", D(2024, 3, 13), "橙",
     "宏仁派出所 近 30 天报送中超时未签收 (红灯) 6 条，超过上限 5 条，最久已等待 3.6 天"),
    ("silent_unit", "龙泉乡", D(2024, 3, 15), "橙", "龙泉乡 已连续 14 天未上报事件 (最近一次上报在 2024-03-01)"),
    ("effective_gap", "卧龙镇", D(2024, 1, 31), "红", "卧龙镇 1月 账号活跃度 100%，有效活跃度 0%，相差 100 个百分点"),
    ("quiet_source", "基础信息采集统计", D(2024, 2, 9), "橙",
     "基础信息采集统计 已 8 天无新记录 (最新记录 2024-02-01，应每 7 天内有新记录)"),
]


@pytest.mark.parametrize("rule, unit, day, level, reason", CASES, ids=[c[0] for c in CASES])
def test_each_rule_shows_on_its_day_and_not_before(con, rule, unit, day, level, reason):
    w = _by(con, day).get((rule, unit))
    assert w is not None, (rule, _by(con, day).keys())
    assert (w.level, w.reason, w.first_seen) == (level, reason, day)
    # a week rule is judged on the last complete week: the day before shows the week before
    assert (rule, unit) not in _by(con, day - dt.timedelta(days=1))


def test_first_seen_stays_while_the_condition_holds(con):
    ws = _by(con, D(2024, 3, 17))
    assert ws[("signoff_backlog", "宏仁派出所")].first_seen == D(2024, 3, 13)
    assert ws[("signoff_backlog", "宏仁派出所")].reason.endswith("最久已等待 7.6 天")
    assert ws[("silent_unit", "龙泉乡")].first_seen == D(2024, 3, 15)
    assert ws[("silent_unit", "龙泉乡")].figures["days_silent"] == 16
    assert ws[("completion_low", "石桥镇")].first_seen == D(2024, 2, 29)
    assert ws[("quiet_source", "基础信息采集统计")].first_seen == D(2024, 2, 9)
    assert ws[("quiet_source", "基础信息采集统计")].level == "红"  # 45 days: more than twice the interval
    figures = ws[("activity_drop", "卧龙镇")].figures
    assert (figures["accounts"], figures["active"], figures["prev_active"], figures["drop_points"]) == (5, 2, 5, 60)
    # most urgent first
    assert [w.level for w in warnings.evaluate(con, D(2024, 3, 17))][0] == "红"


def test_default_as_of_is_the_data_date(con):
    assert warnings.data_date(con) == warning_county.LAST_DAY
    assert {w.key for w in warnings.evaluate(con)} == {w.key for w in warnings.evaluate(con, warning_county.LAST_DAY)}


def test_thresholds_come_from_configuration(con):
    s = Settings()
    s.warnings.drop_points = 65  # 卧龙镇 fell 60 points: not enough
    s.warnings.completion_drop_points = 65  # 宏仁乡 fell 60 points: not enough
    s.warnings.red_backlog_limit = 6  # 宏仁派出所 has 6: not over
    s.warnings.silent_days = 20
    ws = _by(con, D(2024, 3, 17), settings=s)
    assert ("signoff_backlog", "宏仁派出所") in _by(con, D(2024, 3, 17))
    s2 = Settings()
    s2.warnings.backlog_days = 7  # the reports of 03-10 are 8 days old at the end of 03-17: no longer counted
    assert ("signoff_backlog", "宏仁派出所") in _by(con, D(2024, 3, 16), settings=s2)
    assert ("signoff_backlog", "宏仁派出所") not in _by(con, D(2024, 3, 17), settings=s2)
    assert ("activity_drop", "卧龙镇") not in ws and ("completion_drop", "宏仁乡") not in ws
    assert ("signoff_backlog", "宏仁派出所") not in ws and ("silent_unit", "龙泉乡") not in ws
    s = Settings()
    s.warnings.drop_points = 25  # 60 ≥ 2 × 25: 红
    s.warnings.completion_drop_points = 30  # 60 ≥ 2 × 30: 红 (the default 50: 橙)
    ws = _by(con, D(2024, 3, 17), settings=s)
    assert ws[("activity_drop", "卧龙镇")].level == "红" and ws[("completion_drop", "宏仁乡")].level == "红"
    s.warnings.completion_low = 0.2  # the week ends at 20%: not under 20%, so no collapse to report
    assert ("completion_drop", "宏仁乡") not in _by(con, D(2024, 3, 17), settings=s)


def test_scope(con, county):
    towns = county[1]["townships"]
    mine = _by(con, D(2024, 3, 17), Scope(township_code=towns["宏仁乡"]))
    assert set(mine) == {("completion_drop", "宏仁乡"), ("signoff_backlog", "宏仁派出所")}
    assert set(_by(con, D(2024, 3, 17), Scope(office_name="宏仁派出所"))) == {("signoff_backlog", "宏仁派出所")}
    assert _by(con, D(2024, 3, 17), Scope(office_name="文昌派出所")) == {}


def test_cli_json(county):
    out = subprocess.run([sys.executable, "-m", "warehouse", "warnings", "--as-of", "2024-03-15", "--warehouse",
                          str(county[0]), "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    got = {(r["rule"], r["unit"]): r for r in rows}
    assert set(got) == {("signoff_backlog", "宏仁派出所"), ("silent_unit", "龙泉乡"),
                        ("quiet_source", "基础信息采集统计"), ("completion_low", "石桥镇"),
                        ("effective_gap", "卧龙镇")}
    gap = got[("effective_gap", "卧龙镇")]
    assert (gap["reason"], gap["first_seen"], gap["figures"]["months_running"]) == (
        "卧龙镇 2月 账号活跃度 100%，有效活跃度 0%，相差 100 个百分点", "2024-01-31", 2)
    r = got[("silent_unit", "龙泉乡")]
    assert {k: r[k] for k in ("level", "ru_code", "first_seen", "reason")} == {
        "level": "橙", "ru_code": county[1]["townships"]["龙泉乡"], "first_seen": "2024-03-15",
        "reason": "龙泉乡 已连续 14 天未上报事件 (最近一次上报在 2024-03-01)"}
    assert r["figures"] == {"days_silent": 14, "last_event": "2024-03-01", "silent_days": 14}
    # default: the data date
    out = subprocess.run([sys.executable, "-m", "warehouse", "warnings", "--warehouse", str(county[0])], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and len(json.loads(out.stdout)) == 7, out.stderr


def test_supervision_store(con, county, tmp_path):
    info = county[1]
    store = supervision.Store(tmp_path / "supervision.db")
    ws = _by(con, D(2024, 3, 17))
    w = ws[("signoff_backlog", "宏仁派出所")]
    store.acknowledge(w, "admin", "已电话联系")
    store.acknowledge(w, "other")  # kept as first recorded
    assert store.acks()[w.key]["by_user"] == "admin" and store.acks()[w.key]["note"] == "已电话联系"
    masked = Scope(personal="masked")
    o = store.issue(con, w, "admin", masked, as_of=D(2024, 3, 17), issued=dt.datetime(2024, 3, 17, 10))
    assert sorted(i["item_id"] for i in o.items) == sorted(info["kp"])
    assert {i["days_overdue"] for i in o.items} == {4}  # red from 03-13 09:00, to the end of 03-17
    assert {i["person_name"] for i in o.items} == {"郑**", "冯**", "陈**", "褚**", "卫**", "蒋**"}
    assert o.deadline == dt.datetime(2024, 3, 24, 10)
    # 龙泉乡's event late from 02-21 and closed on 02-27: answered within the deadline of an order of 02-25
    late = warnings.Warning("橙", "silent_unit", "unit", info["townships"]["龙泉乡"], "龙泉乡", D(2024, 2, 25),
                            "龙泉乡 测试", ru_code=info["townships"]["龙泉乡"], township_code=info["townships"]["龙泉乡"])
    o2 = store.issue(con, late, "admin", masked, as_of=D(2024, 2, 25), issued=dt.datetime(2024, 2, 25, 9))
    assert [(i["item_id"], i["days_overdue"]) for i in o2.items] == [(info["lq_late"], 4)]
    o3 = store.issue(con, ws[("completion_low", "石桥镇")], "admin", masked, as_of=D(2024, 2, 15),
                     issued=dt.datetime(2024, 2, 15, 9))
    assert len(o3.items) == 6 + 5  # January's 6 open events, February's of 02-04…02-08 (deadline by 02-15)
    states = {s.order.id: s for s in supervision.status(con, store.orders(), now=dt.datetime(2024, 3, 20))}
    assert (states[o.id].state, states[o.id].answered_items) == (supervision.PENDING, 0)
    assert (states[o2.id].state, states[o2.id].answered_items) == (supervision.ANSWERED, 1)
    assert states[o3.id].state == supervision.OVERDUE
    assert supervision.status(con, [o], now=dt.datetime(2024, 3, 25))[0].state == supervision.OVERDUE
    assert supervision.answered(D(2024, 1, 1), D(2024, 4, 1), con, store=store, now=dt.datetime(2024, 3, 20)) == \
        sorted([(info["townships"]["石桥镇"], 1, 0), (info["townships"]["龙泉乡"], 1, 1)])
    assert supervision.answered(D(2024, 2, 20), D(2024, 4, 1), con, store=store) == \
        [(info["townships"]["龙泉乡"], 1, 1)]
    # scope: a 乡镇 sees its own orders (and its offices'), a 部门用户 its office's
    assert {x.id for x in store.orders(Scope(township_code=info["townships"]["宏仁乡"]))} == {o.id}
    assert {x.id for x in store.orders(Scope(office_name="宏仁派出所"))} == {o.id}
    assert store.orders(Scope(township_code=info["townships"]["卧龙镇"])) == []
    with pytest.raises(ValueError):
        store.issue(con, ws[("quiet_source", "基础信息采集统计")], "admin", as_of=D(2024, 3, 17))


def test_order_docx(con, county, tmp_path):
    from docx import Document

    from warehouse.supervision_docx import render_order_docx

    store = supervision.Store(tmp_path / "supervision.db")
    w = _by(con, D(2024, 3, 17))[("signoff_backlog", "宏仁派出所")]
    o = store.issue(con, w, "admin", Scope(personal="masked"), as_of=D(2024, 3, 17),
                    issued=dt.datetime(2024, 3, 17, 10))
    doc = Document(io.BytesIO(render_order_docx(o, "示例县")))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "示例县网格化服务管理督办单" in text and "宏仁派出所：" in text
    assert "2024年3月24日" in text and w.reason in text.replace("（", " (").replace("）", ")").replace("，", "，")
    cells = [[c.text for c in r.cells] for r in doc.tables[0].rows]
    assert cells[0] == ["序号", "报送编号", "类别", "人员", "网格", "报送时间", "超时天数"]
    assert len(cells) == 7 and {r[3] for r in cells[1:]} == {"郑**", "冯**", "陈**", "褚**", "卫**", "蒋**"}
    assert all(r[6] == "4" for r in cells[1:])
    assert "郑一鸣" not in text + "".join(sum(cells, []))


def test_publish_records_the_warnings_it_raised(con):
    rows = con.execute("SELECT key, as_of, reason FROM warning ORDER BY key").fetchall()
    ws = sorted(warnings.evaluate(con), key=lambda w: w.key)
    assert [(k, r) for k, _, r in rows] == [(w.key, w.reason) for w in ws] and len(rows) == 7
    assert {a for _, a, _ in rows} == {warning_county.LAST_DAY}

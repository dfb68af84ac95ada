"""The wall display rolls over by itself: the period it shows follows the clock and the data."""
import datetime as dt

from dashboard.wall import wall_period


def test_current_month_while_its_data_arrives():
    assert wall_period(dt.date(2026, 11, 30), dt.date(2026, 11, 29)).key == "2026-11"


def test_month_end_rolls_over_when_the_new_month_has_data():
    # just past midnight on the 1st, before the first delivery of December: still November's figures
    assert wall_period(dt.date(2026, 12, 1), dt.date(2026, 11, 30)).key == "2026-11"
    # the first December data published: December
    assert wall_period(dt.date(2026, 12, 1), dt.date(2026, 12, 1)).key == "2026-12"
    # year end
    assert wall_period(dt.date(2027, 1, 1), dt.date(2027, 1, 1)).key == "2027-01"


def test_a_demo_county_that_ends_last_month_shows_its_last_month():
    assert wall_period(dt.date(2026, 11, 21), dt.date(2026, 10, 31)).key == "2026-10"
    assert wall_period(dt.date(2026, 11, 21), None).key == "2026-11"


# ------------------------------------------------------------------------------------------------ 今日, key persons
import pytest  # noqa: E402
from support.county import MiniCounty  # noqa: E402

from core.config import Settings  # noqa: E402
from warehouse import db, metrics  # noqa: E402
from warehouse.metrics import Period, Scope  # noqa: E402

NOW = dt.datetime(2026, 3, 15, 14, 0)  # the wall's as-of: now
TODAY = dt.datetime(2026, 3, 15)


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    c = MiniCounty()
    t1, t2 = c.township("宏仁乡"), c.township("卧龙镇")
    g1, g2 = c.grid(c.village(t1, "红星村")), c.grid(c.village(t2, "卧龙村"))
    a1, a2, a3 = c.account(g1), c.account(g1), c.account(g1)
    c.account(g2)
    c.op(a1, TODAY + dt.timedelta(hours=9))  # active today
    c.op(a2, TODAY - dt.timedelta(hours=3))  # yesterday only
    c.op(a3, TODAY + dt.timedelta(hours=15))  # later today: after now (a future-dated row), not counted
    h = lambda n: TODAY + dt.timedelta(hours=n)  # noqa: E731
    c.event(g1, h(10))  # reported today
    c.event(g1, h(-30), closed_at=h(11))  # closed today
    c.event(g1, h(-72), deadline=h(8))  # became overdue today, still open
    c.event(g1, h(-72), deadline=h(16))  # its deadline is later today: not yet overdue
    c.event(g1, h(15))  # reported "today" after now: not counted
    c.event(g1, h(-96), deadline=h(-20))  # overdue since yesterday: overdue now, not newly
    c.event(g1, h(-96), deadline=h(9), closed_at=h(8.5))  # closed today, before its deadline
    c.event(g2, h(9), deadline=h(12))  # the other 乡镇: reported today and overdue today
    march = dt.datetime(2026, 3, 3, 9)
    c.report(g1, "流动人口", march, police="宏仁派出所", police_signed_at=march + dt.timedelta(hours=2))
    c.report(g1, "流动人口", march + dt.timedelta(days=1), police="宏仁派出所")  # the same person again
    c.report(g1, "流动人口", march, police="宏仁派出所", id_number="510723199202023334")
    c.report(g2, "吸毒人员", march, police="卧龙派出所", id_number="510723198803035558")
    c.report(g1, "留守儿童", march, id_number="510723201004046663")  # not a contract category
    con = db.open_published(c.build(tmp_path_factory.mktemp("wall-today")))
    yield con, t1
    con.close()


def test_today_counts_what_happened_today_up_to_now(county):
    con, t1 = county
    r = metrics.query(con, "wall/today", Scope(personal="none"), settings=Settings(), as_of=NOW).iloc[0]
    assert (r["events_reported"], r["events_closed"], r["became_overdue"], r["overdue_open"]) == (2, 2, 2, 3)
    assert (r["accounts"], r["accounts_active"]) == (4, 1)
    own = metrics.query(con, "wall/today", Scope(township_code=t1, personal="none"), settings=Settings(),
                        as_of=NOW).iloc[0]
    assert (own["events_reported"], own["became_overdue"], own["overdue_open"], own["accounts"]) == (1, 1, 2, 3)
    # on the 1st of a month just after midnight: nothing yet, and nothing from the future
    early = metrics.query(con, "wall/today", Scope(personal="none"), settings=Settings(),
                          as_of=TODAY + dt.timedelta(minutes=5)).iloc[0]
    assert (early["events_reported"], early["events_closed"], early["accounts_active"]) == (0, 0, 0)


def test_key_persons_on_the_wall_are_counted_by_person_without_their_id(county):
    con, _ = county
    df = metrics.query(con, "wall/kp_persons", Scope(personal="none"), settings=Settings(),
                       **Period.month(2026, 3).params())
    assert "id_number" not in df.columns and "person" not in df.columns
    got = {r.category: (r.reports, r.persons, r.fully_signed) for r in df.itertuples() if isinstance(r.category, str)}
    assert got["流动人口"] == (3, 2, 1) and got["吸毒人员"] == (1, 1, 0) and got["刑满释放人员"] == (0, 0, 0)
    assert list(got) == ["流动人口", "吸毒人员", "严重精神障碍患者", "社区矫正人员", "刑满释放人员"]
    other = df[df["category"].isna()]
    assert other["reports"].tolist() == [1]  # 留守儿童: apart, never a sixth category


def test_alerts_fit_the_line_and_say_how_many_more():
    from dashboard.wall import alert_text

    alerts = ["1 个文件导入失败", "数据源「省平台接口」导入失败", "数据超时未更新: 组织机构、账号等 5 类", "最近导入隔离 12 行"]
    html = alert_text(alerts, 48)
    assert "1 个文件导入失败" in html and "另 2 项告警" in html and "最近导入隔离" not in html
    assert "另" not in alert_text(alerts[:1], 48)


def test_a_running_month_is_counted_to_today_with_as_many_days_before():
    from dashboard.wall import params

    prm = params(Period.month(2026, 12), dt.datetime(2026, 12, 2, 9, 30))
    assert (prm["start"], prm["end"]) == (dt.date(2026, 12, 1), dt.date(2026, 12, 3))  # never the 1st of January
    assert (prm["prev_start"], prm["prev_end"]) == (dt.date(2026, 11, 1), dt.date(2026, 11, 3))
    done = params(Period.month(2026, 11), dt.datetime(2026, 12, 2, 9, 30))  # a month that is over: all of it
    assert (done["end"], done["prev_end"]) == (dt.date(2026, 12, 1), dt.date(2026, 11, 1))
    last_day = params(Period.month(2026, 11), dt.datetime(2026, 11, 30, 23, 0))
    assert last_day["end"] == dt.date(2026, 12, 1)


def test_no_change_is_shown_against_a_period_without_data():
    import pandas as pd

    from dashboard.wall import _delta

    assert "环比 —" in _delta(0.5, None, points=True)
    assert "▲ 2" in _delta(5, 3, points=False) and "wall-good" in _delta(5, 3, points=False)
    assert "wall-bad" in _delta(5, 3, points=False, higher_better=False)  # more overdue is bad
    assert "持平" in _delta(0.5, 0.5, points=True)
    assert "环比 —" in _delta(pd.NA, 3, points=False)

"""Weekly review figures (warehouse/review.py) on the county of tests/support/bulletin_county.py: ISO week 2026-W12
(03-16 … 03-22) against W11 and W08 (the same week of the previous month), and the week's red and black list."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import bulletin_county

from core.config import Settings
from warehouse import db, review
from warehouse.metrics import Period, Scope

ROOT = Path(__file__).resolve().parent.parent
W12 = Period.iso_week(2026, 12)


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    c, t = bulletin_county.build()
    return c.build(tmp_path_factory.mktemp("review_county")), t


@pytest.fixture(scope="module")
def con(wh):
    con = db.open_published(wh[0])
    yield con
    con.close()


def test_periods_compared():
    last, same, labels = review.comparisons(W12)
    assert (last.key, same.key, labels) == ("2026-W11", "2026-W08", ("上周", "上月同周"))
    last, same, labels = review.comparisons(Period.month(2026, 3))
    assert (last.key, same.key, labels) == ("2026-02", "2025-03", ("上月", "去年同月"))


def test_week_figures(con):
    r = review.compute(con, W12, settings=Settings())
    f = {x.key: x for x in r.figures}
    # a week needs 5 active days: W12 13 of 19 accounts, W11 13 of 20, W08 12 of 19
    assert (f["activity_rate"].value, f["activity_rate"].last, f["activity_rate"].same_last_month) == \
        pytest.approx((13 / 19, 13 / 20, 12 / 19))
    assert f["activity_rate"].trend(f["activity_rate"].last) == "好转"
    assert (f["events_reported"].value, f["events_reported"].last, f["events_reported"].same_last_month) == (1, 1, 1)
    assert (f["events_closed"].value, f["events_closed"].last) == (0, 1)
    assert f["events_closed"].trend(f["events_closed"].last) == "下滑"
    assert (f["overdue_open"].value, f["overdue_open"].last, f["overdue_open"].same_last_month) == (5, 4, 2)
    assert f["overdue_open"].trend(f["overdue_open"].last) == "下滑"  # more overdue is worse
    assert (f["kp_reports"].value, f["kp_reports"].last, f["kp_reports"].same_last_month) == (2, 5, 0)
    assert f["completion_rate"].value == 0 and f["completion_rate"].fmt(f["completion_rate"].last) == "100%"


def test_week_red_and_black_list_flags_repeat_offenders(con):
    r = review.compute(con, W12, settings=Settings())
    assert [u["name"] for u in r.red] == ["文昌镇农村网格", "宏仁", "卧龙"]
    assert [u["name"] for u in r.black] == ["长卿", "双峰", "大新"]
    assert [u["name"] for u in r.black_repeat] == ["长卿", "双峰"]  # black in W11 too
    assert [u["repeat"] for u in r.black] == [True, True, False]
    md = review.render_md(r)
    assert "红榜: 文昌镇农村网格、宏仁、卧龙" in md
    assert "黑榜: 长卿、双峰、大新 (连续两期上黑榜: 长卿、双峰)" in md
    assert "| 上报事件 | 1 | 1 | 持平 | 1 | 持平 |" in md


def test_scoped_review(con, wh):
    _, t = wh
    r = review.compute(con, W12, Scope(township_code=t["卧龙镇"], label="卧龙镇"), settings=Settings())
    f = {x.key: x for x in r.figures}
    assert (f["activity_rate"].value, f["activity_rate"].last) == (1.0, pytest.approx(4 / 6))
    assert [u["name"] for u in r.ranking] == ["卧龙"] and r.area == "卧龙镇"


def test_month_review_and_cli(con, wh):
    r = review.compute(con, Period.month(2026, 3), settings=Settings())
    f = {x.key: x for x in r.figures}
    assert (f["activity_rate"].value, f["activity_rate"].last) == (0.6, 0.6)
    assert f["activity_rate"].trend(f["activity_rate"].last) == "持平"
    p = subprocess.run([sys.executable, "-m", "warehouse", "review", "--period", "2026-W12", "--format", "json",
                        "--warehouse", str(wh[0])], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["period"] == "2026-W12" and [u["name"] for u in d["black_repeat"]] == ["长卿", "双峰"]
    assert {x["key"]: x["trend_last"] for x in d["figures"]}["kp_reports"] == "下滑"


def test_a_running_week_is_measured_now_as_the_pages_measure_it(con):
    """The review of a week still running (as_of: now, on its Wednesday) counts what is overdue and the active
    days an account can have had by now, exactly as 概览 does ($period_asof), not at the week's future end."""
    import datetime as dt

    from warehouse import metrics

    now = dt.datetime(2026, 3, 18, 12)
    r = review.compute(con, W12, settings=Settings(), as_of=now)
    f = {x.key: x.value for x in r.figures}
    want = metrics.query(con, "overview/headline", Scope(), settings=Settings(),
                         **metrics.period_params(W12, W12.prev()), cutoff=None, period_asof=now).iloc[0]
    at_end = {x.key: x.value for x in review.compute(con, W12, settings=Settings()).figures}
    assert f == {k: review._clean(want[k]) for k in f}
    assert f != at_end  # the week's figures at its end differ: the test measures the running week


def test_a_running_months_trend_point_is_measured_up_to_today(con):
    """The trends' last month (活跃度 趋势, 乡镇对比) of a month still running is cut after today (Ctx.trend_end):
    its 账号活跃度 is that of the month's days so far, with the active days those days require, not the month's at
    its future end."""
    import datetime as dt

    import pandas as pd

    from dashboard import ui
    from warehouse import metrics

    month, now = Period.month(2026, 3), dt.datetime(2026, 3, 18, 12)
    ctx = ui.Ctx(period=month, scope=Scope(), ru_code=None, units=pd.DataFrame(), as_of=now,
                 data_first_day=dt.date(2026, 1, 1))
    assert ctx.running and ctx.trend_end == dt.date(2026, 3, 19)
    past = ui.Ctx(period=month, scope=Scope(), ru_code=None, units=pd.DataFrame(), as_of=dt.datetime(2026, 4, 2),
                  data_first_day=dt.date(2026, 1, 1))
    assert not past.running and past.trend_end == month.end

    def last_rate(end):
        tr = metrics.query(con, "activity/trend", Scope(), settings=Settings(), end=end, months_back=3, ru_code=None)
        return tr.iloc[-1]["rate"]

    so_far = Period("month", dt.date(2026, 3, 1), dt.date(2026, 3, 19))
    head = metrics.query(con, "overview/headline", Scope(), settings=Settings(),
                         **metrics.period_params(so_far, so_far.prev())).iloc[0]
    assert last_rate(ctx.trend_end) == pytest.approx(head["activity_rate"])
    assert last_rate(month.end) != pytest.approx(head["activity_rate"])  # at the month's end: another figure

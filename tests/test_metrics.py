"""The metrics layer (warehouse/sql + warehouse/schema/50_metrics.sql) on a hand-built county loaded through the
real ETL: every figure checked against the numbers written down in tests/support/bulletin_county.py, every SQL file run
in a 乡镇's scope (no other 乡镇's rows) and on an almost empty warehouse."""
from __future__ import annotations

import datetime as dt
import math
import re

import pandas as pd
import pytest
from support import bulletin_county
from support.county import MiniCounty

from core.config import Settings
from warehouse import db, metrics
from warehouse.metrics import Period, Scope

MARCH = Period.month(2026, 3)
FEB = Period.month(2026, 2)
AS_OF = dt.datetime(2026, 4, 1)


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    c, t = bulletin_county.build()
    wh = c.build(tmp_path_factory.mktemp("metrics_county"))
    con = db.open_published(wh)
    yield con, t
    con.close()


def q(con, name, period=MARCH, scope=metrics.COUNTY, **extra):
    return metrics.query(con, name, scope, settings=Settings(), **metrics.period_params(period), **extra)


def rows(df: pd.DataFrame, key: str, *cols: str) -> dict:
    """{key: (col, …)} with NaN → None and floats rounded to 4 places."""
    def v(x):
        if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
            return None
        return round(float(x), 4) if isinstance(x, float) else (x.item() if hasattr(x, "item") else x)
    return {r[key]: tuple(v(r[c]) for c in cols) for _, r in df.iterrows()}


# ---------------------------------------------------------------------------------------------------- 账号活跃度
def test_activity_by_unit_month_with_groups_and_edge_cases(county):
    con, _ = county
    df = q(con, "activity/by_unit")
    assert list(df["short_name"]) == ["文昌镇四个社区", "文昌镇农村网格", "宏仁", "卧龙", "长卿", "双峰", "大新", "白云", "文兴"]
    assert rows(df, "short_name", "accounts", "active", "rate", "grp", "prev_accounts", "prev_active") == {
        "文昌镇四个社区": (2, 1, 0.5, "相对较差", 2, 1),
        "文昌镇农村网格": (1, 1, 1.0, "100%", 1, 0),
        "宏仁": (3, 3, 1.0, "100%", 3, 3),
        # W5 opened 03-15 and W6 closed 03-10 are counted (inactive); W7 closed in January is not
        "卧龙": (6, 4, 0.6667, "相对较好", 5, 4),
        "长卿": (2, 0, 0.0, "为0", 2, 1),
        "双峰": (1, 0, 0.0, "为0", 1, 0),
        "大新": (2, 1, 0.5, "相对较差", 2, 1),  # 大新2: 19 days, one short
        "白云": (0, 0, None, "—", 1, 0),  # no account in March: "—", never 0%
        "文兴": (3, 2, 0.6667, "相对较好", 3, 2),
    }


def test_activity_in_an_iso_week_needs_five_days(county):
    con, t = county
    df = q(con, "activity/by_unit", Period.iso_week(2026, 12))  # 03-16 … 03-22
    got = rows(df, "short_name", "accounts", "active")
    assert got["文昌镇四个社区"] == (2, 1)  # 文昌四1: days 16–20 = 5 (active), 文昌四2: none
    assert got["卧龙"] == (5, 5)  # W6 closed 03-10: not counted; W5 opened 03-15: 7 days
    assert got["大新"] == (2, 1)  # 大新1: days 16–20 = 5 (active); 大新2: 16–19 = 4 (inactive)
    inactive = metrics.query(con, "activity/inactive_accounts", settings=Settings(),
                             **metrics.period_params(Period.iso_week(2026, 12)), ru_code=t["大新乡"])
    assert list(inactive["account_id"]) == [t["accounts"]["大新2"]] and list(inactive["needed_days"]) == [5]


def test_inactive_accounts_are_listed_with_last_day_and_masked(county):
    con, t = county
    a = t["accounts"]
    df = q(con, "activity/inactive_accounts", ru_code=t["卧龙镇"])
    assert set(df["account_id"]) == {a["卧龙5"], a["卧龙6"]}
    last = dict(zip(df["account_id"], df["last_active_day"]))
    assert pd.Timestamp(last[a["卧龙5"]]).date() == dt.date(2026, 3, 31)
    assert pd.Timestamp(last[a["卧龙6"]]).date() == dt.date(2026, 3, 9)
    assert set(df["needed_days"]) == {20}
    assert set(df["person_name"]) == {"张**"} and set(df["phone"]) == {"138****5678"}
    hidden = metrics.query(con, "activity/inactive_accounts", Scope(personal="none"), settings=Settings(),
                           **metrics.period_params(MARCH), ru_code=t["卧龙镇"])
    assert "person_name" not in hidden and "phone" not in hidden


def test_activity_by_office_and_drill_down(county):
    con, t = county
    off = q(con, "activity/by_office")
    got = rows(off, "office_name", "office_kind", "accounts", "active", "grp")
    assert got["卧龙司法所"] == ("司法所", 1, 1, "有活跃")
    assert got["文兴派出所"] == ("派出所", 1, 1, "有活跃")
    assert got["宏仁卫生院"] == ("卫生院", 1, 0, "为0")  # 5 days
    assert got["双峰司法所"] == ("司法所", 0, 0, "—")  # known only from a report: no account
    assert list(off["office_name"][:3]) == ["文昌派出所", "宏仁派出所", "宏仁卫生院"]  # county order, then kind
    com = q(con, "activity/by_community", ru_code=t["文昌镇"] + "-U")
    assert rows(com, "community_name", "accounts", "active", "grids") == {"城东社区": (2, 1, 1)}
    grid = q(con, "activity/by_grid", ru_code=t["卧龙镇"])
    assert rows(grid, "grid_code", "accounts", "active", "prev_accounts") == {t["grids"]["卧龙"]: (6, 4, 5)}
    trend = metrics.query(con, "activity/trend", settings=Settings(), end=dt.date(2026, 4, 1), months_back=3)
    assert rows(trend, "month", "accounts", "active", "dept_accounts", "dept_active") == {
        "2026-01": (21, 0, 10, 0), "2026-02": (20, 12, 10, 0), "2026-03": (20, 12, 10, 2)}


# ---------------------------------------------------------------------------------------------------- 事件
def test_events_by_unit(county):
    con, _ = county
    df = q(con, "events/by_unit")
    assert rows(df, "short_name", "reported", "closed", "completion_rate", "grp", "overdue_open") == {
        "文昌镇四个社区": (2, 2, 1.0, "100%以上", 1),  # E1 reported in February, closed in March
        "文昌镇农村网格": (1, 0, 0.0, "50%以下", 0),
        "宏仁": (4, 3, 0.75, "其他", 0),
        "卧龙": (1, 3, 3.0, "100%以上", 0),  # backlog from January cleared
        "长卿": (2, 0, 0.0, "50%以下", 2),
        "双峰": (0, 0, None, "—", 0),  # its only event was cancelled (已关闭, no closed_at) in January
        "大新": (2, 1, 0.5, "其他", 1),  # exactly 50%: not "50%以下"
        "白云": (0, 1, None, "—", 0),  # closed one, reported none: "—"
        "文兴": (3, 1, 0.3333, "50%以下", 2),
    }
    got = rows(df, "short_name", "closed_on_time", "on_time_rate", "yellow_cards", "red_cards", "prev_reported", "prev_closed")
    assert got["文昌镇四个社区"] == (1, 0.5, 0, 1, 1, 0)
    assert got["卧龙"] == (1, 0.3333, 0, 0, 0, 0)
    assert got["文昌镇农村网格"][2] == 1
    assert got["宏仁"][4:] == (1, 1)
    groups = q(con, "events/groups")
    assert [(g, list(n)) for g, n in zip(groups["grp"], groups["short_names"])] == [
        ("100%以上", ["文昌镇四个社区", "卧龙"]), ("50%以下", ["文昌镇农村网格", "长卿", "文兴"]),
        ("其他", ["宏仁", "大新"]), ("—", ["双峰", "白云"])]


def test_event_thresholds_come_from_configuration(county):
    con, _ = county
    s = Settings()
    s.metrics.event_high, s.metrics.event_low = 0.75, 0.4
    df = metrics.query(con, "events/by_unit", settings=s, **metrics.period_params(MARCH))
    got = dict(zip(df["short_name"], df["grp"]))
    assert got["宏仁"] == "75%以上" and got["文兴"] == "40%以下" and got["大新"] == "其他"


def test_event_mix_funnel_list_and_points(county):
    con, t = county
    mix = q(con, "events/category_mix")
    assert rows(mix, "category", "reported", "closed")["安全隐患"] == (3, 3)
    assert int(mix["reported"].sum()) == 15 and int(mix["closed"].sum()) == 11
    funnel = q(con, "overview/event_funnel")
    # no flow steps delivered: an event counts as accepted once closed
    assert rows(funnel, "stage", "events", "prev_events") == {"当期上报": (15, 3), "其中已受理": (7, 1), "其中已办结": (7, 1)}
    ttc = q(con, "events/time_to_close")
    assert int(ttc["events"].sum()) == 11
    lst = q(con, "events/list", ru_code=t["文昌镇"] + "-U")
    assert set(lst["event_id"]) == {t["events"][k] for k in ("E1", "E2", "E3")}
    assert set(lst["summary"]) == {"邻里纠纷"}
    assert len(q(con, "events/list", limit=2)) == 2
    recent = q(con, "overview/recent_events", limit=3)
    assert list(recent["event_id"]) == [t["events"][k] for k in ("H3", "X2", "E3")]
    assert "summary" not in recent
    pts = q(con, "overview/event_points")
    assert list(pts.columns) == ["lon", "lat", "status", "events", "township_code"]  # coarsened, counted


# ---------------------------------------------------------------------------------------------------- 三项重点工作
def test_key_persons_by_category_and_unit(county):
    con, _ = county
    df = q(con, "kp/by_category_unit")
    df = df[df["reported"] > 0]
    got = {(r["category"], r["short_name"]): (r["reported"], r["needed"], r["signed"], r["report_good"],
                                              r["name_each"], r["sign_good"]) for _, r in df.iterrows()}
    assert got == {
        ("流动人口", "文昌镇四个社区"): (5, 5, 4, True, False, True),  # 80%: the boundary is good
        ("流动人口", "宏仁"): (4, 4, 3, True, False, False),  # tied second: included
        ("流动人口", "卧龙"): (4, 4, 0, True, False, False),
        ("流动人口", "大新"): (2, 2, 1, False, False, False),  # one signed after the cut-off
        ("流动人口", "文兴"): (1, 1, 1, False, False, True),
        ("吸毒人员", "大新"): (4, 4, 4, True, True, True),
        ("严重精神障碍患者", "宏仁"): (2, 4, 3, True, True, False),  # two sign-offs each
        ("严重精神障碍患者", "大新"): (1, 2, 1, False, True, False),  # ⌈2/3⌉ = 1: 宏仁 only
        ("刑满释放人员", "卧龙"): (1, 1, 1, True, True, True),
        ("刑满释放人员", "双峰"): (1, 1, 0, True, True, False),
    }


def test_sign_off_cutoff_moves_both_periods(county):
    con, _ = county
    late = q(con, "kp/by_category_unit", cutoff=dt.datetime(2026, 4, 6))
    got = {(r["category"], r["short_name"]): (r["signed"], r["sign_good"]) for _, r in late.iterrows()}
    assert got[("流动人口", "大新")] == (2, True)
    assert got[("严重精神障碍患者", "大新")] == (2, True)
    tallies = q(con, "overview/kp_tallies")
    assert rows(tallies, "category", "reports", "signoffs_needed", "signoffs_signed", "prev_reports") == {
        "流动人口": (16, 16, 9, 3), "吸毒人员": (4, 4, 4, 0), "严重精神障碍患者": (3, 6, 4, 0),
        "社区矫正人员": (0, 0, 0, 0), "刑满释放人员": (2, 2, 1, 0)}
    assert rows(q(con, "overview/kp_tallies", cutoff=dt.datetime(2026, 4, 6)), "category", "signoffs_signed")[
        "严重精神障碍患者"] == (5,)


def test_key_persons_by_office_backlog_and_overdue_list(county):
    con, _ = county
    off = q(con, "kp/by_office", as_of=AS_OF)
    got = rows(off, "office_name", "received", "signed", "unsigned", "unsigned_red", "grp")
    assert got["文昌派出所"] == (5, 4, 1, 1, "有签收")
    assert got["大新卫生院"] == (1, 0, 1, 1, "为0")
    assert got["卧龙司法所"] == (1, 1, 0, 0, "有签收")
    assert got["白云司法所"] == (0, 0, 0, 0, "无报送")
    oc = q(con, "kp/by_office_category")
    signed = oc[oc["signed"] > 0]
    assert [(r["category"], r["office_name"]) for _, r in signed.iterrows()] == [
        ("流动人口", "文昌派出所"), ("流动人口", "宏仁派出所"), ("流动人口", "大新派出所"), ("流动人口", "文兴派出所"),
        ("吸毒人员", "大新派出所"), ("严重精神障碍患者", "宏仁派出所"), ("严重精神障碍患者", "大新派出所"),
        ("严重精神障碍患者", "宏仁卫生院"), ("刑满释放人员", "卧龙司法所")]
    # the backlog at 2026-03-31 12:00: 大新's 流动人口 of 03-30 09:00 is 27 h old (yellow); the rest older (red)
    backlog = metrics.query(con, "overview/signoff_backlog", settings=Settings(),
                            as_of=dt.datetime(2026, 3, 31, 12))
    got = rows(backlog, "office_name", "unsigned", "yellow", "red")
    assert got["大新派出所"] == (1, 1, 0)
    assert got["卧龙派出所"] == (4, 0, 4)
    assert got["大新卫生院"] == (1, 0, 1)
    lst = metrics.query(con, "kp/overdue_signoffs", settings=Settings(), as_of=dt.datetime(2026, 3, 31, 12))
    assert len(lst) == int(backlog["yellow"].sum() + backlog["red"].sum())
    assert set(lst["level"]) == {"黄", "红"}
    assert set(lst["id_number"]) == {"510723********1232"} and set(lst["person_name"]) == {"李**"}


def test_department_user_sees_only_reports_sent_to_its_office(county):
    con, _ = county
    scope = Scope(office_name="大新派出所", label="大新派出所")
    df = metrics.query(con, "kp/by_category_unit", scope, settings=Settings(), **metrics.period_params(MARCH))
    assert int(df["reported"].sum()) == 7 and int(df["needed"].sum()) == 7  # its own sign-offs only
    lst = metrics.query(con, "kp/overdue_signoffs", scope, settings=Settings(), as_of=AS_OF)
    assert set(lst["office_name"]) == {"大新派出所"}
    off = metrics.query(con, "kp/by_office", scope, settings=Settings(), **metrics.period_params(MARCH), as_of=AS_OF)
    assert list(off["office_name"]) == ["大新派出所"]


def test_activity_headline_is_the_headlines_account_figures(county):
    """activity/headline (the 账号活跃度 page's lighter query) gives exactly the account columns of overview/headline."""
    con, t = county
    for scope in (metrics.COUNTY, Scope(township_code=t["卧龙镇"], label="卧龙镇"), Scope(office_name="宏仁派出所")):
        for period in (MARCH, FEB, Period.iso_week(2026, 12)):
            a = q(con, "activity/headline", period, scope)
            h = q(con, "overview/headline", period, scope)[list(a.columns)]
            assert len(a.columns) == 12 and a.equals(h) and list(a.dtypes) == list(h.dtypes)


# ---------------------------------------------------------------------------------------------------- overview
def test_headline_and_unit_ranking(county):
    con, _ = county
    h = q(con, "overview/headline").iloc[0]
    assert (h["accounts"], h["active"], h["prev_accounts"], h["prev_active"]) == (20, 12, 20, 12)
    assert (h["dept_accounts"], h["dept_active"]) == (10, 2)
    assert (h["events_reported"], h["events_closed"], h["closed_on_time"], h["overdue_open"]) == (15, 11, 7, 6)
    assert (h["prev_events_reported"], h["prev_events_closed"]) == (3, 1)
    assert (h["kp_reports"], h["signoffs_needed"], h["signoffs_signed"], h["prev_kp_reports"]) == (25, 28, 18, 3)
    assert (h["households"], h["collected"], h["prev_collected"]) == (1700, 510, 300)
    assert h["collection_rate"] == pytest.approx(0.3)
    r = q(con, "overview/unit_ranking")
    got = rows(r, "short_name", "score", "rank", "red", "black", "black_repeat")
    assert got == {
        "文昌镇四个社区": (round((0.5 + 1 + 0.8) / 3, 4), 2, True, False, False),
        "文昌镇农村网格": (0.5, 6, False, True, True),
        "宏仁": (round((1 + 0.75 + 4 / 6) / 3, 4), 1, True, False, False),
        "卧龙": (round((2 / 3 + 1 + 0.2) / 3, 4), 4, False, False, False),
        "长卿": (0.0, 7, False, True, False),
        "双峰": (0.0, 7, False, True, True),
        "大新": (round((0.5 + 0.5 + 5 / 7) / 3, 4), 5, False, False, False),
        "白云": (None, None, False, False, False),
        "文兴": (round((2 / 3 + 1 / 3 + 1) / 3, 4), 3, True, False, False),
    }


def test_comparison(county):
    con, t = county
    long = metrics.query(con, "comparison/long", settings=Settings(), end=dt.date(2026, 4, 1), months_back=2)
    sel = long[(long["month"] == "2026-03") & (long["metric"] == "activity_rate")]
    by_unit = q(con, "activity/by_unit")
    assert rows(sel, "short_name", "value") == {k: (v[0],) for k, v in rows(by_unit, "short_name", "rate").items()}
    assert set(long["month"]) == {"2026-02", "2026-03"}
    rk = q(con, "comparison/rankings")
    act = rk[rk["metric"] == "activity_rate"]
    assert rows(act, "short_name", "rank", "prev_rank", "movement")["长卿"] == (7, 4, -3)
    assert rows(act, "short_name", "rank")["白云"] == (None,)


def test_no_previous_rank_before_the_data(county):
    """January is the data's first month: December holds no data, so no unit has a 上期名次 or a 名次变化 (its
    zeros would rank every unit first); February's previous period (January) is ranked."""
    con, _ = county
    jan = Period.month(2026, 1)
    for name, cols in (("overview/unit_ranking", ("prev_score", "prev_rank")),
                       ("comparison/rankings", ("prev_value", "prev_rank", "movement")),
                       ("city/township_ranking", ("prev_score", "prev_city_rank", "prev_county_rank", "movement"))):
        df = q(con, name, jan)
        assert len(df) and df[list(cols)].isna().all().all(), name
        assert df["city_rank" if "city_rank" in df else "rank"].notna().any(), name  # January itself is ranked
    assert q(con, "overview/unit_ranking", FEB)["prev_rank"].notna().all()


def test_map_units(county):
    con, t = county
    df = q(con, "overview/map_units")
    town = rows(df[df["level"] == "乡镇"], "code", "accounts", "active", "events_reported", "overdue_open")
    assert town[t["文昌镇"]] == (3, 2, 3, 1)  # both parts of the split 乡镇 together
    grids = df[df["level"] == "网格"]
    assert len(grids) == 9 and set(grids.columns) >= {"boundary", "center_lon", "center_lat", "completion_rate"}


# ---------------------------------------------------------------------------------------------------- every file
def _all_params(name: str, township_code: str | None = None) -> dict:
    base = {**metrics.period_params(MARCH), "months_back": 3, "limit": 50, "as_of": AS_OF}
    extra = {k: None for k in metrics.sql_params(name) - base.keys() - set(metrics.OPTIONAL_PARAMS)
             - set(metrics.threshold_params(Settings())) - set(metrics.assessment_params(Settings()))
             - {"scope_township", "scope_office"}}
    return {**base, **extra}


def test_every_query_honours_the_township_scope(county):
    con, t = county
    town = t["卧龙镇"]
    ru_town = dict(con.execute("SELECT ru_code, township_code FROM dim_reporting_unit").fetchall())
    office_town = dict(con.execute("SELECT office_name, township_code FROM dim_office").fetchall())
    scope = Scope(township_code=town, label="卧龙镇")
    checked = 0
    for name in metrics.available():
        df = metrics.query(con, name, scope, settings=Settings(), **_all_params(name))
        if "township_code" in df:
            assert set(df["township_code"].dropna()) <= {town}, name
            assert df["township_code"].notna().all(), name
            checked += 1
        if "ru_code" in df:
            assert {ru_town.get(r) for r in df["ru_code"].dropna()} <= {town}, name
        if "office_name" in df:
            assert {office_town.get(o, town) for o in df["office_name"].dropna()} <= {town}, name
        if "short_name" in df:
            assert set(df["short_name"]) <= {"卧龙"}, name
    assert checked >= 20
    # aggregates without a unit column are the 乡镇's own
    h = metrics.query(con, "overview/headline", scope, settings=Settings(), **metrics.period_params(MARCH)).iloc[0]
    assert (h["accounts"], h["active"], h["events_reported"], h["kp_reports"]) == (6, 4, 1, 5)


def test_every_query_honours_the_office_scope(county):
    con, _ = county
    scope = Scope(office_name="宏仁派出所", label="宏仁派出所")
    for name in metrics.available():
        df = metrics.query(con, name, scope, settings=Settings(), **_all_params(name))
        if "office_name" in df:
            assert set(df["office_name"].dropna()) <= {"宏仁派出所"}, name
    h = metrics.query(con, "overview/headline", scope, settings=Settings(), **metrics.period_params(MARCH)).iloc[0]
    assert (h["kp_reports"], h["signoffs_needed"], h["signoffs_signed"]) == (6, 6, 5)  # 流动人口 4 + 精神 2


def test_scope_cannot_be_passed_as_a_parameter(county):
    con, t = county
    with pytest.raises(metrics.ScopeError):
        q(con, "activity/by_unit", scope_township=t["卧龙镇"])


def test_every_query_parses_and_runs_on_an_almost_empty_warehouse(tmp_path):
    c = MiniCounty()
    c.grid(c.village(c.township("宏仁乡"), "红星村"))
    con = db.open_published(c.build(tmp_path))
    try:
        for name in metrics.available():
            df = metrics.query(con, name, settings=Settings(), **_all_params(name))
            assert isinstance(df, pd.DataFrame), name
        h = metrics.query(con, "overview/headline", settings=Settings(), **metrics.period_params(MARCH)).iloc[0]
        assert h["accounts"] == 0 and pd.isna(h["activity_rate"]) and pd.isna(h["completion_rate"])
    finally:
        con.close()


def test_queries_hold_no_literal_thresholds():
    """Thresholds are parameters: no 0.5–0.9 rates, 20 days, 24/72 hours written into the metric queries
    (events/time_to_close's display buckets in hours excepted)."""
    areas = ("activity/", "events/", "kp/", "overview/", "comparison/")
    for name in metrics.available():
        if not name.startswith(areas) or name == "events/time_to_close":
            continue
        text = re.sub(r"--[^\n]*", "", metrics.load_sql(name))
        assert not re.search(r"(?<![\w.$])(0\.[5-9]\d*|20|24|72)(?![\w.])", text.replace("'", " ' ")), name

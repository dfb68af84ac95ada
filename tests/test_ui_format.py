"""How figures are written on every screen: one rule for rates (pages, wall, bulletin), tiles whose arrow is only
ever a change against the previous period and coloured by whether it is good, tables that say "—" (never None)
and show dates as dates, durations in days, one precision per table, every row of a unit table, and Chinese time
axes. Unit tests of the helpers (warehouse/fmt.py, dashboard/ui.py, dashboard/charts.py) and the pages through
AppTest on a real warehouse built by the real ETL (the fixture county of tests/test_app.py)."""
from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
import pytest
from streamlit.proto.Metric_pb2 import Metric
from streamlit.testing.v1 import AppTest
from test_app import _run, county  # noqa: F401 — the module-scoped fixture county and the logged-in runner

from dashboard import charts, data, ui
from warehouse import bulletin, fmt, review
from warehouse.metrics import Period

UP, DOWN, NONE = Metric.MetricDirection.UP, Metric.MetricDirection.DOWN, Metric.MetricDirection.NONE
GREEN, RED, GRAY = Metric.MetricColor.GREEN, Metric.MetricColor.RED, Metric.MetricColor.GRAY
# what no screen may show: raw values, English month names, English status words, Streamlit's English chrome
FORBIDDEN = re.compile(r"\bNone\b|\bNaN\b|\bnan\b|\bNaT\b|\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d"
                       r"|Press Enter|No options|Made with|\b(ok|partial|failed|busy)\b")


# ------------------------------------------------------------------------------------------------ the helpers
def test_one_rate_rule_for_pages_wall_and_bulletin():
    for v in (0.857142, 1.0, 0.99951, 0.0004, 0.0, 1.033, 0.105, 0.3, None, float("nan"), pd.NA):
        assert ui.pct(v) == bulletin.pct(v) == review.pct(v) == fmt.pct(v)
    assert ui.pct(0.99951) == "99.9%"  # a unit that missed one account is not "100%" (today ui says 100%)
    assert ui.pct(0.0004) == "0.1%" and ui.pct(0) == "0%" and ui.pct(None) == "—"
    # the bulletin text is unchanged: its old rule, value for value
    assert [bulletin.pct(v) for v in (0.857142, 1, 0.5, 0.10549, 1.0333)] == ["85.7%", "100%", "50%", "10.5%", "103.3%"]
    assert fmt.pct(0.3, trim=False) == "30.0%"


def test_durations_dates_counts():
    assert fmt.hours(20) == "20 小时" and fmt.hours(47.5) == "47.5 小时"
    assert fmt.hours(10069) == "419.5 天" and fmt.hours(48) == "2.0 天"
    assert fmt.date(pd.Timestamp("2026-11-26 00:00:00")) == "2026-11-26"
    assert fmt.date(dt.datetime(2026, 11, 26, 8, 30)) == "2026-11-26 08:30"
    assert fmt.count(12345) == "12,345" and fmt.count(None) == "—"
    assert fmt.points(0.857142, 0.857) == 0.0 and fmt.points(0.62, 0.6) == 2.0


def test_one_precision_per_table_and_durations_in_days():
    df = pd.DataFrame({"u": ["甲", "乙", "丙"], "r": [0.3, 0.105, None], "h": [20.0, 10069.0, None],
                       "n": [1.0, 2.0, None], "d": pd.to_datetime(["2026-11-26", "2026-11-27", None])})
    view = ui._shown(df, {"u": "单位", "r": "签收率", "h": "平均签收用时(小时)", "n": "名次", "d": "办理时限"}, rates=("r",))
    assert list(view["签收率"]) == ["30.0%", "10.5%", "—"]  # not 30% beside 10.5%
    assert "平均签收用时(天)" in view.columns and list(view["平均签收用时(天)"].round(1)[:2]) == [0.8, 419.5]
    assert str(view["名次"].dtype) == "Int64"  # whole numbers are not shown as 1.0
    cfg = ui.column_config(view)
    assert cfg["办理时限"]["type_config"]["format"] == "YYYY-MM-DD"  # a date, not 2026-11-26 00:00:00
    assert cfg["名次"]["type_config"]["format"] == "localized"  # thousands separators
    whole = ui._shown(pd.DataFrame({"r": [1.0, 0.5, 0.0]}), {"r": "活跃度"}, rates=("r",))
    assert list(whole["活跃度"]) == ["100%", "50%", "0%"]
    assert ui.table_height(20) == "content"  # every unit of a county, no 10-row box
    assert ui.table_height(2000, 15) < ui.table_height(2000) < ui.HEADER_PX + 40 * ui.ROW_PX  # long lists scroll


def test_time_axes_are_chinese():
    df = pd.DataFrame({"month": ["2026-01", "2026-02", "2026-03"], "rate": [0.5, 0.6, 0.7]})
    fig = charts.trend(df, "month", {"rate": "活跃度"}, title="t")
    assert fig.layout.xaxis.tickformat == charts.MONTH_FORMAT == "%Y年%-m月"
    assert fig.layout.xaxis.hoverformat == charts.MONTH_FORMAT


def _metric_app(cases: list[tuple]) -> AppTest:
    def app():
        import streamlit as st  # noqa: F401

        from dashboard import ui as u
        for args, kw in st.session_state["cases"]:
            u.metric(*args, **kw)
    at = AppTest.from_function(app, default_timeout=30)
    at.session_state["cases"] = cases
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_metric_delta_is_a_change_coloured_by_what_is_good():
    at = _metric_app([
        (("活跃度", 0.62, 0.60), {"kind": "rate"}),               # up, good
        (("超期未办结", 12, 9), {"better": "down"}),              # up, bad
        (("超期未办结", 5, 9), {"better": "down"}),               # down, good
        (("签收率", 0.857142, 0.857), {"kind": "rate"}),          # 85.7% → 85.7%: no change
        (("办结事件", 30, 30), {}),                               # no change
        (("上报事件", 30, 20), {"better": None}),                 # neither good nor bad
        (("部门活跃", 0.5, None), {"kind": "rate"}),              # no previous: no delta
        (("活跃 / 计数", "3 / 5", None), {}),                     # not a figure with a change
    ])
    m = at.metric
    assert (m[0].value, m[0].proto.delta, m[0].proto.direction, m[0].proto.color) == ("62%", "+2.0 个百分点", UP, GREEN)
    assert (m[1].proto.delta, m[1].proto.direction, m[1].proto.color) == ("+3", UP, RED)
    assert (m[2].proto.delta, m[2].proto.direction, m[2].proto.color) == ("-4", DOWN, GREEN)
    for i in (3, 4):  # never "+0.0" in green
        assert (m[i].proto.delta, m[i].proto.direction, m[i].proto.color) == ("持平", NONE, GRAY)
    assert (m[5].proto.direction, m[5].proto.color) == (UP, GRAY)
    assert m[6].proto.delta == "" and m[7].proto.delta == "" and m[7].value == "3 / 5"


# ------------------------------------------------------------------------------------------------ the pages
PAGES = {"home.py": {}, "activity.py": {}, "events.py": {}, "key_persons.py": {}, "compare.py": {},
         "bulletin.py": {}, "quality.py": {}}


def _check_metrics(at: AppTest, page: str) -> None:
    for m in at.metric:
        d = m.proto.delta
        if not d:
            continue
        assert d == "持平" or re.match(r"^[+-]\d", d), f"{page}: {m.label}: a delta that is not a change: {d!r}"
        if d == "持平":
            assert (m.proto.direction, m.proto.color) == (NONE, GRAY), (page, m.label)
        else:
            assert m.proto.direction == (UP if d.startswith("+") else DOWN), (page, m.label, d)


def _visible_text(at: AppTest) -> list[str]:
    out = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    out += [t.value for t in at.subheader] + [i.value for i in at.info] + [w.value for w in at.warning]
    out += [f"{m.label} {m.value} {m.proto.delta} {m.proto.delta_description}" for m in at.metric]
    for d in at.dataframe:
        df = d.value
        if df.isna().any().any():
            assert d.proto.placeholder == "—", f"a table with missing values shows them as None: {list(df.columns)}"
        out += [str(v) for col in df.columns for v in df[col].dropna()] + [str(c) for c in df.columns]
    return out


@pytest.mark.parametrize("period", ["2024-03", "2024-W11"])
@pytest.mark.parametrize("page", list(PAGES))
def test_pages_show_no_raw_or_english_values_and_honest_deltas(county, page, period):
    at = _run(page, p=period, k="week" if "W" in period else "month")
    assert not at.error, [e.value for e in at.error]
    _check_metrics(at, page)
    bad = [t for t in _visible_text(at) if FORBIDDEN.search(t)]
    assert not bad, f"{page}: {bad[:5]}"
    for ch in at.get("plotly_chart"):
        spec = json.loads(ch.proto.spec)
        for tr in spec["data"]:
            xs = tr.get("x") or []
            if xs and all(isinstance(x, str) and re.match(r"^\d{4}-\d{2}", x) for x in xs):
                assert spec["layout"]["xaxis"].get("tickformat") == charts.MONTH_FORMAT, page


def test_weekly_review_tiles_follow_the_figures(county):
    at = _run("bulletin.py", p="2024-03", k="month", view="周报")
    assert not at.exception
    r = review.compute(data.connection()[0], Period.parse("2024-03"))
    tiles = {m.label: m for m in at.metric}
    assert len(tiles) == len(r.figures) == 11
    for f in r.figures:
        m = tiles[f.label]
        if f.last is None:
            assert m.proto.delta == ""
            continue
        trend = f.trend(f.last)  # the review's own 好转 / 下滑 / 持平
        want = {"好转": GREEN, "下滑": RED, "持平": GRAY}[trend]
        assert m.proto.color == want, (f.label, f.value, f.last, m.proto.delta)
        assert (m.proto.direction == NONE) == (trend == "持平"), (f.label, m.proto.delta)


def test_overdue_sign_offs_most_urgent_first_with_a_marker(county):
    at = _run("key_persons.py", p="2024-03", k="month")
    at.segmented_control(key="_view").set_value("超时未签收").run()
    tables = [d.value for d in at.dataframe if "超时" in d.value.columns]
    if not tables:
        pytest.skip("the fixture county has no overdue sign-off in 2024-03")
    t = tables[0]
    assert set(t["超时"]) <= {"🔴 红灯", "🟡 黄灯"}, set(t["超时"])  # never a bare "红"
    red = list(t["超时"] == "🔴 红灯")
    assert red == sorted(red, reverse=True)  # 红灯 first


def test_overdue_events_say_how_many_days(county):
    at = _run("events.py", p="2024-03", k="month")
    at.segmented_control(key="_evf").set_value("超期未办结").run()
    lists = [d.value for d in at.dataframe if "事件编号" in d.value.columns]
    assert lists and "超期天数" in lists[0].columns
    days = list(lists[0]["超期天数"])
    assert all(d > 0 for d in days) and days == sorted(days, reverse=True)


# ------------------------------------------------------------------------------------------------ a real browser
BROWSER_PAGES = {"home": "", "events": "events", "key_persons": "key_persons", "compare": "compare",
                 "weekly": "bulletin?view=周报", "quality": "quality", "activity": "activity"}


@pytest.fixture(scope="module")
def web(tmp_path_factory, county):
    from support.logins import add_users
    from support.server import Server, require_chromium, write_config

    from core import config
    require_chromium()
    cfg = write_config(county)  # the AppTest county's warehouse and users, served by the real server
    add_users(config.load_settings(cfg))
    srv = Server(cfg)
    yield srv.url
    srv.stop()


@pytest.mark.browser
def test_browser_shows_chinese_text_and_whole_tables(web, browser):
    """What a user sees at 1440×900 (screenshots in test-artifacts/): no raw or English value, no Streamlit menu,
    the 概览 table with every unit (黑榜 included) without scrolling inside it."""
    from support.logins import browser_login
    from support.server import ROOT
    art = ROOT / "test-artifacts"
    art.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    for name, path in BROWSER_PAGES.items():
        page.goto(f"{web}/{path}{'&' if '?' in path else '?'}p=2024-03&k=month", wait_until="domcontentloaded",
                  timeout=60_000)
        page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
        page.wait_for_selector('[data-testid="stMain"] h1', timeout=60_000)
        page.wait_for_timeout(1000)
        if page.locator('input[aria-label="用户名"]').count():
            browser_login(page, "admin")  # (a reload logs out until the login outlives the websocket session)
        page.wait_for_selector('[data-testid="stMain"] h1', timeout=60_000)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"] button')"
                               " || getComputedStyle(document.querySelector('[data-testid=\"stStatusWidget\"]'))"
                               ".display === 'none'", timeout=60_000)
        page.wait_for_timeout(1500)  # the grids draw on a canvas after the script run
        text = page.evaluate("() => document.body.innerText")
        page.screenshot(path=str(art / f"ui-format-{name}-1440x900.png"), full_page=True)
        bad = FORBIDDEN.findall(text)
        assert not bad, f"{name}: {bad[:5]}"
        assert page.locator('[data-testid="stMainMenu"]').count() == 0, "Streamlit's English menu is shown"
        assert not page.locator('[data-testid="stStatusWidget"]').is_visible()
        if name == "home":
            grid = page.locator('[data-testid="stDataFrame"]').first
            box = grid.bounding_box()
            rows = page.evaluate("() => document.querySelector('[data-testid=\"stDataFrame\"] table')"
                                 "?.querySelectorAll('tbody tr').length")
            assert rows and box["height"] >= ui.HEADER_PX + rows * ui.ROW_PX, (rows, box)
            # the last row (the 黑榜 end of the list) is inside the box, not below a scroll
            inner = page.evaluate("() => { const s = document.querySelector('[data-testid=\"stDataFrame\"] .dvn-scroller');"
                                  " return s ? s.scrollHeight - s.clientHeight : 0; }")
            assert inner <= 2, f"the 概览 table scrolls inside its box by {inner}px"
    page.close()


def test_no_change_is_shown_against_a_period_before_the_data():
    import datetime as dt

    import pandas as pd

    from dashboard.ui import without_unknown_prev
    from warehouse.metrics import Period

    head = pd.Series({"activity_rate": 0.509, "prev_activity_rate": 0.0, "overdue_open": 508, "prev_overdue_open": 0})
    nov = Period.month(2026, 11)
    first = dt.date(2026, 11, 1)  # the data begin with November: October holds nothing, so there is no 环比
    blank = without_unknown_prev(head, nov, first)
    assert blank["activity_rate"] == 0.509 and blank["overdue_open"] == 508
    assert pd.isna(blank["prev_activity_rate"]) and pd.isna(blank["prev_overdue_open"])
    assert head["prev_activity_rate"] == 0.0  # the caller's row is not changed
    # data from mid-October: October is a (partial) previous period with data, its figures stay
    assert without_unknown_prev(head, nov, dt.date(2026, 10, 15))["prev_activity_rate"] == 0.0
    assert without_unknown_prev(head, nov, None) is head
    rows = pd.DataFrame({"category": ["吸毒人员"], "reports": [5], "prev_reports": [0]})
    assert without_unknown_prev(rows, nov, first)["prev_reports"].isna().all()
    assert without_unknown_prev(rows, Period.month(2026, 12), first)["prev_reports"].tolist() == [0]

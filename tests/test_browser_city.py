"""A city deployment ([deployment] level = "city") in a real browser: the small city of tests/support/city.py served
by a real Streamlit server, driven by Debian's Chromium.

- the 市级管理员's 全市总览 ranks the counties with the metrics layer's figures (Scope(by_county=True), March 2024);
- a row of the ranking drills into that county (概览 of 东岭县, its figures), and from there the 单位 filter into one
  of its 乡镇, whose figures equal the metrics layer's; the breadcrumb goes back up to the city;
- a county-scoped 县级管理员 (county_code 东岭县 in its user record) has no county selector and no city page, and no
  other county's name reaches its browser on any of its pages (page text and websocket frames searched); its
  概览 shows its county's figures.
"""
from __future__ import annotations

import shutil

import pytest
from support.city import COUNTIES
from support.logins import PASSWORD, browser_login
from support.server import Server, require_chromium

from core import config
from dashboard.users import ADMIN, UserStore
from warehouse import db, fmt, metrics
from warehouse.metrics import Period, Scope

pytestmark = pytest.mark.browser
require_chromium()

MARCH = Period.month(2024, 3)
PRM = {**metrics.period_params(MARCH), "cutoff": None, "period_asof": None}
DONGLING = "510798"
OTHERS = ["示例县", "西河县", "宏仁乡", "西河镇", "石桥乡"]  # names of the other two counties only (not 东岭县's)
COUNTY_PAGES = ["", "activity", "events", "key_persons", "compare", "bulletin", "warnings", "assessment", "wall",
                "quality", "users", "audit", "city"]


@pytest.fixture(scope="module")
def server(city, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-city")
    cfg = city.app_config(root)
    s = config.load_settings(cfg)
    store = UserStore.from_settings(s)
    store.add_user("cityadmin", ADMIN, password=PASSWORD, actor="test")
    store.add_user("dladmin", ADMIN, password=PASSWORD, actor="test", county_code=DONGLING, county_name="东岭县")
    srv = Server(cfg)
    yield srv.url
    srv.stop()


@pytest.fixture(scope="module")
def con(city, tmp_path_factory):
    # the project's configuration (db.connect): the process may already hold the version open through the metrics
    # layer (another module on this test worker), and DuckDB refuses a second configuration of one open file
    copy = tmp_path_factory.mktemp("city_version") / city.version().name  # a file of its own: no shared instance
    shutil.copyfile(city.version(), copy)
    c = db.connect(copy, read_only=True)
    yield c
    c.close()


def _settle(page) -> None:
    page.wait_for_selector('[data-testid="stMain"]', timeout=60_000)
    page.wait_for_timeout(800)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(1500)


def _open(browser, url: str, user: str, path: str = ""):
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = ctx.new_page()
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
        f if isinstance(f, bytes) else f.encode())))
    page.goto(f"{url}/{path}", wait_until="domcontentloaded", timeout=60_000)
    browser_login(page, user)
    _settle(page)
    return ctx, page, frames


def _heading(page, title: str) -> None:
    """Wait until the page titled `title` has been drawn and settled."""
    page.wait_for_function("t => document.querySelector('h1') && document.querySelector('h1').innerText.includes(t)",
                           arg=title, timeout=60_000)
    _settle(page)


def _tile(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True)).first
    return m.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _crumbs(page) -> str:
    return " ".join(page.locator(".st-key-gw_crumbs").inner_text().split())


def _pick(page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} input[role='combobox']").click()
    page.get_by_role("option", name=option, exact=True).click()
    _settle(page)


def test_city_ranking_equals_the_metrics_layer(server, browser, con):
    ctx, page, frames = _open(browser, server, "cityadmin", "?p=2024-03&k=month")
    assert "全市总览" in page.inner_text("h1")
    want = metrics.query(con, "overview/unit_ranking", Scope(by_county=True, personal="none"), **PRM)
    want = want.sort_values(["rank", "sort_order"])
    assert list(want["ru_name"]) == ["西河县", "示例县", "东岭县"]  # the hand-counted order (support/city.py)
    trim = fmt.pct_trim([want["score"]])
    chart = page.locator(".st-key-city-rank-chart")
    page.wait_for_function("() => document.querySelectorAll('.st-key-city-rank-chart text.bartext').length >= 3",
                           timeout=30_000)
    names = [t.strip() for t in chart.locator("g.ytick text").all_text_contents()]  # SVG: no inner text
    bars = [t.strip() for t in chart.locator("text.bartext").all_text_contents()]
    # plotly draws the best on top: its y axis runs bottom-up
    assert list(reversed(names)) == list(want["ru_name"])
    assert list(reversed(bars)) == [fmt.pct(v, trim=trim) for v in want["score"]]
    ws = b"".join(frames)
    rates = ("score", "activity_rate", "completion_rate", "sign_rate")
    t = fmt.pct_trim([want[c] for c in rates])  # one precision for the table's rates (dashboard/ui.py)
    for col in rates:  # the table's cells as the frames carry them
        for v in want[col]:
            assert fmt.pct(v, trim=t).encode() in ws, (col, v)
    head = metrics.query(con, "overview/headline", Scope(by_county=True, personal="none"), **PRM).iloc[0]
    assert _tile(page, "网格员账号活跃度") == fmt.pct(head["activity_rate"])
    assert _tile(page, "事件办结率") == fmt.pct(head["completion_rate"])
    page.goto(f"{server}/quality", wait_until="domcontentloaded", timeout=60_000)  # the city's imports: its own
    _heading(page, "数据质量")
    text = page.inner_text("body")
    assert "数据源状态" in text and "只计" not in text and page.get_by_text("批次", exact=True).count(), text[:2000]
    page.goto(f"{server}/wall", wait_until="domcontentloaded", timeout=60_000)  # the wall: the city's counties
    page.wait_for_selector(".wall-h", timeout=60_000)
    _settle(page)
    text = page.inner_text("body")
    assert "全市地图" in text and "全县地图" not in text, text[:1500]
    assert page.locator(".wall-frame:has-text('最新事件') th", has_text="县 (区)").count() == 1, text[:1500]
    ctx.close()


def test_drill_city_county_township_and_back(server, browser, con):
    ctx, page, _ = _open(browser, server, "cityadmin", "?p=2024-03&k=month")
    grid = page.locator(".st-key-city-rank [data-testid='stDataFrameResizable']").first
    box = grid.bounding_box()
    rank = metrics.query(con, "overview/unit_ranking", Scope(by_county=True, personal="none"), **PRM)
    row = list(rank.sort_values(["rank", "sort_order"])["ru_code"]).index(DONGLING)
    page.mouse.click(box["x"] + 14, box["y"] + 38 + 35 * row + 17)  # the row's selection box
    _heading(page, "概览")
    assert _crumbs(page) == "示例市 › 东岭县"
    county = Scope(county_code=DONGLING, personal="masked")
    head = metrics.query(con, "overview/headline", county, **PRM).iloc[0]
    assert _tile(page, "网格员账号活跃度") == fmt.pct(head["activity_rate"])
    assert _tile(page, "事件办结率") == fmt.pct(head["completion_rate"])
    assert "东岭县 · 2024年3月 各单位综合情况" in page.inner_text('[data-testid="stMain"]')
    # 概览 → 账号活跃度 (the sidebar link keeps the county) → the 单位 filter: one 乡镇 of the county
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="账号活跃度").click()
    _heading(page, "账号活跃度")
    assert _crumbs(page) == "示例市 › 东岭县"
    _pick(page, "_u", "东岭镇")
    assert _crumbs(page) == "示例市 › 东岭县 › 东岭镇"
    units = metrics.query(con, "units/reporting_units", county)
    ru = units.loc[units["ru_name"] == "东岭镇", "ru_code"].iloc[0]
    town = metrics.query(con, "activity/headline", county, **PRM, ru_code=ru).iloc[0]
    assert _tile(page, "网格员账号活跃度") == fmt.pct(town["activity_rate"])
    assert _tile(page, "活跃 / 计数账号") == f"{fmt.count(town['active'])} / {fmt.count(town['accounts'])}"
    # back up: the county (all its units), then the city
    page.locator(".st-key-gw_crumbs button").filter(has_text="东岭县").click()
    _settle(page)
    assert _crumbs(page) == "示例市 › 东岭县"
    page.locator(".st-key-gw_crumbs button").filter(has_text="示例市").click()
    _heading(page, "全市总览")
    assert "全市总览" in page.inner_text("h1")
    ctx.close()


def test_county_user_sees_only_its_county(server, browser, con):
    ctx, page, frames = _open(browser, server, "dladmin", "?p=2024-03&k=month")
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "全市总览" not in nav and "概览" in nav
    side = page.inner_text('[data-testid="stSidebar"]')
    assert "县 (区)" not in side and "县级管理员 · 东岭县" in side  # no county selector, its own county
    assert _crumbs(page) == "东岭县"
    head = metrics.query(con, "overview/headline", Scope(county_code=DONGLING, personal="masked"), **PRM).iloc[0]
    assert _tile(page, "网格员账号活跃度") == fmt.pct(head["activity_rate"])
    assert _tile(page, "事件办结率") == fmt.pct(head["completion_rate"])
    texts = {}
    for path in COUNTY_PAGES:  # every page of the role, and the city page's address (not its page)
        frames.append(f"@@PAGE {path}@@".encode())
        page.goto(f"{server}/{path}?p=2024-03&k=month&county=510797", wait_until="domcontentloaded",
                  timeout=60_000)
        _settle(page)
        assert not page.locator('[data-testid="stException"]').count(), path
        texts[path] = page.inner_text("body")
    assert "全市总览" not in texts["city"]
    assert "全县地图" in texts["wall"] and "全市地图" not in texts["wall"]  # its own county's wall
    # 数据质量: the city's imports (runs, a run's quarantine count over every county, the sources) are not shown to
    # a county's administrator; its tiles are its county's
    q = texts["quality"]
    assert "只计东岭县" in q and "行被隔离" not in q and "数据源状态" not in q, q[:2000]
    page.goto(f"{server}/quality", wait_until="domcontentloaded", timeout=60_000)
    _heading(page, "数据质量")
    fresh = metrics.query(con, "quality/freshness", Scope(county_code=DONGLING, personal="masked"))
    assert _tile(page, "隔离行数") == fmt.count(int(fresh["quarantined"].sum()))
    assert _tile(page, "当前记录数") == fmt.count(int(fresh["records"].sum()))
    assert _tile(page, "最近一次导入") == f"{fresh['last_landed_at'].max():%m-%d %H:%M}"
    ws = b"".join(frames).replace(b"county=510797", b"")  # the address asked for (echoed): no data of that county
    for path, text in texts.items():
        for name in OTHERS:
            assert name not in text, (path, name)
    for name in OTHERS + [c for c, _ in COUNTIES if c != DONGLING]:
        i = ws.find(name.encode())
        assert i < 0, (name, ws[:i].rsplit(b"@@PAGE", 1)[-1][:20], ws[max(0, i - 300):i + 100].decode(errors="replace"))
    ctx.close()

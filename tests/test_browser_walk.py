"""A walk through the working pages in a real browser, as 县级管理员 and as a 乡镇用户, on a county whose data runs
up to today: a unit picked by a table row and by the 单位 dropdown, the drill-down 乡镇 → 社区/村 → 网格 → 账号 on
账号活跃度, month and week. After every step the page must settle (no rerun loop: the URL and the websocket
traffic stay still, Streamlit's running indicator gone), the headline figures must be those of the chosen unit
and period (compared with warehouse.metrics.query), the period must default to the last complete one, and no
English or raw value may be visible."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlparse

import pytest
from support.county import MiniCounty
from support.logins import add_users, browser_login
from support.server import ROOT, Server, require_chromium, write_config

from core import config
from warehouse import db, metrics
from warehouse.metrics import Period, Scope

pytestmark = pytest.mark.browser
require_chromium()
ARTIFACTS = ROOT / "test-artifacts"
BAD_TEXT = re.compile(r"None|NaN|nan|Jan |Feb |Press Enter|No options|Made with")
TODAY = dt.date.today()
WENCHANG, HONGREN = "510799001", "510799002"
TITLES = {"": "概览", "activity": "账号活跃度", "events": "事件办结", "key_persons": "三项重点工作", "compare": "乡镇对比",
          "bulletin": "通报与周报"}


def walk_county() -> MiniCounty:
    """Two 乡镇 (文昌镇 split into two reporting units, 宏仁乡), accounts active on different days in each, events
    whose deadlines fall later in the running month; data from the start of the previous month up to today."""
    c = MiniCounty()
    wc, hr = c.township("文昌镇"), c.township("宏仁乡")
    s1, v1, v2, v3 = c.community(wc, "文昌一社区"), c.village(wc, "文昌一村"), c.village(hr, "宏仁村"), c.village(hr, "和平村")
    grids = [c.grid(s1), c.grid(v1), c.grid(v2), c.grid(v2), c.grid(v3)]
    names = ["张三丰", "李四光", "王五常", "赵六合", "钱七星"]
    accts = [c.account(g, person_name=n, phone=f"1381234567{i}") for i, (g, n) in enumerate(zip(grids, names))]
    c.office(hr, "派出所", "宏仁派出所")
    start = (TODAY.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    day, n = start, 0
    while day <= TODAY:
        # 宏仁村's first grid every day, the others on fewer days: the units' rates differ
        for a, every in zip(accts, (1, 3, 1, 2, 9)):
            if n % every == 0:
                c.op(a, dt.datetime.combine(day, dt.time(9)))
        n += 1
        day += dt.timedelta(days=1)
    for i, g in enumerate(grids):
        for k in range(3 + i):
            rep = dt.datetime.combine(start + dt.timedelta(days=2 + 5 * k), dt.time(10))
            c.event(g, rep, closed_at=rep + dt.timedelta(days=2) if k % 2 == 0 else None,
                    category=["矛盾纠纷", "治安隐患", "安全隐患", "环境卫生", "民生服务"][(i + k) % 5])
        # reported today, open, due in five days: not overdue now, whatever the period's end
        c.event(g, dt.datetime.combine(TODAY, dt.time(0, 5)), deadline=dt.datetime.combine(TODAY, dt.time(0, 5))
                + dt.timedelta(days=5))
        c.report(g, "流动人口", dt.datetime.combine(start + dt.timedelta(days=3), dt.time(9)), police="宏仁派出所")
    return c


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-walk")
    cfg = write_config(root)
    s = config.load_settings(cfg)
    wh = walk_county().build(root, settings=s, load_time=dt.datetime.now())
    add_users(s)
    con = db.open_published(wh)
    srv = Server(cfg)
    yield srv.url, con
    srv.stop()
    con.close()


class Tab:
    """One logged-in browser tab and the websocket frames it received."""

    def __init__(self, browser, url: str, user: str):
        self.page = browser.new_page(viewport={"width": 1500, "height": 1100})
        self.frames = 0
        self.bad: list[str] = []
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        self.url = url
        self.page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        browser_login(self.page, user)
        self.settle()

    def _frame(self, _f) -> None:
        self.frames += 1

    def open(self, path: str) -> None:
        """Go to a page by the sidebar (the login lives in this tab's session)."""
        self.page.locator('[data-testid="stSidebarNav"] a').filter(has_text=TITLES[path]).first.click()
        self.settle()

    def settle(self, still_ms: int = 2000) -> None:
        """Wait until no script runs and then nothing moves for `still_ms`: the same URL, no websocket frame. A
        rerun loop never gets there (the test fails after 45 s)."""
        page = self.page
        page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
        deadline = dt.datetime.now() + dt.timedelta(seconds=45)
        while True:
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                   timeout=60_000)
            url, frames = page.url, self.frames
            page.wait_for_timeout(still_ms)
            running = page.evaluate("() => !!document.querySelector('[data-testid=\"stStatusWidget\"]')")
            if page.url == url and self.frames == frames and not running:
                return
            assert dt.datetime.now() < deadline, f"the page never settles (rerun loop?): {url} → {page.url}"

    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlparse(self.page.url).query).items()}

    def select(self, label: str, option: str) -> None:
        """Pick `option` in the selectbox labelled `label`."""
        box = self.page.locator(f'[data-testid="stSelectbox"]:has(input[role="combobox"][aria-label="{label}"])')
        box.scroll_into_view_if_needed()
        box.locator('button[aria-haspopup="listbox"]').click()
        try:
            self.page.locator('[role="option"]').filter(has_text=option).first.click(timeout=10_000)
        except Exception:
            self.shot("failed")
            raise
        self.settle()

    def selected(self, label: str) -> str:
        box = self.page.locator(f'input[role="combobox"][aria-label="{label}"]')
        try:
            return box.input_value(timeout=10_000).strip()
        except Exception:
            self.shot("failed")
            raise

    def pick_row(self, table_index: int, row: int) -> None:
        """Tick the selection box of `row` (0 = first data row) of the `table_index`-th table on the page."""
        grid = self.page.locator('[data-testid="stDataFrame"]').nth(table_index)
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        # glide-data-grid: the row-marker column is ~30 px wide; the header is 35 px, rows 35 px high
        self.page.mouse.click(box["x"] + 15, box["y"] + 35 + 35 * row + 17)
        self.settle()

    def kind(self, label: str) -> None:
        """Switch 周期类型 (月度 / 周)."""
        self.page.locator('[data-testid="stRadioOption"]').filter(has_text=label).first.click()
        self.settle()

    def cells(self, table_index: int) -> list[str]:
        """The texts of the cells of the `table_index`-th table (the grid's accessible copy of its canvas)."""
        grid = self.page.locator('[data-testid="stDataFrame"]').nth(table_index)
        return grid.locator('td[role="gridcell"]').evaluate_all("cs => cs.map(c => c.textContent.trim())")

    def metric(self, label: str) -> str:
        m = self.page.locator('[data-testid="stMetric"]').filter(has_text=label).first
        return m.locator('[data-testid="stMetricValue"]').inner_text().strip()

    def text(self) -> str:
        return self.page.locator('[data-testid="stApp"]').inner_text()

    def no_bad_text(self, where: str) -> None:
        """Note English or raw values on the screen (asserted at the end of the walk, so that one page's texts do
        not hide what the rest of the walk would find)."""
        cells = self.page.locator('[data-testid="stDataFrame"] td[role="gridcell"]').evaluate_all(
            "cs => cs.map(c => c.textContent)")  # the tables are drawn on a canvas: their accessible copy
        bad = sorted(set(BAD_TEXT.findall(self.text() + "\n" + "\n".join(cells))))
        if bad:
            self.bad.append(f"{where}: {bad}")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"walk-{name}.png"), full_page=True)


def last_complete(kind: str) -> Period:
    p = Period.containing(TODAY, kind)
    return p.prev()


def q(con, name: str, scope: Scope, period: Period, **extra):
    return metrics.query(con, name, scope, settings=config.settings(), **metrics.period_params(period), **extra)


def _pct(v) -> str:
    s = f"{float(v) * 100:.1f}".rstrip("0").rstrip(".")
    return f"{s}%"


def check_activity_tiles(tab: Tab, con, scope: Scope, period: Period, ru: str | None) -> None:
    head = q(con, "activity/headline", scope, period, ru_code=ru).iloc[0]
    assert tab.metric("活跃 / 计数账号").replace(",", "") == f"{int(head['active'])} / {int(head['accounts'])}"
    assert tab.metric("网格员账号活跃度") == _pct(head["activity_rate"])
    assert tab.metric("部门活跃 / 计数账号").replace(",", "") == f"{int(head['dept_active'])} / {int(head['dept_accounts'])}"


def check_event_tiles(tab: Tab, con, scope: Scope, period: Period, ru: str | None) -> None:
    units = q(con, "events/by_unit", scope, period)
    sel = units if ru is None else units[units["ru_code"] == ru]
    assert tab.metric("上报事件").replace(",", "") == str(int(sel["reported"].sum()))
    assert tab.metric("办结事件").replace(",", "") == str(int(sel["closed"].sum()))
    assert tab.metric("超期未办结").replace(",", "") == str(int(sel["overdue_open"].sum()))


def test_admin_walk(walk, browser):
    url, con = walk
    scope = Scope(personal="masked", label="全县")
    month, week = last_complete("month"), last_complete("week")
    tab = Tab(browser, url, "admin")

    # 账号活跃度 opens on the last complete month, county-wide; the tiles are the county's
    tab.open("activity")
    assert tab.selected("统计周期") == month.label
    assert tab.query().get("p") == month.key
    check_activity_tiles(tab, con, scope, month, None)
    tab.no_bad_text("账号活跃度")
    # a row picks the unit: the URL, the widget and the tiles agree, and the page settles
    units = q(con, "activity/by_unit", scope, month)
    row = int(units.index[units["ru_code"] == HONGREN][0])
    tab.pick_row(0, row)
    assert tab.query().get("u") == HONGREN
    assert tab.selected("单位") == "宏仁乡"
    check_activity_tiles(tab, con, scope, month, HONGREN)
    assert "宏仁乡 · " + month.label in tab.text()
    tab.shot("activity-unit")
    # drill down: 社区/村 by dropdown, 网格 by row, then the accounts of that grid
    tab.select("社区/村", "宏仁村")
    assert tab.query().get("c")
    grids = q(con, "activity/by_grid", scope, month, ru_code=HONGREN, community_code=tab.query()["c"])
    tab.pick_row(1, 1)  # the tables: 各社区/村, 各网格, 未活跃账号
    assert tab.query().get("g") == grids["grid_code"].iloc[1]
    assert tab.selected("网格") == grids["grid_name"].iloc[1]
    acc = q(con, "activity/inactive_accounts", scope, month, ru_code=HONGREN, grid_code=grids["grid_code"].iloc[1])
    assert len(acc) >= 1 and set(acc["unit_name"]) == {grids["grid_name"].iloc[1]}
    assert sorted(c for c in tab.cells(2) if c.startswith("U")) == sorted(acc["account_id"])
    tab.no_bad_text("账号活跃度 网格")
    tab.shot("activity-grid")
    # the dropdown takes the unit back to the county: the table of units is back, no stale selection drills again
    tab.select("单位", "全县 (全部单位)")
    assert "u" not in tab.query() and "c" not in tab.query()
    check_activity_tiles(tab, con, scope, month, None)
    assert "选中一行可下钻" in tab.text()

    # the week: the last complete one, the week's threshold in the caption, the tiles of that week
    tab.kind("周")
    assert tab.selected("统计周期") == week.label
    assert "当周 7 天中有操作的天数 ≥ 5 天" in tab.text() and "当月有操作的天数" not in tab.text()
    check_activity_tiles(tab, con, scope, week, None)
    tab.shot("activity-week")
    # the running week is offered, labelled as such
    running = Period.containing(TODAY, "week")
    tab.select("统计周期", running.label)
    assert tab.selected("统计周期") == running.label + " (截至 今天)"

    # 事件办结: a unit by dropdown; tiles and both charts follow it; nothing is overdue before its deadline
    tab.open("events")  # the period type goes along; back to the month
    assert tab.selected("统计周期") == running.label + " (截至 今天)"
    tab.kind("月度")
    assert tab.selected("统计周期") == month.label
    check_event_tiles(tab, con, scope, month, None)
    tab.select("单位", "文昌镇四个社区")
    ru = tab.query().get("u")
    assert ru and ru != HONGREN
    check_event_tiles(tab, con, scope, month, ru)
    titles = tab.page.locator(".gtitle").evaluate_all("ts => ts.map(t => t.textContent)")
    assert any("文昌镇四个社区" in t and "事件类别" in t for t in titles), titles
    assert any("文昌镇四个社区" in t and "办结用时分布" in t for t in titles), titles
    tab.no_bad_text("事件办结")
    tab.shot("events-unit")
    # a row picks the unit on 事件办结 too
    tab.select("单位", "全县 (全部单位)")
    units = q(con, "events/by_unit", scope, month)
    tab.pick_row(0, int(units.index[units["ru_code"] == HONGREN][0]))
    assert tab.query().get("u") == HONGREN and tab.selected("单位") == "宏仁乡"
    check_event_tiles(tab, con, scope, month, HONGREN)
    # the running month is measured now: the events due in five days are not 超期未办结
    cur = Period.containing(TODAY)
    tab.select("统计周期", cur.label)
    assert tab.selected("统计周期") == cur.label + " (截至 今天)"
    now_units = metrics.query(con, "events/by_unit", scope, settings=config.settings(),
                              **metrics.period_params(cur), period_asof=dt.datetime.now())
    assert tab.metric("超期未办结") == str(int(now_units.loc[now_units["ru_code"] == HONGREN, "overdue_open"].sum()))

    for path in ("", "key_persons", "compare", "bulletin"):
        tab.open(path)
        tab.no_bad_text(path or "home")
        assert "当前显示: 全县 · " + tab.selected("统计周期") in tab.text(), path  # the period chosen on 事件办结
        tab.shot(f"admin-{path or 'home'}")
    assert not tab.bad, tab.bad


def test_township_walk(walk, browser):
    url, con = walk
    scope = Scope(township_code=HONGREN, personal="masked", label="宏仁乡")
    month = last_complete("month")
    tab = Tab(browser, url, "township")
    tab.open("activity")
    assert tab.selected("统计周期") == month.label and tab.selected("单位") == "宏仁乡"
    check_activity_tiles(tab, con, scope, month, HONGREN)
    tab.select("社区/村", "和平村")
    grids = q(con, "activity/by_grid", scope, month, ru_code=HONGREN, community_code=tab.query()["c"])
    tab.select("网格", grids["grid_name"].iloc[0])
    assert tab.query().get("g") == grids["grid_code"].iloc[0]
    tab.no_bad_text("乡镇 账号活跃度")
    tab.shot("township-activity")
    tab.open("events")
    check_event_tiles(tab, con, scope, month, HONGREN)
    tab.kind("周")
    assert tab.selected("统计周期") == last_complete("week").label
    check_event_tiles(tab, con, scope, last_complete("week"), HONGREN)
    tab.no_bad_text("乡镇 事件办结")
    for path in ("", "key_persons", "bulletin"):
        tab.open(path)
        tab.no_bad_text(path or "home")
    assert not tab.bad, tab.bad

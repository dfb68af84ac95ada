"""The wall display (指挥中心大屏) measured in a real Chromium at the sizes it is installed at: 1920×1080, 3840×2160
(`?scale=2`) and 3840×1080 (`?panels=all`), each panel. The page is exactly the screen (document = viewport, no
scrollbars), no element or text is cut by the screen or by the box that holds it, no two texts overlap, frames do
not overlap, the smallest text is 18 px × scale (plotly's SVG text included), there are no controls (buttons,
map +/−), and the map has its legend. Then a load fails in the test's lake, and a stale feed, and the wall says so.

The county is the demo county (34 reporting units: the rankings' worst case), its warehouse published three days
ago (so its feeds are stale). Screenshots go to test-artifacts/ (not committed)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from support.logins import store
from support.server import Server, chromium, require_chromium, write_config

from core import config

pytestmark = pytest.mark.browser
require_chromium()

ROOT = Path(__file__).resolve().parent.parent
ART = ROOT / "test-artifacts"
VIEWS = [  # (name, query, width, height, scale)
    ("panel0-1920x1080", "panel=0", 1920, 1080, 1),
    ("panel1-1920x1080", "panel=1", 1920, 1080, 1),
    ("all-3840x1080", "panels=all", 3840, 1080, 1),
    ("panel0-3840x2160", "panel=0&scale=2", 3840, 2160, 2),
    ("panel1-3840x2160", "panel=1&scale=2", 3840, 2160, 2),
]

# Everything the page shows, measured in the browser: see the module docstring. Elements hidden (display none,
# visibility hidden, opacity 0) or of no size are not shown; a text's box is its Range's; "cut" = not inside the
# viewport or inside an ancestor that clips (overflow other than visible: the frames, the tiles, Streamlit's).
MEASURE = """() => {
  const vw = innerWidth, vh = innerHeight, de = document.documentElement, T = 1;
  const shown = el => { for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const cs = getComputedStyle(e); if (cs.display === "none" || cs.visibility === "hidden" || +cs.opacity === 0) return false; }
    return true; };
  const name = el => (el.getAttribute("data-testid") || el.tagName.toLowerCase()) + (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "");
  const clips = el => { const out = []; for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
      const cs = getComputedStyle(e); if (cs.overflowX !== "visible" || cs.overflowY !== "visible") out.push(e); } return out; };
  const inside = (b, c) => b.left >= c.left - T && b.top >= c.top - T && b.right <= c.right + T && b.bottom <= c.bottom + T;
  const view = {left: 0, top: 0, right: vw, bottom: vh};
  const r = {vw, vh, docH: Math.max(de.scrollHeight, document.body.scrollHeight), docW: Math.max(de.scrollWidth, document.body.scrollWidth),
             scroll: [], cut: [], small: [], minFont: 1e9, texts: 0};
  const check = (what, b, el) => {
    if (!inside(b, view)) { r.cut.push(`${what} [${b.left|0},${b.top|0},${b.right|0},${b.bottom|0}] by the viewport`); return; }
    for (const c of clips(el)) { const cb = c.getBoundingClientRect();
      if (!inside(b, cb)) { r.cut.push(`${what} [${b.left|0},${b.top|0},${b.right|0},${b.bottom|0}] by ${name(c)} [${cb.left|0},${cb.top|0},${cb.right|0},${cb.bottom|0}]`); return; } }
  };
  for (const el of document.querySelectorAll("body *")) {
    if (!shown(el)) continue;
    const b = el.getBoundingClientRect();
    if (b.width < 1 || b.height < 1) continue;
    const cs = getComputedStyle(el);
    if ((/(auto|scroll)/.test(cs.overflowY) && el.scrollHeight > el.clientHeight + T) ||
        (/(auto|scroll)/.test(cs.overflowX) && el.scrollWidth > el.clientWidth + T))
      r.scroll.push(`${name(el)} ${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}`);
    check(name(el), b, el);
  }
  const boxes = []; r.overlap = [];
  const tw = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = tw.nextNode());) {
    if (!n.textContent.trim()) continue;
    const el = n.parentElement;
    if (!el || ["SCRIPT", "STYLE", "NOSCRIPT"].includes(el.tagName) || !shown(el)) continue;
    const rg = document.createRange(); rg.selectNodeContents(n); const b = rg.getBoundingClientRect();
    if (b.width < 1 || b.height < 1) continue;
    const fs = parseFloat(getComputedStyle(el).fontSize);
    r.texts++; r.minFont = Math.min(r.minFont, fs);
    if (fs < 18 * (vh / 1080 >= 2 ? 2 : 1)) r.small.push(`${fs}px "${n.textContent.trim().slice(0, 20)}" in ${name(el)}`);
    check(`text "${n.textContent.trim().slice(0, 20)}"`, b, el);
    const mid = (b.top + b.bottom) / 2, e = {left: b.left, right: b.right, top: mid - fs / 2, bottom: mid + fs / 2};
    for (const [t, o] of boxes)
      if (e.left < o.right - T && o.left < e.right - T && e.top < o.bottom - T && o.top < e.bottom - T)
        r.overlap.push(`text "${n.textContent.trim().slice(0, 12)}" × "${t}"`);
    boxes.push([n.textContent.trim().slice(0, 12), e]);
  }
  const fr = [...document.querySelectorAll('.wall-head,.wall-tiles,.wall-frame,[class*="st-key-wall-frame"]')].filter(shown);
  for (let i = 0; i < fr.length; i++) for (let j = i + 1; j < fr.length; j++) {
    if (fr[i].contains(fr[j]) || fr[j].contains(fr[i])) continue;
    const a = fr[i].getBoundingClientRect(), b = fr[j].getBoundingClientRect();
    if (a.left < b.right - T && b.left < a.right - T && a.top < b.bottom - T && b.top < a.bottom - T)
      r.overlap.push(`${name(fr[i])} [${a.left|0},${a.top|0},${a.right|0},${a.bottom|0}] × ${name(fr[j])} [${b.left|0},${b.top|0},${b.right|0},${b.bottom|0}]`);
  }
  r.frames = [...document.querySelectorAll('.wall-head,.wall-tiles,.wall-frame,[class*="st-key-wall-frame"]')].map(e => { const b = e.getBoundingClientRect(); return `${e.className.split(" ").slice(-1)[0]} ${b.left|0},${b.top|0},${b.right|0},${b.bottom|0}`; });
  return r;
}
"""


@pytest.fixture(scope="module")
def wall(tmp_path_factory):
    from demo import generate
    from etl.pipeline import run

    root = tmp_path_factory.mktemp("wall-layout")
    cfg = write_config(root, "[dashboard]\nrefresh_seconds = 3\n")
    s = config.load_settings(cfg)
    generate(root / "drop", months=1)
    published = dt.datetime.now().replace(microsecond=0) - dt.timedelta(days=3)  # older than stale_hours (48)
    res = run(root / "drop", s, warehouse_dir=root / "wh", lake_dir=root / "lake", load_time=published,
              log=lambda m: None)
    assert res.status == "ok", res.error
    token = store(s).add_token("测试大屏", actor="test")[1]
    srv = Server(cfg)
    with chromium() as b:
        ctx = b.new_context(viewport={"width": 1920, "height": 1080})
        page = ctx.new_page()
        page.goto(f"{srv.url}/wall?display_token={token}", timeout=120_000)  # the token becomes the cookie
        _settle(page)
        page.close()
        yield srv.url, ctx, root, s
        ctx.close()
    srv.stop()


def _settle(page) -> None:
    """A full refresh cycle drawn after the first (the cycle marker counts them), fonts loaded, no run pending."""
    page.wait_for_selector(".wall-cycle", state="attached", timeout=120_000)
    page.wait_for_function("() => +(document.querySelector('.wall-cycle')?.textContent || 0) >= 1 && "
                           "!document.querySelector('[data-testid=\"stStatusWidget\"]') && "
                           "document.fonts.status === 'loaded'", timeout=120_000, polling=200)
    page.wait_for_timeout(500)


def _open(ctx, url: str, w: int, h: int):
    page = ctx.new_page()
    page.set_viewport_size({"width": w, "height": h})
    page.goto(url, timeout=120_000)
    _settle(page)
    return page


@pytest.mark.parametrize("name,query,w,h,scale", VIEWS, ids=[v[0] for v in VIEWS])
def test_every_panel_fits_the_screen_exactly_and_reads_from_the_back(wall, name, query, w, h, scale):
    url, ctx, _, _ = wall
    page = _open(ctx, f"{url}/wall?{query}", w, h)
    try:
        m = page.evaluate(MEASURE)
        ART.mkdir(exist_ok=True)
        page.screenshot(path=str(ART / f"wall-{name}.png"))
        assert (m["docW"], m["docH"]) == (w, h), m  # the document is the screen
        assert m["scroll"] == [], m["scroll"]
        assert m["cut"] == [], m["cut"]
        assert m["overlap"] == [], m["overlap"]
        assert m["small"] == [] and m["minFont"] >= 18 * scale, m["small"]
        assert m["texts"] > 200  # the panel was measured, not an empty page
        # the frames reach down to the screen's bottom padding: the layout uses the whole screen
        bottom = max(int(f.split()[-1].split(",")[3]) for f in m["frames"])
        assert abs(bottom - (h - 12 * scale)) <= 1, m["frames"]
        # nothing to press on a wall: no buttons (the map's +/− included), and the map says what its colours mean
        assert page.evaluate("() => [...document.querySelectorAll('button, input, select, .maplibregl-ctrl')]"
                             ".filter(e => e.getBoundingClientRect().width > 0).length") == 0
        if "panel1" not in name:
            legend = page.locator(".wall-legend")
            assert legend.is_visible()
            assert all(t in legend.inner_text() for t in ("账号活跃度", "无数据", "未办结事件", "已办结事件"))
            assert page.locator('[data-testid="stDeckGlJsonChart"] canvas').count() >= 1
        tiles = page.locator(".wall-today .wall-tile")
        assert tiles.count() == 4 and "今日" in page.locator(".wall-today").inner_text()
        plotly = page.locator(".js-plotly-plot").count()
        assert plotly == 0 or m["minFont"] >= 18 * scale  # SVG text is measured with the rest
    finally:
        page.close()


def test_stale_feeds_and_a_failed_load_are_seen_on_the_wall(wall):
    """The warehouse was published three days ago: 数据超时未更新 shows. Then a delivery that cannot be read lands in
    the drop folder and a run fails on it: within a refresh the wall says 1 个文件导入失败 (etl.sources.open_failures),
    visible on the screen, with the layout still exact."""
    from etl.pipeline import run

    url, ctx, root, s = wall
    page = _open(ctx, f"{url}/wall?panel=0", 1920, 1080)
    try:
        alerts = page.locator(".wall-alerts")
        assert alerts.is_visible()
        assert "数据超时未更新" in alerts.inner_text()
        assert "导入失败" not in alerts.inner_text()
        (root / "drop" / "events_29990101_坏文件.json").write_text("{not json", encoding="utf-8")
        run(root / "drop", s, warehouse_dir=root / "wh", lake_dir=root / "lake", log=lambda m: None)
        page.wait_for_function("() => (document.querySelector('.wall-alerts')?.innerText || '').includes('导入失败')",
                               timeout=60_000, polling=500)
        page.wait_for_timeout(500)
        text = alerts.inner_text()
        assert "⚠ 1 个文件导入失败" in text and text.index("导入失败") < text.index("数据超时未更新")  # most urgent first
        box = page.locator(".wall-alert", has_text="导入失败").first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1920 and box["y"] + box["height"] <= 1080
        m = page.evaluate(MEASURE)
        page.screenshot(path=str(ART / "wall-alerts-1920x1080.png"))
        assert m["cut"] == [] and m["overlap"] == [] and m["small"] == [], m
    finally:
        page.close()

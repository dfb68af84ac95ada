"""Pieces of the command-centre wall display (指挥中心大屏): period, layout CSS, headline tiles, the feed.

The wall runs for days with nobody touching it. It reads aggregates only (Scope(personal="none")): queries that
would return personal columns have them removed by the metrics runner, and the wall asks for none.
"""
from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import streamlit as st

from core.config import settings
from dashboard import maps, ui
from etl import sources
from etl.lake import Lake
from warehouse import warnings
from warehouse.metrics import Period, Scope

WALL = Scope(personal="none", label="全县")


def scope() -> Scope:
    """The wall's scope (aggregates only): the county (WALL); in a city deployment the city with its counties as
    the units (the 大屏 token, a 市级 user), or the caller's own county (a county-scoped user)."""
    from dashboard import auth, session

    if not auth.city_deployment():
        return WALL
    own = session.identity().scope
    if own.county_code is not None:
        return Scope(county_code=own.county_code, personal="none", label=own.label)
    return auth.CITY_DISPLAY_SCOPE


WEEKDAYS = "一二三四五六日"


def wall_period(today: dt.date, data_last_day: dt.date | None) -> Period:
    """The current month; until data for it has arrived, the latest month that has data."""
    cur = Period.containing(today)
    if data_last_day is None or data_last_day >= cur.start:
        return cur
    return Period.containing(data_last_day)


def params(p: Period, as_of: dt.datetime) -> dict:
    """The wall's query parameters for `p` as of `as_of` (now). A period still running is counted to the end of
    today, never to its own end in the future (超期未办结 at the month's end would call events overdue before their
    deadline), and its 环比 against as many days of the previous period."""
    prev = p.prev()
    day_end = as_of.date() + dt.timedelta(days=1)
    if p.start < day_end < p.end:
        prev = Period(prev.kind, prev.start, min(prev.end, prev.start + (day_end - p.start)))
        p = Period(p.kind, p.start, day_end)
    return {**p.params(), **prev.params("prev_"), "cutoff": None, "as_of": as_of}


def words(scope: Scope) -> tuple[str, str]:
    """(the area, the unit the wall's lists name) as the wall writes them: 全市 / 县 (区) for the city with its
    counties as the units, else 全县 / 乡镇 (a county's wall, a county user's own)."""
    return ("全市", "县 (区)") if scope.by_county else ("全县", "乡镇")


def area_name(w: Scope) -> str:
    """The wall's title: the county's name; in a city deployment the city's, or the county user's county."""
    from dashboard import auth

    if not auth.city_deployment():
        return settings().county.name
    return settings().city.name if w.by_county else w.label


def queries(prm: dict, overview: bool, warn: dict | None = None) -> list[tuple[str, Scope, dict]]:
    """What one refresh reads, for data.prefetch: the freshness line, the tiles (today's and the period's), the
    ranking and the 预警 rules (`warn`: warehouse.warnings.params of the data date) always; the overview panel's
    funnel, map, tallies, backlog and feed when it shows. The same names and parameters as the drawing calls of
    pages/wall.py, so that those find the results cached."""
    w = scope()
    calls = [("quality/freshness", w, {}), ("overview/headline", w, prm), ("overview/unit_ranking", w, prm),
             ("wall/today", w, {"as_of": prm["as_of"]})]
    if warn is not None:
        calls += [(n, w, warn) for n in warnings.RULE_QUERIES]
    if overview:
        calls += [(n, w, prm) for n in ("overview/event_funnel", "overview/map_units", "overview/event_points",
                                           "wall/kp_persons")]
        calls += [("overview/signoff_backlog", w, {"as_of": prm["as_of"]}),
                  ("overview/recent_events", w, {**prm, "limit": 30})]
    return calls


# ------------------------------------------------------------------------------------------------ layout
# Designed for 1920×1080 and drawn at `scale` (2: a 3840×2160 wall at 100 %); `?panels=all` puts both panels side
# by side on a 3840×1080 (32:9) wall. Every height below adds up to the screen's: the title band, the tiles, the
# body, with fixed gaps. Text is never smaller than MIN_FONT × scale (read from the back of the room).
MIN_FONT = 18
PAD, HEAD, TILES, GAP = 12, 64, 128, 10
BODY = 1080 - 2 * PAD - HEAD - TILES - 2 * GAP  # 846
WARN_H = 40  # the 预警 strip under the tiles (pages/wall.py takes it and a GAP from BODY)
WARN_FONT = 20
FRAME_PAD, FRAME_BORDER, FRAME_H = 8, 1.5, 34  # a frame's padding, border and heading height


def css(scale: float) -> str:
    """Full-screen layout: no sidebar, toolbar, map controls or scrollbars; the sizes above, in px × `scale`."""
    u = lambda n: f"{n * scale:g}px"  # noqa: E731
    return f"""<span class="wall-css"></span>
<style>
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"],
  [data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stStatusWidget"],
  [data-testid="stElementToolbar"], [data-testid="stSkipToContent"], .maplibregl-ctrl, .mapboxgl-ctrl,
  [data-testid="stDeckGlJsonChart"] button, footer {{ display: none !important; }}
  html, body, [data-testid="stApp"], [data-testid="stAppViewContainer"], [data-testid="stMain"] {{
      overflow: hidden !important; }}
  [data-testid="stApp"] {{ background: #07121f; }}
  .block-container, [data-testid="stMainBlockContainer"] {{
      padding: {u(PAD)} {u(PAD)} 0 {u(PAD)} !important; max-width: 100% !important; }}
  [data-testid="stVerticalBlock"] {{ gap: {u(GAP)} !important; }}
  [data-testid="stHorizontalBlock"] {{ gap: {u(GAP)} !important; flex-wrap: nowrap !important; }}
  [data-testid="stElementContainer"]:has(.wall-cycle), [data-testid="stElementContainer"]:has(.wall-css) {{
      display: none !important; }}
  [data-testid="stMarkdown"], [data-testid="stMarkdownContainer"] {{ margin: 0 !important; }}
  [data-testid="stMarkdownContainer"] p {{ margin: 0; }}
  .wall-head {{ height: {u(HEAD)}; box-sizing: border-box; border-bottom: {u(2)} solid #2f6ea8;
      background: linear-gradient(90deg, rgba(47,110,168,.35), rgba(47,110,168,0) 60%); padding: 0 {u(12)};
      display: flex; flex-direction: column; justify-content: center; }}
  .wall-row {{ display: flex; justify-content: space-between; align-items: baseline; white-space: nowrap;
      gap: {u(24)}; }}
  .wall-title {{ font-size: {u(30)}; font-weight: 700; letter-spacing: .1em; color: #fff; line-height: {u(36)}; }}
  .wall-clock {{ font-size: {u(28)}; font-weight: 600; color: #fff; font-variant-numeric: tabular-nums;
      line-height: {u(36)}; }}
  .wall-fresh {{ font-size: {u(MIN_FONT)}; color: #9fb3c8; line-height: {u(24)}; }}
  .wall-alerts {{ font-size: {u(20)}; line-height: {u(24)}; }}
  .wall-alert {{ color: #ffb020; font-weight: 700; }}
  .wall-stale {{ display: none; }}
  .wall-tiles {{ display: flex; gap: {u(GAP)}; height: {u(TILES)}; }}
  .wall-group {{ display: flex; gap: {u(6)}; box-sizing: border-box; border: {u(FRAME_BORDER)} solid #2a5078;
      border-radius: {u(8)}; background: #0d2034; padding: {u(6)}; min-width: 0; }}
  .wall-today {{ border-color: #3f8fd6; background: #0f2a47; }}
  .wall-gl {{ width: {u(96)}; flex: none; display: flex; flex-direction: column; justify-content: center;
      align-items: center; color: #9fb3c8; font-size: {u(MIN_FONT)}; white-space: nowrap; }}
  .wall-gl b {{ font-size: {u(28)}; color: #fff; letter-spacing: .1em; }}
  .wall-tile {{ flex: 1 1 0; min-width: 0; background: #132b45; border-radius: {u(6)}; padding: {u(6)} {u(10)};
      display: flex; flex-direction: column; justify-content: space-between; white-space: nowrap; }}
  .wall-tl {{ font-size: {u(20)}; color: #b8cade; line-height: {u(26)}; }}
  .wall-tv {{ font-size: {u(40)}; font-weight: 700; color: #fff; line-height: {u(48)};
      font-variant-numeric: tabular-nums; }}
  .wall-td {{ font-size: {u(MIN_FONT)}; line-height: {u(24)}; color: #9fb3c8; }}
  .wall-good {{ color: #4cd07a; }} .wall-bad {{ color: #ff6b5e; }}
  .wall-frame, [class*="st-key-wall-frame"] {{ box-sizing: border-box; border: {u(FRAME_BORDER)} solid #2a5078;
      border-radius: {u(8)}; background: linear-gradient(#10263d, #0c1e31); padding: {u(FRAME_PAD)} {u(12)};
      overflow: hidden; display: flex; flex-direction: column; }}
  [class*="st-key-wall-frame"] {{ gap: {u(6)} !important; }}
  .wall-h {{ flex: none; font-size: {u(22)}; font-weight: 700; color: #e6f0fa; height: {u(FRAME_H)};
      line-height: {u(FRAME_H)}; border-left: {u(4)} solid #4c9be8; padding-left: {u(8)}; white-space: nowrap; }}
  .wall-h span {{ font-size: {u(MIN_FONT)}; font-weight: 400; color: #9fb3c8; margin-left: {u(8)}; }}
  .wb {{ flex: 1; display: grid; column-gap: {u(18)}; min-height: 0; }}
  .wb-col {{ display: flex; flex-direction: column; min-width: 0; }}
  .wb-row {{ display: flex; align-items: center; white-space: nowrap; color: #dbe7f3; }}
  .wb-n {{ width: 1.6em; flex: none; color: #7f96ad; text-align: right; padding-right: .35em;
      font-variant-numeric: tabular-nums; }}
  .wb-t {{ flex: 1; min-width: 0; height: 84%; background: rgba(255,255,255,.05); border-radius: {u(3)};
      position: relative; display: flex; align-items: center; }}
  .wb-f {{ position: absolute; left: 0; top: 0; bottom: 0; border-radius: {u(3)}; opacity: .7; }}
  .wb-l {{ position: relative; padding-left: .3em; color: #fff; text-shadow: 0 0 {u(3)} #000; }}
  .wb-v {{ width: 4.2em; flex: none; padding-left: .4em; font-weight: 600; font-variant-numeric: tabular-nums; }}
  .wt {{ width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; color: #dbe7f3;
      table-layout: auto; }}
  .wt th {{ color: #9fb3c8; font-weight: 400; text-align: left; border-bottom: {u(1)} solid #2a5078; }}
  .wt td, .wt th {{ padding: 0 {u(6)}; white-space: nowrap; }}
  .wt td.n, .wt th.n {{ text-align: right; }}
  .wt tr:nth-child(even) td {{ background: rgba(255,255,255,.03); }}
  .wall-note {{ color: #9fb3c8; white-space: nowrap; }}
  .wall-legend {{ display: flex; align-items: center; gap: {u(16)}; font-size: {u(MIN_FONT)}; color: #dbe7f3;
      white-space: nowrap; height: {u(30)}; }}
  .wall-ramp {{ display: inline-block; width: {u(180)}; height: {u(14)}; border-radius: {u(3)};
      vertical-align: middle; margin: 0 {u(6)}; }}
  .wall-sw {{ display: inline-block; width: {u(16)}; height: {u(16)}; border-radius: {u(3)};
      vertical-align: middle; margin-right: {u(6)}; }}
  .wall-dot {{ display: inline-block; width: {u(12)}; height: {u(12)}; border-radius: 50%; vertical-align: middle;
      margin-right: {u(6)}; }}
  .wall-warn {{ height: {u(WARN_H)}; box-sizing: border-box; border: {u(FRAME_BORDER)} solid #8a3a2a;
      border-radius: {u(8)}; background: #2a1410; padding: 0 {u(12)}; display: flex; align-items: center;
      gap: {u(18)}; white-space: nowrap; overflow: hidden; font-size: {u(WARN_FONT)}; color: #f3dcd6; }}
  .wall-warn b {{ color: #fff; }}
  .wall-warn .lv-红 {{ color: #ff6b5e; font-weight: 700; }} .wall-warn .lv-橙 {{ color: #ffb020; font-weight: 700; }}
  .wall-warn .lv-黄 {{ color: #ffe066; font-weight: 700; }}
  .wall-flow {{ flex: 1; display: flex; align-items: center; justify-content: space-around; white-space: nowrap;
      color: #dbe7f3; font-size: {u(20)}; }}
  .wall-flow b {{ font-size: {u(32)}; color: #fff; margin: 0 {u(6)}; font-variant-numeric: tabular-nums; }}
  .wall-flow i {{ font-style: normal; color: #7f96ad; font-size: {u(26)}; }}
</style>"""


def header(county: str, p: Period, built_at: str, alerts: list[str], scale: float, budget: int = 44) -> None:
    """The title band: the centre's name and the live clock; the period, data freshness and alerts below."""
    now = dt.datetime.now()
    fresh = f"数据更新于 {ui.esc(built_at[5:16])}" if built_at else "暂无数据"
    running = " (截至 今天)" if p.start <= now.date() < p.end else ""
    st.markdown(
        f'<div class="wall-head"><div class="wall-row"><span class="wall-title">{ui.esc(county)}网格化服务管理指挥中心'
        f'</span><span class="wall-clock"><span class="wall-now">{now:%Y-%m-%d} 星期{WEEKDAYS[now.weekday()]} '
        f'{now:%H:%M:%S}</span></span></div><div class="wall-row"><span class="wall-fresh">统计周期 '
        f'{ui.esc(p.label)}{running} · {fresh}</span><span class="wall-alerts"><span class="wall-alert wall-stale">'
        f'⚠ 大屏未能刷新, 请检查网络与服务 </span>{alert_text(alerts, budget)}</span></div></div>',
        unsafe_allow_html=True)


def alert_text(alerts: list[str], budget: int) -> str:
    """The alerts, most urgent first, as many as fit in `budget` characters, then "等 N 项" for the rest (the line
    never wraps or runs off the screen). HTML."""
    shown, used = [], 0
    for i, a in enumerate(alerts):
        rest = len(alerts) - i - 1
        need = len(a) + 3 + (6 if rest else 0)
        if shown and used + need > budget:
            break
        shown.append(a)
        used += len(a) + 3
    more = len(alerts) - len(shown)
    tail = f" 另 {more} 项告警" if more else ""
    return "".join(f'<span class="wall-alert">⚠ {ui.esc(a)} </span>' for a in shown) + (
        f'<span class="wall-alert">{tail}</span>' if tail else "")


# The clock ticks in the browser. (A fragment rerun every second cost the browser ≈ 70 ms of work per tick, as
# Streamlit reconciles the whole page after each run, and the server a script run: under load that delayed the
# wall's own refresh.) The script also watches the refresh marker: when no refresh has come for three intervals
# (server gone, connection lost) the freshness line says so instead of the clock ticking on as if all were well.
# Fixed text: no data goes into it.
_CLOCK_JS = """<script>(() => {
  const W = "一二三四五六日", pad = n => String(n).padStart(2, "0");
  clearTimeout(window.__wallClock);
  let seen = null, since = Date.now();
  const tick = () => {
    const d = new Date(), m = document.querySelector(".wall-cycle");
    for (const e of document.querySelectorAll(".wall-now"))
      e.textContent = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} 星期${W[(d.getDay() + 6) % 7]}`
        + ` ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    const c = m ? m.textContent : null, iv = +(m && m.dataset.interval) || 60;
    if (c !== seen) { seen = c; since = Date.now(); }
    const stale = Date.now() - since > 3 * iv * 1000 + 10000;
    for (const e of document.querySelectorAll(".wall-stale")) e.style.display = stale ? "inline" : "";
    window.__wallClock = setTimeout(tick, 1020 - new Date().getMilliseconds());  // on the second
  };
  tick();
})();</script>"""


def cycle_marker(tick: int, started: float, interval: float) -> None:
    """The end of a refresh cycle (hidden): its number, when the server began it (epoch s) and how long the server
    took (ms), for the soak and load tests that watch the wall; and the browser-side clock."""
    st.html(f'<span class="wall-cycle" data-start="{started:.3f}" data-ms="{(time.time() - started) * 1000:.0f}" '
            f'data-interval="{float(interval):g}">{int(tick)}</span>{_CLOCK_JS}', unsafe_allow_javascript=True)


def _delta(cur, prev, *, points: bool, higher_better: bool = True) -> str:
    """环比 as HTML: ▲/▼ and the change (percentage points for rates), green when the change is good for the
    figure, red when bad; "持平" for no change; nothing when either side is undefined."""
    if cur is None or prev is None or pd.isna(cur) or pd.isna(prev):
        return '<div class="wall-td">环比 —</div>'
    d = (float(cur) - float(prev)) * 100 if points else int(cur) - int(prev)
    if abs(d) < (0.05 if points else 1):
        return '<div class="wall-td">环比 持平</div>'
    good = (d > 0) == higher_better
    text = f"{abs(d):.1f} 个百分点" if points else f"{abs(int(d)):,}"
    return f'<div class="wall-td {"wall-good" if good else "wall-bad"}">{"▲" if d > 0 else "▼"} {text}</div>'


def _tile(label: str, value: str, sub: str) -> str:
    return (f'<div class="wall-tile"><div class="wall-tl">{ui.esc(label)}</div><div class="wall-tv">{ui.esc(value)}'
            f'</div>{sub}</div>')


def _count(v) -> str:
    return "—" if v is None or pd.isna(v) else f"{int(v):,}"


def tiles(h: pd.Series) -> None:
    """The six headline figures with 环比 arrows (red/green by whether the change is good)."""
    cols = st.columns(6)
    for col, (key, kind, better) in zip(cols, (
            ("activity_rate", "rate", "up"), ("completion_rate", "rate", "up"), ("on_time_rate", "rate", "up"),
            ("overdue_open", "count", "down"), ("kp_reports", "count", "up"), ("sign_rate", "rate", "up"))):
        ui.metric(ui.fmt.NAMES[key], h[key], h[f"prev_{key}"], kind=kind, better=better, where=col,
                  help=None)  # nobody hovers over a wall


def wall_tiles(h: pd.Series, today: pd.Series, p: Period, as_of: dt.datetime, data_first_day: dt.date | None = None
               ) -> None:
    """今日 (today up to now: reported, closed, active accounts, newly overdue) and the period's six headline
    figures with 环比, in one row of framed groups. No 环比 when the previous period holds no data (it ends on or
    before `data_first_day`): zeros there are not a change."""
    h = ui.without_unknown_prev(h, p, data_first_day)
    sub = lambda t: f'<div class="wall-td">{ui.esc(t)}</div>'  # noqa: E731
    day = [
        _tile("上报事件", _count(today["events_reported"]), sub("今日上报")),
        _tile("办结事件", _count(today["events_closed"]), sub("今日办结")),
        _tile("活跃账号", _count(today["accounts_active"]), sub(f"共 {_count(today['accounts'])} 个")),
        _tile("新增超期", _count(today["became_overdue"]), sub(f"当前超期 {_count(today['overdue_open'])} 件")),
    ]
    month = [
        _tile("账号活跃度", ui.pct(h["activity_rate"]), _delta(h["activity_rate"], h["prev_activity_rate"], points=True)),
        _tile("事件办结率", ui.pct(h["completion_rate"]),
              _delta(h["completion_rate"], h["prev_completion_rate"], points=True)),
        _tile("按期办结率", ui.pct(h["on_time_rate"]), _delta(h["on_time_rate"], h["prev_on_time_rate"], points=True)),
        _tile("超期未办结", _count(h["overdue_open"]),
              _delta(h["overdue_open"], h["prev_overdue_open"], points=False, higher_better=False)),
        _tile("重点人员报送", _count(h["kp_reports"]), _delta(h["kp_reports"], h["prev_kp_reports"], points=False)),
        _tile("签收率", ui.pct(h["sign_rate"]), _delta(h["sign_rate"], h["prev_sign_rate"], points=True)),
    ]
    period = (p.label.replace("年", "年<br>", 1) if p.kind == "month" else ui.esc(p.key)) + "<br>环比" + (
        "上月" if p.kind == "month" else "上周")
    st.markdown(
        f'<div class="wall-tiles"><div class="wall-group wall-today" style="flex: 4.4"><div class="wall-gl"><b>今日</b>'
        f'截至 {as_of:%H:%M}</div>{"".join(day)}</div><div class="wall-group" style="flex: 6.4"><div class="wall-gl">'
        f'<b>本期</b>{period}</div>{"".join(month)}</div></div>', unsafe_allow_html=True)


def _ems(text: str) -> float:
    """The width of `text` in em: a CJK character 1, anything else (digits, Latin, %) about 0.6."""
    return sum(1.0 if ord(ch) > 0x2E80 else 0.6 for ch in text)


def warning_strip(count: int, lines: list[tuple[str, str]], width: float = 1920) -> str:
    """The 预警 strip: the number of open warnings and as many of the top reason lines (level, reason) as fit on
    one line of a panel `width` px wide (at scale 1), then "另 N 条". Unit names and figures only. HTML."""
    if not count:
        return '<div class="wall-warn"><b>预警</b><span>当前无预警</span></div>'
    room = (width - 2 * PAD - 2 * 12 - 2 * FRAME_BORDER) / WARN_FONT - 1.5  # in em, with a margin
    head = f"预警 {count} 条"
    used = _ems(head) + 0.9
    parts = []
    for i, (level, reason) in enumerate(lines):
        rest = count - i - 1
        need = _ems(f"【{level}】{reason}") + 0.9 + (_ems(f"另 {rest} 条") + 0.9 if rest else 0)
        if used + need > room:
            break
        parts.append(f'<span><span class="lv-{esc_level(level)}">【{ui.esc(level)}】</span>{ui.esc(reason)}</span>')
        used += _ems(f"【{level}】{reason}") + 0.9
    more = count - len(parts)
    tail = f"<span>另 {more} 条</span>" if more else ""
    return f'<div class="wall-warn"><b>{head}</b>{"".join(parts)}{tail}</div>'


def esc_level(level: str) -> str:
    return level if level in ("红", "橙", "黄") else "黄"


# ------------------------------------------------------------------------------------------------ frames
def frame(title: str, body: str, height: float, scale: float, note: str = "") -> str:
    """A framed panel `height` px (× scale) high: a heading (and a grey note beside it), then `body` (HTML)."""
    n = f"<span>{ui.esc(note)}</span>" if note else ""
    return (f'<div class="wall-frame" style="height:{height * scale:g}px"><div class="wall-h">{ui.esc(title)}{n}'
            f'</div>{body}</div>')


def inner_width(column: float) -> float:
    """The px (at scale 1) a frame filling a column `column` px wide leaves inside its border and padding."""
    return column - 2 * 12 - 2 * FRAME_BORDER


def column_widths(weights: list[float], width: float = 1920) -> list[float]:
    """The px (at scale 1) of st.columns(weights) on a panel `width` px wide (less the page's padding and gaps)."""
    room = width - 2 * PAD - GAP * (len(weights) - 1)
    return [room * w / sum(weights) for w in weights]


def inner_height(height: float) -> float:
    """The px (at scale 1) a frame of `height` leaves below its heading."""
    return height - 2 * FRAME_PAD - 2 * FRAME_BORDER - FRAME_H - 4


def bars(rows: list[tuple[str, float | None, str, str]], height: float, scale: float, *, width: float,
         columns: int = 1, numbered: bool = True, vmax: float | None = None) -> str:
    """Ranking bars as HTML: rows of (label, value, value text, colour), best first, filled column by column into
    `columns` columns that share `height` × `width` px (at scale 1; the body of a frame: inner_height and
    inner_width). Each bar fills its
    row behind the label (the whole row's width for the bar, also in narrow columns); the row height and text
    size follow from the number of rows (text at least MIN_FONT)."""
    if not rows:
        return f'<div class="wall-note" style="font-size:{MIN_FONT * scale:g}px">本期暂无数据</div>'
    per = -(-len(rows) // columns)
    row_h = min(46.0, height / per)
    # a row: rank (1.6em), the label on its bar (the longest label + .6em), the value (4.2em): all in the column
    ems = (1.6 if numbered else 0) + max(len(r[0]) for r in rows) + 0.8 + 4.2
    fs = max(MIN_FONT, min(22.0, row_h * 0.56, (width - 18 * (columns - 1)) / columns / ems))
    top = vmax if vmax is not None else max([v for _, v, _, _ in rows if v is not None and not pd.isna(v)] + [1e-9])
    cols = []
    for c in range(columns):
        out = []
        for i, (label, v, text, colour) in enumerate(rows[c * per:(c + 1) * per], start=c * per + 1):
            w = 0 if v is None or pd.isna(v) else max(0.0, min(100.0, float(v) / top * 100))
            num = f'<span class="wb-n">{i}</span>' if numbered else ""
            out.append(f'<div class="wb-row" style="height:{row_h * scale:g}px">{num}<span class="wb-t"><span '
                       f'class="wb-f" style="width:{w:.1f}%;background:{colour}"></span><span class="wb-l">'
                       f'{ui.esc(label)}</span></span><span class="wb-v">{ui.esc(text)}</span></div>')
        cols.append(f'<div class="wb-col">{"".join(out)}</div>')
    return (f'<div class="wb" style="grid-template-columns:repeat({columns},minmax(0,1fr));font-size:{fs * scale:g}px">'
            f'{"".join(cols)}</div>')


GOOD, BAD, NEUTRAL, AMBER, NODATA = "#1a9850", "#d73027", "#4c9be8", "#f4a53c", "#5a6473"


def rate_rows(rank: pd.DataFrame, col: str, good_at: float | None, bad_below: float | None) -> list:
    """ranking rows of a rate column of overview/unit_ranking, best first, units without a value last ("—")."""
    d = rank.assign(_v=pd.to_numeric(rank[col], errors="coerce")).sort_values("_v", ascending=False,
                                                                           na_position="last")
    out = []
    for name, v in zip(d["short_name"], d["_v"]):
        c = (NODATA if pd.isna(v) else GOOD if good_at is not None and v >= good_at
             else BAD if bad_below is not None and v < bad_below else NEUTRAL)
        out.append((str(name), None if pd.isna(v) else float(v), ui.pct(v), c))
    return out


def table(head: list[str], rows: list[list[str]], numeric: set[int], row_h: float, scale: float,
          font: float = MIN_FONT) -> str:
    """A plain table as HTML (cells escaped here), fixed row height."""
    cls = lambda i: ' class="n"' if i in numeric else ""  # noqa: E731
    th = "".join(f"<th{cls(i)}>{ui.esc(h)}</th>" for i, h in enumerate(head))
    trs = "".join(f'<tr style="height:{row_h * scale:g}px">' + "".join(
        f"<td{cls(i)}>{ui.esc(c)}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return (f'<table class="wt" style="font-size:{font * scale:g}px"><thead><tr style="height:{row_h * scale:g}px">'
            f'{th}</tr></thead><tbody>{trs}</tbody></table>')


def funnel_html(fun: pd.DataFrame) -> str:
    """上报 → 受理 → 办结 of the period's reports, counts and shares of 上报, in one line."""
    parts = []
    for r in fun.itertuples(index=False):
        share = "" if r.stage_order == 1 else f" {ui.pct(r.share_of_reported)}"
        parts.append(f"<span>{ui.esc(r.stage)}<b>{_count(r.events)}</b>{share}</span>")
    return f'<div class="wall-flow">{"<i>→</i>".join(parts)}</div>'


def legend_html(lg: dict) -> str:
    ramp = f'background:linear-gradient(90deg,{",".join(lg["ramp"])})'
    return (f'<div class="wall-legend"><span>{ui.esc(lg["label"])} {ui.esc(lg["low"])}<span class="wall-ramp" '
            f'style="{ramp}"></span>{ui.esc(lg["high"])}</span><span><span class="wall-sw" '
            f'style="background:{lg["nodata"]}"></span>无数据</span><span><span class="wall-dot" '
            f'style="background:rgb(255,80,80)"></span>未办结事件</span><span><span class="wall-dot" '
            f'style="background:rgb(120,200,255)"></span>已办结事件</span></div>')


# The map is built once per query result and shared by every later refresh and every wall screen: its inputs
# are named by their result keys (data.q(keyed=True)), not hashed, and Streamlit only reads the object
# (st.pydeck_chart serialises it), so a refresh of unchanged data builds nothing.

@st.cache_resource(max_entries=8, show_spinner=False)
def _map_deck(units_key: tuple, points_key: tuple, figure: str, width_px: int, height_px: int, label_size: int,
              _units: pd.DataFrame, _points: pd.DataFrame) -> maps.PreparedDeck:
    return maps.PreparedDeck(maps.county_deck(_units, _points, figure, width_px=width_px, height_px=height_px,
                                              label_size=label_size, controller=False))


def map_deck(units: tuple[pd.DataFrame, tuple], points: tuple[pd.DataFrame, tuple], figure: str, width_px: int,
             height_px: int, label_size: int) -> maps.PreparedDeck:
    """The county map from overview/map_units and overview/event_points, each a (frame, key) of data.q(keyed=True)."""
    return _map_deck(units[1], points[1], figure, width_px, height_px, label_size, units[0], points[0])


def source_alerts(scope: Scope | None = None) -> list[str]:
    """Short alerts for the freshness line, the most urgent first: unresolved import failures (a count per kind:
    "3 个文件导入失败"), failed sources, stale datasets, quiet sources, quarantined rows of the latest deliveries.
    Counts and source names only: never a row's content. The wall of one county of a city deployment (`scope`
    with its county): its stale datasets only — the imports and sources are the city's (the 数据质量 page alike)."""
    if scope is not None and scope.county_code is not None:
        return _stale_alert()
    # live, from the lake's state (a failed pull or an all-failed run publishes nothing: the warehouse cannot say it)
    try:
        health = sources.health(settings(), default_drop=True)
        lake = Lake(settings().paths.lake_dir)
        known = sources.read_health(lake)
        failed = sources.failure_summary(sources.open_failures(lake, known))
        quarantined = sum(q["rows_quarantined"] for q in sources.recent_quarantine(lake, known))
    except (OSError, ValueError):
        health, failed, quarantined = [], "", 0
    alerts = [failed] if failed else []
    alerts += [f"数据源「{h['name']}」导入失败" for h in health if h["status"] == "failed"]
    alerts += _stale_alert()  # the figures on the screen are old: before the rows a delivery set aside
    alerts += [f"数据源「{h['name']}」超过 {h['quiet_hours']:g} 小时无新数据" for h in health
               if h["status"] == "quiet" and h["configured"]]  # the default drop: the stale datasets say it
    if quarantined:
        alerts.append(f"最近导入隔离 {quarantined:,} 行")
    return alerts


def _stale_alert() -> list[str]:
    """The stale datasets of the caller's scope, as one alert ([] when none)."""
    stale = ui.stale_datasets()
    if not len(stale):
        return []
    names = "、".join(ui.DATASET_TITLES.get(d, d) for d in stale["dataset"][:2])
    return [f"数据超时未更新: {names}" + (f"等 {len(stale)} 类" if len(stale) > 2 else "")]

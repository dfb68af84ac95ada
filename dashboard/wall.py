"""Pieces of the command-centre wall display (指挥中心大屏): period, layout CSS, headline tiles, the feed.

The wall runs for days with nobody touching it. It reads aggregates only (Scope(personal="none")): queries that
would return personal columns have them removed by the metrics runner, and the wall asks for none.
"""
from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import charts, maps, ui
from etl import sources
from etl.lake import Lake
from warehouse.config import settings
from warehouse.metrics import Period, Scope

WALL = Scope(personal="none", label="全县")
WEEKDAYS = "一二三四五六日"


def wall_period(today: dt.date, data_last_day: dt.date | None) -> Period:
    """The current month; until data for it has arrived, the latest month that has data."""
    cur = Period.containing(today)
    if data_last_day is None or data_last_day >= cur.start:
        return cur
    return Period.containing(data_last_day)


def params(p: Period, as_of: dt.datetime) -> dict:
    return {**p.params(), **p.prev().params("prev_"), "cutoff": None, "as_of": as_of}


def queries(prm: dict, overview: bool) -> list[tuple[str, Scope, dict]]:
    """What one refresh reads, for data.prefetch: the freshness line, the tiles and the ranking always; the
    overview panel's funnel, map, tallies, backlog and feed when it shows. The same names and parameters as the
    drawing calls of pages/wall.py, so that those find the results cached."""
    calls = [("quality/freshness", WALL, {}), ("overview/headline", WALL, prm), ("overview/unit_ranking", WALL, prm)]
    if overview:
        calls += [(n, WALL, prm) for n in ("overview/event_funnel", "overview/map_units", "overview/event_points",
                                           "overview/kp_tallies")]
        calls += [("overview/signoff_backlog", WALL, {"as_of": prm["as_of"]}),
                  ("overview/recent_events", WALL, {**prm, "limit": 30})]
    return calls


def css(scale: float) -> str:
    """Full-screen layout: no sidebar, no toolbar, no scrollbars; sizes follow `scale` (2 for a 4K wall)."""
    return f"""
<style>
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"],
  [data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stStatusWidget"],
  footer {{ display: none !important; }}
  html, body, [data-testid="stApp"], [data-testid="stAppViewContainer"], [data-testid="stMain"] {{
      overflow: hidden !important; }}
  .block-container, [data-testid="stMainBlockContainer"] {{
      padding: {0.9 * scale}rem {0.8 * scale}rem 0 {0.8 * scale}rem !important; max-width: 100% !important; }}
  [data-testid="stVerticalBlock"] {{ gap: {0.35 * scale}rem !important; }}
  [data-testid="stHorizontalBlock"] {{ gap: {0.6 * scale}rem !important; }}
  .wall-title {{ font-size: {1.7 * scale}rem; font-weight: 700; letter-spacing: .08em; color: #fff; line-height: 1.2; }}
  .wall-sub {{ font-size: {1.05 * scale}rem; color: #9fb3c8; font-weight: 400; letter-spacing: 0; margin-left: {1.2 * scale}rem; }}
  .wall-clock {{ font-size: {1.6 * scale}rem; font-weight: 600; color: #fff; text-align: right;
                 font-variant-numeric: tabular-nums; line-height: 1.2;
                 white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}  /* alerts never push the tiles down */
  .wall-fresh {{ font-size: {0.95 * scale}rem; color: #9fb3c8; font-weight: 400; margin-left: {0.8 * scale}rem; }}
  .wall-alert {{ color: #ffb020; font-weight: 600; }}
  .wall-stale {{ display: none; }}
  [data-testid="stMarkdown"]:has(.wall-title), [data-testid="stMarkdown"]:has(.wall-clock) {{
      min-height: {2.5 * scale}rem; }}
  [data-testid="stMarkdown"]:has(.wall-h) {{ min-height: {1.5 * scale}rem; }}
  [data-testid="stElementContainer"]:has(.wall-cycle) {{ display: none; }}
  [data-testid="stMetric"] {{ background: #132b45; border-radius: {0.5 * scale}rem;
                             padding: {0.35 * scale}rem {0.8 * scale}rem; }}
  [data-testid="stMetricLabel"] p {{ font-size: {1.0 * scale}rem !important; color: #9fb3c8; }}
  [data-testid="stMetricValue"] {{ font-size: {2.0 * scale}rem !important; line-height: 1.15; }}
  [data-testid="stMetricDelta"] {{ font-size: {0.9 * scale}rem !important; }}
  .wall-h {{ font-size: {1.05 * scale}rem; font-weight: 600; color: #dbe7f3; margin: 0; }}
</style>"""


def header(county: str, p: Period, built_at: str, alerts: list[str], scale: float) -> None:
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.markdown(f'<div class="wall-title">{ui.esc(county)}网格化服务管理指挥中心'
                  f'<span class="wall-sub"> 统计周期 {ui.esc(p.label)}</span></div>', unsafe_allow_html=True)
    with right:
        clock(built_at, alerts)


def clock(built_at: str, alerts: list[str]) -> None:
    """Date and time (ticking in the browser: see cycle_marker), data freshness, alerts."""
    now = dt.datetime.now()
    fresh = f"数据更新于 {ui.esc(built_at[5:16])}" if built_at else "暂无数据"
    alert = "".join(f' · <span class="wall-alert">⚠ {ui.esc(a)}</span>' for a in alerts)
    st.markdown(f'<div class="wall-clock"><span class="wall-now">{now:%Y-%m-%d} 星期{WEEKDAYS[now.weekday()]} '
                f'{now:%H:%M:%S}</span><span class="wall-fresh"> <span class="wall-alert wall-stale">'
                f'⚠ 大屏未能刷新, 请检查网络与服务 · </span>{fresh}{alert}</span></div>',  # first: never cut off
                unsafe_allow_html=True)


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


def delta_points(cur, prev) -> str | None:
    """环比 of a rate in percentage points; None when either side is undefined."""
    if cur is None or prev is None or pd.isna(cur) or pd.isna(prev):
        return None
    return f"{(cur - prev) * 100:+.1f} 个百分点 环比"


def delta_count(cur, prev) -> str | None:
    if cur is None or prev is None or pd.isna(cur) or pd.isna(prev):
        return None
    return f"{int(cur) - int(prev):+d} 环比"


def tiles(h: pd.Series) -> None:
    """The six headline figures with 环比 arrows (red/green by whether the change is good)."""
    cols = st.columns(6)
    for col, (key, kind, better) in zip(cols, (
            ("activity_rate", "rate", "up"), ("completion_rate", "rate", "up"), ("on_time_rate", "rate", "up"),
            ("overdue_open", "count", "down"), ("kp_reports", "count", "up"), ("sign_rate", "rate", "up"))):
        ui.metric(ui.fmt.NAMES[key], h[key], h[f"prev_{key}"], kind=kind, better=better, where=col,
                  help=None)  # nobody hovers over a wall


# What a refresh draws is built once per query result and shared by every later refresh and every wall screen:
# the inputs are named by their result keys (data.q(keyed=True)), not hashed, and Streamlit only reads the
# objects (st.plotly_chart and st.pydeck_chart serialise them), so a refresh of unchanged data builds nothing.

@st.cache_resource(max_entries=8, show_spinner=False)
def _map_deck(units_key: tuple, points_key: tuple, figure: str, width_px: int, height_px: int, label_size: int,
              _units: pd.DataFrame, _points: pd.DataFrame) -> maps.PreparedDeck:
    return maps.PreparedDeck(maps.county_deck(_units, _points, figure, width_px=width_px, height_px=height_px,
                                              label_size=label_size))


def map_deck(units: tuple[pd.DataFrame, tuple], points: tuple[pd.DataFrame, tuple], figure: str, width_px: int,
             height_px: int, label_size: int) -> maps.PreparedDeck:
    """The county map from overview/map_units and overview/event_points, each a (frame, key) of data.q(keyed=True)."""
    return _map_deck(units[1], points[1], figure, width_px, height_px, label_size, units[0], points[0])


def _backlog_bars(back: pd.DataFrame, **kw) -> go.Figure:
    kinds = back.groupby("office_kind", as_index=False)[["within", "yellow", "red"]].sum()
    return charts.grouped_bars(kinds, "office_kind", {"within": "未超时", "yellow": "黄灯", "red": "红灯"},
                               stacked=True, colours=[charts.NEUTRAL, charts.AMBER, charts.BAD], horizontal=True, **kw)


def _top_overdue(rank: pd.DataFrame, **kw) -> go.Figure:
    over = rank.sort_values("overdue_open", ascending=False).head(8)
    return charts.ranking_bars(over, "overdue_open", "short_name", pct=False, **kw)


_CHARTS = {"ranking_bars": charts.ranking_bars, "funnel": charts.funnel, "grouped_bars": charts.grouped_bars,
           "backlog_bars": _backlog_bars, "top_overdue": _top_overdue}


@st.cache_resource(max_entries=32, show_spinner=False)
def _chart(kind: str, key: tuple, args: tuple, opts: dict, _df: pd.DataFrame) -> go.Figure:
    return _CHARTS[kind](_df, *args, **opts)


def chart(kind: str, result: tuple[pd.DataFrame, tuple], *args, **opts) -> go.Figure:
    """A figure of dashboard.charts (or of the two above) from a (frame, key) of data.q(keyed=True)."""
    return _chart(kind, result[1], args, opts, result[0])


def source_alerts() -> list[str]:
    """Short alerts for the freshness line, the most urgent first: unresolved import failures (a count per kind:
    "3 个文件导入失败"), failed sources, quarantined rows of the latest deliveries, stale datasets, quiet sources.
    Counts and source names only: never a row's content."""
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
    if quarantined:
        alerts.append(f"最近导入隔离 {quarantined:,} 行")
    stale = ui.stale_datasets()
    if len(stale):
        alerts.append("数据超时未更新: " + "、".join(ui.DATASET_TITLES.get(d, d) for d in stale["dataset"][:3]))
    alerts += [f"数据源「{h['name']}」超过 {h['quiet_hours']:g} 小时无新数据" for h in health
               if h["status"] == "quiet" and h["configured"]]  # the default drop: the stale datasets say it
    return alerts

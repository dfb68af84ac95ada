"""指挥中心大屏: the command-centre wall display. Nobody touches it: it refreshes, rolls over and rotates itself.

URL options (set once when the screen is installed): `scale` (1 for 1920×1080, 2 for a 3840×2160 wall at 100%),
`fig` (map colouring: activity | completion | overdue), `panel` (fix one panel: 0 or 1), `panels=all` (32:9 walls:
both panels side by side).
"""
import datetime as dt
import time

import streamlit as st

from dashboard import data, maps, ui, wall
from warehouse.config import settings

cfg = settings().dashboard
qp = st.query_params
scale = min(4.0, max(0.5, float(qp.get("scale", 1) or 1)))
figure = qp.get("fig", "activity") if qp.get("fig") in maps.FIGURES else "activity"
st.markdown(wall.css(scale), unsafe_allow_html=True)
H = 1080 * scale  # the design height; everything below adds up to it


def overview_panel(p, prm, width_frac: float) -> None:
    left, mid, right = st.columns([1.05, 1.75, 1.1])
    with left:
        rank = data.q("overview/unit_ranking", wall.WALL, keyed=True, **prm)
        st.plotly_chart(wall.chart("ranking_bars", rank, "activity_rate", "short_name", title="各地账号活跃度",
                                   height=620, scale=scale, good_at=1.0, bad_below=settings().metrics.activity_good),
                        config={"displayModeBar": False}, key="rank")
        fun = data.q("overview/event_funnel", wall.WALL, keyed=True, **prm)
        st.plotly_chart(wall.chart("funnel", fun, title="事件流转 (上报 → 受理 → 办结)", height=225, scale=scale),
                        config={"displayModeBar": False}, key="funnel")
    with mid:
        units = data.q("overview/map_units", wall.WALL, keyed=True, **prm)
        pts = data.q("overview/event_points", wall.WALL, keyed=True, **prm)
        label = maps.FIGURES[figure][1]
        st.markdown(f'<p class="wall-h">全县地图 · {ui.esc(label)} · 红点为未办结事件</p>', unsafe_allow_html=True)
        map_h = int(840 * scale)
        st.pydeck_chart(wall.map_deck(units, pts, figure, int(1920 * scale * width_frac * 0.44), map_h,
                                      int(13 * scale)),
                        height=map_h, key="map")
    with right:
        kp = data.q("overview/kp_tallies", wall.WALL, keyed=True, **prm)
        st.plotly_chart(wall.chart("grouped_bars", kp, "category", {"reports": "报送", "fully_signed": "已全部签收"},
                                   title="三项重点工作 (人数)", height=260, scale=scale),
                        config={"displayModeBar": False}, key="kp")
        back = data.q("overview/signoff_backlog", wall.WALL, keyed=True, as_of=prm["as_of"])
        st.plotly_chart(wall.chart("backlog_bars", back, title="待签收 (按部门)", height=235, scale=scale),
                        config={"displayModeBar": False}, key="backlog")
        recent_feed(p, prm)


def recent_feed(p, prm) -> None:
    st.markdown('<p class="wall-h">最新事件</p>', unsafe_allow_html=True)
    ev = data.q("overview/recent_events", wall.WALL, **prm, limit=30)
    if ev.empty:
        st.caption("本期暂无事件")
        return
    n = 9
    step = st.session_state.get("feed_step", 0) % max(1, (len(ev) + n - 1) // n)  # rolls on every refresh
    view = ev.iloc[step * n:(step + 1) * n]
    st.dataframe(view.assign(时间=view["reported_at"].dt.strftime("%m-%d %H:%M"))
                 .rename(columns={"category": "类别", "ru_short_name": "乡镇", "status": "状态", "supervision": "督办"})
                 [["时间", "类别", "乡镇", "状态", "督办"]],
                 hide_index=True, height=int(345 * scale), row_height=int(34 * scale))


def detail_panel(p, prm) -> None:
    ranked = data.q("overview/unit_ranking", wall.WALL, keyed=True, **prm)
    rank = ranked[0]
    m = settings().metrics
    a, b, c = st.columns(3)
    with a:
        st.plotly_chart(wall.chart("ranking_bars", ranked, "completion_rate", "short_name", title="各地事件办结率",
                                   height=950, scale=scale, good_at=m.event_high, bad_below=m.event_low),
                        config={"displayModeBar": False}, key="d-comp")
    with b:
        st.plotly_chart(wall.chart("ranking_bars", ranked, "sign_rate", "short_name", title="各地重点人员签收率",
                                   height=950, scale=scale, good_at=m.sign_good),
                        config={"displayModeBar": False}, key="d-sign")
    with c:
        red = rank[rank["red"]].sort_values("rank")
        black = rank[rank["black"]].sort_values("rank", ascending=False)
        st.markdown('<p class="wall-h">红榜</p>', unsafe_allow_html=True)
        st.dataframe(red.assign(综合得分=red["score"].map(ui.pct))[["short_name", "综合得分"]]
                     .rename(columns={"short_name": "单位"}), hide_index=True, height=int(260 * scale))
        st.markdown('<p class="wall-h">黑榜 (⚠ 连续两期上榜)</p>', unsafe_allow_html=True)
        st.dataframe(black.assign(单位=[("⚠ " if r else "") + n for n, r in zip(black["short_name"], black["black_repeat"])],
                                  综合得分=black["score"].map(ui.pct))[["单位", "综合得分"]],
                     hide_index=True, height=int(260 * scale))
        st.plotly_chart(wall.chart("top_overdue", ranked, title="超期未办结最多", height=330, scale=scale),
                        config={"displayModeBar": False}, key="d-over")


interval = cfg.rotate_seconds if cfg.rotate_seconds > 0 else cfg.refresh_seconds
interval = min(interval, cfg.refresh_seconds)


@st.fragment(run_every=interval)
def body() -> None:
    t0 = time.time()
    try:
        meta = data.meta()
    except Exception:  # noqa: BLE001 — between versions or no warehouse: show the state, try again next cycle
        st.info("数据仓库暂不可用, 稍后自动重试")
        return
    last = meta.get("data_last_day")
    p = wall.wall_period(dt.date.today(), dt.date.fromisoformat(last) if last else None)
    prm = wall.params(p, dt.datetime.now().replace(second=0, microsecond=0))  # ageing to the minute: cacheable
    tick = st.session_state["feed_step"] = st.session_state.get("feed_step", -1) + 1
    both = qp.get("panels") == "all"
    fixed = qp.get("panel")
    rotate = cfg.rotate_seconds > 0 and fixed is None
    panel = int(fixed) % 2 if fixed is not None else ((tick * interval // cfg.rotate_seconds) % 2 if rotate else 0)
    data.prefetch(wall.queries(prm, overview=both or panel == 0))  # all at once; drawn from the cache below
    wall.header(settings().county.name, p, meta.get("built_at", ""), wall.source_alerts(), scale)
    head = data.q("overview/headline", wall.WALL, **prm).iloc[0]
    wall.tiles(head)
    if both:
        c1, c2 = st.columns(2)
        with c1:
            overview_panel(p, prm, 0.5)
        with c2:
            detail_panel(p, prm)
    elif panel == 0:
        overview_panel(p, prm, 1.0)
    else:
        detail_panel(p, prm)
    wall.cycle_marker(tick, t0, interval)  # last: the cycle is complete on the server


body()

"""指挥中心大屏: the command-centre wall display. Nobody touches it: it refreshes, rolls over and rotates itself.

URL options (set once when the screen is installed): `scale` (1 for 1920×1080, 2 for a 3840×2160 wall at 100%),
`fig` (map colouring: activity | completion | overdue), `panel` (fix one panel: 0 or 1), `panels=all` (32:9 walls:
both panels side by side).

The layout is designed in px for 1920×1080 (dashboard/wall.py: title band, tiles, body) and multiplied by `scale`;
every frame below has a fixed height that adds up to wall.BODY, so the page fits the screen exactly.
"""
import datetime as dt
import time

import streamlit as st

from core.config import settings
from dashboard import data, maps, ui, wall
from dashboard import warnings as warn

cfg = settings().dashboard
W = wall.scope()  # the county's; a city deployment's: the counties (or a county user's own county)
qp = st.query_params
scale = min(4.0, max(0.5, float(qp.get("scale", 1) or 1)))
figure = qp.get("fig", "activity") if qp.get("fig") in maps.FIGURES else "activity"
st.markdown(wall.css(scale), unsafe_allow_html=True)
B, G = wall.BODY - wall.WARN_H - wall.GAP, wall.GAP  # the body under the 预警 strip


def _html(body: str) -> None:
    st.markdown(body, unsafe_allow_html=True)


def overview_panel(p, prm, width: float) -> None:
    """Ranking | map with legend and event flow | key persons, sign-off backlog, latest events. `width`: the
    panel's width in px at scale 1."""
    m = settings().metrics
    weights = [0.31, 0.42, 0.27]
    wl, wm, _ = wall.column_widths(weights, width)
    left, mid, right = st.columns(weights)
    with left:
        rank = data.q("overview/unit_ranking", W, **prm)
        _html(wall.frame("各地账号活跃度", wall.bars(wall.rate_rows(rank, "activity_rate", 1.0, m.activity_good),
                                                     wall.inner_height(B), scale, width=wall.inner_width(wl),
                                                     columns=2, vmax=1.0),
                         B, scale, note="本期 · 由高到低"))
    flow_h = 112
    map_frame = B - G - flow_h
    with mid:
        units = data.q("overview/map_units", W, keyed=True, **prm)
        pts = data.q("overview/event_points", W, keyed=True, **prm)
        label = maps.FIGURES[figure][1]
        legend_h = 30
        map_h = int((wall.inner_height(map_frame) - legend_h - 12) * scale)
        map_w = int(wall.inner_width(wm) * scale)
        with st.container(key="wall-frame-map", height=int(map_frame * scale), border=False):
            _html(f'<div class="wall-h">{wall.words(W)[0]}地图 · {ui.esc(label)}<span>乡镇按{ui.esc(label)}着色 · '
                  f'事件按网格汇总</span></div>')
            st.pydeck_chart(wall.map_deck(units, pts, figure, map_w, map_h, int(20 * scale)), height=map_h,
                            key="map")
            _html(wall.legend_html(maps.legend(units[0], figure)))
        fun = data.q("overview/event_funnel", W, **prm)
        _html(wall.frame("本期上报事件流转", wall.funnel_html(fun), flow_h, scale, note="本期上报的事件到本期末"))
    with right:
        kp_h, back_h = 300, 196
        kp = data.q("wall/kp_persons", W, **prm)
        known = kp[kp["category"].notna()]
        other = kp[kp["category"].isna()]
        rows = [[c, f"{int(r):,}", f"{int(n):,}", f"{int(s):,}"] for c, r, n, s in
                zip(known["category"], known["reports"], known["persons"], known["fully_signed"])]
        body = wall.table(["类别", "报送 (条)", "人数", "全部签收"], rows, {1, 2, 3}, 34, scale, font=20)
        if len(other) and int(other["reports"].sum()):
            body += (f'<div class="wall-note" style="font-size:{wall.MIN_FONT * scale:g}px">另有 '
                     f'{int(other["reports"].sum()):,} 条类别不明, 见数据质量</div>')
        _html(wall.frame("三项重点工作", body, kp_h, scale, note="人数按身份证号去重"))
        back = data.q("overview/signoff_backlog", W, as_of=prm["as_of"])
        kinds = back.groupby("office_kind", sort=False)[["within", "yellow", "red"]].sum()
        rows = [[k, f"{int(r.within):,}", f"{int(r.yellow):,}", f"{int(r.red):,}"] for k, r in kinds.iterrows()]
        _html(wall.frame("待签收", wall.table(["部门", "未超时", "黄灯", "红灯"], rows, {1, 2, 3}, 34, scale, font=20),
                         back_h, scale, note="当前 · 按部门类别"))
        recent_feed(p, prm, B - kp_h - back_h - 2 * G)


def recent_feed(p, prm, height: float) -> None:
    ev = data.q("overview/recent_events", W, **prm, limit=30)
    row = 32
    n = max(1, int((wall.inner_height(height) - row) // row))
    if ev.empty:
        _html(wall.frame("最新事件", '<div class="wall-note">本期暂无事件</div>', height, scale))
        return
    step = st.session_state.get("feed_step", 0) % max(1, (len(ev) + n - 1) // n)  # rolls on every refresh
    view = ev.iloc[step * n:(step + 1) * n]
    rows = [[t.strftime("%m-%d %H:%M"), c, u, s, v or "—"] for t, c, u, s, v in
            zip(view["reported_at"], view["category"], view["ru_short_name"].fillna("—"), view["status"],
                view["supervision"])]
    _html(wall.frame("最新事件", wall.table(["时间", "类别", wall.words(W)[1], "状态", "督办"], rows, set(), row, scale),
                     height, scale))


def detail_panel(p, prm) -> None:
    """办结率 and 签收率 rankings | 红榜, 黑榜, most overdue."""
    rank = data.q("overview/unit_ranking", W, **prm)
    m = settings().metrics
    weights = [0.36, 0.36, 0.28]
    wa, wb, wc = (wall.inner_width(w) for w in wall.column_widths(weights))
    a, b, c = st.columns(weights)
    with a:
        _html(wall.frame("各地事件办结率", wall.bars(wall.rate_rows(rank, "completion_rate", m.event_high, m.event_low),
                                                     wall.inner_height(B), scale, width=wa, columns=2), B, scale,
                         note="本期办结 / 本期上报"))
    with b:
        _html(wall.frame("各地重点人员签收率", wall.bars(wall.rate_rows(rank, "sign_rate", m.sign_good, None),
                                                         wall.inner_height(B), scale, width=wb, columns=2, vmax=1.0),
                         B, scale, note="本期报送的签收"))
    with c:
        list_h = 236
        for title, rows, note in (
                ("红榜", rank[rank["red"]].sort_values("rank"), "综合得分最高"),
                ("黑榜", rank[rank["black"]].sort_values("rank", ascending=False), "⚠ 连续两期上榜")):
            fit = int((wall.inner_height(list_h) - 34) // 34)
            names = [("⚠ " if r.get("black_repeat") is True else "") + str(r["short_name"]) for _, r in rows.iterrows()]
            cells = [[nm, ui.pct(sc)] for nm, sc in zip(names, rows["score"])]
            if len(cells) > fit:
                cells = cells[:fit - 1] + [[f"等 {len(rows)} 个单位", ""]]
            body = wall.table(["单位", "综合得分"], cells, {1}, 34, scale, font=22) if cells else \
                '<div class="wall-note">本期无</div>'
            _html(wall.frame(title, body, list_h, scale, note=note))
        over_h = B - 2 * list_h - 2 * G
        top = rank.assign(_o=rank["overdue_open"].fillna(0)).sort_values("_o", ascending=False)
        top = top[top["_o"] > 0]
        fit = int(wall.inner_height(over_h) // 36)
        rows = [(str(n), float(v), f"{int(v):,}", wall.BAD) for n, v in zip(top["short_name"], top["_o"])][:fit]
        _html(wall.frame("超期未办结最多", wall.bars(rows, wall.inner_height(over_h), scale, width=wc, numbered=False),
                         over_h, scale, note="件"))


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
    now = dt.datetime.now().replace(second=0, microsecond=0)  # ageing to the minute: cacheable
    p = wall.wall_period(now.date(), dt.date.fromisoformat(last) if last else None)
    prm = wall.params(p, now)
    tick = st.session_state["feed_step"] = st.session_state.get("feed_step", -1) + 1
    both = qp.get("panels") == "all"
    fixed = qp.get("panel")
    rotate = cfg.rotate_seconds > 0 and fixed is None
    panel = int(fixed) % 2 if fixed is not None else ((tick * interval // cfg.rotate_seconds) % 2 if rotate else 0)
    wall.header(wall.area_name(W), p, meta.get("built_at", ""), wall.source_alerts(W), scale,
                budget=120 if both else 48)  # first: the title band needs no query
    day = warn.data_day()
    wprm = warn.rule_params(day) if day else None
    data.prefetch(wall.queries(prm, overview=both or panel == 0, warn=wprm))  # all at once; drawn from the cache
    head = data.q("overview/headline", W, **prm).iloc[0]
    today = data.q("wall/today", W, as_of=now).iloc[0]
    first = meta.get("data_first_day")
    wall.wall_tiles(head, today, p, now, dt.date.fromisoformat(first) if first else None)
    count, lines = warn.wall_lines(warn.warnings_now(W, day, prefetched=True) if day else [],
                                   settings().warnings.top_n)
    _html(wall.warning_strip(count, lines, 3840 if both else 1920))
    if both:
        c1, c2 = st.columns(2)
        with c1:
            overview_panel(p, prm, 1920)
        with c2:
            detail_panel(p, prm)
    elif panel == 0:
        overview_panel(p, prm, 1920)
    else:
        detail_panel(p, prm)
    wall.cycle_marker(tick, t0, interval)  # last: the cycle is complete on the server


body()

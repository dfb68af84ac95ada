"""A city deployment ([deployment] level = "city"): the 市级 user's county selector, the 全市总览 page, the drill
市 → 县.

The county a 市级 user looks at is one piece of widget state (session.COUNTY_KEY, seeded from the URL's `county`
once, like every other choice: ui._owned), never part of the identity: dashboard.session.scope() turns it into
Scope(county_code=…) and auth.authorize checks it against the caller's own scope (a county-scoped user has no
selector and cannot be given another county). A drill is an event: a callback sets the county and asks for one
page switch (session.go), which app.py performs once on the next run — nothing re-reads it, so nothing can loop.
"""
from __future__ import annotations

import dataclasses

import pandas as pd
import plotly.express as px
import streamlit as st

from core.config import settings
from dashboard import auth, charts, data, maps, session, ui, wall

COUNTY_URL = "county"


def drill(code: str | None, page: str | None) -> None:
    """Callback: look at county `code` (None = 全市) from the page `page` on (None = stay); the 乡镇 filter and its
    drill-downs start over."""
    st.session_state[session.COUNTY_KEY] = code or ui.ALL
    ui.pick_unit(None)
    if page:
        session.go(page)


def _changed() -> None:
    """The sidebar selector moved: a county from the 全市 page goes to that county's 概览; 全市 goes to the 全市 page."""
    code = st.session_state.get(session.COUNTY_KEY) or None
    ui.pick_unit(None)
    if code is None:
        session.go("city")
    elif st.session_state.get(session.PAGE_KEY) == "city":
        session.go("home")


def sidebar_selector(ident: auth.Identity) -> None:
    """The county selector of a 市级 user (nothing for anyone else), in the sidebar."""
    if not ident.city_level:
        return
    names = session.counties(ident)
    opts = [ui.ALL] + list(names)
    ui._owned(session.COUNTY_KEY, COUNTY_URL, opts, ui.ALL)
    st.sidebar.selectbox("县 (区)", opts, key=session.COUNTY_KEY, on_change=_changed,
                         format_func=lambda c: f"{settings().city.name} (全市)" if c == ui.ALL else names.get(c, c))
    ui._mirror(COUNTY_URL, st.session_state.get(session.COUNTY_KEY) or None)


def _ranking(rank: pd.DataFrame) -> pd.DataFrame:
    rank = rank.sort_values(["rank", "sort_order"], na_position="last").reset_index(drop=True)
    return rank.assign(
        榜单=[ui.fmt.board(r, b, rep) for r, b, rep in zip(rank["red"], rank["black"], rank["black_repeat"])],
        变化=[ui.fmt.DASH if pd.isna(p) or pd.isna(r) else ("↑" if p > r else "↓" if p < r else "→")
              + (f"{abs(int(p - r))}" if p != r else "") for p, r in zip(rank["prev_rank"], rank["rank"])])


@st.cache_resource(max_entries=4, show_spinner=False)
def _deck(units_key: tuple, figure: str, _units: pd.DataFrame) -> maps.PreparedDeck:
    return maps.PreparedDeck(maps.county_deck(_units, None, figure, width_px=760, height_px=520, label_size=12))


def overview() -> None:
    """全市总览: the city's headline with 环比, the counties ranked (chart and table; a row drills into the county),
    the map of every 乡镇 of the city, the counties' trend, and the city's 乡镇 ranked across counties."""
    ctx = ui.page(f"{settings().city.name} · 全市总览", unit_filter=False, key="city")
    ident = session.identity()
    names = session.counties(ident)
    head = data.q("overview/headline", ctx.scope, **ctx.prm).iloc[0]
    wall.tiles(ctx.known_prev(head))

    rank = _ranking(data.q("overview/unit_ranking", ctx.scope, **ctx.prm))
    st.subheader(f"{ui.md(ctx.period_label)} 各县综合排名")
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(charts.ranking_bars(rank, "score", "ru_name", title="综合得分 (由高到低)",
                                            height=max(260, 44 * len(rank) + 60)), key="city-rank-chart")
    with right:
        st.caption("选中一行进入该县 (概览、账号活跃度、事件办结…… 随后都显示该县)。")
        ui.table(rank, {"rank": "名次", "ru_name": "县 (区)", **{k: ui.fmt.NAMES[k] for k in (
            "score", "activity_rate", "completion_rate", "sign_rate", "overdue_open")}, "榜单": "红黑榜",
            "prev_rank": "上期名次", "变化": "名次变化"},
                 name="各县综合排名", key="city-rank", rates=("score", "activity_rate", "completion_rate", "sign_rate"),
                 on_pick=lambda row: drill(row["ru_code"], "home"))
    st.caption("综合得分 = 账号活跃度、事件办结率 (最高按 100% 计) 与重点人员报送全部签收比例的平均; 与各县乡镇排名同一规则。")

    c1, c2 = st.columns([3, 2])
    with c1:
        figure = st.segmented_control("地图着色", list(maps.FIGURES), default="activity", key="_city_fig",
                                      format_func=lambda f: maps.FIGURES[f][1]) or "activity"
        whole = dataclasses.replace(ident.scope, personal="none")  # every 乡镇 of every county, its own figures
        units, key = data.q("overview/map_units", whole, keyed=True, **ctx.prm)
        units = units.assign(name=[f"{names.get(str(t)[:6], '')} {n}" if lvl == "乡镇" else n
                                   for t, n, lvl in zip(units["township_code"], units["name"], units["level"])])
        st.pydeck_chart(_deck(key, figure, units), height=520, key="city-map")
        lg = maps.legend(units, figure)
        st.caption(f"各乡镇按{lg['label']}着色: 红 {lg['low']} → 绿 {lg['high']}; 灰色为无数据。")
    with c2:
        long = data.q("comparison/long", ctx.scope, end=ctx.trend_end, months_back=12)
        labels = long.drop_duplicates("metric").sort_values("metric_order")
        rates = list(labels["kind"] == "rate")
        metric = st.selectbox("趋势指标", list(labels["metric"]), key="_city_metric",
                              index=rates.index(True) if True in rates else 0,
                              format_func=dict(zip(labels["metric"], labels["metric_label"])).get)
        series = long[long["metric"] == metric]
        series = series.assign(short_name=charts.labels(series["short_name"]))
        fig = px.line(series, x="month", y="value", color="short_name", markers=True,
                      labels={"month": "月份", "value": "", "short_name": "县 (区)"})
        if labels.set_index("metric").loc[metric, "kind"] == "rate":
            fig.update_yaxes(tickformat=".0%")
        charts.time_axis(fig)
        fig.update_layout(height=470, margin=dict(l=8, r=8, t=10, b=8), legend=dict(orientation="h"))
        st.plotly_chart(fig, key="city-trend")

    st.subheader(f"{ui.md(ctx.period_label)} 全市乡镇排名")
    towns = data.q("city/township_ranking", dataclasses.replace(ident.scope, personal="none"), **ctx.prm)
    towns = towns.sort_values(["city_rank", "county_code", "sort_order"], na_position="last")
    ui.table(towns, {"city_rank": "全市名次", "county_name": "县 (区)", "ru_name": "单位", "county_rank": "县内名次",
                     **{k: ui.fmt.NAMES[k] for k in ("score", "activity_rate", "completion_rate", "sign_rate")},
                     "prev_city_rank": "上期全市名次"},
             name="全市乡镇排名", key="city-towns", rates=("score", "activity_rate", "completion_rate", "sign_rate"))

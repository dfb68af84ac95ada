"""事件办结: completion and on-time rates by unit, the bulletin groups, overdue and carded events, category mix,
time to close, drill-down to the events of a unit."""
import streamlit as st

from core.config import settings
from dashboard import charts, data, ui

m = settings().metrics
ctx = ui.page("事件办结", key="events", caption="办结率 = 当期办结的事件 (不论何时上报) / 当期上报的事件, 清理积压时可超过 100%; "
              "当期无上报事件的单位显示“—”, 不进入任何名单。按期办结率 = 当期按时限办结 / 当期办结。")
units = data.q("events/by_unit", ctx.scope, **ctx.prm)
tot = ctx.known_prev(data.q("events/totals", ctx.scope, **ctx.uprm).iloc[0])
c = st.columns(5)
ui.metric("上报事件", tot["reported"], tot["prev_reported"], better=None, where=c[0])  # more reports is neither good nor bad
ui.metric("办结事件", tot["closed"], tot["prev_closed"], where=c[1])
ui.metric(ui.fmt.NAMES["completion_rate"], tot["completion_rate"], tot["prev_completion_rate"], kind="rate", where=c[2])
ui.metric("超期未办结", tot["overdue_open"], tot["prev_overdue_open"], better="down", where=c[3])
ui.metric("黄牌 / 红牌", f"{ui.fmt.count(tot['yellow_cards'])} / {ui.fmt.count(tot['red_cards'])}", where=c[4])

if ctx.ru_code is None:
    groups = data.q("events/groups", ctx.scope, **ctx.prm)
    g = st.columns(len(groups) or 1)
    for col, row in zip(g, groups.itertuples(index=False)):
        col.markdown(f"**{ui.md(row.grp)}** ({row.units} 个)")
        col.caption("、".join(ui.md(n) for n in row.short_names) if len(row.short_names) else "无")
    left, right = st.container(), st.container()  # one above the other: the table needs its columns in view
    with left:
        st.plotly_chart(charts.ranking_bars(units, "completion_rate", "short_name", title=f"{ctx.shows} 各单位办结率",
                                            height=max(400, 22 * len(units)), good_at=m.event_high,
                                            bad_below=m.event_low), key="ev-rank")
    with right:
        st.caption("选中一行查看该单位的事件。")
        picked = ui.table(units, {"ru_name": "单位", "reported": "上报", "closed": "办结", "completion_rate": "事件办结率",
                                  "prev_completion_rate": "上期办结率", "on_time_rate": "按期办结率",
                                  "overdue_open": "超期未办结", "yellow_cards": "黄牌", "red_cards": "红牌",
                                  "avg_hours_to_close": "平均办结时长(小时)", "grp": "通报分组"},
                          name="各单位事件办结", key="ev-units", rates=("completion_rate", "prev_completion_rate",
                                                                         "on_time_rate"),
                          on_pick=lambda row: ui.pick_unit(row["ru_code"]))

a, b = st.columns(2)
with a:
    mix = data.q("events/category_mix", ctx.scope, **ctx.uprm)
    st.plotly_chart(charts.grouped_bars(mix, "category", {"reported": "上报", "closed": "办结", "overdue_open": "超期未办结"},
                                        title=f"{ctx.shows} 事件类别", height=320), key="ev-mix")
with b:
    ttc = data.q("events/time_to_close", ctx.scope, **ctx.uprm)
    st.plotly_chart(charts.grouped_bars(ttc, "bucket", {"events": "办结事件", "on_time": "其中按期"},
                                        title=f"{ctx.shows} 办结用时分布", height=320), key="ev-ttc")

st.subheader(f"事件清单 · {ui.md(ctx.shows)}")
if ctx.scope.personal == "none":  # 县领导: aggregates only (the figures per unit above), never a row per event
    st.info("当前角色只能查看汇总数据 (各单位的事件数、办结率、超期和督办数见上文), 不提供逐条事件清单。")
    st.stop()
only = st.segmented_control("筛选", ["全部", "超期未办结", "红黄牌"], default="全部", key="_evf") or "全部"
ev_prm = dict(**ctx.period.params(), period_asof=ctx.prm["period_asof"], ru_code=ctx.ru_code, grid_code=None, limit=2000)
ev = data.q("events/list", ctx.scope, **ev_prm)
if only == "超期未办结":
    ev = ev[ev["overdue_open"]].sort_values("overdue_days", ascending=False)
elif only == "红黄牌":
    ev = ev[ev["supervision"].isin(["黄牌", "红牌"])]
if not ui.no_rows(ev, "符合条件的事件"):
    ui.table(ev, {"event_id": "事件编号", "reported_at": "上报时间", "category": "类别", "ru_short_name": "单位",
                  "community_name": "社区/村", "grid_name": "网格", "status": "状态", "deadline": "办理时限",
                  "overdue_days": "超期天数", "closed_at": "办结时间", "supervision": "督办",
                  "summary": "事件描述 (已脱敏)"},
             name=f"{ctx.unit_label}事件清单", key="ev-list", max_rows=15,
             source=ui.Source("events/list", ev_prm, "event_id"))

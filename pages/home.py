"""概览: the county (or the caller's 乡镇) at a glance for a period: headline figures, every unit on one table."""
import streamlit as st

from dashboard import data, ui, wall

ctx = ui.page("网格化服务管理督导 · 概览", unit_filter=False, key="home")
head = data.q("overview/headline", ctx.scope, **ctx.prm).iloc[0]
wall.tiles(ctx.known_prev(head))
st.subheader(f"{ui.md(ctx.shows)} 各单位综合情况")
rank = data.q("overview/unit_ranking", ctx.scope, **ctx.prm)
rank = rank.assign(榜单=[ui.fmt.board(r, b, rep) for r, b, rep in zip(rank["red"], rank["black"], rank["black_repeat"])])
ui.table(rank.sort_values(["rank", "sort_order"], na_position="last"),
         {"rank": "名次", "ru_name": "单位", **{k: ui.fmt.NAMES[k] for k in (
             "score", "activity_rate", "completion_rate", "on_time_rate", "overdue_open", "kp_reports", "sign_rate",
             "collection_rate")}, "榜单": "红黑榜", "prev_rank": "上期名次"},
         name="各单位综合情况", key="home-rank",
         rates=("score", "activity_rate", "completion_rate", "on_time_rate", "sign_rate", "collection_rate"))
st.caption("综合得分 = 账号活跃度、事件办结率 (最高按 100% 计) 与重点人员报送全部签收比例的平均; 指标缺失的不计入。")

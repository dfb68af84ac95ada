"""预警与督办: the open warnings (rule, level, unit, first seen, one line of reason) with filters; the duty officer
(县级管理员) acknowledges one or issues a 督办单 (docx); the 督办单 issued, with whether they were answered."""

import pandas as pd
import streamlit as st

from core.config import settings
from dashboard import session, ui
from dashboard import warnings as wd

ident = session.require_page("warnings")
w_cfg = settings().warnings
st.title("预警与督办")
day = wd.data_day()
if day is None:
    st.info("数据仓库中还没有任何业务数据。")
    st.stop()
st.caption(f"所选日期 (默认 {day:%Y-%m-%d}, 数据最新日期) 仍在持续的预警。周指标按最近一个完整的周 (周一至周日) 与上一周比较; "
           f"阈值见配置 [warnings] (骤降 ≥ {w_cfg.drop_points:g} 个百分点, 签收红灯积压 > {w_cfg.red_backlog_limit} 条, "
           f"连续 {w_cfg.silent_days} 天未上报事件)。")
as_of = st.date_input("截至日期", value=day, max_value=day, key="_w_asof",
                      help="按该日 24 时以前的数据计算 (默认: 数据最新日期)") or day
scope = session.county_scope(ident)  # a 市级 user's chosen county, else the caller's own scope
ws = wd.warnings_now(scope, as_of)
acks = wd.store().acks()
c1, c2, c3 = st.columns(3)
levels = c1.multiselect("级别", list(wd.LEVELS), default=list(wd.LEVELS), key="_w_levels")
rules = c2.multiselect("规则", list(wd.RULES), format_func=wd.RULES.get, key="_w_rules", placeholder="全部规则")
state = c3.segmented_control("状态", ["全部", "未确认", "已确认"], default="全部", key="_w_state") or "全部"
shown = [w for w in ws if w.level in levels and (not rules or w.rule in rules)
         and (state == "全部" or (w.key in acks) == (state == "已确认"))]
st.markdown(f"**当前预警 {len(ws)} 条**" + (f", 筛选后 {len(shown)} 条" if len(shown) != len(ws) else ""))
if not shown:
    st.info("没有符合条件的预警。")
else:
    df = pd.DataFrame([{"级别": w.level, "规则": wd.RULES[w.rule], "单位": w.unit,
                        "首次出现": f"{w.first_seen:%Y-%m-%d}", "原因": w.reason,
                        "状态": f"已确认 ({acks[w.key]['by_user']})" if w.key in acks else "未确认"} for w in shown])
    st.dataframe(df, hide_index=True, key="warnings-table", height=ui.table_height(len(df)))

if wd.can_act(ident) and shown:
    st.subheader("处置")
    pick = st.selectbox("选择预警", range(len(shown)), format_func=lambda i: f"【{shown[i].level}】{shown[i].reason}",
                        key="_w_pick")
    w = shown[pick]
    a, b = st.columns(2)
    with a:
        note = st.text_input("确认说明 (可选)", key="_w_note", max_chars=200)
        if st.button("确认预警", key="_w_ack", disabled=w.key in acks):
            wd.acknowledge(w, note)
            st.success("已确认, 已记入审计日志。")
            st.rerun()
    with b:
        if w.unit_kind in ("unit", "office"):
            if st.button("下发督办单", key="_w_issue"):
                o = wd.issue(w, as_of)
                st.session_state["_w_last_order"] = o.id
                st.success(f"已下发 {o.number} ({len(o.items)} 项, 答复期限 {o.deadline:%Y-%m-%d})。")
        else:
            st.caption("数据源类预警由县级管理员核查数据接入, 不下发督办单。")

st.subheader("督办单")
states = wd.orders(scope)
if not states:
    st.info("尚未下发督办单。")
else:
    od = pd.DataFrame([{"编号": s.order.number, "单位": s.order.unit_name, "答复情况": s.state, "事项": s.items,
                        "已办结/签收": s.answered_items, "答复期限": f"{s.order.deadline:%Y-%m-%d %H:%M}",
                        "下发时间": f"{s.order.issued_at:%Y-%m-%d %H:%M}", "下发人": s.order.issued_by,
                        "原因": s.order.reason} for s in states])
    st.dataframe(od, hide_index=True, key="orders-table", height=ui.table_height(len(od)))
    if ident.scope.personal != "none":  # the document lists items (masked names): not for the aggregate roles
        pick = st.selectbox("下载督办单", range(len(states)), format_func=lambda i: states[i].order.number,
                            key="_w_order_pick")
        o = states[pick].order
        st.download_button("下载督办单 (Word)", wd.order_docx(o), file_name=wd.file_name(o), key="_w_docx",
                           mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document")

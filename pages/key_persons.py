"""三项重点工作: key-person reports and sign-offs by category, unit and department office, overdue sign-offs."""
import streamlit as st

from core.config import settings
from core.spec import KP_CATEGORIES
from dashboard import charts, data, ui

m = settings().metrics
ctx = ui.page("三项重点工作 (重点人员报送与签收)", key="key_persons",
              caption=f"签收率: 当期报送中在截止时间 (默认期末) 前签收的比例; 严重精神障碍患者需派出所和卫生院两次签收, "
                      f"分别计算。未签收超过 {m.sign_yellow_hours:g} 小时为黄灯, 超过 {m.sign_red_hours:g} 小时为红灯。")
tallies = ctx.known_prev(data.q("overview/kp_tallies", ctx.scope, **ctx.uprm))
cols = st.columns(len(tallies))
for col, r in zip(cols, tallies.itertuples(index=False)):
    ui.metric(ui.md(r.category), r.reports, r.prev_reports, unit="条", where=col)
    col.caption(f"签收率 {ui.pct(r.sign_rate)} (上期 {ui.pct(r.prev_sign_rate)})")

view = st.segmented_control("查看", ["各单位", "各部门", "超时未签收", "趋势"], default="各单位", key="_view") or "各单位"
if view == "各单位":
    cat = ui.url_pick("cat", "人员类别", list(KP_CATEGORIES), {}, none_label="全部类别")
    if cat:
        kp = data.q("kp/by_category_unit", ctx.scope, **ctx.uprm, category=cat)
    else:  # every category: the unit's figures summed over the categories in the query
        kp = data.q("kp/by_unit", ctx.scope, **ctx.uprm)
    ui.table(kp, {"ru_name": "单位", "category": "类别", "reported": "报送", "prev_reported": "上期报送",
                  "needed": "需签收", "signed": "已签收", "sign_rate": "签收率", "fully_signed": "全部签收的报送",
                  "fully_signed_rate": "全部签收比例", "report_good": "报送相对较好", "sign_good": "签收相对较好"},
             name="各单位重点人员报送签收", key="kp-units", rates=("sign_rate", "fully_signed_rate"))
elif view == "各部门":
    off = data.q("kp/by_office", ctx.scope, **ctx.uprm, as_of=ctx.as_of)  # of the unit's 乡镇
    signed_any = off[off["signed"] > 0]
    st.markdown("**当期有签收的部门:** " + ("、".join(map(ui.md, signed_any["office_name"])) or "无") + "; 其余为“0”。")
    ui.table(off, {"office_name": "部门", "office_kind": "类型", "township_name": "乡镇", "received": "收到报送",
                   "signed": "已签收", "unsigned": "未签收", "sign_rate": "签收率", "avg_hours_to_sign": "平均签收用时(小时)",
                   "unsigned_yellow": "黄灯", "unsigned_red": "红灯", "prev_sign_rate": "上期签收率"},
             name="各部门签收情况", key="kp-office", rates=("sign_rate", "prev_sign_rate"))
elif view == "超时未签收" and ctx.scope.personal == "none":
    # 县领导: aggregates only — how many sign-offs each office has overdue, never a row per reported person
    off = data.q("kp/by_office", ctx.scope, **ctx.uprm, as_of=ctx.as_of)  # of the unit's 乡镇
    off = off[(off["unsigned_yellow"] > 0) | (off["unsigned_red"] > 0)]
    st.caption("当前角色只能查看汇总数据: 各部门超时未签收的报送数 (不含逐条报送)。")
    if not ui.no_rows(off, "超时未签收的报送"):
        ui.table(off.sort_values(["unsigned_red", "unsigned_yellow"], ascending=False),
                 {"office_name": "接收部门", "office_kind": "类型", "township_name": "乡镇", "unsigned": "未签收",
                  "unsigned_yellow": "黄灯", "unsigned_red": "红灯"}, name="各部门超时未签收", key="kp-overdue-agg")
elif view == "超时未签收":
    cat = ui.url_pick("cat", "人员类别", list(KP_CATEGORIES), {}, none_label="全部类别")
    od_prm = dict(as_of=ctx.as_of, category=cat, ru_code=ctx.ru_code, limit=2000)
    od = data.q("kp/overdue_signoffs", ctx.scope, **od_prm)
    if not ui.no_rows(od, "超时未签收的报送"):
        # most urgent first: 红灯 before 黄灯, then the longest wait; the light as a coloured marker and a word
        od = od.assign(灯=od["level"].map({"红": "🔴 红灯", "黄": "🟡 黄灯"}).fillna(od["level"]),
                       _urgent=(od["level"] == "红").astype(int))
        od = od.sort_values(["_urgent", "hours_waiting"], ascending=False, kind="stable")
        ui.table(od, {"灯": "超时", "hours_waiting": "已等待(小时)", "report_id": "报送编号", "category": "类别",
                      "person_name": "姓名", "id_number": "身份证号", "reported_at": "报送时间", "office_name": "接收部门",
                      "ru_short_name": "单位", "grid_name": "网格"},
                 name="超时未签收", key="kp-overdue", max_rows=15,
                 source=ui.Source("kp/overdue_signoffs", od_prm, "report_id"))
else:
    tr = data.q("kp/trend", ctx.scope, end=ctx.trend_end, months_back=12, cutoff=None, ru_code=ctx.ru_code)
    st.plotly_chart(charts.trend(tr.pivot_table(index="month", columns="category", values="reported", aggfunc="sum")
                                 .reset_index(), "month", {c: c for c in KP_CATEGORIES if c in set(tr["category"])},
                                 title=f"{ui.md(ctx.unit_label)} 近 12 个月报送数 (月度)", pct=False), key="kp-trend")

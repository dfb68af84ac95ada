"""账号活跃度: by reporting unit and by department office, the trend, drill-down to 社区/村, grid and inactive accounts."""
import streamlit as st

from core.config import settings
from dashboard import charts, data, ui

m = settings().metrics
ctx = ui.page("账号活跃度", key="activity")
st.caption(f"活跃: {ui.active_rule(ctx.period)} (登录也算; 本期尚未结束时按已过的天数折算); "
           f"计数: {'当周' if ctx.period.kind == 'week' else '当月'}任何时间处于启用状态的网格员、网格长账号; 没有账号的单位显示“—”。")
head = data.q("activity/headline", ctx.scope, **ctx.uprm).iloc[0]
c = st.columns(4)
ui.metric("网格员账号活跃度", head["activity_rate"], head["prev_activity_rate"], kind="rate", where=c[0])
ui.metric("活跃 / 计数账号", f"{ui.fmt.count(head['active'])} / {ui.fmt.count(head['accounts'])}", where=c[1])
ui.metric("部门账号活跃度", head["dept_activity_rate"], head["prev_dept_activity_rate"], kind="rate", where=c[2])
ui.metric("部门活跃 / 计数账号", f"{ui.fmt.count(head['dept_active'])} / {ui.fmt.count(head['dept_accounts'])}",
          where=c[3])

view = st.segmented_control("查看", ["各单位", "部门账号", "趋势"], default="各单位", key="_view") or "各单位"

if view == "各单位":
    units = data.q("activity/by_unit", ctx.scope, **ctx.prm)
    if ctx.ru_code is None:
        left, right = st.columns([2, 3])
        with left:
            st.plotly_chart(charts.ranking_bars(units, "rate", "short_name", title=f"{ctx.shows} 各单位活跃度",
                                                height=max(400, 22 * len(units)), good_at=1.0,
                                                bad_below=m.activity_good), key="act-rank")
        with right:
            st.caption("选中一行可下钻到社区/村、网格和未活跃账号。")
            picked = ui.table(units, {"ru_name": "单位", "accounts": "计数账号", "active": "活跃账号", "rate": "活跃度",
                                      "prev_rate": "上期", "avg_active_days": "平均操作天数", "grp": "通报分组"},
                              name="各单位账号活跃度", key="act-units", rates=("rate", "prev_rate"),
                              on_pick=lambda row: ui.pick_unit(row["ru_code"]))
    else:
        comms = data.q("activity/by_community", ctx.scope, **ctx.prm, ru_code=ctx.ru_code)
        st.subheader(f"{ui.md(ctx.shows)} · 各社区/村")
        ui.table(comms, {"community_name": "社区/村", "community_level": "类型", "grids": "网格数", "accounts": "计数账号",
                         "active": "活跃账号", "rate": "活跃度", "prev_rate": "上期", "avg_active_days": "平均操作天数"},
                 name=f"{ctx.unit_label}各社区村活跃度", key="act-comm", rates=("rate", "prev_rate"))
        comm = ui.url_pick("c", "社区/村", list(comms["community_code"]),
                           dict(zip(comms["community_code"], comms["community_name"])), none_label="全部社区/村")
        grids = data.q("activity/by_grid", ctx.scope, **ctx.prm, ru_code=ctx.ru_code, community_code=comm)
        st.subheader(f"{ui.md(ctx.shows)} · 各网格")
        st.caption("选中一行 (或在下面选择网格) 查看该网格未活跃的账号。")
        ui.table(grids, {"grid_name": "网格", "community_name": "社区/村", "grid_kind": "类型", "households": "户数",
                         "accounts": "计数账号", "active": "活跃账号", "rate": "活跃度", "prev_rate": "上期",
                         "avg_active_days": "平均操作天数"},
                 name=f"{ctx.unit_label}各网格活跃度", key="act-grid", rates=("rate", "prev_rate"),
                 on_pick=lambda row: st.session_state.update(_g=row["grid_code"]))
        grid = ui.url_pick("g", "网格", list(grids["grid_code"]), dict(zip(grids["grid_code"], grids["grid_name"])),
                           none_label="全部网格")
        st.subheader(f"{ui.md(ctx.shows)} · 未达到活跃标准的账号")
        if grid:
            st.caption(f"网格: {ui.md(dict(zip(grids['grid_code'], grids['grid_name'])).get(grid, grid))}")
        if ctx.scope.personal == "none":
            st.info("当前角色只能查看汇总数据。")
        else:
            acc_prm = dict(**ctx.period.params(), period_asof=ctx.prm["period_asof"], ru_code=ctx.ru_code,
                           community_code=comm, grid_code=grid)
            acc = data.q("activity/inactive_accounts", ctx.scope, **acc_prm)
            if not ui.no_rows(acc, "未活跃账号"):
                ui.table(acc, {"account_id": "账号", "person_name": "姓名", "phone": "手机号", "role": "类型",
                               "unit_name": "网格", "community_name": "社区/村", "active_days": "操作天数",
                               "needed_days": "需要天数", "last_active_day": "最后操作日", "status": "状态"},
                         name=f"{ctx.unit_label}未活跃账号", key="act-inactive",
                         source=ui.Source("activity/inactive_accounts", acc_prm, "account_id"))

elif view == "部门账号":
    off = data.q("activity/by_office", ctx.scope, **ctx.uprm)  # of the unit's 乡镇
    st.subheader(f"{ui.md(ctx.shows)} · 部门账号")
    active = off[off["rate"].fillna(0) > 0]
    st.markdown(f"**活跃度大于 0 的部门账号 ({len(active)} 个):** " + ("、".join(map(ui.md, active["office_name"])) or "无"))
    ui.table(off, {"office_name": "部门", "office_kind": "类型", "township_name": "乡镇", "accounts": "账号",
                   "active": "活跃", "rate": "活跃度", "prev_rate": "上期", "avg_active_days": "平均操作天数"},
             name="部门账号活跃度", key="act-office", rates=("rate", "prev_rate"))

else:
    tr = data.q("activity/trend", ctx.scope, end=ctx.period.end, months_back=12, ru_code=ctx.ru_code)
    st.plotly_chart(charts.trend(tr, "month", {"rate": "网格员账号", "dept_rate": "部门账号"},
                                 title=f"{ui.md(ctx.unit_label)} 近 12 个月账号活跃度 (月度)"), key="act-trend")
    ui.table(tr, {"month": "月份", "accounts": "网格员计数", "active": "网格员活跃", "rate": "活跃度",
                  "dept_accounts": "部门计数", "dept_active": "部门活跃", "dept_rate": "部门活跃度"},
             name="账号活跃度趋势", key="act-trend-t", rates=("rate", "dept_rate"))

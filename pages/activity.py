"""账号活跃度: by reporting unit and by department office, the trend, drill-down to 社区/村, grid and inactive accounts;
有效活跃度 (official vs effective rate, flagged accounts, an account's hour × day pattern and patrol points) and
巡查覆盖 (grids by days patrolled, on the map)."""
import streamlit as st

from core.config import settings
from dashboard import aq, charts, data, ui

m = settings().metrics
ctx = ui.page("账号活跃度", key="activity")
st.caption(f"活跃: {ui.active_rule(ctx.period)} (登录也算; 本期尚未结束时按已过的天数折算); "
           f"计数: {'当周' if ctx.period.kind == 'week' else '当月'}任何时间处于启用状态的网格员、网格长账号; 没有账号的单位显示“—”。")
head = ctx.known_prev(data.q("activity/headline", ctx.scope, **ctx.uprm).iloc[0])
c = st.columns(4)
ui.metric("网格员账号活跃度", head["activity_rate"], head["prev_activity_rate"], kind="rate", where=c[0])
ui.metric("活跃 / 计数账号", f"{ui.fmt.count(head['active'])} / {ui.fmt.count(head['accounts'])}", where=c[1])
ui.metric("部门账号活跃度", head["dept_activity_rate"], head["prev_dept_activity_rate"], kind="rate", where=c[2])
ui.metric("部门活跃 / 计数账号", f"{ui.fmt.count(head['dept_active'])} / {ui.fmt.count(head['dept_accounts'])}",
          where=c[3])

view = st.segmented_control("查看", ["各单位", "有效活跃度", "巡查覆盖", "部门账号", "趋势"], default="各单位",
                            key="_view") or "各单位"

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

elif view == "有效活跃度":
    aqc = settings().activity_quality
    st.caption("有效活跃: 只计有实际工作 (巡查、信息采集、信息更新、事件上报、事件处置、签收、民情日志) 的天数, "
               f"同样需 {ui.active_rule(ctx.period)}; 只有登录/其他操作的日子不计。计数账号与官方活跃度相同。"
               f"信号: 登录无实操 ≥ {aqc.login_only_days} 天; 操作扎堆 (≥ {aqc.bunched_min_ops} 次操作在 "
               f"{aqc.bunched_minutes:g} 分钟内) ≥ {aqc.bunched_days} 天; 夜间批量上传 ({aqc.night_start_hour}–"
               f"{aqc.night_end_hour} 时 {aqc.night_burst_minutes:g} 分钟内 ≥ {aqc.night_min_ops} 条巡查) ≥ "
               f"{aqc.night_days} 夜; 定位不变 ≥ {aqc.same_fix_days} 天; 巡查点出网格 (≥ {aqc.outside_min_points} "
               f"个点中 ≥ {ui.fmt.pct(aqc.outside_share)} 在本网格外)。")
    h = data.q("activity_quality/headline", ctx.scope, **ctx.uprm).iloc[0]
    c = st.columns(4)
    ui.metric("官方账号活跃度", h["official_rate"], kind="rate", where=c[0])
    ui.metric("有效活跃度", h["effective_rate"], kind="rate", where=c[1])
    gap = ui.fmt.points(h["official_rate"], h["effective_rate"])
    ui.metric("差距", ui.fmt.DASH if gap is None else f"{gap:.1f} 个百分点", where=c[2])
    ui.metric("有信号的账号", ui.fmt.count(h["flagged"]), where=c[3])
    aqu = data.q("activity_quality/by_unit", ctx.scope, **ctx.prm)
    st.subheader(f"{ui.md(ctx.shows)} · 各单位官方与有效活跃度 (按差距排序)")
    ui.table(aqu, {"gap_rank": "差距排名", "ru_name": "单位", "accounts": "计数账号", "active": "官方活跃",
                   "effective": "有效活跃", "official_rate": "官方活跃度", "effective_rate": "有效活跃度",
                   "gap": "差距", "flagged": "有信号账号", **ui.fmt.AQ_SIGNALS},
             name="各单位有效活跃度", key="aq-units", rates=("official_rate", "effective_rate", "gap"),
             on_pick=lambda row: ui.pick_unit(row["ru_code"]))
    if ctx.scope.personal == "none":
        st.info("当前角色只能查看汇总数据。")
    else:
        flagged = aq.flagged_view(data.q("activity_quality/accounts", ctx.scope, **ctx.uprm))
        st.subheader(f"{ui.md(ctx.shows)} · 有信号的账号")
        if not ui.no_rows(flagged, "有信号的账号"):
            ui.table(flagged, {"account_id": "账号", "person_name": "姓名", "ru_short_name": "单位",
                               "unit_name": "网格", "signal_names": "信号", "evidence": "依据",
                               "active_days": "操作天数", "effective_days": "有效天数",
                               "login_only_days": "仅登录天数", "bunched_days": "扎堆天数", "night_ops": "夜间巡查",
                               "same_fix_days": "同一定位天数", "patrol_points": "巡查点", "outside_share": "网格外占比"},
                     name=f"{ctx.unit_label}有信号的账号", key="aq-flagged", rates=("outside_share",),
                     on_pick=lambda row: st.session_state.update(_acct=row["account_id"]))
            labels = {r["account_id"]: aq.account_label(r) for r in flagged.to_dict("records")}
            acct = ui.url_pick("acct", "查看账号", list(flagged["account_id"]), labels, none_label="(选择账号)")
            if acct:
                row = flagged[flagged["account_id"] == acct].iloc[0]
                st.markdown(f"**{ui.md(labels[acct])}** · {ui.md(row['signal_names'])} · {ui.md(row['evidence'])}")
                drill = dict(**ctx.period.params(), account_id=acct)
                hours = data.q("activity_quality/account_hours", ctx.scope, **drill)
                st.plotly_chart(aq.heatmap(hours, ctx.period.start, ctx.period.end,
                                           title=f"{acct} 每日各时段操作次数"), key="aq-heat")
                pts = data.q("activity_quality/account_points", ctx.scope, **drill)
                grids = data.q("activity_quality/coverage", ctx.scope, **ctx.prm, ru_code=row["ru_code"])
                st.caption(f"{acct} 的巡查点 (绿: 本网格内, 红: 网格外) · 共 {ui.fmt.count(len(pts))} 个")
                st.pydeck_chart(aq.account_deck(grids, pts, row["unit_code"]), height=460, key="aq-map")

elif view == "巡查覆盖":
    cov = data.q("activity_quality/coverage", ctx.scope, **ctx.uprm)
    st.caption("各网格本网格账号的巡查: 有巡查点的天数、巡查点数及落在本网格边界内的比例。地图按巡查天数占本期天数的比例着色 "
               "(红: 无巡查, 绿: 每天都有)。")
    st.pydeck_chart(aq.coverage_deck(cov), height=520, key="aq-cov-map")
    ui.table(cov.sort_values(["patrol_days", "grid_code"]),
             {"grid_name": "网格", "community_name": "社区/村", "township_name": "乡镇", "patrol_days": "巡查天数",
              "days_in_period": "本期天数", "patrol_points": "巡查点", "inside_points": "网格内点",
              "inside_share": "网格内占比"},
             name=f"{ctx.unit_label}巡查覆盖", key="aq-cov", rates=("inside_share",))

elif view == "部门账号":
    off = data.q("activity/by_office", ctx.scope, **ctx.uprm)  # of the unit's 乡镇
    st.subheader(f"{ui.md(ctx.shows)} · 部门账号")
    active = off[off["rate"].fillna(0) > 0]
    st.markdown(f"**活跃度大于 0 的部门账号 ({len(active)} 个):** " + ("、".join(map(ui.md, active["office_name"])) or "无"))
    ui.table(off, {"office_name": "部门", "office_kind": "类型", "township_name": "乡镇", "accounts": "账号",
                   "active": "活跃", "rate": "活跃度", "prev_rate": "上期", "avg_active_days": "平均操作天数"},
             name="部门账号活跃度", key="act-office", rates=("rate", "prev_rate"))

else:
    tr = data.q("activity/trend", ctx.scope, end=ctx.trend_end, months_back=12, ru_code=ctx.ru_code)
    st.plotly_chart(charts.trend(tr, "month", {"rate": "网格员账号", "dept_rate": "部门账号"},
                                 title=f"{ui.md(ctx.unit_label)} 近 12 个月账号活跃度 (月度)"), key="act-trend")
    ui.table(tr, {"month": "月份", "accounts": "网格员计数", "active": "网格员活跃", "rate": "活跃度",
                  "dept_accounts": "部门计数", "dept_active": "部门活跃", "dept_rate": "部门活跃度"},
             name="账号活跃度趋势", key="act-trend-t", rates=("rate", "dept_rate"))

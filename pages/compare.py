"""乡镇对比: 2–6 units side by side on every figure over time; rankings with movement since the last period."""
import plotly.express as px
import streamlit as st

from dashboard import charts, data, ui

ctx = ui.page("乡镇对比", unit_filter=False, kinds=("month",), key="compare")
names = dict(zip(ctx.units["ru_code"], ctx.units["ru_name"]))
cur = [c for c in st.query_params.get("units", "").split(",") if c in names]
default = cur or list(ctx.units["ru_code"][:3])
picked = st.multiselect("选择 2–6 个单位", list(names), default=default[:6], format_func=names.get, max_selections=6,
                        key="_units", placeholder="请选择单位")
st.query_params["units"] = ",".join(picked)
long = data.q("comparison/long", ctx.scope, end=ctx.trend_end, months_back=12)
if len(picked) < 2:
    st.info("请至少选择 2 个单位。")
else:
    sel = long[long["ru_code"].isin(picked)]
    latest = sel[sel["period_start"] == sel["period_start"].max()]
    wide = latest.pivot_table(index=["metric_order", "metric_label", "kind"], columns="short_name", values="value",
                              aggfunc="first").reset_index().sort_values("metric_order")
    trim = ui.rates_trim([v for v, k in zip(wide[c], wide["kind"]) if k == "rate"] for c in wide.columns[3:])
    for col in wide.columns[3:]:
        wide[col] = [ui.pct(v, trim=trim) if k == "rate" else ui.fmt.count(v)
                     for v, k in zip(wide[col], wide["kind"])]
    st.subheader(f"{ctx.period.label} 各项指标")
    ui.frame(wide.drop(columns=["metric_order", "kind"]).rename(columns={"metric_label": "指标"}), pinned=True)
    ui.export_buttons(wide.drop(columns=["metric_order", "kind"]), "乡镇对比", key="cmp-x")
    labels = sel.drop_duplicates("metric")[["metric", "metric_label", "kind"]]
    metric = st.selectbox("趋势指标", list(labels["metric"]),
                          format_func=dict(zip(labels["metric"], labels["metric_label"])).get, key="_metric")
    series = sel[sel["metric"] == metric]
    series = series.assign(short_name=charts.labels(series["short_name"]))  # plotly reads markup in names
    fig = px.line(series, x="month", y="value", color="short_name", markers=True,
                  labels={"month": "月份", "value": "", "short_name": "单位"})
    if labels.set_index("metric").loc[metric, "kind"] == "rate":
        fig.update_yaxes(tickformat=".0%")
    charts.time_axis(fig)
    fig.update_layout(height=380, margin=dict(l=8, r=8, t=10, b=8), legend=dict(orientation="h"))
    st.plotly_chart(fig, key="cmp-trend")

st.subheader("排名与变化 (与上期比较)")
rk = data.q("comparison/rankings", ctx.scope, **ctx.prm)
mlabels = rk.drop_duplicates("metric").sort_values("metric_order")
metric = st.selectbox("排名指标", list(mlabels["metric"]),
                      format_func=dict(zip(mlabels["metric"], mlabels["metric_label"])).get, key="_rank_metric")
r = rk[rk["metric"] == metric].sort_values(["rank", "sort_order"], na_position="last")
kind = mlabels.set_index("metric").loc[metric, "kind"]
r = r.assign(变化=[("—" if m != m else ("↑" if m > 0 else "↓" if m < 0 else "→") + (f"{abs(int(m))}" if m else ""))
                   for m in r["movement"]])
r = r.assign(ru_name=r["ru_code"].map(names).fillna(r["short_name"]))  # a table of units: full names
ui.table(r, {"rank": "名次", "ru_name": "单位", "value": "本期", "prev_rank": "上期名次", "prev_value": "上期",
             "变化": "名次变化"}, name="排名", key="cmp-rank",
         rates=("value", "prev_value") if kind == "rate" else ())

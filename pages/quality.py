"""数据质量: ETL runs, delivered files, rows in and out, quarantine by reason with the rows, dataset freshness."""
import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import data, quarantine, session, ui
from dashboard.quality import final_runs, flag_text, lake_state, source_health

RUN_STATUS = {"ok": "成功", "partial": "部分失败", "failed": "失败", "busy": "跳过 (另一导入在运行)"}



ident = session.require_page("quality")  # 县级管理员 only: quarantine and files are not attributable to one 乡镇
scope = session.scope()
# one county of a city deployment (a county-scoped administrator's, or the county a 市级管理员 chose): the imports
# (runs, whole-file failures, a run's quarantine count) are the city's, not attributable to one county — the
# figures below are the county's only
county_only = scope.county_code is not None
st.title("数据质量")
meta = data.meta()
st.caption(f"数据仓库版本 {meta.get('version', '')} · 发布于 {meta.get('built_at', '')} · "
           f"数据覆盖 {meta.get('data_first_day', '')} 至 {meta.get('data_last_day', '')}")

live = lake_state(ui.settings().paths.lake_dir)  # the lake's import state, read only (dashboard.quality)
failures, quarantined = ([], []) if county_only else (live.failures, live.quarantined)
if county_only:
    where = "在侧栏「县 (区)」选择全市查看" if ident.city_level else "市级管理员查看"
    st.caption(f"导入运行、整份失败的文件和数据源由全市统一管理 ({where}); 以下记录数、隔离记录与新鲜度只计"
               f"{scope.label}。")
elif live.error:
    st.warning(f"无法读取数据湖的导入状态: {live.error}", icon="⚠️")
if failures:
    st.error(f"{live.failure_summary}, 尚未解决。每次导入都会重试; 修正或移除这些文件 (批次) "
             "后, 下一次导入即消除此警告。", icon="⚠️")
    ui.frame(pd.DataFrame({
        "数据源": [f["source_name"] for f in failures], "类型": [f["unit"] for f in failures],
        "文件 / 批次": [f["file"] for f in failures], "原因": [f["reason"] for f in failures],
        "行数": pd.array([f["rows"] for f in failures], dtype="Int64"), "首次出现": [f["first_seen"] for f in failures],
        "最近一次": [f["last_seen"] for f in failures]}))
for qr in quarantined:
    files = "、".join(qr["files"][:5]) + (" 等" if len(qr["files"]) > 5 else "")
    when = f"{qr['when']:%Y-%m-%d %H:%M}" if qr["when"] else ""
    st.warning(f"数据源「{qr['source_name']}」最近一次导入 ({when}) 有 {qr['rows_quarantined']:,} 行被隔离"
               + (f" (文件 {files})" if files else "") + "。原因与原始内容见下方「隔离记录」; 下一次无隔离的交付后消除。",
               icon="⚠️")

fresh = data.q("quality/freshness", scope)
runs = data.q("quality/runs", scope, limit=50)
runs = final_runs(runs, live)
issues = data.q("quality/file_issues", scope)
ignored = issues[issues["kind"] == "已忽略"]

last = runs.iloc[0] if len(runs) else None
c = st.columns(4)
# tiles hold figures; the last run's status is a word beside it (a delta is only ever a change)
last_at = None if last is None else (last["finished_at"] if pd.notna(last["finished_at"]) else last["started_at"])
if county_only:  # no run is the county's: the latest landing of its rows
    last_at = fresh["last_landed_at"].max() if len(fresh) else None
ui.metric("最近一次导入", "—" if last_at is None or pd.isna(last_at) else f"{last_at:%m-%d %H:%M}", where=c[0])
if last is not None:
    colour = {"ok": ":green", "partial": ":orange"}.get(last["status"], ":red")
    c[0].markdown(colour + f"[{RUN_STATUS.get(last['status'], last['status'])}]")
ui.metric("当前记录数", int(fresh["records"].sum()), where=c[1])
ui.metric("隔离行数", int(fresh["quarantined"].sum()), where=c[2])
ui.metric("未解决的导入失败 / 忽略的文件", f"{'—' if county_only else f'{len(failures):,}'} / {len(ignored):,}",
          where=c[3])

if len(ignored):
    st.info("以下文件不是交付文件, 已忽略 (最近一次导入):")
    ui.frame(ignored.rename(columns={"file": "文件", "reason": "原因"})[["文件", "原因"]])



def show_source_health() -> None:
    """Per feeding source: its status, last success, expected interval; quiet and failed sources stand out."""
    st.subheader("数据源状态")
    try:
        health = source_health(ui.settings())
    except OSError as exc:
        st.warning(f"无法读取数据源状态: {exc}", icon="⚠️")
        return
    if not len(health):
        st.info("尚未配置数据源, 也没有导入过投递目录。")
        return
    bad = health[health["状态"].isin(["失败", "部分失败", "无新数据"])]
    for _, h in bad.iterrows():
        st.warning(f"数据源「{h['数据源']}」{h['状态']}: {h['说明']}", icon="⚠️")
    ui.frame(health)


if not county_only:  # the feeding sources are the city's
    show_source_health()

st.subheader("各数据集新鲜度")
limit = ui.now() - dt.timedelta(hours=ui.settings().dashboard.stale_hours)
view = fresh.assign(状态=["⚠️ 过期" if (t is None or t < limit) and n > 0 else "正常"
                          for t, n in zip(fresh["last_landed_at"], fresh["records"])])
view = view.rename(columns={"title": "数据集", "records": "当前记录", "landed_rows": "交付行数",
                            "superseded": "被更新版本", "quarantined": "隔离", "files": "文件数",
                            "last_file": "最近文件", "last_landed_at": "最近导入", "max_updated_at": "最新更新时间"})
ui.frame(view.drop(columns=["dataset", "future_rows", "max_future_updated_at"]), pinned=True)
# future-dated records never count as fresh (最新更新时间 ignores them): a data-quality item of their own
for r in fresh[fresh["future_rows"] > 0].itertuples(index=False):
    st.warning(f"{r.title}: {int(r.future_rows):,} 条记录的更新时间晚于导入时间 (最晚 {r.max_future_updated_at:%Y-%m-%d %H:%M}), "
               "不计入最新更新时间。", icon="⚠️")

st.subheader("隔离记录 (按原因)")
by_reason = data.q("quality/quarantine_by_reason", scope)
if by_reason.empty:
    st.success("没有被隔离的记录。")
else:
    by_reason = by_reason.assign(数据集=by_reason["dataset"].map(ui.DATASET_TITLES))
    ui.frame(by_reason.rename(columns={"reason_kind": "原因", "n": "行数", "files": "涉及文件"})
             [["数据集", "原因", "行数", "涉及文件"]])
    choice = st.selectbox("查看隔离的行", [None] + list(by_reason.index),
                          format_func=lambda i: "请选择原因" if i is None else
                          f"{by_reason.loc[i, '数据集']} · {by_reason.loc[i, 'reason_kind']} ({by_reason.loc[i, 'n']} 行)")
    if choice is not None:
        rows = data.q("quality/quarantine_rows", scope, dataset=by_reason.loc[choice, "dataset"],
                      reason_kind=by_reason.loc[choice, "reason_kind"], limit=500)
        rows = rows.rename(columns={"source_file": "文件", "source_row": "行号", "reason": "原因", "raw": "原始内容 (已脱敏)"})
        ui.frame(rows.drop(columns=["dataset"]), max_rows=15)
        ui.export_buttons(rows, "隔离记录", key="q")

quarantine.section()  # sent back to the 乡镇, and 已更正 by a later delivery (dashboard/quarantine.py)

st.subheader("修复与存疑标记")
flags = data.q("quality/flags", scope)
# unknown code values: kept and counted; where each counts (README "Unknown code values")
UNKNOWN_RULE = {"category": "计入合计, 在按类别的统计中列为「未知类别」", "role": "不计入网格员账号和部门账号",
                "op_type": "计入活跃天数 (任何操作均计)", "action": "不视为受理", "status": "不视为办结或停用"}
for r in flags[flags["flag"].str.startswith("unknown_code:")].itertuples(index=False):
    rule = UNKNOWN_RULE.get(r.flag.split(":", 1)[1], "记录保留")
    st.warning(f"{ui.DATASET_TITLES.get(r.dataset, r.dataset)}: {int(r.n):,} 条记录的{ui.md(r.header)}不在规范代码中: "
               f"{ui.md(r.codes or '')}。{rule}。", icon="⚠️")
if len(flags):
    flags = flags.assign(数据集=flags["dataset"].map(ui.DATASET_TITLES),
                         说明=[flag_text(d, f) for d, f in zip(flags["dataset"], flags["flag"])])
    ui.frame(flags.rename(columns={"n": "记录数"})[["数据集", "说明", "记录数"]])

st.subheader("导入记录")
if county_only:
    st.caption("导入运行由全市统一管理, 不属于某一个县; 本县的交付见下方「交付文件」。")
else:
    ui.frame(runs.assign(status=runs["status"].map(lambda v: RUN_STATUS.get(v, v)))
                 .rename(columns={"run_id": "批次", "status": "状态", "started_at": "开始", "duration_s": "用时(秒)",
                                  "files_new": "新文件", "files_failed": "失败", "rows_in": "读入", "rows_landed": "入库",
                                  "rows_quarantined": "隔离", "published": "发布版本", "error": "错误"})
                 [["批次", "状态", "开始", "用时(秒)", "新文件", "失败", "读入", "入库", "隔离", "发布版本", "错误"]],
             max_rows=15)
files = data.q("quality/files", scope, limit=500)
with st.expander(f"交付文件 ({len(files)})"):
    ui.frame(files, max_rows=15)

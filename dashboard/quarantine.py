"""Quarantine sent back (数据质量): a delivery's quarantined rows as a workbook in the file's own headers with a
`问题原因` column, for the 乡镇 to correct and send again; and the state of every entry, 已更正 (by which later
delivery) or 未解决, per 乡镇 (warehouse/schema/40_quality.sql dq_quarantine; the matching rule is in
warehouse/build.py _quarantine_resolution).

    workbook(rows, headers, dataset) -> bytes     section()  — the page's section (pages/quality.py calls it)

The workbook's columns are the file's own headers in the file's order (recorded in its manifest when it landed;
for a file landed before that, the contract's Chinese headers), then 问题原因; one row per quarantined row with the
values as delivered (a row the reader could not split into values: the line as delivered in the first column).
Every text cell goes through warehouse.cells (SafeWorksheet): a delivered `=HYPERLINK(…)` is shown as text, never
evaluated. Downloads are audited like every export; the values are masked as the page shows them, or in full for a
role that may unmask, after a reason (dashboard.data.unmasked_table, audited `export_full`).
"""
from __future__ import annotations

import io
import json

import pandas as pd
import streamlit as st
import xlsxwriter

from core.spec import DATASETS
from dashboard import auth, data, session, ui
from warehouse.cells import SafeWorksheet

REASON_HEADER = "问题原因"
STATUS_LABELS = {"未解决": "未解决", "已更正": "已更正"}


def columns_of(headers: dict | str | None, dataset: str) -> list[tuple[str, str]]:
    """(contract column, the file's header) in the file's order; the contract's headers when none were recorded."""
    if isinstance(headers, str):
        headers = json.loads(headers or "{}")
    if headers:
        return list(headers.items())
    return [(c.name, c.header) for c in DATASETS[dataset].columns]


def workbook(rows: pd.DataFrame, headers: dict | str | None, dataset: str, *, sheet: str = "隔离记录") -> bytes:
    """The quarantined rows (columns `raw` = delivered values as JSON, `reason`) as an xlsx in the file's headers."""
    cols = columns_of(headers, dataset)
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                   "strings_to_numbers": False})
    ws = wb.add_worksheet(sheet[:31], worksheet_class=SafeWorksheet)
    head = wb.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1})
    reason_fmt = wb.add_format({"font_color": "#C00000", "text_wrap": True})
    titles = [h for _, h in cols] + [REASON_HEADER]
    for j, h in enumerate(titles):
        ws.write_string(0, j, h, head)
    widths = [len(h) + 2 for h in titles]
    for i, (raw, reason) in enumerate(zip(rows["raw"], rows["reason"]), start=1):
        try:
            values = json.loads(raw) if isinstance(raw, str) else {}
        except ValueError:
            values = {"_line": raw}
        if "_line" in values:  # a line that could not be split into values: as delivered
            cells = [values["_line"]] + [None] * (len(cols) - 1)
        else:
            cells = [values.get(name) for name, _ in cols]
        for j, v in enumerate(cells):
            if v is not None and v != "":
                ws.write_string(i, j, str(v))
                widths[j] = max(widths[j], min(40, len(str(v)) + 2))
        ws.write_string(i, len(cols), str(reason or ""), reason_fmt)
    for j, w in enumerate(widths):
        ws.set_column(j, j, 50 if j == len(cols) else w * 1.2)
    ws.freeze_panes(1, 0)
    wb.close()
    return buf.getvalue()


def file_name(source_file: str) -> str:
    stem = source_file.rsplit(".", 1)[0]
    return f"{stem}_隔离记录.xlsx"


def section() -> None:
    """「隔离记录退回与更正」: per 乡镇 the open and corrected entries, per delivery its rows and the download."""
    ident = session.identity()
    scope = session.scope()
    st.subheader("隔离记录退回与更正")
    st.caption("每个文件的隔离行可按原文件表头下载 (附「问题原因」列), 退回乡镇更正后重新交付; 重新交付的行入库后, "
               "对应的隔离记录显示为「已更正」(按记录编号匹配; 缺少编号的行按其内容匹配)。")
    towns = data.q("quality/quarantine_townships", scope)
    if towns.empty:
        st.success("没有被隔离的记录。")
        return
    ui.frame(towns.rename(columns={"township_name": "乡镇", "open": "未解决", "corrected": "已更正",
                                   "files_open": "涉及文件"})[["乡镇", "未解决", "已更正", "涉及文件"]])
    pick = st.selectbox("乡镇", [None] + list(towns.index), key="qs-town",
                        format_func=lambda i: "全部乡镇" if i is None else
                        f"{towns.loc[i, 'township_name']} (未解决 {towns.loc[i, 'open']})")
    code = None if pick is None else towns.loc[pick, "township_code"]
    files = data.q("quality/quarantine_files", scope, township=None if pd.isna(code) else code)
    if files.empty:
        st.info("所选乡镇没有隔离记录。")
        return
    ui.frame(files.assign(数据集=files["dataset"].map(ui.DATASET_TITLES)).rename(columns={
        "source_file": "文件", "landed_at": "导入时间", "rows": "隔离行数", "open": "未解决", "corrected": "已更正",
        "townships": "乡镇"})[["文件", "数据集", "导入时间", "隔离行数", "未解决", "已更正", "乡镇"]])
    i = st.selectbox("文件", list(files.index), key="qs-file",
                     format_func=lambda i: f"{files.loc[i, 'source_file']} (未解决 {files.loc[i, 'open']} / "
                                           f"{files.loc[i, 'rows']})")
    f = files.loc[i]
    params = {"delivery": int(f["delivery"])}
    rows = data.q("quality/quarantine_file_rows", scope, **params)
    show = rows.assign(更正=[f"已更正 ({c})" if s == "已更正" else "未解决"
                             for s, c in zip(rows["status"], rows["corrected_file"])])
    ui.frame(show.rename(columns={"source_row": "行号", "reason": "问题原因", "raw": "原始内容 (已脱敏)",
                                  "township_name": "乡镇"})[["行号", "问题原因", "更正", "乡镇", "原始内容 (已脱敏)"]],
             max_rows=15)
    open_only = st.checkbox("只下载未解决的行", value=True, key="qs-open")
    sel = rows[rows["status"] == "未解决"] if open_only else rows
    name = file_name(str(f["source_file"]))
    ui.audited_download(st, f"下载隔离行 (Excel, {len(sel)} 行, 已脱敏)",
                        lambda: workbook(sel, f["headers"], f["dataset"]), name,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        key=f"qs-dl-{f['delivery']}", detail=f"隔离记录 · {f['source_file']} · {len(sel)} 行 · 已脱敏")
    if ident.can_unmask:
        with st.expander("下载完整内容 (不脱敏, 供乡镇更正)"):
            reason = st.text_input("用途 (写入审计日志)", key=f"qs-reason-{f['delivery']}")
            if st.button("生成完整内容的下载", key=f"qs-full-{f['delivery']}"):
                try:
                    full = data.unmasked_table("quality/quarantine_file_rows", params, name, reason)
                except auth.ScopeError:
                    st.error("请填写用途。")
                else:
                    full = full[full["status"] == "未解决"] if open_only else full
                    st.download_button(f"下载 {name} (完整内容)", workbook(full, f["headers"], f["dataset"]),
                                       name, key=f"qs-fulldl-{f['delivery']}", on_click="ignore")

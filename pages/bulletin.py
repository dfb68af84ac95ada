"""通报与周报: the monthly bulletin rendered on the page with downloads (docx, xlsx, PDF), and the weekly review
with its red and black list."""
import pandas as pd
import streamlit as st

from dashboard import data, reports, session, ui

session.require_page("bulletin")


def pdf_button(where, docx: bytes, file_name: str, key: str, what: str) -> None:
    """下载 PDF: the Word document converted by LibreOffice when clicked (cached per document), after the audit
    entry like every download."""
    if not reports.soffice():
        where.caption("未安装 LibreOffice, 无法生成 PDF")
        return
    ui.audited_download(where, "下载 PDF", lambda: reports.docx_to_pdf(docx), file_name, "application/pdf",
                        key=f"dl-{key}", detail=f"pdf · {what}")


kind = st.segmented_control("内容", ["月度通报", "周报"], default=st.query_params.get("view", "月度通报"),
                            key="_view") or "月度通报"
st.query_params["view"] = kind
if kind == "月度通报":
    ctx = ui.page("月度通报", unit_filter=False, kinds=("month",))
    _, version = data.connection()
    try:
        files = reports.bulletin_files(version, ctx.period.key, ctx.scope, ctx.prm["period_asof"])
    except reports.NoData as exc:
        st.info(str(exc))
        st.stop()
    names = files["names"]  # 2026年3月份全县网格化服务管理工作情况通报.docx, …附表.xlsx, .pdf, .md, .json
    c = st.columns(5)
    # every download is built when clicked, after its audit entry (no standing URL to a file)
    what = f"通报 {ctx.period.key} · {ctx.scope.label}"
    ui.audited_download(c[0], "下载 Word", lambda: files["docx"], names["docx"],
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", key="dl-docx",
                        detail=f"docx · {what}")
    ui.audited_download(c[1], "下载 Excel 附表", lambda: files["xlsx"], names["xlsx"],
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="dl-xlsx",
                        detail=f"xlsx · {what}")
    pdf_button(c[2], files["docx"], names["pdf"], "pdf", what)
    ui.audited_download(c[3], "下载 Markdown", lambda: files["md"].encode("utf-8"), names["md"], "text/markdown",
                        key="dl-md", detail=f"md · {what}")
    ui.audited_download(c[4], "下载 JSON", lambda: files["json"].encode("utf-8"), names["json"], "application/json",
                        key="dl-json", detail=f"json · {what}")
    with st.container(border=True):
        st.markdown(files["page_md"])
else:
    ctx = ui.page("领导周例会 · 周报", unit_filter=False, kinds=("week", "month"))
    _, version = data.connection()
    files = reports.review_files(version, ctx.period.key, ctx.scope, ctx.prm["period_asof"])
    r = files["obj"]
    a, b = r.comparison_labels
    cols = st.columns(4)
    for i, f in enumerate(r.figures):  # the delta: the change against 上周 (上月), coloured by whether it is good
        ui.metric(f.label, f.value, f.last, kind=f.kind, better=f.better, since=f"较{a}", where=cols[i % 4])
        cols[i % 4].caption(f"{a} {f.fmt(f.last)} · {b} {f.fmt(f.same_last_month)}")
    trim = ui.rates_trim([[e["score"] for e in r.red + r.black]])  # one precision for both lists
    left, right = st.columns(2)
    with left:
        st.subheader("红榜")
        ui.frame(pd.DataFrame([{"单位": e["full_name"], "综合得分": ui.pct(e["score"], trim=trim), "名次": e["rank"]}
                               for e in r.red], columns=["单位", "综合得分", "名次"]))
    with right:
        st.subheader("黑榜")
        ui.frame(pd.DataFrame([{"单位": ("⚠ 连续两期 " if e["repeat"] else "") + e["full_name"],
                                "综合得分": ui.pct(e["score"], trim=trim), "名次": e["rank"]} for e in r.black],
                              columns=["单位", "综合得分", "名次"]))
    with st.expander("周报全文", expanded=False):
        st.markdown(files["page_md"])
    names, what = files["names"], f"周报 {ctx.period.key} · {ctx.scope.label}"
    c = st.columns(3)
    ui.audited_download(c[0], "下载周报 (Word)", lambda: files["docx"], names["docx"],
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                        key="dl-review-docx", detail=f"docx · {what}")
    pdf_button(c[1], files["docx"], names["pdf"], "review-pdf", what)
    ui.audited_download(c[2], "下载周报 (Markdown)", lambda: files["md"].encode("utf-8"), names["md"],
                        "text/markdown", key="dl-review-md", detail=f"md · {what}")

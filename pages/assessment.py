"""考核: the quarterly 100-point assessment (季度考核) of every reporting unit and the annual one (年度总评), with
the 季点评 / 年总评 documents. A 乡镇用户 sees its own units' rows with their county ranks."""
import datetime as dt

import streamlit as st

from dashboard import assessment, data, session, ui

session.require_page("assessment")
st.title("考核")
scope = session.scope()
try:
    meta = data.meta()
except assessment.NoWarehouse:
    st.info("尚未发布数据仓库: 请先导入数据 (python -m etl run)。")
    st.stop()
if not meta.get("data_first_day") or not meta.get("data_last_day"):
    st.info("数据仓库中还没有任何业务数据。")
    st.stop()
qs = assessment.quarters(dt.date.fromisoformat(meta["data_first_day"]), dt.date.fromisoformat(meta["data_last_day"]))
today = ui.now().date()
views = ["季度考核", "年度总评"]
view = st.segmented_control("内容", views, default=st.query_params.get("view") if st.query_params.get("view") in views
                            else views[0], key="_view") or views[0]
st.query_params["view"] = view
if view == "季度考核":
    keys = [q.key for q in qs]
    default = st.query_params.get("q")
    default = default if default in keys else assessment.default_quarter(qs, today).key
    key = st.selectbox("考核季度", keys, index=keys.index(default),
                       format_func=lambda k: assessment.Quarter.parse(k).label, key="_quarter")
    st.query_params["q"] = key
    try:
        files = assessment.quarter_files(key, scope)
    except assessment.NoData as exc:
        st.info(str(exc))
        st.stop()
    obj = files["obj"]
    st.caption(assessment.rule_text(obj) + (f" 本季度尚未结束, 数字截至 {obj['as_of']}。" if obj["as_of"] else ""))
    scored = [u for u in obj["units"] if u["score"] is not None]
    c = st.columns(4)
    if scope.county_wide:
        c[0].metric("参评单位", len(scored))
        c[1].metric("平均得分", ui.fmt.score(obj["mean_score"]))
        c[2].metric("达标", len(obj["groups"]["优秀"]) + len(obj["groups"]["达标"]))
        c[3].metric("不达标", len(obj["groups"]["不达标"]))
        g = assessment.groups(obj)
        st.markdown(f"**奖励名单**: {'、'.join(g['优秀']) or '无'}　　**不达标**: {'、'.join(g['不达标']) or '无'}")
    else:
        for i, u in enumerate(scored[:4]):
            c[i].metric(u["full_name"], f"{ui.fmt.score(u['score'])} 分")
            c[i].caption(f"全县第 {u['rank']} 名 · {u['grade']}")
    st.subheader(f"{obj['label']} 考核得分")
    ui.frame(assessment.score_table(obj), key="as-scores", pinned=True)
    with st.expander("指标完成情况"):
        ui.frame(assessment.rate_table(obj), key="as-rates", pinned=True)
else:
    years = sorted({q.year for q in qs}, reverse=True)
    year = st.selectbox("年度", years, key="_year",
                        index=years.index(int(st.query_params["y"])) if st.query_params.get("y", "").isdigit()
                        and int(st.query_params["y"]) in years else 0)
    st.query_params["y"] = year
    try:
        files = assessment.year_files(year, scope)
    except assessment.NoData as exc:
        st.info(str(exc))
        st.stop()
    obj = files["obj"]
    st.caption("年度得分为各季度考核得分的平均值" + (f"; {'、'.join(obj['missing_quarters'])} 无数据, 未计入"
                                               if obj["missing_quarters"] else "") + "。")
    st.subheader(obj["title"])
    ui.frame(assessment.year_table(obj), key="as-year", pinned=True)
ui.audited_download(st, "下载 Word", lambda: files["docx"], files["name"],
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document", key="dl-as-docx",
                    detail=f"docx · {files['title']} · {scope.label}")

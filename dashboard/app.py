"""Entry point: `streamlit run dashboard/app.py`.

Draws what every page shares (page config, first-start build, stale-data banner) and hands over to the page the
user chose with st.navigation. Pages live in pages/ and only arrange widgets; queries live in warehouse/sql.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts dashboard/ on the path, not the root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import bootstrap, ui  # noqa: E402
from warehouse.config import settings  # noqa: E402

PAGES = ROOT / "pages"

st.set_page_config(page_title=f"{settings().county.name}网格化服务管理督导平台", page_icon="🛡️", layout="wide")
bootstrap.ensure_warehouse()

nav = st.navigation({
    "督导": [
        st.Page(PAGES / "home.py", title="概览", icon=":material/dashboard:", default=True),
        st.Page(PAGES / "activity.py", title="账号活跃度", icon=":material/group:", url_path="activity"),
        st.Page(PAGES / "events.py", title="事件办结", icon=":material/task_alt:", url_path="events"),
        st.Page(PAGES / "key_persons.py", title="三项重点工作", icon=":material/assignment_ind:", url_path="key_persons"),
        st.Page(PAGES / "compare.py", title="乡镇对比", icon=":material/compare_arrows:", url_path="compare"),
        st.Page(PAGES / "bulletin.py", title="通报与周报", icon=":material/description:", url_path="bulletin"),
    ],
    "指挥中心": [st.Page(PAGES / "wall.py", title="指挥中心大屏", icon=":material/tv:", url_path="wall")],
    "管理": [st.Page(PAGES / "quality.py", title="数据质量", icon=":material/fact_check:", url_path="quality")],
})
if nav.url_path != "wall":  # the wall shows its own alert line and must fit the screen
    ui.stale_banner()
nav.run()

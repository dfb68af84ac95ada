"""Entry point: `streamlit run dashboard/app.py`.

Draws what every page shares (page config, first-start build, login gate, stale-data banner) and hands over to
the page the user chose with st.navigation — which holds only the pages the caller's role may use (dashboard/auth.py:
PAGES); before login it holds nothing but the login (or the one-time first-administrator) screen. Pages live in pages/ and only arrange widgets; queries live in warehouse/sql.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts dashboard/ on the path, not the root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core.config import owner_only  # noqa: E402
from dashboard import (  # noqa: E402
    auth,
    bootstrap,
    city,
    server_hardening,
    session,
    ui,
    upload_guard,  # noqa: E402,F401 — uploads only for logged-in roles that may upload
)

PAGES = ROOT / "pages"
owner_only()  # everything the app writes (first-start demo, lake, warehouse, user store) is owner-only
server_hardening.install()  # security headers, display-token cookie, clear_cache guard (if not yet installed)

st.set_page_config(page_title=f"{auth.area_name()}网格化服务管理督导平台", page_icon="🛡️", layout="wide")
ui.chrome()  # no English chrome (Stop, "Press Enter to submit form")
bootstrap.ensure_warehouse()

PAGE_DEFS = {  # url path → (group, file, title, icon)
    "city": ("全市", "city.py", "全市总览", ":material/location_city:"),  # a city deployment's 市级 users only
    "home": ("督导", "home.py", "概览", ":material/dashboard:"),
    "activity": ("督导", "activity.py", "账号活跃度", ":material/group:"),
    "events": ("督导", "events.py", "事件办结", ":material/task_alt:"),
    "key_persons": ("督导", "key_persons.py", "三项重点工作", ":material/assignment_ind:"),
    "compare": ("督导", "compare.py", "乡镇对比", ":material/compare_arrows:"),
    "bulletin": ("督导", "bulletin.py", "通报与周报", ":material/description:"),
    "warnings": ("督导", "warnings.py", "预警与督办", ":material/notification_important:"),
    "assessment": ("督导", "assessment.py", "考核", ":material/military_tech:"),
    "wall": ("指挥中心", "wall.py", "指挥中心大屏", ":material/tv:"),
    "upload": ("管理", "upload.py", "数据上传", ":material/upload_file:"),
    "quality": ("管理", "quality.py", "数据质量", ":material/fact_check:"),
    "users": ("管理", "users.py", "用户与大屏令牌", ":material/manage_accounts:"),
    "audit": ("管理", "audit.py", "审计日志", ":material/policy:"),
}
ident = auth.gate()
if ident is None:  # not logged in: only the login (or first-start) screen exists, whatever the URL asks for. It is
    # registered under every page's path too, so that after login the rerun lands on the page the URL asked for
    # (when the role may use it; else on the role's start page).
    screen = auth.login_screen if auth.store().setup_done() else auth.setup_screen
    st.navigation([st.Page(screen, title="登录", icon=":material/login:", url_path="login", default=True)]
                  + [st.Page(screen, title="登录", url_path=k, visibility="hidden") for k in PAGE_DEFS],
                  position="hidden").run()
    st.stop()

if ident.county_missing:  # a 部门用户 of a city deployment without a county: no page, no data (fail closed)
    auth.sidebar(ident)
    st.navigation([st.Page(auth.county_missing_screen, title="未设置所属县", url_path="no-county", default=True)]
                  + [st.Page(auth.county_missing_screen, title="未设置所属县", url_path=k, visibility="hidden")
                     for k in PAGE_DEFS], position="hidden").run()
    st.stop()

groups: dict[str, list] = {}
visible: dict[str, st.Page] = {}  # key → the page the menu shows (a drill switches to it)
allowed = [k for k in PAGE_DEFS if k in ident.pages]  # a role's navigation holds only the pages it may use
for i, key in enumerate(allowed):
    group, file, title, icon = PAGE_DEFS[key]
    pages = groups.setdefault(group, [])
    if key == "home" and i == 0:
        pages.append(st.Page(PAGES / file, title=title, icon=icon, default=True))
    elif key == "home":  # a 市级 user starts on the 全市 page: 概览 (of the chosen county) keeps its path
        pages.append(st.Page(PAGES / file, title=title, icon=icon, url_path="home"))
    elif i == 0:  # a role's first page is its start page at "/", and stays reachable by its own path (hidden twin)
        pages.append(st.Page(PAGES / file, title=title, icon=icon, default=True, url_path=f"{key}-start"))
        pages.append(st.Page(PAGES / file, title=title, icon=icon, url_path=key, visibility="hidden"))
    else:
        pages.append(st.Page(PAGES / file, title=title, icon=icon, url_path=key))
    visible[key] = next(p for p in pages if p.title == title)
nav = st.navigation(groups, position="hidden" if ident.is_display else "sidebar",
                    expanded=True)  # every page in the menu (not "View 3 more" past ten)
here = allowed[0] if nav.url_path in ("", f"{allowed[0]}-start") else nav.url_path  # the page's key
goto = session.take_goto()  # a drill's page switch (dashboard/city.py): once, then forgotten
if goto is not None and goto != here and goto in visible:
    st.switch_page(visible[goto])
st.session_state[session.PAGE_KEY] = here
if here == "city":  # the 全市 page is the city: no county chosen
    st.session_state[session.COUNTY_KEY] = ui.ALL
if not ident.is_display:
    city.sidebar_selector(ident)  # a 市级 user's county, right under the menu
    auth.sidebar(ident)
if not ident.is_display and nav.url_path != "wall":  # the wall shows its own alert line and must fit the screen
    ui.stale_banner()
nav.run()

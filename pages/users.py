"""用户与大屏令牌: add, disable, enable and reset users; create and revoke wall-display tokens (县级管理员 only).
The same operations exist on the command line: `python -m dashboard users …`."""
import pandas as pd
import streamlit as st

from dashboard import auth, data, session, users

ident = session.require_page("users")
store = auth.store()
st.title("用户与大屏令牌")

city = auth.city_deployment()  # a city deployment: users may be limited to a county
own = ident.scope.county_code  # a county-scoped 县级管理员 manages its county's users only
counties = session.counties(ident) if city else {}
us = [u for u in store.users() if own is None or u.county_code == own]
whole = "全市" if city else "全县"
st.dataframe(pd.DataFrame([{"用户名": u.username, "姓名": u.display_name, "角色": u.role,
                            **({"县 (区)": counties.get(u.county_code, u.county_code) if u.county_code else whole}
                               if city else {}),
                            "范围": u.township_name or u.office_name or (
                                counties.get(u.county_code, u.county_code) if u.county_code else whole),
                            "登录方式": ("统一身份认证" if u.oidc else "") + (" 密码" if u.has_password else ""),
                            "状态": "停用" if u.disabled else "正常", "最近登录": u.last_login_at} for u in us]),
             hide_index=True, placeholder="—")

units = data.q("units/reporting_units", ident.scope).drop_duplicates("township_code")
towns = dict(zip(units["township_code"], units["township_name"]))
town_label = {c: (f"{counties.get(str(c)[:6], '')} {n}" if city and own is None else n) for c, n in towns.items()}

with st.expander("添加用户 (县级管理员只能在服务器上用命令行添加)"):
    with st.form("user-add", clear_on_submit=True):
        c1, c2 = st.columns(2)
        name = c1.text_input("用户名", max_chars=64)
        display = c2.text_input("姓名或说明", max_chars=64)
        # 县级管理员 are added on the server only (`python -m dashboard users add … --role 县级管理员`): a stolen
        # administrator session cannot leave another administrator behind
        role = c1.selectbox("角色", [r for r in users.ROLES if r != users.ADMIN])
        town = c2.selectbox("乡镇 (乡镇用户)", [None] + list(towns),
                            format_func=lambda c: "—" if c is None else town_label[c])
        office = c1.text_input("部门 (部门用户, 如 文兴派出所)", max_chars=64).strip() or None
        county = None
        if city:  # 县级管理员 / 县领导 / 部门用户 of one county; none = 市级 (a 乡镇用户: its 乡镇's county)
            county = c2.selectbox("县 (区) (空 = 全市: 市级管理员 / 市领导)",
                                  ([None] if own is None else []) + [c for c in counties if own in (None, c)],
                                  format_func=lambda c: "— 全市" if c is None else counties[c])
        pw = c2.text_input("初始密码", type="password")
        if st.form_submit_button("添加"):
            try:
                county = own or county  # never wider than the administrator's own county
                if county and town and str(town)[:6] != county:
                    raise users.StoreError("乡镇不在所选的县")
                store.add_user(name, role, password=pw, actor=ident.name, display_name=display or None,
                               township_code=town, township_name=towns.get(town), office_name=office,
                               county_code=county, county_name=counties.get(county), city=city)
                st.success(f"已添加 {name}")
            except users.StoreError as exc:
                st.error(str(exc))

with st.expander("停用、启用或重置密码"):
    with st.form("user-change", clear_on_submit=True):
        who = st.selectbox("用户", [u.username for u in us])
        what = st.radio("操作", ["停用", "启用", "重置密码"], horizontal=True)
        pw = st.text_input("新密码 (重置密码时)", type="password")
        if st.form_submit_button("执行"):
            try:
                if what == "重置密码":
                    store.set_password(who, pw, actor=ident.name)
                elif who == ident.name and what == "停用":
                    raise users.StoreError("不能停用自己的账号")
                else:
                    store.set_disabled(who, what == "停用", actor=ident.name)
                st.success(f"{who}: {what} 完成")
            except users.StoreError as exc:
                st.error(str(exc))

st.subheader("大屏令牌")
st.caption("令牌只打开指挥中心大屏 (只有汇总数据)。大屏浏览器打开 `http://服务器:8501/wall?display_token=令牌` 一次即可, "
           "之后令牌保存在该浏览器的 Cookie 中, 重启后自动恢复; 吊销后大屏在下一次刷新时退出。")
toks = store.tokens()
if toks:
    st.dataframe(pd.DataFrame([{"编号": t.token_id, "名称": t.name, "创建": t.created_at, "创建人": t.created_by,
                                "最近使用": t.last_used_at, "状态": "已吊销" if t.revoked_at else "有效"} for t in toks]),
                 hide_index=True, placeholder="—")
c1, c2 = st.columns(2)
with c1.form("token-add", clear_on_submit=True):
    tname = st.text_input("新令牌名称 (大屏位置)", value="指挥中心大屏", max_chars=64)
    if st.form_submit_button("生成令牌"):
        rec, token = store.add_token(tname, actor=ident.name)
        st.warning("令牌只显示这一次, 请立即配置到大屏:")
        st.code(token, language=None)
with c2.form("token-revoke", clear_on_submit=True):
    live = [t.token_id for t in toks if not t.revoked_at]
    tid = st.selectbox("吊销令牌", live, placeholder="没有可吊销的令牌")
    if st.form_submit_button("吊销") and tid:
        store.revoke_token(tid, actor=ident.name)
        st.success(f"已吊销 {tid}")

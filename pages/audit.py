"""审计日志: logins, failed logins, unmasking, exports and user changes, each with the client address it came from
(县级管理员 only; the log is append-only)."""
import pandas as pd
import streamlit as st

from dashboard import auth, session, users

session.require_page("audit")
st.title("审计日志")
store = auth.store()
ok, broken, head = store.verify_audit()
if ok:
    st.caption(f"审计日志完整 (哈希链校验通过) · 最新哈希 {head[:16]}…")
else:
    st.error(f"审计日志第 {broken} 条起校验失败: 日志可能被改动 (或审计密钥文件缺失)。请保存数据库文件并报告。")
ACTIONS = {"login": "登录", "login_failed": "登录失败", "login_locked": "锁定中登录", "logout": "退出",
           "session_expired": "会话过期", "unmask": "查看未脱敏信息", "export": "导出", "export_full": "导出完整信息",
           "user_add": "添加用户", "user_disable": "停用用户", "user_enable": "启用用户", "user_reset": "重置密码",
           "token_add": "新建大屏令牌", "token_revoke": "吊销大屏令牌", "session_rejected": "会话在另一客户端重连",
           "audit_key": "审计日志开始签名", "session_resume": "恢复登录 (刷新或新标签页)", "upload": "上传数据",
           "warning_ack": "确认预警", "supervision_order": "下发督办单"}
c1, c2 = st.columns(2)
action = c1.selectbox("类型", [None] + list(ACTIONS), format_func=lambda a: "全部" if a is None else ACTIONS[a],
                      key="_audit_action")
actor = c2.text_input("操作人", key="_audit_actor", max_chars=64).strip() or None
rows = pd.DataFrame(store.audit_entries(2000, action=action, actor=actor),
                    columns=["seq", "at", "actor", "action", "target", "detail", "reason", "client"])
own = session.identity().scope.county_code
if own is not None:  # a city deployment's county 县级管理员: entries by or about its county's users only
    mine = {u.username for u in store.users() if u.county_code == own}
    rows = rows[rows["actor"].isin(mine) | rows["target"].isin(mine)]
for col in ("actor", "target", "detail", "reason", "client"):  # as text, every invisible or line-breaking character escaped
    rows[col] = rows[col].map(lambda v: "" if v is None else users.printable(str(v)))
rows["action"] = rows["action"].map(lambda a: ACTIONS.get(a, a))
st.dataframe(rows.rename(columns={"seq": "序号", "at": "时间", "actor": "操作人", "action": "类型", "target": "对象",
                                  "detail": "详情", "reason": "理由", "client": "客户端地址"}),
             hide_index=True, height=600, placeholder="—")

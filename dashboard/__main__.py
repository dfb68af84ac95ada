"""Command line of the dashboard: the web server and the user store.

    python -m dashboard serve [streamlit options, e.g. --server.port 8501]

    python -m dashboard users list
    python -m dashboard users add NAME --role 县级管理员|县领导|乡镇用户|部门用户 [--township 宏仁乡] [--office 宏仁派出所]
                                     [--display-name 张三] [--oidc] [--password-stdin]
    python -m dashboard users disable NAME | enable NAME | reset NAME [--password-stdin]
    python -m dashboard users token-add [--name 指挥中心大屏]      (prints the token once)
    python -m dashboard users token-list | token-revoke TOKEN_ID
    python -m dashboard users audit [--limit N] [--action A] [--verify]

`serve` is `streamlit run dashboard/app.py` with dashboard/server_hardening.py installed before the server starts
(security headers and the display-token cookie on every response, from the first one).

Passwords are asked for twice on the terminal (or read from stdin with --password-stdin); never on the command
line, where other users of the machine and the shell history would see them. Changes are written to the audit log
as `cli:<os user>`.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from pathlib import Path

from dashboard.users import DEPARTMENT, TOWNSHIP, StoreError, UserStore, canonical_role, printable
from warehouse.config import load_settings


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001
        return f"cli:{os.getuid()}"


def _password(args, min_len: int) -> str:
    if args.password_stdin:
        pw = sys.stdin.readline().rstrip("\n")
    else:
        pw = getpass.getpass(f"密码 (至少 {min_len} 位): ")
        if getpass.getpass("再次输入密码: ") != pw:
            raise StoreError("两次输入的密码不一致")
    return pw


def _warehouse_lookup(s, sql: str, value: str) -> list[tuple]:
    """Rows of the published warehouse for a binding check ([] when no warehouse is published yet)."""
    from warehouse import db

    try:
        path = db.current_version(s.paths.warehouse_dir)
    except db.NoWarehouse:
        return []
    con = db.connect(str(path), read_only=True)
    try:
        return con.execute(sql, [value, value]).fetchall()
    finally:
        con.close()


def _resolve_township(s, value: str) -> tuple[str, str]:
    rows = _warehouse_lookup(s, "SELECT DISTINCT township_code, township_name FROM dim_reporting_unit "
                                "WHERE township_code = ? OR township_name = ?", value)
    if rows:
        return rows[0]
    if value.isdigit() and len(value) == 9:
        return value, value
    raise StoreError(f"找不到乡镇 {value!r}: 请给出数据仓库中的乡镇名称或 9 位乡镇区划代码")


def _check_office(s, value: str, force: bool) -> str:
    if force:
        return value
    if _warehouse_lookup(s, "SELECT office_name FROM dim_office WHERE office_name = ? OR office_name = ?", value):
        return value
    raise StoreError(f"数据仓库中没有部门 {value!r} (派出所/司法所/卫生院的全称, 如 文兴派出所); "
                     "确认无误时加 --force")


def users_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dashboard users", description="用户库: 用户、大屏令牌、审计日志")
    ap.add_argument("--config", help="配置文件 (默认 $GRIDWATCH_CONFIG 或 config.toml)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="列出用户")
    a = sub.add_parser("add", help="添加用户")
    a.add_argument("username")
    a.add_argument("--role", required=True, help="县级管理员 | 县领导 | 乡镇用户 | 部门用户 (或 admin/leader/township/department)")
    a.add_argument("--township", help="乡镇用户: 乡镇名称或 9 位区划代码")
    a.add_argument("--office", help="部门用户: 派出所/司法所/卫生院全称")
    a.add_argument("--display-name")
    a.add_argument("--oidc", action="store_true", help="通过统一身份认证 (st.login) 登录; 用户名 = 配置的 claim")
    a.add_argument("--no-password", action="store_true", help="与 --oidc 一起: 不设密码")
    a.add_argument("--password-stdin", action="store_true")
    a.add_argument("--force", action="store_true", help="部门名称不在数据仓库中时仍然添加")
    for name in ("disable", "enable"):
        sub.add_parser(name, help={"disable": "停用用户", "enable": "启用用户"}[name]).add_argument("username")
    r = sub.add_parser("reset", help="重置密码 (并解除锁定)")
    r.add_argument("username")
    r.add_argument("--password-stdin", action="store_true")
    t = sub.add_parser("token-add", help="新建大屏令牌 (只显示一次)")
    t.add_argument("--name", default="指挥中心大屏")
    sub.add_parser("token-list", help="列出大屏令牌")
    tr = sub.add_parser("token-revoke", help="吊销大屏令牌")
    tr.add_argument("token_id")
    au = sub.add_parser("audit", help="审计日志")
    au.add_argument("--limit", type=int, default=50)
    au.add_argument("--action")
    au.add_argument("--actor")
    au.add_argument("--verify", action="store_true", help="校验哈希链")
    args = ap.parse_args(argv)

    s = load_settings(args.config)
    store = UserStore.from_settings(s)
    actor = _actor()
    try:
        if args.cmd == "list":
            for u in store.users():
                scope = u.township_name or u.office_name or "全县"
                how = "+".join(x for x, on in (("密码", u.has_password), ("OIDC", u.oidc)) if on)
                print(f"{u.username}\t{u.role}\t{scope}\t{how}\t{'停用' if u.disabled else '正常'}\t"
                      f"最近登录 {u.last_login_at or '—'}")
        elif args.cmd == "add":
            role = canonical_role(args.role)
            town_code = town_name = office = None
            if role == TOWNSHIP:
                if not args.township:
                    raise StoreError("乡镇用户需要 --township")
                town_code, town_name = _resolve_township(s, args.township)
            if role == DEPARTMENT:
                if not args.office:
                    raise StoreError("部门用户需要 --office")
                office = _check_office(s, args.office, args.force)
            pw = None if (args.oidc and args.no_password) else _password(args, s.auth.min_password_length)
            u = store.add_user(args.username, role, password=pw, actor=actor, display_name=args.display_name,
                               township_code=town_code, township_name=town_name, office_name=office, oidc=args.oidc)
            print(f"已添加 {u.username} ({u.role} · {u.township_name or u.office_name or '全县'})")
        elif args.cmd in ("disable", "enable"):
            store.set_disabled(args.username, args.cmd == "disable", actor=actor)
            print(f"{args.username}: {'已停用' if args.cmd == 'disable' else '已启用'}")
        elif args.cmd == "reset":
            store.set_password(args.username, _password(args, s.auth.min_password_length), actor=actor)
            print(f"{args.username}: 密码已重置, 锁定已解除")
        elif args.cmd == "token-add":
            rec, token = store.add_token(args.name, actor=actor)
            print(f"大屏令牌 {rec.token_id} ({rec.name}) — 只显示这一次:\n{token}\n"
                  f"大屏打开一次: http://<服务器>:8501/wall?display_token={token}")
        elif args.cmd == "token-list":
            for tk in store.tokens():
                print(f"{tk.token_id}\t{tk.name}\t创建 {tk.created_at} ({tk.created_by})\t"
                      f"最近使用 {tk.last_used_at or '—'}\t{'已吊销 ' + tk.revoked_at if tk.revoked_at else '有效'}")
        elif args.cmd == "token-revoke":
            store.revoke_token(args.token_id, actor=actor)
            print(f"已吊销 {args.token_id}")
        elif args.cmd == "audit":
            if args.verify:
                ok, broken, head = store.verify_audit()
                print(f"审计日志完整, 最新哈希 {head}" if ok else f"审计日志第 {broken} 条起校验失败")
                return 0 if ok else 4
            for e in reversed(store.audit_entries(args.limit, action=args.action, actor=args.actor)):
                print("\t".join(printable(str(e[k])).replace("\t", "\\t")  # one entry, one line, whatever it holds
                                for k in ("seq", "at", "actor", "action", "target", "detail", "reason")))
    except StoreError as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 2
    return 0


def serve_main(argv: list[str]) -> int:
    from streamlit.web import cli as stcli

    from dashboard import server_hardening

    server_hardening.install()
    sys.argv = ["streamlit", "run", str(Path(__file__).resolve().parent / "app.py"), *argv]
    try:
        stcli.main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        return serve_main(argv[1:])
    if not argv or argv[0] != "users":
        print(__doc__, file=sys.stderr)
        return 2
    return users_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())

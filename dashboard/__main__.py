"""Command line of the dashboard: the web server and the user store.

    python -m dashboard serve [streamlit options, e.g. --server.port 8501]

    python -m dashboard users list
    python -m dashboard users add NAME --role 县级管理员|县领导|乡镇用户|部门用户 [--township 宏仁乡] [--office 宏仁派出所]
                                     [--county 东岭县]   (a city deployment: the user's county; a 部门用户 needs it)
                                     [--display-name 张三] [--oidc] [--password-stdin]
    python -m dashboard users disable NAME | enable NAME | reset NAME [--password-stdin]
    python -m dashboard users token-add [--name 指挥中心大屏]      (prints the token once)
    python -m dashboard users token-list | token-revoke TOKEN_ID
    python -m dashboard users audit [--limit N] [--action A] [--verify]

`serve` is `streamlit run dashboard/app.py` with dashboard/server_hardening.py installed before the server starts
(security headers and the display-token cookie on every response, from the first one).

`python -m dashboard --help` (and `serve --help`, `users --help`, `users add --help` …) prints the help in
Chinese and exits 0.

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

from core.config import load_settings
from dashboard.users import (
    DEPARTMENT,
    TOWNSHIP,
    StoreError,
    UserStore,
    canonical_role,
    check_county,
    printable,
    role_label,
    scope_label,
)

# argparse's own words (usage, section titles, errors) in Chinese: argparse looks them up through its module-level
# `_` (gettext) at the moment it prints them.
_ZH = {
    "usage: ": "用法: ",
    "positional arguments": "参数",
    "options": "选项",
    "show this help message and exit": "显示此帮助并退出",
    "the following arguments are required: %s": "缺少必需的参数: %s",
    "unrecognized arguments: %s": "无法识别的参数: %s",
    "invalid choice: %(value)r (choose from %(choices)s)": "无效的选择: %(value)r (可选: %(choices)s)",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s: %(message)s",
    "expected one argument": "需要一个值",
    "invalid %(type)s value: %(value)r": "无效的 %(type)s 值: %(value)r",
    "ambiguous option: %(option)s could match %(matches)s": "选项 %(option)s 有歧义, 可能是 %(matches)s",
    "%(prog)s: error: %(message)s\n": "%(prog)s: 错误: %(message)s\n",
}


class ZhParser(argparse.ArgumentParser):
    """An ArgumentParser that speaks Chinese (its help, usage and error messages)."""

    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        with _chinese():
            super().__init__(*args, **kw)

    def format_help(self) -> str:
        with _chinese():
            return super().format_help()

    def format_usage(self) -> str:
        with _chinese():
            return super().format_usage()

    def parse_known_args(self, args=None, namespace=None):
        with _chinese():
            return super().parse_known_args(args, namespace)

    def error(self, message):
        with _chinese():
            super().error(message)


class _chinese:
    def __enter__(self):
        self.old = argparse._
        argparse._ = lambda text: _ZH.get(text, text)

    def __exit__(self, *exc):
        argparse._ = self.old


SERVE_HELP = ("启动网页服务: 即 `streamlit run dashboard/app.py`, 在服务启动前装好 dashboard/server_hardening.py "
              "(安全响应头、大屏令牌 Cookie、登录会话 Cookie)。其余选项原样传给 Streamlit, 如 --server.port 8501 "
              "--server.address 0.0.0.0。")


def _main_parser() -> ZhParser:
    ap = ZhParser(prog="python -m dashboard", description="网格化服务管理督导平台: 网页服务与用户库的命令行。",
                  epilog="示例:\n  python -m dashboard serve --server.port 8501\n"
                         "  python -m dashboard users add 张三 --role 县级管理员\n"
                         "  python -m dashboard users --help      (用户库的全部命令)")
    sub = ap.add_subparsers(dest="cmd", required=True, title="命令", metavar="命令")
    sp = sub.add_parser("serve", help="启动网页服务 (其余选项传给 Streamlit)", description=SERVE_HELP)
    sp.add_argument("streamlit_options", nargs="*", metavar="Streamlit选项", help="如 --server.port 8501")
    sub.add_parser("users", help="用户库: 用户、大屏令牌、审计日志 (python -m dashboard users --help)",
                   add_help=False)
    return ap


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


def _resolve_county(s, value: str) -> tuple[str, str]:
    rows = _warehouse_lookup(s, "SELECT county_code, county_name FROM dim_county WHERE county_code = ? "
                                "OR county_name = ?", value)
    if rows:
        return rows[0]
    raise StoreError(f"找不到县 {value!r}: 请给出数据仓库中的县名称或 6 位区划代码")


def _check_office(s, value: str, force: bool, county: str | None = None) -> str:
    """The office's name, when the warehouse knows it (in `county`, when given: a city's counties share names)."""
    if force:
        return value
    rows = _warehouse_lookup(s, "SELECT county_code FROM dim_office WHERE office_name = ? OR office_name = ?", value)
    if rows and county is not None and county not in {r[0] for r in rows}:
        raise StoreError(f"所选的县中没有部门 {value!r}; 确认无误时加 --force")
    if rows:
        return value
    raise StoreError(f"数据仓库中没有部门 {value!r} (派出所/司法所/卫生院的全称, 如 文兴派出所); "
                     "确认无误时加 --force")


def users_main(argv: list[str] | None = None) -> int:
    ap = ZhParser(prog="python -m dashboard users", description="用户库: 用户、大屏令牌、审计日志")
    ap.add_argument("--config", help="配置文件 (默认 $GRIDWATCH_CONFIG 或 config.toml)")
    sub = ap.add_subparsers(dest="cmd", required=True, title="命令", metavar="命令")
    sub.add_parser("list", help="列出用户")
    a = sub.add_parser("add", help="添加用户")
    a.add_argument("username", metavar="用户名")
    a.add_argument("--role", required=True, help="县级管理员 | 县领导 | 乡镇用户 | 部门用户 (或 admin/leader/township/department)")
    a.add_argument("--township", help="乡镇用户: 乡镇名称或 9 位区划代码")
    a.add_argument("--office", help="部门用户: 派出所/司法所/卫生院全称")
    a.add_argument("--county", help="地市部署: 用户所属的县 (县名称或 6 位区划代码); 不给 = 市级 (全市); "
                                    "部门用户必须给出")
    a.add_argument("--display-name", help="姓名或说明")
    a.add_argument("--oidc", action="store_true", help="通过统一身份认证 (st.login) 登录; 用户名 = 配置的 claim")
    a.add_argument("--no-password", action="store_true", help="与 --oidc 一起: 不设密码")
    a.add_argument("--password-stdin", action="store_true", help="从标准输入读一行作为密码 (不在终端询问)")
    a.add_argument("--force", action="store_true", help="部门名称不在数据仓库中时仍然添加")
    for name in ("disable", "enable"):
        sub.add_parser(name, help={"disable": "停用用户 (并结束其登录会话)", "enable": "启用用户"}[name]) \
            .add_argument("username", metavar="用户名")
    r = sub.add_parser("reset", help="重置密码 (并解除锁定, 结束其登录会话)")
    r.add_argument("username", metavar="用户名")
    r.add_argument("--password-stdin", action="store_true", help="从标准输入读一行作为密码")
    t = sub.add_parser("token-add", help="新建大屏令牌 (只显示一次)")
    t.add_argument("--name", default="指挥中心大屏", help="大屏位置 (默认 指挥中心大屏)")
    sub.add_parser("token-list", help="列出大屏令牌")
    tr = sub.add_parser("token-revoke", help="吊销大屏令牌")
    tr.add_argument("token_id", metavar="令牌编号")
    au = sub.add_parser("audit", help="审计日志")
    au.add_argument("--limit", type=int, default=50, help="最近多少条 (默认 50)")
    au.add_argument("--action", help="只看此类型, 如 login、logout、session_resume")
    au.add_argument("--actor", help="只看此操作人")
    au.add_argument("--verify", action="store_true", help="校验哈希链")
    args = ap.parse_args(argv)

    s = load_settings(args.config)
    store = UserStore.from_settings(s)
    actor = _actor()
    try:
        if args.cmd == "list":
            for u in store.users():
                city = s.deployment.level == "city"
                scope = scope_label(u.township_name, u.office_name, u.county_name, u.county_code, city)
                how = "+".join(x for x, on in (("密码", u.has_password), ("OIDC", u.oidc)) if on)
                print(f"{u.username}\t{role_label(u.role, u.county_code, city)}\t{scope}\t{how}\t"
                      f"{'停用' if u.disabled else '正常'}\t最近登录 {u.last_login_at or '—'}")
        elif args.cmd == "add":
            role = canonical_role(args.role)
            city = s.deployment.level == "city"
            check_county(role, args.county, city)  # before any password is asked for
            town_code = town_name = office = None
            if role == TOWNSHIP:
                if not args.township:
                    raise StoreError("乡镇用户需要 --township")
                town_code, town_name = _resolve_township(s, args.township)
            county = _resolve_county(s, args.county) if args.county else (None, None)
            if role == DEPARTMENT:
                if not args.office:
                    raise StoreError("部门用户需要 --office")
                office = _check_office(s, args.office, args.force, county[0] if city else None)
            pw = None if (args.oidc and args.no_password) else _password(args, s.auth.min_password_length)
            u = store.add_user(args.username, role, password=pw, actor=actor, display_name=args.display_name,
                               township_code=town_code, township_name=town_name, office_name=office, oidc=args.oidc,
                               county_code=county[0], county_name=county[1], city=city)
            print(f"已添加 {u.username} ({role_label(u.role, u.county_code, city)} · "
                  f"{scope_label(u.township_name, u.office_name, u.county_name, u.county_code, city)})")
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
                                for k in ("seq", "at", "actor", "action", "target", "detail", "reason",
                                          "client")))
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
    ap = _main_parser()
    if argv and argv[0] == "users":
        try:
            return users_main(argv[1:])
        except SystemExit as exc:  # --help (0) or a usage error (2), from argparse
            return exc.code if isinstance(exc.code, int) else 0
    if argv and argv[0] == "serve" and not {"-h", "--help"} & set(argv[1:]):
        return serve_main(argv[1:])  # every other option is Streamlit's
    try:
        ap.parse_args(argv)  # --help, serve --help, or a usage error
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Staying logged in (issue 13): a login survives a reload, a new tab and a server restart through the HttpOnly,
SameSite gw_session cookie and the user store's `sessions` table; logout (in any tab), idle expiry, a forged or
spent cookie and a new browser give the login form; a 乡镇用户's cookie opens that 乡镇 only. And the smaller items:
the Chinese CLI help, the audit log's client address (with the migration of older stores), the first-start
progress lines on the terminal, the login form's width."""
from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.logins import PASSWORD, add_users, browser_login, store

from dashboard import server_hardening, users
from dashboard.users import UserStore

ROOT = Path(__file__).resolve().parent.parent
WENCHANG = ["文昌镇四个社区", "文昌镇农村网格", "文昌一社区", "文昌司法所"]
VIEW = "activity?k=month&p=2024-03&u=510799002"


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    from argon2 import PasswordHasher

    ph = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(users, "_PH", ph)
    monkeypatch.setattr(users, "_DUMMY_HASH", ph.hash("dummy-password"))


# ------------------------------------------------------------------------------------------------- the store
def test_a_session_is_kept_as_a_hash_and_ends_by_logout_idle_age_disable_and_reset(tmp_path):
    s = UserStore(tmp_path / "auth" / "users.db", idle_minutes=5, max_session_hours=1)
    s.add_user("hr", "乡镇用户", password=PASSWORD, actor="t", township_code="510799002", township_name="宏仁乡")
    tok = s.start_session("hr", "password", client="10.0.0.7")
    d = users.token_hash(tok)
    raw = b"".join(p.read_bytes() for p in (tmp_path / "auth").iterdir())
    assert tok.encode() not in raw and tok[4:].encode() not in raw  # only the hash is stored
    row, status = s.session(d)
    assert status == "live" and row["username"] == "hr" and row["client"] == "10.0.0.7"
    t = time.time()
    assert s.session(d, at=t + 4 * 60)[1] == "live"
    assert s.session(d, at=t + 6 * 60)[1] == "idle"
    s.touch_session(d, at=t + 4 * 60)
    assert s.session(d, at=t + 8 * 60)[1] == "live"  # activity moves the idle limit
    assert s.session(d, at=t + 3601)[1] in ("idle", "max")
    assert s.session(users.token_hash("gws_forged"))[1] == "unknown"
    assert s.end_session(d, "logout") and not s.end_session(d, "logout")
    assert s.session(d)[1] == "ended"
    # disabling the user and resetting the password end every session of that user
    d1 = users.token_hash(s.start_session("hr", "password"))
    s.set_disabled("hr", True, actor="t")
    assert s.session(d1)[1] == "ended"
    s.set_disabled("hr", False, actor="t")
    d2 = users.token_hash(s.start_session("hr", "password"))
    s.set_password("hr", "another-secret-7", actor="t")
    assert s.session(d2)[1] == "ended"
    # a session survives the process: a new store object on the same file finds it
    d3 = users.token_hash(s.start_session("hr", "password"))
    assert UserStore(s.path).session(d3)[1] == "live"


# ------------------------------------------------------------------------------------------------- the cookie route
def _call(method: str, headers: dict[str, str], path: str = "/_gw/session") -> tuple[int, dict[bytes, list[bytes]]]:
    sent: list[dict] = []

    async def app(scope, receive, send):  # what Streamlit would answer: never reached for /_gw/session
        raise AssertionError("passed to the app")

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": method, "path": path, "query_string": b"", "scheme": "http",
             "client": ("127.0.0.1", 5), "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(server_hardening.HardeningMiddleware(app)(scope, receive, send))
    start = sent[0]
    out: dict[bytes, list[bytes]] = {}
    for k, v in start["headers"]:
        out.setdefault(k, []).append(v)
    return start["status"], out


def test_the_session_cookie_comes_only_from_a_one_time_ticket_of_the_same_browser():
    ticket = server_hardening.issue_ticket("gws_secret-token", "client-A", 3600)
    assert server_hardening.ticket_pending(ticket)
    # another browser (another gw_client cookie, or none) cannot redeem it
    assert _call("POST", {"X-GW-Ticket": ticket, "Cookie": "gw_client=client-B"})[0] == 403
    assert _call("POST", {"X-GW-Ticket": ticket})[0] == 403
    assert _call("POST", {"X-GW-Ticket": "made-up", "Cookie": "gw_client=client-A"})[0] == 403
    assert _call("GET", {"Cookie": "gw_client=client-A"})[0] == 405
    status, h = _call("POST", {"X-GW-Ticket": ticket, "Cookie": "gw_client=client-A"})
    assert status == 204
    c = h[b"set-cookie"][0].decode()
    assert c.startswith("gw_session=gws_secret-token;") and "HttpOnly" in c and "SameSite=Strict" in c
    assert "Max-Age=3600" in c and "Path=/" in c
    assert h[b"x-frame-options"] == [b"DENY"] and h[b"cache-control"] == [b"no-store"]
    assert not server_hardening.ticket_pending(ticket)  # once only
    assert _call("POST", {"X-GW-Ticket": ticket, "Cookie": "gw_client=client-A"})[0] == 403
    status, h = _call("DELETE", {"Cookie": "gw_client=client-A; gw_session=x"})
    assert status == 204 and h[b"set-cookie"][0].decode().startswith("gw_session=;")
    assert "Max-Age=0" in h[b"set-cookie"][0].decode()
    # an expired ticket is refused
    late = server_hardening.issue_ticket("gws_other", "client-A", 3600)
    token, client, _, age = server_hardening._TICKETS[late]
    server_hardening._TICKETS[late] = (token, client, time.monotonic() - 1, age)
    assert _call("POST", {"X-GW-Ticket": late, "Cookie": "gw_client=client-A"})[0] == 403


# ------------------------------------------------------------------------------------------------- audit address
OLD_AUDIT = """CREATE TABLE audit (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
 target TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
 prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"""


def test_audit_entries_carry_the_client_address_also_in_a_migrated_store(tmp_path):
    path = tmp_path / "auth" / "users.db"
    path.parent.mkdir()
    con = sqlite3.connect(path)  # a store of the previous version: keyed entries, no address column
    con.executescript(OLD_AUDIT)
    key = bytes(range(32))
    (tmp_path / "audit.key").write_text(key.hex() + "\n")
    prev = users.GENESIS
    for seq, action in ((1, "login"), (2, "logout")):
        at = f"2026-01-0{seq} 08:00:00"
        h = users.entry_hash(prev, seq, at, "admin", action, "admin", "", "", key)
        con.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?)", (seq, at, "admin", action, "admin", "", "", prev, h))
        prev = h
    con.execute("INSERT INTO meta VALUES ('audit_legacy_upto', '0')")
    con.commit()
    con.close()
    s = UserStore(path)
    s.audit("admin", "login", "admin", "密码", client="203.0.113.9")
    s.set_client("198.51.100.4")  # the app's default for the entries of this thread
    s.audit("admin", "export", "事件")
    s.set_client(None)
    e = s.audit_entries(None)
    assert [x["client"] for x in e] == ["198.51.100.4", "203.0.113.9", "", ""]
    assert s.verify_audit()[0]  # the old entries (no address) and the new ones verify
    # the address is covered by the entry's hash: changing it behind SQLite's back is found
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit SET client = '10.9.9.9' WHERE seq = 3")
    con.commit()
    con.close()
    assert s.verify_audit()[:2] == (False, 3)


def test_the_audit_page_shows_the_client_address(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from support.county import build_sample
    from support.logins import login
    from test_auth import _titles

    from core import config

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path}"\ndrop_dir = "{tmp_path}/drop"\nlake_dir = "{tmp_path}/lake"\n'
                   f'warehouse_dir = "{tmp_path}/wh"\n[demo]\nauto = false\n', encoding="utf-8")
    monkeypatch.setenv(config.ENV_VAR, str(cfg))
    config.settings.cache_clear()
    try:
        build_sample(tmp_path, config.settings())
        st_ = add_users(config.settings())
        st_.audit("admin", "login", "admin", "密码", client="192.0.2.33")
        at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60).run()
        login(at, "admin")
        at.switch_page(str(ROOT / "pages" / "audit.py")).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("审计日志" in t for t in _titles(at))
        df = at.dataframe[0].value
        assert "客户端地址" in df.columns and "192.0.2.33" in set(df["客户端地址"])
    finally:
        config.settings.cache_clear()


def test_the_set_up_form_names_pages_that_exist():
    import re

    from dashboard import auth

    src = (ROOT / "dashboard" / "auth.py").read_text(encoding="utf-8")
    app = (ROOT / "dashboard" / "app.py").read_text(encoding="utf-8")
    titles = set(re.findall(r'"[a-z_]+": \("[^"]+", "[a-z_]+\.py", "([^"]+)"', app))
    assert "用户与大屏令牌" in titles and len(titles) == 14  # with 数据上传, 预警与督办, 考核, 全市总览 (city only)
    named = set(re.findall(r"“([^”]+)”页", src))
    assert named and named <= titles, named - titles
    assert "用户管理" not in src and auth.PAGES


# ------------------------------------------------------------------------------------------------- CLI help
@pytest.mark.parametrize("args", [["--help"], ["-h"], ["serve", "--help"], ["users", "--help"],
                                  ["users", "add", "--help"], ["users", "audit", "--help"]])
def test_cli_help_is_chinese_and_exits_0(args):
    r = subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("用法: python -m dashboard") and "显示此帮助并退出" in out
    for english in ("usage:", "show this help", "positional arguments", "options:"):
        assert english not in out, english
    if args == ["--help"]:
        assert "serve" in out and "users" in out and "启动网页服务" in out


def test_cli_usage_errors_are_chinese_and_exit_2():
    for args in ([], ["bogus"], ["users"], ["users", "add"]):
        r = subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2, (args, r.stderr)
        assert "错误: " in r.stderr and "error:" not in r.stderr and "usage:" not in r.stderr, r.stderr


# ------------------------------------------------------------------------------------------------- first start
def test_first_start_prints_progress_and_a_ready_line(tmp_path, capsys):
    from support.county import sample_county
    from support.server import write_config

    from core import config
    from dashboard import bootstrap

    s = config.load_settings(write_config(tmp_path))
    sample_county().write(s.paths.drop_dir)
    assert bootstrap.plan(s) == ("drop", None)
    bootstrap._STATE.error = None
    bootstrap._build(s, demo=False)
    out = capsys.readouterr().out.splitlines()
    assert bootstrap._STATE.error is None, bootstrap._STATE.error
    steps = [int(line.split("构建", 1)[1].split("%")[0]) for line in out if line.startswith("首次启动构建 ")]
    assert steps == sorted(set(steps)) and steps[-1] == 100 and len(steps) >= 3, out
    assert all(b - a <= 50 for a, b in zip(steps, steps[1:]))
    assert out[0].startswith("首次启动: 尚未发布数据仓库") and out[-1] == "数据仓库已就绪"
    assert (s.paths.warehouse_dir / "CURRENT").exists() or any(s.paths.warehouse_dir.iterdir())


def test_demo_build_progress_lines_every_ten_percent(capsys):
    from dashboard import bootstrap

    bootstrap._STATE.printed = -1
    for i in range(101):
        bootstrap._report(i / 100, f"第 {i} 步")
    lines = capsys.readouterr().out.splitlines()
    assert [int(x.split("构建", 1)[1].split("%")[0]) for x in lines] == list(range(0, 101, 10))


# ------------------------------------------------------------------------------------------------- the browser
class Srv:
    """The test server, restartable (a new port: cookies belong to the host, not the port)."""

    def __init__(self, cfg: Path):
        from support.server import Server

        self.cfg = cfg
        self.srv = Server(cfg)

    @property
    def url(self) -> str:
        return self.srv.url

    def restart(self) -> str:
        from support.server import Server

        log = self.srv.stop()
        self.srv = Server(self.cfg)
        return log


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from support.county import build_sample
    from support.server import require_chromium, write_config

    from core import config

    require_chromium()
    root = tmp_path_factory.mktemp("sessions")
    cfg = write_config(root)
    s = config.load_settings(cfg)
    build_sample(root, s)
    add_users(s)
    srv = Srv(cfg)
    yield srv, store(s)
    log = srv.srv.stop()
    assert "gws_" not in log and PASSWORD not in log  # no session token, no password in the server's log


def _settle(page) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_function("() => document.querySelector('input[aria-label=\"用户名\"]') || "
                           "[...document.querySelectorAll('button')].some(b => b.innerText.includes('退出登录'))",
                           timeout=60_000)
    page.wait_for_timeout(500)


def _open(ctx, url: str, frames: list | None = None):
    page = ctx.new_page()
    if frames is not None:
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
            f if isinstance(f, bytes) else f.encode())))
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    _settle(page)
    return page


def _logged_in(page) -> bool:
    return page.locator('button:has-text("退出登录")').count() > 0 and \
        page.locator('input[aria-label="用户名"]').count() == 0


def _login_form(page) -> bool:
    return page.locator('input[aria-label="用户名"]').count() > 0 and page.locator(
        'button:has-text("退出登录")').count() == 0


def _session_cookie(ctx, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = [c for c in ctx.cookies() if c["name"] == "gw_session" and c["value"]]
        if c:
            return c[0]
        time.sleep(0.2)
    raise AssertionError(f"no gw_session cookie: {ctx.cookies()}")


def _login(ctx, url: str, user: str, frames: list | None = None):
    page = _open(ctx, url, frames)
    browser_login(page, user)
    _settle(page)
    assert _logged_in(page)
    return page


@pytest.mark.browser
def test_reload_and_new_tab_stay_logged_in_on_the_same_view(site, browser):
    srv, st_ = site
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = _login(ctx, f"{srv.url}/{VIEW}", "admin")
    assert "账号活跃度" in page.inner_text("h1")
    c = _session_cookie(ctx)
    assert c["httpOnly"] and c["sameSite"] == "Strict" and c["value"].startswith("gws_")
    assert "gw_session" not in page.evaluate("document.cookie")  # no script can read it
    assert c["expires"] - time.time() < 12 * 3600 + 60  # [auth] max_session_hours
    page.reload(wait_until="domcontentloaded")
    _settle(page)
    assert _logged_in(page), page.inner_text("body")[:300]
    assert "账号活跃度" in page.inner_text("h1")
    for kv in ("k=month", "p=2024-03", "u=510799002"):
        assert kv in page.url, page.url
    tab = _open(ctx, f"{srv.url}/{VIEW}")  # the link opened in a new tab of the same browser
    assert _logged_in(tab) and "账号活跃度" in tab.inner_text("h1")
    other = browser.new_context(viewport={"width": 1440, "height": 900})  # another browser: no cookie
    p2 = _open(other, f"{srv.url}/{VIEW}")
    assert _login_form(p2)
    other.close()
    resumed = [e for e in st_.audit_entries(50, action="session_resume") if e["actor"] == "admin"]
    assert len(resumed) >= 2 and all(e["client"] == "127.0.0.1" for e in resumed)
    assert [e for e in st_.audit_entries(50, action="login") if e["actor"] == "admin"][0]["client"] == "127.0.0.1"
    ctx.close()


@pytest.mark.browser
def test_logout_ends_the_login_in_every_tab_and_the_cookie_is_spent(site, browser):
    srv, st_ = site
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = _login(ctx, f"{srv.url}/events?k=month&p=2024-03", "leader")
    spent = _session_cookie(ctx)
    tab = _open(ctx, f"{srv.url}/events?k=month&p=2024-03")
    assert _logged_in(tab)
    page.locator('button:has-text("退出登录")').click()
    page.wait_for_selector('input[aria-label="用户名"]', timeout=60_000)
    tab.reload(wait_until="domcontentloaded")
    _settle(tab)
    assert _login_form(tab)
    row, status = st_.session(users.token_hash(spent["value"]))
    assert status == "ended" and row["ended_why"] == "logout"  # ended on the server, not only in the browser
    deadline = time.monotonic() + 20  # and the browser's cookie is cleared
    while any(c["name"] == "gw_session" and c["value"] for c in ctx.cookies()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(c["name"] == "gw_session" and c["value"] for c in ctx.cookies())
    logout = [e for e in st_.audit_entries(50, action="logout") if e["actor"] == "leader"]
    assert logout and logout[0]["client"] == "127.0.0.1"
    ctx.close()
    # the spent cookie, or a forged one, in another browser: the login form
    for value in (spent["value"], "gws_" + "A" * 43):
        other = browser.new_context(viewport={"width": 1440, "height": 900})
        other.add_cookies([{**{k: spent[k] for k in ("domain", "path", "httpOnly", "sameSite")},
                            "name": "gw_session", "value": value}])
        p = _open(other, f"{srv.url}/events?k=month&p=2024-03")
        assert _login_form(p), value
        other.close()


@pytest.mark.browser
def test_a_township_users_cookie_opens_its_township_only(site, browser):
    srv, _ = site
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    _login(ctx, f"{srv.url}/", "township")
    c = _session_cookie(ctx)
    # the cookie alone, in a fresh browser, asking for the other 乡镇's view and the administrator's pages
    thief = browser.new_context(viewport={"width": 1440, "height": 900})
    thief.add_cookies([{k: c[k] for k in ("name", "value", "domain", "path", "httpOnly", "sameSite")}])
    for path in ("activity?p=2024-03&k=month&u=510799001", "audit"):
        frames: list[bytes] = []
        p = _open(thief, f"{srv.url}/{path}", frames)
        assert _logged_in(p)
        side = p.inner_text('[data-testid="stSidebar"]')
        assert "乡镇用户" in side and "宏仁乡" in side and "审计日志" not in side and "用户与大屏令牌" not in side
        assert p.locator("h1").first.inner_text() not in ("审计日志", "用户与大屏令牌")
        ws = b"".join(frames)
        assert len(ws) > 1000
        for other in WENCHANG:
            assert other.encode() not in ws, (path, other)
        p.close()
    thief.close()
    ctx.close()


@pytest.mark.browser
def test_the_login_survives_a_server_restart_and_expires_when_idle(site, browser):
    srv, st_ = site
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = _login(ctx, f"{srv.url}/{VIEW}", "admin")
    c = _session_cookie(ctx)
    page.close()
    srv.restart()
    page = _open(ctx, f"{srv.url}/{VIEW}")
    assert _logged_in(page) and "账号活跃度" in page.inner_text("h1")
    page.close()
    # idle expiry: [auth] idle_minutes shortened to 6 s (a restart reads the configuration)
    srv.cfg.write_text(srv.cfg.read_text(encoding="utf-8") + "[auth]\nidle_minutes = 0.1\n", encoding="utf-8")
    srv.restart()
    digest = users.token_hash(c["value"])
    while time.time() - st_.session(digest)[0]["last_seen_at"] < 8:  # surely idle for longer than 6 s
        time.sleep(0.5)
    page = _open(ctx, f"{srv.url}/{VIEW}")
    assert _login_form(page)
    assert "会话已过期" in page.inner_text("body")
    assert st_.session(digest)[1] == "ended"
    assert [e for e in st_.audit_entries(20, action="session_expired") if e["actor"] == "admin"]
    ctx.close()


@pytest.mark.browser
def test_the_login_form_is_narrow_and_centred(site, browser):
    srv, _ = site
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = _open(ctx, f"{srv.url}/")
    box = page.locator('[data-testid="stForm"]').first.bounding_box()
    assert 300 <= box["width"] <= 440, box
    assert abs(box["x"] + box["width"] / 2 - 1920 / 2) < 80, box  # centred in the page
    ctx.close()

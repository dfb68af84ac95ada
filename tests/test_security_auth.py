"""The authentication, session and audit holes of issue 12, each reproduced and kept shut:

- parallel logins cannot check more passwords than the lockout allows (threads and processes on the real store);
  throttling per client address; common and all-digit passwords are refused;
- the first-start administrator form never comes back once a store has been set up;
- the audit chain is keyed: rebuilt by someone who can write users.db but not read the key file, it fails
  verification; anonymous attempts cannot flood the log, nor forge lines with control characters in a name;
- an unmask reason made of zero-width characters is no reason;
- on the real server: anti-framing and nosniff headers on every response (the first one included),
  /_stcore/metrics refused to anyone but the machine itself, the display token set as an HttpOnly cookie by a
  redirect (never in the page's address or history), a Streamlit session id reconnected from another client
  finds the session logged out (and the id is not in the log), and `clear_cache` refused to anyone but a
  logged-in 县级管理员.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.logins import add_users, login
from test_auth import app_config  # noqa: F401 — the fixture (a temporary config on the sample county)

from dashboard import auth, users
from dashboard.users import StoreError, UserStore

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
RIGHT = "a-long-secret-1"


@pytest.fixture(autouse=True)
def cheap_argon2(request, monkeypatch):
    """Argon2 with its cheapest parameters, to keep the module fast — except for the parallel-login tests, whose
    race needs the real cost of a password check."""
    if "parallel" in request.node.name or "waves" in request.node.name:
        return
    from argon2 import PasswordHasher

    ph = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(users, "_PH", ph)
    monkeypatch.setattr(users, "_DUMMY_HASH", ph.hash("dummy-password"))


def _store(tmp_path, **kw) -> UserStore:
    return UserStore(tmp_path / "auth" / "users.db", **{"max_failures": 5, "lockout_minutes": 10, **kw})


def _throttle(store: UserStore, name: str) -> dict:
    con = sqlite3.connect(store.path)
    con.row_factory = sqlite3.Row
    r = con.execute("SELECT * FROM login_throttle WHERE username = ?", (name,)).fetchone()
    con.close()
    return dict(r) if r else {}


def _places_taken(store: UserStore, name: str, limit: int) -> bool:
    """The wrong attempts hold every place (or locked the name): the moment the right password is tried."""
    r = _throttle(store, name)
    return bool(r.get("locked_until")) or r.get("failures", 0) + r.get("pending", 0) >= limit


# ------------------------------------------------------------------------------------------------- hole 1
def test_parallel_logins_in_threads_cannot_pass_the_lockout(tmp_path):
    store = _store(tmp_path)
    store.add_user("boss", "县级管理员", password=RIGHT, actor="t")
    go = threading.Barrier(15)
    results: list[str] = []

    def wrong(i):
        go.wait()
        results.append(store.authenticate("boss", f"wrong-password-{i}").status)

    threads = [threading.Thread(target=wrong, args=(i,)) for i in range(15)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and not _places_taken(store, "boss", 5):
        time.sleep(0.01)
    right = store.authenticate("boss", RIGHT)  # the 16th attempt, while the 15 are being checked
    for t in threads:
        t.join()
    assert right.status == "locked" and right.user is None
    assert sorted(set(results)) <= ["bad", "locked"] and results.count("bad") <= 5
    assert store.authenticate("boss", RIGHT).status == "locked"  # and the account stays locked
    checked = [e for e in store.audit_entries(None) if e["action"] == "login_failed"]
    assert len(checked) == 5  # exactly max_failures passwords were checked


def _attempt(path: str, password: str, barrier, out, delay_until_taken: bool) -> None:
    store = UserStore(path, max_failures=5, lockout_minutes=10)
    barrier.wait()
    if delay_until_taken:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and not _places_taken(store, "boss", 5):
            time.sleep(0.01)
    out.put((password == RIGHT, store.authenticate("boss", password).status))


def test_parallel_logins_in_processes_cannot_pass_the_lockout(tmp_path):
    store = _store(tmp_path)
    store.add_user("boss", "县级管理员", password=RIGHT, actor="t")
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(16), ctx.Queue()
    procs = [ctx.Process(target=_attempt, args=(str(store.path), f"wrong-password-{i}", barrier, out, False))
             for i in range(15)]
    procs.append(ctx.Process(target=_attempt, args=(str(store.path), RIGHT, barrier, out, True)))
    for p in procs:
        p.start()
    res = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert [s for is_right, s in res if is_right] == ["locked"]
    assert store.authenticate("boss", RIGHT).status == "locked"
    assert len([e for e in store.audit_entries(None) if e["action"] == "login_failed"]) == 5


def test_waves_of_parallel_attempts_always_leave_the_name_locked(tmp_path):
    store = _store(tmp_path, max_failures=5)
    store.add_user("boss", "县级管理员", password=RIGHT, actor="t")
    for wave in range(2):
        go = threading.Barrier(13)

        def wrong(i):
            go.wait()
            store.authenticate("boss", f"wrong-{wave}-{i}-pw")

        ts = [threading.Thread(target=wrong, args=(i,)) for i in range(13)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert _throttle(store, "boss")["locked_until"], wave
        assert store.authenticate("boss", RIGHT).status == "locked"


def test_a_success_never_clears_a_lock_and_sequential_semantics_hold(tmp_path):
    store = _store(tmp_path, max_failures=3)
    store.add_user("boss", "县级管理员", password=RIGHT, actor="t")
    t0 = dt.datetime(2026, 1, 1, 9)
    for _ in range(2):
        assert store.authenticate("boss", "wrong-password", at=t0).status == "bad"
    assert store.authenticate("boss", RIGHT, at=t0).status == "ok"  # 2 < 3: still allowed, failures reset
    for _ in range(3):
        store.authenticate("boss", "wrong-password", at=t0)
    assert store.authenticate("boss", RIGHT, at=t0 + dt.timedelta(minutes=1)).status == "locked"
    assert store.authenticate("boss", "wrong-password", at=t0 + dt.timedelta(minutes=2)).status == "locked"
    assert store.authenticate("boss", RIGHT, at=t0 + dt.timedelta(minutes=11)).status == "ok"


def test_one_client_address_trying_many_names_is_locked(tmp_path):
    store = _store(tmp_path, client_max_failures=4)
    store.add_user("boss", "县级管理员", password=RIGHT, actor="t")
    for i in range(4):
        assert store.authenticate(f"guess{i}", "wrong-password", client="203.0.113.7").status == "bad"
    # the address is locked for every name, the right password of a real user included
    assert store.authenticate("boss", RIGHT, client="203.0.113.7").status == "locked"
    assert store.authenticate("guess9", "x", client="203.0.113.7").status == "locked"
    # another address is not affected
    assert store.authenticate("boss", RIGHT, client="198.51.100.2").status == "ok"


@pytest.mark.parametrize("pw", ["1234567890", "password12", "qwertyuiop", "12345678901", "2024password!",
                                "Password123", "iloveyou1314", "woaini1314520"])
def test_common_and_all_digit_passwords_are_refused(tmp_path, pw):
    store = _store(tmp_path)
    with pytest.raises(StoreError):
        store.add_user("boss", "县级管理员", password=pw, actor="t")
    store.add_user("boss", "县级管理员", password=RIGHT, actor="t")
    with pytest.raises(StoreError):
        store.set_password("boss", pw, actor="t")


def test_common_password_list_is_shipped_and_long():
    assert len(users.COMMON_PASSWORDS) >= 300
    assert {"123456", "password", "qwerty", "woaini1314"} <= users.COMMON_PASSWORDS


# ------------------------------------------------------------------------------------------------- hole 2
def test_first_start_form_never_comes_back(app_config):  # noqa: F811
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert any("首次设置" in t.value for t in at.title)
    at.text_input(key="setup_user").input("chief")
    at.text_input(key="setup_password").input("first-admin-pw-1")
    at.text_input(key="setup_password2").input("first-admin-pw-1")
    next(b for b in at.button if b.label == "创建并登录").click()
    at.run()
    assert any("概览" in t.value for t in at.title)
    # the last (only) administrator is disabled on the server: nobody may set up again
    store = auth.store()
    store.set_disabled("chief", True, actor="cli:root")
    at2 = AppTest.from_file(APP, default_timeout=60).run()
    assert not any("首次设置" in t.value for t in at2.title)
    assert at2.text_input(key="login_user") and not [t for t in at2.text_input if t.key == "setup_user"]
    assert not store.has_admin() and store.setup_done()
    with pytest.raises(StoreError):
        store.add_user("intruder", "县级管理员", password="intruder-pw-77", actor="intruder", first_admin=True)
    assert store.get_user("intruder") is None
    # the CLI still can
    store.add_user("chief2", "县级管理员", password="second-admin-pw-2", actor="cli:root")
    assert store.has_admin()


def test_the_users_page_adds_no_administrator(app_config):  # noqa: F811
    add_users(app_config)
    at = AppTest.from_file(APP, default_timeout=60).run()
    login(at, "admin")
    at.switch_page(str(ROOT / "pages" / "users.py"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    roles = next(sb for sb in at.selectbox if sb.label == "角色")
    assert "县级管理员" not in roles.options and "县领导" in roles.options


def test_a_store_that_already_had_an_administrator_counts_as_set_up(tmp_path):
    """A store made before the set-up flag existed: an administrator (even a disabled one) means it was set up."""
    store = _store(tmp_path)
    store.add_user("chief", "县级管理员", password=RIGHT, actor="t")
    store.set_disabled("chief", True, actor="t")
    con = sqlite3.connect(store.path)
    con.execute("DELETE FROM meta WHERE key = 'setup_done'")
    con.commit()
    con.close()
    again = _store(tmp_path)
    assert again.setup_done()
    with pytest.raises(StoreError):
        again.add_user("intruder", "县级管理员", password="intruder-pw-77", actor="x", first_admin=True)


# ------------------------------------------------------------------------------------------------- audit key
def _rebuild_chain_without_key(path: Path) -> None:
    """What someone with write access to users.db (and not to the key) can do: edit an entry and recompute
    every hash — with plain SHA-256 as before, since the key is unknown."""
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit SET reason = '随便看看' WHERE action = 'unmask'")
    prev = "0" * 64
    for seq, at, actor, action, target, detail, reason in con.execute(
            "SELECT seq, at, actor, action, target, detail, reason FROM audit ORDER BY seq").fetchall():
        body = json.dumps([prev, seq, at, actor, action, target, detail, reason], ensure_ascii=False)
        h = hashlib.sha256(body.encode("utf-8")).hexdigest()
        con.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
        prev = h
    with contextlib.suppress(sqlite3.OperationalError):  # (no such table before the key existed)
        con.execute("DELETE FROM meta WHERE key = 'audit_legacy_upto'")  # and try to pass it off as a legacy log
    con.commit()
    con.close()


def test_audit_chain_rebuilt_without_the_key_fails_verification(tmp_path):
    store = _store(tmp_path)
    store.add_user("boss", "县级管理员", password=RIGHT, actor="t")
    store.audit("boss", "unmask", "events/list · event_id=E1", "全县", "核实群众投诉")
    assert store.verify_audit()[0]
    _rebuild_chain_without_key(store.path)
    assert not _store(tmp_path).verify_audit()[0]
    key = store.audit_key_file
    assert key.exists() and key.parent != store.path.parent  # outside the store's folder
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().strip() not in store.path.read_text(errors="replace")


def test_cli_verify_fails_on_a_rebuilt_chain(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path}/data"\nwarehouse_dir = "{tmp_path}/wh"\n', encoding="utf-8")
    env = dict(os.environ, GRIDWATCH_CONFIG=str(cfg))

    def cli(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "dashboard", "users", *args], cwd=ROOT, env=env,
                              input=stdin, capture_output=True, text=True, timeout=60)

    assert cli("add", "boss", "--role", "admin", "--password-stdin", stdin=RIGHT + "\n").returncode == 0
    assert (tmp_path / "audit.key").exists()  # beside the config, not in the data folder
    UserStore(tmp_path / "data" / "auth" / "users.db", audit_key_file=tmp_path / "audit.key").audit(
        "boss", "unmask", "x", "全县", "核实群众投诉")
    assert cli("audit", "--verify").returncode == 0
    _rebuild_chain_without_key(tmp_path / "data" / "auth" / "users.db")
    assert cli("audit", "--verify").returncode == 4


def test_a_store_from_before_the_key_is_sealed_and_still_verifies(tmp_path):
    """Entries written before this version (plain SHA-256) stay verifiable; the first keyed entry seals them."""
    store = _store(tmp_path)
    store.audit("t", "user_add", "a")
    store.audit("t", "login", "a")
    # make it look like an old store: unkeyed hashes, no mark, no key file
    con = sqlite3.connect(store.path)
    con.execute("DROP TRIGGER audit_no_update")
    prev = "0" * 64
    for seq, at, actor, action, target, detail, reason in con.execute(
            "SELECT seq, at, actor, action, target, detail, reason FROM audit ORDER BY seq").fetchall():
        h = users.entry_hash(prev, seq, at, actor, action, target, detail, reason)
        con.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
        prev = h
    con.execute("DELETE FROM meta")
    con.commit()
    con.close()
    store.audit_key_file.unlink()
    old = _store(tmp_path)
    old.audit("t", "logout", "a")
    assert old.verify_audit()[0]
    assert [e["action"] for e in reversed(old.audit_entries())] == ["user_add", "login", "audit_key", "logout"]


def test_a_lost_key_stops_the_log_rather_than_starting_a_new_chain(tmp_path):
    store = _store(tmp_path)
    store.audit("t", "login", "a")
    store.audit_key_file.unlink()
    again = _store(tmp_path)
    assert not again.verify_audit()[0]
    with pytest.raises(StoreError, match="审计密钥"):
        again.audit("t", "login", "b")


# ------------------------------------------------------------------------------------------------- audit flood, forged lines
def test_a_locked_name_or_address_cannot_flood_the_audit_log(tmp_path):
    store = _store(tmp_path, max_failures=3, client_max_failures=5)
    for _ in range(60):
        store.authenticate("boss", "wrong-password")
    actions = [e["action"] for e in store.audit_entries(None)]
    assert sorted(actions) == ["login_failed"] * 3 + ["login_locked"], actions  # 3 checked, 1 "locked" note
    n = len(store.audit_entries(None))
    for i in range(60):
        store.authenticate(f"name{i}", "wrong-password", client="203.0.113.9")
    assert len(store.audit_entries(None)) - n <= 5 + 1
    n = len(store.audit_entries(None))
    for i in range(60):
        store.check_token(f"gwd_forged{i}", client="203.0.113.10")
    assert len(store.audit_entries(None)) - n <= 5 + 1


def test_an_invalid_display_cookie_is_audited_once_per_session(app_config):  # noqa: F811
    add_users(app_config)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["display_token"] = "gwd_not-a-token"
    at.run()
    n = len(auth.store().audit_entries(None, action="login_failed"))
    for _ in range(3):
        at.query_params["display_token"] = "gwd_not-a-token"  # the same bad token again and again
        at.run()
    assert len(auth.store().audit_entries(None, action="login_failed")) == n


def test_a_newline_in_a_user_name_cannot_forge_an_audit_line(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path}"\nwarehouse_dir = "{tmp_path}/wh"\n', encoding="utf-8")
    store = UserStore(tmp_path / "auth" / "users.db")  # its key file: tmp_path/audit.key, as the config's
    forged = "x\n9999\t2026-01-01 00:00:00\tadmin\tunmask\tall\t全县\t核实\u2028y"
    assert store.authenticate(forged, "whatever-pw").status == "bad"
    for bad in ("ab\ncd", "ab\tcd", "ab\u200bcd", "ab\u202ecd", "boss\x00"):
        with pytest.raises(StoreError):
            store.add_user(bad, "县领导", password=RIGHT, actor="t")
    entry = store.audit_entries(1)[0]
    assert "\n" not in entry["actor"] and "\\n" in entry["actor"] and "\u2028" not in entry["target"]
    r = subprocess.run([sys.executable, "-m", "dashboard", "users", "audit"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, GRIDWATCH_CONFIG=str(cfg)))
    lines = r.stdout.splitlines()
    assert len(lines) == len(store.audit_entries(None)), lines
    assert all(len(line.split("\t")) == 8 for line in lines)  # … reason, client address
    assert not any(line.startswith("9999") for line in lines)


# ------------------------------------------------------------------------------------------------- unmask reason
@pytest.mark.parametrize("reason", ["\u200b\u200b\u200b\u200b\u200b", "\u200b \u200c\u200d\ufeff\u2060 ",
                                    "a\u200bb\u200b\u200b\u200b", "\u3000\u3000\u3000\u3000", "....!!!!"])
def test_reasons_of_invisible_characters_are_no_reasons(reason):
    assert users.reason_chars(reason) < users.MIN_REASON_CHARS
    assert "\u200b" not in users.clean_reason(reason)


def test_a_real_reason_is_kept_clean():
    assert users.clean_reason(" 核实\u200b群众\n来电 ") == "核实群众 来电"
    assert users.reason_chars("核实群众来电") >= users.MIN_REASON_CHARS


def test_unmask_with_a_zero_width_reason_is_refused_in_the_app(app_config):  # noqa: F811
    add_users(app_config)
    at = AppTest.from_file(APP, default_timeout=90).run()
    login(at, "admin")
    at.switch_page(str(ROOT / "pages" / "events.py"))
    at.query_params["p"] = "2024-03"
    at.query_params["k"] = "month"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    reason_box = next(t for t in at.text_input if str(t.key).endswith("-unmask-reason"))
    reason_box.input("\u200b\u200b\u200b\u200b\u200b\u200b")
    next(b for b in at.button if b.label == "查看此条完整信息").click()
    at.run()
    assert any("请填写查看理由" in e.value for e in at.error)
    assert auth.store().audit_entries(None, action="unmask") == []
    # and the data layer refuses it too, whoever calls it
    with pytest.raises(Exception, match="reason"):
        auth.audit("unmask", "x", "y", "\u200b" * 8)


# ------------------------------------------------------------------------------------------------- clear_cache
def test_clear_cache_message_is_refused_unless_an_admin_sent_it(app_config):  # noqa: F811
    import streamlit as st
    from streamlit.runtime.app_session import AppSession

    from dashboard import server_hardening

    add_users(app_config)
    server_hardening.install()
    calls: list[int] = []

    @st.cache_data
    def cached(x: int) -> int:
        calls.append(x)
        return x

    cached(1), cached(1)
    assert calls == [1]
    cleared: list[bool] = []
    session = types.SimpleNamespace(id="sess-anon", _session_state=types.SimpleNamespace(
        clear=lambda: cleared.append(True)))
    AppSession._handle_clear_cache_request(session)  # an anonymous session's clear_cache message
    cached(1)
    assert calls == [1] and not cleared
    t = time.time()
    auth._SESSIONS["h-leader"] = auth._Session("sess-anon", "user", "leader", "password", t, t)
    AppSession._handle_clear_cache_request(session)  # a logged-in 县领导: still no
    cached(1)
    assert calls == [1]
    auth._SESSIONS["h-leader"] = auth._Session("sess-anon", "user", "admin", "password", t, t)
    AppSession._handle_clear_cache_request(session)  # a logged-in 县级管理员 may
    cached(1)
    assert calls == [1, 1] and cleared
    auth._SESSIONS.pop("h-leader")


# ------------------------------------------------------------------------------------------------- the real server
@pytest.fixture(scope="module")
def county_cfg(tmp_path_factory):
    from support.county import build_sample
    from support.server import write_config

    from core import config

    root = tmp_path_factory.mktemp("security-server")
    cfg = write_config(root)
    s = config.load_settings(cfg)
    build_sample(root, s)
    add_users(s)
    return cfg, UserStore.from_settings(s)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


def _get(url: str, headers: dict | None = None):
    """(status, headers) without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        r = opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30)
        return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


@pytest.fixture(scope="module")
def server(county_cfg):
    from support.server import Server

    srv = Server(county_cfg[0])
    first = _get(srv.url + "/")  # the very first response of the server
    yield srv, county_cfg[1], first
    srv.stop()


def _assert_hardened(h, what) -> None:
    assert h.get("X-Frame-Options") == "DENY", what
    assert "frame-ancestors 'none'" in (h.get("Content-Security-Policy") or ""), what
    assert h.get("X-Content-Type-Options") == "nosniff", what


def test_every_response_forbids_framing_and_sniffing(server):
    srv, _, (status, first) = server
    assert status == 200
    _assert_hardened(first, "first response")
    for path in ("/", "/wall", "/_stcore/health", "/_stcore/host-config", "/app/static/nothing-here.json",
                 "/no/such/page", "/_stcore/metrics"):
        status, h = _get(srv.url + path)
        _assert_hardened(h, path)


def test_metrics_answer_only_the_machine_itself(server):
    srv, _, _ = server
    assert _get(srv.url + "/_stcore/metrics")[0] == 200  # loopback (a local monitoring agent)
    # anyone else (here: through a reverse proxy on this machine, which uvicorn trusts for X-Forwarded-For)
    status, _ = _get(srv.url + "/_stcore/metrics", {"X-Forwarded-For": "203.0.113.5"})
    assert status == 403


def test_display_token_becomes_an_httponly_cookie_and_leaves_the_address(server):
    srv, store, _ = server
    _, token = store.add_token("重定向测试", actor="test")
    status, h = _get(f"{srv.url}/wall?display_token={token}&scale=2")
    assert status == 303 and h.get("Location") == "/wall?scale=2"
    c = h.get("Set-Cookie")
    assert c.startswith(f"gw_display={token};") and "HttpOnly" in c and "SameSite=Strict" in c
    assert f"Max-Age={30 * 86400}" in c and "Secure" not in c  # [auth] display_cookie_days; plain http here
    _, h = _get(f"{srv.url}/wall?display_token={token}", {"X-Forwarded-Proto": "https"})
    assert "Secure" in h.get("Set-Cookie")
    status, h = _get(f"{srv.url}//evil.example/?display_token={token}")  # no open redirect to another host
    assert status == 303 and not h.get("Location").startswith("//")


@pytest.mark.browser
def test_display_token_is_not_in_browser_history_nor_readable_by_scripts(server, browser):
    from support.server import require_chromium

    require_chromium()
    srv, store, _ = server
    _, token = store.add_token("历史测试", actor="test")
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = ctx.new_page()
    page.goto(f"{srv.url}/wall?display_token={token}", wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    page.wait_for_function("() => document.body.innerText.includes('指挥中心')", timeout=60_000)
    assert "display_token" not in page.url and token not in page.url
    assert token not in page.evaluate("document.cookie")
    cookie = next(c for c in ctx.cookies() if c["name"] == "gw_display")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["expires"] - time.time() < 31 * 86400  # not 400 days
    visited = []  # every entry of the tab's history: the token's address is none of them
    for _ in range(page.evaluate("history.length") - 1):
        page.go_back(wait_until="commit", timeout=10_000)
        page.wait_for_timeout(300)
        visited.append(page.url)
    assert visited and not any(token in u for u in visited), visited
    ctx.close()


def _forward_msgs(frames: list[bytes]):
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    for f in frames:
        try:
            yield ForwardMsg.FromString(f)
        except Exception:  # noqa: BLE001 — not a ForwardMsg
            continue


@pytest.mark.browser
def test_a_session_id_reconnected_from_another_client_is_logged_out(county_cfg, browser):
    """Streamlit's session id (sent by a browser when it reconnects) must not work as a bearer token."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState
    from support.logins import browser_login
    from support.server import Server, require_chromium
    from websockets.sync.client import connect

    require_chromium()
    srv = Server(county_cfg[0])
    try:
        ctx = browser.new_context(viewport={"width": 1440, "height": 900})
        page = ctx.new_page()
        frames: list[bytes] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
            f if isinstance(f, bytes) else f.encode())))
        page.goto(srv.url, wait_until="domcontentloaded", timeout=60_000)
        browser_login(page, "admin")
        page.wait_for_selector('button:has-text("退出登录")', timeout=60_000)
        sid = next(m.new_session.initialize.session_id for m in _forward_msgs(frames)
                   if m.HasField("new_session") and m.new_session.initialize.session_id)
        page.close()  # the admin's tab goes away; its session waits on the server for a reconnect
        # someone who learned the session id connects with it, from another client (no cookies)
        got: list[bytes] = []
        port = srv.url.rsplit(":", 1)[1]
        with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit", "x", sid],
                     additional_headers={"Origin": srv.url}, max_size=None, open_timeout=30) as ws:
            ws.send(BackMsg(rerun_script=ClientState(query_string="", page_script_hash="")).SerializeToString())
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    f = ws.recv(timeout=5)
                except TimeoutError:
                    if any(m.HasField("script_finished") for m in _forward_msgs(got)):
                        break
                    continue
                got.append(f if isinstance(f, bytes) else f.encode())
            ws.send(BackMsg(clear_cache=True).SerializeToString())  # and tries to flush everyone's caches
            time.sleep(1)
        assert any(m.HasField("script_finished") for m in _forward_msgs(got))
        # what the script drew for it (new_session only repeats the page titles the session had)
        drawn = b"".join(m.SerializeToString() for m in _forward_msgs(got) if m.HasField("delta"))
        assert "退出登录".encode() not in drawn and "概览".encode() not in drawn
        assert "用户名".encode() in drawn and "会话已在另一客户端上使用".encode() in drawn  # the login screen
        ctx.close()
    finally:
        log = srv.stop()
    assert sid not in log  # session ids are not written to the server's log
    assert "clear_cache refused" in log
    assert [e for e in county_cfg[1].audit_entries(None, action="session_rejected") if e["actor"] == "admin"]


def test_session_ids_are_masked_in_streamlit_log_lines(capsys):
    import logging

    import streamlit.logger as slog

    from dashboard import server_hardening

    server_hardening.install()
    lg = slog.get_logger("streamlit.runtime.websocket_session_manager")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    h = Keep()
    lg.addHandler(h)
    try:
        sid = "0b6f1f0e-3c2a-4f7e-9a41-5d2c8e7b9f10"
        lg.warning("Session with id %s is already connected! Reconnecting to existing session.", sid)
    finally:
        lg.removeHandler(h)
    assert records and sid not in records[0] and "<session>" in records[0]

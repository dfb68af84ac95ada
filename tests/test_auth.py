"""The user store and the login machinery: hashing, lockout, display tokens, the append-only audit log, file
permissions, the CLI; and in the app: the first-start set-up, login, logout, idle expiry, token revocation."""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.logins import PASSWORD, add_users, login

from core import config
from dashboard import auth
from dashboard.users import StoreError, UserStore

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")


@pytest.fixture
def store(tmp_path) -> UserStore:
    return UserStore(tmp_path / "auth" / "users.db", max_failures=3, lockout_minutes=10)


# ------------------------------------------------------------------------------------------------- the store
def test_store_is_created_empty_and_private(store):
    assert store.users() == [] and not store.has_admin()
    mode = stat.S_IMODE(store.path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    con = sqlite3.connect(store.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    for p in store.path.parent.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p


def test_passwords_are_argon2_hashes_never_plain(store):
    store.add_user("boss", "县级管理员", password="a-long-secret-1", actor="t")
    raw = store.path.read_bytes() + (Path(f"{store.path}-wal").read_bytes() if Path(f"{store.path}-wal").exists() else b"")
    assert b"a-long-secret-1" not in raw
    con = sqlite3.connect(store.path)
    h = con.execute("SELECT password_hash FROM users").fetchone()[0]
    con.close()
    assert h.startswith("$argon2id$")
    assert store.authenticate("boss", "a-long-secret-1").status == "ok"
    assert store.authenticate("boss", "a-long-secret-2").status == "bad"


def test_weak_passwords_and_bad_bindings_are_refused(store):
    with pytest.raises(StoreError):
        store.add_user("a1", "县领导", password="short", actor="t")
    with pytest.raises(StoreError):
        store.add_user("a2", "乡镇用户", password="a-long-secret-1", actor="t")  # no 乡镇
    with pytest.raises(StoreError):
        store.add_user("a3", "部门用户", password="a-long-secret-1", actor="t")  # no office
    with pytest.raises(StoreError):
        store.add_user("a4", "超级用户", password="a-long-secret-1", actor="t")
    store.add_user("a5", "leader", password="a-long-secret-1", actor="t")
    with pytest.raises(StoreError):
        store.add_user("a5", "leader", password="a-long-secret-1", actor="t")


def test_lockout_after_repeated_failures_also_for_unknown_names(store):
    store.add_user("boss", "县级管理员", password="a-long-secret-1", actor="t")
    t0 = dt.datetime(2026, 1, 1, 9)
    for _ in range(3):
        assert store.authenticate("boss", "wrong-password", at=t0).status == "bad"
    # locked: even the right password is not checked
    res = store.authenticate("boss", "a-long-secret-1", at=t0 + dt.timedelta(minutes=5))
    assert res.status == "locked" and 4 < res.locked_minutes <= 5
    assert store.authenticate("boss", "a-long-secret-1", at=t0 + dt.timedelta(minutes=11)).status == "ok"
    # an unknown name behaves the same (a lockout does not tell which names exist)
    for _ in range(3):
        assert store.authenticate("nobody", "x", at=t0).status == "bad"
    assert store.authenticate("nobody", "x", at=t0).status == "locked"
    # reset clears the lock
    for _ in range(3):
        store.authenticate("boss", "wrong-password", at=t0)
    store.set_password("boss", "a-new-secret-22", actor="t")
    assert store.authenticate("boss", "a-new-secret-22", at=t0).status == "ok"


def test_disabled_user_cannot_log_in(store):
    store.add_user("boss", "县级管理员", password="a-long-secret-1", actor="t")
    store.set_disabled("boss", True, actor="t")
    assert store.authenticate("boss", "a-long-secret-1").status == "bad"
    assert not store.has_admin()
    store.set_disabled("boss", False, actor="t")
    assert store.authenticate("boss", "a-long-secret-1").status == "ok"


def test_first_admin_only_once(store):
    store.add_user("first", "县级管理员", password="a-long-secret-1", actor="first", first_admin=True)
    with pytest.raises(StoreError):
        store.add_user("second", "县级管理员", password="a-long-secret-1", actor="second", first_admin=True)


def test_display_tokens_hashed_listed_revocable(store):
    rec, token = store.add_token("指挥中心大屏", actor="t")
    assert token.startswith("gwd_") and len(token) > 40
    assert token.encode() not in store.path.read_bytes()
    assert store.check_token(token).token_id == rec.token_id
    assert store.check_token(token + "x") is None
    assert [t.token_id for t in store.tokens()] == [rec.token_id]
    store.revoke_token(rec.token_id, actor="t")
    assert store.check_token(token) is None
    with pytest.raises(StoreError):
        store.revoke_token(rec.token_id, actor="t")


def test_audit_log_is_append_only_and_chained(store):
    store.add_user("boss", "县级管理员", password="a-long-secret-1", actor="t")
    store.authenticate("boss", "wrong-password")
    store.authenticate("boss", "a-long-secret-1")
    store.audit("boss", "unmask", "events/list · event_id=E1", "全县", "核实群众投诉")
    actions = [e["action"] for e in reversed(store.audit_entries())]
    assert actions == ["user_add", "login_failed", "login", "unmask"]
    assert store.verify_audit()[0]
    con = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET reason = '' WHERE action = 'unmask'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM audit")
    # someone drops the triggers and edits an entry: the hash chain shows it
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit SET reason = '随便看看' WHERE action = 'unmask'")
    con.commit()
    con.close()
    ok, broken, _ = store.verify_audit()
    assert not ok and broken == 4


def test_cli_users_and_tokens(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path}"\nwarehouse_dir = "{tmp_path}/wh"\n', encoding="utf-8")
    env = dict(os.environ, GRIDWATCH_CONFIG=str(cfg))

    def cli(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "dashboard", "users", *args], cwd=ROOT, env=env,
                              input=stdin, capture_output=True, text=True, timeout=60)

    r = cli("add", "boss", "--role", "县级管理员", "--password-stdin", stdin="a-long-secret-1\n")
    assert r.returncode == 0, r.stderr
    assert "a-long-secret-1" not in r.stdout + r.stderr
    r = cli("add", "hr", "--role", "township", "--township", "510799002", "--password-stdin", stdin="a-long-secret-2\n")
    assert r.returncode == 0, r.stderr
    assert cli("add", "weak", "--role", "leader", "--password-stdin", stdin="short\n").returncode == 2
    assert cli("disable", "hr").returncode == 0
    out = cli("list").stdout
    assert "boss\t县级管理员" in out and "hr\t乡镇用户\t510799002" in out and "停用" in out
    assert cli("enable", "hr").returncode == 0
    assert cli("reset", "hr", "--password-stdin", stdin="a-long-secret-3\n").returncode == 0
    r = cli("token-add", "--name", "大屏一")
    token = next(w for w in r.stdout.split() if w.startswith("gwd_"))
    tid = r.stdout.split()[1]
    assert tid in cli("token-list").stdout
    assert cli("token-revoke", tid).returncode == 0
    s = config.load_settings(cfg)
    assert UserStore.from_settings(s).check_token(token) is None
    audit = cli("audit", "--limit", "100").stdout
    for action in ("user_add", "user_disable", "user_enable", "user_reset", "token_add", "token_revoke"):
        assert action in audit
    assert cli("audit", "--verify").returncode == 0
    assert UserStore.from_settings(s).authenticate("hr", "a-long-secret-3").status == "ok"


# ------------------------------------------------------------------------------------------------- in the app
@pytest.fixture
def app_config(tmp_path):
    """A fresh temporary configuration (empty user store; [auth] max_failures 3, idle 5 min) on the sample county."""
    old = os.environ.get(config.ENV_VAR)
    from support.county import build_sample

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path}"\ndrop_dir = "{tmp_path}/drop"\nlake_dir = "{tmp_path}/lake"\n'
                   f'warehouse_dir = "{tmp_path}/wh"\n[demo]\nauto = false\n[auth]\nmax_failures = 3\n'
                   f'idle_minutes = 5\n', encoding="utf-8")
    os.environ[config.ENV_VAR] = str(cfg)
    config.settings.cache_clear()
    build_sample(tmp_path, config.settings())
    yield config.settings()
    if old:
        os.environ[config.ENV_VAR] = old
    else:
        os.environ.pop(config.ENV_VAR, None)
    config.settings.cache_clear()


def _titles(at) -> list[str]:
    return [t.value for t in at.title]


def test_first_start_setup_then_login_logout(app_config):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert any("首次设置" in t for t in _titles(at))
    at.text_input(key="setup_user").input("chief")
    at.text_input(key="setup_password").input("first-admin-pw-1")
    at.text_input(key="setup_password2").input("first-admin-pw-1")
    next(b for b in at.button if b.label == "创建并登录").click()
    at.run()
    assert not at.exception and any("概览" in t for t in _titles(at))
    # a second visitor no longer gets the set-up form
    at2 = AppTest.from_file(APP, default_timeout=60).run()
    assert not any("首次设置" in t for t in _titles(at2)) and at2.text_input(key="login_user")
    # logout
    at.button(key="logout").click()
    at.run()
    assert at.text_input(key="login_user") and not any("概览" in t for t in _titles(at))
    actions = [e["action"] for e in auth.store().audit_entries()]
    assert {"user_add", "login", "logout"} <= set(actions)


def test_wrong_password_then_lockout_in_the_app(app_config):
    add_users(app_config)
    at = AppTest.from_file(APP, default_timeout=60).run()
    for _ in range(3):
        login(at, "admin", "wrong-password-1")
        assert any("用户名或密码错误" in e.value for e in at.error)
    login(at, "admin", PASSWORD)
    assert any("已临时锁定" in e.value for e in at.error)
    assert not any("概览" in t for t in _titles(at))
    # an unknown user name gets the same message as a wrong password
    at = AppTest.from_file(APP, default_timeout=60).run()
    login(at, "nosuchuser", PASSWORD)
    assert any("用户名或密码错误" in e.value for e in at.error)


def test_idle_session_expires(app_config):
    add_users(app_config)
    at = AppTest.from_file(APP, default_timeout=60).run()
    login(at, "admin")
    assert any("概览" in t for t in _titles(at))
    auth.expire_now_for_tests(at.session_state[auth.SESSION_KEY], 6 * 60)
    at.run()
    assert at.text_input(key="login_user")
    assert any("会话已过期" in i.value for i in at.info)
    assert "session_expired" in [e["action"] for e in auth.store().audit_entries()]


def test_disabling_a_user_ends_its_session(app_config):
    st_ = add_users(app_config)
    at = AppTest.from_file(APP, default_timeout=60).run()
    login(at, "leader")
    assert any("概览" in t for t in _titles(at))
    st_.set_disabled("leader", True, actor="test")
    at.run()
    assert at.text_input(key="login_user") and not any("概览" in t for t in _titles(at))


def test_session_state_tampering_does_not_log_in(app_config):
    add_users(app_config)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.session_state[auth.SESSION_KEY] = "forged-handle"
    at.session_state["role"] = "县级管理员"
    at.session_state["user"] = "admin"
    at.run()
    assert at.text_input(key="login_user") and not any("概览" in t for t in _titles(at))


def test_display_token_opens_only_the_wall_and_revocation_ends_it(app_config):
    st_ = add_users(app_config)
    rec, token = st_.add_token("大屏", actor="test")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["display_token"] = token
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("指挥中心" in m.value for m in at.markdown)
    assert "display_token" not in at.query_params  # taken out of the address bar at once
    # the display cannot reach any other page
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(str(ROOT / "pages" / "activity.py"))
    # revoked: the next refresh shows the login screen
    st_.revoke_token(rec.token_id, actor="test")
    at.run()
    assert at.text_input(key="login_user")
    assert not any("指挥中心网格" in m.value for m in at.markdown)
    # a wrong or revoked token does not log in
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["display_token"] = token
    at.run()
    assert at.text_input(key="login_user")


def test_oidc_button_only_when_configured(app_config, tmp_path):
    add_users(app_config)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not [b for b in at.button if "统一身份认证" in b.label]
    cfg = Path(os.environ[config.ENV_VAR])
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("[auth]\n", "[auth]\noidc = true\n"), encoding="utf-8")
    config.settings.cache_clear()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [b for b in at.button if b.label == "使用统一身份认证登录"]
    assert at.text_input(key="login_user")  # password login stays available

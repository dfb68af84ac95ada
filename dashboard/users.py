"""The user store: users and their roles, wall-display tokens, login throttling and the audit log.

One SQLite file (stdlib sqlite3, WAL mode, chmod 600 in a chmod 700 folder; default `{data_dir}/auth/users.db`),
created empty: there is no built-in account and no password in the repository. The first 县级管理员 is created at
first start (the app's one-time setup form, `[auth] web_setup`) or with `python -m dashboard users add`.

- Passwords are hashed with Argon2id (argon2-cffi, its default parameters, rehashed when those change).
- Failed logins are counted per user name, known or not (so a lockout does not tell which names exist); after
  `max_failures` in a row the name is locked for `lockout_minutes`.
- Display tokens (大屏) are long random strings shown once; the store keeps their SHA-256 only. They are listed,
  revocable, and open nothing but the wall display.
- The audit log is append-only: SQLite triggers reject UPDATE and DELETE, and every entry carries the SHA-256 of
  the previous entry and of itself (a hash chain), so an edit made behind SQLite's back (or with the triggers
  dropped) is found by `verify_audit()` / `python -m dashboard users audit --verify`.

This module has no Streamlit in it: the CLI and the tests use it directly.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ADMIN, LEADER, TOWNSHIP, DEPARTMENT, DISPLAY = "县级管理员", "县领导", "乡镇用户", "部门用户", "大屏"
ROLES = (ADMIN, LEADER, TOWNSHIP, DEPARTMENT)
ROLE_ALIASES = {"admin": ADMIN, "leader": LEADER, "township": TOWNSHIP, "department": DEPARTMENT, "dept": DEPARTMENT}
OFFICE_KINDS = ("派出所", "司法所", "卫生院")
USERNAME_RE = re.compile(r"^[\w.@\-]{2,64}$")
GENESIS = "0" * 64

_PH = PasswordHasher()
_DUMMY_HASH = _PH.hash(secrets.token_urlsafe(16))  # verified against when the user is unknown: same timing

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username      TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('县级管理员', '县领导', '乡镇用户', '部门用户')),
    township_code TEXT,
    township_name TEXT,
    office_name   TEXT,
    password_hash TEXT,            -- NULL: no password login (an OIDC-only user)
    oidc          INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    last_login_at TEXT,
    CHECK (role <> '乡镇用户' OR township_code IS NOT NULL),
    CHECK (role <> '部门用户' OR office_name IS NOT NULL)
);
CREATE TABLE IF NOT EXISTS login_throttle (
    username     TEXT PRIMARY KEY,  -- lower-cased, known or not
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT
);
CREATE TABLE IF NOT EXISTS display_tokens (
    token_id     TEXT PRIMARY KEY,  -- short public id, shown in lists and the audit log
    name         TEXT NOT NULL,     -- where the screen is ("指挥中心大屏")
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT '',
    reason    TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"""


class StoreError(ValueError):
    """A request the store refuses (unknown user, bad role binding, weak password …): the message is for people."""


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: str
    township_code: str | None
    township_name: str | None
    office_name: str | None
    has_password: bool
    oidc: bool
    disabled: bool
    created_at: str
    last_login_at: str | None


@dataclass(frozen=True)
class Token:
    token_id: str
    name: str
    created_at: str
    created_by: str
    revoked_at: str | None
    last_used_at: str | None


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    status: str  # ok | bad | locked
    locked_minutes: float = 0


def now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _iso(t: dt.datetime) -> str:
    return t.isoformat(sep=" ")


def canonical_role(role: str) -> str:
    r = ROLE_ALIASES.get(role.strip().lower(), role.strip())
    if r not in ROLES:
        raise StoreError(f"未知角色 {role!r}: 可选 {'、'.join(ROLES)} (或 admin / leader / township / department)")
    return r


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, target: str, detail: str,
               reason: str) -> str:
    body = json.dumps([prev_hash, seq, at, actor, action, target, detail, reason], ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class UserStore:
    def __init__(self, path: str | os.PathLike, *, max_failures: int = 5, lockout_minutes: float = 15,
                 min_password_length: int = 10):
        self.path = Path(path)
        self.max_failures = max_failures
        self.lockout = dt.timedelta(minutes=lockout_minutes)
        self.min_password_length = min_password_length
        self._ready = False
        self._local = threading.local()

    @classmethod
    def from_settings(cls, s) -> "UserStore":
        a = s.auth
        return cls(a.store, max_failures=a.max_failures, lockout_minutes=a.lockout_minutes,
                   min_password_length=a.min_password_length)

    # ------------------------------------------------------------------------------------------ connection
    def _prepare(self) -> None:
        """Folder 0700, file 0600 before SQLite ever opens it (so no moment exists where others could read)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            with contextlib.suppress(FileNotFoundError):
                if p.stat().st_mode & 0o077:
                    p.chmod(0o600)

    @contextlib.contextmanager
    def _db(self, write: bool = False):
        old = os.umask(0o077)  # the -wal and -shm files SQLite creates are private too
        try:
            if not self._ready:
                self._prepare()
            con = sqlite3.connect(self.path, timeout=15, isolation_level=None)
        finally:
            os.umask(old)
        try:
            con.row_factory = sqlite3.Row
            if not self._ready:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(SCHEMA)
                self._prepare()
                self._ready = True
            con.execute("PRAGMA busy_timeout=15000")
            if write:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            else:
                yield con
        finally:
            con.close()

    def _reader(self) -> sqlite3.Connection:
        """A read connection kept per thread. The app checks the caller against the store before every query
        (a session, a token may have been revoked a moment ago); opening SQLite each time was a quarter of the
        wall's server time under load. Autocommit reads see every committed change, so the check stays exact.
        Streamlit runs each script run in its own thread: the connection lives as long as the run."""
        con = getattr(self._local, "con", None)
        if con is None:
            with self._db():  # creates the store and its schema (private file modes) on first use
                pass
            old = os.umask(0o077)
            try:
                con = sqlite3.connect(self.path, timeout=15, isolation_level=None)
            finally:
                os.umask(old)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA busy_timeout=15000")
            self._local.con = con
        return con

    # ------------------------------------------------------------------------------------------ audit
    def _audit(self, con: sqlite3.Connection, actor: str, action: str, target: str = "", detail: str = "",
               reason: str = "") -> None:
        last = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
        at = _iso(now())
        h = entry_hash(prev, seq, at, actor, action, target, detail, reason)
        con.execute("INSERT INTO audit (seq, at, actor, action, target, detail, reason, prev_hash, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (seq, at, actor, action, target, detail, reason, prev, h))

    def audit(self, actor: str, action: str, target: str = "", detail: str = "", reason: str = "") -> None:
        """Append one entry (who, what, on what, details, why); the time is the server's."""
        with self._db(write=True) as con:
            self._audit(con, actor, action, target, detail, reason)

    def audit_entries(self, limit: int | None = 500, *, action: str | None = None,
                      actor: str | None = None) -> list[dict]:
        sql = "SELECT seq, at, actor, action, target, detail, reason FROM audit WHERE 1=1"
        args: list = []
        if action:
            sql += " AND action = ?"
            args.append(action)
        if actor:
            sql += " AND actor = ?"
            args.append(actor)
        sql += " ORDER BY seq DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        with self._db() as con:
            return [dict(r) for r in con.execute(sql, args)]

    def verify_audit(self) -> tuple[bool, int | None, str]:
        """(intact, first broken seq or None, hash of the last entry): recomputes the whole chain."""
        prev, expected_seq = GENESIS, 1
        with self._db() as con:
            for r in con.execute("SELECT * FROM audit ORDER BY seq"):
                ok = (r["seq"] == expected_seq and r["prev_hash"] == prev and r["hash"] == entry_hash(
                    prev, r["seq"], r["at"], r["actor"], r["action"], r["target"], r["detail"], r["reason"]))
                if not ok:
                    return False, r["seq"], prev
                prev, expected_seq = r["hash"], expected_seq + 1
        return True, None, prev

    # ------------------------------------------------------------------------------------------ users
    @staticmethod
    def _user(r: sqlite3.Row | None) -> User | None:
        if r is None:
            return None
        return User(username=r["username"], display_name=r["display_name"], role=r["role"],
                    township_code=r["township_code"], township_name=r["township_name"],
                    office_name=r["office_name"], has_password=r["password_hash"] is not None,
                    oidc=bool(r["oidc"]), disabled=bool(r["disabled"]), created_at=r["created_at"],
                    last_login_at=r["last_login_at"])

    def check_password(self, password: str) -> None:
        if len(password) < self.min_password_length:
            raise StoreError(f"密码至少 {self.min_password_length} 位")
        if len(set(password)) < 4:
            raise StoreError("密码过于简单")

    def get_user(self, username: str) -> User | None:
        con = self._reader()
        return self._user(con.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone())

    def users(self) -> list[User]:
        with self._db() as con:
            return [self._user(r) for r in con.execute("SELECT * FROM users ORDER BY role, username")]

    def has_admin(self) -> bool:
        with self._db() as con:
            return con.execute("SELECT count(*) FROM users WHERE role = ? AND disabled = 0", (ADMIN,)).fetchone()[0] > 0

    def add_user(self, username: str, role: str, *, password: str | None = None, actor: str,
                 display_name: str | None = None, township_code: str | None = None,
                 township_name: str | None = None, office_name: str | None = None, oidc: bool = False,
                 first_admin: bool = False) -> User:
        """Add a user. With first_admin=True the insert only happens while the store has no 县级管理员 (the one-time
        setup form: two visitors racing cannot both become administrator)."""
        username = username.strip()
        if not USERNAME_RE.match(username):
            raise StoreError("用户名为 2–64 位字母、数字、汉字或 . @ - _")
        role = canonical_role(role)
        if password is None and not oidc:
            raise StoreError("需要密码 (或 --oidc: 只通过统一身份认证登录)")
        if password is not None:
            self.check_password(password)
        if role == TOWNSHIP and not township_code:
            raise StoreError("乡镇用户必须绑定一个乡镇")
        if role == DEPARTMENT and not office_name:
            raise StoreError("部门用户必须绑定一个派出所、司法所或卫生院")
        if role != TOWNSHIP:
            township_code = township_name = None
        if role != DEPARTMENT:
            office_name = None
        pw_hash = _PH.hash(password) if password is not None else None
        t = _iso(now())
        with self._db(write=True) as con:
            if first_admin and con.execute("SELECT count(*) FROM users WHERE role = ? AND disabled = 0",
                                           (ADMIN,)).fetchone()[0]:
                raise StoreError("已经有县级管理员: 请登录")
            try:
                con.execute("INSERT INTO users (username, display_name, role, township_code, township_name, "
                            "office_name, password_hash, oidc, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                            (username, display_name or username, role, township_code, township_name, office_name,
                             pw_hash, int(oidc), t, t))
            except sqlite3.IntegrityError:
                raise StoreError(f"用户 {username} 已存在") from None
            scope = township_name or township_code or office_name or "全县"
            self._audit(con, actor, "user_add", username, f"{role} · {scope}" + (" · OIDC" if oidc else ""))
            return self._user(con.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone())

    def set_password(self, username: str, password: str, *, actor: str) -> None:
        self.check_password(password)
        h = _PH.hash(password)
        with self._db(write=True) as con:
            if not con.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?",
                               (h, _iso(now()), username)).rowcount:
                raise StoreError(f"没有用户 {username}")
            con.execute("DELETE FROM login_throttle WHERE username = ?", (username.lower(),))
            self._audit(con, actor, "user_reset", username, "密码已重置, 锁定已解除")

    def set_disabled(self, username: str, disabled: bool, *, actor: str) -> None:
        with self._db(write=True) as con:
            if not con.execute("UPDATE users SET disabled = ?, updated_at = ? WHERE username = ?",
                               (int(disabled), _iso(now()), username)).rowcount:
                raise StoreError(f"没有用户 {username}")
            if not disabled:
                con.execute("DELETE FROM login_throttle WHERE username = ?", (username.lower(),))
            self._audit(con, actor, "user_disable" if disabled else "user_enable", username)

    # ------------------------------------------------------------------------------------------ login
    def authenticate(self, username: str, password: str, *, at: dt.datetime | None = None) -> LoginResult:
        """Check a password login; counts failures, locks, and writes login / login_failed / login_locked."""
        t = at or now()
        name = (username or "").strip()[:64]
        key = name.lower()
        with self._db() as con:
            row = con.execute("SELECT * FROM users WHERE username = ?", (name,)).fetchone()
            thr = con.execute("SELECT * FROM login_throttle WHERE username = ?", (key,)).fetchone()
        locked_until = dt.datetime.fromisoformat(thr["locked_until"]) if thr and thr["locked_until"] else None
        if locked_until and locked_until > t:
            self.audit(name or "-", "login_locked", name, "用户名已临时锁定, 未检查密码")
            return LoginResult(None, "locked", (locked_until - t).total_seconds() / 60)
        stored = row["password_hash"] if row is not None else None
        try:
            ok = _PH.verify(stored or _DUMMY_HASH, password or "") and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if ok and not row["disabled"]:
            with self._db(write=True) as con:
                con.execute("DELETE FROM login_throttle WHERE username = ?", (key,))
                upd = (_PH.hash(password),) if _PH.check_needs_rehash(stored) else None
                if upd:
                    con.execute("UPDATE users SET password_hash = ? WHERE username = ?", (upd[0], name))
                con.execute("UPDATE users SET last_login_at = ? WHERE username = ?", (_iso(t), name))
                self._audit(con, name, "login", name, "密码")
                return LoginResult(self._user(con.execute("SELECT * FROM users WHERE username = ?",
                                                          (name,)).fetchone()), "ok")
        why = "用户不存在" if row is None else ("账号已停用" if row["disabled"] else "密码错误")
        with self._db(write=True) as con:
            thr = con.execute("SELECT failures FROM login_throttle WHERE username = ?", (key,)).fetchone()
            failures = (thr["failures"] if thr else 0) + 1
            if failures >= self.max_failures:
                until = t + self.lockout
                con.execute("INSERT OR REPLACE INTO login_throttle VALUES (?, 0, ?)", (key, _iso(until)))
                self._audit(con, name or "-", "login_failed", name,
                            f"{why}; 连续失败 {failures} 次, 锁定至 {until:%H:%M}")
            else:
                con.execute("INSERT OR REPLACE INTO login_throttle VALUES (?, ?, NULL)", (key, failures))
                self._audit(con, name or "-", "login_failed", name, f"{why}; 连续失败 {failures} 次")
        return LoginResult(None, "bad")

    # ------------------------------------------------------------------------------------------ display tokens
    def add_token(self, name: str, *, actor: str) -> tuple[Token, str]:
        """A new display token: (its record, the token itself — shown once, never stored)."""
        token = "gwd_" + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(4)
        t = _iso(now())
        with self._db(write=True) as con:
            con.execute("INSERT INTO display_tokens (token_id, name, token_sha256, created_at, created_by) "
                        "VALUES (?,?,?,?,?)", (token_id, name.strip() or "大屏", token_hash(token), t, actor))
            self._audit(con, actor, "token_add", token_id, name)
        return self.token(token_id), token

    def token(self, token_id: str) -> Token | None:
        r = self._reader().execute("SELECT * FROM display_tokens WHERE token_id = ?", (token_id,)).fetchone()
        return None if r is None else Token(r["token_id"], r["name"], r["created_at"], r["created_by"],
                                            r["revoked_at"], r["last_used_at"])

    def tokens(self) -> list[Token]:
        with self._db() as con:
            rows = con.execute("SELECT * FROM display_tokens ORDER BY created_at").fetchall()
        return [Token(r["token_id"], r["name"], r["created_at"], r["created_by"], r["revoked_at"],
                      r["last_used_at"]) for r in rows]

    def revoke_token(self, token_id: str, *, actor: str) -> None:
        with self._db(write=True) as con:
            if not con.execute("UPDATE display_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                               (_iso(now()), token_id)).rowcount:
                raise StoreError(f"没有有效的大屏令牌 {token_id}")
            self._audit(con, actor, "token_revoke", token_id)

    def check_token(self, token: str, *, audit: bool = True) -> Token | None:
        """The valid (not revoked) token record for `token`, else None."""
        if not token or len(token) > 200:
            return None
        h = token_hash(token.strip())
        with self._db() as con:
            r = con.execute("SELECT * FROM display_tokens WHERE token_sha256 = ?", (h,)).fetchone()
        if r is None or not hmac.compare_digest(r["token_sha256"], h) or r["revoked_at"]:
            if audit:
                self.audit("-", "login_failed", "大屏", "无效或已吊销的大屏令牌"
                           + (f" {r['token_id']}" if r is not None else ""))
            return None
        with self._db(write=True) as con:
            con.execute("UPDATE display_tokens SET last_used_at = ? WHERE token_id = ?", (_iso(now()), r["token_id"]))
            if audit:
                self._audit(con, f"大屏:{r['token_id']}", "login", r["token_id"], f"大屏令牌 · {r['name']}")
        return self.token(r["token_id"])

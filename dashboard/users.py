"""The user store: users and their roles, wall-display tokens, login throttling and the audit log.

One SQLite file (stdlib sqlite3, WAL mode, chmod 600 in a chmod 700 folder; default `{data_dir}/auth/users.db`),
created empty: there is no built-in account and no password in the repository. The first 县级管理员 is created at
first start (the app's one-time setup form, `[auth] web_setup`) or with `python -m dashboard users add`.

- Passwords are hashed with Argon2id (argon2-cffi, its default parameters, rehashed when those change).
- Failed logins are counted per user name, known or not (so a lockout does not tell which names exist), and per
  client address; after `max_failures` in a row the name (after `client_max_failures` the address) is locked for
  `lockout_minutes`. An attempt is reserved before its password is checked (one transaction: check the lock and
  count the attempt), so parallel attempts cannot check more passwords than the limit allows; a failure never
  clears a lock, a success clears only the failures of its own name.
- Set-up (the first 县级管理员 from the web form) happens once per store: the store remembers it, and afterwards
  only the CLI creates administrators.
- Display tokens (大屏) are long random strings shown once; the store keeps their SHA-256 only. They are listed,
  revocable, and open nothing but the wall display.
- Login sessions (the browser's HttpOnly `gw_session` cookie, dashboard/server_hardening.py) are rows of `sessions`
  keyed by the SHA-256 of the cookie's random token (the token itself is never stored): a login survives reloads,
  new tabs and a server restart, and ends at logout, after `idle_minutes` without activity, after
  `max_session_hours`, or when the user is disabled or their password reset.
- The audit log is append-only: SQLite triggers reject UPDATE and DELETE, and every entry carries an HMAC-SHA256
  (keyed with a secret kept outside the store, the audit key file) over the previous entry's hash and itself (a
  keyed hash chain), so an edit made behind SQLite's back — even a chain rebuilt by someone who can write the
  store but not read the key — is found by `verify_audit()` / `python -m dashboard users audit --verify`. Control
  characters in anything written to it are escaped, so no entry can forge a line of another.

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
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.spec import DEPT_ROLES

ADMIN, LEADER, TOWNSHIP, DEPARTMENT, DISPLAY = "县级管理员", "县领导", "乡镇用户", "部门用户", "大屏"
# a city deployment: a 县级管理员 / 县领导 with no county sees the whole city and is shown as 市级管理员 / 市领导
CITY_ADMIN, CITY_LEADER = "市级管理员", "市领导"


def role_label(role: str, county_code: str | None, city: bool) -> str:
    """The role as a person is told it: 市级管理员 / 市领导 for a county role with no county in a city deployment."""
    if city and role in (ADMIN, LEADER) and county_code is None:
        return CITY_ADMIN if role == ADMIN else CITY_LEADER
    return role


def scope_label(township: str | None, office: str | None, county_name: str | None, county_code: str | None,
                city: bool) -> str:
    """What a user record sees, as a person is told it: its 乡镇, office or county, else 全市 / 全县."""
    return township or office or county_name or county_code or ("全市" if city else "全县")


ROLES = (ADMIN, LEADER, TOWNSHIP, DEPARTMENT)
ROLE_ALIASES = {"admin": ADMIN, "leader": LEADER, "township": TOWNSHIP, "department": DEPARTMENT, "dept": DEPARTMENT}
OFFICE_KINDS = DEPT_ROLES  # core.spec: the one source of the office kinds
USERNAME_RE = re.compile(r"[\w.@\-]{2,64}")  # used with fullmatch: no control characters, no trailing newline
GENESIS = "0" * 64
MIN_REASON_CHARS = 4  # an unmask / full-export reason needs this many letters or digits (after normalising)
PENDING_STALE_SECONDS = 60  # a reserved login attempt that never finished (a crashed process) stops counting
COMMON_PASSWORDS = frozenset(
    w.strip().lower() for w in (Path(__file__).with_name("common_passwords.txt")).read_text("utf-8").splitlines()
    if w.strip() and not w.startswith("#"))

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
    county_code   TEXT,            -- a city deployment: the user's county (NULL = the whole city / a county build)
    county_name   TEXT,
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
    failures     INTEGER NOT NULL DEFAULT 0,  -- failed attempts in a row
    locked_until TEXT,
    pending      INTEGER NOT NULL DEFAULT 0,  -- attempts whose password is being checked right now
    pending_since TEXT,
    refused      INTEGER NOT NULL DEFAULT 0   -- attempts the current lock refused
);
CREATE TABLE IF NOT EXISTS client_throttle (
    username     TEXT PRIMARY KEY,  -- the client address (same columns as login_throttle)
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    pending      INTEGER NOT NULL DEFAULT 0,
    pending_since TEXT,
    refused      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,         -- setup_done: the first administrator exists (web set-up never again)
    value TEXT NOT NULL             -- audit_legacy_upto: entries up to this seq predate the audit key
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
    hash      TEXT NOT NULL,
    client    TEXT NOT NULL DEFAULT ''  -- the client address of the request that caused it ('' = none, the CLI)
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,  -- the browser's gw_session cookie is the token; only its SHA-256 is kept
    username     TEXT NOT NULL,
    via          TEXT NOT NULL,     -- password | oidc
    created_at   REAL NOT NULL,     -- epoch seconds
    last_seen_at REAL NOT NULL,
    ended_at     REAL,              -- logout, expiry, user disabled or password reset
    ended_why    TEXT,
    client       TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"""


class StoreError(ValueError):
    """A request the store refuses (unknown user, bad role binding, weak password …): the message is for people."""


# A city deployment: a 部门用户 is an office of one county (counties share office names: 文昌派出所 in each), so it
# needs its county; one without (an older record) sees no county's data (dashboard.auth: Identity.county_missing).
DEPT_NEEDS_COUNTY = "地市部署中部门用户必须指定所属县 (区) (命令行: --county 县名称或 6 位区划代码)"


def check_county(role: str, county_code: str | None, city: bool) -> None:
    """Refuse a 部门用户 without a county in a city deployment (`city`); a county deployment has no county level."""
    if city and canonical_role(role) == DEPARTMENT and not county_code:
        raise StoreError(DEPT_NEEDS_COUNTY)


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
    county_code: str | None = None  # a city deployment: the county the user is limited to (None: the whole city)
    county_name: str | None = None


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


def printable(text: str) -> str:
    """`text` with every control, format or line/paragraph-separator character escaped (\\n, \\u200b …): what is
    written to the audit log and shown of names a visitor typed, so no value can start a line of its own."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\u{ord(ch):04x}"))
        else:
            out.append(ch)
    return "".join(out)


def has_control(text: str) -> bool:
    return printable(text) != text


def clean_reason(text: str | None) -> str:
    """An unmask / full-export reason as it is kept: NFKC-normalised, without control or format characters
    (zero-width spaces, direction marks …), whitespace collapsed."""
    t = unicodedata.normalize("NFKC", text or "")
    t = "".join(" " if unicodedata.category(ch) in ("Zs", "Zl", "Zp") or ch in "\t\n\r" else ch for ch in t
                if unicodedata.category(ch)[0] != "C" or ch in "\t\n\r")
    return " ".join(t.split())


def reason_chars(text: str | None) -> int:
    """How many real characters (letters, digits) a reason has after clean_reason."""
    return sum(unicodedata.category(ch)[0] in "LN" for ch in clean_reason(text))


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, target: str, detail: str,
               reason: str, key: bytes | None = None, client: str = "") -> str:
    """The hash of one audit entry: HMAC-SHA256 with the audit key; plain SHA-256 (key None) only for the entries a
    store held before it had a key. The client address is hashed when there is one (entries written before the
    address column existed have none and keep their hash)."""
    fields = [prev_hash, seq, at, actor, action, target, detail, reason] + ([client] if client else [])
    body = json.dumps(fields, ensure_ascii=False).encode("utf-8")
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


class UserStore:
    def __init__(self, path: str | os.PathLike, *, max_failures: int = 5, lockout_minutes: float = 15,
                 min_password_length: int = 10, client_max_failures: int = 20,
                 audit_key_file: str | os.PathLike | None = None, idle_minutes: float = 30,
                 max_session_hours: float = 12):
        self.path = Path(path)
        self.max_failures = max_failures
        self.client_max_failures = client_max_failures
        self.lockout = dt.timedelta(minutes=lockout_minutes)
        self.min_password_length = min_password_length
        self.idle_seconds = idle_minutes * 60
        self.max_session_seconds = max_session_hours * 3600
        # the key of the audit chain lives outside the store's folder: by default beside it ({data_dir}/audit.key)
        self.audit_key_file = Path(audit_key_file) if audit_key_file else self.path.parent.parent / "audit.key"
        self._key: bytes | None = None
        self._ready = False
        self._local = threading.local()

    @classmethod
    def from_settings(cls, s) -> UserStore:
        a = s.auth
        return cls(a.store, max_failures=a.max_failures, lockout_minutes=a.lockout_minutes,
                   min_password_length=a.min_password_length, client_max_failures=a.client_max_failures,
                   audit_key_file=a.audit_key_file, idle_minutes=a.idle_minutes,
                   max_session_hours=a.max_session_hours)

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

    def _migrate(self, con: sqlite3.Connection) -> None:
        """Bring a store made by an earlier version up to date (once per process, in one write transaction)."""
        con.execute("BEGIN IMMEDIATE")
        try:
            cols = {r[1] for r in con.execute("PRAGMA table_info(login_throttle)")}
            for col, decl in (("pending", "INTEGER NOT NULL DEFAULT 0"), ("pending_since", "TEXT"),
                              ("refused", "INTEGER NOT NULL DEFAULT 0")):
                if col not in cols:
                    con.execute(f"ALTER TABLE login_throttle ADD COLUMN {col} {decl}")
            if "client" not in {r[1] for r in con.execute("PRAGMA table_info(audit)")}:  # (no UPDATE: no trigger)
                con.execute("ALTER TABLE audit ADD COLUMN client TEXT NOT NULL DEFAULT ''")
            ucols = {r[1] for r in con.execute("PRAGMA table_info(users)")}
            for col in ("county_code", "county_name"):  # a city deployment's county binding (issue 17)
                if col not in ucols:
                    con.execute(f"ALTER TABLE users ADD COLUMN {col} TEXT")
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            if "setup_done" not in meta and con.execute("SELECT count(*) FROM users WHERE role = ?",
                                                        (ADMIN,)).fetchone()[0]:
                con.execute("INSERT INTO meta VALUES ('setup_done', ?)", (_iso(now()),))
            if "audit_legacy_upto" not in meta:
                # entries from before the key (an older version's store, which never had a key file): the first
                # keyed entry seals them. With a key file already there the store had keyed entries: the mark was
                # removed, and every entry must verify with the key.
                n = 0 if self.audit_key_file.exists() else \
                    con.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0]
                con.execute("INSERT INTO meta VALUES ('audit_legacy_upto', ?)", (str(n),))
                if n:
                    self._audit(con, "system", "audit_key", "", f"审计日志自第 {n + 1} 条起以密钥签名")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

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
            con.execute("PRAGMA busy_timeout=15000")
            if not self._ready:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(SCHEMA)
                self._migrate(con)
                self._prepare()
                self._ready = True
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
    @staticmethod
    def _legacy_upto(con: sqlite3.Connection) -> int:
        r = con.execute("SELECT value FROM meta WHERE key = 'audit_legacy_upto'").fetchone()
        return int(r[0]) if r else 0

    def _audit_key(self, con: sqlite3.Connection | None, *, create: bool) -> bytes | None:
        """The audit key (32 random bytes, hex, in a 0600 file outside the store). Created when the store has no
        keyed entry yet; a store whose keyed entries lost their key refuses to write on (the chain would break)."""
        if self._key is not None:
            return self._key
        try:
            self._key = bytes.fromhex(self.audit_key_file.read_text("ascii").strip())
            return self._key
        except FileNotFoundError:
            pass
        except ValueError:
            raise StoreError(f"审计密钥文件 {self.audit_key_file} 已损坏") from None
        if not create:
            return None
        if con is not None and con.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0] > \
                self._legacy_upto(con):
            raise StoreError(f"审计密钥文件 {self.audit_key_file} 不存在, 而审计日志已用它签名: 请恢复该文件 "
                             "(没有它, 新的审计记录无法接续哈希链)")
        self.audit_key_file.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o077)
        try:
            fd = os.open(self.audit_key_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:  # another process created it a moment ago
            return self._audit_key(con, create=False)
        finally:
            os.umask(old)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        return self._audit_key(con, create=False)

    def set_client(self, address: str | None) -> None:
        """The client address this thread's audit entries record unless they name one (the app sets it on every
        run from the request; None for the CLI)."""
        self._local.client = address

    def _audit(self, con: sqlite3.Connection, actor: str, action: str, target: str = "", detail: str = "",
               reason: str = "", client: str | None = None) -> None:
        key = self._audit_key(con, create=True)
        if client is None:
            client = getattr(self._local, "client", None) or ""
        actor, action, target, detail, reason, client = (printable(v) for v in (actor, action, target, detail,
                                                                               reason, client))
        client = client[:64]
        last = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
        at = _iso(now())
        h = entry_hash(prev, seq, at, actor, action, target, detail, reason, key, client)
        con.execute("INSERT INTO audit (seq, at, actor, action, target, detail, reason, prev_hash, hash, client) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, at, actor, action, target, detail, reason, prev, h, client))

    def audit(self, actor: str, action: str, target: str = "", detail: str = "", reason: str = "",
              client: str | None = None) -> None:
        """Append one entry (who, what, on what, details, why, from which client address); the time is the
        server's."""
        with self._db(write=True) as con:
            self._audit(con, actor, action, target, detail, reason, client)

    def audit_entries(self, limit: int | None = 500, *, action: str | None = None,
                      actor: str | None = None) -> list[dict]:
        sql = "SELECT seq, at, actor, action, target, detail, reason, client FROM audit WHERE 1=1"
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
        """(intact, first broken seq or None, hash of the last entry): recomputes the whole chain. Entries a store
        held before it had a key are plain SHA-256; the next entry (`audit_key`) and all after it are HMACs with
        the audit key, so nobody without the key file can rebuild the chain."""
        prev, expected_seq = GENESIS, 1
        with self._db() as con:
            legacy = self._legacy_upto(con)
            key = self._audit_key(con, create=False)
            for r in con.execute("SELECT * FROM audit ORDER BY seq"):
                seq = r["seq"]
                k = None if seq <= legacy else key
                ok = (seq == expected_seq and r["prev_hash"] == prev and (k is not None or seq <= legacy)
                      and (seq != legacy + 1 or legacy == 0 or r["action"] == "audit_key")
                      and hmac.compare_digest(r["hash"], entry_hash(prev, seq, r["at"], r["actor"], r["action"],
                                                                    r["target"], r["detail"], r["reason"], k,
                                                                    r["client"])))
                if not ok:
                    return False, seq, prev
                prev, expected_seq = r["hash"], expected_seq + 1
            if legacy and expected_seq <= legacy + 1:  # the sealing entry is gone: the "legacy" mark was forged
                return False, legacy + 1, prev
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
                    last_login_at=r["last_login_at"], county_code=r["county_code"], county_name=r["county_name"])

    def check_password(self, password: str) -> None:
        """Refuse short, simple, all-digit and common passwords (dashboard/common_passwords.txt, also with digits or
        punctuation around one: `password12`, `2024qwerty!`)."""
        if len(password) < self.min_password_length:
            raise StoreError(f"密码至少 {self.min_password_length} 位")
        if len(set(password)) < 4:
            raise StoreError("密码过于简单")
        if password.isdigit():
            raise StoreError("密码不能全是数字")
        low = unicodedata.normalize("NFKC", password).lower()
        trim = "0123456789!@#$%^&*()_+-=.,;:?~ "
        if {low, low.rstrip(trim), low.lstrip(trim), low.strip(trim)} & COMMON_PASSWORDS:
            raise StoreError("密码过于常见, 请换一个")

    def get_user(self, username: str) -> User | None:
        con = self._reader()
        return self._user(con.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone())

    def users(self) -> list[User]:
        with self._db() as con:
            return [self._user(r) for r in con.execute("SELECT * FROM users ORDER BY role, username")]

    def has_admin(self) -> bool:
        with self._db() as con:
            return con.execute("SELECT count(*) FROM users WHERE role = ? AND disabled = 0", (ADMIN,)).fetchone()[0] > 0

    def setup_done(self) -> bool:
        """True once the store has had a 县级管理员 (made by set-up or the CLI): the web set-up never comes back, even
        when every administrator is later disabled."""
        with self._db() as con:
            return con.execute("SELECT 1 FROM meta WHERE key = 'setup_done'").fetchone() is not None

    def add_user(self, username: str, role: str, *, password: str | None = None, actor: str,
                 display_name: str | None = None, township_code: str | None = None,
                 township_name: str | None = None, office_name: str | None = None, oidc: bool = False,
                 first_admin: bool = False, county_code: str | None = None, county_name: str | None = None,
                 city: bool = False) -> User:
        """Add a user. With first_admin=True the insert only happens while the store has never been set up (the
        one-time setup form: two visitors racing cannot both become administrator, and it never comes back).
        city: a city deployment ([deployment] level = "city"): a 部门用户 needs its county (check_county)."""
        username = username.strip()
        if not USERNAME_RE.fullmatch(username):
            raise StoreError("用户名为 2–64 位字母、数字、汉字或 . @ - _")
        role = canonical_role(role)
        if display_name is not None and (has_control(display_name) or len(display_name) > 64):
            raise StoreError("姓名或说明不能含控制字符, 最多 64 个字")
        if password is None and not oidc:
            raise StoreError("需要密码 (或 --oidc: 只通过统一身份认证登录)")
        if password is not None:
            self.check_password(password)
        if role == TOWNSHIP and not township_code:
            raise StoreError("乡镇用户必须绑定一个乡镇")
        if role == DEPARTMENT and not office_name:
            raise StoreError("部门用户必须绑定一个派出所、司法所或卫生院")
        check_county(role, county_code, city)
        if role != TOWNSHIP:
            township_code = township_name = None
        if role != DEPARTMENT:
            office_name = None
        if role == TOWNSHIP and township_code:  # a 乡镇 is in the county of its code's first 6 digits
            county_code = county_code or (township_code[:6] if len(township_code) >= 6 else None)
        if county_code is not None and not re.fullmatch(r"\d{6}", county_code):
            raise StoreError("县的区划代码为 6 位数字")
        if county_code is None:
            county_name = None
        pw_hash = _PH.hash(password) if password is not None else None
        t = _iso(now())
        with self._db(write=True) as con:
            if first_admin and (con.execute("SELECT 1 FROM meta WHERE key = 'setup_done'").fetchone() is not None
                                or con.execute("SELECT count(*) FROM users WHERE role = ?", (ADMIN,)).fetchone()[0]):
                raise StoreError("首次设置已经完成: 请登录 (新的县级管理员只能在服务器上用命令行添加)")
            try:
                con.execute("INSERT INTO users (username, display_name, role, township_code, township_name, "
                            "office_name, county_code, county_name, password_hash, oidc, created_at, updated_at) "
                            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                            (username, display_name or username, role, township_code, township_name, office_name,
                             county_code, county_name, pw_hash, int(oidc), t, t))
            except sqlite3.IntegrityError:
                raise StoreError(f"用户 {username} 已存在") from None
            if role == ADMIN:
                con.execute("INSERT OR IGNORE INTO meta VALUES ('setup_done', ?)", (t,))
            scope = scope_label(township_name or township_code, office_name, county_name, county_code, city)
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
            n = self._end_user_sessions(con, username, "password_reset")
            self._audit(con, actor, "user_reset", username, "密码已重置, 锁定已解除"
                        + (f", 已结束其 {n} 个登录会话" if n else ""))

    def set_disabled(self, username: str, disabled: bool, *, actor: str) -> None:
        with self._db(write=True) as con:
            if not con.execute("UPDATE users SET disabled = ?, updated_at = ? WHERE username = ?",
                               (int(disabled), _iso(now()), username)).rowcount:
                raise StoreError(f"没有用户 {username}")
            if not disabled:
                con.execute("DELETE FROM login_throttle WHERE username = ?", (username.lower(),))
            else:
                self._end_user_sessions(con, username, "disabled")
            self._audit(con, actor, "user_disable" if disabled else "user_enable", username)

    # ------------------------------------------------------------------------------------------ login
    # A throttle row (login_throttle per lower-cased user name, client_throttle per client address): failures in a
    # row, the lock, the attempts whose password is being checked right now (pending) and how many attempts the
    # current lock refused (only the first is audited, so a locked name or address cannot flood the log).
    def _throttle(self, con: sqlite3.Connection, table: str, key: str, t: dt.datetime) -> dict:
        r = con.execute(f"SELECT failures, locked_until, pending, pending_since, refused FROM {table} "
                        "WHERE username = ?", (key,)).fetchone()
        if r is None:
            return {"failures": 0, "locked_until": None, "pending": 0, "refused": 0}
        d = dict(r)
        since = dt.datetime.fromisoformat(d["pending_since"]) if d["pending_since"] else None
        if d["pending"] and since and abs((t - since).total_seconds()) > PENDING_STALE_SECONDS:
            d["pending"] = 0  # an attempt that never finished (its process died): it no longer holds a place
            con.execute(f"UPDATE {table} SET pending = 0 WHERE username = ?", (key,))
        d["locked_until"] = dt.datetime.fromisoformat(d["locked_until"]) if d["locked_until"] else None
        return d

    def _limits(self, client: str | None, key: str) -> list[tuple[str, str, int]]:
        out = [("login_throttle", key, self.max_failures)]
        if client:
            out.append(("client_throttle", client, self.client_max_failures))
        return out

    def _reserve(self, name: str, key: str, client: str | None, t: dt.datetime) -> tuple[str, float]:
        """One transaction: refuse when the name or the address is locked, else hold one of the `max_failures`
        places for this attempt. ("locked", minutes) | ("wait", 0): all places are taken by attempts being checked
        right now | ("ok", 0)."""
        with self._db(write=True) as con:
            limits = self._limits(client, key)
            states = [(table, k, lim, self._throttle(con, table, k, t)) for table, k, lim in limits]
            locked = [(st["locked_until"], table, k, st) for table, k, lim, st in states
                      if st["locked_until"] and st["locked_until"] > t]
            if locked:
                until, table, k, st = max(locked, key=lambda x: x[0])
                con.execute(f"UPDATE {table} SET refused = refused + 1 WHERE username = ?", (k,))
                if st["refused"] == 0:  # the first refused attempt of this lock is audited, the others counted
                    what = "用户名" if table == "login_throttle" else f"客户端地址 {client}"
                    self._audit(con, name or "-", "login_locked", name,
                                f"{what}已临时锁定至 {until:%H:%M}, 未检查密码 (锁定期间的其余尝试不再逐条记录)")
                return "locked", (until - t).total_seconds() / 60
            if any(st["failures"] + st["pending"] >= lim for _, _, lim, st in states):
                return "wait", 0
            for table, k, _, st in states:
                con.execute(f"INSERT INTO {table} (username, failures, locked_until, pending, pending_since, refused) "
                            "VALUES (?, 0, NULL, 1, ?, 0) ON CONFLICT (username) DO UPDATE SET "
                            "pending = pending + 1, pending_since = excluded.pending_since", (k, _iso(t)))
            return "ok", 0

    def authenticate(self, username: str, password: str, *, at: dt.datetime | None = None,
                     client: str | None = None) -> LoginResult:
        """Check a password login; counts failures per name and per client address, locks, and writes login /
        login_failed / login_locked. The attempt is counted before its password is checked, in the same
        transaction that checks the lock: parallel attempts wait for a place instead of all being checked."""
        t = at or now()
        raw = (username or "").strip()[:64]
        name = printable(raw)  # a name with control characters is no user's (they are refused in user names)
        key = name.lower()
        client = printable(client)[:64] if client else None
        deadline = time.monotonic() + 15
        while True:
            status, minutes = self._reserve(name, key, client, t if at is not None else now())
            if status == "locked":
                return LoginResult(None, "locked", minutes)
            if status == "ok":
                break
            if time.monotonic() > deadline:  # the places stayed taken (a flood of parallel attempts)
                return LoginResult(None, "locked", self.lockout.total_seconds() / 60)
            time.sleep(0.05)
        limits = self._limits(client, key)
        row = self._reader().execute("SELECT * FROM users WHERE username = ?", (name,)).fetchone() \
            if raw == name else None
        stored = row["password_hash"] if row is not None else None
        try:
            ok = _PH.verify(stored or _DUMMY_HASH, password or "") and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        with self._db(write=True) as con:
            states = {table: self._throttle(con, table, k, t) for table, k, _ in limits}
            for table, k, _ in limits:
                con.execute(f"UPDATE {table} SET pending = max(pending - 1, 0) WHERE username = ?", (k,))
            locked = [st["locked_until"] for st in states.values() if st["locked_until"] and st["locked_until"] > t]
            if ok and not row["disabled"] and not locked:
                con.execute("UPDATE login_throttle SET failures = 0 WHERE username = ?", (key,))
                if _PH.check_needs_rehash(stored):
                    con.execute("UPDATE users SET password_hash = ? WHERE username = ?", (_PH.hash(password), name))
                con.execute("UPDATE users SET last_login_at = ? WHERE username = ?", (_iso(t), name))
                self._audit(con, name, "login", name, "密码")
                return LoginResult(self._user(con.execute("SELECT * FROM users WHERE username = ?",
                                                          (name,)).fetchone()), "ok")
            if ok and locked:  # locked meanwhile by other attempts (of this name or this address): the lock stands
                until = max(locked)
                self._audit(con, name, "login_locked", name, f"密码正确, 但已临时锁定至 {until:%H:%M}, 未登录")
                return LoginResult(None, "locked", (until - t).total_seconds() / 60)
            why = "用户不存在" if row is None else ("账号已停用" if row["disabled"] else "密码错误")
            notes = []
            for table, k, lim in limits:
                failures = states[table]["failures"] + 1
                if failures >= lim:
                    until = max(t + self.lockout, states[table]["locked_until"] or t)  # a lock is never shortened
                    con.execute(f"UPDATE {table} SET failures = 0, locked_until = ?, refused = 0 WHERE username = ?",
                                (_iso(until), k))
                    notes.append(f"{'' if table == 'login_throttle' else '客户端地址 ' + client + ' '}"
                                 f"连续失败 {failures} 次, 锁定至 {until:%H:%M}")
                else:
                    con.execute(f"UPDATE {table} SET failures = ? WHERE username = ?", (failures, k))
                    if table == "login_throttle":
                        notes.append(f"连续失败 {failures} 次")
            self._audit(con, name or "-", "login_failed", name, f"{why}; " + "; ".join(notes)
                        + (f" · {client}" if client else ""))
        return LoginResult(None, "bad")

    def _client_refused(self, client: str | None, t: dt.datetime) -> bool:
        """For the display-token login: is this address locked? (its first refused attempt is audited)"""
        if not client:
            return False
        with self._db(write=True) as con:
            st = self._throttle(con, "client_throttle", client, t)
            if st["locked_until"] and st["locked_until"] > t:
                con.execute("UPDATE client_throttle SET refused = refused + 1 WHERE username = ?", (client,))
                if st["refused"] == 0:
                    self._audit(con, "-", "login_locked", "大屏",
                                f"客户端地址 {client} 已临时锁定至 {st['locked_until']:%H:%M}, 未检查大屏令牌")
                return True
        return False

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

    def check_token(self, token: str, *, audit: bool = True, client: str | None = None) -> Token | None:
        """The valid (not revoked) token record for `token`, else None. Invalid tokens count as failures of the
        client address (client_throttle): a locked address is refused without a check."""
        t = now()
        client = printable(client)[:64] if client else None
        if self._client_refused(client, t):
            return None
        if not token or len(token) > 200:
            return None
        h = token_hash(token.strip())
        with self._db() as con:
            r = con.execute("SELECT * FROM display_tokens WHERE token_sha256 = ?", (h,)).fetchone()
        if r is None or not hmac.compare_digest(r["token_sha256"], h) or r["revoked_at"]:
            with self._db(write=True) as con:
                note = ""
                if client:
                    st = self._throttle(con, "client_throttle", client, t)
                    failures = st["failures"] + 1
                    if failures >= self.client_max_failures:
                        until = max(t + self.lockout, st["locked_until"] or t)
                        con.execute("INSERT INTO client_throttle (username, failures, locked_until) VALUES (?, 0, ?) "
                                    "ON CONFLICT (username) DO UPDATE SET failures = 0, locked_until = "
                                    "excluded.locked_until, refused = 0", (client, _iso(until)))
                        note = f"; 客户端地址 {client} 连续失败 {failures} 次, 锁定至 {until:%H:%M}"
                    else:
                        con.execute("INSERT INTO client_throttle (username, failures) VALUES (?, 1) "
                                    "ON CONFLICT (username) DO UPDATE SET failures = failures + 1", (client,))
                        note = f" · {client}"
                if audit:
                    self._audit(con, "-", "login_failed", "大屏", "无效或已吊销的大屏令牌"
                                + (f" {r['token_id']}" if r is not None else "") + note)
            return None
        with self._db(write=True) as con:
            con.execute("UPDATE display_tokens SET last_used_at = ? WHERE token_id = ?", (_iso(now()), r["token_id"]))
            if audit:
                self._audit(con, f"大屏:{r['token_id']}", "login", r["token_id"], f"大屏令牌 · {r['name']}")
        return self.token(r["token_id"])

    # ------------------------------------------------------------------------------------------ login sessions
    def start_session(self, username: str, via: str, *, client: str | None = None) -> str:
        """A new login session of `username`: returns its token (for the browser's cookie; only its hash is kept)."""
        token = "gws_" + secrets.token_urlsafe(32)
        t = time.time()
        with self._db(write=True) as con:
            # sessions ended or expired more than a day ago are of no further use
            con.execute("DELETE FROM sessions WHERE coalesce(ended_at, last_seen_at + ?) < ?",
                        (self.idle_seconds, t - 86400))
            con.execute("INSERT INTO sessions (token_sha256, username, via, created_at, last_seen_at, client) "
                        "VALUES (?,?,?,?,?,?)", (token_hash(token), username, via, t, t,
                                                 printable(client or "")[:64]))
        return token

    def session(self, digest: str, *, at: float | None = None) -> tuple[dict | None, str]:
        """(the session row, "live") for the SHA-256 of a session token, or (row, "ended" | "idle" | "max") /
        (None, "unknown"). Idle and maximum age come from the store's settings ([auth] idle_minutes,
        max_session_hours)."""
        t = time.time() if at is None else at
        r = self._reader().execute("SELECT * FROM sessions WHERE token_sha256 = ?", (digest,)).fetchone()
        if r is None or not hmac.compare_digest(r["token_sha256"], digest):
            return None, "unknown"
        row = dict(r)
        if row["ended_at"] is not None:
            return row, "ended"
        if t - row["last_seen_at"] > self.idle_seconds:
            return row, "idle"
        if t - row["created_at"] > self.max_session_seconds:
            return row, "max"
        return row, "live"

    def touch_session(self, digest: str, *, at: float | None = None) -> None:
        with self._db(write=True) as con:
            con.execute("UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE token_sha256 = ? "
                        "AND ended_at IS NULL", (time.time() if at is None else at, digest))

    def end_session(self, digest: str, why: str) -> bool:
        """End one session (logout, expiry …); False when it had already ended or never existed."""
        with self._db(write=True) as con:
            return con.execute("UPDATE sessions SET ended_at = ?, ended_why = ? WHERE token_sha256 = ? "
                               "AND ended_at IS NULL", (time.time(), why, digest)).rowcount > 0

    def _end_user_sessions(self, con: sqlite3.Connection, username: str, why: str) -> int:
        return con.execute("UPDATE sessions SET ended_at = ?, ended_why = ? WHERE username = ? AND ended_at IS NULL",
                           (time.time(), why, username)).rowcount

    def shift_session_for_tests(self, digest: str, seconds: float) -> None:
        """Move a session's clock back (tests of idle expiry)."""
        with self._db(write=True) as con:
            con.execute("UPDATE sessions SET created_at = created_at - ?, last_seen_at = last_seen_at - ? "
                        "WHERE token_sha256 = ?", (seconds, seconds, digest))

"""Who is logged in, what their role lets them see, and the login / first-start screens.

Where the identity lives: in this process, in `_SESSIONS`, keyed by a random 256-bit session handle. The handle
is kept in the session's state and the record is bound to Streamlit's own (server-generated) session id, so a
client that rewrites its URL, query parameters or widget state can at most invalidate its own login. It is bound
to the browser too — its `gw_client` cookie (HttpOnly, set by dashboard/server_hardening.py) and its address —
so a websocket that reconnects to the session id from another client finds the session logged out.

A user's login also lives in the user store (`sessions`, dashboard/users.py) behind the browser's HttpOnly
`gw_session` cookie (set by dashboard/server_hardening.py from a one-time ticket right after login): a reload, a
new tab of the same browser or a server restart finds the cookie and resumes the login (`session_resume` in the
audit log), on the page and view the URL names. The stored session is checked on every run: logout (in any tab),
idle expiry (`[auth] idle_minutes`, activity in any tab counts), `max_session_hours`, disabling the user or
resetting the password end it everywhere. The cookie names a user, nothing more: role and scope are the user
store's, as for a password login. The record
holds the user name (or the display token's id) and times only: the role, the 乡镇/office binding and whether the
user is still enabled are re-read from the user store on every run and every query, so disabling a user or
revoking a display token takes effect at the next refresh, also on a wall display nobody touches.

Scope: `Identity.scope` is the only source of the warehouse.metrics.Scope that pages query with;
`authorize()` (called by dashboard.data before every query) refuses a scope wider than the caller's, personal
data beyond the role's, and queries that cannot honour a 乡镇 or office scope.
"""
from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from dataclasses import dataclass

import streamlit as st

from core.config import settings
from dashboard import users
from dashboard.users import ADMIN, DEPARTMENT, DISPLAY, LEADER, TOWNSHIP, UserStore
from warehouse import metrics
from warehouse.metrics import Scope, ScopeError

SESSION_KEY = "_gw_session"
NOTICE_KEY = "_gw_notice"
TICKET_KEY = "_gw_ticket"
CLEAR_COOKIE_KEY = "_gw_clear_cookie"
BAD_SESSION_KEY = "_gw_bad_session"
SESSION_COOKIE = "gw_session"
DISPLAY_PARAM = "display_token"
DISPLAY_COOKIE = "gw_display"
CLIENT_COOKIE = "gw_client"

# The pages of each role (url paths as in app.py). 部门用户 see the reports addressed to their office, which is
# what the 三项重点工作 page is about; every other page is about 乡镇 and grids, outside their scope.
PAGES = {
    ADMIN: ("home", "activity", "events", "key_persons", "compare", "bulletin", "warnings", "assessment", "wall",
            "upload", "quality", "audit", "users"),
    LEADER: ("home", "activity", "events", "key_persons", "compare", "bulletin", "warnings", "assessment", "wall"),
    # upload: own rows only; assessment: its own units' rows, with their county ranks
    TOWNSHIP: ("home", "activity", "events", "key_persons", "bulletin", "warnings", "assessment", "upload"),
    DEPARTMENT: ("key_persons", "warnings"),
    DISPLAY: ("wall",),
}
UNMASK_ROLES = (ADMIN, DEPARTMENT)
# Queries that hold no unit rows and no personal data (the warehouse's own metadata and dataset freshness): any
# logged-in caller may run them whatever its scope. Every other query must filter by the caller's scope.
REFERENCE_QUERIES = {"quality/meta", "quality/freshness", "quality/source_health"}
# The list of reporting units (names and codes only) that a 部门用户's page needs to label rows.
OFFICE_REFERENCE_QUERIES = {"units/reporting_units"}
_RANK = {"none": 0, "masked": 1, "full": 2}
# A city deployment ([deployment] level = "city"): a 县级管理员 / 县领导 without a county in its user record sees the
# whole city and is shown as 市级管理员 / 市领导 (same pages plus the 全市 page "city"); with a county_code it sees
# only that county (every query bound to Scope(county_code=…)), exactly like the county's own deployment.
CITY_PAGES = ("city",)
COUNTY_MISSING = ("本账号 (部门用户) 尚未设置所属县 (区), 因此不能查看任何县的数据。"
                  "请联系管理员为本账号设置所属县 (区)。")


def city_deployment() -> bool:
    return settings().deployment.level == "city"


def area_name() -> str:
    """The deployment's name in titles: the county's, or in a city deployment the city's."""
    return settings().city.name if city_deployment() else settings().county.name


@dataclass(frozen=True)
class Identity:
    name: str  # user name, or "大屏:<token id>"
    display_name: str
    role: str
    scope: Scope
    via: str  # password | oidc | token

    @property
    def city_level(self) -> bool:
        """A 市级 user of a city deployment: the whole city, a county chosen in the sidebar (not the wall)."""
        return (self.role in (ADMIN, LEADER) and self.scope.county_code is None and not self.scope.by_county
                and city_deployment())

    @property
    def role_label(self) -> str:
        return users.role_label(self.role, None, True) if self.city_level else self.role

    @property
    def pages(self) -> tuple[str, ...]:
        return (CITY_PAGES + PAGES[self.role]) if self.city_level else PAGES[self.role]

    @property
    def county_missing(self) -> bool:
        """A 部门用户 of a city deployment without a county (an older user record): it belongs to no county's office,
        so it sees nothing (authorize refuses every query; app.py shows COUNTY_MISSING) — never every county."""
        return self.role == DEPARTMENT and self.scope.county_code is None and city_deployment()

    @property
    def can_unmask(self) -> bool:
        return self.role in UNMASK_ROLES

    @property
    def is_display(self) -> bool:
        return self.role == DISPLAY


@dataclass
class _Session:
    streamlit_id: str
    kind: str  # user | display
    name: str  # user name, or token id
    via: str
    started: float
    last_seen: float
    client: tuple = (None, None)  # (address, gw_client cookie) of the browser that logged in
    token_hash: str | None = None  # the user store's session (the gw_session cookie's token, hashed)
    stored_seen: float = 0.0  # its last activity as last read from the store


_SESSIONS: dict[str, _Session] = {}
_LOCK = threading.Lock()
_STORES: dict[str, UserStore] = {}


def store() -> UserStore:
    s = settings()
    key = str(s.auth.store)
    st_ = _STORES.get(key)
    if st_ is None:
        st_ = _STORES[key] = UserStore.from_settings(s)
    return st_


def scope_for(user: users.User) -> Scope:
    """The user's scope. In a city deployment the user record's county (a 乡镇用户's: its 乡镇's) binds every
    query to that county; in a county deployment there is no county level (county_code stays None)."""
    county = user.county_code if city_deployment() else None
    whole = (user.county_name or county) if county else ("全市" if city_deployment() else "全县")
    if user.role == ADMIN:
        return Scope(county_code=county, personal="masked", label=whole)
    if user.role == LEADER:
        return Scope(county_code=county, personal="none", label=whole)
    if user.role == TOWNSHIP:
        return Scope(township_code=user.township_code, county_code=county, personal="masked",
                     label=user.township_name or user.township_code)
    if user.role == DEPARTMENT:
        return Scope(office_name=user.office_name, county_code=county, personal="masked", label=user.office_name)
    raise ScopeError(f"unknown role {user.role}")


DISPLAY_SCOPE = Scope(personal="none", label="全县")
CITY_DISPLAY_SCOPE = Scope(by_county=True, personal="none", label="全市")  # the city's wall: counties as units


def display_scope() -> Scope:
    return CITY_DISPLAY_SCOPE if city_deployment() else DISPLAY_SCOPE


# ---------------------------------------------------------------------------------------------- sessions
def _streamlit_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else None


def client_address() -> str | None:
    """The client's address (None on the machine itself: Streamlit reports no address for loopback; behind a
    reverse proxy on this machine uvicorn takes it from X-Forwarded-For)."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 — no client context (AppTest)
        return None
    return ip if isinstance(ip, str) and ip else None


def audit_address() -> str:
    """The client address written to the audit log: as client_address(), but the machine itself is 127.0.0.1 / ::1
    rather than nothing; "" without a request (AppTest)."""
    try:
        from streamlit.runtime.context import _get_client_context

        ctx = _get_client_context()
        ip = getattr(ctx, "remote_ip", None) if ctx is not None else None
    except Exception:  # noqa: BLE001 — another Streamlit version: the public address only
        ip = None
    return str(ip) if ip else (client_address() or "")


def _client() -> tuple:
    try:
        c = st.context.cookies.get(CLIENT_COOKIE)
    except Exception:  # noqa: BLE001
        c = None
    return client_address(), (c if isinstance(c, str) and c else None)


def _purge(now: float) -> None:
    a = settings().auth
    for k, rec in list(_SESSIONS.items()):
        if now - rec.last_seen > max(a.idle_minutes * 60, 86400 if rec.kind == "display" else 0):
            _SESSIONS.pop(k, None)


def _start(kind: str, name: str, via: str, *, token_hash: str | None = None) -> None:
    """Log this Streamlit session in. A user's login gets a session in the user store (unless it resumes one,
    token_hash) and, when the browser has its gw_client cookie, a one-time ticket for the gw_session cookie."""
    sid = _streamlit_id()
    if sid is None:
        raise ScopeError("no Streamlit session")
    handle = secrets.token_urlsafe(32)
    client = _client()
    ticket = None
    if kind == "user" and token_hash is None:
        token = store().start_session(name, via, client=audit_address())
        token_hash = users.token_hash(token)
        if client[1]:
            from dashboard import server_hardening

            ticket = server_hardening.issue_ticket(token, client[1], int(settings().auth.max_session_hours * 3600))
    t = time.time()
    with _LOCK:
        _purge(t)
        old = st.session_state.get(SESSION_KEY)
        if isinstance(old, str):
            _SESSIONS.pop(old, None)
        _SESSIONS[handle] = _Session(sid, kind, name, via, t, t, client, token_hash)
    st.session_state[SESSION_KEY] = handle
    st.session_state.pop(CLEAR_COOKIE_KEY, None)
    if ticket:
        st.session_state[TICKET_KEY] = ticket


def _drop(notice: str | None = None, *, end: str | None = None) -> None:
    """Log this Streamlit session out; end="logout" | "expired" | … also ends the stored session (every tab and
    the cookie of this browser)."""
    handle = st.session_state.get(SESSION_KEY)
    if isinstance(handle, str):
        with _LOCK:
            rec = _SESSIONS.pop(handle, None)
        if end and rec is not None and rec.token_hash:
            store().end_session(rec.token_hash, end)
            st.session_state[CLEAR_COOKIE_KEY] = True
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(TICKET_KEY, None)
    if notice:
        st.session_state[NOTICE_KEY] = notice


_TOUCH_SECONDS = 30.0  # the stored session's last activity is written at most this often (and idle/10)


def _stored_session(rec: _Session, now: float) -> str | None:
    """Check the stored session of a user's record: None while it has not ended (its times merged into the
    record: activity in another tab of the same login counts, the age counts from the first login), else the
    notice to show."""
    row, status = store().session(rec.token_hash, at=now)
    if status in ("unknown", "ended"):
        return "已退出登录。" if row is not None and row.get("ended_why") == "logout" else "登录已结束, 请重新登录。"
    rec.last_seen = max(rec.last_seen, row["last_seen_at"])
    rec.started = min(rec.started, row["created_at"])
    rec.stored_seen = row["last_seen_at"]
    return None


def current(*, touch: bool = False) -> Identity | None:
    """The caller, re-validated against the user store; None when not logged in, expired, disabled or revoked.
    touch=True (a full run of the app, i.e. the person did something) counts as activity for the idle timeout."""
    sid = _streamlit_id()
    if sid is None:
        return None
    store().set_client(audit_address() or None)  # the address this run's audit entries record
    handle = st.session_state.get(SESSION_KEY)
    rec = _SESSIONS.get(handle) if isinstance(handle, str) else None
    if rec is None or rec.streamlit_id != sid:
        if handle is not None:
            st.session_state.pop(SESSION_KEY, None)
        return None
    if rec.client != _client():  # the session id was reconnected from another browser or address
        name = f"大屏:{rec.name}" if rec.kind == "display" else rec.name
        store().audit(name, "session_rejected", name, f"会话从另一客户端重连 ({client_address() or '本机'}), 已退出")
        _drop("会话已在另一客户端上使用, 请重新登录。")
        return None
    now = time.time()
    a = settings().auth
    if rec.kind == "display":
        tok = store().token(rec.name)
        if tok is None or tok.revoked_at:
            _drop("大屏令牌已被吊销。")
            return None
        rec.last_seen = now
        return Identity(f"大屏:{tok.token_id}", tok.name, DISPLAY, display_scope(), "token")
    if rec.token_hash:
        gone = _stored_session(rec, now)
        if gone:
            _drop(gone)
            return None
    if now - rec.last_seen > a.idle_minutes * 60 or now - rec.started > a.max_session_hours * 3600:
        store().audit(rec.name, "session_expired", rec.name,
                      "长时间未操作" if now - rec.last_seen > a.idle_minutes * 60 else "超过会话最长时间")
        _drop("会话已过期, 请重新登录。", end="expired")
        if rec.via == "oidc":
            st.session_state["_gw_oidc_logout"] = True
        return None
    user = store().get_user(rec.name)
    if user is None or user.disabled:
        _drop("账号已停用。", end="disabled")
        return None
    if touch:
        rec.last_seen = now
        if rec.token_hash and now - rec.stored_seen > min(_TOUCH_SECONDS, a.idle_minutes * 6):
            store().touch_session(rec.token_hash, at=now)
    return Identity(user.username, user.display_name, user.role, scope_for(user), rec.via)


def expire_now_for_tests(handle: str, seconds: float) -> None:
    """Move a session's clock back (tests of the idle timeout)."""
    rec = _SESSIONS[handle]
    rec.last_seen -= seconds
    rec.started -= seconds
    if rec.token_hash:
        store().shift_session_for_tests(rec.token_hash, seconds)


def require() -> Identity:
    """The caller, or a rerun of the whole app (which then shows the login) when the login is gone."""
    ident = current()
    if ident is None:
        st.rerun(scope="app")
    return ident


def require_page(page: str) -> Identity:
    ident = require()
    if page not in ident.pages:
        st.error("当前账号无权访问此页面。")
        st.stop()
    return ident


def authorize(name: str, scope: Scope) -> Identity:
    """Refuse a query the caller may not run: called before every warehouse query of the app."""
    ident = current()
    if ident is None:
        if _streamlit_id() is None:
            raise ScopeError("not logged in")
        st.rerun(scope="app")
    base = ident.scope
    if ident.county_missing:
        raise ScopeError("a 部门用户 of a city deployment without a county sees no data")
    if _RANK[scope.personal] > _RANK[base.personal] or scope.personal == "full":
        raise ScopeError("personal data beyond the caller's role")
    if base.township_code is not None and scope.township_code != base.township_code:
        raise ScopeError("scope wider than the caller's 乡镇")
    if base.office_name is not None and scope.office_name != base.office_name:
        raise ScopeError("scope wider than the caller's office")
    if base.county_code is not None and (scope.county_code != base.county_code or scope.by_county):
        raise ScopeError("scope wider than the caller's county")
    if base.by_county and not scope.by_county:
        raise ScopeError("the city's wall shows the counties only")
    if name not in REFERENCE_QUERIES:
        wanted = metrics.sql_params(name)
        if scope.township_code is not None and "scope_township" not in wanted:
            raise ScopeError(f"{name} cannot be limited to a 乡镇")
        if (scope.office_name is not None and "scope_office" not in wanted
                and name not in OFFICE_REFERENCE_QUERIES):
            raise ScopeError(f"{name} cannot be limited to an office")
    return ident


def unmask_scope(ident: Identity) -> Scope:
    if not ident.can_unmask:
        raise ScopeError("this role may not unmask personal data")
    return dataclasses.replace(ident.scope, personal="full")


REASON_ACTIONS = ("unmask", "export_full")


def audit(action: str, target: str = "", detail: str = "", reason: str = "") -> None:
    """Write an audit entry for the caller. An unmask or full export needs a reason of at least
    users.MIN_REASON_CHARS letters or digits once zero-width and other invisible characters are taken out."""
    reason = users.clean_reason(reason)
    if action in REASON_ACTIONS and users.reason_chars(reason) < users.MIN_REASON_CHARS:
        raise ScopeError("a reason is required")
    ident = current()
    store().audit(ident.name if ident else "-", action, target, detail, reason)


def logout() -> None:
    ident = current()
    if ident:
        store().audit(ident.name, "logout", ident.name)
    via = ident.via if ident else None
    _drop("已退出登录。", end="logout")
    if via == "oidc":
        st.logout()
    st.rerun()


# ---------------------------------------------------------------------------------------------- wall display
def _presented_display_token() -> tuple[str | None, str]:
    """A display token from the URL (`?display_token=`), an `Authorization: Bearer` header or the cookie."""
    tok = st.query_params.get(DISPLAY_PARAM)
    if isinstance(tok, str) and tok:
        return tok, "url"
    try:
        h = st.context.headers.get("Authorization")
        if isinstance(h, str) and h.lower().startswith("bearer gwd_"):
            return h.split(None, 1)[1].strip(), "header"
        c = st.context.cookies.get(DISPLAY_COOKIE)
        if isinstance(c, str) and c:
            return c, "cookie"
    except Exception:  # noqa: BLE001 — no request context (AppTest)
        pass
    return None, ""


def display_login() -> bool:
    """Log the session in as the wall display when it presents a valid token. Served through
    dashboard/server_hardening.py, a `?display_token=` never reaches the page: the server sets it as an HttpOnly
    cookie and redirects to the address without it. A token that still arrives in the URL (AppTest, or the first
    page of a plain `streamlit run` before the server was patched) logs this session in and is taken out of the
    address bar. A token this session already found invalid is not checked (nor audited) again."""
    tok, where = _presented_display_token()
    if not tok:
        return False
    if where == "url":
        st.query_params.pop(DISPLAY_PARAM, None)
    digest = users.token_hash(tok)
    if st.session_state.get("_gw_bad_token") == digest:
        return False
    rec = store().check_token(tok, client=client_address())
    if rec is None:
        st.session_state["_gw_bad_token"] = digest
        st.session_state[NOTICE_KEY] = "大屏令牌无效或已被吊销。"
        return False
    _start("display", rec.token_id, "token")
    return True


# ---------------------------------------------------------------------------------------------- session cookie
def _session_cookie() -> str | None:
    try:
        c = st.context.cookies.get(SESSION_COOKIE)
    except Exception:  # noqa: BLE001 — no request context (AppTest)
        return None
    return c if isinstance(c, str) and 0 < len(c) <= 200 else None


def resume_from_cookie() -> bool:
    """Log this Streamlit session in from the browser's gw_session cookie (a reload, a new tab, a server restart)
    when it names a stored session that is live and a user who is enabled. A cookie that does not (forged, expired,
    logged out) is cleared and not looked at again by this session; an idle or too old session is ended."""
    token = _session_cookie()
    if not token:
        return False
    digest = users.token_hash(token)
    if st.session_state.get(BAD_SESSION_KEY) == digest:
        return False
    row, status = store().session(digest)
    user = store().get_user(row["username"]) if status == "live" else None
    if user is None or user.disabled:
        st.session_state[BAD_SESSION_KEY] = digest
        st.session_state[CLEAR_COOKIE_KEY] = True
        if row is not None and status in ("idle", "max", "live") and store().end_session(
                digest, "expired" if status != "live" else "disabled"):
            store().audit(row["username"], "session_expired", row["username"],
                          {"idle": "长时间未操作", "max": "超过会话最长时间"}.get(status, "账号已停用"))
        if status in ("idle", "max"):
            st.session_state[NOTICE_KEY] = "会话已过期, 请重新登录。"
        return False
    _start("user", user.username, row["via"], token_hash=digest)
    store().touch_session(digest)
    store().audit(user.username, "session_resume", user.username, "浏览器的登录 Cookie")
    return True


def _cookie_script() -> None:
    """The script that asks the server for (after login) or to clear (after logout) the gw_session cookie."""
    from dashboard import server_hardening

    base = "/" + str(st.get_option("server.baseUrlPath") or "").strip("/")
    url = (base.rstrip("/") + server_hardening.SESSION_PATH)
    scripts = []
    ticket = st.session_state.get(TICKET_KEY)
    if ticket and server_hardening.ticket_pending(ticket):
        scripts.append(f"fetch({url!r}, {{method: 'POST', credentials: 'same-origin', cache: 'no-store', "
                       f"headers: {{'X-GW-Ticket': {ticket!r}}}}});")
    else:
        st.session_state.pop(TICKET_KEY, None)
    if st.session_state.pop(CLEAR_COOKIE_KEY, False):
        scripts.append(f"fetch({url!r}, {{method: 'DELETE', credentials: 'same-origin', cache: 'no-store'}});")
    if scripts:  # in a container that takes no room (a hidden element runs its script all the same)
        st.html("<style>.st-key-gw_cookie_js, [data-testid='stLayoutWrapper']:has(> .st-key-gw_cookie_js) "
                "{ display: none; }</style>")
        with st.container(key="gw_cookie_js"):
            st.html("<script>" + " ".join(scripts) + "</script>", unsafe_allow_javascript=True)


LOGIN_CSS = """<style>
.st-key-gw_login { max-width: 420px; margin: 0 auto; }
.st-key-gw_login h1 { font-size: 1.6rem; }
</style>"""


# ---------------------------------------------------------------------------------------------- screens
def _oidc_identity() -> bool:
    """With [auth] oidc on: a user who came back from the identity provider is logged in when the configured
    claim equals the name of an enabled user added with --oidc. The role still comes from the user store."""
    a = settings().auth
    if not a.oidc:
        return False
    if st.session_state.pop("_gw_oidc_logout", False):
        st.logout()
    try:
        if not st.user.is_logged_in:
            return False
        claim = str(st.user.get(a.oidc_claim) or "")
    except Exception:  # noqa: BLE001 — OIDC not configured in secrets.toml
        return False
    user = store().get_user(claim) if claim else None
    if user is None or user.disabled or not user.oidc:
        store().audit(claim or "-", "login_failed", claim, "统一身份认证: 用户库中没有此用户或未开通")
        st.session_state[NOTICE_KEY] = "统一身份认证成功, 但本平台没有为此账号开通权限。请联系县级管理员。"
        st.logout()
        return False
    store().audit(user.username, "login", user.username, "统一身份认证")
    _start("user", user.username, "oidc")
    return True


def login_screen() -> None:
    cfg = settings()
    st.html(LOGIN_CSS)  # the form is ~420 px wide, centred (not the page's full width)
    _cookie_script()
    with st.container(key="gw_login"):
        _login_form(cfg)


def _login_form(cfg) -> None:
    st.title(f"{area_name()}网格化服务管理督导平台")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(notice)
    with st.form("login", clear_on_submit=False):
        st.subheader("登录")
        name = st.text_input("用户名", key="login_user", max_chars=64)
        pw = st.text_input("密码", type="password", key="login_password", max_chars=256)
        go = st.form_submit_button("登录", type="primary")
    if go:
        res = store().authenticate(name, pw, client=client_address())
        st.session_state.pop("login_password", None)
        if res.status == "ok":
            _start("user", res.user.username, "password")
            st.rerun()
        elif res.status == "locked":
            st.error(f"该用户名连续登录失败次数过多, 已临时锁定, 请 {max(1, round(res.locked_minutes))} 分钟后再试。")
        else:
            st.error("用户名或密码错误。")
    if cfg.auth.oidc:
        st.divider()
        if st.button("使用统一身份认证登录", key="login_oidc"):
            st.login(cfg.auth.oidc_provider or None)
    st.caption("数据包含个人信息, 仅限授权人员使用; 登录、查看和导出都会记入审计日志。")


def setup_screen() -> None:
    """The one-time form that creates the first 县级管理员 (only until the store has had one: set-up happens once,
    ever; afterwards administrators are added from the command line only)."""
    if store().setup_done():
        return login_screen()
    cfg = settings()
    st.title(f"{area_name()}网格化服务管理督导平台 · 首次设置")
    if not cfg.auth.web_setup:
        st.error("尚未设置县级管理员。请在服务器上运行 `python -m dashboard users add --role 县级管理员 用户名` "
                 "(本配置关闭了网页设置: [auth] web_setup = false)。")
        st.stop()
    st.info("用户库中还没有县级管理员。请创建第一个县级管理员账号 (此设置只出现这一次; 之后其他用户在“用户与大屏令牌”页"
            "或命令行添加, 县级管理员只能在服务器上用命令行添加)。")
    with st.form("setup"):
        name = st.text_input("管理员用户名", key="setup_user", max_chars=64)
        display = st.text_input("姓名或说明 (可选)", key="setup_display", max_chars=64)
        pw = st.text_input(f"密码 (至少 {cfg.auth.min_password_length} 位)", type="password", key="setup_password")
        pw2 = st.text_input("再次输入密码", type="password", key="setup_password2")
        go = st.form_submit_button("创建并登录", type="primary")
    if go:
        st.session_state.pop("setup_password", None)
        st.session_state.pop("setup_password2", None)
        if pw != pw2:
            st.error("两次输入的密码不一致。")
            return
        try:
            user = store().add_user(name, ADMIN, password=pw, display_name=display or None, actor=name.strip(),
                                    first_admin=True)
        except users.StoreError as exc:
            st.error(str(exc))
            return
        store().audit(user.username, "login", user.username, "首次设置")
        _start("user", user.username, "password")
        st.rerun()


def county_missing_screen() -> None:
    """What a 部门用户 without a county (Identity.county_missing) sees instead of any page."""
    st.title(f"{area_name()}网格化服务管理督导平台")
    st.error(COUNTY_MISSING)


def gate() -> Identity | None:
    """Called by app.py on every full run: the caller (counted as activity), or None after drawing the login,
    first-start or display-token screen."""
    ident = current(touch=True)
    if ident is not None:
        return ident
    if display_login() or resume_from_cookie() or _oidc_identity():
        return current(touch=True)
    return None


def _md_text(text: str) -> str:
    """Text for a Markdown element (st.caption) that stays text: Markdown and HTML characters escaped."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|~$:" else ch for ch in users.printable(text))


def sidebar(ident: Identity) -> None:
    with st.sidebar:
        _cookie_script()
        st.caption(_md_text(f"{ident.display_name} · {ident.role_label} · {ident.scope.label}"))
        if st.button("退出登录", key="logout"):
            logout()

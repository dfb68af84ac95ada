"""What the dashboard adds to Streamlit's own web server (Starlette/uvicorn in Streamlit 1.67), in one place.

- Every HTTP response carries `X-Frame-Options: DENY`, `Content-Security-Policy: frame-ancestors 'none'` (no other
  site can frame the app and trick a user into clicks), `X-Content-Type-Options: nosniff` and
  `Referrer-Policy: no-referrer`.
- `/_stcore/metrics` (Streamlit's internal counters) answers only to the machine itself (loopback); anyone else
  gets 403.
- A wall display's `?display_token=` is taken off the request before any page loads: the server answers with a
  redirect to the same address without the token and sets the token as an HttpOnly, SameSite=Strict cookie
  (`gw_display`, `[auth] display_cookie_days`, `Secure` when served over https), so the token stays neither in the
  address bar nor in the browser history and no script can read it.
- Every browser gets its own random HttpOnly cookie (`gw_client`): a login is bound to it and to the client address
  (dashboard/auth.py), so Streamlit's session id alone — which a browser sends when it reconnects — is no longer
  a bearer token.
- A login outlives its websocket (reload, new tab, server restart) through the HttpOnly, SameSite=Strict
  `gw_session` cookie, which only this server sets: at login (dashboard/auth.py) the page is sent a one-time
  ticket (60 s, bound to the browser's `gw_client` cookie) and posts it to `/_gw/session`, which answers with the
  cookie (`Max-Age` = `[auth] max_session_hours`); the cookie's token stands for a row of the user store's
  `sessions` table (only its hash is kept), checked on every run. `DELETE /_gw/session` (at logout) clears it.
- Streamlit's `clear_cache` message (which empties the caches of every user) is refused unless the session is
  logged in as 县级管理员.
- Session ids are replaced by `<session>` in Streamlit's log lines.

`install()` is idempotent. `python -m dashboard serve` calls it before the server starts (every response is
covered); `dashboard/app.py` calls it too, so under a plain `streamlit run` the running server is patched at the
first script run (responses before that, i.e. before the first visitor's page connected, lack the headers).
"""
from __future__ import annotations

import gc
import ipaddress
import logging
import re
import secrets
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

DISPLAY_PARAM = "display_token"
DISPLAY_COOKIE = "gw_display"
CLIENT_COOKIE = "gw_client"
SESSION_COOKIE = "gw_session"
SESSION_PATH = "/_gw/session"
TICKET_SECONDS = 60
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-]{1,200}")
_SESSION_ID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_LOCK = threading.Lock()
_installed = False
# one-time tickets for the session cookie: ticket → (session token, the browser's gw_client cookie, expiry, max_age)
_TICKETS: dict[str, tuple[str, str, float, int]] = {}
_TICKET_LOCK = threading.Lock()


def issue_ticket(token: str, client_cookie: str, max_age: int) -> str:
    """A one-time ticket the page posts to /_gw/session to receive `token` as its HttpOnly session cookie: valid
    for TICKET_SECONDS, once, and only from the browser whose gw_client cookie is `client_cookie`."""
    ticket = secrets.token_urlsafe(24)
    t = time.monotonic()
    with _TICKET_LOCK:
        for k, v in list(_TICKETS.items()):
            if v[2] < t:
                _TICKETS.pop(k, None)
        _TICKETS[ticket] = (token, client_cookie, t + TICKET_SECONDS, max_age)
    return ticket


def ticket_pending(ticket: str) -> bool:
    """The ticket was not redeemed yet and is still valid."""
    with _TICKET_LOCK:
        v = _TICKETS.get(ticket)
    return v is not None and v[2] >= time.monotonic()


def _redeem(ticket: str, client_cookie: str | None) -> tuple[str, int] | None:
    with _TICKET_LOCK:
        v = _TICKETS.get(ticket)
        if v is None or v[2] < time.monotonic():
            _TICKETS.pop(ticket, None)
            return None
        if not client_cookie or not secrets.compare_digest(v[1], client_cookie):
            return None  # another browser: the ticket stays for its own (it may still redeem it)
        _TICKETS.pop(ticket, None)
    return v[0], v[3]


def _cookie_days() -> float:
    try:
        from core.config import settings

        return float(settings().auth.display_cookie_days)
    except Exception:  # noqa: BLE001 — a broken config must not take the web server down
        return 30.0


def _is_loopback(scope) -> bool:
    client = scope.get("client")
    try:
        return client is not None and ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


def _https(scope, headers: dict[bytes, bytes]) -> bool:
    return scope.get("scheme") in ("https", "wss") or headers.get(b"x-forwarded-proto", b"").lower() == b"https"


def _cookies(headers: dict[bytes, bytes]) -> dict[str, str]:
    c = SimpleCookie()
    try:
        c.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # noqa: BLE001 — a malformed cookie header is no cookie
        return {}
    return {k: v.value for k, v in c.items()}


def cookie(name: str, value: str, *, max_age: int | None, secure: bool) -> bytes:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


class HardeningMiddleware:
    """Pure ASGI middleware (no buffering of bodies; websockets pass through untouched)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope.get("headers") or []}
        path = scope.get("path", "")
        extra: list[tuple[bytes, bytes]] = list(SECURITY_HEADERS)
        secure = _https(scope, headers)
        if path.rstrip("/").endswith("/_stcore/metrics") and not _is_loopback(scope):
            return await self._plain(send, 403, b"forbidden", extra)
        if path.rstrip("/").endswith(SESSION_PATH):
            return await self._session_cookie(scope, headers, send, extra, secure)
        query = scope.get("query_string", b"").decode("latin-1")
        if DISPLAY_PARAM in query and scope.get("method") == "GET" and "/_stcore/" not in path:
            pairs = parse_qsl(query, keep_blank_values=True)
            tokens = [v for k, v in pairs if k == DISPLAY_PARAM]
            rest = urlencode([(k, v) for k, v in pairs if k != DISPLAY_PARAM])
            location = "/" + path.lstrip("/\\") + (f"?{rest}" if rest else "")  # never "//host": no open redirect
            redirect = extra + [(b"location", location.encode("latin-1")), (b"cache-control", b"no-store")]
            if tokens and _TOKEN_RE.fullmatch(tokens[-1]):
                redirect.append((b"set-cookie", cookie(DISPLAY_COOKIE, tokens[-1],
                                                       max_age=int(_cookie_days() * 86400), secure=secure)))
            return await self._plain(send, 303, b"", redirect)
        if CLIENT_COOKIE not in _cookies(headers):
            extra.append((b"set-cookie", cookie(CLIENT_COOKIE, secrets.token_urlsafe(24), max_age=None,
                                                 secure=secure)))

        async def send_with_headers(message):
            if message.get("type") == "http.response.start":
                message = dict(message)
                names = {k.lower() for k, _ in message.get("headers") or []}
                message["headers"] = list(message.get("headers") or []) + [
                    (k, v) for k, v in extra if k == b"set-cookie" or k not in names]
            await send(message)

        return await self.app(scope, receive, send_with_headers)

    async def _session_cookie(self, scope, headers, send, extra, secure) -> None:
        """POST with `X-GW-Ticket: <ticket>`: 204 and the session cookie (403 for an unknown, used or expired
        ticket, or another browser's). DELETE: 204 and the cookie cleared."""
        extra = extra + [(b"cache-control", b"no-store")]
        method = scope.get("method")
        if method == "DELETE":
            return await self._plain(send, 204, b"", extra + [
                (b"set-cookie", cookie(SESSION_COOKIE, "", max_age=0, secure=secure))])
        if method != "POST":
            return await self._plain(send, 405, b"method not allowed", extra + [(b"allow", b"POST, DELETE")])
        ticket = headers.get(b"x-gw-ticket", b"").decode("latin-1").strip()
        got = _redeem(ticket, _cookies(headers).get(CLIENT_COOKIE)) if _TOKEN_RE.fullmatch(ticket) else None
        if got is None:
            return await self._plain(send, 403, b"forbidden", extra)
        token, max_age = got
        return await self._plain(send, 204, b"", extra + [
            (b"set-cookie", cookie(SESSION_COOKIE, token, max_age=max_age, secure=secure))])

    @staticmethod
    async def _plain(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + [(b"content-type", b"text/plain; charset=utf-8"),
                                          (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------------- clear_cache
def _session_is_admin(session_id: str) -> bool:
    from dashboard import auth
    from dashboard.users import ADMIN

    for rec in list(auth._SESSIONS.values()):
        if rec.streamlit_id == session_id and rec.kind == "user":
            try:
                user = auth.store().get_user(rec.name)
            except Exception:  # noqa: BLE001
                return False
            return user is not None and not user.disabled and user.role == ADMIN
    return False


def _patch_clear_cache() -> None:
    from streamlit.runtime.app_session import AppSession

    original = AppSession._handle_clear_cache_request
    if getattr(original, "_gw_guarded", False):
        return

    def guarded(self) -> None:
        if not _session_is_admin(self.id):
            logging.getLogger("dashboard.server_hardening").warning(
                "clear_cache refused: the session is not logged in as 县级管理员")
            return
        original(self)

    guarded._gw_guarded = True
    AppSession._handle_clear_cache_request = guarded


# ---------------------------------------------------------------------------------------------- log
class RedactSessionIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001
            return True
        red = _SESSION_ID_RE.sub("<session>", msg)
        if red != msg:
            record.msg, record.args = red, ()
        return True


_FILTER = RedactSessionIds()


def _patch_logs() -> None:
    import streamlit.logger as slog

    for lg in list(slog._loggers.values()):
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
    original = slog.get_logger
    if getattr(original, "_gw_redacting", False):
        return

    def get_logger(name: str) -> logging.Logger:
        lg = original(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
        return lg

    get_logger._gw_redacting = True
    slog.get_logger = get_logger


# ---------------------------------------------------------------------------------------------- the server
def _patch_middleware_factory() -> None:
    """Apps Streamlit creates from now on get the middleware (used when installed before the server starts)."""
    from starlette.middleware import Middleware
    from streamlit.web.server.starlette import starlette_app

    original = starlette_app.create_streamlit_middleware
    if getattr(original, "_gw_hardened", False):
        return

    def create_streamlit_middleware():
        return [Middleware(HardeningMiddleware)] + list(original())

    create_streamlit_middleware._gw_hardened = True
    starlette_app.create_streamlit_middleware = create_streamlit_middleware


def _wrap_running_apps() -> int:
    """Put the middleware in front of the Starlette apps already serving (plain `streamlit run`)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    n = 0
    for obj in gc.get_objects():
        if isinstance(obj, Starlette) and not getattr(obj, "_gw_hardened", False):
            if obj.middleware_stack is None:
                obj.user_middleware.insert(0, Middleware(HardeningMiddleware))
            elif not isinstance(obj.middleware_stack, HardeningMiddleware):
                obj.middleware_stack = HardeningMiddleware(obj.middleware_stack)
            obj._gw_hardened = True
            n += 1
    return n


def install() -> None:
    global _installed
    with _LOCK:
        if _installed:
            return
        _patch_logs()
        _patch_clear_cache()
        _patch_middleware_factory()
        _wrap_running_apps()
        _installed = True

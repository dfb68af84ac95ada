"""A bare Streamlit client: one user session spoken over the websocket (`/_stcore/stream`) the way the browser does,
with no browser — for the load test (perf/loadtest.py), where ten Chromiums would take the two cores the server
is measured on.

What a browser does, and this client with it:

1. `GET /` (the page): the server sets the `gw_client` cookie (dashboard/server_hardening.py) that a login is
   bound to; the client keeps its cookies and sends them with the websocket handshake (subprotocol `streamlit`).
2. A `rerun_script` BackMsg (`streamlit.proto` ClientState: the URL's query string and page name, the widget
   states, later a `page_script_hash` to change page), then ForwardMsgs until `script_finished`: `new_session`
   (a run begins), `delta`s (the elements: text, metrics, tables, widgets with their ids), `navigation` (the
   pages the caller may open, with their script hashes), `page_info_changed` (the query string the app set),
   `script_finished` (FINISHED_EARLY_FOR_RERUN when the script called st.rerun: the next run follows).
3. Logging in = submitting the login form: the text inputs' values and the submit button's trigger in the widget
   states of a rerun, as the browser sends them when 登录 is clicked.

Nothing is drawn and no cached-message hashes are declared, so the server sends every message in full (a browser
that has them cached gets references: the server does a little more for this client, not less).
"""
from __future__ import annotations

import asyncio
import http.cookiejar
import time
import urllib.request
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

FINISHED = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY
EARLY = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
FRAGMENT = ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
TEXT_FIELDS = ("label", "body", "message")


class ProtocolError(Exception):
    """The server closed the connection, or a run did not finish in time."""


@dataclass
class Run:
    """What one script run sent (the last run when the script reran itself)."""
    elements: list = field(default_factory=list)  # Element messages, in the order they came
    seconds: float = 0.0
    runs: int = 0  # script runs it took (1 + the st.rerun()s)
    page_script_hash: str = ""

    def kinds(self, kind: str) -> list:
        return [getattr(e, kind) for e in self.elements if e.WhichOneof("type") == kind]

    @property
    def exceptions(self) -> list[str]:
        return [f"{x.type}: {x.message}" for x in self.kinds("exception")]

    def texts(self) -> list[str]:
        """Every text the elements carry (headings, markdown, metric labels and values, alerts, widget labels)."""
        out = []
        for e in self.elements:
            kind = e.WhichOneof("type")
            sub = getattr(e, kind) if kind else None
            if sub is None:
                continue
            for f in TEXT_FIELDS:
                if f in sub.DESCRIPTOR.fields_by_name:
                    v = getattr(sub, f)
                    if isinstance(v, str) and v:
                        out.append(v)
        return out

    def metrics(self) -> dict[str, str]:
        """The st.metric tiles: label → value as shown."""
        return {m.label: m.body for m in self.kinds("metric")}

    def widget(self, kind: str, key: str):
        """The widget of this kind whose id ends with its user key (Streamlit's ids: `$$ID-<hash>-<key>`)."""
        for w in self.kinds(kind):
            if w.id.endswith("-" + key):
                return w
        return None


class Session:
    """One user's session: `await s.open()`, then `await s.rerun(...)` / `s.goto(name)`; `await s.close()`."""

    def __init__(self, url: str, *, cookies: dict[str, str] | None = None, timeout: float = 120.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.cookies = dict(cookies or {})
        self.query_string = ""
        self.pages: dict[str, str] = {}  # url path → page script hash, from the last navigation message
        self.page_names: dict[str, str] = {}  # url path → the page's title
        self.page_script_hash = ""
        self._ws = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._reader = None

    def _fetch_page(self, path: str) -> None:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        req = urllib.request.Request(f"{self.url}/{path.lstrip('/')}")
        if self.cookies:
            req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        with opener.open(req, timeout=self.timeout) as r:
            r.read()
        self.cookies.update({c.name: c.value for c in jar})

    async def open(self, path: str = "", query: str = "") -> Run:
        """Load the page (its cookies), connect, and run the app for `path` (a page's url path, "" = the start
        page) with `query` (the URL's query string, without '?')."""
        import websockets

        await asyncio.to_thread(self._fetch_page, path + (f"?{query}" if query else ""))
        ws_url = self.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/_stcore/stream"
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        self._ws = await websockets.connect(ws_url, subprotocols=["streamlit"], additional_headers=headers,
                                            max_size=None, open_timeout=self.timeout, ping_interval=None)
        self._reader = asyncio.create_task(self._read())
        self.query_string = query
        return await self.rerun(page_name=path)

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                if isinstance(data, bytes):
                    m = ForwardMsg()
                    m.ParseFromString(data)
                    self._queue.put_nowait(m)
        except Exception as e:  # noqa: BLE001 — handed to the waiting run
            self._queue.put_nowait(e)
        else:
            self._queue.put_nowait(ProtocolError("the server closed the connection"))

    async def rerun(self, *, page_script_hash: str = "", page_name: str = "", widgets: list | None = None,
                    query_string: str | None = None) -> Run:
        """Ask for a run of the app and wait for its end: the Run of the last script run (the app's own
        st.rerun()s followed). `widgets`: WidgetState-like dicts (id plus one value field)."""
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query_string if query_string is None else query_string
        cs.page_script_hash = page_script_hash
        cs.page_name = page_name
        cs.context_info.timezone = "Asia/Shanghai"
        cs.context_info.timezone_offset = -480
        cs.context_info.locale = "zh-CN"
        cs.context_info.url = f"{self.url}/{page_name}"
        for w in widgets or ():
            ws = cs.widget_states.widgets.add()
            for k, v in w.items():
                setattr(ws, k, v)
        while not self._queue.empty():  # what an earlier run left (nothing normally)
            self._queue.get_nowait()
        t = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        run = Run()
        deadline = t + self.timeout
        while True:
            try:
                m = await asyncio.wait_for(self._queue.get(), max(0.01, deadline - time.perf_counter()))
            except TimeoutError:
                raise ProtocolError(f"no script_finished within {self.timeout:g} s") from None
            if isinstance(m, Exception):
                raise ProtocolError(f"connection lost: {type(m).__name__}: {m}") from m
            kind = m.WhichOneof("type")
            if kind == "new_session":
                run.elements = []
                run.runs += 1
                run.page_script_hash = m.new_session.page_script_hash
            elif kind == "delta" and m.delta.WhichOneof("type") == "new_element":
                run.elements.append(m.delta.new_element)
            elif kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in m.navigation.app_pages}
                self.page_names = {p.url_pathname: p.page_name for p in m.navigation.app_pages}
                run.page_script_hash = m.navigation.page_script_hash or run.page_script_hash
            elif kind == "page_info_changed":
                self.query_string = m.page_info_changed.query_string
            elif kind == "page_not_found":
                raise ProtocolError(f"page not found: {m.page_not_found.page_name}")
            elif kind == "script_finished":
                if m.script_finished in (EARLY, FRAGMENT):  # the next run follows / a fragment's own run
                    continue
                if m.script_finished != FINISHED:  # FINISHED_WITH_COMPILE_ERROR: the page's script is broken
                    name = ForwardMsg.ScriptFinishedStatus.Name(m.script_finished)
                    raise ProtocolError(f"the script ended with {name}")
                run.seconds = time.perf_counter() - t
                self.page_script_hash = run.page_script_hash
                return run

    async def goto(self, name: str) -> Run:
        """Open a page by its url path as the sidebar's link does (its script hash; the query string filtered to
        nothing, as the browser's page change drops the other page's parameters)."""
        if name not in self.pages:
            raise ProtocolError(f"no page {name!r} in the navigation (have: {', '.join(self.pages) or 'none'})")
        return await self.rerun(page_script_hash=self.pages[name], query_string="")

    async def login(self, run: Run, username: str, password: str) -> Run:
        """Submit the login form that `run` (the login screen) drew."""
        user, pw = run.widget("text_input", "login_user"), run.widget("text_input", "login_password")
        submit = next((b for b in run.kinds("button") if b.is_form_submitter and b.label == "登录"), None)
        if user is None or pw is None or submit is None:
            raise ProtocolError("no login form on the screen")
        return await self.rerun(page_script_hash=self.page_script_hash, widgets=[
            {"id": user.id, "string_value": username}, {"id": pw.id, "string_value": password},
            {"id": submit.id, "trigger_value": True}])

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

"""On a real server (tests/support/server.py) in headless Chromium (issue 12, holes 6 and 8): the upload endpoint refuses
anonymous and non-uploading sessions before reading a body, limits the size, and frees what a session left when
it is gone; table exports have no standing URL (built when clicked, after the audit entry) and the grid's own CSV
download is off."""
from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from support.logins import add_users, browser_login, store
from support.server import Server, require_chromium, write_config
from test_security_data import FORMULA, hostile_county

from core import config

pytestmark = pytest.mark.browser
require_chromium()

MB = 1024 * 1024
UPLOAD_JS = """async ([sid, size]) => {
  const xsrf = decodeURIComponent((document.cookie.match(/(?:^|; )_streamlit_xsrf=([^;]+)/) || [])[1] || "");
  const fd = new FormData();
  fd.append("file", new Blob([new Uint8Array(size)]), "a.bin");
  const r = await fetch(`/_stcore/upload_file/${sid}/f${Math.floor(Math.random() * 1e9)}`,
                        {method: "PUT", body: fd, headers: {"X-Xsrftoken": xsrf}, credentials: "same-origin"});
  return r.status;
}"""


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    root = tmp_path_factory.mktemp("security-server")
    cfg = write_config(root)
    s = config.load_settings(cfg)
    c, t3 = hostile_county()
    c.build(root, settings=s, load_time=dt.datetime(2024, 4, 1))
    add_users(s)
    return cfg, store(s), t3


def _open(context, url: str, user: str | None):
    page = context.new_page()
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
        f if isinstance(f, bytes) else f.encode())))
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    if user:
        browser_login(page, user)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(1500)
    return page, frames


def _session_id(frames: list[bytes]) -> str:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    for f in frames:
        m = ForwardMsg()
        try:
            m.ParseFromString(f)
        except Exception:  # noqa: BLE001 — not a ForwardMsg
            continue
        if m.HasField("new_session") and m.new_session.initialize.session_id:
            return m.new_session.initialize.session_id
    raise AssertionError("no session id in the frames")


def test_uploads_only_for_roles_that_may_upload_limited_and_freed(county, browser, monkeypatch):
    cfg, _, _ = county
    monkeypatch.setenv("GRIDWATCH_UPLOAD_SWEEP_SECONDS", "1")
    srv = Server(cfg)
    try:
        ctx = browser.new_context()
        anon, frames = _open(ctx, srv.url, None)  # the login screen: not logged in
        sid = _session_id(frames)
        # refused before the body is read: 413 while no script has run yet (no upload at all before the guard is
        # installed), 400 once it is (the session may not upload)
        assert anon.evaluate(UPLOAD_JS, [sid, 5 * MB]) in (400, 413)
        leader, frames = _open(ctx, srv.url, "leader")  # logged in, but no upload page
        assert leader.evaluate(UPLOAD_JS, [_session_id(frames), MB]) == 400
        admin, frames = _open(ctx, srv.url, "admin")
        sid = _session_id(frames)
        assert admin.evaluate(UPLOAD_JS, [sid, 3 * MB]) == 204  # the role that may upload
        assert admin.evaluate(UPLOAD_JS, [sid, 51 * MB]) == 413  # server.maxUploadSize = 50
        admin.close()  # the session goes away with its upload
        ctx.close()
        time.sleep(4)
    finally:
        log = srv.stop()
    freed = [int(n) for n in re.findall(r"uploads: freed (\d+) bytes", log)]
    assert sum(freed) >= 3 * MB, log[-2000:]
    assert "refused an upload" in log


def test_exports_have_no_standing_url_and_are_audited(county, browser):
    cfg, st_, t3 = county
    srv = Server(cfg)
    try:
        ctx = browser.new_context(accept_downloads=True, viewport={"width": 1440, "height": 900})
        page, frames = _open(ctx, f"{srv.url}/events?p=2024-03&k=month&u={t3}", "admin")
        page.wait_for_selector('text=事件清单', timeout=60_000)
        ws = b"".join(frames)
        assert not re.search(rb"/media/[0-9a-f]+\.(csv|xlsx)", ws)  # no URL to any export before a click
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        configs = []
        for f in frames:
            m = ForwardMsg()
            try:
                m.ParseFromString(f)
            except Exception:  # noqa: BLE001
                continue
            if m.HasField("new_session"):
                configs.append(m.new_session.config.disable_data_export)
        assert configs and all(configs)  # the grid's own CSV download / copy is off
        before = len(st_.audit_entries(None, action="export"))
        buttons = page.get_by_role("button", name="导出 CSV")
        with page.expect_download(timeout=60_000) as dl:
            buttons.last.click()
        body = open(dl.value.path(), encoding="utf-8-sig").read()
        assert "'" + FORMULA.replace('"', '""') in body and "'+HYPERLINK" in body
        entries = st_.audit_entries(None, action="export")
        assert len(entries) == before + 1 and entries[0]["actor"] == "admin" and "csv" in entries[0]["detail"]
        # the bulletin's downloads too
        page, frames = _open(ctx, f"{srv.url}/bulletin?p=2024-03&k=month", "admin")
        page.wait_for_selector('text=下载 Word', timeout=60_000)
        assert not re.search(rb"/media/[0-9a-f]+\.(docx|xlsx|md|json)", b"".join(frames))
        with page.expect_download(timeout=60_000) as dl:
            page.get_by_role("button", name="下载 Word").click()
        assert open(dl.value.path(), "rb").read(2) == b"PK"
        entry = st_.audit_entries(1, action="export")[0]
        assert entry["target"].endswith(".docx") and entry["actor"] == "admin"
        ctx.close()
    finally:
        srv.stop()

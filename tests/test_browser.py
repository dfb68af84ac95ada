"""The real server in a real browser: every page opens without an error, nothing is requested from any host but
the server, the wall display fits 1920×1080 without scrollbars and sends no personal data over the websocket.

Screenshots of every page are saved to test-artifacts/ (a CI artefact). Needs Debian's chromium and
fonts-noto-cjk (installed by .ci/run); without chromium the tests are skipped locally and fail in CI.
"""
from __future__ import annotations

from urllib.parse import urlparse

import pytest
from support.county import build_sample
from support.logins import add_users, browser_login, store
from support.server import ROOT, Server, require_chromium, write_config

from core import config

ARTIFACTS = ROOT / "test-artifacts"
PAGES = {"home": "", "activity": "activity", "events": "events", "key_persons": "key_persons",
         "compare": "compare", "bulletin": "bulletin", "weekly": "bulletin?view=周报", "quality": "quality",
         "upload": "upload",
         "wall": "wall"}
# Streamlit probes `<page>/_stcore/health` and `<page>/_stcore/host-config` before the root ones when a
# sub-page is opened directly (streamlit/streamlit#7074): two harmless 404s, the only console errors allowed.
KNOWN_404 = ("/_stcore/health", "/_stcore/host-config")

pytestmark = pytest.mark.browser
DISPLAY: dict[str, str] = {}  # the display token of the test server (wall pages open with it, as a screen does)

require_chromium()



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    cfg = write_config(root)
    build_sample(root, config.load_settings(cfg))
    add_users(config.load_settings(cfg))
    DISPLAY["token"] = store(config.load_settings(cfg)).add_token("测试大屏", actor="test")[1]
    srv = Server(cfg)
    yield srv.url
    srv.stop()


def _open(browser, url: str, width: int, height: int, name: str, user: str | None = "admin") -> dict:
    """Open `url` in a new browser session, log in as `user` through the form (None: the URL carries a display
    token), wait for the page and collect what it did."""
    page = browser.new_page(viewport={"width": width, "height": height})
    external, errors, frames = [], [], []
    local = {"127.0.0.1", "localhost"}
    page.on("request", lambda r: external.append(r.url) if urlparse(r.url).hostname not in local
            and urlparse(r.url).scheme in ("http", "https", "ws", "wss") else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400
            and not (r.status == 404 and r.url.endswith(KNOWN_404)) else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and "404 (Not Found)" not in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
        f if isinstance(f, bytes) else f.encode())))
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    if user:
        browser_login(page, user)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(2500)
    info = page.evaluate("""() => ({
        exceptions: document.querySelectorAll('[data-testid="stException"]').length,
        errorBoxes: [...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => e.innerText),
        scrollW: document.documentElement.scrollWidth, scrollH: document.documentElement.scrollHeight,
        mainScrollH: (document.querySelector('[data-testid="stMain"]') || document.body).scrollHeight,
        text: document.body.innerText })""")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}x{height}.png"))
    page.close()
    return {**info, "external": external, "errors": errors, "ws": b"".join(frames)}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_opens_cleanly_offline(server, browser, name):
    size = (1920, 1080) if name == "wall" else (1440, 900)
    if name == "wall":  # the wall display, as installed: its display token, nobody logs in
        r = _open(browser, f"{server}/wall?display_token={DISPLAY['token']}", *size, name, user=None)
    else:
        r = _open(browser, f"{server}/{PAGES[name]}", *size, name)
    assert r["external"] == [], f"requests to other hosts: {r['external']}"
    assert r["exceptions"] == 0 and r["errorBoxes"] == [], r["errorBoxes"]
    assert r["errors"] == [], r["errors"]
    assert "Page not found" not in r["text"]


def test_wall_fits_the_screen_and_sends_no_personal_data(server, browser):
    r = _open(browser, f"{server}/wall?display_token={DISPLAY['token']}", 1920, 1080, "wall-check", user=None)
    assert r["scrollW"] <= 1920 and r["scrollH"] <= 1080 and r["mainScrollH"] <= 1080, r
    assert "指挥中心" in r["text"]
    ws = r["ws"]
    assert len(ws) > 1000  # the page's data did come over the websocket
    for secret in ("张三丰", "钱七星", "张**", "13812345670", "138****5670", "1390000000", "居民反映问题",
                   "510723199001011232", "李四光"):
        assert secret.encode() not in ws, f"{secret} was sent to the wall display"


def test_wall_at_4k_scale_and_32_9(server, browser):
    r = _open(browser, f"{server}/wall?scale=2&display_token={DISPLAY['token']}", 3840, 2160, "wall-4k", user=None)
    assert r["scrollW"] <= 3840 and r["scrollH"] <= 2160, r
    r = _open(browser, f"{server}/wall?panels=all&display_token={DISPLAY['token']}", 3840, 1080, "wall-32x9",
              user=None)
    assert r["scrollW"] <= 3840 and r["scrollH"] <= 1080, r
    assert r["errors"] == [] and r["exceptions"] == 0


def _download(page, label: str):
    """Click a download button and return (suggested file name, bytes)."""
    button = page.get_by_role("button", name=label, exact=True)
    button.wait_for(timeout=120_000)
    with page.expect_download(timeout=120_000) as d:
        button.click()
    path = d.value.path()
    return d.value.suggested_filename, open(path, "rb").read()


@pytest.mark.parametrize("view, query, word, stem", [
    ("月度通报", "k=month&p=2024-03", "下载 Word", "2024年3月份全县网格化服务管理工作情况通报"),
    ("周报", "k=week&p=2024-W10", "下载周报 (Word)", "2024年第10周全县领导周例会数据"),
])
def test_bulletin_and_weekly_review_download_as_word_and_pdf(server, browser, view, query, word, stem):
    import io

    import docx

    page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page.goto(f"{server}/bulletin?view={view}&{query}", wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    browser_login(page, "admin")
    name, data = _download(page, word)
    assert name == f"{stem}.docx"
    texts = [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]
    assert texts[0].endswith("网格化服务管理工作情况通报" if view == "月度通报" else "网格化服务管理周例会数据")
    name, data = _download(page, "下载 PDF")  # converted by LibreOffice when clicked
    assert name == f"{stem}.pdf" and data.startswith(b"%PDF")
    if view == "月度通报":  # the preview in the docx's punctuation
        body = page.locator('[data-testid="stMain"]').inner_text()
        assert "各乡镇、县级有关部门：" in body and "各乡镇、县级有关部门:" not in body
    page.screenshot(path=str(ARTIFACTS / f"downloads-{'bulletin' if view == '月度通报' else 'weekly'}.png"))
    page.close()

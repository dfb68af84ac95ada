"""A real server in headless Chromium: each role logs in through the form and finds only its pages and its rows;
the websocket frames (everything the browser received) are searched for what the role must not get. The wall
display logs in with its token, keeps working from the cookie after a browser restart without the token in the
URL, and is shown the login screen within one refresh after the token is revoked."""
from __future__ import annotations

import pytest
from support.county import build_sample
from support.logins import add_users, browser_login, store
from support.server import Server, require_chromium, write_config

from core import config

pytestmark = pytest.mark.browser
require_chromium()


NAV = {
    "admin": ["概览", "账号活跃度", "事件办结", "三项重点工作", "乡镇对比", "通报与周报", "预警与督办", "考核",
              "指挥中心大屏", "数据上传", "数据质量", "用户与大屏令牌", "审计日志"],
    "leader": ["概览", "账号活跃度", "事件办结", "三项重点工作", "乡镇对比", "通报与周报", "预警与督办", "考核",
               "指挥中心大屏"],
    "township": ["概览", "账号活跃度", "事件办结", "三项重点工作", "通报与周报", "预警与督办", "考核", "数据上传"],
    "department": ["三项重点工作", "预警与督办"],
}
FULL = ["张三丰", "李四光", "钱七星", "13812345674", "13900000003", "510723199001011232"]
MASKED = ["钱**", "138****5674", "139****0003", "李**", "510723********1232"]
WENCHANG = ["文昌镇四个社区", "文昌镇农村网格", "文昌一社区", "138****5670", "139****0000", "文昌司法所"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-roles")
    cfg = write_config(root, "[dashboard]\nrefresh_seconds = 4\n")
    s = config.load_settings(cfg)
    build_sample(root, s)
    add_users(s)
    srv = Server(cfg)
    yield srv.url, store(s)
    log = srv.stop()
    for secret in FULL + ["correct-horse-9", "gwd_"]:  # nothing sensitive in the server's log
        assert secret not in log, secret


def _settle(page) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(2000)


def _visit(context, url: str, user: str | None) -> tuple[object, bytes]:
    page = context.new_page()
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
        f if isinstance(f, bytes) else f.encode())))
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    if user:
        browser_login(page, user)
    _settle(page)
    return page, frames


def _nav(page) -> list[str]:
    return [a.inner_text().strip().split("\n")[-1] for a in page.locator('[data-testid="stSidebarNav"] a').all()]


@pytest.mark.parametrize("user", list(NAV))
def test_each_role_logs_in_and_finds_only_its_pages(server, browser, user):
    url, _ = server
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page, _ = _visit(ctx, url, user)
    assert _nav(page) == NAV[user]
    if user == "department":
        assert "三项重点工作" in page.inner_text("h1")
    assert user in page.inner_text('[data-testid="stSidebar"]')
    ctx.close()


def test_township_user_url_tampering_gets_only_its_township(server, browser):
    url, _ = server
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    for path in ("events?p=2024-03&k=month&u=510799001-U", "activity?p=2024-03&k=month&u=510799001",
                 "quality", "compare"):
        page, frames = _visit(ctx, f"{url}/{path}", "township")
        ws = b"".join(frames)
        assert len(ws) > 1000
        for other in WENCHANG + FULL:
            assert other.encode() not in ws, (path, other)
        assert "数据质量" not in page.inner_text("h1")  # /quality is not its page: its start page instead
        page.close()
    ctx.close()


def test_leader_and_department_receive_what_they_may(server, browser):
    url, _ = server
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page, frames = _visit(ctx, f"{url}/activity?p=2024-03&k=month&u=510799002", "leader")
    ws = b"".join(frames)
    for secret in FULL + MASKED:
        assert secret.encode() not in ws, secret
    page.close()
    page, frames = _visit(ctx, f"{url}/events?p=2024-03&k=month", "department")  # not its page: its start page
    assert "三项重点工作" in page.inner_text("h1")
    ws = b"".join(frames)
    for secret in ["139****0003", "居民反映问题"] + FULL:
        assert secret.encode() not in ws, secret
    ctx.close()


def test_wall_display_token_cookie_and_revocation(server, browser):
    url, st_ = server
    rec, token = st_.add_token("浏览器测试大屏", actor="test")
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    page, frames = _visit(ctx, f"{url}/wall?display_token={token}", None)
    assert "指挥中心" in page.inner_text("body")
    assert "display_token" not in page.url  # the token left the address bar
    ws = b"".join(frames)
    for secret in FULL + MASKED + ["居民反映问题"]:
        assert secret.encode() not in ws, secret
    page.close()
    # the screen's browser restarts and opens the wall without the token: the cookie logs it in
    page, _ = _visit(ctx, f"{url}/wall", None)
    assert "指挥中心" in page.inner_text("body")
    # revoked: within a refresh interval the wall shows the login screen
    st_.revoke_token(rec.token_id, actor="test")
    page.wait_for_selector('input[aria-label="用户名"]', timeout=30_000)
    assert "指挥中心网格" not in page.inner_text("body")
    ctx.close()

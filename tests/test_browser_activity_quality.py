"""有效活跃度 in headless Chromium on the hand-made county of tests/support/aq_county.py: a 乡镇用户 (宏仁乡) gets only
its own 乡镇's flagged accounts in the table and the drill (卧龙镇's WGH never reaches the browser, not even when asked
for in the URL); the 县领导 gets the unit figures and no account row, id or name."""
from __future__ import annotations

import pytest
from support.aq_county import LOAD_TIME, aq_county
from support.logins import add_users, browser_login
from support.server import Server, require_chromium, write_config

from core import config

pytestmark = pytest.mark.browser
require_chromium()

HONGREN = ["WGB", "WGC", "WGD", "WGE", "WGF"]  # 宏仁乡's flagged accounts
WOLONG = ["吴**", "吴十全"]  # the masked and full name of 卧龙镇's flagged account WGH
NAMES = ["李四光", "李**", "赵六合", "赵**", "孙八方", "孙**"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-aq")
    cfg = write_config(root)
    s = config.load_settings(cfg)
    c, _ = aq_county()
    c.build(root, settings=s, load_time=LOAD_TIME)
    add_users(s)
    srv = Server(cfg)
    yield srv.url
    srv.stop()


def _no_account(ws: bytes, account: str) -> bool:
    """`account` reaches the browser only as the page's own URL echoed back (acct=…), never as data."""
    return ws.count(account.encode()) == ws.count(f"acct={account}".encode())


def _settle(page) -> None:
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(1500)


def _open_view(browser, url: str, user: str, path: str):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
        f if isinstance(f, bytes) else f.encode())))
    page.goto(f"{url}/{path}", wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    browser_login(page, user)
    _settle(page)
    page.get_by_role("radio", name="有效活跃度", exact=True).click()
    page.wait_for_selector("text=各单位官方与有效活跃度", timeout=60_000)
    _settle(page)
    return ctx, page, frames


def test_township_user_sees_only_its_own_accounts_and_drill(server, browser):
    ctx, page, frames = _open_view(browser, server, "township", "activity?p=2024-03&k=month&acct=WGH")
    body = page.inner_text("body")
    assert "有信号的账号" in body and "当前角色只能查看汇总数据" not in body
    ws = b"".join(frames)
    for a in HONGREN:
        assert a.encode() in ws, a  # its own flagged accounts are in the table
    for other in WOLONG + ["卧龙镇"]:
        assert other.encode() not in ws, other  # the other 乡镇's account never reaches the browser
    assert _no_account(ws, "WGH")
    assert "查看账号" in body and "WGH" not in body  # the URL's acct=WGH is not one of its accounts: ignored
    ctx.close()
    # drill into one of its own accounts (the URL names it): the heatmap and the map of its patrol points
    ctx, page, frames = _open_view(browser, server, "township", "activity?p=2024-03&k=month&acct=WGD")
    page.wait_for_selector("text=每日各时段操作次数", timeout=60_000)
    _settle(page)
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1
    assert page.locator('[data-testid="stDeckGlJsonChart"]').count() >= 1
    assert "夜间批量上传" in page.inner_text("body")
    ws = b"".join(frames)
    for other in WOLONG:
        assert other.encode() not in ws, other
    assert _no_account(ws, "WGH") and b"WGD" in ws
    ctx.close()


def test_leader_sees_unit_figures_only(server, browser):
    ctx, page, frames = _open_view(browser, server, "leader", "activity?p=2024-03&k=month&acct=WGB")
    body = page.inner_text("body")
    assert "当前角色只能查看汇总数据" in body and "查看账号" not in body
    ws = b"".join(frames)
    assert "宏仁乡".encode() in ws and "卧龙镇".encode() in ws  # the unit figures
    for secret in WOLONG + NAMES:
        assert secret.encode() not in ws, secret
    for account in HONGREN + ["WGH"]:
        assert _no_account(ws, account), account
    ctx.close()

"""The 考核 page in a real server and headless Chromium, on the sample county (tests/support/county.py, data in
January and March 2024: 2024-Q1): the 县级管理员 sees every unit with the same scores, ranks and grades as
warehouse.assessment computes for the quarter, and downloads the 季点评 docx; the 乡镇用户 (宏仁乡) gets only its
own row, with its county rank, and nothing of the other 乡镇 (the websocket frames searched)."""
from __future__ import annotations

import io

import docx
import pytest
from support.county import build_sample
from support.logins import add_users, browser_login
from support.server import ROOT, Server, require_chromium, write_config

from core import config
from warehouse import assessment, db, fmt

pytestmark = pytest.mark.browser
require_chromium()
ARTIFACTS = ROOT / "test-artifacts"
QUARTER = assessment.Quarter(2024, 1)
WENCHANG = ["文昌镇四个社区", "文昌镇农村网格"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-assessment")
    cfg = write_config(root)
    s = config.load_settings(cfg)
    build_sample(root, s)
    add_users(s)
    con = db.open_published(root / "wh")
    expected = assessment.compute(con, QUARTER, settings=s)
    con.close()
    srv = Server(cfg)
    yield srv.url, expected
    srv.stop()


def _visit(context, url: str, user: str):
    page = context.new_page()
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
        f if isinstance(f, bytes) else f.encode())))
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    browser_login(page, user)
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=90_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(1500)
    return page, frames


def _column(units: list[dict], value) -> bytes:
    """A column of the page's table as the frames carry it (Arrow keeps a string column's values end to end)."""
    return "".join(value(u) for u in units).encode()


def test_admin_sees_the_figures_of_warehouse_assessment(server, browser):
    url, expected = server
    assert len(expected.units) == 3 and all(u["score"] is not None for u in expected.units)
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    page, frames = _visit(ctx, f"{url}/assessment?q={QUARTER.key}", "admin")
    assert page.inner_text("h1") == "考核"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "assessment-admin.png"), full_page=True)
    ws = b"".join(frames)
    # the rows in rank order, each column exactly as warehouse.assessment has it
    assert _column(expected.units, lambda u: u["full_name"]) in ws
    assert _column(expected.units, lambda u: fmt.score(u["score"])) in ws
    assert _column(expected.units, lambda u: fmt.count(u["rank"])) in ws
    assert _column(expected.units, lambda u: u["grade"]) in ws
    assert _column(expected.units, lambda u: fmt.score(u["score_activity"])) in ws
    body = page.inner_text("body")
    assert "平均得分" in body and fmt.score(expected.mean_score) in body.split("平均得分", 1)[1][:20]
    assert "2024年第一季度 考核得分" in body
    with page.expect_download() as dl:  # the 季点评 of the quarter on the page
        page.get_by_role("button", name="下载 Word").click()
    d = docx.Document(io.BytesIO(open(dl.value.path(), "rb").read()))
    assert d.paragraphs[0].text == expected.title
    assert [row.cells[2].text for row in d.tables[0].rows[1:]] == [fmt.score(u["score"]) for u in expected.units]
    # the 年度总评 of 2024: the mean of the quarters with data (Q1 only here)
    page.goto(f"{url}/assessment?view=年度总评&y=2024", wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_function("() => document.body.innerText.includes('2024年度全县网格化服务管理工作考核总评')",
                           timeout=60_000)
    page.wait_for_timeout(1000)
    assert "2024-Q2、2024-Q3、2024-Q4 无数据" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "assessment-year.png"), full_page=True)
    ctx.close()


def test_township_user_sees_only_its_own_row(server, browser):
    url, expected = server
    own = [u for u in expected.units if u["full_name"] == "宏仁乡"]
    assert len(own) == 1
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    page, frames = _visit(ctx, f"{url}/assessment?q={QUARTER.key}", "township")
    page.screenshot(path=str(ARTIFACTS / "assessment-township.png"), full_page=True)
    ws = b"".join(frames)
    assert b"\xe5\xae\x8f\xe4\xbb\x81\xe4\xb9\xa1" in ws  # 宏仁乡
    assert fmt.score(own[0]["score"]).encode() in ws
    body = page.inner_text("body")
    assert f"全县第 {own[0]['rank']} 名 · {own[0]['grade']}" in body and f"{fmt.score(own[0]['score'])} 分" in body
    for other in WENCHANG:
        assert other.encode() not in ws, other
    for u in expected.units:
        if u is not own[0]:
            assert _column([u], lambda x: fmt.score(x["score"])) not in ws or \
                fmt.score(u["score"]) == fmt.score(own[0]["score"])
    ctx.close()

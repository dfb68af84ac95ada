"""预警与督办 in a real server and headless Chromium, on tests/support/warning_county.py (data to 2024-03-17, six
open warnings): the wall shows the count and the top reason lines and no personal data; a 县级管理员 acknowledges
a warning (audited) and issues a 督办单, downloads the docx, which opens with python-docx and renders (LibreOffice →
PDF → pdftoppm); a 乡镇用户 (宏仁乡) sees only its own warnings, a 部门用户 (宏仁派出所) only its office's, and the
县领导 can neither acknowledge nor issue."""
from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from support import warning_county
from support.logins import add_users, browser_login, store
from support.server import Server, require_chromium, write_config

from core import config

pytestmark = pytest.mark.browser
require_chromium()

PERSONS = ["张三丰", "李四光", "王五常", "赵六合", "钱七星", "孙八方", "周九州", "吴十全", "郑一鸣", "冯二虎", "陈三元",
           "褚四海", "卫五岳", "蒋六顺", "13812345678", "5107231990010112"]
REASONS = {
    "卧龙镇": "卧龙镇 本周账号活跃度 40%，上周 100%，下降 60 个百分点",
    "宏仁乡": "宏仁乡 本周事件办结率 20%，上周 80%，下降 60 个百分点",
    "宏仁派出所": "宏仁派出所 近 30 天报送中超时未签收 (红灯) 6 条，超过上限 5 条，最久已等待 7.6 天",
    "龙泉乡": "龙泉乡 已连续 16 天未上报事件 (最近一次上报在 2024-03-01)",
    "石桥镇": "石桥镇 事件办结率连续 2 个月低于 50%：2月 30%，1月 40%",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-warnings")
    cfg = write_config(root, "[dashboard]\nrefresh_seconds = 5\n")
    s = config.load_settings(cfg)
    warning_county.build(root, s)
    add_users(s)
    srv = Server(cfg)
    yield srv.url, s
    srv.stop()


def _visit(browser, url: str, user: str | None, width: int = 1440, height: int = 900):
    ctx = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = ctx.new_page()
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
        f if isinstance(f, bytes) else f.encode())))
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    if user:
        browser_login(page, user)
    _settle(page)
    return ctx, page, frames


def _settle(page, wait: int = 1500) -> None:
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(wait)


def _grid_text(page, key: str) -> str:
    """The cells of a st.dataframe (canvas-drawn: read from its accessible table), one per line; `key`: the
    warnings table (the first on the page) or the orders table (the second)."""
    grid = page.locator('[data-testid="stDataFrame"]').nth(0 if key == "warnings-table" else 1)
    grid.wait_for(timeout=60_000)
    grid.locator('td[role="gridcell"]').first.wait_for(state="attached", timeout=60_000)
    return "\n".join(grid.locator('td[role="gridcell"]').evaluate_all("cs => cs.map(c => c.textContent.trim())"))


def test_wall_shows_count_and_top_reasons_without_personal_data(server, browser):
    url, s = server
    _, token = store(s).add_token("预警测试大屏", actor="test")
    ctx, page, frames = _visit(browser, f"{url}/wall?panel=0&display_token={token}", None, 1920, 1080)
    page.wait_for_selector(".wall-warn", timeout=60_000)
    strip = page.inner_text(".wall-warn")
    from warehouse import db, warnings

    with db.open_published(s.paths.warehouse_dir) as con:
        n = len(warnings.evaluate(con, settings=s))
    assert n == 7 and strip.startswith(f"预警 {n} 条"), strip  # the seven rules of warning_county, one each
    assert REASONS["卧龙镇"] in strip  # the most urgent (红) first
    assert "另 " in strip  # the rest counted, not cut
    dims = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert dims[0] <= 1920 and dims[1] <= 1080, dims
    box = page.locator(".wall-warn").bounding_box()
    inner = page.evaluate("() => { const e = document.querySelector('.wall-warn'); "
                          "return [e.scrollWidth, e.clientWidth]; }")
    assert inner[0] <= inner[1] + 1 and box["y"] + box["height"] <= 1080, (inner, box)
    received = b"".join(frames).decode("utf-8", errors="replace") + page.content()
    for secret in PERSONS:
        assert secret not in received, secret
    ctx.close()


def test_admin_acknowledges_and_issues_an_order(server, browser, tmp_path):
    from docx import Document

    url, s = server
    ctx, page, _ = _visit(browser, f"{url}/warnings", "admin")
    table = _grid_text(page, "warnings-table")
    for reason in REASONS.values():
        assert reason in table, reason
    # pick the 宏仁派出所 backlog and acknowledge it
    box = page.locator('[data-testid="stSelectbox"]:has(input[aria-label="选择预警"])')
    box.scroll_into_view_if_needed()
    box.locator("input").click()
    page.keyboard.type("宏仁派出所")  # the selectbox filters its options by what is typed
    page.locator('[role="option"]').filter(has_text="宏仁派出所").first.click(timeout=30_000)
    _settle(page)
    page.get_by_label("确认说明 (可选)").fill("已电话联系派出所")
    page.get_by_label("确认说明 (可选)").press("Enter")
    _settle(page)
    page.get_by_role("button", name="确认预警").click()
    _settle(page, 2500)
    assert "已确认 (admin)" in _grid_text(page, "warnings-table")
    audit = store(s).audit_entries(20, action="warning_ack")
    assert audit and audit[0]["actor"] == "admin" and REASONS["宏仁派出所"] == audit[0]["detail"]
    assert audit[0]["reason"] == "已电话联系派出所"
    # issue the 督办单 and download it
    page.get_by_role("button", name="下发督办单").click()
    _settle(page, 2500)
    assert "已下发 督〔" in page.inner_text('[data-testid="stMain"]')
    orders = _grid_text(page, "orders-table")
    assert "宏仁派出所" in orders and "待答复" in orders  # issued now, due in 7 days, nothing signed
    assert store(s).audit_entries(20, action="supervision_order")[0]["actor"] == "admin"
    button = page.get_by_role("button", name="下载督办单 (Word)")
    with page.expect_download(timeout=120_000) as d:
        button.click()
    data = open(d.value.path(), "rb").read()
    assert d.value.suggested_filename.startswith("督办单_宏仁派出所_") and d.value.suggested_filename.endswith(".docx")
    doc = Document(io.BytesIO(data))
    text = "\n".join(p.text for p in doc.paragraphs) + "".join(c.text for t in doc.tables for r in t.rows
                                                              for c in r.cells)
    assert "宏仁派出所：" in text and "郑**" in text and "郑一鸣" not in text
    assert len(doc.tables[0].rows) == 7
    ctx.close()
    # it renders
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None or shutil.which("pdftoppm") is None:
        pytest.skip("LibreOffice / poppler not installed")
    src = tmp_path / "order.docx"
    src.write_bytes(data)
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path}/profile", "--headless", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(src)], check=True, capture_output=True, timeout=180)
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(tmp_path / "order.pdf"),
                    str(tmp_path / "p")], check=True)
    from PIL import Image

    img = Image.open(next(tmp_path.glob("p*.png"))).convert("RGB")
    w, h = img.size
    dark = sum(1 for x in range(0, w, 2) for y in range(0, h, 2) if max(img.getpixel((x, y))) < 100)
    assert dark > 300, dark
    pdftext = subprocess.run(["pdftotext", str(tmp_path / "order.pdf"), "-"], capture_output=True, text=True).stdout
    assert "督办单" in pdftext and "宏仁派出所" in pdftext


def test_township_user_sees_only_its_own(server, browser):
    url, _ = server
    ctx, page, frames = _visit(browser, f"{url}/warnings", "township")
    table = _grid_text(page, "warnings-table")
    assert REASONS["宏仁乡"] in table and REASONS["宏仁派出所"] in table
    for other in ("卧龙镇", "石桥镇", "龙泉乡"):
        assert other not in table, other
    assert "当前预警 2 条" in page.inner_text('[data-testid="stMain"]')
    received = b"".join(frames).decode("utf-8", errors="replace")
    for other in ("卧龙镇", "石桥镇", "龙泉乡", "基础信息采集统计 已"):
        assert other not in received, other
    assert page.get_by_role("button", name="下发督办单").count() == 0  # not the duty officer
    ctx.close()


def test_department_and_leader(server, browser):
    url, _ = server
    ctx, page, _ = _visit(browser, f"{url}/warnings", "department")
    table = _grid_text(page, "warnings-table")
    assert REASONS["宏仁派出所"] in table and "宏仁乡 本周" not in table
    ctx.close()
    ctx, page, _ = _visit(browser, f"{url}/warnings", "leader")
    table = _grid_text(page, "warnings-table")
    assert all(r in table for r in REASONS.values())
    assert page.get_by_role("button", name="确认预警").count() == 0
    assert page.get_by_role("button", name="下载督办单 (Word)").count() == 0
    ctx.close()

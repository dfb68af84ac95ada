"""数据上传 in a real browser on a real server: a 乡镇用户 uploads a contract csv, sees the preview (dataset, columns,
rows that will land and be quarantined, another 乡镇's row refused with its reason) before anything lands, confirms,
and the published figures include the new rows; a bad file gets a clear message and lands nothing; every file
loaded is in the audit log with its sha256."""
from __future__ import annotations

import csv
import hashlib
import re

import pytest
from support.county import build_sample
from support.logins import add_users, browser_login, store
from support.server import ROOT, Server, require_chromium, write_config

from core import config
from core.spec import DATASETS
from etl.lake import Lake

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts"
HR_GRID, WC_GRID = "510799002200001", "510799001001001"  # grids of 宏仁乡 (the user's) and of 文昌镇

require_chromium()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("upload")
    cfg = write_config(root)
    s = config.load_settings(cfg)
    build_sample(root, s)
    add_users(s)
    srv = Server(cfg)
    yield srv.url, root, s
    srv.stop()


def _kp_csv(path, rows: list[tuple[str, str]]) -> None:
    """A key-person reports delivery in the contract's Chinese headers: (report id, grid) per row, March 2024."""
    ds = DATASETS["key_person_reports"]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([c.header for c in ds.columns])
        for i, (rid, grid) in enumerate(rows):
            vals = {"report_id": rid, "category": "流动人口", "id_number": f"51072319900101{1240 + i:04d}"[:17] + "X",
                    "person_name": "上传测试", "grid_code": grid, "reported_at": f"2024-03-2{i} 10:00:00",
                    "police_station": "宏仁派出所", "updated_at": f"2024-03-2{i} 10:00:00"}
            w.writerow([vals.get(c.name, "") for c in ds.columns])


def _kp_tile(page, url: str) -> int:
    page.goto(f"{url}/?k=month&p=2024-03", wait_until="domcontentloaded", timeout=60_000)
    tile = page.locator('[data-testid="stMetric"]', has_text="重点人员报送").first
    tile.wait_for(timeout=60_000)
    value = tile.locator('[data-testid="stMetricValue"]').inner_text()
    return int(re.sub(r"\D", "", value))


def _upload(page, url: str, files) -> str:
    page.goto(f"{url}/upload", wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector("text=选择或拖入文件", timeout=120_000)  # the upload page under a loaded machine: 60 s was missed twice in a parallel run
    page.locator('input[type="file"]').set_input_files([str(f) for f in files])
    page.wait_for_selector("text=导入预览", timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(1000)
    return page.locator('[data-testid="stMain"]').inner_text()


def test_township_user_uploads_previews_confirms_and_sees_new_figures(env, browser, tmp_path):
    url, root, s = env
    lake = Lake(root / "lake")
    before_manifests = len(lake.manifests())
    f = tmp_path / "key_person_reports_20240325_宏仁乡.csv"
    _kp_csv(f, [("UP-1", HR_GRID), ("UP-2", HR_GRID), ("UP-3", WC_GRID), ("UP-4", "")])
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    browser_login(page, "township")
    before = _kp_tile(page, url)

    text = _upload(page, url, [f])
    page.screenshot(path=str((ARTIFACTS.mkdir(exist_ok=True), ARTIFACTS / "upload-preview.png")[1]), full_page=True)
    assert "重点人员信息报送" in text and "key_person_reports" in text  # the dataset matched
    assert "数据交付规范" in text  # how it was recognised
    assert "1 行不属于本乡镇 (宏仁乡), 将被拒收并隔离" in text
    assert "不属于本乡镇" in text and "尚未导入任何内容" in text
    assert "将入库 2 行, 隔离 2 行" in text  # the 文昌镇 row and the row without a grid
    assert len(lake.manifests()) == before_manifests  # nothing landed by the preview
    page.get_by_text("列对应关系").click()
    page.get_by_text("将隔离的行").first.click()
    page.wait_for_timeout(500)

    page.get_by_role("button", name="确认导入").click()
    page.wait_for_selector("text=导入成功", timeout=180_000)
    done = page.locator('[data-testid="stMain"]').inner_text()
    assert "入库 2 行, 隔离 2 行" in done and "已发布新版本" in done
    page.screenshot(path=str(ARTIFACTS / "upload-done.png"), full_page=True)

    assert _kp_tile(page, url) == before + 2  # the new figures, from the new published version
    m = [m for m in lake.manifests() if m["file"] == f.name]
    assert len(m) == 1 and m[0]["rows_landed"] == 2 and m[0]["rows_quarantined"] == 2
    assert m[0]["scope"]["township_code"] == "510799002"
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    entries = store(s).audit_entries(action="upload")
    assert any(e["actor"] == "township" and e["target"] == f.name and digest in e["detail"] for e in entries), entries
    page.close()


def test_bad_files_give_a_clear_message_and_land_nothing(env, browser, tmp_path):
    url, root, s = env
    lake = Lake(root / "lake")
    before = len(lake.manifests())
    binary = tmp_path / "events_20240326.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    notes = tmp_path / "工作笔记.txt"
    notes.write_text("不是交付文件", encoding="utf-8")
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    browser_login(page, "township")
    text = _upload(page, url, [binary, notes])
    page.screenshot(path=str(ARTIFACTS / "upload-bad.png"), full_page=True)
    assert text.count("无法导入此文件, 不会导入任何内容") == 2
    assert "不是可识别的交付文件" in text
    assert "没有可导入的文件" in text
    assert page.get_by_role("button", name="确认导入").count() == 0
    assert len(lake.manifests()) == before
    page.close()


def test_township_user_cannot_upload_rows_without_a_township(env, browser, tmp_path):
    """An activity log names no grid or unit: a 乡镇用户's upload of it is refused as a whole, with the reason."""
    url, root, s = env
    f = tmp_path / "activity_log_20240326.csv"
    ds = DATASETS["activity_log"]
    with open(f, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([c.header for c in ds.columns])
        w.writerow(["L-UP-1", "a1", "2024-03-26 09:00:00", "登录"] + [""] * (len(ds.columns) - 4))
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    browser_login(page, "township")
    text = _upload(page, url, [f])
    assert "乡镇用户不能上传「账号操作日志」" in text
    page.close()


def test_admin_downloads_the_quarantined_rows_in_the_files_own_headers(env, browser, tmp_path):
    """After the 乡镇's upload (the test above), the county administrator sees its quarantined rows on 数据质量, per
    乡镇, and downloads them as xlsx in the file's headers with 问题原因."""
    import io

    import openpyxl

    url, root, s = env
    page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page.goto(f"{url}/quality", wait_until="domcontentloaded", timeout=60_000)
    browser_login(page, "admin")
    page.wait_for_selector("text=隔离记录退回与更正", timeout=60_000)
    button = page.get_by_role("button", name=re.compile(r"下载隔离行 \(Excel, 2 行"))
    button.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as d:
        button.click()
    assert d.value.suggested_filename == "key_person_reports_20240325_宏仁乡_隔离记录.xlsx"
    ws = openpyxl.load_workbook(io.BytesIO(open(d.value.path(), "rb").read())).active
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0] == [c.header for c in DATASETS["key_person_reports"].columns] + ["问题原因"]
    assert {r[0] for r in rows[1:]} == {"UP-3", "UP-4"}
    assert any("不属于本乡镇 (宏仁乡)" in r[-1] for r in rows[1:])
    from warehouse import db

    con = db.open_published(root / "wh")
    towns = dict(con.execute("SELECT json_extract_string(raw, '$.report_id'), township_name FROM dq_quarantine "
                             "WHERE source_file = 'key_person_reports_20240325_宏仁乡.csv'").fetchall())
    con.close()
    assert towns == {"UP-3": "文昌镇", "UP-4": "宏仁乡"}  # no grid: the 乡镇 of the user who uploaded it
    page.screenshot(path=str(ARTIFACTS / "quality-quarantine-return.png"), full_page=True)
    assert any(e["action"] == "export" and "隔离记录" in e["detail"] for e in store(s).audit_entries(actor="admin"))
    page.close()

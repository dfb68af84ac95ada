"""The app's pages through Streamlit's AppTest, on a real warehouse built by the real ETL from fixture files."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.county import build_sample
from support.logins import add_users, login

from core import config

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
PAGES = ["home.py", "activity.py", "events.py", "key_persons.py", "compare.py", "bulletin.py", "wall.py", "quality.py"]
TIMEOUT = 60


def _use_config(path: Path) -> None:
    os.environ[config.ENV_VAR] = str(path)
    config.settings.cache_clear()


def _config(root: Path, **extra) -> Path:
    text = (f'[paths]\ndata_dir = "{root}"\ndrop_dir = "{root}/drop"\nlake_dir = "{root}/lake"\n'
            f'warehouse_dir = "{root}/wh"\n[demo]\nauto = false\n')
    p = root / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    _use_config(_config(root))
    build_sample(root, config.settings())
    add_users(config.settings())
    yield root
    os.environ.pop(config.ENV_VAR, None)
    config.settings.cache_clear()


def _run(page: str | None = None, user: str = "admin", **params) -> AppTest:
    """A logged-in session (through the login form) on `page` with the URL parameters `params`."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    login(at, user)
    assert not at.exception, [e.value for e in at.exception]
    if page:
        at.switch_page(str(ROOT / "pages" / page))
        for k, v in params.items():
            at.query_params[k] = v
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    """Everything the page sent: markdown, captions, metrics, tables."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [d.value.to_csv() for d in at.dataframe]
    parts += [i.value for i in at.info] + [w.value for w in at.warning] + [e.value for e in at.error]
    return "\n".join(map(str, parts))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(county, page):
    at = _run(page, p="2024-03", k="month")
    assert not at.error, [e.value for e in at.error]


def test_activity_figures_and_drill_down(county):
    at = _run("activity.py", p="2024-03", k="month")
    metrics = {m.label: m.value for m in at.metric}
    # 5 grid workers: 22, 20, 5, 25, 0 active days → 3 of 5 active
    assert metrics["网格员账号活跃度"] == "60%"
    assert metrics["活跃 / 计数账号"] == "3 / 5"
    units = at.dataframe[0].value
    assert list(units["单位"]) == ["文昌镇四个社区", "文昌镇农村网格", "宏仁乡"]
    assert list(units["活跃度"]) == ["100%", "0%", "50%"]
    # drill down into 宏仁乡: its village, its grids, and the inactive account with masked personal data
    at = _run("activity.py", p="2024-03", k="month", u="510799002")
    text = _text(at)
    assert "宏仁村" in text and "钱**" in text and "138****5674" in text
    assert "钱七星" not in text and "13812345674" not in text
    assert at.query_params["u"] == ["510799002"] or at.query_params["u"] == "510799002"


def test_period_without_data_says_so(county):
    at = _run("events.py", p="2024-02", k="month")
    assert any("2024年2月 没有数据" in i.value for i in at.info)
    assert not at.dataframe


def test_events_groups_and_masked_summaries(county):
    at = _run("events.py", p="2024-03", k="month", u="510799002")
    text = _text(at)
    assert "139****0003" in text and "13900000003" not in text


def test_key_persons_pages(county):
    at = _run("key_persons.py", p="2024-03", k="month")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["流动人口"] == "5 条"
    assert metrics["严重精神障碍患者"] == "1 条"


def test_bulletin_page_shows_the_bulletin(county):
    at = _run("bulletin.py", p="2024-03", k="month")
    assert any("3月份全县网格化服务管理工作情况通报" in m.value for m in at.markdown)
    labels = [b.label for b in at.get("download_button")]
    assert {"下载 Word", "下载 Excel 附表"} <= set(labels)


def test_wall_display_has_no_personal_data(county):
    at = _run("wall.py")
    text = _text(at)
    for secret in ("张三丰", "张**", "13812345670", "138****5670", "1390000000", "居民反映问题", "510723"):
        assert secret not in text
    assert any("指挥中心" in m.value for m in at.markdown)


def test_quality_page_lists_runs_and_freshness(county):
    at = _run("quality.py")
    text = _text(at)
    assert "组织机构" in text and "重点人员信息报送" in text


def test_quality_page_shows_source_health(county):
    """quality/source_health on the page: per feeding source its status, last success and expected interval, the
    same as etl.sources.health computes for the wall."""
    from dashboard.quality import source_health

    at = _run("quality.py")
    assert not at.exception
    assert "数据源状态" in [h.value for h in at.subheader]
    expected = source_health(config.load_settings())
    if len(expected):
        frames = [df.value for df in at.dataframe if "预期间隔 (小时)" in df.value.columns]
        assert frames and list(frames[0]["数据源"]) == list(expected["数据源"])
        assert list(frames[0]["状态"]) == list(expected["状态"])
    else:
        assert any("尚未配置数据源" in i.value for i in at.info)


def test_no_warehouse_and_no_demo_says_what_to_do(tmp_path):
    old = os.environ.get(config.ENV_VAR)
    _use_config(_config(tmp_path))
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        assert not at.exception
        assert any("尚未发布数据仓库" in e.value for e in at.error)
    finally:
        if old:
            _use_config(Path(old))


def test_first_start_builds_the_demo_county(tmp_path):
    """No warehouse, empty drop folder, demo on: the first visitor sees a progress bar and then the app."""
    old = os.environ.get(config.ENV_VAR)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path}"\ndrop_dir = "{tmp_path}/drop"\nlake_dir = "{tmp_path}/lake"\n'
                   f'warehouse_dir = "{tmp_path}/wh"\n[demo]\nauto = true\nmonths = 2\n', encoding="utf-8")
    _use_config(cfg)
    try:
        at = AppTest.from_file(APP, default_timeout=300)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert (tmp_path / "wh" / "CURRENT").exists()
        assert (tmp_path / "demo_drop" / "_demo_truth.json").exists()
        at.run()  # the one-time set-up of the first administrator, then the app itself, on the demo county
        assert not at.exception
        assert any("首次设置" in t.value for t in at.title)
        at.text_input(key="setup_user").input("admin")
        at.text_input(key="setup_password").input("first-admin-pw-1")
        at.text_input(key="setup_password2").input("first-admin-pw-1")
        next(b for b in at.button if b.label == "创建并登录").click()
        at.run()
        assert not at.exception
        assert any("概览" in t.value for t in at.title)
    finally:
        if old:
            _use_config(Path(old))


def test_wall_alerts_when_a_feeding_source_fails(county):
    """A configured source that cannot be reached shows on the wall's freshness line at once (from the lake's
    live state: a failed pull publishes nothing)."""
    import subprocess
    import sys

    cfg = county / "config-sources.toml"
    cfg.write_text((county / "config.toml").read_text(encoding="utf-8")
                   + '\n[[sources]]\nname = "省平台接口"\nurl = "http://127.0.0.1:9"\n'
                   + '[feeds]\napi_max_retries = 0\napi_timeout_seconds = 2\n', encoding="utf-8")
    old = os.environ[config.ENV_VAR]
    _use_config(cfg)
    try:
        subprocess.run([sys.executable, "-m", "etl", "watch", "--once"], cwd=ROOT, capture_output=True,
                       env=dict(os.environ, GRIDWATCH_CONFIG=str(cfg)), timeout=120)
        at = _run("wall.py")
        assert any("数据源「省平台接口」导入失败" in m.value for m in at.markdown), [m.value for m in at.markdown]
    finally:
        _use_config(Path(old))

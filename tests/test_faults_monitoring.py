"""Issue 11, defect 8: monitoring never says 正常 while files, pages or batches fail.

A failed file (API page, 前置库 batch) and the rows quarantined by the latest deliveries are a warning on the
数据质量 page, on the wall's freshness line and in `etl health` (exit code 2, 1 when a source failed) until they
are resolved: a later run landed a delivery of that name, or a later run of the source no longer lists it. Real
drop folders through the real pipeline; the 前置库/API cases replay run logs as the pipeline writes them.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest
from support.county import build_sample
from support.logins import add_users, login

from core import config
from etl import sources
from etl.lake import Lake, write_json
from etl.pipeline import run

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
BROKEN = "events_20240102.json"


def _config(root: Path, extra: str = "") -> Path:
    p = root / "config.toml"
    p.write_text(f'[paths]\ndata_dir = "{root}"\ndrop_dir = "{root}/drop"\nlake_dir = "{root}/lake"\n'
                 f'warehouse_dir = "{root}/wh"\n[demo]\nauto = false\n{extra}', encoding="utf-8")
    return p


def _run(root: Path, drop: Path | None = None):
    return run(drop or root / "drop", config.settings(), warehouse_dir=root / "wh", lake_dir=root / "lake",
               log=lambda m: None)


def _health_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GRIDWATCH_CONFIG=str(root / "config.toml"), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "etl", "health", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def _events(root: Path) -> list[dict]:
    return json.loads((root / "drop" / "events_20240101.json").read_text(encoding="utf-8"))


def _good(root: Path, name: str, event_id: str, folder: Path | None = None) -> None:
    """A valid events delivery of one event."""
    rows = [dict(_events(root)[0], event_id=event_id)]
    (folder or root / "drop").joinpath(name).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


@pytest.fixture()
def county(tmp_path):
    """The sample county landed and published from root/drop (the configured default drop folder)."""
    old = os.environ.get(config.ENV_VAR)
    os.environ[config.ENV_VAR] = str(_config(tmp_path))
    config.settings.cache_clear()
    build_sample(tmp_path, config.settings())
    yield tmp_path
    if old is None:
        os.environ.pop(config.ENV_VAR, None)
    else:
        os.environ[config.ENV_VAR] = old
    config.settings.cache_clear()


def _page(page: str) -> AppTest:
    add_users(config.settings())
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    login(at, "admin")
    at.switch_page(str(ROOT / "pages" / page))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _wall_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if 'class="wall-clock"' in m.value)


# ------------------------------------------------------------------------------------------------ file drop
def test_failed_file_warns_until_fixed_and_first_seen_stays(county):
    lake = Lake(county / "lake")
    drop = county / "drop"
    assert sources.open_failures(lake) == []
    (drop / BROKEN).write_text("{broken", encoding="utf-8")
    _good(county, "events_20240102_补充.json", "E8000001")  # a partial run: something else lands
    r1 = _run(county)
    assert r1.files_new == 1
    fails = sources.open_failures(lake)
    assert [(f["file"], f["unit"], f["source_name"]) for f in fails] == [(BROKEN, "文件", str(drop))]
    assert "JSON" in fails[0]["reason"]
    first = fails[0]["first_seen"]
    assert first == dt.datetime.fromisoformat(r1.started_at)
    h = {x["name"]: x for x in sources.health(config.settings(), default_drop=True)}[str(drop)]
    assert (h["status"], h["status_label"]) == ("partial", "部分失败") and BROKEN in h["message"]

    # retried, still failing (the only new file: the run is failed or partial): one warning, first seen at run 1
    r2 = _run(county)
    assert r2.files_failed and r2.run_id != r1.run_id
    fails = sources.open_failures(lake)
    assert len(fails) == 1 and fails[0]["first_seen"] == first and fails[0]["run_id"] == r2.run_id

    # corrected under the same name: landed, resolved
    _good(county, BROKEN, "E9000001")
    r3 = _run(county)
    assert r3.status == "ok" and not r3.files_failed and r3.files_new == 1
    assert sources.open_failures(lake) == []
    h = {x["name"]: x for x in sources.health(config.settings(), default_drop=True)}[str(drop)]
    assert h["status"] == "ok" and h["failures"] == []


def test_failed_file_removed_from_the_drop_is_resolved(county):
    lake = Lake(county / "lake")
    bad = county / "drop" / "accounts_20240109.csv"
    bad.write_bytes(b"")  # empty: no header
    _run(county)
    assert [f["file"] for f in sources.open_failures(lake)] == [bad.name]
    bad.unlink()
    _run(county)
    assert sources.open_failures(lake) == []


def test_every_file_failed_is_not_ok_anywhere(county):
    """A run in which every new file failed: not 正常 in `etl health` (non-zero), on the page and on the wall."""
    (county / "drop" / BROKEN).write_text("[{", encoding="utf-8")
    (county / "drop" / "accounts_20240103.csv").write_bytes(b"")
    res = _run(county)
    assert res.files_new == 0 and len(res.files_failed) == 2  # (the monitoring does not depend on res.status)
    out = _health_cli(county)
    assert out.returncode in (1, 2), out.stdout + out.stderr
    assert "正常" not in out.stdout.split("⚠")[0]
    assert BROKEN in out.stdout and "accounts_20240103.csv" in out.stdout and "2 个文件导入失败" in out.stdout
    assert "首次" in out.stdout

    at = _page("quality.py")
    assert any("2 个文件导入失败" in e.value for e in at.error), [e.value for e in at.error]
    table = next(d.value for d in at.dataframe if "文件 / 批次" in d.value.columns)
    assert set(table["文件 / 批次"]) == {BROKEN, "accounts_20240103.csv"}
    assert table["原因"].str.len().min() > 0 and table["首次出现"].notna().all()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["未解决的导入失败 / 忽略的文件"].startswith("2 /")

    wall = _page("wall.py")
    line = _wall_line(wall)
    assert "⚠ 2 个文件导入失败" in line, line
    assert "[{" not in line  # no file content

    # fixed: the warnings go, health exits 0
    (county / "drop" / BROKEN).unlink()
    (county / "drop" / "accounts_20240103.csv").unlink()
    _run(county)
    out = _health_cli(county)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "正常" in out.stdout and "导入失败" not in out.stdout
    assert not any("导入失败" in e.value for e in _page("quality.py").error)
    assert "导入失败" not in _wall_line(_page("wall.py"))


def test_health_exit_codes_partial_and_failed(county):
    """0 nothing failed; 2 unresolved failures; 1 a source's last run failed (worse wins)."""
    assert _health_cli(county).returncode == 0
    (county / "drop" / BROKEN).write_text("{", encoding="utf-8")
    _good(county, "events_20240102_补充.json", "E8000001")
    assert _run(county).files_new == 1  # partial: one failed, one landed
    out = _health_cli(county)
    assert out.returncode == 2 and "部分失败" in out.stdout, out.stdout + out.stderr
    cfg = county / "config.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + f'\n[[sources]]\nname = "乡镇投递"\nurl = "{county}/nowhere"\n',
                   encoding="utf-8")
    config.settings.cache_clear()
    _run(county, county / "nowhere")
    out = _health_cli(county)
    assert out.returncode == 1 and "失败" in out.stdout and "投递目录不存在" in out.stdout, out.stdout


def test_a_later_landing_of_the_same_name_resolves(county):
    """A file that failed in one drop and was then delivered (and landed) through another."""
    other = county / "other"
    other.mkdir()
    (county / "drop" / BROKEN).write_text("{", encoding="utf-8")
    _run(county)
    assert len(sources.open_failures(county / "lake")) == 1
    _good(county, BROKEN, "E9000002", folder=other)
    assert _run(county, other).files_new == 1
    assert sources.open_failures(county / "lake") == []


def test_quarantined_rows_of_the_latest_delivery_warn(county):
    lake = Lake(county / "lake")
    rows = [dict(r, event_id=f"Q{i}") for i, r in enumerate(_events(county)[:3])]
    rows[1].pop("grid_code")
    (county / "drop" / "events_20240105.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    res = _run(county)
    assert res.rows_quarantined == 1
    q = sources.recent_quarantine(lake)
    assert [(x["source_name"], x["rows_quarantined"], x["files"]) for x in q] == [
        (str(county / "drop"), 1, ["events_20240105.json"])]
    out = _health_cli(county)
    assert "最近导入隔离 1 行" in out.stdout and "events_20240105.json" in out.stdout
    assert out.returncode == 0  # quarantined rows are reported, not a failure
    at = _page("quality.py")
    assert any("1 行被隔离" in w.value and "events_20240105.json" in w.value for w in at.warning)
    assert "最近导入隔离 1 行" in _wall_line(_page("wall.py"))
    # the wall of one county of a city deployment: the imports are the city's, its line names none of them
    from dashboard import wall as wall_ui
    from warehouse.metrics import Scope

    assert "最近导入隔离 1 行" in wall_ui.source_alerts()
    assert not [a for a in wall_ui.source_alerts(Scope(county_code="510799")) if "隔离" in a or "导入失败" in a]
    _run(county)  # nothing new: the warning stays
    assert sources.recent_quarantine(lake)
    clean = [dict(r, event_id=f"C{i}") for i, r in enumerate(_events(county)[:2])]
    (county / "drop" / "events_20240106.json").write_text(json.dumps(clean, ensure_ascii=False), encoding="utf-8")
    _run(county)  # the next delivery is clean
    assert sources.recent_quarantine(lake) == []


# ------------------------------------------------------------------------------------------------ 前置库 / API
def _record(lake: Lake, run_log: dict, *, name: str = "省平台接口", kind: str = "api", pass_failed: bool = False):
    """One run as the pipeline does it: record_health (before the build), then the run log."""
    sources.record_health(lake, name=name, kind=kind, source=run_log["source"],
                          ok=run_log["status"] != "failed", run_id=run_log["run_id"],
                          when=dt.datetime.fromisoformat(run_log["started_at"]), status=run_log["status"],
                          failed=run_log["files_failed"] if pass_failed else None)
    write_json(lake.runs_dir / f"{run_log['run_id']}.json", run_log)


def _log(i: int, status: str, failed: list[str], pulled: list[str], source: str = "http://127.0.0.1:9/api") -> dict:
    t = dt.datetime(2026, 5, 1, 8) + dt.timedelta(hours=i)
    return {"run_id": f"{t:%Y%m%dT%H%M%S}-{i:06x}", "status": status, "source": source, "source_kind": "api",
            "started_at": t.isoformat(sep=" "), "files_new": 0, "files_already_loaded": 0,
            "files_failed": [{"file": f, "reason": f"原因 {f}", "rows": None} for f in failed],
            "watermarks": {d: {} for d in pulled}, "rows_in": 0, "rows_landed": 0, "rows_quarantined": 0}


def test_api_failures_survive_an_unreachable_source_and_unpulled_datasets(tmp_path):
    lake = Lake(tmp_path / "lake")
    url = "http://127.0.0.1:9/api"
    _record(lake, _log(0, "partial", ["api:events 第3页", "api:accounts"], ["events", "accounts", "org_units"]))
    fails = {f["file"]: f for f in sources.open_failures(lake)}
    assert set(fails) == {"api:events 第3页", "api:accounts"} and fails["api:accounts"]["unit"] == "接口批次"
    first = fails["api:accounts"]["first_seen"]
    # the source cannot be reached: nothing was looked at, nothing is resolved; the source itself is listed
    _record(lake, _log(1, "failed", [url], []))
    assert {f["file"] for f in sources.open_failures(lake)} == {"api:events 第3页", "api:accounts", url}
    # back, but only events pulled: accounts stays open (first seen unchanged), events' page and the source resolve
    _record(lake, _log(3, "ok", [], ["events"]))
    fails = sources.open_failures(lake)
    assert [(f["file"], f["first_seen"]) for f in fails] == [("api:accounts", first)]
    assert sources.failure_summary(fails) == "1 个接口批次导入失败"
    # accounts pulled without failure: resolved
    _record(lake, _log(4, "ok", [], ["accounts"]))
    assert sources.open_failures(lake) == []


def test_failures_show_before_the_run_log_and_after_a_kill(tmp_path):
    """During the build (run log not written yet) the failures passed to record_health count; a run killed before
    its run log leaves the last known state, and the next run folds on from there."""
    lake = Lake(tmp_path / "lake")
    log = _log(0, "partial", ["pg:events@2024-01-01..2024-02-01"], ["events"], source="postgresql://gw@db/x")
    log["files_failed"][0]["rows"] = 12  # the data rows of the batch (counted)
    sources.record_health(lake, name="前置库", kind="postgres", source=log["source"], run_id=log["run_id"],
                          status="partial", failed=log["files_failed"], when=dt.datetime(2026, 5, 1, 8))
    fails = sources.open_failures(lake)
    assert [(f["file"], f["unit"], f["rows"]) for f in fails] == [("pg:events@2024-01-01..2024-02-01", "前置库批次", 12)]
    # a second call for the same run (a build that failed afterwards) keeps the failures
    sources.record_health(lake, name="前置库", kind="postgres", source=log["source"], run_id=log["run_id"], ok=False,
                          error="build failed", when=dt.datetime(2026, 5, 1, 8, 5))
    assert len(sources.open_failures(lake)) == 1
    # killed: no run log was written; the next run lists the batch again
    _record(lake, _log(1, "partial", ["pg:events@2024-01-01..2024-02-01"], ["events"],
                       source="postgresql://gw@db/x"), name="前置库", kind="postgres")
    fails = sources.open_failures(lake)
    assert len(fails) == 1 and fails[0]["first_seen"] == dt.datetime(2026, 5, 1, 8)


def test_damaged_state_never_breaks_the_monitoring(tmp_path):
    lake = Lake(tmp_path / "lake")
    _record(lake, _log(0, "partial", ["api:events"], ["events"]))
    (lake.runs_dir / f"{_log(0, 'partial', [], [])['run_id']}.json").write_text('{"run_id": "x", "st', "utf-8")
    assert sources.open_failures(lake) == []  # the run log is unreadable: unknown, not a crash
    (lake.state_dir / sources.HEALTH_FILE).write_text("{not json", encoding="utf-8")
    assert sources.open_failures(lake) == [] and sources.recent_quarantine(lake) == []
    s = config.Settings().resolve(tmp_path)
    assert sources.health(s, lake_dir=lake.root) == []


def test_published_source_health_knows_partial():
    con = duckdb.connect()
    con.execute("CREATE TABLE source_health (name VARCHAR, kind VARCHAR, kind_label VARCHAR, source VARCHAR, "
                "status VARCHAR, status_label VARCHAR, last_attempt TIMESTAMP, last_success TIMESTAMP, "
                "last_failure TIMESTAMP, last_new_data TIMESTAMP, first_success TIMESTAMP, error VARCHAR, "
                "quiet_hours DOUBLE, message VARCHAR, checked_at TIMESTAMP)")
    now = dt.datetime.now()
    for name, status in (("甲", "ok"), ("乙", "partial"), ("丙", "failed")):
        con.execute("INSERT INTO source_health VALUES (?, 'files', '文件投递', '/d', ?, '', ?, ?, NULL, ?, ?, ?, 26, "
                    "'', ?)", [name, status, now, now, now, now, f"{name} 的错误", now])
    sql = (ROOT / "warehouse" / "sql" / "quality" / "source_health.sql").read_text(encoding="utf-8")
    rows = con.execute(sql).fetchall()
    assert [(r[0], r[4], r[5], r[10]) for r in rows] == [
        ("丙", "failed", "失败", "丙 的错误"), ("乙", "partial", "部分失败", "乙 的错误"), ("甲", "ok", "正常", None)]

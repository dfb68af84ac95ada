"""`etl watch`: the configured sources on a schedule, one run at a time, with source health for the wall display."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from support import channels, pg
from support.county import MiniCounty
from support.pg import pg_server  # noqa: F401 — the session fixture

from core.config import Source
from demo.simulator import DemoApi, load_postgres, typed_tables
from etl import sources
from etl.lake import Lake
from etl.watch import _lock, watch
from warehouse import db, metrics

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "watch-token-7d1e"


def _county(tmp: Path) -> dict:
    c = MiniCounty()
    g = c.grid(c.village(c.township("文兴乡"), "文兴村"))
    a = c.account(g)
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="E1")
    c.active(a, 2024, 3, 5)
    c.write(tmp / "all")
    tables = typed_tables(tmp / "all")
    (tmp / "drop").mkdir()
    for p in (tmp / "all").glob("*.json"):  # the file drop brings the county's units and accounts
        if p.name.startswith(("org_units", "accounts")):
            p.rename(tmp / "drop" / p.name)
    return tables


def test_watch_runs_every_source_and_reports_failed_and_quiet_ones(pg_server, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDWATCH_PG_PASSWORD", pg.PASSWORD)
    monkeypatch.setenv("GRIDWATCH_API_TOKEN", TOKEN)
    tables = _county(tmp_path)
    url = pg.create_database(pg_server, "watch")
    load_postgres(url, {"activity_log": tables["activity_log"]}, password=pg.PASSWORD)
    api = DemoApi({"events": tables["events"]}, TOKEN)
    api_url = api.start()
    s = channels.settings(tmp_path, api_max_retries=1, api_backoff_seconds=0.01, api_timeout_seconds=0.5)
    s.sources = [Source(name="文件投递", url=str(tmp_path / "drop")),
                 Source(name="省平台接口", url=api_url, datasets=["events"]),
                 Source(name="前置库", url=url, datasets=["activity_log"])]
    assert [h["status"] for h in sources.health(s, lake_dir=tmp_path / "lake")] == ["never"] * 3
    logs: list[str] = []
    kw = dict(warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "lake", log=logs.append, install_signals=False)
    try:
        assert watch(s, once=True, **kw) == 0
        h = {x["name"]: x for x in sources.health(s, lake_dir=tmp_path / "lake")}
        assert {n: (x["kind"], x["status"]) for n, x in h.items()} == {
            "文件投递": ("files", "ok"), "省平台接口": ("api", "ok"), "前置库": ("postgres", "ok")}
        runs = {r["source_name"]: r for r in Lake(tmp_path / "lake").runs()}
        assert {n: (r["source_kind"], r["status"]) for n, r in runs.items()} == {
            "文件投递": ("files", "ok"), "省平台接口": ("api", "ok"), "前置库": ("postgres", "ok")}
        assert runs["前置库"]["watermarks"]["activity_log"]["watermark_to"] == "2024-03-05 09:00:00"
        con = db.open_published(tmp_path / "wh")
        try:
            assert con.execute("SELECT count(*) FROM fact_event").fetchone()[0] == 1
            assert con.execute("SELECT count(*) FROM fact_activity").fetchone()[0] == 5
            df = metrics.query(con, "quality/source_health", metrics.Scope(personal="none"), settings=s)
        finally:
            con.close()
        assert dict(zip(df["name"], df["status"])) == {"文件投递": "ok", "省平台接口": "ok", "前置库": "ok"}

        # a second round: nothing new anywhere → nothing rebuilt, still ok
        version = db.current_version(tmp_path / "wh")
        assert watch(s, once=True, **kw) == 0
        assert db.current_version(tmp_path / "wh") == version
        # the API goes down: that source fails (the others still run), the error is shown without the token
        api.stop()
        assert watch(s, once=True, **kw) == 1
        h = {x["name"]: x for x in sources.health(s, lake_dir=tmp_path / "lake")}
        assert (h["省平台接口"]["status"], h["文件投递"]["status"], h["前置库"]["status"]) == ("failed", "ok", "ok")
        assert "已重试" in h["省平台接口"]["error"] and TOKEN not in h["省平台接口"]["message"]
        # 27 hours without new rows: quiet (the failed one stays failed)
        later = dt.datetime.now() + dt.timedelta(hours=27)
        h = {x["name"]: x["status"] for x in sources.health(s, lake_dir=tmp_path / "lake", now=later)}
        assert h == {"文件投递": "quiet", "省平台接口": "failed", "前置库": "quiet"}
        # a source's own quiet_hours
        s.sources[0].quiet_hours = 48
        assert sources.health(s, lake_dir=tmp_path / "lake", now=later)[0]["status"] == "ok"
    finally:
        api.stop()
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert pg.PASSWORD.encode() not in raw and TOKEN.encode() not in raw
    assert not any(pg.PASSWORD in m or TOKEN in m for m in logs)


def test_one_run_at_a_time(tmp_path):
    _county(tmp_path)
    s = channels.settings(tmp_path)
    s.sources = [Source(name="文件投递", url=str(tmp_path / "drop")),
                 Source(name="不存在的目录", url=str(tmp_path / "nowhere"))]
    lake = Lake(tmp_path / "lake")
    logs: list[str] = []
    kw = dict(warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "lake", log=logs.append, install_signals=False)
    fh = _lock(lake)  # another watch
    try:
        assert watch(s, once=True, **kw) == 3
    finally:
        fh.close()
    with lake.lock():  # a manual `etl run` holds the lake: the round skips (busy), nothing breaks
        assert watch(s, once=True, **kw) == 0
    assert [h["status"] for h in sources.health(s, lake_dir=lake.root)] == ["never", "never"]
    assert watch(s, once=True, **kw) == 1  # the missing folder fails; the drop is loaded
    h = {x["name"]: x for x in sources.health(s, lake_dir=lake.root)}
    assert h["文件投递"]["status"] == "ok" and h["不存在的目录"]["status"] == "failed"
    assert "投递目录不存在" in h["不存在的目录"]["error"]


def test_watch_loops_and_stops_on_sigterm(tmp_path):
    _county(tmp_path)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\nlake_dir = "{tmp_path}/lake"\nwarehouse_dir = "{tmp_path}/wh"\n\n'
                   f'[[sources]]\nname = "文件投递"\nurl = "drop"\n', encoding="utf-8")
    env = dict(os.environ, GRIDWATCH_CONFIG=str(cfg), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "etl", "watch", "--interval", "0.5"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    runs = tmp_path / "lake" / "runs"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(runs.glob("*.json"))) < 3:  # it keeps going round
        time.sleep(0.05)
    assert len(list(runs.glob("*.json"))) >= 3, "".join(out)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    reader.join(5)
    text = "".join(out)
    assert "收到信号 SIGTERM" in text and "etl watch 已退出" in text
    # one lock for the rounds and one for the lake: both free again
    lake = Lake(tmp_path / "lake")
    _lock(lake).close()
    with lake.lock():
        pass
    res = subprocess.run([sys.executable, "-m", "etl", "health"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and "正常" in res.stdout and "文件投递" in res.stdout

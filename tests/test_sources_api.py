"""The HTTP API channel against a real HTTP server on localhost (demo.simulator.DemoApi) that injects 429s, 5xx,
slow pages, truncated and short pages and dropped connections."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import channels
from support.county import MiniCounty

from core.config import Source
from demo.simulator import DemoApi, FaultPlan, typed_tables
from etl import sources
from etl.lake import Lake
from etl.pipeline import run
from etl.sources.api import HttpClient
from etl.sources.common import SourceError

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "api-token-3f9c1b7e-Qx8"
FAST = dict(api_timeout_seconds=1.0, api_backoff_seconds=0.01, api_backoff_max_seconds=0.2, api_max_retries=8)


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv("GRIDWATCH_API_TOKEN", TOKEN)


def _small_county(tmp: Path, n_events: int = 3):
    c = MiniCounty()
    g = c.grid(c.village(c.township("文兴乡"), "文兴村"))
    a = c.account(g)
    for i in range(1, n_events + 1):
        c.event(g, dt.datetime(2024, 3, 1, 9) + dt.timedelta(hours=i), event_id=f"E{i}",
                updated_at=dt.datetime(2024, 3, 1) + dt.timedelta(days=i))
    c.active(a, 2024, 3, 5)
    c.write(tmp / "drop")
    return typed_tables(tmp / "drop"), g


# ------------------------------------------------------------------------------------------------ the demo county
def test_demo_county_through_a_faulty_api_equals_file_drop(tmp_path):
    demo = channels.demo()
    faults = FaultPlan(rates={"429": .04, "500": .04, "503": .02, "drop": .03, "truncate": .02, "short": .02,
                              "slow": .02}, seed=7, slow_seconds=1.6, retry_after=0)
    with DemoApi(demo["tables"], TOKEN, faults=faults) as api:
        s = channels.settings(tmp_path, api_page_size=5000, api_batch_rows=100_000, **FAST)
        t0 = time.perf_counter()
        first = channels.load(api.url, tmp_path, s)
        full_s = time.perf_counter() - t0
        assert first.status == "ok", first.error
        kinds = {f for _, f in faults.injected}
        assert kinds >= {"429", "500", "drop", "truncate", "short", "slow"}, faults.injected
        assert first.rows_in == sum(t.num_rows for t in demo["tables"].values())  # no partial page, no page twice
        assert first.rows_quarantined == demo["files_run"].rows_quarantined
        assert first.rows_by_dataset["activity_log"]["files"] >= 4
        assert channels.diff(channels.fingerprint(tmp_path / "wh"), demo["files_fp"]) == {}

        faults.rates = {}
        t0 = time.perf_counter()
        again = channels.load(api.url, tmp_path, s)
        noop_s = time.perf_counter() - t0
        assert again.status == "ok" and again.files_new == 0 and again.published is None
        assert noop_s < 3, noop_s
    log = json.loads((tmp_path / "lake" / "runs" / f"{first.run_id}.json").read_text(encoding="utf-8"))
    assert log["source_kind"] == "api" and log["watermarks"]["events"]["watermark_to"] == "2025-02-28 23:58:42"
    assert log["watermarks"]["activity_log"]["retries"] >= 1
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert TOKEN.encode() not in raw
    print(f"\n  接口: full load {full_s:.1f} s with {len(faults.injected)} injected faults, no-op {noop_s:.2f} s")


# ------------------------------------------------------------------------------------------------ one request
def test_each_fault_is_retried_and_honoured(tmp_path):
    tables, _ = _small_county(tmp_path)
    plan = FaultPlan(slow_seconds=1.0, retry_after=2)
    with DemoApi(tables, TOKEN, faults=plan) as api:
        waits: list[float] = []
        client = HttpClient(api.url + "/api/v1", TOKEN, timeout=0.4, retries=3, backoff=0.05, backoff_max=5,
                            sleep=waits.append, log=lambda m: None, seed=1)
        for fault in ("429", "500", "503", "slow", "drop", "truncate"):
            plan.script = [fault]
            waits.clear()
            body = client.get_json("events", {"page": 1, "page_size": 10})
            assert len(body["data"]) == 3 and body["total"] == 3, fault
            assert len(waits) == 1, fault
            if fault == "429":
                assert waits == [2.0]  # the server's Retry-After
            else:
                assert 0.025 <= waits[0] <= 0.05
        # back-off doubles; retries are limited; the error says why, without the token
        plan.script = ["500"] * 4
        waits.clear()
        with pytest.raises(SourceError) as exc:
            client.get_json("events", {"page": 1, "page_size": 10}, what="events 第 1 页")
        assert len(waits) == 3 and waits[0] < waits[1] < waits[2] and "HTTP 500" in str(exc.value)
        # a short page (fewer rows than total says) is not accepted as complete
        from etl.sources.api import ApiSource

        src = ApiSource(api.url, channels.settings(tmp_path, api_timeout_seconds=0.4, api_backoff_seconds=0.01,
                                                   api_max_retries=2), sleep=lambda s: None, log=lambda m: None)
        plan.script = ["short"]
        page = src.page("activity_log", None, 1, 2)
        assert len(page["data"]) == 2 and page["total"] == 5
        assert plan.injected[-1][1] == "short" and api.requests >= 2
        # wrong token: 401 at once, no retries, no token in the message
        waits.clear()
        bad = HttpClient(api.url + "/api/v1", "wrong-" + TOKEN, timeout=1, retries=3, backoff=0.01, backoff_max=1,
                         sleep=waits.append, log=lambda m: None)
        with pytest.raises(SourceError) as exc:
            bad.get_json("events", {"page": 1})
        assert "401" in str(exc.value) and TOKEN not in str(exc.value) and waits == []


def test_dead_server_fails_the_source_and_health_shows_it(tmp_path):
    tables, _ = _small_county(tmp_path)
    api = DemoApi(tables, TOKEN)
    url = api.start()
    api.stop()  # nothing listens there any more
    s = channels.settings(tmp_path, api_max_retries=2, api_backoff_seconds=0.01, api_timeout_seconds=0.5)
    s.sources = [Source(name="省平台接口", url=url)]
    res = channels.load(url, tmp_path, s)
    assert res.status == "failed" and "已重试 2 次" in res.error
    assert len(res.files_failed) == 1  # the source stops at the first dataset that cannot be reached
    h = sources.health(s, lake_dir=tmp_path / "lake")[0]
    assert (h["status"], h["kind"]) == ("failed", "api") and "失败" in h["message"]


# ------------------------------------------------------------------------------------------------ incremental
def test_incremental_ties_late_rows_and_changes(tmp_path):
    tables, g = _small_county(tmp_path)
    with DemoApi(tables, TOKEN) as api:
        s = channels.settings(tmp_path, **FAST)
        first = channels.load(api.url, tmp_path, s)
        assert first.status == "ok", first.error
        w = "2024-03-04 00:00:00"
        assert first.watermarks["events"]["watermark_to"] == w
        ev = lambda i, **kw: {"event_id": f"E{i}", "reported_at": "2024-03-01T09:00:00", "grid_code": g,  # noqa: E731
                              "category": "治安隐患", "status": "办理中", "updated_at": w.replace(" ", "T"), **kw}
        api.feeds["events"].upsert([
            ev(4),  # late, with the watermark's timestamp
            ev(5, updated_at="2024-03-03T23:59:30+08:00"),  # committed late, 30 s older (and with a zone)
            ev(3, category="安全隐患"),  # E3 changed without a new timestamp
            ev(2, category="矛盾纠纷", status="已办结", closed_at="2024-03-04T01:00:00", updated_at="2024-03-04T01:00:00")])
        second = channels.load(api.url, tmp_path, s)
        assert second.rows_by_dataset == {"events": {"files": 1, "rows_in": 4, "landed": 4, "quarantined": 0}}
        got = dict(channels.table_rows(tmp_path / "wh", "SELECT event_id, status || '/' || category FROM fact_event"))
        assert got == {"E1": "办理中/矛盾纠纷", "E2": "已办结/矛盾纠纷", "E3": "办理中/安全隐患",
                       "E4": "办理中/治安隐患", "E5": "办理中/治安隐患"}
        assert channels.table_rows(tmp_path / "wh", "SELECT records, landed_rows FROM dataset_freshness "
                                                    "WHERE dataset = 'events'") == [(5, 7)]
        assert channels.load(api.url, tmp_path, s).files_new == 0


def test_pages_out_of_updated_at_order_are_read_whole(tmp_path):
    tables, _ = _small_county(tmp_path, n_events=40)
    with DemoApi(tables, TOKEN) as api:
        feed = api.feeds["events"]
        random.Random(3).shuffle(feed.rows)  # a server that orders by something else
        feed._index()
        s = channels.settings(tmp_path, api_page_size=7, api_batch_rows=10, **FAST)
        logs: list[str] = []
        res = channels.load(api.url, tmp_path, s, log=logs.append)
        assert res.status == "ok", res.error
        assert any("未按 updated_at 排序" in m for m in logs)
        assert res.watermarks["events"]["watermark_to"] == "2024-04-10 00:00:00"  # the newest, not a page's last
        assert channels.table_rows(tmp_path / "wh", "SELECT count(*), count(DISTINCT event_id) FROM fact_event") == \
            [(40, 40)]


# ------------------------------------------------------------------------------------------------ crash safety
def test_kill_9_mid_pull_resumes_from_the_watermark(tmp_path):
    from test_sources_postgres import _activity

    n = 120_000
    tables = {"activity_log": _activity(n, seed=5)}
    faults = FaultPlan(rates={"drop": .03, "truncate": .03, "short": .03, "500": .03}, seed=11, retry_after=0)
    with DemoApi(tables, TOKEN, faults=faults) as api:
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[paths]\nlake_dir = "{tmp_path}/lake"\nwarehouse_dir = "{tmp_path}/wh"\n[feeds]\n'
                       "api_page_size = 2000\napi_batch_rows = 8000\napi_timeout_seconds = 2.0\n"
                       "api_backoff_seconds = 0.01\napi_backoff_max_seconds = 0.1\napi_max_retries = 8\n",
                       encoding="utf-8")
        env = dict(os.environ, GRIDWATCH_CONFIG=str(cfg), PYTHONPATH=str(ROOT))
        manifests = tmp_path / "lake" / "manifest"
        proc = subprocess.Popen([sys.executable, "-m", "etl", "run", "--from", api.url, "--datasets", "activity_log"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, killed = time.time() + 120, False
        while time.time() < deadline and proc.poll() is None:
            if len(list(manifests.glob("*.json"))) >= 3:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.01)
        proc.wait()
        assert killed, "the pull finished before it could be killed"
        landed_before = len(list(manifests.glob("*.json")))
        wm_before = sources.watermarks(Lake(tmp_path / "lake"), api.url)["activity_log"]
        assert wm_before  # committed batch by batch
        requests_before = api.requests

        s = channels.settings(tmp_path, api_page_size=2000, api_batch_rows=8000, **FAST)
        res = run(api.url, s, warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "lake",
                  load_time=channels.LOAD_TIME, log=lambda m: None, datasets=["activity_log"])
        assert res.status == "ok", res.error
        assert res.watermarks["activity_log"]["watermark_from"] == wm_before
        # resumed: roughly the remaining pages were asked for, not the whole table again
        assert api.requests - requests_before < (n / 2000) * 1.5
        mans = [json.loads(p.read_text(encoding="utf-8")) for p in manifests.glob("*.json")]
        assert sum(m["rows_in"] for m in mans) == n  # no page landed twice, none partially
        assert len(mans) >= landed_before
        assert channels.table_rows(tmp_path / "wh", "SELECT count(*), count(DISTINCT log_id) FROM fact_activity") \
            == [(n, n)]
        faults.rates = {}
        again = run(api.url, s, warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "lake",
                    load_time=channels.LOAD_TIME, log=lambda m: None, datasets=["activity_log"])
        assert again.files_new == 0 and again.published is None

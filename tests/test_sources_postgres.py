"""The 前置库 channel against a real PostgreSQL server (tests/pg.py): complete, idempotent, incremental, crash-safe,
and the same warehouse as the file drop."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from support import channels, pg
from support.county import MiniCounty
from support.pg import pg_server  # noqa: F401 — the session fixture

from core.config import Source
from core.spec import DATASETS
from demo.simulator import load_postgres, typed_tables
from etl import sources
from etl.lake import Lake
from etl.pipeline import run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _password(monkeypatch):
    """The exchange user's password comes from the environment, as in production — never from the URL."""
    monkeypatch.setenv("GRIDWATCH_PG_PASSWORD", pg.PASSWORD)
    monkeypatch.delenv("PGPASSWORD", raising=False)


def _exec(url: str, *stmts: tuple[str, tuple] | str) -> None:
    import psycopg

    with psycopg.connect(url, password=pg.PASSWORD, autocommit=True) as con:
        for s in stmts:
            con.execute(*(s if isinstance(s, tuple) else (s,)))


def _env(tmp: Path, **feeds) -> dict:
    cfg = tmp / "config.toml"
    lines = [f'[paths]\ndata_dir = "{tmp}"\nlake_dir = "{tmp}/wh/lake"\nwarehouse_dir = "{tmp}/wh"\n', "[feeds]"]
    lines += [f"{k} = {v!r}" for k, v in feeds.items()]
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dict(os.environ, GRIDWATCH_CONFIG=str(cfg), PYTHONPATH=str(ROOT))


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------------ the demo county
def test_demo_county_through_postgres_equals_file_drop(pg_server, tmp_path):
    demo = channels.demo()
    url = pg.create_database(pg_server, "demo_county")
    # the CLI loads the demo drop into the 前置库: typed tables, an index on updated_at
    out = subprocess.run([sys.executable, "-m", "etl", "demo", "--to-postgres", url, "--from", str(demo["drop"])],
                         cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert pg.PASSWORD not in out.stdout + out.stderr
    import psycopg

    with psycopg.connect(url, password=pg.PASSWORD) as con:
        types = dict(con.execute("SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                                 "WHERE table_schema = 'public'").fetchall())
        idx = {r[0] for r in con.execute("SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%(updated_at)%'")}
        n_events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    assert types["events.reported_at"] == "timestamp without time zone" and types["org_units.households"] == "bigint"
    assert types["collection_stats.stat_date"] == "date" and types["events.lon"] == "double precision"
    assert idx == set(DATASETS)
    assert n_events == demo["tables"]["events"].num_rows

    s = channels.settings(tmp_path, pg_batch_rows=100_000)
    t0 = time.perf_counter()
    first = channels.load(url, tmp_path, s)
    full_s = time.perf_counter() - t0
    assert first.status == "ok", first.error
    assert first.source_kind == "postgres" and first.source == url  # no password in the URL to begin with
    assert first.rows_by_dataset["activity_log"]["files"] == 5  # 496 435 rows in batches of ~100 000
    assert first.rows_in == sum(t.num_rows for t in demo["tables"].values())
    assert first.rows_quarantined == demo["files_run"].rows_quarantined
    # the same warehouse as the file drop, table by table
    assert channels.diff(channels.fingerprint(tmp_path / "wh"), demo["files_fp"]) == {}

    # nothing new: nothing landed, nothing built, fast
    t0 = time.perf_counter()
    again = channels.load(url, tmp_path, s)
    noop_s = time.perf_counter() - t0
    assert again.status == "ok" and again.files_new == 0 and again.published is None
    assert noop_s < 3, noop_s
    assert {d: w["watermark_to"] for d, w in again.watermarks.items()} == \
        {d: w["watermark_to"] for d, w in first.watermarks.items()}
    # the run log holds the source and the watermarks, and no secret anywhere
    log = json.loads((tmp_path / "lake" / "runs" / f"{first.run_id}.json").read_text(encoding="utf-8"))
    assert log["source_kind"] == "postgres" and log["watermarks"]["events"]["watermark_to"] == "2025-02-28 23:58:42"
    assert pg.PASSWORD.encode() not in _all_bytes(tmp_path)
    print(f"\n  前置库: full load {full_s:.1f} s (files {demo['files_run'].duration_s:.1f} s), no-op {noop_s:.2f} s")


# ------------------------------------------------------------------------------------------------ incremental
def _small_county():
    c = MiniCounty()
    t = c.township("文兴乡")
    g = c.grid(c.village(t, "文兴村"))
    a = c.account(g)
    return c, g, a


T0 = dt.datetime(2024, 3, 1, 9)


def _ts(d: dt.datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S")


def test_incremental_pulls_ties_late_rows_changes_and_no_doubles(pg_server, tmp_path):
    c, g, a = _small_county()
    for i in range(1, 4):  # E1..E3; E3 carries the newest updated_at, which becomes the watermark
        c.event(g, T0 + dt.timedelta(hours=i), event_id=f"E{i}", updated_at=T0 + dt.timedelta(days=i))
    c.active(a, 2024, 3, 3)
    c.write(tmp_path / "drop")
    url = pg.create_database(pg_server, "incremental")
    load_postgres(url, typed_tables(tmp_path / "drop"), password=pg.PASSWORD)
    first = channels.load(url, tmp_path)
    assert first.status == "ok", first.error
    w = T0 + dt.timedelta(days=3)
    assert first.watermarks["events"]["watermark_to"] == _ts(w)

    cols = "(event_id, reported_at, grid_code, category, status, updated_at)"
    _exec(url,
          # a late row with exactly the watermark's timestamp
          (f"INSERT INTO events {cols} VALUES ('E4', %s, %s, '治安隐患', '办理中', %s)", (T0, g, w)),
          # a row committed late with a slightly older timestamp (inside the look-back)
          (f"INSERT INTO events {cols} VALUES ('E5', %s, %s, '治安隐患', '办理中', %s)",
           (T0, g, w - dt.timedelta(seconds=30))),
          # E3 corrected without a new updated_at (a tie: the later delivery wins)
          ("UPDATE events SET category = '安全隐患' WHERE event_id = 'E3'",),
          # E2 closed: a new updated_at
          ("UPDATE events SET status = '已办结', closed_at = %s, updated_at = %s WHERE event_id = 'E2'",
           (w + dt.timedelta(hours=1), w + dt.timedelta(hours=1))))
    second = channels.load(url, tmp_path)
    assert second.status == "ok", second.error
    assert second.rows_by_dataset == {"events": {"files": 1, "rows_in": 4, "landed": 4, "quarantined": 0}}
    assert second.watermarks["events"]["watermark_to"] == _ts(w + dt.timedelta(hours=1))
    got = dict(channels.table_rows(tmp_path / "wh", "SELECT event_id, status || '/' || category FROM fact_event"))
    assert got == {"E1": "办理中/矛盾纠纷", "E2": "已办结/矛盾纠纷", "E3": "办理中/安全隐患", "E4": "办理中/治安隐患",
                   "E5": "办理中/治安隐患"}
    # nothing doubled: 3 + 4 rows landed for 5 events (E2, E3 superseded); the re-read E1..E3 were not landed again
    assert channels.table_rows(tmp_path / "wh", "SELECT records, landed_rows FROM dataset_freshness "
                                                "WHERE dataset = 'events'") == [(5, 7)]
    third = channels.load(url, tmp_path)
    assert third.files_new == 0 and third.published is None

    # more late rows at the new watermark, then a re-run: each exactly once
    w2 = w + dt.timedelta(hours=1)
    _exec(url, *[(f"INSERT INTO events {cols} VALUES (%s, %s, %s, '其他', '待受理', %s)", (f"E{i}", T0, g, w2))
                 for i in range(6, 9)])
    fourth = channels.load(url, tmp_path)
    assert fourth.rows_in == 3
    assert channels.table_rows(tmp_path / "wh", "SELECT count(*), count(DISTINCT event_id) FROM fact_event") == [(8, 8)]
    assert channels.load(url, tmp_path).files_new == 0


def test_null_updated_at_future_stamps_missing_tables_and_timestamptz(pg_server, tmp_path):
    c, g, a = _small_county()
    c.event(g, T0, event_id="E1", updated_at=T0)
    c.write(tmp_path / "drop")
    url = pg.create_database(pg_server, "oddities")
    load_postgres(url, typed_tables(tmp_path / "drop"), password=pg.PASSWORD)
    cols = "(event_id, reported_at, grid_code, category, status, updated_at)"
    _exec(url,
          "DROP TABLE collection_stats",  # a 前置库 without this table
          "ALTER TABLE events ALTER COLUMN updated_at TYPE timestamptz USING updated_at AT TIME ZONE 'Asia/Shanghai'",
          "ALTER TABLE events ADD COLUMN sync_flag int DEFAULT 1",  # not in the contract: listed, ignored
          (f"INSERT INTO events {cols} VALUES ('E0', %s, %s, '其他', '待受理', NULL)", (T0, g)),
          # a clock half a year ahead: landed and flagged, but it must not carry the watermark past what is to come
          # (beyond [etl] max_future_days it would be out of range: quarantined)
          (f"INSERT INTO events {cols} VALUES ('EF', %s, %s, '其他', '待受理', '2030-07-01 00:00:00+08')", (T0, g)))
    first = channels.load(url, tmp_path)
    assert first.status == "ok", first.error
    assert [f["file"] for f in first.files_ignored] == ["pg:collection_stats"]
    ev = first.watermarks["events"]
    assert ev["null_updated_at"] == 1 and ev["watermark_to"] == _ts(T0)  # not 2030-07-01
    assert first.quarantine_by_reason == {"缺少必填字段「更新时间」": 1}  # E0, once
    man = next(m for m in (json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "lake" / "manifest").glob("*.json"))
               if m["dataset"] == "events")
    assert man["unknown_columns"] == ["sync_flag"] and man["format"] == "postgres"
    flags = dict(channels.table_rows(tmp_path / "wh", "SELECT event_id, _flags FROM fact_event"))
    assert "future_time" in flags["EF"] and set(flags) == {"E1", "EF"}
    # a row newer than the watermark but older than the future stamp is still picked up
    _exec(url, (f"INSERT INTO events {cols} VALUES ('E2', %s, %s, '其他', '待受理', '2024-06-01 08:00:00+08')",
                (T0, g)))
    second = channels.load(url, tmp_path)
    assert second.rows_in == 1 and second.rows_quarantined == 0  # E2 only: neither E0 nor EF again
    assert second.watermarks["events"]["watermark_to"] == "2024-06-01 08:00:00"
    assert sorted(r[0] for r in channels.table_rows(tmp_path / "wh", "SELECT event_id FROM fact_event")) == \
        ["E1", "E2", "EF"]
    assert channels.load(url, tmp_path).files_new == 0


# ------------------------------------------------------------------------------------------------ credentials
def test_credentials_from_environment_secrets_file_or_pgpass_never_stored(pg_server, tmp_path, monkeypatch):
    c, g, a = _small_county()
    c.event(g, T0, event_id="E1")
    c.write(tmp_path / "drop")
    url = pg.create_database(pg_server, "credentials")
    load_postgres(url, typed_tables(tmp_path / "drop"), password=pg.PASSWORD)
    s = channels.settings(tmp_path)
    s.sources = [Source(name="前置库", url=url)]

    # a wrong password: the run fails, the source shows failed, and the password is nowhere
    monkeypatch.setenv("GRIDWATCH_PG_PASSWORD", "wrong-" + pg.PASSWORD)
    bad = channels.load(url, tmp_path, s)
    assert bad.status == "failed" and "password authentication failed" in bad.error
    assert pg.PASSWORD not in bad.error
    h = sources.health(s, lake_dir=tmp_path / "lake")[0]
    assert (h["name"], h["kind"], h["status"]) == ("前置库", "postgres", "failed") and h["error"]

    # a secrets file (per source), then libpq's ~/.pgpass: both work without the password on any command line
    monkeypatch.delenv("GRIDWATCH_PG_PASSWORD")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[sources."前置库"]\npassword = "{pg.PASSWORD}"\n', encoding="utf-8")
    secrets.chmod(0o600)
    monkeypatch.setenv("GRIDWATCH_SECRETS", str(secrets))
    ok = channels.load(url, tmp_path, s)
    assert ok.status == "ok" and ok.rows_in > 0, ok.error
    assert sources.health(s, lake_dir=tmp_path / "lake")[0]["status"] == "ok"
    monkeypatch.delenv("GRIDWATCH_SECRETS")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_server.port}:*:{pg.USER}:{pg.PASSWORD}\n", encoding="utf-8")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert channels.load(url, tmp_path, s).status == "ok"

    # a password put in the URL anyway is never shown or stored
    with_pw = url.replace(f"{pg.USER}@", f"{pg.USER}:{pg.PASSWORD}@")
    res = channels.load(with_pw, tmp_path, s)
    assert res.status == "ok" and res.source == url
    out = subprocess.run([sys.executable, "-m", "etl", "run", "--from", with_pw, "--lake", str(tmp_path / "lake")],
                         cwd=ROOT, env=_env(tmp_path),  # the lake tmp/wh is built from (one warehouse, one lake)
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert pg.PASSWORD not in out.stdout + out.stderr and "shell" in out.stderr
    assert pg.PASSWORD.encode() not in _all_bytes(tmp_path / "lake") + _all_bytes(tmp_path / "wh")


# ------------------------------------------------------------------------------------------------ crash safety
def _activity(n: int, seed: int = 1) -> pa.Table:
    """n activity_log rows over March 2024; 30 000 of them share one timestamp (a bulk update)."""
    rng = np.random.default_rng(seed)
    base = np.datetime64("2024-03-01T00:00:00")
    secs = np.sort(rng.integers(0, 28 * 86400, n))
    secs[n // 2: n // 2 + 30_000] = secs[n // 2]
    t = (base + secs.astype("timedelta64[s]")).astype("datetime64[us]")
    return pa.table({
        "log_id": [f"L{i:07d}" for i in range(n)],
        "account_id": pa.array(np.char.add("U", rng.integers(0, 300, n).astype(str))),
        "op_time": pa.array(t), "op_type": pa.array(np.array(["登录", "巡查", "信息采集"])[rng.integers(0, 3, n)]),
        "terminal": pa.nulls(n, pa.string()), "lon": pa.nulls(n, pa.float64()), "lat": pa.nulls(n, pa.float64()),
        "coord_sys": pa.nulls(n, pa.string()), "updated_at": pa.array(t)})


def test_kill_9_mid_pull_resumes_without_loss_or_doubles(pg_server, tmp_path):
    n = 200_000
    url = pg.create_database(pg_server, "crash")
    load_postgres(url, {"activity_log": _activity(n)}, password=pg.PASSWORD)
    env = _env(tmp_path, pg_batch_rows=10_000)
    manifests = tmp_path / "wh" / "lake" / "manifest"
    proc = subprocess.Popen([sys.executable, "-m", "etl", "run", "--from", url, "--datasets", "activity_log"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, killed = time.time() + 120, False
    while time.time() < deadline and proc.poll() is None:
        if len(list(manifests.glob("*.json"))) >= 4:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.01)
    proc.wait()
    assert killed, "the pull finished before it could be killed"
    landed_before = len(list(manifests.glob("*.json")))
    assert landed_before < 19
    wm = sources.watermarks(Lake(tmp_path / "wh" / "lake"), url)
    assert wm.get("activity_log")  # progress was committed batch by batch

    s = channels.settings(tmp_path, pg_batch_rows=10_000)
    res = run(url, s, warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "wh" / "lake", load_time=channels.LOAD_TIME,
              log=lambda m: None)
    assert res.status == "ok", res.error
    assert res.published
    # every row exactly once, in the lake as in the warehouse: the batch whose watermark the kill lost was pulled
    # again with the same content, recognised by its digest and skipped
    mans = [json.loads(p.read_text(encoding="utf-8")) for p in manifests.glob("*.json")]
    assert sum(m["rows_in"] for m in mans if m["dataset"] == "activity_log") == n
    assert channels.table_rows(tmp_path / "wh", "SELECT count(*), count(DISTINCT log_id) FROM fact_activity") == \
        [(n, n)]
    # the 30 000 rows sharing one timestamp did not stall the chunks (10 000 a batch)
    assert max(m["rows_in"] for m in mans) >= 30_000
    again = run(url, s, warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "wh" / "lake",
                load_time=channels.LOAD_TIME, log=lambda m: None)
    assert again.files_new == 0 and again.published is None

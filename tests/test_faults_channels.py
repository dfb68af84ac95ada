"""Poison records through the 前置库 (a real PostgreSQL, tests/pg.py) and the HTTP API (a real local server,
demo.simulator.DemoApi): one bad value, row, batch or page never stops the other datasets.

For every poisoned dataset either its bad rows are quarantined (or kept and flagged) with their reason, or the batch
or page that holds them is listed as failed with its name and reason and its watermark stays where it was — so the
same rows are asked for again. Every other dataset lands and is published, and once the source is fixed the next
run completes and what the failed batch held arrives.
"""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from support import channels, pg
from support.county import MiniCounty
from support.pg import pg_server  # noqa: F401 — the session fixture

from demo.simulator import DemoApi, FaultPlan, load_postgres, typed_tables
from etl import sources
from etl.lake import Lake
from etl.pipeline import summary
from etl.sources.api import HttpClient
from etl.sources.postgres import PostgresSource

TOKEN = "api-token-faults-7Qw"
FAST = dict(api_timeout_seconds=2.0, api_backoff_seconds=0.01, api_backoff_max_seconds=0.05, api_max_retries=2)
T0 = dt.datetime(2024, 3, 1, 9)
LATER = "2024-04-01 10:00:00"  # when the poison (and the new good rows) arrive
FIXED = "2024-04-02 10:00:00"  # when the source corrects them
POISONED = ("org_units", "key_person_reports")
ODD = "王\u200b五\u0007😀\u202e \"'\n,\r\\.\t；"  # zero-width, BEL, emoji, RTL override, quotes, CR/LF, `\.`


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    monkeypatch.setenv("GRIDWATCH_PG_PASSWORD", pg.PASSWORD)
    monkeypatch.setenv("GRIDWATCH_API_TOKEN", TOKEN)
    monkeypatch.delenv("PGPASSWORD", raising=False)


def _county(tmp):
    c = MiniCounty()
    g = c.grid(c.village(c.township("文兴乡"), "文兴村"))
    a = c.account(g)
    c.active(a, 2024, 3, 3)
    for i in range(1, 4):
        c.event(g, T0 + dt.timedelta(hours=i), event_id=f"E{i}")
    c.report(g, "流动人口", T0, report_id="K1")
    c.collection(g, dt.date(2024, 3, 1), 100)
    c.write(tmp / "drop")
    return typed_tables(tmp / "drop"), g, a


def _published(wh, table, col, value) -> bool:
    return bool(channels.table_rows(wh, f"SELECT 1 FROM {table} WHERE {col} = $v", {"v": value}))


def _outcome(res, lake: Lake, source: str, ds: str, prefix: str, wm_before: str | None) -> str:
    """'failed': a batch/page of `ds` is listed with its name and reason and the saved watermark did not move;
    'landed': no failure and the dataset's rows were landed (its bad values quarantined or flagged)."""
    fails = [f for f in res.files_failed if f["file"].startswith(f"{prefix}{ds}")]
    saved = sources.watermarks(lake, source).get(ds)
    assert res.watermarks[ds]["watermark_to"] == saved  # the summary shows what was saved, nothing else
    if fails:
        assert all(f["reason"].strip() for f in fails), fails
        assert saved == wm_before, (ds, saved, wm_before)
        assert f"失败批次 {fails[0]['file']}" in summary(res)
        return "failed"
    assert res.rows_by_dataset[ds]["rows_in"] >= 1, res.rows_by_dataset
    return "landed"


def _quarantined(lake_dir, ds) -> list[dict]:
    con = __import__("duckdb").connect()
    try:
        files = [str(p) for p in (lake_dir / "quarantine").rglob("*.parquet")]
        if not files:
            return []
        rows = con.execute("SELECT dataset, source_file, source_row, reason, raw FROM read_parquet($f) "
                           "WHERE dataset = $d", {"f": files, "d": ds}).fetchall()
        return [dict(zip(("dataset", "file", "row", "reason", "raw"), r)) for r in rows]
    finally:
        con.close()


# ------------------------------------------------------------------------------------------------ 前置库
def test_poison_in_the_exchange_database_leaves_the_other_datasets_loading(pg_server, tmp_path):
    import psycopg

    tables, g, a = _county(tmp_path)
    url = pg.create_database(pg_server, "poison")
    load_postgres(url, tables, password=pg.PASSWORD)
    lake = Lake(tmp_path / "lake")
    first = channels.load(url, tmp_path)
    assert first.status == "ok", first.error
    before = sources.watermarks(lake, url)

    g2, g3 = g[:-3] + "002", g[:-3] + "003"
    with psycopg.connect(url, password=pg.PASSWORD, autocommit=True) as con:
        # a 前置库 whose types can hold what a bigint cannot: NaN, Infinity, 1e20, 20 digits
        con.execute("ALTER TABLE org_units ALTER households TYPE double precision, ALTER population TYPE numeric")
        ins = ("INSERT INTO org_units (unit_code, unit_name, level, parent_code, unit_kind, households, population, "
               "boundary, updated_at) VALUES (%s, %s, '网格', %s, '农村网格', %s, %s, %s, %s)")
        par = g[:-3]
        con.execute(ins, (g2, "第002网格", par, 300, 900, None, LATER))  # a good row in the same batch
        for code, hh, pop, bnd in [(g3, "NaN", "12345678901234567890", "null"), (par + "004", "Infinity", "NaN", "0"),
                                   (par + "005", 1e20, 1, None)]:
            con.execute(ins, (code, f"第{code[-3:]}网格", par, hh, pop, bnd, LATER))
        ins = ("INSERT INTO key_person_reports (report_id, category, id_number, person_name, grid_code, reported_at, "
               "police_signed_at, updated_at) VALUES (%s, '流动人口', %s, %s, %s, %s, %s, %s)")
        con.execute(ins, ("K2", "不详", "王\u200b五\u0007😀 \"'\n,\r", g, "2024-03-30 08:00:00", "infinity", LATER))
        con.execute(ins, ("K3", "5107231990010112", "赵六", g, "9999-12-31 23:59:59", "0001-01-01 00:00:00", LATER))
        con.execute(ins, ("K4", "510723199001011232", "钱七", g, "0001-01-01 BC", None, LATER))
        con.execute(ins, ("K5", "510723199001011232", "孙八", g, "2024-03-30 08:00:00", None, "infinity"))
        # new good rows in the other datasets
        con.execute("INSERT INTO events (event_id, reported_at, grid_code, category, status, updated_at) "
                    "VALUES ('E4', %s, %s, '其他', '待受理', %s)", ("2024-03-31 08:00:00", g, LATER))
        con.execute("INSERT INTO activity_log (log_id, account_id, op_time, op_type, updated_at) "
                    "VALUES ('L-NEW', %s, %s, '巡查', %s)", (a, "2024-03-31 09:00:00", LATER))
        con.execute("INSERT INTO collection_stats (grid_code, stat_date, households_collected, updated_at) "
                    "VALUES (%s, '2024-03-31', 120, %s)", (g, LATER))

    second = channels.load(url, tmp_path)
    assert second.published, second.error  # no exception reached the run: it built and published
    outcomes = {ds: _outcome(second, lake, url, ds, "pg:", before.get(ds)) for ds in POISONED}
    wh = tmp_path / "wh"
    # every other dataset landed and is published
    assert _published(wh, "fact_event", "event_id", "E4")
    assert _published(wh, "fact_activity", "log_id", "L-NEW")
    assert channels.table_rows(wh, "SELECT count(*) FROM fact_collection") != [(0,)]
    for ds in ("events", "activity_log", "collection_stats"):
        assert second.watermarks[ds]["watermark_to"] == LATER, ds
    assert not [f for f in second.files_failed if not f["file"].startswith(("pg:org_units", "pg:key_person"))]
    if outcomes["key_person_reports"] == "landed":  # the bad rows are quarantined or kept with their flags
        q = {json.loads(r["raw"])["report_id"]: r["reason"] for r in _quarantined(tmp_path / "lake",
                                                                                 "key_person_reports")}
        kept = dict(channels.table_rows(wh, "SELECT report_id, _flags FROM fact_kp_report"))
        for rid in ("K2", "K3", "K4", "K5"):
            assert rid in q or rid in kept, rid
        assert "K4" in q and q["K4"]  # reported_at 1 BC: a required time that is not readable

    # the source is corrected: the next run completes and what the failed batches held arrives
    with psycopg.connect(url, password=pg.PASSWORD, autocommit=True) as con:
        con.execute("UPDATE org_units SET households = 200, population = 600, boundary = NULL, updated_at = %s "
                    "WHERE updated_at = %s", (FIXED, LATER))
        con.execute("UPDATE key_person_reports SET id_number = '510723199001011232', reported_at = %s, "
                    "police_signed_at = NULL, updated_at = %s WHERE report_id IN ('K2', 'K3', 'K4', 'K5')",
                    ("2024-03-30 08:00:00", FIXED))
    third = channels.load(url, tmp_path)
    assert third.status == "ok" and third.files_failed == [], third.files_failed
    assert all(_published(wh, "dim_unit", "unit_code", c) for c in (g2, g3))
    assert all(_published(wh, "fact_kp_report", "report_id", k) for k in ("K2", "K3", "K4", "K5"))
    assert sources.watermarks(lake, url)["org_units"] == FIXED
    assert channels.load(url, tmp_path).files_new == 0  # and nothing is pulled twice


def test_typed_values_reach_the_normaliser_as_text(pg_server, tmp_path):
    """NaN, Infinity, 20-digit numerics, `infinity` and BC timestamps, timestamptz in another zone: the 前置库
    channel hands each over as text (never NULL, never an exception), and chunks bounded by `infinity` end."""
    import psycopg

    url = pg.create_database(pg_server, "typed")
    with psycopg.connect(url, password=pg.PASSWORD, autocommit=True) as con:
        con.execute("SET TIME ZONE 'UTC'")  # the writer's zone does not matter
        con.execute("CREATE TABLE events (event_id text, reported_at timestamptz, deadline timestamp, "
                    "lon numeric, lat double precision, summary text, updated_at timestamp)")
        rows = [("A", "2024-03-01 01:00:00+00", "infinity", "NaN", "Infinity", ODD, "2024-03-01 09:00:00"),
                ("B", "2024-03-01 02:00:00+00", "0001-01-01 BC", "12345678901234567890", "1e20", "y",
                 "2024-03-01 09:00:01"),
                ("C", "infinity", "-infinity", "1e400", "-Infinity", "z", "2024-03-01 09:00:02"),
                ("D", None, "10000-01-01 00:00:00", None, None, "", "-infinity")]
        rows += [(f"I{i}", None, None, None, None, None, "infinity") for i in range(5)]
        rows += [(f"B{i}", None, None, None, None, None, "0044-03-15 12:00:00 BC") for i in range(3)]
        for r in rows:
            con.execute("INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s, %s)", r)
    s = channels.settings(tmp_path, pg_batch_rows=2)
    lake = Lake(tmp_path / "lake")
    info: dict = {}
    with PostgresSource(url, s, log=lambda m: None) as src:
        batches = list(src.pull("events", lake, info, channels.LOAD_TIME))
    got = {}
    for b in batches:
        for r in b.table.to_pylist():
            got[r["event_id"]] = r
    assert len(got) == len(rows) and sum(b.rows for b in batches) == len(rows)  # each row once, the loop ended
    assert (got["A"]["reported_at"], got["A"]["deadline"], got["A"]["lon"], got["A"]["lat"]) == \
        ("2024-03-01 09:00:00", "infinity", "NaN", "Infinity")  # timestamptz in Asia/Shanghai
    assert got["A"]["summary"] == ODD  # every character as stored
    assert (got["B"]["deadline"], got["B"]["lon"], got["B"]["lat"]) == \
        ("0001-01-01 00:00:00 BC", "12345678901234567890", "1e+20")
    assert (got["C"]["reported_at"], got["C"]["deadline"], got["C"]["lat"]) == ("infinity", "-infinity", "-Infinity")
    assert got["C"]["lon"].startswith("1") and len(got["C"]["lon"]) == 401
    assert (got["D"]["deadline"], got["D"]["summary"], got["D"]["updated_at"]) == \
        ("10000-01-01 00:00:00", "", "-infinity")
    assert got["I0"]["updated_at"] == "infinity" and got["B0"]["updated_at"] == "0044-03-15 12:00:00 BC"
    for b in batches:
        b.commit()
    assert info["watermark_to"] == "2024-03-01 09:00:02"  # only a real time moves it
    # the next pull: the rows stamped `infinity` (handed out again) are recognised, nothing else is new
    with PostgresSource(url, s, log=lambda m: None) as src:
        again = list(src.pull("events", lake, {}, channels.LOAD_TIME))
    assert sum(b.rows for b in again) == 0


# ------------------------------------------------------------------------------------------------ HTTP API
def test_poison_through_the_api_leaves_the_other_datasets_loading(tmp_path):
    tables, g, a = _county(tmp_path)
    faults = FaultPlan()
    with DemoApi(tables, TOKEN, faults=faults) as api:
        s = channels.settings(tmp_path, **FAST)
        lake = Lake(tmp_path / "lake")
        first = channels.load(api.url, tmp_path, s)
        assert first.status == "ok", first.error
        before = sources.watermarks(lake, api.url)
        iso = LATER.replace(" ", "T")
        par = g[:-3]
        g2, g3 = par + "002", par + "003"
        unit = lambda code, **kw: {"unit_code": code, "unit_name": f"第{code[-3:]}网格", "level": "网格",  # noqa: E731
                                   "parent_code": par, "unit_kind": "农村网格", "updated_at": iso, **kw}
        api.feeds["org_units"].upsert([
            unit(g2, households=300), unit(g3, households=float("nan"), population=12345678901234567890,
                                           boundary="null"),
            unit(par + "004", households=float("inf"), boundary=0), unit(par + "005", households=1e20),
            unit(par + "006", households="1e20", population="NaN")])
        rep = lambda rid, **kw: {"report_id": rid, "category": "流动人口", "grid_code": g,  # noqa: E731
                                 "reported_at": "2024-03-30T08:00:00", "updated_at": iso, **kw}
        feed = api.feeds["key_person_reports"]
        feed.upsert([rep("K2", id_number="不详", police_signed_at="9999-12-31T23:59:59Z"),
                     rep("K3", id_number="5107231990010112", reported_at="0001-01-01T00:00:00+08:00"),
                     rep("K4", reported_at="9999-12-31T23:59:59", person_name="王\u200b五\u0007😀\u202e")])
        # a lone surrogate is valid JSON text but no character (served as its \u escape)
        feed.put_raw(iso, json.dumps(rep("K5", person_name="李\ud800四")), key=("K5",))
        # control characters left unescaped by the server: not strict JSON, but text
        feed.put_raw(iso, json.dumps(rep("K6", person_name="制表\t符")).replace("\\t", "\t"),
                     key=("K6",))
        # a whole page that is no page of records: a row that is not an object; a data that is not a list
        api.feeds["accounts"].upsert([{"account_id": "U-NEW", "unit_code": g, "role": "网格员", "status": "启用",
                                       "updated_at": iso}])
        api.feeds["accounts"].put_raw(iso, '"导出中断"')
        faults.datasets, faults.rates = {"collection_stats"}, {"not_list": 1.0}
        api.feeds["collection_stats"].upsert([{"grid_code": g, "stat_date": "2024-03-31",
                                               "households_collected": 120, "updated_at": iso}])
        # good rows elsewhere, one with its time in UTC (`Z`): converted to Asia/Shanghai
        api.feeds["events"].upsert([{"event_id": "E4", "reported_at": "2024-03-31T00:30:00Z", "grid_code": g,
                                     "category": "其他", "status": "待受理", "updated_at": iso}])
        api.feeds["activity_log"].upsert([{"log_id": "L-NEW", "account_id": a, "op_time": "2024-03-31T09:00:00+08:00",
                                           "op_type": "巡查", "updated_at": "2024-04-01T02:00:00Z"}])

        second = channels.load(api.url, tmp_path, s)
        assert second.published, second.error
        wh = tmp_path / "wh"
        failed = {f["file"]: f["reason"] for f in second.files_failed}
        # the unreadable pages: named, with the reason, their watermark unmoved
        acc = next(k for k in failed if k.startswith("api:accounts "))
        assert "第" in acc and "不是 JSON 对象" in failed[acc], failed
        cs = next(k for k in failed if k.startswith("api:collection_stats "))
        assert "data 数组" in failed[cs], failed
        for ds in ("accounts", "collection_stats"):
            assert sources.watermarks(lake, api.url)[ds] == before[ds] == second.watermarks[ds]["watermark_to"]
        outcomes = {ds: _outcome(second, lake, api.url, ds, "api:", before.get(ds)) for ds in POISONED}
        # the poison values are read (a page of them is no broken page); what the normaliser cannot take fails
        # as a batch of records, never as the page
        assert not [k for k in failed if k.startswith(tuple(f"api:{d} " for d in POISONED))], failed
        assert set(failed) - {acc, cs} <= {k for k in failed if k.startswith(tuple(f"api:{d}" for d in POISONED))}
        # the other datasets landed and are published; `Z` is UTC, shown in Asia/Shanghai
        assert channels.table_rows(wh, "SELECT reported_at FROM fact_event WHERE event_id = 'E4'") == \
            [(dt.datetime(2024, 3, 31, 8, 30),)]
        assert _published(wh, "fact_activity", "log_id", "L-NEW")
        assert second.watermarks["events"]["watermark_to"] == LATER
        assert second.watermarks["activity_log"]["watermark_to"] == LATER  # 02:00Z = 10:00 local
        if outcomes["key_person_reports"] == "landed":
            q = {json.loads(r["raw"])["report_id"]: r["reason"] for r in _quarantined(tmp_path / "lake",
                                                                                     "key_person_reports")}
            kept = dict(channels.table_rows(wh, "SELECT report_id, person_name FROM fact_kp_report"))
            assert all(k in q or k in kept for k in ("K2", "K3", "K4", "K5", "K6"))
            if "K5" in kept:
                assert kept["K5"] == "李\ufffd四"
            if "K6" in kept:
                assert kept["K6"] == "制表\t符"
            assert second.watermarks["key_person_reports"]["replaced_chars"] == 1

        # the source is fixed: the next run completes and what the failed pages held arrives
        faults.rates = {}
        api.feeds["accounts"].remove(("\x00raw", '"导出中断"'))
        fixed = FIXED.replace(" ", "T")
        api.feeds["org_units"].upsert([unit(c, households=200, updated_at=fixed)
                                       for c in (g2, g3, par + "004", par + "005", par + "006")])
        feed.upsert([rep(k, updated_at=fixed) for k in ("K2", "K3", "K4", "K5", "K6")])
        third = channels.load(api.url, tmp_path, s)
        assert third.status == "ok" and third.files_failed == [], third.files_failed
        assert _published(wh, "dim_account", "account_id", "U-NEW")
        assert channels.table_rows(wh, "SELECT households_collected FROM fact_collection "
                                       "WHERE stat_date = DATE '2024-03-31'") == [(120,)]
        assert all(_published(wh, "dim_unit", "unit_code", c) for c in (g2, g3))
        assert all(_published(wh, "fact_kp_report", "report_id", k) for k in ("K2", "K3", "K4", "K5", "K6"))
        assert channels.load(api.url, tmp_path, s).files_new == 0


def test_a_request_refused_for_one_dataset_fails_that_dataset_only(tmp_path):
    tables, _, _ = _county(tmp_path)
    with DemoApi(tables, TOKEN, faults=FaultPlan(rates={"400": 1.0}, datasets={"accounts"})) as api:
        res = channels.load(api.url, tmp_path, channels.settings(tmp_path, **FAST))
    assert [(f["file"], "HTTP 400" in f["reason"]) for f in res.files_failed] == [("api:accounts", True)]
    assert res.published and _published(tmp_path / "wh", "fact_event", "event_id", "E3")
    assert res.watermarks["accounts"]["watermark_to"] is None and res.rows_by_dataset["events"]["rows_in"] == 3


def test_a_damaged_watermark_file_is_set_aside_and_the_dataset_read_again(tmp_path):
    tables, _, _ = _county(tmp_path)
    with DemoApi(tables, TOKEN) as api:
        url = api.url
        s = channels.settings(tmp_path, **FAST)
        first = channels.load(url, tmp_path, s)
        lake = Lake(tmp_path / "lake")
        path = lake.state_dir / "watermarks" / sources.source_id(url) / "events.json"
        path.write_text('{"watermark": "2024-13-45 99:00:00", "seen": {', encoding="utf-8")
        assert sources.watermarks(lake, url)["events"] is None
        second = channels.load(url, tmp_path, s)
    assert second.status == "ok" and second.files_failed == [], second.files_failed
    assert second.watermarks["events"]["watermark_reset"].startswith("events.json.damaged-")
    assert second.files_new == 0 and second.files_already_loaded == 1  # the same batch again: recognised
    assert sources.watermarks(lake, url)["events"] == first.watermarks["events"]["watermark_to"]


def test_the_summary_shows_the_watermark_that_was_saved(tmp_path):
    """Defect 9: batches landed, then a page that cannot be read. In order, the watermark of the last landed batch
    is saved and shown; out of order (nothing may be saved before the scan ends), none is saved and none shown."""
    tables, g, _ = _county(tmp_path)
    for shuffled in (False, True):
        root = tmp_path / ("shuffled" if shuffled else "ordered")
        with DemoApi(tables, TOKEN) as api:
            feed = api.feeds["events"]
            feed.upsert([{"event_id": f"N{i}", "reported_at": "2024-03-02T08:00:00", "grid_code": g,
                          "category": "其他", "status": "待受理", "updated_at": f"2024-03-{10 + i:02d}T08:00:00"}
                         for i in range(8)])
            feed.put_raw("2024-03-16T09:00:00", "[1, 2]")  # after N6: not an object
            if shuffled:
                random.Random(5).shuffle(feed.rows)
                feed._index()
            s = channels.settings(root, api_page_size=2, api_batch_rows=2, **FAST)
            res = channels.load(api.url, root, s, datasets=["events"])
            saved = sources.watermarks(Lake(root / "lake"), api.url).get("events")
            assert [f["file"].split(" ")[0] for f in res.files_failed] == ["api:events"], res.files_failed
            assert res.watermarks["events"]["watermark_to"] == saved
            if shuffled:
                assert saved is None and res.watermarks["events"]["watermark_to"] is None
            else:
                assert saved is not None and "2024-03-1" in saved and saved < "2024-03-16 09:00:00"
            assert f"→ {saved or '—'}" in summary(res)
            # the run log says the same
            log = json.loads((root / "lake" / "runs" / f"{res.run_id}.json").read_text(encoding="utf-8"))
            assert log["watermarks"]["events"]["watermark_to"] == saved


def test_updated_since_is_read_in_one_zone_by_client_and_simulator(tmp_path):
    """`updated_since` goes out with its +08:00 offset; the simulator reads `Z`, an offset or none by the same rule."""
    tables, _, _ = _county(tmp_path)
    requests: list[str] = []
    with DemoApi(tables, TOKEN, log=requests.append) as api:
        client = HttpClient(api.url + "/api/v1", TOKEN, timeout=2, retries=0, backoff=0, backoff_max=0,
                            log=lambda m: None)
        ids = lambda since: sorted(r["event_id"] for r in client.get_json(  # noqa: E731
            "events", {"updated_since": since, "page": 1, "page_size": 100})["data"])
        local = ids("2024-03-01T11:00:00")
        assert local == ["E2", "E3"]
        assert ids("2024-03-01T03:00:00Z") == local == ids("2024-03-01T11:00:00+08:00") == ids("2024-03-01 11:00:00")
        from etl.sources.api import ApiSource

        src = ApiSource(api.url, channels.settings(tmp_path, **FAST), log=lambda m: None)
        page = src.page("events", "2024-03-01 11:00:00", 1, 100)
        assert sorted(r["event_id"] for r in page["data"]) == local
        assert "updated_since=2024-03-01T11%3A00%3A00%2B08%3A00&" in requests[-1]

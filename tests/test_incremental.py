"""The daily run merges only its new deliveries into the staged state (warehouse/staged.py, warehouse.build._stage):
after every delivery of a sequence — a new month, corrections of existing keys, a delivery named earlier than
one already landed (its rank in the order of deliveries shifts the others), a record moving to another month, a
quarantined row corrected — the published warehouse equals a full rebuild of the same lake, table by table,
EXCEPT ALL both ways. A changed contract, a delivery set aside as damaged, a missing state file or a killed
run's leftovers make the next run stage from every landed part (or are ignored), with the same result.

The tables of such a run start as a copy of the previous version with only the changed months of the month-local
tables replaced (warehouse.build.Reuse, `tables` mode "incremental"); the same comparison proves that the rest
of every table is as a full build has it, and every doubt (dimensions, schema or settings changed, staging in
full, the build record missing) builds in full."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from support.county import MiniCounty, sample_county

from core.config import Settings
from core.spec import DATASETS
from etl.lake import Lake
from etl.pipeline import run
from warehouse import build, db, staged
from warehouse.build import build_and_publish

# legitimately run-specific: the run log (the incremental build holds its own run as unfinished), the feeding
# sources' health as of the build time, and the version's name and build time
RUN_TABLES = {"etl_run", "source_health"}
RUN_META_KEYS = ("version", "built_at")
_TICK = itertools.count()


def _load_time() -> dt.datetime:
    """Every run lands an hour after the previous one (a correction counts only when landed after the entry)."""
    return dt.datetime(2024, 6, 1) + dt.timedelta(hours=next(_TICK))


def _run(root: Path, drop: str) -> dict:
    res = run(root / drop, Settings().resolve(root), warehouse_dir=root / "wh", lake_dir=root / "lake",
              load_time=_load_time(), log=lambda m: None)
    assert res.status == "ok", res.error
    return dict(res.staging, tables=res.tables)


def _rebuilt(root: Path, tmp: Path) -> Path:
    """The same lake (a copy) built from every landed part: the published version's file."""
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(root / "lake", tmp / "lake")
    shutil.copytree(root / "wh", tmp / "wh")
    stats: dict = {}
    build_and_publish(Lake(tmp / "lake"), tmp / "wh", Settings().resolve(tmp), stats=stats, rebuild=True)
    assert stats["staging"]["mode"] == "full"
    assert (stats["tables"]["mode"], stats["tables"]["reason"]) == ("full", "rebuild")
    return db.current_version(tmp / "wh")


def _differences(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    con = db.connect(None)
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    cols = {(c, t): cs for c, t, cs in con.execute(
        "SELECT table_catalog, table_name, list(column_name ORDER BY ordinal_position) FROM information_schema.columns "
        "WHERE table_catalog IN ('a', 'b') GROUP BY ALL").fetchall()}
    tables = {t for c, t in cols if c == "a"}
    assert tables == {t for c, t in cols if c == "b"}
    assert len(tables - RUN_TABLES) >= 25, sorted(tables)
    out = {}
    for t in sorted(tables - RUN_TABLES):
        assert cols["a", t] == cols["b", t], t  # the same columns, in the same order
        sel = ", ".join(f'"{c}"' for c in cols["a", t])
        where = "WHERE key NOT IN ('version', 'built_at')" if t == "meta" else ""
        n = [con.execute(f"SELECT count(*) FROM (SELECT {sel} FROM {x}.{t} {where} "
                         f"EXCEPT ALL SELECT {sel} FROM {y}.{t} {where})").fetchone()[0]
             for x, y in (("a", "b"), ("b", "a"))]
        if any(n):
            out[t] = tuple(n)
    con.close()
    return out


def _export_differences(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    """The Parquet exports of two versions (lake/published/<version>), table by table, EXCEPT ALL both ways."""
    con = db.connect(None)
    out = {}
    assert sorted(d.name for d in a.iterdir() if d.is_dir()) == sorted(d.name for d in b.iterdir() if d.is_dir())
    for t in sorted(d.name for d in a.iterdir() if d.is_dir()):
        files = {x: sorted(str(f) for f in (x / t).rglob("*.parquet")) for x in (a, b)}
        if not files[a] and not files[b]:
            continue
        if not files[a] or not files[b]:
            out[t] = (len(files[a]), len(files[b]))
            continue
        n = [con.execute("SELECT count(*) FROM (FROM read_parquet($x, hive_partitioning = true) EXCEPT ALL "
                         "FROM read_parquet($y, hive_partitioning = true))", {"x": files[x], "y": files[y]}).fetchone()[0]
             for x, y in ((a, b), (b, a))]
        if any(n):
            out[t] = tuple(n)
    con.close()
    return out


def _same_as_rebuild(root: Path, tmp: Path) -> None:
    ours, rebuilt = db.current_version(root / "wh"), _rebuilt(root, tmp)
    assert _differences(ours, rebuilt) == {}
    assert _export_differences(root / "lake" / "published" / ours.stem,
                               tmp / "lake" / "published" / rebuilt.stem) == {}


def _delivery(**rows) -> MiniCounty:
    c = MiniCounty()
    c.rows["org_units"] = []
    for ds, rs in rows.items():
        c.rows[ds] = rs
    return c


def _first(c: MiniCounty) -> MiniCounty:
    """The sample county, with an event quarantined (its 网格 missing) and a collection of April."""
    c.rows["events"].append(dict(c.rows["events"][0], event_id="EQ1", grid_code=None))
    c.collection(c.rows["events"][1]["grid_code"], dt.date(2024, 4, 2), 280)
    return c


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    """A lake fed a sequence of deliveries, each run incremental; yields (root, staging info per run)."""
    root = tmp_path_factory.mktemp("inc")
    c = _first(sample_county())
    c.write(root / "d1", "20240101")
    info = {"d1": _run(root, "d1")}
    ev = {e["event_id"]: e for e in c.rows["events"]}
    ids = list(ev)
    acct = c.rows["accounts"][0]["account_id"]
    grid = c.rows["events"][0]["grid_code"]
    # d2 (named 2024-04-10): a new month; an event closed (a correction of its key); the quarantined row
    # corrected; an activity log re-sent with the same content
    d2 = _delivery(events=[
        dict(ev[ids[1]], status="已办结", closed_at="2024-04-02 10:00:00", updated_at="2024-04-02 10:00:00"),
        dict(ev["EQ1"], grid_code=grid, updated_at="2024-04-03 09:00:00"),
        dict(ev[ids[3]], summary="四月版本", updated_at="2024-04-05 08:00:00"),
    ])
    for d in range(1, 6):
        d2.op(acct, dt.datetime(2024, 4, d, 9), "巡查")
    d2.rows["activity_log"].append(dict(c.rows["activity_log"][0]))
    d2.collection(grid, dt.date(2024, 4, 9), 290)  # a new day of collection statistics in April
    d2.write(root / "d2", "20240410")
    info["d2"] = _run(root, "d2")
    # d3 (named 2024-02-15, landed after d2: earlier in the order of deliveries): a version of ids[3] with the
    # same updated_at as d2's (d2 is later in the order: it stays); a version of ids[0] with the same updated_at
    # as d1's (d3 is later than d1: it wins); a March event moved to May by a corrected time
    d3 = _delivery(events=[
        dict(ev[ids[3]], summary="二月版本", updated_at="2024-04-05 08:00:00"),
        dict(ev[ids[0]], summary="二月更正"),
        dict(ev[ids[6]], reported_at="2024-05-06 09:00:00", updated_at="2024-05-06 09:00:00"),
    ], key_person_reports=[dict(c.rows["key_person_reports"][0], police_signed_at="2024-01-04 10:00:00",
                                updated_at="2024-01-04 10:00:00")], activity_log=[
        dict(c.rows["activity_log"][1], op_time="2024-04-07 09:30:00", updated_at="2024-04-07 09:30:00"),
        dict(c.rows["activity_log"][2], op_type="巡查", updated_at="2024-04-08 09:30:00")])
    d3.write(root / "d3", "20240215")
    info["d3"] = _run(root, "d3")
    # d4 (2024-05-20): a grid renamed and a new account (dimensions change under unchanged facts)
    d4 = _delivery()
    d4.rows["org_units"] = [dict(next(u for u in c.rows["org_units"] if u["unit_code"] == grid),
                                 unit_name="更名网格", updated_at="2024-05-20 08:00:00")]
    d4.account(grid, account_id="U90001")
    d4.rows["accounts"][0]["updated_at"] = "2024-05-20 08:00:00"
    d4.write(root / "d4", "20240520")
    info["d4"] = _run(root, "d4")
    return root, info


@pytest.mark.parametrize("step", ["d2", "d3", "d4"])
def test_each_delivery_merges_incrementally(county, step):
    root, info = county
    assert info["d1"]["mode"] == "full" and info["d1"]["reason"] == "no state"
    assert info[step]["mode"] == "incremental", info[step]
    assert info[step]["linked"] > 0  # months the delivery did not touch are kept as they are
    assert info["d1"]["tables"]["mode"] == "full" and info["d1"]["tables"]["reason"] == "no previous version"
    tables = info[step]["tables"]
    if step == "d4":  # a grid renamed, an account added: the activity's tables read both, all built again
        assert tables["mode"] == "full" and tables["reason"] in ("dim_account changed", "dim_unit changed"), tables
    else:  # the previous version's copy, with the months of the activity the delivery changed replaced
        assert tables["mode"] == "incremental", tables
        assert tables["months"] == {"d2": {"activity_log": ["2024-01", "2024-04"], "collection_stats": ["2024-04"]},
                                    "d3": {"activity_log": ["2024-01", "2024-04"]}}[step], tables


def test_incremental_equals_rebuild(county, tmp_path):
    root, _ = county
    _same_as_rebuild(root, tmp_path / "rebuilt")
    con = db.open_published(root / "wh")
    try:
        got = dict(con.execute("SELECT event_id, summary FROM fact_event").fetchall())
        months = dict(con.execute("SELECT event_id, strftime(reported_at, '%Y-%m') FROM fact_event").fetchall())
        resolved = con.execute("SELECT count(*) FROM dq_quarantine WHERE corrected_file IS NOT NULL").fetchone()[0]
        unit = con.execute("SELECT unit_name FROM dim_unit WHERE unit_name = '更名网格'").fetchall()
    finally:
        con.close()
    ids = sorted(e for e in got if e != "EQ1")
    assert got[ids[3]] == "四月版本"  # tie of updated_at: d2 is later in the order than d3 (landed after it)
    assert got[ids[0]] == "二月更正"  # tie with d1: d3 is later in the order
    assert months[ids[6]] == "2024-05" and "EQ1" in got and resolved == 1 and unit


def test_step_by_step_equals_rebuild(tmp_path):
    """After every run (not only the last), the published version equals a rebuild of the lake as it was: the
    months of the activity and the collection statistics a run replaced in the previous version's copy, and the
    months it kept, the events a run replaced in the events' tables (KEY_LOCAL) and the tables it kept as they
    were (their inputs unchanged)."""
    root = tmp_path / "c"
    c = _first(sample_county())
    c.rows["event_flow"] = [{"event_id": e["event_id"], "seq": 1, "action": "上报", "action_time": e["reported_at"]}
                            for e in c.rows["events"][:4]]
    c.account(c.rows["accounts"][0]["unit_code"], role="临时工", account_id="U70001")  # a role not in the code list
    c.write(root / "d1", "20240101")
    _run(root, "d1")
    _same_as_rebuild(root, tmp_path / "r1")
    unknown = [("accounts", "role", "临时工", 1)]
    ev, logs = c.rows["events"], c.rows["activity_log"]
    acct, grid = logs[0]["account_id"], ev[1]["grid_code"]
    # d2: an event closed; another one accepted (its flow: agg_event's accepted_at); March activity added, a January
    # log corrected; a collection day added in March
    d2 = _delivery(events=[dict(ev[2], status="已办结", closed_at="2024-03-09 10:00:00",
                                updated_at="2024-03-09 10:00:00")],
                   event_flow=[{"event_id": ev[3]["event_id"], "seq": 2, "action": "受理",
                                "action_time": "2024-03-09 09:00:00"},
                               {"event_id": ev[1]["event_id"], "seq": 1, "action": "上报",
                                "action_time": ev[1]["reported_at"], "note": "补录"}],
                   activity_log=[dict(logs[3], op_type="巡查", updated_at="2024-03-09 11:00:00")])
    d2.op(acct, dt.datetime(2024, 3, 28, 9), "事件上报")
    d2.collection(grid, dt.date(2024, 3, 28), 275)
    d2.write(root / "d2", "20240310")
    st = _run(root, "d2")
    assert st["mode"] == "incremental" and st["tables"]["mode"] == "incremental", st
    assert st["tables"]["months"] == {"activity_log": ["2024-01", "2024-03"], "collection_stats": ["2024-03"]}
    # the events' tables: the rows of the three events the delivery's records and flow are of replaced
    assert st["tables"]["keys"] == {"event_id": 3}, st["tables"]
    # map_code read the delivered events and is built again, equal: the tables of its inputs are the previous
    # version's, kept; the collection statistics' monthly tables are built again (a day of them was delivered)
    kept = ["dim_county", "dim_reporting_unit", "dim_unit", "dim_account", "dim_office", "fact_kp_report",
            "fact_kp_signoff", "agg_kp_signoff", "agg_kp_report"]
    assert st["tables"]["kept"] == kept, st["tables"]
    con = db.open_published(root / "wh")  # no account delivered: the accounts' unknown codes carried over
    assert con.execute("SELECT dataset, column_name, code, n FROM dq_unknown_code").fetchall() == unknown
    con.close()
    # of the activity, only the days of the delivered logs: the corrected one's and the new one's
    assert st["tables"]["days"] == {"activity_log": [logs[3]["op_time"][:10], "2024-03-28"]}, st["tables"]
    _same_as_rebuild(root, tmp_path / "r2")
    # d3 (named earlier): the event's other version loses the tie; a January log moved to February (a new month)
    # and a key person's report signed by the police (its tables built again, differing: theirs too)
    _delivery(events=[dict(ev[2], status="办理中", updated_at="2024-03-09 10:00:00")],
              activity_log=[dict(logs[4], op_time="2024-02-15 09:00:00", updated_at="2024-03-09 12:00:00")],
              key_person_reports=[dict(c.rows["key_person_reports"][0], police_signed_at="2024-03-09 10:00:00",
                                       updated_at="2024-03-09 10:00:00")]).write(root / "d3", "20240301")
    st = _run(root, "d3")
    assert st["mode"] == "incremental" and st["tables"]["mode"] == "incremental", st
    assert st["tables"]["months"] == {"activity_log": ["2024-01", "2024-02"]}
    assert st["tables"]["keys"] == {"event_id": 1}, st["tables"]
    assert st["tables"]["kept"] == ["dim_county", "dim_reporting_unit", "dim_unit", "dim_account",
                                    "agg_collection_month", "agg_collection_asof"], st["tables"]
    assert st["tables"]["days"] == {"activity_log": [logs[4]["op_time"][:10], "2024-02-15"]}, st["tables"]
    _same_as_rebuild(root, tmp_path / "r3")
    # d4: an account delivered without its id, quarantined; d5: it again with its id (resolved by its content);
    # d6, only events: the accounts' resolution is the previous version's (carried over), as a rebuild has it
    unit = c.rows["accounts"][0]["unit_code"]
    new_acct = {"person_name": "李四光", "phone": "13900000000", "unit_code": unit, "role": "网格员",
                "status": "启用", "opened_at": "2024-03-01 00:00:00", "updated_at": "2024-03-10 08:00:00"}
    _delivery(accounts=[dict(new_acct, account_id=None)]).write(root / "d4", "20240311")
    _run(root, "d4")
    _delivery(accounts=[dict(new_acct, account_id="U80001")]).write(root / "d5", "20240312")
    _run(root, "d5")
    _same_as_rebuild(root, tmp_path / "r5")
    _delivery(events=[dict(ev[3], summary="再一版", updated_at="2024-03-13 08:00:00")]).write(root / "d6", "20240313")
    st = _run(root, "d6")
    assert st["tables"]["mode"] == "incremental" and "accounts" in st["tables"]["carried"], st["tables"]
    assert "events" not in st["tables"]["carried"], st["tables"]
    con = db.open_published(root / "wh")
    resolved = con.execute("SELECT matched_by FROM dq_quarantine WHERE dataset = 'accounts' "
                           "AND corrected_file IS NOT NULL").fetchall()
    con.close()
    assert resolved == [("content",)]
    _same_as_rebuild(root, tmp_path / "r6")


def test_a_file_delivered_again_under_its_name_counts_its_months_again(tmp_path):
    """A file's records count as fresh up to its limit (its latest landing + the tolerance, file_limit): a file of
    the same name delivered again moves the limit of every record from it, in months the delivery did not touch —
    dq_activity_file kept each row's limit, and those months are replaced too (whole months, not days)."""
    root = tmp_path / "c"
    c = _first(sample_county())
    c.write(root / "d1", "20240101")
    _run(root, "d1")
    logs = c.rows["activity_log"]
    _delivery(activity_log=[dict(logs[0], op_type="巡查", updated_at="2024-05-01 08:00:00")]).write(
        root / "d2", "20240101")  # activity_log_20240101.json again, one log corrected
    st = _run(root, "d2")
    assert st["mode"] == "incremental" and st["tables"]["mode"] == "incremental", st
    assert st["tables"]["months"] == {"activity_log": sorted({r["op_time"][:7] for r in logs})}, st["tables"]
    assert "activity_log" not in st["tables"]["days"]
    _same_as_rebuild(root, tmp_path / "r")


def test_incremental_staging_is_one_scan_per_dataset(tmp_path, monkeypatch):
    """After an incremental staging each stg_<dataset> the facts sort is one scan of the new generation's Parquet
    (the months merged and those linked): a merged table UNION ALL the linked months' Parquet made the facts'
    ORDER BY run out of memory in DuckDB 2.0 (a prefecture's daily run failed at its 4 GB memory_limit)."""
    root = tmp_path / "c"
    c = _first(sample_county())
    c.write(root / "d1", "20240101")
    _run(root, "d1")
    logs = c.rows["activity_log"]
    d2 = _delivery(activity_log=[dict(logs[3], op_type="巡查", updated_at="2024-03-09 11:00:00")])
    d2.op(logs[0]["account_id"], dt.datetime(2024, 3, 28, 9), "事件上报")
    d2.write(root / "d2", "20240310")
    plans: dict[str, list[str]] = {}
    resolve = build._quarantine_resolution

    def spy(con, *a):  # right after staging, before the facts are built from stg_<dataset>
        for ds in ("activity_log", "events", "accounts"):
            col = DATASETS[ds].key[0]
            plan = json.loads(con.execute(f"EXPLAIN (FORMAT json) SELECT * FROM stg_{ds} ORDER BY {col}").fetchall()[0][1])
            ops, todo = [], list(plan)
            while todo:
                op = todo.pop()
                ops.append(op["name"])
                todo += op.get("children", [])
            plans[ds] = sorted(ops)
        resolve(con, *a)

    monkeypatch.setattr(build, "_quarantine_resolution", spy)
    st = _run(root, "d2")
    assert st["mode"] == "incremental" and st["linked"] > 0, st
    assert set(plans) == {"activity_log", "events", "accounts"}
    for ds, ops in plans.items():  # the operators of its plan: one Parquet scan, nothing unioned, no table scanned
        assert ops.count("PARQUET_SCAN") == 1 and not {"UNION", "SEQ_SCAN"} & set(ops), (ds, ops)
    _same_as_rebuild(root, tmp_path / "r")


def test_a_changed_memory_limit_keeps_the_run_incremental(tmp_path):
    """How fast a build runs (its memory limit, threads, landing workers) is no input of its tables: the next run
    still replaces only the day's rows; a setting of a figure (the future-time tolerance) builds every table."""
    root = tmp_path / "c"
    c = _first(sample_county())
    c.write(root / "d1", "20240101")
    _run(root, "d1")
    logs = c.rows["activity_log"]

    def day(name: str, n: int, **etl) -> dict:
        d = _delivery()
        d.op(logs[0]["account_id"], dt.datetime(2024, 3, n, 9), "巡查")
        d.write(root / name, f"202403{n:02d}")
        s = Settings().resolve(root)
        s.etl = s.etl.model_copy(update=etl)
        res = run(root / name, s, warehouse_dir=root / "wh", lake_dir=root / "lake", load_time=_load_time(),
                  log=lambda m: None)
        assert res.status == "ok", res.error
        return res.tables

    t = day("d2", 20, duckdb_memory_limit="1GB", duckdb_threads=1, workers=1)
    assert t["mode"] == "incremental", t
    t = day("d3", 21, duckdb_memory_limit="1GB", duckdb_threads=1, workers=1, future_tolerance_hours=48)
    assert (t["mode"], t["reason"]) == ("full", "schema, settings or DuckDB changed"), t


def test_contract_change_restages_everything(tmp_path, monkeypatch):
    root = tmp_path / "c"
    c = _first(sample_county())
    c.write(root / "d1", "20240101")
    _run(root, "d1")
    monkeypatch.setattr(staged, "FORMAT_VERSION", staged.FORMAT_VERSION + 1)
    _delivery(events=[dict(c.rows["events"][0], summary="新版本", updated_at="2024-05-01 08:00:00")]).write(
        root / "d2", "20240501")
    st = _run(root, "d2")
    assert (st["mode"], st["reason"]) == ("full", "contract changed")
    assert st["tables"]["mode"] == "full" and st["tables"]["reason"] == "staging full: contract changed"
    _delivery(events=[dict(c.rows["events"][1], summary="再新", updated_at="2024-05-02 08:00:00")]).write(
        root / "d3", "20240502")
    # the tables' own inputs changed (schema files, settings, DuckDB, this way of reusing): all built again
    monkeypatch.setattr(build, "REUSE_FORMAT", build.REUSE_FORMAT + 1)
    st = _run(root, "d3")
    assert st["mode"] == "incremental"  # the new contract's state is used from then on
    assert (st["tables"]["mode"], st["tables"]["reason"]) == ("full", "schema, settings or DuckDB changed")
    # reusing fails half-way (a damaged block of the copy, say): the version is built again in full, in a new file
    original = build.Reuse.run

    def damaged(self, con, s):
        if self.active and s.name == "agg_aq_day":
            raise duckdb.IOException("simulated: a block of the copy unreadable")
        original(self, con, s)

    monkeypatch.setattr(build.Reuse, "run", damaged)
    _delivery(activity_log=[dict(c.rows["activity_log"][5], op_type="巡查", updated_at="2024-05-03 08:00:00")]
              ).write(root / "d4", "20240503")
    st = _run(root, "d4")
    assert (st["tables"]["mode"], st["tables"]["reason"]) == ("full", "reuse failed: IOException"), st["tables"]
    _same_as_rebuild(root, tmp_path / "r")


def test_removed_delivery_or_state_file_restages_everything(tmp_path):
    root = tmp_path / "c"
    c = _first(sample_county())
    c.write(root / "d1", "20240101")
    _run(root, "d1")
    ev = c.rows["events"]
    _delivery(events=[dict(ev[0], summary="更正", updated_at="2024-05-01 08:00:00")]).write(root / "d2", "20240501")
    _run(root, "d2")
    # d2's part damaged and its file gone from the drop: Lake.verify sets it aside; the state held it
    lake = Lake(root / "lake")
    m = next(m for m in lake.manifests() if m["file"].startswith("events_20240501"))
    (lake.root / m["landed_parts"][0]).write_bytes(b"not parquet")
    shutil.rmtree(root / "d2")
    _delivery(events=[dict(ev[1], summary="又一版", updated_at="2024-05-02 08:00:00")]).write(root / "d3", "20240502")
    res = run(root / "d3", Settings().resolve(root), warehouse_dir=root / "wh", lake_dir=root / "lake",
              load_time=_load_time(), log=lambda m: None)
    assert res.status == "partial"  # the damaged delivery is listed as failed
    assert res.staging["mode"] == "full" and "removed" in res.staging["reason"], res.staging
    assert res.tables["mode"] == "full" and res.tables["reason"].startswith("staging full"), res.tables
    _same_as_rebuild(root, tmp_path / "r1")
    con = db.open_published(root / "wh")
    assert con.execute("SELECT summary FROM fact_event WHERE event_id = $e", {"e": ev[0]["event_id"]}).fetchone()[0] \
        == ev[0]["summary"]  # d2's correction is out of the build with its delivery
    con.close()
    # a state file lost: detected, everything restaged
    sd = staged.state_dir(lake)
    st = json.loads((sd / staged.STATE_FILE).read_text(encoding="utf-8"))
    next((sd / st["generation"] / "events").rglob("*.parquet")).unlink()
    _delivery(events=[dict(ev[2], summary="第三版", updated_at="2024-05-03 08:00:00")]).write(root / "d4", "20240503")
    res = run(root / "d4", Settings().resolve(root), warehouse_dir=root / "wh", lake_dir=root / "lake",
              load_time=_load_time(), log=lambda m: None)
    assert res.staging["mode"] == "full" and "missing" in res.staging["reason"], res.staging
    _same_as_rebuild(root, tmp_path / "r2")
    # a state file damaged in place (same size, no Parquet footer): detected, everything restaged
    st = json.loads((sd / staged.STATE_FILE).read_text(encoding="utf-8"))
    part = next((sd / st["generation"] / "accounts").rglob("*.parquet"))
    part.unlink()  # a hard link: the previous generation's copy stays intact
    month = part.parent.name.split("=", 1)[1]
    part.write_bytes(b"x" * st["datasets"]["accounts"]["months"][month][f"{part.parent.name}/{part.name}"])
    _delivery(events=[dict(ev[3], summary="第四版", updated_at="2024-05-04 08:00:00")]).write(root / "d5", "20240504")
    res = run(root / "d5", Settings().resolve(root), warehouse_dir=root / "wh", lake_dir=root / "lake",
              load_time=_load_time(), log=lambda m: None)
    assert res.staging["mode"] == "full" and "unreadable" in res.staging["reason"], res.staging
    _same_as_rebuild(root, tmp_path / "r3")


def test_killed_state_write_leaves_the_previous_state(tmp_path, monkeypatch):
    """A run killed while writing the state (here: its commit fails) leaves the previous STATE.json and its
    generation; the leftovers are ignored or removed, and the next run is incremental and correct."""
    root = tmp_path / "c"
    c = _first(sample_county())
    c.write(root / "d1", "20240101")
    _run(root, "d1")
    sd = staged.state_dir(Lake(root / "lake"))
    before = (sd / staged.STATE_FILE).read_text(encoding="utf-8")
    ev = c.rows["events"]
    _delivery(events=[dict(ev[0], summary="更正", updated_at="2024-05-01 08:00:00")]).write(root / "d2", "20240501")

    def killed(self, *a, **k):
        self.tmp.rename(sd / self.name)  # renamed into place, STATE.json not yet written
        raise KeyboardInterrupt

    monkeypatch.setattr(staged.Writer, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(root, "d2")
    monkeypatch.undo()
    assert (sd / staged.STATE_FILE).read_text(encoding="utf-8") == before
    (sd / ".g000099.tmp").mkdir()  # a half-written generation
    st = _run(root, "d2")
    assert st["mode"] == "incremental", st
    assert st["tables"]["mode"] == "incremental", st  # the killed run published nothing: d1's version reused
    # the leftovers are gone: the new generation and the one it merged from (read by that build) remain
    assert sorted(p.name for p in sd.iterdir()) == [staged.STATE_FILE, json.loads(before)["generation"], json.loads(
        (sd / staged.STATE_FILE).read_text(encoding="utf-8"))["generation"]]
    _same_as_rebuild(root, tmp_path / "r")


def test_the_configuration_tables_a_daily_build_keeps_are_all_of_them(tmp_path):
    """A daily build keeps the configuration tables in the copy (build.CONFIG_TABLES): a cfg_ table _config_tables
    made and the list forgot would be dropped, and the version would lack it."""
    con = db.connect(None)
    build._config_tables(con, Settings())
    made = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert made == set(build.CONFIG_TABLES)

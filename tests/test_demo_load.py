"""The demo county loads end to end, and what the ETL kept, repaired, flagged and quarantined is exactly what the
generator says it delivered (its _demo_truth.json)."""
from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from core.config import Settings
from demo import generate
from etl.pipeline import run
from warehouse import db

# truth kind → warehouse flag (dq_flag on current records)
FLAG_OF = {"coord_swapped": "coord_swapped", "coord_zero": "coord_zero", "coord_bd09": "coord_bd09",
           "closed_before_reported": "closed_before_reported", "category_alias": "category_alias",
           "id_lowercase_x": "id_lowercase_x", "id_15_digit": "id_upgraded_15", "id_excel_number": "id_excel_number",
           "unknown_grid_ref": "unknown_grid", "unknown_account_ref": "unknown_account", "future_time": "future_time"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    truth = generate(tmp / "drop", months=2, end_month="2025-02")
    res = run(tmp / "drop", Settings().resolve(tmp), warehouse_dir=tmp / "wh", lake_dir=tmp / "lake",
              load_time=dt.datetime(2025, 3, 5), log=lambda m: None)
    assert res.status == "ok", res.error
    con = db.open_published(tmp / "wh")
    yield tmp, truth, res, con
    con.close()


def test_every_file_loads(demo):
    _, truth, res, con = demo
    assert res.files_failed == []
    assert [f["file"] for f in res.files_ignored] == ["_demo_truth.json"]  # listed, never read as a delivery
    assert res.files_new == len(truth["files"])
    assert res.rows_in == sum(truth["rows_delivered"].values())
    per_file = dict(con.execute("SELECT file, rows_in FROM etl_file").fetchall())
    assert per_file == {name: f["rows"] for name, f in truth["files"].items()}


def test_records_and_quarantine_match_the_truth(demo):
    _, truth, _, con = demo
    fresh = {r[0]: r[1:] for r in con.execute("SELECT dataset, records, quarantined FROM dataset_freshness").fetchall()}
    for ds, keys in truth["distinct_keys"].items():
        assert fresh[ds] == (keys, sum(truth["quarantine"][ds].values())), ds
    by_kind = dict(con.execute("""
        SELECT dataset || ':' || CASE WHEN reason_kind LIKE '缺少%' THEN 'missing_required' ELSE 'bad' END, count(*)
        FROM quarantine GROUP BY ALL""").fetchall())
    for ds, q in truth["quarantine"].items():
        assert by_kind.get(f"{ds}:missing_required", 0) == q["missing_required"], ds
        assert by_kind.get(f"{ds}:bad", 0) == q["bad_required_ts"], ds


def test_every_kind_of_mess_is_flagged_as_often_as_it_was_injected(demo):
    _, truth, _, con = demo
    flags: dict[str, dict[str, int]] = {}
    for ds, flag, n in con.execute("SELECT dataset, flag, n FROM dq_flag").fetchall():
        base = flag.split(":")[0]
        flags.setdefault(ds, {})[base] = flags.get(ds, {}).get(base, 0) + n
    checked = 0
    for ds, kinds in truth["mess"].items():
        for kind, n in kinds.items():
            if kind in FLAG_OF:
                assert flags.get(ds, {}).get(FLAG_OF[kind], 0) == n, (ds, kind)
                checked += 1
            elif kind == "unknown_code":
                assert flags.get(ds, {}).get("unknown_code", 0) == n, (ds, kind)
                checked += 1
    assert checked >= 25


def test_duplicates_within_one_export_are_resolved(demo):
    tmp, truth, _, _ = demo
    con = duckdb.connect()
    for ds, kinds in truth["mess"].items():
        if "dup_key_in_file" not in kinds:
            continue
        key = {"org_units": "unit_code", "accounts": "account_id", "activity_log": "log_id", "events": "event_id",
               "event_flow": "event_id || '/' || seq", "key_person_reports": "report_id",
               "collection_stats": "grid_code || '/' || stat_date"}[ds]
        # one export can come in parts (_part1/_part2): duplicates are counted per export date
        n = con.execute(f"""
            SELECT count(*) FROM (
                SELECT {key} AS k, regexp_extract(_file, '_(\\d{{8}})', 1) AS export, count(*) AS c
                FROM read_parquet('{tmp}/lake/landed/{ds}/*/*/*.parquet', hive_partitioning = false) GROUP BY ALL HAVING c > 1)
        """).fetchone()[0]
        assert n == kinds["dup_key_in_file"], ds


def test_the_demo_reads_like_the_bulletin(demo):
    _, _, _, con = demo
    rates = dict(con.execute("""
        SELECT r.short_name, count(*) FILTER (m.active_days >= 20) / count(*)
        FROM dim_account a JOIN dim_reporting_unit r USING (ru_code)
        LEFT JOIN agg_account_month m ON m.account_id = a.account_id AND m.month = DATE '2025-02-01'
        WHERE a.is_grid_worker AND a.status = '启用' GROUP BY ALL""").fetchall())
    assert rates["宏仁"] == 1.0
    assert len(rates) == 34

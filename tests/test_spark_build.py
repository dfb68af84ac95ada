"""The build on Spark (issue 17 part 2): on a small lake of three tiny counties in two deliveries, every table that
Spark (local mode) builds equals DuckDB's, EXCEPT ALL both ways, with the same column types, and the version it
publishes (the same CURRENT switch) answers every query of the metrics layer exactly as DuckDB's does.

The lake: tests/support's sample county, 有效活跃度 county (grid polygons, patrol points, position fixes) and
warning county, each given its own county code and ids; a second delivery re-sends records (a later version, a
tie of updated_at broken by the delivery order), a row with its key missing (quarantined) and an unknown category.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil

import duckdb
import pandas as pd
import pytest

from core.config import Settings
from etl.lake import Lake
from etl.pipeline import run
from tests.support import county as mini
from tests.support.aq_county import aq_county
from tests.support.warning_county import build_county
from warehouse import db, metrics, staged
from warehouse.__main__ import main
from warehouse.build import build_and_publish

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # one JVM, one Spark build: about 2 minutes

ID_FIELDS = ("account_id", "log_id", "event_id", "report_id", "reporter_account")
# tables that hold the build itself (its version, when it ran), not the lake's data
BUILD_RECORD = {"meta", "source_health"}


def _recode(c: mini.MiniCounty, code: str, tag: str) -> mini.MiniCounty:
    """The county as another county: its codes under `code`, its ids prefixed with `tag`."""
    for rows in c.rows.values():
        for r in rows:
            for k, v in r.items():
                if isinstance(v, str) and v.startswith(mini.COUNTY):
                    r[k] = code + v[len(mini.COUNTY):]
                elif isinstance(v, str) and k in ID_FIELDS:
                    r[k] = tag + v
    return c


def _second_delivery(c: mini.MiniCounty) -> mini.MiniCounty:
    """Re-sent records: two events closed later, one event again with the same updated_at (the later delivery
    wins the tie), an event of an unknown category, an activity row with its key missing (quarantined)."""
    d = mini.MiniCounty()
    d.rows = {k: [] for k in c.rows}
    evs = c.rows["events"]
    for e in evs[:2]:
        d.rows["events"].append(dict(e, status="已办结", closed_at="2024-03-30 10:00:00",
                                     updated_at="2024-03-30 10:00:00"))
    d.rows["events"].append(dict(evs[2], summary="同一时间再次报送"))
    d.rows["events"].append(dict(evs[3], event_id=evs[3]["event_id"] + "X", category="外星来客"))
    a = c.rows["activity_log"][0]
    d.rows["activity_log"].append(dict(a, log_id=None))
    return d


@pytest.fixture(scope="module")
def lake_and_builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_lake")
    counties = [_recode(mini.sample_county(), "510701", "A"), _recode(aq_county()[0], "510702", "B"),
                _recode(build_county()[0], "510703", "C")]
    for c, tag in zip(counties, "ABC"):
        c.write(root / "drop", date="20240401", suffix=f"_{tag}")
    _second_delivery(counties[0]).write(root / "drop2", date="20240402")
    s = Settings().resolve(root)
    wh, lake = root / "wh", root / "lake"
    for drop, when in (("drop", dt.datetime(2024, 4, 1, 8)), ("drop2", dt.datetime(2024, 4, 2, 8))):
        res = run(root / drop, s, warehouse_dir=wh, lake_dir=lake, load_time=when, log=lambda m: None)
        assert res.status == "ok", res.error
    # both builds by the command line, of the lake the warehouse is bound to
    # each from every landed part (--rebuild: the runs' builds left a staged state of every delivery)
    assert main(["build", "--engine", "duckdb", "--rebuild", "--warehouse", str(wh)]) == 0
    duck = db.current_version(wh)
    assert main(["build", "--engine", "spark", "--rebuild", "--master", "local[2]", "--warehouse", str(wh)]) == 0
    spark = db.current_version(wh)
    assert spark != duck
    yield {"root": root, "wh": wh, "lake": Lake(lake), "duck": duck, "spark": spark, "settings": s}
    from warehouse import spark_build

    spark_build.stop_sessions()


@pytest.fixture(scope="module")
def both(lake_and_builds):
    con = duckdb.connect()
    con.execute("ATTACH $p AS d (READ_ONLY)", {"p": str(lake_and_builds["duck"])})
    con.execute("ATTACH $p AS s (READ_ONLY)", {"p": str(lake_and_builds["spark"])})
    yield con
    con.close()


def _tables(con, cat: str) -> dict[str, list[tuple]]:
    rows = con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_catalog = $c ORDER BY table_name, ordinal_position", {"c": cat}).fetchall()
    out: dict[str, list[tuple]] = {}
    for t, c, ty in rows:
        out.setdefault(t, []).append((c, ty))
    return out


def test_the_lake_is_several_counties_with_versions_and_quarantine(both):
    n = dict(both.execute("SELECT left(township_code, 6), count(*) FROM d.dim_unit WHERE level = '乡镇' "
                          "GROUP BY ALL").fetchall())
    assert set(n) == {"510701", "510702", "510703"}
    assert both.execute("SELECT sum(superseded) FROM d.dataset_freshness").fetchone()[0] >= 3
    assert both.execute("SELECT count(*) FROM d.quarantine").fetchone()[0] >= 1
    assert both.execute("SELECT count(*) FROM d.agg_patrol_point WHERE inside").fetchone()[0] > 0
    assert both.execute("SELECT count(*) FROM d.agg_event WHERE category = '未知类别'").fetchone()[0] == 1


def test_every_table_equals_duckdbs_except_all_both_ways(both):
    _same_tables(both)


def _same_tables(both) -> None:
    d, s = _tables(both, "d"), _tables(both, "s")
    assert set(d) == set(s)
    assert len(d) >= 30
    for t in sorted(set(d) - BUILD_RECORD):
        assert s[t] == d[t], f"{t}: columns and types"
        n = both.execute(f'SELECT count(*) FROM d."{t}"').fetchone()[0]
        assert both.execute(f'SELECT count(*) FROM s."{t}"').fetchone()[0] == n, t
        for a, b in (("d", "s"), ("s", "d")):
            left = both.execute(f'SELECT count(*) FROM (FROM {a}."{t}" EXCEPT ALL FROM {b}."{t}")').fetchone()[0]
            assert left == 0, f"{t}: {left} rows of {a} not in {b}"


def test_the_staged_rows_are_the_latest_versions(both):
    ev = both.execute("SELECT event_id, status, summary FROM s.fact_event WHERE event_id LIKE 'A%' "
                      "ORDER BY event_id").fetchall()
    assert [e[1] for e in ev[:2]] == ["已办结", "已办结"]  # the later version
    assert ev[2][2] == "同一时间再次报送"  # the same updated_at: the later delivery


def _all_params(name: str) -> dict:
    march = metrics.Period.parse_month("2024-03")
    base = {**metrics.period_params(march), "months_back": 3, "limit": 50, "as_of": dt.date(2024, 3, 31)}
    extra = {k: None for k in metrics.sql_params(name) - base.keys() - set(metrics.OPTIONAL_PARAMS)
             - set(metrics.threshold_params(Settings())) - set(metrics.assessment_params(Settings()))
             - {"scope_township", "scope_office"}}
    return {**base, **extra}


def test_the_published_spark_version_answers_every_query_as_duckdbs(lake_and_builds):
    """CURRENT points at the Spark build; the app's metrics layer reads it unchanged, with DuckDB's answers."""
    wh = lake_and_builds["wh"]
    assert db.current_version(wh) == lake_and_builds["spark"]
    assert db.check_version(lake_and_builds["spark"]) is None
    con_s, con_d = db.open_published(wh), db.connect(lake_and_builds["duck"])
    try:
        assert dict(con_s.execute("SELECT key, value FROM meta").fetchall())["version"] == lake_and_builds["spark"].name
        for name in metrics.available():
            if name == "quality/meta":  # the version's name and build time (checked above)
                continue
            a = metrics.query(con_d, name, settings=Settings(), **_all_params(name))
            b = metrics.query(con_s, name, settings=Settings(), **_all_params(name))
            own = [c for c in ("warehouse_version", "built_at") if c in a]  # the version's own name and time
            pd.testing.assert_frame_equal(a.drop(columns=own), b.drop(columns=own), obj=name)
        h = metrics.query(con_s, "overview/headline", settings=Settings(),
                          **metrics.period_params(metrics.Period.parse_month("2024-03"))).iloc[0]
        assert h["accounts"] > 10 and h["events_reported"] > 0
    finally:
        con_s.close()
        con_d.close()
    assert json.loads((wh / "PUBLISHED.json").read_text(encoding="utf-8"))["version"] == lake_and_builds["spark"].name


def test_a_spark_build_merges_a_new_delivery_into_the_staged_state(lake_and_builds, tmp_path):
    """Spark stages incrementally from the same staged state as DuckDB (warehouse/staged.py): one more delivery (an
    event closed, an activity row in a new month) on top of the state the Spark build above committed; the next
    Spark build rewrites only the months it touches, and equals a DuckDB build from every landed part."""
    root, wh, lake, s = (lake_and_builds[k] for k in ("root", "wh", "lake", "settings"))
    c = _recode(mini.sample_county(), "510701", "A")
    d = mini.MiniCounty()
    d.rows = {k: [] for k in c.rows}
    d.rows["events"].append(dict(c.rows["events"][4], status="已办结", closed_at="2024-04-02 10:00:00",
                                 updated_at="2024-04-02 10:00:00"))
    a = c.rows["activity_log"][1]
    d.rows["activity_log"].append(dict(a, log_id=a["log_id"] + "N", op_time="2024-04-02 09:00:00"))
    d.write(root / "drop3", date="20240403")
    state = staged.state_dir(lake)
    shutil.copytree(state, tmp_path / "state")
    res = run(root / "drop3", s, warehouse_dir=wh, lake_dir=lake.root, load_time=dt.datetime(2024, 4, 3, 8),
              log=lambda m: None)
    assert res.status == "ok", res.error
    # the state as the Spark build left it (as if the run had been killed after landing, before its build)
    shutil.rmtree(state)
    shutil.copytree(tmp_path / "state", state)
    stats: dict = {}
    spark = build_and_publish(lake, wh, s, stats=stats, engine="spark", master="local[2]")
    st = stats["staging"]
    assert st["mode"] == "incremental", st
    assert 2 <= st["written"] <= 4 and st["linked"] > st["written"], st
    full: dict = {}  # the same settings as the Spark build's (the warnings' figures hold its thresholds)
    duck = build_and_publish(lake, wh, s, stats=full, rebuild=True)
    assert full["staging"]["mode"] == "full"
    con = duckdb.connect()
    try:
        con.execute("ATTACH $p AS d (READ_ONLY)", {"p": str(duck)})
        con.execute("ATTACH $p AS s (READ_ONLY)", {"p": str(spark)})
        _same_tables(con)
        assert con.execute("SELECT status FROM s.fact_event WHERE event_id = $e",
                           {"e": c.rows["events"][4]["event_id"]}).fetchone()[0] == "已办结"
    finally:
        con.close()

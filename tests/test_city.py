"""The city deployment's warehouse (issue 17 part 1): counties in one lake, a county scope that cannot leak, the
city with its counties as units, the city queries.

The proof of "the county's figures": every query file run for Scope(county_code=X) on the city's warehouse equals
the same query on a warehouse built from county X's deliveries alone (a real, separate build), row for row —
apart from what names the build itself (version, build time, delivery numbers, landing times) and the city's
operations (runs, sources: none for a county; freshness: the city's). And no row of another county appears.
"""
from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pandas as pd
import pytest
from support.city import COUNTIES, EXPECTED_MARCH, build_county_alone

from warehouse import db, metrics, scoped
from warehouse.metrics import Period, Scope

MARCH = Period.month(2024, 3)
AS_OF = dt.datetime(2024, 4, 1)
# columns naming the build, not the data
BUILD_COLUMNS = {"delivery", "landed_at", "seconds", "run_id", "warehouse_version", "built_at", "corrected_delivery",
                 "version"}
# city operations: a county-scoped caller sees no rows (the separate build has its own runs)
CITY_ONLY_EMPTY = {"quality/runs", "quality/source_health"}
CITY_WIDE = {"quality/freshness"}  # the city's per dataset (landed rows are not kept per county)
CODE_COLUMNS = ("county_code", "township_code", "ru_code", "grid_code", "unit_code", "community_code", "code")


def _params(name: str) -> dict:
    base = {**metrics.period_params(MARCH), "months_back": 3, "limit": 500, "as_of": AS_OF}
    extra = {k: None for k in metrics.sql_params(name) - base.keys() - set(metrics.OPTIONAL_PARAMS)
             - set(metrics.threshold_params(metrics.default_settings()))
             - set(metrics.assessment_params(metrics.default_settings())) - {"scope_township", "scope_office"}}
    return {**base, **extra}


def _norm(df: pd.DataFrame, name: str) -> pd.DataFrame:
    df = df.drop(columns=[c for c in df.columns if c in BUILD_COLUMNS])
    if name == "quality/meta":
        df = df[~df["key"].isin(["version", "built_at", "deployment_level", "city_name", "city_code"])]
    text = df.astype(str)  # a row order the query leaves open (ties) is not a difference
    return text.sort_values(list(text.columns)).reset_index(drop=True) if len(text.columns) else text


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """Each county of the city built from its own deliveries alone, as a county deployment."""
    root = tmp_path_factory.mktemp("alone")
    return {code: build_county_alone(root / code, i) for i, (code, _) in enumerate(COUNTIES)}


@pytest.mark.parametrize("county", [c for c, _ in COUNTIES])
def test_every_query_for_a_county_equals_its_own_warehouse(city, alone, county):
    con = db.open_published(city.wh)
    own = db.open_published(alone[county])
    scope = Scope(county_code=county)
    compared = 0
    try:
        for name in metrics.available():
            got = metrics.query(con, name, scope, **_params(name))
            for col in CODE_COLUMNS:  # no row of another county
                if col in got:
                    assert all(str(v).startswith(county) for v in got[col].dropna()), (name, col)
            if name in CITY_ONLY_EMPTY:
                assert got.empty, name
                continue
            if name in CITY_WIDE:
                continue
            want = metrics.query(own, name, **_params(name))
            assert list(got.columns) == list(want.columns), name
            pd.testing.assert_frame_equal(_norm(got, name), _norm(want, name), obj=name)
            compared += 1
    finally:
        con.close()
        own.close()
    assert compared >= len(metrics.available()) - 3


def test_a_county_sees_its_name_and_the_city_its_counties(city):
    con = db.open_published(city.wh)
    try:
        meta = dict(metrics.query(con, "quality/meta", Scope(county_code="510798")).values.tolist())
        assert (meta["county_name"], meta["county_code"]) == ("东岭县", "510798")
        whole = dict(metrics.query(con, "quality/meta").values.tolist())
        assert (whole["deployment_level"], whole["city_name"], whole["city_code"]) == ("city", "示例市", "510700")
        counties = metrics.query(con, "city/counties")
        assert counties[["county_code", "county_name"]].values.tolist() == sorted(map(list, COUNTIES))
        assert counties["reporting_units"].tolist() == [2, 3, 3]  # 文昌镇 is split in both counties that have one
        by = dict(metrics.query(con, "quality/meta", Scope(by_county=True)).values.tolist())
        assert (by["county_name"], by["county_code"]) == ("示例市", "510700")
    finally:
        con.close()


def test_counties_as_units_give_each_county_its_own_headline(city, alone):
    """Scope(by_county=True): one row per county in every per-unit query, each with the figures of the county's
    own headline (rates from the summed counts, never averaged), and the 红黑榜 of counties by the same rule."""
    con = db.open_published(city.wh)
    try:
        rank = metrics.query(con, "overview/unit_ranking", Scope(by_county=True), **metrics.period_params(MARCH))
        assert sorted(rank["ru_code"]) == sorted(c for c, _ in COUNTIES)
        figures = ["accounts", "active", "activity_rate", "events_reported", "events_closed", "completion_rate",
                   "on_time_rate", "overdue_open", "kp_reports", "kp_fully_signed", "fully_signed_rate",
                   "signoffs_needed", "signoffs_signed", "sign_rate", "households", "collected", "collection_rate"]
        for code, name in COUNTIES:
            row = rank[rank["ru_code"] == code].iloc[0]
            assert row["short_name"] == name
            own = db.open_published(alone[code])
            try:
                head = metrics.query(own, "overview/headline", **metrics.period_params(MARCH)).iloc[0]
            finally:
                own.close()
            for f in figures:
                assert row[f] == pytest.approx(head[f], nan_ok=True), (code, f)
            assert (row["accounts"], row["active"], row["events_reported"], row["events_closed"]) == tuple(
                EXPECTED_MARCH[code][k] for k in ("accounts", "active", "events_reported", "events_closed"))
        order = rank.sort_values("rank")
        assert order["short_name"].tolist() == ["西河县", "示例县", "东岭县"]
        assert order["red"].tolist() == [True, True, False] and order["black"].tolist() == [False, False, True]
        # offices keep their county: two 文昌派出所 stay two
        off = metrics.query(con, "activity/by_office", Scope(by_county=True), **metrics.period_params(MARCH))
        assert {"东岭县文昌派出所", "示例县文昌派出所"} <= set(off["office_name"])
        assert off["office_name"].is_unique
    finally:
        con.close()


def test_township_ranking_ranks_the_units_of_every_county_together(city):
    con = db.open_published(city.wh)
    try:
        df = metrics.query(con, "city/township_ranking", **metrics.period_params(MARCH))
        assert len(df) == 8 and set(df["county_code"]) == {c for c, _ in COUNTIES}
        assert df["city_rank"].is_monotonic_increasing
        assert df["city_rank"].iloc[0] == 1 and df["short_name"].iloc[0] == "西河"  # 5 of 5 active, all closed
        best = df.groupby("county_code")["county_rank"].min()
        assert (best == 1).all()
        one = metrics.query(con, "city/township_ranking", county_code="510798", **metrics.period_params(MARCH))
        assert set(one["county_code"]) == {"510798"}
        assert one["city_rank"].tolist() == df.loc[df["county_code"] == "510798", "city_rank"].tolist()
    finally:
        con.close()


def test_the_county_connection_is_cached_and_refuses_to_cross(city):
    v = city.version()
    a = scoped.county_connection(v, "510798")
    assert scoped.county_connection(v, "510798") is a
    assert scoped.scope_of(a) == "510798"
    assert scoped.for_county(a, "510798") is a
    with pytest.raises(metrics.ScopeError):
        scoped.for_county(a, "510799")
    with pytest.raises(metrics.ScopeError):
        metrics.query(db.open_published(city.wh), "city/counties", Scope(by_county=True, county_code="510798"))
    # an unqualified name never reaches the whole warehouse; the version's rows of other counties are not there
    cur = a.cursor()
    assert cur.execute("SELECT DISTINCT county_code FROM dim_reporting_unit").fetchall() == [("510798",)]
    assert cur.execute("SELECT count(*) FROM agg_event WHERE left(grid_code, 6) <> '510798'").fetchone() == (0,)


def test_a_table_the_scope_does_not_know_is_refused(city, tmp_path):
    """Fail closed: a version holding a table that COUNTY_FILTERS does not list gets no county connection."""
    copy = tmp_path / "wh-20240401T000000-abcdef.duckdb"
    shutil.copy(city.version(), copy)
    con = duckdb.connect(str(copy))
    con.execute("CREATE TABLE secret_rows AS SELECT '510799001001001' AS grid_code")
    con.close()
    with pytest.raises(scoped.ScopeTableError, match="secret_rows"):
        scoped.county_connection(copy, "510798")

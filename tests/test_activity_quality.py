"""有效活跃度 and 巡查覆盖 on a hand-made county (tests/support/aq_county.py): exact figures for every signal, for
the effective vs the official rate, for patrol coverage, for the scope, and the CLI as a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.config import Settings
from tests.support.aq_county import LOAD_TIME, aq_county
from warehouse import db, metrics
from warehouse.metrics import Period, Scope

ROOT = Path(__file__).resolve().parents[1]
MARCH = Period.month(2024, 3)


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    c, ids = aq_county()
    root = tmp_path_factory.mktemp("aq")
    wh = c.build(root, load_time=LOAD_TIME)
    con = db.open_published(wh)
    yield con, ids, wh
    con.close()


def q(con, name, scope=metrics.COUNTY, settings=None, **extra):
    return metrics.query(con, name, scope, settings=settings or Settings(), **metrics.period_params(MARCH), **extra)


def test_each_account_raises_exactly_its_signal_with_its_evidence(county):
    con, ids, _ = county
    df = q(con, "activity_quality/accounts").set_index("account_id")
    assert {a: list(s) for a, s in df["signals"].items()} == {
        "WGB": ["login_only"], "WGC": ["bunched"], "WGD": ["night_batch"], "WGE": ["same_gps"],
        "WGF": ["outside_grid"], "WGH": ["login_only"]}  # A and G (honest) are not listed
    ev = lambda a, *cols: tuple(df.loc[a, c] for c in cols)  # noqa: E731
    assert ev("WGB", "login_only_days", "active_days", "effective_days", "active", "effective") == (5, 22, 17, True,
                                                                                                    False)
    assert ev("WGH", "login_only_days", "effective_days") == (7, 15)
    assert ev("WGC", "bunched_days", "login_only_days", "night_days") == (20, 0, 0)
    assert ev("WGD", "night_ops", "night_days", "active_days", "bunched_days") == (8, 1, 22, 0)
    assert ev("WGE", "same_fix_days", "patrol_points", "outside_points") == (20, 20, 0)
    assert ev("WGF", "patrol_points", "outside_points", "outside_share", "same_fix_days") == (40, 40, 1.0, 1)
    assert df.loc["WGB", "person_name"] == "李**"  # masked for the 县级管理员's default scope
    assert (df["needed_days"] == 20).all()


def test_effective_rate_beside_the_official_rate_per_unit_ranked_by_gap(county):
    con, ids, _ = county
    df = q(con, "activity_quality/by_unit")
    got = {r.ru_name: (r.accounts, r.active, r.effective, r.official_rate, r.effective_rate, r.gap_rank, r.flagged)
           for r in df.itertuples()}
    assert got == {"卧龙镇": (2, 2, 1, 1.0, 0.5, 1, 1), "宏仁乡": (6, 6, 5, 1.0, 5 / 6, 2, 5)}
    assert list(df["ru_name"]) == ["卧龙镇", "宏仁乡"]  # the largest gap first
    assert df.set_index("ru_name").loc["宏仁乡", ["login_only", "bunched", "night_batch", "same_gps",
                                                 "outside_grid"]].tolist() == [1, 1, 1, 1, 1]
    assert df["gap"].tolist() == pytest.approx([0.5, 1 / 6])
    # the official rate is the one of activity/by_unit (the same rule, m_account_activity)
    off = q(con, "activity/by_unit").set_index("ru_name")["rate"]
    assert df.set_index("ru_name")["official_rate"].to_dict() == off.to_dict()
    h = q(con, "activity_quality/headline").iloc[0]
    assert (h["accounts"], h["active"], h["effective"], h["flagged"]) == (8, 8, 6, 6)
    assert h["gap"] == pytest.approx(0.25)


def test_effective_days_also_count_in_a_week(county):
    con, _, _ = county
    week = Period.iso_week(2024, 12)  # 18–24 March: B and H log in only, the others work from the 18th to the 20th-22nd
    df = metrics.query(con, "activity_quality/by_unit", settings=Settings(), **metrics.period_params(week))
    got = {r.ru_name: (r.accounts, r.active, r.effective) for r in df.itertuples()}
    # needs 5 of 7 days: A, B, G, H have ops on 18–22 (5 days); B, H only logins; C, E, F end on the 20th; D the 21st
    assert got == {"宏仁乡": (6, 2, 1), "卧龙镇": (2, 2, 1)}


def test_thresholds_come_from_configuration(county):
    con, _, _ = county
    s = Settings()
    s.activity_quality = s.activity_quality.model_copy(update={"login_only_days": 6, "bunched_minutes": 1,
                                                               "outside_share": 0.999, "same_fix_days": 21})
    df = q(con, "activity_quality/accounts", settings=s).set_index("account_id")
    # B (5 days) no longer; C's ops span 2 minutes; F's share 1.0 still ≥ 0.999; E's 20 days < 21
    assert {a: list(v) for a, v in df["signals"].items()} == {"WGD": ["night_batch"], "WGF": ["outside_grid"],
                                                            "WGH": ["login_only"]}
    s.activity_quality = s.activity_quality.model_copy(update={"night_min_ops": 9})
    assert "WGD" not in set(q(con, "activity_quality/accounts", settings=s)["account_id"])


def test_patrol_coverage_per_grid(county):
    con, ids, _ = county
    df = q(con, "activity_quality/coverage").set_index("grid_code")
    g1, g2, g3 = df.loc[ids["g1"]], df.loc[ids["g2"]], df.loc[ids["g3"]]
    # g1: A 1–22 and D's night of the 25th; A 44 + B 17 + C 20 + D 29 + E 20 + F 40 points, F's 40 outside
    assert (g1["patrol_days"], g1["patrol_points"], g1["inside_points"]) == (23, 170, 130)
    assert g1["inside_share"] == pytest.approx(130 / 170)
    assert (g2["patrol_days"], g2["patrol_points"]) == (0, 0) and pd.isna(g2["inside_share"])
    assert (g3["patrol_days"], g3["patrol_points"], g3["inside_share"]) == (22, 44 + 15, 1.0)
    assert json.loads(g1["boundary"])["type"] == "Polygon" and (df["days_in_period"] == 31).all()


def test_drill_to_one_account_hours_and_points(county):
    con, ids, _ = county
    h = q(con, "activity_quality/account_hours", account_id="WGD")
    night = h[h["hour"] == 2]
    assert night[["n_ops", "n_patrol"]].values.tolist() == [[8, 8]] and str(night["day"].iloc[0]) .startswith("2024-03-25")
    assert int(h["n_ops"].sum()) == 21 * 2 + 8
    p = q(con, "activity_quality/account_points", account_id="WGF")
    assert len(p) == 40 and not p["inside"].any() and set(p["grid_code"]) == {ids["g1"]}
    assert q(con, "activity_quality/account_points", account_id="WGA")["inside"].all()


def test_township_scope_and_aggregate_roles(county):
    con, ids, _ = county
    wl = Scope(township_code=ids["wl"], label="卧龙镇")
    acc = q(con, "activity_quality/accounts", wl)
    assert list(acc["account_id"]) == ["WGH"]
    assert set(q(con, "activity_quality/by_unit", wl)["ru_name"]) == {"卧龙镇"}
    assert set(q(con, "activity_quality/coverage", wl)["township_code"]) == {ids["wl"]}
    # another 乡镇's account cannot be drilled into by passing its id
    assert q(con, "activity_quality/account_hours", wl, account_id="WGD").empty
    assert q(con, "activity_quality/account_points", wl, account_id="WGF").empty
    # aggregates only (县领导, 大屏): no names
    none = Scope(personal="none")
    assert "person_name" not in q(con, "activity_quality/accounts", none)


def test_record_queries_are_not_for_aggregate_roles():
    from dashboard import auth, data

    for role in data.AGGREGATE_ROLES:
        allowed = data.role_queries(role)
        for name in ("activity_quality/accounts", "activity_quality/account_hours", "activity_quality/account_points"):
            assert name not in allowed, (role, name)
    assert "activity_quality/by_unit" in data.role_queries(auth.LEADER)
    assert "activity_quality/accounts" in data.role_queries(auth.TOWNSHIP)
    assert not any(n.startswith("activity_quality/") for n in data.role_queries(auth.DISPLAY))


def test_cli_json(county):
    _, _, wh = county
    out = subprocess.run([sys.executable, "-m", "warehouse", "activity-quality", "--month", "2024-03",
                          "--warehouse", str(wh), "--format", "json"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["month"] == "2024-03"
    units = {u["ru_name"]: u for u in data["units"]}
    assert (units["宏仁乡"]["official_rate"], units["宏仁乡"]["effective_rate"]) == (1.0, pytest.approx(5 / 6))
    assert units["卧龙镇"]["gap"] == 0.5 and [u["ru_name"] for u in data["units"]] == ["卧龙镇", "宏仁乡"]
    accounts = {a["account_id"]: a for a in data["accounts"]}
    assert set(accounts) == {"WGB", "WGC", "WGD", "WGE", "WGF", "WGH"}
    assert accounts["WGD"]["signals"] == ["night_batch"] and accounts["WGD"]["evidence"]["night_ops"] == 8
    assert accounts["WGB"]["evidence"]["login_only_days"] == 5 and accounts["WGB"]["ru_code"]
    assert "person_name" not in json.dumps(data) and "李" not in out.stdout  # no names
    bad = subprocess.run([sys.executable, "-m", "warehouse", "activity-quality", "--month", "2024-3x",
                          "--warehouse", str(wh)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2


def test_the_days_fix_is_the_most_frequent_position_and_a_tie_the_smallest():
    """agg_aq_day's position fix, the statement of the schema run on a few hand-made operations: the most frequent
    position of the day's 手持终端/APP operations; between equally frequent ones the smallest (as text); operations
    of another terminal or without a position are not fixes."""
    import duckdb

    from warehouse import statements

    stmts = {s.name: s for f in statements.schema_files() for s in statements.statements(f)}
    con = duckdb.connect()
    con.execute(stmts["m_substantive_op"].sql)
    con.execute("CREATE TABLE fact_activity (account_id VARCHAR, op_date DATE, op_time TIMESTAMP, op_type VARCHAR, "
                "terminal VARCHAR, lon DOUBLE, lat DOUBLE)")
    rows = []
    for day, fixes in (("2024-03-01", [(104.2, 30.1)] * 2 + [(104.1, 30.9)] * 2 + [(99.5, 30.0)]),  # a tie
                       ("2024-03-02", [(104.3, 30.0)] * 3 + [(104.1, 30.0)] * 2)):  # the most frequent, not the least
        rows += [("A", day, f"{day} 09:00:00", "巡查", "APP", x, y) for x, y in fixes]
        rows += [("A", day, f"{day} 10:00:00", "巡查", "PC", 100.0, 30.0)] * 4  # not a handheld terminal
        rows += [("A", day, f"{day} 11:00:00", "登录", "手持终端", None, None)]
    con.executemany("INSERT INTO fact_activity VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(stmts["agg_aq_day"].sql)
    got = con.execute("SELECT CAST(day AS VARCHAR), fix, n_fixes, n_ops, n_substantive FROM agg_aq_day "
                      "ORDER BY day").fetchall()
    assert got == [("2024-03-01", "104.1,30.9", 5, 10, 9), ("2024-03-02", "104.3,30.0", 5, 10, 9)]

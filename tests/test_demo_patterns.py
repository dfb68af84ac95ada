"""The patterns the demo county plays beyond the official rate (issue 16, demo.patterns) are really in the warehouse:
a three-month demo loaded through the ETL, its truth's "patterns" checked against the facts with direct SQL and
shapely over dim_unit.boundary — each gaming signal strong on its accounts and absent from the honest ones, the
collapses, the silent 乡镇 and the quiet source."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pytest
import shapely

from warehouse import db

END, MONTHS = "2024-11", 3  # a last month without the Spring Festival
LAST, NEXT = dt.date(2024, 11, 1), dt.date(2024, 12, 1)
SUBSTANTIVE = ("巡查", "信息采集", "信息更新", "事件上报", "事件处置", "签收", "民情日志")


@pytest.fixture(scope="module")
def demo(pattern_demo):
    patterns, wh = pattern_demo  # tests/conftest.py: the three-month demo ending 2024-11, loaded once per run
    con = db.open_published(wh)
    yield patterns, con
    con.close()


def _month_of_signal(patterns, signal, month=END):
    return sorted(a for a, s in patterns["gaming"].items() if signal in s and month in patterns["gaming_months"][a])


def _honest(con, patterns):
    """Grid workers of the last month (at least 10 active days) that game in no month."""
    rows = con.execute("""
        SELECT a.account_id FROM dim_account a JOIN agg_account_month m USING (account_id)
        WHERE a.is_grid_worker AND m.month = $m AND m.active_days >= 10""", {"m": LAST}).fetchall()
    return sorted(r[0] for r in rows if r[0] not in patterns["gaming"])


def _days(con, month=LAST):
    """Per account and day of the month: operations, substantive ones, the time span (s) of the day's operations."""
    df = con.execute(f"""
        SELECT account_id, op_date, count(*) AS n,
               count(*) FILTER (op_type IN {SUBSTANTIVE}) AS n_sub,
               date_diff('second', min(op_time), max(op_time)) AS span
        FROM fact_activity
        WHERE op_date >= $s AND op_date < $s + INTERVAL 1 MONTH AND account_id IS NOT NULL
        GROUP BY ALL""", {"s": month}).df()
    return df


def test_the_truth_has_every_pattern(demo):
    p, _ = demo
    assert set(p) == {"gaming", "gaming_months", "collapses", "silent_units", "quiet_sources"}
    assert set(p["gaming"]) == set(p["gaming_months"])
    last = Counter(s for a, ss in p["gaming"].items() for s in ss if END in p["gaming_months"][a])
    assert set(last) == {"login_only", "bunched", "night_batch", "same_gps", "outside_grid"}
    assert min(last.values()) >= 8
    assert any(END not in ms for ms in p["gaming_months"].values())  # some game in earlier months only
    assert sorted(c["metric"] for c in p["collapses"]) == ["activity", "activity", "completion"]
    assert len({c["ru_code"] for c in p["collapses"]}) == 3 and all(c["weeks"] >= 1 for c in p["collapses"])
    assert all(dt.date.fromisoformat(c["week_start"]).weekday() == 0 for c in p["collapses"])
    assert len(p["silent_units"]) == 1 and len(p["quiet_sources"]) == 1


def test_gamers_are_grid_workers_active_by_the_official_rate(demo):
    p, con = demo
    rows = dict(con.execute("""
        SELECT a.account_id, a.is_grid_worker AND m.active_days >= 20 FROM dim_account a
        JOIN agg_account_month m USING (account_id) WHERE m.month = $m""", {"m": LAST}).fetchall())
    gamers = [a for a, ms in p["gaming_months"].items() if END in ms]
    assert gamers and all(rows[a] for a in gamers)
    grid_workers = con.execute("SELECT count(*) FROM dim_account WHERE is_grid_worker").fetchone()[0]
    assert 0.05 <= len(p["gaming"]) / grid_workers <= 0.08
    towns = con.execute("SELECT count(DISTINCT ru_code) FROM dim_account WHERE list_contains($a, account_id)",
                        {"a": list(p["gaming"])}).fetchone()[0]
    assert 3 <= towns <= 10


def test_login_only(demo):
    p, con = demo
    d = _days(con)
    d["login_only"] = d["n_sub"] == 0
    per = d.groupby("account_id").agg(days=("n", "size"), login_only=("login_only", "sum"))
    gamers = _month_of_signal(p, "login_only")
    g = per.loc[gamers]
    assert (g["login_only"] >= 8).all() and (g["login_only"] > g["days"] / 2).all() and (g["days"] >= 20).all()
    honest = per.loc[_honest(con, p)]
    assert (honest["login_only"] <= 2).mean() > 0.99 and honest["login_only"].max() < 8


def test_bunched(demo):
    p, con = demo
    d = _days(con)
    d["bunched"] = (d["n"] >= 3) & (d["span"] <= 600)
    per = d.groupby("account_id").agg(days=("n", "size"), bunched=("bunched", "sum"))
    g = per.loc[_month_of_signal(p, "bunched")]
    assert (g["bunched"] / g["days"] >= 0.7).all()
    honest = per.loc[_honest(con, p)]
    assert (honest["bunched"] / honest["days"]).max() < 0.2


def test_night_batch(demo):
    p, con = demo
    nights = con.execute("""
        SELECT account_id, count(*) AS nights FROM (
            SELECT account_id, op_date FROM fact_activity
            WHERE op_date >= $s AND op_date < $s + INTERVAL 1 MONTH AND hour(op_time) < 5 AND op_type = '巡查'
            GROUP BY ALL
            HAVING count(*) >= 10 AND date_diff('second', min(op_time), max(op_time)) <= 900)
        GROUP BY ALL""", {"s": LAST}).df().set_index("account_id")["nights"]
    gamers = _month_of_signal(p, "night_batch")
    assert all(nights.get(a, 0) >= 3 for a in gamers)
    assert set(nights.index) - set(p["gaming"]) == set()  # no honest account uploads in the night
    # and their 巡查 happens only then
    day = con.execute("""SELECT count(*) FROM fact_activity WHERE list_contains($a, account_id) AND op_type = '巡查'
                         AND hour(op_time) >= 5 AND op_date >= $s""", {"a": gamers, "s": LAST}).fetchone()[0]
    assert day <= len(gamers)  # (the mess may move a time)


def test_same_gps(demo):
    p, con = demo
    fixes = con.execute("""
        SELECT account_id, round(lon, 5) AS x, round(lat, 5) AS y, count(DISTINCT op_date) AS days
        FROM fact_activity
        WHERE op_date >= $s AND op_date < $s + INTERVAL 1 MONTH AND terminal IN ('手持终端', 'APP') AND lon IS NOT NULL
        GROUP BY ALL""", {"s": LAST}).df()
    top = fixes.groupby("account_id")["days"].max()
    for a in _month_of_signal(p, "same_gps"):
        assert top[a] >= 15, a
    honest = top.reindex(_honest(con, p)).dropna()
    assert len(honest) > 500 and honest.max() <= 2


def test_outside_grid_and_honest_points_inside(demo):
    p, con = demo
    pts = con.execute("""
        SELECT f.account_id, f.lon, f.lat, u.boundary FROM fact_activity f
        JOIN dim_account a USING (account_id) JOIN dim_unit u ON u.unit_code = a.unit_code
        WHERE f.op_date >= $s AND f.op_date < $s + INTERVAL 1 MONTH AND f.op_type = '巡查' AND f.lon IS NOT NULL
          AND a.is_grid_worker AND u.level = '网格' AND u.boundary IS NOT NULL""", {"s": LAST}).df()
    polys = {b: shapely.from_geojson(b) for b in pts["boundary"].unique()}
    geoms = np.array([polys[b] for b in pts["boundary"]], dtype=object)
    pts["inside"] = shapely.contains_xy(geoms, pts["lon"].to_numpy(), pts["lat"].to_numpy())
    share = pts.groupby("account_id")["inside"].mean()
    gamers = _month_of_signal(p, "outside_grid")
    assert (share[gamers] < 0.25).all()
    honest = share.reindex(_honest(con, p)).dropna()
    assert len(honest) > 500 and honest.min() >= 0.9 and (honest >= 0.97).mean() > 0.99
    # the other gamers patrol their own grid
    others = [a for a in p["gaming"] if a not in gamers and a in share.index]
    assert share[others].min() >= 0.9


def test_collapses(demo):
    p, con = demo
    for c in p["collapses"]:
        ws = dt.date.fromisoformat(c["week_start"])
        weeks = [ws + dt.timedelta(days=7 * k) for k in range(-1, c["weeks"])]
        if c["metric"] == "activity":
            rate = [con.execute("""
                SELECT avg(CASE WHEN coalesce(d.n, 0) >= 5 THEN 1 ELSE 0 END) FROM dim_account a
                LEFT JOIN (SELECT account_id, count(*) AS n FROM agg_account_day
                           WHERE day >= $w AND day < $w + INTERVAL 7 DAY GROUP BY ALL) d USING (account_id)
                WHERE a.is_grid_worker AND a.ru_code = $ru AND a.status = '启用'""",
                                {"w": w, "ru": c["ru_code"]}).fetchone()[0] for w in weeks]
            assert rate[0] >= 0.6 and all(r < 0.4 for r in rate[1:]) and rate[0] - max(rate[1:]) >= 0.3, (c, rate)
        else:
            rate = [con.execute("""
                SELECT count(*) FILTER (closed_at >= $w AND closed_at < $w + INTERVAL 7 DAY)
                       / nullif(count(*) FILTER (reported_at >= $w AND reported_at < $w + INTERVAL 7 DAY), 0)
                FROM fact_event WHERE ru_code = $ru""", {"w": w, "ru": c["ru_code"]}).fetchone()[0] for w in weeks]
            assert rate[0] >= 0.6 and all(r < 0.2 for r in rate[1:]), (c, rate)
        name = con.execute("SELECT ru_name FROM dim_reporting_unit WHERE ru_code = $r", {"r": c["ru_code"]}).fetchone()
        assert name == (c["ru_name"],)


def test_the_silent_township_and_no_other(demo):
    p, con = demo
    s = p["silent_units"][0]
    since = dt.date.fromisoformat(s["from"])
    end = NEXT
    assert (end - since).days >= 14
    last = dict(con.execute("""
        SELECT r.ru_code, max(CAST(e.reported_at AS DATE)) FILTER (e.reported_at < $end)
        FROM dim_reporting_unit r LEFT JOIN fact_event e USING (ru_code) GROUP BY ALL""", {"end": end}).fetchall())
    assert last[s["ru_code"]] == since - dt.timedelta(days=1)
    n = con.execute("SELECT count(*) FROM fact_event WHERE ru_code = $r AND reported_at >= $s",
                    {"r": s["ru_code"], "s": since}).fetchone()[0]
    assert n == 0
    assert all((end - d).days < 14 for r, d in last.items() if r != s["ru_code"]), last
    # the 乡镇 still works: its accounts operate to the end
    assert con.execute("SELECT max(op_date) FROM fact_activity WHERE ru_code = $r",
                       {"r": s["ru_code"]}).fetchone()[0] >= end - dt.timedelta(days=2)


def test_the_quiet_source(demo):
    p, con = demo
    q = p["quiet_sources"][0]
    assert q["dataset"] == "collection_stats"
    last = dt.date.fromisoformat(q["last_record"])
    got = con.execute("SELECT max(stat_date) FROM fact_collection").fetchone()[0]
    assert got == last
    end = NEXT
    assert (end - last).days == 11  # ten days without a record
    for table, col in (("fact_activity", "op_time"), ("fact_event", "reported_at"), ("fact_event_flow", "action_time"),
                       ("fact_kp_report", "reported_at")):
        latest = con.execute(f"SELECT max(CAST({col} AS DATE)) FROM {table} WHERE {col} < $e", {"e": end}).fetchone()[0]
        assert latest > last + dt.timedelta(days=5), table

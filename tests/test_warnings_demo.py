"""预警 measured on the demo county's truth (demo.patterns: truth["patterns"] "collapses", "silent_units",
"quiet_sources"): the three-month demo ending 2024-11 loaded through the real ETL (tests/conftest.py pattern_demo).
Each injected collapse raises its week-on-week warning as of the Sunday that ends the collapsed week — the first
refresh whose data shows the whole week — and not the day before; its reason line carries the unit's weekly rates
as the metrics layer gives them for the two weeks. The silent 乡镇 and the quiet dataset raise theirs on the first
day their silence passes the configured interval, and not the day before. The wall's rule set is the same list."""
from __future__ import annotations

import datetime as dt

import pytest

from core.config import Settings
from warehouse import db, fmt, metrics, warnings
from warehouse.metrics import Period

RULE = {"activity": "activity_drop", "completion": "completion_drop"}
WHAT = {"activity": "账号活跃度", "completion": "事件办结率"}


@pytest.fixture(scope="module")
def demo(pattern_demo):
    patterns, wh = pattern_demo
    con = db.open_published(wh)
    yield patterns, con
    con.close()


def _by(con, day):
    return {(w.rule, w.unit_code): w for w in warnings.evaluate(con, day, settings=Settings())}


def _weekly(con, ru_code, monday: dt.date, metric: str) -> float | None:
    p = Period.iso_week(*monday.isocalendar()[:2])
    if metric == "activity":
        df = metrics.query(con, "activity/by_unit", settings=Settings(), **metrics.period_params(p))
        return df.set_index("ru_code").loc[ru_code, "rate"]
    df = metrics.query(con, "events/by_unit", settings=Settings(), **metrics.period_params(p))
    return df.set_index("ru_code").loc[ru_code, "completion_rate"]


def test_the_truth_names_what_the_tests_check(demo):
    patterns, _ = demo
    assert {c["metric"] for c in patterns["collapses"]} == {"activity", "completion"}
    assert patterns["silent_units"] and patterns["quiet_sources"]


def test_each_collapse_raises_its_warning_on_the_sunday_that_shows_it(demo):
    patterns, con = demo
    for c in patterns["collapses"]:
        monday = dt.date.fromisoformat(c["week_start"])
        sunday = monday + dt.timedelta(days=6)
        w = _by(con, sunday).get((RULE[c["metric"]], c["ru_code"]))
        assert w is not None, (c, sorted(k for k in _by(con, sunday) if k[0] == RULE[c["metric"]]))
        cur = _weekly(con, c["ru_code"], monday, c["metric"])
        prev = _weekly(con, c["ru_code"], monday - dt.timedelta(days=7), c["metric"])
        assert w.reason.startswith(f"{c['ru_name']} 本周{WHAT[c['metric']]} {fmt.pct(cur)}，上周 {fmt.pct(prev)}，下降 ")
        assert w.figures["week_start"] == c["week_start"] and w.first_seen == sunday
        # the day before, the last complete week is the one before the collapse: no warning for it yet
        assert (RULE[c["metric"]], c["ru_code"]) not in _by(con, sunday - dt.timedelta(days=1))


def test_the_silent_township_is_raised_when_its_silence_passes_the_limit(demo):
    patterns, con = demo
    limit = Settings().warnings.silent_days
    for s in patterns["silent_units"]:
        since = dt.date.fromisoformat(s["from"])
        last = con.execute("SELECT max(CAST(reported_at AS DATE)) FROM fact_event WHERE ru_code = $1 "
                           "AND reported_at < $2", [s["ru_code"], since]).fetchone()[0]
        first_day = last + dt.timedelta(days=limit)  # within limit days of its silence (since − 1 ≥ last)
        assert first_day <= since - dt.timedelta(days=1) + dt.timedelta(days=limit)
        w = _by(con, first_day).get(("silent_unit", s["ru_code"]))
        assert w is not None
        assert w.reason == f"{s['ru_name']} 已连续 {limit} 天未上报事件 (最近一次上报在 {last:%Y-%m-%d})"
        assert ("silent_unit", s["ru_code"]) not in _by(con, first_day - dt.timedelta(days=1))
    # and it is the only silent unit at the end of the data
    end = warnings.data_date(con)
    silent = {k[1] for k in _by(con, end) if k[0] == "silent_unit"}
    assert silent == {s["ru_code"] for s in patterns["silent_units"]}


def test_the_quiet_source_is_raised_when_its_interval_has_passed(demo):
    patterns, con = demo
    for q in patterns["quiet_sources"]:
        last = dt.date.fromisoformat(q["last_record"])
        expected = Settings().warnings.quiet_days[q["dataset"]]
        first_day = last + dt.timedelta(days=int(expected) + 1)
        assert first_day <= warnings.data_date(con), "the demo's quiet source is not quiet long enough"
        w = _by(con, first_day).get(("quiet_source", q["dataset"]))
        assert w is not None, _by(con, first_day).keys()
        assert w.reason.endswith(f"已 {int(expected) + 1} 天无新记录 (最新记录 {last:%Y-%m-%d}，应每 {expected:g} 天内有新记录)")
        assert ("quiet_source", q["dataset"]) not in _by(con, first_day - dt.timedelta(days=1))
    # no other dataset is quiet at the end of the data
    quiet = {k[1] for k in _by(con, warnings.data_date(con)) if k[0] == "quiet_source"}
    assert quiet == {q["dataset"] for q in patterns["quiet_sources"]}


def test_effective_gap_names_the_units_where_the_gamers_are(demo):
    """The demo's gamers are a few accounts in each of eight 乡镇: gaps of 3–8 points, under the default
    (effective_gap_points = 10), so the default raises none — and honest units' gaps stay under 5 points. At 5 points the
    rule names exactly the units of activity_quality/by_unit with a gap of 5 points or more, each holding login-only
    or night-batch gamers (the two patterns that leave days without substantive work), with their rates."""
    patterns, con = demo
    end = warnings.data_date(con)
    assert not [w for w in warnings.evaluate(con, end, settings=Settings()) if w.rule == "effective_gap"]
    s0 = Settings()
    s = s0.model_copy(update={"warnings": s0.warnings.model_copy(update={"effective_gap_points": 5})})
    gaps = {w.ru_code: w for w in warnings.evaluate(con, end, settings=s) if w.rule == "effective_gap"}
    aq = metrics.query(con, "activity_quality/by_unit", settings=s,
                       **metrics.period_params(Period.parse_month("2024-11"))).set_index("ru_code")
    assert set(gaps) == set(aq.index[(aq["gap"] >= 0.05 - 1e-9) & (aq["accounts"] >= s.warnings.min_accounts)])
    assert gaps, "no unit with a gap of 5 points in the demo's last month"
    makers = [a for a, sig in patterns["gaming"].items() if {"login_only", "night_batch"} & set(sig)
              and "2024-11" in patterns["gaming_months"][a]]
    gamer_units = {r[0] for r in con.execute("SELECT DISTINCT ru_code FROM dim_account WHERE list_contains($1, account_id)",
                                             [makers]).fetchall()}
    assert (aq.loc[~aq.index.isin(list(gamer_units)), "gap"].fillna(0) < 0.05).all()  # honest units: a small gap at most
    for ru, w in gaps.items():
        r = aq.loc[ru]
        assert ru in gamer_units
        assert w.reason == (f"{r['ru_name']} 11月 账号活跃度 {fmt.pct(r['official_rate'])}，有效活跃度 "
                            f"{fmt.pct(r['effective_rate'])}，相差 {w.figures['gap_points']:g} 个百分点")

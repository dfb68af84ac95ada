"""Every headline figure is the same number on every path that shows it (issue 13, defects 6 and 7), on the demo
county (which delivers unknown codes and future-dated rows): the bulletin's text, its appendix tables, the pages'
queries (overview/headline, the per-unit, per-category and per-office breakdowns, the ranking) and the wall (the same
queries with the wall's scope). Unknown codes follow one rule (README "Unknown code values"): counted in every total,
in a breakdown by category under 未知类别, and named on 数据质量. Freshness ignores future-dated rows, and the
warehouse's copy of the run that built it is completed from the run's final record."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_demo_load import demo  # noqa: F401 — the module-scoped demo county (2 months to 2025-02, loaded 03-05)

from core.config import Settings
from dashboard.wall import WALL
from etl.lake import Lake
from warehouse import bulletin, metrics
from warehouse.build import final_runs
from warehouse.metrics import COUNTY, Period

FEB = Period.parse_month("2025-02")
UNKNOWN = bulletin.UNKNOWN_CATEGORY


def q(con, name, scope=COUNTY, **extra) -> pd.DataFrame:
    return metrics.query(con, name, scope, settings=Settings(), **{**metrics.period_params(FEB), **extra})


@pytest.fixture(scope="module")
def paths(demo):  # noqa: F811
    _, _, _, con = demo
    b = bulletin.compute(con, FEB)
    return con, b, {t.key: t for t in b.tables}


def total_row(t: bulletin.Table) -> dict:
    row = next(r for r in t.rows if r[1] == "合计")
    return dict(zip(t.columns, row))


def test_the_demo_delivers_what_this_test_is_about(demo):  # noqa: F811
    _, truth, _, con = demo
    assert truth["mess"]["key_person_reports"]["unknown_code"] > 0
    n = con.execute("SELECT count(*) FROM fact_kp_report WHERE list_contains(_flags, 'unknown_code:category') "
                    "AND reported_at >= DATE '2025-02-01' AND reported_at < DATE '2025-03-01'").fetchone()[0]
    assert n > 0  # a report of an unknown category in the bulletin's month


def test_key_person_reports_agree_everywhere(paths):
    con, b, t = paths
    head = q(con, "overview/headline").iloc[0]
    n = int(head["kp_reports"])
    text = b.section("key_tasks").paragraphs[0]
    assert re.search(rf"共报送重点人员信息{n}条", text), text
    t4 = total_row(t["kp_units"])
    cats = [c for c in t["kp_units"].columns if c not in ("序号", "单位", "合计", "全部签收占比")]
    assert UNKNOWN in cats  # a column of its own, so that the columns add up
    assert t4["合计"] == n and sum(t4[c] for c in cats) == n
    assert sum(r[t["kp_units"].columns.index("合计")] for r in t["kp_units"].rows[:-1]) == n
    tallies = q(con, "overview/kp_tallies")
    assert int(tallies["reports"].sum()) == n
    assert int(q(con, "overview/kp_tallies", WALL)["reports"].sum()) == n  # the wall's bars
    assert int(q(con, "kp/by_category_unit")["reported"].sum()) == n  # 三项重点工作 各单位, the bulletin's sections
    assert int(q(con, "overview/unit_ranking")["kp_reports"].sum()) == n
    tr = metrics.query(con, "kp/trend", settings=Settings(), end=FEB.end, months_back=2, cutoff=None)
    assert int(tr.loc[tr["month"] == "2025-02", "reported"].sum()) == n
    # the unknown category: one bucket with one name, never its delivered value as if it were a category
    unknown = con.execute("SELECT DISTINCT category FROM fact_kp_report "
                          "WHERE list_contains(_flags, 'unknown_code:category')").fetchall()
    for (code,) in unknown:
        assert code not in set(tallies["category"]) and code not in cats
    assert list(tallies["category"])[-1] == UNKNOWN
    k = int(tallies.loc[tallies["category"] == UNKNOWN, "reports"].iloc[0])
    assert b.section("key_tasks").data["county"]["unknown_category"] == k
    assert f"其中{k}条的人员类别不在规范代码中" in text
    assert t4[UNKNOWN] == k
    assert not any(f"){UNKNOWN}。" in p for p in b.section("key_tasks").paragraphs)  # no category paragraph


def test_sign_offs_agree_everywhere(paths):
    con, b, t = paths
    head = q(con, "overview/headline").iloc[0]
    needed, signed = int(head["signoffs_needed"]), int(head["signoffs_signed"])
    assert f"应签收{needed}条次,已签收{signed}条次" in b.section("key_tasks").paragraphs[0]
    t5 = total_row(t["kp_offices"])
    assert (t5["应签收"], t5["已签收"]) == (needed, signed)
    tallies = q(con, "overview/kp_tallies")
    assert (int(tallies["signoffs_needed"].sum()), int(tallies["signoffs_signed"].sum())) == (needed, signed)
    kp = q(con, "kp/by_category_unit")
    assert (int(kp["needed"].sum()), int(kp["signed"].sum())) == (needed, signed)
    rank = q(con, "overview/unit_ranking")
    assert (int(rank["signoffs_needed"].sum()), int(rank["signoffs_signed"].sum())) == (needed, signed)
    # 全部签收占比 per unit: the appendix (附件4) and the ranking (附件6) over the same reports
    t4, t6 = t["kp_units"], t["ranking"]
    share4 = {r[1]: r[-1] for r in t4.rows[:-1]}
    share6 = {r[1]: r[t6.columns.index("全部签收占比")] for r in t6.rows}
    for unit, v in share4.items():
        assert v == pytest.approx(share6[unit], nan_ok=True) or (v is None and pd.isna(share6[unit])), unit


def test_events_agree_everywhere(paths):
    con, b, t = paths
    head = q(con, "overview/headline").iloc[0]
    rep, closed, overdue = int(head["events_reported"]), int(head["events_closed"]), int(head["overdue_open"])
    text = b.section("events").paragraphs[0]
    assert f"共上报事件{rep}件,办结事件{closed}件" in text and f"月末超期未办结事件{overdue}件" in text
    assert f"事件办结完成率为{bulletin.pct(head['completion_rate'])}" in text
    t3 = total_row(t["events_units"])
    assert (t3["上报事件"], t3["办结事件"], t3["超期未办结"]) == (rep, closed, overdue)
    assert t3["办结完成率"] == pytest.approx(head["completion_rate"])
    for name in ("events/by_unit", "overview/unit_ranking"):
        df = q(con, name)
        r, c = ("reported", "closed") if name == "events/by_unit" else ("events_reported", "events_closed")
        assert (int(df[r].sum()), int(df[c].sum()), int(df["overdue_open"].sum())) == (rep, closed, overdue), name
    mix = q(con, "events/category_mix")  # 事件办结 by category: the unknown ones counted under 未知类别
    assert (int(mix["reported"].sum()), int(mix["closed"].sum()), int(mix["overdue_open"].sum())) == \
        (rep, closed, overdue)
    assert UNKNOWN in set(mix["category"]) and "网络舆情" not in set(mix["category"])
    wall = q(con, "overview/headline", WALL).iloc[0]  # the wall's tiles
    assert (int(wall["events_reported"]), int(wall["events_closed"]), int(wall["overdue_open"])) == \
        (rep, closed, overdue)


def test_the_funnel_says_it_counts_this_periods_reports_only(paths):
    """The funnel's 办结 is of this period's reports (≤ 100%); 事件办结完成率 counts closures of any period's
    events: the stage names say which, so that 77% beside 103% is not a contradiction."""
    con, _, _ = paths
    fun = q(con, "overview/event_funnel").set_index("stage_order")
    head = q(con, "overview/headline").iloc[0]
    assert list(fun["stage"]) == ["当期上报", "其中已受理", "其中已办结"]
    assert int(fun.loc[1, "events"]) == int(head["events_reported"])
    closed_own = con.execute("SELECT count(*) FROM fact_event WHERE reported_at >= DATE '2025-02-01' "
                             "AND reported_at < DATE '2025-03-01' AND closed_at < DATE '2025-03-01'").fetchone()[0]
    assert int(fun.loc[3, "events"]) == closed_own
    assert fun.loc[3, "share_of_reported"] <= 1


def test_accounts_agree_everywhere(paths):
    con, b, t = paths
    head = q(con, "overview/headline").iloc[0]
    acc, act = int(head["accounts"]), int(head["active"])
    assert f"网格员账号{acc}个,活跃账号{act}个" in b.section("activity").paragraphs[0]
    t1 = total_row(t["activity_units"])
    assert (t1["账号数"], t1["活跃账号数"]) == (acc, act)
    ah = q(con, "activity/headline").iloc[0]
    assert (int(ah["accounts"]), int(ah["active"])) == (acc, act)
    for name in ("activity/by_unit", "overview/unit_ranking"):
        df = q(con, name)
        assert (int(df["accounts"].sum()), int(df["active"].sum())) == (acc, act), name
    t2 = total_row(t["activity_offices"])
    off = q(con, "activity/by_office")
    assert t2["账号数"] == int(head["dept_accounts"]) == int(off["accounts"].sum())
    assert t2["活跃账号数"] == int(head["dept_active"]) == int(off["active"].sum())


def test_unknown_codes_are_a_data_quality_item_with_their_values(paths):
    con, _, _ = paths
    flags = metrics.query(con, "quality/flags", settings=Settings())
    kp = flags[(flags["dataset"] == "key_person_reports") & (flags["flag"] == "unknown_code:category")].iloc[0]
    n = con.execute("SELECT count(*) FROM fact_kp_report WHERE list_contains(_flags, 'unknown_code:category')"
                    ).fetchone()[0]
    assert int(kp["n"]) == n and kp["header"] == "人员类别" and kp["codes"] == f"留守儿童 ({n})"
    # every month's 未知类别 adds up to the flagged records
    tr = metrics.query(con, "kp/trend", settings=Settings(), end=FEB.end, months_back=2, cutoff=None)
    assert int(tr.loc[tr["category"] == UNKNOWN, "reported"].sum()) == n
    for _, r in flags[flags["flag"].str.startswith("unknown_code:")].iterrows():
        assert r["header"] and r["codes"], r["flag"]


def test_freshness_ignores_future_dated_rows(demo):  # noqa: F811
    _, _, _, con = demo
    fresh = metrics.query(con, "quality/freshness", settings=Settings()).set_index("dataset")
    landed = dt.datetime(2025, 3, 5) + dt.timedelta(hours=Settings().etl.future_tolerance_hours)
    assert (fresh["max_updated_at"].dropna() <= landed).all(), fresh["max_updated_at"]
    # the demo delivers future times: they are counted apart, with the latest of them, never as freshness
    assert int(fresh["future_rows"].sum()) > 0
    fut = fresh[fresh["future_rows"] > 0]
    assert (fut["max_future_updated_at"] > landed).all()
    act = con.execute("SELECT count(*) FILTER (op_time > $l), max(op_time) FILTER (op_time <= $l) FROM fact_activity",
                      {"l": landed}).fetchone()
    assert int(fresh.loc["activity_log", "future_rows"]) == act[0]
    assert fresh.loc["activity_log", "max_updated_at"] == act[1]


def test_the_run_record_is_the_final_one(demo):  # noqa: F811
    tmp, _, res, con = demo
    runs = metrics.query(con, "quality/runs", settings=Settings(), limit=50)
    copy = runs[runs["run_id"] == res.run_id].iloc[0]
    # the copy taken while building: which version it publishes, no end or duration yet
    assert not copy["final"] and copy["published"] == res.published and pd.isna(copy["duration_s"])
    shown = final_runs(runs, Lake(tmp / "lake"))
    row = shown[shown["run_id"] == res.run_id].iloc[0]
    rec = json.loads((tmp / "lake" / "runs" / f"{res.run_id}.json").read_text(encoding="utf-8"))
    assert row["final"] and row["duration_s"] == rec["duration_s"] == res.duration_s
    assert row["published"] == res.published and row["status"] == res.status
    assert row["finished_at"] == pd.Timestamp(res.finished_at)


def test_the_quality_page_shows_unknown_codes_future_rows_and_the_final_run(demo, tmp_path):  # noqa: F811
    """数据质量 as the 县级管理员 sees it (Streamlit AppTest on a copy of the demo county's lake and warehouse:
    this process holds the fixture's own connection, with another configuration than the app's)."""
    import os
    import shutil

    from support.logins import add_users
    from test_app import _config, _run, _text, _use_config

    from core import config

    src, _, res, con = demo
    for d in ("wh", "lake"):
        shutil.copytree(src / d, tmp_path / d)
    old = os.environ.get(config.ENV_VAR)
    _use_config(_config(tmp_path))
    try:
        add_users(config.settings())
        at = _run("quality.py")
        text = _text(at)
        n = con.execute("SELECT count(*) FROM fact_kp_report WHERE list_contains(_flags, 'unknown_code:category')"
                        ).fetchone()[0]
        assert f"{n} 条记录的人员类别不在规范代码中: 留守儿童 \\({n}\\)" in text, text
        assert "计入合计, 在按类别的统计中列为「未知类别」" in text
        assert "条记录的更新时间晚于导入时间" in text
        fresh = next(d.value for d in at.dataframe if "最新更新时间" in d.value.columns)
        assert (pd.to_datetime(fresh["最新更新时间"]) <= dt.datetime(2025, 3, 6)).all()
        runs = next(d.value for d in at.dataframe if "发布版本" in d.value.columns)
        row = runs[runs["批次"] == res.run_id].iloc[0]
        assert row["用时(秒)"] == res.duration_s and row["发布版本"] == res.published
    finally:
        if old:
            _use_config(Path(old))
        else:
            os.environ.pop(config.ENV_VAR, None)
            config.settings.cache_clear()

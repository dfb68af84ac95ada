"""The city deployment's warehouse (issue 17 part 1): counties in one lake, a county scope that cannot leak, the
city with its counties as units, the city queries.

The proof of "the county's figures": every query file run for Scope(county_code=X) on the city's warehouse equals
the same query on a warehouse built from county X's deliveries alone (a real, separate build), row for row —
apart from what names the build itself (version, build time, delivery numbers, landing times) and the city's
operations (runs, sources: none for a county). Freshness is the county's too (also counted from the city's lake
alone). And no row of another county appears.
"""
from __future__ import annotations

import datetime as dt
import json
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
            want = metrics.query(own, name, **_params(name))
            assert list(got.columns) == list(want.columns), name
            pd.testing.assert_frame_equal(_norm(got, name), _norm(want, name), obj=name)
            compared += 1
    finally:
        con.close()
        own.close()
    assert compared >= len(metrics.available()) - 2


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


def test_county_queries_from_many_sessions_share_one_connection(city):
    """The app's sessions run their queries on threads of one process, on one cached connection to the version: a
    county's query finds its county connection without ever executing on that shared connection (DuckDB refuses
    a second call on a busy connection: the load test's 市级 users drilling into counties hit it)."""
    import threading

    con = db.open_published(city.wh)
    errors: list[str] = []
    counts: list[int] = []

    def session(code: str | None) -> None:
        for _ in range(60):
            try:
                scope = Scope(by_county=True) if code is None else Scope(county_code=code)
                counts.append(len(metrics.query(con, "city/counties", scope)))
            except Exception as exc:  # noqa: BLE001 — every failure is reported
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=session, args=(c,)) for c in ["510798", "510797", None, "510798", None, "510799"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    con.close()
    assert errors == [] and len(counts) == 6 * 60, errors[:3]


def test_a_table_the_scope_does_not_know_is_refused(city, tmp_path):
    """Fail closed: a version holding a table that COUNTY_FILTERS does not list gets no county connection."""
    copy = tmp_path / "wh-20240401T000000-abcdef.duckdb"
    shutil.copy(city.version(), copy)
    con = duckdb.connect(str(copy))
    con.execute("CREATE TABLE secret_rows AS SELECT '510799001001001' AS grid_code")
    con.close()
    with pytest.raises(scoped.ScopeTableError, match="secret_rows"):
        scoped.county_connection(copy, "510798")


# ---------------------------------------------------------------------------------------------------- 全市通报
def test_the_city_bulletin_names_counties_as_the_county_bulletin_names_townships(city):
    """Hand-counted (tests/support/city.py): March 2024, February without data (no 环比)."""
    from warehouse import bulletin

    con = db.open_published(city.wh)
    try:
        b = bulletin.compute(con, MARCH, Scope(by_county=True, label="全市"), settings=city.settings)
    finally:
        con.close()
    assert b.title == "3月份全市网格化服务管理工作情况通报" and b.area == "全市"
    assert b.county_name == "示例市" and b.issuer == "示例市网格化服务管理中心"
    assert b.addressee == "各县(市、区)、市级有关部门:"
    act, ev, kp, rb = (b.section(k).paragraphs for k in ("activity", "events", "key_tasks", "red_black"))
    # 15 grid workers: 西河县 5 active (25…20 days), 示例县 3 (22, 20, 25), 东岭县 1 (22)
    assert act[0] == "3月份,全市网格员账号15个,活跃账号9个,账户活跃度为60%。"
    # 100%: 西河县; ≥ 60%: 示例县 (60%); the rest (东岭县 20%) 相对较差 — the county's groups and wording
    assert act[1] == "其中,西河县活跃度达到100%;示例县活跃度相对较好;其余各地活跃度相对较差。"
    # offices named with their county: the active one of each county is its 派出所 that signs (21 days)
    assert "除西河县石桥派出所、东岭县东岭派出所、示例县宏仁派出所以外" in act[2]
    # 15 events, closed 5 + 1 + 3; 100%以上: 西河县; 50%以下: 东岭县 (20%)
    assert ev[0].startswith("3月份,全市共上报事件15件,办结事件9件,事件办结完成率为60%;")
    assert ev[1] == "其中,西河县事件办结完成率达到100%以上;东岭县事件办结完成率在50%以下。"
    # 流动人口: three counties reported 5 each (≤ report_name_each_max: each named); 签收相对较好: 东岭县 (5 of 5)
    assert kp[1].startswith("(一)流动人口。仅西河县报送了5条、东岭县报送了5条、示例县报送了5条信息。东岭县签收相对较好。")
    # 红黑榜 of counties: scores 西河县 (1 + 1 + 1/8)/3, 示例县 (.6 + .6 + .5)/3, 东岭县 (.2 + .2 + .75)/3
    assert rb[0].endswith("3月份红榜:西河县、示例县;黑榜:东岭县。")
    rank = next(t for t in b.tables if t.key == "ranking")
    assert [r[1] for r in rank.rows] == ["西河县", "示例县", "东岭县"]
    assert [round(r[5], 4) for r in rank.rows] == [round((2 + 1 / 8) / 3, 4), round(1.7 / 3, 4), round(1.15 / 3, 4)]
    offices = next(t for t in b.tables if t.key == "activity_offices")
    assert offices.columns[3] == "所属县"


def test_a_county_of_the_city_gets_the_bulletin_of_its_own_warehouse(city, alone):
    from warehouse import bulletin

    con, own = db.open_published(city.wh), db.open_published(alone["510798"])
    try:
        got = bulletin.compute(con, MARCH, Scope(county_code="510798"), settings=city.settings).to_dict()
        want = bulletin.compute(own, MARCH, settings=city.settings).to_dict()
    finally:
        con.close()
        own.close()
    got.pop("warehouse_version"), want.pop("warehouse_version")
    assert got == want and got["county"] == "东岭县"


def test_the_city_bulletin_command_writes_a_docx(city, tmp_path):
    import io

    import docx

    from warehouse.__main__ import main

    out = tmp_path / "city.docx"
    cfg = tmp_path / "city.toml"
    cfg.write_text('[deployment]\nlevel = "city"\n[city]\nname = "示例市"\ncode = "510700"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "bulletin", "--level", "city", "--month", "2024-03", "--format", "docx",
                 "--warehouse", str(city.wh), "--out", str(out)]) == 0
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(out.read_bytes())).paragraphs)
    assert "3月份全市网格化服务管理工作情况通报" in text and "示例市网格化服务管理中心" in text
    assert "红榜：西河县、示例县；黑榜：东岭县。" in text  # the docx typesets full-width
    assert "宏仁乡" not in text and "文昌镇四个社区" not in text  # counties, never their 乡镇
    # one county of the city: its own 全县通报
    out2 = tmp_path / "c.md"
    assert main(["--config", str(cfg), "bulletin", "--county", "510798", "--month", "2024-03",
                 "--warehouse", str(city.wh), "--out", str(out2)]) == 0
    md = out2.read_text(encoding="utf-8")
    assert "全县网格员账号5个,活跃账号1个" in md and "东岭县网格化服务管理中心" in md and "西河" not in md


def test_a_countys_warnings_are_its_own(city, alone):
    """预警 evaluated for a county of the city (its data date, its rows) equal its own warehouse's."""
    from warehouse import warnings

    con, own = db.open_published(city.wh), db.open_published(alone["510799"])
    try:
        got = warnings.evaluate(con, scope=Scope(county_code="510799"), settings=city.settings)
        want = warnings.evaluate(own, settings=city.settings)
    finally:
        con.close()
        own.close()
    assert got and [(w.rule, w.unit, w.reason) for w in got] == [(w.rule, w.unit, w.reason) for w in want]


def test_the_city_assessment_scores_counties_with_every_indicator(city):
    """季度考核 with the counties as units: one row per county, 有效活跃度 per county (not per 乡镇: connected)."""
    from warehouse import assessment

    con = db.open_published(city.wh)
    try:
        a = assessment.compute(con, assessment.Quarter.parse("2024-Q1"), Scope(by_county=True, label="全市"),
                               settings=city.settings, answered=None, now=dt.datetime(2024, 4, 1))
    finally:
        con.close()
    assert a.area == "全市" and sorted(u["ru_code"] for u in a.units) == sorted(c for c, _ in COUNTIES)
    by = {u["ru_code"]: u for u in a.units}
    # grid workers × the two months with data (and February, counted, not active): 5 accounts × 3 months
    assert all(u["effective_account_months"] == 15 for u in a.units)
    assert by["510797"]["rank"] == 1  # 西河县: every worker active, every event closed


def test_the_demo_city_has_named_counties(tmp_path):
    """`python -m etl demo --counties 2`: a subfolder per county, each with its own 县 row (name and code); the
    city's folder is known as a demo drop (its truth file lists every county's files)."""
    import openpyxl

    import demo
    from etl.__main__ import main
    from etl.lake import is_demo_drop

    names = [demo.county_name(i) for i in range(100)]
    assert names[:3] == ["示例县", "东岭县", "西河县"] and len(set(names)) == 100
    assert main(["demo", "--counties", "2", "--months", "1", "--end-month", "2025-02", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [demo.TRUTH_FILE, "county00", "county01"]
    assert is_demo_drop(tmp_path)
    for i, folder in enumerate(("county00", "county01")):
        wb = openpyxl.load_workbook(next((tmp_path / folder).glob("org_units_*.xlsx")), read_only=True)
        rows = [[str(v).strip() if v is not None else "" for v in r] for r in wb.active.iter_rows(values_only=True)]
        assert [demo.county_code(i), demo.county_name(i), "县"] in [r[:3] for r in rows], folder


def test_the_first_start_of_a_city_builds_the_demo_city(tmp_path, monkeypatch):
    """[deployment] level = "city" with the demo on: the first start generates the demo city of [demo]
    city_counties × city_months (as `python -m etl demo --counties 3 --months 1`) and loads it; a county
    deployment the 示例县 of [demo] months (generators and the load stubbed: what is built, not the build)."""
    from types import SimpleNamespace

    import demo
    from core.config import Deployment, Paths, Settings
    from dashboard import bootstrap

    paths = Paths(data_dir=tmp_path, drop_dir=tmp_path / "drop", lake_dir=tmp_path / "lake",
                  warehouse_dir=tmp_path / "wh")
    county, city = Settings(paths=paths), Settings(paths=paths, deployment=Deployment(level="city"))
    assert bootstrap.demo_size(county) == (1, county.demo.months)
    assert bootstrap.demo_size(city) == (3, 1)  # config.toml's default too: small, quick
    made, loaded = [], []
    monkeypatch.setattr(demo, "generate_city", lambda out, n, months, **kw: made.append(("city", out.name, n, months)))
    monkeypatch.setattr(demo, "generate", lambda out, months, **kw: made.append(("county", out.name, 1, months)))
    monkeypatch.setattr(bootstrap, "run", lambda source, s, **kw: loaded.append(source.name)
                        or SimpleNamespace(status="ok", published=True, error=None))
    for s in (city, county):
        bootstrap._STATE.error = None
        bootstrap._build_warehouse(s, demo=True)
        assert bootstrap._STATE.error is None
    assert made == [("city", "demo_city_drop", 3, 1), ("county", "demo_drop", 1, county.demo.months)]
    assert loaded == ["demo_city_drop", "demo_drop"]


# ---------------------------------------------------------------------------------------------------- 数据新鲜度
def _lake_freshness(lake) -> dict:
    """(dataset, county) → the freshness figures counted straight from the lake's landed and quarantined rows:
    each row's county by its own 区划代码, activity by its account's, an event's flow by its event's (warehouse/
    scoped.py's rule), the files by the deliveries that brought the rows."""
    from core.spec import DATASETS
    from etl.lake import order_key

    con = duckdb.connect()
    mans = {m["delivery"]: m for m in lake.manifests()}

    def rows(ds):
        return f"read_parquet({lake.landed_files(ds)!r}, hive_partitioning = false, union_by_name = true)"

    county = {ds.name: f"left({ds.county_col}, 6)" for ds in DATASETS.values() if ds.county_col}
    con.execute(f"CREATE TABLE acct AS SELECT DISTINCT account_id, left(unit_code, 6) AS c FROM {rows('accounts')}")
    con.execute(f"CREATE TABLE ev AS SELECT DISTINCT event_id, left(grid_code, 6) AS c FROM {rows('events')}")
    join = {"activity_log": ("(SELECT c FROM acct WHERE acct.account_id = l.account_id)"),
            "event_flow": ("(SELECT c FROM ev WHERE ev.event_id = l.event_id)")}
    out = {}
    for ds in DATASETS.values():
        if not lake.landed_files(ds.name):
            continue
        key = ", ".join(ds.key)
        for c, landed, records, maxu, deliveries in con.execute(f"""
                SELECT c, count(*), count(DISTINCT ({key})), max(updated_at), list(DISTINCT _delivery)
                FROM (SELECT l.*, {county.get(ds.name) or join[ds.name]} AS c FROM {rows(ds.name)} l) GROUP BY c
                """).fetchall():
            last = max((mans[d] for d in deliveries), key=lambda m: (order_key(m), m["delivery"]))
            out[ds.name, c] = {"records": records, "landed_rows": landed, "superseded": landed - records,
                               "files": len(deliveries), "last_file": last["file"], "max_updated_at": maxu,
                               "quarantined": 0}
    for ds, c, n in con.execute(f"""
            SELECT dataset, left(json_extract_string(raw, '$.grid_code'), 6), count(*)
            FROM read_parquet({lake.quarantine_files()!r}) GROUP BY ALL""").fetchall():
        out[ds, c]["quarantined"] = n
    con.close()
    return out


def test_a_countys_freshness_is_its_own_rows_of_the_lake(city, tmp_path):
    """数据新鲜度 of a county of the city: its records, landed rows, superseded versions, quarantined rows, files,
    last file and newest update — counted straight from the lake for its codes, here after a city-wide delivery of
    events (corrections of two counties' events, one row quarantined) and an event flow (no 区划代码 of its own)."""
    from etl.lake import Lake
    from etl.pipeline import run

    root = tmp_path / "city"
    shutil.copytree(city.root, root)
    con = db.open_published(root / "wh")
    try:
        ev = dict(con.execute("SELECT left(grid_code, 6), arg_min(event_id, event_id) FROM fact_event "
                              "GROUP BY ALL").fetchall())
        row = con.execute("SELECT * FROM fact_event WHERE event_id = $e", {"e": ev["510799"]}).df().iloc[0]
    finally:
        con.close()
    base = {k: (str(row[k]) if row[k] is not None and str(row[k]) not in ("NaT", "nan", "None") else None)
            for k in ("reported_at", "category", "source", "summary", "deadline", "supervision")}
    events = [dict(base, event_id=ev[c], grid_code=f"{c}001001001", status="已办结",
                   closed_at="2024-03-30 10:00:00", updated_at="2024-03-30 10:00:00") for c in ("510799", "510798")]
    events.append(dict(base, event_id="QX1", grid_code="510798001001001", reported_at=None))  # quarantined
    flow = [{"event_id": ev[c], "seq": 1, "action": "受理", "account_id": None, "action_time": "2024-03-08 09:00:00",
             "updated_at": "2024-03-08 09:00:00"} for c in ("510799", "510797")]
    (root / "drop" / "events_20240330_city.json").write_text(json.dumps(events, ensure_ascii=False), "utf-8")
    (root / "drop" / "event_flow_20240330_city.json").write_text(json.dumps(flow, ensure_ascii=False), "utf-8")
    res = run(root / "drop", city.settings, warehouse_dir=root / "wh", lake_dir=root / "lake",
              load_time=AS_OF, log=lambda m: None)
    assert res.status in ("ok", "partial"), res.error
    want = _lake_freshness(Lake(root / "lake"))
    assert want["events", "510798"]["superseded"] == 1 and want["events", "510798"]["quarantined"] == 1
    cols = ["records", "landed_rows", "superseded", "files", "last_file", "max_updated_at", "quarantined"]
    con = db.open_published(root / "wh")
    try:
        whole = metrics.query(con, "quality/freshness").set_index("dataset")
        total = {c: 0 for c in ("records", "landed_rows", "quarantined")}
        for code, _ in COUNTIES:
            got = metrics.query(con, "quality/freshness", Scope(county_code=code)).set_index("dataset")
            assert list(got.index) == list(whole.index)  # every dataset, as a county's own warehouse
            for ds in got.index:
                w = want.get((ds, code))
                if w is None:
                    assert (got.loc[ds, "records"], got.loc[ds, "landed_rows"]) == (0, 0), (code, ds)
                    assert pd.isna(got.loc[ds, "files"]) and pd.isna(got.loc[ds, "last_file"]), (code, ds)
                    continue
                assert {c: got.loc[ds, c] for c in cols} == {c: w[c] for c in cols}, (code, ds)
            for c in total:
                total[c] += int(got[c].sum())
        assert total == {c: int(whole[c].sum()) for c in total}  # every row of this lake is of a county
    finally:
        con.close()


def test_a_version_without_the_freshness_per_county_shows_a_county_none(city, tmp_path):
    """A version built before freshness was kept per county (until the next run builds it again): a county's
    connection still opens, with no freshness rather than the city's."""
    copy = tmp_path / "wh-20240401T000000-abcdef.duckdb"
    shutil.copy(city.version(), copy)
    con = duckdb.connect(str(copy))
    con.execute("DROP TABLE dq_county_freshness")
    con.execute("DROP TABLE dq_county_delivery")
    con.close()
    cur = scoped.county_connection(copy, "510798").cursor()
    assert cur.execute("SELECT count(*) FROM dataset_freshness").fetchone() == (0,)
    assert cur.execute("SELECT count(*) FROM dim_county").fetchone() == (1,)


def test_a_county_user_sees_only_its_countys_supervision_orders(city, tmp_path):
    """督办单 of one county are not listed to another county's users (the store is the deployment's, one for the
    city); the city sees them all; an order of a store made before the county column follows its unit's code."""
    import sqlite3

    from warehouse import supervision, warnings

    st = supervision.Store(tmp_path / "supervision.db")
    con = db.open_published(city.wh)
    issued = {}
    try:
        for code in ("510799", "510797"):
            scope, ru = Scope(county_code=code), f"{code}001"
            w = warnings.Warning("红", "completion_low", "unit", ru, "文昌镇", dt.date(2024, 3, 31), "超期未办结",
                                 township_code=ru, ru_code=ru)
            issued[code] = st.issue(con, w, user="admin", scope=scope, as_of=dt.date(2024, 3, 31),
                                    settings=city.settings).id
    finally:
        con.close()
    assert [o.id for o in st.orders(Scope(county_code="510799"))] == [issued["510799"]]
    assert [o.id for o in st.orders(Scope(county_code="510797"))] == [issued["510797"]]
    assert st.orders(Scope(county_code="510798")) == []
    assert sorted(o.id for o in st.orders(Scope())) == sorted(issued.values())

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as raw:  # the table as the first release created it, one unit's and one office's order
        raw.execute("CREATE TABLE supervision_order (id INTEGER PRIMARY KEY AUTOINCREMENT, warning_key TEXT, rule TEXT, "
                    "unit_kind TEXT, unit_code TEXT, unit_name TEXT, ru_code TEXT, township_code TEXT, reason TEXT, "
                    "as_of TEXT NOT NULL, issued_at TEXT NOT NULL, deadline TEXT NOT NULL, issued_by TEXT NOT NULL, "
                    "items TEXT NOT NULL)")
        for kind, code, ru in (("unit", "510797001", "510797001"), ("office", "文昌派出所", None)):
            raw.execute("INSERT INTO supervision_order (warning_key, rule, unit_kind, unit_code, unit_name, ru_code, "
                        "township_code, reason, as_of, issued_at, deadline, issued_by, items) "
                        "VALUES ('k', 'r', ?, ?, 'n', ?, ?, 'x', '2024-03-31', '2024-04-01 09:00:00', "
                        "'2024-04-04 09:00:00', 'admin', '[]')", (kind, code, ru, ru))
    migrated = supervision.Store(old)
    assert [o.unit_kind for o in migrated.orders(Scope(county_code="510797"))] == ["unit"]
    assert migrated.orders(Scope(county_code="510799")) == []
    assert len(migrated.orders(Scope())) == 2


def test_the_city_review_is_titled_for_the_city_and_an_order_for_its_county(city, tmp_path, monkeypatch):
    """The 周报 with the counties as units is 全市's (not 全县's), ranking counties; a 督办单's document is headed
    by its own county in a city deployment, by the city when it was issued for the whole city."""
    from core import config
    from dashboard import auth
    from dashboard import warnings as wd
    from warehouse import review, supervision

    con = db.open_published(city.wh)
    try:
        r = review.compute(con, Period.iso_week(2024, 13), Scope(by_county=True, label="全市"), settings=city.settings)
    finally:
        con.close()
    assert r.area == "全市" and "全市" in review.file_name(r, "md")
    assert {u["name"] for u in r.ranking} <= {name for _, name in COUNTIES} and r.ranking

    cfg = city.app_config(tmp_path)
    monkeypatch.setenv(config.ENV_VAR, str(cfg))
    config.settings.cache_clear()
    monkeypatch.setattr(auth, "current", lambda: auth.Identity("dl", "东岭", auth.ADMIN,
                                                              Scope(county_code="510798", label="东岭县"), "password"))
    try:
        def order(county):
            return supervision.Order(1, "k", "completion_low", "unit", "510798001", "东岭镇", "510798001", "510798001",
                                     "x", dt.date(2024, 3, 31), dt.datetime(2024, 4, 1, 9), dt.datetime(2024, 4, 4, 9),
                                     "admin", [], county)
        assert wd.order_area(order("510798")) == "东岭县"
        assert wd.order_area(order(None)) == "示例市"
    finally:
        config.settings.cache_clear()

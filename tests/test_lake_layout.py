"""The lake's layout (etl/lake.py): landed parts under landed/<dataset>/county=<区划代码>/month=YYYY-MM/, a row's
county the first 6 digits of its own code — activity and the event flow that of their account or event, looked up
(county=unknown only for a row whose account or event is not landed) — and a lake landed before the county level
(landed/<dataset>/month=YYYY-MM/) still read as it is — alone or mixed with new parts — into the same warehouse.
Reuses the session's city (tests/support/city.py), two small builds; and two tiny ETL runs of a city of its own."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from support.city import COUNTIES

from core.spec import DATASETS
from etl.lake import COUNTY_VIA, UNKNOWN_COUNTY, Lake, write_parquet
from warehouse import db
from warehouse.build import build

PART = re.compile(r"landed/(?P<ds>\w+)/county=(?P<county>\w+)/month=(?P<month>\d{4}-\d{2})/part-[0-9a-f]{16}\.parquet")
BUILT_AT = dt.datetime(2024, 4, 1, 8)


def _owners(lake: Lake) -> dict[str, dict[str, str]]:
    """{dataset of COUNTY_VIA: {account_id or event_id: the county of its landed rows}} (the test's small lakes)."""
    out = {}
    for name, (_, src) in COUNTY_VIA.items():
        ds = DATASETS[src]
        rows = [r for f in lake.landed_files(src) for r in pq.read_table(f).to_pylist()]
        out[name] = {r[ds.key[0]]: r[ds.county_col][:6] for r in sorted(rows, key=lambda r: r["updated_at"])}
    return out


def test_a_city_lake_lands_rows_by_county_and_month(city):
    lake = Lake(city.root / "lake")
    owners = _owners(lake)
    seen = defaultdict(set)
    for m in lake.manifests():
        for rel in m["landed_parts"]:
            hit = PART.fullmatch(rel)
            assert hit, rel
            ds, county = DATASETS[hit["ds"]], hit["county"]
            seen[ds.name].add(county)
            t = pq.read_table(lake.root / rel)
            months = {f"{v:%Y-%m}" for v in t.column(ds.month_col).to_pylist()}
            assert months == {hit["month"]}, rel
            if ds.county_col is None:  # activity: the county of its account
                ref = t.column(COUNTY_VIA[ds.name][0]).to_pylist()
                assert {owners[ds.name][v] for v in ref} == {county}, rel
            else:
                assert {v[:6] for v in t.column(ds.county_col).to_pylist()} == {county}, rel
    codes = {c for c, _ in COUNTIES}
    assert {"org_units", "accounts", "activity_log", "events"} <= seen.keys()  # (the small city has no event flow)
    for name in seen:
        assert seen[name] == codes, name


def _parts(lake: Lake, dataset: str) -> dict[str, set]:
    """county → the keys (the first key column) of `dataset` landed under it."""
    out = defaultdict(set)
    for m in lake.manifests():
        for rel in m["landed_parts"] if m["dataset"] == dataset else ():
            out[PART.fullmatch(rel)["county"]] |= set(pq.read_table(lake.root / rel).column(DATASETS[dataset].key[0])
                                                       .to_pylist())
    return dict(out)


def test_city_activity_and_event_flow_land_under_the_county_of_their_account_or_event(tmp_path):
    """A city deployment: activity lands under its account's county, the event flow under its event's — accounts
    and events of the same run (delivered in files dated after the activity's, in worker processes too) and of
    earlier runs; a row whose account or event is landed nowhere under county=unknown. A record landed under
    unknown and delivered again under its county is one record in the warehouse."""
    from support.city import city_settings
    from support.county import MiniCounty

    from etl.pipeline import run

    a, b = MiniCounty(code="510799", id_prefix="A"), MiniCounty(code="510798", id_prefix="B", name="东岭县")
    ga, gb = (c.grid(c.village(c.township("文兴乡"), "文兴村")) for c in (a, b))
    a.op(a.account(ga), dt.datetime(2024, 3, 2, 9), log_id="AL-1")
    a.op("NOBODY", dt.datetime(2024, 3, 2, 10), log_id="AL-2")  # an account of no county
    e_b = b.event(gb, dt.datetime(2024, 3, 1, 9))
    for seq, ev, action in ((1, e_b, "上报"), (2, e_b, "受理"), (1, "E-NONE", "上报")):
        b.rows["event_flow"].append({"event_id": ev, "seq": seq, "action": action, "action_time": "2024-03-01 10:00:00"})
    acc_b = b.account(gb)
    b.op(acc_b, dt.datetime(2024, 3, 3, 9), log_id="BL-1")
    later = MiniCounty(code="510798")  # the second run: b's account (not in the first), the same operation again
    later.rows = {"accounts": b.rows.pop("accounts"), "activity_log": []}
    later.op(acc_b, dt.datetime(2024, 3, 3, 9), log_id="BL-1", terminal="APP")

    def deliver(drop: Path, c: MiniCounty, suffix: str) -> None:
        for f in c.write(drop, date="20240302", suffix=suffix):  # activity and the flow dated before the rest
            if f.name.startswith(tuple(COUNTY_VIA)):
                f.rename(f.with_name(f.name.replace("20240302", "20240301")))

    deliver(tmp_path / "d1", a, "_a")
    deliver(tmp_path / "d1", b, "_b")
    deliver(tmp_path / "d2", later, "_b2")
    s = city_settings(tmp_path)
    lake = Lake(tmp_path / "lake")
    for drop, workers in (("d1", 1), ("d2", 2)):  # the second run in two worker processes
        s.etl = s.etl.model_copy(update={"workers": workers, "parallel_min_mb": 0})
        res = run(tmp_path / drop, s, warehouse_dir=tmp_path / "wh", lake_dir=lake.root, load_time=BUILT_AT,
                  log=lambda m: None)
        assert res.status == "ok", res.error
        assert res.landing_workers == workers
    assert _parts(lake, "activity_log") == {"510799": {"AL-1"}, UNKNOWN_COUNTY: {"AL-2", "BL-1"}, "510798": {"BL-1"}}
    assert _parts(lake, "event_flow") == {"510798": {e_b}, UNKNOWN_COUNTY: {"E-NONE"}}
    con = db.open_published(tmp_path / "wh")
    try:
        assert con.execute("SELECT terminal FROM fact_activity WHERE log_id = 'BL-1'").fetchall() == [("APP",)]
    finally:
        con.close()


def _to_old_layout(lake: Lake, keep_county: str) -> int:
    """Rewrite the lake's manifests and parts as a lake landed before the county level: one part per delivery and
    month (landed/<dataset>/month=YYYY-MM/part-<hash16>.parquet), the rows in their order; the deliveries of
    `keep_county` stay in the new layout (a lake landed partly before, partly after). Returns the deliveries
    rewritten."""
    n = 0
    for path in sorted(lake.manifest_dir.glob("*.json")):
        m = json.loads(path.read_text(encoding="utf-8"))
        if any(f"/county={keep_county}/" in p for p in m["landed_parts"]):
            continue
        by_month = defaultdict(list)
        for rel in m["landed_parts"]:
            by_month[PART.fullmatch(rel)["month"]].append(rel)
        parts, sums = [], {k: v for k, v in m["checksums"].items() if k not in m["landed_parts"]}
        for month, rels in sorted(by_month.items()):
            t = pa.concat_tables([pq.read_table(lake.root / r) for r in rels])
            t = t.take(pc.sort_indices(t, [("_row", "ascending")]))
            rel = f"landed/{m['dataset']}/month={month}/part-{m['sha256'][:16]}.parquet"
            sums[rel] = write_parquet(lake.root / rel, t)
            parts.append(rel)
            for r in rels:
                (lake.root / r).unlink()
        path.write_text(json.dumps(dict(m, landed_parts=parts, checksums=sums), ensure_ascii=False), encoding="utf-8")
        n += 1
    return n


def _tables(path: Path) -> dict[str, list]:
    con = db.connect(path, read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'main' AND table_type = 'BASE TABLE'").fetchall()]
        return {t: sorted(map(repr, con.execute(f'SELECT * FROM "{t}"').fetchall())) for t in names}
    finally:
        con.close()


def test_a_lake_in_the_old_layout_builds_the_same_warehouse(city, tmp_path):
    new, old = Lake(tmp_path / "new"), Lake(tmp_path / "old")
    for lake in (new, old):
        shutil.copytree(city.root / "lake", lake.root, ignore=shutil.ignore_patterns("staged", ".lock"))
    assert _to_old_layout(old, keep_county=COUNTIES[0][0]) >= 10
    rels = [p.relative_to(old.root / "landed").parts for p in (old.root / "landed").rglob("*.parquet")]
    assert {len(r) for r in rels} == {3, 4}  # both layouts in one lake: <ds>/month=…/part, <ds>/county=…/month=…/part
    assert old.verify(full=True) == []  # the manifests' checksums hold for the rewritten parts
    got = {}
    for name, lake in (("new", new), ("old", old)):
        build(lake, tmp_path / f"{name}.duckdb", city.settings, version="v", built_at=BUILT_AT, rebuild=True)
        got[name] = _tables(tmp_path / f"{name}.duckdb")
    assert len(got["new"]) >= 25
    assert got["old"].keys() == got["new"].keys()
    # dq_county_freshness splits a dataset's landed rows by the county= partition of their parts: a part of the old
    # layout has none, and its file counts for a county as many rows as the county's current records from it (the
    # rest for the city only). Everything else — the city's figures included — is the same.
    assert [t for t in got["new"] if t != "dq_county_freshness" and got["old"][t] != got["new"][t]] == []
    fresh = {}
    for name in ("new", "old"):
        con = db.connect(tmp_path / f"{name}.duckdb", read_only=True)
        try:
            fresh[name] = (con.execute("SELECT dataset, county_code, records, max_updated_at, future_rows, quarantined "
                                       "FROM dq_county_freshness WHERE records > 0 OR quarantined > 0 "
                                       "ORDER BY ALL").fetchall(),
                           con.execute("SELECT dataset, sum(landed_rows) FROM dq_county_freshness GROUP BY ALL "
                                       "ORDER BY ALL").fetchall())
        finally:
            con.close()
    assert fresh["old"] == fresh["new"] and fresh["new"][0]


def test_a_county_deployments_lake_has_its_own_county_only(tmp_path):
    """In a county deployment the rows that carry no code (activity: an account) land under the deployment's own
    county (Lake.home_county), so its lake has one county= folder per dataset, none `unknown`."""
    from support.county import MiniCounty

    from core.config import Settings
    from etl.pipeline import run

    c = MiniCounty()
    g = c.grid(c.village(c.township("文兴乡"), "文兴村"))
    c.active(c.account(g), 2024, 3, 5)
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="E1")
    c.write(tmp_path / "drop")
    settings = Settings().resolve(tmp_path)
    assert settings.deployment.level == "county"
    res = run(tmp_path / "drop", settings, warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "lake",
              load_time=BUILT_AT, log=lambda m: None)
    assert res.status == "ok", res.error
    lake = Lake(tmp_path / "lake")
    counties = {PART.fullmatch(rel)["county"] for m in lake.manifests() for rel in m["landed_parts"]}
    datasets = {PART.fullmatch(rel)["ds"] for m in lake.manifests() for rel in m["landed_parts"]}
    assert {"activity_log", "events", "accounts"} <= datasets
    assert counties == {settings.county.code}, counties


def test_runs_of_one_second_are_in_the_order_they_started(tmp_path):
    """started_at is to the second: two runs of one second are ordered by their start in ns (the latest run is
    the one whose failed files the 数据质量 page lists; a random run id decided it, and a build could name the
    other run's files), a record written before started_ns by its id."""
    lake = Lake(tmp_path / "lake")
    lake.runs_dir.mkdir(parents=True)
    for run_id, ns in (("20240601T090000-ffffff", 1), ("20240601T090000-000000", 2), ("20240601T085959-aaaaaa", 0)):
        started = "2024-06-01 08:59:59" if ns == 0 else "2024-06-01 09:00:00"
        (lake.runs_dir / f"{run_id}.json").write_text(json.dumps(
            {"run_id": run_id, "started_at": started, **({"started_ns": ns} if ns else {})}), encoding="utf-8")
    assert [r["run_id"] for r in lake.runs()] == ["20240601T085959-aaaaaa", "20240601T090000-ffffff",
                                                  "20240601T090000-000000"]


def test_the_quality_page_lists_runs_of_one_second_latest_first(tmp_path):
    """quality/runs (the 数据质量 page's run list) in the order the runs started, newest first — also for runs of
    one second (started_at is to the second; etl_run holds them in lake.runs() order)."""
    from core.config import Settings
    from warehouse import build, metrics

    lake = Lake(tmp_path / "lake")
    lake.runs_dir.mkdir(parents=True)
    for run_id, ns in (("20240601T090000-ffffff", 1), ("20240601T090000-000000", 2), ("20240601T085959-aaaaaa", 0)):
        started = "2024-06-01 08:59:59" if ns == 0 else "2024-06-01 09:00:00"
        (lake.runs_dir / f"{run_id}.json").write_text(json.dumps(
            {"run_id": run_id, "started_at": started, "status": "ok", **({"started_ns": ns} if ns else {})}),
            encoding="utf-8")
    con = db.connect(None, read_only=False)
    build._etl_tables(con, lake, None, Settings(), dt.datetime(2024, 6, 1, 10), "v")
    runs = metrics.query(con, "quality/runs", metrics.COUNTY, limit=10)
    assert list(runs["run_id"]) == ["20240601T090000-000000", "20240601T090000-ffffff", "20240601T085959-aaaaaa"]

"""The lake's layout (etl/lake.py): landed parts under landed/<dataset>/county=<区划代码>/month=YYYY-MM/, a row's
county the first 6 digits of its own code (county=unknown for the rows that carry none), and a lake landed before
the county level (landed/<dataset>/month=YYYY-MM/) still read as it is — alone or mixed with new parts — into the
same warehouse. Reuses the session's city (tests/support/city.py): no ETL run of its own, two small builds."""
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
from etl.lake import UNKNOWN_COUNTY, Lake, write_parquet
from warehouse import db
from warehouse.build import build

PART = re.compile(r"landed/(?P<ds>\w+)/county=(?P<county>\w+)/month=(?P<month>\d{4}-\d{2})/part-[0-9a-f]{16}\.parquet")
BUILT_AT = dt.datetime(2024, 4, 1, 8)


def test_a_city_lake_lands_rows_by_county_and_month(city):
    lake = Lake(city.root / "lake")
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
            if ds.county_col is None:
                assert county == UNKNOWN_COUNTY, rel
            else:
                assert {v[:6] for v in t.column(ds.county_col).to_pylist()} == {county}, rel
    codes = {c for c, _ in COUNTIES}
    assert {"org_units", "accounts", "activity_log", "events"} <= seen.keys()  # (the small city has no event flow)
    for name in seen:
        assert seen[name] == ({UNKNOWN_COUNTY} if DATASETS[name].county_col is None else codes), name


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
    assert [t for t in got["new"] if got["old"][t] != got["new"][t]] == []


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

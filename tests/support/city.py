"""A small city (地市) of three hand-built counties in one lake, for the tests of the city deployment.

    city = build_city(tmp_path)            # → CityBuild: root, wh (warehouse dir), settings (level = "city"), counties
    alone = build_county_alone(tmp_path / "c1", 1)   # county 1's own deliveries alone, as a county deployment

Each county is a MiniCounty (tests/support/county.py) of the sample county's shape — a split 乡镇 and a plain one,
five grids, five grid workers, offices, events, key-person reports, collection statistics, in January and March
2024 — with its own 区划代码, name and record ids, and figures that differ by county (COUNTY_ACTIVE_DAYS, the events
closed, the reports signed), so rankings and comparisons have something to show. Counties 0 and 1 both have a
文昌镇 (split by configuration in both) and offices of the same names: a row that leaks from one into the other
shows. Files are named `{dataset}_20240101_c{code}.json`: the same names in the city's drop and in a county's own.

Hand-counted figures of March 2024 (the bulletin's month; see EXPECTED_MARCH):
- 账号活跃度 (grid workers active on ≥ 20 days): county i's five workers have COUNTY_ACTIVE_DAYS[i] days.
- 事件: five events a month per county (one per grid), the first `closed[i]` of them closed two days later.
- 签收 of the five 流动人口 reports: the first `signed[i]` signed within five hours.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from core.config import City, County, Deployment, Settings
from support.county import SAMPLE_LOAD_TIME, MiniCounty

COUNTIES = (("510799", "示例县"), ("510798", "东岭县"), ("510797", "西河县"))
TOWNSHIPS = (("文昌镇", "宏仁乡"), ("文昌镇", "东岭镇"), ("西河镇", "石桥乡"))
COUNTY_ACTIVE_DAYS = ((22, 20, 5, 25, 0), (22, 5, 5, 0, 0), (25, 24, 23, 21, 20))
CLOSED = (3, 1, 5)  # events of the month closed, of five
SIGNED = (3, 5, 0)  # 流动人口 reports signed within five hours, of five
CITY = ("示例市", "510700")

# March 2024, per county: grid-worker accounts / active, events reported / closed, 流动人口 sign-offs signed of 5
EXPECTED_MARCH = {code: {"accounts": 5, "active": sum(d >= 20 for d in COUNTY_ACTIVE_DAYS[i]),
                         "events_reported": 5, "events_closed": CLOSED[i]}
                  for i, (code, _) in enumerate(COUNTIES)}


def city_county(i: int) -> MiniCounty:
    code, name = COUNTIES[i]
    c = MiniCounty(code=code, name=name, id_prefix=f"C{i}")
    t1, t2 = TOWNSHIPS[i]
    wc, hr = c.township(t1), c.township(t2)
    box = lambda x, y, d=0.05: json.dumps({"type": "Polygon", "coordinates": [[  # noqa: E731
        [x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]})
    for row in c.rows["org_units"]:
        for k, code9 in enumerate((wc, hr)):
            if row["unit_code"] == code9:
                x = 105.10 + 0.3 * i + 0.1 * k
                row.update(boundary=box(x, 31.55, 0.1), center_lon=x + 0.05, center_lat=31.60, coord_sys="WGS84")
    s1 = c.community(wc, f"{t1[:2]}一社区")
    v1 = c.village(wc, f"{t1[:2]}一村")
    v2 = c.village(hr, f"{t2[:2]}村")
    grids = [c.grid(s1), c.grid(s1), c.grid(v1), c.grid(v2), c.grid(v2)]
    accts = [c.account(g, person_name=n, phone=f"13{i}1234567{k}") for k, (g, n) in
             enumerate(zip(grids, ["张三丰", "李四光", "王五常", "赵六合", "钱七星"]))]
    police_name = f"{t2[:2]}派出所"
    police = c.office(hr, "派出所", police_name)
    c.office(hr, "司法所", f"{t2[:2]}司法所")
    c.office(wc, "派出所", f"{t1[:2]}派出所")
    for month in (1, 3):
        for a, days in zip(accts, COUNTY_ACTIVE_DAYS[i]):
            if days:
                c.active(a, 2024, month, days)
        c.active(police, 2024, month, 21, op_type="签收")
        for k, g in enumerate(grids):
            rep = dt.datetime(2024, month, 3 + k, 9)
            c.event(g, rep, closed_at=rep + dt.timedelta(days=2) if k < CLOSED[i] else None,
                    category=["矛盾纠纷", "治安隐患", "安全隐患", "环境卫生", "民生服务"][k],
                    summary=f"居民反映问题, 联系电话1390000000{k}", supervision="红牌" if k == 1 else "普通")
            c.report(grids[3], "流动人口", rep, police=police_name,
                     police_signed_at=rep + dt.timedelta(hours=5) if k < SIGNED[i] else None)
        c.report(grids[4], "严重精神障碍患者", dt.datetime(2024, month, 10), police=police_name,
                 police_signed_at=dt.datetime(2024, month, 11), health=f"{t2[:2]}卫生院")
        c.report(grids[0], "刑满释放人员", dt.datetime(2024, month, 12), justice=f"{t1[:2]}司法所")
        c.report(grids[2], "社区矫正人员", dt.datetime(2024, month, 12), justice=f"{t1[:2]}司法所",
                 justice_signed_at=dt.datetime(2024, month, 13))
        for g in grids:
            c.collection(g, dt.date(2024, month, 28), 300 + month * 10 + 20 * i)
    return c


def city_settings(root: Path) -> Settings:
    return Settings(deployment=Deployment(level="city"), city=City(name=CITY[0], code=CITY[1])).resolve(root)


def county_settings(root: Path, i: int) -> Settings:
    """County i deployed on its own (a county deployment named after it)."""
    code, name = COUNTIES[i]
    return Settings(county=County(name=name, code=code)).resolve(root)


@dataclass
class CityBuild:
    root: Path
    wh: Path
    settings: Settings
    counties: tuple[tuple[str, str], ...] = COUNTIES

    def version(self) -> Path:
        from warehouse import db

        return db.current_version(self.wh)

    def app_config(self, root: Path) -> Path:
        """A config.toml under `root` for the app over this city's published warehouse (a city deployment, its
        data and lake under `root`, no demo): what a test points GRIDWATCH's config variable or a server at."""
        cfg = root / "config.toml"
        cfg.write_text(f'[paths]\ndata_dir = "{root}"\ndrop_dir = "{root}/drop"\nlake_dir = "{root}/lake"\n'
                       f'warehouse_dir = "{self.wh}"\n[demo]\nauto = false\n[deployment]\nlevel = "city"\n'
                       '[city]\nname = "示例市"\ncode = "510700"\n', encoding="utf-8")
        return cfg


def _run(root: Path, settings: Settings) -> Path:
    from etl.pipeline import run

    res = run(root / "drop", settings, warehouse_dir=root / "wh", lake_dir=root / "lake",
              load_time=SAMPLE_LOAD_TIME, log=lambda m: None)
    assert res.status == "ok", res.error
    return root / "wh"


def build_city(root: Path) -> CityBuild:
    """The three counties' deliveries in one drop, loaded by the real ETL as a city deployment."""
    for i, (code, _) in enumerate(COUNTIES):
        city_county(i).write(root / "drop", suffix=f"_c{code}")
    s = city_settings(root)
    return CityBuild(root, _run(root, s), s)


def build_county_alone(root: Path, i: int) -> Path:
    """County i's deliveries alone (the same files), loaded as a county deployment: the warehouse directory."""
    city_county(i).write(root / "drop", suffix=f"_c{COUNTIES[i][0]}")
    return _run(root, county_settings(root, i))

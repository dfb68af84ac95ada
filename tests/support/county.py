"""A tiny county built by hand, written as real feed files and loaded through the real ETL.

Tests describe exactly the units, accounts, activity, events and reports they need, so every figure and every
bulletin group is known in advance:

    c = MiniCounty()
    wc = c.township("文昌镇")                       # split in configuration: 文昌镇四个社区 / 文昌镇农村网格
    g = c.grid(c.community(wc, "一社区"))            # a 城镇网格 in a 社区
    a = c.account(g)                                  # its 网格员
    c.active(a, 2026, 3, days=20)                     # operations on 20 distinct days of March
    wh = c.build(tmp_path)                            # → published warehouse directory

Files are written as json (English keys) unless a test asks for another format with `write(..., fmt=…)`.
"""
from __future__ import annotations

import calendar
import csv
import datetime as dt
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings
from core.spec import DATASETS

COUNTY = "510799"


def ts(v: dt.datetime | dt.date | str | None) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return v.strftime("%Y-%m-%d")


@dataclass
class MiniCounty:
    updated_at: str = "2024-01-01 08:00:00"
    rows: dict[str, list[dict]] = field(default_factory=lambda: {d: [] for d in DATASETS})
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    _child: dict[str, int] = field(default_factory=dict)
    # another county of a city (tests/support/city.py): its 6-digit code, name, and a prefix of its record ids
    code: str = COUNTY
    name: str = "示例县"
    id_prefix: str = ""

    def __post_init__(self):
        self.rows["org_units"].append({"unit_code": self.code, "unit_name": self.name, "level": "县",
                                       "updated_at": self.updated_at})

    def _next_code(self, parent: str, start: int = 1) -> str:
        n = self._child.get(parent, start - 1) + 1
        self._child[parent] = n
        return f"{parent}{n:03d}"

    # ------------------------------------------------------------------ units
    def township(self, name: str, kind: str | None = None) -> str:
        code = self._next_code(self.code)
        kind = kind or ("开发区" if name.endswith("区") else name[-1])
        self.rows["org_units"].append({"unit_code": code, "unit_name": name, "level": "乡镇", "parent_code": self.code,
                                       "unit_kind": kind, "updated_at": self.updated_at})
        return code

    def community(self, township: str, name: str, level: str = "社区") -> str:
        key = f"{township}:{level}"
        n = self._child.get(key, 0 if level == "社区" else 199) + 1
        self._child[key] = n
        code = f"{township}{n:03d}"
        self.rows["org_units"].append({"unit_code": code, "unit_name": name, "level": level,
                                       "parent_code": township, "updated_at": self.updated_at})
        return code

    def village(self, township: str, name: str) -> str:
        return self.community(township, name, "村")

    def grid(self, community: str, households: int = 400, name: str | None = None) -> str:
        code = self._next_code(community)
        kind = "城镇网格" if int(community[-3:]) < 200 else "农村网格"
        self.rows["org_units"].append({"unit_code": code, "unit_name": name or f"第{code[-3:]}网格", "level": "网格",
                                       "parent_code": community, "unit_kind": kind, "households": households,
                                       "population": households * 3, "updated_at": self.updated_at})
        return code

    # ------------------------------------------------------------------ accounts
    def account(self, unit: str, role: str = "网格员", *, account_id: str | None = None, dept_name: str | None = None,
                status: str = "启用", opened_at: str | None = "2023-01-01 00:00:00", closed_at: str | None = None,
                person_name: str = "张三丰", phone: str = "13812345678") -> str:
        account_id = account_id or f"{self.id_prefix}U{next(self._seq):05d}"
        self.rows["accounts"].append({"account_id": account_id, "person_name": person_name, "phone": phone,
                                      "unit_code": unit, "role": role, "dept_name": dept_name, "status": status,
                                      "opened_at": opened_at, "closed_at": closed_at,
                                      "updated_at": self.updated_at})
        return account_id

    def office(self, township: str, kind: str, name: str) -> str:
        """A 派出所/司法所/卫生院 account serving a 乡镇."""
        return self.account(township, kind, dept_name=name)

    # ------------------------------------------------------------------ activity
    def op(self, account_id: str, when: dt.datetime, op_type: str = "登录", **extra) -> None:
        self.rows["activity_log"].append({"log_id": f"{self.id_prefix}L{next(self._seq):08d}", "account_id": account_id,
                                          "op_time": ts(when), "op_type": op_type, **extra})

    def active(self, account_id: str, year: int, month: int, days: int, op_type: str = "登录") -> None:
        """Operations on the first `days` days of the month (one op a day)."""
        last = calendar.monthrange(year, month)[1]
        assert days <= last
        for d in range(1, days + 1):
            self.op(account_id, dt.datetime(year, month, d, 9, 0), op_type)

    # ------------------------------------------------------------------ events
    def event(self, grid: str, reported_at: dt.datetime, *, closed_at: dt.datetime | None = None,
              deadline: dt.datetime | None = None, category: str = "矛盾纠纷", status: str | None = None,
              supervision: str | None = None, summary: str = "邻里纠纷", event_id: str | None = None,
              updated_at: dt.datetime | None = None, **extra) -> str:
        event_id = event_id or f"{self.id_prefix}E{next(self._seq):07d}"
        status = status or ("已办结" if closed_at else "办理中")
        deadline = deadline or (reported_at + dt.timedelta(days=7))
        self.rows["events"].append({"event_id": event_id, "reported_at": ts(reported_at), "grid_code": grid,
                                    "category": category, "source": "网格员巡查", "summary": summary,
                                    "status": status, "deadline": ts(deadline), "closed_at": ts(closed_at),
                                    "supervision": supervision,
                                    "updated_at": ts(updated_at or closed_at or reported_at), **extra})
        return event_id

    # ------------------------------------------------------------------ key persons
    def report(self, grid: str, category: str, reported_at: dt.datetime, *, police: str | None = None,
               police_signed_at: dt.datetime | None = None, justice: str | None = None,
               justice_signed_at: dt.datetime | None = None, health: str | None = None,
               health_signed_at: dt.datetime | None = None, report_id: str | None = None,
               id_number: str = "510723199001011232", person_name: str = "李四光") -> str:
        report_id = report_id or f"{self.id_prefix}K{next(self._seq):07d}"
        signed = [t for t in (police_signed_at, justice_signed_at, health_signed_at) if t]
        self.rows["key_person_reports"].append({
            "report_id": report_id, "category": category, "id_number": id_number, "person_name": person_name,
            "grid_code": grid, "reported_at": ts(reported_at), "police_station": police,
            "police_signed_at": ts(police_signed_at), "justice_office": justice,
            "justice_signed_at": ts(justice_signed_at), "health_center": health,
            "health_signed_at": ts(health_signed_at), "updated_at": ts(max(signed + [reported_at]))})
        return report_id

    def collection(self, grid: str, day: dt.date, households_collected: int, **extra) -> None:
        self.rows["collection_stats"].append({"grid_code": grid, "stat_date": ts(day),
                                              "households_collected": households_collected, **extra})

    # ------------------------------------------------------------------ output
    def write(self, drop: Path, date: str = "20240101", fmt: str = "json", suffix: str = "") -> list[Path]:
        """Write every non-empty dataset as `{dataset}_{date}{suffix}.{fmt}` (json, jsonl or csv with Chinese headers)."""
        drop.mkdir(parents=True, exist_ok=True)
        out = []
        for ds, rows in self.rows.items():
            if not rows:
                continue
            path = drop / f"{ds}_{date}{suffix}.{fmt}"
            if fmt == "json":
                path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
            elif fmt == "jsonl":
                path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            elif fmt == "csv":
                spec = DATASETS[ds]
                with open(path, "w", encoding="utf-8", newline="") as fh:
                    w = csv.writer(fh)
                    w.writerow([c.header for c in spec.columns])
                    for r in rows:
                        w.writerow(["" if r.get(c.name) is None else r.get(c.name) for c in spec.columns])
            else:
                raise ValueError(fmt)
            out.append(path)
        return out

    def build(self, root: Path, settings: Settings | None = None, load_time: dt.datetime | None = None) -> Path:
        """Write the files into root/drop, run the real ETL, return the warehouse directory (root/wh)."""
        from etl.pipeline import run

        self.write(root / "drop")
        s = settings or Settings().resolve(root)
        res = run(root / "drop", s, warehouse_dir=root / "wh", lake_dir=root / "lake",
                  load_time=load_time or dt.datetime(2030, 1, 1), log=lambda m: None)
        assert res.status == "ok", res.error
        return root / "wh"


def sample_county() -> MiniCounty:
    """A small but complete county for the app tests: a split 乡镇 and a plain one, boundaries, accounts that are
    active, inactive and never used, offices that sign and that do not, events open, closed, late and carded, key
    persons in every category, collection statistics; data in January and March 2024, none in February."""
    c = MiniCounty()
    wc = c.township("文昌镇")
    hr = c.township("宏仁乡")
    box = lambda x, y, d=0.05: json.dumps({"type": "Polygon", "coordinates": [[  # noqa: E731
        [x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]})
    for row in c.rows["org_units"]:
        if row["unit_code"] == wc:
            row.update(boundary=box(105.10, 31.55, 0.1), center_lon=105.15, center_lat=31.60, coord_sys="WGS84")
        if row["unit_code"] == hr:
            row.update(boundary=box(105.20, 31.55, 0.1), center_lon=105.25, center_lat=31.60, coord_sys="WGS84")
    s1 = c.community(wc, "文昌一社区")
    v1 = c.village(wc, "文昌一村")
    v2 = c.village(hr, "宏仁村")
    grids = [c.grid(s1), c.grid(s1), c.grid(v1), c.grid(v2), c.grid(v2)]
    accts = [c.account(g, person_name=n, phone=f"1381234567{i}") for i, (g, n) in
             enumerate(zip(grids, ["张三丰", "李四光", "王五常", "赵六合", "钱七星"]))]
    police = c.office(hr, "派出所", "宏仁派出所")
    c.office(hr, "司法所", "宏仁司法所")
    c.office(wc, "派出所", "文昌派出所")
    for month in (1, 3):
        for a, days in zip(accts, (22, 20, 5, 25, 0)):
            if days:
                c.active(a, 2024, month, days)
        c.active(police, 2024, month, 21, op_type="签收")
        for i, g in enumerate(grids):
            rep = dt.datetime(2024, month, 3 + i, 9)
            c.event(g, rep, closed_at=rep + dt.timedelta(days=2) if i % 2 == 0 else None,
                    category=["矛盾纠纷", "治安隐患", "安全隐患", "环境卫生", "民生服务"][i],
                    summary=f"居民反映问题, 联系电话1390000000{i}", supervision="红牌" if i == 1 else "普通")
            c.report(grids[3], "流动人口", rep, police="宏仁派出所",
                     police_signed_at=rep + dt.timedelta(hours=5) if i < 3 else None)
        c.report(grids[4], "严重精神障碍患者", dt.datetime(2024, month, 10), police="宏仁派出所",
                 police_signed_at=dt.datetime(2024, month, 11), health="宏仁卫生院")
        c.report(grids[0], "刑满释放人员", dt.datetime(2024, month, 12), justice="文昌司法所")
        c.report(grids[2], "社区矫正人员", dt.datetime(2024, month, 12), justice="文昌司法所",
                 justice_signed_at=dt.datetime(2024, month, 13))
        c.report(grids[3], "吸毒人员", dt.datetime(2024, month, 14), police="宏仁派出所")
        for g in grids:
            c.collection(g, dt.date(2024, month, 28), 300 + month * 10)
    return c


SAMPLE_LOAD_TIME = dt.datetime(2024, 4, 1)  # the load time the tests build the sample county at


def build_sample(root: Path, settings: Settings | None = None) -> Path:
    """The sample county written into root/drop and loaded by the real ETL at SAMPLE_LOAD_TIME; the warehouse dir."""
    return sample_county().build(root, settings=settings, load_time=SAMPLE_LOAD_TIME)

"""The county's units (townships → communities/villages → grids, boundaries via demo.geo) and its accounts.

`UnitsMixin` of the generator (demo.generator.Generator): builds `units`, `acc` and the lookups of who works where
when (worker_at, open_at, comm_actor, county_actor) that the events and reports use.
"""
from __future__ import annotations

import math
import random

import numpy as np

from core.spec import DEPT_ROLES
from demo import geo as demo_geo
from demo.constants import (
    ACCOUNT_PREFIX,
    ACTIVITY,
    COUNTY_CODE,
    DAY,
    HOUR,
    INF,
    NEAR_PERFECT,
    PERFECT,
    PHONE_PREFIX,
    SEAT,
    SEAT_COMMUNITIES,
    TOWNSHIPS,
    VILLAGE_HEAD,
    VILLAGE_TAIL,
    ZERO_MONTHS,
    ZONE,
    ZONE_COMMUNITIES,
)
from demo.helpers import _fmt, _person, _sec, _short
from demo.writers import county_name
from etl.coords import wgs84_to_gcj02


class UnitsMixin:
    """The county and its accounts."""

    def build_units(self):
        R, rng = self.R("units"), self.rng("units")
        heads = [a + b for a in VILLAGE_HEAD for b in VILLAGE_TAIL if a != b]
        R.shuffle(heads)
        taken = {_short(t) for t in TOWNSHIPS}
        names = iter(h for h in heads if h not in taken)
        plan = []
        for i, town in enumerate(TOWNSHIPS):
            if town == SEAT:
                p = {"urban_km": 2.4, "compass": True, "comms": list(SEAT_COMMUNITIES),
                     "comm_grids": [R.randint(25, 31) for _ in range(4)], "n_vill": 6}
            elif town == ZONE:
                p = {"urban_km": 2.0, "comms": list(ZONE_COMMUNITIES),
                     "comm_grids": [R.randint(8, 12) for _ in range(4)], "n_vill": 4}
            else:
                p = {"urban_km": R.uniform(0.8, 1.2), "comms": [_short(town) + "社区"],
                     "comm_grids": [R.randint(3, 7)], "n_vill": R.randint(5, 12)}
            p["vills"] = [next(names) + "村" for _ in range(p["n_vill"])]
            p["vill_grids"] = [R.choice((2, 3, 3, 3, 4)) for _ in range(p["n_vill"])]
            plan.append(p)
        total = sum(sum(p["comm_grids"]) + sum(p["vill_grids"]) for p in plan)
        while not 1060 <= total <= 1150:  # keep the county at about 1,100 grids
            p = plan[R.randrange(2, len(plan))]
            j = R.randrange(len(p["vill_grids"]))
            step = 1 if total < 1060 else -1
            if 1 <= p["vill_grids"][j] + step <= 5:
                p["vill_grids"][j] += step
                total += step
        geo = demo_geo.layout(rng, plan, demo_geo.county_offset_km(self.county_index))

        self.units: list[dict] = []
        self.grids: list[int] = []  # unit indexes of grids
        self.town_units: list[int] = []

        def add(code, name, level, parent, kind, geom, town, center=None):
            if center is None:
                p = geom.point_on_surface()
                center = (p.x, p.y)
            glon, glat = wgs84_to_gcj02(center[0], center[1])
            u = {"code": code, "name": name, "level": level, "parent": parent, "kind": kind, "geom": geom,
                 "town": town, "lon": round(float(glon), 6), "lat": round(float(glat), 6), "hh": 0, "pop": 0,
                 "sigma": math.sqrt(geom.area) / 4}
            self.units.append(u)
            return len(self.units) - 1

        # its own name in a demo city (county_index > 0: 东岭县, …); the code is rekeyed when written
        add(COUNTY_CODE, county_name(self.county_index), "县", None, None, geo["county"], -1, geo["towns"][0]["seat"])
        special = {("文昌镇", "城东社区", 3): "示例县中学专属网格", ("文昌镇", "城北社区", 2): "文昌小学专属网格",
                   ("文昌镇", "城西社区", 4): "城西农贸市场专属网格", ("经开区", "工业园社区", 1): "工业园区企业专属网格",
                   ("玛瑙镇", "玛瑙社区", 1): "玛瑙场镇农贸市场专属网格", ("许州镇", "许州社区", 2): "许州中心小学专属网格"}
        for t, (town, p, g) in enumerate(zip(TOWNSHIPS, plan, geo["towns"])):
            tcode = f"{COUNTY_CODE}{t + 1:03d}"
            kind = "开发区" if town == ZONE else town[-1]
            tu = add(tcode, town, "乡镇", COUNTY_CODE, kind, g["geom"], t, g["seat"])
            self.town_units.append(tu)
            for j, (nm, c) in enumerate(zip(p["comms"] + p["vills"], g["comms"] + g["vills"])):
                is_comm = j < len(p["comms"])
                ccode = f"{tcode}{j + 1:03d}" if is_comm else f"{tcode}{200 + j - len(p['comms']) + 1:03d}"
                cu = add(ccode, nm, "社区" if is_comm else "村", tcode, None, c["geom"], t)
                for s, gg in enumerate(c["grids"]):
                    gname = f"{nm}第{s + 1}网格"
                    gkind = "城镇网格" if is_comm else "农村网格"
                    hh = R.randint(300, 500)
                    sp = special.get((town, nm, s + 1))
                    if sp:
                        gname, gkind, hh = sp, "专属网格", R.randint(20, 120)
                    elif town == ZONE and not is_comm and s == len(c["grids"]) - 1 and j < len(p["comms"]) + 3:
                        gkind, hh = "待开发网格", R.randint(40, 160)
                    gu = add(f"{ccode}{s + 1:03d}", gname, "网格", ccode, gkind, gg, t)
                    self.units[gu].update(hh=hh, pop=int(hh * R.uniform(2.5, 3.2)), comm=cu)
                    self.grids.append(gu)
        by_code = {u["code"]: i for i, u in enumerate(self.units)}
        self.by_code = by_code
        for u in reversed(self.units):  # children come after parents: sum upwards
            if u["parent"]:
                par = self.units[by_code[u["parent"]]]
                par["hh"] += u["hh"]
                par["pop"] += u["pop"]
        self.grid_town = np.array([self.units[g]["town"] for g in self.grids])
        self.town_grids = np.bincount(self.grid_town, minlength=len(TOWNSHIPS))
        # months from which a 乡镇 does nothing at all
        self.zero_from = np.full(len(TOWNSHIPS), self.M, dtype=int)
        for town, n in ZERO_MONTHS.items():
            self.zero_from[TOWNSHIPS.index(town)] = max(self.M - n, 1) if self.M >= 2 else 0
        self.zero_from_sec = [float(self.mstart[z]) if z < self.M else INF for z in self.zero_from]
        self.activity_mean = np.array([ACTIVITY[t] for t in TOWNSHIPS]) + self.rng("act").uniform(-.02, .02, 32)
        self.activity_mean[[TOWNSHIPS.index(t) for t in PERFECT]] = 1.0

    # ------------------------------------------------------------------------------------------- accounts -----
    def build_accounts(self):
        R = self.R("accounts")
        phones: set[str] = set()

        def phone():
            while True:
                p = R.choice(PHONE_PREFIX) + f"{R.randrange(10 ** 8):08d}"
                if p not in phones:
                    phones.add(p)
                    return p

        seq = {k: 0 for k in ACCOUNT_PREFIX}
        self.acc: list[dict] = []
        pre_lo, pre_hi = _sec(2019, 3, 1), self.start - 20 * DAY

        def in_hours(t0, t1):
            day = R.randint(int(t0) // DAY, max(int(t0) // DAY, int(t1) // DAY - 1))
            return day * DAY + R.randint(8 * HOUR + 1800, 17 * HOUR + 1800)

        def new(role, unit, town, opened, grid=-1, dept=None, closed=None):
            seq[role] += 1
            a = {"id": f"{ACCOUNT_PREFIX[role]}{seq[role]:05d}", "name": _person(R), "phone": phone(),
                 "unit": unit, "role": role, "dept": dept, "town": town, "grid": grid, "opened": opened,
                 "closed": closed, "changes": []}
            self.acc.append(a)
            return a

        calm = set(PERFECT) | set(NEAR_PERFECT) | set(ZERO_MONTHS)
        movable = [g for g in self.grids if TOWNSHIPS[self.units[g]["town"]] not in calm]
        picks = R.sample(movable, 28)
        vacant, swapped, history = set(picks[:8]), set(picks[8:20]), set(picks[20:])
        lo, hi = self.start + 2 * DAY, self.end - 2 * DAY

        for g in self.grids:
            u = self.units[g]
            if g in history:  # an earlier worker of this grid, closed before the period
                o = in_hours(pre_lo, pre_hi - 400 * DAY)
                new("网格员", u["code"], u["town"], o, g, closed=in_hours(o + 200 * DAY, pre_hi))
            if g in vacant:
                new("网格员", u["code"], u["town"], in_hours(lo, hi), g)
            elif g in swapped:
                t = in_hours(lo, hi)
                new("网格员", u["code"], u["town"], in_hours(pre_lo, pre_hi), g, closed=t)
                new("网格员", u["code"], u["town"], self.workhours(t + R.randint(600, 3 * DAY), R), g)
            else:
                new("网格员", u["code"], u["town"], in_hours(pre_lo, pre_hi), g)
        comms = [i for i, u in enumerate(self.units) if u["level"] in ("社区", "村")]
        first_grid = {}
        for g in self.grids:
            first_grid.setdefault(self.units[g]["parent"], g)
        leaders = [c for c in comms if self.units[c]["level"] == "社区" or R.random() < 0.06]
        self.comm_admin: dict[str, int] = {}
        self.leader: dict[str, int] = {}
        for c in leaders:
            u = self.units[c]
            g = first_grid[u["code"]]
            new("网格长", self.units[g]["code"], u["town"], in_hours(pre_lo, pre_hi), g)
            self.leader[u["code"]] = len(self.acc) - 1
        for c in comms:
            u = self.units[c]
            if u["level"] == "社区":
                new("社区管理员", u["code"], u["town"], in_hours(pre_lo, pre_hi))
                self.comm_admin[u["code"]] = len(self.acc) - 1
        self.town_admin = []
        for t, tu in enumerate(self.town_units):
            new("乡镇管理员", self.units[tu]["code"], t, in_hours(pre_lo, pre_hi))
            self.town_admin.append(len(self.acc) - 1)
        self.county_admins = []
        for _ in range(3):
            new("县级管理员", COUNTY_CODE, -1, in_hours(pre_lo, pre_hi))
            self.county_admins.append(len(self.acc) - 1)
        new("县级管理员", COUNTY_CODE, -1, in_hours(lo, hi))
        self.county_admins.append(len(self.acc) - 1)
        self.office: dict[str, int] = {}
        for t, tu in enumerate(self.town_units):
            for role in DEPT_ROLES:
                dept = _short(TOWNSHIPS[t]) + role
                new(role, self.units[tu]["code"], t, in_hours(pre_lo, pre_hi), dept=dept)
                self.office[dept] = len(self.acc) - 1
        # closures (网格长 not replaced) and phone changes
        ok = [i for i, a in enumerate(self.acc) if a["closed"] is None and a["opened"] < self.start
              and TOWNSHIPS[a["town"]] not in calm and a["role"] in ("网格长", "网格员")]
        for i in R.sample([i for i in ok if self.acc[i]["role"] == "网格长"], 4):
            self.acc[i]["closed"] = in_hours(lo, hi)
        for i in R.sample([i for i in ok if self.acc[i]["closed"] is None], 10):
            self.acc[i]["changes"].append((in_hours(lo, hi), phone()))
        # versions: (time, snapshot)
        for a in self.acc:
            state = {"person_name": a["name"], "phone": a["phone"], "unit_code": a["unit"], "role": a["role"],
                     "dept_name": a["dept"], "status": "启用", "opened_at": _fmt(a["opened"]), "closed_at": None}
            vs = []
            upto = a["closed"] if a["closed"] is not None and a["closed"] < self.start else pre_hi
            t0 = a["opened"] if a["opened"] >= self.start or R.random() < 0.6 else in_hours(a["opened"], upto)
            vs.append((t0, dict(state)))
            for t, ph in a["changes"]:
                state["phone"] = ph
                vs.append((t, dict(state)))
            if a["closed"] is not None:
                state.update(status="停用", closed_at=_fmt(a["closed"]))
                vs.append((a["closed"], dict(state)))
            vs.sort(key=lambda v: v[0])
            for t, s in vs:
                s["account_id"] = a["id"]
                s["updated_at"] = _fmt(t)
            a["versions"] = vs
            a["open_day"] = a["opened"] // DAY + 1
            a["close_day"] = a["closed"] // DAY if a["closed"] is not None else 10 ** 9
        # who works each grid, by time
        self.workers: dict[int, list[int]] = {}
        for i, a in enumerate(self.acc):
            if a["role"] == "网格员":
                self.workers.setdefault(a["grid"], []).append(i)

    def worker_at(self, g: int, t: float) -> int | None:
        for i in self.workers.get(g, ()):
            a = self.acc[i]
            if a["opened"] <= t and (a["closed"] is None or t < a["closed"]) and t >= a["open_day"] * DAY:
                return i
        return None

    def open_at(self, i: int | None, t: float) -> bool:
        if i is None:
            return False
        a = self.acc[i]
        return a["opened"] <= t and (a["closed"] is None or t < a["closed"])

    def comm_actor(self, ccode: str, t: float) -> int:
        for i in (self.comm_admin.get(ccode), self.leader.get(ccode)):
            if self.open_at(i, t):
                return i
        return self.town_admin[int(ccode[6:9]) - 1]

    def county_actor(self, t: float, R: random.Random) -> int:
        c = [i for i in self.county_admins if self.open_at(i, t)]
        return R.choice(c)

    # ------------------------------------------------------------------------------------------- events -------

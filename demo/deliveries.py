"""Monthly deliveries: the rows each month's export holds, per dataset, handed to the mess injector and a writer.

`DeliveriesMixin` of the generator (demo.generator.Generator): the small datasets (units, accounts, events, flow,
reports), then collection_stats and activity_log month by month (vectorised); `write` injects the mess
(demo.mess.Table), rekeys for another county and writes the file(s) (demo.writers).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from core.spec import DATASETS, DEPT_ROLES, OP_TYPES, TERMINALS
from demo import geo as demo_geo
from demo.constants import (
    COUNTY_CODE,
    DAY,
    FORMAT_CYCLE,
    FORMAT_EXT,
    GAMING_SIGNALS,
    HOUR,
    KP_COLUMNS,
    NEAR_PERFECT,
    OP_WEIGHT,
    OPERATING_OFFICES,
    PERFECT,
    TOWNSHIPS,
)
from demo.helpers import _fmt, _fmt_date
from demo.mess import Table
from demo.writers import _rekey, _write_file
from etl.coords import wgs84_to_gcj02

LOGIN_ONLY, BUNCHED, NIGHT_BATCH, SAME_GPS, OUTSIDE_GRID = (GAMING_SIGNALS.index(s) for s in (
    "login_only", "bunched", "night_batch", "same_gps", "outside_grid"))


class DeliveriesMixin:
    """Monthly deliveries of every dataset."""

    def _monthly(self, items, full_first=False):
        """items: (key, versions [(time, snapshot)]) → per month the last snapshot of each key changed in it."""
        per = [[] for _ in range(self.M)]
        seen: dict = {}
        for key, versions in items:
            last = {}
            for t, snap in versions:
                m = self.month_of(t)
                if m < 0 and full_first:
                    m = 0
                if 0 <= m < self.M:
                    last[m] = snap
            for m in sorted(last):
                per[m].append(last[m])
            seen[key] = len(last)
        once = {k for k, n in seen.items() if n == 1}
        return per, once

    def deliver_small(self):
        R = self.R("deliver")
        # org_units: the full tree at the start (xlsx), a small update later (csv)
        R0 = self.R("org")
        rows = []
        for u in self.units:
            t = self.start + R0.randint(0, 2) * DAY + R0.randint(8 * HOUR, 18 * HOUR)
            rows.append(self._unit_row(u, t, R0))
        upd_month = max(self.M // 2, 1) if self.M >= 2 else 0
        changed = R0.sample(self.grids, 15)
        upd = []
        for g in changed:
            u = dict(self.units[g])
            u["hh"] = max(20, u["hh"] + R0.randint(-30, 45))
            u["pop"] = int(u["hh"] * R0.uniform(2.5, 3.2))
            t = float(self.mstart[upd_month]) + R0.randint(3, 20) * DAY + R0.randint(9 * HOUR, 17 * HOUR)
            upd.append(self._unit_row(u, t, R0))
        once = {r["unit_code"] for r in rows} - {r["unit_code"] for r in upd}
        self.keys = {"org_units": {r["unit_code"] for r in rows}}
        self.write("org_units", 0, "xlsx", rows, once, R)
        self.write("org_units", upd_month, "csv-gbk" if upd_month % 2 else "csv-utf8-bom", upd, once, R,
                   suffix="_update")
        # accounts
        per, once = self._monthly(((a["id"], a["versions"]) for a in self.acc), full_first=True)
        once -= {self.acc[i]["id"] for i in self.gaming}  # the gamers' accounts as they are: no role or time mess
        self.keys["accounts"] = {a["id"] for a in self.acc}
        for m in range(self.M):
            self.write("accounts", m, self.fmt("accounts", m), per[m], once, R)
        # events and their flow
        def ev_items():
            for e in self.events:
                yield e["id"], [(t, self._event_row(e, t, s)) for t, s in e["versions"]]
        per, once = self._monthly(ev_items())
        self.keys["events"] = {e["id"] for e in self.events if e["versions"]}
        flows = [[] for _ in range(self.M)]
        Rf = self.R("flow")
        nflow = 0
        for e in self.events:
            for i, (t, act, fr, to, who, note) in enumerate(e["steps"]):
                upd_t = _fmt(t + Rf.randint(1, 90)) if Rf.random() < 0.03 else None
                flows[self.month_of(t)].append({
                    "event_id": e["id"], "seq": i + 1, "action": act, "from_unit": fr, "to_unit": to,
                    "account_id": self.acc[who]["id"] if who is not None else None, "action_time": _fmt(t),
                    "note": note, "updated_at": upd_t})
                nflow += 1
        self.keys["event_flow"] = nflow
        silent = f"{COUNTY_CODE}{self.silent_town + 1:03d}"
        for m in range(self.M):
            # the silent 乡镇's events keep their report times (no future_time mess): its silence is exact
            keep = np.array([r["grid_code"].startswith(silent) for r in per[m]], dtype=bool)
            self.write("events", m, self.fmt("events", m), per[m], once, R, protect=keep)
            self.write("event_flow", m, self.fmt("event_flow", m), flows[m], None, R)
        # key-person reports
        def kp_items():
            for r in self.reports:
                yield r["id"], [(t, self._report_row(r, t, s)) for t, s in r["versions"]]
        per, once = self._monthly(kp_items())
        self.keys["key_person_reports"] = {r["id"] for r in self.reports}
        for m in range(self.M):
            self.write("key_person_reports", m, self.fmt("key_person_reports", m), per[m], once, R)

    def fmt(self, ds: str, m: int) -> str:
        cyc = FORMAT_CYCLE[ds]
        return cyc[m % len(cyc)]

    def _unit_row(self, u, t, R):
        return {"unit_code": u["code"], "unit_name": u["name"], "level": u["level"], "parent_code": u["parent"],
                "unit_kind": u["kind"], "households": u["hh"], "population": u["pop"], "center_lon": u["lon"],
                "center_lat": u["lat"], "boundary": demo_geo.geojson_gcj02(u["geom"]),
                "coord_sys": "GCJ02" if R.random() < 0.5 else None, "updated_at": _fmt(t)}

    def _event_row(self, e, t, s):
        return {"event_id": e["id"], "reported_at": _fmt(e["t0"]), "reporter_account": e["rep"],
                "grid_code": e["grid"], "category": e["cat"], "source": e["src"], "summary": e["summary"],
                "lon": e["lon"], "lat": e["lat"], "coord_sys": e["csys"], "handling_level": s["level"],
                "status": s["status"], "deadline": _fmt(e["deadline"]),
                "closed_at": _fmt(s["closed_at"]) if s["closed_at"] is not None else None,
                "satisfaction": s["sat"], "supervision": s["sup"], "updated_at": _fmt(t)}

    def _report_row(self, r, t, s):
        row = {"report_id": r["id"], "category": r["cat"], "id_number": r["idn"], "person_name": r["name"],
               "grid_code": r["grid"], "reporter_account": r["rep"], "reported_at": _fmt(r["t0"]),
               "police_station": None, "police_signed_at": None, "justice_office": None, "justice_signed_at": None,
               "health_center": None, "health_signed_at": None, "updated_at": _fmt(t)}
        for kind, dept in r["offices"].items():
            row[KP_COLUMNS[kind][0]] = dept
        row.update(s)
        return row

    # ---------------------------------------------------------------------------- collection_stats ----------
    def deliver_collection(self):
        rng, R = self.rng("collection"), self.R("collection-out")
        G, D = len(self.grids), len(self.days)
        town = self.grid_town
        hh = np.array([self.units[g]["hh"] for g in self.grids], dtype=float)
        behind = rng.random(G) < 0.1
        s0 = np.where(behind, rng.uniform(0.12, 0.4, G), rng.uniform(0.55, 0.92, G))
        gain = rng.uniform(0.03, 0.35, G) * self.activity_mean[town] ** 2 * (self.M / 14) ** 0.5
        final = np.minimum(s0 + np.where(behind, gain * 0.3, gain), 1.0)
        work = (~self.weekend[None, :]) * np.minimum(self.holiday, 1)[None, :] * np.ones((G, 1))
        work = work * rng.exponential(1.0, (G, D))
        zero_day = np.array([self.zero_from[t] for t in range(32)])[town]
        work[self.day_month[None, :] >= zero_day[:, None]] = 0
        # no collection while the grid has no worker
        for j, g in enumerate(self.grids):
            ws = self.workers.get(g, [])
            alive = np.zeros(D, bool)
            for i in ws:
                a = self.acc[i]
                alive |= (self.days >= a["open_day"]) & (self.days < a["close_day"])
            work[j, ~alive] = 0
        cum = np.cumsum(work, axis=1)
        denom = np.where(cum[:, -1] > 0, cum[:, -1], 1.0)
        frac = s0[:, None] + (final - s0)[:, None] * cum / denom[:, None]
        collected = np.floor(hh[:, None] * frac).astype(np.int64)
        r_p, r_f = rng.uniform(2.4, 3.1, G), rng.uniform(0.03, 0.15, G)
        r_h, r_r, kmax = rng.uniform(1.0, 1.15, G), rng.uniform(0.02, 0.12, G), rng.integers(1, 26, G)
        persons = np.floor(collected * r_p[:, None]).astype(np.int64)
        floating = np.floor(persons * r_f[:, None]).astype(np.int64)
        houses = np.floor(collected * r_h[:, None]).astype(np.int64)
        rentals = np.floor(houses * r_r[:, None]).astype(np.int64)
        places = np.floor(kmax[:, None] * frac).astype(np.int64)
        codes = [self.units[g]["code"] for g in self.grids]
        last = self.quiet_last.get("collection_stats", 10 ** 9)  # the feed goes quiet after this day
        self.keys["collection_stats"] = G * int((self.days <= last).sum())
        for m in range(self.M):
            self.progress(0.40 + 0.08 * m / self.M, f"正在写出基础信息采集统计（{m + 1}/{self.M}）")
            batch = R.random() < 0.4  # this export fills updated_at with the nightly batch time
            sel = np.nonzero((self.day_month == m) & (self.days <= last))[0]  # rows: day by day, grid by grid

            def column(values):
                return np.array(values[:, sel].T.ravel().tolist() + [None], dtype=object)[:-1]

            dates = [_fmt_date(int(self.days[d]) * DAY) for d in sel]
            upd = [_fmt(int(self.days[d] + 1) * DAY + 5400) if batch else None for d in sel]
            cols = {"grid_code": np.array(codes * len(sel), dtype=object),
                    "stat_date": np.repeat(np.array(dates, dtype=object), G),
                    "households_collected": column(collected), "persons": column(persons),
                    "floating": column(floating), "houses": column(houses), "rentals": column(rentals),
                    "key_places": column(places), "updated_at": np.repeat(np.array(upd, dtype=object), G)}
            self.write("collection_stats", m, self.fmt("collection_stats", m), cols, None, R)

    # ---------------------------------------------------------------------------- activity_log --------------
    def deliver_activity(self):
        A = len(self.acc)
        rng = self.rng("activity-params")
        role = [a["role"] for a in self.acc]
        town = np.array([a["town"] for a in self.acc])
        mean = np.where(town >= 0, self.activity_mean[np.maximum(town, 0)], 0.9)
        conc = 30.0
        d = rng.beta(mean * conc, (1 - np.minimum(mean, 0.999)) * conc + 1e-3)
        grid_roles = np.array([r in ("网格员", "网格长") for r in role])
        dept = np.array([r in DEPT_ROLES for r in role])
        d = np.where(np.array([r == "社区管理员" for r in role]), d * 0.85, d)
        d = np.where(np.array([r == "乡镇管理员" for r in role]), np.clip(0.6 + 0.4 * mean, 0, 0.97), d)
        d = np.where(np.array([r == "县级管理员" for r in role]), 0.93, d)
        perfect = np.array([a["town"] >= 0 and TOWNSHIPS[a["town"]] in PERFECT for a in self.acc]) & grid_roles
        near = np.array([a["town"] >= 0 and TOWNSHIPS[a["town"]] in NEAR_PERFECT for a in self.acc]) & grid_roles
        d = np.where(perfect, 1.0, d)
        d = np.where(near, rng.uniform(0.9, 1.0, A), d)
        operating = np.array([a["dept"] in OPERATING_OFFICES for a in self.acc])
        d = np.where(dept, np.where(operating, 0.97, 0.0), d)
        lam = np.where(grid_roles, rng.uniform(7.5, 13.5, A), np.where(dept, 1.2, rng.uniform(3, 7, A)))
        # grid workers and the offices that do work keep a duty rota at weekends and over holidays
        weekend_f = np.where(grid_roles, 0.3, np.where(operating, 0.4, 0.06))
        holiday_f = np.where(grid_roles, 0.75, np.where(operating, 0.6, 0.12))
        drift = np.clip(1 + np.cumsum(self.rng("drift").normal(0, 0.025, (32, self.M)), axis=1), 0.8, 1.06)
        drift[[TOWNSHIPS.index(t) for t in PERFECT]] = 1.0
        open_day = np.array([a["open_day"] for a in self.acc])
        close_day = np.array([a["close_day"] for a in self.acc])
        zero_from = np.array([self.zero_from[t] if t >= 0 else self.M for t in town])
        # where each account works: its grid, else its unit (positions are drawn inside its polygon, _positions)
        loc_unit = np.array([a["grid"] if a["grid"] >= 0 else self.by_code[a["unit"]] for a in self.acc])
        self._prepare_positions()
        # explicit operations: flow steps and key-person reports / sign-offs (account index, time, op)
        ex_a, ex_t, ex_op = [], [], []
        for e in self.events:
            for t, act, fr, to, who, note in e["steps"]:
                if who is not None:
                    ex_a.append(who)
                    ex_t.append(t)
                    ex_op.append("事件上报" if act == "上报" else "事件处置")
        id_index = {a["id"]: i for i, a in enumerate(self.acc)}
        Rx = self.R("explicit")
        for r in self.reports:
            ex_a.append(id_index[r["rep"]])
            ex_t.append(r["t0"])
            ex_op.append("信息采集")
            for ts, kind, who in r["signs"]:
                ex_a += [who, who]
                ex_t += [ts - Rx.randint(60, 900), ts]
                ex_op += ["登录", "签收"]
        ex_a, ex_t = np.array(ex_a, dtype=np.int64), np.array(ex_t, dtype=np.int64)
        op_index = {o: i for i, o in enumerate(OP_TYPES)}
        ex_op = np.array([op_index[o] for o in ex_op], dtype=np.int64)
        ex_m = np.searchsorted(self.mstart, ex_t, side="right") - 1

        op_weights = [np.array([w.get(o, 0.0) for o in OP_TYPES]) for w in OP_WEIGHT]
        HANDHELD, PC, APP = (TERMINALS.index(x) for x in ("手持终端", "PC", "APP"))
        ids = np.array([a["id"] for a in self.acc] + [f"WG9{i:04d}" for i in range(1, 6)], dtype=object)
        self.ghosts = 5
        total = 0
        for m in range(self.M):
            self.progress(0.48 + 0.5 * m / self.M, f"正在生成账号操作日志（{m + 1}/{self.M}）")
            rng = self.rng(f"activity-{m}")
            dsel = np.nonzero(self.day_month == m)[0]
            days = self.days[dsel]
            hol, wkd = self.holiday[dsel] < 1, self.weekend[dsel]
            P = d[:, None] * np.where(hol[None, :], holiday_f[:, None],
                                      np.where(wkd[None, :], weekend_f[:, None], 1.0))
            P = P * np.where(town >= 0, drift[np.maximum(town, 0), m], 1.0)[:, None]
            P = np.minimum(P, 1.0)
            work = rng.random(P.shape) < P
            work &= (days[None, :] >= open_day[:, None]) & (days[None, :] < close_day[:, None])
            work &= (m < zero_from)[:, None]
            # the patterns of this month (demo.patterns): gamers reach ≥ 21 active days, collapses stop work
            prng = self.rng(f"patterns-{m}")
            gs = self.gaming_signal(m)
            # bunched: the day's bunch is where its explicit operation is (an event reported, a report filed)
            xs = (ex_m == m) & (gs[ex_a] == BUNCHED)
            anchor: dict[tuple[int, int], int] = {}
            for i, tx in sorted(zip(ex_a[xs].tolist(), ex_t[xs].tolist())):
                anchor.setdefault((i, tx // DAY - int(days[0])), tx)
            for i, j in anchor:
                work[i, j] = True
            for i in np.nonzero(gs >= 0)[0]:
                short = 21 + int(prng.integers(0, 4)) - int(work[i].sum())
                if short > 0:
                    free = np.nonzero(((days >= open_day[i]) & (days < close_day[i])) & ~work[i])[0]
                    work[i, prng.permutation(free)[:short]] = True
            for tw, (metric, d0, d1) in sorted(self.collapse.items()):
                cols = (days >= d0) & (days < d1)
                if metric == "activity" and cols.any():
                    rows_ = np.nonzero(town == tw)[0]
                    keep = prng.random((len(rows_), int(cols.sum()))) < 0.35
                    work[np.ix_(rows_, np.nonzero(cols)[0])] &= keep
            # the perfect 乡镇: at least 22 working days for every grid worker
            for i in np.nonzero(perfect)[0]:
                alive = (days >= open_day[i]) & (days < close_day[i])
                short = 22 - int(work[i].sum())
                if short > 0:
                    free = np.nonzero(alive & ~work[i])[0]
                    work[i, rng.permutation(free)[:short]] = True
            ai, di = np.nonzero(work)
            n = 1 + rng.poisson(lam[ai])
            # login_only: about 4 in 5 of the active days only 登录 (perhaps with one 其他); bunched: 3–8 operations
            only = np.zeros(len(ai), bool)
            for i in np.nonzero(gs == LOGIN_ONLY)[0]:
                idx = np.nonzero(ai == i)[0]
                only[prng.permutation(idx)[:int(round(0.8 * len(idx)))]] = True
            n[only] = 1 + (prng.random(int(only.sum())) < 0.35)
            bunch = gs[ai] == BUNCHED
            n[bunch] = 3 + np.minimum(prng.poisson(2.0, int(bunch.sum())), 5)
            N = int(n.sum())
            grp = np.repeat(np.arange(len(ai)), n)
            first = np.zeros(N, bool)
            starts = np.concatenate([[0], np.cumsum(n)[:-1]])
            first[starts] = True
            login = 8 * HOUR + 40 * 60 + rng.normal(0, 35 * 60, len(ai))
            odd = (login < 7 * HOUR + 1200) | (login > 11 * HOUR)
            login[odd] = rng.uniform(7 * HOUR + 1200, 9 * HOUR, int(odd.sum()))
            for k in np.nonzero(bunch)[0]:
                tx = anchor.get((int(ai[k]), int(di[k])))
                if tx is not None:
                    login[k] = tx - int(days[di[k]]) * DAY - prng.uniform(60, 200)
            gaps = np.where(first, 0.0, rng.exponential(32 * 60, N) + 60)
            in_bunch = bunch[grp] & ~first
            gaps[in_bunch] = prng.uniform(15, 70, int(in_bunch.sum()))  # ≤ 7 gaps: within 8 minutes
            cs = np.cumsum(gaps)
            off = cs - cs[starts][grp]
            t = days[di][grp] * DAY + login[grp] + off
            t = np.minimum(t, days[di][grp] * DAY + 22 * HOUR + rng.integers(0, 3000, N)).astype(np.int64)
            acc_i = ai[grp]
            op = np.zeros(N, dtype=np.int64)
            cat = np.where(grid_roles[acc_i], 0, np.where(dept[acc_i], 2, 1))
            u = rng.random(N)
            for c, probs in enumerate(op_weights):
                sel = (cat == c) & ~first
                op[sel] = np.searchsorted(np.cumsum(probs), u[sel] * probs.sum(), side="right")
            op[only[grp] & ~first] = OP_TYPES.index("其他")
            # night_batch: no 巡查 by day, but a week of it uploaded at night 4–5 times a month
            day_patrol = (gs[acc_i] == NIGHT_BATCH) & (op == OP_TYPES.index("巡查"))
            other = np.array([OP_TYPES.index(o) for o in ("信息采集", "信息更新", "民情日志")])
            op[day_patrol] = other[prng.integers(0, 3, int(day_patrol.sum()))]
            nb_a, nb_t = [], []
            for i in np.nonzero(gs == NIGHT_BATCH)[0]:
                for nd in range(int(prng.integers(0, 7)), len(days), 7):
                    k = int(prng.integers(18, 31))
                    t0 = int(days[nd]) * DAY + int(prng.integers(1800, 4 * HOUR))
                    nb_a += [i] * k
                    nb_t += (t0 + np.cumsum(prng.integers(3, 16, k))).tolist()
            acc_i = np.concatenate([acc_i, np.array(nb_a, dtype=np.int64)])
            t = np.concatenate([t, np.array(nb_t, dtype=np.int64)])
            op = np.concatenate([op, np.full(len(nb_a), OP_TYPES.index("巡查"), dtype=np.int64)])
            # explicit rows of this month
            xs = ex_m == m
            acc_i = np.concatenate([acc_i, ex_a[xs]])
            t = np.concatenate([t, ex_t[xs]])
            op = np.concatenate([op, ex_op[xs]])
            N = len(t)
            # terminal per row: grid workers mostly handheld, others PC
            ut = rng.random(N)
            term = np.where(grid_roles[acc_i], np.where(ut < 0.86, HANDHELD, np.where(ut < 0.95, APP, PC)),
                            np.where(ut < 0.9, PC, APP))
            term = np.where(dept[acc_i], PC, term)
            has_xy = term != PC
            # positions (WGS84) inside the unit the account works in; outside_grid: mostly in another grid;
            # same_gps: one fix; delivered in GCJ02 (coord_sys empty or GCJ02 both mean GCJ02)
            where_ = loc_unit[acc_i]
            gamer = gs[acc_i]
            away = (gamer == OUTSIDE_GRID) & (prng.random(N) < 0.9)
            where_[away] = [self.hangout[i] for i in acc_i[away]]
            lon, lat = self._positions(where_, rng)
            fixed = gamer == SAME_GPS
            if fixed.any():
                lon[fixed] = [self.fixed_point[i][0] for i in acc_i[fixed]]
                lat[fixed] = [self.fixed_point[i][1] for i in acc_i[fixed]]
            lon, lat = wgs84_to_gcj02(lon, lat)
            csys = np.where(has_xy & (rng.random(N) < 0.3), 1, 0)
            order = np.lexsort((acc_i, t))
            acc_i, t, op, term, lon, lat, csys, has_xy = (x[order] for x in (acc_i, t, op, term, lon, lat, csys,
                                                                              has_xy))
            yy, mm = self.ym[m]
            log_id = pc.binary_join_element_wise(
                f"LG{yy:04d}{mm:02d}", pc.utf8_lpad(pc.cast(pa.array(np.arange(1, N + 1)), pa.string()), 8, "0"), "")
            def text(arr):  # an Arrow string array → an object column
                return arr.to_numpy(zero_copy_only=False)

            rows = {  # coded columns share their str objects; the rest are formatted by Arrow
                "log_id": text(log_id),
                "account_id": ids[acc_i],
                "op_time": text(pc.cast(pa.array(t.astype("datetime64[s]")), pa.string())),  # YYYY-MM-DD HH:MM:SS
                "op_type": np.array(OP_TYPES, dtype=object)[op],
                "terminal": np.array(TERMINALS, dtype=object)[term],
                "lon": text(pc.cast(pa.array(np.round(lon, 6), mask=~has_xy), pa.string())),
                "lat": text(pc.cast(pa.array(np.round(lat, 6), mask=~has_xy), pa.string())),
                "coord_sys": np.array([None, "GCJ02"], dtype=object)[csys],
                "updated_at": np.full(N, None, dtype=object),
            }
            total += N
            protect = perfect[acc_i] | (gs[acc_i] >= 0)
            fmt = self.fmt("activity_log", m)
            parts = 2 if m == min(1, self.M - 1) else 1
            self.write("activity_log", m, fmt, rows, None, self.R(f"activity-out-{m}"), parts=parts,
                       protect=protect)
        self.keys["activity_log"] = total

    def _prepare_positions(self):
        self._geoms = np.array([u["geom"] for u in self.units], dtype=object)
        shapely.prepare(self._geoms)
        centre = [u["geom"].point_on_surface() for u in self.units]
        self._cx = np.array([p.x for p in centre])
        self._cy = np.array([p.y for p in centre])
        self._sig = np.array([min(u["sigma"], 0.01) for u in self.units])

    def _positions(self, where: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 points inside the polygons of units `where`: about the unit's centre, redrawn until inside."""
        n = len(where)
        lon, lat = np.empty(n), np.empty(n)
        todo = np.arange(n)
        for _ in range(30):
            if not len(todo):
                break
            w = where[todo]
            x = self._cx[w] + rng.normal(0, 1, len(todo)) * self._sig[w]
            y = self._cy[w] + rng.normal(0, 1, len(todo)) * self._sig[w] * 0.9
            ok = shapely.contains_xy(self._geoms[w], x, y)
            lon[todo[ok]], lat[todo[ok]] = x[ok], y[ok]
            todo = todo[~ok]
        lon[todo], lat[todo] = self._cx[where[todo]], self._cy[where[todo]]  # a point on the surface
        return lon, lat

    # ---------------------------------------------------------------------------- mess + writing ------------
    def write(self, ds, m, fmt, rows, once, R, suffix="", parts=1, protect=None):
        """Inject the mess into one delivery (rows: list of dicts, or dict of columns) and write it."""
        spec = DATASETS[ds]
        names = spec.names
        if isinstance(rows, dict):
            cols = {c: np.asarray(rows[c], dtype=object) for c in names}
        else:
            if not rows:
                return
            cols = {c: np.array([r[c] for r in rows] + [None], dtype=object)[:-1] for c in names}
        n = len(cols[names[0]])
        if n == 0:
            return
        tab = Table(self, ds, cols, fmt, R, m)
        eligible = np.ones(n, bool)
        if once is not None:
            key = cols[spec.key[0]]
            eligible &= np.fromiter((k in once for k in key), bool, n)
        if protect is not None:
            tab.protect = protect
        tab.inject(eligible)
        final = tab.final()
        for kind, c in tab.counts.items():
            self.mess[ds][kind] = self.mess[ds].get(kind, 0) + c
        for kind in ("missing_required", "bad_required_ts"):
            self.quarantine[ds][kind] += tab.counts.get(kind, 0)
        N = len(final[names[0]])
        bounds = [0, N] if parts == 1 else [0, N // 2, N]
        for p in range(parts):
            sl = slice(bounds[p], bounds[p + 1])
            sfx = suffix + (f"_part{p + 1}" if parts > 1 else "")
            name = f"{ds}_{self.export[m]}{sfx}.{FORMAT_EXT[fmt]}"
            chunk = {c: v[sl] for c, v in final.items()}
            if self.county_index:
                chunk = _rekey(chunk, self.county_index)
            _write_file(self.out / name, ds, fmt, chunk, R, self.export[m], self.ym[m])
            self.truth_files[name] = {"dataset": ds, "format": fmt, "rows": bounds[p + 1] - bounds[p]}
        self.rows_delivered[ds] += N

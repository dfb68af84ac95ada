"""Key-person reports (重点人员报送) and their signing by the offices.

`ReportsMixin` of the generator (demo.generator.Generator).
"""
from __future__ import annotations

import numpy as np

from core.spec import KP_CATEGORIES, KP_OFFICES
from demo.constants import (
    DAY,
    HOUR,
    ID_AREAS_LOCAL,
    ID_AREAS_OTHER,
    KP_COLUMNS,
    OFFICE_PROFILE,
    OFFICE_ROLES,
    TOWNSHIPS,
)
from demo.helpers import _fmt, _person, _short, id_number


class ReportsMixin:
    """Key-person reports."""

    def build_reports(self):
        R, rng = self.R("reports"), self.rng("reports")
        grids_of = [[g for g in self.grids if self.units[g]["town"] == t] for t in range(32)]
        daxin = TOWNSHIPS.index("大新乡")
        reports = []
        for k in range(self.M):
            days = np.nonzero(self.day_month == k)[0]
            wd = [int(self.days[d]) for d in days if not self.weekend[d] and self.holiday[d] >= 1]
            wd = wd or [int(self.days[d]) for d in days]
            active = [t for t in range(32) if k < self.zero_from[t]]
            for cat in KP_CATEGORIES:
                if cat == "流动人口":
                    counts = {t: int(rng.poisson(self.town_grids[t] * 0.3 * self.activity_mean[t] ** 3))
                              for t in active}
                else:
                    n_towns = R.choices((1, 2, 3, 4, 5, 7), (14, 18, 18, 14, 10, 6))[0]
                    towns = R.sample(active, min(n_towns, len(active)))
                    counts = {t: 1 + int(rng.poisson(1.3)) for t in towns}
                    if cat == "吸毒人员" and k == self.M - 1:
                        counts = {daxin: 4}
                for t in sorted(counts):
                    for _ in range(counts[t]):
                        for _try in range(20):
                            t0 = R.choice(wd) * DAY + R.randint(8 * HOUR + 1800, 18 * HOUR)
                            g = R.choice(grids_of[t])
                            rep = self.worker_at(g, t0)
                            if rep is not None:
                                break
                        if rep is None:
                            continue
                        reports.append(self._report(R, k, t0, g, t, cat, rep))
        reports.sort(key=lambda r: (r["t0"], r["grid"]))
        per_day: dict[str, int] = {}
        for r in reports:
            day = _fmt(r["t0"])[:10].replace("-", "")
            per_day[day] = per_day.get(day, 0) + 1
            r["id"] = f"BS{day}{per_day[day]:04d}"
        self.reports = reports

    def _report(self, R, k, t0, g, town, cat, rep):
        u = self.units[g]
        local = cat != "流动人口" or R.random() < 0.15
        idn = id_number(R, ID_AREAS_LOCAL if local else ID_AREAS_OTHER, (1955, 2005))
        r = {"t0": t0, "grid": u["code"], "town": town, "cat": cat, "rep": self.acc[rep]["id"], "idn": idn,
             "name": _person(R), "offices": {}, "signs": []}
        short = _short(TOWNSHIPS[town])
        for kind in KP_OFFICES[cat]:
            dept = short + OFFICE_ROLES[kind]
            r["offices"][kind] = dept
            prof = OFFICE_PROFILE.get(dept, "never")
            ts = None
            if prof == "fast" and R.random() < 0.95:
                ts = t0 + R.uniform(0.3, 8) * HOUR
            elif prof == "slow" and R.random() < 0.85:
                ts = t0 + R.uniform(26, 140) * HOUR
            elif prof == "late" and R.random() < 0.8:
                ts = float(self.mstart[k + 1]) + R.uniform(0.5, 20) * DAY
            if ts is not None:
                ts = float(int(self.workhours(ts, R)))
                if ts < self.end:
                    r["signs"].append((ts, kind, self.office[dept]))
        r["signs"].sort()
        state = {"police_signed_at": None, "justice_signed_at": None, "health_signed_at": None}
        r["versions"] = [(t0, dict(state))]
        for ts, kind, _ in r["signs"]:
            state[KP_COLUMNS[kind][1]] = _fmt(ts)
            r["versions"].append((ts, dict(state)))
        return r

    # ------------------------------------------------------------------------------ deliveries (small) -------

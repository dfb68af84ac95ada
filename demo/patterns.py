"""The patterns beyond the official rate (issue 16) the demo county plays, and their truth.

`PatternsMixin` of the generator (demo.generator.Generator). `build_patterns` (after the accounts, before the
events) decides, deterministically for the seed:

- gaming grid workers (demo.constants GAMING_*): per account one pattern, played in the months listed; the
  activity stage (demo.deliveries.deliver_activity) plays it:
    login_only    most active days (≥ 8) only 登录 (and perhaps 其他), still ≥ 21 active days
    bunched       every working day 3–8 operations within a few minutes (≤ 8 min)
    night_batch   no 巡查 by day; 4–5 times a month a week of 巡查 (18–30) uploaded within minutes at 00:30–04:00
    same_gps      every position the identical fix (a point inside the own grid), day after day
    outside_grid  nearly all positions (≈ 90 %) inside another grid of the 乡镇
  honest accounts' positions are always inside their own unit's polygon (demo.deliveries._positions);
- collapses (COLLAPSE): a 乡镇 whose weekly 账号活跃度 (accounts working on ≥ 5 of the 7 days; its accounts
  work on a third of the usual days) or weekly event completion (nothing closed) falls sharply for `weeks` ISO weeks of the last month (from its second full week, or the first
  later one clear of holidays, the week before included);
- a silent 乡镇 (SILENT): no event at all (any source) reported in it from a day of the last month to the end;
- a quiet source (QUIET): a dataset with no record for the last days of the data while the others go on.

`patterns_truth()` is the truth's "patterns" (codes and ids as delivered, also for another county of a prefecture).
"""
from __future__ import annotations

import numpy as np

from demo.constants import (
    COLLAPSE,
    DAY,
    GAMING_EARLIER,
    GAMING_LAST,
    GAMING_SIGNALS,
    GAMING_TOWNS,
    QUIET,
    SILENT,
    TOWNSHIPS,
)
from demo.helpers import _fmt_date
from demo.writers import county_code


class PatternsMixin:
    """What is played beyond the official rate, and where."""

    def build_patterns(self):
        R = self.R("patterns")
        end_day = self.end // DAY
        last_first = int(self.mstart[-2] // DAY)
        # gaming accounts: 网格员 open through the whole period in the gaming 乡镇
        towns = {TOWNSHIPS.index(t) for t in GAMING_TOWNS}
        cand = [i for i, a in enumerate(self.acc) if a["role"] == "网格员" and a["town"] in towns
                and a["grid"] >= 0 and a["opened"] < self.start - DAY and a["closed"] is None]
        n_early = GAMING_EARLIER if self.M >= 2 else 0
        picks = R.sample(cand, min(len(cand), len(GAMING_SIGNALS) * GAMING_LAST + n_early))
        self.gaming: dict[int, tuple[int, list[int]]] = {}  # account index → (signal index, months)
        for j, i in enumerate(picks):
            sig = j % len(GAMING_SIGNALS)
            if j < len(GAMING_SIGNALS) * GAMING_LAST:
                months = [m for m in range(self.M - 1) if R.random() < 0.5] + [self.M - 1]
            else:
                months = [m for m in range(self.M - 1) if R.random() < 0.5] or [R.randrange(self.M - 1)]
            self.gaming[i] = (sig, months)
        # where the gamers stand: same_gps a fixed point inside the own grid, outside_grid another grid of the 乡镇
        grids_of: dict[int, list[int]] = {}
        for g in self.grids:
            grids_of.setdefault(self.units[g]["town"], []).append(g)
        self.hangout: dict[int, int] = {}
        self.fixed_point: dict[int, tuple[float, float]] = {}
        for i, (sig, _) in sorted(self.gaming.items()):
            a = self.acc[i]
            if GAMING_SIGNALS[sig] == "outside_grid":
                self.hangout[i] = R.choice([g for g in grids_of[a["town"]] if g != a["grid"]])
            elif GAMING_SIGNALS[sig] == "same_gps":
                p = self.units[a["grid"]]["geom"].point_on_surface()
                self.fixed_point[i] = (round(p.x, 6), round(p.y, 6))
        # collapses: ISO weeks (Monday to Sunday) wholly inside the last month
        # from the second one, the first whose weeks and the week before are no holiday (else the second)
        mondays = [d for d in range(last_first, end_day - 6) if (d + 3) % 7 == 0]
        w0 = mondays[1] if len(mondays) > 1 else mondays[0]
        span = 7 * max(w + k for _, w, k in COLLAPSE.values())
        first_day = int(self.days[0])
        for d in mondays[1:]:
            if d + span <= end_day and (self.holiday[max(d - 7 - first_day, 0):d + span - first_day] >= 1).all():
                w0 = d
                break
        self.collapse: dict[int, tuple[str, int, int]] = {}  # town → (metric, first day, end day)
        for town, (metric, weeks, k) in COLLAPSE.items():
            d0 = w0 + 7 * k if w0 + 7 * (k + 1) <= end_day else w0
            weeks = max(1, min(weeks, (end_day - d0) // 7))
            self.collapse[TOWNSHIPS.index(town)] = (metric, d0, d0 + 7 * weeks)
        self.silent_town = TOWNSHIPS.index(SILENT[0])
        self.silent_day = end_day - SILENT[1]  # events from here on are not reported (build_events)
        self.quiet_last = {QUIET[0]: end_day - QUIET[1] - 1}  # the dataset's last day with records

    def gaming_signal(self, m: int) -> np.ndarray:
        """Per account the index of the signal it plays in month m (GAMING_SIGNALS), −1 when honest."""
        out = np.full(len(self.acc), -1, dtype=np.int64)
        for i, (sig, months) in self.gaming.items():
            if m in months:
                out[i] = sig
        return out

    def patterns_truth(self) -> dict:
        tag = f"C{self.county_index}" if self.county_index else ""
        code = county_code(self.county_index)

        def ru(town: int) -> tuple[str, str]:
            return f"{code}{town + 1:03d}", TOWNSHIPS[town]

        def month(m: int) -> str:
            y, mm = self.ym[m]
            return f"{y:04d}-{mm:02d}"

        gaming = {tag + self.acc[i]["id"]: [GAMING_SIGNALS[sig]] for i, (sig, _) in sorted(self.gaming.items())}
        months = {tag + self.acc[i]["id"]: [month(m) for m in ms] for i, (_, ms) in sorted(self.gaming.items())}
        collapses = []
        for town, (metric, d0, d1) in sorted(self.collapse.items()):
            c, name = ru(town)
            collapses.append({"ru_code": c, "ru_name": name, "metric": metric, "week_start": _fmt_date(d0 * DAY),
                              "weeks": (d1 - d0) // 7})
        c, name = ru(self.silent_town)
        silent = [{"ru_code": c, "ru_name": name, "from": _fmt_date(self.silent_from * DAY)}]
        quiet = [{"dataset": ds, "last_record": _fmt_date(d * DAY)} for ds, d in sorted(self.quiet_last.items())]
        return {"gaming": gaming, "gaming_months": months, "collapses": collapses, "silent_units": silent,
                "quiet_sources": quiet}

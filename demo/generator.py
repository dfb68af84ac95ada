"""The demo county generator: `generate(out, ...)` and the `Generator` that runs the stages in order.

The calendar → the county (demo.units) → accounts → the patterns beyond the official rate (demo.patterns) → events and their flow (demo.events) → key-person reports
(demo.reports) → monthly deliveries (demo.deliveries: mess injected per file by demo.mess, written by demo.writers)
→ the truth. Deterministic for a given (seed, months, end_month): same arguments, byte-identical files.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.spec import DATASETS
from demo.constants import DAY, HOUR, LUNAR_NEW_YEAR, TRUTH_FILE
from demo.deliveries import DeliveriesMixin
from demo.events import EventsMixin
from demo.helpers import _add_month, _crc, _sec
from demo.patterns import PatternsMixin
from demo.reports import ReportsMixin
from demo.units import UnitsMixin


class Generator(UnitsMixin, PatternsMixin, EventsMixin, ReportsMixin, DeliveriesMixin):
    """One demo county: the calendar and random streams here, each stage in its mixin, then the truth."""

    def __init__(self, seed: int, months: int, end_month: str | None, progress, county_index: int = 0):
        self.county_index = int(county_index)
        if not 0 <= self.county_index < 100:
            raise ValueError("county_index must be 0–99")
        if months < 1:
            raise ValueError("months must be ≥ 1")
        if end_month is None:
            today = dt.date.today()
            y, m = _add_month(today.year, today.month, -1)
        else:
            y, m = (int(v) for v in end_month.split("-"))
        self.seed, self.M = int(seed), months
        self.ym = [_add_month(y, m, k - months + 1) for k in range(months)]
        nxt = [_add_month(yy, mm, 1) for yy, mm in self.ym]
        self.mstart = np.array([_sec(yy, mm, 1) for yy, mm in self.ym] + [_sec(*nxt[-1], 1)], dtype=np.int64)
        self.export = [f"{yy:04d}{mm:02d}01" for yy, mm in nxt]
        self.start, self.end = int(self.mstart[0]), int(self.mstart[-1])
        self.mstart_list = self.mstart.tolist()
        # future_time mess: a time 6 months after the last month of data — later than any load soon after the
        # export, and within [etl] max_future_days (a time more than a year ahead is out of range, not "future")
        self.future_ym = _add_month(*self.ym[-1], 6)
        self.progress = progress or (lambda f, msg: None)
        days = np.arange(self.start // DAY, self.end // DAY)
        self.days = days
        self.day_month = np.searchsorted(self.mstart, days * DAY, side="right") - 1
        self.weekend = ((days + 3) % 7) >= 5
        self.holiday = np.array([self._holiday(int(d)) for d in days])
        self.truth_files: dict[str, dict] = {}
        self.mess: dict[str, dict[str, int]] = {d: {} for d in DATASETS}
        self.quarantine = {d: {"missing_required": 0, "bad_required_ts": 0} for d in DATASETS}
        self.rows_delivered = {d: 0 for d in DATASETS}
        self.fresh = 0  # counter for keys that appear nowhere else

    def rng(self, tag: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.M, int(self.mstart[0] // DAY), _crc(tag)])

    def R(self, tag: str) -> random.Random:
        return random.Random(self.seed * 1_000_003 + self.M * 7919 + int(self.mstart[0] // DAY) * 31 + _crc(tag))

    @staticmethod
    def _holiday(day: int) -> float:
        d = dt.date(1970, 1, 1) + dt.timedelta(days=day)
        mo, da = LUNAR_NEW_YEAR.get(d.year, (2, 5))
        lny = dt.date(d.year, mo, da)
        if -2 <= (d - lny).days <= 12:
            return 0.12
        if (d.month, d.day) >= (10, 1) and (d.month, d.day) <= (10, 7):
            return 0.2
        if d.month == 5 and d.day <= 5:
            return 0.3
        if (d.month, d.day) in ((1, 1), (4, 4), (4, 5)):
            return 0.4
        return 1.0

    def month_of(self, t: float) -> int:
        """Month index of time t (−1 before the period, M after)."""
        return bisect_right(self.mstart_list, t) - 1 if t < self.end else self.M

    def workhours(self, t: float, R: random.Random) -> float:
        """Move t into working hours (08:00–20:00): early → 08:xx the same day, late → 08:xx the next day."""
        day, sod = divmod(int(t), DAY)
        if sod < 8 * HOUR:
            return day * DAY + 8 * HOUR + R.randint(0, 3600)
        if sod >= 20 * HOUR:
            return (day + 1) * DAY + 8 * HOUR + R.randint(0, 3600)
        return t

    # -----------------------------------------------------------------------------------------------------------
    def run(self, out: Path) -> dict:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        old = out / TRUTH_FILE
        if old.exists():  # a previous demo build here: remove exactly its files, nothing else
            for name in json.loads(old.read_text(encoding="utf-8")).get("files", {}):
                (out / name).unlink(missing_ok=True)
            old.unlink()
        self.progress(0.01, "正在生成行政区划与网格边界")
        self.build_units()
        self.progress(0.08, "正在生成系统账号")
        self.build_accounts()
        self.build_patterns()
        self.progress(0.12, "正在生成事件与流转记录")
        self.build_events()
        self.progress(0.22, "正在生成重点人员报送")
        self.build_reports()
        self.progress(0.26, "正在写出组织机构、账号、事件与报送")
        self.deliver_small()
        self.progress(0.40, "正在生成基础信息采集统计")
        self.deliver_collection()
        self.deliver_activity()
        truth = self.truth()
        (out / TRUTH_FILE).write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
        self.progress(1.0, "示例数据生成完成")
        return truth

    def truth(self) -> dict:
        keys = {ds: (len(v) if isinstance(v, set) else int(v)) for ds, v in self.keys.items()}
        levels = [u["level"] for u in self.units]
        mess = {ds: {k: int(v) for k, v in sorted(kinds.items())} for ds, kinds in self.mess.items()}
        return {
            "seed": self.seed,
            "months": [f"{y:04d}-{m:02d}" for y, m in self.ym],
            "end_month": f"{self.ym[-1][0]:04d}-{self.ym[-1][1]:02d}",
            "files": dict(sorted(self.truth_files.items())),
            "rows_delivered": self.rows_delivered,
            "distinct_keys": keys,
            "quarantine": self.quarantine,
            "mess": mess,
            "units": {"townships": levels.count("乡镇"), "communities": levels.count("社区"),
                      "villages": levels.count("村"), "grids": levels.count("网格")},
            "accounts": len(self.acc),
            "patterns": self.patterns_truth(),
        }


def generate(out: Path, months: int = 14, seed: int = 20240401, end_month: str | None = None,
             progress: Callable[[float, str], None] | None = None, county_index: int = 0) -> dict:
    """Write the demo county's file drop into `out` and return (and write as out/_demo_truth.json) its truth.

    end_month "YYYY-MM" is the last month of data (default: the month before today). Deterministic for a given
    (seed, months, end_month). progress(fraction, 中文 message) is called now and then.

    county_index (default 0: 示例县, 510799) makes another county of a prefecture for the benchmark's city scale
    (warehouse/bench.py): the same county shape with its own 区划代码 (county_code(i)) and ids prefixed "C<i>", so
    that ten of them load side by side into one warehouse with distinct keys. The truth's counts are unchanged.
    """
    return Generator(seed, months, end_month, progress, county_index).run(Path(out))


def generate_city(out: Path, counties: int, months: int = 14, seed: int = 20240401, end_month: str | None = None,
                  progress: Callable[[float, str], None] | None = None) -> list[dict]:
    """The demo city (示例市): `counties` demo counties, county i in out/county<ii> (the drop of a city: `etl run
    --from out` reads the subfolders), with its own 区划代码 (county_code(i)), name (county_name(i): 示例县, 东岭县,
    西河县, …), ids and seed (seed + i). Returns each county's truth. out/_demo_truth.json lists every county's files
    (no figures: those are the counties' own truths), so that the city's drop is known as a demo drop too
    (etl.lake.is_demo_drop: a lake loaded from it is not marked as holding real data)."""
    if not 1 <= counties <= 100:
        raise ValueError("counties must be 1–100")
    truths = []
    for i in range(counties):
        def part(f, msg, i=i):
            if progress:
                progress((i + f) / counties, f"第{i + 1}/{counties}个县: {msg}")
        truths.append(generate(Path(out) / f"county{i:02d}", months=months, seed=seed + i, end_month=end_month,
                               progress=part, county_index=i))
    files = {name: f"county{i:02d}/{name}" for i, t in enumerate(truths) for name in t["files"]}
    (Path(out) / TRUTH_FILE).write_text(json.dumps({"counties": counties, "files": dict(sorted(files.items()))},
                                                   ensure_ascii=False, indent=1), encoding="utf-8")
    return truths

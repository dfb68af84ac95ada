"""A MiniCounty that plays one case of every 预警 rule (warehouse/warnings.py), at dates known in advance.

Weeks (Mon–Sun): W0 2024-02-26…03-03, W1 03-04…03-10, W2 03-11…03-17; the data ends on 2024-03-17.

    卧龙镇  5 网格员, all active every day; in W2 three of them only on 2 days → activity 40% vs 100% (activity_drop)
    宏仁乡  W1: 10 events reported, 8 closed; W2: 10 reported, 2 closed → 20% vs 80% (completion_drop); before W1 one
            event every 5 days (never ≥ 5 in a week)
    石桥镇  January 10 reported / 4 closed, February 10 / 3 closed → under 50% two months (completion_low, from 02-29);
            its open January events are overdue (督办单 items)
    龙泉乡  events on 01-05, 02-20 (deadline 02-21, closed 02-27) and 03-01 only → silent 14 days on 03-15
    宏仁派出所  6 reports of 03-10 09:00 never signed → red from 03-13 09:00 (signoff_backlog, from 03-13)
    卧龙镇  its accounts only log in (登录): 有效活跃度 0% against 100% in January and February (effective_gap, from 01-31)
    collection_stats  last statistics on 02-01 → quiet (a daily statistic, 7 days) from 02-09
"""
from __future__ import annotations

import datetime as dt

from support.county import MiniCounty

D = dt.date
T = dt.datetime
LAST_DAY = D(2024, 3, 17)
LOAD_TIME = T(2024, 3, 18, 6)


def _days(a: dt.date, b: dt.date):
    d = a
    while d <= b:
        yield d
        d += dt.timedelta(days=1)


def build_county() -> tuple[MiniCounty, dict]:
    c = MiniCounty()
    wl, hr, sq, lq = (c.township(n) for n in ("卧龙镇", "宏仁乡", "石桥镇", "龙泉乡"))
    grids = {}
    for t, name in ((wl, "卧龙"), (hr, "宏仁"), (sq, "石桥"), (lq, "龙泉")):
        grids[t] = c.grid(c.village(t, f"{name}村"))
    wl_accts = [c.account(grids[wl], person_name=n) for n in ("张三丰", "李四光", "王五常", "赵六合", "钱七星")]
    others = [c.account(grids[t], person_name=n) for t, n in ((hr, "孙八方"), (sq, "周九州"), (lq, "吴十全"))]
    c.office(hr, "派出所", "宏仁派出所")
    start = D(2024, 1, 1)
    for day in _days(start, LAST_DAY):
        for i, a in enumerate(wl_accts):
            if i >= 2 and day > D(2024, 3, 12):
                continue
            c.op(a, T(day.year, day.month, day.day, 9))
        for a in others:
            c.op(a, T(day.year, day.month, day.day, 9))

    def ev(t, when: dt.datetime, closed: bool, **kw):
        return c.event(grids[t], when, closed_at=when + dt.timedelta(hours=2) if closed else None, **kw)

    ids = {}
    # 卧龙镇: an event every 3 days, closed (never ≥ 5 in a week: completion not judged)
    for day in _days(start, LAST_DAY):
        if (day - start).days % 3 == 0:
            ev(wl, T(day.year, day.month, day.day, 10), True)
    # 宏仁乡: every 5 days up to 02-29, then 10 in W1 (8 closed) and 10 in W2 (2 closed)
    for day in _days(start, D(2024, 2, 29)):
        if (day - start).days % 5 == 0:
            ev(hr, T(day.year, day.month, day.day, 10), True)
    for w, n_closed in ((D(2024, 3, 4), 8), (D(2024, 3, 11), 2)):
        for i in range(10):
            day = w + dt.timedelta(days=i % 7)
            ev(hr, T(day.year, day.month, day.day, 10 + i // 7), i < n_closed)
    # 石桥镇: January 10 / 4 closed, February 10 / 3 closed, in March one every 3 days, closed
    ids["sq_open"] = []
    for month, n_closed in ((1, 4), (2, 3)):
        for i in range(10):
            e = ev(sq, T(2024, month, 1 + i, 10), i < n_closed)
            if i >= n_closed and month == 1:
                ids["sq_open"].append(e)
    for day in _days(D(2024, 3, 1), LAST_DAY):
        if (day - D(2024, 3, 1)).days % 3 == 0:
            ev(sq, T(day.year, day.month, day.day, 10), True)
    # 龙泉乡: three events, the second overdue from 02-21 and closed on 02-27
    ev(lq, T(2024, 1, 5, 10), True)
    ids["lq_late"] = c.event(grids[lq], T(2024, 2, 20, 10), deadline=T(2024, 2, 21, 10),
                             closed_at=T(2024, 2, 27, 15))
    ev(lq, T(2024, 3, 1, 10), True)
    # 宏仁派出所: six reports of 03-10 never signed
    ids["kp"] = [c.report(grids[hr], "流动人口", T(2024, 3, 10, 9), police="宏仁派出所",
                          id_number=f"51072319900101{1230 + i}", person_name=n)
                 for i, n in enumerate(("郑一鸣", "冯二虎", "陈三元", "褚四海", "卫五岳", "蒋六顺"))]
    # collection statistics: the last on 02-01
    for t in grids.values():  # grid codes
        c.collection(t, D(2024, 1, 2), 100)
        c.collection(t, D(2024, 2, 1), 150)
    return c, {"townships": {"卧龙镇": wl, "宏仁乡": hr, "石桥镇": sq, "龙泉乡": lq}, "grids": grids, **ids}


def build(root, settings=None) -> tuple:
    """The county loaded through the real ETL into root/wh (with `settings`, e.g. a test server's): (wh, info)."""
    c, info = build_county()
    return c.build(root, settings=settings, load_time=LOAD_TIME), info

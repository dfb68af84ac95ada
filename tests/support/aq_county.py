"""A MiniCounty whose grid workers each play one 有效活跃度 pattern, with the exact figures the tests expect.

March 2024, min_active_days 20. 宏仁乡 (one grid g1, box 105.20–105.21 × 31.55–31.56, beside an empty grid g2 east of
it) and 卧龙镇 (grid g3). Every account is officially active (≥ 20 days with operations):

    A  honest        days 1–22: 登录 08:00, 巡查 09:00 and 15:00 inside g1 (a new position each time)
    B  login_only    days 1–22 登录; days 1–17 also a 巡查 → 5 login-only days, 17 effective days (not effective)
    C  bunched       days 1–20: 登录 09:00:00, 巡查 09:01, 信息采集 09:02 → 20 bunched days
    D  night_batch   days 1–21 as A (one 巡查 at 11:00); night of the 25th: 8 巡查 02:00–02:14
    E  same_gps      days 1–20: 登录, 巡查, 民情日志 all at one position (手持终端)
    F  outside_grid  days 1–20: 登录, 巡查 10:00 and 14:00 inside g2 → 40 points, all outside its own grid
    G  honest        (卧龙镇) days 1–22 like A, in g3
    H  login_only    (卧龙镇) days 1–22 登录, days 1–15 also a 巡查 → 7 login-only days
"""
from __future__ import annotations

import datetime as dt
import json

from tests.support.county import MiniCounty

MONTH = (2024, 3)
HAND = "手持终端"
FIX = (105.20777, 31.55333)


def box(x: float, y: float, d: float = 0.01) -> str:
    return json.dumps({"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]})


def _p(x0: float, day: int, k: int) -> tuple[float, float]:
    """A position inside the box at (x0, 31.55), a different one for every (day, k)."""
    return round(x0 + 0.0005 + day * 0.0003, 6), round(31.5505 + k * 0.0005, 6)


def aq_county() -> tuple[MiniCounty, dict]:
    c = MiniCounty()
    wl = c.township("卧龙镇")  # 510799001
    hr = c.township("宏仁乡")  # 510799002: the 乡镇用户 of tests/support/logins.py
    v1, v3 = c.village(hr, "宏仁村"), c.village(wl, "卧龙村")
    g1, g2, g3 = c.grid(v1), c.grid(v1), c.grid(v3)
    bounds = {g1: box(105.20, 31.55), g2: box(105.21, 31.55), g3: box(105.30, 31.55)}
    for row in c.rows["org_units"]:
        if row["unit_code"] in bounds:
            row.update(boundary=bounds[row["unit_code"]], coord_sys="WGS84")
    names = dict(zip("ABCDEFGH", ["张三丰", "李四光", "王五常", "赵六合", "钱七星", "孙八方", "周九州", "吴十全"]))
    acc = {k: c.account(g3 if k in "GH" else g1, account_id=f"WG{k}", person_name=n, phone="13812345678")
           for k, n in names.items()}
    y, m = MONTH
    t = lambda d, h, mi=0, s=0: dt.datetime(y, m, d, h, mi, s)  # noqa: E731

    def op(a, when, kind="登录", pos=None):
        extra = {"terminal": HAND}
        if pos:
            extra.update(lon=pos[0], lat=pos[1], coord_sys="WGS84")
        c.op(acc[a], when, kind, **extra)

    for d in range(1, 23):  # A, G honest
        for a, x0 in (("A", 105.20), ("G", 105.30)):
            op(a, t(d, 8))
            op(a, t(d, 9), "巡查", _p(x0, d, 0))
            op(a, t(d, 15), "巡查", _p(x0, d, 1))
    for d in range(1, 23):  # B, H login only on some days
        op("B", t(d, 8))
        op("H", t(d, 8))
        if d <= 17:
            op("B", t(d, 10), "巡查", _p(105.20, d, 2))
        if d <= 15:
            op("H", t(d, 10), "巡查", _p(105.30, d, 2))
    for d in range(1, 21):  # C bunched
        op("C", t(d, 9))
        op("C", t(d, 9, 1), "巡查", _p(105.20, d, 3))
        op("C", t(d, 9, 2), "信息采集", _p(105.20, d, 5))
    for d in range(1, 22):  # D: normal days …
        op("D", t(d, 8))
        op("D", t(d, 11), "巡查", _p(105.20, d, 4))
    for i in range(8):  # … and one night batch
        op("D", t(25, 2, 2 * i), "巡查", _p(105.20, 25, 10 + i))
    for d in range(1, 21):  # E same fix
        op("E", t(d, 8), pos=FIX)
        op("E", t(d, 10), "巡查", FIX)
        op("E", t(d, 16), "民情日志", FIX)
    for d in range(1, 21):  # F patrols in g2
        op("F", t(d, 8))
        op("F", t(d, 10), "巡查", _p(105.21, d, 6))
        op("F", t(d, 14), "巡查", _p(105.21, d, 7))
    return c, {"hr": hr, "wl": wl, "g1": g1, "g2": g2, "g3": g3, **acc}


LOAD_TIME = dt.datetime(2024, 4, 2)

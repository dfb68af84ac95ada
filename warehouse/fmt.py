"""How figures are written, in one place for the pages, the wall, the bulletin and the weekly review.

    pct(0.857142) -> '85.7%'   pct(1.0) -> '100%'   pct(0.9996) -> '99.9%'   pct(None) -> '—'
    pct(0.3, trim=False) -> '30.0%'   (tables: one precision for all rates, pct_trim)
    points(0.62, 0.6) -> 2.0  (the change of a rate in percentage points, as shown: rounded to `digits`)
    board(False, True, True) -> '黑榜(连续两期)'   (the 红黑榜 label of a unit)
    count(12345) -> '12,345'   hours(20) -> '20 小时'   hours(10069) -> '419.5 天'   date(ts) -> '2026-11-26'

A rate is never written 100% below 1 nor 0% above 0 (a unit that missed one account is not "100%"), so that the
text and the lists that are drawn from the same figure never disagree.
"""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd

DASH = "—"
# One name per headline figure, on the pages, the wall and the weekly review (the bulletin's prose keeps the
# wording of the official 通报, e.g. 事件办结完成率).
NAMES = {
    "activity_rate": "网格员账号活跃度", "dept_activity_rate": "部门账号活跃度", "events_reported": "上报事件",
    "events_closed": "办结事件", "completion_rate": "事件办结率", "on_time_rate": "按期办结率",
    "overdue_open": "超期未办结", "red_cards": "红牌督办", "kp_reports": "重点人员报送", "sign_rate": "签收率",
    "collection_rate": "采集率", "score": "综合得分",
}
# 有效活跃度 signals (warehouse/schema/60_activity_quality.sql) as the pages name them, in their order
AQ_SIGNALS = {"login_only": "登录无实操", "bunched": "操作扎堆", "night_batch": "夜间批量上传", "same_gps": "定位不变",
              "outside_grid": "巡查点出网格"}
DAYS_FROM_HOURS = 48  # a duration of 48 hours or more is written in days


def num(v) -> float | None:
    """A number, or None for None / NaN / NA / NaT."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def pct_value(x, digits: int = 1) -> float | None:
    """The rate in percent as it is written (rounded to `digits`, never 100 below 1, never 0 above 0)."""
    x = num(x)
    if x is None:
        return None
    v = round(x * 100, digits)
    step = 10 ** -digits
    if x < 1 and v >= 100:
        v = round(100 - step, digits)
    elif x > 0 and v <= 0:
        v = step
    return v


def pct(x, digits: int = 1, *, trim: bool = True) -> str:
    """0.857142 → '85.7%', 1.0 → '100%', None → '—'; trim=False keeps the decimals ('30.0%') for tables."""
    v = pct_value(x, digits)
    if v is None:
        return DASH
    s = f"{v:.{digits}f}"
    if trim and digits and s.endswith("." + "0" * digits):
        s = s[: -digits - 1]
    return s + "%"


def pct_trim(columns) -> bool:
    """One precision for every rate of a table (columns of rates): whole percentages ('50%') when all of them are
    whole, else one decimal for all ('30.0%', '10.5%'): the `trim` to pass to pct."""
    return all(v is None or v == round(v) for col in columns for v in (pct_value(x) for x in col))


def points(cur, prev, digits: int = 1) -> float | None:
    """The change of a rate in percentage points, from the rates as written (so '85.7%' → '85.7%' is 0)."""
    a, b = pct_value(cur, digits), pct_value(prev, digits)
    if a is None or b is None:
        return None
    return round(a - b, digits)


def board(red, black, black_repeat=False, *, span: str = "期") -> str:
    """The 红黑榜 label of a unit (overview/unit_ranking's red, black, black_repeat): '红榜', '黑榜', '黑榜(连续两期)'
    (`span`: '月' in the monthly bulletin), '' on neither list."""
    if red:
        return "红榜"
    if black:
        return f"黑榜(连续两{span})" if black_repeat else "黑榜"
    return ""


def count(v) -> str:
    """12345 → '12,345'; None → '—'."""
    v = num(v)
    return DASH if v is None else f"{int(round(v)):,}"


def hours(h, digits: int = 1) -> str:
    """A duration given in hours: '20 小时' below 48 hours, '3.5 天' from 48 hours; None → '—'."""
    h = num(h)
    if h is None:
        return DASH
    if h >= DAYS_FROM_HOURS:
        return f"{h / 24:,.{digits}f} 天"
    return f"{h:.{digits}f}".rstrip("0").rstrip(".") + " 小时"


def date(v) -> str:
    """A date (or a timestamp that is one: midnight) as '2026-11-26'; a time of day as '2026-11-26 08:30'."""
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return DASH
    if isinstance(v, str):
        return v
    if isinstance(v, dt.datetime) or isinstance(v, pd.Timestamp):
        if (v.hour, v.minute, v.second) == (0, 0, 0):
            return f"{v:%Y-%m-%d}"
        return f"{v:%Y-%m-%d %H:%M}"
    if isinstance(v, dt.date):
        return f"{v:%Y-%m-%d}"
    return str(v)


def score(v, digits: int = 1) -> str:
    """An assessment score out of 100 (季度考核): 85.25 → '85.3', 100 → '100.0'; None → '—'."""
    v = num(v)
    return DASH if v is None else f"{v:.{digits}f}"


def movement(m) -> str:
    """A change of rank (previous rank − rank): 3 → '↑3', -2 → '↓2', 0 → '→', None (no rank before) → '—'."""
    m = num(m)
    if m is None:
        return DASH
    m = int(m)
    return "→" if m == 0 else ("↑" if m > 0 else "↓") + str(abs(m))


def signals(names) -> str:
    """['login_only', 'night_batch'] → '登录无实操、夜间批量上传' (an unknown name as it is); none → '—'."""
    names = [n for n in (list(names) if names is not None else []) if isinstance(n, str)]
    return "、".join(AQ_SIGNALS.get(n, n) for n in names) or DASH


def signal_evidence(row) -> str:
    """The evidence of a flagged account's signals (a row of activity_quality/accounts), one clause each:
    '仅登录 5 天 (有操作 22 天)；网格外巡查点 40/40 (100%)'."""
    parts = []
    for n in row["signals"]:
        if n == "login_only":
            parts.append(f"仅登录 {count(row['login_only_days'])} 天 (有操作 {count(row['active_days'])} 天)")
        elif n == "bunched":
            parts.append(f"操作集中在几分钟内 {count(row['bunched_days'])} 天")
        elif n == "night_batch":
            parts.append(f"夜间集中巡查 {count(row['night_ops'])} 条 ({count(row['night_days'])} 夜)")
        elif n == "same_gps":
            parts.append(f"同一定位 {count(row['same_fix_days'])} 天")
        elif n == "outside_grid":
            parts.append(f"网格外巡查点 {count(row['outside_points'])}/{count(row['patrol_points'])} "
                         f"({pct(row['outside_share'])})")
    return "；".join(parts) or DASH

"""A small county where every figure and every group of the monthly bulletin is known in advance.

Months: January–March 2026; the bulletins under test are March (prev: February) and February (prev: January).
Reporting units in the county's order (sort_order): 文昌镇四个社区, 文昌镇农村网格 (文昌镇 is split), 宏仁乡,
卧龙镇, 长卿镇, 双峰乡, 大新乡, 白云乡, 文兴乡. Every number below is what the tests expect.

账号活跃度 (grid workers; March: 20 active days of 31; February: 20 of 28)
    unit            March counted/active           February counted/active
    文昌镇四个社区   2 / 1  50%   相对较差           2 / 1  50%   相对较差
    文昌镇农村网格   1 / 1  100%                     1 / 0  0%    为0
    宏仁乡           3 / 3  100%                     3 / 3  100%
    卧龙镇           6 / 4  66.7% 相对较好           5 / 4  80%   相对较好
                     (W5 opened 03-15: counted, 17 days, inactive; W6 closed 03-10: counted, inactive in March,
                      active in February; W7 closed 01-15: counted in neither)
    长卿镇           2 / 0  0%    为0                2 / 1  50%   相对较差
    双峰乡           1 / 0  0%    为0                1 / 0  0%    为0
    大新乡           2 / 1  50%   相对较差           2 / 1  50%   相对较差
    白云乡           0      —     (its only account closed 02-10)      1 / 0  0%  为0
    文兴乡           3 / 2  66.7% 相对较好           3 / 2  66.7% 相对较好
    county          20 / 12 60%                     20 / 12 60%  (与上月持平; January: 0%)
Department offices (accounts): 卧龙司法所 and 文兴派出所 active in March; 文昌派出所, 宏仁派出所, 宏仁卫生院,
卧龙派出所, 长卿派出所, 大新派出所, 大新卫生院, 白云司法所 not; 双峰司法所 is known only from a report.

事件 (March): reported / closed (any report month) / rate / group
    文昌镇四个社区 2/2 100% 100%以上 (E1 reported in February, closed in March)   文昌镇农村网格 1/0 0% 50%以下
    宏仁乡 4/3 75% 其他    卧龙镇 1/3 300% 100%以上 (two January events closed in March)    长卿镇 2/0 0% 50%以下
    双峰乡 —  (no events; one January event 已关闭 without closed_at)    大新乡 2/1 50% 其他 (the boundary)
    白云乡 0/1 — (closed one, reported none)     文兴乡 3/1 33.3% 50%以下
三项重点工作 (March): see the comments in build().
"""
from __future__ import annotations

import datetime as dt

from support.county import MiniCounty

D = dt.datetime

# county figures the tests check
MARCH_ACCOUNTS, MARCH_ACTIVE = 20, 12  # 60%
FEB_ACCOUNTS, FEB_ACTIVE = 20, 12  # 60%: 宏仁 3, 卧龙 4, 文昌四 1, 长卿 1, 大新 1, 文兴 2


def days(c: MiniCounty, account: str, year: int, month: int, first: int, last: int) -> None:
    """One login a day on days first..last of the month."""
    for d in range(first, last + 1):
        c.op(account, D(year, month, d, 9, 0))


def build() -> tuple[MiniCounty, dict]:
    c = MiniCounty()
    t = {}
    wc = t["文昌镇"] = c.township("文昌镇")
    hr = t["宏仁乡"] = c.township("宏仁乡")
    wl = t["卧龙镇"] = c.township("卧龙镇")
    cq = t["长卿镇"] = c.township("长卿镇")
    sf = t["双峰乡"] = c.township("双峰乡")
    dx = t["大新乡"] = c.township("大新乡")
    by = t["白云乡"] = c.township("白云乡")
    wx = t["文兴乡"] = c.township("文兴乡")
    g = {
        "文昌四": c.grid(c.community(wc, "城东社区"), households=400),
        "文昌农": c.grid(c.village(wc, "东岳村"), households=200),
        "宏仁": c.grid(c.village(hr, "红星村"), households=300),
        "卧龙": c.grid(c.village(wl, "卧龙村"), households=300),
        "长卿": c.grid(c.village(cq, "长卿村"), households=100),
        "双峰": c.grid(c.village(sf, "双峰村"), households=100),
        "大新": c.grid(c.village(dx, "大新村"), households=100),
        "白云": c.grid(c.village(by, "白云村"), households=100),
        "文兴": c.grid(c.village(wx, "文兴村"), households=100),
    }
    t["grids"] = g

    # ------------------------------------------------------------------ grid-worker accounts
    a = {}
    a["文昌四1"], a["文昌四2"] = c.account(g["文昌四"]), c.account(g["文昌四"])
    days(c, a["文昌四1"], 2026, 3, 1, 20)
    days(c, a["文昌四2"], 2026, 3, 1, 10)
    days(c, a["文昌四1"], 2026, 2, 1, 22)
    days(c, a["文昌四2"], 2026, 2, 1, 5)
    a["文昌农1"] = c.account(g["文昌农"])
    days(c, a["文昌农1"], 2026, 3, 1, 25)
    days(c, a["文昌农1"], 2026, 2, 1, 10)
    for i in range(3):
        a[f"宏仁{i}"] = c.account(g["宏仁"], role="网格长" if i == 0 else "网格员")
        days(c, a[f"宏仁{i}"], 2026, 3, 1, 22)
        days(c, a[f"宏仁{i}"], 2026, 2, 1, 20)
    for i in range(1, 5):
        a[f"卧龙{i}"] = c.account(g["卧龙"])
        days(c, a[f"卧龙{i}"], 2026, 3, 1, 21)
        days(c, a[f"卧龙{i}"], 2026, 2, 1, 20 if i < 4 else 10)
    a["卧龙5"] = c.account(g["卧龙"], opened_at="2026-03-15 10:00:00")  # opened mid-March
    days(c, a["卧龙5"], 2026, 3, 15, 31)
    a["卧龙6"] = c.account(g["卧龙"], status="停用", closed_at="2026-03-10 18:00:00")  # closed mid-March
    days(c, a["卧龙6"], 2026, 3, 1, 9)
    days(c, a["卧龙6"], 2026, 2, 1, 20)
    a["卧龙7"] = c.account(g["卧龙"], status="停用", closed_at="2026-01-15 18:00:00")  # closed in January
    days(c, a["卧龙7"], 2026, 1, 1, 14)
    a["长卿1"], a["长卿2"] = c.account(g["长卿"]), c.account(g["长卿"])
    days(c, a["长卿1"], 2026, 2, 1, 20)
    a["双峰1"] = c.account(g["双峰"])
    a["大新1"], a["大新2"] = c.account(g["大新"]), c.account(g["大新"])
    days(c, a["大新1"], 2026, 3, 1, 20)
    days(c, a["大新2"], 2026, 3, 1, 19)  # 19 days: one short
    days(c, a["大新1"], 2026, 2, 1, 20)
    a["白云1"] = c.account(g["白云"], status="停用", closed_at="2026-02-10 12:00:00")
    for i in range(3):
        a[f"文兴{i}"] = c.account(g["文兴"])
        days(c, a[f"文兴{i}"], 2026, 3, 1, 20 if i < 2 else 3)
        days(c, a[f"文兴{i}"], 2026, 2, 1, 20 if i < 2 else 3)
    t["accounts"] = a

    # ------------------------------------------------------------------ department offices
    o = {}
    for name, town, kind in (("文昌派出所", wc, "派出所"), ("宏仁派出所", hr, "派出所"), ("宏仁卫生院", hr, "卫生院"),
                             ("卧龙派出所", wl, "派出所"), ("卧龙司法所", wl, "司法所"), ("长卿派出所", cq, "派出所"),
                             ("大新派出所", dx, "派出所"), ("大新卫生院", dx, "卫生院"), ("白云司法所", by, "司法所"),
                             ("文兴派出所", wx, "派出所")):
        o[name] = c.office(town, kind, name)
    days(c, o["卧龙司法所"], 2026, 3, 1, 25)
    days(c, o["文兴派出所"], 2026, 3, 1, 20)
    days(c, o["宏仁卫生院"], 2026, 3, 1, 5)
    t["offices"] = o

    # ------------------------------------------------------------------ events
    e = {}
    e["E1"] = c.event(g["文昌四"], D(2026, 2, 20, 9), closed_at=D(2026, 3, 5, 9))  # closed a month later (late)
    e["E2"] = c.event(g["文昌四"], D(2026, 3, 2, 9), closed_at=D(2026, 3, 4, 9))
    e["E3"] = c.event(g["文昌四"], D(2026, 3, 10, 9), supervision="红牌")  # open, deadline 03-17: overdue
    e["E4"] = c.event(g["文昌农"], D(2026, 3, 5, 9), deadline=D(2026, 4, 30, 18), supervision="黄牌")  # open, not due
    for i in range(3):
        e[f"H{i}"] = c.event(g["宏仁"], D(2026, 3, 3 + i, 9), closed_at=D(2026, 3, 4 + i, 9), category="安全隐患")
    e["H3"] = c.event(g["宏仁"], D(2026, 3, 28, 9))  # open, deadline 04-04: not overdue at month end
    e["HF"] = c.event(g["宏仁"], D(2026, 2, 3, 9), closed_at=D(2026, 2, 4, 9))  # February: reported and closed
    e["W1"] = c.event(g["卧龙"], D(2026, 1, 10, 9), closed_at=D(2026, 3, 3, 9))  # backlog cleared in March
    e["W2"] = c.event(g["卧龙"], D(2026, 1, 12, 9), closed_at=D(2026, 3, 4, 9))
    e["W3"] = c.event(g["卧龙"], D(2026, 3, 5, 9), closed_at=D(2026, 3, 6, 9))
    e["C1"] = c.event(g["长卿"], D(2026, 3, 1, 9))
    e["C2"] = c.event(g["长卿"], D(2026, 3, 2, 9))
    e["S0"] = c.event(g["双峰"], D(2026, 1, 5, 9), status="已关闭", updated_at=D(2026, 1, 6, 9))  # cancelled
    e["X1"] = c.event(g["大新"], D(2026, 3, 3, 9), closed_at=D(2026, 3, 4, 9))
    e["X2"] = c.event(g["大新"], D(2026, 3, 20, 9))  # overdue at month end
    e["B1"] = c.event(g["白云"], D(2026, 2, 25, 9), closed_at=D(2026, 3, 10, 9))  # reported Feb, closed late in March
    e["Y1"] = c.event(g["文兴"], D(2026, 3, 4, 9), closed_at=D(2026, 3, 5, 9))
    e["Y2"] = c.event(g["文兴"], D(2026, 3, 5, 9))
    e["Y3"] = c.event(g["文兴"], D(2026, 3, 6, 9))
    t["events"] = e

    # ------------------------------------------------------------------ key-person reports (March)
    # 流动人口: 文昌四 5 (4 signed by 文昌派出所), 宏仁 4 (3 signed), 卧龙 4 (none), 大新 2 (one signed in March,
    #           one on 04-03, after the default cut-off), 文兴 1 (signed)
    r = []
    for i in range(5):
        r.append(c.report(g["文昌四"], "流动人口", D(2026, 3, 2 + i, 9), police="文昌派出所",
                          police_signed_at=D(2026, 3, 3 + i, 9) if i < 4 else None))
    for i in range(4):
        r.append(c.report(g["宏仁"], "流动人口", D(2026, 3, 2 + i, 9), police="宏仁派出所",
                          police_signed_at=D(2026, 3, 2 + i, 15) if i < 3 else None))
    for i in range(4):
        r.append(c.report(g["卧龙"], "流动人口", D(2026, 3, 2 + i, 9), police="卧龙派出所"))
    r.append(c.report(g["大新"], "流动人口", D(2026, 3, 10, 9), police="大新派出所", police_signed_at=D(2026, 3, 11, 9)))
    r.append(c.report(g["大新"], "流动人口", D(2026, 3, 30, 9), police="大新派出所", police_signed_at=D(2026, 4, 3, 9)))
    r.append(c.report(g["文兴"], "流动人口", D(2026, 3, 9, 9), police="文兴派出所", police_signed_at=D(2026, 3, 9, 11)))
    # 吸毒人员: only 大新, 4 reports, all signed by 大新派出所
    for i in range(4):
        r.append(c.report(g["大新"], "吸毒人员", D(2026, 3, 5 + i, 9), police="大新派出所",
                          police_signed_at=D(2026, 3, 6 + i, 9)))
    # 严重精神障碍患者: two sign-offs each. 宏仁 2 (one fully signed, one signed by the 派出所 only); 大新 1 (派出所
    # signed; 卫生院 signed after the cut-off)
    r.append(c.report(g["宏仁"], "严重精神障碍患者", D(2026, 3, 12, 9), police="宏仁派出所",
                      police_signed_at=D(2026, 3, 12, 12), health="宏仁卫生院", health_signed_at=D(2026, 3, 13, 9)))
    r.append(c.report(g["宏仁"], "严重精神障碍患者", D(2026, 3, 13, 9), police="宏仁派出所",
                      police_signed_at=D(2026, 3, 13, 12), health="宏仁卫生院"))
    r.append(c.report(g["大新"], "严重精神障碍患者", D(2026, 3, 14, 9), police="大新派出所",
                      police_signed_at=D(2026, 3, 14, 12), health="大新卫生院", health_signed_at=D(2026, 4, 2, 9)))
    # 社区矫正人员: none. 刑满释放人员: 卧龙 1 (signed by 卧龙司法所), 双峰 1 (双峰司法所: no account, unsigned)
    r.append(c.report(g["卧龙"], "刑满释放人员", D(2026, 3, 16, 9), justice="卧龙司法所",
                      justice_signed_at=D(2026, 3, 16, 15)))
    r.append(c.report(g["双峰"], "刑满释放人员", D(2026, 3, 17, 9), justice="双峰司法所"))
    # February: 文昌四 3 reports, all signed in February
    for i in range(3):
        r.append(c.report(g["文昌四"], "流动人口", D(2026, 2, 10 + i, 9), police="文昌派出所",
                          police_signed_at=D(2026, 2, 11 + i, 9)))
    t["reports"] = r

    # ------------------------------------------------------------------ collection (cumulative, per grid)
    c.collection(g["文昌四"], dt.date(2026, 2, 27), 300)
    c.collection(g["文昌四"], dt.date(2026, 3, 31), 360)
    c.collection(g["文昌四"], dt.date(2026, 4, 2), 390)  # after March: not in March's figure
    c.collection(g["宏仁"], dt.date(2026, 3, 15), 150)
    return c, t

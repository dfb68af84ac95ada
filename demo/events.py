"""Events and their flow (受理 → 交办 → … → 办结), with the time limits, backlogs and campaigns of the county.

`EventsMixin` of the generator (demo.generator.Generator).
"""
from __future__ import annotations

import math

import numpy as np

from core.spec import EVENT_CATEGORIES, EVENT_SOURCES, HANDLING_LEVELS, SATISFACTION
from demo.constants import (
    BACKLOG,
    CAMPAIGN,
    CATEGORY_WEIGHT,
    COUNTY_CODE,
    DAY,
    FLOW_NOTE,
    HOUR,
    INF,
    LEVEL_OF_LEN,
    LEVEL_WEIGHT,
    LIMIT_HOURS,
    PERFECT,
    PHONE_PREFIX,
    SOURCE_WEIGHT,
    SUMMARY,
    SUMMARY_FILL,
    SURNAMES,
    TOP_DOWN,
    TOWNSHIPS,
    ZERO_MONTHS,
)
from demo.helpers import _fmt, id_number


class EventsMixin:
    """Events and their flow records."""

    def build_events(self):
        R, rng = self.R("events"), self.rng("events")
        close_q = np.clip(rng.normal(0.88, 0.05, 32), 0.7, 0.98)
        p_never = np.full(32, 0.012)
        for town, p in BACKLOG.items():
            close_q[TOWNSHIPS.index(town)] = 0.5
            p_never[TOWNSHIPS.index(town)] = p
        campaign = {TOWNSHIPS.index(t): self.M - n for t, n in CAMPAIGN.items() if self.M - n >= 1}
        # now and then a 乡镇 stalls for a month: what it would have closed then is closed the month after
        calm = [TOWNSHIPS.index(t) for t in (*PERFECT, *BACKLOG, *ZERO_MONTHS)]
        self.stall = {(t, k) for t in range(32) for k in range(self.M - 1)
                      if t not in calm and rng.random() < 0.06}
        self.stall = {(t, k) for t, k in self.stall if t not in self.collapse}  # a collapse of its own instead
        rate = 1.9 * (0.6 + 0.6 * self.activity_mean) * rng.uniform(0.8, 1.2, 32)
        cats = list(EVENT_CATEGORIES)
        grids_of = [[g for g in self.grids if self.units[g]["town"] == t] for t in range(32)]
        hh_of = [[self.units[g]["hh"] for g in gl] for gl in grids_of]
        events = []
        for k, (yy, mm) in enumerate(self.ym):
            w = dict(CATEGORY_WEIGHT)
            if mm in (6, 7, 8):
                w["安全隐患"] *= 1.7
            if mm in (12, 1, 2):
                w["安全隐患"] *= 1.3
                w["矛盾纠纷"] *= 1.4
            if 5 <= mm <= 9:
                w["环境卫生"] *= 1.3
            season = 1.0 + 0.08 * math.cos((mm - 7) / 6 * math.pi)  # more in summer
            days = np.nonzero(self.day_month == k)[0]
            dw = (np.where(self.weekend[days], 0.45, 1.0) * np.maximum(self.holiday[days], 0.35)).tolist()
            for t in range(32):
                zero = k >= self.zero_from[t]
                n = int(rng.poisson(self.town_grids[t] * rate[t] * season * (0.25 if zero else 1.0)))
                for _ in range(n):
                    d = int(self.days[days[R.choices(range(len(days)), dw)[0]]])
                    t0 = d * DAY + int(R.triangular(8 * HOUR, 20 * HOUR, 10 * HOUR))
                    g = R.choices(grids_of[t], hh_of[t])[0]
                    cat = R.choices(cats, [w[c] for c in cats])[0]
                    src = R.choices(EVENT_SOURCES, [SOURCE_WEIGHT[s] for s in EVENT_SOURCES])[0]
                    rep = None if src in TOP_DOWN else self.worker_at(g, t0)
                    if zero or (src not in TOP_DOWN and rep is None):
                        src = R.choices(TOP_DOWN, (15, 25, 60))[0]
                        rep = None
                    events.append(self._event(R, t0, g, t, cat, src, rep, close_q[t], p_never[t],
                                              campaign.get(t)))
        events.sort(key=lambda e: (e["t0"], e["grid"]))
        # the silent 乡镇: no event reported from silent_day on; silent since the day after its last one
        quiet = self.silent_day * DAY
        before = [e["t0"] for e in events if e["town"] == self.silent_town and e["t0"] < quiet]
        self.silent_from = int(max(before) // DAY) + 1 if before else self.silent_day
        events = [e for e in events if e["town"] != self.silent_town or e["t0"] < quiet]
        per_day: dict[str, int] = {}
        for e in events:
            day = _fmt(e["t0"])[:10].replace("-", "")
            per_day[day] = per_day.get(day, 0) + 1
            e["id"] = f"SJ{day}{per_day[day]:04d}"
        self.events = events

    def _event(self, R, t0, g, town, cat, src, rep, close_q, p_never, campaign):
        u = self.units[g]
        gcode, ccode, tcode = u["code"], u["parent"], u["code"][:9]
        top = src in TOP_DOWN
        limit = LIMIT_HOURS[cat] * HOUR
        deadline = t0 + limit
        steps = []  # (time, action, from, to, account, note)
        if top:
            note = {"12345热线": "12345热线工单转办", "上级交办": "县综治中心交办", "部门移交": "县级部门移交"}[src]
            steps.append((t0, "上报", COUNTY_CODE, tcode, self.county_actor(t0, R), note))
        else:
            steps.append((t0, "上报", gcode, ccode, rep, "网格员巡查发现" if src == "网格员巡查" else "群众反映，网格员上报"))
        t = t0
        closed_invalid = False
        if not top and R.random() < 0.01:
            t = self.workhours(t + R.uniform(1, 24) * HOUR, R)
            steps.append((t, "退回", ccode, gcode, self.comm_actor(ccode, t), "重复上报，事件已关闭"))
            closed_invalid = True
        elif not top and R.random() < 0.04:
            t = self.workhours(t + R.uniform(1, 8) * HOUR, R)
            steps.append((t, "退回", ccode, gcode, self.comm_actor(ccode, t), "信息不全，请补充现场照片后重新上报"))
            t = self.workhours(t + R.uniform(1, 24) * HOUR, R)
            w = self.worker_at(g, t)
            if w is not None:
                steps.append((t, "上报", gcode, ccode, w, "已补充材料，重新上报"))
        sat = None
        if not closed_invalid:
            level = R.choices(HANDLING_LEVELS, LEVEL_WEIGHT)[0]
            if top and level in ("网格", "社区"):
                level = "乡镇"
            never = R.random() < p_never
            unaccepted = never and R.random() < 0.4
            if campaign is not None and t0 < self.mstart[campaign]:
                cs = float(self.mstart[campaign])
                campaign_t = cs + R.uniform(0, 0.9) * (float(self.mstart[campaign + 1]) - cs)
            else:
                campaign_t = None
            if unaccepted and campaign_t is not None:
                unaccepted = False
            chain = []
            if top:
                chain = [("受理", tcode, tcode, "T")]
                if level == "县":
                    chain += [("上报上级", tcode, COUNTY_CODE, "T"), ("交办", COUNTY_CODE, tcode, "C")]
                chain += [("交办", tcode, ccode, "T")]
            elif level == "社区":
                chain = [("受理", ccode, ccode, "M")]
            elif level == "乡镇":
                chain = [("受理", ccode, ccode, "M"), ("上报上级", ccode, tcode, "M"), ("交办", tcode, ccode, "T")]
            elif level == "县":
                chain = [("受理", ccode, ccode, "M"), ("上报上级", ccode, tcode, "M"),
                         ("上报上级", tcode, COUNTY_CODE, "T"), ("交办", COUNTY_CODE, tcode, "C"),
                         ("交办", tcode, ccode, "T")]
            if not unaccepted:
                t = t + R.expovariate(1 / 4) * HOUR + 0.2 * HOUR
                for i, (act, fr, to, who) in enumerate(chain):
                    if i:
                        t += (R.expovariate(1 / 6) + 0.3) * HOUR
                    t = self.workhours(t, R)
                    steps.append((t, act, fr, to, self._actor(who, ccode, tcode, g, t, R), FLOW_NOTE[act]))
                last = t
                if never:
                    tc = INF
                elif R.random() < close_q and deadline > last + HOUR:
                    tc = last + R.uniform(0.35, 0.98) * (deadline - last)
                else:
                    tc = max(deadline, last) + (R.expovariate(1 / (6 + 14 * (1 - close_q))) + 0.05) * DAY
                if campaign_t is not None and tc > campaign_t:
                    tc = max(campaign_t, last + 2 * HOUR)
                if tc < INF:
                    tc = self.workhours(tc, R)
                    mc = self.month_of(tc)
                    if (town, mc) in self.stall:
                        tc = self.workhours(float(self.mstart[mc + 1]) + R.uniform(0.5, 12) * DAY, R)
                    metric, d0, d1 = self.collapse.get(town, ("", 0, 0))
                    if metric == "completion" and d0 * DAY <= tc < d1 * DAY:  # nothing closed in those weeks
                        tc = self.workhours(d1 * DAY + R.uniform(0.3, 3) * DAY, R)
                    tp = max(last + 600, tc - R.uniform(0.5, 24) * HOUR)
                    tp = max(min(tp, tc - 600), last + 60)
                    handler = ("G" if level == "网格" else "M")
                    unit = gcode if level == "网格" else ccode
                    steps.append((tp, "处置", unit, unit, self._actor(handler, ccode, tcode, g, tp, R), FLOW_NOTE["处置"]))
                    closer = {"网格": "G", "社区": "M"}.get(level, "T")
                    cunit = {"网格": gcode, "社区": ccode}.get(level, tcode)
                    steps.append((tc, "办结", cunit, gcode, self._actor(closer, ccode, tcode, g, tc, R), FLOW_NOTE["办结"]))
                    if R.random() < 0.9:
                        tv = self.workhours(tc + R.uniform(1, 48) * HOUR, R)
                        steps.append((tv, "验证", ccode, ccode, self.comm_actor(ccode, tv), FLOW_NOTE["验证"]))
                        if R.random() < 0.85:
                            sat = R.choices(SATISFACTION, (80, 15, 5))[0]
                            te = self.workhours(tv + R.uniform(1, 72) * HOUR, R)
                            steps.append((te, "评价", ccode, ccode, self.comm_actor(ccode, te), f"群众评价：{sat}"))
            else:
                tc = INF
            # 催办 (county) when overdue
            for j, when in enumerate((deadline + R.uniform(2, 20) * HOUR,
                                      deadline + max(limit, 5 * DAY) + R.uniform(2, 20) * HOUR)):
                when = self.workhours(when, R)
                if when < tc:
                    steps.append((when, "催办", COUNTY_CODE, tcode if level in ("乡镇", "县") or top else ccode,
                                  self.county_actor(when, R), "黄牌督办：" + FLOW_NOTE["催办"] if j == 0
                                  else "红牌督办：" + FLOW_NOTE["催办"]))
        steps.sort(key=lambda s: s[0])
        # a 乡镇 that stopped working: nothing after that but the county's 催办
        zf = self.zero_from_sec[town]
        kept, frozen = [], False
        for s in steps:
            if s[0] >= self.end:
                break
            if s[0] >= zf and s[1] != "催办" and not (s[1] == "上报" and s[2] == COUNTY_CODE):
                frozen = True
            if frozen and s[1] != "催办":
                continue
            kept.append(s)
        steps = []
        for s in kept:
            tt = float(int(s[0]))
            if steps and tt <= steps[-1][0]:
                tt = steps[-1][0] + R.randint(60, 600)
            steps.append((tt,) + s[1:])
        # state after each step
        glon, glat, sig = u["lon"], u["lat"], u["sigma"]
        ev = {"t0": t0, "grid": gcode, "town": town, "cat": cat, "src": src,
              "rep": self.acc[rep]["id"] if rep is not None else None, "deadline": deadline,
              "summary": self._summary(R, u, cat), "steps": steps}
        if top and R.random() < 0.5:
            ev["lon"] = ev["lat"] = None
        else:
            ev["lon"] = round(glon + R.gauss(0, sig), 6)
            ev["lat"] = round(glat + R.gauss(0, sig * 0.9), 6)
        ev["csys"] = "GCJ02" if R.random() < 0.3 and ev["lon"] is not None else None
        state = {"status": "待受理", "level": None, "closed_at": None, "sat": None, "sup": "普通"}
        rank = {lv: i for i, lv in enumerate(HANDLING_LEVELS)}
        versions = []
        for tt, act, fr, to, who, note in steps:
            if act == "上报":
                state["status"] = "待受理"
                lv = "乡镇" if fr == COUNTY_CODE else "网格"
            elif act in ("受理", "上报上级"):
                state["status"] = "办理中"
                lv = LEVEL_OF_LEN[len(to)]
            else:
                lv = None
                if act == "退回":
                    state["status"] = "已关闭" if closed_invalid else "已退回"
                elif act == "交办":
                    state["status"] = "办理中"
                elif act == "处置":
                    state["status"] = "待验证"
                elif act == "办结":
                    state["status"] = "已办结"
                    state["closed_at"] = tt
                elif act == "评价":
                    state["sat"] = sat
                elif act == "催办":
                    state["sup"] = "黄牌" if state["sup"] == "普通" else "红牌"
            if lv and (state["level"] is None or rank[lv] > rank[state["level"]]):
                state["level"] = lv
            versions.append((tt, dict(state)))
        ev["versions"] = versions
        return ev

    def _actor(self, who, ccode, tcode, g, t, R):
        if who == "G":
            w = self.worker_at(g, t)
            return w if w is not None else self.comm_actor(ccode, t)
        if who == "M":
            return self.comm_actor(ccode, t)
        if who == "T":
            return self.town_admin[int(tcode[6:9]) - 1]
        return self.county_actor(t, R)

    def _summary(self, R, u, cat) -> str:
        vill = self.units[self.by_code[u["parent"]]]["name"]
        place = vill + (f"{R.randint(1, 12)}组" if vill.endswith("村") else f"{R.randint(1, 30)}号楼")
        text = R.choice(SUMMARY[cat]).format(p=place, s=R.choice(SURNAMES), s2=R.choice(SURNAMES),
                                             x=R.choice(SUMMARY_FILL[cat]))
        r = R.random()
        if r < 0.03:
            text += f"联系电话{R.choice(PHONE_PREFIX)}{R.randrange(10 ** 8):08d}。"
        elif r < 0.05:
            text += f"（当事人身份证号：{id_number(R)}）"
        elif r < 0.06:
            text += '现场照片已上传,"请尽快处理"。'
        elif r < 0.065:
            text += "\n补充：群众再次来电催促。"
        return text

    # ------------------------------------------------------------------------------ key-person reports -------

"""月度通报 — the county's monthly bulletin, computed from the metrics layer as data, then rendered.

    b = bulletin.compute(con, Period.parse_month("2026-03"))      # → Bulletin (every group, figure and sentence)
    bulletin.render_md(b)  -> str          bulletin.render_json(b) -> str          b.to_dict() -> dict
    warehouse.bulletin_docx.render_docx(b) -> bytes                  warehouse.bulletin_xlsx.render_xlsx(b) -> bytes

Everything the text says comes from queries in warehouse/sql (nothing here reads a table); the grouping rules are
those of shared/domain.md, with the thresholds of the configuration file:

一、账号活跃度   units: '100%', '相对较好' (≥ activity_good), '相对较差' (> 0), '为0'; no accounts: '—', in no list.
                offices (派出所/司法所/卫生院): the ones above 0 are named, "其余…均为"0"".
二、事件报送     units: '100%以上' (≥ event_high), '50%以下' (< event_low); no events reported: '—', in neither.
三、三项重点工作 per category: 报送相对较好 = the ⌈n/3⌉ units with most reports (ties included), or, when
                report_name_each_max or fewer units reported, each named with its count; 签收相对较好 = units with
                ≥ sign_good of their reports signed by every office; the offices that signed anything.
四、红黑榜       overview/unit_ranking: best and worst composite scores; a unit black two months running is flagged.

Writing conventions (the clerk's): units by their short names (卧龙; split units by their configured names); a
group of exactly one unit is written with its full name ("宏仁乡活跃度达到100%"), except where it is named
with its count ("仅大新报送了4条信息"); offices by their names (文兴派出所). Lists in the county's order (sort_order);
red and black lists by rank. Percentages with at most one decimal ("85.7%", "100%"); a rate just under 100% is
never written "100%", one just above 0 never "0%". md and json keep the punctuation of the spec's examples
("," and "0" in ASCII quotes); the docx and the page's preview typeset it full-width (，“0”: typeset_bulletin).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field, replace

import pandas as pd

from core.config import Settings
from core.config import settings as default_settings
from core.spec import DEPT_ROLES, KP_CATEGORIES
from warehouse import fmt, metrics
from warehouse.fmt import pct  # noqa: F401 — one rule for rates on the pages, the wall and in the bulletin
from warehouse.metrics import COUNTY, Period, Scope

OFFICE_KINDS = DEPT_ROLES  # core.spec: the one source of the office kinds
UNKNOWN_CATEGORY = "未知类别"  # reports whose category is not in the contract (m_category in 30_aggregates.sql)
CN_NUMBERS = "一二三四五六七八九十"


class NoData(LookupError):
    """The warehouse holds nothing for the requested month (in the caller's scope)."""


# ---------------------------------------------------------------------------------------------------- formatting
def _num(v) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    return float(v)


def unit_names(units: list[dict]) -> str:
    """One unit: its full name; several: their short names joined by 、."""
    if len(units) == 1:
        return units[0]["full_name"]
    return "、".join(u["name"] for u in units)


def office_names(offices: list[dict]) -> str:
    return "、".join(o["name"] for o in offices)


def compare_rate(cur, prev) -> str:
    """The 环比 clause for a rate: 较上月有所提升(上月为x) / 有所下降 / 与上月持平 ('' when either is unknown)."""
    if _num(cur) is None or _num(prev) is None:
        return ""
    if pct(cur) == pct(prev):
        return f"与上月持平(上月为{pct(prev)})"
    word = "提升" if cur > prev else "下降"
    return f"较上月有所{word}(上月为{pct(prev)})"


def compare_count(cur: int, prev: int | None, unit: str) -> str:
    if prev is None:
        return ""
    if cur == prev:
        return f"与上月持平(上月为{prev}{unit})"
    return f"较上月有所{'增加' if cur > prev else '减少'}(上月为{prev}{unit})"


def _join_clauses(clauses: list[str]) -> str:
    return ";".join(c for c in clauses if c)


def _clean(v):
    """A value for json: NaN/NA → None, numpy scalars → Python, timestamps → text."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (dt.datetime, pd.Timestamp)):
        return pd.Timestamp(v).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


# ---------------------------------------------------------------------------------------------------- structure
@dataclass
class Table:
    """An appendix table: raw values per row; `formats` per column: text | int | pct | score (0–1, shown × 100) |
    points (a score out of 100) | move (a change of rank, fmt.movement)."""
    key: str
    title: str
    columns: list[str]
    formats: list[str]
    rows: list[list]
    note: str = ""

    def display_rows(self) -> list[list[str]]:
        out = []
        for r in self.rows:
            line = []
            for v, f in zip(r, self.formats):
                v = _clean(v)
                if v is None:
                    line.append("—")
                elif isinstance(v, str):
                    line.append(v)
                elif f == "pct":
                    line.append(pct(v))
                elif f == "score":
                    line.append(f"{v * 100:.1f}")
                elif f == "points":  # a score out of 100 (季度考核)
                    line.append(fmt.score(v))
                elif f == "move":  # a change of rank
                    line.append(fmt.movement(v))
                elif f == "int":
                    line.append(str(int(v)))
                else:
                    line.append(str(v))
            out.append(line)
        return out

    def to_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "columns": self.columns, "formats": self.formats,
                "rows": [[_clean(v) for v in r] for r in self.rows], "note": self.note}


@dataclass
class Section:
    key: str  # activity | events | key_tasks | red_black
    heading: str  # 一、各地账户活跃度情况
    paragraphs: list[str]
    data: dict = field(default_factory=dict)


@dataclass
class Bulletin:
    month: str  # 2026-03
    period: Period
    title: str
    county_name: str
    area: str  # 全县, 全市 (Scope(by_county=True): the counties named as the county's bulletin names 乡镇), or the caller's 乡镇
    addressee: str
    intro: str
    sections: list[Section]
    tables: list[Table]
    issuer: str
    issued: dt.date
    cutoff: dt.datetime
    warehouse_version: str
    thresholds: dict
    red_header: str = ""  # 红头, 文号, 抄送, 印发机关: the [bulletin] section of the configuration ("" = none)
    doc_number: str = ""
    cc: str = ""
    printed_by: str = ""

    def file_name(self, ext: str, suffix: str = "") -> str:
        """'2026年3月份全县网格化服务管理工作情况通报.docx' (suffix e.g. '附表' before the extension)."""
        return f"{self.period.start.year}年{self.title}{suffix}.{ext}"

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    @property
    def paragraphs(self) -> list[str]:
        return [p for s in self.sections for p in s.paragraphs]

    @property
    def attachment_lines(self) -> list[str]:
        return [f"{i}.{t.title}" for i, t in enumerate(self.tables, 1)]

    @property
    def issued_text(self) -> str:
        return f"{self.issued.year}年{self.issued.month}月{self.issued.day}日"

    def to_dict(self) -> dict:
        return {
            "month": self.month, "title": self.title, "county": self.county_name, "area": self.area,
            "addressee": self.addressee, "intro": self.intro,
            "cutoff": self.cutoff.strftime("%Y-%m-%d %H:%M:%S"), "issued": self.issued.isoformat(),
            "issuer": self.issuer, "warehouse_version": self.warehouse_version, "thresholds": self.thresholds,
            **{s.key: {"heading": s.heading, "text": s.paragraphs, **s.data} for s in self.sections},
            "attachments": self.attachment_lines,
            "tables": [t.to_dict() for t in self.tables],
        }


# ---------------------------------------------------------------------------------------------------- compute
def _unit(r, **figures) -> dict:
    return {"ru_code": r["ru_code"], "name": r["short_name"], "full_name": r["ru_name"],
            **{k: _clean(v) for k, v in figures.items()}}


def _office(r, **figures) -> dict:
    return {"name": r["office_name"], "kind": r["office_kind"], "township": _clean(r["township_name"]),
            **{k: _clean(v) for k, v in figures.items()}}


def compute(con, period: Period, scope: Scope = COUNTY, *, settings: Settings | None = None,
            cutoff: dt.datetime | None = None, issued: dt.date | None = None,
            as_of: dt.datetime | None = None) -> Bulletin:
    """The bulletin of `period` (a month) as seen by `scope`.

    as_of: the month is still running and is measured at this time (the metrics layer's $period_asof: what is
    overdue, how many active days an account can have had), as the pages measure it; None: at the month's end.

    cutoff: sign-offs count when signed before it (default: the end of the month, i.e. the 1st of the next month
    00:00); the previous month gets the same grace after its own end. issued: the date under the signature
    (default: the cut-off's date). Raises NoData when the month holds no account activity, no events and no reports.
    """
    s = settings or default_settings()
    if period.kind != "month":
        raise ValueError("月度通报只能按月生成")
    cutoff_ts = cutoff or dt.datetime.combine(period.end, dt.time())
    base = {**metrics.period_params(period), "cutoff": cutoff, "period_asof": as_of}

    def q(name: str, **extra) -> pd.DataFrame:
        return metrics.query(con, name, scope, settings=s, **base, **extra)

    cov = q("overview/coverage").to_dict("records")[0]
    if not (cov["account_days"] or cov["events_reported"] or cov["events_closed"] or cov["kp_reports"]):
        first, last = (pd.Timestamp(cov[k]).date() if _clean(cov[k]) else None
                       for k in ("data_first_day", "data_last_day"))
        held = f"现有数据范围: {first} 至 {last}" if first else "数据仓库中没有任何业务数据"
        raise NoData(f"数据仓库中没有 {period.key} 的数据, 无法生成该月通报 ({held})")

    # 环比 only against a month the warehouse holds: before the first month of data there is nothing to compare
    prev = period.prev()
    pcov = metrics.query(con, "overview/coverage", scope, settings=s, **prev.params())
    has_prev = bool(pcov["account_days"].iloc[0] or pcov["events_reported"].iloc[0]
                    or pcov["events_closed"].iloc[0] or pcov["kp_reports"].iloc[0])

    m = s.metrics
    # the 全市通报 (Scope(by_county=True)): the city with its counties as the units (warehouse/scoped.py), so every
    # group below names counties where the county's bulletin names 乡镇, by the same rules and thresholds
    city = scope.by_county
    area = "全市" if city else ("全县" if scope.county_wide else scope.label)
    M = f"{period.start.month}月份"
    county = _clean(cov["county_name"]) or s.county.name
    head = q("overview/headline").to_dict("records")[0]
    act = q("activity/by_unit")
    off = q("activity/by_office")
    ev = q("events/by_unit")
    kp = q("kp/by_category_unit")
    kpu = q("kp/by_unit")
    tallies = q("overview/kp_tallies")
    offcat = q("kp/by_office_category")
    offsig = q("kp/by_office", as_of=cutoff_ts)
    rank = q("overview/unit_ranking")
    if not has_prev:
        head = {k: (None if k.startswith("prev_") else v) for k, v in head.items()}
        for df in (act, off, ev, kp, kpu, tallies, offsig, rank):
            for c in df.columns:
                if c.startswith("prev_"):
                    df[c] = None

    sections = [
        _activity_section(M, area, head, act, off, m),
        _events_section(M, area, head, ev, m),
        _key_tasks_section(M, area, head, kp, tallies, offcat, m),
        _red_black_section(M, rank, m),
    ]
    tables = _tables(head, act, off, ev, kp, kpu, offsig, rank, m, town_label="所属县" if city else "所属乡镇")
    return Bulletin(
        month=period.key, period=period, title=f"{M}{area}网格化服务管理工作情况通报", county_name=county,
        area=area, addressee=("各县(市、区)、市级有关部门:" if city else "各乡镇、县级有关部门:" if scope.county_wide
                              else f"{area}各社区(村)、有关部门:"),
        intro=f"现将{period.start.year}年{period.start.month}月{area}网格化服务管理工作情况通报如下。",
        sections=sections, tables=tables, issuer=s.bulletin.issuer or f"{county}网格化服务管理中心",
        issued=issued or cutoff_ts.date(), cutoff=cutoff_ts, warehouse_version=_clean(cov["warehouse_version"]) or "",
        thresholds=metrics.threshold_params(s), red_header=s.bulletin.red_header,
        doc_number=s.bulletin.doc_number.format(year=(issued or cutoff_ts.date()).year, month=period.start.month),
        cc=s.bulletin.cc, printed_by=s.bulletin.printed_by)


# ---------------------------------------------------------------------------------------------------- 一、账号活跃度
ACTIVITY_GROUPS = ("100%", "相对较好", "相对较差", "为0", "—")


def _activity_section(M: str, area: str, head, act: pd.DataFrame, off: pd.DataFrame, m) -> Section:
    groups = {g: [_unit(r, accounts=r["accounts"], active=r["active"], rate=r["rate"], prev_rate=r["prev_rate"])
                  for _, r in act[act["grp"] == g].iterrows()] for g in ACTIVITY_GROUPS}
    county = {"accounts": _clean(head["accounts"]), "active": _clean(head["active"]),
              "rate": _clean(head["activity_rate"]), "prev_rate": _clean(head["prev_activity_rate"])}
    paras = []
    if county["accounts"]:
        cmp = compare_rate(county["rate"], county["prev_rate"])
        paras.append(f"{M},{area}网格员账号{county['accounts']}个,活跃账号{county['active']}个,"
                     f"账户活跃度为{pct(county['rate'])}" + (f",{cmp}" if cmp else "") + "。")
    else:
        paras.append(f"{M},{area}无在用网格员账号。")

    full, good, poor, zero, none = (groups[g] for g in ACTIVITY_GROUPS)
    with_data = full + good + poor + zero
    clauses = []
    if with_data:
        if full:
            clauses.append(f"{unit_names(full)}活跃度达到100%")
        if good:
            clauses.append(f"{unit_names(good)}活跃度相对较好")
        rest_ok = not none and (full or good)  # "其余" then means exactly the units not yet named
        if poor and rest_ok:
            clause = "其余各地活跃度相对较差"
            if zero:
                clause += f',其中{unit_names(zero)}活跃度为"0"'
            clauses.append(clause)
        else:
            if poor:
                clauses.append(f"{unit_names(poor)}活跃度相对较差")
            if zero:
                clauses.append('各地活跃度均为"0"' if zero == with_data and not none
                               else f'{unit_names(zero)}活跃度为"0"')
    if none:
        clauses.append(f"{unit_names(none)}无网格员账号" if with_data else "各地均无网格员账号")
    if clauses:
        lead = "其中," if len(with_data) + len(none) > 1 and not clauses[0].startswith("各地") else ""
        paras.append(lead + _join_clauses(clauses) + "。")

    # department offices
    above = [_office(r, accounts=r["accounts"], active=r["active"], rate=r["rate"], prev_rate=r["prev_rate"])
             for _, r in off[off["grp"] == "有活跃"].iterrows()]
    zero_o = [_office(r, accounts=r["accounts"], active=r["active"], rate=r["rate"], prev_rate=r["prev_rate"])
              for _, r in off[off["grp"] == "为0"].iterrows()]
    no_acc = [_office(r) for _, r in off[off["grp"] == "—"].iterrows()]
    dept = {"accounts": _clean(head["dept_accounts"]), "active": _clean(head["dept_active"]),
            "rate": _clean(head["dept_activity_rate"]), "prev_rate": _clean(head["prev_dept_activity_rate"])}
    if len(off):
        kinds = "、".join(k for k in OFFICE_KINDS if k in set(off["office_kind"]))
        sent = f"部门账号方面,{area}{kinds}账号{dept['accounts']}个,活跃账号{dept['active']}个"
        if dept["accounts"]:
            cmp = compare_rate(dept["rate"], dept["prev_rate"])
            sent += f",账户活跃度为{pct(dept['rate'])}" + (f",{cmp}" if cmp else "")
        zero_kinds = "、".join(k for k in OFFICE_KINDS if any(o["kind"] == k for o in zero_o))
        if above and zero_o:
            sent += f';除{office_names(above)}以外,其余{zero_kinds}账号活跃度均为"0"'
        elif zero_o:
            sent += f';{zero_kinds}账号活跃度均为"0"'
        elif above:
            sent += f";{kinds}账号活跃度均不为\"0\""
        if no_acc:
            sent += f";{office_names(no_acc)}未开通账号"
        paras.append(sent + "。")
    data = {"county": county, "groups": groups,
            "offices": {"county": dept, "above_zero": above, "zero": zero_o, "no_account": no_acc}}
    return Section("activity", "一、各地账户活跃度情况", paras, data)


# ---------------------------------------------------------------------------------------------------- 二、事件
def _events_section(M: str, area: str, head, ev: pd.DataFrame, m) -> Section:
    high_label, low_label = f"{pct(m.event_high)}以上", f"{pct(m.event_low)}以下"
    order = (high_label, low_label, "其他", "—")
    groups = {g: [_unit(r, reported=r["reported"], closed=r["closed"], completion_rate=r["completion_rate"],
                        on_time_rate=r["on_time_rate"], overdue_open=r["overdue_open"],
                        prev_completion_rate=r["prev_completion_rate"])
                  for _, r in ev[ev["grp"] == g].iterrows()] for g in order}
    county = {k: _clean(head[c]) for k, c in (
        ("reported", "events_reported"), ("closed", "events_closed"), ("completion_rate", "completion_rate"),
        ("prev_completion_rate", "prev_completion_rate"), ("closed_on_time", "closed_on_time"),
        ("on_time_rate", "on_time_rate"), ("overdue_open", "overdue_open"), ("prev_reported", "prev_events_reported"),
        ("prev_closed", "prev_events_closed"))}
    paras = []
    if county["reported"]:
        cmp = compare_rate(county["completion_rate"], county["prev_completion_rate"])
        s1 = (f"{M},{area}共上报事件{county['reported']}件,办结事件{county['closed']}件,"
              f"事件办结完成率为{pct(county['completion_rate'])}" + (f",{cmp}" if cmp else ""))
    else:
        s1 = f"{M},{area}未上报事件,办结事件{county['closed']}件"
    tail = []
    if county["closed"]:
        tail.append(f"按期办结率为{pct(county['on_time_rate'])}")
    tail.append(f"月末超期未办结事件{county['overdue_open']}件")
    paras.append(s1 + ";" + ",".join(tail) + "。")

    high, low, middle, none = (groups[g] for g in order)
    clauses = []
    if high:
        clauses.append(f"{unit_names(high)}事件办结完成率达到{high_label}")
    if low:
        clauses.append(f"{unit_names(low)}事件办结完成率在{low_label}")
    if middle and not high and not low:
        clauses.append(f"各地事件办结完成率均在{pct(m.event_low)}至{pct(m.event_high)}之间")
    if none:
        clauses.append(f"{unit_names(none)}本月未上报事件")
    if clauses:
        n_units = len(high) + len(low) + len(middle) + len(none)
        lead = "其中," if n_units > 1 and not clauses[0].startswith("各地") else ""
        paras.append(lead + _join_clauses(clauses) + "。")
    data = {"county": county, "groups": groups}
    return Section("events", "二、事件报送情况", paras, data)


# ---------------------------------------------------------------------------------------------------- 三、三项重点工作
def _key_tasks_section(M: str, area: str, head, kp: pd.DataFrame, tallies: pd.DataFrame, offcat: pd.DataFrame,
                       m) -> Section:
    county = {k: _clean(head[c]) for k, c in (
        ("reported", "kp_reports"), ("prev_reported", "prev_kp_reports"), ("needed", "signoffs_needed"),
        ("signed", "signoffs_signed"), ("sign_rate", "sign_rate"), ("prev_sign_rate", "prev_sign_rate"),
        ("fully_signed", "kp_fully_signed"))}
    # reports of a category not in the contract: in the total, named as such, in no category's paragraph
    county["unknown_category"] = int(kp.loc[kp["category"] == UNKNOWN_CATEGORY, "reported"].sum())
    paras = []
    if county["reported"]:
        cmp = compare_count(county["reported"], county["prev_reported"], "条")
        s1 = f"{M},{area}网格员共报送重点人员信息{county['reported']}条"
        if county["unknown_category"]:
            s1 += f'(其中{county["unknown_category"]}条的人员类别不在规范代码中,列为"{UNKNOWN_CATEGORY}")'
        s1 += f",{cmp}" if cmp else ""
        if county["needed"]:
            cmp = compare_rate(county["sign_rate"], county["prev_sign_rate"])
            s1 += (f";派出所、司法所、卫生院应签收{county['needed']}条次,已签收{county['signed']}条次,"
                   f"签收率为{pct(county['sign_rate'])}" + (f",{cmp}" if cmp else ""))
        paras.append(s1 + "。")
    else:
        paras.append(f"{M},{area}网格员均未报送重点人员信息。")

    categories = []
    cats = [c for c in KP_CATEGORIES if c in set(kp["category"])] + \
           sorted(set(kp["category"]) - set(KP_CATEGORIES) - {UNKNOWN_CATEGORY})
    for i, cat in enumerate(cats):
        rows = kp[kp["category"] == cat]
        t = tallies[tallies["category"] == cat]
        reporters = rows[rows["reported"] > 0]
        n = int(rows["reported"].sum())
        kinds = [k for k in OFFICE_KINDS if k in set(offcat.loc[offcat["category"] == cat, "office_kind"])]
        item = {"category": cat, "offices": kinds, "reported": n,
                "prev_reported": _clean(t["prev_reports"].iloc[0]) if len(t) else None,
                "needed": int(t["signoffs_needed"].iloc[0]) if len(t) else 0,
                "signed": int(t["signoffs_signed"].iloc[0]) if len(t) else 0,
                "sign_rate": _clean(t["sign_rate"].iloc[0]) if len(t) else None,
                "units_reporting": len(reporters),
                "reporters": [_unit(r, reported=r["reported"], fully_signed=r["fully_signed"],
                                    fully_signed_rate=r["fully_signed_rate"]) for _, r in reporters.iterrows()],
                "mode": "none" if not len(reporters) else ("each" if len(reporters) <= m.report_name_each_max else "top"),
                "report_good": [_unit(r, reported=r["reported"]) for _, r in rows[rows["report_good"]].iterrows()],
                "sign_good": [_unit(r, reported=r["reported"], fully_signed=r["fully_signed"],
                                    fully_signed_rate=r["fully_signed_rate"])
                              for _, r in rows[rows["sign_good"]].iterrows()],
                "offices_signed": {}, "offices_zero": {}}
        sentences = []
        if item["mode"] == "none":
            sentences.append(f"{area}各地网格员均未报送")
        else:
            if item["mode"] == "each":
                named = "、".join(f"{u['name']}报送了{u['reported']}条" for u in item["reporters"]) + "信息"
                others = len(rows) > len(reporters)
                sentences.append(f"仅{named}" + (",其余各地网格员均未报送" if others else ""))
            else:
                sentences.append(f"{area}共报送{n}条信息,{unit_names(item['report_good'])}报送相对较好")
            if item["sign_good"]:
                sentences.append(f"{unit_names(item['sign_good'])}签收相对较好")
            else:
                sentences.append(f"各地报送信息的签收率均未达到{pct(m.sign_good)}")
            office_clauses = []
            for kind in kinds:
                oc = offcat[(offcat["category"] == cat) & (offcat["office_kind"] == kind)]
                signed = [_office(r, received=r["received"], signed=r["signed"]) for _, r in oc[oc["signed"] > 0].iterrows()]
                zero = [_office(r, received=r["received"], signed=r["signed"]) for _, r in oc[oc["signed"] == 0].iterrows()]
                item["offices_signed"][kind] = signed
                item["offices_zero"][kind] = zero
                lead = f"{kind}方面," if len(kinds) > 1 else ""
                if not signed:
                    office_clauses.append(f'{lead}{area}{kind}签收均为"0"')
                elif not zero:
                    office_clauses.append(f"{lead}{area}{kind}均进行了签收")
                else:
                    only = "仅" if 2 * len(signed) <= len(signed) + len(zero) else ""
                    office_clauses.append(f'{lead}{area}{only}{office_names(signed)}进行了签收,其余{kind}签收均为"0"')
            if office_clauses:
                sentences.append(";".join(office_clauses))
        item["text"] = f"({CN_NUMBERS[i]}){cat}。" + "。".join(sentences) + "。"
        paras.append(item["text"])
        categories.append(item)
    return Section("key_tasks", '三、"三项重点工作"开展情况', paras, {"county": county, "categories": categories})


# ---------------------------------------------------------------------------------------------------- 四、红黑榜
def _red_black_section(M: str, rank: pd.DataFrame, m) -> Section:
    def entry(r) -> dict:
        return _unit(r, score=r["score"], rank=r["rank"], activity_rate=r["activity_rate"],
                     completion_rate=r["completion_rate"], fully_signed_rate=r["fully_signed_rate"],
                     prev_score=r["prev_score"], prev_rank=r["prev_rank"], repeat=bool(r["black_repeat"]))

    by_rank = rank.sort_values(["rank", "sort_order"], na_position="last")
    red = [entry(r) for _, r in by_rank[by_rank["red"]].iterrows()]
    black = [entry(r) for _, r in by_rank[by_rank["black"]].sort_values(["rank", "sort_order"], ascending=[False, True]).iterrows()]
    repeat = [u for u in black if u["repeat"]]
    sent = (f"综合账号活跃度、事件办结完成率和重点人员信息签收情况排名(综合得分见附件),{M}红榜:"
            f"{unit_names(red) if red else '无'};黑榜:{unit_names(black) if black else '无'}。")
    if repeat:
        sent += f"其中,{unit_names(repeat)}连续两个月列入黑榜。"
    paras = [sent]
    return Section("red_black", "四、红黑榜", paras, {"red": red, "black": black, "black_repeat": repeat})


# ---------------------------------------------------------------------------------------------------- appendix
def _first(df: pd.DataFrame):
    """The first row of a query's result (where its total_* columns are), or None when it has none."""
    return df.iloc[0] if len(df) else None


def _tables(head, act, off, ev, kp, kpu, offsig, rank, m, town_label: str = "所属乡镇") -> list[Table]:
    t1 = Table("activity_units", "各地网格员账号活跃度统计表",
               ["序号", "单位", "账号数", "活跃账号数", "活跃度", "上月活跃度", "分组"],
               ["int", "text", "int", "int", "pct", "pct", "text"],
               [[i, r["short_name"], r["accounts"], r["active"], r["rate"], r["prev_rate"], r["grp"]]
                for i, (_, r) in enumerate(act.iterrows(), 1)]
               + [["", "合计", head["accounts"], head["active"], head["activity_rate"], head["prev_activity_rate"], ""]],
               note=f"活跃: 当月有操作的天数不少于{m.min_active_days}天; 无账号的单位显示“—”。")
    t2 = Table("activity_offices", "部门账号活跃度统计表",
               ["序号", "部门", "类别", town_label, "账号数", "活跃账号数", "活跃度", "上月活跃度"],
               ["int", "text", "text", "text", "int", "int", "pct", "pct"],
               [[i, r["office_name"], r["office_kind"], r["township_name"], r["accounts"], r["active"], r["rate"],
                 r["prev_rate"]] for i, (_, r) in enumerate(off.iterrows(), 1)]
               + [["", "合计", "", "", head["dept_accounts"], head["dept_active"], head["dept_activity_rate"],
                   head["prev_dept_activity_rate"]]])
    t3 = Table("events_units", "事件办结情况统计表",
               ["序号", "单位", "上报事件", "办结事件", "办结完成率", "按期办结率", "超期未办结", "上月办结完成率", "分组"],
               ["int", "text", "int", "int", "pct", "pct", "int", "pct", "text"],
               [[i, r["short_name"], r["reported"], r["closed"], r["completion_rate"], r["on_time_rate"],
                 r["overdue_open"], r["prev_completion_rate"], r["grp"]] for i, (_, r) in enumerate(ev.iterrows(), 1)]
               + [["", "合计", head["events_reported"], head["events_closed"], head["completion_rate"],
                   head["on_time_rate"], head["overdue_open"], head["prev_completion_rate"], ""]],
               note="办结完成率 = 当月办结事件(不论何时上报) / 当月上报事件; 超期未办结为月末仍未办结且已过办理时限的事件。")
    cats = [c for c in KP_CATEGORIES if c in set(kp["category"])]
    if kp.loc[kp["category"] == UNKNOWN_CATEGORY, "reported"].sum():  # so that the columns add up to 合计
        cats.append(UNKNOWN_CATEGORY)
    # the cells per category; the unit's totals and the 合计 row are kp/by_unit's (m_kp_counts, m_fully_signed_rate)
    wide = kp.pivot_table(index="ru_code", columns="category", values="reported", aggfunc="sum", sort=False)
    rows4 = [[i, u["short_name"], *[int(wide.loc[u["ru_code"], c]) for c in cats], int(u["reported"]),
              u["fully_signed_rate"]] for i, (_, u) in enumerate(kpu.iterrows(), 1)]
    t = _first(kpu)
    rows4.append(["", "合计", *[int(kp.loc[kp["category"] == c, "reported"].sum()) for c in cats],
                  int(t["total_reported"]) if t is not None else 0, t["total_fully_signed_rate"] if t is not None else None])
    t4 = Table("kp_units", "三项重点工作信息报送情况统计表", ["序号", "单位", *cats, "合计", "全部签收占比"],
               ["int", "text", *["int"] * len(cats), "int", "pct"], rows4,
               note="全部签收占比: 报送的信息中已由所有接收部门签收的比例。"
                    + (f"{UNKNOWN_CATEGORY}: 人员类别不在规范代码中的信息, 计入合计, 无接收部门。"
                       if UNKNOWN_CATEGORY in cats else ""))
    t5 = Table("kp_offices", "部门签收情况统计表",
               ["序号", "部门", "类别", "应签收", "已签收", "签收率", f"超{m.sign_red_hours:g}小时未签收"],
               ["int", "text", "text", "int", "int", "pct", "int"],
               [[i, r["office_name"], r["office_kind"], r["received"], r["signed"], r["sign_rate"], r["unsigned_red"]]
                for i, (_, r) in enumerate(offsig.iterrows(), 1)]
               + [["", "合计", "", *([int(o["total_received"]), int(o["total_signed"]), o["total_sign_rate"],
                                     int(o["total_unsigned_red"])] if (o := _first(offsig)) is not None
                                    else [0, 0, None, 0])]],
               note="应签收按条次计: 严重精神障碍患者信息须由派出所和卫生院分别签收。")
    by_rank = rank.sort_values(["rank", "sort_order"], na_position="last")
    t6 = Table("ranking", "综合排名表(红黑榜)",
               ["排名", "单位", "活跃度", "办结完成率", "全部签收占比", "综合得分", "上月排名", "榜单"],
               ["int", "text", "pct", "pct", "pct", "score", "int", "text"],
               [[r["rank"], r["short_name"], r["activity_rate"], r["completion_rate"], r["fully_signed_rate"],
                 r["score"], r["prev_rank"],
                 fmt.board(r["red"], r["black"], r["black_repeat"], span="月")]
                for _, r in by_rank.iterrows()],
               note="综合得分: 活跃度、办结完成率(超过100%按100%计)、全部签收占比三项中有数据各项的平均值 × 100。")
    return [t1, t2, t3, t4, t5, t6]


# ---------------------------------------------------------------------------------------------------- renderers
_PAIRED_QUOTES = re.compile(r'"([^"]*)"')
_ASCII_MARKS = re.compile(r"(?<!\d),|,(?!\d)|(?<!\d):|:(?!\d)|[;()]")  # 1,629 and 12:30 keep theirs
_WIDE_SPACE = re.compile(r"([，；：（])[ \t]+|[ \t]+([（）])")
_FULL_WIDTH = {",": "，", ":": "：", ";": "；", "(": "（", ")": "）"}


def typeset(text: str) -> str:
    """ASCII punctuation of the md text → the full-width marks of an official document (，；：（）“”)."""
    text = _PAIRED_QUOTES.sub(lambda m: f"“{m.group(1)}”", text)
    text = _ASCII_MARKS.sub(lambda m: _FULL_WIDTH[m.group(0)], text)
    return _WIDE_SPACE.sub(r"\1\2", text)  # a full-width mark carries its own space: "活跃：当月", "周（03.16"


def typeset_bulletin(b: Bulletin) -> Bulletin:
    """The bulletin's text as the docx prints it: full-width punctuation in the title, the paragraphs, the
    attachment list, the table titles, headers and notes (table cells keep their values). The page's preview
    shows this same text."""
    t = typeset
    return replace(
        b, title=t(b.title), addressee=t(b.addressee), intro=t(b.intro),
        sections=[replace(s, heading=t(s.heading), paragraphs=[t(p) for p in s.paragraphs]) for s in b.sections],
        tables=[replace(tb, title=t(tb.title), columns=[t(c) for c in tb.columns], note=t(tb.note))
                for tb in b.tables])


def render_md(b: Bulletin, *, full_width: bool = False) -> str:
    """The bulletin as Markdown; full_width=True for a typeset_bulletin(b) (its own marks full-width too)."""
    colon = "：" if full_width else ":"
    out = [f"# {b.title}", "", b.addressee, "", b.intro, ""]
    for s in b.sections:
        out += [f"## {s.heading}", ""]
        for p in s.paragraphs:
            out += [p, ""]
    out += [f"附件{colon}" + (b.attachment_lines[0] if b.attachment_lines else "")]
    out += [f"　　　{line}" for line in b.attachment_lines[1:]]
    out += ["", f"{b.issuer}", "", f"{b.issued_text}", ""]
    for i, t in enumerate(b.tables, 1):
        out += ["---", "", f"### 附件{i} {t.title}", ""]
        out.append("| " + " | ".join(t.columns) + " |")
        out.append("|" + "|".join(" --- " if f == "text" else " ---: " for f in t.formats) + "|")
        for r in t.display_rows():
            out.append("| " + " | ".join(r) + " |")
        if t.note:
            out += ["", f"注{colon}{t.note}" if full_width else f"注: {t.note}"]
        out.append("")
    return "\n".join(out)


def render_json(b: Bulletin) -> str:
    return json.dumps(b.to_dict(), ensure_ascii=False, indent=2)

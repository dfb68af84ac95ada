"""季度考核 and 年度总评 — the quarterly 100-point assessment of every reporting unit, computed as data, then
rendered (warehouse/assessment_docx.py: the 季点评 / 年总评 documents).

    a = assessment.compute(con, Quarter.parse("2026-Q1"))      # → Assessment (every unit's scores, rank, movement)
    y = assessment.compute_year(con, 2026)                     # → YearAssessment (four quarters and the year)
    a.to_dict() / y.to_dict()                                  render_json(a | y) -> str
    warehouse.assessment_docx.render_docx(a | y) -> bytes

The scores come from one query, warehouse/sql/assessment/scores.sql (its header is the rule; docs/metrics.md
"季度考核"): the monthly figures of m_unit_figures summed over the quarter's months, each indicator weight ×
rate capped at 100%, an indicator without a base giving its weight to the unit's others, ranks over the whole
county before the caller's scope is applied (a 乡镇用户 gets its own rows with their county ranks).

Two indicators come from outside the metrics layer, through small interfaces:
- 有效活跃度: the query named by [assessment] effective_query (default activity_quality/by_unit), run for each
  month with $start/$end, returning per reporting unit `ru_code`, `accounts` (counted accounts) and
  `effective` (accounts with enough days of substantive work). A query that does not exist: the
  indicator is not connected (every unit: no base, its weight redistributed) and the result says so.
- 督办答复率: `answered(period_start, period_end)` → rows (ru_code, issued, answered) of the 督办单 issued in the
  period; default warehouse.supervision.answered when that module exists, else not connected (no 督办 issued:
  every unit earns the indicator's full marks).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from core.config import Settings
from core.config import settings as default_settings
from warehouse import metrics
from warehouse.bulletin import NoData, _clean
from warehouse.metrics import COUNTY, Period, Scope

QUERY = "assessment/scores"
# (key, name as the documents write it); the keys of [assessment.weights]
INDICATORS = (("activity", "账号活跃度"), ("effective", "有效活跃度"), ("completion", "办结率"),
              ("on_time", "按期办结率"), ("sign", "签收率"), ("collection", "采集率"), ("supervision", "督办答复率"))
GRADES = ("优秀", "达标", "不达标")
CN_QUARTERS = "一二三四"
Answered = Callable[[dt.date, dt.date], Iterable[tuple[str, int, int]]]


@dataclass(frozen=True)
class Quarter:
    year: int
    q: int  # 1–4

    @staticmethod
    def parse(text: str) -> Quarter:
        """'2026-Q1' (also '2026Q1', '2026-q1')."""
        m = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", text.strip())
        if not m:
            raise ValueError(f"季度格式应为 YYYY-Qn, 例如 2026-Q1: {text!r}")
        return Quarter(int(m.group(1)), int(m.group(2)))

    @staticmethod
    def containing(day: dt.date) -> Quarter:
        return Quarter(day.year, (day.month - 1) // 3 + 1)

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> dt.date:  # exclusive
        return dt.date(self.year + (self.q == 4), 1 if self.q == 4 else 3 * self.q + 1, 1)

    @property
    def key(self) -> str:
        return f"{self.year}-Q{self.q}"

    @property
    def label(self) -> str:
        return f"{self.year}年第{CN_QUARTERS[self.q - 1]}季度"

    def prev(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.q == 1 else Quarter(self.year, self.q - 1)

    def months(self) -> list[Period]:
        return [Period.month(self.year, 3 * self.q - 2 + i) for i in range(3)]


# ---------------------------------------------------------------------------------------------------- structure
@dataclass
class Assessment:
    quarter: Quarter
    area: str  # 全县, or the caller's 乡镇
    county_name: str
    issuer: str
    issued: dt.date
    weights: dict[str, float]
    pass_score: float
    reward_score: float
    connected: dict[str, bool]  # effective / supervision: is the source there
    units: list[dict]  # one per reporting unit in scope, best first (unranked last)
    has_prev: bool
    as_of: dt.datetime | None = None  # the quarter is still running: its figures are as of this time
    warehouse_version: str = ""

    @property
    def title(self) -> str:
        return f"{self.quarter.label}{self.area}网格化服务管理工作考核情况通报"

    def file_name(self, ext: str) -> str:
        return f"{self.title}.{ext}"

    def grade(self, g: str) -> list[dict]:
        return [u for u in self.units if u["grade"] == g]

    @property
    def scored(self) -> list[dict]:
        return [u for u in self.units if u["score"] is not None]

    @property
    def mean_score(self) -> float | None:
        s = [u["score"] for u in self.scored]
        return sum(s) / len(s) if s else None

    def to_dict(self) -> dict:
        return {"kind": "quarter", "quarter": self.quarter.key, "label": self.quarter.label, "title": self.title,
                "area": self.area, "county": self.county_name, "issuer": self.issuer,
                "as_of": self.as_of.strftime("%Y-%m-%d %H:%M") if self.as_of else None,
                "issued": self.issued.isoformat(), "warehouse_version": self.warehouse_version,
                "period": {"start": self.quarter.start.isoformat(), "end": self.quarter.end.isoformat()},
                "indicators": [{"key": k, "name": n, "weight": self.weights[k],
                                "connected": self.connected.get(k, True)} for k, n in INDICATORS],
                "pass_score": self.pass_score, "reward_score": self.reward_score,
                "mean_score": _clean(self.mean_score), "has_prev": self.has_prev,
                "groups": {g: [u["name"] for u in self.grade(g)] for g in GRADES},
                "units": self.units}


@dataclass
class YearAssessment:
    year: int
    area: str
    county_name: str
    issuer: str
    issued: dt.date
    pass_score: float
    reward_score: float
    quarters: list[Assessment]  # the quarters of the year the warehouse holds data for
    units: list[dict]  # per unit: the quarterly scores and ranks, the annual score (their mean), rank, grade
    missing_quarters: list[str] = field(default_factory=list)
    warehouse_version: str = ""

    @property
    def title(self) -> str:
        return f"{self.year}年度{self.area}网格化服务管理工作考核总评"

    def file_name(self, ext: str) -> str:
        return f"{self.title}.{ext}"

    def grade(self, g: str) -> list[dict]:
        return [u for u in self.units if u["grade"] == g]

    def to_dict(self) -> dict:
        return {"kind": "year", "year": self.year, "title": self.title, "area": self.area,
                "county": self.county_name, "issuer": self.issuer, "issued": self.issued.isoformat(),
                "warehouse_version": self.warehouse_version,
                "quarters": [q.quarter.key for q in self.quarters], "missing_quarters": self.missing_quarters,
                "pass_score": self.pass_score, "reward_score": self.reward_score,
                "groups": {g: [u["name"] for u in self.grade(g)] for g in GRADES},
                "units": self.units, "quarter_details": [q.to_dict() for q in self.quarters]}


# ---------------------------------------------------------------------------------------------------- sources
def _default_answered(con, s: Settings) -> Answered | None:
    """warehouse.supervision.answered on this warehouse and configuration; None without that module."""
    try:
        from warehouse import supervision  # the 督办 ledger (预警与督办)
    except ImportError:
        return None
    return lambda start, end: supervision.answered(start, end, con, settings=s)


def effective_rows(con, quarter: Quarter, s: Settings, scope: Scope = COUNTY) -> list[dict] | None:
    """有效活跃度 of every unit for each month of `quarter` ('cur') and of the quarter before ('prev') as
    scores.sql reads them; None when [assessment] effective_query names no query (not connected). County-wide:
    ranks are over the whole county (scores.sql applies the caller's scope to its rows). A city deployment: the
    scope's county (county_code), or the counties as units (by_county)."""
    name = s.assessment.effective_query
    if not name or name not in metrics.available():
        return None
    out = []
    for label, qq in (("cur", quarter), ("prev", quarter.prev())):
        for m in qq.months():
            df = metrics.query(con, name, Scope(county_code=scope.county_code, by_county=scope.by_county),
                               settings=s, **metrics.period_params(m))
            out += [{"period": label, "ru_code": r.ru_code, "num": float(r.effective or 0),
                     "den": float(r.accounts or 0)} for r in df.itertuples()]
    return out


def supervision_rows(quarter: Quarter, answered: Answered | None, by_county: bool = False) -> list[dict] | None:
    """督办 issued / answered per reporting unit of each quarter (by_county: summed per county, the unit of the
    counties-as-units view)."""
    if answered is None:
        return None
    rows: dict[tuple[str, str], list[float]] = {}
    for label, qq in (("cur", quarter), ("prev", quarter.prev())):
        for ru, i, a in answered(qq.start, qq.end):
            r = rows.setdefault((label, ru[:6] if by_county and ru else ru), [0.0, 0.0])
            r[0] += float(a or 0)
            r[1] += float(i or 0)
    return [{"period": label, "ru_code": ru, "num": num, "den": den} for (label, ru), (num, den) in rows.items()]


def query_params(con, quarter: Quarter, s: Settings, answered: Answered | None = None,
                 cutoff: dt.datetime | None = None, as_of: dt.datetime | None = None, scope: Scope = COUNTY) -> dict:
    """The parameters of assessment/scores for `quarter`. as_of: the quarter is still running and is measured at
    this time (its months not begun yet are left out, the running one is cut there: m_period's at_ts)."""
    return {"start": quarter.start, "end": quarter.end, "prev_start": quarter.prev().start,
            "prev_end": quarter.prev().end, "cutoff": cutoff, "period_asof": as_of,
            "effective": effective_rows(con, quarter, s, scope),
            "supervision": supervision_rows(quarter, answered, scope.by_county)}


def _has_data(con, start: dt.date, end: dt.date, scope: Scope, s: Settings) -> bool:
    cov = metrics.query(con, "overview/coverage", scope, settings=s, start=start, end=end).iloc[0]
    return bool(cov["account_days"] or cov["events_reported"] or cov["events_closed"] or cov["kp_reports"])


def unit_rows(df: pd.DataFrame) -> list[dict]:
    """The rows of assessment/scores as the result carries them (the page shows the same)."""
    keep = ["ru_code", "ru_name", "short_name", "township_name", "score", "rank", "grade", "prev_score",
            "prev_rank", "movement", "account_months", "active_months", "events_reported", "events_closed",
            "closed_on_time", "signoffs_needed", "signoffs_signed", "households", "collected",
            "supervision_issued", "supervision_answered", "effective_active_months", "effective_account_months"]
    keep += [f"{c}_{k}" for k, _ in INDICATORS for c in ("score", "weight")]
    keep += [f"{k}_rate" for k, _ in INDICATORS]
    out = []
    for r in df.to_dict("records"):
        u = {k: _clean(r[k]) for k in keep}
        u["name"] = u.pop("short_name")
        u["full_name"] = u.pop("ru_name")
        out.append(u)
    return out


# ---------------------------------------------------------------------------------------------------- compute
def compute(con, quarter: Quarter, scope: Scope = COUNTY, *, settings: Settings | None = None,
            answered: Answered | None = ..., issued: dt.date | None = None,
            cutoff: dt.datetime | None = None, now: dt.datetime | None = None) -> Assessment:
    """The 季度考核 of `quarter` as `scope` sees it. answered: the 督办 interface (default: warehouse.supervision's,
    when present; None: not connected). A quarter still running at `now` (default: the clock) is measured as of
    then (Assessment.as_of). Raises NoData when the warehouse holds nothing for the quarter."""
    s = settings or default_settings()
    now = (now or dt.datetime.now()).replace(second=0, microsecond=0)
    as_of = now if quarter.start <= now.date() < quarter.end else None
    if answered is ...:
        answered = _default_answered(con, s)
    if not _has_data(con, quarter.start, quarter.end, scope, s):
        raise NoData(f"数据仓库中没有 {quarter.key} ({quarter.label}) 的数据, 无法生成季度考核")
    params = query_params(con, quarter, s, answered, cutoff, as_of, scope)
    df = metrics.query(con, QUERY, scope, settings=s, **params)
    has_prev = _has_data(con, quarter.prev().start, quarter.prev().end, scope, s)
    units = unit_rows(df)
    if not has_prev:  # nothing to compare with: no movement
        for u in units:
            u.update(prev_score=None, prev_rank=None, prev_grade=None, movement=None)
    cov = metrics.query(con, "overview/coverage", scope, settings=s, start=quarter.start, end=quarter.end).iloc[0]
    county = _clean(cov["county_name"]) or s.county.name
    a = s.assessment
    return Assessment(
        quarter=quarter, area="全市" if scope.by_county else "全县" if scope.county_wide else scope.label,
        county_name=county,
        issuer=s.bulletin.issuer or f"{county}网格化服务管理中心", issued=issued or quarter.end,
        weights={k: getattr(a.weights, k) for k, _ in INDICATORS}, pass_score=a.pass_score,
        reward_score=a.reward_score,
        connected={"effective": params["effective"] is not None, "supervision": params["supervision"] is not None},
        units=units, has_prev=has_prev, as_of=as_of, warehouse_version=_clean(cov["warehouse_version"]) or "")


def compute_year(con, year: int, scope: Scope = COUNTY, *, settings: Settings | None = None,
                 answered: Answered | None = ..., issued: dt.date | None = None) -> YearAssessment:
    """The 年度总评: the four quarters' assessments and the annual score of each unit, the mean of its quarterly
    scores (the quarters it has a score in), ranked like a quarter (ties share a rank) and graded with the same
    thresholds. A quarter without data is left out (missing_quarters). Raises NoData when no quarter has data."""
    s = settings or default_settings()
    quarters, missing = [], []
    for q in range(1, 5):
        try:
            quarters.append(compute(con, Quarter(year, q), scope, settings=s, answered=answered))
        except NoData:
            missing.append(Quarter(year, q).key)
    if not quarters:
        raise NoData(f"数据仓库中没有 {year} 年的数据, 无法生成年度总评")
    long = pd.DataFrame([{"ru_code": u["ru_code"], "name": u["name"], "full_name": u["full_name"],
                          "quarter": a.quarter.key, "score": u["score"], "rank": u["rank"]}
                         for a in quarters for u in a.units])
    long["score"] = pd.to_numeric(long["score"])
    order = list(dict.fromkeys(long["ru_code"]))  # first quarter's order: best first
    annual = long.groupby("ru_code", sort=False).agg(name=("name", "first"), full_name=("full_name", "first"),
                                                    score=("score", "mean"), quarters=("score", "count"))
    annual["rank"] = annual["score"].round(6).rank(method="min", ascending=False)
    a = s.assessment
    units = []
    for ru in order:
        r = annual.loc[ru]
        per_q = long[long["ru_code"] == ru].set_index("quarter")
        score = _clean(r["score"])
        units.append({
            "ru_code": ru, "name": r["name"], "full_name": r["full_name"], "score": score,
            "rank": None if score is None else int(r["rank"]), "quarters_scored": int(r["quarters"]),
            "grade": None if score is None else ("优秀" if score >= a.reward_score
                                                 else "达标" if score >= a.pass_score else "不达标"),
            "quarterly": {q.quarter.key: {"score": _clean(per_q.loc[q.quarter.key, "score"]),
                                          "rank": _clean(per_q.loc[q.quarter.key, "rank"])}
                          for q in quarters if q.quarter.key in per_q.index}})
    units.sort(key=lambda u: (u["rank"] is None, u["rank"] or 0))
    first = quarters[0]
    return YearAssessment(year=year, area=first.area, county_name=first.county_name, issuer=first.issuer,
                          issued=issued or dt.date(year + 1, 1, 1), pass_score=a.pass_score,
                          reward_score=a.reward_score, quarters=quarters, units=units, missing_quarters=missing,
                          warehouse_version=first.warehouse_version)


def render_json(a: Assessment | YearAssessment) -> str:
    return json.dumps(a.to_dict(), ensure_ascii=False, indent=2)

"""The metrics layer: named, parameterised SQL files run against a published warehouse.

    warehouse/sql/<area>/<name>.sql      e.g. warehouse/sql/activity/by_unit.sql → query(con, "activity/by_unit", …)

Rules every query follows (and tests check):
- values only as named parameters (`$start`, `$ru_code`, …), never formatted into the text;
- the caller's scope is always bound: `$scope_township` (NULL = whole county) and `$scope_office` (NULL = every
  office). A query that returns rows about units or offices must filter by them, so a 乡镇 user cannot get another
  乡镇's rows by passing other parameters;
- thresholds come from configuration as parameters (`$min_active_days`, `$activity_good`, …), bound automatically.

Only parameters a query mentions are bound, so callers may pass the common set to every query. Parameters a
query may leave to the caller (OPTIONAL_PARAMS: $cutoff, drill-down filters, $limit) default to NULL.

Periods: `$start`/`$end` (DATE, end exclusive) and `$prev_start`/`$prev_end` for 环比 — `period_params(period)`
gives all four for a month or an ISO week; trends take `$end` and `$months_back`. Each figure of
docs/metrics.md is defined once, as a table macro in warehouse/schema/50_metrics.sql (m_account_activity,
m_event_activity, m_kp_reports, m_kp_signoffs, m_collection) that the query files call with their periods.
"""
from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd

from core.config import Settings
from core.config import settings as default_settings
from warehouse import privacy, scoped

SQL_DIR = Path(__file__).parent / "sql"
_PARAM_RE = re.compile(r"(?<![\w$])\$([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT_RE = re.compile(r"--[^\n]*")


class ScopeError(PermissionError):
    """A request outside the caller's scope."""


@dataclass(frozen=True)
class Scope:
    """What a caller may see. Built by the access layer from the logged-in user, never from the URL."""
    township_code: str | None = None  # 乡镇用户: only this 乡镇
    # a city deployment's county-scoped user: only this county (6-digit code). Not a parameter: the query runs on
    # a connection that sees only this county (warehouse/scoped.py), so every query and macro gives its figures
    county_code: str | None = None
    # the city with its counties as the units (a city deployment's 全市 views, the 全市通报): every query gives a
    # row per county where it gives one per reporting unit (warehouse/scoped.py CITY_VIEWS)
    by_county: bool = False
    office_name: str | None = None  # 部门用户: only reports addressed to this office
    personal: str = "masked"  # none (aggregates only) | masked | full (after an audited unmask)
    label: str = "全县"

    @property
    def county_wide(self) -> bool:
        return self.township_code is None and self.office_name is None


COUNTY = Scope()


@dataclass(frozen=True)
class Period:
    """A month or an ISO week: [start, end) with the previous period for 环比."""
    kind: str  # month | week
    start: dt.date
    end: dt.date  # exclusive

    @staticmethod
    def month(year: int, month: int) -> Period:
        start = dt.date(year, month, 1)
        end = dt.date(year + (month == 12), month % 12 + 1, 1)
        return Period("month", start, end)

    @staticmethod
    def parse_month(text: str) -> Period:
        y, m = text.split("-")
        return Period.month(int(y), int(m))

    @staticmethod
    def iso_week(year: int, week: int) -> Period:
        start = dt.date.fromisocalendar(year, week, 1)
        return Period("week", start, start + dt.timedelta(days=7))

    @staticmethod
    def parse(text: str) -> Period:
        """'2026-10' (month) or '2026-W43' (ISO week)."""
        if "W" in text.upper():
            y, w = text.upper().split("-W")
            return Period.iso_week(int(y), int(w))
        return Period.parse_month(text)

    @staticmethod
    def containing(day: dt.date, kind: str = "month") -> Period:
        if kind == "week":
            y, w, _ = day.isocalendar()
            return Period.iso_week(y, w)
        return Period.month(day.year, day.month)

    @property
    def key(self) -> str:
        if self.kind == "week":
            y, w, _ = self.start.isocalendar()
            return f"{y}-W{w:02d}"
        return f"{self.start:%Y-%m}"

    @property
    def label(self) -> str:
        if self.kind == "week":
            y, w, _ = self.start.isocalendar()
            last = self.end - dt.timedelta(days=1)
            return f"{y}年第{w}周 ({self.start:%m.%d}–{last:%m.%d})"
        return f"{self.start.year}年{self.start.month}月"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def prev(self) -> Period:
        if self.kind == "week":
            return Period("week", self.start - dt.timedelta(days=7), self.start)
        p = self.start - dt.timedelta(days=1)
        return Period.month(p.year, p.month)

    def same_week_last_month(self) -> Period:
        """For weekly views: the ISO week four weeks earlier (the same week of the previous month)."""
        return Period("week", self.start - dt.timedelta(days=28), self.start - dt.timedelta(days=21))

    def params(self, prefix: str = "") -> dict:
        return {f"{prefix}start": self.start, f"{prefix}end": self.end}


@lru_cache(maxsize=512)
def load_sql(name: str) -> str:
    path = (SQL_DIR / f"{name}.sql").resolve()
    if SQL_DIR.resolve() not in path.parents:
        raise ValueError(f"bad query name {name!r}")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=512)
def sql_params(name: str) -> frozenset[str]:
    return frozenset(_PARAM_RE.findall(_COMMENT_RE.sub("", load_sql(name))))


def available() -> list[str]:
    return sorted(str(p.relative_to(SQL_DIR).with_suffix("")) for p in SQL_DIR.rglob("*.sql"))


def threshold_params(s: Settings) -> dict:
    m = s.metrics
    return {"min_active_days": m.min_active_days, "week_active_days": m.week_active_days,
            "activity_good": m.activity_good, "event_high": m.event_high,
            "event_low": m.event_low, "sign_good": m.sign_good, "sign_yellow_hours": m.sign_yellow_hours,
            "sign_red_hours": m.sign_red_hours, "report_top_fraction": m.report_top_fraction,
            "report_name_each_max": m.report_name_each_max, "red_black_size": m.red_black_size,
            **{f"aq_{k}": v for k, v in s.activity_quality.model_dump().items()}}


def assessment_params(s: Settings) -> dict:
    """季度考核 ([assessment]): $pass_score, $reward_score and the weight $w_<indicator> of each indicator."""
    a = s.assessment
    return {"pass_score": a.pass_score, "reward_score": a.reward_score,
            **{f"w_{k}": getattr(a.weights, k) for k in type(a.weights).model_fields}}


# Parameters a query may use that callers may leave out: NULL means "no filter" / "the default".
#   cutoff          sign-offs count when signed before this TIMESTAMP; NULL = the end of each period
#   ru_code, community_code, grid_code, category, county_code   drill-down filters; NULL = everything in scope
#   limit           NULL = no limit
#   period_asof     a TIMESTAMP: the current period is still running and is measured at this time (now), not at its
#                   future end (what is overdue, how many active days an account needs); NULL = at its end
#   effective, supervision   季度考核's figures from outside the metrics layer (warehouse/assessment.py); NULL = none
OPTIONAL_PARAMS = {"cutoff": None, "ru_code": None, "county_code": None, "community_code": None, "grid_code": None, "category": None,
                   "limit": None, "period_asof": None, "effective": None, "supervision": None}


def period_params(period: Period, prev: Period | None = None) -> dict:
    """$start/$end of `period` and $prev_start/$prev_end of `prev` (default: the previous period, 环比)."""
    return {**period.params(), **(prev or period.prev()).params("prev_")}


def bind(name: str, scope: Scope, params: dict, s: Settings | None = None) -> dict:
    """The parameters `name` uses, from the thresholds, the scope and `params` (which may not override scope)."""
    if "scope_township" in params or "scope_office" in params:
        raise ScopeError("scope parameters come from the caller's identity only")
    wanted = sql_params(name)
    s = s or default_settings()
    values = {**threshold_params(s), **assessment_params(s), **OPTIONAL_PARAMS, **params,
              "scope_township": scope.township_code, "scope_office": scope.office_name}
    missing = wanted - values.keys()
    if missing:
        raise KeyError(f"{name}: missing parameters {sorted(missing)}")
    return {k: values[k] for k in wanted}


def query(con: duckdb.DuckDBPyConnection, name: str, scope: Scope = COUNTY, *, settings: Settings | None = None,
          **params) -> pd.DataFrame:
    """Run the named query on its own cursor and return the whole result. A county-scoped caller's query runs on
    the connection that sees only its county (scoped.for_county), whatever connection it was given."""
    if scope.by_county and (scope.county_code or scope.township_code or scope.office_name):
        raise ScopeError("by_county is the whole city's view")
    if scope.county_code is not None or scope.by_county:
        con = scoped.for_county(con, scope.county_code)
    cur = con.cursor()
    try:
        df = cur.execute(load_sql(name), bind(name, scope, params, settings)).df()
        names = known_names(cur) if scope.personal == "masked" and privacy.has_text(df) and len(df) else None
    finally:
        cur.close()
    return privacy.apply(df, scope.personal, names)


_NAMES: dict[str, privacy.KnownNames | None] = {}
_NAMES_LOCK = threading.Lock()
NAMES_SQL = """SELECT DISTINCT person_name FROM dim_account WHERE length(trim(person_name)) >= 2
               UNION SELECT DISTINCT person_name FROM fact_kp_report WHERE length(trim(person_name)) >= 2"""


def known_names(cur: duckdb.DuckDBPyConnection):
    """The names the warehouse knows (accounts' holders, reported persons) as one set for masking free text;
    kept per published version (a file is never changed once published)."""
    path = cur.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    key = path[0] if path and path[0] else None
    if key is not None and key in _NAMES:
        return _NAMES[key]
    try:
        pattern = privacy.KnownNames(r[0] for r in cur.execute(NAMES_SQL).fetchall())
    except duckdb.CatalogException:  # not a warehouse (tests of single queries)
        pattern = None
    if key is not None:
        with _NAMES_LOCK:
            if len(_NAMES) >= 4:
                _NAMES.pop(next(iter(_NAMES)))
            _NAMES[key] = pattern
    return pattern

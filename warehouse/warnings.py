"""预警 (early warning): the open warnings of the published warehouse as of a date, with a one-line reason each.

    ws = warnings.evaluate(con, as_of=dt.date(2026, 10, 31), scope=scope)   # → [Warning, …], most urgent first
    warnings.render_json(ws) -> str        warnings.data_date(con) -> the default as-of (the latest record date)

Each rule is a named query of warehouse/sql/warnings/ evaluated for `as_of` (a DATE: the data up to the end of that
day, nothing later), so the result is the same at any time for the same warehouse and date. `first_seen` is the
first as-of date from which the rule has held without a break, traced back in the data (no stored state).
Rules and thresholds ([warnings] of config.toml, docs/metrics.md "预警"):

    activity_drop    a unit's weekly 网格员账号活跃度 ≥ drop_points below the week before (last complete Mon–Sun week)
    completion_drop  the same for the weekly 事件办结率
    completion_low   事件办结率 under completion_low in the last two complete months
    signoff_backlog  an office with more than red_backlog_limit red (unsigned past sign_red_hours) sign-offs
    quiet_source     a dataset with no record for longer than its quiet_days (others going on); a quiet feeding source
    silent_unit      a reporting unit with no event reported for silent_days or more (others reporting)
    effective_gap    有效活跃度 effective_gap_points or more below the official 账号活跃度 in the last complete month

Levels: 红 when the figure is at least twice its threshold (the drop, the backlog, the silence, the quiet interval),
else 橙; completion_low is 黄 for two months and 橙 from three. The wall (dashboard/wall.py) and dashboard/warnings.py
run the same queries through the app's cache (RULE_QUERIES, params) and build the same list (from_frames).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

import pandas as pd

from core.config import Settings
from core.config import settings as default_settings
from warehouse import fmt, metrics, scoped
from warehouse.metrics import COUNTY, Scope

RULE_QUERIES = ("warnings/weekly_drop", "warnings/completion_low", "warnings/signoff_backlog",
                "warnings/silent_unit", "warnings/quiet_source", "warnings/effective_gap")
RULES = {  # rule → its name on the page
    "activity_drop": "账号活跃度骤降", "completion_drop": "事件办结率骤降", "completion_low": "办结率持续偏低",
    "signoff_backlog": "签收积压", "silent_unit": "乡镇沉默", "quiet_source": "数据源中断",
    "effective_gap": "有效活跃度偏低",
}
LEVELS = ("红", "橙", "黄")  # most urgent first


@dataclass
class Warning:
    level: str  # 红 | 橙 | 黄
    rule: str
    unit_kind: str  # unit (a reporting unit) | office | dataset | source
    unit_code: str  # ru_code, office name, dataset or source name
    unit: str  # its name as written in the reason
    first_seen: dt.date
    reason: str
    figures: dict = field(default_factory=dict)
    township_code: str | None = None
    ru_code: str | None = None

    @property
    def key(self) -> str:
        """This warning's identity: the rule, the unit and when it began (a later run of the rule is a new one)."""
        return f"{self.rule}:{self.unit_code}:{self.first_seen:%Y-%m-%d}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["first_seen"] = f"{self.first_seen:%Y-%m-%d}"
        d["key"] = self.key
        d["rule_name"] = RULES[self.rule]
        return d


def data_date(con) -> dt.date | None:
    """The warehouse's data date: the latest day with records (meta data_last_day, as the wall and pages use)."""
    rows = con.execute("SELECT value FROM meta WHERE key = 'data_last_day'").fetchall()  # (no result left open)
    return dt.date.fromisoformat(rows[0][0]) if rows and rows[0][0] else None


def params(as_of: dt.date, s: Settings | None = None) -> dict:
    """The parameters of the rule queries (beyond metrics' thresholds and the scope)."""
    w = (s or default_settings()).warnings
    return {"as_of": as_of, "drop_points": w.drop_points, "completion_drop_points": w.completion_drop_points, "min_accounts": w.min_accounts, "min_events": w.min_events,
            "completion_low": w.completion_low, "red_backlog_limit": w.red_backlog_limit, "backlog_days": w.backlog_days,
            "silent_days": w.silent_days, "history_weeks": w.history_weeks,
            "effective_gap_points": w.effective_gap_points,
            "quiet_datasets": list(w.quiet_days), "quiet_day_counts": [float(v) for v in w.quiet_days.values()]}


def evaluate(con, as_of: dt.date | None = None, scope: Scope = COUNTY, *, settings: Settings | None = None,
             run=None) -> list[Warning]:
    """The open warnings as of the end of `as_of` (default: data_date) that `scope` may see, most urgent first.
    `run(name, **params) -> DataFrame` runs a query instead of metrics.query on `con` (the app: dashboard.data.q,
    cached and authorised; `con` is then unused and `as_of` required)."""
    s = settings or default_settings()
    if as_of is None and run is None and (scope.county_code or scope.by_county):
        con = scoped.for_county(con, scope.county_code)  # the county's own data date (its meta)
    as_of = as_of or data_date(con)
    if as_of is None:
        return []
    prm = params(as_of, s)
    run = run or (lambda name, **p: metrics.query(con, name, scope, settings=s, **p))
    return from_frames({n: run(n, **prm) for n in RULE_QUERIES}, s)


def _points(cur, prev) -> float:
    p = fmt.points(prev, cur)
    return 0.0 if p is None else p


def _num(p: float) -> str:
    return f"{p:g}"


def _date(v) -> dt.date:
    return pd.Timestamp(v).date()


def _double(value: float, threshold: float) -> bool:
    return threshold > 0 and value >= 2 * threshold


def from_frames(frames: dict[str, pd.DataFrame], s: Settings | None = None) -> list[Warning]:
    """The warnings from the results of RULE_QUERIES (by name), most urgent first."""
    s = s or default_settings()
    w = s.warnings
    out: list[Warning] = []
    for r in frames["warnings/weekly_drop"].to_dict("records"):
        drop = _points(r["cur_capped"], r["prev_capped"])
        what = "账号活跃度" if r["rule"] == "activity_drop" else "事件办结率"
        capped = "" if r["cur"] == r["cur_capped"] and r["prev"] == r["prev_capped"] else " (超过 100% 按 100% 计)"
        n_label = ("accounts", "active") if r["rule"] == "activity_drop" else ("reported", "closed")
        out.append(Warning(
            "红" if _double(drop, w.drop_points if r["rule"] == "activity_drop" else w.completion_drop_points) else "橙",
            r["rule"], "unit", r["ru_code"], r["ru_name"],
            _date(r["first_seen"]),
            f"{r['ru_name']} 本周{what} {fmt.pct(r['cur'])}，上周 {fmt.pct(r['prev'])}，下降 {_num(drop)} 个百分点{capped}",
            {"week_start": f"{_date(r['week_start']):%Y-%m-%d}", "rate": r["cur"], "prev_rate": r["prev"],
             "drop_points": drop, f"{n_label[0]}": int(r["cur_n"]), f"{n_label[1]}": int(r["cur_k"]),
             f"prev_{n_label[0]}": int(r["prev_n"]), f"prev_{n_label[1]}": int(r["prev_k"]),
             "weeks_running": int(r["weeks_running"])},
            r["township_code"], r["ru_code"]))
    for r in frames["warnings/completion_low"].to_dict("records"):
        months = int(r["months_running"])
        m = _date(r["month_start"])
        pm = (pd.Timestamp(m) - pd.DateOffset(months=1)).date()
        out.append(Warning(
            "橙" if months >= 3 else "黄", "completion_low", "unit", r["ru_code"], r["ru_name"], _date(r["first_seen"]),
            f"{r['ru_name']} 事件办结率连续 {months} 个月低于 {fmt.pct(w.completion_low)}："
            f"{m.month}月 {fmt.pct(r['cur'])}，{pm.month}月 {fmt.pct(r['prev'])}",
            {"month": f"{m:%Y-%m}", "rate": r["cur"], "prev_rate": r["prev"], "reported": int(r["cur_n"]),
             "closed": int(r["cur_k"]), "prev_reported": int(r["prev_n"]), "prev_closed": int(r["prev_k"]),
             "months_running": months, "threshold": w.completion_low},
            r["township_code"], r["ru_code"]))
    for r in frames["warnings/signoff_backlog"].to_dict("records"):
        red = int(r["red"])
        out.append(Warning(
            "红" if _double(red, w.red_backlog_limit) else "橙", "signoff_backlog", "office", r["office_name"],
            r["office_name"], _date(r["first_seen"]),
            f"{r['office_name']} 近 {w.backlog_days} 天报送中超时未签收 (红灯) {red} 条，超过上限 {w.red_backlog_limit} 条，"
            f"最久已等待 {fmt.hours(r['oldest_hours'])}",
            {"office_kind": r["office_kind"], "red": red, "unsigned": int(r["unsigned"]),
             "limit": w.red_backlog_limit, "backlog_days": w.backlog_days, "oldest_hours": round(float(r["oldest_hours"]), 1)},
            r["township_code"]))
    for r in frames["warnings/silent_unit"].to_dict("records"):
        days = int(r["days_silent"])
        last = None if pd.isna(r["last_day"]) else _date(r["last_day"])
        since = f"最近一次上报在 {last:%Y-%m-%d}" if last else "从未上报"
        out.append(Warning(
            "红" if _double(days, w.silent_days) else "橙", "silent_unit", "unit", r["ru_code"], r["ru_name"],
            _date(r["first_seen"]), f"{r['ru_name']} 已连续 {days} 天未上报事件 ({since})",
            {"days_silent": days, "last_event": f"{last:%Y-%m-%d}" if last else None, "silent_days": w.silent_days},
            r["township_code"], r["ru_code"]))
    for r in frames["warnings/quiet_source"].to_dict("records"):
        last = _date(r["last_record"])
        if r["kind"] == "dataset":
            days, expected = int(r["days_quiet"]), float(r["expected_days"])
            title = r["title"] if isinstance(r["title"], str) and r["title"] else r["name"]
            out.append(Warning(
                "红" if _double(days, expected) else "橙", "quiet_source", "dataset", r["name"], title,
                _date(r["first_seen"]),
                f"{title} 已 {days} 天无新记录 (最新记录 {last:%Y-%m-%d}，应每 {_num(expected)} 天内有新记录)",
                {"dataset": r["name"], "last_record": f"{last:%Y-%m-%d}", "days_quiet": days,
                 "expected_days": expected}))
        else:
            hours, quiet = float(r["hours_quiet"]), float(r["quiet_hours"])
            out.append(Warning(
                "红" if _double(hours, quiet) else "橙", "quiet_source", "source", r["name"], f"数据源「{r['name']}」",
                _date(r["first_seen"]),
                f"数据源「{r['name']}」已 {fmt.hours(hours)} 无新数据 (超过 {_num(quiet)} 小时)",
                {"source": r["name"], "last_new_data": f"{last:%Y-%m-%d}", "hours_quiet": round(hours, 1),
                 "quiet_hours": quiet}))
    for r in frames["warnings/effective_gap"].to_dict("records"):
        gap = _points(r["effective_rate"], r["official"])
        m = _date(r["month_start"])
        out.append(Warning(
            "红" if _double(gap, w.effective_gap_points) else "橙", "effective_gap", "unit", r["ru_code"], r["ru_name"],
            _date(r["first_seen"]),
            f"{r['ru_name']} {m.month}月 账号活跃度 {fmt.pct(r['official'])}，有效活跃度 {fmt.pct(r['effective_rate'])}，"
            f"相差 {_num(gap)} 个百分点",
            {"month": f"{m:%Y-%m}", "official_rate": r["official"], "effective_rate": r["effective_rate"],
             "gap_points": gap, "accounts": int(r["accounts"]), "active": int(r["active"]),
             "effective": int(r["effective"]), "months_running": int(r["months_running"]),
             "threshold": w.effective_gap_points},
            r["township_code"], r["ru_code"]))
    rule_order = list(RULES)
    out.sort(key=lambda x: (LEVELS.index(x.level), rule_order.index(x.rule), x.first_seen, x.unit_code))
    return out


def render_json(ws: list[Warning]) -> str:
    return json.dumps([x.to_dict() for x in ws], ensure_ascii=False, indent=2, default=_json_default)


def _json_default(v):
    if isinstance(v, (dt.date, dt.datetime, pd.Timestamp)):
        return v.isoformat()
    if hasattr(v, "item"):
        return v.item()
    raise TypeError(type(v))

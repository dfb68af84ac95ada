"""Figures for the leadership's weekly review (领导周例会): every headline figure of a week against the week before
and the same week of the previous month (four weeks earlier), and the red and black list of the week, with the
units that are on the black list for a second period in a row flagged. A month works too: against the previous
month and the same month of the previous year.

    r = review.compute(con, Period.parse("2026-W12"), scope)     # → Review
    r.figures      [Figure(key, label, kind, value, last, same_last_month, better), …]
    r.red, r.black [{'name', 'full_name', 'ru_code', 'score', 'rank', 'repeat', …}, …]
    review.render_md(r) -> str         review.render_json(r) -> str          r.to_dict() -> dict
    review.default_period(today) -> the last complete ISO week    review.file_name(r, "docx") -> str
    warehouse.bulletin_docx.render_review_docx(r) -> bytes (and docx_to_pdf for the PDF)

Everything comes from overview/headline and overview/unit_ranking (warehouse/sql).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import pandas as pd

from core.config import Settings
from core.config import settings as default_settings
from warehouse import fmt, metrics
from warehouse.bulletin import _clean, pct, unit_names
from warehouse.metrics import COUNTY, Period, Scope

# (key in overview/headline, label, kind, which direction is better)
FIGURES = tuple((key, fmt.NAMES[key], kind, better) for key, kind, better in (  # the names of warehouse/fmt.py
    ("activity_rate", "rate", "up"),
    ("dept_activity_rate", "rate", "up"),
    ("events_reported", "count", "up"),
    ("events_closed", "count", "up"),
    ("completion_rate", "rate", "up"),
    ("on_time_rate", "rate", "up"),
    ("overdue_open", "count", "down"),
    ("red_cards", "count", "down"),
    ("kp_reports", "count", "up"),
    ("sign_rate", "rate", "up"),
    ("collection_rate", "rate", "up"),
))


@dataclass
class Figure:
    key: str
    label: str
    kind: str  # rate | count
    value: float | int | None
    last: float | int | None  # the previous period (上周 / 上月)
    same_last_month: float | int | None  # the same week of the previous month (上月同周) / same month last year
    better: str  # up | down

    def change(self, other: float | int | None) -> float | int | None:
        if self.value is None or other is None:
            return None
        return self.value - other

    def trend(self, other) -> str:
        """'好转' / '下滑' / '持平' / '' against `other`."""
        d = self.change(other)
        if d is None:
            return ""
        if (self.kind == "rate" and pct(self.value) == pct(other)) or d == 0:
            return "持平"
        return "好转" if (d > 0) == (self.better == "up") else "下滑"

    def fmt(self, v) -> str:
        if v is None:
            return "—"
        return pct(v) if self.kind == "rate" else fmt.count(v)


@dataclass
class Review:
    period: Period
    last: Period
    same_last_month: Period
    comparison_labels: tuple[str, str]  # ('上周', '上月同周') or ('上月', '去年同月')
    area: str
    figures: list[Figure]
    red: list[dict]
    black: list[dict]
    ranking: list[dict] = field(default_factory=list)

    @property
    def black_repeat(self) -> list[dict]:
        return [u for u in self.black if u["repeat"]]

    def to_dict(self) -> dict:
        return {
            "period": self.period.key, "label": self.period.label, "area": self.area,
            "last": self.last.key, "same_last_month": self.same_last_month.key,
            "comparison_labels": list(self.comparison_labels),
            "figures": [{"key": f.key, "label": f.label, "kind": f.kind, "value": f.value, "last": f.last,
                         "same_last_month": f.same_last_month, "change_last": f.change(f.last),
                         "change_same_last_month": f.change(f.same_last_month),
                         "trend_last": f.trend(f.last), "trend_same_last_month": f.trend(f.same_last_month),
                         "better": f.better} for f in self.figures],
            "red": self.red, "black": self.black, "black_repeat": self.black_repeat, "ranking": self.ranking,
        }


def comparisons(period: Period) -> tuple[Period, Period, tuple[str, str]]:
    if period.kind == "week":
        return period.prev(), period.same_week_last_month(), ("上周", "上月同周")
    last_year = Period.month(period.start.year - 1, period.start.month)
    return period.prev(), last_year, ("上月", "去年同月")


def compute(con, period: Period, scope: Scope = COUNTY, *, settings: Settings | None = None,
            cutoff: dt.datetime | None = None, as_of: dt.datetime | None = None) -> Review:
    s = settings or default_settings()
    last, same, labels = comparisons(period)

    def q(name: str, prev: Period) -> pd.DataFrame:
        # as_of: a running period measured now (the metrics layer's $period_asof), as the pages measure it
        return metrics.query(con, name, scope, settings=s, **metrics.period_params(period, prev), cutoff=cutoff,
                             period_asof=as_of)

    h1 = q("overview/headline", last).to_dict("records")[0]
    h2 = q("overview/headline", same).to_dict("records")[0]
    figures = [Figure(key, label, kind, _clean(h1[key]), _clean(h1[f"prev_{key}"]), _clean(h2[f"prev_{key}"]), better)
               for key, label, kind, better in FIGURES]
    rank = q("overview/unit_ranking", last)

    def entry(r) -> dict:
        return {"ru_code": r["ru_code"], "name": r["short_name"], "full_name": r["ru_name"],
                **{k: _clean(r[k]) for k in ("score", "rank", "prev_score", "prev_rank", "activity_rate",
                                             "completion_rate", "fully_signed_rate", "overdue_open")},
                "repeat": bool(r["black_repeat"])}

    by_rank = rank.sort_values(["rank", "sort_order"], na_position="last")
    red = [entry(r) for _, r in by_rank[by_rank["red"]].iterrows()]
    black = [entry(r) for _, r in by_rank[by_rank["black"]].sort_values(
        ["rank", "sort_order"], ascending=[False, True]).iterrows()]
    ranking = [entry(r) for _, r in by_rank.iterrows()]
    area = "全市" if scope.by_county else ("全县" if scope.county_wide else scope.label)
    return Review(period, last, same, labels, area, figures, red, black, ranking)


def default_period(today: dt.date | None = None) -> Period:
    """The last complete ISO week: the one that ended on the last Sunday before `today` (default: today)."""
    today = today or dt.date.today()
    return Period.containing(today - dt.timedelta(days=today.isoweekday()), "week")


def file_name(r: Review, ext: str) -> str:
    """'2026年第12周全县领导周例会数据.docx' (a month: '2026年3月全县领导例会数据.docx')."""
    if r.period.kind == "week":
        y, w, _ = r.period.start.isocalendar()
        return f"{y}年第{w}周{r.area}领导周例会数据.{ext}"
    return f"{r.period.start.year}年{r.period.start.month}月{r.area}领导例会数据.{ext}"


def render_md(r: Review) -> str:
    a, b = r.comparison_labels
    out = [f"# {r.area}网格化服务管理周例会数据 — {r.period.label}", "",
           f"对比: {a} {r.last.label}; {b} {r.same_last_month.label}", "",
           f"| 指标 | 本期 | {a} | 较{a} | {b} | 较{b} |", "| --- | ---: | ---: | --- | ---: | --- |"]
    for f in r.figures:
        out.append(f"| {f.label} | {f.fmt(f.value)} | {f.fmt(f.last)} | {f.trend(f.last) or '—'} | "
                   f"{f.fmt(f.same_last_month)} | {f.trend(f.same_last_month) or '—'} |")
    out += ["", "## 红黑榜", "",
            f"红榜: {unit_names(r.red) if r.red else '无'}", "",
            f"黑榜: {unit_names(r.black) if r.black else '无'}" +
            (f" (连续两期上黑榜: {unit_names(r.black_repeat)})" if r.black_repeat else ""), ""]
    return "\n".join(out)


def render_json(r: Review) -> str:
    return json.dumps(r.to_dict(), ensure_ascii=False, indent=2)

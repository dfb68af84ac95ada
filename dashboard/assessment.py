"""季度考核 / 年度总评 for the app (pages/assessment.py): the quarters the warehouse holds, the result of
warehouse.assessment for the caller's scope (computed once per warehouse version, period and scope), its docx,
and the tables the page shows, with the figures written as the documents write them (fmt.score, fmt.movement)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from core.config import settings
from dashboard import auth, data
from warehouse import assessment, fmt, metrics
from warehouse.assessment import GRADES, INDICATORS, Quarter
from warehouse.assessment_docx import render_docx
from warehouse.bulletin import NoData  # noqa: F401 (the page catches it)
from warehouse.db import NoWarehouse  # noqa: F401
from warehouse.metrics import Scope

_TTL = settings().dashboard.cache_ttl_seconds

def _queries() -> list[str]:
    """The queries warehouse.assessment runs for the page (the scores, and the 有效活跃度 source when there is one)."""
    eff = settings().assessment.effective_query
    return [assessment.QUERY] + ([eff] if eff in metrics.available() else [])


def quarters(first: dt.date, last: dt.date) -> list[Quarter]:
    """The quarters from the one holding `first` to the one holding `last`, newest first."""
    out, q = [], Quarter.containing(first)
    while q.start <= last:
        out.append(q)
        q = Quarter(q.year + (q.q == 4), q.q % 4 + 1)
    return out[::-1]


def default_quarter(qs: list[Quarter], today: dt.date) -> Quarter:
    """The newest quarter that is over, else the newest one."""
    return next((q for q in qs if q.end <= today), qs[0])


def _allow(scope: Scope) -> None:
    for name in _queries():
        data.allow(auth.authorize(name, scope), name)


@st.cache_data(ttl=_TTL, max_entries=24, show_spinner="正在计算季度考核…")
def _quarter_files(version: str, key: str, scope: Scope) -> dict:
    con, _ = data.connection()
    a = assessment.compute(con, Quarter.parse(key), scope)
    return {"obj": a.to_dict(), "docx": render_docx(a), "name": a.file_name("docx"), "title": a.title}


@st.cache_data(ttl=_TTL, max_entries=8, show_spinner="正在计算年度总评…")
def _year_files(version: str, year: int, scope: Scope) -> dict:
    con, _ = data.connection()
    y = assessment.compute_year(con, year, scope)
    return {"obj": y.to_dict(), "docx": render_docx(y), "name": y.file_name("docx"), "title": y.title}


def quarter_files(key: str, scope: Scope) -> dict:
    """{obj: Assessment.to_dict(), docx, name, title}; raises NoData for a quarter without data."""
    _allow(scope)
    _, version = data.connection()
    return _quarter_files(version, key, scope)


def year_files(year: int, scope: Scope) -> dict:
    _allow(scope)
    _, version = data.connection()
    return _year_files(version, year, scope)


def score_table(obj: dict) -> pd.DataFrame:
    """名次, 单位, 总分, 等次, 名次变化, 上季度名次, then the points of each indicator (its weight in the header) —
    one row per unit, best first."""
    ind = [(i["key"], i["name"]) for i in obj["indicators"] if i["weight"] > 0]
    rows = []
    for u in obj["units"]:
        rows.append({"名次": fmt.count(u["rank"]), "单位": u["full_name"], "总分": fmt.score(u["score"]),
                     "等次": u["grade"] or fmt.DASH, "名次变化": fmt.movement(u["movement"]),
                     "上季度名次": fmt.count(u["prev_rank"]),
                     **{f"{n}({fmt.score(_weight(obj, k), 0)})": fmt.score(u[f"score_{k}"]) for k, n in ind}})
    return pd.DataFrame(rows)


def rate_table(obj: dict) -> pd.DataFrame:
    """The rates the scores come from (督办答复率 "—": no 督办 issued)."""
    ind = [(i["key"], i["name"]) for i in obj["indicators"] if i["weight"] > 0]
    return pd.DataFrame([{"单位": u["full_name"],
                          **{n: fmt.pct(u[f"{k}_rate"] if k != "supervision" or u["supervision_issued"] else None)
                             for k, n in ind}} for u in obj["units"]])


def year_table(obj: dict) -> pd.DataFrame:
    qs = obj["quarters"]
    return pd.DataFrame([{"名次": fmt.count(u["rank"]), "单位": u["full_name"],
                          **{k.split("-")[1]: fmt.score(u["quarterly"].get(k, {}).get("score")) for k in qs},
                          "年度得分": fmt.score(u["score"]), "等次": u["grade"] or fmt.DASH} for u in obj["units"]])


def _weight(obj: dict, key: str) -> float:
    return next(i["weight"] for i in obj["indicators"] if i["key"] == key)


def rule_text(obj: dict) -> str:
    """The scoring rule in one line, with the configured weights and thresholds."""
    parts = "、".join(f"{i['name']}{fmt.score(i['weight'], 0)}分" + ("" if i["connected"] else "(未接入)")
                     for i in obj["indicators"] if i["weight"] > 0)
    return (f"百分制: {parts}。各项得分 = 权重 × 指标完成率(超过100%按100%计); 无考核基数的指标, 其权重按比例分给"
            f"其余各项; 未下发督办得满分。{fmt.score(obj['reward_score'], 0)}分及以上列入奖励名单, "
            f"低于{fmt.score(obj['pass_score'], 0)}分为不达标。")


def groups(obj: dict) -> dict[str, list[str]]:
    return {g: obj["groups"][g] for g in GRADES}


__all__ = ["INDICATORS", "NoData", "NoWarehouse", "quarters", "default_quarter", "quarter_files", "year_files", "score_table", "rate_table",
           "year_table", "rule_text", "groups"]

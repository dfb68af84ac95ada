"""预警与督办 for the pages and the wall: the open warnings of the published warehouse through the app's cached,
authorised queries (dashboard.data.q), acknowledgements and 督办单 in the supervision store (warehouse/supervision.py).

    ws = warnings_now(scope)                 # as of the warehouse's data date (the latest record day)
    acknowledge(w, note)  issue(w) → Order   # 县级管理员 only; audited (dashboard.auth.audit)
    orders(scope) → [OrderStatus]            order_docx(order) → bytes
    wall_lines(ws, n) → (count, [reason, …]) # the wall: the count and the top n reason lines (no personal data)
"""
from __future__ import annotations

import datetime as dt
from functools import partial

import pandas as pd

from core.config import settings
from dashboard import auth, data, session
from warehouse import supervision, warnings
from warehouse.metrics import Scope
from warehouse.supervision_docx import file_name, render_order_docx

RULES, LEVELS = warnings.RULES, warnings.LEVELS  # for the page
__all__ = ["file_name"]
ACT_ROLES = (auth.ADMIN,)  # who acknowledges and issues 督办单 (the duty officer)


def data_day() -> dt.date | None:
    last = data.meta().get("data_last_day")
    return dt.date.fromisoformat(last) if last else None


def _run(scope: Scope, name: str, **params) -> pd.DataFrame:
    return data.q(name, scope, **params)


def rule_params(as_of: dt.date) -> dict:
    """The parameters of the rule queries as of `as_of` (what the wall prefetches with its other queries)."""
    return warnings.params(as_of, settings())


def warnings_now(scope: Scope, as_of: dt.date | None = None, *, prefetched: bool = False) -> list[warnings.Warning]:
    """The open warnings `scope` may see as of the end of `as_of` (default: the data date), most urgent first.
    `prefetched`: the caller has already prefetched the rule queries (the wall: dashboard.wall.queries)."""
    as_of = as_of or data_day()
    if as_of is None:
        return []
    s = settings()
    if not prefetched:
        data.prefetch([(n, scope, warnings.params(as_of, s)) for n in warnings.RULE_QUERIES])
    return warnings.evaluate(None, as_of, scope, settings=s, run=partial(_run, scope))


def wall_lines(ws: list[warnings.Warning], n: int) -> tuple[int, list[tuple[str, str]]]:
    """The number of open warnings and the top `n` (level, reason line) — unit names and figures only."""
    return len(ws), [(w.level, w.reason) for w in ws[:n]]


def store() -> supervision.Store:
    return supervision.Store.from_settings(settings())


def can_act(ident: auth.Identity) -> bool:
    return ident.role in ACT_ROLES


def acknowledge(w: warnings.Warning, note: str = "") -> None:
    ident = auth.require()
    if not can_act(ident):
        raise auth.ScopeError("only the 县级管理员 acknowledges warnings")
    store().acknowledge(w, ident.name, note)
    auth.audit("warning_ack", w.key, w.reason, note)


def issue(w: warnings.Warning, as_of: dt.date) -> supervision.Order:
    ident = auth.require()
    if not can_act(ident):
        raise auth.ScopeError("only the 县级管理员 issues 督办单")
    scope = session.county_scope(ident)  # a 市级 user's chosen county: the order is that county's
    o = store().issue(None, w, ident.name, scope, as_of=as_of, settings=settings(), run=partial(_run, scope))
    auth.audit("supervision_order", f"{o.number} · {w.key}", f"{w.unit} · {len(o.items)} 项 · 期限 "
               f"{o.deadline:%Y-%m-%d %H:%M}")
    return o


def orders(scope: Scope) -> list[supervision.OrderStatus]:
    """The 督办单 `scope` may see with their state from the current warehouse."""
    os_ = store().orders(scope)
    if not os_:
        return []
    return supervision.status(None, os_, scope=scope, settings=settings(), run=partial(_run, scope),
                              data_day=data_day())


def order_docx(o: supervision.Order) -> bytes:
    """The 督办单 as a Word document, headed by its issuer's area: the county (in a city deployment the order's own
    county, or the city for an order of the whole city)."""
    return render_order_docx(o, order_area(o))


def order_area(o: supervision.Order) -> str:
    if not auth.city_deployment():
        return settings().county.name
    if o.county_code is None:
        return settings().city.name
    df = data.q("city/counties", Scope(county_code=o.county_code, personal="none"))  # the caller sees its orders' county
    return dict(zip(df["county_code"], df["county_name"])).get(o.county_code, o.county_code)

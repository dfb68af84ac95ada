"""督办 (supervision): acknowledgements of 预警 and 督办单 (supervision orders), kept in a small SQLite store that is
writable while the published warehouse is read-only ({paths.data_dir}/supervision/supervision.db).

    st = supervision.Store.from_settings(settings)
    st.acknowledge(w, user="admin", note="已电话联系")          # w: warehouse.warnings.Warning
    o = st.issue(con, w, user="admin", scope=scope, as_of=day)   # → Order: the unit's items as of `as_of`
    st.orders()  → [Order, …]          st.acks() → {warning key: row}
    supervision.status(con, orders, now=…) → [OrderStatus(order, state, answered_items, items)]
    supervision.answered(period_start, period_end, con) → [(ru_code, issued, answered), …]   (季度考核: 答复督办)
    warehouse.supervision_docx.render_order_docx(order) → bytes

A 督办单's items (warehouse/sql/warnings/order_items.sql): for a reporting unit, its events open past their deadline;
for an office, its sign-offs unsigned past sign_red_hours; each with its days overdue. They are stored as issued
(the reported person's name masked as the issuer's scope gives it: a 县级管理员's order carries masked names only).
Answered: every item closed (events) or signed (sign-offs) by the order's deadline, in the current published
warehouse (warehouse/sql/warnings/item_status.sql); the state is 已答复, 逾期未答复 (deadline passed, not all
answered) or 待答复. The deadline is the issue time + [warnings] answer_days.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.config import Settings
from core.config import settings as default_settings
from warehouse import metrics
from warehouse.metrics import COUNTY, Scope

ANSWERED, OVERDUE, PENDING = "已答复", "逾期未答复", "待答复"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ack (
    warning_key TEXT PRIMARY KEY, rule TEXT NOT NULL, unit_kind TEXT, unit_code TEXT, ru_code TEXT,
    township_code TEXT, first_seen TEXT, reason TEXT, by_user TEXT NOT NULL, at TEXT NOT NULL, note TEXT
);
CREATE TABLE IF NOT EXISTS supervision_order (
    id INTEGER PRIMARY KEY AUTOINCREMENT, warning_key TEXT, rule TEXT, unit_kind TEXT, unit_code TEXT,
    unit_name TEXT, ru_code TEXT, township_code TEXT, reason TEXT, as_of TEXT NOT NULL, issued_at TEXT NOT NULL,
    deadline TEXT NOT NULL, issued_by TEXT NOT NULL, items TEXT NOT NULL, county_code TEXT
);
"""
# added after the first release: a store created before it gains the column (NULL: the order's county follows
# from its unit's code, an office's order of that time is the whole deployment's)
_MIGRATIONS = (("supervision_order", "county_code", "ALTER TABLE supervision_order ADD COLUMN county_code TEXT"),)
_LOCK = threading.Lock()


@dataclass
class Order:
    id: int
    warning_key: str
    rule: str
    unit_kind: str
    unit_code: str
    unit_name: str
    ru_code: str | None
    township_code: str | None
    reason: str
    as_of: dt.date
    issued_at: dt.datetime
    deadline: dt.datetime
    issued_by: str
    items: list[dict] = field(default_factory=list)
    # the county the order belongs to in a city deployment (6 digits): the issuer's county, else its unit's;
    # None: an office's order issued for the whole city
    county_code: str | None = None

    @property
    def number(self) -> str:
        return f"督〔{self.issued_at.year}〕{self.id}号"


@dataclass
class OrderStatus:
    order: Order
    state: str  # ANSWERED | OVERDUE | PENDING
    answered_items: int
    items: int


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)
            for table, column, ddl in _MIGRATIONS:
                if column not in {r["name"] for r in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(ddl)

    @staticmethod
    def from_settings(s: Settings | None = None) -> Store:
        s = s or default_settings()
        return Store(Path(s.paths.data_dir) / "supervision" / "supervision.db")

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        return db

    # ------------------------------------------------------------------ acknowledgements
    def acknowledge(self, w, user: str, note: str = "", at: dt.datetime | None = None) -> None:
        """Record that `user` has seen warning `w` (the caller audits it); a second acknowledgement is kept as is."""
        at = at or dt.datetime.now()
        with _LOCK, self._db() as db:
            db.execute("INSERT OR IGNORE INTO ack VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (w.key, w.rule, w.unit_kind, w.unit_code, w.ru_code, w.township_code,
                        f"{w.first_seen:%Y-%m-%d}", w.reason, user, at.isoformat(sep=" ", timespec="seconds"), note))

    def acks(self) -> dict[str, dict]:
        with self._db() as db:
            return {r["warning_key"]: dict(r) for r in db.execute("SELECT * FROM ack")}

    # ------------------------------------------------------------------ orders
    def issue(self, con, w, user: str, scope: Scope = COUNTY, *, as_of: dt.date,
              issued: dt.datetime | None = None, settings: Settings | None = None, run=None) -> Order:
        """A 督办单 for warning `w` (a reporting unit's or an office's): its items as of the end of `as_of`, as
        `scope` may see them (names masked for a masked scope), to be answered within answer_days."""
        if w.unit_kind not in ("unit", "office"):
            raise ValueError("督办单只能下发给乡镇 (报告单位) 或部门")
        s = settings or default_settings()
        issued = (issued or dt.datetime.now()).replace(microsecond=0)
        deadline = issued + dt.timedelta(days=s.warnings.answer_days)
        items = order_items(con, w, as_of, scope, settings=s, run=run)
        county = scope.county_code or _county_of(w.ru_code)
        with _LOCK, self._db() as db:
            cur = db.execute(
                "INSERT INTO supervision_order (warning_key, rule, unit_kind, unit_code, unit_name, ru_code, "
                "township_code, reason, as_of, issued_at, deadline, issued_by, items, county_code) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (w.key, w.rule, w.unit_kind, w.unit_code, w.unit, w.ru_code, w.township_code, w.reason,
                 f"{as_of:%Y-%m-%d}", issued.isoformat(sep=" "), deadline.isoformat(sep=" "), user,
                 json.dumps(items, ensure_ascii=False), county))
            oid = cur.lastrowid
        return self.order(oid)

    def order(self, oid: int) -> Order:
        with self._db() as db:
            r = db.execute("SELECT * FROM supervision_order WHERE id = ?", (oid,)).fetchone()
        if r is None:
            raise KeyError(oid)
        return _order(r)

    def orders(self, scope: Scope = COUNTY) -> list[Order]:
        """Every order `scope` may see (a county-scoped user's: its county's; a 乡镇's own units' and offices', a
        部门用户's office's), newest first."""
        with self._db() as db:
            rows = [_order(r) for r in db.execute("SELECT * FROM supervision_order ORDER BY id DESC")]
        if scope.county_code is not None:
            rows = [o for o in rows if o.county_code == scope.county_code]
        if scope.township_code is not None:
            rows = [o for o in rows if o.township_code == scope.township_code]
        if scope.office_name is not None:
            rows = [o for o in rows if o.unit_kind == "office" and o.unit_code == scope.office_name]
        return rows


def _order(r: sqlite3.Row) -> Order:
    return Order(r["id"], r["warning_key"], r["rule"], r["unit_kind"], r["unit_code"], r["unit_name"], r["ru_code"],
                 r["township_code"], r["reason"], dt.date.fromisoformat(r["as_of"]),
                 dt.datetime.fromisoformat(r["issued_at"]), dt.datetime.fromisoformat(r["deadline"]),
                 r["issued_by"], json.loads(r["items"]), r["county_code"] or _county_of(r["ru_code"]))


def _county_of(ru_code: str | None) -> str | None:
    """The county of a reporting unit's code (its first 6 digits: the 县级 统计用区划代码)."""
    return ru_code[:6] if ru_code and len(ru_code) >= 6 else None


def _runner(con, scope: Scope, settings: Settings | None, run):
    """`run(name, **params)`, or metrics.query on `con` for `scope` (the app passes dashboard.data.q)."""
    return run or (lambda name, **p: metrics.query(con, name, scope, settings=settings, **p))


def order_items(con, w, as_of: dt.date, scope: Scope = COUNTY, *, settings: Settings | None = None,
                run=None) -> list[dict]:
    """The items of a 督办单 for warning `w` as of the end of `as_of` (warehouse/sql/warnings/order_items.sql)."""
    s = settings or default_settings()
    df = _runner(con, scope, s, run)("warnings/order_items", as_of=as_of, backlog_days=s.warnings.backlog_days,
                       ru_code=w.ru_code if w.unit_kind == "unit" else None,
                       office_name=w.unit_code if w.unit_kind == "office" else None)
    out = []
    for r in df.to_dict("records"):
        out.append({"kind": r["kind"], "item_id": r["item_id"], "category": r["category"],
                    "grid_name": r["grid_name"], "reported_at": _iso(r["reported_at"]),
                    "deadline": _iso(r["deadline"]), "days_overdue": int(r["days_overdue"]),
                    "person_name": r["person_name"] if isinstance(r["person_name"], str) else None,
                    "office_name": r["office_name"] if isinstance(r["office_name"], str) else None})
    return out


def _iso(v) -> str | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).isoformat(sep=" ")


def status(con, orders: list[Order], *, now: dt.datetime | None = None, scope: Scope = COUNTY,
           settings: Settings | None = None, run=None, data_day: dt.date | None = None) -> list[OrderStatus]:
    """Each order's state from the current warehouse: its items closed / signed by its deadline. `run`: see
    _runner (then `data_day`, the warehouse's data date, is needed for orders without items)."""
    now = now or dt.datetime.now()
    q = _runner(con, scope, settings, run)
    events = sorted({i["item_id"] for o in orders for i in o.items if i["kind"] == "event"})
    signoffs = sorted({f"{i['item_id']}|{i['office_name']}" for o in orders for i in o.items if i["kind"] == "signoff"})
    done: dict[tuple, pd.Timestamp] = {}
    if events or signoffs:
        df = q("warnings/item_status", event_ids=events or [""], signoff_keys=signoffs or [""])
        for r in df.to_dict("records"):
            if not pd.isna(r["answered_at"]):
                key = (r["kind"], r["item_id"], r["office_name"] if isinstance(r["office_name"], str) else None)
                done[key] = pd.Timestamp(r["answered_at"])
    cleared = _cleared(con, [o for o in orders if not o.items], scope, settings, run, data_day)
    out = []
    for o in orders:
        if not o.items:  # nothing to close or sign: answered when the warning is over by the deadline
            state = ANSWERED if cleared.get(o.id) else OVERDUE if now > o.deadline else PENDING
            out.append(OrderStatus(o, state, 0, 0))
            continue
        n = 0
        for i in o.items:
            t = done.get((i["kind"], i["item_id"], i["office_name"] if i["kind"] == "signoff" else None))
            n += t is not None and t <= pd.Timestamp(o.deadline)
        state = ANSWERED if n == len(o.items) else OVERDUE if now > o.deadline else PENDING
        out.append(OrderStatus(o, state, n, len(o.items)))
    return out


def _cleared(con, orders: list[Order], scope: Scope, settings: Settings | None, run, data_day) -> dict[int, bool]:
    """For orders without items: whether their warning is no longer open at the deadline (or the data date, when
    the data does not reach the deadline yet: then not yet cleared)."""
    if not orders:
        return {}
    from warehouse import warnings

    last = data_day or (warnings.data_date(con) if con is not None else None)
    out: dict[int, bool] = {}
    for o in orders:
        day = o.deadline.date()
        if last is None or last < day:
            out[o.id] = False
            continue
        open_keys = {w.key for w in warnings.evaluate(con, day, scope, settings=settings, run=run)}
        out[o.id] = o.warning_key not in open_keys
    return out


def answered(period_start: dt.date, period_end: dt.date, con=None, *, store: Store | None = None,
             settings: Settings | None = None, now: dt.datetime | None = None) -> list[tuple[str, int, int]]:
    """Per reporting unit, the 督办单 issued to it in [period_start, period_end) and how many of them were answered
    (every item closed / signed by the deadline): [(ru_code, issued, answered), …] sorted by ru_code. `con`: the
    published warehouse (default: the configured one)."""
    s = settings or default_settings()
    store = store or Store.from_settings(s)
    orders = [o for o in store.orders() if o.ru_code and period_start <= o.issued_at.date() < period_end]
    if not orders:
        return []
    own = con is None
    if own:
        from warehouse import db

        con = db.open_published(s.paths.warehouse_dir)
    try:
        states = status(con, orders, now=now, settings=s)
    finally:
        if own:
            con.close()
    agg: dict[str, list[int]] = {}
    for st in states:
        a = agg.setdefault(st.order.ru_code, [0, 0])
        a[0] += 1
        a[1] += st.state == ANSWERED
    return [(ru, n, k) for ru, (n, k) in sorted(agg.items())]

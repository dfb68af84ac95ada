"""有效活跃度 of a month as data (`python -m warehouse activity-quality`): per reporting unit the official and the
effective rate and the gap, ranked; the flagged grid-worker accounts with their signals and evidence figures.

The figures are the queries activity_quality/by_unit and activity_quality/accounts (warehouse/schema/
60_activity_quality.sql, m_activity_quality); no names or other personal data are written.
"""
from __future__ import annotations

import json
import math

import duckdb

from core.config import Settings
from warehouse import metrics

SIGNALS = ("login_only", "bunched", "night_batch", "same_gps", "outside_grid")
# the evidence figures of every flagged account, in this order (activity_quality/accounts)
EVIDENCE = ("active_days", "effective_days", "needed_days", "login_only_days", "bunched_days", "night_ops",
            "night_days", "same_fix_days", "patrol_points", "outside_points", "outside_share")
UNIT_COLUMNS = ("ru_code", "ru_name", "accounts", "active", "effective", "official_rate", "effective_rate", "gap",
                "gap_rank", "flagged") + SIGNALS


def _plain(v):
    """A JSON value: NULL/NaN → None, numpy scalars → int/float."""
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def compute(con: duckdb.DuckDBPyConnection, period: metrics.Period, *, settings: Settings | None = None,
            scope: metrics.Scope = metrics.COUNTY) -> dict:
    prm = metrics.period_params(period)
    units = metrics.query(con, "activity_quality/by_unit", scope, settings=settings, **prm)
    accounts = metrics.query(con, "activity_quality/accounts", scope, settings=settings, **prm)
    return {
        "month": period.key,
        "units": [{c: _plain(r[c]) for c in UNIT_COLUMNS} for r in units.to_dict("records")],
        "accounts": [{"account_id": r["account_id"], "ru_code": r["ru_code"], "signals": list(r["signals"]),
                      "evidence": {c: _plain(r[c]) for c in EVIDENCE}} for r in accounts.to_dict("records")],
    }


def render_json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1)

"""Rendering helpers shared by the pages: formatting, banners, table export."""
from __future__ import annotations

import datetime as dt
import html
import io
import math

import pandas as pd
import streamlit as st

from dashboard import data
from warehouse.config import settings
from warehouse.metrics import Scope

DATASET_TITLES = {
    "org_units": "组织机构", "accounts": "系统账号", "activity_log": "账号操作日志", "events": "事件",
    "event_flow": "事件流转", "key_person_reports": "重点人员信息报送", "collection_stats": "基础信息采集统计",
}
ADMIN = Scope(personal="masked", label="全县")


def esc(v: object) -> str:
    """HTML-escape text that goes into st.markdown(unsafe_allow_html=True): feed values are never trusted."""
    return html.escape("" if v is None else str(v))


def pct(v: object, digits: int = 1) -> str:
    """0.857 → '85.7%'; 1 → '100%'; None/NaN → '—' (no accounts, no events: never 0% or 100%)."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "—"
    s = f"{float(v) * 100:.{digits}f}".rstrip("0").rstrip(".")
    return f"{s}%"


def now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def stale_datasets() -> pd.DataFrame:
    """Datasets whose last delivery is older than the configured age."""
    try:
        f = data.q("quality/freshness", ADMIN)
    except Exception:  # noqa: BLE001 — no warehouse yet: nothing to warn about here
        return pd.DataFrame()
    limit = now() - dt.timedelta(hours=settings().dashboard.stale_hours)
    f = f[f["records"] > 0]
    return f[f["last_landed_at"].isna() | (f["last_landed_at"] < limit)]


def stale_banner() -> None:
    stale = stale_datasets()
    if len(stale):
        names = "、".join(DATASET_TITLES.get(d, d) for d in stale["dataset"])
        st.warning(f"数据可能已过期: {names} 超过 {settings().dashboard.stale_hours:g} 小时没有新的交付。"
                   "请检查数据导入 (数据质量页)。", icon="⚠️")


def export_buttons(df: pd.DataFrame, name: str, key: str) -> None:
    """CSV (UTF-8 with BOM, opens in Excel) and xlsx downloads of a table as shown."""
    c1, c2, _ = st.columns([1, 1, 6])
    c1.download_button("导出 CSV", df.to_csv(index=False).encode("utf-8-sig"), f"{name}.csv", "text/csv",
                       key=f"{key}-csv")
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="xlsxwriter") as xw:
        df.to_excel(xw, index=False, sheet_name=name[:31])
        ws = xw.sheets[name[:31]]
        ws.freeze_panes(1, 0)
        for i, col in enumerate(df.columns):
            width = max([len(str(col))] + [len(str(v)) for v in df[col].head(200)]) + 2
            ws.set_column(i, i, min(40, width * 1.2))
    c2.download_button("导出 Excel", buf.getvalue(), f"{name}.xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"{key}-xlsx")

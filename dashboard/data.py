"""The app's only way to the warehouse: one cached read-only connection per published version, a cursor per
query (inside warehouse.metrics.query), and result caching keyed by version, query, scope and parameters.

A newly published version is picked up on the next call without a restart: the pointer file is read on every
call (a tiny file read), the connection cache is keyed by the version's path, and the old connection is closed
when it is evicted.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from warehouse import db, metrics
from warehouse.config import settings
from warehouse.metrics import Scope


def warehouse_path() -> Path | None:
    try:
        return db.current_version(settings().paths.warehouse_dir)
    except db.NoWarehouse:
        return None


@st.cache_resource(max_entries=2, show_spinner=False, validate=lambda con: _alive(con),
                   on_release=lambda con: con.close())
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    return db.connect(path, read_only=True, threads=2)


def _alive(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        con.cursor().execute("SELECT 1").fetchone()
        return True
    except duckdb.Error:
        return False


def connection() -> tuple[duckdb.DuckDBPyConnection, str]:
    """(connection, version name) of the published warehouse; raises db.NoWarehouse when there is none."""
    path = warehouse_path()
    if path is None:
        raise db.NoWarehouse("尚未发布数据仓库")
    return _connection(str(path)), path.name


def _ttl() -> int:
    return settings().dashboard.cache_ttl_seconds


@st.cache_data(ttl=settings().dashboard.cache_ttl_seconds, max_entries=settings().dashboard.cache_max_entries,
               show_spinner=False)
def _cached(version: str, name: str, scope: Scope, params: tuple) -> pd.DataFrame:
    con, _ = connection()
    return metrics.query(con, name, scope, **dict(params))


def q(name: str, scope: Scope, **params) -> pd.DataFrame:
    """Run a metrics-layer query for `scope`, cached per published version."""
    _, version = connection()
    return _cached(version, name, scope, tuple(sorted(params.items())))


def meta() -> dict[str, str]:
    return dict(q("quality/meta", Scope(personal="none")).itertuples(index=False, name=None))

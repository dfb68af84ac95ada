"""One definition of every table for both engines (issue 17 part 2): every statement of warehouse/schema/*.sql
transpiles to Spark SQL (warehouse/portable.py); a statement that stops transpiling fails here."""
from __future__ import annotations

import pytest
import sqlglot

from warehouse import portable, spark_build


@pytest.mark.parametrize("path", portable.schema_files(), ids=lambda p: p.name)
def test_every_schema_file_transpiles(path):
    known = portable.macros()
    stmts = portable.statements(path)
    assert stmts, path.name
    for s in stmts:
        if s.kind in ("table", "temp"):
            sql = portable.to_spark(s, known)
            assert sqlglot.parse_one(sql, read="spark").find(sqlglot.exp.Select) is not None, s.name


def test_the_plan_holds_every_table_of_the_duckdb_build():
    plan = portable.spark_plan()
    tables = {s.name for s, _ in plan if s.kind == "table"}
    assert {"dim_unit", "dim_account", "dim_reporting_unit", "dim_office", "map_code", "fact_activity",
            "fact_event", "fact_event_flow", "fact_kp_report", "fact_kp_signoff", "fact_collection",
            "agg_account_day", "agg_account_month", "agg_event", "agg_kp_signoff", "agg_kp_report",
            "agg_collection_month", "agg_collection_asof", "agg_patrol_point", "agg_aq_day", "agg_aq_hour",
            "dq_flag", "dataset_freshness", "dq_quarantine", "dq_county_freshness", "dq_county_delivery"} <= tables
    assert [s.name for s, _ in plan if s.kind == "temp"] == ["dq_county_record", "aq_grid_edge"]
    assert [s.name for s, _ in plan if s.kind == "drop"] == ["dq_county_record", "aq_grid_edge"]
    assert set(spark_build.DUCKDB_SIDE) <= {p.name for p in portable.schema_files()}


def test_macros_stay_duckdb_side_and_are_inlined_for_spark():
    plan = dict((s.name, sql) for s, sql in portable.spark_plan())
    # m_substantive_op: its list of operations, inlined (the macro is the one place it is written)
    assert "'民情日志'" in plan["agg_account_day"] and "m_substantive_op" not in plan["agg_account_day"].lower()
    assert "未知类别" in plan["agg_event"]  # m_category → m_unknown_category, nested
    macros = portable.macros()
    assert {"m_activity_quality", "m_unit_figures", "gw_community_level", "m_category"} <= set(macros)
    assert macros["m_unit_figures"].body is None  # a table macro: DuckDB-only, never inlined


def test_a_computed_list_subscript_becomes_zero_based():
    s = portable.Statement("x.sql", "table", "t", "CREATE TABLE t AS SELECT ring[i][1] AS x, ring[i % 3 + 1][2] AS y FROM v")
    sql = portable.to_spark(s, {})
    assert "ring[(i) - 1][0]" in sql and "ring[(i % 3 + 1) - 1][1]" in sql


@pytest.mark.parametrize("body, why", [
    ("SELECT list_reduce(l, lambda a, b: a + b) AS s FROM t", "list_reduce"),  # no Spark counterpart
    ("SELECT list_extract(l, i) AS x FROM t", "list_extract"),  # 1-based: Spark has no such function
    ("SELECT m_rows(1) AS n FROM t", "m_rows"),  # a table macro cannot be inlined
])
def test_a_statement_that_does_not_transpile_fails(tmp_path, body, why):
    f = tmp_path / "70_new.sql"
    f.write_text(f"-- a new table\nCREATE MACRO m_rows(n) AS TABLE SELECT n;\nCREATE TABLE agg_new AS {body};\n",
                 encoding="utf-8")
    known = portable.macros([f])
    (s,) = [s for s in portable.statements(f) if s.kind == "table"]
    with pytest.raises(portable.NotPortable, match=why):
        portable.to_spark(s, known)


def test_a_statement_of_another_kind_fails(tmp_path):
    f = tmp_path / "70_new.sql"
    f.write_text("INSERT INTO dim_unit SELECT * FROM dim_unit;\n", encoding="utf-8")
    with pytest.raises(portable.NotPortable, match="not a CREATE TABLE"):
        portable.statements(f)

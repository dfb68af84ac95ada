"""warehouse/parquet.py: the month-partitioned Parquet of the published export, written by pyarrow from DuckDB's
Arrow stream, reads back as DuckDB's own partitioned COPY of the same rows — the same
partitions (a NULL month as DuckDB names it), rows, column types and row order."""
from __future__ import annotations

import duckdb
import pytest

from warehouse import parquet

ROWS = """
    SELECT 'id' || i AS id, i AS n, CAST(i AS INTEGER) AS small, i / 7 AS x, i % 3 = 0 AS flag,
           DATE '2024-01-31' + CAST(i % 70 AS INTEGER) AS day, TIMESTAMP '2024-01-31 08:00:00' + to_minutes(i) AS ts,
           CASE WHEN i % 5 = 0 THEN NULL ELSE ['a', 'b'][1 + i % 2:] END AS flags,
           CASE WHEN i % 11 = 0 THEN NULL ELSE ['甲', '乙', '丙'][1 + i % 3] END AS town,
           CAST(i AS HUGEINT) * 2 AS total,
           CASE WHEN i % 13 = 0 THEN NULL ELSE strftime(DATE '2024-01-31' + CAST(i % 70 AS INTEGER), '%Y-%m') END
               AS month
    FROM range(300000) t(i)"""


def _read(con, root):
    return con.sql(f"FROM read_parquet('{root}/*/*.parquet', hive_partitioning = true)")


def test_partitions_rows_types_and_order_are_duckdbs(tmp_path):
    con = duckdb.connect()
    ours, theirs = tmp_path / "ours", tmp_path / "duckdb"
    parquet.write_partitioned(con.sql(ROWS), ours, "month")
    con.sql(ROWS).to_parquet(str(theirs), partition_by=["month"])
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
    assert "month=__HIVE_DEFAULT_PARTITION__" in {p.name for p in ours.iterdir()}
    a, b = _read(con, ours), _read(con, theirs)
    assert a.columns == b.columns and a.types == b.types
    assert dict(zip(a.columns, map(str, a.types)))["total"] == "DOUBLE"  # a HUGEINT as DuckDB writes it
    for x, y in ((a, b), (b, a)):
        assert x.except_(y).aggregate("count(*)").fetchall() == [(0,)]
    assert a.aggregate("count(*)").fetchall() == [(300000,)]
    # within a month's file the rows in the relation's order (the facts' time order)
    for d in ours.iterdir():
        n = [r[0] for r in con.execute(f"SELECT n FROM read_parquet('{d}/*.parquet')").fetchall()]
        assert n == sorted(n), d.name


def test_a_type_without_a_checked_form_is_refused(tmp_path):
    con = duckdb.connect()
    with pytest.raises(TypeError, match="uuid_col"):
        parquet.write_partitioned(con.sql("SELECT uuid() AS uuid_col, 'x' AS month"), tmp_path / "o", "month")
    assert not (tmp_path / "o").exists()

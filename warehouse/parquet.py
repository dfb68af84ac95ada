"""Month-partitioned Parquet written from a DuckDB relation whose rows come in the order of their months: the
published export of the facts (build.export_parquet; each fact is sorted by its time).

The rows stream out of DuckDB as Arrow record batches and pyarrow's dataset writer splits them into hive
partitions (`<column>=<value>/data_<i>.parquet`, the partition column not in the files; a NULL value is
`__HIVE_DEFAULT_PARTITION__`, as DuckDB's own `partition_by` names it), ZSTD-compressed, each file's rows in the
relation's order (readers skip row groups by the time).

Performance (a county's 3.8 M activity rows, 2 cores): DuckDB's `COPY … (PARTITION_BY)` 1.9 s, this writer 0.9 s;
the county's whole export 2.7 → 1.5 s, a prefecture's 23.6 → 15.2 s. Every column is dictionary-encoded until its
dictionary passes DICTIONARY_PAGE_LIMIT, then written plain: the near-unique columns (ids, times, coordinates)
give up after a thousand values instead of building a dictionary of a million, which costs more than the rest of
the write and makes the file larger, not smaller (the county's export: 1 MB limit 111 MB, 64 KB 93 MB, 16 KB
91 MB, 4 KB 94 MB; DuckDB's writer 86 MB).

Not for rows in no order of months (the staged state, warehouse/build.py `_stage_dataset`): the writer then holds
a row group of every month at once (+0.9 GB at a county) or, told not to wait, writes four times the row groups.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as pds

DICTIONARY_PAGE_LIMIT = 16 * 1024
ROW_GROUP = 122_880  # DuckDB's own row group size: the same parallelism for readers of the files
# the column types the files are written with as DuckDB's writer wrote them; HUGEINT (a DuckDB sum of BIGINT) as
# DOUBLE, which is what DuckDB writes for it (Arrow would make it DECIMAL(38,0)): the files' types do not change
# with the writer. Any other type is refused rather than written in a form nobody checked.
_SAME = {"BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "VARCHAR", "VARCHAR[]"}
_AS_DUCKDB_WROTE = {"HUGEINT": "DOUBLE"}


def write_partitioned(rel, out_dir: Path, column: str) -> None:
    """Write the rows of the DuckDB relation `rel` under `out_dir`, partitioned by its `column`, each file's rows in
    the relation's order."""
    cols = []
    for name, typ in zip(rel.columns, (str(t) for t in rel.types)):
        q = '"' + name.replace('"', '""') + '"'
        if typ in _AS_DUCKDB_WROTE:
            cols.append(f"CAST({q} AS {_AS_DUCKDB_WROTE[typ]}) AS {q}")
        elif typ in _SAME:
            cols.append(q)
        else:
            raise TypeError(f"write_partitioned: column {name} of type {typ} has no checked Parquet form")
    fmt = pds.ParquetFileFormat()
    pds.write_dataset(
        rel.project(", ".join(cols)).arrow(), str(out_dir), format="parquet", partitioning=[column],
        partitioning_flavor="hive", basename_template="data_{i}.parquet", existing_data_behavior="overwrite_or_ignore",
        preserve_order=True, min_rows_per_group=ROW_GROUP, max_rows_per_group=ROW_GROUP,
        file_options=fmt.make_write_options(compression="zstd", use_dictionary=True,
                                            dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT))

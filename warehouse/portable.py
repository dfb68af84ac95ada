"""One definition of every table for both engines: warehouse/schema/*.sql is DuckDB SQL, and the Spark build
(warehouse/spark_build.py) runs the same statements transpiled to Spark SQL by sqlglot at build time — never a
second hand-kept copy.

A schema file is split into statements (DuckDB's own splitter, warehouse/statements.py). Each one is:

- `macro`: CREATE [TEMP] MACRO — DuckDB-only: the serving DuckDB creates it (the app calls the macros at query
  time). A scalar macro that a table uses is inlined into that table's Spark SQL (its body, with the arguments
  substituted), so the macro stays the one definition;
- `table` / `temp`: CREATE [TEMP] TABLE name AS <query> — the query, transpiled;
- `drop`: DROP TABLE name (a helper table the file dropped).

Transpiling is strict: sqlglot raises on anything it cannot express in Spark (unsupported_level=RAISE), a call of
a DuckDB macro that could not be inlined or of a function sqlglot does not know (it would pass a DuckDB-only
function through by name, e.g. list_reduce) is an error, and the Spark SQL must parse again as Spark SQL. What
sqlglot cannot carry over is written portable in the schema file itself (e.g. `array_length` for a list's length,
`generate_series` instead of `range`, a row_number instead of `first(… ORDER BY …)`), giving the same DuckDB results.
tests/test_portable_sql.py fails when a schema file stops transpiling.

One adjustment sqlglot does not make: a list subscript with a computed index (`ring[i]`, 1-based in DuckDB) is
shifted to Spark's 0-based subscript (sqlglot shifts literal subscripts only).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

# the schema files' statements: warehouse/statements.py (no sqlglot), re-exported here
from warehouse.statements import SCHEMA_DIR, NotPortable, Statement, schema_files, statements  # noqa: F401


@dataclass(frozen=True)
class _Macro:
    params: tuple[str, ...]
    body: exp.Expression | None  # None: a table macro or one sqlglot cannot parse (DuckDB-only, never inlined)


def macros(files: list[Path] | None = None) -> dict[str, _Macro]:
    """Every macro of the schema files: the scalar ones sqlglot parses with their parameters and body."""
    out: dict[str, _Macro] = {}
    for f in files or schema_files():
        for s in statements(f):
            if s.kind != "macro":
                continue
            try:
                tree = sqlglot.parse_one(s.sql, read="duckdb")
            except sqlglot.errors.ParseError:
                out[s.name] = _Macro((), None)
                continue
            udf, body = tree.this, tree.expression
            if not isinstance(udf, exp.UserDefinedFunction) or body is None or isinstance(body, exp.Query):
                out[s.name] = _Macro((), None)
                continue
            out[s.name] = _Macro(tuple(p.name.lower() for p in udf.expressions), body)
    return out


def _inline(tree: exp.Expression, known: dict[str, _Macro], where: str) -> exp.Expression:
    def repl(node):
        if isinstance(node, exp.Anonymous) and node.name.lower() in known:
            m = known[node.name.lower()]
            if m.body is None or len(node.expressions) != len(m.params):
                raise NotPortable(f"{where}: calls DuckDB macro {node.name}, which cannot be inlined")
            args = dict(zip(m.params, node.expressions))
            body = m.body.copy().transform(
                lambda n: args[n.name.lower()].copy()
                if isinstance(n, exp.Column) and not n.table and n.name.lower() in args else n)
            return exp.Paren(this=_inline(body, known, where))
        return node
    return tree.transform(repl)


def _zero_based(tree: exp.Expression) -> exp.Expression:
    """DuckDB `list[expr]` (1-based; sqlglot shifts literal subscripts only) → `list[expr - 1]`."""
    def repl(node):
        if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and not isinstance(node.expressions[0], exp.Literal):
            idx = node.expressions[0]
            node.set("expressions", [exp.Sub(this=exp.Paren(this=idx.copy()), expression=exp.Literal.number(1))])
        return node
    return tree.transform(repl)


def _not_materialized(tree: exp.Expression) -> exp.Expression:
    """`WITH x AS MATERIALIZED (…)` (a DuckDB hint: computed once; Spark has no such clause) → `WITH x AS (…)`."""
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    return tree


def to_spark(stmt: Statement, known: dict[str, _Macro] | None = None) -> str:
    """The Spark SQL of a table statement: its query (the rows of the table), transpiled."""
    where = f"{stmt.file} {stmt.name}"
    if stmt.kind not in ("table", "temp"):
        raise ValueError(f"{where}: only tables are transpiled ({stmt.kind})")
    try:
        tree = sqlglot.parse_one(stmt.sql, read="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise NotPortable(f"{where}: does not transpile to Spark SQL: {exc}") from exc
    if not isinstance(tree.expression, exp.Query):
        raise NotPortable(f"{where}: CREATE TABLE without a query")
    return _transpile(tree.expression, macros() if known is None else known, where)


def query_to_spark(sql: str, where: str) -> str:
    """The Spark SQL of a DuckDB query generated in Python (build._rule_sql, the staging rule), transpiled as the
    schema's tables are (no macros to inline)."""
    try:
        query = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise NotPortable(f"{where}: does not transpile to Spark SQL: {exc}") from exc
    if not isinstance(query, exp.Query):
        raise NotPortable(f"{where}: not a query")
    return _transpile(query, {}, where)


def _transpile(query: exp.Expression, known: dict[str, _Macro], where: str) -> str:
    try:
        query = _not_materialized(_zero_based(_inline(query.copy(), known, where)))
        sql = query.sql("spark", unsupported_level=ErrorLevel.RAISE)
        sqlglot.parse_one(sql, read="spark")  # the output must be Spark SQL sqlglot reads back
    except (sqlglot.errors.SqlglotError, ValueError) as exc:
        raise NotPortable(f"{where}: does not transpile to Spark SQL: {exc}") from exc
    # a function sqlglot does not know is passed through by name: a DuckDB function with no Spark counterpart
    unknown = sorted({f.name.lower() for f in sqlglot.parse_one(sql, read="spark").find_all(exp.Anonymous)})
    if set(unknown) & set(known):
        raise NotPortable(f"{where}: still calls DuckDB macro(s) {sorted(set(unknown) & set(known))}")
    if unknown:
        raise NotPortable(f"{where}: calls {unknown}, which sqlglot cannot carry over to Spark SQL: "
                          "write the statement portable (warehouse/portable.py)")
    return sql


def spark_plan(files: list[Path] | None = None) -> list[tuple[Statement, str | None]]:
    """Every table and drop statement of the schema files, in order, with its Spark SQL (None for a drop)."""
    files = files or schema_files()
    known = macros(files)
    return [(s, to_spark(s, known) if s.kind != "drop" else None)
            for f in files for s in statements(f) if s.kind != "macro"]

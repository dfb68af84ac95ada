"""The statements of the schema files (warehouse/schema/*.sql), split by DuckDB's own splitter and classified —
what the DuckDB build runs one by one (build.Reuse) and the Spark build transpiles (warehouse/portable.py).

Kept apart from warehouse/portable.py so that a daily DuckDB build does not import sqlglot (0.1 s of a county's
daily build, docs/performance.md); a file's statements are split once per process (by its text).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

SCHEMA_DIR = Path(__file__).parent / "schema"

_MACRO = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+|TEMPORARY\s+)?MACRO\s+(\w+)", re.I)
_TABLE = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(TEMP\s+|TEMPORARY\s+)?TABLE\s+(\w+)\s+AS\b", re.I)
_DROP = re.compile(r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)\s*;?\s*$", re.I)
_COMMENT_LINE = re.compile(r"^\s*--[^\n]*$\n?", re.M)


class NotPortable(Exception):
    """A schema statement that does not transpile to Spark SQL (names the file and the table)."""


@dataclass(frozen=True)
class Statement:
    file: str  # the schema file's name
    kind: str  # macro | table | temp | drop
    name: str
    sql: str  # the DuckDB statement as written

    def body(self) -> str:
        """The query of a CREATE [TEMP] TABLE … AS statement."""
        return self.sql[_TABLE.match(self.sql).end():]


def _strip_comments(sql: str) -> str:
    """Without its whole-line comments (those around and between the statements)."""
    return _COMMENT_LINE.sub("", sql)


def statements(path: Path) -> list[Statement]:
    """The statements of one schema file, in order."""
    return list(_split(path.name, path.read_text(encoding="utf-8")))


@functools.lru_cache(maxsize=64)
def _split(name: str, text: str) -> tuple[Statement, ...]:
    out = []
    for st in duckdb.extract_statements(text):
        sql = _strip_comments(st.query).strip().rstrip(";")
        if m := _MACRO.match(sql):
            out.append(Statement(name, "macro", m.group(1).lower(), sql))
        elif m := _TABLE.match(sql):
            out.append(Statement(name, "temp" if m.group(1) else "table", m.group(2).lower(), sql))
        elif m := _DROP.match(sql):
            out.append(Statement(name, "drop", m.group(1).lower(), sql))
        else:
            raise NotPortable(f"{name}: not a CREATE TABLE … AS, CREATE MACRO or DROP TABLE: {sql[:80]!r}")
    return tuple(out)


def schema_files() -> list[Path]:
    return sorted(SCHEMA_DIR.glob("*.sql"))

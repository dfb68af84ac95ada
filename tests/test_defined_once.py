"""Every figure defined once (issue 14): a rule written out in a second place fails here.

- each rate of shared/domain.md is one SQL macro in warehouse/schema/50_metrics.sql (m_activity_rate,
  m_completion_rate, m_on_time_rate, m_sign_rate, m_collection_rate); no query in warehouse/sql divides the
  counts itself;
- the office kinds (派出所, 司法所, 卫生院) come from core.spec.OFFICE_KINDS (cfg_office_kind, m_office_order): no
  SQL file names them as a literal;
- the per-unit roll-up of the figures is one table macro (m_unit_figures) that the overview, the rankings and the
  comparison read; the 三项重点工作 counts per unit × category are one table macro (m_kp_counts) that every kp
  query, the headline and m_unit_figures sum;
- the category lists (key-person and event categories) come from core.spec (cfg_kp_category, cfg_event_category):
  no SQL file writes them out;
- pages only arrange: no division in pages/*.py (a rate comes from the metrics layer);
- the 红黑榜 label is one function (warehouse.fmt.board); there is one rate formatter (warehouse.fmt.pct).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from core.spec import DEPT_ROLES, OFFICE_KINDS
from dashboard import ui
from warehouse import bulletin, fmt, review

ROOT = Path(__file__).resolve().parent.parent
SQL_FILES = sorted((ROOT / "warehouse" / "sql").rglob("*.sql")) + sorted((ROOT / "warehouse" / "schema").glob("*.sql"))
METRICS_SQL = ROOT / "warehouse" / "schema" / "50_metrics.sql"
COMMENT = re.compile(r"--[^\n]*")

# a rate's expression: the numerator / nullif(denominator, 0), or a FILTER count over a count
RATES = {
    "activity_rate": re.compile(r"active\w*\s*/\s*(nullif\(\s*[\w.]*accounts|count\(\*\))|FILTER \(active\)\s*/", re.I),
    "completion_rate": re.compile(r"closed\s*/\s*nullif\(\s*[\w.]*reported", re.I),
    "on_time_rate": re.compile(r"closed_on_time\s*/\s*nullif\(", re.I),
    "sign_rate": re.compile(r"signed\s*/\s*(nullif\(\s*[\w.]*(needed|received)|count\(\*\))|FILTER \(signed\)\s*/", re.I),
    "collection_rate": re.compile(r"collected\)?\s*/\s*nullif\(\s*(sum\()?[\w.]*households", re.I),
    "fully_signed_rate": re.compile(r"fully_signed\s*/\s*nullif\(", re.I),
}


def _code(path: Path) -> str:
    return COMMENT.sub("", path.read_text(encoding="utf-8"))


def _files_with(pattern: re.Pattern) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in SQL_FILES if pattern.search(_code(p))]


def test_the_patterns_find_what_they_look_for():
    """The checks below are not vacuous: each pattern finds its macro's definition."""
    code = _code(METRICS_SQL)
    for name, pattern in RATES.items():
        assert pattern.search(code), name


@pytest.mark.parametrize("name", sorted(RATES))
def test_each_rate_written_in_one_sql_file(name):
    where = _files_with(RATES[name])
    assert where == ["warehouse/schema/50_metrics.sql"], f"{name} written out in {where}"


def test_the_queries_use_the_rate_macros():
    used = {m: [p for p in SQL_FILES if p != METRICS_SQL and f"m_{m}(" in _code(p)] for m in RATES}
    for name, files in used.items():
        assert files, f"no query uses m_{name}"
    assert len(used["activity_rate"]) >= 7


def test_office_kinds_are_no_sql_literal():
    """The kinds come from core.spec (cfg_office_kind); the one place the schema maps the report's three office
    columns to their kind (fact_kp_signoff, dim_office) is its feed contract, not a list of kinds."""
    allowed = {"warehouse/schema/20_facts.sql", "warehouse/schema/10_dims.sql"}
    for kind in OFFICE_KINDS.values():
        where = [f for f in _files_with(re.compile(f"'{kind}'")) if f not in allowed]
        assert not where, f"office kind {kind!r} as a literal in {where}"
    # a list of the kinds (the old ordering literal) appears nowhere, not even in the schema
    assert not _files_with(re.compile(r"\['派出所',\s*'司法所',\s*'卫生院'\]|IN \('派出所', '司法所', '卫生院'\)"))
    assert "m_office_order" in _code(METRICS_SQL)
    assert tuple(OFFICE_KINDS.values()) == DEPT_ROLES == bulletin.OFFICE_KINDS


def test_office_kinds_one_python_source():
    """No module writes the kinds out as its own tuple or mapping: they are core.spec's."""
    literal = re.compile(r"""["']派出所["']\s*,\s*["']司法所["']\s*,\s*["']卫生院["']""")
    hits = [str(p.relative_to(ROOT)) for d in ("core", "etl", "warehouse", "dashboard", "pages")
            for p in sorted((ROOT / d).rglob("*.py")) if literal.search(p.read_text(encoding="utf-8"))]
    assert hits == ["core/spec.py"], hits
    assert "_OFFICE_KIND" not in (ROOT / "warehouse" / "build.py").read_text(encoding="utf-8")


def test_the_per_unit_rollup_is_one_macro():
    names = ("overview/unit_ranking", "comparison/long", "comparison/rankings", "assessment/scores",
             "city/township_ranking")
    for name in names:
        assert "m_unit_figures(" in _code(ROOT / "warehouse" / "sql" / f"{name}.sql"), name
    assert sum("m_unit_figures(" in _code(p) for p in SQL_FILES) == len(names) + 1  # the five, and its definition
    assert "CREATE MACRO m_unit_figures(" in _code(METRICS_SQL)


def test_the_composite_score_and_the_red_black_rule_are_one_macro_each():
    """The 红黑榜's score (m_score) and its red / black rule (m_red, m_black): the 乡镇 ranking and the city's
    乡镇 ranking use them; no other file averages the three figures or writes the boundary rule."""
    for name in ("overview/unit_ranking", "city/township_ranking"):
        code = _code(ROOT / "warehouse" / "sql" / f"{name}.sql")
        assert all(f"{m}(" in code for m in ("m_score", "m_red", "m_black")), name
    assert _files_with(re.compile(r"list_avg\(")) == ["warehouse/schema/50_metrics.sql"]
    assert _files_with(re.compile(r"score\s*>\s*lowest")) == ["warehouse/schema/50_metrics.sql"]


def test_the_kp_counts_are_one_macro():
    """Reports and sign-offs are counted per unit × category in m_kp_counts only: a query that counts them itself
    (FROM m_kp_reports / m_kp_signoffs with a GROUP BY per unit or category) is a second roll-up. The office-grain
    queries (kp/by_office, kp/by_office_category: per office, not per unit) and the wall's distinct persons
    (wall/kp_persons: counts people, which the counts cannot) are the named exceptions."""
    allowed = {"warehouse/schema/50_metrics.sql", "warehouse/sql/kp/by_office.sql",
               "warehouse/sql/kp/by_office_category.sql", "warehouse/sql/wall/kp_persons.sql"}
    raw = _files_with(re.compile(r"\bm_kp_(reports|signoffs)\("))
    assert set(raw) <= allowed, f"key-person reports counted outside m_kp_counts: {sorted(set(raw) - allowed)}"
    users = _files_with(re.compile(r"\bm_kp_counts\("))
    for name in ("kp/by_category_unit", "kp/by_unit", "kp/trend", "overview/kp_tallies", "overview/headline"):
        assert f"warehouse/sql/{name}.sql" in users, name
    assert "m_kp_counts(" in _code(METRICS_SQL).split("CREATE MACRO m_unit_figures(")[1]


def test_category_lists_are_no_sql_literal():
    from core.spec import EVENT_CATEGORIES, KP_CATEGORIES
    for cats in (KP_CATEGORIES, EVENT_CATEGORIES):
        pattern = re.compile(r"'" + r"',\s*'".join(cats[:2]) + "'")
        assert pattern.search("['" + "', '".join(cats) + "']")  # the check finds a written-out list
        assert not _files_with(pattern), f"{cats[0]}… written out in {_files_with(pattern)}"


def _divisions(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.lineno for n in ast.walk(tree)
            if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)]  # `//` is layout (rows that fit)


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "pages").glob("*.py")))
def test_pages_compute_no_rate(page):
    """A page arranges figures from the metrics layer: a division in a page is a figure computed outside it."""
    assert _divisions(ROOT / "pages" / page) == [], f"pages/{page}: division on lines {_divisions(ROOT / 'pages' / page)}"


def test_the_division_check_works(tmp_path):
    f = tmp_path / "p.py"
    f.write_text("rate = closed / reported if reported else None\n", encoding="utf-8")
    assert _divisions(f) == [1]


def test_one_board_label():
    assert fmt.board(True, False) == "红榜"
    assert fmt.board(False, True) == "黑榜"
    assert fmt.board(False, True, True) == "黑榜(连续两期)"
    assert fmt.board(False, True, True, span="月") == "黑榜(连续两月)"
    assert fmt.board(False, False, True) == ""
    label = re.compile(r"""["']黑榜\(连续""")
    hits = [str(p.relative_to(ROOT)) for d in ("warehouse", "dashboard", "pages")
            for p in sorted((ROOT / d).rglob("*.py")) if label.search(p.read_text(encoding="utf-8"))]
    assert hits == ["warehouse/fmt.py"], f"红黑榜 label built outside warehouse.fmt.board: {hits}"


def test_one_rate_formatter():
    assert bulletin.pct is fmt.pct and review.pct is fmt.pct
    for v in (0.857142, 1.0, 0.99951, 0.0004, 0, None, 1.0333, 0.10549):
        assert ui.pct(v) == fmt.pct(v)
    assert not hasattr(ui, "rate_cols")


def test_the_staging_dedupe_rule_is_written_once():
    """The latest version of every key (the latest updated_at, then the later delivery by its order, then the later
    row) is build._rule_sql only: the Spark build runs it transpiled (spark_build._stage → portable.query_to_spark),
    never a hand-kept copy. The normaliser's rank within one file (etl/normalize.py: no deliveries) is not it."""
    rule = re.compile(r"updated_at\s+DESC[^;]{0,200}?\b_?(order|delivery)\b", re.I | re.S)
    assert rule.search((ROOT / "warehouse" / "build.py").read_text(encoding="utf-8"))  # the check finds the rule
    hits = [str(p.relative_to(ROOT)) for d in ("core", "etl", "warehouse", "dashboard", "pages", "perf")
            for p in sorted((ROOT / d).rglob("*")) if p.suffix in (".py", ".sql")
            and rule.search(p.read_text(encoding="utf-8"))]
    assert hits == ["warehouse/build.py"], f"the staging rule written out in {hits}"
    spark = (ROOT / "warehouse" / "spark_build.py").read_text(encoding="utf-8")
    assert "duck._rule_sql(" in spark and "portable.query_to_spark(" in spark
    assert not re.search(r"row_number\(\)|ANTI JOIN|SEMI JOIN", spark, re.I), "a dedupe written in spark_build.py"

"""Normalise and validate one delivery (an Arrow table of strings) in DuckDB.

Returns the kept rows, typed, with a `_flags` list (repairs and doubts, e.g. `coord_swapped`, `future_time`,
`unknown_code:category`), and the quarantined rows with their reasons. A row is quarantined only when a required
column is missing or cannot be read (docs/feeds.md) — not exactly of its type, an Excel error value, a time out of the
plausible range — or when the reader could not read the row at all (`_read_error`, etl/readers.py); every other
problem is repaired or flagged and the row is kept. Nothing here raises for a value: a value is parsed or it is
unreadable.

The SQL is assembled from the contract in core/spec.py: identifiers come from that fixed spec, every value (code
lists, aliases, the load time) is a bound parameter.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.spec import DATASETS, Dataset
from etl import coords
from etl.readers import EXCEL_ERRORS

MACROS = (Path(__file__).parent / "sql" / "macros.sql").read_text(encoding="utf-8")

# Flag → (Chinese label, kind). kind: 修复 (repaired by a documented rule) or 存疑 (kept but doubtful).
FLAG_LABELS = {
    "coord_swapped": ("经纬度颠倒, 已交换", "修复"),
    "coord_zero": ("坐标为 0 (未知), 已置空", "修复"),
    "coord_out_of_range": ("坐标超出范围, 已置空", "存疑"),
    "coord_bd09": ("百度坐标 BD09, 已转换", "修复"),
    "id_upgraded_15": ("15 位身份证号, 已升为 18 位", "修复"),
    "id_lowercase_x": ("身份证号小写 x, 已改大写", "修复"),
    "id_invalid": ("身份证号校验不通过", "存疑"),
    "id_excel_number": ("身份证号以数字格式存储, 末几位可能已丢失", "存疑"),
    "future_time": ("时间晚于导入时间", "存疑"),
    "closed_before_reported": ("办结时间早于上报时间", "存疑"),
    "closed_without_time": ("状态为已办结但无办结时间", "存疑"),
    "signed_before_reported": ("签收时间早于报送时间", "存疑"),
    "category_alias": ("旧版人员类别名称, 已换为新名称", "修复"),
    "superseded_in_file": ("同一文件内重复记录, 以更新时间较晚者为准", "修复"),
    "unknown_code": ("未知代码值, 原样保留", "存疑"),
    "bad_value": ("非必填字段无法识别或超出合理范围, 已置空", "存疑"),
    "bad_boundary": ("边界 GeoJSON 无法识别, 已置空", "存疑"),  # lakes landed before bad_value:boundary
    "excel_error": ("Excel 错误值 (如 #N/A、#VALUE!), 已置空", "存疑"),
    "unknown_grid": ("引用的网格不在组织机构中", "存疑"),
    "unknown_account": ("引用的账号不在账号表中", "存疑"),
    "unknown_unit": ("引用的单位不在组织机构中", "存疑"),
}


COORD_PAIRS = (("lon", "lat"), ("center_lon", "center_lat"))


def flag_label(flag: str) -> str:
    """`bad_value:seq` → label (seq); `excel_error:summary:#N/A` → label (summary: #N/A)."""
    base, _, col = flag.partition(":")
    col, _, detail = col.partition(":")
    label = FLAG_LABELS.get(base, (base, ""))[0]
    if detail:
        return f"{label} ({col}: {detail})"
    return f"{label} ({col})" if col else label


def connect_memory(threads: int = 2, memory_limit: str = "4GB") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                                 "threads": threads, "memory_limit": memory_limit})
    con.execute(MACROS)
    return con


@dataclass
class Normalised:
    kept: pa.Table
    quarantine: pa.Table


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# What gw_clean (etl/sql/macros.sql) trims: ASCII white space, the ideographic space, BOM and no-break space.
# The normaliser applies the same rule with Arrow (five times cheaper than the regular expression in DuckDB);
# tests/test_etl_formats.py checks that the two agree.
_TRIM = " \t\n\r\f\u3000\ufeff\u00a0"


def clean(raw: pa.Table, columns: list[str], excel_errors: dict[str, str] | None = None) -> pa.Table:
    """The delivered `columns` as trimmed strings, empty → NULL (the rule of gw_clean), with `_row`.
    An Excel error value (`#N/A`, `#VALUE!`, …) is taken out of its column into `_xerr_<column>` (only columns
    that hold one get that column; their names are added to `excel_errors`, column → its `_xerr_` name)."""
    out = [raw.column("_row")]
    names = ["_row"]
    extra, extra_names = [], []
    codes = pa.array(EXCEL_ERRORS, pa.string())
    for name in columns:
        c = raw.column(name)
        if not pa.types.is_string(c.type):
            c = c.cast(pa.string())
        c = pc.utf8_trim(c, _TRIM)
        c = pc.if_else(pc.equal(c, ""), pa.scalar(None, pa.string()), c)
        if excel_errors is not None and c.null_count < len(c) and pc.any(pc.starts_with(c, "#")).as_py():
            is_err = pc.fill_null(pc.is_in(c, value_set=codes), False)
            if pc.any(is_err).as_py():
                extra.append(pc.if_else(is_err, c, pa.scalar(None, pa.string())))
                extra_names.append(f"_xerr_{name}")
                excel_errors[name] = f"_xerr_{name}"
                c = pc.if_else(is_err, pa.scalar(None, pa.string()), c)
        out.append(c)
        names.append(name)
    if "_read_error" in raw.column_names and raw.column("_read_error").null_count < raw.num_rows:
        extra.append(raw.column("_read_error"))
        extra_names.append("_read_error")
    return pa.table(out + extra, names=names + extra_names)


def _build_sql(ds: Dataset, params: dict, excel_errors: dict[str, str] | None = None,
               read_errors: bool = False) -> str:
    """The normaliser's SQL over `cleaned` (strings). CTE s adds every typed column parsed once (`_p<i>`); CTE v
    applies the rules: a value that is not exactly of its type, or a time out of the plausible range
    ($ts_min … $ts_max), is unreadable — quarantine when required, emptied with `bad_value:<column>` otherwise;
    an Excel error value is recorded (quarantine, or emptied with `excel_error:<column>:<code>`)."""
    excel_errors = excel_errors or {}
    vals, flags, reasons, parsed = [], [], [], []
    raw = lambda c: f"s.{_q(c)}"  # noqa: E731 — the cleaned value (CTE s)

    def ranged(i: int, c) -> str:
        """The parsed value of column i, NULL when out of range (dates cast after the range check)."""
        pv = f"s._p{i}"
        if c.type not in ("ts", "date"):
            return pv
        v = f"CASE WHEN {pv} BETWEEN $ts_min AND $ts_max THEN {pv} END"
        return f"CAST({v} AS DATE)" if c.type == "date" else v

    index = {c.name: i for i, c in enumerate(ds.columns)}
    for i, c in enumerate(ds.columns):
        r = raw(c.name)
        if c.type in ("int", "float", "ts", "date"):
            fn = {"int": "gw_int", "float": "gw_float", "ts": "gw_ts", "date": "gw_ts"}[c.type]
            parsed.append(f"{fn}(cleaned.{_q(c.name)}) AS _p{i}")
        if c.type in ("str",):
            v = r
            if c.name == "id_number":
                v = f"CASE WHEN gw_id_shape({r}) THEN gw_id({r}) END"
        elif c.type in ("int", "float", "ts", "date"):
            v = ranged(i, c)
        elif c.type == "code":
            params[f"codes_{i}"] = list(c.codes)
            v = r
            aliases = ds.code_aliases.get(c.name)
            if aliases:
                params[f"afrom_{i}"] = list(aliases)
                params[f"ato_{i}"] = list(aliases.values())
                flags.append(f"CASE WHEN list_contains($afrom_{i}, {v}) THEN 'category_alias' END")
                v = f"coalesce($ato_{i}[list_position($afrom_{i}, {v})], {v})"
            if c.codes:
                flags.append(f"CASE WHEN {v} IS NOT NULL AND NOT list_contains($codes_{i}, {v}) "
                             f"THEN 'unknown_code:{c.name}' END")
        else:
            raise ValueError(c.type)
        own = v  # the column's own value (before a fallback to another column)
        if c.name == "updated_at" and ds.updated_fallback:
            fb = ds.updated_fallback
            fbv = ranged(index[fb], ds.col(fb))
            fb_expr = (f"CAST({fbv} AS TIMESTAMP) + INTERVAL 86399 SECOND" if ds.col(fb).type == "date" else fbv)
            v = f"coalesce({v}, {fb_expr})"
        vals.append(f"{v} AS {_q(c.name)}")
        xerr = f"s.{_q(excel_errors[c.name])}" if c.name in excel_errors else None
        parsed_ok = f"(s._p{i} IS NOT NULL)" if c.type in ("int", "float", "ts", "date") else f"(({own}) IS NOT NULL)"
        if c.required:
            whens = []
            if xerr:
                whens.append(f"WHEN {xerr} IS NOT NULL THEN '必填字段「{c.header}」为 Excel 错误值: ' || {xerr}")
            whens.append(f"WHEN {r} IS NULL THEN '缺少必填字段「{c.header}」'")
            whens.append(f"WHEN NOT {parsed_ok} THEN '无法识别的必填字段「{c.header}」: ' || {r}")
            if c.type in ("ts", "date"):
                whens.append(f"WHEN ({own}) IS NULL THEN '必填字段「{c.header}」超出合理范围: ' || {r}")
            reasons.append("CASE " + " ".join(whens) + " END")
        else:
            if xerr:
                flags.append(f"CASE WHEN {xerr} IS NOT NULL THEN 'excel_error:{c.name}:' || {xerr} END")
            if c.type in ("int", "float", "ts", "date") or c.name == "id_number":
                flags.append(f"CASE WHEN {r} IS NOT NULL AND ({own}) IS NULL THEN 'bad_value:{c.name}' END")
        if c.type in ("ts", "date") and not c.future_ok:
            flags.append(f"CASE WHEN ({v}) > $future_limit THEN 'future_time' END")
    flag_list = "[" + ", ".join(flags) + "]" if flags else "[]::VARCHAR[]"
    reason_list = f"list_filter([{', '.join(reasons)}], lambda x: x IS NOT NULL)"
    if read_errors:  # a row the reader could not read has that one reason
        reason_list = f"CASE WHEN s._read_error IS NOT NULL THEN [s._read_error] ELSE {reason_list} END"
    # coordinate pairs repaired in SQL (zeros, swaps, out of range); the datum is converted afterwards
    pairs = [(lo, la) for lo, la in COORD_PAIRS if lo in ds.names]
    coord_sql = ""
    for i, (lo, la) in enumerate(pairs):
        prev = "v" if i == 0 else f"c{i - 1}"
        coord_sql += f""",
        c{i}_ AS (SELECT {prev}.* EXCLUDE ({_q(lo)}, {_q(la)}),
                         gw_coord({prev}.{_q(lo)}, {prev}.{_q(la)}, {prev}.coord_sys) AS _g FROM {prev}),
        c{i} AS (SELECT c{i}_.* EXCLUDE (_g, _flags), _g.lon AS {_q(lo)}, _g.lat AS {_q(la)},
                        CASE WHEN _g.flag IS NULL THEN _flags ELSE list_append(_flags, _g.flag) END AS _flags
                 FROM c{i}_)"""
    last = f"c{len(pairs) - 1}" if pairs else "v"
    parsed_sql = (", " + ", ".join(parsed)) if parsed else ""
    return f"""
        WITH s AS (SELECT *{parsed_sql} FROM cleaned),
        v AS (
            SELECT {', '.join(vals)},
                   s._row,
                   list_filter({flag_list}, lambda x: x IS NOT NULL) AS _flags,
                   {reason_list} AS _reasons
            FROM s
        ){coord_sql}
        SELECT *, CASE WHEN len(_reasons) = 0 THEN 1::BIGINT END AS _rank_in_file FROM {last}
    """


def _rank_in_file(con: duckdb.DuckDBPyConnection, ds: Dataset) -> None:
    """Rank the usable rows of the temp table `norm` that share a key: the latest updated_at, then the later row,
    is 1 (the others are kept, flagged superseded_in_file). Most files repeat no key, and the window — half the
    normaliser's SQL time — runs only when one does. `norm` stays in file-row order."""
    key_cols = ", ".join(_q(k) for k in ds.key)
    dups = con.execute(f"SELECT count(*) FROM (SELECT {key_cols} FROM norm WHERE len(_reasons) = 0 "
                       f"GROUP BY ALL HAVING count(*) > 1)").fetchall()[0][0]
    if dups:  # rank only the rows whose key repeats; an UPDATE leaves the order of `norm` alone
        con.execute(f"""
            UPDATE norm SET _rank_in_file = d.r FROM (
                WITH u AS (SELECT _row, updated_at, {key_cols} FROM norm WHERE len(_reasons) = 0),
                     dup AS (SELECT {key_cols} FROM u GROUP BY ALL HAVING count(*) > 1)
                SELECT _row, row_number() OVER (PARTITION BY {key_cols}
                                                ORDER BY updated_at DESC NULLS LAST, _row DESC) AS r
                FROM u SEMI JOIN dup USING ({key_cols})
            ) d
            WHERE norm._row = d._row AND d.r > 1
        """)


def _dataset_checks(ds: Dataset) -> list[str]:
    """Cross-column checks (flags) per dataset, on the normalised values."""
    if ds.name == "events":
        return ["CASE WHEN closed_at < reported_at THEN 'closed_before_reported' END",
                "CASE WHEN status = '已办结' AND closed_at IS NULL THEN 'closed_without_time' END"]
    if ds.name == "key_person_reports":
        return ["CASE WHEN least(police_signed_at, justice_signed_at, health_signed_at) < reported_at "
                "THEN 'signed_before_reported' END",
                "CASE WHEN regexp_full_match(gw_clean(raw_id_number), '[0-9]{15}') THEN 'id_upgraded_15' END",
                "CASE WHEN regexp_full_match(gw_clean(raw_id_number), '[0-9]{17}x') THEN 'id_lowercase_x' END",
                "CASE WHEN id_number IS NOT NULL AND NOT gw_id_valid(id_number) THEN 'id_invalid' END"]
    return []


def normalise(con: duckdb.DuckDBPyConnection, dataset: str, raw: pa.Table, *, load_time: dt.datetime,
              future_tolerance_hours: float = 24, source_file: str = "", delivery: int = 0,
              imprecise_rows: set[int] | None = None, max_future_days: float | None = None,
              min_year: int | None = None) -> Normalised:
    """Normalise a raw string table of `dataset`. `imprecise_rows`: rows whose id_number came from a numeric
    Excel cell too large to be exact. A time before 1 January of `min_year` or later than `max_future_days` after
    `load_time` is out of range, i.e. unreadable (both default to [etl] of the process's configuration)."""
    ds = DATASETS[dataset]
    lo, hi = time_range(load_time, max_future_days, min_year)
    params: dict = {"future_limit": load_time + dt.timedelta(hours=future_tolerance_hours),
                    "ts_min": lo, "ts_max": hi}
    excel_errors: dict[str, str] = {}
    cleaned = clean(raw, ds.names, excel_errors)
    sql = _build_sql(ds, params, excel_errors, read_errors="_read_error" in cleaned.column_names)
    con.register("raw", raw)
    con.register("cleaned", cleaned)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE norm AS {sql}", params)
        extra = _dataset_checks(ds)
        if extra:
            source = ("(SELECT n.*, r.id_number AS raw_id_number FROM norm n JOIN raw r USING (_row))"
                      if "id_number" in ds.names else "norm")
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE norm AS
                SELECT n.* REPLACE (list_concat(n._flags, list_filter([{', '.join(extra)}], lambda x: x IS NOT NULL)) AS _flags)
                FROM {source} n ORDER BY n._row
            """)
        _rank_in_file(con, ds)
        kept, quarantine = _split(con, ds, dataset, source_file, delivery,
                                  "_raw_text" in raw.column_names and raw.column("_raw_text").null_count < raw.num_rows)
    finally:
        con.unregister("raw")
        con.unregister("cleaned")
    con.execute("DROP TABLE norm")
    kept = _fix_coordinates(kept)
    if dataset == "org_units":
        kept = _fix_boundaries(kept)
    if imprecise_rows and "id_number" in ds.names:
        kept = _add_flag(kept, np.isin(kept.column("_row").to_numpy(), list(imprecise_rows)), "id_excel_number")
    kept = kept.append_column("_file", pa.array([source_file] * kept.num_rows, pa.string()))
    kept = kept.append_column("_delivery", pa.array(np.full(kept.num_rows, delivery, dtype="int64")))
    return Normalised(kept, quarantine)


def time_range(load_time: dt.datetime, max_future_days: float | None = None,
               min_year: int | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The plausible range of a delivered time: [1 January of min_year, load time + max_future_days]."""
    if max_future_days is None or min_year is None:
        from core.config import settings

        etl = settings().etl
        max_future_days = etl.max_future_days if max_future_days is None else max_future_days
        min_year = etl.min_year if min_year is None else min_year
    return dt.datetime(int(min_year), 1, 1), load_time + dt.timedelta(days=float(max_future_days))


def parse_timestamps(con: duckdb.DuckDBPyConnection, values: list[str | None]) -> list[dt.datetime | None]:
    """Delivered timestamp texts → naive Asia/Shanghai datetimes by the one rule of gw_ts (etl/sql/macros.sql):
    the formats of docs/feeds.md, `Z`/offsets converted to Asia/Shanghai; None when unreadable. `con` has the macros
    (connect_memory). For code outside the normaliser (e.g. a source's watermark) that must read times alike."""
    t = pa.table({"s": pa.array(values, pa.string())})  # noqa: F841 — read by DuckDB's replacement scan
    return [r[0] for r in con.execute("SELECT gw_ts(gw_clean(s)) FROM t").fetchall()]


def _split(con: duckdb.DuckDBPyConnection, ds: Dataset, dataset: str, source_file: str,
           delivery: int, has_raw_text: bool = False) -> tuple[pa.Table, pa.Table]:
    """The kept rows (flags sorted and de-duplicated) and the quarantined rows (with the delivered values) of the
    temp table `norm`; `raw` is the registered delivery."""
    cols = ", ".join(_q(c) for c in ds.names)
    kept = con.sql(f"""
        SELECT {cols}, _row,
               CASE WHEN _rank_in_file > 1 THEN list_sort(list_distinct(list_append(_flags, 'superseded_in_file')))
                    WHEN len(_flags) <= 1 THEN _flags  -- already sorted and distinct (performance)
                    ELSE list_sort(list_distinct(_flags)) END AS _flags
        FROM norm WHERE len(_reasons) = 0  -- norm is in file-row order (insertion order is preserved)
    """).to_arrow_table()
    names = ", ".join(f"'{c.name}', r.{_q(c.name)}" for c in ds.columns)
    raw_json = f"CAST(json_object({names}) AS VARCHAR)"
    if has_raw_text:  # a line the reader could not split into values: the line as delivered
        raw_json = (f"CASE WHEN r._raw_text IS NOT NULL THEN CAST(json_object('_line', r._raw_text) AS VARCHAR) "
                    f"ELSE {raw_json} END")
    quarantine = con.sql(f"""
        SELECT $dataset AS dataset, $file AS source_file, n._row AS source_row,
               array_to_string(_reasons, '; ') AS reason,
               array_to_string(list_transform(_reasons, lambda x: split_part(x, ': ', 1)), '; ') AS reason_kind,
               {raw_json} AS raw, $delivery::BIGINT AS _delivery
        FROM norm n JOIN raw r ON r._row = n._row WHERE len(n._reasons) > 0 ORDER BY n._row
    """, params={"dataset": dataset, "file": source_file, "delivery": delivery}).to_arrow_table()
    return kept, quarantine


def _add_flag(t: pa.Table, mask: np.ndarray, flag: str) -> pa.Table:
    if not mask.any():
        return t
    flags = t.column("_flags").to_pylist()
    for i in np.flatnonzero(mask):
        flags[i] = (flags[i] or []) + [flag]
    return t.set_column(t.schema.get_field_index("_flags"), "_flags", pa.array(flags, pa.list_(pa.string())))


def _fix_coordinates(t: pa.Table) -> pa.Table:
    """Convert repaired coordinate pairs to WGS84 (vectorised; the repairs and their flags were made in SQL)."""
    for lon_c, lat_c in COORD_PAIRS:
        if lon_c not in t.column_names or t.num_rows == 0:
            continue
        lon = pc.fill_null(t.column(lon_c), np.nan).to_numpy().astype(float)
        lat = pc.fill_null(t.column(lat_c), np.nan).to_numpy().astype(float)
        sys_ = t.column("coord_sys").to_numpy(zero_copy_only=False)
        ok = ~np.isnan(lon) & ~np.isnan(lat)
        if not ok.any():
            continue
        wl, wt = coords.to_wgs84(lon[ok], lat[ok], sys_[ok])
        lon[ok], lat[ok] = np.round(wl, 7), np.round(wt, 7)
        t = t.set_column(t.schema.get_field_index(lon_c), lon_c, pa.array(lon, pa.float64(), from_pandas=True))
        t = t.set_column(t.schema.get_field_index(lat_c), lat_c, pa.array(lat, pa.float64(), from_pandas=True))
    return t


def _ring(ring) -> np.ndarray:
    """A linear ring as an (n, 2) float array: at least 4 finite [lon, lat] positions (a third value, a height, is
    dropped); ValueError otherwise."""
    if not isinstance(ring, list) or len(ring) < 4:
        raise ValueError("ring")
    pts = []
    for p in ring:
        if (not isinstance(p, list) or len(p) < 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in p[:2])):
            raise ValueError("position")
        pts.append(p[:2])
    a = np.asarray(pts, dtype=float)
    if not np.isfinite(a).all():
        raise ValueError("position")
    return a


def _transform_geom(geom: object, sys_: str | None) -> dict:
    """A GeoJSON Polygon or MultiPolygon (or a Feature holding one) converted to WGS84; ValueError for anything
    else (`null`, `0`, a Point, a ring of two points, text in the coordinates)."""
    if isinstance(geom, dict) and geom.get("type") == "Feature":
        geom = geom.get("geometry")
    if not isinstance(geom, dict):
        raise ValueError("not a geometry")

    def conv(ring):
        a = _ring(ring)
        lon, lat = coords.to_wgs84(a[:, 0], a[:, 1], np.array([sys_] * len(a), dtype=object))
        return [[round(float(x), 6), round(float(y), 6)] for x, y in zip(lon, lat)]

    def polygon(rings):
        if not isinstance(rings, list) or not rings:
            raise ValueError("polygon")
        return [conv(r) for r in rings]

    cs = geom.get("coordinates")
    if geom.get("type") == "Polygon":
        return {"type": "Polygon", "coordinates": polygon(cs)}
    if geom.get("type") == "MultiPolygon" and isinstance(cs, list) and cs:
        return {"type": "MultiPolygon", "coordinates": [polygon(p) for p in cs]}
    raise ValueError(f"unsupported geometry {geom.get('type')}")


def _fix_boundaries(t: pa.Table) -> pa.Table:
    """Boundaries converted to WGS84; one that is not a usable Polygon/MultiPolygon is emptied and flagged
    bad_value:boundary (the row is kept)."""
    if "boundary" not in t.column_names or t.num_rows == 0:
        return t
    out, bad = [], np.zeros(t.num_rows, dtype=bool)
    for i, (b, s) in enumerate(zip(t.column("boundary").to_pylist(), t.column("coord_sys").to_pylist())):
        if not b:
            out.append(None)
            continue
        try:
            out.append(json.dumps(_transform_geom(json.loads(b), s), separators=(",", ":")))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError):
            out.append(None)
            bad[i] = True
    t = t.set_column(t.schema.get_field_index("boundary"), "boundary", pa.array(out, pa.string()))
    return _add_flag(t, bad, "bad_value:boundary")

"""Normalise and validate one delivery (an Arrow table of strings) in DuckDB.

Returns the kept rows, typed, with a `_flags` list (repairs and doubts, e.g. `coord_swapped`, `future_time`,
`unknown_code:category`), and the quarantined rows with their reasons. A row is quarantined only when a required
column is missing or cannot be read (feeds.md); every other problem is repaired or flagged and the row is kept.

The SQL is assembled from the contract in etl/spec.py: identifiers come from that fixed spec, every value (code
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

from etl import coords
from etl.spec import DATASETS, Dataset

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
    "bad_value": ("非必填字段无法识别, 已置空", "存疑"),
    "bad_boundary": ("边界 GeoJSON 无法识别, 已置空", "存疑"),
    "unknown_grid": ("引用的网格不在组织机构中", "存疑"),
    "unknown_account": ("引用的账号不在账号表中", "存疑"),
    "unknown_unit": ("引用的单位不在组织机构中", "存疑"),
}


COORD_PAIRS = (("lon", "lat"), ("center_lon", "center_lat"))


def flag_label(flag: str) -> str:
    base, _, col = flag.partition(":")
    label = FLAG_LABELS.get(base, (base, ""))[0]
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


def clean(raw: pa.Table, columns: list[str]) -> pa.Table:
    """The delivered `columns` as trimmed strings, empty → NULL (the rule of gw_clean), with `_row`."""
    out = [raw.column("_row")]
    for name in columns:
        c = raw.column(name)
        if not pa.types.is_string(c.type):
            c = c.cast(pa.string())
        c = pc.utf8_trim(c, _TRIM)
        out.append(pc.if_else(pc.equal(c, ""), pa.scalar(None, pa.string()), c))
    return pa.table(out, names=["_row", *columns])


def _build_sql(ds: Dataset, params: dict) -> str:
    vals, flags, reasons = [], [], []
    raw = lambda c: f"s.{_q(c)}"  # noqa: E731 — the cleaned value (CTE s)
    for i, c in enumerate(ds.columns):
        r = raw(c.name)
        if c.type in ("str",):
            v = r
            if c.name == "id_number":
                v = f"gw_id({r})"
        elif c.type == "int":
            v = f"gw_int({r})"
        elif c.type == "float":
            v = f"gw_float({r})"
        elif c.type == "ts":
            v = f"gw_ts({r})"
        elif c.type == "date":
            v = f"CAST(gw_ts({r}) AS DATE)"
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
        if c.name == "updated_at" and ds.updated_fallback:
            fb = ds.updated_fallback
            fb_expr = (f"CAST(CAST(gw_ts({raw(fb)}) AS DATE) AS TIMESTAMP) + INTERVAL 86399 SECOND"
                       if ds.col(fb).type == "date" else f"gw_ts({raw(fb)})")
            v = f"coalesce({v}, {fb_expr})"
        vals.append(f"{v} AS {_q(c.name)}")
        readable = f"({v}) IS NOT NULL"
        if c.required:
            reasons.append(f"CASE WHEN {r} IS NULL THEN '缺少必填字段「{c.header}」' "
                           f"WHEN NOT {readable} THEN '无法识别的必填字段「{c.header}」: ' || {r} END")
        elif c.type in ("int", "float", "ts", "date"):
            flags.append(f"CASE WHEN {r} IS NOT NULL AND NOT {readable} THEN 'bad_value:{c.name}' END")
        if c.type in ("ts", "date") and not c.future_ok:
            flags.append(f"CASE WHEN ({v}) > $future_limit THEN 'future_time' END")
    flag_list = "[" + ", ".join(flags) + "]" if flags else "[]::VARCHAR[]"
    reason_list = "[" + ", ".join(reasons) + "]"
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
    return f"""
        WITH s AS (SELECT * FROM cleaned),
        v AS (
            SELECT {', '.join(vals)},
                   s._row,
                   list_filter({flag_list}, lambda x: x IS NOT NULL) AS _flags,
                   list_filter({reason_list}, lambda x: x IS NOT NULL) AS _reasons
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
              imprecise_rows: set[int] | None = None) -> Normalised:
    """Normalise a raw string table of `dataset`. `imprecise_rows`: rows whose id_number came from a numeric
    Excel cell too large to be exact."""
    ds = DATASETS[dataset]
    params: dict = {"future_limit": load_time + dt.timedelta(hours=future_tolerance_hours)}
    sql = _build_sql(ds, params)
    con.register("raw", raw)
    con.register("cleaned", clean(raw, ds.names))
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
        kept, quarantine = _split(con, ds, dataset, source_file, delivery)
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


def _split(con: duckdb.DuckDBPyConnection, ds: Dataset, dataset: str, source_file: str,
           delivery: int) -> tuple[pa.Table, pa.Table]:
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
    quarantine = con.sql(f"""
        SELECT $dataset AS dataset, $file AS source_file, n._row AS source_row,
               array_to_string(_reasons, '; ') AS reason,
               array_to_string(list_transform(_reasons, lambda x: split_part(x, ': ', 1)), '; ') AS reason_kind,
               CAST(json_object({names}) AS VARCHAR) AS raw, $delivery::BIGINT AS _delivery
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


def _transform_geom(geom: dict, sys_: str | None) -> dict:
    def conv(ring):
        a = np.asarray(ring, dtype=float)
        lon, lat = coords.to_wgs84(a[:, 0], a[:, 1], np.array([sys_] * len(a), dtype=object))
        return [[round(float(x), 6), round(float(y), 6)] for x, y in zip(lon, lat)]

    if geom.get("type") == "Polygon":
        return {"type": "Polygon", "coordinates": [conv(r) for r in geom["coordinates"]]}
    if geom.get("type") == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [[conv(r) for r in p] for p in geom["coordinates"]]}
    raise ValueError(f"unsupported geometry {geom.get('type')}")


def _fix_boundaries(t: pa.Table) -> pa.Table:
    if "boundary" not in t.column_names or t.num_rows == 0:
        return t
    out, bad = [], np.zeros(t.num_rows, dtype=bool)
    for i, (b, s) in enumerate(zip(t.column("boundary").to_pylist(), t.column("coord_sys").to_pylist())):
        if not b:
            out.append(None)
            continue
        try:
            g = json.loads(b)
            if g.get("type") == "Feature":
                g = g["geometry"]
            out.append(json.dumps(_transform_geom(g, s), separators=(",", ":")))
        except (ValueError, KeyError, TypeError, IndexError):
            out.append(None)
            bad[i] = True
    t = t.set_column(t.schema.get_field_index("boundary"), "boundary", pa.array(out, pa.string()))
    return _add_flag(t, bad, "bad_boundary")

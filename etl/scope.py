"""The 乡镇 an upload is limited to: a 乡镇用户 may deliver rows of their own 乡镇 only; in a city deployment a
county-scoped user (县级管理员 of one county) rows of their own county only (a 6-digit code: the same rule on the
code's first 6 digits, the reason `不属于本县 (东岭县): …`).

One rule for the preview and the landing (etl/preview.py, etl.pipeline.land_file), so that what the preview says
is what lands. A row's 乡镇 follows from its code the same way the warehouse derives it (warehouse/schema/10_dims.sql:
the first 9 digits of a 统计用区划代码 or grid code):

| dataset | the code that places a row |
| --- | --- |
| events, key_person_reports, collection_stats | 所属网格 / 网格编码 (grid_code) |
| accounts, org_units | 所属单位代码 / 区划代码 (unit_code) |
| activity_log, event_flow | none in the row: the whole file is refused for a limited upload |

A kept row whose code is of another 乡镇 (or too short to name one) is moved to the quarantine with the reason
`不属于本乡镇 (宏仁乡): 所属网格 510799001001001`, its delivered values kept as for any quarantined row; a row the
normaliser already quarantined keeps its own reason. An unlimited upload (县级管理员, `etl run`) is not filtered.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.spec import DATASETS

TOWNSHIP_DIGITS = 9
COUNTY_DIGITS = 6
SCOPE_COLUMN = {"events": "grid_code", "key_person_reports": "grid_code", "collection_stats": "grid_code",
                "accounts": "unit_code", "org_units": "unit_code"}
REASON_KIND = "不属于本乡镇"
COUNTY_REASON_KIND = "不属于本县"
REASON_KINDS = (REASON_KIND, COUNTY_REASON_KIND)


class ScopeRefused(Exception):
    """A whole file that a limited upload may not deliver (its rows cannot be placed in a 乡镇)."""


@dataclass(frozen=True)
class UploadScope:
    """The 乡镇 (code: 9 digits) or, in a city deployment, the county (6 digits) an upload is limited to; name: as
    the reason shows it."""
    township_code: str
    township_name: str = ""

    @property
    def label(self) -> str:
        return self.township_name or self.township_code

    @property
    def digits(self) -> int:
        return COUNTY_DIGITS if len(self.township_code) == COUNTY_DIGITS else TOWNSHIP_DIGITS

    @property
    def reason_kind(self) -> str:
        return COUNTY_REASON_KIND if self.digits == COUNTY_DIGITS else REASON_KIND

    @classmethod
    def of(cls, value: UploadScope | dict | None) -> UploadScope | None:
        if value is None or isinstance(value, UploadScope):
            return value
        return cls(str(value["township_code"]), str(value.get("township_name") or ""))


def check_dataset(dataset: str, scope: UploadScope | None) -> None:
    """Raise ScopeRefused when a limited upload delivers a dataset whose rows name no 乡镇."""
    if scope is not None and dataset not in SCOPE_COLUMN:
        title = DATASETS[dataset].title
        who, admin = ("县级用户", "市级管理员") if scope.digits == COUNTY_DIGITS else ("乡镇用户", "县级管理员")
        raise ScopeRefused(f"{who}不能上传「{title}」: 其中的记录不含网格或单位代码, 无法核对是否属于"
                           f"{scope.label}; 请由{admin}上传")


def out_of_scope(dataset: str, kept: pa.Table, scope: UploadScope | None) -> np.ndarray:
    """Boolean mask over `kept`: the rows that are not of the scope's 乡镇."""
    if scope is None or kept.num_rows == 0:
        return np.zeros(kept.num_rows, dtype=bool)
    check_dataset(dataset, scope)
    codes = pc.fill_null(kept.column(SCOPE_COLUMN[dataset]).cast(pa.string()), "")
    prefix = pc.utf8_slice_codeunits(codes, 0, scope.digits)
    inside = pc.and_(pc.equal(prefix, scope.township_code),
                     pc.greater_equal(pc.utf8_length(codes), TOWNSHIP_DIGITS))
    return ~np.asarray(inside.to_numpy(zero_copy_only=False), dtype=bool)


def apply(dataset: str, raw: pa.Table, kept: pa.Table, quarantine: pa.Table, scope: UploadScope | None, *,
          source_file: str, delivery: int) -> tuple[pa.Table, pa.Table]:
    """(kept, quarantine) with the kept rows outside the scope moved to the quarantine, reason and delivered
    values (from `raw`, the reader's table) as the normaliser writes them."""
    mask = out_of_scope(dataset, kept, scope)
    if not mask.any():
        return kept, quarantine
    ds = DATASETS[dataset]
    col = SCOPE_COLUMN[dataset]
    header = ds.col(col).header
    moved = kept.filter(pa.array(mask))
    rows = moved.column("_row").to_pylist()
    codes = moved.column(col).to_pylist()
    raw_rows = raw.column("_row").to_pylist()
    where = {r: i for i, r in enumerate(raw_rows)}
    raw_cols = {c.name: raw.column(c.name).to_pylist() for c in ds.columns if c.name in raw.column_names}
    raws, reasons = [], []
    for r, code in zip(rows, codes):
        i = where.get(r)
        raws.append(json.dumps({c.name: (raw_cols[c.name][i] if i is not None and c.name in raw_cols else None)
                                for c in ds.columns}, ensure_ascii=False))
        reasons.append(f"{scope.reason_kind} ({scope.label}): {header} {code or '(空)'}")
    n = len(rows)
    add = pa.table({
        "dataset": pa.array([dataset] * n, pa.string()), "source_file": pa.array([source_file] * n, pa.string()),
        "source_row": pa.array(rows, pa.int64()), "reason": pa.array(reasons, pa.string()),
        "reason_kind": pa.array([scope.reason_kind] * n, pa.string()), "raw": pa.array(raws, pa.string()),
        "_delivery": pa.array([delivery] * n, pa.int64())})
    if quarantine.schema.names == add.schema.names:
        add = add.cast(quarantine.schema)
    merged = pa.concat_tables([quarantine, add]) if quarantine.num_rows else add
    order = pc.sort_indices(merged, [("source_row", "ascending")])
    return kept.filter(pa.array(~mask)), merged.take(order)

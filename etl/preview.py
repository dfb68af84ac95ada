"""What an upload would do, before anything lands: the same read + normalise as `etl run`, in memory.

    preview(paths, settings, *, ru_scope=None) -> list[FilePreview]

Each file goes through etl.pipeline.prepare_file — the very function land_file calls — with the same value rules
([etl] of the settings) and the same 乡镇 scope (etl/scope.py), so the figures of the preview (rows that will land,
be flagged, be quarantined, and why) are those of the landing. Nothing is written: no lake, no manifest, no lock;
the lake is only read to say whether a file's content was landed before (then it would not land again).

A file that is no delivery or cannot be read gets `error` (the reason in Chinese) and would land nothing.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings
from core.files import sha256_file
from core.spec import DATASETS
from etl import readers, source_profiles
from etl.lake import Lake
from etl.normalize import connect_memory
from etl.pipeline import FileFailed, _failure_reason, current_units, display_name, prepare_file, value_rules
from etl.scope import REASON_KINDS, UploadScope

PROFILE_CONTRACT = "数据交付规范 (文件名 {数据集}_{YYYYMMDD})"
NOT_A_DELIVERY = ("不是可识别的交付文件: 文件名应为 {数据集}_{YYYYMMDD}[_说明].{xlsx|csv|json|jsonl}, "
                  "例如 events_20240401.csv")
MAX_SAMPLE = 50
DERIVED = "(由识别规则推导, 文件中无此列)"  # quarantined rows listed per file (all of them are counted)


@dataclass
class FilePreview:
    file: str  # the name as delivered
    sha256: str = ""
    bytes: int = 0
    dataset: str | None = None
    title: str = ""  # the dataset's Chinese name
    profile: str = ""  # how the file was recognised
    error: str | None = None  # the file would land nothing, and why
    already_loaded: bool = False  # the same content was landed before: it would not land again
    duplicate_of: str | None = None  # the same content as another file of this upload
    columns: list[dict] = field(default_factory=list)  # {header (the file's), column, contract header, required}
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)  # contract headers absent from the file
    missing_required: list[str] = field(default_factory=list)
    rows_in: int = 0
    rows_land: int = 0
    rows_flagged: int = 0  # of rows_land: kept with a repair or doubt flag
    rows_quarantined: int = 0
    rows_out_of_scope: int = 0  # of rows_quarantined: another 乡镇's rows (a limited upload)
    rows_summary: int = 0
    reasons: list[tuple[str, int]] = field(default_factory=list)  # quarantine reasons, most frequent first
    flags: list[tuple[str, int]] = field(default_factory=list)
    sample: list[dict] = field(default_factory=list)  # quarantined rows: {row, reason}

    @property
    def lands(self) -> bool:
        return self.error is None and not self.already_loaded and self.duplicate_of is None


def preview(paths: list[Path], settings: Settings, *, ru_scope: UploadScope | dict | None = None,
            load_time: dt.datetime | None = None, lake: Lake | None = None) -> list[FilePreview]:
    """The preview of each file in `paths` (in that order); `ru_scope`: the 乡镇 a limited upload may deliver."""
    scope = UploadScope.of(ru_scope)
    lake = lake or Lake(settings.paths.lake_dir)
    load_time = load_time or dt.datetime.now().replace(microsecond=0)
    rules = value_rules(settings)
    out: list[FilePreview] = []
    seen: dict[str, str] = {}
    con = connect_memory(settings.etl.duckdb_threads, settings.etl.duckdb_memory_limit)
    try:
        for path in paths:
            out.append(_one(Path(path), con, lake, seen, load_time=load_time, rules=rules, scope=scope,
                            profile_dirs=settings.etl.profile_dirs))
    finally:
        con.close()
    return out


def _one(path: Path, con, lake: Lake, seen: dict[str, str], *, load_time: dt.datetime, rules: dict,
         scope: UploadScope | None, profile_dirs=()) -> FilePreview:
    shown = display_name(path.name)
    fp = FilePreview(file=shown)
    try:
        fp.bytes = path.stat().st_size
        fp.sha256 = sha256_file(path)
    except OSError as exc:
        fp.error = f"无法读取文件: {exc.strerror or exc}"
        return fp
    parsed = readers.parse_file_name(shown)
    if fp.sha256 in seen:
        fp.duplicate_of = seen[fp.sha256]
    seen.setdefault(fp.sha256, shown)
    fp.already_loaded = lake.has(fp.sha256)
    try:  # the reader decides what a file is (a delivery by its name, or a layout it recognises)
        p = prepare_file(path, shown, 0, con, load_time=load_time, rules=rules, scope=scope,
                         units_of=lambda: current_units(lake, con), profile_dirs=profile_dirs,
                         delivery_date=source_profiles.delivery_date(path, shown))
    except (readers.ReadError, FileFailed) as exc:
        fp.error = str(exc) if parsed is not None else NOT_A_DELIVERY
        if parsed is not None:
            fp.dataset, fp.title = parsed[0], DATASETS[parsed[0]].title
        fp.already_loaded, fp.duplicate_of = False, None
        return fp
    except Exception as exc:  # noqa: BLE001 — as the pipeline: one file's error is that file's message
        fp.error = _failure_reason(exc)
        return fp
    fp.dataset, fp.title = p.dataset, DATASETS[p.dataset].title
    fp.profile = getattr(p.info, "profile", None) or PROFILE_CONTRACT
    ds = DATASETS[p.dataset]
    info = p.info
    # a column a recognised layout derives (a constant, a key hash) has no header in the file
    missing_header = DERIVED if getattr(info, "profile", None) else None
    fp.columns = [{"header": info.headers.get(c.name) or missing_header or c.header, "column": c.name,
                   "contract": c.header, "required": c.required}
                  for c in ds.columns if c.name not in info.missing_columns]
    fp.unknown_columns = list(info.unknown_columns)
    fp.missing_columns = [ds.col(c).header for c in info.missing_columns]
    fp.missing_required = [ds.col(c).header for c in info.missing_columns if ds.col(c).required]
    fp.rows_in = p.raw.num_rows
    fp.rows_summary = len(info.summary_rows)
    fp.rows_land = p.kept.num_rows
    flags = p.kept.column("_flags").to_pylist()
    fp.rows_flagged = sum(1 for f in flags if f)
    fp.flags = Counter(x for f in flags for x in (f or [])).most_common()
    fp.rows_quarantined = p.quarantine.num_rows
    kinds = p.quarantine.column("reason_kind").to_pylist()
    fp.rows_out_of_scope = sum(1 for k in kinds if k in REASON_KINDS)
    fp.reasons = Counter(kinds).most_common()
    fp.sample = [{"row": r, "reason": why} for r, why in zip(p.quarantine.column("source_row").to_pylist()[:MAX_SAMPLE],
                                                            p.quarantine.column("reason").to_pylist()[:MAX_SAMPLE])]
    return fp

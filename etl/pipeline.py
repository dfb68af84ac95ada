"""One ETL run: land what is new from a source, then build and publish the warehouse."""
from __future__ import annotations

import datetime as dt
import secrets
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from etl import readers
from etl.lake import Busy, Lake, sha256_file, write_json
from etl.normalize import connect_memory, normalise
from warehouse.config import Settings

Progress = Callable[[float, str], None]


@dataclass
class RunResult:
    run_id: str
    status: str = "running"  # ok | failed | busy
    source: str = ""
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    files_new: int = 0
    files_already_loaded: int = 0
    files_failed: list[dict] = field(default_factory=list)
    files_ignored: list[dict] = field(default_factory=list)
    rows_in: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    rows_by_dataset: dict[str, dict[str, int]] = field(default_factory=dict)
    published: str | None = None
    build_s: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def list_drop(folder: Path) -> tuple[list[Path], list[dict]]:
    """Delivery files in a drop folder, oldest export first; and the files that are not deliveries."""
    files, ignored = [], []
    for p in sorted(Path(folder).rglob("*")):
        if not p.is_file() or p.name.startswith((".", "~$", "_")):
            continue
        parsed = readers.parse_file_name(p.name)
        if parsed is None:
            ignored.append({"file": p.name, "reason": "文件名不符合 {数据集}_{YYYYMMDD}[_说明].{xlsx|csv|json|jsonl}"})
        else:
            files.append(p)
    files.sort(key=lambda p: (readers.parse_file_name(p.name)[1], p.name))
    return files, ignored


def land_file(lake: Lake, path: Path, digest: str, delivery: int, con, *, load_time: dt.datetime,
              future_tolerance_hours: float, run_id: str, source_name: str | None = None) -> dict:
    t0 = time.perf_counter()
    name = source_name or path.name
    dataset, raw, info = readers.read_file(path)
    norm = normalise(con, dataset, raw, load_time=load_time, future_tolerance_hours=future_tolerance_hours,
                     source_file=name, delivery=delivery, imprecise_rows=info.imprecise_rows)
    manifest = {
        "file": name, "sha256": digest, "dataset": dataset, "delivery": delivery, "run_id": run_id,
        "format": path.suffix.lstrip(".").lower(), "encoding": info.encoding, "bytes": path.stat().st_size,
        "rows_in": raw.num_rows, "rows_landed": norm.kept.num_rows, "rows_quarantined": norm.quarantine.num_rows,
        "banner_rows": info.banner_rows, "header_row": info.header_row, "summary_rows": info.summary_rows,
        "unknown_columns": info.unknown_columns, "missing_columns": info.missing_columns,
        "landed_at": load_time.isoformat(sep=" "), "seconds": round(time.perf_counter() - t0, 3),
    }
    manifest = lake.land(digest, dataset, norm.kept, norm.quarantine, manifest)
    manifest["_reasons"] = Counter(norm.quarantine.column("reason_kind").to_pylist())
    return manifest


def run(source: str | Path, settings: Settings, *, warehouse_dir: Path | None = None, lake_dir: Path | None = None,
        load_time: dt.datetime | None = None, rebuild: bool = False, progress: Progress | None = None,
        log: Callable[[str], None] = print) -> RunResult:
    """Land new deliveries from a drop folder, then rebuild and publish when anything changed."""
    from warehouse.build import build_and_publish

    lake = Lake(lake_dir or settings.paths.lake_dir)
    warehouse_dir = Path(warehouse_dir or settings.paths.warehouse_dir)
    started = _now()
    res = RunResult(run_id=f"{started:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}", source=str(source),
                    started_at=started.isoformat(sep=" "))
    t0 = time.perf_counter()
    progress = progress or (lambda f, m: None)
    try:
        with lake.lock():
            files, res.files_ignored = list_drop(Path(source))
            todo = []
            for p in files:
                digest = sha256_file(p)
                if lake.has(digest):
                    res.files_already_loaded += 1
                else:
                    todo.append((p, digest))
            delivery = lake.next_delivery()
            con = connect_memory(settings.etl.duckdb_threads, settings.etl.duckdb_memory_limit)
            reasons: Counter = Counter()
            lt = load_time or started
            for i, (p, digest) in enumerate(todo):
                progress(0.8 * i / max(1, len(todo)), f"导入 {p.name}")
                try:
                    m = land_file(lake, p, digest, delivery, con, load_time=lt,
                                  future_tolerance_hours=settings.etl.future_tolerance_hours, run_id=res.run_id)
                except readers.ReadError as exc:
                    res.files_failed.append({"file": p.name, "reason": str(exc)})
                    log(f"  ✗ {p.name}: {exc}")
                    continue
                delivery += 1
                res.files_new += 1
                res.rows_in += m["rows_in"]
                res.rows_landed += m["rows_landed"]
                res.rows_quarantined += m["rows_quarantined"]
                reasons.update(m["_reasons"])
                by = res.rows_by_dataset.setdefault(m["dataset"], {"files": 0, "rows_in": 0, "landed": 0,
                                                                    "quarantined": 0})
                by["files"] += 1
                by["rows_in"] += m["rows_in"]
                by["landed"] += m["rows_landed"]
                by["quarantined"] += m["rows_quarantined"]
            con.close()
            res.quarantine_by_reason = dict(reasons.most_common())
            need = rebuild or res.files_new > 0 or lake.unpublished(warehouse_dir)
            if need:
                progress(0.85, "构建并发布数据仓库")
                tb = time.perf_counter()
                res.status = "ok"
                res.finished_at = _now().isoformat(sep=" ")
                res.duration_s = round(time.perf_counter() - t0, 2)
                published = build_and_publish(lake, warehouse_dir, settings, current_run=res.as_dict())
                res.published = published.name
                res.build_s = round(time.perf_counter() - tb, 2)
            res.status = "ok"
    except Busy as exc:
        res.status = "busy"
        res.error = str(exc)
    except Exception as exc:  # noqa: BLE001 — a fatal error: recorded, re-raised as a non-zero exit by the CLI
        res.status = "failed"
        res.error = f"{type(exc).__name__}: {exc}"
        log(traceback.format_exc())
    res.finished_at = _now().isoformat(sep=" ")
    res.duration_s = round(time.perf_counter() - t0, 2)
    if res.status != "busy":
        write_json(lake.runs_dir / f"{res.run_id}.json", res.as_dict())
    progress(1.0, "完成")
    return res


def summary(res: RunResult) -> str:
    lines = [f"导入 {res.run_id}: {res.status}  用时 {res.duration_s:.1f} 秒 (构建 {res.build_s:.1f} 秒)",
             f"  新文件 {res.files_new}, 已导入过 {res.files_already_loaded}, 失败 {len(res.files_failed)}, "
             f"忽略 {len(res.files_ignored)}",
             f"  读入 {res.rows_in} 行, 入库 {res.rows_landed} 行, 隔离 {res.rows_quarantined} 行"]
    for ds, by in sorted(res.rows_by_dataset.items()):
        lines.append(f"    {ds:<20} 文件 {by['files']:>3}  读入 {by['rows_in']:>9}  入库 {by['landed']:>9}  "
                     f"隔离 {by['quarantined']:>5}")
    for reason, n in res.quarantine_by_reason.items():
        lines.append(f"  隔离原因 {reason}: {n}")
    for f in res.files_failed:
        lines.append(f"  失败文件 {f['file']}: {f['reason']}")
    for f in res.files_ignored:
        lines.append(f"  忽略文件 {f['file']}: {f['reason']}")
    if res.published:
        lines.append(f"  已发布 {res.published}")
    if res.error:
        lines.append(f"  错误: {res.error}")
    return "\n".join(lines)

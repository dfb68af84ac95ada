"""One ETL run: land what is new from a source, then build and publish the warehouse.

A source is a drop folder, a 前置库 (`postgresql://…`) or the HTTP API (`http(s)://…`). A batch pulled from a
database table or from API pages is landed exactly like a file (same normaliser, manifest written last), and only
then does that source's watermark move (etl/sources/common.py). This module is the one place that takes the lake's
lock, lands, advances watermarks, builds and publishes; etl/sources only reads.
"""
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
    source_kind: str = "files"  # files | postgres | api
    source_name: str = ""  # the configured name (or the source itself, without secrets)
    # per dataset of a database/API source: watermark before and after, batches, rows pulled, NULL updated_at rows
    watermarks: dict[str, dict] = field(default_factory=dict)
    landing_workers: int = 1  # processes that landed the files
    build_steps: dict[str, float] = field(default_factory=dict)  # seconds per build step, and the export
    export: dict[str, int] = field(default_factory=dict)  # month partitions of the Parquet export written, linked

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


def land_batch(lake: Lake, batch, delivery: int, con, *, load_time: dt.datetime, future_tolerance_hours: float,
               run_id: str, source: str) -> dict:
    """Land one batch pulled from a database table or API pages (a table of strings, like a read file)."""
    t0 = time.perf_counter()
    norm = normalise(con, batch.dataset, batch.table, load_time=load_time,
                     future_tolerance_hours=future_tolerance_hours, source_file=batch.name, delivery=delivery)
    manifest = {
        "file": batch.name, "sha256": batch.digest, "dataset": batch.dataset, "delivery": delivery,
        "run_id": run_id, "format": batch.fmt, "encoding": None, "bytes": batch.bytes,
        "rows_in": batch.rows, "rows_landed": norm.kept.num_rows, "rows_quarantined": norm.quarantine.num_rows,
        "banner_rows": 0, "header_row": 0, "summary_rows": [],
        "unknown_columns": batch.unknown_columns, "missing_columns": batch.missing_columns,
        "landed_at": load_time.isoformat(sep=" "), "seconds": round(time.perf_counter() - t0, 3),
        "source": source,
    }
    manifest = lake.land(batch.digest, batch.dataset, norm.kept, norm.quarantine, manifest)
    manifest["_reasons"] = Counter(norm.quarantine.column("reason_kind").to_pylist())
    return manifest


def _count(res: "RunResult", reasons: Counter, m: dict) -> None:
    res.files_new += 1
    res.rows_in += m["rows_in"]
    res.rows_landed += m["rows_landed"]
    res.rows_quarantined += m["rows_quarantined"]
    reasons.update(m["_reasons"])
    by = res.rows_by_dataset.setdefault(m["dataset"], {"files": 0, "rows_in": 0, "landed": 0, "quarantined": 0})
    by["files"] += 1
    by["rows_in"] += m["rows_in"]
    by["landed"] += m["rows_landed"]
    by["quarantined"] += m["rows_quarantined"]


def _land_drop(lake: Lake, source: Path, res: "RunResult", con, reasons: Counter, *, load_time: dt.datetime,
               settings: Settings, progress: Progress, log: Callable[[str], None]) -> list[str]:
    if not source.is_dir():
        log(f"  ✗ 投递目录不存在: {source}")
        return [f"投递目录不存在: {source}"]
    files, res.files_ignored = list_drop(source)
    todo = []
    for p in files:
        digest = sha256_file(p)
        if lake.has(digest):
            res.files_already_loaded += 1
        else:
            todo.append((p, digest))
    delivery = lake.next_delivery()
    tol = settings.etl.future_tolerance_hours
    workers = _workers_for(settings, todo)
    res.landing_workers = workers
    if workers > 1:
        return _land_parallel(lake, todo, delivery, workers, res, reasons, load_time=load_time, settings=settings,
                              progress=progress, log=log)
    for i, (p, digest) in enumerate(todo):
        progress(0.8 * i / max(1, len(todo)), f"导入 {p.name}")
        try:
            m = land_file(lake, p, digest, delivery, con, load_time=load_time, future_tolerance_hours=tol,
                          run_id=res.run_id)
        except readers.ReadError as exc:
            res.files_failed.append({"file": p.name, "reason": str(exc)})
            log(f"  ✗ {p.name}: {exc}")
            continue
        delivery += 1
        _count(res, reasons, m)
    return []


def _workers_for(settings: Settings, todo: list[tuple[Path, str]]) -> int:
    """Land in parallel processes only when it pays: two or more files and at least `parallel_min_mb` of them
    (a process costs about half a second to start)."""
    n = min(settings.etl.workers, len(todo))
    if n < 2 or sum(p.stat().st_size for p, _ in todo) < settings.etl.parallel_min_mb * 1e6:
        return 1
    return n


_WORKER_CON = None


def _worker_init(threads: int, memory_limit: str) -> None:
    global _WORKER_CON
    _WORKER_CON = connect_memory(threads, memory_limit)


def _worker_land(lake_root: str, path: str, digest: str, delivery: int, load_time: dt.datetime,
                 future_tolerance_hours: float, run_id: str) -> tuple[str, object]:
    try:
        return "ok", land_file(Lake(Path(lake_root)), Path(path), digest, delivery, _WORKER_CON,
                               load_time=load_time, future_tolerance_hours=future_tolerance_hours, run_id=run_id)
    except readers.ReadError as exc:
        return "read_error", str(exc)


def _land_parallel(lake: Lake, todo: list[tuple[Path, str]], delivery: int, workers: int, res: "RunResult",
                   reasons: Counter, *, load_time: dt.datetime, settings: Settings, progress: Progress,
                   log: Callable[[str], None]) -> list[str]:
    """Land the files in `workers` processes, each with its own DuckDB. Delivery numbers are given in file order
    before the work starts (a file that cannot be read leaves a gap: only their order matters); every delivery
    still commits by writing its own manifest last, so a run killed half-way keeps what it finished."""
    from concurrent.futures import as_completed

    from etl import procs

    threads = max(1, settings.etl.duckdb_threads // workers)
    log(f"  并行导入: {workers} 个进程, {len(todo)} 个文件")
    jobs = [(str(lake.root), str(p), digest, delivery + i, load_time, settings.etl.future_tolerance_hours,
             res.run_id) for i, (p, digest) in enumerate(todo)]
    # large files first keeps both processes busy to the end
    order = sorted(range(len(jobs)), key=lambda i: -todo[i][0].stat().st_size)
    results: dict[int, tuple[str, object]] = {}
    with procs.pool(workers, _worker_init, (threads, settings.etl.duckdb_memory_limit)) as ex:
        futures = dict(zip(procs.submit_all(ex, _worker_land, [jobs[i] for i in order]), order))
        for done, fut in enumerate(as_completed(futures)):
            i = futures[fut]
            results[i] = fut.result()
            progress(0.8 * (done + 1) / len(jobs), f"导入 {todo[i][0].name}")
    for i, (p, _) in enumerate(todo):  # counted in file order, as a sequential run would
        kind, value = results[i]
        if kind == "read_error":
            res.files_failed.append({"file": p.name, "reason": value})
            log(f"  ✗ {p.name}: {value}")
        else:
            _count(res, reasons, value)
    return []


def _land_channel(lake: Lake, source: str, res: "RunResult", con, reasons: Counter, *, load_time: dt.datetime,
                  settings: Settings, datasets: list[str] | None, progress: Progress,
                  log: Callable[[str], None]) -> list[str]:
    """Pull every dataset of a database/API source; land each batch, then move its watermark. Returns the errors.
    A batch (or page) that cannot be read or landed is listed as failed with its name and reason and ends its
    dataset for this run — its watermark stays at the last landed batch, so it is retried next run; no exception
    from one dataset reaches another. Only a source that cannot be reached stops at once."""
    from etl import sources

    errors: list[str] = []
    hidden = sources.secret_values(settings, res.source_name, source)
    try:
        src = sources.open_source(source, settings, name=res.source_name, log=log)
        src.__enter__()
    except sources.SourceError as exc:
        msg = sources.scrub(str(exc), hidden)
        res.files_failed.append({"file": res.source, "reason": msg})
        log(f"  ✗ {msg}")
        return [msg]

    def failed(name: str, msg: str, ds: str, rows: int | None = None) -> None:
        msg = sources.scrub(src.scrub(msg), hidden)
        res.files_failed.append({"file": name, "reason": msg, **({"rows": rows} if rows is not None else {})})
        errors.append(f"{ds}: {msg}")
        log(f"  ✗ {name}: {msg}")

    delivery = lake.next_delivery()
    try:
        names = src.datasets(datasets)
        for i, ds in enumerate(names):
            progress(0.8 * i / max(1, len(names)), f"读取 {ds}")
            info: dict = {}
            res.watermarks[ds] = info
            batch = None
            pull = src.pull(ds, lake, info, load_time)
            try:
                for batch in pull:
                    if batch.rows:
                        if lake.has(batch.digest):
                            res.files_already_loaded += 1
                        else:
                            try:
                                m = land_batch(lake, batch, delivery, con, load_time=load_time,
                                               future_tolerance_hours=settings.etl.future_tolerance_hours,
                                               run_id=res.run_id, source=res.source)
                            except Exception as exc:  # noqa: BLE001 — this batch only; its watermark stays
                                info["failed_batch"] = batch.name
                                failed(batch.name, f"无法导入: {type(exc).__name__}: {exc}", ds, batch.rows)
                                break
                            delivery += 1
                            _count(res, reasons, m)
                            log(f"  ✓ {batch.name}: {batch.rows} 行")
                    batch.commit()  # after the manifest: the watermark moves only over landed rows
                    batch = None
            except sources.DatasetMissing as exc:
                res.files_ignored.append({"file": f"{src.prefix}:{ds}", "reason": src.scrub(str(exc))})
                info["missing"] = True
            except sources.SourceError as exc:
                msg = sources.scrub(src.scrub(str(exc)), hidden)
                res.files_failed.append({"file": f"{src.prefix}:{ds}", "reason": msg})
                errors.append(msg)
                log(f"  ✗ {msg}")
                break
            except sources.BatchError as exc:
                info["failed_batch"] = exc.name
                failed(exc.name, exc.reason, ds, exc.rows)
            except sources.DatasetError as exc:
                failed(f"{src.prefix}:{ds}", str(exc), ds)
            except Exception as exc:  # noqa: BLE001 — an unforeseen failure of this dataset, not of the run
                failed(batch.name if batch is not None else f"{src.prefix}:{ds}", f"{type(exc).__name__}: {exc}", ds)
            finally:
                try:
                    pull.close()  # a pull left half-way ends its snapshot (the transaction is rolled back)
                except Exception as exc:  # noqa: BLE001
                    log(f"  ! {ds}: {sources.scrub(src.scrub(str(exc)), hidden)}")
    finally:
        src.close()
    return errors


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
        log: Callable[[str], None] = print, source_name: str | None = None,
        datasets: list[str] | None = None) -> RunResult:
    """Land what is new from `source` — a drop folder, `postgresql://…` or `http(s)://…` — then rebuild and
    publish when anything changed. `source_name`: the configured name (for source health); `datasets`: only
    these (database/API sources)."""
    from etl import sources
    from warehouse.build import build_and_publish

    lake = Lake(lake_dir or settings.paths.lake_dir)
    warehouse_dir = Path(warehouse_dir or settings.paths.warehouse_dir)
    started = _now()
    kind = sources.kind_of(source)
    shown = sources.redact(source)
    cfg = sources.configured_for(settings, str(source))
    res = RunResult(run_id=f"{started:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}", source=shown,
                    started_at=started.isoformat(sep=" "), source_kind=kind,
                    source_name=source_name or (cfg.name if cfg else shown))
    t0 = time.perf_counter()
    progress = progress or (lambda f, m: None)
    failure_noted = False
    try:
        with lake.lock():
            con = connect_memory(settings.etl.duckdb_threads, settings.etl.duckdb_memory_limit)
            reasons: Counter = Counter()
            lt = load_time or started
            errors: list[str] = []
            try:
                if kind == "files":
                    errors = _land_drop(lake, Path(source), res, con, reasons, load_time=lt, settings=settings,
                                        progress=progress, log=log)
                else:
                    errors = _land_channel(lake, str(source), res, con, reasons, load_time=lt, settings=settings,
                                           datasets=datasets, progress=progress, log=log)
            finally:
                con.close()
                res.quarantine_by_reason = dict(reasons.most_common())
                for info in res.watermarks.values():
                    info.setdefault("watermark_to", info.get("watermark_from"))
            if errors:
                res.error = "; ".join(errors)[:2000]
            # the source's health, before the build so that the published warehouse shows this run
            sources.record_health(lake, name=res.source_name, kind=kind, source=shown, ok=not errors,
                                  error=res.error, new_rows=res.rows_in, run_id=res.run_id, when=_now())
            failure_noted = bool(errors)
            res.status = "failed" if errors else "ok"
            need = rebuild or res.files_new > 0 or lake.unpublished(warehouse_dir)
            if need:
                progress(0.85, "构建并发布数据仓库")
                tb = time.perf_counter()
                res.finished_at = _now().isoformat(sep=" ")
                res.duration_s = round(time.perf_counter() - t0, 2)
                stats: dict = {}
                published = build_and_publish(lake, warehouse_dir, settings, current_run=res.as_dict(), stats=stats)
                res.build_steps, res.export = stats.get("build", {}), stats.get("export", {})
                res.published = published.name
                res.build_s = round(time.perf_counter() - tb, 2)
    except Busy as exc:
        res.status = "busy"
        res.error = str(exc)
    except Exception as exc:  # noqa: BLE001 — a fatal error: recorded, re-raised as a non-zero exit by the CLI
        hidden = sources.secret_values(settings, res.source_name, str(source))
        res.status = "failed"
        res.error = sources.scrub(f"{type(exc).__name__}: {exc}", hidden)
        log(sources.scrub(traceback.format_exc(), hidden))
    res.finished_at = _now().isoformat(sep=" ")
    res.duration_s = round(time.perf_counter() - t0, 2)
    if res.status != "busy":
        if res.status == "failed" and not failure_noted:
            try:
                with lake.lock():
                    sources.record_health(lake, name=res.source_name, kind=kind, source=shown, ok=False,
                                          error=res.error, run_id=res.run_id, when=_now())
            except Busy:
                pass
        write_json(lake.runs_dir / f"{res.run_id}.json", res.as_dict())
    progress(1.0, "完成")
    return res


def summary(res: RunResult) -> str:
    unit = "文件" if res.source_kind == "files" else "批次"
    lines = [f"导入 {res.run_id}: {res.status}  用时 {res.duration_s:.1f} 秒 (构建 {res.build_s:.1f} 秒)",
             f"  来源 {res.source_name}" + (f" ({res.source})" if res.source != res.source_name else ""),
             f"  新{unit} {res.files_new}, 已导入过 {res.files_already_loaded}, 失败 {len(res.files_failed)}, "
             f"忽略 {len(res.files_ignored)}",
             f"  读入 {res.rows_in} 行, 入库 {res.rows_landed} 行, 隔离 {res.rows_quarantined} 行"]
    for ds, by in sorted(res.rows_by_dataset.items()):
        lines.append(f"    {ds:<20} 文件 {by['files']:>3}  读入 {by['rows_in']:>9}  入库 {by['landed']:>9}  "
                     f"隔离 {by['quarantined']:>5}")
    for ds, w in sorted(res.watermarks.items()):
        if w.get("missing"):
            continue
        extra = f", updated_at 为空 {w['null_updated_at']} 行" if w.get("null_updated_at") else ""
        lines.append(f"    {ds:<20} 水位 {w.get('watermark_from') or '—'} → {w.get('watermark_to') or '—'}  "
                     f"新行 {w.get('rows', 0)}{extra}")
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

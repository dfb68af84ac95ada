"""One ETL run: land what is new from a source, then build and publish the warehouse.

A source is a drop folder, a 前置库 (`postgresql://…`) or the HTTP API (`http(s)://…`). A batch pulled from a
database table or from API pages is landed exactly like a file (same normaliser, manifest written last), and only
then does that source's watermark move (etl/sources/common.py). This module is the one place that takes the lake's
lock, lands, advances watermarks, builds and publishes; etl/sources only reads.
"""
from __future__ import annotations

import datetime as dt
import errno
import os
import secrets
import stat
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings, owner_only
from core.files import StorageError, sha256_file, write_json
from etl import readers, source_profiles
from etl import scope as upload_scope
from etl.lake import COUNTY_VIA, Busy, Lake, LakeError
from etl.normalize import connect_memory, normalise

Progress = Callable[[float, str], None]


@dataclass
class RunResult:
    run_id: str
    status: str = "running"  # ok | partial (some files/batches failed, the rest landed) | failed | busy
    source: str = ""
    started_at: str = ""
    # the start in nanoseconds: orders runs that started within the same second (started_at is to the second; the
    # latest run is the one whose failed files the 数据质量 page lists)
    started_ns: int = 0
    finished_at: str = ""
    duration_s: float = 0.0
    files_new: int = 0
    files_already_loaded: int = 0
    files_failed: list[dict] = field(default_factory=list)
    files_ignored: list[dict] = field(default_factory=list)
    rows_in: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    rows_summary: int = 0  # 合计/总计 rows of the new files (not data)
    rows_failed: int = 0  # data rows of files reported failed, where they could be counted
    rows_failed_unknown: int = 0  # failed files whose rows could not be counted (unreadable as a whole)
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
    staging: dict = field(default_factory=dict)  # full or incremental (why), staged months written, linked
    tables: dict = field(default_factory=dict)  # the tables: full or incremental (why), the months replaced

    def as_dict(self) -> dict:
        return dict(self.__dict__, rows_delivered=self.rows_delivered)

    @property
    def rows_delivered(self) -> int:
        """Rows delivered in the new files: landed + quarantined + summary rows + rows of files reported failed."""
        return self.rows_landed + self.rows_quarantined + self.rows_summary + self.rows_failed

    def fail_file(self, name: str, reason: str, rows: int | None = None) -> None:
        self.files_failed.append({"file": name, "reason": reason, "rows": rows})
        if rows is None:
            self.rows_failed_unknown += 1
        else:
            self.rows_failed += rows


class FileFailed(Exception):
    """One delivery could not be landed; `rows` = its data rows when they were read."""

    def __init__(self, reason: str, rows: int | None = None):
        super().__init__(reason)
        self.rows = rows


class LakeFault(Exception):
    """The lake itself cannot be written (full disk, no permission): the run stops; no file is to blame."""


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def display_name(name: str) -> str:
    """A file name as a person reads it: names the OS gave as undecodable bytes (a GBK-named file on a UTF-8
    system) are decoded as GB18030, else shown with replacement characters; never a surrogate escape."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        raw = os.fsencode(name)
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace")


_HIDDEN = (".", "~$", "_")


def list_drop(folder: Path, profile_dirs=()) -> tuple[list[Path], list[dict]]:
    """Delivery files in a drop folder, oldest export first; and every other entry with the reason it is not read.

    A file in a foreign layout recognised by a source profile (etl/source_profiles.py: a provincial template
    `3月份吸毒人员登记表.xls`) is a delivery too, dated by the date in its name, else its modification date; of one
    date the contract files come first (their org units resolve the foreign files' unit names).

    Nothing is skipped unlisted: hidden and temporary names (`.`, `_`, `~$`), files that are not deliveries,
    symbolic links that dangle, point to a folder or lead out of the drop folder (never followed), and anything
    that is not a regular file (a FIFO would block the run) are all listed as ignored."""
    folder = Path(folder)
    root = os.path.realpath(folder)
    files: list[tuple[tuple, Path]] = []
    ignored: list[dict] = []

    def ignore(path: Path, reason: str) -> None:
        ignored.append({"file": display_name(str(path.relative_to(folder))), "reason": reason})

    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        for d in sorted(dirnames):
            p = here / d
            if os.path.islink(p):
                ignore(p, "符号链接指向文件夹, 不读取")
            elif d.startswith(_HIDDEN):
                ignore(p, "隐藏或临时文件夹 (以 . _ ~$ 开头), 不读取")
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(here / d) and not d.startswith(_HIDDEN))
        for f in sorted(filenames):
            p = here / f
            shown = display_name(f)
            if shown.startswith(_HIDDEN):
                ignore(p, "隐藏或临时文件 (以 . _ ~$ 开头), 不读取")
                continue
            if os.path.islink(p):
                target = os.path.realpath(p)
                if not os.path.exists(target):
                    ignore(p, "符号链接的目标不存在")
                    continue
                if os.path.commonpath([root, target]) != root:
                    ignore(p, "符号链接指向投递目录之外, 不读取")
                    continue
                if os.path.isdir(target):
                    ignore(p, "符号链接指向文件夹, 不读取")
                    continue
            try:
                mode = os.stat(p).st_mode
            except OSError as exc:
                ignore(p, f"无法读取文件信息: {exc.strerror}")
                continue
            if not stat.S_ISREG(mode):
                ignore(p, "不是普通文件, 不读取")
                continue
            parsed = readers.parse_file_name(shown)
            if parsed is not None:
                files.append(((parsed[1], 0, shown), p))
            elif source_profiles.recognise(p, shown, profile_dirs) is not None:
                files.append(((source_profiles.delivery_date(p, shown).strftime("%Y%m%d"), 1, shown), p))
            else:
                ignore(p, "文件名不符合 {数据集}_{YYYYMMDD}[_说明].{xlsx|csv|json|jsonl}, 也不符合任何来源格式配置")
    files.sort(key=lambda t: t[0])
    return [p for _, p in files], ignored


def land_batch(lake: Lake, batch, delivery: int, con, *, load_time: dt.datetime, rules: dict,
               run_id: str, source: str) -> dict:
    """Land one batch pulled from a database table or API pages (a table of strings, like a read file)."""
    t0 = time.perf_counter()
    norm = normalise(con, batch.dataset, batch.table, load_time=load_time, source_file=batch.name,
                     delivery=delivery, **rules)
    manifest = {
        "file": batch.name, "sha256": batch.digest, "dataset": batch.dataset, "delivery": delivery,
        "run_id": run_id, "format": batch.fmt, "encoding": None, "bytes": batch.bytes,
        "rows_in": batch.rows, "rows_landed": norm.kept.num_rows, "rows_quarantined": norm.quarantine.num_rows,
        "banner_rows": 0, "header_row": 0, "summary_rows": [],
        "unknown_columns": batch.unknown_columns, "missing_columns": batch.missing_columns,
        "landed_at": load_time.isoformat(sep=" "), "seconds": round(time.perf_counter() - t0, 3),
        "source": source,
    }
    manifest = lake.land(batch.digest, batch.dataset, norm.kept, norm.quarantine, manifest, con)
    manifest["_reasons"] = Counter(norm.quarantine.column("reason_kind").to_pylist())
    return manifest


def value_rules(settings: Settings) -> dict:
    """The normaliser's settings of [etl]: how far in the future a time is doubtful, then out of range."""
    e = settings.etl
    return {"future_tolerance_hours": e.future_tolerance_hours, "max_future_days": e.max_future_days,
            "min_year": e.min_year}


def _count(res: RunResult, reasons: Counter, m: dict) -> None:
    res.files_new += 1
    res.rows_in += m["rows_in"]
    res.rows_landed += m["rows_landed"]
    res.rows_quarantined += m["rows_quarantined"]
    res.rows_summary += len(m.get("summary_rows") or [])
    reasons.update(m["_reasons"])
    by = res.rows_by_dataset.setdefault(m["dataset"], {"files": 0, "rows_in": 0, "landed": 0, "quarantined": 0})
    by["files"] += 1
    by["rows_in"] += m["rows_in"]
    by["landed"] += m["rows_landed"]
    by["quarantined"] += m["rows_quarantined"]


def _lake_fault(exc: BaseException, lake: Lake) -> bool:
    """An error of the lake, not of the file: a full disk, a read-only or unwritable lake folder."""
    if not isinstance(exc, OSError):
        return False
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG):
        return True
    names = [n for n in (exc.filename, getattr(exc, "filename2", None)) if n]
    root = os.path.realpath(lake.root)
    return any(os.path.realpath(os.fsdecode(n)).startswith(root + os.sep) for n in names)


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, (readers.ReadError, FileFailed)):
        return str(exc)
    if isinstance(exc, OSError):
        return f"无法读取文件: {exc.strerror or exc}"
    return f"导入时出错 ({type(exc).__name__}): {exc}"[:500]


def _land_one(lake: Lake, p: Path, shown: str, digest: str, delivery: int, con, *, load_time: dt.datetime,
              rules: dict, run_id: str, scope=None, profile_dirs=()) -> dict:
    """land_file, with every failure of this one file turned into FileFailed (its name and reason) — except a
    fault of the lake itself (LakeFault), which stops the run: no other file could be landed either."""
    try:
        return land_file(lake, p, digest, delivery, con, load_time=load_time,
                         rules=rules, run_id=run_id, source_name=shown, scope=scope, profile_dirs=profile_dirs)
    except FileFailed:
        raise
    except Exception as exc:  # noqa: BLE001 — one delivery's error never reaches another
        if _lake_fault(exc, lake):
            raise LakeFault(f"无法写入数据湖 {lake.root}: {exc.strerror or exc}") from exc
        raise FileFailed(_failure_reason(exc), getattr(exc, "rows", None)) from exc


def _digests(files: list[Path]) -> list[str | OSError]:
    """The SHA-256 of each file (or the OSError reading it raised), on two threads: hashlib lets go of the GIL, so
    the two cores hash the drop in about half the time before the landing starts."""
    def one(p: Path) -> str | OSError:
        try:
            return sha256_file(p)
        except OSError as exc:
            return exc

    if len(files) < 2:
        return [one(p) for p in files]
    with ThreadPoolExecutor(2) as ex:
        return list(ex.map(one, files))


def _land_drop(lake: Lake, source: Path, res: RunResult, con, reasons: Counter, *, load_time: dt.datetime,
               settings: Settings, progress: Progress, log: Callable[[str], None], scope=None) -> list[str]:
    if not source.is_dir():
        log(f"  ✗ 投递目录不存在: {source}")
        return [f"投递目录不存在: {source}"]
    files, res.files_ignored = list_drop(source, settings.etl.profile_dirs)
    todo = []
    for p, digest in zip(files, _digests(files)):
        shown = display_name(p.name)
        if isinstance(digest, OSError):
            res.fail_file(shown, _failure_reason(digest))
            log(f"  ✗ {shown}: {digest.strerror}")
            continue
        if lake.has(digest):
            res.files_already_loaded += 1
        else:
            todo.append((p, digest))
    if lake.home_county is None:  # a city: activity and the event flow after the accounts and events they name
        todo.sort(key=lambda t: _wave(t[0]))
    delivery = lake.next_delivery()
    rules = value_rules(settings)
    workers = 1 if scope is not None else _workers_for(settings, todo)  # an upload: a few small files
    if any(readers.parse_file_name(display_name(p.name)) is None for p, _ in todo):
        workers = 1  # a foreign file resolves names against the org units landed before it in this run
    res.landing_workers = workers
    if workers > 1:
        return _land_parallel(lake, todo, delivery, workers, res, reasons, load_time=load_time, settings=settings,
                              progress=progress, log=log)
    for i, (p, digest) in enumerate(todo):
        shown = display_name(p.name)
        progress(0.8 * i / max(1, len(todo)), f"导入 {shown}")
        try:
            m = _land_one(lake, p, shown, digest, delivery, con, load_time=load_time, rules=rules,
                          run_id=res.run_id, scope=scope, profile_dirs=settings.etl.profile_dirs)
        except FileFailed as exc:
            res.fail_file(shown, str(exc), exc.rows)
            log(f"  ✗ {shown}: {exc}")
            continue
        delivery += 1
        _count(res, reasons, m)
    return []


def _wave(path: Path) -> int:
    """1 for a delivery whose rows are placed in the lake by the records of another dataset (etl.lake.COUNTY_VIA:
    activity by its account, the event flow by its event), 0 for the rest: in a city deployment the files of wave 1
    land after all of wave 0 of the run (in their order otherwise), so that those records are in the lake."""
    parsed = readers.parse_file_name(display_name(path.name))
    return 1 if parsed is not None and parsed[0] in COUNTY_VIA else 0


def _workers_for(settings: Settings, todo: list[tuple[Path, str]]) -> int:
    """Land in parallel processes only when it pays: two or more files and at least `parallel_min_mb` of them
    (a process costs about half a second to start)."""
    n = min(settings.etl.workers, len(todo))
    if n < 2 or sum(p.stat().st_size for p, _ in todo) < settings.etl.parallel_min_mb * 1e6:
        return 1
    return n


_WORKER_CON = None
_WORKER_LAKE: Lake | None = None  # one per worker (one run's landing): its county_lookup is read once


def _worker_init(threads: int, memory_limit: str) -> None:
    global _WORKER_CON
    _WORKER_CON = connect_memory(threads, memory_limit)


def _worker_land(lake_root: str, home_county: str | None, path: str, digest: str, delivery: int, load_time: dt.datetime,
                 rules: dict, run_id: str) -> tuple[str, object, object]:
    global _WORKER_LAKE
    p = Path(path)
    if _WORKER_LAKE is None or (_WORKER_LAKE.root, _WORKER_LAKE.home_county) != (Path(lake_root), home_county):
        _WORKER_LAKE = Lake(Path(lake_root), home_county)
    try:
        return "ok", _land_one(_WORKER_LAKE, p, display_name(p.name), digest, delivery, _WORKER_CON,
                               load_time=load_time, rules=rules,
                               run_id=run_id), None
    except FileFailed as exc:
        return "failed", str(exc), exc.rows
    except LakeFault as exc:
        return "lake", str(exc), None


def _land_parallel(lake: Lake, todo: list[tuple[Path, str]], delivery: int, workers: int, res: RunResult,
                   reasons: Counter, *, load_time: dt.datetime, settings: Settings, progress: Progress,
                   log: Callable[[str], None]) -> list[str]:
    """Land the files in `workers` processes, each with its own DuckDB. Delivery numbers are given in file order
    before the work starts (a file that cannot be read leaves a gap: only their order matters); every delivery
    still commits by writing its own manifest last, so a run killed half-way keeps what it finished. In a city
    deployment the files land in two waves (_wave): activity and the event flow once every other file has."""
    from concurrent.futures import as_completed

    from etl import procs

    threads = max(1, settings.etl.duckdb_threads // workers)
    log(f"  并行导入: {workers} 个进程, {len(todo)} 个文件")
    jobs = [(str(lake.root), lake.home_county, str(p), digest, delivery + i, load_time, value_rules(settings),
             res.run_id) for i, (p, digest) in enumerate(todo)]
    waves: list[list[int]] = [list(range(len(jobs)))]
    if lake.home_county is None:
        waves = [w for w in ([i for i in waves[0] if _wave(todo[i][0]) == k] for k in (0, 1)) if w]
    results: dict[int, tuple[str, object]] = {}
    done = 0
    with procs.pool(workers, _worker_init, (threads, settings.etl.duckdb_memory_limit)) as ex:
        for wave in waves:
            # large files first keeps both processes busy to the end
            order = sorted(wave, key=lambda i: -todo[i][0].stat().st_size)
            futures = dict(zip(procs.submit_all(ex, _worker_land, [jobs[i] for i in order]), order))
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except Exception as exc:  # noqa: BLE001 — a worker that died (memory, a crash in a library)
                    results[i] = ("failed", f"导入进程异常退出 ({type(exc).__name__}), 下次导入时重试", None)
                done += 1
                progress(0.8 * done / len(jobs), f"导入 {display_name(todo[i][0].name)}")
    for i, (p, _) in enumerate(todo):  # counted in file order, as a sequential run would
        kind, value, rows = results[i]
        shown = display_name(p.name)
        if kind == "lake":
            raise LakeFault(value)
        if kind == "failed":
            res.fail_file(shown, value, rows)
            log(f"  ✗ {shown}: {value}")
        else:
            _count(res, reasons, value)
    return []


def _land_channel(lake: Lake, source: str, res: RunResult, con, reasons: Counter, *, load_time: dt.datetime,
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
        res.fail_file(res.source, msg)
        log(f"  ✗ {msg}")
        return [msg]

    def failed(name: str, msg: str, ds: str, rows: int | None = None) -> None:
        msg = sources.scrub(src.scrub(msg), hidden)
        res.fail_file(name, msg, rows)
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
                                               rules=value_rules(settings),
                                               run_id=res.run_id, source=res.source)
                            except Exception as exc:  # noqa: BLE001 — this batch only; its watermark stays
                                if _lake_fault(exc, lake):  # a full disk: no other batch could land either
                                    raise LakeFault(f"无法写入数据湖 {lake.root}: {exc}") from exc
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
                res.fail_file(f"{src.prefix}:{ds}", msg)
                errors.append(msg)
                log(f"  ✗ {msg}")
                break
            except sources.BatchError as exc:
                info["failed_batch"] = exc.name
                failed(exc.name, exc.reason, ds, exc.rows)
            except sources.DatasetError as exc:
                failed(f"{src.prefix}:{ds}", str(exc), ds)
            except LakeFault:
                raise
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


def current_units(lake: Lake, con) -> list[dict]:
    """The org units landed so far (the latest version of each unit_code), for resolving a foreign file's names."""
    files = lake.landed_files("org_units")
    if not files:
        return []
    rows = con.sql("""SELECT unit_code, arg_max(unit_name, updated_at) AS unit_name, arg_max(level, updated_at) AS level,
                             arg_max(parent_code, updated_at) AS parent_code
                      FROM read_parquet($files) GROUP BY unit_code""", params={"files": files}).fetchall()
    return [dict(zip(("unit_code", "unit_name", "level", "parent_code"), r)) for r in rows]


@dataclass
class Prepared:
    """One delivery read and normalised in memory, not landed: what land_file writes and etl/preview.py shows."""
    dataset: str
    raw: object  # the reader's table of strings (pa.Table)
    info: readers.ReadInfo
    kept: object  # pa.Table
    quarantine: object  # pa.Table
    out_of_scope: int = 0  # kept rows moved to the quarantine by the upload's 乡镇 (etl/scope.py)


def prepare_file(readable: Path, name: str, delivery: int, con, *, load_time: dt.datetime, rules: dict,
                 scope=None, units_of: Callable[[], list[dict]] = list, profile_dirs=(),
                 delivery_date: dt.date | None = None) -> Prepared:
    """Read and normalise one delivery into memory — the one per-file path of `etl run`, of an upload and of its
    preview. `scope` (etl.scope.UploadScope): rows of another 乡镇 are moved to the quarantine with the reason.
    A file not named by the contract is a foreign layout: recognised by a source profile (etl/source_profiles.py,
    `profile_dirs`), its unit names resolved against `units_of()` (the org units landed so far)."""
    scope = upload_scope.UploadScope.of(scope)
    parsed = readers.parse_file_name(name)
    if parsed:
        dataset, raw, info = readers.read_file(readable, parsed[0])
    else:
        dataset, raw, info = readers.read_any(readable, name, units=units_of(), profile_dirs=profile_dirs,
                                              delivery_date=delivery_date)
    try:
        upload_scope.check_dataset(dataset, scope)
    except upload_scope.ScopeRefused as exc:
        raise FileFailed(str(exc), raw.num_rows + len(info.summary_rows)) from exc
    try:
        norm = normalise(con, dataset, raw, load_time=load_time, **rules,
                         source_file=name, delivery=delivery, imprecise_rows=info.imprecise_rows)
    except Exception as exc:  # noqa: BLE001 — the rows were read: the failure names them
        raise FileFailed(_failure_reason(exc), raw.num_rows + len(info.summary_rows)) from exc
    kept, quarantine = norm.kept, norm.quarantine
    before = kept.num_rows
    if scope is not None:
        kept, quarantine = upload_scope.apply(dataset, raw, kept, quarantine, scope, source_file=name,
                                              delivery=delivery)
    return Prepared(dataset, raw, info, kept, quarantine, before - kept.num_rows)


def land_file(lake: Lake, path: Path, digest: str, delivery: int, con, *, load_time: dt.datetime,
              rules: dict, run_id: str, source_name: str | None = None, scope=None, profile_dirs=()) -> dict:
    t0 = time.perf_counter()
    scope = upload_scope.UploadScope.of(scope)
    name = source_name or display_name(path.name)
    readable = path
    if name != path.name:  # a name in undecodable bytes: the readers (and Arrow) get a link with a plain name
        readable = lake.root / "tmp" / f"{digest[:16]}{path.suffix}"
        readable.parent.mkdir(parents=True, exist_ok=True)
        readable.unlink(missing_ok=True)
        os.symlink(os.path.abspath(path), readable)
    p = prepare_file(readable, name, delivery, con, load_time=load_time, rules=rules, scope=scope,
                     units_of=lambda: current_units(lake, con), profile_dirs=profile_dirs,
                     delivery_date=source_profiles.delivery_date(path, name))
    dataset, raw, info = p.dataset, p.raw, p.info
    manifest = {
        "file": name, "sha256": digest, "dataset": dataset, "delivery": delivery, "run_id": run_id,
        "format": path.suffix.lstrip(".").lower(), "encoding": info.encoding, "bytes": path.stat().st_size,
        "rows_in": raw.num_rows, "rows_landed": p.kept.num_rows, "rows_quarantined": p.quarantine.num_rows,
        "banner_rows": info.banner_rows, "header_row": info.header_row, "summary_rows": info.summary_rows,
        "blank_rows": info.blank_rows, "unreadable_rows": info.unreadable_rows,
        "unknown_columns": info.unknown_columns, "missing_columns": info.missing_columns,
        "profile": info.profile, "headers": info.headers,
        "landed_at": load_time.isoformat(sep=" "), "seconds": round(time.perf_counter() - t0, 3),
    }
    if scope is not None:
        manifest["scope"] = {"township_code": scope.township_code, "township_name": scope.township_name,
                             "out_of_scope": p.out_of_scope}
    manifest = lake.land(digest, dataset, p.kept, p.quarantine, manifest, con)
    manifest["_reasons"] = Counter(p.quarantine.column("reason_kind").to_pylist())
    return manifest


def run(source: str | Path, settings: Settings, *, warehouse_dir: Path | None = None, lake_dir: Path | None = None,
        load_time: dt.datetime | None = None, rebuild: bool = False, progress: Progress | None = None,
        log: Callable[[str], None] = print, source_name: str | None = None,
        datasets: list[str] | None = None, scope=None) -> RunResult:
    """Land what is new from `source` — a drop folder, `postgresql://…` or `http(s)://…` — then rebuild and
    publish when anything changed. `source_name`: the configured name (for source health); `datasets`: only
    these (database/API sources); `scope` (etl.scope.UploadScope, a drop folder only): an upload limited to one
    乡镇, whose rows of another 乡镇 are quarantined with the reason (etl/scope.py)."""
    scope = upload_scope.UploadScope.of(scope)
    from etl import sources
    from warehouse.build import build_and_publish, stale  # the one call from the feeds up into the warehouse

    lake = Lake.of(lake_dir or settings.paths.lake_dir, settings)
    warehouse_dir = Path(warehouse_dir or settings.paths.warehouse_dir)
    owner_only(lake.root, warehouse_dir)  # personal data: 0700 folders, 0600 files, whatever the umask
    started = _now()
    kind = sources.kind_of(source)
    shown = sources.redact(source)
    cfg = sources.configured_for(settings, str(source))
    res = RunResult(run_id=f"{started:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}", source=shown,
                    started_at=started.isoformat(sep=" "), started_ns=time.time_ns(), source_kind=kind,
                    source_name=source_name or (cfg.name if cfg else shown))
    t0 = time.perf_counter()
    progress = progress or (lambda f, m: None)
    failure_noted = False
    try:
        with lake.lock(warehouse_dir, source=source, full_check=rebuild):  # verifies the lake (Lake.lock)
            con = connect_memory(settings.etl.duckdb_threads, settings.etl.duckdb_memory_limit)
            reasons: Counter = Counter()
            lt = load_time or started
            errors: list[str] = []
            try:
                if kind == "files":
                    errors = _land_drop(lake, Path(source), res, con, reasons, load_time=lt, settings=settings,
                                        progress=progress, log=log, scope=scope)
                else:
                    errors = _land_channel(lake, str(source), res, con, reasons, load_time=lt, settings=settings,
                                           datasets=datasets, progress=progress, log=log)
            finally:
                con.close()
                res.quarantine_by_reason = dict(reasons.most_common())
                for info in res.watermarks.values():
                    info.setdefault("watermark_to", info.get("watermark_from"))
            for d in lake.damaged():  # set aside by Lake.verify: listed on every run until delivered again
                res.fail_file(d["file"], d["reason"])
            res.status = _status(res, errors)
            if errors:
                res.error = "; ".join(errors)[:2000]
            elif res.files_failed:
                names = "、".join(f["file"] for f in res.files_failed[:5])
                more = f" 等 {len(res.files_failed)} 个" if len(res.files_failed) > 5 else ""
                res.error = f"{len(res.files_failed)} 个{_unit(res)}导入失败: {names}{more}"[:2000]
            # the source's health, before the build so that the published warehouse shows this run
            sources.record_health(lake, name=res.source_name, kind=kind, source=shown, ok=res.status != "failed",
                                  status=res.status, failed=res.files_failed, error=res.error,
                                  new_rows=res.rows_in, run_id=res.run_id, when=_now())
            failure_noted = res.status == "failed"
            need = stale(lake, warehouse_dir) or rebuild or res.files_new > 0  # stale() first: it also cleans
            if need:
                progress(0.85, "构建并发布数据仓库")
                tb = time.perf_counter()
                res.finished_at = _now().isoformat(sep=" ")
                res.duration_s = round(time.perf_counter() - t0, 2)
                stats: dict = {}
                published = build_and_publish(lake, warehouse_dir, settings, current_run=res.as_dict(), stats=stats,
                                              rebuild=rebuild)
                res.build_steps, res.export = stats.get("build", {}), stats.get("export", {})
                res.staging, res.tables = stats.get("staging", {}), stats.get("tables", {})
                res.published = published.name
                res.build_s = round(time.perf_counter() - tb, 2)
    except Busy as exc:
        res.status = "busy"
        res.error = str(exc)
    except (LakeFault, StorageError, OSError) as exc:  # the lake or warehouse cannot be used: a clear line, no traceback
        res.status = "failed"
        if isinstance(exc, OSError):
            where = os.fsdecode(exc.filename) if exc.filename else str(lake.root)
            res.error = f"无法写入 {where}: {exc.strerror or exc}"
        else:
            res.error = str(exc)
        log(f"  ✗ {res.error}")
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
            except (Busy, LakeError, OSError):
                pass
        try:
            write_json(lake.runs_dir / f"{res.run_id}.json", res.as_dict())
        except OSError as exc:  # an unwritable lake: the summary still says what happened
            log(f"  ✗ 无法写入运行记录 {lake.runs_dir}: {exc.strerror or exc}")
    progress(1.0, "完成")
    return res


def _unit(res: RunResult) -> str:
    return "文件" if res.source_kind == "files" else "批次"


def _status(res: RunResult, errors: list[str]) -> str:
    """ok: nothing failed; partial: some files/batches/datasets failed and others landed or were already landed;
    failed: nothing could be landed (the source is unreachable, or every new file failed)."""
    if not errors and not res.files_failed:
        return "ok"
    return "partial" if res.files_new or res.files_already_loaded else "failed"


def summary(res: RunResult) -> str:
    unit = _unit(res)
    lines = [f"导入 {res.run_id}: {STATUS_LABELS.get(res.status, res.status)}  用时 {res.duration_s:.1f} 秒 "
             f"(构建 {res.build_s:.1f} 秒)",
             f"  来源 {res.source_name}" + (f" ({res.source})" if res.source != res.source_name else ""),
             f"  新{unit} {res.files_new}, 已导入过 {res.files_already_loaded}, 失败 {len(res.files_failed)}, "
             f"忽略 {len(res.files_ignored)}",
             f"  读入 {res.rows_in} 行, 入库 {res.rows_landed} 行, 隔离 {res.rows_quarantined} 行",
             f"  行数核对: 交付 {res.rows_delivered} = 入库 {res.rows_landed} + 隔离 {res.rows_quarantined} "
             f"+ 合计行 {res.rows_summary} + 失败{unit} {res.rows_failed}"
             + (f" (另有 {res.rows_failed_unknown} 个失败{unit}无法计行)" if res.rows_failed_unknown else "")]
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
        rows = f" ({f['rows']} 行)" if f.get("rows") is not None else ""
        lines.append(f"  失败{unit} {f['file']}{rows}: {f['reason']}")
    for f in res.files_ignored:
        lines.append(f"  忽略文件 {f['file']}: {f['reason']}")
    if res.published:
        lines.append(f"  已发布 {res.published}")
    if res.error:
        lines.append(f"  错误: {res.error}")
    return "\n".join(lines)


STATUS_LABELS = {"ok": "成功", "partial": "部分失败", "failed": "失败", "busy": "另一导入任务运行中", "running": "运行中"}
EXIT_CODES = {"ok": 0, "failed": 1, "partial": 2, "busy": 3}

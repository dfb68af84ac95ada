"""Opening and publishing the warehouse.

Publishing is versioned files plus an atomic pointer:

    data/warehouse/
        versions/wh-20261121T101500-3f2a.duckdb   (complete, closed, never written again)
        CURRENT                                   (text: the file name of the published version)

The ETL builds a new version under a temporary name, closes it, renames it into `versions/`, then replaces
`CURRENT` with os.replace (atomic on POSIX). A reader opens the file named by CURRENT read-only. Each version has
its own path, so DuckDB's per-path instance cache never hands a reader a stale or locked database, the ETL never
needs a write lock on a file a reader holds, and a reader sees the old version or the new one, never half of one.
Old versions beyond `keep_versions` are deleted; a process still holding one keeps reading it (POSIX unlink).

Each version has a sidecar `versions/wh-….duckdb.sum` (JSON: bytes, sha256) written before the version appears.
`check_version` (size as recorded, opens read-only, has its `meta` table) is what the ETL checks at every run (a
damaged current version is published again); `pointed_version` + `fallback_versions` are what the app (dashboard/data.py) falls back on when CURRENT is
damaged or names a missing or damaged file: the newest version that is whole, with a warning to show.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
from pathlib import Path

import duckdb

from core.files import StorageError, sha256_file, xxh3_file

POINTER = "CURRENT"
VERSIONS = "versions"
_VERSION_RE = re.compile(r"^wh-\d{8}T\d{6}-[0-9a-f]{6}\.duckdb$")

BASE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class NoWarehouse(Exception):
    """No published warehouse at this location yet."""


class WarehouseError(StorageError):
    """The warehouse directory cannot be written (full disk, unwritable folder): a message naming the path."""

SUM_SUFFIX = ".sum"


def connect(path: str | os.PathLike | None = None, *, read_only: bool = True, threads: int | None = None,
            memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never downloads anything (no extension auto-install or auto-load)."""
    cfg = dict(BASE_CONFIG)
    if threads:
        cfg["threads"] = threads
    if memory_limit:
        cfg["memory_limit"] = memory_limit
    con = duckdb.connect(":memory:" if path is None else str(path), read_only=read_only and path is not None,
                         config=cfg)
    con.execute("SET enable_progress_bar = false")  # long builds would draw one on the ETL's log
    return con


def current_version(warehouse_dir: Path) -> Path:
    """The published version's file; NoWarehouse when none has been published."""
    ptr = Path(warehouse_dir) / POINTER
    try:
        name = ptr.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise NoWarehouse(f"尚未发布数据仓库: {warehouse_dir}") from None
    except (OSError, UnicodeDecodeError):
        raise NoWarehouse(f"发布指针无法读取: {ptr}") from None
    if not _VERSION_RE.match(name):
        raise NoWarehouse(f"发布指针内容无效: {ptr}")
    path = Path(warehouse_dir) / VERSIONS / name
    if not path.exists():
        raise NoWarehouse(f"发布指针指向的文件不存在: {path}")
    return path


def _recorded(path: Path) -> dict | None:
    import json

    try:
        return json.loads(path.with_name(path.name + SUM_SUFFIX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _size_problem(path: Path) -> str | None:
    try:
        size = path.stat().st_size
    except OSError:
        return f"文件不存在: {path.name}"
    rec = _recorded(path)
    if rec and rec.get("bytes") is not None and rec["bytes"] != size:
        return f"{path.name} 大小不符 ({size} 字节, 应为 {rec['bytes']})"
    return None


def check_version(path: Path, full: bool = False) -> str | None:
    """None when the version file is whole (size as recorded at publishing, opens read-only, has `meta`; with
    `full` also its checksum: XXH3-128, or the sha256 of a version published before); else what is wrong. Opens
    its own connection: not for a process that holds the file open with another configuration (the app probes
    through its cached connection instead)."""
    problem = _size_problem(Path(path))
    if problem:
        return problem
    if full:
        rec = _recorded(Path(path)) or {}
        if (rec.get("xxh3_128") and xxh3_file(Path(path)) != rec["xxh3_128"]) \
                or (rec.get("sha256") and sha256_file(Path(path)) != rec["sha256"]):  # a version published before
            return f"{Path(path).name} 校验和不符"
    try:
        con = connect(path, read_only=True)
        try:
            con.execute("SELECT count(*) FROM meta").fetchone()
        finally:
            con.close()
    except Exception as exc:  # noqa: BLE001 — duckdb raises several kinds for a damaged file
        return f"{Path(path).name} 无法打开 ({type(exc).__name__})"
    return None


def _versions_newest_first(warehouse_dir: Path) -> list[Path]:
    vdir = Path(warehouse_dir) / VERSIONS
    if not vdir.is_dir():
        return []
    vs = [p for p in vdir.iterdir() if _VERSION_RE.match(p.name)]

    def key(p):
        try:
            return p.name[3:18], p.stat().st_mtime_ns
        except OSError:
            return p.name[3:18], 0
    return sorted(vs, key=key, reverse=True)


def pointed_version(warehouse_dir: Path) -> tuple[Path | None, str | None]:
    """(the version CURRENT names, None) when CURRENT is valid and its file whole by size; else (None, problem)."""
    try:
        cur = current_version(warehouse_dir)
    except NoWarehouse as exc:
        return None, str(exc)
    problem = _size_problem(cur)
    return (None, problem) if problem else (cur, None)


def fallback_versions(warehouse_dir: Path, exclude: Path | None = None) -> list[Path]:
    """The other versions whose size is as recorded, newest first."""
    return [p for p in _versions_newest_first(warehouse_dir) if p != exclude and _size_problem(p) is None]


def resolve(warehouse: str | os.PathLike) -> Path:
    """Accept either a warehouse directory (with CURRENT) or a .duckdb file; return the file to open."""
    p = Path(warehouse)
    if p.is_dir() or not p.suffix:
        return current_version(p)
    if not p.exists():
        raise NoWarehouse(f"数据仓库文件不存在: {p}")
    return p


def open_published(warehouse: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    return connect(resolve(warehouse), read_only=True)


def new_version_path(warehouse_dir: Path, now: dt.datetime | None = None) -> tuple[Path, Path]:
    """(temporary build path, final path) for a new version."""
    now = now or dt.datetime.now()
    name = f"wh-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}.duckdb"
    vdir = Path(warehouse_dir) / VERSIONS
    vdir.mkdir(parents=True, exist_ok=True)
    return vdir / f".building-{name}", vdir / name


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(warehouse_dir: Path, built: Path, final: Path, keep: int = 3) -> Path:
    """Move a closed, complete build into place and point CURRENT at it atomically."""
    wal = built.with_name(built.name + ".wal")
    if wal.exists():  # a cleanly closed database has no WAL; never publish one that needs it
        raise RuntimeError(f"构建未正常关闭 (存在 WAL): {wal}")
    import json

    with open(built, "rb+") as fh:
        os.fsync(fh.fileno())
    side = final.with_name(final.name + SUM_SUFFIX)
    side_tmp = side.with_name(f".building-{side.name}")
    # performance: XXH3-128 (0.03 s for a county's 170 MB; sha256 took 0.1 s of every daily run)
    side_tmp.write_text(json.dumps({"bytes": built.stat().st_size, "xxh3_128": xxh3_file(built)}), encoding="utf-8")
    os.replace(side_tmp, side)  # the sum first: a version never appears without it
    os.replace(built, final)
    _fsync_dir(final.parent)
    ptr = Path(warehouse_dir) / POINTER
    tmp = ptr.with_name(f".{POINTER}.{os.getpid()}.tmp")
    tmp.write_text(final.name + "\n", encoding="utf-8")
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, ptr)
    _fsync_dir(Path(warehouse_dir))
    prune(warehouse_dir, keep)
    return final


def prune(warehouse_dir: Path, keep: int) -> list[Path]:
    """Delete old versions beyond `keep` (never the current one) and leftovers of killed builds."""
    vdir = Path(warehouse_dir) / VERSIONS
    if not vdir.exists():
        return []
    try:
        cur = current_version(warehouse_dir).name
    except NoWarehouse:
        cur = None
    removed = []
    versions = sorted(p for p in vdir.iterdir() if _VERSION_RE.match(p.name))
    old = [p for p in versions if p.name != cur][: max(0, len(versions) - keep)]
    for p in old:
        p.unlink(missing_ok=True)
        p.with_name(p.name + SUM_SUFFIX).unlink(missing_ok=True)
        removed.append(p)
    for p in vdir.iterdir():  # sums of versions no longer there
        if p.name.endswith(SUM_SUFFIX) and _VERSION_RE.match(p.name[: -len(SUM_SUFFIX)]) \
                and not p.with_name(p.name[: -len(SUM_SUFFIX)]).exists():
            p.unlink(missing_ok=True)
    return removed + clean_building(warehouse_dir)


def clean_building(warehouse_dir: Path) -> list[Path]:
    """Remove what killed or failed builds left (`.building-*`: the file, its WAL, DuckDB's spill directory).
    Only under the warehouse's lock (etl.lake.Lake.lock), where no build of this warehouse is running."""
    vdir = Path(warehouse_dir) / VERSIONS
    removed = []
    if not vdir.is_dir():
        return removed
    for p in vdir.iterdir():
        if p.name.startswith(".building-"):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed

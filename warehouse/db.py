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
"""
from __future__ import annotations

import os
import shutil
import re
import secrets
import datetime as dt
from pathlib import Path

import duckdb

POINTER = "CURRENT"
VERSIONS = "versions"
_VERSION_RE = re.compile(r"^wh-\d{8}T\d{6}-[0-9a-f]{6}\.duckdb$")

BASE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class NoWarehouse(Exception):
    """No published warehouse at this location yet."""


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
    if not _VERSION_RE.match(name):
        raise NoWarehouse(f"发布指针内容无效: {ptr}")
    path = Path(warehouse_dir) / VERSIONS / name
    if not path.exists():
        raise NoWarehouse(f"发布指针指向的文件不存在: {path}")
    return path


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
    with open(built, "rb+") as fh:
        os.fsync(fh.fileno())
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
        removed.append(p)
    for p in vdir.iterdir():
        if p.name.startswith(".building-"):  # a killed build's file, its WAL, or DuckDB's spill directory
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed

"""The lake: landed Parquet, quarantine, manifest and run log, all under one folder.

    lake/
        landed/<dataset>/month=YYYY-MM/part-<hash16>.parquet   normalised rows, typed, with _file/_row/_delivery/_flags
        quarantine/<dataset>/part-<hash16>.parquet              rows that could not be used, with file, row and reason
        manifest/<sha256>.json                                  one per landed delivery; written last
        runs/<run_id>.json                                      one per ETL run
        state/                                                  watermarks of the database and API sources
        .lock                                                   one ETL run at a time

A delivery is landed when its manifest exists. Part names derive from the content hash, so a delivery landed again
after a crash overwrites its own parts instead of adding copies; every part is written to a temporary name and
renamed into place. Parquet is plain (hive-style `month=` partitions, ZSTD, standard types) so that Spark or
Trino can read the same lake.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl.spec import DATASETS


class Busy(Exception):
    """Another ETL run holds the lake's lock."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while b := fh.read(chunk):
            h.update(b)
    return h.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: object) -> None:
    _atomic_write_bytes(path, json.dumps(obj, ensure_ascii=False, indent=1, default=str).encode("utf-8"))


def write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd", use_dictionary=True)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class Lake:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)

    # ------------------------------------------------------------------ paths
    @property
    def manifest_dir(self) -> Path:
        return self.root / "manifest"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def landed_part(self, dataset: str, month: str, digest: str) -> Path:
        return self.root / "landed" / dataset / f"month={month}" / f"part-{digest[:16]}.parquet"

    def quarantine_part(self, dataset: str, digest: str) -> Path:
        return self.root / "quarantine" / dataset / f"part-{digest[:16]}.parquet"

    # ------------------------------------------------------------------ lock
    @contextmanager
    def lock(self):
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "a+")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Busy("另一个导入任务正在运行 (数据湖已加锁)") from None
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            self.clean_temp()
            yield self
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def clean_temp(self) -> None:
        """Remove temporary files a killed run left behind (called under the lock)."""
        for p in self.root.rglob(".*.tmp"):
            p.unlink(missing_ok=True)
        tmp = self.root / "tmp"
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------------ manifest
    def manifests(self) -> list[dict]:
        out = []
        if self.manifest_dir.exists():
            for p in self.manifest_dir.glob("*.json"):
                out.append(json.loads(p.read_text(encoding="utf-8")))
        out.sort(key=lambda m: m["delivery"])
        return out

    def has(self, digest: str) -> bool:
        return (self.manifest_dir / f"{digest}.json").exists()

    def next_delivery(self) -> int:
        ms = self.manifests()
        return (max(m["delivery"] for m in ms) + 1) if ms else 1

    def land(self, digest: str, dataset: str, kept: pa.Table, quarantine: pa.Table, manifest: dict) -> dict:
        """Write the parts of one delivery, then its manifest (the commit point)."""
        ds = DATASETS[dataset]
        parts = []
        if kept.num_rows:
            col = kept.column(ds.month_col)
            months = pc.strftime(col, format="%Y-%m")
            kept = kept.append_column("month", months)
            for month in sorted(set(months.to_pylist())):
                part = kept.filter(pc.equal(kept.column("month"), month)).drop_columns(["month"])
                path = self.landed_part(dataset, month, digest)
                write_parquet(path, part)
                parts.append(str(path.relative_to(self.root)))
        qpart = None
        if quarantine.num_rows:
            path = self.quarantine_part(dataset, digest)
            write_parquet(path, quarantine)
            qpart = str(path.relative_to(self.root))
        manifest = dict(manifest, landed_parts=parts, quarantine_part=qpart)
        write_json(self.manifest_dir / f"{digest}.json", manifest)
        return manifest

    def landed_files(self, dataset: str) -> list[str]:
        files = []
        for m in self.manifests():
            if m["dataset"] == dataset:
                files.extend(str(self.root / p) for p in m["landed_parts"])
        return files

    def quarantine_files(self) -> list[str]:
        return [str(self.root / m["quarantine_part"]) for m in self.manifests() if m.get("quarantine_part")]

    def fingerprint(self) -> list[str]:
        """What a build from the lake now would contain: the landed deliveries' hashes."""
        return sorted(m["sha256"] for m in self.manifests())

    def mark_published(self, warehouse_dir: Path, version: str) -> None:
        write_json(self.state_dir / "published.json",
                   {"warehouse_dir": str(warehouse_dir), "version": version, "deliveries": self.fingerprint()})

    def unpublished(self, warehouse_dir: Path) -> bool:
        """True when landed deliveries are not all in the published warehouse (e.g. a run died while building)."""
        from warehouse.db import NoWarehouse, current_version

        if not self.manifest_dir.exists():
            return False
        try:
            cur = current_version(warehouse_dir).name
        except NoWarehouse:
            return bool(self.manifests())
        p = self.state_dir / "published.json"
        if not p.exists():
            return True
        st = json.loads(p.read_text(encoding="utf-8"))
        return st.get("version") != cur or st.get("deliveries") != self.fingerprint()

    def runs(self) -> list[dict]:
        if not self.runs_dir.exists():
            return []
        out = [json.loads(p.read_text(encoding="utf-8")) for p in self.runs_dir.glob("*.json")]
        out.sort(key=lambda r: (r["started_at"], r["run_id"]))
        return out

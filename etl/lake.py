"""The lake: landed Parquet, quarantine, manifest and run log, all under one folder.

    lake/
        landed/<dataset>/county=<code>/month=YYYY-MM/part-<hash16>.parquet
                                                                normalised rows, typed, with _file/_row/_delivery/_flags;
                                                                <code> the rows' county (county_of), YYYY-MM the
                                                                month of the dataset's month column
        quarantine/<dataset>/part-<hash16>.parquet              rows that could not be used, with file, row and reason
        manifest/<sha256>.json                                  one per landed delivery; written last
        runs/<run_id>.json                                      one per ETL run
        state/                                                  watermarks of the database and API sources;
                                                                real.json (this lake holds real deliveries: the demo
                                                                never writes here); damaged/<sha256>.json;
                                                                staged/ (the build's staged state,
                                                                warehouse/staged.py)
        .lock                                                   one ETL run at a time (taken together with the
                                                                warehouse's own .lock, see Lake.lock)

A delivery is landed when its manifest exists. Part names derive from the content hash, so a delivery landed again
after a crash overwrites its own parts instead of adding copies; every part is written to a temporary name and
renamed into place. The manifest records each part's size and sha256; every run checks every part (exists, size,
readable Parquet footer; the full sha256 too with --rebuild) before it lands anything, and sets a damaged
delivery aside (Lake.verify): its manifest and parts are removed, so a file still in the drop folder is landed again
in the same run, and one that is not is listed as damaged in every run (lake/state/damaged/) until it is.

A delivery's place in the order of deliveries (which of two versions of a record with the same updated_at wins)
comes from the delivery itself, never from when it landed: `order_key` (the date in its name, then its name).

Parquet is plain (hive-style `county=`/`month=` partitions, ZSTD, standard types) so that Spark or
Trino can read the same lake. A row's county is the first 6 digits of its own 区划代码 (the dataset's county_col,
core/spec.py: org_units and accounts their unit_code, events, key_person_reports and collection_stats their
grid_code) — the rule warehouse/scoped.py tells a row's county by — read from the row. A row without one
(activity_log: only an account; event_flow: only an event; an empty or malformed code) is the county of the
delivery's upload scope (an upload for one 乡镇), else the deployment's own county in a county deployment
(Lake.home_county: one county= partition there, nothing looked up). In a city deployment activity and the event
flow take the county of the account or event they name (COUNTY_VIA), looked up in the accounts and events landed
so far (Lake.county_lookup: this run's — etl.pipeline lands them first — and earlier runs'), joined to the rows in
Arrow; a row whose account or event is landed nowhere, and any other row without a code, is `county=unknown`.
A delivery's partitions are fixed when it lands (a record landed under unknown stays there; delivered again after
its account, that delivery lands under the county). The partition is the layout
only: every reader takes the parts a manifest lists (never a folder listing), so a lake landed before the county
level (`landed/<dataset>/month=YYYY-MM/…`) keeps being read as it is — its parts stay where they are, deliveries
landed since go to the county layout, a delivery landed again (set aside as damaged) is written in the new layout.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.files import StorageError, atomic_write_bytes, sha256_file, write_json  # noqa: F401 (re-exported)
from core.spec import DATASETS


class Busy(Exception):
    """Another ETL run holds the lake's (or the warehouse's) lock."""


class LakeError(StorageError):
    """The lake cannot be used: unwritable, bound to another lake, demo into a real lake (a complete Chinese
    sentence naming the path)."""


DEMO_TRUTH = "_demo_truth.json"  # = demo.TRUTH_FILE: a folder holding it is a generated demo drop
LAKE_BINDING = "LAKE"  # in the warehouse directory: the lake it is built from


def order_key(manifest: dict) -> str:
    """Where a delivery sorts among the deliveries of its dataset (later wins a tie of updated_at): the date in its
    name, then the name. A file `events_20240401_x.json` → `2024-04-01 events_20240401_x.json`; a 前置库/API batch
    `pg:events@2024-03-01T08:00:00..2024-03-31T23:59:59` → its pulled range's end, then the name (a file of a day
    sorts before a batch pulled up to any time of that day). A name without a date sorts first."""
    from etl import readers

    name = str(manifest.get("file") or "")
    parsed = readers.parse_file_name(name)
    if parsed is not None:
        d = parsed[1]
        return f"{d[:4]}-{d[4:6]}-{d[6:8]} {name}"
    if "@" in name and ".." in name:
        hi = name.rsplit("..", 1)[1]
        if hi and hi[0].isdigit():
            return f"{hi} {name}"
    return f" {name}"


def is_demo_drop(source: object) -> bool:
    """A folder the demo generator wrote: its truth file lists every delivery file in it (a real file added to
    such a folder makes it a real source)."""
    from etl import readers

    s = str(source or "")
    if not s or "://" in s or not (Path(s) / DEMO_TRUTH).is_file():
        return False
    try:
        listed = set(json.loads((Path(s) / DEMO_TRUTH).read_text(encoding="utf-8")).get("files") or {})
    except (OSError, ValueError, AttributeError):
        return False
    return all(p.name in listed for p in Path(s).rglob("*")
               if p.is_file() and readers.parse_file_name(p.name) is not None)


def bound_lake(warehouse_dir: Path) -> Path | None:
    """The lake a warehouse directory is built from (recorded by its first run), or None."""
    p = Path(warehouse_dir) / LAKE_BINDING
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rel = Path(warehouse_dir) / rec.get("relative", "")
    if rec.get("relative") and rel.exists():
        return rel.resolve()
    return Path(rec["path"]) if rec.get("path") else None


def write_parquet(path: Path, table: pa.Table, dictionary: bool | list[str] = True) -> dict:
    """Write atomically; returns {"bytes": size, "sha256": hex} of the file written. `dictionary`: the columns to
    dictionary-encode (True: all)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=dictionary)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        check = {"bytes": tmp.stat().st_size, "sha256": sha256_file(tmp)}
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return check


def _flock(folder: Path, what: str):
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fh = open(folder / ".lock", "a+")
    except OSError as exc:
        raise LakeError(f"无法写入{what}目录 {folder}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise Busy(f"另一个导入任务正在运行 ({what}已加锁: {folder})") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def _dictionary_columns(ds, names: list[str]) -> list[str]:
    """The landed columns worth dictionary-encoding: all but a one-column key, times, coordinates and the row
    number, which are (nearly) unique per row — a dictionary of unique values costs a third of the write and makes
    the file larger, not smaller."""
    unique = (set(ds.key) if len(ds.key) == 1 else set()) | {"_row"}
    unique |= {c.name for c in ds.columns if c.type in ("ts", "float")}
    return [n for n in names if n not in unique]


UNKNOWN_COUNTY = "unknown"  # the county= partition of rows whose county cannot be told
# the datasets whose rows carry no 区划代码 (core/spec.py: county_col None), told by the record they refer to: the
# column that names it and the dataset it is a key of (activity: its account; the event flow: its event)
COUNTY_VIA = {"activity_log": ("account_id", "accounts"), "event_flow": ("event_id", "events")}


def _scope_county(scope_code: str | None) -> str | None:
    return scope_code[:6] if scope_code and len(scope_code) >= 6 and scope_code[:6].isdigit() else None


def county_of(ds, table: pa.Table, scope_code: str | None = None, lookup: pa.Table | None = None) -> pa.Array:
    """Each row's county partition (module docstring): the first 6 characters of its county_col when they are 6
    digits; else the first 6 digits of `scope_code` (the delivery's upload scope, a 乡镇 code, or the lake's
    home_county); else, for a dataset of COUNTY_VIA, the county `lookup` (Lake.county_lookup: key, county) gives
    the record the row refers to; else "unknown"."""
    fallback = _scope_county(scope_code) or UNKNOWN_COUNTY
    if ds.county_col is None and fallback == UNKNOWN_COUNTY and lookup is not None and lookup.num_rows:
        ref = pc.cast(table.column(COUNTY_VIA[ds.name][0]), pa.string())
        at = pc.index_in(ref, value_set=lookup.column("key"))  # a hash join, in the rows' order; null: not found
        return pc.fill_null(pc.take(lookup.column("county"), at), UNKNOWN_COUNTY).combine_chunks()
    if ds.county_col is None or ds.county_col not in table.column_names:
        return pc.fill_null(pa.nulls(table.num_rows, pa.string()), fallback)
    col = pc.cast(table.column(ds.county_col), pa.string())
    county = pc.if_else(pc.match_substring_regex(col, r"^[0-9]{6}"), pc.utf8_slice_codeunits(col, 0, 6),
                       pa.scalar(None, pa.string()))
    return pc.fill_null(county, fallback).combine_chunks()


def _county_lookup(ds, files: list[str], con=None) -> pa.Table | None:
    """Lake.county_lookup: (key, county) of the landed rows `files` of `ds` (accounts or events)."""
    if not files:
        return None
    import duckdb

    key, code = ds.key[0], ds.county_col
    own = con is None
    con = duckdb.connect() if own else con
    try:
        t = con.sql(f'SELECT CAST("{key}" AS VARCHAR) AS key, CAST("{code}" AS VARCHAR) AS "{code}", updated_at '
                    "FROM read_parquet($files, hive_partitioning = false, union_by_name = true)",
                    params={"files": files}).to_arrow_table()
    finally:
        if own:
            con.close()
    county = county_of(ds, t)
    t = pa.table({"key": t.column("key"), "county": county, "updated_at": t.column("updated_at")})
    t = t.filter(pc.not_equal(t.column("county"), UNKNOWN_COUNTY))
    t = t.sort_by([("updated_at", "ascending", "at_start")])
    t = t.group_by("key", use_threads=False).aggregate([("county", "last")])  # ordered: the latest version's
    return pa.table({"key": t.column("key").combine_chunks(), "county": t.column("county_last").combine_chunks()})


@dataclass
class Lake:
    root: Path
    # the county= partition of rows that carry no county of their own (county_of): a county deployment's own
    # county ([county] code; Lake.of(settings)), None in a city deployment (looked up: county_lookup)
    home_county: str | None = None

    @classmethod
    def of(cls, root, settings) -> Lake:
        """The lake at `root` as the ETL of this deployment lands into it (home_county: see above)."""
        return cls(root, settings.county.code if settings.deployment.level == "county" else None)

    def __post_init__(self):
        self.root = Path(self.root)
        self._lookups: dict[str, pa.Table | None] = {}  # county_lookup's, per dataset, until it lands again

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

    def landed_part(self, dataset: str, county: str, month: str, digest: str) -> Path:
        return (self.root / "landed" / dataset / f"county={county}" / f"month={month}"
                / f"part-{digest[:16]}.parquet")

    def quarantine_part(self, dataset: str, digest: str) -> Path:
        return self.root / "quarantine" / dataset / f"part-{digest[:16]}.parquet"

    # ------------------------------------------------------------------ lock
    @contextmanager
    def lock(self, warehouse_dir: Path | None = None, *, source: object = None, full_check: bool = False):
        """One ETL run at a time. With `warehouse_dir` (an ETL run): the warehouse's lock first, then the lake's,
        so one lock guards a warehouse and its lake together; the warehouse records the lake it is built from
        (`LAKE`) and refuses another (LakeError). Then, under both locks: leftovers of killed runs are removed
        (temporary files and folders, killed builds), the demo is refused a lake that holds real deliveries, a
        real source marks the lake as real, and every landed part is verified (`verify`; `self.damage` lists
        what was set aside)."""
        handles = []
        try:
            if warehouse_dir is not None:
                handles.append(_flock(Path(warehouse_dir), "数据仓库"))
            handles.append(_flock(self.root, "数据湖"))
            self.damage: list[dict] = []
            try:
                self.clean_temp()
                if warehouse_dir is not None:
                    self._bind(Path(warehouse_dir))
                if source is not None:
                    self._note_origin(source)
                if warehouse_dir is not None:
                    self.damage = self.verify(full=full_check)
            except OSError as exc:  # e.g. a read-only or full file system
                raise LakeError(f"无法写入数据湖 {exc.filename or self.root}: {exc.strerror or exc}") from None
            yield self
        finally:
            for fh in reversed(handles):
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()

    def _bind(self, warehouse_dir: Path) -> None:
        mine = self.root.resolve()
        bound = bound_lake(warehouse_dir)
        if bound is not None and bound.resolve() != mine:
            raise LakeError(f"数据仓库 {warehouse_dir} 由数据湖 {bound} 构建, 不能再用另一个数据湖 {self.root} 构建或发布 "
                            f"(请用 --lake {bound}; 确需更换时先删除 {Path(warehouse_dir) / LAKE_BINDING})")
        if bound is None:
            wh = Path(warehouse_dir).resolve()
            write_json(Path(warehouse_dir) / LAKE_BINDING,
                       {"path": str(mine), "relative": os.path.relpath(mine, wh)})

    def _note_origin(self, source: object) -> None:
        if is_demo_drop(source):
            if self.holds_real():
                raise LakeError(f"数据湖 {self.root} 中已有正式数据, 示例县数据不会写入其中 (来源 {source})")
        elif not (self.state_dir / "real.json").exists():
            from etl.sources import redact

            write_json(self.state_dir / "real.json", {"since": dt.datetime.now().isoformat(sep=" ", timespec="seconds"),
                                                     "source": redact(str(source))})

    def holds_real(self) -> bool:
        """True when this lake holds or held real deliveries: marked by a run from a real source (state/real.json),
        or, for a lake older than the mark, any run or delivery that the demo did not bring."""
        if (self.state_dir / "real.json").exists():
            return True
        runs = {r.get("run_id"): r for r in self.runs()}
        if any(not is_demo_drop(r.get("source")) for r in runs.values()):
            return True
        return any(m.get("run_id") not in runs for m in self.manifests())

    def clean_temp(self) -> None:
        """Remove temporary files and folders a killed run left behind (called under the lock): a killed export
        leaves `published/.wh-….tmp/`, a folder."""
        if not self.root.exists():
            return
        for p in sorted(self.root.rglob(".*.tmp"), key=lambda p: len(p.parts)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists() or p.is_symlink():
                p.unlink(missing_ok=True)
        tmp = self.root / "tmp"
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------------ verification
    @property
    def damaged_dir(self) -> Path:
        return self.state_dir / "damaged"

    def _check(self, m: dict, full: bool) -> str | None:
        sums = m.get("checksums") or {}
        rels = list(m.get("landed_parts") or []) + ([m["quarantine_part"]] if m.get("quarantine_part") else [])
        for rel in rels:
            p = self.root / rel
            if not p.is_file():
                return f"数据湖文件缺失: {rel}"
            c = sums.get(rel)
            size = p.stat().st_size
            if c and size != c["bytes"]:
                return f"数据湖文件大小不符 ({size} 字节, 应为 {c['bytes']}): {rel}"
            try:
                pq.read_metadata(p)
            except Exception as exc:  # noqa: BLE001 — any unreadable footer
                return f"数据湖文件无法读取 ({type(exc).__name__}): {rel}"
            if full and c and sha256_file(p) != c["sha256"]:
                return f"数据湖文件校验和不符: {rel}"
        return None

    def verify(self, full: bool = False) -> list[dict]:
        """Check every landed delivery's parts: exists, size as recorded, Parquet footer readable; with `full`
        also the sha256 (manifests written before checksums were recorded: existence and footer only). A damaged
        delivery is set aside: recorded in state/damaged/<sha256>.json, then its manifest and parts removed — a
        file still in the drop folder is landed again by this run. Returns what was set aside."""
        out = []
        if not self.manifest_dir.exists():
            return out
        for path in sorted(self.manifest_dir.glob("*.json")):
            try:
                m = json.loads(path.read_text(encoding="utf-8"))
                reason = self._check(m, full)
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                m, reason = {"sha256": path.stem, "file": path.name}, f"数据湖清单无法读取 ({type(exc).__name__})"
            if reason is None:
                continue
            rec = {"file": m.get("file"), "sha256": m.get("sha256") or path.stem, "dataset": m.get("dataset"),
                   "reason": reason, "found_at": dt.datetime.now().isoformat(sep=" ", timespec="seconds"),
                   "manifest": m}
            write_json(self.damaged_dir / f"{rec['sha256']}.json", rec)
            path.unlink(missing_ok=True)
            for rel in list(m.get("landed_parts") or []) + ([m["quarantine_part"]] if m.get("quarantine_part") else []):
                p = self.root / rel
                if p.is_file() or p.is_symlink():
                    p.unlink(missing_ok=True)
            out.append(rec)
        return out

    def damaged(self) -> list[dict]:
        """Deliveries set aside as damaged and not landed again since: {"file", "reason"} each, for the run's
        failed files (the build leaves them out). One landed again (same content) is resolved and forgotten."""
        out = []
        if not self.damaged_dir.exists():
            return out
        for p in sorted(self.damaged_dir.glob("*.json")):
            try:
                rec = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if self.has(rec.get("sha256") or p.stem):
                p.unlink(missing_ok=True)
                continue
            out.append({"file": rec.get("file") or p.stem,
                        "reason": f"数据湖中的该批数据已损坏, 已从构建中排除 ({rec.get('reason')}); "
                                  "请把原文件重新放入投递目录 (前置库/接口: 从源头重新提供)"})
        return out

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

    def land(self, digest: str, dataset: str, kept: pa.Table, quarantine: pa.Table, manifest: dict,
             con=None) -> dict:
        """Write the parts of one delivery, then its manifest (the commit point). An OSError (a full disk) is raised
        as it is, with its file name: etl.pipeline tells it from a fault of the delivered file. `con`: a DuckDB
        connection for county_lookup (None: one of its own)."""
        ds = DATASETS[dataset]
        parts, sums, part_rows = [], {}, {}
        dictionary = _dictionary_columns(ds, kept.column_names)
        if kept.num_rows:
            scope = (manifest.get("scope") or {}).get("township_code") or self.home_county
            via = COUNTY_VIA.get(dataset) if _scope_county(scope) is None else None
            counties = county_of(ds, kept, scope, self.county_lookup(via[1], con) if via else None)
            names = sorted(pc.unique(counties).to_pylist())
            for county in names:
                rows = kept if len(names) == 1 else kept.filter(pc.equal(counties, county))
                col = rows.column(ds.month_col)
                # year * 100 + month as an integer (pc.strftime costs a third of a second per 300 k rows)
                ym = pc.add(pc.multiply(pc.year(col), 100), pc.month(col))
                for key in sorted(pc.unique(ym).to_pylist()):
                    month = f"{key // 100:04d}-{key % 100:02d}"
                    part = rows.filter(pc.equal(ym, key))
                    path = self.landed_part(dataset, county, month, digest)
                    rel = str(path.relative_to(self.root))
                    sums[rel] = write_parquet(path, part, dictionary)
                    parts.append(rel)
                    part_rows[rel] = part.num_rows  # a build's landed rows per county (warehouse.build.bookkeeping)
        qpart = None
        if quarantine.num_rows:
            path = self.quarantine_part(dataset, digest)
            qpart = str(path.relative_to(self.root))
            sums[qpart] = write_parquet(path, quarantine)
        manifest = dict(manifest, landed_parts=parts, part_rows=part_rows, quarantine_part=qpart, checksums=sums)
        write_json(self.manifest_dir / f"{digest}.json", manifest)
        self._lookups.pop(dataset, None)
        return manifest

    def county_lookup(self, dataset: str, con=None) -> pa.Table | None:
        """The county of every key of `dataset` (accounts, events) landed so far — the deliveries of this run
        landed before and those of earlier runs, read from the landed parts the manifests list — as a table
        (key, county): county_of's rule over its county_col, the version with the latest updated_at among those
        with a county. None when none is landed. Kept until this lake lands `dataset` again (one read per run:
        etl.pipeline lands accounts and events before activity and the event flow)."""
        if dataset not in self._lookups:
            self._lookups[dataset] = _county_lookup(DATASETS[dataset], self.landed_files(dataset), con)
        return self._lookups[dataset]

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

    def runs(self) -> list[dict]:
        if not self.runs_dir.exists():
            return []
        out = [json.loads(p.read_text(encoding="utf-8")) for p in self.runs_dir.glob("*.json")]
        # started_at is to the second: runs of one second by their start in ns (a record before it: 0), then id
        out.sort(key=lambda r: (r["started_at"], r.get("started_ns") or 0, r["run_id"]))
        return out

"""The staged state: the previous build's staging (the latest version of every key, per dataset), kept as
month-partitioned Parquet so that a daily run merges only its new deliveries (warehouse.build._stage).

    lake/state/staged/
        STATE.json                                   the commit point: generation, contract, deliveries held
        g<n>/<dataset>/month=YYYY-MM/part-<i>.parquet  one generation: every current record, with its _delivery
        .g<n>.tmp/                                   a generation being written (removed by Lake.clean_temp)

A new generation is written beside the current one: months the new deliveries did not touch are hard-linked from
the previous generation, touched months written anew; the folder is renamed into place, then STATE.json names
it (written atomically), then older generations are removed. A killed run leaves the previous STATE.json and its
generation intact (the half-written folder is a `.tmp` leftover), so the state always describes exactly the
deliveries it lists — whichever version was published.

The state is used only when it holds a subset of the lake's deliveries (same sha256, same delivery number) under
the same contract (`contract()`: the spec's datasets and the staging rule's SQL) and its files are all there
with their recorded sizes; anything else — a delivery removed or set aside as damaged, a changed contract, a
missing or resized file — means a full restage from every landed part (`plan`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from core.files import write_json
from core.spec import DATASETS
from etl.lake import Lake

STATE_FILE = "STATE.json"
FORMAT_VERSION = 1  # the state's own layout


def state_dir(lake: Lake) -> Path:
    return lake.state_dir / "staged"


def contract(rule_sql: str) -> str:
    """What a state was built under: the layout, every dataset of the contract (columns, types, keys, month
    columns) and the staging rule's generated SQL; any change invalidates the state."""
    h = hashlib.sha256()
    h.update(f"{FORMAT_VERSION}\n{rule_sql}\n".encode())
    for ds in DATASETS.values():
        h.update(repr(ds).encode())
    return h.hexdigest()


@dataclass
class Plan:
    """How this build stages: `full` (with the reason) or incremental from `state` with the `new` deliveries
    (manifests) per dataset."""
    full: bool
    reason: str = ""
    state: dict = field(default_factory=dict)
    new: dict[str, list[dict]] = field(default_factory=dict)


def read_state(lake: Lake) -> dict | None:
    try:
        return json.loads((state_dir(lake) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def plan(lake: Lake, manifests: list[dict], rule_sql: str, *, rebuild: bool = False) -> Plan:
    if rebuild:
        return Plan(True, "rebuild")
    st = read_state(lake)
    if st is None:
        return Plan(True, "no state")
    if st.get("contract") != contract(rule_sql):
        return Plan(True, "contract changed")
    held = st.get("deliveries") or {}
    now = {m["sha256"]: m["delivery"] for m in manifests}
    gone = [sha for sha, d in held.items() if now.get(sha) != d]
    if gone:
        return Plan(True, f"{len(gone)} deliveries removed or changed")
    root = state_dir(lake) / st["generation"]
    for ds, info in (st.get("datasets") or {}).items():
        for files in info["months"].values():
            for rel, size in files.items():
                try:
                    if (root / ds / rel).stat().st_size != size:
                        return Plan(True, f"state file resized: {ds}/{rel}")
                except OSError:
                    return Plan(True, f"state file missing: {ds}/{rel}")
                try:
                    pq.read_metadata(root / ds / rel)
                except Exception:  # noqa: BLE001 — any unreadable footer
                    return Plan(True, f"state file unreadable: {ds}/{rel}")
    if set(st.get("datasets") or {}) != set(DATASETS):
        return Plan(True, "datasets changed")
    new: dict[str, list[dict]] = {ds: [] for ds in DATASETS}
    for m in manifests:
        if m["sha256"] not in held:
            new.setdefault(m["dataset"], []).append(m)
    return Plan(False, "incremental", st, new)


class Writer:
    """One new generation, written beside the current one and committed by `commit` (rename, STATE.json, removal
    of older generations). `previous`: the state merged from (None: a full restage)."""

    def __init__(self, lake: Lake, previous: dict | None):
        self.lake = lake
        self.root = state_dir(lake)
        self.prev = previous
        current = read_state(lake)
        n = int(current["generation"][1:]) + 1 if current else 1
        self.name = f"g{n:06d}"
        self.tmp = self.root / f".{self.name}.tmp"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.datasets: dict[str, dict] = {}

    def months_of(self, ds: str) -> dict[str, list[str]]:
        """month → the previous generation's files of `ds`, absolute paths."""
        info = (self.prev or {}).get("datasets", {}).get(ds) or {"months": {}}
        root = self.root / self.prev["generation"] / ds if self.prev else self.root
        return {m: [str(root / rel) for rel in sorted(files)] for m, files in info["months"].items()}

    def scratch(self, ds: str) -> Path:
        """A folder for a partitioned COPY of `ds`'s written months (month=<m>/…), taken in by `dataset`."""
        return self.tmp / f"_copy_{ds}"

    def dataset(self, ds: str, landed_rows: int, *, keep: set[str]) -> dict:
        """Record `ds` in the new generation: the months of `keep` hard-linked from the previous generation, and
        every month partition written into scratch(ds). Returns {"written": n, "linked": n} months."""
        out = self.tmp / ds
        out.mkdir()
        months: dict[str, dict[str, int]] = {}
        prev = (self.prev or {}).get("datasets", {}).get(ds) or {"months": {}}
        for m in sorted(keep):
            months[m] = {}
            for rel in sorted(prev["months"][m]):
                src = self.root / self.prev["generation"] / ds / rel
                dst = out / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(src, dst)
                except OSError:  # another file system, or links not supported
                    shutil.copy2(src, dst)
                months[m][rel] = dst.stat().st_size
        written = 0
        scratch = self.scratch(ds)
        if scratch.exists():
            for d in sorted(scratch.iterdir()):
                m = d.name.split("=", 1)[1]
                assert m not in months, (ds, m)
                months[m] = {}
                (out / f"month={m}").mkdir()
                for i, f in enumerate(sorted(d.iterdir())):
                    rel = f"month={m}/part-{i}.parquet"
                    f.rename(out / rel)
                    months[m][rel] = (out / rel).stat().st_size
                written += 1
            shutil.rmtree(scratch)
        self.datasets[ds] = {"landed_rows": landed_rows, "months": months}
        return {"written": written, "linked": len(keep)}

    def commit(self, manifests: list[dict], rule_sql: str) -> None:
        final = self.root / self.name
        shutil.rmtree(final, ignore_errors=True)  # a generation renamed by a run killed before its STATE.json
        self.tmp.rename(final)
        write_json(self.root / STATE_FILE, {
            "format": FORMAT_VERSION, "contract": contract(rule_sql), "generation": self.name,
            "deliveries": {m["sha256"]: m["delivery"] for m in manifests}, "datasets": self.datasets})
        # older generations (and any a killed run renamed but never committed); the one merged from stays until
        # the next commit: this build still reads its months that were not touched
        keep = {self.name, self.prev["generation"] if self.prev else None}
        for p in self.root.iterdir():
            if p.is_dir() and p.name not in keep and not p.name.startswith("."):
                shutil.rmtree(p, ignore_errors=True)

    def files(self, ds: str) -> list[str]:
        """After `commit`: every file of `ds` in the new generation (linked and written), absolute paths."""
        return [str(self.root / self.name / ds / rel)
                for m in sorted(self.datasets[ds]["months"]) for rel in sorted(self.datasets[ds]["months"][m])]

    def abandon(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

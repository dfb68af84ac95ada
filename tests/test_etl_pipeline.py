"""Loads over time: re-runs, later deliveries, a load killed halfway, readers during publishing."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from support.county import MiniCounty

from core.config import Settings
from etl.pipeline import run
from warehouse import db

ROOT = Path(__file__).resolve().parent.parent
LOAD_TIME = dt.datetime(2030, 1, 1)


def _run(tmp: Path, **kw):
    res = run(tmp / "drop", Settings().resolve(tmp), warehouse_dir=tmp / "wh", lake_dir=tmp / "lake",
              load_time=LOAD_TIME, log=lambda m: None, **kw)
    assert res.status == "ok", res.error
    return res


def _fingerprint(wh: Path) -> dict:
    """Every published fact and dim, as sorted rows (the volatile build columns left out)."""
    con = db.open_published(wh)
    out = {}
    for t in ("dim_unit", "dim_account", "fact_activity", "fact_event", "fact_kp_report", "fact_collection",
              "agg_account_month", "quarantine"):
        cols = [c for c in con.execute(f"SELECT * FROM {t} LIMIT 0").fetchdf().columns if c not in ("delivery",)]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM {t}").fetchall()
        out[t] = sorted(map(repr, rows))
    con.close()
    return out


def _county() -> tuple[MiniCounty, str, str]:
    c = MiniCounty()
    t = c.township("文兴乡")
    g = c.grid(c.village(t, "文兴村"))
    a = c.account(g)
    return c, g, a


def test_rerun_changes_nothing(tmp_path):
    c, g, a = _county()
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="E1")
    c.active(a, 2024, 3, 5)
    c.write(tmp_path / "drop")
    first = _run(tmp_path)
    version = db.current_version(tmp_path / "wh")
    before = _fingerprint(tmp_path / "wh")
    again = _run(tmp_path)
    assert again.files_new == 0 and again.files_already_loaded == first.files_new
    assert again.published is None  # nothing new: nothing rebuilt
    assert db.current_version(tmp_path / "wh") == version
    # the same content under another name is the same delivery
    src = next((tmp_path / "drop").glob("events_*.json"))
    shutil.copy(src, tmp_path / "drop" / "events_20240102_copy.json")
    third = _run(tmp_path)
    assert third.files_new == 0 and third.files_already_loaded == first.files_new + 1
    assert _fingerprint(tmp_path / "wh") == before


def test_later_delivery_wins_and_ties_go_to_later_delivery(tmp_path):
    c, g, a = _county()
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="E1", updated_at=dt.datetime(2024, 3, 1, 9))
    c.event(g, dt.datetime(2024, 3, 2, 9), event_id="E2", updated_at=dt.datetime(2024, 3, 2, 9), category="治安隐患")
    c.write(tmp_path / "drop", date="20240401")
    _run(tmp_path)
    # April export: E1 closed (later updated_at); E2 same updated_at but a corrected category (a tie)
    c.rows = {k: [] for k in c.rows}
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="E1", closed_at=dt.datetime(2024, 4, 3, 9))
    c.event(g, dt.datetime(2024, 3, 2, 9), event_id="E2", updated_at=dt.datetime(2024, 3, 2, 9), category="安全隐患")
    c.write(tmp_path / "drop", date="20240501")
    _run(tmp_path)
    con = db.open_published(tmp_path / "wh")
    got = {r[0]: r[1:] for r in con.execute("SELECT event_id, status, closed_at, category FROM fact_event").fetchall()}
    assert got["E1"] == ("已办结", dt.datetime(2024, 4, 3, 9), "矛盾纠纷")
    assert got["E2"][2] == "安全隐患"
    assert con.execute("SELECT superseded FROM dataset_freshness WHERE dataset = 'events'").fetchone()[0] == 2
    # an older export delivered late does not overwrite newer state
    c.rows = {k: [] for k in c.rows}
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="E1", updated_at=dt.datetime(2024, 3, 1, 9))
    c.write(tmp_path / "drop", date="20240315", suffix="_late")
    _run(tmp_path)
    con = db.open_published(tmp_path / "wh")
    assert con.execute("SELECT status FROM fact_event WHERE event_id = 'E1'").fetchone()[0] == "已办结"


def test_same_key_twice_in_one_file(tmp_path):
    c, g, a = _county()
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="E1", updated_at=dt.datetime(2024, 3, 5))
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="E1", closed_at=dt.datetime(2024, 3, 4),
            updated_at=dt.datetime(2024, 3, 4))
    c.write(tmp_path / "drop", fmt="csv")
    _run(tmp_path)
    con = db.open_published(tmp_path / "wh")
    # the row with the later updated_at wins even though it comes first in the file
    assert con.execute("SELECT status FROM fact_event").fetchall() == [("办理中",)]
    assert con.execute("SELECT records, landed_rows FROM dataset_freshness WHERE dataset='events'").fetchone() == (1, 2)


# ------------------------------------------------------------------------------------------------ crash safety
def _big_drop(drop: Path, n_files: int, rows: int, seed: int = 0) -> None:
    """Large activity_log files (so that a load takes long enough to be killed in the middle)."""
    rng = np.random.default_rng(seed)
    drop.mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        base = dt.datetime(2024, 1 + f, 1)
        secs = rng.integers(0, 27 * 86400, rows)
        t = pa.table({
            "日志编号": [f"F{f}-{i}" for i in range(rows)],
            "账号": pa.array(np.char.add("U", (rng.integers(0, 50, rows)).astype(str))),
            "操作时间": pa.array([base + dt.timedelta(seconds=int(s)) for s in secs], pa.timestamp("s")),
            "操作类型": pa.array(np.array(["登录", "巡查", "信息采集"])[rng.integers(0, 3, rows)]),
        })
        pacsv.write_csv(t, drop / f"activity_log_2024{f + 2:02d}01.csv")


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def _spawn_etl(tmp: Path) -> subprocess.Popen:
    cfg = tmp / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp}"\nlake_dir = "{tmp}/lake"\nwarehouse_dir = "{tmp}/wh"\n'
                   f'drop_dir = "{tmp}/drop"\n', encoding="utf-8")
    env = dict(os.environ, GRIDWATCH_CONFIG=str(cfg), PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "etl", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.parametrize("phase", ["landing", "building"])
def test_kill_9_leaves_published_warehouse_intact(tmp_path, phase):
    c, g, a = _county()
    c.active(a, 2024, 1, 3)
    c.write(tmp_path / "drop")
    _run(tmp_path)
    old_version = db.current_version(tmp_path / "wh")
    old = _fingerprint(tmp_path / "wh")

    _big_drop(tmp_path / "drop", n_files=4, rows=250_000)
    manifests = tmp_path / "lake" / "manifest"
    n_before = len(list(manifests.glob("*.json")))
    proc = _spawn_etl(tmp_path)
    deadline = time.time() + 120
    killed = False
    while time.time() < deadline and proc.poll() is None:
        if phase == "landing" and len(list(manifests.glob("*.json"))) >= n_before + 2:
            killed = True
        if phase == "building" and list((tmp_path / "wh" / "versions").glob(".building-*")):
            time.sleep(0.3)
            killed = True
        if killed:
            workers = _children(proc.pid)
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert killed, "the load finished before it could be killed; make the test data larger"
    assert proc.returncode == -signal.SIGKILL
    if phase == "landing":
        # the files were landed by worker processes, and they died with the run: none lands anything after it
        assert workers
        deadline = time.time() + 5
        while any(_state(w) not in "XZ" for w in workers) and time.time() < deadline:
            time.sleep(0.05)
        alive = [w for w in workers if _state(w) not in "XZ"]
        for w in alive:
            os.kill(w, signal.SIGKILL)
        assert not alive, "landing workers outlived the killed run"
        assert "并行导入" in proc.stdout.read().decode("utf-8")

    # readers still get the old warehouse, whole
    assert db.current_version(tmp_path / "wh") == old_version
    assert _fingerprint(tmp_path / "wh") == old

    landed_before_kill = len(list(manifests.glob("*.json"))) - n_before
    # a re-run completes the load, and equals a clean load of the same folder
    res = _run(tmp_path)
    assert res.published
    assert res.files_new == 4 - landed_before_kill
    if phase == "building":
        assert res.files_new == 0  # everything was landed; only the build had to be redone
    done = _fingerprint(tmp_path / "wh")
    clean = tmp_path / "clean"
    shutil.copytree(tmp_path / "drop", clean / "drop")
    _run(clean)
    assert done == _fingerprint(clean / "wh")
    assert not list((tmp_path / "wh" / "versions").glob(".building-*"))
    assert not list((tmp_path / "lake").rglob(".*.tmp"))


READER = r"""
import sys, time, json
sys.path.insert(0, sys.argv[1])
from warehouse import db
wh, stop = sys.argv[2], sys.argv[3]
import os
seen, errors, queries = set(), [], 0
held = db.open_published(wh)   # a connection opened before the loads, kept open through them
while not os.path.exists(stop):
    try:
        held.execute("SELECT count(*) FROM fact_activity").fetchone()
        path = db.current_version(wh)
        con = db.open_published(wh)
        n = con.execute("SELECT count(*) FROM fact_event").fetchone()[0]
        seen.add((path.name, n))
        con.close()
        queries += 1
    except Exception as exc:
        errors.append(repr(exc))
    time.sleep(0.01)
print(json.dumps({"seen": sorted(seen), "errors": errors, "queries": queries}))
"""


def test_reader_keeps_answering_while_loads_publish(tmp_path):
    c, g, a = _county()
    c.event(g, dt.datetime(2024, 1, 3, 9))
    c.active(a, 2024, 1, 3)
    c.write(tmp_path / "drop", date="20240201")
    _run(tmp_path)
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(ROOT), str(tmp_path / "wh"), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    for month in (2, 3, 4):
        c.rows = {k: [] for k in c.rows}
        c.event(g, dt.datetime(2024, month, 3, 9))
        c.active(a, 2024, month, 3)
        c.write(tmp_path / "drop", date=f"2024{month + 1:02d}01")
        _run(tmp_path)
        time.sleep(0.5)
    stop.write_text("")
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    result = json.loads(out)
    assert result["errors"] == []
    assert result["queries"] > 50
    counts = sorted({n for _, n in result["seen"]})
    assert counts == [1, 2, 3, 4]  # saw every published state, each one whole
    assert len({v for v, _ in result["seen"]}) == 4


def test_parallel_landing_equals_sequential(tmp_path):
    """Files landed in two worker processes give the same lake and warehouse as one at a time, in the same
    delivery order; a file that cannot be read fails alone in both."""
    from support.county import sample_county

    c = sample_county()
    for name in ("seq", "par"):
        drop = tmp_path / name / "drop"
        c.write(drop, date="20240101", fmt="csv")
        c.write(drop, date="20240102", fmt="json", suffix="_again")
        (drop / "events_20240103.xlsx").write_bytes(b"not a workbook")
    logs: dict[str, list[str]] = {"seq": [], "par": []}

    def load(name, **etl):
        tmp = tmp_path / name
        s = Settings().resolve(tmp)
        s.etl = s.etl.model_copy(update=etl)
        res = run(tmp / "drop", s, warehouse_dir=tmp / "wh", lake_dir=tmp / "lake", load_time=LOAD_TIME,
                  log=logs[name].append)
        assert res.status == "partial", res.error  # the broken workbook fails alone
        return res

    seq = load("seq", workers=1)
    par = load("par", workers=2, parallel_min_mb=0)
    assert any("并行导入: 2 个进程" in m for m in logs["par"])
    assert not any("并行导入" in m for m in logs["seq"])
    for k in ("files_new", "rows_in", "rows_landed", "rows_quarantined", "rows_summary", "rows_failed",
              "rows_delivered", "quarantine_by_reason", "rows_by_dataset",
              "files_failed"):
        assert getattr(seq, k) == getattr(par, k), k
    assert [f["file"] for f in par.files_failed] == ["events_20240103.xlsx"]
    assert _fingerprint(tmp_path / "seq" / "wh") == _fingerprint(tmp_path / "par" / "wh")

    def order(name):
        mans = [json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / name / "lake" / "manifest").glob("*.json")]
        return [m["file"] for m in sorted(mans, key=lambda m: m["delivery"])]

    assert order("seq") == order("par")


def test_export_rewrites_only_the_months_a_load_touched(tmp_path):
    """The published Parquet export is incremental: a later load that touches only March rewrites March and
    hard-links every other month from the previous export; what is exported equals the warehouse."""
    import duckdb

    c, g, a = _county()
    for m in (1, 2, 3):
        c.event(g, dt.datetime(2024, m, 5, 9), event_id=f"E{m}")
        c.active(a, 2024, m, 3)
    c.write(tmp_path / "drop")
    _run(tmp_path)
    pub = tmp_path / "lake" / "published"
    first = pub / db.current_version(tmp_path / "wh").stem
    c2 = MiniCounty()
    c2.event(g, dt.datetime(2024, 3, 5, 9), event_id="E3", closed_at=dt.datetime(2024, 3, 19),
             updated_at=dt.datetime(2024, 3, 20))
    c2.write(tmp_path / "drop", date="20240320")
    _run(tmp_path)
    second = pub / db.current_version(tmp_path / "wh").stem  # both may be built within the same second
    assert second != first and first.is_dir()

    def inode(root, table, month):
        return next((root / table / f"month={month}").glob("*.parquet")).stat().st_ino

    assert inode(second, "fact_event", "2024-01") == inode(first, "fact_event", "2024-01")
    assert inode(second, "fact_event", "2024-02") == inode(first, "fact_event", "2024-02")
    assert inode(second, "fact_event", "2024-03") != inode(first, "fact_event", "2024-03")
    assert inode(second, "fact_activity", "2024-03") == inode(first, "fact_activity", "2024-03")
    wh = db.open_published(tmp_path / "wh")
    for table in ("fact_event", "fact_activity", "agg_account_month"):
        exported = duckdb.execute(f"SELECT * EXCLUDE (month) FROM read_parquet('{second}/{table}/*/*.parquet', "
                                  "hive_partitioning = true)").fetchall()
        cols = [d[0] for d in duckdb.execute(f"SELECT * EXCLUDE (month) FROM read_parquet('{second}/{table}/*/*.parquet', "
                                             "hive_partitioning = true) LIMIT 0").description]
        ours = wh.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
        same = lambda rows: sorted(repr(tuple(float(v) if isinstance(v, int) and not isinstance(v, bool) else v  # noqa: E731
                                             for v in r)) for r in rows)  # Parquet has no HUGEINT: sums are doubles
        assert same(exported) == same(ours), table
    assert wh.execute("SELECT status FROM fact_event WHERE event_id = 'E3'").fetchone()[0] == "已办结"
    wh.close()


def test_prune_removes_a_killed_builds_spill_directory(tmp_path):
    """A build killed while DuckDB spilled to disk leaves `.building-….duckdb.tmp/` (a directory) beside its file."""
    vdir = tmp_path / "wh" / db.VERSIONS
    spill = vdir / ".building-wh-20240101T000000-abc123.duckdb.tmp"
    spill.mkdir(parents=True)
    (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"x" * 10)
    (vdir / ".building-wh-20240101T000000-abc123.duckdb").write_bytes(b"")
    removed = db.prune(tmp_path / "wh", keep=3)
    assert len(removed) == 2 and not list(vdir.iterdir())

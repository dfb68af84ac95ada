"""kill -9 at random moments of landing, building and exporting (real `python -m etl run` processes, parallel
landing), then a resume: the warehouse equals a clean load of the same drop folder, table by table (EXCEPT ALL both
ways), ties included — of two versions of a record with the same updated_at the later-named delivery wins, whatever
landed first (issue 11, defects 5 and 6)."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
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
from etl.lake import order_key
from etl.pipeline import run
from warehouse import db

ROOT = Path(__file__).resolve().parent.parent
TIE_AT = dt.datetime(2024, 3, 5, 9)
# columns that say when or in which run something was landed or built, not what
VOLATILE = {"delivery", "run_id", "landed_at", "seconds", "last_landed_at", "checked_at",
            "lim"}  # dq_activity_file: the landing + the tolerance each row was counted under
SKIPPED = {"etl_run", "meta", "source_health", "etl_file_issue"}  # run logs and build stamps


def _tie_county(drop: Path) -> None:
    """TIE001 delivered twice with the same updated_at: 办理中 in the March export, 已办结 in the April one (the
    April file is the larger, so that parallel landing takes it first)."""
    c = MiniCounty()
    g = c.grid(c.village(c.township("文兴乡"), "文兴村"))
    a = c.account(g)
    c.active(a, 2024, 3, 5)
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="TIE001", updated_at=TIE_AT)
    c.write(drop, date="20240310")
    c.rows = {k: [] for k in c.rows}
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="TIE001", closed_at=dt.datetime(2024, 3, 4, 9),
            updated_at=TIE_AT)
    for i in range(3000):
        c.event(g, dt.datetime(2024, 3, 1, 9) + dt.timedelta(minutes=i), event_id=f"EV{i:05d}",
                summary="居民反映问题" * 5)
    c.write(drop, date="20240410")


def _activity(drop: Path, n_files: int = 5, rows: int = 25_000) -> None:
    rng = np.random.default_rng(7)
    for f in range(n_files):
        base = dt.datetime(2024, 1 + f, 1)
        secs = rng.integers(0, 27 * 86400, rows)
        pacsv.write_csv(pa.table({
            "日志编号": [f"F{f}-{i}" for i in range(rows)],
            "账号": pa.array(np.char.add("U", rng.integers(0, 50, rows).astype(str))),
            "操作时间": pa.array([base + dt.timedelta(seconds=int(s)) for s in secs], pa.timestamp("s")),
            "操作类型": pa.array(np.array(["登录", "巡查", "信息采集"])[rng.integers(0, 3, rows)]),
        }), drop / f"activity_log_2024{f + 2:02d}01.csv")


def _spawn(tmp: Path) -> subprocess.Popen:
    cfg = tmp / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp}"\nlake_dir = "{tmp}/lake"\nwarehouse_dir = "{tmp}/wh"\n'
                   f'drop_dir = "{tmp}/drop"\n[etl]\nworkers = 2\nparallel_min_mb = 0\nduckdb_threads = 2\n',
                   encoding="utf-8")
    env = dict(os.environ, GRIDWATCH_CONFIG=str(cfg), PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "etl", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _finish(tmp: Path) -> str:
    p = _spawn(tmp)
    out = p.communicate(timeout=120)[0].decode("utf-8")
    assert p.returncode == 0, out
    return out


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    d = tmp_path_factory.mktemp("drop") / "drop"
    d.mkdir()
    _tie_county(d)
    _activity(d)
    return d


@pytest.fixture(scope="module")
def clean(drop, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    shutil.copytree(drop, tmp / "drop")
    _finish(tmp)
    return db.current_version(tmp / "wh")


def _differences(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    """Per table: rows only in a, rows only in b (EXCEPT ALL both ways), volatile columns left out."""
    con = db.connect(None)
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    tables = {t: cols for t, cols in con.execute(
        "SELECT table_name, list(column_name ORDER BY ordinal_position) FROM information_schema.columns "
        "WHERE table_catalog = 'a' GROUP BY ALL").fetchall()}
    other = {t for (t,) in con.execute(
        "SELECT DISTINCT table_name FROM information_schema.columns WHERE table_catalog = 'b'").fetchall()}
    assert set(tables) == other
    out = {}
    for t, cols in sorted(tables.items()):
        if t in SKIPPED:
            continue
        sel = ", ".join(f'"{c}"' for c in cols if c not in VOLATILE)
        n_a = con.execute(f"SELECT count(*) FROM (SELECT {sel} FROM a.{t} EXCEPT ALL SELECT {sel} FROM b.{t})").fetchone()[0]
        n_b = con.execute(f"SELECT count(*) FROM (SELECT {sel} FROM b.{t} EXCEPT ALL SELECT {sel} FROM a.{t})").fetchone()[0]
        if n_a or n_b:
            out[t] = (n_a, n_b)
    assert len(tables) - len(SKIPPED & set(tables)) >= 20
    con.close()
    return out


def _kill_at(tmp: Path, phase: str, rng: random.Random) -> str:
    """Start a run and kill -9 it (with its landing processes) at a random moment of `phase`; return what it
    was doing."""
    manifests = tmp / "lake" / "manifest"
    versions = tmp / "wh" / "versions"
    published = tmp / "lake" / "published"
    n_files = len(list((tmp / "drop").iterdir()))
    target = rng.randint(1, n_files - 2)
    delay = {"landing": rng.uniform(0, 0.15), "building": rng.uniform(0, 0.6), "export": rng.uniform(0, 0.05)}[phase]
    p = _spawn(tmp)
    deadline = time.time() + 90
    while p.poll() is None and time.time() < deadline:
        if phase == "landing":
            hit = manifests.is_dir() and len(list(manifests.glob("*.json"))) >= target
        elif phase == "building":
            hit = versions.is_dir() and any(versions.glob(".building-*"))
        else:
            hit = published.is_dir() and any(published.glob(".wh-*.tmp"))
        if hit:
            time.sleep(delay)
            os.killpg(p.pid, signal.SIGKILL)  # the run and its landing processes
            break
        time.sleep(0.003)
    p.wait()
    out = p.stdout.read().decode("utf-8")
    assert p.returncode == -signal.SIGKILL, f"the run ended before it was killed in {phase}:\n{out}"
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_in_landing_build_and_export_then_resume_equals_a_clean_load(drop, clean, tmp_path, seed):
    """One seed: killed while landing (after a random number of files), the resume killed while building, that
    resume killed while exporting (each at a random moment), then a last resume."""
    rng = random.Random(seed)
    shutil.copytree(drop, tmp_path / "drop")
    for phase in ("landing", "building", "export"):
        _kill_at(tmp_path, phase, rng)
        assert not (tmp_path / "wh" / "CURRENT").exists() or db.check_version(db.current_version(tmp_path / "wh")) is None
    _finish(tmp_path)  # the resume
    done = db.current_version(tmp_path / "wh")
    assert _differences(done, clean) == {}
    con = db.open_published(tmp_path / "wh")
    assert con.execute("SELECT status FROM fact_event WHERE event_id = 'TIE001'").fetchone()[0] == "已办结"
    con.close()
    assert not list((tmp_path / "wh" / "versions").glob(".building-*"))
    assert not list((tmp_path / "lake").rglob(".*.tmp"))
    assert (tmp_path / "lake" / "published" / done.stem / "fact_event").is_dir()


def test_tie_goes_to_the_later_named_delivery_whatever_landed_first(tmp_path):
    """The April export lands first, the March one later (a resume, a late upload): April still wins the tie."""
    drop = tmp_path / "all"
    _tie_county(drop)
    (tmp_path / "drop").mkdir()
    s = Settings().resolve(tmp_path)

    def load():
        res = run(tmp_path / "drop", s, warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "lake",
                  load_time=dt.datetime(2030, 1, 1), log=lambda m: None)
        assert res.status == "ok", res.error

    for p in sorted(drop.glob("*_20240410.json")):
        shutil.copy(p, tmp_path / "drop")
    load()
    for p in sorted(drop.glob("*_20240310.json")):
        shutil.copy(p, tmp_path / "drop")
    load()
    con = db.open_published(tmp_path / "wh")
    mans = {m["file"]: m["delivery"] for m in
            (json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "lake" / "manifest").glob("*.json"))}
    assert mans["events_20240310.json"] > mans["events_20240410.json"]  # landed later
    assert con.execute("SELECT status, closed_at FROM fact_event WHERE event_id = 'TIE001'").fetchone() == (
        "已办结", dt.datetime(2024, 3, 4, 9))
    assert con.execute("SELECT last_file FROM dataset_freshness WHERE dataset = 'events'").fetchone()[0] == \
        "events_20240410.json"
    con.close()


def test_order_key_sorts_deliveries_by_their_names():
    names = ["events_20240401_b.json", "pg:events@2024-03-01T00:00:00..2024-04-01T08:00:00",
             "events_20240401_a.xlsx", "api:events@2024-04-01T08:00:00..2024-04-02T10:00:00",
             "events_20240315.csv", "pg:events@∅..∅", "api:events@2024-04-02T09:00:00..2024-04-02T10:00:00"]
    got = sorted(names, key=lambda n: order_key({"file": n}))
    assert got == ["pg:events@∅..∅", "events_20240315.csv", "events_20240401_a.xlsx", "events_20240401_b.json",
                   "pg:events@2024-03-01T00:00:00..2024-04-01T08:00:00",
                   "api:events@2024-04-01T08:00:00..2024-04-02T10:00:00",
                   "api:events@2024-04-02T09:00:00..2024-04-02T10:00:00"]

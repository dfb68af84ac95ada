"""Faults of the lake, the warehouse and the first start (issue 11): damaged state is noticed by the next run and
repaired or reported, the app falls back to the last good version, the demo never lands in a real lake, one lock
guards a warehouse and its lake, and a full disk or an unwritable lake leaves nothing behind and says why."""
from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.county import MiniCounty

from core import config
from core.config import Settings
from etl.lake import Lake, LakeError, is_demo_drop
from etl.pipeline import run
from warehouse import db

ROOT = Path(__file__).resolve().parent.parent
LOAD_TIME = dt.datetime(2030, 1, 1)


def _county() -> MiniCounty:
    c = MiniCounty()
    g = c.grid(c.village(c.township("文兴乡"), "文兴村"))
    a = c.account(g)
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="E1")
    c.event(g, dt.datetime(2024, 3, 2, 9), event_id="E2", closed_at=dt.datetime(2024, 3, 3, 9))
    c.rows["events"].append({"event_id": "EQ", "grid_code": g, "category": "矛盾纠纷"})  # no reported_at: quarantined
    c.active(a, 2024, 3, 5)
    return c


def _run(tmp: Path, status: str = "ok", **kw):
    res = run(tmp / "drop", Settings().resolve(tmp), warehouse_dir=tmp / "wh", lake_dir=tmp / "lake",
              load_time=LOAD_TIME, log=lambda m: None, **kw)
    assert res.status == status, res.error
    return res


def _rows(wh: Path) -> dict:
    con = db.open_published(wh)
    out = {}
    for t in ("fact_event", "fact_activity", "quarantine", "dim_unit"):
        cols = [c for c in con.execute(f"SELECT * FROM {t} LIMIT 0").fetchdf().columns if c != "delivery"]
        out[t] = sorted(map(repr, con.execute(f"SELECT {', '.join(cols)} FROM {t}").fetchall()))
    con.close()
    return out


def _manifests(lake: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in (lake / "manifest").glob("*.json")]


def _manifest_of(lake: Path, prefix: str) -> dict:
    return next(m for m in _manifests(lake) if m["file"].startswith(prefix))


@pytest.fixture
def loaded(tmp_path):
    _county().write(tmp_path / "drop")
    _run(tmp_path)
    clean = _rows(tmp_path / "wh")
    return tmp_path, clean


# ------------------------------------------------------------------------------------------------ defect 5
def test_a_killed_exports_temporary_folder_does_not_stop_later_runs(loaded):
    tmp, _ = loaded
    left = tmp / "lake" / "published" / ".wh-20240101T000000-abcdef.tmp"  # what a kill -9 in the export leaves
    (left / "fact_event" / "month=2024-03").mkdir(parents=True)
    (left / "fact_event" / "month=2024-03" / "data_0.parquet").write_bytes(b"PAR1")
    c = MiniCounty()
    c.event(c.grid(c.village(c.township("文兴乡"), "文兴村")), dt.datetime(2024, 4, 1, 9), event_id="E4")
    c.write(tmp / "drop", date="20240501")
    res = _run(tmp)
    assert res.published and res.files_new == 1
    assert not left.exists()


def test_a_version_built_by_other_schema_files_is_built_again_by_the_next_run(loaded, monkeypatch):
    """After an upgrade that changed warehouse/schema (a new macro the queries call), the published version is
    stale: the next run, with nothing new delivered, builds and publishes it again with the current files."""
    from warehouse import build

    tmp, clean = loaded
    before = db.current_version(tmp / "wh")
    assert build.built_schema(before) == build.schema_hash()
    assert not _run(tmp).published  # same schema files, nothing new: nothing to build
    monkeypatch.setattr(build, "schema_hash", lambda: "another-release")  # the code of a newer release
    res = _run(tmp)
    assert res.published and res.files_new == 0
    after = db.current_version(tmp / "wh")
    assert after != before and build.built_schema(after) == "another-release"
    assert _rows(tmp / "wh") == clean
    assert not _run(tmp).published  # built once, then current


def test_manifest_records_size_and_sha256_of_every_part(loaded):
    from etl.lake import sha256_file

    tmp, _ = loaded
    m = _manifest_of(tmp / "lake", "events_")
    parts = m["landed_parts"] + [m["quarantine_part"]]
    assert set(m["checksums"]) == set(parts)
    for rel in parts:
        p = tmp / "lake" / rel
        assert m["checksums"][rel] == {"bytes": p.stat().st_size, "sha256": sha256_file(p)}


@pytest.mark.parametrize("damage", ["delete_landed", "truncate_landed", "truncate_quarantine", "corrupt_manifest"])
def test_damaged_delivery_whose_file_is_in_the_drop_is_landed_again(loaded, damage):
    tmp, clean = loaded
    lake = tmp / "lake"
    m = _manifest_of(lake, "events_")
    if damage == "delete_landed":
        (lake / m["landed_parts"][0]).unlink()
    elif damage == "truncate_landed":
        p = lake / m["landed_parts"][0]
        p.write_bytes(p.read_bytes()[:100])
    elif damage == "truncate_quarantine":
        p = lake / m["quarantine_part"]
        p.write_bytes(p.read_bytes()[:-20])
    else:
        (lake / "manifest" / f"{m['sha256']}.json").write_text('{"file": "events_2024', encoding="utf-8")
    res = _run(tmp)  # nothing new in the drop: the run notices, re-lands the file and publishes again
    assert res.files_new == 1 and res.published
    assert res.files_failed == []
    assert _rows(tmp / "wh") == clean
    assert _run(tmp, rebuild=True).published  # and a rebuild works too


def test_damaged_delivery_without_its_file_is_listed_and_left_out_of_every_build(loaded):
    tmp, clean = loaded
    lake = tmp / "lake"
    m = _manifest_of(lake, "events_")
    src = next((tmp / "drop").glob("events_*"))
    kept = tmp / "kept.json"
    shutil.move(src, kept)
    p = lake / m["landed_parts"][0]
    p.write_bytes(p.read_bytes()[:-1])
    res = _run(tmp, status="partial")  # a warning until resolved (the monitoring shows failed files)
    assert [f["file"] for f in res.files_failed] == [m["file"]]
    assert "已损坏" in res.files_failed[0]["reason"] and m["landed_parts"][0] in res.files_failed[0]["reason"]
    assert res.published  # built without it, never stuck
    con = db.open_published(tmp / "wh")
    assert con.execute("SELECT count(*) FROM fact_event").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM fact_activity").fetchone()[0] == 5
    con.close()
    again = _run(tmp, status="partial", rebuild=True)  # listed on every run until resolved; built without it
    assert [f["file"] for f in again.files_failed] == [m["file"]] and again.published
    shutil.move(kept, src)  # the file delivered again: landed, resolved
    back = _run(tmp)
    assert back.files_new == 1 and back.files_failed == []
    assert _rows(tmp / "wh") == clean
    assert not list((lake / "state" / "damaged").glob("*.json"))


def test_manifests_without_checksums_are_still_verified(loaded):
    tmp, clean = loaded
    lake = tmp / "lake"
    for p in (lake / "manifest").glob("*.json"):  # a lake landed before checksums were recorded
        m = json.loads(p.read_text(encoding="utf-8"))
        m.pop("checksums")
        p.write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")
    assert _run(tmp).published is None  # nothing wrong, nothing new: nothing rebuilt
    m = _manifest_of(lake, "activity_log_")
    p = lake / m["landed_parts"][0]
    p.write_bytes(p.read_bytes()[:-8])  # the footer is gone
    res = _run(tmp)
    assert res.files_new == 1 and res.published and res.files_failed == []
    assert _rows(tmp / "wh") == clean


def test_rebuild_checks_the_full_sha256(loaded):
    tmp, clean = loaded
    lake = tmp / "lake"
    m = _manifest_of(lake, "events_")
    p = lake / m["landed_parts"][0]
    data = bytearray(p.read_bytes())
    data[10] ^= 0xFF  # same size, footer intact: only the checksum can tell
    p.write_bytes(bytes(data))
    assert _run(tmp).files_new == 0  # the cheap check (size and footer) of every run does not read whole files
    res = _run(tmp, rebuild=True)
    assert res.files_new == 1 and res.published
    assert _rows(tmp / "wh") == clean


def test_a_published_versions_checksum_finds_a_changed_byte(loaded):
    """The sum beside a version (XXH3-128 since the daily run's sha256 took 0.1 s of it; an older version's sha256
    is still checked) tells a changed byte that the size and opening the file do not."""
    from core.files import sha256_file

    tmp, _ = loaded
    v = db.current_version(tmp / "wh")
    side = v.with_name(v.name + db.SUM_SUFFIX)
    rec = json.loads(side.read_text(encoding="utf-8"))
    assert set(rec) == {"bytes", "xxh3_128"} and rec["bytes"] == v.stat().st_size
    assert db.check_version(v, full=True) is None
    old_sum = sha256_file(v)
    data = bytearray(v.read_bytes())
    data[len(data) // 2] ^= 0xFF
    v.write_bytes(bytes(data))
    assert db.check_version(v) is None  # size and meta as before
    assert db.check_version(v, full=True) == f"{v.name} 校验和不符"
    side.write_text(json.dumps({"bytes": len(data), "sha256": old_sum}), encoding="utf-8")  # published before
    assert db.check_version(v, full=True) == f"{v.name} 校验和不符"
    side.write_text(json.dumps({"bytes": len(data), "sha256": sha256_file(v)}), encoding="utf-8")
    assert db.check_version(v, full=True) is None


def _two_versions(tmp: Path) -> tuple[Path, Path]:
    _county().write(tmp / "drop")
    _run(tmp)
    first = db.current_version(tmp / "wh")
    c = MiniCounty()
    c.event(c.grid(c.village(c.township("文兴乡"), "文兴村")), dt.datetime(2024, 4, 1, 9), event_id="E4")
    c.write(tmp / "drop", date="20240501")
    _run(tmp)
    second = db.current_version(tmp / "wh")
    assert first != second
    return first, second


@pytest.fixture
def app_config(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path}"\ndrop_dir = "{tmp_path}/drop"\nlake_dir = "{tmp_path}/lake"\n'
                   f'warehouse_dir = "{tmp_path}/wh"\n[demo]\nauto = true\nmonths = 2\n', encoding="utf-8")
    old = os.environ.get(config.ENV_VAR)
    os.environ[config.ENV_VAR] = str(cfg)
    config.settings.cache_clear()
    yield config.settings()
    if old is None:
        os.environ.pop(config.ENV_VAR, None)
    else:
        os.environ[config.ENV_VAR] = old
    config.settings.cache_clear()


@pytest.mark.parametrize("damage", ["truncate_version", "garbage_pointer", "empty_pointer", "missing_target",
                                    "unreadable_target"])
def test_app_falls_back_to_the_last_good_version_and_etl_publishes_again(tmp_path, app_config, damage):
    from dashboard import data

    first, second = _two_versions(tmp_path)
    wh = tmp_path / "wh"
    assert data.warehouse_path() == second and data.version_warning() is None
    if damage == "truncate_version":
        second.write_bytes(second.read_bytes()[: second.stat().st_size // 2])
    elif damage == "garbage_pointer":
        (wh / "CURRENT").write_bytes(b"\x00\xffwh-2024")
    elif damage == "empty_pointer":
        (wh / "CURRENT").write_text("", encoding="utf-8")
    elif damage == "missing_target":
        second.unlink()
    else:  # same size, not a database: only opening it tells (an app started after the damage)
        second.write_bytes(b"\0" * second.stat().st_size)
        data._connection.clear()
        data._GOOD.clear()
    # a damaged pointer: the newest whole version; a damaged current file: the one before it
    good = second if damage.endswith("pointer") else first
    assert data.warehouse_path() == good
    warning = data.version_warning()
    assert warning and good.name in warning and "上一个完好的版本" in warning
    con, version = data.connection()
    assert version == good.name and con.execute("SELECT count(*) FROM fact_event").fetchone()[0] == 2 + (good == second)
    res = _run(tmp_path)  # nothing new: the run notices the damaged version and publishes again
    assert res.published and res.files_new == 0
    now = db.current_version(wh)
    assert now not in (first, second) and db.check_version(now) is None
    assert data.warehouse_path() == now and data.version_warning() is None


def test_a_version_busy_in_the_apps_own_process_is_read_once_released(tmp_path, app_config, monkeypatch):
    """In the server's own process the first-start build still holds the just-published version open (its Parquet
    export, another DuckDB configuration) while visitors arrive: the app may not open it then, and must not
    remember that for good — it did, and every later visitor started the demo build again."""
    from dashboard import data

    first, second = _two_versions(tmp_path)
    data._connection.clear()
    data._GOOD.clear()
    data._BAD.clear()
    busy = db.connect(second, read_only=True, threads=1, memory_limit="123MB")  # as the export holds it
    try:
        assert data.warehouse_path() != second  # not readable this instant: the one before it, or none
    finally:
        busy.close()
    assert data.warehouse_path() != second  # tried again only after a short while, not at every call
    monkeypatch.setattr(data, "RETRY_BAD_SECONDS", 0.0)
    assert data.warehouse_path() == second and data.version_warning() is None


# ------------------------------------------------------------------------------------------------ defect 4
def _real_install(tmp: Path, settings) -> None:
    """A production install: real deliveries loaded from the drop folder, then the folder emptied (as an operator
    archives the files)."""
    _county().write(settings.paths.drop_dir)
    res = run(settings.paths.drop_dir, settings, load_time=LOAD_TIME, log=lambda m: None)
    assert res.status == "ok", res.error
    for p in settings.paths.drop_dir.iterdir():
        p.unlink()


def _demo_drop(folder: Path) -> None:
    """A small stand-in for `etl demo --out`: deliveries and the truth file that lists them."""
    files = _county().write(folder, date="20240601")
    (folder / "_demo_truth.json").write_text(json.dumps({"files": {p.name: {} for p in files}}), encoding="utf-8")


def test_demo_never_lands_in_a_lake_with_real_deliveries(tmp_path, app_config):
    from dashboard import bootstrap

    s = app_config
    _real_install(tmp_path, s)
    real = sorted(m["file"] for m in _manifests(s.paths.lake_dir))
    (s.paths.warehouse_dir / "CURRENT").write_text("damaged", encoding="utf-8")
    assert bootstrap._has_warehouse()  # a damaged pointer alone: the app reads the last good version, no load
    for p in (s.paths.warehouse_dir / "versions").iterdir():
        p.unlink()  # no version at all: the first visitor's request rebuilds from the lake, never the demo
    assert not bootstrap._has_warehouse()
    assert bootstrap.plan(s) == ("lake", None)
    bootstrap._STATE.error = None
    bootstrap._build(s, demo=False)
    assert bootstrap._STATE.error is None and bootstrap._has_warehouse()
    assert not (s.paths.data_dir / "demo_drop").exists()
    assert sorted(m["file"] for m in _manifests(s.paths.lake_dir)) == real
    bootstrap._STATE.error = None
    bootstrap._build(s, demo=True)  # asked for the demo anyway: refused before anything is generated
    assert "不会装入示例县数据" in bootstrap._STATE.error and str(s.paths.lake_dir) in bootstrap._STATE.error
    assert not (s.paths.data_dir / "demo_drop").exists()
    # and the lake refuses a demo drop itself, under its lock, whoever asks (here `etl run --from demo_drop`)
    demo = s.paths.data_dir / "demo_drop"
    _demo_drop(demo)
    res = run(demo, s, load_time=LOAD_TIME, log=lambda m: None)
    assert res.status == "failed" and "示例县数据不会写入" in res.error and str(s.paths.lake_dir) in res.error
    assert sorted(m["file"] for m in _manifests(s.paths.lake_dir)) == real


def test_a_lake_that_held_real_deliveries_refuses_the_demo_and_says_what_to_do(tmp_path, app_config):
    from dashboard import bootstrap

    s = app_config
    _real_install(tmp_path, s)
    shutil.rmtree(s.paths.lake_dir / "manifest")  # held, no longer holds
    shutil.rmtree(s.paths.warehouse_dir)
    what, message = bootstrap.plan(s)
    assert what == "refuse" and str(s.paths.lake_dir) in message and "不会装入示例县数据" in message


def test_an_older_lake_without_the_mark_is_recognised_as_real(tmp_path, app_config):
    from dashboard import bootstrap

    s = app_config
    _real_install(tmp_path, s)
    (s.paths.lake_dir / "state" / "real.json").unlink()  # landed before the mark existed: its run log tells
    shutil.rmtree(s.paths.warehouse_dir)
    assert Lake(s.paths.lake_dir).holds_real()
    assert bootstrap.plan(s)[0] == "lake"
    for p in (s.paths.lake_dir / "runs").iterdir():
        p.unlink()  # no run log either (killed runs): deliveries the demo did not bring are real
    assert Lake(s.paths.lake_dir).holds_real()


def test_fresh_install_still_gets_the_demo_until_a_real_source_runs(tmp_path, app_config):
    """(The demo's first start itself: tests/test_app.py::test_first_start_builds_the_demo_county.)"""
    from dashboard import bootstrap

    s = app_config
    assert bootstrap.plan(s) == ("demo", None)
    demo = s.paths.data_dir / "demo_drop"  # a demo drop is known by the generator's truth file
    _demo_drop(demo)
    res = run(demo, s, load_time=LOAD_TIME, log=lambda m: None)
    assert res.status == "ok", res.error
    lake = Lake(s.paths.lake_dir)
    assert not lake.holds_real() and lake.manifests()
    shutil.rmtree(s.paths.warehouse_dir)
    assert bootstrap.plan(s) == ("demo", None)  # a demo lake: the demo may build it again
    c = MiniCounty()
    c.event(c.grid(c.village(c.township("文兴乡"), "文兴村")), dt.datetime(2024, 4, 1, 9), event_id="R1")
    added = c.write(demo, date="20240701")  # real files put into the demo's folder: no longer a demo source
    assert not is_demo_drop(demo) and not is_demo_drop(s.paths.data_dir / "missing")
    for p in added:
        p.unlink()
    assert is_demo_drop(demo)
    s.paths.drop_dir.mkdir(parents=True, exist_ok=True)
    run(s.paths.drop_dir, s, log=lambda m: None)  # a real source runs into it, even with nothing to deliver
    assert lake.holds_real() and bootstrap.plan(s) == ("lake", None)


# ------------------------------------------------------------------------------------------------ defect 7
def _env(tmp: Path, **cfg) -> dict:
    text = (f'[paths]\ndata_dir = "{tmp}"\nlake_dir = "{tmp}/lake"\nwarehouse_dir = "{tmp}/wh"\n'
            f'drop_dir = "{tmp}/drop"\n')
    if cfg:
        text += "[etl]\n" + "".join(f"{k} = {v}\n" for k, v in cfg.items())
    (tmp / "config.toml").write_text(text, encoding="utf-8")
    return dict(os.environ, GRIDWATCH_CONFIG=str(tmp / "config.toml"), PYTHONPATH=str(ROOT))


def _etl(env, *args, **kw):
    return subprocess.Popen([sys.executable, "-m", "etl", "run", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_one_lock_guards_a_warehouse_and_its_lake_across_processes(tmp_path):
    from test_etl_pipeline import _big_drop

    env = _env(tmp_path)
    wh = tmp_path / "shared_wh"
    _big_drop(tmp_path / "drop1", n_files=2, rows=120_000)
    _county().write(tmp_path / "drop2")
    a = _etl(env, "--from", tmp_path / "drop1", "--warehouse", wh, "--lake", tmp_path / "lake1")
    deadline = time.time() + 60
    while not (wh / ".lock").exists() or not (tmp_path / "lake1" / ".lock").exists():
        assert time.time() < deadline and a.poll() is None, "first run ended before it could be raced"
        time.sleep(0.01)
    b = _etl(env, "--from", tmp_path / "drop2", "--warehouse", wh, "--lake", tmp_path / "lake2")
    out_b, err_b = b.communicate(timeout=60)
    out_a, err_a = a.communicate(timeout=120)
    assert a.returncode == 0, err_a
    assert b.returncode == 3 and "数据仓库已加锁" in out_b, (out_b, err_b)  # busy: the warehouse's lock
    assert not (tmp_path / "lake2" / "manifest").exists()
    published = db.current_version(wh)
    # later, the other lake is refused for good (it would replace the published county with another)
    b = _etl(env, "--from", tmp_path / "drop2", "--warehouse", wh, "--lake", tmp_path / "lake2")
    out_b, err_b = b.communicate(timeout=60)
    assert b.returncode == 1 and f"由数据湖 {(tmp_path / 'lake1').resolve()} 构建" in out_b, (out_b, err_b)
    assert db.current_version(wh) == published and not (tmp_path / "lake2" / "manifest").exists()
    # --warehouse alone finds the lake the warehouse is built from
    c = _etl(env, "--from", tmp_path / "drop1", "--warehouse", wh)
    out_c, err_c = c.communicate(timeout=60)
    assert c.returncode == 0 and "已导入过 2" in out_c, (out_c, err_c)
    assert not (wh / "lake").exists()


def test_warehouse_option_alone_uses_the_configured_lake_for_the_configured_warehouse(tmp_path):
    env = _env(tmp_path)
    _county().write(tmp_path / "drop")
    p = _etl(env, "--warehouse", tmp_path / "wh")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, (out, err)
    assert (tmp_path / "lake" / "manifest").is_dir() and not (tmp_path / "wh" / "lake").exists()


# ------------------------------------------------------------------------------------------------ defect 9
def test_a_full_disk_leaves_no_building_file(tmp_path):
    """The build hits the file size limit (EFBIG, as ENOSPC on a full disk): the run fails saying why, leaves no
    `.building-*`, keeps the published version, and the next run publishes."""
    _county().write(tmp_path / "drop")
    _run(tmp_path)
    published = db.current_version(tmp_path / "wh")
    c = MiniCounty()
    c.event(c.grid(c.village(c.township("文兴乡"), "文兴村")), dt.datetime(2024, 4, 1, 9), event_id="E4")
    c.write(tmp_path / "drop", date="20240501")
    env = _env(tmp_path, duckdb_threads=1)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes beyond the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # parts are KBs, the build MBs

    p = _etl(env, preexec_fn=limit)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, (out, err)
    assert "无法写入数据仓库" in out and str(tmp_path / "wh" / "versions") in out
    assert not list((tmp_path / "wh" / "versions").glob(".building-*"))
    assert db.current_version(tmp_path / "wh") == published
    p = _etl(env)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, (out, err)
    assert db.current_version(tmp_path / "wh") != published


def test_a_killed_builds_file_is_removed_at_the_next_run_start(loaded):
    tmp, _ = loaded
    left = tmp / "wh" / "versions" / ".building-wh-20240101T000000-abcdef.duckdb"
    left.write_bytes(b"\0" * 100_000)
    (tmp / "wh" / "versions" / ".building-wh-20240101T000000-abcdef.duckdb.tmp").mkdir()
    assert _run(tmp).published is None  # nothing to build, and yet cleaned
    assert not list((tmp / "wh" / "versions").glob(".building-*"))


def test_unwritable_lake_or_warehouse_is_a_clear_error_naming_the_path(tmp_path):
    (tmp_path / "blocker").write_text("")
    bad = tmp_path / "blocker" / "lake"  # its parent is a file: no one (not even root) can create it
    with pytest.raises(LakeError, match=f"无法写入数据湖目录 {bad}: Not a directory"):
        with Lake(bad).lock(tmp_path / "wh"):
            pass
    with pytest.raises(LakeError, match=f"无法写入数据仓库目录 {tmp_path / 'blocker' / 'wh'}"):
        with Lake(tmp_path / "lake").lock(tmp_path / "blocker" / "wh"):
            pass
    _county().write(tmp_path / "drop")
    for lake, wh, what in ((bad, tmp_path / "wh", f"无法写入数据湖目录 {bad}"),
                           (tmp_path / "lake", tmp_path / "blocker" / "wh", "无法写入数据仓库目录")):
        logs: list[str] = []
        res = run(tmp_path / "drop", Settings().resolve(tmp_path), warehouse_dir=wh, lake_dir=lake, log=logs.append)
        assert res.status == "failed" and what in res.error, res.error
        assert not any("Traceback" in m for m in logs), logs

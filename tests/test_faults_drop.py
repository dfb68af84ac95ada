"""Fault suite, file drop: one bad delivery never stops the others, and every delivered row is accounted for.

Each case puts hostile entries beside good deliveries of a small county and runs the real ETL: the bad entry is
listed (failed with its name and reason, or ignored with the reason it is not read), the good files land and
publish, and the run's own accounting — delivered = landed + quarantined + summary rows + rows of failed files —
is printed in the summary and equals what the test wrote.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from support.county import MiniCounty

import etl.pipeline as pipeline
from core.config import Settings
from etl.pipeline import run, summary
from warehouse import db

ROOT = Path(__file__).resolve().parent.parent
LOAD_TIME = dt.datetime(2030, 1, 1)


def _county() -> MiniCounty:
    c = MiniCounty()
    t = c.township("文兴乡")
    g = c.grid(c.village(t, "文兴村"))
    a = c.account(g)
    c.event(g, dt.datetime(2024, 3, 1, 9), event_id="E1")
    c.event(g, dt.datetime(2024, 3, 2, 9), event_id="E2")
    c.active(a, 2024, 3, 5)
    return c


def _rows_written(c: MiniCounty) -> int:
    return sum(len(r) for r in c.rows.values())


def _run(tmp: Path, **kw):
    return run(tmp / "drop", Settings().resolve(tmp), warehouse_dir=tmp / "wh", lake_dir=tmp / "lake",
               load_time=LOAD_TIME, log=lambda m: None, **kw)


def _published_count(wh: Path, table: str) -> int:
    con = db.open_published(wh)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def _check_accounting(res, delivered: int) -> None:
    assert res.rows_delivered == delivered
    assert res.rows_delivered == res.rows_landed + res.rows_quarantined + res.rows_summary + res.rows_failed
    assert res.rows_in == res.rows_landed + res.rows_quarantined
    text = summary(res)
    assert (f"行数核对: 交付 {delivered} = 入库 {res.rows_landed} + 隔离 {res.rows_quarantined} "
            f"+ 合计行 {res.rows_summary} + 失败文件 {res.rows_failed}") in text


def test_hostile_entries_are_listed_and_the_good_files_publish(tmp_path):
    c = _county()
    drop = tmp_path / "drop"
    c.write(drop, fmt="csv")
    good = _rows_written(c)
    # a row that cannot be parsed (too many fields) and a blank line inside a good csv: the row is quarantined
    # with the line a person sees, the rest of the file lands
    ev = drop / "events_20240101.csv"
    lines = ev.read_text(encoding="utf-8").splitlines(keepends=True)
    ev.write_text(lines[0] + lines[1] + "\n" + "E9,1,2,3" + "," * 20 + "\n" + "".join(lines[2:]), encoding="utf-8")
    good += 1
    # a file whose name is GBK bytes (a Windows share mounted on a UTF-8 system): read, and named legibly
    gbk = MiniCounty()
    gbk.township("卧龙镇")
    gbk.rows["org_units"] = gbk.rows["org_units"][1:]  # the county row is in the first file already
    gbk.write(tmp_path / "gbk", date="20240105", fmt="csv")
    src = tmp_path / "gbk" / "org_units_20240105.csv"
    gbk_name = os.fsdecode("org_units_20240105_卧龙镇.csv".encode("gbk"))
    os.rename(src, drop / gbk_name)
    good += len(gbk.rows["org_units"])
    # hostile entries
    (drop / "events_20240102_binary.csv").write_bytes(bytes(range(256)) * 64)
    (drop / "_notes.csv").write_text("not a delivery", encoding="utf-8")
    (drop / ".hidden_20240101.csv").write_text("x", encoding="utf-8")
    os.symlink("/etc/passwd", drop / "accounts_20240103.csv")  # never followed out of the drop
    os.symlink(tmp_path / "missing.csv", drop / "accounts_20240104.csv")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", drop / "linked_folder")
    os.mkfifo(drop / "events_20240106.csv")  # reading it would block the run for ever
    (drop / "README.txt").write_text("说明", encoding="utf-8")

    res = _run(tmp_path)
    assert res.status == "partial", res.error
    assert res.published
    failed = {f["file"]: f for f in res.files_failed}
    assert set(failed) == {"events_20240102_binary.csv"}, res.files_failed
    assert failed["events_20240102_binary.csv"]["reason"]
    ignored = {f["file"]: f["reason"] for f in res.files_ignored}
    assert "投递目录之外" in ignored["accounts_20240103.csv"]
    assert "不存在" in ignored["accounts_20240104.csv"]
    assert "文件夹" in ignored["linked_folder"]
    assert "不是普通文件" in ignored["events_20240106.csv"]
    for hidden in ("_notes.csv", ".hidden_20240101.csv"):
        assert "隐藏" in ignored[hidden]
    assert "文件名不符合" in ignored["README.txt"]
    # the GBK-named file landed under its legible name
    names = {json.loads(p.read_text(encoding="utf-8"))["file"] for p in (tmp_path / "lake" / "manifest").glob("*.json")}
    assert "org_units_20240105_卧龙镇.csv" in names
    assert _published_count(tmp_path / "wh", "fact_event") == 2
    assert _published_count(tmp_path / "wh", "dim_unit") >= 4
    con = db.open_published(tmp_path / "wh")
    try:
        q = con.execute("SELECT source_file, source_row FROM quarantine WHERE source_file = 'events_20240101.csv'"
                        ).fetchall()
    finally:
        con.close()
    assert q == [("events_20240101.csv", 4)]  # header 1, E1 2, blank 3, the bad line 4
    # nothing of /etc/passwd reached the lake or the warehouse
    lake_text = b"".join(p.read_bytes() for p in (tmp_path / "lake").rglob("*") if p.is_file())
    assert b"root:x:0:0" not in lake_text
    _check_accounting(res, good)
    # the run log is valid UTF-8 JSON with the failure in it (no surrogate escapes)
    log = json.loads((tmp_path / "lake" / "runs" / f"{res.run_id}.json").read_text(encoding="utf-8"))
    assert log["status"] == "partial" and log["files_failed"][0]["file"] == "events_20240102_binary.csv"
    assert log["rows_delivered"] == good

    # the failed file is retried on the next run; once replaced by a readable file it lands and the run is ok
    os.unlink(drop / "events_20240102_binary.csv")
    os.unlink(drop / "events_20240106.csv")
    again = _run(tmp_path)
    assert again.status == "ok" and again.files_new == 0 and not again.files_failed


def test_an_unexpected_error_in_one_file_is_named_and_the_rest_lands(tmp_path, monkeypatch):
    """Whatever a reader or the normaliser raises for one file (here: an error no rule foresees), that file is
    listed as failed with its name, reason and rows, and every other file lands and publishes."""
    c = _county()
    c.write(tmp_path / "drop", fmt="json")
    real = pipeline.normalise

    def flaky(con, dataset, raw, **kw):
        if dataset == "accounts":
            raise RuntimeError("无法预料的错误")
        return real(con, dataset, raw, **kw)

    monkeypatch.setattr(pipeline, "normalise", flaky)
    res = _run(tmp_path)
    assert res.status == "partial"
    assert [f["file"] for f in res.files_failed] == ["accounts_20240101.json"]
    f = res.files_failed[0]
    assert "无法预料的错误" in f["reason"] and f["rows"] == len(c.rows["accounts"])
    assert _published_count(tmp_path / "wh", "fact_event") == 2
    _check_accounting(res, _rows_written(c))
    monkeypatch.setattr(pipeline, "normalise", real)
    again = _run(tmp_path)  # retried: lands now
    assert again.status == "ok" and again.files_new == 1
    assert _published_count(tmp_path / "wh", "dim_account") == 1


def test_summary_rows_are_counted(tmp_path):
    c = _county()
    drop = tmp_path / "drop"
    c.write(drop, fmt="csv")
    p = drop / "events_20240101.csv"
    p.write_text(p.read_text(encoding="utf-8") + "合计,2" + "," * 15 + "\n", encoding="utf-8")
    res = _run(tmp_path)
    assert res.status == "ok", res.error
    assert res.rows_summary == 1
    _check_accounting(res, _rows_written(c) + 1)


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GRIDWATCH_CONFIG"}
    return subprocess.run([sys.executable, "-m", "etl", "run", "--from", str(tmp / "drop"), "--warehouse",
                           str(tmp / "wh"), "--lake", str(tmp / "lake"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_exit_codes_say_what_happened(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "events_20240102.csv").write_bytes(b"\x00\xff" * 500)
    every = _cli(tmp_path)
    assert every.returncode == 1, every.stdout + every.stderr  # every new file failed
    assert "失败文件 events_20240102.csv" in every.stdout
    assert "Traceback" not in every.stderr
    _county().write(drop, fmt="json")
    some = _cli(tmp_path)
    assert some.returncode == 2, some.stdout + some.stderr  # some failed, the rest landed and published
    assert "部分失败" in some.stdout and "已发布" in some.stdout


def test_an_unwritable_lake_is_a_clear_error(tmp_path):
    _county().write(tmp_path / "drop", fmt="json")
    (tmp_path / "lake").write_text("a file where the lake folder should be", encoding="utf-8")
    logs: list[str] = []
    res = run(tmp_path / "drop", Settings().resolve(tmp_path), warehouse_dir=tmp_path / "wh",
              lake_dir=tmp_path / "lake", load_time=LOAD_TIME, log=logs.append)
    assert res.status == "failed"
    assert "无法写入" in res.error and str(tmp_path / "lake") in res.error
    assert not any("Traceback" in m for m in logs)

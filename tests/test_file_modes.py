"""Personal data on disk is owner-only: every folder the ETL writes is 0700 and every file 0600, whatever the umask
it was started with, and an install from before the rule is tightened on its next run."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from support.county import MiniCounty

ROOT = Path(__file__).resolve().parent.parent


def _modes(root: Path) -> list[tuple[str, int]]:
    """(path, mode) of every folder and file under root that is not owner-only."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        if stat.S_IMODE(os.lstat(dirpath).st_mode) != 0o700:
            bad.append((dirpath, stat.S_IMODE(os.lstat(dirpath).st_mode)))
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p) and stat.S_IMODE(os.lstat(p).st_mode) != 0o600:
                bad.append((p, stat.S_IMODE(os.lstat(p).st_mode)))
    return bad


def _etl(tmp: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GRIDWATCH_CONFIG"}
    return subprocess.run([sys.executable, "-m", "etl", "run", "--from", str(tmp / "drop"), "--warehouse",
                           str(tmp / "wh"), "--lake", str(tmp / "lake")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180, preexec_fn=lambda: os.umask(0o022))


def test_everything_the_etl_writes_is_owner_only(tmp_path):
    c = MiniCounty()
    t = c.township("文兴乡")
    g = c.grid(c.village(t, "文兴村"))
    a = c.account(g)
    c.report(g, "刑满释放人员", __import__("datetime").datetime(2024, 3, 5, 9))
    c.active(a, 2024, 3, 3)
    c.rows["events"].append({"event_id": "Q1"})  # a quarantined row: the quarantine part holds personal data too
    c.write(tmp_path / "drop", fmt="csv")
    p = _etl(tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    for root in (tmp_path / "lake", tmp_path / "wh"):
        assert root.is_dir()
        assert _modes(root) == [], root
    assert list((tmp_path / "lake" / "quarantine").rglob("*.parquet"))
    assert list((tmp_path / "wh").rglob("*.duckdb"))


def test_an_old_world_readable_install_is_tightened(tmp_path):
    c = MiniCounty()
    c.township("文兴乡")
    c.write(tmp_path / "drop", fmt="json")
    assert _etl(tmp_path).returncode == 0
    for dirpath, dirnames, filenames in os.walk(tmp_path / "lake"):  # as an install from before the rule left it
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)
    c.township("白云乡")
    c.write(tmp_path / "drop", date="20240102", fmt="json")
    assert _etl(tmp_path).returncode == 0
    assert _modes(tmp_path / "lake") == []

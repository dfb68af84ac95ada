"""有效活跃度 measured on the demo county's truth (demo.patterns: truth["patterns"]["gaming"] = {account: [signal]},
["gaming_months"] = {account: [YYYY-MM]}): a three-month demo loaded through the real ETL; on the last month, at
the default thresholds of [activity_quality], each signal is found with precision and recall ≥ 0.9, and no honest
account raises more than one signal. Also the CLI on it, and the effective rate never above the official one."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import Settings
from warehouse import db, metrics

ROOT = Path(__file__).resolve().parents[1]
END, MONTHS = "2024-11", 3
SIGNALS = ("login_only", "bunched", "night_batch", "same_gps", "outside_grid")


@pytest.fixture(scope="module")
def demo(pattern_demo):
    patterns, wh = pattern_demo  # tests/conftest.py: the three-month demo ending 2024-11, loaded once per run
    assert "gaming" in patterns, "the demo plays no gaming patterns"
    con = db.open_published(wh)
    yield patterns, con, wh
    con.close()


def _flagged(con, month: str) -> dict[str, set[str]]:
    df = metrics.query(con, "activity_quality/accounts", settings=Settings(),
                       **metrics.period_params(metrics.Period.parse_month(month)))
    return {a: set(s) for a, s in zip(df["account_id"], df["signals"])}


def _gamers(patterns, month: str) -> dict[str, set[str]]:
    return {a: set(s) for a, s in patterns["gaming"].items() if month in patterns["gaming_months"].get(a, [])}


@pytest.mark.parametrize("signal", SIGNALS)
def test_each_signal_precision_and_recall_on_the_last_month(demo, signal):
    patterns, con, _ = demo
    got = {a for a, s in _flagged(con, END).items() if signal in s}
    truth = {a for a, s in _gamers(patterns, END).items() if signal in s}
    assert len(truth) >= 3, "the demo plays each signal on a few accounts"
    hit = len(got & truth)
    assert hit / len(got) >= 0.9, (signal, sorted(got - truth))  # precision
    assert hit / len(truth) >= 0.9, (signal, sorted(truth - got))  # recall


def test_no_honest_account_raises_more_than_one_signal(demo):
    patterns, con, _ = demo
    gamers = _gamers(patterns, END)
    flagged = _flagged(con, END)
    assert flagged, "something is flagged"
    multi = {a: sorted(s) for a, s in flagged.items() if a not in gamers and len(s) > 1}
    assert not multi


def test_effective_rate_never_above_the_official_and_the_gamers_open_a_gap(demo):
    patterns, con, _ = demo
    units = metrics.query(con, "activity_quality/by_unit", settings=Settings(),
                          **metrics.period_params(metrics.Period.parse_month(END)))
    rated = units.dropna(subset=["official_rate"])
    assert (rated["effective_rate"] <= rated["official_rate"] + 1e-12).all()
    # the login-only gamers are officially active but not effective: some unit shows a gap
    assert (rated["gap"] > 0).any()
    assert list(rated["gap"]) == sorted(rated["gap"], reverse=True)  # ranked by the gap


def test_cli_lists_the_flagged_accounts_of_the_month(demo):
    patterns, con, wh = demo
    out = subprocess.run([sys.executable, "-m", "warehouse", "activity-quality", "--month", END, "--warehouse",
                          str(wh), "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {a["account_id"]: set(a["signals"]) for a in data["accounts"]} == _flagged(con, END)
    assert len(data["units"]) == len(metrics.query(con, "units/reporting_units", settings=Settings()))

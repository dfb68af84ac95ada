"""季度考核 and 年度总评 (warehouse/assessment.py, warehouse/sql/assessment/scores.sql) on a hand-made county loaded
through the real ETL: exact scores for a quarter, the floor grouping, movement against the previous quarter, the
weights' validation, the 年度总评, a 乡镇's scope, and the CLI (json and docx; the docx opens and renders to PDF).

The county (weights of CONFIG: 账号活跃度 30, 有效活跃度 0, 办结率 20, 按期 20, 签收 10, 采集 10, 督办 10):

2026-Q1    accounts active (of 3 months)   events (closed / on time)    sign-offs   collection   督办 answered
  宏仁      2/3                             3 reported, 3 closed, 2 on time   1/1     80/100       1 of 2
  卧龙      3/3 (巡查: effective too)        1, 1, 1                     none        150/200      none issued
  长卿      1/3                             none                        none        0/100        1 of 1
  双峰      no accounts                     none                        none        no households  —   → no score
  宏仁 = 30·2/3 + 20 + 20·2/3 + 10 + 10·0.8 + 10·0.5 = 76.33 (every base: weights as configured)
  卧龙 = (30 + 20 + 20 + 10·0.75 + 10) / 90 · 100 = 97.22 (no sign-offs: 签收's 10 shared by the others)
  长卿 = (30/3 + 0 + 10) / 50 · 100 = 40 (activity, collection, 督办 only)
2025-Q4   宏仁 active every month, the others never; no events, no reports, no collection statistics yet
  宏仁 (30 + 0 + 10) / 50 = 80, 卧龙 = 长卿 = 10 / 50 = 20 (tied 2nd)  → movement 卧龙 +1, 宏仁 −1, 长卿 −1
2026-Q2   宏仁 active in April only; nothing else happens (collection stays at the March figures)
  宏仁 (10 + 8 + 10) / 50 = 56, 卧龙 (0 + 7.5 + 10) / 50 = 35, 长卿 (0 + 0 + 10) / 50 = 20
2026 annual (mean of Q1 and Q2; Q3, Q4 without data): 宏仁 66.17, 卧龙 66.11, 长卿 30
"""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import docx
import pytest
from pydantic import ValidationError
from support.county import MiniCounty

from core.config import Settings, load_settings
from warehouse import assessment, db, fmt
from warehouse.assessment import Quarter
from warehouse.bulletin import NoData
from warehouse.bulletin_docx import docx_to_pdf, soffice
from warehouse.metrics import Scope

ROOT = Path(__file__).resolve().parent.parent
D = dt.datetime
Q1, Q4, Q2 = Quarter(2026, 1), Quarter(2025, 4), Quarter(2026, 2)
CONFIG = """
[assessment]
pass_score = 80
reward_score = 90

[assessment.weights]
activity = 30
effective = 0
completion = 20
on_time = 20
sign = 10
collection = 10
supervision = 10
"""


def build(root: Path) -> tuple[Path, dict]:
    c = MiniCounty()
    t = {n: c.township(n) for n in ("宏仁乡", "卧龙镇", "长卿镇", "双峰乡")}
    g = {"宏仁乡": c.grid(c.village(t["宏仁乡"], "宏仁村"), households=100),
         "卧龙镇": c.grid(c.village(t["卧龙镇"], "卧龙村"), households=200),
         "长卿镇": c.grid(c.village(t["长卿镇"], "长卿村"), households=100),
         "双峰乡": c.grid(c.village(t["双峰乡"], "双峰村"), households=0)}
    a = {n: c.account(g[n]) for n in ("宏仁乡", "卧龙镇", "长卿镇")}
    for y, m in ((2025, 10), (2025, 11), (2025, 12), (2026, 1), (2026, 2), (2026, 4)):
        c.active(a["宏仁乡"], y, m, 20)
    for m in (1, 2, 3):
        c.active(a["卧龙镇"], 2026, m, 20, op_type="巡查")  # substantive work: effective too
    c.active(a["长卿镇"], 2026, 1, 20)
    c.event(g["宏仁乡"], D(2026, 1, 5, 9), closed_at=D(2026, 1, 6, 9))
    c.event(g["宏仁乡"], D(2026, 1, 10, 9), closed_at=D(2026, 1, 11, 9))
    c.event(g["宏仁乡"], D(2026, 2, 1, 9), closed_at=D(2026, 2, 20, 9))  # deadline 02-08: late
    c.event(g["卧龙镇"], D(2026, 1, 8, 9), closed_at=D(2026, 1, 9, 9))
    c.report(g["宏仁乡"], "流动人口", D(2026, 1, 15, 9), police="宏仁派出所", police_signed_at=D(2026, 1, 15, 14))
    c.collection(g["宏仁乡"], dt.date(2026, 3, 28), 80)
    c.collection(g["卧龙镇"], dt.date(2026, 3, 28), 150)
    wh = c.build(root)
    con = db.open_published(wh)
    ru = dict(con.execute("SELECT short_name, ru_code FROM dim_reporting_unit").fetchall())
    con.close()
    return wh, ru


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    root = tmp_path_factory.mktemp("assessment_county")
    wh, ru = build(root)
    cfg = root / "config.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    con = db.open_published(wh)
    yield con, wh, ru, load_settings(cfg), cfg
    con.close()


def answered_for(ru: dict):
    """The 督办 ledger of the county: two 督办单 to 宏仁 in 2026-Q1 (one answered), one to 长卿 (answered)."""
    def answered(start: dt.date, end: dt.date):
        if start == Q1.start and end == Q1.end:
            return [(ru["宏仁"], 2, 1), (ru["长卿"], 1, 1)]
        return []
    return answered


def by_name(a) -> dict:
    return {u["name"]: u for u in a.units}


def test_quarter_scores_exactly(county):
    con, _, ru, s, _ = county
    a = assessment.compute(con, Q1, settings=s, answered=answered_for(ru))
    u = by_name(a)
    assert [x["name"] for x in a.units] == ["卧龙", "宏仁", "长卿", "双峰"]
    assert u["宏仁"]["score"] == pytest.approx(30 * 2 / 3 + 20 + 20 * 2 / 3 + 10 + 8 + 5)
    assert u["卧龙"]["score"] == pytest.approx((30 + 20 + 20 + 7.5 + 10) / 90 * 100)
    assert u["长卿"]["score"] == pytest.approx(40)
    assert u["双峰"]["score"] is None and u["双峰"]["rank"] is None and u["双峰"]["grade"] is None
    assert [u[n]["rank"] for n in ("卧龙", "宏仁", "长卿")] == [1, 2, 3]
    # the rates from the monthly macros summed over the months
    h = u["宏仁"]
    assert (h["account_months"], h["active_months"], h["activity_rate"]) == (3, 2, pytest.approx(2 / 3))
    assert (h["events_reported"], h["events_closed"], h["closed_on_time"]) == (3, 3, 2)
    assert (h["completion_rate"], h["on_time_rate"], h["sign_rate"]) == (1, pytest.approx(2 / 3), 1)
    assert (h["households"], h["collected"], h["collection_rate"]) == (100, 80, 0.8)
    assert (h["supervision_issued"], h["supervision_answered"], h["supervision_rate"]) == (2, 1, 0.5)
    # the points add up to the score; a weight without a base is shared by the unit's other indicators
    w = u["卧龙"]
    assert w["sign_rate"] is None and w["score_sign"] is None and w["weight_sign"] == 0
    assert w["weight_activity"] == pytest.approx(30 / 0.9) and w["score_activity"] == pytest.approx(30 / 0.9)
    assert w["supervision_issued"] == 0 and w["score_supervision"] == pytest.approx(10 / 0.9)  # none issued: full
    for x in a.scored:
        parts = [x[f"score_{k}"] for k, _ in assessment.INDICATORS if x[f"score_{k}"] is not None]
        assert sum(parts) == pytest.approx(x["score"])
        assert sum(x[f"weight_{k}"] for k, _ in assessment.INDICATORS) == pytest.approx(100)
    assert a.connected == {"effective": True, "supervision": True}
    # 有效活跃度 (weight 0 here): 卧龙's days are 巡查, 宏仁's and 长卿's logins only
    assert (w["effective_rate"], h["effective_rate"], u["长卿"]["effective_rate"]) == (1, 0, 0)
    assert w["score_effective"] == 0 and w["weight_effective"] == 0


def test_floor_grouping_and_thresholds(county):
    con, _, ru, s, _ = county
    a = assessment.compute(con, Q1, settings=s, answered=answered_for(ru))
    assert a.to_dict()["groups"] == {"优秀": ["卧龙"], "达标": [], "不达标": ["宏仁", "长卿"]}
    low = s.model_copy(update={"assessment": s.assessment.model_copy(update={"pass_score": 70})})
    a = assessment.compute(con, Q1, settings=low, answered=answered_for(ru))
    assert a.to_dict()["groups"] == {"优秀": ["卧龙"], "达标": ["宏仁"], "不达标": ["长卿"]}


def test_movement_against_the_previous_quarter(county):
    con, _, ru, s, _ = county
    prev = by_name(assessment.compute(con, Q4, settings=s, answered=answered_for(ru)))
    assert (prev["宏仁"]["score"], prev["卧龙"]["score"], prev["长卿"]["score"]) == \
        (pytest.approx(80), pytest.approx(20), pytest.approx(20))
    assert (prev["宏仁"]["rank"], prev["卧龙"]["rank"], prev["长卿"]["rank"]) == (1, 2, 2)  # ties share a rank
    u = by_name(assessment.compute(con, Q1, settings=s, answered=answered_for(ru)))
    assert {n: (u[n]["prev_rank"], u[n]["movement"]) for n in ("卧龙", "宏仁", "长卿")} == \
        {"卧龙": (2, 1), "宏仁": (1, -1), "长卿": (2, -1)}
    assert u["宏仁"]["prev_score"] == pytest.approx(80)
    assert [fmt.movement(u[n]["movement"]) for n in ("卧龙", "宏仁", "双峰")] == ["↑1", "↓1", "—"]
    # 2025-Q4 has no quarter before it in the warehouse: no movement
    assert {x["movement"] for x in assessment.compute(con, Q4, settings=s).units} == {None}


def test_township_sees_its_own_row_with_its_county_rank(county):
    con, _, ru, s, _ = county
    town = con.execute("SELECT township_code FROM dim_reporting_unit WHERE short_name = '宏仁'").fetchone()[0]
    a = assessment.compute(con, Q1, Scope(township_code=town, label="宏仁乡"), settings=s,
                           answered=answered_for(ru))
    assert [(x["name"], x["rank"], x["movement"]) for x in a.units] == [("宏仁", 2, -1)]
    assert a.area == "宏仁乡" and a.title == "2026年第一季度宏仁乡网格化服务管理工作考核情况通报"


def test_default_weights_with_effective_activity(county):
    """The documented weights; 有效活跃度 from activity_quality/by_unit (login-only days are not effective)."""
    con, _, ru, _, _ = county
    a = assessment.compute(con, Q1, settings=Settings(), answered=answered_for(ru))
    u = by_name(a)
    assert a.connected["effective"] is True
    assert (u["宏仁"]["effective_account_months"], u["宏仁"]["effective_active_months"]) == (3, 0)
    assert (u["卧龙"]["effective_account_months"], u["卧龙"]["effective_active_months"]) == (3, 3)
    assert u["宏仁"]["score"] == pytest.approx(20 * 2 / 3 + 0 + 20 + 15 * 2 / 3 + 10 + 10 * 0.8 + 10 * 0.5)
    assert u["卧龙"]["score"] == pytest.approx((20 + 15 + 20 + 15 + 7.5 + 10) / 90 * 100)  # no sign-offs


def test_an_unconnected_effective_activity_gives_its_weight_away(county):
    con, _, ru, _, _ = county
    s = Settings.model_validate({"assessment": {"effective_query": "activity_quality/not_there"}})
    a = assessment.compute(con, Q1, settings=s, answered=answered_for(ru))
    h = by_name(a)["宏仁"]
    assert a.connected["effective"] is False and h["score_effective"] is None and h["effective_rate"] is None
    # 20 + 20 + 15 + 10 + 10 + 10 = 85 counted, rescaled to 100
    assert h["weight_activity"] == pytest.approx(20 / 0.85)
    assert h["score"] == pytest.approx((20 * 2 / 3 + 20 + 15 * 2 / 3 + 10 + 10 * 0.8 + 10 * 0.5) / 85 * 100)


def test_year_is_the_mean_of_the_quarters(county):
    con, _, ru, s, _ = county
    q2 = by_name(assessment.compute(con, Q2, settings=s, answered=answered_for(ru)))
    assert (q2["宏仁"]["score"], q2["卧龙"]["score"], q2["长卿"]["score"]) == \
        (pytest.approx(56), pytest.approx(35), pytest.approx(20))
    y = assessment.compute_year(con, 2026, settings=s, answered=answered_for(ru))
    assert [q.quarter.key for q in y.quarters] == ["2026-Q1", "2026-Q2"]
    assert y.missing_quarters == ["2026-Q3", "2026-Q4"]
    u = {x["name"]: x for x in y.units}
    assert [x["name"] for x in y.units] == ["宏仁", "卧龙", "长卿", "双峰"]
    assert u["宏仁"]["score"] == pytest.approx((30 * 2 / 3 + 20 + 20 * 2 / 3 + 10 + 8 + 5 + 56) / 2)
    assert u["卧龙"]["score"] == pytest.approx(((30 + 20 + 20 + 7.5 + 10) / 90 * 100 + 35) / 2)
    assert u["长卿"]["score"] == pytest.approx(30)
    assert [u[n]["rank"] for n in ("宏仁", "卧龙", "长卿")] == [1, 2, 3] and u["双峰"]["rank"] is None
    assert u["宏仁"]["quarterly"]["2026-Q1"] == {"score": pytest.approx(76.3333, abs=1e-3), "rank": 2}
    assert y.to_dict()["groups"]["不达标"] == ["宏仁", "卧龙", "长卿"]
    with pytest.raises(NoData):
        assessment.compute_year(con, 2024, settings=s)


def test_weights_are_validated():
    assert sum(Settings().assessment.weights.model_dump().values()) == 100
    assert load_settings(ROOT / "config.toml").assessment == Settings().assessment  # documented defaults
    with pytest.raises(ValidationError, match="权重之和应为 100"):
        Settings.model_validate({"assessment": {"weights": {"activity": 30}}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"assessment": {"weights": {"activity": -5, "effective": 40}}})
    with pytest.raises(ValidationError, match="reward_score"):
        Settings.model_validate({"assessment": {"pass_score": 80, "reward_score": 70}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"assessment": {"weights": {"speed": 10}}})
    ok = Settings.model_validate({"assessment": {"weights": {"activity": 35, "effective": 0}}})
    assert ok.assessment.weights.activity == 35


def test_quarter_parsing():
    assert Quarter.parse("2026-Q1") == Quarter(2026, 1) and Quarter.parse("2026q4") == Quarter(2026, 4)
    assert (Q4.start, Q4.end, Q4.label) == (dt.date(2025, 10, 1), dt.date(2026, 1, 1), "2025年第四季度")
    assert Q1.prev() == Q4 and [m.key for m in Q1.months()] == ["2026-01", "2026-02", "2026-03"]
    with pytest.raises(ValueError):
        Quarter.parse("2026-Q5")


def _cli(cfg: Path, wh: Path, cwd: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "warehouse", "--config", str(cfg), "assessment", *args,
                           "--warehouse", str(wh)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_cli_json_and_docx(county, tmp_path):
    con, wh, _, s, cfg = county
    p = _cli(cfg, wh, tmp_path, "--quarter", "2026-Q1", "--format", "json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out == json.loads(assessment.render_json(assessment.compute(con, Q1, settings=s)))
    assert [(u["name"], u["rank"]) for u in out["units"]] == [("卧龙", 1), ("宏仁", 2), ("长卿", 3), ("双峰", None)]
    assert [i["key"] for i in out["indicators"]] == [k for k, _ in assessment.INDICATORS]

    p = _cli(cfg, wh, tmp_path, "--quarter", "2026-Q1", "--format", "docx")
    assert p.returncode == 0, p.stderr
    path = tmp_path / "2026年第一季度全县网格化服务管理工作考核情况通报.docx"
    d = docx.Document(io.BytesIO(path.read_bytes()))
    texts = [x.text for x in d.paragraphs]
    assert texts[0] == "2026年第一季度全县网格化服务管理工作考核情况通报"
    assert "（一）奖励名单（90分及以上）：卧龙镇。" in texts
    # no 督办 ledger in the CLI's process: none issued, 宏仁 earns the full 10 (81.3: 达标)
    assert "（二）达标单位（80分至90分）：宏仁乡。" in texts
    assert "（三）不达标单位（低于80分，列入问责名单）：长卿镇。" in texts
    assert any("较上季度名次上升的有卧龙（上升1位）" in x for x in texts)
    ranking = [[c.text for c in row.cells] for row in d.tables[0].rows]
    assert ranking[0] == ["名次", "单位", "总分", "等次", "上季度得分", "上季度名次", "名次变化"]
    assert ranking[1] == ["1", "卧龙", "97.2", "优秀", "20.0", "2", "↑1"]
    assert ranking[2] == ["2", "宏仁", fmt.score(by_name(assessment.compute(con, Q1, settings=s))["宏仁"]["score"]),
                          "达标", "80.0", "1", "↓1"]
    assert ranking[4][:4] == ["—", "双峰", "—", "—"]

    p = _cli(cfg, wh, tmp_path, "--year", "2026", "--format", "docx", "--out", str(tmp_path / "year.docx"))
    assert p.returncode == 0, p.stderr
    y = docx.Document(str(tmp_path / "year.docx"))
    assert y.paragraphs[0].text == "2026年度全县网格化服务管理工作考核总评"
    assert [c.text for c in y.tables[0].rows[0].cells] == ["名次", "单位", "一季度", "二季度", "年度得分", "等次"]
    assert [c.text for c in y.tables[0].rows[3].cells] == ["3", "长卿", "40.0", "20.0", "30.0", "不达标"]

    p = _cli(cfg, wh, tmp_path, "--quarter", "2024-Q1", "--format", "json")
    assert p.returncode == 2 and "没有 2024-Q1" in p.stderr and not p.stdout
    p = _cli(cfg, wh, tmp_path, "--quarter", "2026-Q7")
    assert p.returncode == 2 and "YYYY-Qn" in p.stderr

    if not soffice():
        pytest.skip("LibreOffice not installed")
    pdf = tmp_path / "q1.pdf"
    pdf.write_bytes(docx_to_pdf(path.read_bytes()))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = "".join(text.split())
    assert "2026年第一季度全县网格化服务管理工作考核情况通报" in flat and "1卧龙97.2优秀20.02↑1" in flat
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "CJK" in fonts


def test_answered_supervision_from_the_ledger(county, tmp_path):
    """督办答复率 from warehouse.supervision (the 预警与督办 ledger): a 督办单 to 宏仁 on 2026-02-10 for its event late
    since 02-08, closed on 02-20 — after the order's deadline (answer_days = 7): issued 1, answered 0."""
    supervision = pytest.importorskip("warehouse.supervision")
    from warehouse import warnings

    con, _, ru, s, _ = county
    s = s.model_copy(update={"paths": s.paths.model_copy(update={"data_dir": tmp_path})})
    store = supervision.Store.from_settings(s)
    town = con.execute("SELECT township_code FROM dim_reporting_unit WHERE short_name = '宏仁'").fetchone()[0]
    w = warnings.Warning("橙", "silent_unit", "unit", town, "宏仁乡", dt.date(2026, 2, 10), "宏仁乡 测试",
                         ru_code=ru["宏仁"], township_code=town)
    o = store.issue(con, w, "admin", Scope(personal="masked"), as_of=dt.date(2026, 2, 10),
                    issued=dt.datetime(2026, 2, 10, 9), settings=s)
    assert len(o.items) == 1
    u = by_name(assessment.compute(con, Q1, settings=s))  # the default source: the configured ledger
    assert (u["宏仁"]["supervision_issued"], u["宏仁"]["supervision_answered"]) == (1, 0)
    assert u["宏仁"]["score_supervision"] == 0
    assert u["宏仁"]["score"] == pytest.approx(30 * 2 / 3 + 20 + 20 * 2 / 3 + 10 + 8 + 0)
    assert (u["卧龙"]["supervision_issued"], u["卧龙"]["score_supervision"]) == (0, pytest.approx(10 / 0.9))


def test_a_running_quarter_is_measured_as_of_now(county):
    """2026-Q1 seen on 2026-02-10: March is left out, February is measured at the 10th (m_active_min: the share
    of min_active_days its days so far need), January is whole."""
    con, _, ru, s, _ = county
    a = assessment.compute(con, Q1, settings=s, answered=answered_for(ru), now=D(2026, 2, 10, 12))
    assert a.as_of == D(2026, 2, 10, 12) and a.to_dict()["as_of"] == "2026-02-10 12:00"
    u = by_name(a)
    assert (u["宏仁"]["account_months"], u["宏仁"]["active_months"]) == (2, 2)
    assert (u["长卿"]["account_months"], u["长卿"]["active_months"]) == (2, 1)
    assert assessment.compute(con, Q1, settings=s, now=D(2026, 4, 1)).as_of is None

"""`python -m perf sidebyside`: a tiny real run (two hand-built counties of tests/support/city.py as csv, the DuckDB
engine — tests/test_spark_build.py covers Spark's equality — and a two-user websocket load test), its table has
every section and its figures are the JSON's; the growth and the province plan's arithmetic on given figures."""
from __future__ import annotations

import json
import math

import pytest

from perf import sidebyside

pytestmark = pytest.mark.browser


def _drop(root):
    from support.city import city_county

    data = root / "city"
    rows = []
    for i in range(2):
        c = city_county(i)
        c.write(data / f"county{i:02d}", date="20240401", fmt="csv", suffix=f"_c{i}")
        rows.append(sum(len(r) for r in c.rows.values()))
    return data, rows


def test_a_tiny_side_by_side_run_reports_every_section_as_its_json(tmp_path):
    from support.server import require_chromium

    require_chromium()
    data, rows = _drop(tmp_path)
    out = tmp_path / "res.json"
    res = sidebyside.run([1, 2], 1, engines=("duckdb",), users=2, wall_refresh=2, data=data,
                         work=tmp_path / "w", out=out, log=print)
    assert json.loads(out.read_text(encoding="utf-8"))["growth"] == json.loads(json.dumps(res["growth"]))
    text = sidebyside.table(res)
    pos = [text.index(s) for s in sidebyside.SECTIONS]
    assert pos == sorted(pos)
    s1, s2 = res["scales"]["1"], res["scales"]["2"]
    # the drop of one county is the first county alone: every delivered row of it counted, then both
    assert s1["ingest"]["rows_in"] == rows[0] and s2["ingest"]["rows_in"] == rows[0] + rows[1]
    assert f"| 入库行数 | {rows[0]:,} | {rows[0] + rows[1]:,} |" in text
    b1, b2 = s1["build"]["duckdb"]["seconds"], s2["build"]["duckdb"]["seconds"]
    assert f"| duckdb 全量构建 (秒) | {b1:,.2f} | {b2:,.2f} |" in text
    assert s1["build"]["duckdb"]["peak_rss_tree_mb"] >= s1["build"]["duckdb"]["peak_rss_mb"] > 0
    # the daily run: a day's delivery landed and built incrementally, against a full rebuild after it
    for s in (s1, s2):
        assert s["daily_after"]["rows_in"] > 0 and s["daily_before"]["seconds"] > 0
        assert s["daily_before"]["version"] != s["build"]["duckdb"]["version"]
        # the day's tables replaced in a copy of the previous version (never a full build measured as "after")
        assert s["daily_after"]["tables"]["mode"] == "incremental", s["daily_after"]["tables"]
    assert "| 之后: 表的构建 (incremental: 只替换变动的日/月) | incremental | incremental |" in text
    assert (f"| 之后: 增量运行, 构建+发布 (秒) | {s1['daily_after']['build_publish_s']:,.2f} | "
            f"{s2['daily_after']['build_publish_s']:,.2f} |") in text
    r = [round(s["ingest"]["rows_per_s"] / s["lower_bound"]["rows_per_s"], 2) for s in (s1, s2)]
    assert f"| 入库 ÷ 上限 | {r[0]:,.2f} | {r[1]:,.2f} |" in text
    lt = res["loadtest"]
    assert lt["errors"] == [] and lt["sessions"] == 2 and lt["clients"] == "websocket"
    g = lt["wall_gap_while_busy"]
    assert f"| 大屏间隔, 用户操作中 | {g['n']} | {sidebyside._f(g['p50_s'])} |" in text
    slope = res["growth"]["slope"]["duckdb"]
    assert slope["s_per_added_county"] == round(b2 - b1, 3)
    assert f"| duckdb | {slope['s_per_added_county']:,.2f} |" in text
    p = res["plan"]
    assert p["partitions"]["count"] == 183 * 14 and "| 分区 | 2562 (县 × 月) |" in text
    act = s2["ingest"]["datasets"]["activity_log"]["rows_in"]
    assert p["scale_factor"] == round(850_000_000 / act, 1)


def _scale(rows: int, act: int, duck: float, spark: float) -> dict:
    b = {"seconds": duck, "peak_rss_tree_mb": 100.0, "peak_rss_mb": 90.0}
    return {"ingest": {"rows_in": rows, "rows_per_s": 1000, "seconds": 1.0, "landed_parquet_bytes": 10 * 2**20,
                       "datasets": {"activity_log": {"rows_in": act}}},
            "lower_bound": {"rows_per_s": 4000},
            "build": {"duckdb": b, "spark": dict(b, seconds=spark)},
            "spark_equals_duckdb": {"tables": 40, "differing": {}},
            "daily_after": {"rows_in": 10, "build_publish_s": 0.5, "seconds": 1.0, "build_steps_s": {"staging": .1}},
            "daily_before": {"seconds": 5.0, "steps_s": {"staging": 2.0}}}


def test_the_growth_and_the_plan_follow_from_the_figures():
    res = {"months": 1, "engines": ["duckdb", "spark"], "master": "local[*]",
           "machine": {"cores": 2, "loadavg": [1, 1, 1], "loadavg_end": [1, 1, 1]},
           "scales": {"1": _scale(1_000_000, 850_000, 10.0, 40.0), "10": _scale(10_000_000, 8_500_000, 55.0, 130.0)}}
    res["growth"] = sidebyside.growth(res)
    res["plan"] = sidebyside.plan(res)
    sp = res["growth"]["slope"]["spark"]
    assert sp["s_per_added_county"] == 10.0 and sp["s_per_million_rows"] == 10.0 and sp["fixed_s"] == 30.0
    assert res["growth"]["slope"]["duckdb"]["time_ratio_over_rows_ratio"] == 0.55
    p = res["plan"]
    assert p["scale_factor"] == 100.0 and p["province_rows"] == 1_000_000_000
    # the slope: 10 s per million rows on 2 cores, 20 core-seconds; 1000 M rows in an hour: 5.6 → 6 cores, 2 executors
    s = p["spark"]
    assert s["basis"] == "slope" and s["core_s_per_million_rows"] == 20.0
    assert s["cores_needed"] == math.ceil(20 * 1000 / 3600) == 6
    assert s["executors"] == 2 and s["executor_memory_gb"] == 3
    assert p["province_landed_gb"] == round(10 * 100 / 1024, 1)
    # without a growth (one scale measured): the whole build's seconds, 13 s per million rows, 26 core-seconds
    one = dict(res, scales={"10": res["scales"]["10"]})
    one["growth"] = sidebyside.growth(one)
    assert sidebyside.plan(one)["spark"]["core_s_per_million_rows"] == 26.0
    text = sidebyside.table(res)
    assert all(h in text for h in sidebyside.SECTIONS)
    assert "| spark ÷ duckdb (时间) | 4.00 | 2.36 |" in text and "全部 40 表相同" in text
    assert "| executor | 2 个 × 4 核 × 3 GB |" in text and "| 一小时全量重建所需核数 | 6 |" in text

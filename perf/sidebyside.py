"""Side by side in one run: `python -m perf sidebyside [--counties 1,3,10] [--months M] [--engines duckdb,spark]
[--users N] [--build-runs R] [--out results.json] [--data DIR] [--work DIR]`.

For each county count N (the first N demo counties of one demo city, demo.generate_city; generated once for the
largest N, or reused with --data) and each phase in a fresh process (perf/bench.py's phase functions):

1. ingest: `etl run` over the drop (land, build, publish), rows/s end to end ÷ the DuckDB csv→Parquet bound;
2. full build of the landed lake with each engine (`build_and_publish(..., rebuild=True, engine=…)`, what
   `python -m warehouse build --engine …` runs), seconds and the peak resident memory of the whole process tree
   (the Spark JVM included, sampled from /proc); the Spark version compared with DuckDB's table by table,
   `EXCEPT ALL` both ways;
3. the daily run before/after: one small day's delivery (bench.phase_increment: the incremental staging of
   warehouse/staged.py) against a full rebuild of the same lake (what every daily run did before);
4. the load test by websocket clients with the wall's refresh gaps (perf/loadtest.py) on the largest N;

then the growth from the smallest to the largest N (rows, build seconds per engine, seconds per added county) and
the province plan extrapolated from it (PROVINCE). Prints one markdown table and writes JSON.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import threading
import time
from pathlib import Path

from etl.procs import run_in_process as _in_process
from perf import bench, timing

ENGINES = ("duckdb", "spark")
# the province the plan is for (issue 17): Sichuan, 183 counties, ~850 M activity rows in 14 months
PROVINCE = {"counties": 183, "months": 14, "activity_rows": 850_000_000}
PLAN = {
    "full_build_target_s": 3600,   # a full rebuild of the province within an hour (the nightly window)
    "executor_cores": 4,           # a common executor shape: 4 cores …
    "partition_mb": 128,           # … reading ~128 MB Parquet partitions (Spark's default maxPartitionBytes)
    "memory_headroom": 3.0,        # executor memory ≥ 3× (cores × partition, decompressed ~3× the Parquet)
}
SECTIONS = ("## 1. 全量构建: DuckDB 与 Spark (local)", "## 2. 日常运行: 之前 (全量重建) 与 之后 (增量)",
            "## 3. 入库 ÷ 上限", "## 4. 负载测试 (websocket 客户端) 与大屏刷新间隔",
            "## 5. 增长: 1 → N 个县", "## 6. 省级部署方案 (外推)")


# ------------------------------------------------------------------------------------------------ memory
def _tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants (MB, /proc)."""
    kids: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            f = (d / "stat").read_text().rsplit(")", 1)[1].split()
            kids.setdefault(int(f[1]), []).append(int(d.name))
            rss[int(d.name)] = int(f[21])
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += kids.get(p, [])
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


class _PeakTree:
    """The peak of _tree_rss_mb(this process) while the block runs, sampled every half second."""

    def __enter__(self):
        self.peak, self._stop = 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, _tree_rss_mb(os.getpid()))

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        # a peak between two samples: this process's own (getrusage) is a lower bound of the tree's
        self.peak = round(max(self.peak, _tree_rss_mb(os.getpid()), timing.peak_rss_mb()), 1)


# ------------------------------------------------------------------------------------------------ phases
def phase_full_build(wh: str, engine: str, master: str) -> dict:
    """A full rebuild of the warehouse's lake by `engine`, published (the staged state not used)."""
    from core.config import load_settings
    from etl.lake import Lake, bound_lake
    from warehouse.build import build_and_publish

    settings = load_settings()
    lake = Lake(bound_lake(Path(wh)))
    stats: dict = {}
    with _PeakTree() as mem:
        t = time.perf_counter()
        with lake.lock(Path(wh)):
            published = build_and_publish(lake, Path(wh), settings, stats=stats, engine=engine, master=master,
                                          rebuild=True)
        s = time.perf_counter() - t
        if engine == "spark":
            from warehouse import spark_build

            spark_build.stop_sessions()
    return {"engine": engine, "seconds": round(s, 2), "version": str(published), "steps_s": stats.get("build"),
            "peak_rss_tree_mb": mem.peak, "peak_rss_mb": timing.peak_rss_mb()}


def phase_compare(a: str, b: str) -> dict:
    """Every table of version a against version b: rows of each missing from the other (EXCEPT ALL both ways)."""
    import duckdb

    con = duckdb.connect()
    con.execute("ATTACH $p AS a (READ_ONLY)", {"p": a})
    con.execute("ATTACH $p AS b (READ_ONLY)", {"p": b})
    names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = 'a' "
                                       "AND table_type = 'BASE TABLE' AND table_name NOT IN ('meta') "
                                       "ORDER BY 1").fetchall()]
    differing = {}
    for t in names:
        try:
            ab = con.execute(f'SELECT count(*) FROM (FROM a."{t}" EXCEPT ALL FROM b."{t}")').fetchone()[0]
            ba = con.execute(f'SELECT count(*) FROM (FROM b."{t}" EXCEPT ALL FROM a."{t}")').fetchone()[0]
        except duckdb.Error as exc:
            differing[t] = str(exc).splitlines()[0]
            continue
        if ab or ba:
            differing[t] = [ab, ba]
    con.close()
    return {"tables": len(names), "differing": differing}


def phase_loadtest(wh: str, users: int, rounds: int, wall_refresh: float, level: str = "county") -> dict:
    from perf import loadtest

    return loadtest.run(Path(wh), sessions=users, rounds=rounds, wall_refresh=wall_refresh, clients="websocket",
                        pin=True, level=level)


def _subset(data: Path, n: int, work: Path) -> Path:
    """The drop of the first n counties of a generated city: hard links to its files (no copy)."""
    counties = bench.drops(data)
    if n > len(counties):
        raise ValueError(f"{data} holds {len(counties)} counties, not {n}")
    if n == len(counties):
        return data
    out = work / f"drop-{n}"
    shutil.rmtree(out, ignore_errors=True)
    for c in counties[:n]:
        shutil.copytree(c, out / c.name, copy_function=os.link)
    return out


# ------------------------------------------------------------------------------------------------ run
def run(counties: list[int], months: int = 1, *, engines: tuple[str, ...] = ENGINES, users: int = 3,
        rounds: int = 1, wall_refresh: float = 5, master: str = "local[*]", data: Path | None = None,
        work: Path | None = None, out: Path | None = None, loadtest: bool = True, build_runs: int = 1,
        log=print) -> dict:
    counties = sorted(set(counties))
    t0 = time.perf_counter()
    say = log
    log = lambda m: say(f"{time.perf_counter() - t0:7.1f} s {m}")  # noqa: E731
    work = Path(work or Path(os.environ.get("TMPDIR", "/tmp")) / "gridwatch-sidebyside")
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"counties": counties, "months": months, "engines": list(engines), "master": master,
                 "started_at": dt.datetime.now().isoformat(timespec="seconds"), "machine": bench.machine(),
                 "province": PROVINCE, "plan_assumptions": PLAN, "scales": {}}
    if data is None:
        data = work / "data"
        shutil.rmtree(data, ignore_errors=True)
        log(f"[sidebyside] generating {counties[-1]} demo counties × {months} months → {data}")
        # counties=2 makes generate_city write county00/…: the layout _subset expects, also for n = 1
        g = _in_process(bench.phase_generate, str(data), months, max(counties[-1], 2))
        res["generate"] = g
    else:
        res["generate"] = {"note": f"reused {data}"}
    for n in counties:
        log(f"[sidebyside] {n} counties")
        # several counties are a city deployment (a prefecture's lake: activity placed by its accounts' counties,
        # the 全市 tables); one county is a county deployment. Every phase of the scale runs in a fresh process
        # that reads this configuration.
        os.environ["GRIDWATCH_CONFIG"] = str(_config(work, "city" if n > 1 else "county"))
        drop, wh = _subset(Path(data), n, work), work / f"wh-{n}"
        sc: dict = {}
        sc["ingest"] = _in_process(bench.phase_ingest_ours, str(drop), str(wh))
        sc["lower_bound"] = _in_process(bench.phase_lower_bound, str(drop), str(work / "lb"))
        shutil.rmtree(work / "lb", ignore_errors=True)
        log(f"[sidebyside]   ingest {sc['ingest']['seconds']} s, {sc['ingest']['rows_in']} rows")
        sc["build"] = {}
        # Spark first: the version published last is DuckDB's, with the build record the daily run reuses it by (a
        # version Spark built has none: the next DuckDB run would build every table, not the day's)
        for e in sorted(engines, key=lambda e: e != "spark"):
            try:  # DuckDB: the fastest of build_runs (other work on the machine only ever slows a run down)
                tries = [_in_process(phase_full_build, str(wh), e, master)
                         for _ in range(build_runs if e == "duckdb" else 1)]
                sc["build"][e] = dict(min(tries, key=lambda b: b["seconds"]), runs_s=[b["seconds"] for b in tries])
            except Exception as exc:  # noqa: BLE001 — one engine failing must not lose the other figures
                sc["build"][e] = {"engine": e, "seconds": None, "peak_rss_tree_mb": None, "error": repr(exc)}
            log(f"[sidebyside]   full build {e}: {sc['build'][e]['seconds']} s")
        if all(sc["build"].get(e, {}).get("seconds") for e in ENGINES):
            sc["spark_equals_duckdb"] = _in_process(phase_compare, sc["build"]["duckdb"]["version"],
                                                    sc["build"]["spark"]["version"])
        sc["daily_after"] = _in_process(bench.phase_increment, str(wh), str(work / f"inc-{n}"))
        log(f"[sidebyside]   daily run (incremental) {sc['daily_after']['build_publish_s']} s build")
        sc["daily_before"] = _in_process(phase_full_build, str(wh), "duckdb", master)
        log(f"[sidebyside]   daily run (full rebuild) {sc['daily_before']['seconds']} s")
        if n != counties[-1]:
            shutil.rmtree(wh, ignore_errors=True)
        res["scales"][str(n)] = sc
        if out:  # a long run stopped half-way keeps the scales it measured
            _write(res, Path(out))
    if loadtest:
        big = work / f"wh-{counties[-1]}"
        log(f"[sidebyside] load test: {users} websocket users × {rounds} rounds on {counties[-1]} counties")
        res["loadtest"] = _in_process(phase_loadtest, str(big), users, rounds, wall_refresh,
                                      "city" if counties[-1] > 1 else "county")
        res["loadtest"]["counties"] = counties[-1]
        log(f"[sidebyside]   {res['loadtest']['busy_s']:.0f} s busy")
    res["growth"] = growth(res)
    res["plan"] = plan(res)
    res["finished_at"] = dt.datetime.now().isoformat(timespec="seconds")
    res["machine"]["loadavg_end"] = timing.loadavg()
    if out:
        _write(res, Path(out))
    say(table(res))
    return res


def _config(work: Path, level: str) -> Path:
    """A configuration of the defaults but the deployment level (what a county or a prefecture would run)."""
    p = work / f"config-{level}.toml"
    p.write_text(f'[deployment]\nlevel = "{level}"\n', encoding="utf-8")
    return p


def _write(res: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


# ------------------------------------------------------------------------------------------------ figures
def _activity_rows(sc: dict) -> int:
    return (sc["ingest"]["datasets"].get("activity_log") or {}).get("rows_in", 0)


def growth(res: dict) -> dict:
    """Per county count: rows and build seconds per engine; between the smallest and the largest count the
    seconds per added county and per million rows (the slope the plan extrapolates with)."""
    ns = sorted(int(n) for n in res["scales"])
    rows = {}
    for n in ns:
        sc = res["scales"][str(n)]
        rows[str(n)] = {"rows_in": sc["ingest"]["rows_in"], "activity_rows": _activity_rows(sc),
                        "build_s": {e: b["seconds"] for e, b in sc["build"].items()}}
    g: dict = {"by_counties": rows, "slope": {}}
    lo, hi = ns[0], ns[-1]
    if hi > lo:
        a, b = rows[str(lo)], rows[str(hi)]
        for e in b["build_s"]:
            if not (a["build_s"].get(e) and b["build_s"][e]):
                continue
            ds = b["build_s"][e] - a["build_s"][e]
            dr = b["rows_in"] - a["rows_in"]
            g["slope"][e] = {"s_per_added_county": round(ds / (hi - lo), 3),
                             "s_per_million_rows": round(ds / dr * 1e6, 3) if dr else None,
                             "fixed_s": round(a["build_s"][e] - ds / dr * a["rows_in"], 2) if dr else None,
                             # time ratio ÷ rows ratio: 1 = linear, < 1 = fixed costs amortised
                             "time_ratio_over_rows_ratio": round((b["build_s"][e] / a["build_s"][e])
                                                                 / (b["rows_in"] / a["rows_in"]), 3)}
        g["rows_per_added_county"] = round((b["rows_in"] - a["rows_in"]) / (hi - lo))
    return g


def plan(res: dict) -> dict:
    """The province plan from the largest measured scale: rows scaled by activity rows, Spark's core-seconds per
    million rows (local mode: its cores are the machine's), executors for PLAN's target."""
    ns = sorted(int(n) for n in res["scales"])
    hi = res["scales"][str(ns[-1])]
    act, rows = _activity_rows(hi), hi["ingest"]["rows_in"]
    factor = PROVINCE["activity_rows"] / act if act else None
    p: dict = {"measured_counties": ns[-1], "measured_months": res["months"], "measured_rows": rows,
               "measured_activity_rows": act, "scale_factor": round(factor, 1) if factor else None,
               "province_rows": round(rows * factor) if factor else None,
               "partitions": {"by": ["county_code", "month"],
                              "count": PROVINCE["counties"] * PROVINCE["months"]}}
    landed = hi["ingest"].get("landed_parquet_bytes") or 0
    if factor and landed:
        p["province_landed_gb"] = round(landed * factor / 2**30, 1)
        p["mb_per_partition"] = round(landed * factor / 2**20 / p["partitions"]["count"], 1)
    cores = res["machine"].get("cores") or timing.cores()
    sp = hi["build"].get("spark")
    if sp and sp["seconds"] and factor:
        # the marginal cost (the growth's slope: fixed costs such as the JVM's start left out) when measured and
        # positive, else the whole build's seconds over its rows (an upper bound)
        slope = (res.get("growth") or {}).get("slope", {}).get("spark", {}).get("s_per_million_rows")
        basis = "slope" if slope and slope > 0 else "whole_build"
        per_mrow = slope if basis == "slope" else sp["seconds"] / (rows / 1e6)
        core_s = per_mrow * cores
        need = core_s * p["province_rows"] / 1e6 / PLAN["full_build_target_s"]
        ex = max(1, math.ceil(need / PLAN["executor_cores"]))
        mem_gb = math.ceil(PLAN["executor_cores"] * PLAN["partition_mb"] * PLAN["memory_headroom"] / 1024 + 1)
        p["spark"] = {"basis": basis, "core_s_per_million_rows": round(core_s, 2), "cores_needed": math.ceil(need),
                      "executors": ex, "executor_cores": PLAN["executor_cores"], "executor_memory_gb": mem_gb,
                      "shuffle_partitions": max(ex * PLAN["executor_cores"] * 2, p["partitions"]["count"] // 4),
                      "single_machine_hours": round(core_s * p["province_rows"] / 1e6 / cores / 3600, 1)}
    du = hi["build"].get("duckdb")
    if du and du["seconds"] and factor:
        slope = (res.get("growth") or {}).get("slope", {}).get("duckdb", {}).get("s_per_million_rows")
        per_mrow = slope if slope and slope > 0 else du["seconds"] / (rows / 1e6)
        p["duckdb_one_machine_hours"] = round(per_mrow * p["province_rows"] / 1e6 / 3600, 1)
    return p


def _f(v, d=2) -> str:
    return "—" if v is None else (f"{v:,.{d}f}" if isinstance(v, float) else f"{v:,}")


def _equal(s: dict) -> str:
    eq = s.get("spark_equals_duckdb")
    if eq is None:
        return "未比较: " + "; ".join(b["error"] for b in s["build"].values() if b.get("error"))
    return f"全部 {eq['tables']} 表相同" if not eq["differing"] else "不同: " + ", ".join(eq["differing"])


def table(res: dict) -> str:
    ns = sorted(int(n) for n in res["scales"])
    cols = " | ".join(f"{n} 县" for n in ns)
    sep = "|---" * (len(ns) + 1) + "|"
    S = lambda n: res["scales"][str(n)]  # noqa: E731
    row = lambda name, fn: f"| {name} | " + " | ".join(fn(S(n)) for n in ns) + " |"  # noqa: E731
    out = [f"测量: {ns} 个示例县 × {res['months']} 个月, 引擎 {', '.join(res['engines'])}, master {res['master']}, "
           f"{res['machine'].get('cores')} 核, 负载 {res['machine'].get('loadavg')} → "
           f"{res['machine'].get('loadavg_end')}", ""]
    out += [SECTIONS[0], "", f"| | {cols} |", sep, row("入库行数", lambda s: _f(s["ingest"]["rows_in"]))]
    for e in res["engines"]:
        out.append(row(f"{e} 全量构建 (秒)", lambda s, e=e: _f(s["build"][e]["seconds"])))
        out.append(row(f"{e} 峰值内存 (MB, 含子进程)", lambda s, e=e: _f(s["build"][e]["peak_rss_tree_mb"], 0)))
    if len(res["engines"]) == 2:
        out.append(row("spark ÷ duckdb (时间)", lambda s: _f(bench._ratio(s["build"]["spark"]["seconds"],
                                                                         s["build"]["duckdb"]["seconds"]))))
        out.append(row("Spark = DuckDB (EXCEPT ALL 双向)", _equal))
    out += ["", SECTIONS[1], "", f"| | {cols} |", sep,
            row("新增一天的行数", lambda s: _f(s["daily_after"]["rows_in"])),
            row("之前: 全量重建 (秒)", lambda s: _f(s["daily_before"]["seconds"])),
            row("之后: 增量运行, 构建+发布 (秒)", lambda s: _f(s["daily_after"]["build_publish_s"])),
            row("之后: 增量运行, 端到端 (秒)", lambda s: _f(s["daily_after"]["seconds"])),
            row("之后: 表的构建 (incremental: 只替换变动的日/月)", lambda s: (s["daily_after"].get("tables") or {}).get("mode")
                or "—"),
            row("其中 staging: 之前 → 之后 (秒)", lambda s: f"{_f((s['daily_before']['steps_s'] or {}).get('staging'))}"
                f" → {_f((s['daily_after']['build_steps_s'] or {}).get('staging'))}"),
            row("之前 ÷ 之后 (构建)", lambda s: _f(round(s["daily_before"]["seconds"]
                                                       / max(s["daily_after"]["build_publish_s"], 1e-3), 1), 1))]
    out += ["", SECTIONS[2], "", f"| | {cols} |", sep,
            row("入库 端到端 (行/秒)", lambda s: _f(s["ingest"]["rows_per_s"])),
            row("上限: DuckDB csv→Parquet (行/秒)", lambda s: _f(s["lower_bound"]["rows_per_s"])),
            row("入库 ÷ 上限", lambda s: _f(bench._ratio(s["ingest"]["rows_per_s"], s["lower_bound"]["rows_per_s"]))),
            row("入库 端到端 (秒)", lambda s: _f(s["ingest"]["seconds"]))]
    out += ["", SECTIONS[3], ""]
    lt = res.get("loadtest")
    if lt:
        out += [f"{lt['sessions']} 个 websocket 用户 × {lt['rounds']} 轮, 大屏每 {lt['wall_refresh_s']:g} 秒刷新, "
                f"{lt['counties']} 个县的仓库; 服务器核 {lt['cpus']['server']}, 客户端核 {lt['cpus']['clients']}", "",
                "| 秒 | n | p50 | p95 | max |", "|---|---|---|---|---|"]
        for name, k in (("页面打开", "page_time"), ("登录 + 概览", "login"), ("大屏间隔, 空闲", "wall_gap_idle"),
                        ("大屏间隔, 用户操作中", "wall_gap_while_busy"),
                        ("大屏间隔 (服务器端)", "wall_server_gap_while_busy")):
            x = lt[k]
            out.append(f"| {name} | {x['n']} | {_f(x['p50_s'])} | {_f(x['p95_s'])} | {_f(x['max_s'])} |")
        out += ["", "错误: " + ("无" if not lt["errors"] else "; ".join(lt["errors"][:5]))]
    else:
        out.append("未运行 (--no-loadtest)")
    g = res["growth"]
    out += ["", SECTIONS[4], "", f"| | {cols} |", sep,
            row("入库行数", lambda s: _f(s["ingest"]["rows_in"])),
            row("其中 activity_log", lambda s: _f(_activity_rows(s)))]
    for e in res["engines"]:
        out.append(row(f"{e} 全量构建 (秒)", lambda s, e=e: _f(s["build"][e]["seconds"])))
    if g["slope"]:
        out += ["", "| 引擎 | 每增加一个县 (秒) | 每百万行 (秒) | 固定开销 (秒) | 时间倍数 ÷ 行数倍数 |",
                "|---|---|---|---|---|"]
        for e, x in g["slope"].items():
            out.append(f"| {e} | {_f(x['s_per_added_county'])} | {_f(x['s_per_million_rows'])} | "
                       f"{_f(x['fixed_s'])} | {_f(x['time_ratio_over_rows_ratio'], 3)} |")
    p = res["plan"]
    out += ["", SECTIONS[5], "", f"外推自 {p['measured_counties']} 个县 × {p['measured_months']} 个月 "
            f"({_f(p['measured_rows'])} 行, 其中 activity_log {_f(p['measured_activity_rows'])} 行) → 全省 "
            f"{PROVINCE['counties']} 个县 × {PROVINCE['months']} 个月, activity_log {_f(PROVINCE['activity_rows'])} 行: "
            f"倍数 {_f(p['scale_factor'], 1)}, 全部 {_f(p['province_rows'])} 行", "",
            "| 项目 | 数值 | 算法 |", "|---|---|---|",
            f"| 分区 | {p['partitions']['count']} (县 × 月) | {PROVINCE['counties']} × {PROVINCE['months']}, "
            f"hive 分区 county=…/month=… (数据湖即按此分区, 县取自区划代码前 6 位; 操作日志、事件流转取其账号、事件"
            f"所属的县; 账号、事件均未入库的才为 county=unknown) |"]
    if "province_landed_gb" in p:
        out.append(f"| 全省入库 Parquet | {_f(p['province_landed_gb'], 1)} GB, 每分区 {_f(p['mb_per_partition'], 1)} MB "
                   f"| 实测入库字节 × 倍数 ÷ 分区数 |")
    if "spark" in p:
        s = p["spark"]
        how = ("增长斜率 (每百万行增加的 Spark 秒, 不含 JVM 启动等固定开销)" if s["basis"] == "slope"
               else "实测 Spark 全量秒 ÷ 实测百万行 (含固定开销: 上限)")
        out += [f"| Spark 每百万行 (核·秒) | {_f(s['core_s_per_million_rows'])} | {how} × "
                f"{res['machine'].get('cores')} 核 |",
                f"| 一小时全量重建所需核数 | {s['cores_needed']} | 核·秒/百万行 × 全省百万行 ÷ "
                f"{PLAN['full_build_target_s']} 秒 |",
                f"| executor | {s['executors']} 个 × {s['executor_cores']} 核 × {s['executor_memory_gb']} GB | "
                f"核数 ÷ {PLAN['executor_cores']}; 内存 = {PLAN['executor_cores']} 核 × {PLAN['partition_mb']} MB × "
                f"{PLAN['memory_headroom']:g} + 1 GB |",
                f"| spark.sql.shuffle.partitions | {s['shuffle_partitions']} | max(2 × 总核数, 分区数 ÷ 4) |",
                f"| 单机 ({res['machine'].get('cores')} 核) Spark | {_f(s['single_machine_hours'], 1)} 小时 | "
                f"核·秒/百万行 × 全省百万行 ÷ 本机核数 |"]
    if "duckdb_one_machine_hours" in p:
        out.append(f"| 单机 DuckDB 全量 | {_f(p['duckdb_one_machine_hours'], 1)} 小时 | 每百万行秒 (同上) × 全省百万行 (线性外推; "
                   f"内存不随之线性增长: DuckDB 超出 memory_limit 即溢写到磁盘) |")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------ CLI
def add_parser(sub) -> None:
    p = sub.add_parser("sidebyside", help="并列对比: DuckDB 与 Spark 全量构建, 日常运行前后, 入库 ÷ 上限, 负载测试, 省级外推",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--counties", default="1,3,10", help="county counts, comma separated (default 1,3,10)")
    p.add_argument("--months", type=int, default=1, help="months of demo data (default 1)")
    p.add_argument("--engines", default="duckdb,spark", help="duckdb,spark (default both)")
    p.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
    p.add_argument("--users", type=int, default=3, help="websocket users of the load test (default 3)")
    p.add_argument("--rounds", type=int, default=1, help="rounds of the load test (default 1)")
    p.add_argument("--wall-refresh", type=float, default=5)
    p.add_argument("--build-runs", type=int, default=1, help="DuckDB full builds per scale, the fastest kept (Spark: one)")
    p.add_argument("--no-loadtest", dest="loadtest", action="store_false")
    p.add_argument("--data", type=Path, help="reuse a generated demo city (county00/… subfolders)")
    p.add_argument("--work", type=Path, help="working directory (default $TMPDIR/gridwatch-sidebyside)")
    p.add_argument("--out", type=Path, help="write every figure as JSON here")
    p.set_defaults(run=_cli)


def _cli(a) -> int:
    engines = tuple(e.strip() for e in a.engines.split(",") if e.strip())
    if not engines or set(engines) - set(ENGINES):
        print(f"--engines: one or both of {', '.join(ENGINES)}")
        return 2
    try:
        counties = [int(x) for x in a.counties.split(",")]
    except ValueError:
        print("--counties: integers separated by commas, e.g. 1,3,10")
        return 2
    res = run(counties, a.months, engines=engines, users=a.users, rounds=a.rounds, wall_refresh=a.wall_refresh,
              master=a.master, data=a.data, work=a.work, out=a.out, loadtest=a.loadtest,
              build_runs=a.build_runs)
    return 1 if res.get("loadtest", {}).get("errors") else 0

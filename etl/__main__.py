"""Command line: `python -m etl demo|run|serve-demo|watch|health …` (see README)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m etl", description="网格化服务管理督导平台 — 数据导入")
    ap.add_argument("--config", help="配置文件 (默认 config.toml 或 $GRIDWATCH_CONFIG)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("demo", help="生成示例县的交付文件 (文件投递格式), 或装入前置库 (PostgreSQL)")
    d.add_argument("--out", type=Path, default=None, help="写入交付文件的目录 (与 --to-postgres 同用时可省略)")
    d.add_argument("--months", type=int, default=None)
    d.add_argument("--seed", type=int, default=None)
    d.add_argument("--end-month", default=None, help="最后一个月 YYYY-MM (默认上个月)")
    d.add_argument("--counties", type=int, default=1,
                   help="示例市: 生成这么多个县 (每县一个子目录 county00…, 再用 etl run --from 该目录导入全市); 默认 1 = 示例县")
    d.add_argument("--to-postgres", metavar="URL", default=None,
                   help="把示例县装入此前置库 (postgresql://user@host:port/db; 密码取自 GRIDWATCH_PG_PASSWORD 等)")
    d.add_argument("--from", dest="drop", type=Path, default=None, help="装入已有的投递目录, 而不是生成示例县")

    r = sub.add_parser("run", help="导入新交付的数据并发布数据仓库")
    r.add_argument("--from", dest="source", default=None,
                   help="投递目录、postgresql://user@host:port/db 或 http(s)://接口地址 (默认配置中的 drop_dir)")
    r.add_argument("--source", dest="source_name", default=None, help="运行 config.toml 中 [[sources]] 的这一项")
    r.add_argument("--datasets", default=None, help="只读取这些数据集, 逗号分隔 (前置库 / 接口)")
    r.add_argument("--warehouse", type=Path, default=None, help="数据仓库目录 (默认配置中的 warehouse_dir)")
    r.add_argument("--lake", type=Path, default=None,
                   help="数据湖目录 (默认: 数据仓库记录的数据湖; 指定 --warehouse 时为其下的 lake/, 否则为配置中的 lake_dir)")
    r.add_argument("--rebuild", action="store_true", help="即使没有新数据也重新构建并发布 (从全部入库数据重新整理, 不使用增量状态)")

    sv = sub.add_parser("serve-demo", help="以省平台接口的形式提供示例县数据 (开发与测试用)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8765)
    sv.add_argument("--from", dest="drop", type=Path, default=None, help="提供此投递目录 (默认生成示例县)")
    sv.add_argument("--months", type=int, default=None)
    sv.add_argument("--seed", type=int, default=None)
    sv.add_argument("--end-month", default=None)
    sv.add_argument("--token", default=None, help="接口令牌 (默认 $GRIDWATCH_API_TOKEN, 否则随机生成)")
    sv.add_argument("--faults", default="", help="注入故障, 如 429:0.1,500:0.05,slow:0.02,drop:0.02,truncate:0.02")
    sv.add_argument("--fault-seed", type=int, default=0)
    sv.add_argument("--slow-seconds", type=float, default=35.0, help="slow 故障的延迟 (应长于客户端超时)")

    w = sub.add_parser("watch", help="按间隔运行 config.toml 中配置的数据源 ([[sources]])")
    w.add_argument("--once", action="store_true", help="只运行一轮 (供 systemd timer / cron 调用)")
    w.add_argument("--interval", type=float, default=None, help="两轮之间的秒数 (默认 feeds.watch_interval_seconds)")
    w.add_argument("--warehouse", type=Path, default=None)
    w.add_argument("--lake", type=Path, default=None)

    h = sub.add_parser("health", help="显示各数据源的状态 (正常 / 部分失败 / 失败 / 无新数据 / 未运行) 与未解决的导入失败",
                       description="退出码: 0 没有失败; 1 有数据源最近一次导入失败; 2 有未解决的导入失败 "
                                   "(文件、接口批次或前置库批次), 但没有数据源整体失败")
    h.add_argument("--lake", type=Path, default=None)
    h.add_argument("--all", action="store_true", help="也显示未配置但运行过的数据源")

    args = ap.parse_args(argv)
    from core.config import load_settings

    settings = load_settings(args.config)
    if args.cmd == "demo" and (args.to_postgres or args.drop):
        return _demo_to_postgres(args, settings)
    if args.cmd == "demo":
        from demo import generate

        if args.out is None:
            print("需要 --out DIR (或 --to-postgres URL)", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        months = args.months or settings.demo.months
        seed = args.seed if args.seed is not None else settings.demo.seed
        if args.counties != 1:
            from demo import CITY_NAME, county_name, generate_city

            if not 1 <= args.counties <= 100:
                print("--counties 应为 1–100", file=sys.stderr)
                return 2
            truths = generate_city(args.out, args.counties, months=months, seed=seed, end_month=args.end_month)
            print(f"{CITY_NAME}数据已写入 {args.out}: {args.counties} 个县 "
                  f"({'、'.join(county_name(i) for i in range(args.counties))}), "
                  f"{sum(len(t['files']) for t in truths)} 个文件, 用时 {time.perf_counter() - t0:.1f} 秒")
            print(f"导入: python -m etl run --from {args.out} (配置 [deployment] level = \"city\")")
            return 0
        truth = generate(args.out, months=months, seed=seed, end_month=args.end_month)
        print(f"示例县数据已写入 {args.out}: {len(truth['files'])} 个文件, 用时 {time.perf_counter() - t0:.1f} 秒")
        for ds, n in truth["rows_delivered"].items():
            print(f"  {ds:<20} {n:>9} 行")
        return 0
    if args.cmd == "run":
        from etl import sources
        from etl.pipeline import EXIT_CODES, run, summary

        name, datasets = None, args.datasets.split(",") if args.datasets else None
        if args.source_name:
            cfg = sources.configured(settings, args.source_name)
            if cfg is None:
                print(f"config.toml 中没有名为「{args.source_name}」的数据源", file=sys.stderr)
                return 2
            name, datasets = cfg.name, datasets or cfg.datasets or None
            source = str(sources.resolve_folder(cfg.url, settings)) if sources.kind_of(cfg.url) == "files" else cfg.url
        else:
            source = args.source or str(settings.paths.drop_dir)
        try:
            kind = sources.kind_of(source)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        if kind == "files" and not Path(source).is_dir():
            print(f"投递目录不存在: {source}", file=sys.stderr)
            return 2
        if kind != "files" and urlsplit(source).password:
            print("提示: 密码不要写在命令行的 URL 中 (会留在 shell 历史里); 请用 GRIDWATCH_PG_PASSWORD、~/.pgpass 或密钥文件",
                  file=sys.stderr)
        lake = args.lake or _lake_for(args.warehouse, settings)
        res = run(source, settings, warehouse_dir=args.warehouse, lake_dir=lake, rebuild=args.rebuild,
                  log=lambda m: print(m, file=sys.stderr), source_name=name, datasets=datasets)
        print(summary(res))
        return EXIT_CODES.get(res.status, 1)
    if args.cmd == "serve-demo":
        return _serve_demo(args, settings)
    if args.cmd == "watch":
        from etl.watch import watch

        lake = args.lake or _lake_for(args.warehouse, settings)
        return watch(settings, once=args.once, interval=args.interval, warehouse_dir=args.warehouse, lake_dir=lake,
                     log=lambda m: print(m, flush=True))
    if args.cmd == "health":
        return _health(args, settings)
    return 2


def _lake_for(warehouse: Path | None, settings) -> Path | None:
    """The lake of `--warehouse DIR` without --lake: the one DIR is built from (DIR/LAKE), else the configured lake
    when DIR is the configured warehouse, else DIR/lake. One warehouse is only ever built from one lake."""
    from etl.lake import bound_lake

    if warehouse is None:
        return None
    bound = bound_lake(warehouse)
    if bound is not None:
        return bound
    if Path(warehouse).resolve() == Path(settings.paths.warehouse_dir).resolve():
        return Path(settings.paths.lake_dir)
    return Path(warehouse) / "lake"


def _health(args, settings) -> int:
    """Source health, then every unresolved import failure and the latest quarantined rows. Exit code: 0 none
    failed, 1 a source's last run failed, 2 unresolved failed files / pages / batches (and no source failed)."""
    from etl.lake import Lake
    from etl.sources import failure_summary, health, open_failures, read_health, recent_quarantine

    lake = Lake(args.lake or settings.paths.lake_dir)
    rows = health(settings, lake_dir=lake.root, include_unconfigured=args.all, default_drop=True)
    if not rows:
        print("没有配置数据源 ([[sources]])")
    for h in rows:
        print(f"{h['status_label']:<6} {h['name']:<16} {h['kind_label']:<6} {h['source']}")
        print(f"       {h['message']}")
    known = read_health(lake)
    fails = open_failures(lake, known)
    if fails:
        print(f"\n⚠ 未解决的导入失败: {failure_summary(fails)} (每次导入都会重试; 修正或移除后消除)")
        for f in fails:
            rows_ = f" 约 {f['rows']} 行," if f.get("rows") is not None else ""
            print(f"  {f['source_name']} · {f['file']}:{rows_} 首次 {f['first_seen']:%Y-%m-%d %H:%M}, "
                  f"最近 {f['last_seen']:%Y-%m-%d %H:%M}")
            print(f"       {f['reason']}")
    for q in recent_quarantine(lake, known):
        files = ("; 文件 " + "、".join(q["files"][:5]) + (" 等" if len(q["files"]) > 5 else "")) if q["files"] else ""
        when = f"{q['when']:%Y-%m-%d %H:%M}" if q["when"] else "—"
        print(f"\n⚠ 最近导入隔离 {q['rows_quarantined']} 行: {q['source_name']} (导入 {when}{files}), 详见数据质量页")
    if any(h["status"] == "failed" for h in rows):
        return 1
    return 2 if fails else 0


def _demo_to_postgres(args, settings) -> int:
    from demo.simulator import demo_drop, load_postgres, typed_tables
    from etl import sources

    if not args.to_postgres:
        print("--from 需与 --to-postgres 同用", file=sys.stderr)
        return 2
    if sources.kind_of(args.to_postgres) != "postgres":
        print("--to-postgres 需要 postgresql://… 地址", file=sys.stderr)
        return 2
    import shutil
    import tempfile

    tmp = None
    if args.drop is None and args.out is None:
        tmp = Path(tempfile.mkdtemp(prefix="gridwatch-demo-"))
    try:
        drop = args.drop or demo_drop(args.out or tmp, months=args.months or settings.demo.months,
                                      seed=args.seed if args.seed is not None else settings.demo.seed,
                                      end_month=args.end_month)
        t0 = time.perf_counter()
        tables = typed_tables(drop, log=print)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    try:
        counts = load_postgres(args.to_postgres, tables, schema=settings.feeds.pg_schema, log=print,
                               password=sources.pg_password(settings, None, args.to_postgres))
    except Exception as exc:  # noqa: BLE001 — psycopg errors: shown without secrets
        msg = sources.scrub(str(exc), sources.secret_values(settings, None, args.to_postgres))
        print(f"装入前置库失败 ({sources.redact(args.to_postgres)}): {msg}", file=sys.stderr)
        return 1
    print(f"已装入前置库 {sources.redact(args.to_postgres)}: {sum(counts.values())} 行, "
          f"用时 {time.perf_counter() - t0:.1f} 秒")
    return 0


def _serve_demo(args, settings) -> int:
    import shutil
    import signal
    import tempfile

    from demo.simulator import demo_drop

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)  # clean up the generated demo on `kill`, as on Ctrl-C
    tmp = None if args.drop else Path(tempfile.mkdtemp(prefix="gridwatch-demo-"))
    try:
        drop = args.drop or demo_drop(tmp, months=args.months or settings.demo.months,
                                      seed=args.seed if args.seed is not None else settings.demo.seed,
                                      end_month=args.end_month)
        return _serve(args, drop)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _serve(args, drop: Path) -> int:
    import os
    import secrets as _secrets

    from demo.simulator import DemoApi, FaultPlan, typed_tables

    token = args.token or os.environ.get("GRIDWATCH_API_TOKEN")
    if not token:
        token = _secrets.token_urlsafe(18)
        print(f"示例接口令牌 (仅本模拟器): {token}  — 导入时设置 GRIDWATCH_API_TOKEN")
    faults = FaultPlan.parse(args.faults, seed=args.fault_seed, slow_seconds=args.slow_seconds)
    api = DemoApi(typed_tables(drop), token, faults=faults, log=lambda m: print(m, flush=True))
    print(f"示例县接口: http://{args.host}:{args.port}/api/v1/{{dataset}}?updated_since=&page=&page_size=  "
          f"(数据 {drop}{', 故障 ' + args.faults if args.faults else ''})", flush=True)
    try:
        api.serve_forever(args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

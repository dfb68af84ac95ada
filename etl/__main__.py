"""Command line: `python -m etl demo|run …` (see README)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m etl", description="网格化服务管理督导平台 — 数据导入")
    ap.add_argument("--config", help="配置文件 (默认 config.toml 或 $GRIDWATCH_CONFIG)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("demo", help="生成示例县的交付文件 (文件投递格式)")
    d.add_argument("--out", required=True, type=Path)
    d.add_argument("--months", type=int, default=None)
    d.add_argument("--seed", type=int, default=None)
    d.add_argument("--end-month", default=None, help="最后一个月 YYYY-MM (默认上个月)")

    r = sub.add_parser("run", help="导入新交付的数据并发布数据仓库")
    r.add_argument("--from", dest="source", default=None, help="投递目录 (默认配置中的 drop_dir)")
    r.add_argument("--warehouse", type=Path, default=None, help="数据仓库目录 (默认配置中的 warehouse_dir)")
    r.add_argument("--lake", type=Path, default=None,
                   help="数据湖目录 (默认: 指定 --warehouse 时为其下的 lake/, 否则为配置中的 lake_dir)")
    r.add_argument("--rebuild", action="store_true", help="即使没有新数据也重新构建并发布")

    args = ap.parse_args(argv)
    from warehouse.config import load_settings

    settings = load_settings(args.config)
    if args.cmd == "demo":
        from etl.demo import generate

        t0 = time.perf_counter()
        truth = generate(args.out, months=args.months or settings.demo.months,
                         seed=args.seed if args.seed is not None else settings.demo.seed, end_month=args.end_month)
        print(f"示例县数据已写入 {args.out}: {len(truth['files'])} 个文件, 用时 {time.perf_counter() - t0:.1f} 秒")
        for ds, n in truth["rows_delivered"].items():
            print(f"  {ds:<20} {n:>9} 行")
        return 0
    if args.cmd == "run":
        from etl.pipeline import run, summary

        source = args.source or str(settings.paths.drop_dir)
        if not Path(source).is_dir():
            print(f"投递目录不存在: {source}", file=sys.stderr)
            return 2
        lake = args.lake or (args.warehouse / "lake" if args.warehouse else None)
        res = run(source, settings, warehouse_dir=args.warehouse, lake_dir=lake, rebuild=args.rebuild,
                  log=lambda m: print(m, file=sys.stderr))
        print(summary(res))
        return {"ok": 0, "busy": 3}.get(res.status, 1)
    return 2


if __name__ == "__main__":
    sys.exit(main())

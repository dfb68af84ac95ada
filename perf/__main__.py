"""Command line: `python -m perf <command> …`.

    python -m perf bench    [--scale tiny|county|city] [--out results.json] [--runs 5] [--month 2026-10]
                            [--data DROP] [--work DIR] [--no-pandas-ingest]
    python -m perf loadtest --warehouse DIR [--clients websocket|browser] [--users 10] [--rounds 2] [--pin]
                            [--wall-refresh 5] [--user-nice 10] [--out load.json]
    python -m perf sidebyside [--counties 1,3,10] [--months 1] [--engines duckdb,spark] [--users 3]
                            [--data CITY] [--work DIR] [--no-loadtest] [--out results.json]

The settings are read as everywhere else (config.toml or $GRIDWATCH_CONFIG). Exit codes: 0 ok; 1 the load test
saw errors; 2 bad arguments.
"""
from __future__ import annotations

import argparse
import sys

from perf import bench, loadtest, sidebyside

COMMANDS = (bench.add_parser, loadtest.add_parser, sidebyside.add_parser)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perf", description="网格化服务管理督导平台 — 性能测量工具")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="命令")
    for add in COMMANDS:
        add(sub)
    args = ap.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

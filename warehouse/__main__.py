"""Command line: `python -m warehouse <command> …`.

    python -m warehouse bulletin --month 2026-03 [--format md|docx|xlsx|pdf|json] [--out PATH] [--warehouse PATH]
                                 [--level county|city] [--county CODE]
                                 [--cutoff YYYY-MM-DD] [--issued YYYY-MM-DD]
    python -m warehouse review   [--period 2026-W12] [--format md|docx|pdf|json] [--out PATH] [--warehouse PATH]
    python -m warehouse warnings [--as-of YYYY-MM-DD] [--format json|md] [--warehouse PATH]
    python -m warehouse assessment (--quarter 2026-Q1 | --year 2026) [--format json|docx] [--out PATH] [--warehouse PATH]
    python -m warehouse activity-quality --month 2026-03 [--format json] [--out PATH] [--warehouse PATH]
    python -m warehouse build    [--engine duckdb|spark] [--master local[*]|spark://host:7077] [--warehouse PATH]
                                 [--rebuild]
    python -m warehouse bench    …   (an alias: hands over to `python -m perf bench …`, warehouse/aliases.py)

--warehouse takes a warehouse directory (with CURRENT, as `python -m etl run --warehouse` builds it) or a .duckdb
file; default: paths.warehouse_dir of the configuration. md and json go to stdout unless --out is given; docx,
xlsx and pdf (LibreOffice) go to --out, default the document's name with the year in the current directory
(`2026年3月份全县网格化服务管理工作情况通报.docx`, `…附表.xlsx`; `2026年第12周全县领导周例会数据.docx`). review's
--period defaults to the last complete ISO week (the week before the current one).

Exit codes: 0 ok; 2 bad arguments, no warehouse, or no data for the month. Errors are printed in Chinese.

Adding a command: write `_add_<name>(sub)` that registers its parser with `set_defaults(run=<function>)`, and
add it to COMMANDS.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from pathlib import Path


class UserError(Exception):
    """An error the user can fix (printed without a traceback, exit code 2)."""


def _month(text: str):
    from warehouse.metrics import Period

    try:
        p = Period.parse_month(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"月份格式应为 YYYY-MM, 例如 2026-03: {text!r}") from None
    return p


def _period(text: str):
    from warehouse.metrics import Period

    try:
        return Period.parse(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"期间格式应为 YYYY-MM (月) 或 YYYY-Www (ISO 周): {text!r}") from None


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD: {text!r}") from None


def _open(args, settings):
    from warehouse import db

    path = args.warehouse or settings.paths.warehouse_dir
    try:
        return db.open_published(path)
    except db.NoWarehouse as exc:
        raise UserError(f"{exc}\n请先运行 `python -m etl run --warehouse {path}` 导入数据, 或用 --warehouse 指定数据仓库。")


def _write(data: str | bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(data if isinstance(data, str) else data.decode("utf-8"))
        if isinstance(data, str) and not data.endswith("\n"):
            sys.stdout.write("\n")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        out.write_text(data if data.endswith("\n") else data + "\n", encoding="utf-8")
    else:
        out.write_bytes(data)


# ---------------------------------------------------------------------------------------------------- bulletin
def _add_bulletin(sub) -> None:
    p = sub.add_parser("bulletin", help="生成月度通报 (N月份全县网格化服务管理工作情况通报)")
    p.add_argument("--month", required=True, type=_month, help="通报月份 YYYY-MM")
    p.add_argument("--format", choices=("md", "docx", "xlsx", "pdf", "json"), default="md")
    p.add_argument("--out", type=Path, help="输出文件 (md/json 默认输出到标准输出)")
    p.add_argument("--warehouse", type=Path, help="数据仓库目录 (含 CURRENT) 或 .duckdb 文件 (默认取配置)")
    p.add_argument("--cutoff", type=_date,
                   help="签收截止日 YYYY-MM-DD: 统计截至该日 24 时的签收 (默认: 月末)")
    p.add_argument("--issued", type=_date, help="成文日期 YYYY-MM-DD (默认: 签收截止次日)")
    p.add_argument("--level", choices=("county", "city"), default="county",
                   help="city: 全市通报 (各县排名, 按县分组, 地市部署); county: 全县通报 (默认)")
    p.add_argument("--county", metavar="CODE", help="地市部署中某一个县的全县通报 (6位区划代码)")
    p.set_defaults(run=_run_bulletin)


def _run_bulletin(args, settings) -> int:
    from warehouse import bulletin
    from warehouse.metrics import COUNTY, Scope

    t0 = time.perf_counter()
    cutoff = dt.datetime.combine(args.cutoff + dt.timedelta(days=1), dt.time()) if args.cutoff else None
    if args.level == "city" and args.county:
        raise UserError("--level city 与 --county 不能同时使用")
    if args.county and not re.fullmatch(r"\d{6}", args.county):
        raise UserError(f"--county 应为6位区划代码: {args.county}")
    scope = (Scope(by_county=True, label="全市") if args.level == "city"
             else Scope(county_code=args.county) if args.county else COUNTY)
    con = _open(args, settings)
    try:
        try:
            b = bulletin.compute(con, args.month, scope, settings=settings, cutoff=cutoff, issued=args.issued)
        except bulletin.NoData as exc:
            raise UserError(str(exc)) from None
    finally:
        con.close()
    if args.format == "md":
        data = bulletin.render_md(b)
    elif args.format == "json":
        data = bulletin.render_json(b)
    elif args.format in ("docx", "pdf"):
        from warehouse.bulletin_docx import render_docx

        data = _pdf(render_docx(b)) if args.format == "pdf" else render_docx(b)
    else:
        from warehouse.bulletin_xlsx import render_xlsx

        data = render_xlsx(b)
    out = args.out
    if out is None and args.format in ("docx", "xlsx", "pdf"):
        out = Path(b.file_name(args.format, "附表" if args.format == "xlsx" else ""))
    _write(data, out)
    if out is not None:
        print(f"已生成 {b.title} ({args.format}): {out}  用时 {time.perf_counter() - t0:.2f} 秒", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------------- review
def _add_review(sub) -> None:
    p = sub.add_parser("review", help="领导周例会数据: 本周与上周、上月同周对比, 红黑榜")
    p.add_argument("--period", type=_period, help="ISO 周 YYYY-Www (或月份 YYYY-MM); 默认: 上一个完整的周")
    p.add_argument("--format", choices=("md", "docx", "pdf", "json"), default="md")
    p.add_argument("--out", type=Path, help="输出文件 (md/json 默认输出到标准输出, docx/pdf 默认按周报名称)")
    p.add_argument("--warehouse", type=Path, help="数据仓库目录 (含 CURRENT) 或 .duckdb 文件 (默认取配置)")
    p.set_defaults(run=_run_review)


def _run_review(args, settings) -> int:
    import pandas as pd

    from warehouse import metrics, review

    period = args.period or review.default_period()
    con = _open(args, settings)
    try:
        cov = metrics.query(con, "overview/coverage", settings=settings, **period.params()).iloc[0]
        if not (cov["account_days"] or cov["events_reported"] or cov["events_closed"] or cov["kp_reports"]):
            held = (f"现有数据范围: {cov['data_first_day']:%Y-%m-%d} 至 {cov['data_last_day']:%Y-%m-%d}"
                    if pd.notna(cov["data_first_day"]) else "数据仓库中没有任何业务数据")
            raise UserError(f"数据仓库中没有 {period.key} ({period.label}) 的数据, 无法生成周报 ({held}); "
                            "可用 --period 指定其他周期")
        r = review.compute(con, period, settings=settings)
    finally:
        con.close()
    out = args.out
    if args.format in ("docx", "pdf"):
        from warehouse.bulletin_docx import render_review_docx

        data = render_review_docx(r)
        data = _pdf(data) if args.format == "pdf" else data
        out = out or Path(review.file_name(r, args.format))
    else:
        data = review.render_md(r) if args.format == "md" else review.render_json(r)
    _write(data, out)
    if out is not None:
        print(f"已生成 {r.period.label} 周报 ({args.format}): {out}", file=sys.stderr)
    return 0


def _pdf(docx: bytes) -> bytes:
    from warehouse.bulletin_docx import docx_to_pdf, soffice

    if not soffice():
        raise UserError("本机未安装 LibreOffice (soffice), 无法生成 PDF; 可用 --format docx 生成 Word 文档")
    return docx_to_pdf(docx)


# ---------------------------------------------------------------------------------------------------- warnings
def _add_warnings(sub) -> None:
    p = sub.add_parser("warnings", help="预警: 截至某日仍在持续的预警 (规则、单位、首次出现、原因)")
    p.add_argument("--as-of", type=_date, dest="as_of", help="截至日期 YYYY-MM-DD (默认: 数据仓库的最新数据日期)")
    p.add_argument("--format", choices=("json", "md"), default="json")
    p.add_argument("--warehouse", type=Path, help="数据仓库目录 (含 CURRENT) 或 .duckdb 文件 (默认取配置)")
    p.set_defaults(run=_run_warnings)


def _run_warnings(args, settings) -> int:
    from warehouse import warnings

    con = _open(args, settings)
    try:
        as_of = args.as_of or warnings.data_date(con)
        if as_of is None:
            raise UserError("数据仓库中没有任何业务数据, 无法计算预警")
        ws = warnings.evaluate(con, as_of, settings=settings)
    finally:
        con.close()
    if args.format == "json":
        _write(warnings.render_json(ws), None)
    else:
        _write(f"# 预警 (截至 {as_of:%Y-%m-%d}): {len(ws)} 条\n\n"
               + "".join(f"- 【{w.level}】{w.reason} (首次出现 {w.first_seen:%Y-%m-%d})\n" for w in ws), None)
    return 0


# ---------------------------------------------------------------------------------------------------- activity-quality
def _add_activity_quality(sub) -> None:
    p = sub.add_parser("activity-quality", help="有效活跃度: 各单位官方与有效活跃度及差距, 被标记的账号及其信号")
    p.add_argument("--month", required=True, type=_month, help="月份 YYYY-MM")
    p.add_argument("--format", choices=("json",), default="json")
    p.add_argument("--out", type=Path, help="输出文件 (默认输出到标准输出)")
    p.add_argument("--warehouse", type=Path, help="数据仓库目录 (含 CURRENT) 或 .duckdb 文件 (默认取配置)")
    p.set_defaults(run=_run_activity_quality)


def _run_activity_quality(args, settings) -> int:
    from warehouse import activity_quality

    con = _open(args, settings)
    try:
        data = activity_quality.compute(con, args.month, settings=settings)
    finally:
        con.close()
    _write(activity_quality.render_json(data), args.out)
    return 0


# ---------------------------------------------------------------------------------------------------- build
def _add_build(sub) -> None:
    p = sub.add_parser("build", help="从数据湖重新构建并发布数据仓库 (DuckDB 或 Spark 计算, 结果相同)")
    p.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                   help="计算引擎: duckdb (默认, 单机) 或 spark (Apache Spark, warehouse/spark_build.py)")
    p.add_argument("--master", default="local[*]", help="Spark master: local[*] (默认, 本机) 或 spark://host:7077")
    p.add_argument("--warehouse", type=Path, help="数据仓库目录 (含 CURRENT; 默认取配置)")
    p.add_argument("--rebuild", action="store_true", help="从全部入库数据重新整理 (不使用增量状态)")
    p.set_defaults(run=_run_build)


def _run_build(args, settings) -> int:
    from etl.__main__ import _lake_for  # the lake of a warehouse directory, as `python -m etl run` finds it
    from etl.lake import Busy, Lake, LakeError
    from warehouse.build import build_and_publish

    wh = Path(args.warehouse or settings.paths.warehouse_dir)
    if wh.suffix == ".duckdb":
        raise UserError(f"--warehouse 须为数据仓库目录 (含 CURRENT), 不是单个文件: {wh}")
    lake = Lake(_lake_for(wh, settings))
    if not lake.manifest_dir.exists():
        raise UserError(f"数据湖 {lake.root} 中没有任何已导入的数据; 请先运行 `python -m etl run` 导入数据。")
    stats: dict = {}
    t0 = time.perf_counter()
    try:
        with lake.lock(wh):
            published = build_and_publish(lake, wh, settings, stats=stats, engine=args.engine, master=args.master,
                                          rebuild=args.rebuild)
    except (LakeError, Busy) as exc:
        raise UserError(str(exc)) from None
    steps = ", ".join(f"{k} {v:.2f}" for k, v in stats.get("build", {}).items() if "/" not in k)
    print(f"已发布 {published.name} ({args.engine}), 用时 {time.perf_counter() - t0:.1f} 秒 ({steps})", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------------- bench
def _add_bench(sub) -> None:
    """The benchmark moved to perf/ (a tool: not imported here); this command is its old path. Every argument
    after `bench` (also --help) goes to `python -m perf bench`."""
    sub.add_parser("bench", add_help=False,
                   help="性能基准 (转到 python -m perf bench, 选项相同)") \
        .set_defaults(hand_over="bench")


# ---------------------------------------------------------------------------------------------------- assessment
def _quarter(text: str):
    from warehouse.assessment import Quarter

    try:
        return Quarter.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_assessment(sub) -> None:
    p = sub.add_parser("assessment", help="季度考核 (--quarter) 或年度总评 (--year): 百分制得分、名次、名次变化")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--quarter", type=_quarter, help="考核季度 YYYY-Qn, 例如 2026-Q1")
    when.add_argument("--year", type=int, help="年度总评 YYYY (四个季度得分的平均)")
    p.add_argument("--format", choices=("json", "docx"), default="json")
    p.add_argument("--out", type=Path, help="输出文件 (json 默认输出到标准输出, docx 默认按通报名称)")
    p.add_argument("--warehouse", type=Path, help="数据仓库目录 (含 CURRENT) 或 .duckdb 文件 (默认取配置)")
    p.set_defaults(run=_run_assessment)


def _run_assessment(args, settings) -> int:
    from warehouse import assessment
    from warehouse.bulletin import NoData

    con = _open(args, settings)
    try:
        try:
            a = (assessment.compute_year(con, args.year, settings=settings) if args.year
                 else assessment.compute(con, args.quarter, settings=settings))
        except NoData as exc:
            raise UserError(str(exc)) from None
    finally:
        con.close()
    out = args.out
    if args.format == "docx":
        from warehouse.assessment_docx import render_docx

        data = render_docx(a)
        out = out or Path(a.file_name("docx"))
    else:
        data = assessment.render_json(a)
    _write(data, out)
    if out is not None:
        print(f"已生成 {a.title} ({args.format}): {out}", file=sys.stderr)
    return 0


COMMANDS = (_add_bulletin, _add_review, _add_warnings, _add_activity_quality, _add_assessment,
            _add_build, _add_bench)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m warehouse", description="网格化服务管理督导平台 — 数据仓库工具")
    ap.add_argument("--config", help="配置文件 (默认 config.toml 或 $GRIDWATCH_CONFIG)")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="命令")
    for add in COMMANDS:
        add(sub)
    args, rest = ap.parse_known_args(argv)
    if getattr(args, "hand_over", None):
        from warehouse.aliases import hand_over

        hand_over(args.hand_over, rest, args.config)
    if rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    from core.config import load_settings

    try:
        settings = load_settings(args.config)
        return args.run(args, settings)
    except (UserError, FileNotFoundError) as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

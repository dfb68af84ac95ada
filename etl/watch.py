"""`python -m etl watch`: run the configured sources on an interval, one run at a time.

Each round runs every enabled `[[sources]]` entry in turn through `etl.pipeline.run` (which takes the lake's lock,
lands, moves watermarks, builds and publishes when something is new, writes the run log and the source's health).
A second `watch` on the same lake exits at once (its own lock, `lake/.watch.lock`); a manual `etl run` that holds
the lake's lock makes the round skip that source ("busy") until the next round.

SIGTERM / SIGINT: the source being loaded is finished (every step is crash-safe anyway), then the loop ends; a
second signal stops at once. With `--once` (for a systemd timer or cron) one round is run and the exit code is
0 when every source succeeded, 1 when one failed, 3 when another watch is running.
"""
from __future__ import annotations

import fcntl
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.config import Settings
from etl.lake import Lake


class AlreadyRunning(Exception):
    pass


def _lock(lake: Lake):
    lake.root.mkdir(parents=True, exist_ok=True)
    fh = open(lake.root / ".watch.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise AlreadyRunning("另一个 etl watch 正在运行") from None
    return fh


def run_round(settings: Settings, *, warehouse_dir: Path | None = None, lake_dir: Path | None = None,
              log: Callable[[str], None] = print, stop: threading.Event | None = None, load_time=None) -> list:
    """Run every enabled source once; returns their RunResults."""
    from etl import sources
    from etl.pipeline import run, summary

    results = []
    for s in settings.sources:
        if not s.enabled:
            continue
        if stop is not None and stop.is_set():
            break
        log(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] 数据源「{s.name}」 {sources.redact(s.url)}")
        try:
            url = str(sources.resolve_folder(s.url, settings)) if sources.kind_of(s.url) == "files" else s.url
            res = run(url, settings, warehouse_dir=warehouse_dir, lake_dir=lake_dir, source_name=s.name,
                      datasets=s.datasets or None, log=lambda m: log("  " + m), load_time=load_time)
        except Exception as exc:  # noqa: BLE001 — e.g. an unsupported URL: this source fails, the round goes on
            from etl.pipeline import RunResult

            msg = sources.scrub(f"{type(exc).__name__}: {exc}", sources.secret_values(settings, s.name, s.url))
            log(f"  ✗ {msg}")
            lake = Lake(lake_dir or settings.paths.lake_dir)
            try:
                with lake.lock():
                    sources.record_health(lake, name=s.name, kind="files", source=sources.redact(s.url), ok=False,
                                          error=msg)
            except Exception:  # noqa: BLE001 — busy: noted next round
                pass
            res = RunResult(run_id="-", status="failed", source=sources.redact(s.url), source_name=s.name,
                            error=msg)
        for line in summary(res).splitlines():
            log("  " + line)
        results.append(res)
    return results


def _reload(settings: Settings, log: Callable[[str], None]) -> Settings:
    """The configuration file again (sources added or disabled take effect at the next round); on an error the
    previous settings stay."""
    if settings.source_file is None:
        return settings
    from core.config import load_settings

    try:
        return load_settings(settings.source_file)
    except Exception as exc:  # noqa: BLE001
        log(f"配置文件无法读取, 沿用上一轮的配置: {exc}")
        return settings


def watch(settings: Settings, *, once: bool = False, interval: float | None = None,
          warehouse_dir: Path | None = None, lake_dir: Path | None = None, log: Callable[[str], None] = print,
          stop: threading.Event | None = None, install_signals: bool = True) -> int:
    enabled = [s for s in settings.sources if s.enabled]
    if not enabled:
        log("config.toml 中没有启用的数据源 ([[sources]])")
        return 2
    interval = interval or settings.feeds.watch_interval_seconds
    lake = Lake(lake_dir or settings.paths.lake_dir)
    try:
        fh = _lock(lake)
    except AlreadyRunning as exc:
        log(str(exc))
        return 3
    stop = stop or threading.Event()
    previous = {}
    if install_signals and threading.current_thread() is threading.main_thread():
        def handler(signum, frame):
            if stop.is_set():
                raise SystemExit(128 + signum)
            log(f"收到信号 {signal.Signals(signum).name}: 完成当前数据源后退出")
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    code = 0
    try:
        log(f"etl watch: {len(enabled)} 个数据源, 每 {interval:g} 秒一轮" + (" (仅一轮)" if once else ""))
        while not stop.is_set():
            t0 = time.monotonic()
            settings = _reload(settings, log)
            results = run_round(settings, warehouse_dir=warehouse_dir, lake_dir=lake_dir, log=log, stop=stop)
            code = 1 if any(r.status in ("failed", "partial") for r in results) else 0
            if once:
                break
            stop.wait(max(0.0, interval - (time.monotonic() - t0)))
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
    log("etl watch 已退出")
    return code

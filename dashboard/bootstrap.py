"""First start: when no warehouse has been published, build one before showing any page.

- deliveries waiting in the configured drop folder are loaded;
- otherwise, when the lake holds real deliveries, the warehouse is built again from the lake;
- otherwise, when `[demo] auto = true` (the default) and the lake never held real deliveries
  (etl.lake.Lake.holds_real), the embedded demo county is generated into `{data_dir}/demo_drop` and loaded, so
  that `streamlit run` works on a fresh machine with nothing else — in a city deployment ([deployment] level =
  "city") the demo city of [demo] city_counties × city_months instead, into `{data_dir}/demo_city_drop`
  (demo_size); the lake itself refuses the demo too, under its lock (so a production install needs no flag to be
  safe);
- otherwise the app says what to do.

"No warehouse" means no version that opens (dashboard.data.warehouse_path: a damaged CURRENT falls back to the
newest whole version, with a one-line warning on every page), so a damaged pointer alone never starts a load.

The build runs in one background thread per process, not in a session's script: closing the browser tab does not
abort it, and every session that opens meanwhile watches the same progress bar. Across processes the lake's lock
keeps it to one load at a time. The terminal (stdout, and the `dashboard.bootstrap` log) follows it too: a line
at every further 10 % and a last line when the warehouse is ready (`示例县数据仓库已就绪` for the demo county) or the
build failed.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import streamlit as st

from core.config import Settings, settings
from etl.lake import Lake
from etl.pipeline import list_drop, run


@dataclass
class _Build:
    thread: threading.Thread | None = None
    fraction: float = 0.0
    message: str = "首次启动: 正在准备数据…"
    error: str | None = None
    printed: int = -1  # the last 10 % step written to the terminal


_STATE = _Build()
_LOCK = threading.Lock()


def _has_warehouse() -> bool:
    from dashboard import data

    return data.warehouse_path() is not None


def plan(s: Settings) -> tuple[str, str | None]:
    """What a first start does with no warehouse: ("drop" | "lake" | "demo", None) or ("refuse", message)."""
    drop_files, _ = list_drop(s.paths.drop_dir) if s.paths.drop_dir.is_dir() else ([], [])
    if drop_files:
        return "drop", None
    lake = Lake(s.paths.lake_dir)
    if lake.holds_real():
        if lake.manifests():
            return "lake", None
        return "refuse", (f"尚未发布数据仓库。数据湖 {s.paths.lake_dir} 属于正式数据 (已有正式数据源的导入记录), "
                          f"不会装入示例县数据; 请把交付文件放入投递目录 {s.paths.drop_dir} 后运行 `python -m etl run`。")
    if not s.demo.auto:
        return "refuse", (f"尚未发布数据仓库, 投递目录 {s.paths.drop_dir} 中也没有数据文件。"
                          "请把交付文件放入投递目录后运行 `python -m etl run`。")
    return "demo", None


def demo_size(s: Settings) -> tuple[int, int]:
    """The demo a first start builds: (counties, months). A county deployment: the 示例县 (1, [demo] months); a city
    deployment ([deployment] level = "city"): the 示例市 of [demo] city_counties × city_months, as `python -m etl
    demo --counties N` writes it (demo.generate_city, one subfolder per county)."""
    if s.deployment.level == "city":
        return s.demo.city_counties, s.demo.city_months
    return 1, s.demo.months


def _demo_name(s: Settings) -> str:
    return "示例市" if s.deployment.level == "city" else "示例县"


_LOG = logging.getLogger("dashboard.bootstrap")


def _say(line: str) -> None:
    """One line for whoever watches the terminal that started the server (and the log)."""
    print(line, flush=True)
    _LOG.info(line)


def _report(fraction: float, message: str) -> None:
    _STATE.fraction, _STATE.message = min(1.0, max(0.0, fraction)), message
    step = int(_STATE.fraction * 10 + 1e-9)
    if step > _STATE.printed:
        _STATE.printed = step
        _say(f"首次启动构建 {step * 10:3d}%: {message}")


def _build(s: Settings, demo: bool) -> None:
    """The build, with its first and last line on the terminal."""
    _STATE.printed = -1
    _say("首次启动: 尚未发布数据仓库, 正在" + (f"生成并导入{_demo_name(s)}数据 (约 1–2 分钟)…" if demo else "导入数据…"))
    _build_warehouse(s, demo)
    if _STATE.error:
        _say(f"首次启动未完成: {_STATE.error}")
        return
    if _STATE.printed < 10:
        _report(1.0, "完成")
    _say(f"{_demo_name(s)}数据仓库已就绪" if demo else "数据仓库已就绪")


def _build_warehouse(s: Settings, demo: bool) -> None:
    try:
        if not demo:  # the drop folder, or none: a lake with real deliveries is built again
            s.paths.drop_dir.mkdir(parents=True, exist_ok=True)
        if demo and Lake(s.paths.lake_dir).holds_real():  # the lake refuses it too (Lake.lock); say so at once
            _STATE.error = plan(s)[1] or f"数据湖 {s.paths.lake_dir} 中已有正式数据, 不会装入{_demo_name(s)}数据。"
            return
        if demo:
            from demo import generate, generate_city

            def say(f: float, m: str) -> None:
                _report(0.5 * f, f"生成{_demo_name(s)}数据: {m}")

            counties, months = demo_size(s)
            if s.deployment.level == "city":  # its own folder: a county demo's files left in demo_drop stay out
                source = s.paths.data_dir / "demo_city_drop"
                generate_city(source, counties, months=months, seed=s.demo.seed, progress=say)
            else:
                source = s.paths.data_dir / "demo_drop"
                generate(source, months=months, seed=s.demo.seed, progress=say)
            offset, span = 0.5, 0.5
        else:
            source, offset, span = s.paths.drop_dir, 0.0, 1.0
        while True:
            res = run(source, s, progress=lambda f, m: _report(offset + span * f, f"导入数据: {m}"))
            if res.status != "busy":
                break
            _report(offset, "另一个导入任务正在运行, 等待其完成…")
            time.sleep(2)
        if res.status not in ("ok", "partial") and not res.published:
            _STATE.error = f"数据导入失败: {res.error}"
    except Exception as exc:  # noqa: BLE001 — shown to every waiting session; the next start retries
        _STATE.error = f"首次启动构建失败: {type(exc).__name__}: {exc}"


def ensure_warehouse() -> None:
    """Return when a warehouse is published; otherwise start (or watch) the build with a progress bar."""
    if _has_warehouse():
        from dashboard import data

        warning = data.version_warning()
        if warning:
            st.warning(warning, icon="⚠️")
        return
    s = settings()
    st.title(f"{s.city.name if s.deployment.level == 'city' else s.county.name}网格化服务管理督导平台")
    what, message = plan(s)
    if what == "refuse":
        st.error(message)
        st.stop()
    with _LOCK:
        if _STATE.thread is None or (not _STATE.thread.is_alive() and not _has_warehouse()):
            _STATE.error = None
            _STATE.thread = threading.Thread(target=_build, args=(s, what == "demo"), name="first-start-build",
                                             daemon=True)
            _STATE.thread.start()
    bar = st.progress(0.0, text=_STATE.message)
    st.caption("首次启动需要约 1–2 分钟。关闭此页面不会中断构建。")
    while _STATE.thread.is_alive():
        bar.progress(_STATE.fraction, text=_STATE.message)
        time.sleep(0.5)
    if _STATE.error or not _has_warehouse():
        st.error(_STATE.error or "数据仓库未能发布, 请查看服务器日志。")
        st.stop()
    st.rerun()

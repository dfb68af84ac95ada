"""First start: when no warehouse has been published, build one before showing any page.

- deliveries waiting in the configured drop folder are loaded;
- otherwise, when `[demo] auto = true` (the default), the embedded demo county is generated into
  `{data_dir}/demo_drop` and loaded, so that `streamlit run` works on a fresh machine with nothing else;
- otherwise the app says what to do.

The build runs in one background thread per process, not in a session's script: closing the browser tab does not
abort it, and every session that opens meanwhile watches the same progress bar. Across processes the lake's lock
keeps it to one load at a time.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import streamlit as st

from etl.pipeline import list_drop, run
from warehouse import db
from warehouse.config import Settings, settings


@dataclass
class _Build:
    thread: threading.Thread | None = None
    fraction: float = 0.0
    message: str = "首次启动: 正在准备数据…"
    error: str | None = None


_STATE = _Build()
_LOCK = threading.Lock()


def _has_warehouse() -> bool:
    try:
        db.current_version(settings().paths.warehouse_dir)
        return True
    except db.NoWarehouse:
        return False


def _report(fraction: float, message: str) -> None:
    _STATE.fraction, _STATE.message = min(1.0, max(0.0, fraction)), message


def _build(s: Settings, demo: bool) -> None:
    try:
        if demo:
            from etl.demo import generate

            source = s.paths.data_dir / "demo_drop"
            generate(source, months=s.demo.months, seed=s.demo.seed,
                     progress=lambda f, m: _report(0.5 * f, f"生成示例县数据: {m}"))
            offset, span = 0.5, 0.5
        else:
            source, offset, span = s.paths.drop_dir, 0.0, 1.0
        while True:
            res = run(source, s, progress=lambda f, m: _report(offset + span * f, f"导入数据: {m}"))
            if res.status != "busy":
                break
            _report(offset, "另一个导入任务正在运行, 等待其完成…")
            time.sleep(2)
        if res.status not in ("ok", "partial"):
            _STATE.error = f"数据导入失败: {res.error}"
    except Exception as exc:  # noqa: BLE001 — shown to every waiting session; the next start retries
        _STATE.error = f"首次启动构建失败: {type(exc).__name__}: {exc}"


def ensure_warehouse() -> None:
    """Return when a warehouse is published; otherwise start (or watch) the build with a progress bar."""
    if _has_warehouse():
        return
    s = settings()
    st.title(f"{s.county.name}网格化服务管理督导平台")
    drop_files, _ = list_drop(s.paths.drop_dir) if s.paths.drop_dir.is_dir() else ([], [])
    if not drop_files and not s.demo.auto:
        st.error(f"尚未发布数据仓库, 投递目录 {s.paths.drop_dir} 中也没有数据文件。"
                 "请把交付文件放入投递目录后运行 `python -m etl run`。")
        st.stop()
    with _LOCK:
        if _STATE.thread is None or (not _STATE.thread.is_alive() and not _has_warehouse()):
            _STATE.error = None
            _STATE.thread = threading.Thread(target=_build, args=(s, not drop_files), name="first-start-build",
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

"""First start: when no warehouse has been published, build one before showing any page.

- deliveries waiting in the configured drop folder are loaded;
- otherwise, when `[demo] auto = true` (the default), the embedded demo county is generated into
  `{data_dir}/demo_drop` and loaded, so that `streamlit run` works on a fresh machine with nothing else;
- otherwise the app says what to do.

Only one build runs: within the process a lock, across processes the lake's lock (a second app process waits).
"""
from __future__ import annotations

import threading
import time

import streamlit as st

from etl.pipeline import list_drop, run
from warehouse import db
from warehouse.config import settings

_LOCK = threading.Lock()


def _has_warehouse() -> bool:
    try:
        db.current_version(settings().paths.warehouse_dir)
        return True
    except db.NoWarehouse:
        return False


def ensure_warehouse() -> None:
    """Return when a warehouse is published; otherwise build one with a progress bar, or stop the page."""
    if _has_warehouse():
        return
    s = settings()
    st.title(f"{s.county.name}网格化服务管理督导平台")
    drop_files, _ = list_drop(s.paths.drop_dir) if s.paths.drop_dir.is_dir() else ([], [])
    if not drop_files and not s.demo.auto:
        st.error(f"尚未发布数据仓库, 投递目录 {s.paths.drop_dir} 中也没有数据文件。"
                 "请把交付文件放入投递目录后运行 `python -m etl run`。")
        st.stop()
    bar = st.progress(0.0, text="首次启动: 正在准备数据…")
    if not _LOCK.acquire(blocking=False):
        while not _has_warehouse():  # another session of this process is building: wait for it
            bar.progress(0.5, text="另一个会话正在构建数据仓库, 请稍候…")
            time.sleep(1)
        st.rerun()
    try:
        if _has_warehouse():
            st.rerun()
        t0 = time.perf_counter()
        if drop_files:
            source = s.paths.drop_dir
            offset, span = 0.0, 1.0
        else:
            from etl.demo import generate

            source = s.paths.data_dir / "demo_drop"
            bar.progress(0.0, text="首次启动: 正在生成示例县数据 (约 1 分钟)…")
            generate(source, months=s.demo.months, seed=s.demo.seed,
                     progress=lambda f, m: bar.progress(min(1.0, 0.5 * f), text=f"生成示例县数据: {m}"))
            offset, span = 0.5, 0.5
        while True:
            res = run(source, s, progress=lambda f, m: bar.progress(min(1.0, offset + span * f),
                                                                    text=f"导入数据: {m}"))
            if res.status != "busy":
                break
            bar.progress(offset, text="另一个导入任务正在运行, 等待其完成…")
            time.sleep(2)
        if res.status != "ok":
            st.error(f"数据导入失败: {res.error}")
            st.stop()
        bar.progress(1.0, text=f"数据仓库已发布 ({time.perf_counter() - t0:.0f} 秒)")
    finally:
        _LOCK.release()
    st.rerun()

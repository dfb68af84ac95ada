"""数据上传: deliveries dropped in the browser, previewed before anything lands, then loaded by `etl run` itself.

    page()  — the whole page (pages/upload.py only calls it)

Flow: the files (st.file_uploader) are written to a private folder of this session under the data folder
(`<data_dir>/uploads/<random>/`, owner-only); etl.preview.preview reads and normalises them in memory with the
pipeline's own per-file code and shows, per file, which dataset and layout matched, which columns map to what, how
many rows will land, be flagged, be quarantined and why. On 确认导入 the files that would land are moved to a
folder of their own and etl.pipeline.run loads it — the same lock, manifest, build and atomic publish as
`python -m etl run` — with a progress bar; the app reads the new CURRENT version on its next query
(dashboard/data.py), other sessions keep working on the previous one meanwhile.

A 乡镇用户's upload is limited to their 乡镇, a city deployment's county-scoped user's to their county
(etl/scope.py): rows of another 乡镇 / county are shown in the preview and quarantined with the reason. A file
that is no delivery or cannot be read is shown with its reason and never
reaches the pipeline. Every file loaded is written to the audit log (action `upload`: who, file name, sha256,
dataset, rows landed / quarantined, the run's status); the run log records the upload as source `网页上传`.
"""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pandas as pd
import streamlit as st

from core.config import owner_only, settings
from dashboard import auth, session, ui
from etl import pipeline
from etl.normalize import flag_label
from etl.preview import FilePreview, preview
from etl.scope import UploadScope

SOURCE_NAME = "网页上传"
STATE = "_gw_upload"  # session state: {"dir": folder, "files": {name: sha256}, "preview": [FilePreview]}


def upload_scope(ident: auth.Identity) -> UploadScope | None:
    """The 乡镇 the caller's uploads are limited to; in a city deployment a county-scoped user's: the county
    (None: the administrator of the whole deployment, unlimited)."""
    if ident.scope.township_code is not None:
        return UploadScope(ident.scope.township_code, ident.scope.label)
    if ident.scope.county_code is not None:
        return UploadScope(ident.scope.county_code, ident.scope.label)
    return None


def _root() -> Path:
    root = Path(settings().paths.data_dir) / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    owner_only(root)
    return root


def _safe_name(name: str) -> str:
    """The uploaded file's own name without any folder part (the browser sends a bare name; never trusted)."""
    base = os.path.basename(name.replace("\\", "/")).strip()
    return base or "未命名文件"


def _clear() -> None:
    old = st.session_state.pop(STATE, None)
    if old:
        shutil.rmtree(old["dir"], ignore_errors=True)


def _stage(files) -> dict:
    """Write the uploaded files to a new private folder; the state of this upload."""
    _clear()
    folder = _root() / secrets.token_hex(8)
    folder.mkdir()
    owner_only(folder)
    paths, used = [], set()
    for f in files:
        name = _safe_name(f.name)
        stem, dot, ext = name.rpartition(".")
        i = 1
        while name in used:  # two files of the same name: both kept (the second is named …(2))
            i += 1
            name = f"{stem}({i}){dot}{ext}" if dot else f"{ext}({i})"
        used.add(name)
        p = folder / name
        p.write_bytes(f.getvalue())
        paths.append(p)
    return {"dir": str(folder), "key": tuple((f.file_id, f.name) for f in files), "paths": [str(p) for p in paths]}


def preview_frame(fp: FilePreview) -> pd.DataFrame:
    """The column mapping of one file: its own header → the contract's field."""
    return pd.DataFrame({"文件中的表头": [c["header"] for c in fp.columns],
                         "对应字段": [c["contract"] for c in fp.columns],
                         "字段名": [c["column"] for c in fp.columns],
                         "必填": ["是" if c["required"] else "" for c in fp.columns]})


def _show_preview(fp: FilePreview, scope: UploadScope | None) -> None:
    with st.container(border=True):
        st.markdown(f"**{ui.md(fp.file)}**" + (f" · {ui.md(fp.title)} (`{fp.dataset}`)" if fp.dataset else ""))
        if fp.error:
            st.error(f"无法导入此文件, 不会导入任何内容: {fp.error}", icon="🚫")
            return
        st.caption(f"识别方式: {ui.md(fp.profile)} · {fp.bytes:,} 字节 · SHA-256 {fp.sha256[:16]}…")
        if fp.already_loaded:
            st.info("此文件 (内容相同) 已导入过, 不会重复导入。", icon="ℹ️")
        if fp.duplicate_of:
            st.info(f"与本次上传的「{ui.md(fp.duplicate_of)}」内容相同, 只导入一次。", icon="ℹ️")
        c = st.columns(4)
        ui.metric("读入行数", fp.rows_in, where=c[0])
        ui.metric("将入库", fp.rows_land, where=c[1])
        ui.metric("其中带修复或存疑标记", fp.rows_flagged, where=c[2])
        ui.metric("将隔离", fp.rows_quarantined, where=c[3])
        if fp.rows_out_of_scope and scope is not None:
            st.warning(f"{fp.rows_out_of_scope:,} 行不属于本乡镇 ({ui.md(scope.label)}), 将被拒收并隔离。", icon="⚠️")
        if fp.missing_required:
            st.warning("文件缺少必填列: " + "、".join(ui.md(h) for h in fp.missing_required)
                       + "; 这些行将被隔离。", icon="⚠️")
        if fp.reasons:
            st.markdown("隔离原因 (按行数):")
            ui.frame(pd.DataFrame({"原因": [r for r, _ in fp.reasons[:10]], "行数": [n for _, n in fp.reasons[:10]]}))
            with st.expander(f"将隔离的行 (前 {len(fp.sample)} 行)"):
                ui.frame(pd.DataFrame({"行号": [s["row"] for s in fp.sample],
                                       "原因": [s["reason"] for s in fp.sample]}))
        if fp.flags:
            st.caption("修复与存疑标记: " + "; ".join(f"{ui.md(flag_label(f))} {n}" for f, n in fp.flags[:8]))
        with st.expander("列对应关系"):
            ui.frame(preview_frame(fp))
            if fp.unknown_columns:
                st.caption("不在规范中的列 (不导入): " + "、".join(ui.md(h) for h in fp.unknown_columns))
            if fp.missing_columns:
                st.caption("文件中没有的列: " + "、".join(ui.md(h) for h in fp.missing_columns))


def load(state: dict, previews: list[FilePreview], ident: auth.Identity, scope: UploadScope | None,
         progress=None) -> pipeline.RunResult:
    """Land the files that the preview says will land, through etl.pipeline.run (lock, build, publish), and write
    one audit entry per file."""
    folder = Path(state["dir"]) / "confirmed"
    folder.mkdir(exist_ok=True)
    todo = [fp for fp in previews if fp.lands]
    for path, fp in zip(state["paths"], previews):
        if fp.lands:
            os.replace(path, folder / Path(path).name)
    s = settings()
    lines: list[str] = []
    res = pipeline.run(folder, s, progress=progress, log=lines.append, source_name=SOURCE_NAME, scope=scope)
    by_file = {f["file"]: f["reason"] for f in res.files_failed}
    for fp in todo:
        outcome = f"失败: {by_file[fp.file]}" if fp.file in by_file else res.status
        auth.audit("upload", fp.file, f"sha256={fp.sha256} · {fp.dataset} · 入库 {fp.rows_land} · "
                                      f"隔离 {fp.rows_quarantined} · {outcome} · 范围 "
                                      f"{scope.label if scope else '全县'}")
    return res


def page() -> None:
    ident = session.require_page("upload")
    scope = upload_scope(ident)
    st.title("数据上传")
    st.caption("上传交付文件 (xlsx / csv / json / jsonl, 文件名 {数据集}_{YYYYMMDD}[_说明]), 先预览将导入的内容, "
               "确认后由导入流程 (与 etl run 相同) 入库并发布新版本; 其他用户在此期间照常使用。"
               + (f" 本账号只能上传 **{ui.md(scope.label)}** 的数据, 其他乡镇的行将被拒收。" if scope else ""))
    n = st.session_state.get("_gw_upload_n", 0)  # a new uploader (empty) after each load
    files = st.file_uploader("选择或拖入文件", accept_multiple_files=True, key=f"upload_files_{n}")
    done = st.session_state.pop("_gw_upload_done", None)
    if done:
        _show_result(done)
    if not files:
        _clear()
        return
    key = tuple((f.file_id, f.name) for f in files)
    state = st.session_state.get(STATE)
    if state is None or state["key"] != key:
        state = _stage(files)
        with st.spinner("正在读取和检查文件…"):
            state["preview"] = preview([Path(p) for p in state["paths"]], settings(), ru_scope=scope)
        st.session_state[STATE] = state
    previews: list[FilePreview] = state["preview"]
    st.subheader("导入预览")
    lands = [fp for fp in previews if fp.lands]
    bad = [fp for fp in previews if fp.error]
    st.markdown(f"共 {len(previews)} 个文件: {len(lands)} 个将导入, 将入库 {sum(fp.rows_land for fp in lands):,} 行, "
                f"隔离 {sum(fp.rows_quarantined for fp in lands):,} 行"
                + (f"; {len(bad)} 个无法导入" if bad else "") + "。尚未导入任何内容。")
    for fp in previews:
        _show_preview(fp, scope)
    if not lands:
        st.info("没有可导入的文件。", icon="ℹ️")
        return
    if st.button("确认导入", type="primary", key="upload_confirm"):
        bar = st.progress(0.0, text="开始导入…")
        res = load(state, previews, ident, scope, progress=lambda f, m: bar.progress(min(1.0, max(0.0, f)), text=m))
        _clear()
        st.session_state["_gw_upload_done"] = res.as_dict()
        st.session_state["_gw_upload_n"] = n + 1
        st.rerun()


def _show_result(res: dict) -> None:
    status = res["status"]
    text = (f"导入{pipeline.STATUS_LABELS.get(status, status)}: 新文件 {res['files_new']} 个, 入库 "
            f"{res['rows_landed']:,} 行, 隔离 {res['rows_quarantined']:,} 行"
            + (f"; 已发布新版本 {res['published']}, 各页面已使用新数据。" if res.get("published") else "。"))
    if status == "ok":
        st.success(text, icon="✅")
    elif status == "busy":
        st.warning("另一导入任务正在运行, 本次未导入; 请稍后重新上传。", icon="⏳")
    else:
        st.error(text + (f" {res['error']}" if res.get("error") else ""), icon="⚠️")

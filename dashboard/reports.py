"""The bulletin and the weekly review for the app: computed once per warehouse version, period and scope."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import streamlit as st

from dashboard import data
from warehouse import bulletin, review
from warehouse.bulletin_docx import render_docx
from warehouse.bulletin_xlsx import render_xlsx
from warehouse.config import settings
from warehouse.metrics import Period, Scope

_TTL = settings().dashboard.cache_ttl_seconds


@st.cache_data(ttl=_TTL, max_entries=24, show_spinner="正在生成通报…")
def bulletin_files(version: str, period_key: str, scope: Scope) -> dict:
    con, _ = data.connection()
    b = bulletin.compute(con, Period.parse(period_key), scope)
    return {"md": bulletin.render_md(b), "json": bulletin.render_json(b), "docx": render_docx(b),
            "xlsx": render_xlsx(b), "title": b.title if hasattr(b, "title") else ""}


@st.cache_data(ttl=_TTL, max_entries=24, show_spinner="正在生成周报…")
def review_files(version: str, period_key: str, scope: Scope) -> dict:
    con, _ = data.connection()
    r = review.compute(con, Period.parse(period_key), scope)
    return {"md": review.render_md(r), "json": review.render_json(r), "obj": r}


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@st.cache_data(ttl=_TTL, max_entries=12, show_spinner="正在转换为 PDF…")
def docx_to_pdf(docx: bytes) -> bytes:
    """LibreOffice, headless, offline; a private profile directory so parallel conversions do not collide."""
    exe = soffice()
    if not exe:
        raise RuntimeError("本机未安装 LibreOffice, 无法生成 PDF (可下载 Word 版本后另存为 PDF)")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "bulletin.docx"
        src.write_bytes(docx)
        subprocess.run([exe, f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to", "pdf",
                        "--outdir", tmp, str(src)], check=True, capture_output=True, timeout=120)
        return (Path(tmp) / "bulletin.pdf").read_bytes()

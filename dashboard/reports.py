"""The bulletin and the weekly review for the app: computed once per warehouse version, period and scope."""
from __future__ import annotations

import dataclasses

import streamlit as st

from core.config import settings
from dashboard import data, ui
from warehouse import bulletin, bulletin_docx, review
from warehouse.bulletin import NoData  # noqa: F401 (the page catches it: pages reach the warehouse through here)
from warehouse.bulletin_docx import render_docx, render_review_docx
from warehouse.bulletin_xlsx import render_xlsx
from warehouse.metrics import Period, Scope

_TTL = settings().dashboard.cache_ttl_seconds


@st.cache_data(ttl=_TTL, max_entries=24, show_spinner="正在生成通报…")
def bulletin_files(version: str, period_key: str, scope: Scope, as_of=None) -> dict:
    """as_of: a running month's time of measurement (ui.Ctx.prm's period_asof), None for a past one."""
    con, _ = data.connection()
    b = bulletin.compute(con, Period.parse(period_key), scope, as_of=as_of)
    return {"md": bulletin.render_md(b), "json": bulletin.render_json(b), "docx": render_docx(b),
            "xlsx": render_xlsx(b), "title": b.title, "page_md": page_md(b),
            "names": {ext: b.file_name(ext, "附表" if ext == "xlsx" else "") for ext in ("docx", "xlsx", "pdf", "md",
                                                                                    "json")}}


def page_md(b: bulletin.Bulletin) -> str:
    """The bulletin's Markdown for st.markdown on the page: the same document with every text that comes from the
    data (unit and office names inside the paragraphs, table cells) escaped, so feed text is always text (no link,
    no emphasis, no table break); the downloads keep the plain text. The text is the docx's: full-width
    punctuation (bulletin.typeset_bulletin), escaped after typesetting."""
    t = ui.md
    b = bulletin.typeset_bulletin(b)
    safe = dataclasses.replace(
        b, title=t(b.title), addressee=t(b.addressee), intro=t(b.intro), issuer=t(b.issuer),
        sections=[dataclasses.replace(s, heading=t(s.heading), paragraphs=[t(p) for p in s.paragraphs])
                  for s in b.sections],
        tables=[dataclasses.replace(tb, title=t(tb.title), columns=[t(c) for c in tb.columns], note=t(tb.note),
                                    rows=[[t(v) if isinstance(v, str) else v for v in r] for r in tb.rows])
                for tb in b.tables])
    return bulletin.render_md(safe, full_width=True)


def review_page_md(r: review.Review) -> str:
    """The weekly review's Markdown for the page, unit names escaped like page_md."""
    def units(us: list[dict]) -> list[dict]:
        return [{**u, "full_name": ui.md(u.get("full_name")), "name": ui.md(u.get("name"))} for u in us]
    return review.render_md(dataclasses.replace(r, area=ui.md(r.area), red=units(r.red), black=units(r.black)))


@st.cache_data(ttl=_TTL, max_entries=24, show_spinner="正在生成周报…")
def review_files(version: str, period_key: str, scope: Scope, as_of=None) -> dict:
    con, _ = data.connection()
    r = review.compute(con, Period.parse(period_key), scope, as_of=as_of)
    return {"md": review.render_md(r), "json": review.render_json(r), "obj": r, "page_md": review_page_md(r),
            "docx": render_review_docx(r), "names": {ext: review.file_name(r, ext) for ext in ("docx", "pdf", "md")}}


soffice = bulletin_docx.soffice


@st.cache_data(ttl=_TTL, max_entries=12, show_spinner="正在转换为 PDF…")
def docx_to_pdf(docx: bytes) -> bytes:
    """warehouse.bulletin_docx.docx_to_pdf (LibreOffice with the CJK font fallback), cached per document."""
    return bulletin_docx.docx_to_pdf(docx)

"""The monthly bulletin as an official document (.docx), laid out after GB/T 9704 (党政机关公文格式):

A4; margins 37 mm top, 35 mm bottom, 28 mm left, 26 mm right; title in a heading face (方正小标宋, 2号 22 pt),
body in 仿宋 (3号 16 pt) at a fixed 28 pt line pitch with a two-character first-line indent; first-level headings
(一、) in 黑体, second-level ((一)) in 楷体; the attachment list, the issuing office and the date; page numbers
"— 1 —" in 4号 (14 pt), odd pages on the right and even pages on the left. Each appendix table starts a new page
with its number (附件1) and title, and its header row repeats on every page.

Fonts: the official faces when the machine has them, else the first CJK fallback it does have (Noto Serif CJK SC
for 仿宋/宋/楷, Noto Sans CJK SC for 黑体). Where `fc-list` is unavailable (e.g. Windows, which has the official
faces) the official names are written. Punctuation is typeset full-width here (，；：（）“”).

    render_docx(b: Bulletin) -> bytes
"""
from __future__ import annotations

import io
import re
import subprocess
from functools import lru_cache

from docx import Document
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from warehouse.bulletin import Bulletin, Table

BODY_FONTS = ("仿宋_GB2312", "仿宋", "FangSong", "STFangsong", "Noto Serif CJK SC", "Source Han Serif SC",
              "AR PL UMing CN", "Noto Sans CJK SC", "WenQuanYi Zen Hei")
TITLE_FONTS = ("方正小标宋简体", "方正小标宋_GBK", "华文中宋", "STZhongsong", "宋体", "SimSun", "Noto Serif CJK SC",
               "Source Han Serif SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei")
HEI_FONTS = ("黑体", "SimHei", "STHeiti", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei")
KAI_FONTS = ("楷体_GB2312", "楷体", "KaiTi", "STKaiti", "AR PL UKai CN", "Noto Serif CJK SC", "Noto Sans CJK SC")
SONG_FONTS = ("宋体", "SimSun", "Noto Serif CJK SC", "Noto Sans CJK SC")

BODY_PT, TITLE_PT, PAGE_NO_PT, TABLE_PT = 16, 22, 14, 10.5
LINE_PT = 28  # fixed line pitch: 22 lines on the 225 mm type area
INDENT = Pt(2 * BODY_PT)


@lru_cache(maxsize=1)
def installed_families() -> frozenset[str]:
    """CJK font families this machine has (empty when fc-list is not available)."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(f.strip() for line in out.splitlines() for f in line.split(",") if f.strip())


def pick_font(candidates: tuple[str, ...]) -> tuple[str, bool]:
    """(family, is_official): the first candidate installed, or the official name when nothing can be checked."""
    have = installed_families()
    if not have:
        return candidates[0], True
    for i, name in enumerate(candidates):
        if name in have:
            return name, i < 2
    return candidates[0], True


_PAIRED_QUOTES = re.compile(r'"([^"]*)"')


def typeset(text: str) -> str:
    """ASCII punctuation of the md text → the full-width marks of an official document."""
    text = _PAIRED_QUOTES.sub(lambda m: f"“{m.group(1)}”", text)
    return (text.replace(",", "，").replace(";", "；").replace(":", "：").replace("(", "（").replace(")", "）"))


# ---------------------------------------------------------------------------------------------------- helpers
def _font(run, family: str, size: float, bold: bool = False) -> None:
    run.font.name = family
    run.font.size = Pt(size)
    run.font.bold = bold
    _set_fonts(run._element.get_or_add_rPr(), family)


def _set_fonts(rpr, family: str) -> None:
    """One family for Latin, East Asian and complex scripts (python-docx sets only the Latin one)."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), family)


def _pitch(p, line_pt: float = LINE_PT, before: float = 0, after: float = 0) -> None:
    pf = p.paragraph_format
    pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    pf.line_spacing = Pt(line_pt)
    pf.space_before = Pt(before)
    pf.space_after = Pt(after)
    pf.widow_control = False


class _Writer:
    def __init__(self):
        self.doc = Document()
        self.body, _ = pick_font(BODY_FONTS)
        self.f_title, title_official = pick_font(TITLE_FONTS)
        self.title_bold = not title_official  # a fallback face needs bold to read as a title face
        self.hei, hei_official = pick_font(HEI_FONTS)
        self.hei_bold = not hei_official
        self.kai, _ = pick_font(KAI_FONTS)
        self.song, _ = pick_font(SONG_FONTS)
        self._page_setup()

    def _page_setup(self) -> None:
        doc = self.doc
        sec = doc.sections[0]
        sec.page_width, sec.page_height = Mm(210), Mm(297)
        sec.top_margin, sec.bottom_margin = Mm(37), Mm(35)
        sec.left_margin, sec.right_margin = Mm(28), Mm(26)
        sec.header_distance, sec.footer_distance = Mm(15), Mm(20)
        normal = doc.styles["Normal"]
        normal.font.name = self.body
        normal.font.size = Pt(BODY_PT)
        _set_fonts(normal.element.get_or_add_rPr(), self.body)
        doc.settings.odd_and_even_pages_header_footer = True
        self._page_number(sec.footer, WD_ALIGN_PARAGRAPH.RIGHT)
        self._page_number(sec.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)

    def _page_number(self, footer, align) -> None:
        footer.is_linked_to_previous = False
        p = footer.paragraphs[0]
        p.alignment = align
        if align == WD_ALIGN_PARAGRAPH.RIGHT:
            p.paragraph_format.right_indent = Pt(PAGE_NO_PT)
        else:
            p.paragraph_format.left_indent = Pt(PAGE_NO_PT)
        _font(p.add_run("— "), self.song, PAGE_NO_PT)
        for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"), ("end", None)):
            run = p.add_run()  # one field part per run, as Word writes it
            _font(run, self.song, PAGE_NO_PT)
            if kind:
                el = OxmlElement("w:fldChar")
                el.set(qn("w:fldCharType"), kind)
            elif text == "1":
                el = OxmlElement("w:t")
                el.text = text
            else:
                el = OxmlElement("w:instrText")
                el.set(qn("xml:space"), "preserve")
                el.text = text
            run._element.append(el)
        _font(p.add_run(" —"), self.song, PAGE_NO_PT)

    # ------------------------------------------------------------------ blocks
    def title(self, text: str) -> None:
        p = self.doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _pitch(p, 35, after=LINE_PT)
        _font(p.add_run(typeset(text)), self.f_title, TITLE_PT, bold=self.title_bold)

    def para(self, text: str, *, indent: bool = True, lead_font: str | None = None, lead: str = "") -> None:
        p = self.doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        _pitch(p)
        if indent:
            p.paragraph_format.first_line_indent = INDENT
        if lead:
            _font(p.add_run(typeset(lead)), lead_font or self.body, BODY_PT,
                  bold=lead_font == self.hei and self.hei_bold)
        _font(p.add_run(typeset(text)), self.body, BODY_PT)

    def heading(self, text: str) -> None:
        p = self.doc.add_paragraph()
        _pitch(p)
        p.paragraph_format.first_line_indent = INDENT
        p.paragraph_format.keep_with_next = True
        _font(p.add_run(typeset(text)), self.hei, BODY_PT, bold=self.hei_bold)

    def blank(self) -> None:
        _pitch(self.doc.add_paragraph())

    def right(self, text: str, right_chars: float) -> None:
        p = self.doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _pitch(p)
        p.paragraph_format.right_indent = Pt(right_chars * BODY_PT)
        _font(p.add_run(text), self.body, BODY_PT)

    def attachments(self, lines: list[str]) -> None:
        for i, line in enumerate(lines):
            p = self.doc.add_paragraph()
            _pitch(p)
            if i == 0:
                p.paragraph_format.first_line_indent = INDENT
                _font(p.add_run(typeset("附件:") + line), self.body, BODY_PT)
            else:
                p.paragraph_format.left_indent = Pt(5 * BODY_PT)
                _font(p.add_run(typeset(line)), self.body, BODY_PT)

    def table(self, number: int, t: Table) -> None:
        p = self.doc.add_paragraph()
        _pitch(p)
        p.paragraph_format.page_break_before = True
        _font(p.add_run(f"附件{number}"), self.hei, BODY_PT, bold=self.hei_bold)
        p = self.doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _pitch(p, 30, before=6, after=12)
        _font(p.add_run(typeset(t.title)), self.f_title, 18, bold=self.title_bold)

        rows = t.display_rows()
        ncols = len(t.columns)
        tbl = self.doc.add_table(rows=1 + len(rows), cols=ncols)
        tbl.style = "Table Grid"
        tbl.alignment = WD_TABLE_ALIGNMENT.CENTER
        tbl.autofit = False
        widths = [Mm(w) for w in _column_widths(t.columns, rows, total_mm=156)]
        for j, w in enumerate(widths):
            tbl.columns[j].width = w  # the grid LibreOffice lays out by
        cells = tbl._cells  # one pass over the grid (table.cell(i, j) rebuilds it on every call)
        for j, name in enumerate(t.columns):
            self._cell(cells[j], name, width=widths[j], header=True, align="center")
        tr_pr = tbl.rows[0]._tr.get_or_add_trPr()
        el = OxmlElement("w:tblHeader")
        el.set(qn("w:val"), "true")
        tr_pr.append(el)
        for i, (r, tr) in enumerate(zip(rows, tbl._tbl.tr_lst[1:]), 1):
            total = r[1] == "合计"
            for j, v in enumerate(r):
                if j == 0 or t.formats[j] != "text" and v in ("", "—"):
                    align = "center"
                elif t.formats[j] in ("pct", "int", "score"):
                    align = "right"
                else:  # the name column reads from the left; short codes (分组, 类别, 榜单) centred
                    align = "left" if j == 1 and not total else "center"
                self._cell(cells[i * ncols + j], v, width=widths[j], header=False, align=align, bold=total)
            tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
        if t.note:
            p = self.doc.add_paragraph()
            _pitch(p, 20, before=6)
            _font(p.add_run(typeset("注:" + t.note)), self.body, 12)

    def _cell_styles(self):
        """Paragraph styles for table cells (one style per cell instead of formatting every run: fast)."""
        if getattr(self, "_styles", None):
            return self._styles
        from docx.enum.style import WD_STYLE_TYPE

        out = {}
        for key, family, bold in (("cell", self.body, False), ("head", self.hei, self.hei_bold),
                                  ("total", self.body, True)):
            st = self.doc.styles.add_style(f"GW表格{key}", WD_STYLE_TYPE.PARAGRAPH)
            st.base_style = self.doc.styles["Normal"]
            st.font.size = Pt(TABLE_PT)
            st.font.bold = bold or (key == "head" and self.hei_bold)
            st.font.name = family
            _set_fonts(st.element.get_or_add_rPr(), family)
            pf = st.paragraph_format
            pf.line_spacing_rule = WD_LINE_SPACING.SINGLE
            pf.space_before = Pt(1)
            pf.space_after = Pt(1)
            pf.first_line_indent = Pt(0)
            out[key] = st
        self._styles = out
        return out

    def _cell(self, cell, text: str, *, width, header: bool, align: str, bold: bool = False) -> None:
        cell.width = width
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        p = cell.paragraphs[0]
        # the style id straight into the XML: Paragraph.style= looks the style up among all styles every time
        p._p.get_or_add_pPr().style = self._cell_styles()["head" if header else ("total" if bold else "cell")].style_id
        p.alignment = {"left": WD_ALIGN_PARAGRAPH.LEFT, "right": WD_ALIGN_PARAGRAPH.RIGHT}.get(
            align, WD_ALIGN_PARAGRAPH.CENTER)
        p.add_run(typeset(text) if header else text)


def _text_width(s: str) -> float:
    return sum(1.0 if ord(c) > 0x2E7F else 0.55 for c in s)


def _column_widths(columns: list[str], rows: list[list[str]], total_mm: float) -> list[float]:
    """Widths in mm, proportional to the widest cell (headers may wrap onto two lines), filling the type area."""
    need = []
    for j, name in enumerate(columns):
        body = max([_text_width(r[j]) for r in rows] or [1])
        head = _text_width(name)
        need.append(max(body, min(head, max(body, head / 2)), 2) + 1)
    scale = total_mm / sum(need)
    return [n * scale for n in need]


def render_docx(b: Bulletin) -> bytes:
    w = _Writer()
    core = w.doc.core_properties
    core.title, core.author, core.subject = b.title, b.issuer, f"{b.month} 月度通报"
    core.comments = f"数据仓库版本 {b.warehouse_version}; 签收截止 {b.cutoff:%Y-%m-%d %H:%M}"
    w.title(b.title)
    w.para(b.addressee, indent=False)
    w.para(b.intro)
    sub = re.compile(r"^(\([一二三四五六七八九十]+\)[^。]*。)(.*)$")
    for s in b.sections:
        w.heading(s.heading)
        for text in s.paragraphs:
            m = sub.match(text)
            if m:
                w.para(m.group(2), lead=m.group(1), lead_font=w.kai)
            else:
                w.para(text)
    w.blank()
    w.attachments(b.attachment_lines)
    w.blank()
    w.blank()
    date_chars = _text_width(b.issued_text)
    issuer_chars = _text_width(b.issuer)
    w.right(b.issuer, max(0.0, 4 + (date_chars - issuer_chars) / 2))  # centred over the date
    w.right(b.issued_text, 4)  # 成文日期右空四字
    for i, t in enumerate(b.tables, 1):
        w.table(i, t)
    buf = io.BytesIO()
    w.doc.save(buf)
    return buf.getvalue()

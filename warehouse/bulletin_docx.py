"""The monthly bulletin as an official document (.docx), laid out after GB/T 9704 (党政机关公文格式):

A4; margins 37 mm top, 35 mm bottom, 28 mm left, 26 mm right; title in a heading face (方正小标宋, 2号 22 pt),
body in 仿宋 (3号 16 pt) at a fixed 28 pt line pitch with a two-character first-line indent; first-level headings
(一、) in 黑体, second-level ((一)) in 楷体; the attachment list, the issuing office and the date; page numbers
"— 1 —" in 4号 (14 pt), odd pages on the right and even pages on the left. Each appendix table starts a new page
with its number (附件1) and title, and its header row repeats on every page.

Optional, from the [bulletin] section of the configuration: the 红头 (发文机关标志 in red 小标宋 over a red rule)
with the 文号 centred above the rule, and the 版记 at the end (抄送, 印发机关 and date between rules). The 落款
(issuing office and date) is kept on one page with the attachment list and the last lines of the body before it.

Fonts: always the names county PCs have (仿宋_GB2312 body, 方正小标宋简体 title, 黑体 headings, 楷体_GB2312
second-level leads, 宋体 page numbers), so the document opens as the office expects. docx_to_pdf converts with
LibreOffice and a private fontconfig file that falls back from those names to the installed CJK faces (Noto Serif
CJK SC for 仿宋/宋/楷/小标宋, Noto Sans CJK SC for 黑体) when the official ones are missing; the PDF embeds them.
Punctuation is typeset full-width (bulletin.typeset_bulletin, the same text as the page's preview).

    render_docx(b: Bulletin) -> bytes          render_review_docx(r: Review) -> bytes
    docx_to_pdf(docx: bytes) -> bytes          docx_to_pdfs([docx, …]) -> [pdf, …]    (LibreOffice: soffice())
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from docx import Document
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

from warehouse import fmt
from warehouse.bulletin import Bulletin, Table, typeset, typeset_bulletin  # noqa: F401 (typeset: re-exported)

BODY_FONTS = ("仿宋_GB2312", "仿宋", "FangSong", "STFangsong", "Noto Serif CJK SC", "Source Han Serif SC",
              "AR PL UMing CN", "Noto Sans CJK SC", "WenQuanYi Zen Hei")
TITLE_FONTS = ("方正小标宋简体", "方正小标宋_GBK", "华文中宋", "STZhongsong", "宋体", "SimSun", "Noto Serif CJK SC",
               "Source Han Serif SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei")
HEI_FONTS = ("黑体", "SimHei", "STHeiti", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei")
KAI_FONTS = ("楷体_GB2312", "楷体", "KaiTi", "STKaiti", "AR PL UKai CN", "Noto Serif CJK SC", "Noto Sans CJK SC")
SONG_FONTS = ("宋体", "SimSun", "Noto Serif CJK SC", "Noto Sans CJK SC")
# the face written into the docx for each role, and the installed faces the PDF falls back to (in order)
OFFICIAL = {"body": BODY_FONTS[0], "title": TITLE_FONTS[0], "hei": HEI_FONTS[0], "kai": KAI_FONTS[0],
            "song": SONG_FONTS[0]}
PDF_FALLBACK = {
    "仿宋_GB2312": ("仿宋", "FangSong", "Noto Serif CJK SC", "Source Han Serif SC", "AR PL UMing CN"),
    "方正小标宋简体": ("方正小标宋_GBK", "华文中宋", "Noto Serif CJK SC", "Source Han Serif SC"),
    "黑体": ("SimHei", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei"),
    "楷体_GB2312": ("楷体", "KaiTi", "AR PL UKai CN", "Noto Serif CJK SC"),
    "宋体": ("SimSun", "Noto Serif CJK SC", "Source Han Serif SC"),
}
RED = RGBColor(0xE6, 0x00, 0x12)  # 红头 and its rule

BODY_PT, TITLE_PT, PAGE_NO_PT, TABLE_PT = 16, 22, 14, 10.5
LINE_PT = 28  # fixed line pitch: 22 lines on the 225 mm type area
INDENT = Pt(2 * BODY_PT)


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


# the children of w:pPr that follow w:pBdr (ECMA-376 CT_PPrBase order)
_AFTER_PBDR = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
               "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid",
               "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
               "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle",
               "w:rPr", "w:sectPr", "w:pPrChange")


def _border(p, side: str, color: str, size_eighths: int, space: int = 1) -> None:
    """A rule above or below a paragraph (w:pBdr), across the type area."""
    ppr = p._p.get_or_add_pPr()
    bdr = ppr.find(qn("w:pBdr"))
    if bdr is None:  # in its place in the sequence of w:pPr (Word refuses a document with it out of order)
        bdr = OxmlElement("w:pBdr")
        ppr.insert_element_before(bdr, *_AFTER_PBDR)
    el = OxmlElement(f"w:{side}")
    for k, v in (("w:val", "single"), ("w:sz", str(size_eighths)), ("w:space", str(space)), ("w:color", color)):
        el.set(qn(k), v)
    bdr.append(el)


def _tab_right():
    from docx.enum.text import WD_TAB_ALIGNMENT

    return WD_TAB_ALIGNMENT.RIGHT


def _keep(paragraphs) -> None:
    """Each paragraph on one page and on the page of the next (the 落款 never alone on a page)."""
    for p in paragraphs:
        p.paragraph_format.keep_with_next = True
        p.paragraph_format.keep_together = True


class _Writer:
    def __init__(self):
        self.doc = Document()
        self.body, self.f_title, self.hei = OFFICIAL["body"], OFFICIAL["title"], OFFICIAL["hei"]
        self.kai, self.song = OFFICIAL["kai"], OFFICIAL["song"]
        self.title_bold = self.hei_bold = False  # the official faces are bold by design
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

    def para(self, text: str, *, indent: bool = True, lead_font: str | None = None, lead: str = "",
             align=WD_ALIGN_PARAGRAPH.JUSTIFY, font: str | None = None):
        p = self.doc.add_paragraph()
        p.alignment = align
        _pitch(p)
        if indent:
            p.paragraph_format.first_line_indent = INDENT
        if lead:
            _font(p.add_run(lead), lead_font or self.body, BODY_PT, bold=lead_font == self.hei and self.hei_bold)
        _font(p.add_run(text), font or self.body, BODY_PT)
        return p

    def heading(self, text: str) -> None:
        p = self.doc.add_paragraph()
        _pitch(p)
        p.paragraph_format.first_line_indent = INDENT
        p.paragraph_format.keep_with_next = True
        _font(p.add_run(text), self.hei, BODY_PT, bold=self.hei_bold)

    def blank(self):
        p = self.doc.add_paragraph()
        _pitch(p)
        return p

    def right(self, text: str, right_chars: float):
        p = self.doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _pitch(p)
        p.paragraph_format.right_indent = Pt(right_chars * BODY_PT)
        _font(p.add_run(text), self.body, BODY_PT)
        return p

    def attachments(self, lines: list[str]) -> list:
        out = []
        for i, line in enumerate(lines):
            p = self.doc.add_paragraph()
            _pitch(p)
            if i == 0:
                p.paragraph_format.first_line_indent = INDENT
                _font(p.add_run("附件：" + line), self.body, BODY_PT)
            else:
                p.paragraph_format.left_indent = Pt(5 * BODY_PT)
                _font(p.add_run(line), self.body, BODY_PT)
            out.append(p)
        return out

    def red_header(self, name: str, number: str) -> None:
        """版头: 发文机关标志 centred in red 小标宋, the 文号 centred under it, then the red rule (GB/T 9704 7.2)."""
        p = self.doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _pitch(p, 60, before=LINE_PT, after=LINE_PT)
        _font(p.add_run(name), self.f_title, 36 if len(name) <= 10 else 26)
        p.runs[0].font.color.rgb = RED
        p = self.doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _pitch(p, after=LINE_PT)
        if number:
            _font(p.add_run(number), self.body, BODY_PT)
        _border(p, "bottom", "E60012", 12, space=6)

    def record(self, cc: str, printed_by: str, date_text: str) -> None:
        """版记: 抄送 and 印发机关 + 印发日期 between rules, at the end of the document, after the last attachment
        (GB/T 9704 7.4), kept on one page."""
        p = self.doc.add_paragraph()
        _pitch(p, after=LINE_PT)
        p.paragraph_format.keep_with_next = True
        rows = []
        if cc:
            rows.append(("抄送：" + cc.rstrip("。") + "。", ""))
        if printed_by:
            rows.append((printed_by, f"{date_text}印发"))
        for i, (left, right) in enumerate(rows):
            p = self.doc.add_paragraph()
            _pitch(p)
            p.paragraph_format.left_indent = Pt(BODY_PT)
            p.paragraph_format.right_indent = Pt(BODY_PT)
            p.paragraph_format.keep_with_next = True
            p.paragraph_format.tab_stops.add_tab_stop(Mm(156) - Pt(2 * BODY_PT),
                                                      alignment=_tab_right())
            _font(p.add_run(left + ("\t" + right if right else "")), self.body, 14)
            if i == 0:
                _border(p, "top", "000000", 8, space=4)
            _border(p, "bottom", "000000", 8 if i == len(rows) - 1 else 4, space=4)

    def table(self, number: int | None, t: Table) -> None:
        """An appendix table on a new page (附件N and its title), or with number=None in the text, under a heading."""
        if number is not None:
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
                if j == 0 and t.formats[0] != "text" or t.formats[j] != "text" and v in ("", "—"):
                    align = "center"
                elif t.formats[j] in ("pct", "int", "score", "points"):
                    align = "right"
                else:  # the name column reads from the left; short codes (分组, 类别, 榜单) centred
                    align = "left" if j <= 1 and not total else "center"
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
    """Width in characters of the body face: a CJK character 1, '%' 0.9, any other 0.55."""
    return sum(1.0 if ord(c) > 0x2E7F else 0.9 if c == "%" else 0.55 for c in s)


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
    b = typeset_bulletin(b)  # the text of the page's preview
    w = _Writer()
    core = w.doc.core_properties
    core.title, core.author, core.subject = b.title, b.issuer, f"{b.month} 月度通报"
    core.comments = f"数据仓库版本 {b.warehouse_version}; 签收截止 {b.cutoff:%Y-%m-%d %H:%M}"
    if b.red_header:
        w.red_header(b.red_header, b.doc_number)
    elif b.doc_number:
        w.para(b.doc_number, indent=False, align=WD_ALIGN_PARAGRAPH.CENTER)
        w.blank()
    w.title(b.title)
    w.para(b.addressee, indent=False)
    w.para(b.intro)
    sub = re.compile(r"^(（[一二三四五六七八九十]+）[^。]*。)(.*)$")
    last = None
    for s in b.sections:
        w.heading(s.heading)
        for text in s.paragraphs:
            m = sub.match(text)
            last = w.para(m.group(2), lead=m.group(1), lead_font=w.kai) if m else w.para(text)
    # the last body paragraph, the attachment list and the blank lines go with the 落款 (never alone on a page)
    tail = [last] if last is not None else []
    tail.append(w.blank())
    tail += w.attachments(b.attachment_lines)
    tail += [w.blank(), w.blank()]
    date_chars = _text_width(b.issued_text)
    issuer_chars = _text_width(b.issuer)
    tail.append(w.right(b.issuer, max(0.0, 4 + (date_chars - issuer_chars) / 2)))  # centred over the date
    _keep(tail)
    w.right(b.issued_text, 4).paragraph_format.keep_together = True  # 成文日期右空四字
    for i, t in enumerate(b.tables, 1):
        w.table(i, t)
    if b.cc or b.printed_by:
        w.record(b.cc, b.printed_by, b.issued_text)
    buf = io.BytesIO()
    w.doc.save(buf)
    return buf.getvalue()


def render_review_docx(r) -> bytes:
    """The weekly review (warehouse.review.Review) as a document in the bulletin's format: the figures against
    the two comparison periods, the red and black list and the ranking."""
    from warehouse.bulletin import unit_names

    a, c = r.comparison_labels
    w = _Writer()
    title = f"{r.area}网格化服务管理周例会数据" if r.period.kind == "week" else f"{r.area}网格化服务管理月度例会数据"
    w.doc.core_properties.title = f"{title} {r.period.label}"
    w.title(title)
    w.para(typeset(f"统计周期：{r.period.label}；对比：{a} {r.last.label}，{c} {r.same_last_month.label}。"),
           indent=False, align=WD_ALIGN_PARAGRAPH.CENTER, font=w.kai)
    w.heading("一、主要指标")
    figures = Table("figures", "主要指标", ["指标", "本期", a, f"较{a}", c, f"较{c}"],
                    ["text", "int", "int", "text", "int", "text"],
                    [[f.label, f.fmt(f.value), f.fmt(f.last), f.trend(f.last) or "—", f.fmt(f.same_last_month),
                      f.trend(f.same_last_month) or "—"] for f in r.figures])
    w.table(None, figures)
    w.heading("二、红黑榜")
    w.para(f"红榜：{unit_names(r.red) if r.red else '无'}；黑榜：{unit_names(r.black) if r.black else '无'}。" +
           (f"其中，{unit_names(r.black_repeat)}连续两期列入黑榜。" if r.black_repeat else ""))
    rank = Table("ranking", "综合排名", ["排名", "单位", "活跃度", "办结完成率", "全部签收占比", "综合得分",
                                     f"{a}排名", "榜单"],
                 ["int", "text", "pct", "pct", "pct", "score", "int", "text"],
                 [[u["rank"], u["name"], u["activity_rate"], u["completion_rate"], u["fully_signed_rate"],
                   u["score"], u["prev_rank"],
                   fmt.board(u in r.red, u in r.black, u["repeat"])]
                  for u in r.ranking])
    if r.ranking:
        w.table(None, rank)
    buf = io.BytesIO()
    w.doc.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------- PDF
def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def fontconfig_xml(system: str = "/etc/fonts/fonts.conf") -> str:
    """A fontconfig file: the system's configuration, then each official face → the installed CJK faces after it
    (an `accept` alias: a machine that has the official face keeps it)."""
    aliases = "".join(
        f"<alias binding=\"same\"><family>{name}</family><accept>"
        + "".join(f"<family>{f}</family>" for f in fallbacks) + "</accept></alias>"
        for name, fallbacks in PDF_FALLBACK.items())
    # 方正小标宋 is a heavy face: its stand-in is the bold cut
    heavy = ("<match target=\"pattern\"><test name=\"family\"><string>方正小标宋简体</string></test>"
             "<edit name=\"weight\" mode=\"assign\"><const>bold</const></edit></match>")
    return ("<?xml version=\"1.0\"?><!DOCTYPE fontconfig SYSTEM \"fonts.dtd\"><fontconfig>"
            f"<include ignore_missing=\"yes\">{system}</include>" + aliases + heavy + "</fontconfig>")


def docx_to_pdf(docx: bytes, timeout: float = 120) -> bytes:
    """LibreOffice, headless, offline; a private profile directory so parallel conversions do not collide, and
    the fontconfig file above so the official face names print with the installed CJK faces (no tofu)."""
    return docx_to_pdfs([docx], timeout)[0]


def docx_to_pdfs(documents: list[bytes], timeout: float = 120) -> list[bytes]:
    """docx_to_pdf for several documents with one LibreOffice start."""
    exe = soffice()
    if not exe:
        raise RuntimeError("本机未安装 LibreOffice, 无法生成 PDF (可下载 Word 版本后另存为 PDF)")
    with tempfile.TemporaryDirectory() as tmp:
        sources = [Path(tmp) / f"document{i}.docx" for i in range(len(documents))]
        for src, data in zip(sources, documents):
            src.write_bytes(data)
        env = dict(os.environ)
        system = os.environ.get("FONTCONFIG_FILE") or "/etc/fonts/fonts.conf"
        if Path(system).is_file():  # else LibreOffice's own fallback (the system's fonts are not where we look)
            conf = Path(tmp) / "fonts.conf"
            conf.write_text(fontconfig_xml(str(Path(system).resolve())), encoding="utf-8")
            env["FONTCONFIG_FILE"] = str(conf)
        subprocess.run([exe, f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to", "pdf",
                        "--outdir", tmp, *map(str, sources)], check=True, capture_output=True,
                       timeout=timeout * len(documents), env=env)
        return [src.with_suffix(".pdf").read_bytes() for src in sources]

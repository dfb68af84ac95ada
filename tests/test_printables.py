"""The printable outputs as a county office prints them: the bulletin's docx and PDF (LibreOffice) with the
optional 红头, 文号 and 版记 of the [bulletin] configuration, official font names in the docx and embedded CJK faces
in the PDF, the 落款 never alone on a page (pdftotext page by page); the xlsx's title row and print set-up; file
names with the year; the on-page preview in the docx's punctuation; the weekly review as docx and PDF, by default
for the last complete ISO week. On the county of tests/support/bulletin_county.py (March 2026, ISO week 2026-W12)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest
from PIL import Image
from support import bulletin_county

from core.config import Settings, load_settings
from warehouse import bulletin, db, review
from warehouse.bulletin_docx import docx_to_pdf, docx_to_pdfs, render_docx, render_review_docx
from warehouse.bulletin_xlsx import render_xlsx
from warehouse.metrics import Period

ROOT = Path(__file__).resolve().parent.parent
MARCH, W12 = Period.month(2026, 3), Period.iso_week(2026, 12)
OFFICIAL = {"仿宋_GB2312", "方正小标宋简体", "黑体", "楷体_GB2312", "宋体"}
CONFIG = """
[county]
name = "示例县"

[bulletin]
red_header = "示例县综治中心"
doc_number = "示综治〔{year}〕{month}号"
cc = "县委政法委，县委办，县政府办"
printed_by = "示例县综治中心办公室"
"""


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    c, _ = bulletin_county.build()
    return c.build(tmp_path_factory.mktemp("printables_county"))


@pytest.fixture(scope="module")
def con(wh):
    con = db.open_published(wh)
    yield con
    con.close()


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_settings(path)


@pytest.fixture(scope="module")
def march(con, configured):
    return bulletin.compute(con, MARCH, settings=configured)


@pytest.fixture(scope="module")
def march_pdf(march, tmp_path_factory):
    pdf = docx_to_pdf(render_docx(march))
    path = tmp_path_factory.mktemp("pdf") / "march.pdf"
    path.write_bytes(pdf)
    return path


def pages(pdf: Path) -> list[str]:
    """The text of each page, whitespace removed (pdftotext puts spaces between CJK text and digits)."""
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [re.sub(r"\s+", "", p) for p in out.split("\f")[:-1]]


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------------------------------------------- docx
def test_docx_names_the_official_fonts(march):
    data = render_docx(march)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = z.read("word/document.xml").decode() + \
              "".join(z.read(n).decode() for n in z.namelist() if n.startswith("word/footer"))
    d = docx.Document(io.BytesIO(data))
    xml += "".join(d.styles[n].element.xml for n in ("Normal", "GW表格cell", "GW表格head", "GW表格total"))
    faces = set(re.findall(r'w:(?:ascii|hAnsi|eastAsia|cs)="([^"]+)"', " ".join(re.findall(r"<w:rFonts [^>]*>", xml))))
    assert faces == {"仿宋_GB2312", "方正小标宋简体", "黑体", "楷体_GB2312", "宋体"}, faces  # 宋体: page numbers
    d = docx.Document(io.BytesIO(render_docx(march)))
    title = next(p for p in d.paragraphs if p.text == march.title)
    assert title.runs[0].font.name == "方正小标宋简体" and title.runs[0].font.size.pt == 22
    heading = next(p for p in d.paragraphs if p.text == "一、各地账户活跃度情况")
    assert heading.runs[0].font.name == "黑体"
    lead = next(p for p in d.paragraphs if p.text.startswith("（二）吸毒人员。"))
    assert lead.runs[0].font.name == "楷体_GB2312" and lead.runs[1].font.name == "仿宋_GB2312"


def test_red_header_number_and_record_from_configuration(march, con):
    d = docx.Document(io.BytesIO(render_docx(march)))
    ps = d.paragraphs
    assert ps[0].text == "示例县综治中心"
    run = ps[0].runs[0]
    assert str(run.font.color.rgb) == "E60012" and run.font.size.pt >= 26 and run.font.name == "方正小标宋简体"
    assert ps[1].text == "示综治〔2026〕3号"
    rule = ps[1]._p.pPr.find(docx.oxml.ns.qn("w:pBdr")).find(docx.oxml.ns.qn("w:bottom"))
    assert rule.get(docx.oxml.ns.qn("w:color")) == "E60012"
    assert ps[2].text == march.title
    # the rules in their place in w:pPr (before tabs, spacing, indents, alignment: Word refuses them out of order)
    ruled = [p._p.pPr for p in ps if p._p.pPr is not None and p._p.pPr.find(docx.oxml.ns.qn("w:pBdr")) is not None]
    assert len(ruled) == 3
    for ppr in ruled:
        tags = [el.tag.split("}")[1] for el in ppr]
        assert all(tags.index("pBdr") < tags.index(t) for t in ("tabs", "spacing", "ind", "jc") if t in tags), tags
    texts = [p.text for p in ps]
    assert texts[-2:] == ["抄送：县委政法委，县委办，县政府办。", "示例县综治中心办公室\t2026年4月1日印发"]
    # without the section: none of it (the default configuration leaves every key empty)
    plain = bulletin.compute(con, MARCH, settings=Settings())
    texts = [p.text for p in docx.Document(io.BytesIO(render_docx(plain))).paragraphs]
    assert texts[0] == plain.title and not any("综治" in t or "抄送" in t or "印发" in t for t in texts)
    assert Settings().bulletin.model_dump() == {"red_header": "", "doc_number": "", "issuer": "", "cc": "",
                                                "printed_by": ""}


def test_issuer_from_configuration(con, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[bulletin]\nissuer = "示例县委政法委员会"\n', encoding="utf-8")
    b = bulletin.compute(con, MARCH, settings=load_settings(path))
    texts = [p.text for p in docx.Document(io.BytesIO(render_docx(b))).paragraphs]
    assert "示例县委政法委员会" in texts and "示例县网格化服务管理中心" not in texts


# ---------------------------------------------------------------------------------------------------- PDF
def test_pdf_embeds_cjk_faces_and_reads_as_chinese(march, march_pdf, tmp_path):
    fonts = subprocess.run(["pdffonts", str(march_pdf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    names = [r[0] for r in rows]
    assert rows and all("yes" == r[-5] for r in rows), fonts  # every font embedded
    assert all("CJK" in n for n in names), fonts  # no Latin-only face (DejaVu) standing in for 仿宋
    assert any("Serif" in n for n in names) and any("Sans" in n for n in names), fonts  # 仿宋/小标宋 vs 黑体
    text = pages(march_pdf)
    assert text[0].startswith("示例县综治中心示综治〔2026〕3号" + march.title), text[0][:80]
    assert "一、各地账户活跃度情况" in text[0] and "全县网格员账号20个，活跃账号12个" in text[0]
    assert "（二）吸毒人员。仅大新报送了4条信息，其余各地网格员均未报送。" in "".join(text)
    record = "抄送：县委政法委，县委办，县政府办。示例县综治中心办公室2026年4月1日印发"
    assert record in text[-1] and text[-1].index("综合排名表") < text[-1].index(record)  # after the last table
    # look at page 1: the 红头 is red, the body black on white
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(march_pdf), str(tmp_path / "p")],
                   check=True)
    img = Image.open(next(tmp_path.glob("p*.png"))).convert("RGB")
    w, h = img.size
    red = sum(1 for x in range(w) for y in range(h // 4)
              if (lambda p: p[0] > 180 and p[1] < 80 and p[2] < 80)(img.getpixel((x, y))))
    dark = sum(1 for x in range(w) for y in range(h // 4, h)
               if max(img.getpixel((x, y))) < 100)
    assert red > 200 and dark > 1000, (red, dark)


def _signature_page(pdf: Path, b: bulletin.Bulletin) -> str:
    """The page with the 落款 (issuing office and date, on one page)."""
    text = pages(pdf)
    hits = [p for p in text if b.issuer in p]
    assert len(hits) == 1 and b.issued_text in hits[0], [p[-60:] for p in text[:4]]
    return hits[0]


def test_signature_never_alone_on_a_page(con, tmp_path):
    """Lengthen the last section line by line until the 落款 would fall at the top of the next page: the last
    body paragraph and the attachment list go over with it."""
    base = bulletin.compute(con, MARCH, settings=Settings())
    pdf = tmp_path / "base.pdf"
    pdf.write_bytes(docx_to_pdf(render_docx(base)))
    # free lines under the date on its page (A4, 35 mm bottom margin, fixed 28 pt line pitch)
    box = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    page = next(p for p in box.split("<page ")[1:] if base.issued_text.replace("年", "") in
                re.sub(r"<[^>]+>|\s", "", p).replace("年", ""))
    lines = re.findall(r'<line xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">(.*?)</line>', page, re.S)
    y_date = next(float(y1) for _, y1, body in lines if "日" in re.sub(r"<[^>]+>|\s", "", body)
                  and "2026" in body and "年" in body and "月" in body and "印发" not in body)
    free = int((297 / 25.4 * 72 - 35 / 25.4 * 72 - y_date) // 28)
    variants = []
    for extra in (free + 1, free + 2, free + 3):  # the date alone; issuer + date; blank + issuer + date
        filler = [f"补充说明第{k}条。" for k in range(1, extra + 1)]
        secs = base.sections[:-1] + [dataclasses.replace(base.sections[-1],
                                                         paragraphs=base.sections[-1].paragraphs + filler)]
        variants.append((extra, dataclasses.replace(base, sections=secs)))
    for (extra, b), data in zip(variants, docx_to_pdfs([render_docx(b) for _, b in variants])):
        pdf = tmp_path / f"b{extra}.pdf"
        pdf.write_bytes(data)
        page = _signature_page(pdf, b)
        assert f"补充说明第{extra}条。" in page, (extra, page)  # the last body paragraph is on the 落款's page
        assert page.index(f"补充说明第{extra}条。") < page.index("附件：") < page.index(b.issuer), page


# ---------------------------------------------------------------------------------------------------- preview, names
def test_preview_has_the_docx_punctuation(march):
    from dashboard import reports

    preview = reports.page_md(march).replace("\\", "")  # the escapes of ui.md
    body = [p.text for p in docx.Document(io.BytesIO(render_docx(march))).paragraphs]
    for s in bulletin.typeset_bulletin(march).sections:
        assert s.heading in preview and s.heading in body
        for p in s.paragraphs:
            assert p in preview, p
            assert not re.search(r"[,;()\"]|(?<!\d):", p), p
    assert "，" in preview and "“0”" in preview and "（二）吸毒人员。" in preview
    assert "附件：1.各地网格员账号活跃度统计表" in preview
    assert "综合排名表（红黑榜）" in preview and "综合排名表(红黑榜)" not in preview
    # md and json keep the spec's ASCII punctuation; thousands separators stay as they are
    assert '"0"' in bulletin.render_md(march)
    assert bulletin.typeset('共1,629件,其中"红牌"12:30前(含)') == "共1,629件，其中“红牌”12:30前（含）"


def test_file_names_carry_the_year(march, wh, tmp_path):
    assert march.file_name("docx") == "2026年3月份全县网格化服务管理工作情况通报.docx"
    assert march.file_name("xlsx", "附表") == "2026年3月份全县网格化服务管理工作情况通报附表.xlsx"
    assert march.file_name("pdf") == "2026年3月份全县网格化服务管理工作情况通报.pdf"
    assert march.file_name("md") == "2026年3月份全县网格化服务管理工作情况通报.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for fmt in ("docx", "xlsx"):
        p = subprocess.run([sys.executable, "-m", "warehouse", "bulletin", "--month", "2026-03", "--format", fmt,
                            "--warehouse", str(wh)], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["2026年3月份全县网格化服务管理工作情况通报.docx",
                                                         "2026年3月份全县网格化服务管理工作情况通报附表.xlsx"]
    r = review.compute(db.open_published(wh), W12, settings=Settings())
    assert review.file_name(r, "docx") == "2026年第12周全县领导周例会数据.docx"


# ---------------------------------------------------------------------------------------------------- xlsx
def test_xlsx_title_row_and_print_setup(march):
    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(march)))
    for ws in wb.worksheets:
        assert ws["A1"].value and ws["A1"].font.b and ws["A1"].font.sz >= 14, ws.title
        assert str(next(iter(ws.merged_cells.ranges))) == f"A1:{openpyxl.utils.get_column_letter(ws.max_column)}1"
        assert ws.print_title_rows == "$2:$2", ws.title  # the header row on every page
        ps = ws.page_setup
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ps.fitToWidth in (None, 1) and ps.fitToHeight == 0
        assert ps.paperSize == 9 and ps.orientation in ("portrait", "landscape")
        assert ws.page_margins.left == pytest.approx(0.6) and ws.page_margins.top == pytest.approx(0.8)
        assert ws.print_options.horizontalCentered and "&P" in ws.oddFooter.center.text
    assert wb["附件1 各地网格员账号活跃度统计表"]["A1"].value == "附件1 各地网格员账号活跃度统计表"
    assert wb["附件1 各地网格员账号活跃度统计表"].page_setup.orientation == "portrait"
    assert wb["附件3 事件办结情况统计表"].page_setup.orientation == "landscape"  # nine columns
    assert wb["通报正文"]["A1"].value == "3月份全县网格化服务管理工作情况通报 通报正文"


# ---------------------------------------------------------------------------------------------------- weekly review
def test_review_default_period_is_the_last_complete_week():
    for today, key in (("2026-12-02", "2026-W48"), ("2026-11-30", "2026-W48"), ("2026-11-29", "2026-W47"),
                       ("2027-01-03", "2026-W52"), ("2026-01-04", "2025-W52")):
        assert review.default_period(dt.date.fromisoformat(today)).key == key, today


def test_review_as_docx_and_pdf(con, wh, tmp_path):
    r = review.compute(con, W12, settings=Settings())
    d = docx.Document(io.BytesIO(render_review_docx(r)))
    texts = [p.text for p in d.paragraphs]
    assert texts[0] == "全县网格化服务管理周例会数据"
    assert "红榜：文昌镇农村网格、宏仁、卧龙；黑榜：长卿、双峰、大新。其中，长卿、双峰连续两期列入黑榜。" in texts
    rows = [[c.text for c in row.cells] for row in d.tables[0].rows]
    assert rows[0] == ["指标", "本期", "上周", "较上周", "上月同周", "较上月同周"]
    assert rows[1] == ["网格员账号活跃度", "68.4%", "65%", "好转", "63.2%", "好转"]
    assert ["超期未办结", "5", "4", "下滑", "2", "下滑"] in rows
    assert [row.cells[1].text for row in d.tables[1].rows][1:4] == ["文昌镇农村网格", "宏仁", "卧龙"]
    assert set(re.findall(r'w:eastAsia="([^"]+)"', " ".join(re.findall(r"<w:rFonts [^>]*>", d.element.xml)))) \
        <= OFFICIAL
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "warehouse", "review", *args, "--warehouse", str(wh)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)

    p = cli("--period", "2026-W12", "--format", "pdf")
    assert p.returncode == 0, p.stderr
    pdf = tmp_path / "2026年第12周全县领导周例会数据.pdf"
    text = "".join(pages(pdf))
    assert "全县网格化服务管理周例会数据" in text and "网格员账号活跃度68.4%65%好转63.2%好转" in text
    assert "红榜：文昌镇农村网格、宏仁、卧龙" in text
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "CJK" in fonts and "DejaVu" not in fonts
    # without --period: the last complete ISO week, which this county (January–March 2026) has no data for
    p = cli("--format", "json")
    last = review.default_period()
    assert p.returncode == 2 and not p.stdout, p.stderr
    assert f"没有 {last.key} ({last.label}) 的数据" in p.stderr and "2026-01-01 至 2026-03-31" in p.stderr

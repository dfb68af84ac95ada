"""The tables behind the monthly bulletin as a workbook (.xlsx): one sheet per appendix table (附件1 …), then
「通报分组」 (every group of every section with its units and figures, as the text names them) and 「通报正文」
(the text, one paragraph a row). Each sheet: the title in row 1 (merged over the columns), the header in row 2,
both frozen; column widths set from the content; rates as numbers formatted as percentages ("—" where a rate
has nothing to divide); print set-up: A4, portrait or landscape by the table's width, fit to one page wide,
the header row repeated on every page, margins, page numbers in the footer.

    render_xlsx(b: Bulletin) -> bytes
"""
from __future__ import annotations

import io
import re

import xlsxwriter

from warehouse.bulletin import Bulletin, _clean
from warehouse.cells import SafeWorksheet  # text cells: one rule for every export

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
PORTRAIT_MAX_WIDTH = 95  # column width units that fit across a portrait A4 page at 100 %; wider: landscape
TITLE_ROW, HEAD_ROW = 0, 1  # rows of the title and the header; data from row 3 (index 2)


def _print_setup(ws, widths: list[float], last_row: int, title: str, title_fmt) -> None:
    """Title row merged over the columns, and the print set-up: A4, orientation by width, fit to width, the
    header row repeated, margins, page numbers."""
    ncols = len(widths)
    ws.set_row(TITLE_ROW, 32)
    if ncols > 1:
        ws.merge_range(TITLE_ROW, 0, TITLE_ROW, ncols - 1, title, title_fmt)
    else:
        ws.write_string(TITLE_ROW, 0, title, title_fmt)
    ws.freeze_panes(HEAD_ROW + 1, 0)
    ws.autofilter(HEAD_ROW, 0, max(last_row, HEAD_ROW + 1), ncols - 1)
    ws.set_paper(9)  # A4
    if sum(widths) > PORTRAIT_MAX_WIDTH:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.fit_to_pages(1, 0)  # one page wide, as many pages long as needed
    ws.repeat_rows(HEAD_ROW)
    ws.set_margins(left=0.6, right=0.6, top=0.8, bottom=0.8)
    ws.center_horizontally()
    ws.set_footer("&C第 &P 页 共 &N 页")


def _width(v) -> float:
    s = "" if v is None else (f"{v:.1%}" if isinstance(v, float) else str(v))
    return sum(2.0 if ord(c) > 0x2E7F else 1.1 for c in s)


def _sheet_name(text: str, used: set[str]) -> str:
    name = _BAD_SHEET_CHARS.sub("", text).replace("(", "(").replace(")", ")")[:31]
    base, i = name, 2
    while name in used:
        name = f"{base[:28]}_{i}"
        i += 1
    used.add(name)
    return name


def render_xlsx(b: Bulletin) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
    wb.set_properties({"title": b.title, "author": b.issuer, "subject": f"{b.month} 月度通报",
                       "comments": f"数据仓库版本 {b.warehouse_version}"})
    head = wb.add_format({"bold": True, "align": "center", "valign": "vcenter", "text_wrap": True, "border": 1,
                          "bg_color": "#D9E1F2", "font_name": "宋体"})
    fmt = {
        "text": wb.add_format({"border": 1, "font_name": "宋体"}),
        "int": wb.add_format({"border": 1, "num_format": "0", "font_name": "宋体"}),
        "pct": wb.add_format({"border": 1, "num_format": "0.0%", "font_name": "宋体"}),
        "score": wb.add_format({"border": 1, "num_format": "0.0", "font_name": "宋体"}),
    }
    dash = wb.add_format({"border": 1, "align": "center", "font_name": "宋体"})
    total_fmt = {k: wb.add_format({**{"border": 1, "bold": True, "font_name": "宋体"},
                                   **({"num_format": f.num_format} if f.num_format else {})})
                 for k, f in fmt.items()}
    wrap = wb.add_format({"text_wrap": True, "valign": "top", "font_name": "宋体"})
    title_fmt = wb.add_format({"bold": True, "font_size": 16, "align": "center", "valign": "vcenter",
                               "font_name": "宋体"})
    used: set[str] = set()

    for i, t in enumerate(b.tables, 1):
        ws = wb.add_worksheet(_sheet_name(f"附件{i} {t.title}", used), worksheet_class=SafeWorksheet)
        widths = [_width(c) for c in t.columns]
        ws.set_row(HEAD_ROW, 30)
        for j, c in enumerate(t.columns):
            ws.write_string(HEAD_ROW, j, c, head)
        for r, row in enumerate(t.rows, HEAD_ROW + 1):
            is_total = len(row) > 1 and row[1] == "合计"
            for j, v in enumerate(row):
                v = _clean(v)
                kind = t.formats[j]
                f = (total_fmt if is_total else fmt)[kind]
                if v is None:
                    ws.write_string(r, j, "—", dash)
                elif isinstance(v, str):
                    ws.write_string(r, j, v, f if v else fmt["text"])
                elif kind == "score":
                    ws.write_number(r, j, round(v * 100, 1), f)
                else:
                    ws.write_number(r, j, v, f)
                widths[j] = max(widths[j], _width(v) if kind != "pct" or v is None else 7)
        widths = [min(max(w + 2, 6), 40) for w in widths]
        for j, w in enumerate(widths):
            ws.set_column(j, j, w)
        _print_setup(ws, widths, HEAD_ROW + len(t.rows), f"附件{i} {t.title}", title_fmt)
        ws.set_header(f"&C&\"宋体,Bold\"{b.title} 附件{i}")
        if t.note:
            ws.write_string(HEAD_ROW + len(t.rows) + 2, 0, f"注: {t.note}")

    # the groups the text names
    ws = wb.add_worksheet(_sheet_name("通报分组", used), worksheet_class=SafeWorksheet)
    cols = ["部分", "分组", "序号", "名称", "简称", "数值1", "数值2", "比率"]
    for j, c in enumerate(cols):
        ws.write_string(HEAD_ROW, j, c, head)
    r = HEAD_ROW + 1

    def put(part: str, group: str, items: list[dict], a: str, c: str, rate: str) -> None:
        nonlocal r
        for k, u in enumerate(items, 1):
            ws.write_string(r, 0, part, fmt["text"])
            ws.write_string(r, 1, group, fmt["text"])
            ws.write_number(r, 2, k, fmt["int"])
            ws.write_string(r, 3, u.get("full_name") or u["name"], fmt["text"])
            ws.write_string(r, 4, u["name"], fmt["text"])
            for j, key, f in ((5, a, "int"), (6, c, "int"), (7, rate, "pct")):
                v = u.get(key)
                if v is None:
                    ws.write_string(r, j, "—" if key else "", dash if key else fmt["text"])
                else:
                    ws.write_number(r, j, v, fmt[f])
            r += 1

    act, ev, kt, rb = (b.section(k) for k in ("activity", "events", "key_tasks", "red_black"))
    for g, items in act.data["groups"].items():
        put("账号活跃度(账号数/活跃数)", g, items, "accounts", "active", "rate")
    for g, key in (("有活跃", "above_zero"), ("为0", "zero"), ("未开通账号", "no_account")):
        put("部门账号活跃度(账号数/活跃数)", g, act.data["offices"][key], "accounts", "active", "rate")
    for g, items in ev.data["groups"].items():
        put("事件办结(上报/办结)", g, items, "reported", "closed", "completion_rate")
    for cat in kt.data["categories"]:
        put(f"{cat['category']}(报送/全部签收)", "报送单位", cat["reporters"], "reported", "fully_signed",
            "fully_signed_rate")
        put(f"{cat['category']}(报送/全部签收)", "报送相对较好", cat["report_good"], "reported", "", "")
        put(f"{cat['category']}(报送/全部签收)", "签收相对较好", cat["sign_good"], "reported", "fully_signed",
            "fully_signed_rate")
        for kind, items in cat["offices_signed"].items():
            put(f"{cat['category']}(应签收/已签收)", f"{kind}进行了签收", items, "received", "signed", "")
    put("红黑榜(排名)", "红榜", rb.data["red"], "rank", "", "score")
    put("红黑榜(排名)", "黑榜", rb.data["black"], "rank", "", "score")
    put("红黑榜(排名)", "连续两月黑榜", rb.data["black_repeat"], "rank", "", "score")
    widths = (28, 14, 6, 16, 14, 10, 10, 10)
    for j, w in enumerate(widths):
        ws.set_column(j, j, w)
    _print_setup(ws, list(widths), r - 1, f"{b.title} 通报分组", title_fmt)

    # the text
    ws = wb.add_worksheet(_sheet_name("通报正文", used), worksheet_class=SafeWorksheet)
    ws.write_string(HEAD_ROW, 0, "段落", head)
    ws.write_string(HEAD_ROW, 1, "内容", head)
    lines = [("标题", b.title), ("主送", b.addressee), ("引言", b.intro)]
    for s in b.sections:
        lines.append(("标题", s.heading))
        lines += [("正文", p) for p in s.paragraphs]
    lines += [("附件", "附件:" + ";".join(b.attachment_lines)), ("落款", b.issuer), ("日期", b.issued_text)]
    for k, (kind, text) in enumerate(lines, HEAD_ROW + 1):
        ws.write_string(k, 0, kind, fmt["text"])
        ws.write_string(k, 1, text, wrap)
    ws.set_column(0, 0, 8)
    ws.set_column(1, 1, 80)
    _print_setup(ws, [8, 80], HEAD_ROW + len(lines), f"{b.title} 通报正文", title_fmt)
    wb.close()
    return buf.getvalue()

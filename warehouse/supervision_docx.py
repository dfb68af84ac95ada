"""The 督办单 (supervision order) as a document in the monthly bulletin's format (warehouse/bulletin_docx.py):

    render_order_docx(order, county="示例县") -> bytes

Title, the 文号, the unit it goes to, the warning with its reason line, the items with their days overdue (a table:
events past their deadline, or sign-offs past the red limit; reported persons' names as stored: masked), the
deadline to answer, the issuing office and date. No event text.
"""
from __future__ import annotations

import io

from docx.enum.text import WD_ALIGN_PARAGRAPH

from warehouse import fmt
from warehouse.bulletin import Table, typeset
from warehouse.bulletin_docx import _keep, _text_width, _Writer
from warehouse.supervision import Order


def file_name(order: Order) -> str:
    return f"督办单_{order.unit_name}_{order.issued_at:%Y%m%d}_{order.id}.docx"


def render_order_docx(order: Order, county: str = "", issuer: str = "") -> bytes:
    w = _Writer()
    title = f"{county}网格化服务管理督办单"
    w.doc.core_properties.title = f"{title} {order.number}"
    w.title(title)
    w.para(order.number, indent=False, align=WD_ALIGN_PARAGRAPH.CENTER, font=w.kai)
    w.para(f"{order.unit_name}：", indent=False)
    w.para(typeset(f"截至{order.as_of.year}年{order.as_of.month}月{order.as_of.day}日，监测发现：{order.reason}。"))
    deadline = f"{order.deadline.year}年{order.deadline.month}月{order.deadline.day}日"
    if order.items:
        what = "办结" if order.items[0]["kind"] == "event" else "签收"
        w.para(typeset(f"现将需要{what}的 {len(order.items)} 项列出如下，请于{deadline}前完成{what}并报送处理情况。"))
        w.heading("一、督办事项")
        if order.items[0]["kind"] == "event":
            t = Table("items", "督办事项", ["序号", "事件编号", "类别", "网格", "上报时间", "办理期限", "超期天数"],
                      ["int", "text", "text", "text", "text", "text", "int"],
                      [[i, x["item_id"], x["category"] or "—", x["grid_name"] or "—", fmt.date(x["reported_at"]),
                        fmt.date(x["deadline"]), x["days_overdue"]] for i, x in enumerate(order.items, 1)])
        else:
            t = Table("items", "督办事项", ["序号", "报送编号", "类别", "人员", "网格", "报送时间", "超时天数"],
                      ["int", "text", "text", "text", "text", "text", "int"],
                      [[i, x["item_id"], x["category"] or "—", x["person_name"] or "—", x["grid_name"] or "—",
                        fmt.date(x["reported_at"]), x["days_overdue"]] for i, x in enumerate(order.items, 1)])
        w.table(None, t)
    else:
        w.para(typeset(f"请于{deadline}前查明原因、落实整改并报送情况。"))
    w.heading("二、答复要求")
    w.para(typeset(f"答复期限：{deadline}。逾期未答复的，将在季度考核中扣分。"))
    tail = [w.blank(), w.blank()]
    issuer = issuer or f"{county}网格化服务管理中心"
    date_text = f"{order.issued_at.year}年{order.issued_at.month}月{order.issued_at.day}日"
    tail.append(w.right(issuer, max(0.0, 4 + (_text_width(date_text) - _text_width(issuer)) / 2)))
    _keep(tail)
    w.right(date_text, 4)
    buf = io.BytesIO()
    w.doc.save(buf)
    return buf.getvalue()

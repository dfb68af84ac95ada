"""The 季点评 (quarterly assessment) and the 年总评 (annual assessment) as official documents (.docx), in the
monthly bulletin's format: the same writer (warehouse/bulletin_docx.py: GB/T 9704 page, faces, headings, tables,
page numbers, 红头 and 版记 from [bulletin]), full-width punctuation (bulletin.typeset).

    render_docx(a: Assessment | YearAssessment) -> bytes
"""
from __future__ import annotations

import io

from core.config import settings as default_settings
from warehouse import fmt
from warehouse.assessment import GRADES, INDICATORS, Assessment, YearAssessment
from warehouse.bulletin import Table, typeset, unit_names
from warehouse.bulletin_docx import _keep, _text_width, _Writer


def _lists(pass_score: float, reward_score: float, groups: dict[str, list[dict]]) -> list[str]:
    """The 奖励 / 达标 / 不达标 sentences (the units in rank order)."""
    named = lambda us: unit_names(us) if us else "无"  # noqa: E731
    out = [f"（一）奖励名单（{fmt.score(reward_score, 0)}分及以上）：{named(groups['优秀'])}。"]
    if reward_score > pass_score:
        out.append(f"（二）达标单位（{fmt.score(pass_score, 0)}分至{fmt.score(reward_score, 0)}分）：{named(groups['达标'])}。")
    out.append(f"（{'三' if reward_score > pass_score else '二'}）不达标单位（低于{fmt.score(pass_score, 0)}分，"
               f"列入问责名单）：{named(groups['不达标'])}。")
    return out


def _ranking_table(a: Assessment) -> Table:
    return Table("ranking", f"{a.quarter.label}考核排名表",
                 ["名次", "单位", "总分", "等次", "上季度得分", "上季度名次", "名次变化"],
                 ["int", "text", "points", "text", "points", "int", "move"],
                 [[u["rank"], u["name"], u["score"], u["grade"] or "—", u["prev_score"], u["prev_rank"],
                   u["movement"]] for u in a.units],
                 note=f"总分{fmt.score(a.reward_score, 0)}分及以上列入奖励名单, 低于{fmt.score(a.pass_score, 0)}分为不达标"
                      "(列入问责名单); 名次变化 = 上季度名次 − 本季度名次(↑上升, ↓下降)。")


def _scores_table(a: Assessment) -> Table:
    ind = [(k, n) for k, n in INDICATORS if a.weights[k] > 0]
    return Table("scores", f"{a.quarter.label}考核分项得分表",
                 ["名次", "单位", *[n for _, n in ind], "总分"],
                 ["int", "text", *["points"] * len(ind), "points"],
                 [[u["rank"], u["name"], *[u[f"score_{k}"] for k, _ in ind], u["score"]] for u in a.units],
                 note="权重: " + "、".join(f"{n}{fmt.score(a.weights[k], 0)}分" for k, n in ind) + "。"
                      "各项得分 = 权重 × 指标完成率(超过100%按100%计); 某项无考核基数(如本季度无事件)时, "
                      "其权重按比例分配给该单位的其余各项(“—”); 未下发督办的单位督办答复率得满分。"
                      + ("有效活跃度数据未接入, 其权重已分配给其余各项。" if not a.connected.get("effective") else ""))


def _rates_table(a: Assessment) -> Table:
    ind = [(k, n) for k, n in INDICATORS if a.weights[k] > 0]
    return Table("rates", f"{a.quarter.label}考核指标完成情况表", ["序号", "单位", *[n for _, n in ind]],
                 ["int", "text", *["pct"] * len(ind)],
                 [[i, u["name"], *[u[f"{k}_rate"] if k != "supervision" or u["supervision_issued"] else None
                                   for k, _ in ind]]
                  for i, u in enumerate(sorted(a.units, key=lambda u: u["rank"] or 999), 1)],
                 note="季度指标按季度内各月汇总计算(与月度通报同一口径); 采集率取季度末数据; "
                      "督办答复率“—”为本季度未下发督办。")


def _finish(w: _Writer, last, attachments: list[str], issuer: str, issued_text: str, tables: list[Table]) -> bytes:
    tail = [last] if last is not None else []
    tail.append(w.blank())
    tail += w.attachments(attachments)
    tail += [w.blank(), w.blank()]
    tail.append(w.right(issuer, max(0.0, 4 + (_text_width(issued_text) - _text_width(issuer)) / 2)))
    _keep(tail)
    w.right(issued_text, 4).paragraph_format.keep_together = True
    for i, t in enumerate(tables, 1):
        w.table(i, t)
    b = default_settings().bulletin
    if b.cc or b.printed_by:
        w.record(b.cc, b.printed_by, issued_text)
    buf = io.BytesIO()
    w.doc.save(buf)
    return buf.getvalue()


def _head(w: _Writer, title: str) -> None:
    b = default_settings().bulletin
    if b.red_header:
        w.red_header(b.red_header, "")
    w.title(title)


def _date_text(d) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def render_quarter(a: Assessment) -> bytes:
    w = _Writer()
    w.doc.core_properties.title = a.title
    w.doc.core_properties.author = a.issuer
    w.doc.core_properties.subject = f"{a.quarter.key} 季度考核"
    _head(w, a.title)
    w.para(typeset("各乡镇、县级有关部门:" if a.area == "全县" else f"{a.area}各社区(村)、有关部门:"), indent=False)
    w.para(typeset(f"根据网格化服务管理工作季度考核办法(百分制,{fmt.score(a.pass_score, 0)}分为达标线),"
                   f"现将{a.quarter.label}{a.area}考核情况通报如下"
                   + (f"(本季度尚未结束,数据截至{a.as_of:%Y年%m月%d日})。" if a.as_of else "。")))
    scored = a.scored
    w.heading("一、总体情况")
    if scored:
        best, worst = scored[0], scored[-1]
        text = (f"本季度参加考核单位{len(scored)}个,平均得分{fmt.score(a.mean_score)}分;"
                f"{len(a.grade('优秀')) + len(a.grade('达标'))}个单位达标,{len(a.grade('不达标'))}个单位不达标。"
                f"{best['full_name']}得分最高({fmt.score(best['score'])}分)")
        text += f",{worst['full_name']}得分最低({fmt.score(worst['score'])}分)。" if worst is not best else "。"
    else:
        text = "本季度各单位均无考核基数。"
    last = w.para(typeset(text))
    w.heading("二、考核结果")
    for line in _lists(a.pass_score, a.reward_score, {g: a.grade(g) for g in GRADES}):
        last = w.para(line)
    w.heading("三、名次变化")
    if a.has_prev:
        up = sorted((u for u in scored if (u["movement"] or 0) > 0), key=lambda u: -u["movement"])
        down = sorted((u for u in scored if (u["movement"] or 0) < 0), key=lambda u: u["movement"])
        parts = []
        if up:
            parts.append("较上季度名次上升的有" + "、".join(f"{u['name']}(上升{u['movement']}位)" for u in up))
        if down:
            parts.append("名次下降的有" + "、".join(f"{u['name']}(下降{-u['movement']}位)" for u in down))
        text = ";".join(parts) + "。" if parts else "各单位名次与上季度相同。"
    else:
        text = "上季度无考核数据,本季度不作名次比较。"
    last = w.para(typeset(text))
    tables = [_ranking_table(a), _scores_table(a), _rates_table(a)]
    return _finish(w, last, [f"{i}.{t.title}" for i, t in enumerate(tables, 1)], a.issuer, _date_text(a.issued),
                   tables)


def render_year(y: YearAssessment) -> bytes:
    w = _Writer()
    w.doc.core_properties.title = y.title
    w.doc.core_properties.author = y.issuer
    w.doc.core_properties.subject = f"{y.year} 年度总评"
    _head(w, y.title)
    w.para(typeset("各乡镇、县级有关部门:" if y.area == "全县" else f"{y.area}各社区(村)、有关部门:"), indent=False)
    labels = "、".join(q.quarter.label.removeprefix(f"{y.year}年") for q in y.quarters)
    w.para(typeset(f"根据网格化服务管理工作考核办法,年度得分为各季度考核得分的平均值({labels})。"
                   f"现将{y.year}年度{y.area}考核总评情况通报如下。"))
    w.heading("一、总体情况")
    scored = [u for u in y.units if u["score"] is not None]
    text = f"{y.year}年度参加考核单位{len(scored)}个"
    if scored:
        text += (f",{scored[0]['full_name']}年度得分最高({fmt.score(scored[0]['score'])}分);"
                 f"{len(y.grade('优秀')) + len(y.grade('达标'))}个单位达标,{len(y.grade('不达标'))}个单位不达标")
    if y.missing_quarters:
        text += f";{'、'.join(y.missing_quarters)}无考核数据,未计入"
    last = w.para(typeset(text + "。"))
    w.heading("二、年度考核结果")
    for line in _lists(y.pass_score, y.reward_score, {g: y.grade(g) for g in GRADES}):
        last = w.para(line)
    qs = [q.quarter.key for q in y.quarters]
    table = Table("year", f"{y.year}年度考核总评表",
                  ["名次", "单位", *[f"{CN}季度" for CN in (q.quarter.label[-3:-2] for q in y.quarters)], "年度得分",
                   "等次"],
                  ["int", "text", *["points"] * len(qs), "points", "text"],
                  [[u["rank"], u["name"], *[u["quarterly"].get(k, {}).get("score") for k in qs], u["score"],
                    u["grade"] or "—"] for u in y.units],
                  note="年度得分为各季度得分的平均值(无得分的季度不计入); 各季度得分见当季考核情况通报。")
    return _finish(w, last, [f"1.{table.title}"], y.issuer, _date_text(y.issued), [table])


def render_docx(a: Assessment | YearAssessment) -> bytes:
    return render_year(a) if isinstance(a, YearAssessment) else render_quarter(a)



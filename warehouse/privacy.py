"""Personal data: masking rules of docs/roles.md, applied where data leaves the metrics layer.

    张三丰 → 张**        510723199001011234 → 510723********1234        13812345678 → 138****5678

Free text (event summaries, flow notes, delivered rows) keeps its words but has masked inside it: ID numbers
(18 or 15 digits, also written in groups `510723-19900101-1234`, full-width digits), mobile numbers (`13812345678`,
`+86 138 1234 5678`, `138-1234-5678`), the names the warehouse knows (accounts, reported persons) wherever they
occur, and name-like words (a common surname and one or two characters where a name stands: `张三丰与李四光` →
`张**与李**`, `居民赵大勇反映` → `居民赵**反映`).
Columns are recognised by name, one list for the whole project: the feed contract (core.spec, Column.personal)
says which columns are names, ID numbers, phones and free text; a query that returns personal data must use
these names.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable

import pandas as pd

from core import spec

NAME_COLUMNS = spec.personal_columns("name")
ID_COLUMNS = spec.personal_columns("id")
PHONE_COLUMNS = spec.personal_columns("phone")
TEXT_COLUMNS = spec.personal_columns("text")
RAW_COLUMNS = ("raw",)  # a delivered row as JSON text (quarantine): its personal fields are masked inside
PERSONAL_COLUMNS = NAME_COLUMNS + ID_COLUMNS + PHONE_COLUMNS + TEXT_COLUMNS + RAW_COLUMNS

_D = "[0-9０-９]"  # ASCII or full-width digits
_SEP = "[-‐－—–.·\\s]?"  # what people put between groups of digits (a space, a dash, a dot)
# 18-digit ID numbers (6 + 8 + 4, the last may be X) and 15-digit ones (6 + 6 + 3), groups optionally separated
_ID_IN_TEXT = re.compile(
    rf"(?<![0-9０-９A-Za-z])({_D}{{6}}){_SEP}({_D}{{8}}){_SEP}({_D}{{3}}[0-9０-９XxＸｘ])(?![0-9０-９A-Za-z])"
    rf"|(?<![0-9０-９A-Za-z])({_D}{{6}}){_SEP}({_D}{{6}}){_SEP}({_D}{{3}})(?![0-9０-９A-Za-z])")
# mobile numbers: optionally +86 / 0086 / 86 in front, 3 + 4 + 4 digits optionally separated
_PHONE_IN_TEXT = re.compile(
    rf"(?<![0-9０-９])((?:(?:[+＋]|00)?86{_SEP})?)(1[3-9]{_D}|１[３-９]{_D}){_SEP}({_D}{{4}}){_SEP}({_D}{{4}})(?![0-9０-９])")

# Name-like words in free text: a common surname and one or two more characters, where a name stands — after the
# start, punctuation, 与/和/及/、 or a word for a person (居民, 村民, 当事人 …) and before punctuation, the end,
# 与/和/、, a verb of speech (反映, 称 …) or a word that follows a name (家, 先生, 电话 …). Known names (accounts,
# reported persons: passed by the metrics layer) are masked wherever they occur.
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任"
            "沈姚卢姜崔钟谭陆汪范金石廖贾夏付傅方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万严向汤文蒲敬"
            "覃钱武戴莫孔葛韦申闫殷施牛洪季麦")
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "令狐", "慕容", "公孙", "司徒", "长孙")
_CJK = "[\u4e00-\u9fff]"
_BEFORE_WORDS = ("居民", "村民", "群众", "市民", "户主", "业主", "租户", "住户", "房东", "租客", "邻居", "当事人",
                 "反映人", "举报人", "报告人", "报警人", "来电人", "老人", "患者", "人员", "网格员", "对象", "学生",
                 "儿子", "女儿", "妻子", "丈夫", "母亲", "父亲", "家属", "姓名", "联系人", "负责人", "老板", "师傅")
_AFTER_WORDS = ("反映", "称", "说", "诉", "家", "等", "先生", "女士", "老人", "大爷", "大妈", "阿姨", "同志", "电话",
                "手机", "联系", "身份证", "因", "在", "于", "到", "来", "去", "向", "被", "将", "把", "对", "的", "户",
                "夫妇", "之", "一家", "本人", "私自", "擅自", "长期", "多次", "驾驶", "饲养", "占用", "堆放", "所有")
_PUNCT = "与和及同跟、，,。；;：:！!？?\\s（()）“”\"'《》【】\\[\\]"
_BEFORE = "(?:^|(?<=[" + _PUNCT + "])|" + "|".join(f"(?<={w})" for w in _BEFORE_WORDS) + ")"
_AFTER = "(?=$|[" + _PUNCT + "]|" + "|".join(_AFTER_WORDS) + ")"
_SURNAME = "|".join(COMPOUND_SURNAMES) + "|[" + SURNAMES + "]"
_NAME_IN_TEXT = re.compile(  # the surname first: most positions fail on one character class
    "(?=" + _SURNAME + ")" + _BEFORE + "(" + _SURNAME + ")(" + _CJK + "{1,2}?)" + _AFTER)
# words that look like a surname and a name where one stands, but are not names
NOT_NAMES = frozenset("黄牌 红牌 黄灯 红灯 周边 方面 方便 高速 马路 石头 江边 金额 万元 龙头 白天 田地 林地 陆续 夏季 "
                      "冯某 王某 李某 张某 刘某 陈某 杨某 赵某 某某 文明 文化 文件 程序 严重 向上 任务 任何 "
                      "余下 叶子 毛病 雷电 龙卷 孔洞 施工 沈阳 黎明 江河 汤水 石料 金属 牛羊 马匹 洪水 季度 "
                      "高空 高温 高压 周末 周围 周期 钱款 武装 段落 史料 韦某 段某 何时 何处 许多 许可 夏天 "
                      "程度 宋体 谢谢 林木 田间 石板 金钱 严格 万一 向阳 汪洋".split())


def mask_name(v: object) -> object:
    if not isinstance(v, str) or not v:
        return v
    return v[0] + "*" * max(1, len(v) - 1)


def mask_id(v: object) -> object:
    if not isinstance(v, str) or not v:
        return v
    if len(v) >= 10:
        return v[:6] + "*" * (len(v) - 10) + v[-4:]
    return "*" * len(v)


def mask_phone(v: object) -> object:
    if not isinstance(v, str) or not v:
        return v
    if len(v) >= 7:
        return v[:3] + "*" * (len(v) - 7) + v[-4:]
    return "*" * len(v)


def _mask_id_match(m: re.Match) -> str:
    if m.group(1):  # 18 digits: 6 + 8 masked + 4
        return m.group(1) + "********" + m.group(3)
    return m.group(4) + "*****" + m.group(5)[-1] + m.group(6)  # 15 digits: 6 + 5 masked + 4


class KnownNames:
    """Names to mask wherever they occur in free text (two characters or more): a set looked up at every position,
    longest first (a regular expression of thousands of alternatives would try each one at every position)."""

    def __init__(self, names: Iterable[str]):
        self.names = frozenset(n.strip() for n in names if isinstance(n, str) and len(n.strip()) >= 2)
        self.lengths = sorted({len(n) for n in self.names}, reverse=True)
        self.first = frozenset(n[0] for n in self.names)

    def sub(self, text: str) -> str:
        if not self.names or not self.first.intersection(text):
            return text
        out, i, n = [], 0, len(text)
        while i < n:
            if text[i] not in self.first:
                out.append(text[i])
                i += 1
                continue
            for k in self.lengths:
                if text[i:i + k] in self.names:
                    out.append(mask_name(text[i:i + k]))
                    i += k
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)


def mask_text(v: object, names: KnownNames | None = None) -> object:
    """ID numbers, mobile numbers and name-like words inside free text are masked; the rest stays readable.

    `names`: known names (KnownNames), masked wherever they occur; besides those, a common
    surname with one or two more characters is masked where a name stands (see _NAME_IN_TEXT)."""
    if not isinstance(v, str) or not v:
        return v
    v = _ID_IN_TEXT.sub(_mask_id_match, v)
    v = _PHONE_IN_TEXT.sub(lambda m: m.group(1) + m.group(2) + "****" + m.group(4), v)
    if names is not None:
        v = names.sub(v)

    def _name(m: re.Match) -> str:
        word = m.group(1) + m.group(2)
        if word in NOT_NAMES or m.group(2).startswith("某") or "*" in word:
            return word
        return m.group(1) + "*" * len(m.group(2))

    return _NAME_IN_TEXT.sub(_name, v)


_MASKERS = {**{c: mask_name for c in NAME_COLUMNS}, **{c: mask_id for c in ID_COLUMNS},
            **{c: mask_phone for c in PHONE_COLUMNS}, **{c: mask_text for c in TEXT_COLUMNS}}


def mask_raw(v: object, names: KnownNames | None = None) -> object:
    """Mask the personal fields of a delivered row kept as JSON text; unreadable text is masked as free text."""
    if not isinstance(v, str) or not v:
        return v
    try:
        row = json.loads(v)
    except ValueError:
        return mask_text(v, names)
    if not isinstance(row, dict):
        return mask_text(v, names)
    out = {k: (_MASKERS[k](val) if k in NAME_COLUMNS + ID_COLUMNS + PHONE_COLUMNS else mask_text(val, names))
           for k, val in row.items()}
    return json.dumps(out, ensure_ascii=False)


_MASKERS_ALL = {**_MASKERS, **{c: mask_raw for c in RAW_COLUMNS}}


def apply(df: pd.DataFrame, personal: str, names: KnownNames | None = None) -> pd.DataFrame:
    """personal: 'full' → unchanged; 'masked' → masked; 'none' → personal columns removed. `names`: known names
    (KnownNames) masked inside free text."""
    cols = [c for c in df.columns if c in _MASKERS_ALL]
    if not cols or personal == "full":
        return df
    if personal == "none":
        return df.drop(columns=cols)
    if personal != "masked":
        raise ValueError(personal)
    df = df.copy()
    for c in cols:
        f = _MASKERS_ALL[c]
        if c in TEXT_COLUMNS or c in RAW_COLUMNS:
            df[c] = df[c].map(lambda v, f=f: f(v, names), na_action="ignore")
        else:
            df[c] = df[c].map(f, na_action="ignore")
    return df


def has_text(df: pd.DataFrame) -> bool:
    """Whether `df` holds free text (where known names are looked for)."""
    return any(c in TEXT_COLUMNS or c in RAW_COLUMNS for c in df.columns)

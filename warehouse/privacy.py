"""Personal data: masking rules of shared/domain.md, applied where data leaves the metrics layer.

    张三丰 → 张**        510723199001011234 → 510723********1234        13812345678 → 138****5678

Free text (event summaries, flow notes) keeps its words but has ID and phone numbers inside it masked.
Columns are recognised by name, one list for the whole project: a query that returns personal data must use
these names.
"""
from __future__ import annotations

import json
import re

import pandas as pd

NAME_COLUMNS = ("person_name",)
ID_COLUMNS = ("id_number",)
PHONE_COLUMNS = ("phone",)
TEXT_COLUMNS = ("summary", "note")
RAW_COLUMNS = ("raw",)  # a delivered row as JSON text (quarantine): its personal fields are masked inside
PERSONAL_COLUMNS = NAME_COLUMNS + ID_COLUMNS + PHONE_COLUMNS + TEXT_COLUMNS + RAW_COLUMNS

_ID_IN_TEXT = re.compile(r"(?<!\d)(\d{6})(\d{8})(\d{3}[\dXx])(?!\d)|(?<!\d)(\d{6})(\d{6})(\d{3})(?!\d)")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


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


def mask_text(v: object) -> object:
    """ID numbers and mobile numbers inside free text are masked; the rest of the text stays readable."""
    if not isinstance(v, str) or not v:
        return v

    def _id(m: re.Match) -> str:
        if m.group(1):  # 18 digits: 6 + 8 masked + 4
            return m.group(1) + "********" + m.group(3)
        return m.group(4) + "*****" + m.group(5)[-1] + m.group(6)  # 15 digits: 6 + 5 masked + 4

    v = _ID_IN_TEXT.sub(_id, v)
    return _PHONE_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(3), v)


_MASKERS = {**{c: mask_name for c in NAME_COLUMNS}, **{c: mask_id for c in ID_COLUMNS},
            **{c: mask_phone for c in PHONE_COLUMNS}, **{c: mask_text for c in TEXT_COLUMNS}}


def mask_raw(v: object) -> object:
    """Mask the personal fields of a delivered row kept as JSON text; unreadable text is masked as free text."""
    if not isinstance(v, str) or not v:
        return v
    try:
        row = json.loads(v)
    except ValueError:
        return mask_text(v)
    if not isinstance(row, dict):
        return mask_text(v)
    out = {k: (_MASKERS[k](val) if k in _MASKERS else mask_text(val)) for k, val in row.items()}
    return json.dumps(out, ensure_ascii=False)


_MASKERS_ALL = {**_MASKERS, **{c: mask_raw for c in RAW_COLUMNS}}


def apply(df: pd.DataFrame, personal: str) -> pd.DataFrame:
    """personal: 'full' → unchanged; 'masked' → masked; 'none' → personal columns removed."""
    cols = [c for c in df.columns if c in _MASKERS_ALL]
    if not cols or personal == "full":
        return df
    if personal == "none":
        return df.drop(columns=cols)
    if personal != "masked":
        raise ValueError(personal)
    df = df.copy()
    for c in cols:
        df[c] = df[c].map(_MASKERS_ALL[c], na_action="ignore")
    return df

"""Source profiles: a foreign layout (a provincial template, another vendor's export) mapped onto the contract.

A profile is declarative (TOML; shipped in etl/profiles/*.toml, a county adds folders with [etl].profile_dirs in
config.toml, README "外来格式") and says, for one layout:
  - how a file is recognised: `match.title` (text in a banner cell, e.g. the template title in A1), `match.sheet`
    (sheet name), `match.file` (regular expressions on the file name, e.g. `吸毒人员.*登记表`: a clerk's
    `3月份吸毒人员登记表.xls` is recognised without renaming). Any one of them suffices; profiles are tried in
    file-name order, the first match wins;
  - `dataset`: the contract dataset (core/spec.py) its rows feed;
  - `constants`: values the layout implies (the category from the title);
  - `headers`: contract column -> the layout's header texts (synonyms). Headers are compared after removing the
    required marker `*` on either side and all white space; a two-row header (a merged group over sub-headers) is
    the group followed by the sub-header (`户籍地` over `省*` -> `户籍地省`);
  - `values`: per column, delivered value -> contract value;
  - `split_time`: a time spread over columns: `reported_at = ["时", "分"]` = the hour and minute in the columns
    right after the date column;
  - `resolve`: a column holding a unit's NAME to be turned into its code (`grid_code = "网格"`), resolved against
    org_units within the 填报单位 of the banner row (value/label pairs `某某镇 | 乡镇/街道*`); `grid_numbers = true`
    also equates `第一网格` and `1网格`. An unknown or ambiguous name quarantines the row with the candidates;
  - `key`: the key column a template lacks, derived as prefix + a stable hash (sha1) of the named fields (their
    delivered values), so a re-sent (corrected) file updates its rows instead of doubling them;
  - `delivery_time`: columns a register lacks, filled with the delivery's date at 00:00:00 (the date in the file
    name `…YYYYMMDD…`/`YYYY-MM-DD`, else the file's modification date): e.g. `updated_at`, so a later delivery
    supersedes an earlier one; a column listed here that the file does have keeps the delivered value.
  - `extends`: the id of a profile whose settings this one starts from (tables are merged, this one wins).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SHIPPED = Path(__file__).parent / "profiles"
EXTENSIONS = ("xls", "xlsx", "xlsm", "csv")
_SPACE = re.compile(r"\s+")
_DATE_IN_NAME = re.compile(r"(20\d\d)[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])")
_UNIT_LABELS = {"省": "province", "市": "city", "市/县/区": "county", "区县": "county", "县": "county",
                "乡镇/街道": "township", "乡镇": "township", "街道": "township", "社区/村": "community",
                "社区": "community", "村": "community", "网格": "grid"}
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}


@dataclass
class Profile:
    id: str
    title: str
    dataset: str
    source: str
    match: dict = field(default_factory=dict)
    constants: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    split_time: dict = field(default_factory=dict)
    resolve: dict = field(default_factory=dict)
    grid_numbers: bool = False
    key: dict = field(default_factory=dict)
    delivery_time: list = field(default_factory=list)

    def header_lookup(self) -> dict[str, str]:
        out = {}
        for col, names in self.headers.items():
            for n in ([names] if isinstance(names, str) else names):
                out[norm_header(n)] = col
        return out


def norm_header(h: object) -> str:
    """`*发生时间`, ` 流入原因*`, `姓名 ＊` -> `发生时间`, `流入原因`, `姓名` (NFKC, no `*`, no white space)."""
    s = unicodedata.normalize("NFKC", "" if h is None else str(h))
    return _SPACE.sub("", s).replace("*", "")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load(dirs: Sequence[Path] = ()) -> list[Profile]:
    """The shipped profiles and those in `dirs` ([etl].profile_dirs), in file-name order per folder."""
    raw: list[tuple[dict, str]] = []
    for d in [SHIPPED, *map(Path, dirs)]:
        for f in sorted(Path(d).glob("*.toml")) if Path(d).is_dir() else []:
            data = tomllib.loads(f.read_text(encoding="utf-8"))
            raw.extend((p, f.name) for p in data.get("profile", []))
    by_id = {p["id"]: p for p, _ in raw}

    def resolved(p: dict, depth: int = 0) -> dict:
        if "extends" in p and depth < 8:
            return _merge(resolved(by_id[p["extends"]], depth + 1), {k: v for k, v in p.items() if k != "extends"})
        return p
    out = []
    for p, src in raw:
        r = resolved(p)
        if p.get("abstract"):  # a base for others (not inherited)
            continue
        out.append(Profile(id=r["id"], title=r.get("title", r["id"]), dataset=r["dataset"], source=src,
                           match=r.get("match", {}), constants=r.get("constants", {}), headers=r.get("headers", {}),
                           values=r.get("values", {}), split_time=r.get("split_time", {}),
                           resolve=r.get("resolve", {}), grid_numbers=bool(r.get("grid_numbers", False)),
                           key=r.get("key", {}), delivery_time=list(r.get("delivery_time", []))))
    return out


# ------------------------------------------------------------------------------------------------ the sheet
def read_sheet(path: Path) -> tuple[str, list[list[object]]]:
    """(sheet name, cells from A1) of the first visible sheet of an .xls/.xlsx (hidden lookup sheets skipped)."""
    from python_calamine import CalamineWorkbook, SheetVisibleEnum

    wb = CalamineWorkbook.from_path(str(path))
    for meta in wb.sheets_metadata:
        if meta.visible == SheetVisibleEnum.Visible:
            return meta.name, wb.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
    raise ValueError("没有可见的工作表")


@dataclass
class Match:
    profile: Profile
    sheet: str
    cells: list[list[object]]


def recognise(path: Path, name: str | None = None, dirs: Sequence[Path] = (),
              profiles: list[Profile] | None = None) -> Match | None:
    """The profile a foreign file follows (title in its banner, its sheet name or its file name), or None."""
    name = name or path.name
    if path.suffix.lstrip(".").lower() not in EXTENSIONS:
        return None
    profiles = load(dirs) if profiles is None else profiles
    try:
        sheet, cells = read_sheet(path)
    except Exception:  # noqa: BLE001 — not a workbook calamine can read: no profile (the file is listed as such)
        return None
    banner = " ".join(norm_header(v) for row in cells[:6] for v in row if v not in (None, ""))
    for p in profiles:
        m = p.match
        if any(norm_header(t) in banner for t in m.get("title", [])) or sheet in m.get("sheet", []) \
                or any(re.search(rx, name) for rx in m.get("file", [])):
            return Match(p, sheet, cells)
    return None


def delivery_date(path: Path, name: str | None = None) -> dt.date:
    """The date in the file name (`20260331`, `2026-03-31`), else the file's modification date."""
    m = _DATE_IN_NAME.search(name or path.name)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    return dt.date.fromtimestamp(path.stat().st_mtime)


# ------------------------------------------------------------------------------------------------ names
def unit_name_key(name: object, numbers: bool = False) -> str:
    """A unit name in a comparable form: NFKC (full-width -> half-width), no spaces, without the usual suffix
    (`白云乡` = `白云`, `一社区` = `一`); with numbers=True `第一网格` = `1网格` = `01网格`."""
    s = _SPACE.sub("", unicodedata.normalize("NFKC", str(name or "")))
    if numbers:
        s = re.sub(r"^第", "", s)
        s = re.sub(r"[零〇一二两三四五六七八九十]+", lambda m: str(_cn_number(m.group(0))), s)
        s = re.sub(r"\d+", lambda m: str(int(m.group(0))), s)
    for suffix in ("街道办事处", "街道", "居委会", "村委会", "社区", "乡", "镇", "村"):
        if len(s) > len(suffix) and s.endswith(suffix):
            return s[: -len(suffix)]
    return s


def _cn_number(s: str) -> int:
    if "十" not in s:
        n = 0
        for ch in s:
            n = n * 10 + _CN_DIGITS[ch]
        return n
    tens, _, ones = s.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


class Units:
    """org_units rows (unit_code, unit_name, level, parent_code) for resolving names within a 填报单位."""

    def __init__(self, rows: list[dict]):
        self.rows = {r["unit_code"]: r for r in rows}

    def ancestors(self, code: str) -> list[str]:
        out, seen = [], set()
        while code in self.rows and code not in seen:
            seen.add(code)
            out.append(code)
            code = self.rows[code].get("parent_code")
        return out

    def named(self, name: str, levels: tuple[str, ...], numbers: bool = False,
              within: str | None = None) -> list[str]:
        k = unit_name_key(name, numbers)
        return sorted(c for c, r in self.rows.items() if r.get("level") in levels
                      and unit_name_key(r.get("unit_name"), numbers) == k
                      and (within is None or within in self.ancestors(c)))

    def label(self, code: str) -> str:
        chain = [self.rows[c]["unit_name"] for c in reversed(self.ancestors(code)[:-1]) if c in self.rows]
        return f"{code}({'/'.join(chain[-3:])})"


LEVELS_FOR = {"网格": ("网格",), "社区/村": ("社区", "村"), "社区": ("社区", "村"), "村": ("社区", "村"),
              "乡镇": ("乡镇",)}


def scope_of(units: Units, context: dict) -> tuple[str | None, str]:
    """The unit code the 填报单位 names (its 社区/村 if given and found, else its 乡镇), and a text for reasons."""
    town = context.get("township")
    scope, text = None, ""
    if town:
        c = units.named(town, ("乡镇",))
        if len(c) == 1:
            scope, text = c[0], town
    comm = context.get("community")
    if comm and scope:
        c = units.named(comm, ("社区", "村"), within=scope)
        if len(c) == 1:
            scope, text = c[0], f"{town}{comm}"
    return scope, text


def resolve_name(units: Units, value: str, level: str, scope: str | None, scope_text: str,
                 numbers: bool) -> tuple[str | None, str | None]:
    """(code, None) or (None, reason with the candidates)."""
    levels = LEVELS_FOR.get(level, (level,))
    if value in units.rows and units.rows[value].get("level") in levels:
        return value, None  # a code after all
    found = units.named(value, levels, numbers, within=scope)
    if len(found) == 1:
        return found[0], None
    if len(found) > 1:
        return None, (f"名称无法唯一对应: 「{value}」在{scope_text or '本县'}有 {len(found)} 个{level}: "
                      + "、".join(units.label(c) for c in found[:10]))
    elsewhere = units.named(value, levels, numbers) if scope else []
    if elsewhere:
        return None, (f"名称无法对应: 填报单位{scope_text}内没有{level}「{value}」; 候选: "
                      + "、".join(units.label(c) for c in elsewhere[:10]))
    return None, f"名称无法对应: 没有名为「{value}」的{level}"


def derive_key(prefix: str, values: list[object]) -> str:
    text = json.dumps([None if v is None else str(v).strip() for v in values], ensure_ascii=False)
    return prefix + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]

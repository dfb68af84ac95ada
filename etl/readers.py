"""Read one delivered file into an Arrow table of strings, with its source row numbers.

Every reader returns (table, info): `table` has one string column per recognised contract column (English name)
plus `_row` (int64), the row number a person opening the file would see:
  - xlsx: the Excel row number (1-based; banner rows and the header row count);
  - csv: the record number in the file as a spreadsheet shows it: header = 1, first data record = 2; blank lines
    count (they are rows in Excel too) and a quoted value spanning lines is one record;
  - jsonl: the line number (blank lines count); json: the 1-based position in the array.
and `_read_error` / `_raw_text`: for a row that cannot be read (a csv line with the wrong number of fields or an
unclosed quote, a line in no known encoding, a jsonl line that is not a JSON object) the reason and the line as
delivered; the normaliser quarantines such a row. Every other row has both empty.
`info` records what was skipped and why (banner rows, blank rows, summary rows, unknown columns), so nothing is
dropped silently: each data row read is in the table or in `info.summary_rows`.

A file that cannot be read at all raises ReadError with the reason in Chinese (binary content, UTF-16 without a
BOM, no header, the same column twice, …). Nothing else is raised for a readable file.

Header rules (documented in README): surrounding white space (ASCII and full-width) is stripped, a trailing `*`
(required marker) is removed, a trailing note in ASCII or full-width parentheses is removed, then the header is
matched against the contract's Chinese headers and English names.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from core.spec import DATASETS, FILE_EXTENSIONS, Dataset

FILE_RE = re.compile(
    r"^(?P<dataset>[a-z_]+?)_(?P<date>\d{8})(?:_[^.]*)?\.(?P<ext>" + "|".join(FILE_EXTENSIONS) + r")$", re.I)

_NOTE_RE = re.compile(r"[（(][^（）()]*[)）]\s*$")
SUMMARY_PREFIXES = ("合计", "总计")
MAX_BANNER_ROWS = 3
# Excel's error values: a cell holding one is recorded (flag excel_error:<column>, or quarantine), never emptied
# silently (etl/normalize.py); in xlsx files the reader puts the code in the cell, csv exports carry it as text.
EXCEL_ERRORS = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!",
                "#CALC!")
MAX_RAW_TEXT = 2000  # characters of an unreadable line kept in the quarantine
csv.field_size_limit(1 << 24)  # a GeoJSON boundary may be long; an unclosed quote stops at this many characters


class ReadError(Exception):
    """A file that cannot be read at all (it is recorded in the run log and retried on the next run)."""


@dataclass
class ReadInfo:
    encoding: str | None = None
    header_row: int = 1
    banner_rows: int = 0
    summary_rows: list[int] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    # rows whose cell in a text column was a number too large to be exact (e.g. an ID number typed as a number)
    imprecise_rows: set[int] = field(default_factory=set)
    blank_rows: int = 0  # empty rows/lines inside the data (not data; they still count in the row numbers)
    unreadable_rows: int = 0  # rows in the table with `_read_error` set (quarantined by the normaliser)
    profile: str | None = None  # the source profile a foreign file was read by (read_foreign)
    headers: dict[str, str] = field(default_factory=dict)  # contract column -> the file's own header text


def parse_file_name(name: str) -> tuple[str, str, str] | None:
    """`events_20240401_part2.xlsx` → ('events', '20240401', 'xlsx'); None when it is not a delivery."""
    m = FILE_RE.match(name)
    if not m or m.group("dataset") not in DATASETS:
        return None
    return m.group("dataset"), m.group("date"), m.group("ext").lower()


def clean_header(h: object) -> str:
    s = "" if h is None else str(h)
    s = s.replace("\u3000", " ").replace("\ufeff", "").strip()
    prev = None
    while prev != s:  # `上报时间(必填)*`, `所属网格 （必填） *`
        prev = s
        s = s.rstrip("*＊ ").strip()
        s = _NOTE_RE.sub("", s).strip()
    return s


def header_map(ds: Dataset) -> dict[str, str]:
    m = {}
    for c in ds.columns:
        m[c.header] = c.name
        m[c.name] = c.name
        m[c.name.lower()] = c.name
    return m


def _match_headers(ds: Dataset, raw: list[object], info: ReadInfo) -> list[str | None]:
    """The contract column of each header cell (None: not a contract column, listed in info.unknown_columns).
    The same contract column twice (two cells with one header, or its Chinese header and its English name) is a
    ReadError naming it: which of the two holds the truth cannot be known."""
    hm = header_map(ds)
    out: list[str | None] = []
    seen: dict[str, int] = {}
    for j, h in enumerate(raw):
        name = hm.get(clean_header(h)) or hm.get(clean_header(h).lower())
        if name is not None and name in seen:
            hdr = ds.col(name).header
            raise ReadError(f"表头重复: 第 {seen[name] + 1} 列「{raw[seen[name]]}」和第 {j + 1} 列「{h}」都是"
                            f"「{hdr}」({name}), 无法确定以哪一列为准; 请删去其中一列后重新投递")
        if name is None:
            if clean_header(h):
                info.unknown_columns.append(str(h))
            out.append(None)
        else:
            seen[name] = j
            info.headers[name] = str(h).strip()
            out.append(name)
    info.missing_columns = [c for c in ds.names if c not in seen]
    return out


def _finish(ds: Dataset, cols: dict[str, pa.Array], rows: pa.Array, n: int, errors: list | None = None,
            raws: list | None = None) -> pa.Table:
    arrays, names = [], []
    for c in ds.names:
        arrays.append(cols[c] if c in cols else pa.nulls(n, pa.string()))
        names.append(c)
    arrays.append(rows)
    names.append("_row")
    arrays.append(pa.array(errors, pa.string()) if errors and any(errors) else pa.nulls(n, pa.string()))
    names.append("_read_error")
    arrays.append(pa.array(raws, pa.string()) if raws and any(raws) else pa.nulls(n, pa.string()))
    names.append("_raw_text")
    return pa.Table.from_arrays(arrays, names=names)


def _cell_to_str(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return repr(v).replace("nan", "NaN")  # delivered as such: the normaliser flags it, never empties it
        if v.is_integer() and abs(v) < 1e19:
            return str(int(v))
        return repr(v)
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, dt.time):
        return v.strftime("%H:%M:%S")
    if isinstance(v, dt.timedelta):  # calamine gives durations for time-only cells
        return str(v)
    return str(v)


_NONE = type(None)
_INT_EXACT = 2.0 ** 62  # integral floats below this are printed through int64 (exactly str(int(v)))


def _floats_to_str(values: list) -> pa.Array:
    """[_cell_to_str(v) for v in values] for a list of floats and None, vectorised: integral values through int64,
    the others (fractions, NaN, ±inf, huge) one by one as _cell_to_str prints them."""
    a = pa.array(values, pa.float64())
    x = pc.fill_null(a, 0.0).to_numpy(zero_copy_only=False)
    valid = ~pc.is_null(a).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        integral = valid & np.isfinite(x) & (np.abs(x) < _INT_EXACT) & (x == np.floor(x))
    ints = pa.array(np.where(integral, x, 0.0).astype(np.int64)).cast(pa.string())
    others: list[str | None] = [None] * len(values)
    for i in np.flatnonzero(valid & ~integral):
        others[i] = _cell_to_str(values[i])
    return pc.if_else(pa.array(integral), ints, pa.array(others, pa.string()))


def _strings(values: list, convert=None) -> pa.Array:
    """[convert(v) for v in values] as an Arrow string array (convert: _cell_to_str, or _json_val for JSON), with
    the common column shapes done without a Python call per value: all text, all integers, all floats."""
    convert = convert or _cell_to_str
    types = set(map(type, values))
    if types <= {str, _NONE}:
        return pa.array(values, pa.string())
    if types <= {int, _NONE}:
        try:
            return pa.array(values, pa.int64()).cast(pa.string())
        except (OverflowError, pa.ArrowInvalid):
            pass
    elif types <= {float, _NONE}:
        return _floats_to_str(values)
    return pa.array([v if type(v) is str else convert(v) for v in values], pa.string())


# ---------------------------------------------------------------------------------------------- summary rows
_NUMBER_RE = re.compile(r"^[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?%?$")


def _is_summary(ds: Dataset, names: list[str | None], cells: list[object]) -> bool:
    """A last row is a summary (合计/总计), not data, only when it looks like one by its values: its first cell
    starts with 合计 or 总计 and every other cell is empty or a plain number (a count or a total) — and no such
    number sits in a date/time column as an Excel date would. A record whose key merely starts with 合计 has
    text, codes or dates beside it, so it is data."""
    first = cells[0] if cells else None
    if not (isinstance(first, str) and first.strip().startswith(SUMMARY_PREFIXES)):
        return False
    for j, v in enumerate(cells[1:], start=1):
        if v is None or (isinstance(v, str) and not v.strip()):
            continue
        if isinstance(v, bool):
            return False
        if isinstance(v, (int, float)):
            num = float(v)
        elif isinstance(v, str) and _NUMBER_RE.match(v.strip()):
            num = float(v.strip().rstrip("%").replace(",", ""))
        else:
            return False
        name = names[j] if j < len(names) else None
        if name and ds.col(name).type in ("ts", "date") and 20000 <= num <= 80000:
            return False  # an Excel serial date: a real record's time
    return True


# ---------------------------------------------------------------------------------------------------------- xlsx
def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def _xlsx_error_cells(path: Path) -> dict[tuple[int, int], str]:
    """{(row, column) 0-based: error code} of the first sheet's cells holding an Excel error (t="e"). calamine
    returns such cells as empty strings, so the sheet's XML is searched for them (only the error cells are
    parsed; a sheet without any costs one substring search)."""
    out: dict[tuple[int, int], str] = {}
    try:
        with zipfile.ZipFile(path) as z:
            wb = z.read("xl/workbook.xml").decode("utf-8", "replace")
            rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            m = re.search(r"<(?:\w+:)?sheet\b[^>]*?\br:id=\"([^\"]+)\"", wb)
            target = None
            if m:
                for rel in re.finditer(r"<Relationship\b[^>]*>", rels):
                    t = rel.group(0)
                    if f'Id="{m.group(1)}"' in t:
                        target = re.search(r'Target="([^"]+)"', t).group(1)
                        break
            if target is None:
                return out
            target = target.lstrip("/")
            member = target if target.startswith("xl/") else "xl/" + target
            data = z.read(member)
    except (KeyError, zipfile.BadZipFile, OSError, AttributeError):
        return out
    pos = data.find(b't="e"')
    while pos >= 0:
        lt = data.rfind(b"<c", 0, pos)
        end = data.find(b"</c>", pos)
        cell = data[lt:end if end >= 0 else pos + 200]
        ref = re.search(rb'\br="([A-Z]+)(\d+)"', cell)
        val = re.search(rb"<v>([^<]*)</v>", cell)
        if ref:
            code = val.group(1).decode("utf-8", "replace") if val else "#错误"
            out[(int(ref.group(2)) - 1, _col_index(ref.group(1).decode()))] = code
        pos = data.find(b't="e"', pos + 5)
    return out


def read_xlsx(path: Path, ds: Dataset) -> tuple[pa.Table, ReadInfo]:
    from python_calamine import CalamineWorkbook

    info = ReadInfo()
    try:
        wb = CalamineWorkbook.from_path(str(path))
        sheet = wb.get_sheet_by_index(0)
        data = sheet.to_python(skip_empty_area=False)
    except Exception as exc:  # noqa: BLE001 — calamine raises several types for broken files
        raise ReadError(f"无法读取 Excel 文件: {exc}") from exc
    # with skip_empty_area=False calamine's rows start at A1: data[i][j] is Excel row i + 1, column j
    for (i, j), code in _xlsx_error_cells(path).items():  # error cells: the code, not an empty string
        if 0 <= i < len(data) and 0 <= j < len(data[i]) and data[i][j] in (None, ""):
            data[i][j] = code
    # empty rows above the banner/header are not banner rows
    top = 0
    while top < len(data) and all(v in (None, "") for v in data[top]):
        top += 1
    hm = header_map(ds)
    header_idx = None
    for i in range(top, min(len(data), top + MAX_BANNER_ROWS + 1)):
        hits = sum(1 for v in data[i] if clean_header(v) in hm)
        if hits >= 2:
            header_idx = i
            break
    if header_idx is None:
        raise ReadError(f"前 {MAX_BANNER_ROWS + 1} 行中找不到表头(应为 {', '.join(c.header for c in ds.columns[:3])} …)")
    info.banner_rows = header_idx - top
    info.header_row = header_idx + 1
    names = _match_headers(ds, data[header_idx], info)
    body = data[header_idx + 1:]
    excel_rows = list(range(info.header_row + 1, info.header_row + 1 + len(body)))
    # trailing empty rows, then a summary row (合计/总计) at the end
    while body and all(v in (None, "") for v in body[-1]):
        body.pop()
        excel_rows.pop()
    if body and _is_summary(ds, names, body[-1]):
        info.summary_rows.append(excel_rows[-1])
        body.pop()
        excel_rows.pop()
    # drop fully empty rows inside the body (Excel "blank lines"), keeping row numbers right
    keep = [i for i, r in enumerate(body) if any(v not in (None, "") for v in r)]
    info.blank_rows = len(body) - len(keep)
    body = [body[i] for i in keep]
    excel_rows = [excel_rows[i] for i in keep]
    n = len(body)
    cols: dict[str, pa.Array] = {}
    for j, name in enumerate(names):
        if name is None:
            continue
        values = [r[j] if j < len(r) else None for r in body]
        if ds.col(name).type == "str" and float in set(map(type, values)):
            info.imprecise_rows.update(
                excel_rows[i] for i, v in enumerate(values) if isinstance(v, float) and abs(v) >= 2 ** 53)
        cols[name] = _strings(values)
    return _finish(ds, cols, pa.array(excel_rows, type=pa.int64()), n), info


# ------------------------------------------------------------------------------------------------- text files
_NOT_TEXT = "不是文本文件 (含二进制内容; 可能是改了扩展名的 Excel、压缩包或损坏的文件)"


def _check_text(path: Path, what: str) -> str | None:
    """'utf-16' for a UTF-16 file with a BOM, 'nul' for text with a stray NUL byte (its line is unreadable), None
    for other text; ReadError for binary content (NUL bytes in the first 64 KB), naming UTF-16 without a BOM and
    Excel/zip files where it can tell."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not head.startswith(codecs.BOM_UTF32_LE):
        return "utf-16"
    if b"\x00" not in head:
        return None
    if head.count(b"\x00") <= max(2, len(head) // 1000) and not head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return "nul"
    if head.startswith(b"PK\x03\x04"):
        raise ReadError(f"不是 {what} 文件: 内容是 Excel 或 zip 压缩包 (请以 .xlsx 扩展名投递 Excel 文件)")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ReadError(f"不是 {what} 文件: 内容是旧版 Excel (.xls); 请另存为 .xlsx 或 UTF-8 的 .csv")
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4 and (odd.count(0) > 0.4 * len(odd) or even.count(0) > 0.4 * len(even)):
        raise ReadError(f"{what} 文件似乎是没有 BOM 的 UTF-16 编码, 无法可靠识别; 请另存为 UTF-8 (或带 BOM 的 UTF-16)")
    raise ReadError(_NOT_TEXT)


def detect_encoding(path: Path, chunk: int = 1 << 22) -> str:
    """'utf-8-sig', 'utf-8', 'gb18030' (a superset of GBK) or 'mixed' (some lines UTF-8, some GB18030): strict
    UTF-8 decoding of the whole file decides; a file that is not UTF-8 is 'mixed' when a line with non-ASCII
    characters is valid UTF-8 while another is not."""
    dec = codecs.getincrementaldecoder("utf-8")(errors="strict")
    with open(path, "rb") as fh:
        head = fh.read(3)
        bom = head == b"\xef\xbb\xbf"
        data = head
        try:
            while data:
                dec.decode(data)
                data = fh.read(chunk)
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return "mixed" if _has_utf8_lines(path) else "gb18030"
    return "utf-8-sig" if bom else "utf-8"


# UTF-8 text of Chinese exports: CJK ideographs and punctuation, full-width forms, general punctuation (“”—…).
# A short GBK string can be valid UTF-8 by chance (未知 = CE B4 D6 AA = "δ֪"): such a line decodes to other
# scripts, so a line counts as UTF-8 only when valid and all its non-ASCII characters are of these ranges.
_NOT_CHINESE = re.compile("[^\x00-\x7f\u00b7\u00d7\u2000-\u206f\u2160-\u217f\u2460-\u24ff\u3000-\u303f"
                          "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\ufeff\U0001f300-\U0001faff]")
_UTF8_CJK = re.compile(rb"[\xe3-\xe9][\x80-\xbf][\x80-\xbf]")


def _utf8_line(line: bytes) -> str | None:
    """The line decoded as UTF-8 when it is valid UTF-8 Chinese text (see _NOT_CHINESE), else None."""
    try:
        s = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _NOT_CHINESE.search(s) else s


def _has_utf8_lines(path: Path, chunk: int = 1 << 22) -> bool:
    """Whether a file that is not UTF-8 as a whole has a line of UTF-8 Chinese text. Only the lines holding a run
    UTF-8 three-byte sequence (found by a regular expression over each chunk) are checked exactly."""
    with open(path, "rb") as fh:
        rest = b""
        while True:
            data = fh.read(chunk)
            buf = rest + data
            if not data:
                end = len(buf)
            else:
                end = buf.rfind(b"\n") + 1
                if end == 0:
                    rest = buf
                    continue
            block, rest = buf[:end], buf[end:]
            pos = 0
            while (m := _UTF8_CJK.search(block, pos)) is not None:
                a = block.rfind(b"\n", 0, m.start()) + 1
                b = block.find(b"\n", m.end())
                b = b if b >= 0 else len(block)
                if _utf8_line(block[a:b]) is not None:
                    return True
                pos = b + 1  # each line is checked once
            if not data:
                return False


def _decode_lines(path: Path, enc: str) -> tuple[list[str | None], bool]:
    """The file's physical lines (with their line ends) decoded by the rule of `enc`: 'mixed' tries UTF-8 first,
    then GB18030, per line (a line break is one byte in both, so lines never split a character); a line that is
    valid in neither is None. Also whether any line was None."""
    out: list[str | None] = []
    bad = False
    if enc == "utf-16":
        try:
            text = path.read_bytes().decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ReadError(f"UTF-16 文件内容损坏: {exc}") from exc
        return io.StringIO(text.lstrip("\ufeff"), newline="").readlines(), False
    with open(path, "rb") as fh:
        for i, line in enumerate(fh):
            if i == 0 and line.startswith(codecs.BOM_UTF8):
                line = line[3:]
            if line.isascii():
                out.append(line.decode("ascii"))
                continue
            s = _utf8_line(line) if enc == "mixed" else None
            if s is None:
                try:
                    s = line.decode("utf-8" if enc in ("utf-8", "utf-8-sig") else "gb18030")
                except UnicodeDecodeError:
                    try:
                        s = line.decode("gb18030")
                    except UnicodeDecodeError:
                        s = None
            out.append(s)
            bad |= s is None
    return out, bad


class _Feed:
    """Lines fed to csv.reader one at a time, so that a bad record can be re-read from its next line."""

    def __init__(self, lines: list[str | None]):
        self.lines, self.i, self.hit_bad = lines, 0, False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.i >= len(self.lines):
            raise StopIteration
        s = self.lines[self.i]
        self.i += 1
        if s is None or "\x00" in s:
            self.hit_bad = True
            return "\n"
        return s


def _field_count_reason(line: str, width: int) -> str:
    if line.count('"') % 2:
        return "无法解析的行: 引号未闭合"
    k = len(next(csv.reader([line]), []))
    return f"无法解析的行: 有 {k} 个字段, 表头有 {width} 个"


def _parse_csv_lines(lines: list[str | None], width: int, first_row: int = 2):
    """Records of a csv body, exactly: (rows of cells, their record numbers, errors, raw texts, blank rows).
    A record with the wrong number of fields, or a line in no known encoding, is a row with an error (its cells
    empty, its text kept); a record that spanned lines and is bad is re-read from its second line (an unclosed
    quote swallows the lines after it), so only the bad line is lost to the quarantine."""
    feed = _Feed(lines)
    reader = csv.reader(feed)
    out, rows, errors, raws = [], [], [], []
    blank = 0
    rec = first_row
    empty = [None] * width
    while feed.i < len(lines):
        start = feed.i
        if lines[start] is None or "\x00" in lines[start]:
            feed.i += 1
            out.append(empty), rows.append(rec)
            if lines[start] is None:
                raws.append(None)
                errors.append("无法解析的行: 字符编码无法识别 (既不是 UTF-8 也不是 GB18030)")
            else:
                raws.append(lines[start].replace("\x00", "\\0").rstrip("\r\n")[:MAX_RAW_TEXT])
                errors.append("无法解析的行: 含有 NUL (二进制 0) 字符")
            rec += 1
            continue
        feed.hit_bad = False
        try:
            cells = next(reader)
            err = None
        except StopIteration:
            break
        except csv.Error as exc:
            cells, err = None, f"无法解析的行: {exc}"
        spanned = feed.i - start > 1
        if cells is not None and not feed.hit_bad and len(cells) == width:
            if all(c == "" for c in cells):
                blank += 1
            else:
                out.append([c if c != "" else None for c in cells]), rows.append(rec)
                errors.append(None), raws.append(None)
        elif cells is not None and not feed.hit_bad and (not cells or (len(cells) == 1 and not cells[0].strip())):
            blank += 1  # a blank line
        else:
            line = lines[start]
            if err is None:
                err = (_field_count_reason(line, width) if not feed.hit_bad or not spanned
                       else "无法解析的行: 引号未闭合")
            out.append(empty), rows.append(rec), errors.append(err), raws.append(line.rstrip("\r\n")[:MAX_RAW_TEXT])
            if spanned or cells is None:
                feed.i = start + 1
                reader = csv.reader(feed)
        rec += 1
    return out, rows, errors, raws, blank


def read_csv(path: Path, ds: Dataset) -> tuple[pa.Table, ReadInfo]:
    info = ReadInfo()
    kind = _check_text(path, "CSV")
    enc = "utf-16" if kind == "utf-16" else detect_encoding(path)
    info.encoding = enc
    lines: list[str | None] | None = None
    if enc in ("mixed", "utf-16") or kind == "nul":  # the exact reader, on lines decoded one by one
        lines = _decode_lines(path, enc)[0]
        first = lines[0] if lines else ""
    else:
        with open(path, encoding=enc, newline="", errors="replace") as fh:
            first = fh.readline()
    first = (first or "").lstrip("\ufeff")
    try:
        header = next(csv.reader(io.StringIO(first)), []) if first.strip() else []
    except csv.Error as exc:
        raise ReadError(f"表头行无法解析: {exc}") from exc
    if not header:
        raise ReadError("文件为空或第一行没有表头")
    names = _match_headers(ds, header, info)
    if sum(1 for n in names if n) < 2:
        raise ReadError(f"找不到表头: {header[:5]}")
    width = len(header)
    table = None
    if lines is None:
        table = _read_csv_fast(path, ds, enc, names, width, info)
        if table is None:  # a row that needs the exact reader (wrong field count, unclosed quote, bad encoding)
            lines = _decode_lines(path, enc)[0]
    if table is None:
        cells, rows, errors, raws, info.blank_rows = _parse_csv_lines(lines[1:], width)
        if cells and errors[-1] is None and _is_summary(ds, names, cells[-1]):
            info.summary_rows.append(rows[-1])
            cells, rows, errors, raws = cells[:-1], rows[:-1], errors[:-1], raws[:-1]
        cols = {name: pa.array([r[j] for r in cells], pa.string()) for j, name in enumerate(names) if name}
        info.unreadable_rows = sum(1 for e in errors if e)
        table = _finish(ds, cols, pa.array(rows, pa.int64()), len(cells), errors, raws)
    return table, info


def _read_csv_fast(path: Path, ds: Dataset, enc: str, names: list[str | None], width: int,
                   info: ReadInfo) -> pa.Table | None:
    """Arrow's reader (multi-threaded, transcoding GBK itself) for the common case; None when a row needs the
    exact reader. Blank lines are read as rows of nulls (so row numbers stay those of the file) and dropped."""
    pos = [f"c{i}" for i in range(width)]
    invalid = []

    def handler(row):
        invalid.append(row)
        return "skip"

    try:
        tbl = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=pos, skip_rows=1,
                                           encoding="utf8" if enc.startswith("utf-8") else enc,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False,
                                             invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(column_types={p: pa.string() for p in pos},
                                                 strings_can_be_null=True, null_values=[""],
                                                 quoted_strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
        return None
    if invalid:
        return None
    n = tbl.num_rows
    rows = pa.array(np.arange(2, n + 2, dtype="int64"))
    blank = None
    for p in pos:
        v = pc.is_null(tbl.column(p))
        blank = v if blank is None else pc.and_(blank, v)
    if n and pc.any(blank).as_py():
        keep = pc.invert(blank).combine_chunks()
        tbl = tbl.filter(keep)
        rows = rows.filter(keep)
        info.blank_rows = n - tbl.num_rows
        n = tbl.num_rows
    cols = {name: tbl.column(p).combine_chunks() for p, name in zip(pos, names) if name}
    table = _finish(ds, cols, rows, n)
    # a trailing summary row (合计/总计) is not data, in csv exports as in xlsx
    if n:
        last = [tbl.column(p)[n - 1].as_py() for p in pos]
        if _is_summary(ds, names, last):
            info.summary_rows.append(rows[n - 1].as_py())
            table = table.slice(0, n - 1)
    return table


# ---------------------------------------------------------------------------------------------------------- json
def _records_to_table(ds: Dataset, recs: list, rows: list[int], info: ReadInfo,
                      errors: list | None = None, raws: list | None = None) -> pa.Table:
    """Records (dicts; None for a row already known unreadable) → the string table. A record that is not a JSON
    object is a row with an error."""
    errors = list(errors) if errors else [None] * len(recs)
    raws = list(raws) if raws else [None] * len(recs)
    keys: dict[str, None] = {}
    for i, r in enumerate(recs):
        if isinstance(r, dict):
            keys.update(dict.fromkeys(r))
        elif errors[i] is None:
            errors[i] = "无法解析的行: 不是 JSON 对象"
            raws[i] = json.dumps(r, ensure_ascii=False)[:MAX_RAW_TEXT]
    names = _match_headers(ds, list(keys), info)
    cols = {}
    for k, name in zip(keys, names):
        if name:
            got = [r.get(k) if isinstance(r, dict) else None for r in recs]
            try:
                cols[name] = _strings(got, _json_val)
            except UnicodeEncodeError:  # a lone surrogate (`"\ud83d"`, half an emoji): U+FFFD in its place
                vals = [_json_val(v) for v in got]
                cols[name] = pa.array([_SURROGATE.sub("\ufffd", v) if v is not None and not _encodable(v) else v
                                       for v in vals], pa.string())
    info.unreadable_rows = sum(1 for e in errors if e)
    return _finish(ds, cols, pa.array(rows, type=pa.int64()), len(recs), errors, raws)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(v: str) -> bool:
    try:
        v.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _json_val(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return _cell_to_str(v)


def read_json(path: Path, ds: Dataset) -> tuple[pa.Table, ReadInfo]:
    info = ReadInfo(encoding="utf-8")
    utf16 = _check_text(path, "JSON") == "utf-16"
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-16" if utf16 else "utf-8-sig").lstrip("\ufeff")
        info.encoding = "utf-16" if utf16 else "utf-8"
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
            info.encoding = "gb18030"
        except UnicodeDecodeError as exc:
            raise ReadError(f"JSON 文件的字符编码无法识别 (应为 UTF-8): {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReadError(f"JSON 格式错误: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("data"), list):  # an API page saved to disk
        data = data["data"]
    if not isinstance(data, list):
        raise ReadError("JSON 内容不是对象数组")
    return _records_to_table(ds, data, list(range(1, len(data) + 1)), info), info


def read_jsonl(path: Path, ds: Dataset) -> tuple[pa.Table, ReadInfo]:
    info = ReadInfo(encoding="utf-8")
    if _check_text(path, "JSONL") == "utf-16":
        return _read_jsonl_lines(ds, _decode_lines(path, "utf-16")[0], ReadInfo(encoding="utf-16"))
    # fast path: Arrow's reader, then every column cast to string; values Arrow would read as timestamps are read
    # again as text (Arrow turns `…+08:00` into UTC); anything unusual goes to the exact reader below
    try:
        tbl = pajson.read_json(path, read_options=pajson.ReadOptions(block_size=1 << 24))
        if any(pa.types.is_timestamp(f.type) for f in tbl.schema):
            schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f
                                for f in tbl.schema])
            tbl = pajson.read_json(path, read_options=pajson.ReadOptions(block_size=1 << 24),
                                   parse_options=pajson.ParseOptions(explicit_schema=schema))
        lines, blank = _nonblank_line_numbers(path)
        if len(lines) == tbl.num_rows and all(not pa.types.is_nested(f.type) for f in tbl.schema):
            names = _match_headers(ds, tbl.column_names, info)
            cols = {}
            for k, name in zip(tbl.column_names, names):
                if name:
                    cols[name] = _arrow_to_str(tbl.column(k).combine_chunks())
            info.blank_rows = blank
            return _finish(ds, cols, pa.array(lines, type=pa.int64()), tbl.num_rows), info
        info = ReadInfo(encoding="utf-8")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        info = ReadInfo(encoding="utf-8")
    enc = detect_encoding(path)
    info.encoding = "utf-8" if enc.startswith("utf-8") else enc
    lines, _ = _decode_lines(path, enc)
    return _read_jsonl_lines(ds, lines, info)


def _read_jsonl_lines(ds: Dataset, lines: list[str | None], info: ReadInfo) -> tuple[pa.Table, ReadInfo]:
    """The exact jsonl reader: one record a line (decoded by the csv rule: UTF-8, else GB18030); a blank line is
    skipped (its number still counts), a line that is not a JSON object is a row with an error."""
    recs, rows, errors, raws = [], [], [], []
    for i, line in enumerate(lines, start=1):
        if line is not None and not line.strip():
            info.blank_rows += 1
            continue
        rows.append(i)
        if line is None:
            recs.append(None), errors.append("无法解析的行: 字符编码无法识别 (应为 UTF-8)"), raws.append(None)
            continue
        try:
            recs.append(json.loads(line)), errors.append(None), raws.append(None)
        except (json.JSONDecodeError, RecursionError) as exc:
            recs.append(None), errors.append(f"无法解析的行: 不是有效的 JSON ({exc})")
            raws.append(line.rstrip("\r\n")[:MAX_RAW_TEXT])
    return _records_to_table(ds, recs, rows, info, errors, raws), info


def _nonblank_line_numbers(path: Path) -> tuple[list[int], int]:
    out = []
    blank = 0
    with open(path, "rb") as fh:
        for i, line in enumerate(fh, start=1):
            if line.strip():
                out.append(i)
            else:
                blank += 1
    return out, blank


def _arrow_to_str(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr.cast(pa.string())
    if pa.types.is_floating(t):
        # integral floats print without ".0" (an ID number or a count)
        return pa.array([_cell_to_str(v) for v in arr.to_pylist()], type=pa.string())
    return arr.cast(pa.string())


READERS = {"xlsx": read_xlsx, "csv": read_csv, "json": read_json, "jsonl": read_jsonl}


def read_file(path: Path, dataset: str | None = None) -> tuple[str, pa.Table, ReadInfo]:
    """Read one delivery. Raises ReadError (with the reason in Chinese) when the file cannot be read at all;
    a readable file never raises (a bad row is a row with `_read_error`)."""
    parsed = parse_file_name(path.name)
    if parsed is None and dataset is None:
        raise ReadError("文件名不符合 {数据集}_{YYYYMMDD}[_说明].{xlsx|csv|json|jsonl}")
    ds_name = dataset or parsed[0]
    ext = parsed[2] if parsed else path.suffix.lstrip(".").lower()
    ds = DATASETS[ds_name]
    try:
        table, info = READERS[ext](path, ds)
    except ReadError:
        raise
    except OSError as exc:
        raise ReadError(f"无法打开文件: {exc.strerror or exc}") from exc
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 — an unforeseen way for a file to be unreadable: named, not a crash
        raise ReadError(f"无法读取文件 ({type(exc).__name__}: {exc})") from exc
    present = [c for c in ds.names if c not in info.missing_columns]
    if not present:
        raise ReadError("没有任何可识别的列")
    return ds_name, table, info


# ------------------------------------------------------------------------------------------------ foreign layouts
def read_any(path: Path, name: str | None = None, *, dataset: str | None = None, units: list[dict] | None = None,
             profile_dirs=(), delivery_date: dt.date | None = None) -> tuple[str, pa.Table, ReadInfo]:
    """THE per-file entry point (pipeline, upload preview): a contract delivery (`events_20240401.xlsx`) is read
    by read_file; any other file is recognised by a source profile (etl/source_profiles.py) and read by
    read_foreign. Raises ReadError when the file is neither."""
    from etl import source_profiles as sp

    name = name or path.name
    if parse_file_name(name) is not None or dataset is not None:
        return read_file(path, dataset)
    match = sp.recognise(path, name, profile_dirs)
    if match is None:
        raise ReadError("文件名不符合 {数据集}_{YYYYMMDD}[_说明].{xlsx|csv|json|jsonl}, 也不符合任何来源格式配置"
                        " (etl/profiles/*.toml, [etl].profile_dirs)")
    return read_foreign(match, units or [], delivery_date or sp.delivery_date(path, name))


def _unit_context(row: list[object]) -> dict:
    """The 填报单位 row: value/label pairs `某某镇 | 乡镇/街道*` -> {'township': '某某镇', …}."""
    from etl.source_profiles import _UNIT_LABELS, norm_header

    out = {}
    for j, v in enumerate(row):
        kind = _UNIT_LABELS.get(norm_header(v))
        if kind and j > 0 and row[j - 1] not in (None, "") and norm_header(row[j - 1]) not in _UNIT_LABELS:
            out[kind] = str(row[j - 1]).strip()
    return out


def _two_row(head: list[object], nxt: list[object]) -> list[str] | None:
    """The header texts of a two-row header (group over sub-headers), or None when `nxt` is not a sub-header row."""
    width = max(len(head), len(nxt))
    head = list(head) + [None] * (width - len(head))
    nxt = list(nxt) + [None] * (width - len(nxt))
    group_of: dict[int, str] = {}
    j = 0
    while j < width:
        if head[j] not in (None, "") and j + 1 < width and head[j + 1] in (None, "") and nxt[j] not in (None, ""):
            k = j
            while k < width and (k == j or head[k] in (None, "")) and nxt[k] not in (None, ""):
                group_of[k] = str(head[j])
                k += 1
            j = k
        else:
            j += 1
    filled = [j for j in range(width) if nxt[j] not in (None, "")]
    if not group_of or any(j not in group_of for j in filled):
        return None
    return [f"{group_of[j]}{nxt[j]}" if j in group_of else ("" if head[j] is None else str(head[j]))
            for j in range(width)]


def read_foreign(match, units: list[dict], delivery: dt.date) -> tuple[str, pa.Table, ReadInfo]:
    """Read a file recognised by a source profile into the contract's columns (strings, `_row`, `_read_error`).

    The header is the first row with at least two of the profile's headers (the banner above it — version/title,
    notes, the 填报单位 pairs, empty rows — is skipped and the 填报单位 kept as context); a sub-header row below
    merged groups is joined to its group. Unit names are resolved to codes within the 填报单位; a row whose name
    cannot be resolved (unknown, ambiguous) keeps the delivered name and gets `_read_error` with the candidates."""
    from etl import source_profiles as sp

    p, cells = match.profile, match.cells
    ds = DATASETS[p.dataset]
    info = ReadInfo()
    info.profile = f"{p.title} ({p.source})"
    lookup = p.header_lookup()

    def col_of(h: object) -> str | None:
        k = sp.norm_header(h)
        return lookup.get(k) or lookup.get(_NOTE_RE.sub("", k))

    header_idx = None
    for i in range(min(len(cells), 40)):
        row = cells[i]
        joined = _two_row(row, cells[i + 1]) if i + 1 < len(cells) else None
        hits = sum(1 for v in (joined or row) if col_of(v))
        if hits >= 2:
            header_idx, texts = i, (joined or ["" if v is None else str(v) for v in row])
            break
    if header_idx is None:
        raise ReadError(f"按来源格式「{p.title}」找不到表头 (应含 "
                        f"{', '.join(str(v if isinstance(v, str) else v[0]) for v in list(p.headers.values())[:3])} …)")
    two = _two_row(cells[header_idx], cells[header_idx + 1]) is not None if header_idx + 1 < len(cells) else False
    context: dict = {}
    for row in cells[:header_idx]:
        context.update(_unit_context(row))
    info.banner_rows = header_idx
    info.header_row = header_idx + 1
    first = header_idx + (2 if two else 1)
    cols: dict[str, int] = {}
    for j, h in enumerate(texts):
        c = col_of(h)
        if c is None:
            if sp.norm_header(h):
                info.unknown_columns.append(h.strip())
        elif c in cols:
            raise ReadError(f"表头重复: 第 {cols[c] + 1} 列「{texts[cols[c]]}」和第 {j + 1} 列「{h}」都是"
                            f"「{ds.col(c).header}」({c})")
        else:
            cols[c] = j
            info.headers[c] = h.strip()
    # the hour/minute columns of a split time: the next columns headed 时 / 分
    split: dict[str, list[int]] = {}
    for c, parts in p.split_time.items():
        if c in cols:
            idx = []
            for part in parts:
                j = next((k for k in range(cols[c] + 1, len(texts)) if sp.norm_header(texts[k]) == part), None)
                if j is not None:
                    idx.append(j)
                    info.unknown_columns = [u for u in info.unknown_columns if u != texts[j].strip()]
            split[c] = idx
    units_ = sp.Units(units)
    scope, scope_text = sp.scope_of(units_, context)
    body = [(i + 1, r) for i, r in enumerate(cells[first:], start=first)]
    recs, rows, errors = [], [], []
    stamp = f"{delivery.isoformat()} 00:00:00"
    for excel_row, r in body:
        if all(v in (None, "") for v in r):
            info.blank_rows += 1
            continue
        def get(j: int, r=r) -> str | None:
            return _cell_to_str(r[j]) if j < len(r) else None

        rec: dict[str, str | None] = {c: get(j) for c, j in cols.items()}
        if rec and all(v is None for v in rec.values()):
            info.blank_rows += 1
            continue
        if any(str(v).startswith(SUMMARY_PREFIXES) for v in r[:2] if isinstance(v, str)):
            info.summary_rows.append(excel_row)
            continue
        for c, idx in split.items():
            if rec.get(c):
                hm = [get(j) or "0" for j in idx]
                try:
                    parts = [int(float(x)) for x in hm] + [0] * (2 - len(hm))
                    rec[c] = f"{rec[c][:10]} {parts[0]:02d}:{parts[1]:02d}:00"
                except ValueError:
                    rec[c] = f"{rec[c]} {':'.join(hm)}"
        delivered = dict(rec)
        for c, vmap in p.values.items():
            if rec.get(c) is not None and rec[c].strip() in vmap:
                rec[c] = vmap[rec[c].strip()]
        for c, v in p.constants.items():
            if not rec.get(c):
                rec[c] = v
        error = None
        for c, level in p.resolve.items():
            v = rec.get(c)
            if v:
                code, reason = sp.resolve_name(units_, v.strip(), level, scope, scope_text, p.grid_numbers)
                if code is None:
                    kind, _, detail = reason.partition(": ")
                    error = error or f"{kind}: {info.headers.get(c, c)} {detail}"
                else:
                    rec[c] = code
        if p.key.get("column"):
            kc = p.key["column"]
            if not rec.get(kc):
                rec[kc] = sp.derive_key(p.key.get("prefix", ""),
                                        [delivered.get(f, rec.get(f)) for f in p.key.get("fields", [])])
        for c in p.delivery_time:
            if not rec.get(c):
                rec[c] = stamp
        recs.append(rec)
        rows.append(excel_row)
        errors.append(error)
    info.unreadable_rows = sum(1 for e in errors if e)
    n = len(recs)
    names = set().union(*(r.keys() for r in recs)) if recs else set(cols) | set(p.constants)
    arrays = {c: pa.array([r.get(c) for r in recs], pa.string()) for c in ds.names if c in names}
    info.missing_columns = [c for c in ds.names if c not in names]
    table = _finish(ds, arrays, pa.array(rows, pa.int64()), n, errors)
    return p.dataset, table, info

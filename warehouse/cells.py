"""Spreadsheet cells from feed text: one rule for every export (the pages' CSV and Excel, the full unmasked export,
the bulletin's workbook).

A text cell that starts with `=`, `+`, `-`, `@` (or their full-width forms ＝＋－＠), a tab, CR or LF is taken as a
formula by Excel, WPS and LibreOffice when the file is opened (`=HYPERLINK("http://…?d="&A2, …)` sends a row to
another host when clicked). Such text gets a leading apostrophe: shown as typed, never evaluated. Numbers stay
numbers (a negative number is a number cell, not text), and text that is just a plain number (`-3`, `+1.5`) is
left alone: a spreadsheet reads it as that number and nothing else.

    neutralise(v) -> v          neutralise_frame(df) -> df (text columns only)
"""
from __future__ import annotations

import re

import pandas as pd
from xlsxwriter.worksheet import Worksheet

FORMULA_START = tuple("=+-@＝＋－＠\t\r\n")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?%?")


def neutralise(v: object) -> object:
    """Text that a spreadsheet would evaluate → the same text with a leading apostrophe; anything else unchanged."""
    if isinstance(v, str) and v.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(v):
        return "'" + v
    return v


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` whose text cells are neutralised (column names too); number columns are not touched."""
    out = df.copy()
    for c in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[c]) or pd.api.types.is_datetime64_any_dtype(out[c])
                or pd.api.types.is_bool_dtype(out[c])):
            out[c] = out[c].map(neutralise)
    out.columns = [neutralise(c) if isinstance(c, str) else c for c in out.columns]
    return out


class SafeWorksheet(Worksheet):
    """An xlsxwriter worksheet whose text cells go through `neutralise` (Workbook.add_worksheet(name,
    worksheet_class=SafeWorksheet)); with `strings_to_formulas` off, `write()` of text ends here too."""

    def write_string(self, row, col, string, cell_format=None):  # noqa: D102 — xlsxwriter's signature
        return super().write_string(row, col, neutralise(string), cell_format)

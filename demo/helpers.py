"""Small helpers of the demo generator: time arithmetic, names, ID numbers, the marker types of a cell."""
from __future__ import annotations

import calendar
import random
import time
import zlib

from demo.constants import GIVEN, ID_AREAS_LOCAL, SURNAMES


# ---------------------------------------------------------------------------------------------------------------
# small helpers
def _crc(s: str) -> int:
    return zlib.crc32(s.encode("utf-8"))


def _sec(y: int, m: int, d: int, hh: int = 0, mi: int = 0, ss: int = 0) -> int:
    return calendar.timegm((y, m, d, hh, mi, ss))


def _fmt(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(t)))


def _fmt_date(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(int(t)))


def _parse(s: str) -> int:
    """Standard 'YYYY-MM-DD HH:MM:SS' (or date) → seconds."""
    if len(s) == 10:
        return _sec(int(s[:4]), int(s[5:7]), int(s[8:10]))
    return _sec(int(s[:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19]))


def _add_month(y: int, m: int, k: int) -> tuple[int, int]:
    i = y * 12 + (m - 1) + k
    return i // 12, i % 12 + 1


def _short(town: str) -> str:
    return town[:-1] if town[-1] in "镇乡" else town


def _id_check(body17: str) -> str:
    w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(c) * k for c, k in zip(body17, w)) % 11]


def id_number(R: random.Random, areas=ID_AREAS_LOCAL, years=(1950, 2004)) -> str:
    y = R.randint(*years)
    m = R.randint(1, 12)
    d = R.randint(1, calendar.monthrange(y, m)[1])
    body = f"{R.choice(areas)}{y:04d}{m:02d}{d:02d}{R.randint(1, 999):03d}"
    return body + _id_check(body)


def _person(R: random.Random) -> str:
    return R.choice(SURNAMES) + "".join(R.choice(GIVEN) for _ in range(R.choice((1, 2, 2, 2))))


class Serial(float):
    """An Excel serial date: written as a bare number in xlsx and csv."""


class NumId(int):
    """An ID number an Excel user typed as a number: a numeric xlsx cell (precision lost beyond 15 digits)."""

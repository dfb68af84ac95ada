"""The mess injector: one delivery's rows with the real-world mess of shared/feeds.md injected at known counts."""
from __future__ import annotations

import json
import random
import time

import numpy as np

from core.spec import DATASETS, KP_ALIASES
from demo.constants import (
    BAD_TS,
    BAD_TS_COL,
    CODE_COLS,
    COORD_COLS,
    DAY,
    EXCEL_EPOCH,
    FUTURE_COL,
    HOUR,
    MISSING,
    RATE,
    TS_COLS,
    UNKNOWN_CODE,
    UPDATED_FALLBACK,
)
from demo.helpers import NumId, Serial, _fmt, _parse
from demo.writers import _csv_text
from etl.coords import gcj02_to_bd09


class Table:
    """One delivery's rows as object columns, with the mess injected at known counts."""

    def __init__(self, gen, ds: str, cols: dict, fmt: str, R: random.Random, m: int):
        self.g, self.ds, self.cols, self.fmt, self.R, self.m = gen, ds, cols, fmt, R, m
        self.spec = DATASETS[ds]
        self.n = len(cols[self.spec.names[0]])
        self.used = np.zeros(self.n, bool)
        self.protect = np.zeros(self.n, bool)
        self.extra: list[tuple[float, dict]] = []  # (position, row)
        self.counts: dict[str, int] = {}

    def _k(self, kind: str) -> int:
        """How many rows of this file get `kind`: the rate, stochastically rounded; at least one from 100 rows."""
        x = self.n * RATE[kind]
        k = int(x) + (1 if self.R.random() < x - int(x) else 0)
        return max(k, 1) if self.n >= 100 else k

    def _pick(self, kind, cond=None, k=None, allow_protected=True) -> np.ndarray:
        self.counts.setdefault(kind, 0)
        ok = self.elig & ~self.used
        if not allow_protected:
            ok &= ~self.protect
        if cond is not None:
            ok &= cond
        idx = np.nonzero(ok)[0]
        k = self._k(kind) if k is None else k
        k = min(k, len(idx))
        if k <= 0:
            return idx[:0]
        sel = np.sort(np.array(self.R.sample(idx.tolist(), k)))
        self.used[sel] = True
        self.counts[kind] = self.counts.get(kind, 0) + len(sel)
        return sel

    def _notnull(self, col):
        v = self.cols[col]
        return np.not_equal(v, None) & np.not_equal(v, "")

    def _ts_variant(self, s: str, how: str, R) -> object:
        t = _parse(s)
        tm = time.gmtime(t)
        y, mo, d, hh, mi, ss = tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
        if how == "date":
            opts = [f"{y}/{mo}/{d}", f"{y}年{mo}月{d}日", f"{y:04d}-{mo:02d}-{d:02d} 00:00:00"]
            serial = Serial((t - EXCEL_EPOCH) // DAY)
        else:
            opts = [f"{y}/{mo}/{d} {hh:02d}:{mi:02d}", f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mi:02d}:{ss:02d}",
                    f"{y}年{mo}月{d}日 {hh:02d}:{mi:02d}"] + ([f"{y:04d}-{mo:02d}-{d:02d}"] if how == "any" else [])
            serial = Serial(round((t - EXCEL_EPOCH) / DAY, 5))
        if self.fmt == "xlsx":
            opts.append(serial)  # a bare number cell
        elif self.fmt.startswith("csv"):
            opts.append(_csv_text(serial))  # the number as text
        return R.choice(opts)

    def inject(self, eligible: np.ndarray):
        ds, c, R = self.ds, self.cols, self.R
        # odd timestamp formats never change which version of a record wins: any row may get one
        self.elig = np.ones(self.n, bool)
        # ts_formats: at least one per file
        cand = [(col, how, self._notnull(col)) for col, how in TS_COLS[ds].items()]
        anyts = np.zeros(self.n, bool)
        for _, _, nn in cand:
            anyts |= nn
        k = max(self._k("ts_formats"), 1 if self.n >= 5 else 0)
        for i in self._pick("ts_formats", anyts, k):
            opts = [(col, how) for col, how, nn in cand if nn[i]]
            col, how = R.choice(opts)
            if how == "any" and self.protect[i]:  # a protected row keeps its time of day (no date-only form)
                how = "min"
            c[col][i] = self._ts_variant(c[col][i], how, R)
        self.elig = eligible  # the other kinds: only records delivered once, so no later version hides them
        if ds in CODE_COLS:
            has = np.zeros(self.n, bool)
            for x in CODE_COLS[ds]:
                has |= self._notnull(x)
            for i in self._pick("code_spaces", has):
                col = R.choice([x for x in CODE_COLS[ds] if c[x][i]])
                c[col][i] = R.choice((" {} ", "{} ", " {}", "  {}")).format(c[col][i])
        if ds in UNKNOWN_CODE:
            col, val = UNKNOWN_CODE[ds]
            cond = self._notnull(col)
            if ds == "org_units":
                cond &= np.array([v == "网格" for v in c["level"]])
            for i in self._pick("unknown_code", cond):
                c[col][i] = val
        if ds == "key_person_reports":
            inv = {v: k for k, v in KP_ALIASES.items()}
            for i in self._pick("category_alias", np.array([v in inv for v in c["category"]])):
                c["category"][i] = inv[c["category"][i]]
            idn = c["id_number"]
            for i in self._pick("id_lowercase_x", np.array([v.endswith("X") for v in idn])):
                idn[i] = idn[i][:-1] + "x"
            for i in self._pick("id_15_digit", np.array([v[6:8] == "19" and v[-1] != "x" for v in idn])):
                idn[i] = idn[i][:6] + idn[i][8:17]
            if self.fmt == "xlsx":
                for i in self._pick("id_excel_number", np.array([len(v) == 18 and v.isdigit() for v in idn])):
                    idn[i] = NumId(int(idn[i]))
        if ds in COORD_COLS:
            lo, la = COORD_COLS[ds]
            has = self._notnull(lo)
            for i in self._pick("coord_swapped", has):
                c[lo][i], c[la][i] = c[la][i], c[lo][i]
            for i in self._pick("coord_zero", has):
                c[lo][i], c[la][i] = self._same(c[lo][i], 0.0), self._same(c[la][i], 0.0)
            for i in self._pick("coord_bd09", has):
                x, y = gcj02_to_bd09(float(c[lo][i]), float(c[la][i]))
                c[lo][i], c[la][i] = self._same(c[lo][i], float(x)), self._same(c[la][i], float(y))
                c["coord_sys"][i] = "BD09"
                if ds == "org_units":
                    c["boundary"][i] = _geojson_to_bd09(c["boundary"][i])
        if ds in ("events", "key_person_reports"):
            for i in self._pick("unknown_grid_ref"):
                c["grid_code"][i] = c["grid_code"][i][:12] + f"9{R.randint(0, 99):02d}"
        if ds == "activity_log":
            for i in self._pick("unknown_account_ref", allow_protected=False):
                c["account_id"][i] = f"WG9{R.randint(1, self.g.ghosts):04d}"
        if ds == "events":
            closed = self._notnull("closed_at") & np.array([v == "已办结" for v in c["status"]])
            for i in self._pick("closed_before_reported", closed):
                c["closed_at"][i] = _fmt(_parse(c["reported_at"][i]) - R.randint(HOUR, 3 * DAY))
        fcol = FUTURE_COL[ds]
        cond = self._notnull(fcol)  # rows with an odd timestamp format are used already
        # keep the kinds independent: no future time that also puts it after a closing or a sign-off
        for later in {"events": ("closed_at",), "accounts": ("closed_at",),
                      "key_person_reports": ("police_signed_at", "justice_signed_at", "health_signed_at")}.get(ds, ()):
            cond &= ~self._notnull(later)
        for i in self._pick("future_time", cond, allow_protected=False):
            s = c[fcol][i]
            fy, fm = self.g.future_ym
            c[fcol][i] = f"{fy:04d}-{fm:02d}-{min(int(s[8:10]), 28):02d}{s[10:]}"
        # extra rows: duplicates (later updated_at, later in the file) and rows to be quarantined
        for i in self._pick("dup_key_in_file"):
            row = {k: v[i] for k, v in c.items()}
            base = row["updated_at"]
            if base is None or not isinstance(base, str) or len(base) < 19:
                fb = UPDATED_FALLBACK.get(ds)
                if ds == "collection_stats":
                    base = _fmt(_parse(row["stat_date"]) + DAY - 1)
                elif fb and isinstance(row[fb], str) and len(row[fb]) == 19:
                    base = row[fb]
                else:
                    continue
            row["updated_at"] = _fmt(_parse(base) + R.randint(60, 4 * HOUR))
            if ds == "collection_stats":
                row["households_collected"] = row["households_collected"] + 1
            self.extra.append((R.uniform(i + 0.5, self.n), row))
        for kind in ("missing_required", "bad_required_ts"):
            for i in self._pick(kind, allow_protected=True):
                self.used[i] = False  # the source row itself is untouched
                row = {k: v[i] for k, v in c.items()}
                self._fresh_key(row, R)
                if kind == "missing_required":
                    row[R.choice(MISSING[ds])] = None
                else:
                    col = BAD_TS_COL[ds]
                    row[col] = R.choice(BAD_TS).format(y=self.g.ym[self.m][0])
                self.extra.append((R.uniform(0, self.n), row))

    @staticmethod
    def _same(orig, x: float):
        return f"{x:.6f}".rstrip("0").rstrip(".") if isinstance(orig, str) else round(x, 6)

    def _fresh_key(self, row, R):
        self.g.fresh += 1
        j = self.g.fresh
        ds = self.ds
        if ds == "org_units":
            row["unit_code"] = row["unit_code"][:12].ljust(12, "0") + f"8{j % 100:02d}"
            row["unit_name"] = row["unit_name"] and row["unit_name"] + "（新）"
        elif ds == "accounts":
            row["account_id"] = f"WG8{j:04d}"
        elif ds == "activity_log":
            row["log_id"] = row["log_id"][:8] + f"9{j:07d}"
        elif ds == "events":
            row["event_id"] = row["event_id"][:10] + f"9{j:04d}"
        elif ds == "event_flow":
            row["seq"] = 100 + j
        elif ds == "key_person_reports":
            row["report_id"] = row["report_id"][:10] + f"9{j:04d}"

    def final(self) -> dict:
        if not self.extra:
            return self.cols
        pos = np.concatenate([np.arange(self.n, dtype=float), [p for p, _ in self.extra]])
        order = np.argsort(pos, kind="stable")
        out = {}
        for k, v in self.cols.items():
            ext = np.array([r[k] for _, r in self.extra] + [None], dtype=object)[:-1]
            out[k] = np.concatenate([v, ext])[order]
        return out


def _geojson_to_bd09(text: str) -> str:
    obj = json.loads(text)

    def conv(ring):
        a = np.array(ring)
        x, y = gcj02_to_bd09(a[:, 0], a[:, 1])
        return [[round(float(p), 6), round(float(q), 6)] for p, q in zip(x, y)]

    if obj["type"] == "Polygon":
        obj["coordinates"] = [conv(r) for r in obj["coordinates"]]
    else:
        obj["coordinates"] = [[conv(r) for r in poly] for poly in obj["coordinates"]]
    return json.dumps(obj, separators=(",", ":"))

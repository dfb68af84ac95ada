"""The demo county generator: deterministic, its truth matches its files, its boundaries partition the county.

The files are read back here with a small independent reader (banner rows, decorated headers, summary rows,
GBK/BOM csv, json/jsonl, Excel serial dates), so the truth is checked against what a reader actually sees.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import shapely
from python_calamine import CalamineWorkbook

from core.spec import DATASETS, KP_ALIASES, KP_CATEGORIES, KP_OFFICES
from demo import LIMIT_HOURS, generate
from etl.coords import to_wgs84

END = "2025-02"
MONTHS = 3
FORMATS = {"xlsx", "csv-gbk", "csv-utf8-bom", "csv-utf8", "json", "jsonl"}
NAME = re.compile(r"^(?P<ds>[a-z_]+?)_(?P<date>\d{8})(?:_[^.]+)?\.(?P<ext>xlsx|csv|json|jsonl)$")


# ---------------------------------------------------------------------------------------------- a small reader
def _norm_header(h) -> str:
    h = str(h).strip().rstrip("*").strip()
    return re.sub(r"[（(][^（）()]*[）)]$", "", h).strip()


def read_rows(path: Path, ds: str) -> list[dict]:
    """Data rows of one delivered file, keyed by English column names, values as read."""
    spec = DATASETS[ds]
    by_header = {c.header: c.name for c in spec.columns}
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix == ".xlsx":
        grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(skip_empty_area=False)
    else:
        raw = path.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            text = raw[3:].decode("utf-8")
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("gbk")
        grid = list(csv.reader(io.StringIO(text, newline="")))
    for h, row in enumerate(grid[:5]):
        names = [by_header.get(_norm_header(v)) for v in row]
        if sum(n is not None for n in names) >= 0.8 * len(spec.columns):
            break
    else:
        raise AssertionError(f"no header row in {path.name}")
    body = grid[h + 1:]
    if body and str(body[-1][0]).strip().startswith(("合计", "总计")):
        body = body[:-1]
    return [{n: (None if v == "" else v) for n, v in zip(names, row) if n} for row in body]


EXCEL_EPOCH = dt.datetime(1899, 12, 30)
TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S",
              "%Y年%m月%d日 %H:%M", "%Y年%m月%d日 %H:%M:%S", "%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日")


def parse_ts(v) -> dt.datetime | None:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, (int, float)):
        return EXCEL_EPOCH + dt.timedelta(seconds=round(float(v) * 86400))
    s = str(v).strip()
    if len(s) == 19 and s[4] == "-" and s[10] == " " and s[:4].isdigit():  # the usual format, fast
        try:
            return dt.datetime(int(s[:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:]))
        except ValueError:
            return None
    if len(s) == 10 and s[4] == "-" and s[7] == "-" and s[:4].isdigit():
        try:
            return dt.datetime(int(s[:4]), int(s[5:7]), int(s[8:10]))
        except ValueError:
            return None
    if re.fullmatch(r"\d{5}(\.\d+)?", s):
        return parse_ts(float(s))
    for f in TS_FORMATS:
        try:
            return dt.datetime.strptime(s, f)
        except ValueError:
            pass
    return None


def _empty(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def key_of(row: dict, ds: str) -> tuple:
    out = []
    for k in DATASETS[ds].key:
        v = row.get(k)
        if DATASETS[ds].col(k).type == "date" and parse_ts(v) is not None:
            v = parse_ts(v).date().isoformat()
        elif isinstance(v, float) and v.is_integer():
            v = str(int(v))
        else:
            v = str(v).strip()
        out.append(v)
    return tuple(out)


REQUIRED = {ds: [c.name for c in d.columns if c.required] for ds, d in DATASETS.items()}
REQUIRED_TS = {ds: [c.name for c in d.columns if c.required and c.type in ("ts", "date")]
               for ds, d in DATASETS.items()}


def quarantine_reason(row: dict, ds: str) -> str | None:
    for c in REQUIRED[ds]:
        v = row.get(c)
        if v is None or (v.__class__ is str and not v.strip()):
            return "missing_required"
    for c in REQUIRED_TS[ds]:
        if parse_ts(row[c]) is None:
            return "bad_required_ts"
    return None


def read_drop(folder: Path, truth: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {ds: [] for ds in DATASETS}
    for name, info in sorted(truth["files"].items()):
        rows = read_rows(folder / name, info["dataset"])
        for r in rows:
            r["_file"] = name
        out[info["dataset"]] += rows
    return out


# ---------------------------------------------------------------------------------------------- fixtures
def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_a")
    seen = []
    truth = generate(out, months=MONTHS, end_month=END, progress=lambda f, m: seen.append((f, m)))
    return out, truth, seen


@pytest.fixture(scope="module")
def rows(drop):
    out, truth, _ = drop
    return read_drop(out, truth)


# ---------------------------------------------------------------------------------------------- determinism
def test_same_arguments_give_identical_files_and_another_seed_differs(tmp_path):
    x, y = tmp_path / "x", tmp_path / "y"
    generate(x, months=2, end_month=END, seed=7)
    other = _digest(x)
    (x / "notes.txt").write_text("not the demo's", encoding="utf-8")
    generate(x, months=2, end_month=END)  # a rebuild in place replaces exactly the previous demo files
    generate(y, months=2, end_month=END)
    rebuilt, fresh = _digest(x), _digest(y)
    assert rebuilt.pop("notes.txt") and len(fresh) > 10 and rebuilt == fresh
    assert other.keys() == fresh.keys()  # the same deliveries (names follow the calendar) ...
    assert all(other[k] != fresh[k] for k in fresh)  # ... with different contents


def test_truth_json_is_the_returned_truth(drop):
    out, truth, seen = drop
    assert json.loads((out / "_demo_truth.json").read_text(encoding="utf-8")) == truth
    assert seen and seen[-1][0] == 1.0 and all(0 <= f <= 1 for f, _ in seen)
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)


# ---------------------------------------------------------------------------------------------- truth vs files
def test_file_names_and_formats(drop):
    out, truth, _ = drop
    assert truth["months"] == ["2024-12", "2025-01", "2025-02"] and truth["end_month"] == END
    export_dates = {"20250101", "20250201", "20250301"}
    on_disk = {p.name for p in out.iterdir()} - {"_demo_truth.json"}
    assert on_disk == set(truth["files"])
    formats: dict[str, set] = {}
    for name, info in truth["files"].items():
        m = NAME.match(name)
        assert m and m["ds"] == info["dataset"] and m["date"] in export_dates, name
        assert m["ext"] == info["format"].split("-")[0]
        formats.setdefault(info["dataset"], set()).add(info["format"])
        head = (out / name).read_bytes()[:3]
        assert (head == b"\xef\xbb\xbf") == (info["format"] == "csv-utf8-bom")
        if info["format"] == "csv-gbk":
            with pytest.raises(UnicodeDecodeError):
                (out / name).read_bytes().decode("utf-8")
    assert set(formats) == set(DATASETS)
    assert all(len(f) >= 2 for f in formats.values()), formats
    assert set().union(*formats.values()) == FORMATS
    assert formats["activity_log"] <= {"csv-gbk", "csv-utf8-bom", "csv-utf8"}
    assert any(re.search(r"activity_log_\d{8}_part1\.csv", n) for n in truth["files"])
    assert any(re.search(r"activity_log_\d{8}_part2\.csv", n) for n in truth["files"])
    # xlsx: some with banner rows above the header, some with a 合计 row below the data
    firsts, lasts = [], []
    for name in (n for n in truth["files"] if n.endswith(".xlsx")):
        grid = CalamineWorkbook.from_path(str(out / name)).get_sheet_by_index(0).to_python()
        firsts.append(str(grid[0][0]))
        lasts.append(grid[-1][:2])
    assert any(f.startswith("示例县网格化服务管理信息系统") for f in firsts)
    assert any(str(c0) == "合计" and isinstance(c1, (int, float)) for c0, c1 in lasts)


def test_row_counts_keys_and_quarantine_match_the_truth(drop, rows):
    out, truth, _ = drop
    per_file: dict[str, int] = {}
    for ds, rs in rows.items():
        for r in rs:
            per_file[r["_file"]] = per_file.get(r["_file"], 0) + 1
    assert per_file == {n: i["rows"] for n, i in truth["files"].items()}
    for ds, rs in rows.items():
        assert len(rs) == truth["rows_delivered"][ds]
        reasons = [quarantine_reason(r, ds) for r in rs]
        q = {k: reasons.count(k) for k in ("missing_required", "bad_required_ts")}
        assert q == truth["quarantine"][ds], ds
        assert q["missing_required"] > 0 and q["bad_required_ts"] > 0, ds
        valid = {key_of(r, ds) for r, why in zip(rs, reasons) if why is None}
        assert len(valid) == truth["distinct_keys"][ds], ds
        bad_keys = {key_of(r, ds) for r, why in zip(rs, reasons) if why == "bad_required_ts"}
        assert not bad_keys & valid
    assert truth["accounts"] == truth["distinct_keys"]["accounts"]
    assert truth["units"]["townships"] == 32
    assert sum(truth["units"].values()) + 1 == truth["distinct_keys"]["org_units"]


def test_mess_is_present_and_counted(drop, rows):
    out, truth, _ = drop
    mess = truth["mess"]
    for ds in DATASETS:
        for kind in ("ts_formats", "dup_key_in_file", "missing_required", "bad_required_ts"):
            assert mess[ds].get(kind, 0) > 0, (ds, kind)
    for kind in ("coord_swapped", "coord_zero", "coord_bd09"):
        assert all(mess[ds][kind] > 0 for ds in ("org_units", "activity_log", "events"))
    assert mess["activity_log"]["unknown_account_ref"] > 0
    assert mess["events"]["closed_before_reported"] > 0 and mess["events"]["unknown_grid_ref"] > 0
    for kind in ("category_alias", "id_lowercase_x", "id_15_digit", "unknown_grid_ref", "unknown_code"):
        assert mess["key_person_reports"][kind] > 0, kind

    kp = [r for r in rows["key_person_reports"] if r.get("id_number") is not None]
    assert sum(str(r["category"]).strip() in KP_ALIASES for r in kp) == mess["key_person_reports"]["category_alias"]
    assert sum(str(r["category"]).strip() not in KP_CATEGORIES and str(r["category"]).strip() not in KP_ALIASES
               and not _empty(r["category"]) for r in kp) == mess["key_person_reports"]["unknown_code"]
    assert sum(isinstance(r["id_number"], float) for r in kp) == mess["key_person_reports"]["id_excel_number"]
    assert sum(isinstance(r["id_number"], str) and len(r["id_number"]) == 15 for r in kp) == \
        mess["key_person_reports"]["id_15_digit"]
    assert sum(isinstance(r["id_number"], str) and r["id_number"].endswith("x") for r in kp) == \
        mess["key_person_reports"]["id_lowercase_x"]
    ids = [r["id_number"] for r in kp if isinstance(r["id_number"], str) and len(r["id_number"]) == 18]
    assert any(i.endswith("X") for i in ids)
    w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    assert all("10X98765432"[sum(int(c) * k for c, k in zip(i, w)) % 11] == i[-1].upper() for i in ids)
    assert sum(r.get("coord_sys") == "BD09" for r in rows["events"]) == mess["events"]["coord_bd09"]
    acc = {r["account_id"] for r in rows["accounts"] if r.get("account_id")}
    assert sum(str(r["account_id"]).strip() not in acc for r in rows["activity_log"]
               if not _empty(r["account_id"])) == mess["activity_log"]["unknown_account_ref"]
    # both kinds of timestamp cell, and odd formats, in xlsx and csv
    for ds in ("accounts", "events", "key_person_reports"):
        xl = [r for r in rows[ds] if r["_file"].endswith(".xlsx")]
        tcols = [c.name for c in DATASETS[ds].columns if c.type == "ts"]
        assert xl and any(isinstance(r[c], dt.datetime) for r in xl for c in tcols), ds
        assert any(isinstance(r[c], str) and parse_ts(r[c]) for r in xl for c in tcols), ds
    odd = re.compile(r"[/年T]|^\d{5}|^\d{4}-\d{2}-\d{2}$")
    for ds in DATASETS:
        for kind in ("xlsx", "csv"):
            got = [r for r in rows[ds] if r["_file"].endswith(kind)]
            if got:
                tcols = [c.name for c in DATASETS[ds].columns if c.type in ("ts", "date")]
                assert any(isinstance(r[c], (float, int)) or (isinstance(r[c], str) and odd.search(r[c]))
                           for r in got for c in tcols), (ds, kind)


def test_redelivery_latest_wins(rows):
    """An event closed in a later month arrives twice; the later row has the later updated_at and is closed."""
    by_id: dict[str, list] = {}
    for r in rows["events"]:
        by_id.setdefault(str(r["event_id"]).strip(), []).append(r)
    multi = [rs for rs in by_id.values() if len({x["_file"] for x in rs}) > 1]
    assert len(multi) > 100
    for rs in multi:
        rs.sort(key=lambda x: x["_file"][7:15])
        assert parse_ts(rs[0]["updated_at"]) < parse_ts(rs[-1]["updated_at"])
    assert any(str(rs[-1]["status"]).strip() == "已办结" and str(rs[0]["status"]).strip() != "已办结" for rs in multi)


# ---------------------------------------------------------------------------------------------- the county
def test_boundaries_partition_the_county(rows):
    units = {}
    for r in rows["org_units"]:
        if quarantine_reason(r, "org_units") is None:
            units[str(r["unit_code"]).strip()] = r

    def geom(r):
        g = shapely.from_geojson(r["boundary"])
        sys_ = (r.get("coord_sys") or "GCJ02").strip()
        return shapely.transform(g, lambda xy: np.c_[to_wgs84(xy[:, 0], xy[:, 1], [sys_] * len(xy))])

    county = geom(units["510799"])
    towns = [geom(r) for r in units.values() if str(r["level"]).strip() == "乡镇"]
    assert len(towns) == 32
    assert all(g.is_valid for g in towns)
    tree = shapely.STRtree(towns)
    overlap = 0.0
    for i, j in zip(*tree.query(towns, predicate="intersects")):
        if i < j:
            overlap += shapely.intersection(towns[i], towns[j]).area
    assert overlap < 1e-6 * county.area
    union = shapely.union_all(towns)
    assert shapely.symmetric_difference(union, county).area < 0.005 * county.area
    # about 60 × 50 km around 31.6°N 105.2°E
    minx, miny, maxx, maxy = county.bounds
    assert 104.8 < minx < maxx < 105.6 and 31.3 < miny < maxy < 31.9
    assert 45 < (maxx - minx) * 94.8 < 75 and 38 < (maxy - miny) * 110.6 < 62
    grids = [r for r in units.values() if str(r["level"]).strip() == "网格"]
    assert 1000 <= len(grids) <= 1200
    assert all(len(str(r["unit_code"]).strip()) == 15 for r in grids)
    assert all(shapely.get_num_coordinates(shapely.from_geojson(r["boundary"])) <= 45 for r in units.values())


def test_the_county_as_the_bulletin_needs_it(drop, rows):
    out, truth, _ = drop
    units = {str(r["unit_code"]).strip(): r for r in rows["org_units"] if r.get("unit_code")}
    towns = {str(r["unit_name"]).strip(): c for c, r in units.items() if str(r.get("level")).strip() == "乡镇"}
    seat = [r for c, r in units.items() if c.startswith(towns["文昌镇"]) and str(r.get("level")).strip() == "社区"]
    assert len(seat) == 4
    acc = {}
    for r in rows["accounts"]:
        if quarantine_reason(r, "accounts") is None:
            acc[str(r["account_id"]).strip()] = r
    depts = {str(r["dept_name"]) for r in acc.values() if str(r["role"]).strip() in ("派出所", "司法所", "卫生院")}
    assert {"文兴派出所", "经开区派出所", "七曲山派出所", "卧龙司法所", "宏仁卫生院"} <= depts and len(depts) == 96
    assert 1200 <= truth["accounts"] <= 1450
    # activity of the last month: 宏仁乡 grid workers all ≥ 20 days, the three idle 乡镇 nothing at all
    y, m = (int(v) for v in END.split("-"))
    days: dict[str, set] = {}
    for r in rows["activity_log"]:
        t = parse_ts(r["op_time"]) if not _empty(r["op_time"]) else None
        if t and (t.year, t.month) == (y, m) and not _empty(r["account_id"]):
            days.setdefault(str(r["account_id"]).strip(), set()).add(t.date())
    unit_town = lambda code: str(code).strip()[:9]  # noqa: E731
    hongren = [a for a, r in acc.items() if str(r["role"]).strip() == "网格员"
               and unit_town(r["unit_code"]) == towns["宏仁乡"]]
    assert hongren and all(len(days.get(a, ())) >= 20 for a in hongren)
    for idle in ("长卿镇", "双峰乡", "双板镇"):
        assert not [a for a, r in acc.items() if unit_town(r["unit_code"]) == towns[idle] and days.get(a)]
    # key persons: in the last month only 大新乡 reported 吸毒人员, 4 reports
    kp = [r for r in rows["key_person_reports"] if quarantine_reason(r, "key_person_reports") is None]
    last = {}
    for r in kp:
        t = parse_ts(r["reported_at"])
        cat = KP_ALIASES.get(str(r["category"]).strip(), str(r["category"]).strip())
        if (t.year, t.month) == (y, m) and cat == "吸毒人员":
            last[str(r["report_id"]).strip()] = str(r["grid_code"]).strip()[:9]
    assert sorted(set(last.values())) == [towns["大新乡"]] and len(last) == 4


def _latest(rs: list[dict], ds: str) -> dict:
    best: dict = {}
    for r in rs:
        if quarantine_reason(r, ds) is None:
            k = key_of(r, ds)
            u = parse_ts(r["updated_at"]) if not _empty(r.get("updated_at")) else dt.datetime.min
            if k not in best or u >= best[k][0]:
                best[k] = (u, r)
    return {k: r for k, (_, r) in best.items()}


def _s(v) -> str:
    return "" if v is None else str(v).strip()


def test_records_are_coherent(drop, rows):
    out, truth, _ = drop
    events = _latest(rows["events"], "events")
    timed = 0
    for r in events.values():
        closed = not _empty(r.get("closed_at"))
        assert closed == (_s(r["status"]) == "已办结"), r
        assert _s(r["handling_level"]) in ("网格", "社区", "乡镇", "县")
        rep, dl = parse_ts(r["reported_at"]), parse_ts(r["deadline"])
        cat = _s(r["category"])
        if dl and rep and rep < dt.datetime(2025, 3, 1) and cat in LIMIT_HOURS:  # not the injected future or unknown ones
            # deadline = reported_at + the category's time limit (odd formats may drop seconds or the time)
            assert -0.02 < LIMIT_HOURS[cat] - (dl - rep).total_seconds() / 3600 < 24.02, r
            timed += 1
        if _s(r.get("satisfaction")):
            assert closed
    assert timed > 0.9 * len(events)
    assert {_s(r["supervision"]) for r in events.values()} == {"普通", "黄牌", "红牌"}
    statuses = {_s(r["status"]) for r in events.values()}
    assert {"已办结", "办理中", "待受理"} <= statuses
    # flow: seq 1..n per event, times in order (odd formats may lose the seconds)
    steps: dict[str, list] = {}
    for r in _latest(rows["event_flow"], "event_flow").values():
        if int(float(r["seq"])) < 100:
            steps.setdefault(_s(r["event_id"]), []).append(r)
    assert set(steps) == {k[0] for k in events}
    for eid, rs in steps.items():
        rs.sort(key=lambda x: int(float(x["seq"])))
        assert [int(float(x["seq"])) for x in rs] == list(range(1, len(rs) + 1)), eid
        assert _s(rs[0]["action"]) in ("上报", "转办")  # 转办: the injected unknown code
        t = [parse_ts(x["action_time"]) for x in rs]
        t = [x for x in t if x < dt.datetime(2025, 3, 1)]  # not the injected future times
        assert all(b - a >= dt.timedelta(minutes=-1) for a, b in zip(t, t[1:])), eid
    # key persons go to the offices of their 乡镇
    offices = {"police": ("police_station", "派出所"), "justice": ("justice_office", "司法所"),
               "health": ("health_center", "卫生院")}
    units = _latest(rows["org_units"], "org_units")
    town_name = {k[0]: _s(r["unit_name"]) for k, r in units.items() if _s(r["level"]) == "乡镇"}
    for r in _latest(rows["key_person_reports"], "key_person_reports").values():
        cat = KP_ALIASES.get(_s(r["category"]), _s(r["category"]))
        if cat not in KP_CATEGORIES or _s(r["grid_code"])[:9] not in town_name:
            continue
        town = town_name[_s(r["grid_code"])[:9]]
        short = town if town == "经开区" else town[:-1]
        sent = {k for k, (col, _) in offices.items() if not _empty(r.get(col))}
        assert sent == set(KP_OFFICES[cat]), r
        for k in sent:
            col, role = offices[k]
            assert _s(r[col]) == short + role
    # activity: handheld rows carry a position, PC rows none
    for r in rows["activity_log"][:50000]:
        if _s(r.get("terminal")) == "PC":
            assert _empty(r.get("lon")) and _empty(r.get("lat"))
        elif _s(r.get("terminal")) == "手持终端" and not _empty(r.get("lon")):
            lon, lat = float(r["lon"]), float(r["lat"])
            assert (104.8 < lon < 105.7 and 31.2 < lat < 32.0) or (104.8 < lat < 105.7) or lon == 0
    # collection: cumulative counts never fall
    last: dict = {}
    for r in sorted((r for r in rows["collection_stats"] if quarantine_reason(r, "collection_stats") is None),
                    key=lambda r: (parse_ts(r["stat_date"]), _s(r["_file"]))):
        g = _s(r["grid_code"])
        v = int(float(r["households_collected"]))
        assert v >= last.get(g, 0) - 1, g  # a duplicate row may be one higher
        last[g] = v

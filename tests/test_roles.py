"""Every role, logged in through the real login form on a real warehouse (tests/support/county.py sample_county): which
pages it gets, which rows, what personal data reaches the browser (every element sent, serialized, is searched —
not only what is drawn), and what happens when it tries to leave its scope through the URL, the query parameters,
the session state or the data layer.

The sample county: 文昌镇 (510799001, split into 文昌镇四个社区 510799001-U / 文昌镇农村网格 510799001-R; accounts
张三丰, 李四光, 王五常 with phones 1381234567{0,1,2}; events whose text holds 1390000000{0,1,2}) and 宏仁乡
(510799002; accounts 赵六合 …673, 钱七星 …674; events 1390000000{3,4}); key persons all 李四光 510723199001011232;
offices 宏仁派出所, 宏仁司法所, 宏仁卫生院 (reports of 宏仁), 文昌派出所, 文昌司法所 (reports of 文昌).
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.county import build_sample
from support.logins import add_users, login

from core import config
from dashboard import auth
from warehouse import metrics
from warehouse.metrics import Scope, ScopeError

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 60
ALL_PAGES = ["home.py", "activity.py", "events.py", "key_persons.py", "compare.py", "bulletin.py", "wall.py",
             "quality.py", "users.py", "audit.py"]
EXPECTED_PAGES = {
    "admin": set(ALL_PAGES),
    "leader": {"home.py", "activity.py", "events.py", "key_persons.py", "compare.py", "bulletin.py", "warnings.py",
               "wall.py"},
    "township": {"home.py", "activity.py", "events.py", "key_persons.py", "bulletin.py", "warnings.py", "upload.py"},
    "department": {"key_persons.py", "warnings.py"},
}
# Personal data of the sample county, full and masked.
FULL = ["张三丰", "李四光", "王五常", "赵六合", "钱七星", "13812345670", "13812345674", "13900000003",
        "510723199001011232"]
MASKED = ["钱**", "138****5674", "139****0003", "李**", "510723********1232"]
WENCHANG = ["文昌镇四个社区", "文昌镇农村网格", "文昌一社区", "文昌一村", "138****5670", "139****0000", "文昌司法所"]
WH_TOWN, HR_TOWN = "510799001", "510799002"


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    root = tmp_path_factory.mktemp("roles")
    cfg = root / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{root}"\ndrop_dir = "{root}/drop"\nlake_dir = "{root}/lake"\n'
                   f'warehouse_dir = "{root}/wh"\n[demo]\nauto = false\n', encoding="utf-8")
    old = os.environ.get(config.ENV_VAR)
    os.environ[config.ENV_VAR] = str(cfg)
    config.settings.cache_clear()
    build_sample(root, config.settings())
    add_users(config.settings())
    yield root
    if old:
        os.environ[config.ENV_VAR] = old
    else:
        os.environ.pop(config.ENV_VAR, None)
    config.settings.cache_clear()


def _session(user: str, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
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
    """Everything the server sent for the page: every element's protobuf (tables as Arrow bytes, charts as JSON)."""
    out: list[bytes] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "SerializeToString"):
            out.append(proto.SerializeToString())
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)  # noqa: SLF001
    return b"".join(out).decode("utf-8", errors="replace")


def _titles(at) -> list[str]:
    return [t.value for t in at.title]


# -------------------------------------------------------------------------------------------- navigation
@pytest.mark.parametrize("user", list(EXPECTED_PAGES))
def test_each_role_gets_exactly_its_pages(county, user):
    at = _session(user)
    for page in ALL_PAGES:
        if page in EXPECTED_PAGES[user]:
            _open(at, page, p="2024-03", k="month")
            assert not at.error, (user, page, [e.value for e in at.error])
        else:  # not in the navigation: cannot be opened, by link or by URL
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(str(ROOT / "pages" / page))


def test_not_logged_in_every_url_shows_the_login(county):
    for path_params in ({}, {"u": HR_TOWN}, {"p": "2024-03"}):
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        for k, v in path_params.items():
            at.query_params[k] = v
        at.run()
        assert at.text_input(key="login_user")
        text = sent(at)
        for secret in FULL + MASKED + ["宏仁", "文昌"]:
            assert secret not in text
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(str(ROOT / "pages" / "events.py"))


def test_page_guard_refuses_a_page_outside_the_role():
    ident = auth.Identity("d", "d", "部门用户", Scope(office_name="宏仁派出所"), "password")
    assert "events" not in ident.pages and ident.pages == ("key_persons", "warnings")
    assert auth.Identity("w", "w", "大屏", auth.DISPLAY_SCOPE, "token").pages == ("wall",)


# -------------------------------------------------------------------------------------------- 县级管理员
def test_admin_sees_county_masked(county):
    at = _open(_session("admin"), "activity.py", p="2024-03", k="month", u=HR_TOWN)
    text = sent(at)
    assert "钱**" in text and "138****5674" in text
    for secret in FULL:
        assert secret not in text, secret
    at = _open(_session("admin"), "events.py", p="2024-03", k="month")
    text = sent(at)
    assert "139****0000" in text and "139****0003" in text  # both 乡镇
    assert "13900000003" not in text


def test_admin_unmasks_one_record_with_a_reason_and_it_is_audited(county):
    at = _open(_session("admin"), "events.py", p="2024-03", k="month", u=HR_TOWN)
    before = len(auth.store().audit_entries(None, action="unmask"))
    ev = at.dataframe[-1].value
    event_id = next(e for e, s in zip(ev["事件编号"], ev["事件描述 (已脱敏)"]) if "139****0003" in s)
    at.selectbox(key="ev-list-u-unmask-rec").set_value(event_id)
    at.text_input(key="ev-list-u-unmask-reason").input("")
    next(b for b in at.button if b.label == "查看此条完整信息").click()
    at.run()
    assert any("请填写查看理由" in e.value for e in at.error)
    assert "13900000003" not in sent(at)
    assert len(auth.store().audit_entries(None, action="unmask")) == before
    at.selectbox(key="ev-list-u-unmask-rec").set_value(event_id)
    at.text_input(key="ev-list-u-unmask-reason").input("核实群众来电")
    next(b for b in at.button if b.label == "查看此条完整信息").click()
    at.run()
    assert not at.exception
    text = sent(at)
    assert "13900000003" in text  # the one record, in full
    assert "13900000004" not in text  # and no other
    entry = auth.store().audit_entries(1, action="unmask")[0]
    assert entry["actor"] == "admin" and entry["reason"] == "核实群众来电" and event_id in entry["target"]
    at.run()  # the next interaction: the full record is gone
    assert "13900000003" not in sent(at)


# -------------------------------------------------------------------------------------------- 县领导
@pytest.mark.parametrize("page,params", [
    ("home.py", {}), ("activity.py", {"u": HR_TOWN}), ("activity.py", {"u": WH_TOWN + "-U"}),
    ("events.py", {}), ("events.py", {"u": HR_TOWN}), ("key_persons.py", {}), ("compare.py", {}),
    ("bulletin.py", {}), ("wall.py", {})])
def test_leader_never_receives_personal_data(county, page, params):
    at = _open(_session("leader"), page, p="2024-03", k="month", **params)
    text = sent(at)
    for secret in FULL + MASKED + ["居民反映问题", "138****", "139****"]:
        assert secret not in text, (page, secret)
    assert not [b for b in at.button if "完整信息" in b.label]


def test_leader_overdue_signoffs_without_names(county):
    at = _open(_session("leader"), "key_persons.py", p="2024-03", k="month")
    at.segmented_control(key="_view").set_value("超时未签收").run()
    text = sent(at)
    assert "宏仁派出所" in text  # the list is there …
    for secret in FULL + MASKED:
        assert secret not in text  # … without names and ID numbers


# -------------------------------------------------------------------------------------------- 乡镇用户
@pytest.mark.parametrize("page,params", [
    ("home.py", {}), ("activity.py", {}), ("activity.py", {"u": WH_TOWN + "-U"}), ("activity.py", {"u": WH_TOWN}),
    ("events.py", {"u": WH_TOWN + "-R"}), ("events.py", {}), ("key_persons.py", {"u": WH_TOWN + "-U"}),
    ("bulletin.py", {})])
def test_township_user_sees_only_its_township_whatever_the_url(county, page, params):
    at = _open(_session("township"), page, p="2024-03", k="month", **params)
    text = sent(at)
    for other in WENCHANG:
        assert other not in text, (page, params, other)
    for secret in FULL:
        assert secret not in text, (page, secret)
    assert "宏仁" in text


def test_township_user_drill_down_and_masking(county):
    at = _open(_session("township"), "activity.py", p="2024-03", k="month", u=HR_TOWN)
    text = sent(at)
    assert "钱**" in text and "138****5674" in text and "钱七星" not in text
    assert not [b for b in at.button if "完整信息" in b.label]  # may not unmask


def test_township_user_session_state_and_params_tampering(county):
    at = _session("township", p="2024-03", k="month")
    at.session_state["role"] = "县级管理员"
    at.session_state["scope"] = Scope()
    at.session_state["_u"] = WH_TOWN + "-U"  # the unit selectbox's state
    at = _open(at, "events.py", p="2024-03", k="month", u=WH_TOWN + "-U")
    text = sent(at)
    for other in WENCHANG:
        assert other not in text, other


# -------------------------------------------------------------------------------------------- 部门用户
def test_department_user_sees_only_reports_sent_to_its_office(county):
    at = _open(_session("department"), "key_persons.py", p="2024-03", k="month")
    tallies = {m.label: m.value for m in at.metric}
    assert tallies["刑满释放人员"] == "0 条" and tallies["社区矫正人员"] == "0 条"  # addressed to 文昌司法所
    assert tallies["流动人口"] == "5 条" and tallies["吸毒人员"] == "1 条"
    at.segmented_control(key="_view").set_value("各部门").run()
    assert list(at.dataframe[0].value["部门"]) == ["宏仁派出所"]
    at.segmented_control(key="_view").set_value("超时未签收").run()
    od = at.dataframe[0].value
    assert set(od["接收部门"]) == {"宏仁派出所"}
    assert set(od["身份证号"]) == {"510723********1232"} and set(od["姓名"]) == {"李**"}
    text = sent(at)
    for other in ("文昌司法所", "510723199001011232", "李四光"):
        assert other not in text
    assert [b for b in at.button if b.label == "查看此条完整信息"]  # may unmask, with a reason


# -------------------------------------------------------------------------------------------- data layer
def test_metrics_layer_with_another_unit_returns_nothing(county):
    from dashboard import data

    con, _ = data.connection()  # the app's own connection (DuckDB allows one configuration per file and process)
    hr = Scope(township_code=HR_TOWN, label="宏仁乡")
    ev = metrics.query(con, "events/list", hr, **metrics.period_params(metrics.Period.month(2024, 3)),
                       ru_code=WH_TOWN + "-U", grid_code=None, limit=100)
    assert ev.empty
    acc = metrics.query(con, "activity/inactive_accounts", hr, start=dt.date(2024, 3, 1),
                        end=dt.date(2024, 4, 1), ru_code=WH_TOWN + "-U", community_code=None, grid_code=None)
    assert acc.empty
    with pytest.raises(ScopeError):
        metrics.query(con, "events/list", hr, scope_township=WH_TOWN)


def _probe():
    """Run inside the app's runtime: a logged-in 乡镇用户 calls the data layer with scopes not its own."""
    import streamlit as st

    from dashboard import auth, data
    from warehouse.metrics import Scope, ScopeError

    auth._start("user", st.session_state["who"], "password")  # noqa: SLF001 — as the login form does
    own = auth.current().scope
    results = {}
    for label, scope, name in [
        ("own", own, "events/by_unit"),
        ("county", Scope(personal="masked"), "events/by_unit"),
        ("other_town", Scope(township_code="510799001", personal="masked"), "events/by_unit"),
        ("full", Scope(township_code=own.township_code, office_name=own.office_name, personal="full"), "events/list"),
        ("quarantine", own, "quality/quarantine_rows"),
        ("events_for_office", own, "events/list"),
    ]:
        try:
            data.q(name, scope, start=None, end=None, prev_start=None, prev_end=None, dataset=None,
                   reason_kind=None, limit=5)
            results[label] = "ok"
        except ScopeError:
            results[label] = "refused"
    st.write(results)
    try:
        data.unmasked_record("events/list", {}, "event_id", "E1", "试图查看")
        st.write("unmask: ok")
    except ScopeError:
        st.write("unmask: refused")


@pytest.mark.parametrize("who,expected", [
    ("township", {"own": "ok", "county": "refused", "other_town": "refused", "full": "refused",
                  "quarantine": "refused", "events_for_office": "ok", "unmask": "refused"}),
    ("department", {"own": "refused", "county": "refused", "other_town": "refused", "full": "refused",
                    "quarantine": "refused", "events_for_office": "refused", "unmask": "refused"}),
    # 县领导: aggregates only, and only its pages' queries (no 数据质量 page, no record lists)
    ("leader", {"own": "ok", "county": "refused", "other_town": "refused", "full": "refused",
                "quarantine": "refused", "events_for_office": "refused", "unmask": "refused"}),
])
def test_data_layer_refuses_scopes_beyond_the_caller(county, who, expected):
    at = AppTest.from_function(_probe, default_timeout=TIMEOUT)
    at.session_state["who"] = who
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    got = at.json[0].value if at.json else None
    import json as _json

    got = _json.loads(got) if isinstance(got, str) else got
    unmask = next(m.value for m in at.markdown if m.value.startswith("unmask:")).split(": ")[1]
    assert {**got, "unmask": unmask} == expected

"""Roles of a city deployment (no server): the user store keeps a user's county (and brings an older store's
table up to date), the access layer turns it into Scope(county_code=…) in a city deployment only, 市级 users get
the 全市 page, county-scoped users do not."""
from __future__ import annotations

import sqlite3

import pytest

from core.config import City, Deployment, Settings
from dashboard import auth, data
from dashboard.users import ADMIN, DEPARTMENT, LEADER, TOWNSHIP, StoreError, UserStore

PW = "correct-horse-9"


@pytest.fixture()
def store(tmp_path):
    return UserStore(tmp_path / "auth" / "users.db", audit_key_file=tmp_path / "auth" / "audit.key")


def _level(monkeypatch, level: str) -> None:
    s = Settings(deployment=Deployment(level=level), city=City(name="示例市", code="510700"))
    monkeypatch.setattr(auth, "settings", lambda: s)


def test_store_keeps_the_county_and_migrates_an_old_store(store, tmp_path):
    store.add_user("dl", ADMIN, password=PW, actor="t", county_code="510798", county_name="东岭县")
    store.add_user("town", TOWNSHIP, password=PW, actor="t", township_code="510798002", township_name="东岭镇")
    assert (store.get_user("dl").county_code, store.get_user("dl").county_name) == ("510798", "东岭县")
    assert store.get_user("town").county_code == "510798"  # a 乡镇's county: its code's first 6 digits
    with pytest.raises(StoreError):
        store.add_user("bad", LEADER, password=PW, actor="t", county_code="5107")
    con = sqlite3.connect(tmp_path / "auth" / "users.db")  # a store made before the city deployment
    con.execute("ALTER TABLE users DROP COLUMN county_name")
    con.execute("ALTER TABLE users DROP COLUMN county_code")
    con.close()
    again = UserStore(tmp_path / "auth" / "users.db", audit_key_file=tmp_path / "auth" / "audit.key")
    assert again.get_user("dl").county_code is None and again.get_user("dl").role == ADMIN
    again.add_user("xh", LEADER, password=PW, actor="t", county_code="510797", county_name="西河县")
    assert again.get_user("xh").county_name == "西河县"


def test_city_scopes_and_pages(store, monkeypatch):
    store.add_user("city", ADMIN, password=PW, actor="t")
    store.add_user("dl", LEADER, password=PW, actor="t", county_code="510798", county_name="东岭县")
    store.add_user("office", DEPARTMENT, password=PW, actor="t", office_name="文昌派出所", county_code="510798",
                   county_name="东岭县")
    _level(monkeypatch, "city")
    city = auth.scope_for(store.get_user("city"))
    assert city.county_code is None and not city.by_county and city.label == "全市"
    dl = auth.scope_for(store.get_user("dl"))
    assert (dl.county_code, dl.personal, dl.label) == ("510798", "none", "东岭县")
    office = auth.scope_for(store.get_user("office"))
    assert (office.county_code, office.office_name) == ("510798", "文昌派出所")
    ident = auth.Identity("city", "city", ADMIN, city, "password")
    assert ident.city_level and ident.pages[0] == "city" and ident.role_label == "市级管理员"
    county = auth.Identity("dl", "dl", LEADER, dl, "password")
    assert not county.city_level and "city" not in county.pages and county.role_label == LEADER
    assert auth.display_scope().by_county and auth.display_scope().personal == "none"
    assert "city/township_ranking" in data.role_queries(LEADER)
    _level(monkeypatch, "county")  # a county deployment: no county level, whatever the record holds
    assert auth.scope_for(store.get_user("dl")).county_code is None
    assert auth.scope_for(store.get_user("dl")).label == "全县"
    assert not auth.Identity("city", "city", ADMIN, auth.scope_for(store.get_user("city")), "password").city_level
    assert not auth.display_scope().by_county


def test_a_department_user_needs_its_county_in_a_city(store, tmp_path, monkeypatch, capsys):
    """Counties share office names (a 文昌派出所 in each): in a city deployment a 部门用户 is added with its county
    only, and an older record without one sees no county's data (never every county); a county deployment is as
    it was."""
    with pytest.raises(StoreError, match="所属县"):
        store.add_user("o1", DEPARTMENT, password=PW, actor="t", office_name="文昌派出所", city=True)
    store.add_user("o2", DEPARTMENT, password=PW, actor="t", office_name="文昌派出所", county_code="510798",
                   city=True)
    store.add_user("old", DEPARTMENT, password=PW, actor="t", office_name="文昌派出所")  # county deployment: fine
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[deployment]\nlevel = "city"\n[paths]\ndata_dir = "{tmp_path}"\n'
                   f'warehouse_dir = "{tmp_path}/wh"\n', encoding="utf-8")
    from dashboard.__main__ import users_main

    rc = users_main(["--config", str(cfg), "add", "o3", "--role", "部门用户", "--office", "文昌派出所", "--force",
                     "--password-stdin"])  # refused before any password is read
    assert rc == 2 and "--county" in capsys.readouterr().err
    _level(monkeypatch, "city")
    old = auth.Identity("old", "old", DEPARTMENT, auth.scope_for(store.get_user("old")), "password")
    assert old.county_missing and "管理员" in auth.COUNTY_MISSING
    monkeypatch.setattr(auth, "current", lambda: old)
    with pytest.raises(auth.ScopeError):
        auth.authorize("kp/by_unit", old.scope)
    bound = auth.Identity("o2", "o2", DEPARTMENT, auth.scope_for(store.get_user("o2")), "password")
    assert not bound.county_missing
    monkeypatch.setattr(auth, "current", lambda: bound)
    auth.authorize("kp/by_unit", bound.scope)
    _level(monkeypatch, "county")
    assert not auth.Identity("old", "old", DEPARTMENT, auth.scope_for(store.get_user("old")), "password").county_missing


@pytest.fixture()
def city_app(city, tmp_path, monkeypatch):
    """The app's configuration for the small city (tests/support/city.py) in the environment: its settings, read
    again before and after the test."""
    from core import config

    monkeypatch.setenv(config.ENV_VAR, str(city.app_config(tmp_path)))
    config.settings.cache_clear()
    yield config.settings()
    config.settings.cache_clear()


def test_the_app_shows_a_department_user_without_county_no_page(city_app):
    """In the app (AppTest on the small city): the 部门用户 without a county logs in to the message and no page."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest
    from support.logins import login

    users = UserStore.from_settings(city_app)
    users.add_user("cityadmin", ADMIN, password=PW, actor="t")  # set up: the login form, not the set-up
    users.add_user("old", DEPARTMENT, password=PW, actor="t", office_name="文昌派出所")  # a record from before
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"),
                           default_timeout=60).run()
    login(at, "old", PW)
    assert not at.exception
    assert [e.value for e in at.error] == [auth.COUNTY_MISSING]
    assert [t.value for t in at.title] == ["示例市网格化服务管理督导平台"]  # no page of the role


@pytest.mark.parametrize("level, told", [("city", ("市级管理员", "全市")), ("county", ("县级管理员", "全县"))])
def test_the_users_command_names_a_city_user_as_the_app_does(tmp_path, monkeypatch, capsys, level, told):
    """`python -m dashboard users add/list` tell a county role with no county as the app shows it: 市级管理员 · 全市 in
    a city deployment, 县级管理员 · 全县 in a county's."""
    import io

    from dashboard.__main__ import users_main

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[deployment]\nlevel = "{level}"\n[paths]\ndata_dir = "{tmp_path}"\n'
                   f'warehouse_dir = "{tmp_path}/wh"\n', encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO(PW + "\n"))
    assert users_main(["--config", str(cfg), "add", "boss", "--role", "admin", "--password-stdin"]) == 0
    assert f"已添加 boss ({told[0]} · {told[1]})" in capsys.readouterr().out
    assert users_main(["--config", str(cfg), "list"]) == 0
    assert capsys.readouterr().out.startswith(f"boss\t{told[0]}\t{told[1]}\t")


def test_a_city_admins_full_export_of_a_chosen_county_holds_that_countys_rows_only(city_app):
    """市级管理员 with 东岭县 chosen in the sidebar: 导出整表完整信息 on 事件办结 exports the rows the page showed
    (东岭县's), not the whole city's; the audit entry names the county and the rows."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest
    from support.logins import login

    root = Path(__file__).resolve().parent.parent
    UserStore.from_settings(city_app).add_user("cityadmin", ADMIN, password=PW, actor="t")
    at = AppTest.from_file(str(root / "dashboard" / "app.py"), default_timeout=60).run()
    login(at, "cityadmin", PW)
    at.switch_page(str(root / "pages" / "events.py"))
    at.query_params.update(p="2024-03", k="month")
    at.run()
    at.selectbox(key="_county").set_value("510798").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "当前显示: **东岭县 · 2024年3月**" in [c.value for c in at.caption]
    shown = at.dataframe[-1].value
    assert len(shown) > 0
    next(t for t in at.text_input if t.label == "查看理由 (必填)").input("核实各乡镇上报事件")
    next(b for b in at.button if b.label == "导出整表完整信息").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [entry] = auth.store().audit_entries(1, action="export_full")
    assert entry["detail"].startswith(f"{len(shown)} 行 · events/list · 东岭县"), entry


def test_a_city_admins_warnings_page_follows_the_chosen_county(city_app):
    """预警与督办 for a 市级管理员 who chose 东岭县: that county's warnings (as a 东岭县 user sees them) and its
    督办单 only, not another county's."""
    import datetime as dt
    from pathlib import Path

    from streamlit.testing.v1 import AppTest
    from support.logins import login

    from warehouse import supervision, warnings
    from warehouse.metrics import Scope

    root = Path(__file__).resolve().parent.parent
    s = city_app
    con = data.connection()[0].cursor()  # the app's own connection (one configuration per file and process)
    try:
        day = dt.date.fromisoformat(dict(con.execute("SELECT key, value FROM meta").fetchall())["data_last_day"])
        want = warnings.evaluate(con, scope=Scope(county_code="510798"), settings=s)  # at its own data date
        assert want
        ru = "510797001"  # a 督办单 of 西河县's 乡镇
        w = warnings.Warning("红", "completion_low", "unit", ru, "西河镇", day, "办结率持续偏低",
                             township_code=ru, ru_code=ru)
        supervision.Store.from_settings(s).issue(con, w, "x", Scope(county_code="510797"), as_of=day, settings=s)
    finally:
        con.close()
    UserStore.from_settings(s).add_user("cityadmin", ADMIN, password=PW, actor="t")
    at = AppTest.from_file(str(root / "dashboard" / "app.py"), default_timeout=60).run()
    login(at, "cityadmin", PW)
    at.switch_page(str(root / "pages" / "warnings.py")).run()
    assert f"**当前预警 {len(want)} 条**" not in [m.value for m in at.markdown]  # the whole city's differ
    assert "尚未下发督办单。" not in [i.value for i in at.info]  # 西河县's order is the city's too
    at.selectbox(key="_county").set_value("510798").run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"**当前预警 {len(want)} 条**" in [m.value for m in at.markdown]
    assert "尚未下发督办单。" in [i.value for i in at.info]
    # 数据质量 of the chosen county: its own figures, the city's imports pointed to (not mixed in)
    at.switch_page(str(root / "pages" / "quality.py")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("在侧栏「县 (区)」选择全市查看" in c.value and c.value.endswith("只计东岭县。") for c in at.caption)

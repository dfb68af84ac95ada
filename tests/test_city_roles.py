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

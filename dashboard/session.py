"""Who is looking: the scope every query of this session runs with.

The scope comes from the logged-in identity only (dashboard/auth.py: a server-side session record, the role and
binding re-read from the user store on every run), never from the URL, query parameters or widget state. The one
choice a caller makes is within its own scope: a 市级 user of a city deployment (auth.Identity.city_level) picks a
county in the sidebar (COUNTY_KEY; "" = 全市, the counties as the units), and every query of the county pages then
runs with Scope(county_code=that county) — which auth.authorize allows because the caller's own scope is the whole
city. A county-scoped user has no such choice: its identity's scope already names its county.
"""
from __future__ import annotations

import dataclasses

import streamlit as st

from dashboard import auth
from warehouse.metrics import Scope

COUNTY_KEY = "_county"  # the sidebar's county selector (widget state); "" = 全市
PAGE_KEY = "_gw_page"  # the url path of the page this run shows (set by app.py)
GOTO_KEY = "_gw_goto"  # a page switch asked for by a callback (a drill), done once by app.py


def go(page: str) -> None:
    """From a callback: show the page `page` (url path) next; app.py switches once and forgets it."""
    st.session_state[GOTO_KEY] = page


def take_goto() -> str | None:
    return st.session_state.pop(GOTO_KEY, None)


def identity() -> auth.Identity:
    """The logged-in caller (a whole-app rerun, showing the login, when there is none)."""
    return auth.require()


def counties(ident: auth.Identity | None = None) -> dict[str, str]:
    """code → name of the counties the caller may see (city/counties on its own scope: one for a county user)."""
    from dashboard import data

    ident = ident or identity()
    if ident.scope.by_county:  # the city's wall: the counties' names come with its by_county rows
        return {}
    df = data.q("city/counties", dataclasses.replace(ident.scope, personal="none"))
    return dict(zip(df["county_code"], df["county_name"]))


def city_scope(ident: auth.Identity) -> Scope:
    """The 全市 view of a 市级 user: the city with its counties as the units."""
    return dataclasses.replace(ident.scope, by_county=True, label="全市")


def chosen_county(ident: auth.Identity) -> str | None:
    if not ident.city_level:
        return None
    code = st.session_state.get(COUNTY_KEY) or None
    return code if code in counties(ident) else None


def scope() -> Scope:
    ident = identity()
    if not ident.city_level:
        return ident.scope
    code = chosen_county(ident)
    if code is None:
        return city_scope(ident)
    return dataclasses.replace(ident.scope, county_code=code, label=counties(ident)[code])


def county_scope(ident: auth.Identity) -> Scope:
    """The county a page looks at: a 市级 user's county chosen in the sidebar (its figures exactly as that county's
    own users see them), else the caller's own scope (a county user's; a 市级 user's whole city, not by county)."""
    return scope() if chosen_county(ident) else ident.scope


def require_page(page: str) -> auth.Identity:
    """Stop a page the caller's role may not use (the navigation does not offer it either)."""
    return auth.require_page(page)

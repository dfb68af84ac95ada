"""Who is looking: the scope every query of this session runs with.

The scope comes from the logged-in identity only (dashboard/auth.py: a server-side session record, the role and
binding re-read from the user store on every run), never from the URL, query parameters or widget state.
"""
from __future__ import annotations

from dashboard import auth
from warehouse.metrics import Scope


def identity() -> auth.Identity:
    """The logged-in caller (a whole-app rerun, showing the login, when there is none)."""
    return auth.require()


def scope() -> Scope:
    return identity().scope


def require_page(page: str) -> auth.Identity:
    """Stop a page the caller's role may not use (the navigation does not offer it either)."""
    return auth.require_page(page)

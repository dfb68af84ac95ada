"""Test helper: users in the (temporary) user store of the active configuration, and logging in through the real
login form, in AppTest or in a real browser."""
from __future__ import annotations

from core.config import Settings
from dashboard.users import UserStore

PASSWORD = "correct-horse-9"

# The users of the test counties (tests/support/county.py sample_county: 文昌镇 510799001, 宏仁乡 510799002).
ROLE_USERS = {
    "admin": dict(role="县级管理员"),
    "leader": dict(role="县领导"),
    "township": dict(role="乡镇用户", township_code="510799002", township_name="宏仁乡"),
    "department": dict(role="部门用户", office_name="宏仁派出所"),
}


def store(s: Settings) -> UserStore:
    return UserStore.from_settings(s)


def add_users(s: Settings) -> UserStore:
    """The four role users (named after their key in ROLE_USERS), all with PASSWORD."""
    st = store(s)
    for name, kw in ROLE_USERS.items():
        if st.get_user(name) is None:
            st.add_user(name, password=PASSWORD, actor="test", **kw)
    return st


def login(at, username: str, password: str = PASSWORD):
    """Fill in and submit the login form of an AppTest that has been run (and shows the login screen)."""
    at.text_input(key="login_user").input(username)
    at.text_input(key="login_password").input(password)
    next(b for b in at.button if b.label == "登录").click()
    return at.run()


def browser_login(page, username: str, password: str = PASSWORD) -> None:
    """Log in through the form of a Playwright page that shows the login screen. A page that came up logged in (its
    browser context keeps an earlier login in the gw_session cookie) logs out first, in the same Streamlit session
    (or, when its page never lets the button be clicked, drops the cookie and reloads), then logs in as `username`."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_selector('input[aria-label="用户名"], button:has-text("退出登录")', timeout=60_000)
    if page.locator('input[aria-label="用户名"]').count() == 0:
        try:
            page.locator('button:has-text("退出登录")').click(timeout=15_000)
        except PlaywrightTimeout:
            page.context.clear_cookies(name="gw_session")
            page.reload(wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector('input[aria-label="用户名"]', timeout=60_000)
    page.fill('input[aria-label="用户名"]', username)
    page.fill('input[aria-label="密码"]', password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector('input[aria-label="用户名"]', state="detached", timeout=60_000)

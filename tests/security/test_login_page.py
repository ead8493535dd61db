"""The sign-in page in a real Chromium: a page asked for without a login leads there, and back once signed in."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.auth import SESSION_COOKIE
from tests.dashboard.conftest import LOGINS, serving, settings_for, unreachable_mqtt

pytestmark = pytest.mark.browser


def test_sign_in_page_leads_back_to_the_page_with_an_http_only_session(db_url: str, chromium: Any) -> None:
    with serving(settings_for(db_url, unreachable_mqtt())) as url:
        context = chromium.new_context()
        page = context.new_page()
        page.goto(url + "/marketing")
        page.wait_for_url("**/login?next=/marketing", timeout=10_000)
        page.fill("#login", "operator")
        page.fill("#password", "wrong")
        page.click("button[type=submit]")
        page.wait_for_selector("#login-error:has-text('wrong password')", timeout=10_000)
        page.fill("#password", LOGINS["operator"])
        page.click("button[type=submit]")
        page.wait_for_url(url + "/marketing", timeout=10_000)
        assert page.title() != "Silent Commerce · Sign in"
        session = next(c for c in context.cookies() if c["name"] == SESSION_COOKIE)
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert SESSION_COOKIE not in page.evaluate("document.cookie")  # page scripts cannot read it
        context.close()

"""Repeated wrong passwords on the login page lock the account there, and the
page says so; the right password then does not sign in either."""

import pytest

from apps.core.tests.factories import MembershipFactory
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_login_page_says_when_sign_in_is_locked(page, live_server, settings):
    settings.AUTH_LOCKOUT_FAILURES = 3
    settings.AUTH_LOCKOUT_COOLOFF_MINUTES = 15
    member = MembershipFactory(is_default=True)

    def sign_in(password: str) -> None:
        page.get_by_label("Username").fill(member.user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

    page.goto(f"{live_server.url}/accounts/login/")
    for n in range(2):
        sign_in(f"wrong-{n}")
        assert page.get_by_role("alert").inner_text().startswith("Your username and password did not match")
    sign_in("wrong-2")
    alert = page.get_by_test_id("lockout")
    assert alert.inner_text() == "Too many failed sign-in attempts. Sign-in is locked for 15 minutes: try again later."
    screenshot(page, "login-locked")

    sign_in("pass-word-123")
    assert page.get_by_test_id("lockout").is_visible()
    assert "/accounts/login/" in page.url

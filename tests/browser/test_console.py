"""A person's first minute: sign in through the login page in a real browser
(Playwright driving Debian's Chromium) and see the service health panel that
HTMX loads from the server."""

import pytest

from apps.core.tests.factories import MembershipFactory
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_and_see_the_health_panel(page, live_server, celery_worker_process):
    member = MembershipFactory(is_default=True, client__name="Acme Health")

    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url  # anonymous visitors are sent to sign in
    page.get_by_label("Username").fill(member.user.username)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("Your username and password did not match")
    screenshot(page, "login")

    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert "Acme Health" in page.locator("body").inner_text()

    # The panel starts in its loading state, then HTMX swaps in the checks.
    overall = page.get_by_test_id("health-overall")
    overall.wait_for(timeout=15000)
    assert overall.inner_text() == "All services are up."
    for check in ("database", "timescaledb", "redis", "worker"):
        item = page.locator(f'[data-check="{check}"]')
        assert "ok" in item.get_attribute("class").split(), item.inner_text()
    assert "apache licence" in page.locator('[data-check="timescaledb"]').inner_text()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")

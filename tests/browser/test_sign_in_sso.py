"""The login page's single sign-on: the e-mail step picks the provider of
the address's domain, the browser goes through the provider (a local
stand-in laid out like Azure AD, which signs the user in at once) and lands
on the console signed in; refusals and unknown domains are said on the page;
sign-out goes through the provider's end-session endpoint."""

import pytest

from apps.core.crypto import secret_encrypt
from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.identity.models import ExternalIdentity, IdentityProvider
from apps.identity.selectors.providers import CLIENT_SECRET_PURPOSE
from apps.identity.tests.idp_standin import StandInIdP
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
OID = "00000000-0000-0000-0000-00000000b0b0"


@pytest.fixture
def idp():
    stand_in = StandInIdP(client_secret="browser-test-secret").start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def contoso(idp):
    return IdentityProvider.objects.create(
        client=ClientFactory(code="contoso", name="Contoso Insurance"),
        name="Contoso",
        authority=idp.authority,
        tenant_id=idp.tenant_id,
        application_id=idp.application_id,
        client_secret_encrypted=secret_encrypt(idp.client_secret, purpose=CLIENT_SECRET_PURPOSE),
        allowed_domains=["contoso.com"],
    )


def test_the_email_step_signs_in_through_the_provider(page, live_server, idp, contoso):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url

    # A domain nobody set up: said on the page.
    page.get_by_label("Work e-mail").fill("bob@elsewhere.org")
    page.get_by_role("button", name="Continue with single sign-on").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("sso-error").inner_text().startswith("No single sign-on is set up for elsewhere.org")
    screenshot(page, "login-sso-unknown-domain")

    # A user whose memberships exist (role mapping comes with directory sync).
    idp.browser_user = {"oid": OID, "preferred_username": "ann@contoso.com", "name": "Ann Example"}
    page.get_by_label("Work e-mail").fill("ann@contoso.com")
    page.get_by_role("button", name="Continue with single sign-on").click()
    page.wait_for_url(f"{live_server.url}/")
    user = ExternalIdentity.objects.get(tenant_id=idp.tenant_id, object_id=OID).user
    assert page.url == f"{live_server.url}/"
    assert not ExternalIdentity.objects.exclude(user=user).exists()

    # Signed in: the console answers (no client yet for a first-time user, then with one).
    MembershipFactory(user=user, client=contoso.client, is_default=True)
    page.goto(f"{live_server.url}/")
    assert "Contoso Insurance" in page.locator("body").inner_text()
    screenshot(page, "console-after-sso")

    # The console's Sign out button: RP-initiated, through the provider's end-session URL, back to login.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    assert f"/{idp.tenant_id}/oauth2/v2.0/logout" in idp.requests
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url


def test_a_refused_token_is_said_on_the_login_page(page, live_server, idp, contoso):
    idp.browser_user = {"aud": "00000000-0000-0000-0000-000000000bad"}
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Work e-mail").fill("ann@contoso.com")
    page.get_by_role("button", name="Continue with single sign-on").click()
    page.wait_for_load_state()
    assert "wrong audience" in page.get_by_test_id("sso-error").inner_text()
    assert ExternalIdentity.objects.count() == 0
    screenshot(page, "login-sso-refused")

"""/accounts/login/: the e-mail step that picks the provider, the password
form for local accounts, the per-client password-login switch (console,
admin and API token alike), and the sign-in paths' rate limit."""

import pytest

from apps.core.rate_limits import rate_limits_reset
from apps.core.tests.factories import ClientFactory, MembershipFactory, UserFactory
from apps.identity.tests.flow import callback

pytestmark = pytest.mark.django_db
PASSWORD = "pass-word-123"


def test_the_page_offers_the_email_step_and_the_password_form(client):
    body = client.get("/accounts/login/").content.decode()
    assert 'name="email"' in body and 'name="step" value="email"' in body
    assert 'name="username"' in body and 'name="password"' in body


def test_the_email_step_goes_to_the_domains_provider(client, idp, provider):
    response = client.post("/accounts/login/", {"step": "email", "email": "Ann@Contoso.com", "next": "/kpis/"})
    # A page that moves on by itself: the CSP's form-action would block a redirect chain to the provider.
    assert response.status_code == 200
    url = "/auth/oidc/login/?email=Ann%40Contoso.com&amp;next=%2Fkpis%2F"
    assert f'content="0;url={url}"' in response.content.decode()
    start = client.get(url.replace("&amp;", "&"))
    assert start.status_code == 302 and start["Location"].startswith(f"{idp.base()}/oauth2/v2.0/authorize?")


def test_links_with_email_or_provider_start_single_sign_on(client, idp, provider):
    by_email = client.get("/accounts/login/", {"email": "ann@contoso.com"})
    assert by_email.status_code == 302 and by_email["Location"].startswith("/auth/oidc/login/?email=ann%40contoso.com")
    started = client.get("/auth/oidc/login/", {"provider": provider.pk})
    assert started["Location"].startswith(f"{idp.base()}/oauth2/v2.0/authorize?")
    provider.is_enabled = False
    provider.save()
    off = client.get("/auth/oidc/login/", {"provider": provider.pk})
    assert off.status_code == 400 and "switched off" in off.content.decode()


def test_an_email_without_a_provider_is_told_so(client, provider):
    response = client.post("/accounts/login/", {"step": "email", "email": "bob@elsewhere.org"})
    assert response.status_code == 400
    assert "No single sign-on is set up for elsewhere.org" in response.content.decode()


def test_a_foreign_next_is_dropped(client, idp, provider):
    from urllib.parse import parse_qs, urlsplit

    response = client.get("/auth/oidc/login/", {"email": "ann@contoso.com", "next": "https://evil.example/"})
    params = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
    done = callback(client, params, idp.authorize(params))
    assert done["Location"] == "/"


@pytest.fixture
def sso_only_member():
    client = ClientFactory(name="Contoso", password_login_enabled=False)
    return MembershipFactory(client=client, is_default=True).user


def test_password_login_is_refused_where_the_client_switched_it_off(client, sso_only_member):
    response = client.post("/accounts/login/", {"username": sso_only_member.username, "password": PASSWORD})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="password-login-refused"' in body
    assert "Password sign-in is switched off for Contoso" in body
    assert "_auth_user_id" not in client.session
    # A wrong password still says only that.
    wrong = client.post("/accounts/login/", {"username": sso_only_member.username, "password": "nope"})
    assert "did not match" in wrong.content.decode() and "switched off" not in wrong.content.decode()


def test_one_sso_only_client_is_enough_to_refuse(client, sso_only_member):
    MembershipFactory(user=sso_only_member)  # another client that allows passwords
    response = client.post("/accounts/login/", {"username": sso_only_member.username, "password": PASSWORD})
    assert "switched off for Contoso" in response.content.decode()


def test_superusers_keep_password_login_as_break_glass(client, sso_only_member):
    admin = UserFactory(is_superuser=True, is_staff=True)
    MembershipFactory(user=admin, client=sso_only_member.memberships.get().client, is_default=True)
    response = client.post("/accounts/login/", {"username": admin.username, "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in client.session


def test_clients_that_allow_passwords_are_unaffected(client):
    member = MembershipFactory(is_default=True).user
    assert client.post("/accounts/login/", {"username": member.username, "password": PASSWORD}).status_code == 302


def test_the_api_token_endpoint_is_refused_the_same_way(api_client, sso_only_member):
    response = api_client.post("/api/v1/auth/token/", {"username": sso_only_member.username, "password": PASSWORD})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "password_login_disabled" and "switched off for Contoso" in error["message"]
    wrong = api_client.post("/api/v1/auth/token/", {"username": sso_only_member.username, "password": "nope"})
    assert wrong.status_code == 401


def test_the_admin_login_is_refused_too(client, sso_only_member):
    sso_only_member.is_staff = True
    sso_only_member.save()
    client.post("/admin/login/", {"username": sso_only_member.username, "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def test_every_sign_in_path_is_rate_limited(client, settings, idp, provider):
    rate_limits_reset()
    settings.IDENTITY_SIGN_IN_RATE = "3/minute"
    paths = [
        lambda: client.post("/accounts/login/", {"step": "email", "email": "ann@contoso.com"}),
        lambda: client.get("/auth/oidc/login/", {"email": "ann@contoso.com"}),
        lambda: client.get("/auth/oidc/callback/", {"code": "x", "state": "y"}),
        lambda: client.post("/accounts/login/", {"username": "x", "password": "y"}),
    ]
    for hit in paths:
        rate_limits_reset()
        statuses = [hit().status_code for _ in range(4)]
        assert 429 not in statuses[:3] and statuses[3] == 429, statuses
    limited = paths[1]()
    assert int(limited["Retry-After"]) >= 1
    assert "Too many sign-in requests" in limited.content.decode()
    rate_limits_reset()

"""Azure AD sign-in through the real flow: our login view, the stand-in's
authorize step, our callback, the back-channel code exchange by
mozilla-django-oidc's backend (subclassed) over HTTP, our token checks."""

import uuid

import pytest
from django.contrib.auth import get_user_model

from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.identity.models import ExternalIdentity, IdentityProvider
from apps.identity.tests.flow import callback, sign_in, sign_in_start

pytestmark = pytest.mark.django_db
User = get_user_model()


def signed_in_user(client):
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_a_user_signs_in_and_lands_on_the_console(client, idp, provider):
    params = sign_in_start(client, idp, next="/kpis/")
    assert params["client_id"] == idp.application_id
    assert params["code_challenge_method"] == "S256" and params["nonce"] and params["state"]
    assert params["login_hint"] == "ann@contoso.com"
    assert params["redirect_uri"] == "http://testserver/auth/oidc/callback/"

    response = callback(client, params, idp.authorize(params, oid="00000000-0000-0000-0000-0000000000a1"))

    assert response.status_code == 302 and response["Location"] == "/kpis/"
    user = signed_in_user(client)
    identity = ExternalIdentity.objects.get(user=user)
    assert (identity.tenant_id, identity.object_id) == (idp.tenant_id, "00000000-0000-0000-0000-0000000000a1")
    assert identity.provider == provider and identity.preferred_username == "ann@contoso.com"
    assert user.first_name == "Ann" and user.last_name == "Example"
    assert not user.has_usable_password()
    assert "nonce" not in identity.last_claims and identity.last_claims["ver"] == "2.0"
    # The back channel: PKCE verifier and the client secret went to the token endpoint.
    form = idp.token_requests[-1]
    assert form["client_secret"] == idp.client_secret and len(form["code_verifier"]) >= 43


def test_the_existing_memberships_apply_to_a_provider_user(client, idp, provider):
    sign_in(client, idp, oid="00000000-0000-0000-0000-0000000000b2")
    user = signed_in_user(client)
    MembershipFactory(user=user, client=provider.client, is_default=True)
    client.logout()
    sign_in(client, idp, oid="00000000-0000-0000-0000-0000000000b2")
    assert client.get("/").status_code == 200
    assert "Contoso" in client.get("/").content.decode()


def test_sign_in_without_an_email_claim_works(client, idp, provider):
    response = sign_in(client, idp, email=None, preferred_username=None)
    assert response.status_code == 302
    assert signed_in_user(client).email == ""


def test_users_are_keyed_on_tenant_and_object_id_not_email(client, idp, provider):
    local = User.objects.create_user("ann", email="ann@contoso.com", password="pass-word-123")
    sign_in(client, idp, oid="00000000-0000-0000-0000-0000000000c3", email="ann@contoso.com")
    first = signed_in_user(client)
    assert first != local  # never matched by e-mail

    client.logout()
    sign_in(client, idp, oid="00000000-0000-0000-0000-0000000000c3")
    assert signed_in_user(client) == first  # same (tid, oid): same user

    # The same oid in another tenant (another client's provider) is another user.
    other = IdentityProvider.objects.create(
        client=ClientFactory(code="fabrikam"),
        name="Fabrikam",
        authority=idp.authority,
        tenant_id=str(uuid.uuid4()),
        application_id=idp.application_id,
        client_secret_encrypted=provider.client_secret_encrypted,
        allowed_domains=["fabrikam.com"],
    )
    idp.tenant_id, home = other.tenant_id, idp.tenant_id
    client.logout()
    sign_in(client, idp, login_email="ann@fabrikam.com", oid="00000000-0000-0000-0000-0000000000c3")
    second = signed_in_user(client)
    idp.tenant_id = home
    assert second is not None and second != first
    assert ExternalIdentity.objects.filter(object_id="00000000-0000-0000-0000-0000000000c3").count() == 2


def test_claim_changes_apply_at_the_next_sign_in(client, idp, provider):
    oid = "00000000-0000-0000-0000-0000000000d4"
    sign_in(client, idp, oid=oid, name="Ann Example", groups=["g-1"])
    client.logout()
    group = str(uuid.uuid4())
    sign_in(client, idp, oid=oid, name="Ann Married", preferred_username="ann.married@contoso.com", groups=[group])
    user = signed_in_user(client)
    identity = ExternalIdentity.objects.get(user=user)
    assert user.last_name == "Married"
    assert identity.preferred_username == "ann.married@contoso.com"
    assert identity.last_claims["groups"] == [group]


def test_signing_keys_rotate_an_unknown_kid_refetches_once(client, idp, provider):
    sign_in(client, idp)
    keys = f"/{idp.tenant_id}/discovery/v2.0/keys"
    assert idp.requests.count(keys) == 1
    client.logout()
    sign_in(client, idp)
    assert idp.requests.count(keys) == 1  # cached

    idp.rotate()  # a new kid the cached set lacks
    client.logout()
    response = sign_in(client, idp)
    assert response.status_code == 302 and signed_in_user(client) is not None
    assert idp.requests.count(keys) == 2  # fetched again, once


def test_rp_initiated_logout_ends_the_session_and_goes_to_the_provider(client, idp, provider):
    sign_in(client, idp)
    id_token = client.session["identity_id_token"]
    assert client.get("/auth/oidc/logout/").status_code == 405  # never on a GET
    response = client.post("/auth/oidc/logout/")
    assert response.status_code == 200  # a page that moves on to the provider (form-action 'self')
    location = response.context["sso_url"]
    assert f'content="0;url={location.replace("&", "&amp;")}"' in response.content.decode()
    assert location.startswith(f"{idp.base()}/oauth2/v2.0/logout?")
    assert f"id_token_hint={id_token}" in location
    assert "post_logout_redirect_uri=http%3A%2F%2Ftestserver%2Faccounts%2Flogin%2F" in location
    assert "_auth_user_id" not in client.session
    # Without a provider session: back to the login page.
    assert client.post("/auth/oidc/logout/")["Location"] == "/accounts/login/"


def test_logout_needs_the_csrf_token(idp, provider):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    sign_in(browser, idp)
    assert browser.post("/auth/oidc/logout/").status_code == 403
    assert "_auth_user_id" in browser.session


def test_sign_in_applies_the_providers_role_mappings_to_the_token_groups(idp, provider):
    from apps.core.models import Membership
    from apps.identity.services.role_mapping import role_mapping_create
    from apps.identity.services.sign_in import sign_in_complete

    group, oid = "3f2c1e4a-0000-4000-8000-000000000001", "3f2c1e4a-0000-4000-8000-0000000000a1"
    role_mapping_create(
        client_id=provider.client_id, provider_id=provider.pk, group_object_id=group, role_code="analyst"
    )
    result = sign_in_complete(provider=provider, claims=idp.claims(nonce="g", oid=oid, groups=[group]))
    assert Membership.objects.get(user_id=result.user_id, client_id=provider.client_id).role == "analyst"
    # Out of the group at the next sign-in: the mapped role goes.
    sign_in_complete(provider=provider, claims=idp.claims(nonce="h", oid=oid, groups=[]))
    assert not Membership.objects.filter(user_id=result.user_id, client_id=provider.client_id).exists()


def test_a_deactivated_user_is_refused_with_a_message(client, idp, provider):
    oid = "00000000-0000-0000-0000-0000000000f6"
    sign_in(client, idp, oid=oid)
    user = signed_in_user(client)
    user.is_active = False
    user.save()
    client.logout()
    response = sign_in(client, idp, oid=oid)
    assert response.status_code == 401
    assert "This account is deactivated" in response.content.decode()
    assert "_auth_user_id" not in client.session

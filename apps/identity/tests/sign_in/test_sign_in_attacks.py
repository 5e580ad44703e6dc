"""Every refused ID token ends on the login page (401) with a message that
says why, and creates no account: forged, expired, wrong audience, issuer
or tenant, `alg: none`, HS256, replayed or missing nonce, unknown key."""

import time
import uuid

import jwt
import pytest
from django.contrib.auth import get_user_model

from apps.identity.models import ExternalIdentity
from apps.identity.tests.flow import callback, sign_in, sign_in_start
from apps.identity.tests.idp_standin import new_key

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def no_account_created(db):
    before = (User.objects.count(), ExternalIdentity.objects.count())
    yield
    assert (User.objects.count(), ExternalIdentity.objects.count()) == before


def refused(response, message: str) -> None:
    assert response.status_code == 401, response.status_code
    body = response.content.decode()
    assert 'data-testid="sso-error"' in body
    assert message in body, body[body.find("sso-error") : body.find("sso-error") + 300]


def _forged(idp):
    _kid, attacker_key = new_key()
    return lambda claims: idp.mint(claims, key=attacker_key)  # the provider's kid, another key


def _unsigned(idp):
    return lambda claims: idp.mint(claims, algorithm="none")


def _hmac(idp):
    # The classic confusion: HS256 "signed" with a value the attacker knows.
    return lambda claims: jwt.encode(claims, idp.client_secret.ljust(32, "x"), algorithm="HS256",
                                     headers={"kid": idp.keys[0][0]})  # fmt: skip


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("forged", "signature does not verify"),
        ("alg_none", "algorithm &#x27;none&#x27; is not accepted"),
        ("hs256", "algorithm &#x27;HS256&#x27; is not accepted"),
        ("expired", "The token has expired"),
        ("not_yet_valid", "not valid yet"),
        ("wrong_audience", "issued for another application (wrong audience)"),
        ("wrong_issuer", "issuer is not this provider"),
        ("wrong_tenant", "another tenant (directory)"),
        ("unknown_kid", "signed with a key the identity provider does not publish"),
        ("nonce_mismatch", "nonce does not match"),
        ("no_nonce_claim", "nonce does not match"),
        ("no_oid", "lacks the &#x27;oid&#x27; claim"),
    ],
)
def test_refused_id_tokens(client, idp, provider, no_account_created, case, message):
    now = int(time.time())
    kwargs = {
        "forged": {"id_token_factory": _forged(idp)},
        "alg_none": {"id_token_factory": _unsigned(idp)},
        "hs256": {"id_token_factory": _hmac(idp)},
        "expired": {"exp": now - 600, "iat": now - 4000, "nbf": now - 4000},  # beyond the 120 s leeway
        "not_yet_valid": {"nbf": now + 600, "iat": now + 600},
        "wrong_audience": {"aud": str(uuid.uuid4())},
        "wrong_issuer": {"iss": "https://login.microsoftonline.com/" + idp.tenant_id + "/v2.0"},
        # Another tenant of the same provider (same keys, as on Azure): its own, valid issuer.
        "wrong_tenant": {"tid": (other := str(uuid.uuid4())), "iss": idp.issuer(other)},
        "unknown_kid": {"id_token_factory": lambda claims: idp.mint(claims, kid="nobody", key=new_key()[1])},
        "nonce_mismatch": {"nonce": "a-nonce-of-another-sign-in"},
        "no_nonce_claim": {"nonce": None},
        "no_oid": {"oid": None},
    }[case]
    refused(sign_in(client, idp, **kwargs), message)
    assert "_auth_user_id" not in client.session


def test_an_unknown_kid_refetches_the_keys_once_then_refuses(client, idp, provider, no_account_created):
    keys = f"/{idp.tenant_id}/discovery/v2.0/keys"
    response = sign_in(client, idp, id_token_factory=lambda c: idp.mint(c, kid="rotated-away", key=new_key()[1]))
    refused(response, "signed with a key the identity provider does not publish")
    assert idp.requests.count(keys) == 2  # the cached fetch, one refetch, no more


def test_leeway_accepts_a_token_just_past_its_expiry(client, idp, provider):
    now = int(time.time())
    response = sign_in(client, idp, exp=now - 30, iat=now - 3600, nbf=now - 3600)
    assert response.status_code == 302


def test_a_replayed_token_with_an_old_nonce_is_refused(client, idp, provider):
    captured = {}

    def keep(claims):
        captured["token"] = idp.mint(claims)
        return captured["token"]

    assert sign_in(client, idp, id_token_factory=keep).status_code == 302
    client.logout()
    before = User.objects.count()
    # The attacker has the stand-in answer a new sign-in with the captured token.
    response = sign_in(client, idp, id_token_factory=lambda claims: captured["token"])
    refused(response, "nonce does not match")
    assert User.objects.count() == before


def test_a_nonce_is_accepted_once_even_with_its_state_restored(client, idp, provider):
    params = sign_in_start(client, idp)
    session = client.session
    stored = dict(session["oidc_states"][params["state"]])
    assert callback(client, params, idp.authorize(params)).status_code == 302
    client.logout()
    # The state and nonce put back (a session restored, a race between tabs):
    session = client.session
    session["oidc_states"] = {params["state"]: stored}
    session.save()
    before = User.objects.count()
    refused(callback(client, params, idp.authorize(params)), "nonce was used already")
    assert User.objects.count() == before


def test_a_missing_session_nonce_is_refused(client, idp, provider, no_account_created):
    params = sign_in_start(client, idp)
    session = client.session
    session["oidc_states"][params["state"]]["nonce"] = None
    session.save()
    refused(callback(client, params, idp.authorize(params)), "no nonce in the session")


def test_a_callback_without_a_started_sign_in_is_refused(client, idp, provider):
    params = sign_in_start(client, idp)
    code = idp.authorize(params)
    refused(client.get("/auth/oidc/callback/", {"code": code, "state": "forged-state"}), "not started here")
    assert callback(client, params, code).status_code == 302  # the real state still works once
    client.logout()
    refused(callback(client, params, code), "not started here")  # and only once


def test_a_provider_error_is_shown(client, idp, provider, no_account_created):
    params = sign_in_start(client, idp)
    response = client.get(
        "/auth/oidc/callback/",
        {"state": params["state"], "error": "access_denied", "error_description": "AADSTS65004: User declined"},
    )
    refused(response, "AADSTS65004: User declined")


def test_an_unknown_domain_stays_on_the_login_page(client, idp, provider):
    response = client.get("/auth/oidc/login/", {"email": "eve@unknown.example"})
    assert response.status_code == 400
    assert "No single sign-on is set up for unknown.example" in response.content.decode()


def test_an_unreachable_provider_is_a_clear_503(client, idp, provider):
    idp.stop()
    response = client.get("/auth/oidc/login/", {"email": "ann@contoso.com"})
    assert response.status_code == 503
    assert "discovery document could not be read" in response.content.decode()
    idp.start()  # the fixture stops it again

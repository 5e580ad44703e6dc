"""The API accepts access tokens a client's provider issued for it (v1 and
v2 issuers, `aud` and `scp`/`roles` checked), beside our own JWTs."""

import time
import uuid

import jwt
import pytest

from apps.core.tests.factories import MembershipFactory
from apps.identity.models import ExternalIdentity
from apps.identity.tests.idp_standin import new_key

pytestmark = pytest.mark.django_db
OID = "00000000-0000-0000-0000-00000000e5e5"


@pytest.fixture
def known_user(provider):
    membership = MembershipFactory(client=provider.client, is_default=True)
    ExternalIdentity.objects.create(
        user=membership.user, provider=provider, tenant_id=provider.tenant_id, object_id=OID
    )
    return membership.user


def me(api_client, token):
    return api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_v2_access_token_signs_the_api_in(api_client, idp, known_user):
    response = me(api_client, idp.access_token(oid=OID))
    assert response.status_code == 200, response.content
    assert response.json()["username"] == known_user.username


def test_a_v1_token_with_the_api_uri_audience(api_client, idp, known_user, settings):
    settings.IDENTITY_AZURE_V1_ISSUER_BASE = f"{idp.authority}/sts"
    token = idp.access_token(
        oid=OID, ver="1.0", iss=f"{idp.authority}/sts/{idp.tenant_id}/", aud=f"api://{idp.application_id}"
    )
    assert me(api_client, token).status_code == 200


def test_an_app_role_instead_of_the_scope(api_client, idp, known_user):
    assert me(api_client, idp.access_token(oid=OID, scp=None, roles=["access_as_application"])).status_code == 200
    refused = me(api_client, idp.access_token(oid=OID, scp=None, roles=["Something.Else"]))
    assert refused.status_code == 401 and "access_as_user" in refused.json()["error"]["message"]


def test_our_own_jwts_still_work(api_client, known_user):
    token = api_client.post(
        "/api/v1/auth/token/", {"username": known_user.username, "password": "pass-word-123"}
    ).json()["access"]
    assert me(api_client, token).status_code == 200


def _none(idp):
    return idp.mint(idp.claims(oid=OID, scp="access_as_user"), algorithm="none")


def _hs256(idp):
    return jwt.encode(idp.claims(oid=OID, scp="access_as_user"), "x" * 40, algorithm="HS256")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("forged", "signature does not verify"),
        ("alg_none", "algorithm 'none' is not accepted"),
        ("hs256", "algorithm 'HS256' is not accepted"),
        ("expired", "expired"),
        ("wrong_audience", "wrong audience"),
        ("wrong_issuer", "issuer is not this provider"),
        ("v1_issuer_of_another_base", "issuer is not this provider"),
        ("no_scope", "needs the scope 'access_as_user'"),
        ("other_scope", "needs the scope 'access_as_user'"),
        ("unknown_kid", "does not publish"),
        ("unknown_user", "has not signed in to this platform yet"),
        ("unknown_tenant", "registered for this token's tenant"),
    ],
)
def test_refused_access_tokens_are_401_with_a_message(api_client, idp, known_user, case, message):
    now = int(time.time())
    token = {
        "forged": lambda: idp.mint(idp.claims(oid=OID, scp="access_as_user"), key=new_key()[1]),
        "alg_none": lambda: _none(idp),
        "hs256": lambda: _hs256(idp),
        "expired": lambda: idp.access_token(oid=OID, exp=now - 600, iat=now - 4000, nbf=now - 4000),
        "wrong_audience": lambda: idp.access_token(oid=OID, aud=str(uuid.uuid4())),
        "wrong_issuer": lambda: idp.access_token(oid=OID, iss="https://evil.example/" + idp.tenant_id + "/v2.0"),
        "v1_issuer_of_another_base": lambda: idp.access_token(oid=OID, iss=f"https://evil.example/{idp.tenant_id}/"),
        "no_scope": lambda: idp.access_token(oid=OID, scp=None),
        "other_scope": lambda: idp.access_token(oid=OID, scp="User.Read openid"),
        "unknown_kid": lambda: idp.mint(idp.claims(oid=OID, scp="access_as_user"), kid="nope", key=new_key()[1]),
        "unknown_user": lambda: idp.access_token(oid=str(uuid.uuid4())),
        "unknown_tenant": lambda: idp.access_token(oid=OID, tid=str(uuid.uuid4())),
    }[case]()
    response = me(api_client, token)
    assert response.status_code == 401, response.content
    assert message in response.json()["error"]["message"], response.json()
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_deactivated_user_is_refused(api_client, idp, known_user):
    known_user.is_active = False
    known_user.save()
    assert me(api_client, idp.access_token(oid=OID)).status_code == 401

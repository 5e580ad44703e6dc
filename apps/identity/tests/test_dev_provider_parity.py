"""The development provider's tokens hold Azure AD v2's claims (issue #17,
item 3): a real ID token obtained through the full code flow with PKCE is held
against the claims of Microsoft's published sample v2.0 ID token
(fixtures/azure_ad_v2_id_token_claims.json, see fixtures/README.md), and
verified with PyJWT against the provider's JWKS."""

import json
import re
from pathlib import Path

import jwt
import pytest

from apps.identity.dev_provider.claims import GRAPH_APPLICATION_ID
from apps.identity.dev_provider.directory import ADELE, ADELE_FABRIKAM, CONTOSO, LEE, MEGAN
from apps.identity.tests.dev_provider_flow import SECRET, application_make, code_flow

pytestmark = pytest.mark.django_db

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "azure_ad_v2_id_token_claims.json").read_text())
# Claims Azure AD adds for its own use, which no relying party reads: left out on purpose.
AZURE_INTERNAL = {"aio", "rh", "uti", "sid", "idp"}
# Claims django-oauth-toolkit / oauthlib add that the sample lacks (Azure sends at_hash too, in other flows).
PROVIDER_EXTRAS = {"auth_time", "jti", "at_hash"}
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
AZURE_ISSUER = re.compile(r"^https://login\.microsoftonline\.com/(?P<tid>[0-9a-f-]{36})/v2\.0$")
DEV_ISSUER = re.compile(r"^http://testserver/idp/(?P<tid>[0-9a-f-]{36})/v2\.0$")

APP = "6e8cf6c4-30b4-4b35-93f8-8f16d20f67c6"
OTHER_APP = "e6743a9b-0000-4000-8000-000000000002"


def _jwks(client, tenant: str) -> dict:
    response = client.get(f"/idp/{tenant}/discovery/v2.0/keys")
    assert response.status_code == 200
    return response.json()


def _verified(client, token: str, *, audience: str, issuer: str) -> dict:
    """The token's claims once its signature checks out against the JWKS under the `kid` of its header."""
    header = jwt.get_unverified_header(token)
    keys = jwt.PyJWKSet.from_dict(_jwks(client, CONTOSO.tenant_id))
    assert header["kid"] in {key.key_id for key in keys.keys}, "the token's kid is not in the JWKS"
    return jwt.decode(token, keys[header["kid"]].key, algorithms=["RS256"], audience=audience, issuer=issuer)


def _issuer(person) -> str:
    return f"http://testserver/idp/{person.tenant_id}/v2.0"


def _id_claims(client, person, client_id: str) -> dict:
    """A verified ID token's claims after `person` signs in to `client_id` through the code flow."""
    token = code_flow(client, person, client_id=client_id).tokens["id_token"]
    return _verified(client, token, audience=client_id, issuer=_issuer(person))


def test_id_token_has_azure_ad_v2_claim_names_types_and_formats(client):
    application_make(APP)
    result = code_flow(client, ADELE, client_id=APP)
    token = result.tokens["id_token"]

    header = jwt.get_unverified_header(token)
    assert header["typ"] == RECORDED["header"]["typ"] and header["alg"] == RECORDED["header"]["alg"] == "RS256"
    claims = _verified(client, token, audience=APP, issuer=_issuer(ADELE))

    recorded = {**RECORDED["claims"], **RECORDED["optional_claims"]}
    expected = set(recorded) - AZURE_INTERNAL
    assert set(claims) - PROVIDER_EXTRAS == expected
    for name in expected:
        assert type(claims[name]) is type(recorded[name]), name
    assert all(isinstance(role, str) for role in claims["roles"])

    # GUIDs where Azure AD has GUIDs: the recorded sample and ours alike.
    for name in ("aud", "tid", "oid"):
        assert GUID.match(RECORDED["claims"][name]) and GUID.match(claims[name]), name
    assert claims["groups"] and all(GUID.match(group) for group in claims["groups"])
    assert claims["oid"] == ADELE.object_id and claims["tid"] == ADELE.tenant_id
    assert set(claims["groups"]) == set(ADELE.group_ids)

    # Issuer `.../{tid}/v2.0` with the token's own tid, as the recorded one.
    azure = AZURE_ISSUER.match(RECORDED["claims"]["iss"])
    assert azure and azure["tid"] == RECORDED["claims"]["tid"]
    ours = DEV_ISSUER.match(claims["iss"])
    assert ours and ours["tid"] == claims["tid"]

    assert claims["ver"] == RECORDED["claims"]["ver"] == "2.0"
    assert claims["aud"] == APP
    assert claims["nonce"] == result.nonce
    assert claims["iat"] <= claims["nbf"] + 1 and claims["nbf"] < claims["exp"]
    # Pairwise sub: 43 url-safe characters, as Azure's.
    assert len(claims["sub"]) == len(RECORDED["claims"]["sub"]) == 43
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", claims["sub"])
    assert claims["name"] == ADELE.display_name and claims["preferred_username"] == ADELE.user_principal_name
    assert claims["email"] == ADELE.mail


def test_a_forged_token_does_not_verify_against_the_jwks(client):
    application_make(APP)
    token = code_flow(client, ADELE, client_id=APP).tokens["id_token"]
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload[:-4]}AAAA.{signature}"
    with pytest.raises(jwt.InvalidTokenError):
        _verified(client, forged, audience=APP, issuer=_issuer(ADELE))


def test_sub_is_pairwise_per_application_while_oid_stays(client):
    application_make(APP)
    application_make(OTHER_APP)
    first = _id_claims(client, ADELE, APP)
    second = _id_claims(client, ADELE, OTHER_APP)
    again = _id_claims(client, ADELE, APP)
    assert first["oid"] == second["oid"] == ADELE.object_id
    assert first["sub"] != second["sub"]
    assert first["sub"] == again["sub"]  # stable for one application


def test_the_same_oid_in_two_tenants_is_two_identities(client):
    application_make(APP)
    contoso = _id_claims(client, ADELE, APP)
    fabrikam = _id_claims(client, ADELE_FABRIKAM, APP)
    assert contoso["oid"] == fabrikam["oid"]
    assert contoso["tid"] != fabrikam["tid"] and contoso["iss"] != fabrikam["iss"]
    assert contoso["sub"] != fabrikam["sub"]


def test_a_user_without_mail_gets_no_email_claim(client):
    application_make(APP)
    claims = _id_claims(client, MEGAN, APP)
    assert "email" not in claims
    assert "roles" not in claims  # no app role assigned: Azure AD omits the claim
    assert claims["preferred_username"] == MEGAN.user_principal_name
    assert claims["groups"] == list(MEGAN.group_ids)


def test_group_overage_replaces_groups_with_a_pointer_to_graph(client, settings):
    settings.AE_DEV_IDP_GROUPS_OVERAGE_LIMIT = 5  # Lee Gu is in 202 groups; Adele in 2
    application_make(APP)
    claims = _id_claims(client, LEE, APP)
    assert "groups" not in claims
    recorded = RECORDED["overage_claims"]
    assert claims["_claim_names"] == recorded["_claim_names"] == {"groups": "src1"}
    assert set(claims["_claim_sources"]) == set(recorded["_claim_sources"]) == {"src1"}
    assert claims["_claim_sources"]["src1"]["endpoint"].endswith(
        f"/{LEE.tenant_id}/users/{LEE.object_id}/getMemberObjects"
    )


def test_access_token_for_the_api_has_azure_v2_claims(client):
    application_make(APP)
    tokens = code_flow(client, ADELE, client_id=APP, scope=f"openid profile email api://{APP}/access_as_user").tokens
    claims = _verified(client, tokens["access_token"], audience=APP, issuer=_issuer(ADELE))
    assert claims["aud"] == APP and claims["azp"] == APP and claims["ver"] == "2.0"
    assert claims["scp"] == "access_as_user"
    assert claims["roles"] == list(ADELE.roles)
    assert claims["oid"] == ADELE.object_id and claims["tid"] == ADELE.tenant_id
    assert set(claims["groups"]) == set(ADELE.group_ids)
    for name in ("iat", "nbf", "exp"):
        assert isinstance(claims[name], int)


def test_access_token_v1_shape_per_application(client):
    application_make(APP, version=1)
    tokens = code_flow(client, ADELE, client_id=APP, scope=f"openid profile api://{APP}/access_as_user").tokens
    v1_issuer = f"http://testserver/idp/{ADELE.tenant_id}/"
    claims = _verified(client, tokens["access_token"], audience=f"api://{APP}", issuer=v1_issuer)
    assert claims["ver"] == "1.0" and claims["appid"] == APP and claims["scp"] == "access_as_user"
    assert claims["upn"] == ADELE.user_principal_name and "azp" not in claims


def test_access_token_without_an_api_scope_is_for_graph_not_for_our_api(client):
    application_make(APP)
    tokens = code_flow(client, ADELE, client_id=APP).tokens
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["aud"] == GRAPH_APPLICATION_ID
    assert "access_as_user" not in claims["scp"].split()


def test_userinfo_answers_like_azure_without_oid_or_groups(client):
    application_make(APP)
    tokens = code_flow(client, ADELE, client_id=APP).tokens
    id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    response = client.get("/idp/oidc/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert response.status_code == 200
    info = response.json()
    assert info["sub"] == id_claims["sub"] and info["email"] == ADELE.mail and info["name"] == ADELE.display_name
    assert not {"oid", "tid", "roles", "groups"} & set(info)
    assert client.get("/idp/oidc/userinfo", HTTP_AUTHORIZATION="Bearer forged").status_code == 401


def test_discovery_document_points_at_the_endpoints_and_issuer(client):
    tenant = CONTOSO.tenant_id
    document = client.get(f"/idp/{tenant}/v2.0/.well-known/openid-configuration").json()
    assert document["issuer"] == f"http://testserver/idp/{tenant}/v2.0"
    assert document["authorization_endpoint"] == f"http://testserver/idp/{tenant}/oauth2/v2.0/authorize"
    assert document["token_endpoint"] == f"http://testserver/idp/{tenant}/oauth2/v2.0/token"
    assert document["jwks_uri"] == f"http://testserver/idp/{tenant}/discovery/v2.0/keys"
    assert document["end_session_endpoint"] == f"http://testserver/idp/{tenant}/oauth2/v2.0/logout"
    assert document["userinfo_endpoint"] == "http://testserver/idp/oidc/userinfo"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    # Multi-tenant: Azure publishes the issuer with a `{tenantid}` placeholder.
    common = client.get("/idp/organizations/v2.0/.well-known/openid-configuration").json()
    assert common["issuer"] == "http://testserver/idp/{tenantid}/v2.0"
    nowhere = "/idp/00000000-0000-0000-0000-000000000000"
    for unknown in (
        client.get(f"{nowhere}/v2.0/.well-known/openid-configuration"),
        client.get(f"{nowhere}/discovery/v2.0/keys"),
        client.post(f"{nowhere}/oauth2/v2.0/token", {"grant_type": "authorization_code", "code": "x"}),
        client.get(f"{nowhere}/oauth2/v2.0/authorize"),
        client.get(f"{nowhere}/login"),
    ):
        assert unknown.status_code == 400 and "AADSTS90002" in unknown.json()["error_description"]


def test_a_refresh_token_brings_new_tokens_with_the_same_claims_once(client):
    application_make(APP)
    scope = f"openid profile offline_access api://{APP}/access_as_user"
    tokens = code_flow(client, ADELE, client_id=APP, scope=scope).tokens
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": APP,
               "client_secret": SECRET}  # fmt: skip
    refreshed = client.post(f"/idp/{ADELE.tenant_id}/oauth2/v2.0/token", refresh)
    assert refreshed.status_code == 200, refreshed.content
    claims = _verified(client, refreshed.json()["access_token"], audience=APP, issuer=_issuer(ADELE))
    assert claims["oid"] == ADELE.object_id and claims["scp"] == "access_as_user"
    assert (
        _verified(client, refreshed.json()["id_token"], audience=APP, issuer=_issuer(ADELE))["oid"] == ADELE.object_id
    )
    # Replayed, the used refresh token is refused (and revokes its family).
    assert client.post(f"/idp/{ADELE.tenant_id}/oauth2/v2.0/token", refresh).status_code == 400

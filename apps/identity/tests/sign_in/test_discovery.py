"""Discovery documents and key sets: cached, refetched for an unknown kid at
most once per interval, Azure's `{tenantid}` issuer template."""

import pytest

from apps.identity.oidc.discovery import ProviderMetadata, provider_metadata
from apps.identity.tests.idp_standin import new_key

pytestmark = pytest.mark.django_db


def test_the_multi_tenant_issuer_template_takes_the_tokens_tid():
    metadata = ProviderMetadata(
        issuer="https://login.microsoftonline.com/{tenantid}/v2.0",
        authorization_endpoint="a",
        token_endpoint="t",
        jwks_uri="j",
        end_session_endpoint="e",
    )
    tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert metadata.issuer_for(tid) == f"https://login.microsoftonline.com/{tid}/v2.0"


def test_the_discovery_document_is_fetched_once_and_cached(idp, provider):
    first = provider_metadata(provider)
    second = provider_metadata(provider)
    assert first == second and first.token_endpoint == f"{idp.base()}/oauth2/v2.0/token"
    assert idp.requests.count(f"/{idp.tenant_id}/v2.0/.well-known/openid-configuration") == 1


def test_unknown_kids_refetch_the_keys_at_most_once_per_interval(api_client, idp, provider, settings):
    settings.IDENTITY_JWKS_REFETCH_MIN_SECONDS = 60
    keys = f"/{idp.tenant_id}/discovery/v2.0/keys"
    for n in range(5):  # tokens with made-up kids cannot make us hammer the provider
        token = idp.mint(idp.claims(scp="access_as_user"), kid=f"made-up-{n}", key=new_key()[1])
        response = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 401
    assert idp.requests.count(keys) == 2  # the first fetch, one refetch

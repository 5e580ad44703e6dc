"""/api/v1/identity-providers/: a client's identity providers, secrets
write-only, validation that names the problem, other clients' providers 404."""

import pytest

from apps.core.crypto import secret_decrypt
from apps.core.models import Membership
from apps.core.tests.factories import MembershipFactory
from apps.identity.models import IdentityProvider
from apps.identity.selectors.providers import CLIENT_SECRET_PURPOSE

pytestmark = pytest.mark.django_db
URL = "/api/v1/identity-providers/"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP = "6731de76-14a6-49ae-97bc-6eba6914391e"


@pytest.fixture
def admin_client(api_client):
    membership = MembershipFactory(role=Membership.Role.ADMIN, is_default=True)
    api_client.force_authenticate(membership.user)
    api_client.membership = membership
    return api_client


def body(**overrides):
    return {
        "name": "Contoso",
        "tenant_id": TENANT,
        "application_id": APP,
        "client_secret": "very~secret.value",
        "allowed_domains": ["Contoso.com", "contoso.co.uk"],
        **overrides,
    }


def test_create_read_update_delete_and_the_secret_is_never_returned(admin_client):
    created = admin_client.post(URL, body(), format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["has_client_secret"] is True and "client_secret" not in data
    assert "very~secret.value" not in created.content.decode()
    assert data["allowed_domains"] == ["contoso.com", "contoso.co.uk"]
    assert data["authority"] == "https://login.microsoftonline.com" and data["kind"] == "azure_ad"
    stored = IdentityProvider.objects.get(pk=data["id"])
    assert stored.client_id == admin_client.membership.client_id
    assert "very~secret" not in stored.client_secret_encrypted
    assert secret_decrypt(stored.client_secret_encrypted, purpose=CLIENT_SECRET_PURPOSE) == "very~secret.value"

    listed = admin_client.get(URL).json()
    assert [p["name"] for p in listed["results"]] == ["Contoso"]
    assert "very~secret" not in admin_client.get(f"{URL}{data['id']}/").content.decode()

    patched = admin_client.patch(f"{URL}{data['id']}/", {"is_enabled": False, "name": "Contoso AD"}, format="json")
    assert patched.status_code == 200 and patched.json()["is_enabled"] is False
    assert patched.json()["has_client_secret"] is True  # left as it was
    cleared = admin_client.patch(f"{URL}{data['id']}/", {"client_secret": ""}, format="json")
    assert cleared.json()["has_client_secret"] is False

    assert admin_client.delete(f"{URL}{data['id']}/").status_code == 204
    assert not IdentityProvider.objects.filter(pk=data["id"]).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"tenant_id": "contoso"}, "tenant_id", "tenant_id must be a GUID"),
        ({"application_id": "1234"}, "application_id", "application_id must be a GUID"),
        ({"authority": "http://login.example.com"}, "authority", "must be an https URL"),
        ({"authority": "ftp://x"}, "authority", "must be an https URL"),
        ({"allowed_domains": ["not a domain"]}, "allowed_domains", "'not a domain' is not a domain name"),
        ({"allowed_domains": ["-bad.com"]}, "allowed_domains", "is not a domain name"),
        ({"kind": "saml"}, "kind", "saml"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(admin_client, overrides, field, message):
    response = admin_client.post(URL, body(**overrides), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in str(error), error
    assert field in str(error["details"])


def test_http_authority_is_allowed_for_the_development_provider(admin_client):
    response = admin_client.post(
        URL, body(kind="development", authority="http://127.0.0.1:8000/dev-idp", tenant_id="dev"), format="json"
    )
    assert response.status_code == 201, response.json()


def test_a_domain_claimed_by_another_clients_provider_is_refused_by_name(admin_client, api_client):
    assert admin_client.post(URL, body(), format="json").status_code == 201
    other = MembershipFactory(role=Membership.Role.ADMIN, is_default=True)
    api_client.force_authenticate(other.user)
    second = body(tenant_id="11111111-2222-3333-4444-555555555555", allowed_domains=["fabrikam.com", "contoso.co.uk"])
    response = api_client.post(URL, second, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "domain_taken" and "contoso.co.uk" in error["message"]
    # A disabled provider claims nothing.
    disabled = api_client.post(URL, {**second, "is_enabled": False}, format="json")
    assert disabled.status_code == 201
    enable = api_client.patch(f"{URL}{disabled.json()['id']}/", {"is_enabled": True}, format="json")
    assert enable.status_code == 400 and "contoso.co.uk" in enable.json()["error"]["message"]


def test_another_clients_provider_is_a_404(admin_client, api_client):
    created = admin_client.post(URL, body(), format="json").json()
    other = MembershipFactory(role=Membership.Role.ADMIN, is_default=True)
    api_client.force_authenticate(other.user)
    for method in ("get", "patch", "delete"):
        response = getattr(api_client, method)(f"{URL}{created['id']}/", {}, format="json")
        assert response.status_code == 404, method
    assert api_client.get(URL).json()["results"] == []
    assert IdentityProvider.objects.filter(pk=created["id"], name="Contoso").exists()


def test_only_administrators_manage_providers(api_client):
    analyst = MembershipFactory(role=Membership.Role.ANALYST, is_default=True)
    api_client.force_authenticate(analyst.user)
    assert api_client.get(URL).status_code == 403
    assert api_client.post(URL, body(), format="json").status_code == 403
    api_client.force_authenticate(None)
    assert api_client.get(URL).status_code == 401


def test_duplicate_tenant_in_one_client_is_a_409(admin_client):
    assert admin_client.post(URL, body(), format="json").status_code == 201
    again = admin_client.post(URL, body(name="Again", allowed_domains=[]), format="json")
    assert again.status_code == 409 and TENANT in again.json()["error"]["message"]


def test_the_schema_names_the_endpoints(admin_client):
    schema = admin_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content.decode()
    assert "identity_providers_create" in schema and "has_client_secret" in schema

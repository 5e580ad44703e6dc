"""Identity providers in the Django admin: the secret is a write-only field,
validation is the API's."""

import pytest

from apps.core.crypto import secret_decrypt
from apps.core.tests.factories import ClientFactory, UserFactory
from apps.identity.models import IdentityProvider
from apps.identity.selectors.providers import CLIENT_SECRET_PURPOSE

pytestmark = pytest.mark.django_db
ADD = "/admin/identity/identityprovider/add/"


@pytest.fixture
def admin_browser(client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    return client


def form(client_id, **overrides):
    return {
        "client": client_id,
        "name": "Contoso",
        "kind": "azure_ad",
        "authority": "https://login.microsoftonline.com",
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "application_id": "6731de76-14a6-49ae-97bc-6eba6914391e",
        "allowed_domains": "contoso.com",
        "graph_base_url": "https://graph.microsoft.com",
        "is_enabled": "on",
        "client_secret": "admin-typed-secret",
        **overrides,
    }


def test_the_secret_is_written_encrypted_and_never_shown(admin_browser):
    client = ClientFactory()
    response = admin_browser.post(ADD, form(client.pk))
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = IdentityProvider.objects.get(name="Contoso")
    assert secret_decrypt(provider.client_secret_encrypted, purpose=CLIENT_SECRET_PURPOSE) == "admin-typed-secret"
    change = admin_browser.get(f"/admin/identity/identityprovider/{provider.pk}/change/").content.decode()
    assert "admin-typed-secret" not in change and provider.client_secret_encrypted not in change

    # Saving without typing a secret keeps the stored one.
    url = f"/admin/identity/identityprovider/{provider.pk}/change/"
    kept = admin_browser.post(url, form(client.pk, client_secret="", name="Contoso AD"))
    assert kept.status_code == 302
    provider.refresh_from_db()
    assert provider.name == "Contoso AD"
    assert secret_decrypt(provider.client_secret_encrypted, purpose=CLIENT_SECRET_PURPOSE) == "admin-typed-secret"


def test_validation_errors_are_shown_on_the_form(admin_browser):
    client = ClientFactory()
    response = admin_browser.post(ADD, form(client.pk, tenant_id="not-a-guid"))
    assert response.status_code == 200
    assert "tenant_id must be a GUID" in response.content.decode()
    assert not IdentityProvider.objects.exists()

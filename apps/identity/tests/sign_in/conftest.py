"""Fixtures of the sign-in tests: the Azure-shaped identity provider stand-in
and Contoso's provider pointing at it (overriding the directory tests'
`provider` of ../conftest.py)."""

import pytest

from apps.core.crypto import secret_encrypt
from apps.core.tests.factories import ClientFactory
from apps.identity.models import IdentityProvider
from apps.identity.selectors.providers import CLIENT_SECRET_PURPOSE
from apps.identity.tests.idp_standin import StandInIdP


@pytest.fixture
def idp():
    stand_in = StandInIdP(client_secret="s3cret-value-from-azure").start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def provider(db, idp):
    """Contoso's Azure AD tenant, as the stand-in serves it."""
    return IdentityProvider.objects.create(
        client=ClientFactory(code="contoso", name="Contoso"),
        name="Contoso Azure AD",
        kind=IdentityProvider.Kind.AZURE_AD,
        authority=idp.authority,
        tenant_id=idp.tenant_id,
        application_id=idp.application_id,
        client_secret_encrypted=secret_encrypt(idp.client_secret, purpose=CLIENT_SECRET_PURPOSE),
        allowed_domains=["contoso.com"],
    )

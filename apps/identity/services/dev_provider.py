"""The development provider's writes (docs/identity.md, "The development
provider"): its OAuth applications, and the seeding `manage.py idp_seed` runs
so the demo client signs in through it."""

import secrets
from urllib.parse import urlsplit

from django.db import transaction
from oauth2_provider.models import get_application_model

from apps.core.crypto import secret_encrypt
from apps.core.selectors import client_id_for_code
from apps.identity.dev_provider.directory import (
    ANALYTICS_ADMINS,
    ANALYTICS_ANALYSTS,
    ANALYTICS_VIEWERS,
    CONTOSO,
    DEMO_APPLICATION_ID,
    FABRIKAM,
    FABRIKAM_ANALYSTS,
    FABRIKAM_VIEWERS,
)
from apps.identity.models import DevProviderApplication, IdentityProvider
from apps.identity.selectors.providers import CLIENT_SECRET_PURPOSE
from apps.identity.services.role_mapping import role_mapping_create
from apps.identity.types import DevProviderSeeded

# The demo's role mappings, made with the providers: each development
# tenant's groups give the seeded roles (lowest priority number wins).
DEMO_ROLE_MAPPINGS = {
    CONTOSO.tenant_id: (
        (ANALYTICS_ADMINS, "admin", 10),
        (ANALYTICS_ANALYSTS, "analyst", 20),
        (ANALYTICS_VIEWERS, "viewer", 30),
    ),
    FABRIKAM.tenant_id: ((FABRIKAM_ANALYSTS, "analyst", 20), (FABRIKAM_VIEWERS, "viewer", 30)),
}


class DevProviderSeedError(Exception):
    """The seeding cannot run (a message a person can act on)."""


@transaction.atomic
def dev_application_ensure(
    *,
    client_id: str,
    name: str,
    redirect_uris: list[str],
    client_secret: str | None = None,
    access_token_version: int = DevProviderApplication.AccessTokenVersion.V2,
) -> tuple[object, bool]:
    """The provider's application (an Azure app registration's stand-in) for
    `client_id`: confidential, authorization code (PKCE enforced), RS256, no
    consent screen; its redirect URIs and token version as given (the roots of
    their sites as post-logout redirect URIs), its secret set when one is
    given (stored hashed). Returns (application, created)."""
    application_model = get_application_model()
    application = application_model.objects.filter(client_id=client_id).first()
    created = application is None
    if created:
        application = application_model(client_id=client_id)
    application.name = name
    application.client_type = application_model.CLIENT_CONFIDENTIAL
    application.authorization_grant_type = application_model.GRANT_AUTHORIZATION_CODE
    application.algorithm = application_model.RS256_ALGORITHM
    application.skip_authorization = True
    known = application.redirect_uris.split() if not created else []
    application.redirect_uris = " ".join(dict.fromkeys([*known, *redirect_uris]))
    # After signing out (end session), back to the root of the site of each callback.
    roots = [f"{urlsplit(uri).scheme}://{urlsplit(uri).netloc}/" for uri in redirect_uris]
    known = application.post_logout_redirect_uris.split() if not created else []
    application.post_logout_redirect_uris = " ".join(dict.fromkeys([*known, *roots]))
    if client_secret is not None:
        application.client_secret = client_secret
    application.save()
    DevProviderApplication.objects.update_or_create(
        application=application, defaults={"access_token_version": access_token_version}
    )
    return application, created


@transaction.atomic
def dev_provider_seed(*, client_code: str, base_url: str, redirect_uris: list[str]) -> list[DevProviderSeeded]:
    """Make the client sign in through the development provider: an identity
    provider of kind `development` per development tenant (Contoso, Fabrikam:
    one multi-tenant app registration, as in Azure) unless the client has
    some already, the provider's application for each, and the client secret
    stored encrypted on the providers. Idempotent: a second run changes nothing."""
    client_id = client_id_for_code(code=client_code)
    if client_id is None:
        raise DevProviderSeedError(f"no client with code '{client_code}' (`manage.py demo_bootstrap` creates 'demo')")
    authority = f"{base_url.rstrip('/')}/idp"
    providers = list(IdentityProvider.objects.filter(client_id=client_id, kind=IdentityProvider.Kind.DEVELOPMENT))
    created_providers = set()
    if not providers:
        for tenant in (CONTOSO, FABRIKAM):
            provider = IdentityProvider.objects.create(
                client_id=client_id,
                name=tenant.name,
                kind=IdentityProvider.Kind.DEVELOPMENT,
                authority=authority,
                tenant_id=tenant.tenant_id,
                application_id=DEMO_APPLICATION_ID,
                allowed_domains=[tenant.domain],
            )
            providers.append(provider)
            created_providers.add(provider.pk)
            for group, role, priority in DEMO_ROLE_MAPPINGS[tenant.tenant_id]:
                role_mapping_create(
                    client_id=client_id,
                    provider_id=provider.pk,
                    group_object_id=group.object_id,
                    role_code=role,
                    priority=priority,
                    description=f"demo: {group.display_name} -> {role}",
                )
    seeded = []
    for application_id in dict.fromkeys(provider.application_id for provider in providers):
        sharing = [provider for provider in providers if provider.application_id == application_id]
        exists = get_application_model().objects.filter(client_id=application_id).exists()
        secret = None if exists and all(p.client_secret_encrypted for p in sharing) else secrets.token_urlsafe(48)
        application, created = dev_application_ensure(
            client_id=application_id,
            name=f"{client_code}: {', '.join(p.name for p in sharing)}",
            redirect_uris=redirect_uris,
            client_secret=secret,
        )
        for provider in sharing:
            changed = []
            if provider.authority != authority:
                provider.authority, changed = authority, [*changed, "authority"]
            if secret is not None:
                provider.client_secret_encrypted = secret_encrypt(secret, purpose=CLIENT_SECRET_PURPOSE)
                changed.append("client_secret_encrypted")
            if changed:
                provider.save(update_fields=[*changed, "updated_at"])
            seeded.append(
                DevProviderSeeded(
                    provider_name=provider.name,
                    tenant_id=provider.tenant_id,
                    application_id=application_id,
                    authority=authority,
                    redirect_uris=tuple(application.redirect_uris.split()),
                    created_provider=provider.pk in created_providers,
                    created_application=created,
                    secret_issued=secret is not None,
                )
            )
    return seeded

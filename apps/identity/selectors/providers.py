"""Reads of identity providers: a client's list, one of them, and the one
that signs in an e-mail address (by its domain)."""

from django.db.models import QuerySet

from apps.core.crypto import secret_decrypt
from apps.core.errors import NotFound
from apps.core.secret_fields import secret_purpose
from apps.identity.models import IdentityProvider

CLIENT_SECRET_PURPOSE = secret_purpose(model="identity.IdentityProvider", field="client_secret_encrypted")


def provider_list(*, client_id: int) -> QuerySet[IdentityProvider]:
    return IdentityProvider.objects.filter(client_id=client_id).order_by("name", "pk")


def provider_get(*, client_id: int, provider_id: int | str) -> IdentityProvider:
    """One of the client's providers; another client's (or none) is a 404."""
    if not str(provider_id).isdigit():
        raise NotFound(f"No identity provider {provider_id!r} in this client.")
    provider = IdentityProvider.objects.filter(client_id=client_id, pk=int(provider_id)).first()
    if provider is None:
        raise NotFound(f"No identity provider {provider_id!r} in this client.")
    return provider


def email_domain(email: str) -> str:
    """The lower-cased domain of an address ("" when it has none)."""
    local, at, domain = (email or "").strip().rpartition("@")
    return domain.strip().lower() if at and local else ""


def provider_for_email(*, email: str) -> IdentityProvider | None:
    """The enabled provider (of an active client) whose allowed domains hold
    the address's domain. Domains are unique among enabled providers
    (apps.identity.services.providers), so there is at most one."""
    domain = email_domain(email)
    if not domain:
        return None
    return (
        IdentityProvider.objects.filter(is_enabled=True, client__is_active=True, allowed_domains__contains=[domain])
        .order_by("pk")
        .first()
    )


def provider_for_sign_in(*, provider_id: int | str) -> IdentityProvider | None:
    """An enabled provider of an active client, by id (the login page's `?provider=`)."""
    if not str(provider_id).isdigit():
        return None
    return IdentityProvider.objects.filter(pk=int(provider_id), is_enabled=True, client__is_active=True).first()


def providers_for_tenant(*, tenant_id: str) -> list[IdentityProvider]:
    """Enabled providers of active clients registered for a directory (tenant)."""
    return list(
        IdentityProvider.objects.filter(tenant_id=tenant_id, is_enabled=True, client__is_active=True).order_by("pk")
    )


def provider_client_secret(*, provider: IdentityProvider) -> str:
    """The app registration's client secret in clear ("" when none is stored)."""
    if not provider.client_secret_encrypted:
        return ""
    return secret_decrypt(provider.client_secret_encrypted, purpose=CLIENT_SECRET_PURPOSE)

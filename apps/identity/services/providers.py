"""Writes of identity providers (the API and the admin both come here).

Rules (docs/identity.md, "Identity providers"):
- azure_ad: `tenant_id` and `application_id` are GUIDs.
- `authority` and `graph_base_url` are https URLs; http only for the
  development kind or with DEBUG on.
- `allowed_domains` are lower-cased domain names; among enabled providers a
  domain belongs to one provider only (the login page picks by domain), and
  a clash is a 400 naming the domain.
- the client secret is stored encrypted (apps.core.crypto) and never read back
  through the API.
"""

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.core.advisory_locks import advisory_xact_lock
from apps.core.crypto import secret_encrypt
from apps.core.errors import AppError, Conflict
from apps.identity.models import IdentityProvider
from apps.identity.selectors.providers import CLIENT_SECRET_PURPOSE

GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")
_DOMAINS_LOCK = "identity.provider_domains"
EDITABLE = (
    "name",
    "kind",
    "authority",
    "tenant_id",
    "application_id",
    "allowed_domains",
    "graph_base_url",
    "is_enabled",
)


KINDS = list(IdentityProvider.Kind.choices)  # (value, label) for forms


def _invalid(field: str, message: str) -> AppError:
    return AppError(message, code="invalid", details={field: [message]})


def _url(field: str, value: str, *, kind: str) -> str:
    value = (value or "").strip().rstrip("/")
    parts = urlsplit(value)
    insecure_ok = kind == IdentityProvider.Kind.DEVELOPMENT or settings.DEBUG
    if parts.scheme not in (("https", "http") if insecure_ok else ("https",)) or not parts.hostname:
        rule = "an http(s) URL" if insecure_ok else "an https URL (http only for the development provider)"
        raise _invalid(field, f"{field} must be {rule}, not {value!r}.")
    if parts.query or parts.fragment:
        raise _invalid(field, f"{field} must not carry a query or fragment.")
    return value


def _domains(values: Any) -> list[str]:
    if not isinstance(values, list | tuple):
        raise _invalid("allowed_domains", "allowed_domains must be a list of domain names.")
    domains: list[str] = []
    for raw in values:
        domain = str(raw).strip().lower().rstrip(".")
        if len(domain) > 253 or not DOMAIN.match(domain):
            raise _invalid("allowed_domains", f"{raw!r} is not a domain name (like example.com).")
        if domain not in domains:
            domains.append(domain)
    return domains


def _validate(values: dict[str, Any]) -> dict[str, Any]:
    kind = values["kind"]
    if kind not in IdentityProvider.Kind.values:
        raise _invalid("kind", f"Unknown kind {kind!r}; use one of {', '.join(IdentityProvider.Kind.values)}.")
    if not str(values.get("name") or "").strip():
        raise _invalid("name", "name is required.")
    values["name"] = values["name"].strip()
    for field in ("tenant_id", "application_id"):
        values[field] = str(values.get(field) or "").strip()
        if not values[field]:
            raise _invalid(field, f"{field} is required.")
        if kind == IdentityProvider.Kind.AZURE_AD and not GUID.match(values[field]):
            raise _invalid(field, f"{field} must be a GUID (like 72f988bf-86f1-41af-91ab-2d7cd011db47) for Azure AD.")
    if kind == IdentityProvider.Kind.AZURE_AD:
        values["tenant_id"] = values["tenant_id"].lower()
    values["authority"] = _url("authority", values["authority"], kind=kind)
    values["graph_base_url"] = _url("graph_base_url", values["graph_base_url"], kind=kind)
    values["allowed_domains"] = _domains(values["allowed_domains"])
    return values


def _domains_unclaimed(provider: IdentityProvider) -> None:
    """Refuse a domain another enabled provider already signs in (called
    under the domains lock, so two writes cannot both pass)."""
    if not provider.is_enabled or not provider.allowed_domains:
        return
    others = IdentityProvider.objects.filter(is_enabled=True, allowed_domains__overlap=provider.allowed_domains)
    if provider.pk:
        others = others.exclude(pk=provider.pk)
    for other in others.order_by("pk"):
        taken = sorted(set(other.allowed_domains) & set(provider.allowed_domains))
        owner = "this client" if other.client_id == provider.client_id else "another client"
        message = (
            f"The domain {taken[0]} is already signed in by an enabled identity provider of {owner}; "
            "a domain can belong to one enabled provider only."
        )
        raise AppError(message, code="domain_taken", details={"allowed_domains": [message], "domain": taken[0]})


def identity_provider_check(*, values: dict[str, Any], provider: IdentityProvider | None = None) -> dict[str, Any]:
    """Validate a provider's fields without saving (the admin form's check;
    the save checks again under the lock). Returns the cleaned values."""
    cleaned = _validate(dict(values))
    candidate = IdentityProvider(pk=provider.pk if provider else None, **cleaned)
    if provider is not None:
        candidate.client_id = provider.client_id
    _domains_unclaimed(candidate)
    return cleaned


def _secret_store(provider: IdentityProvider, client_secret: str | None) -> None:
    if client_secret is None:
        return
    provider.client_secret_encrypted = (
        secret_encrypt(client_secret, purpose=CLIENT_SECRET_PURPOSE) if client_secret else ""
    )


def _save(provider: IdentityProvider) -> IdentityProvider:
    with transaction.atomic():
        advisory_xact_lock(_DOMAINS_LOCK)
        _domains_unclaimed(provider)
        try:
            with transaction.atomic():
                provider.save()
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""
            if "tenant" in constraint:
                raise Conflict(
                    f"This client already has a provider for tenant {provider.tenant_id}.", code="tenant_taken"
                ) from None
            raise Conflict(f"This client already has a provider named {provider.name!r}.", code="name_taken") from None
    return provider


def identity_provider_create(
    *,
    client_id: int,
    name: str,
    tenant_id: str,
    application_id: str,
    kind: str = IdentityProvider.Kind.AZURE_AD,
    authority: str = "",
    allowed_domains: list[str] | None = None,
    graph_base_url: str = "",
    is_enabled: bool = True,
    client_secret: str | None = None,
) -> IdentityProvider:
    defaults = {f.name: f.default for f in IdentityProvider._meta.fields if f.name in ("authority", "graph_base_url")}
    values = _validate(
        {
            "name": name,
            "kind": kind,
            "authority": authority or defaults["authority"],
            "tenant_id": tenant_id,
            "application_id": application_id,
            "allowed_domains": allowed_domains or [],
            "graph_base_url": graph_base_url or defaults["graph_base_url"],
            "is_enabled": bool(is_enabled),
        }
    )
    provider = IdentityProvider(client_id=client_id, **values)
    _secret_store(provider, client_secret)
    return _save(provider)


def identity_provider_update(
    *, provider: IdentityProvider, client_secret: str | None = None, **changes: Any
) -> IdentityProvider:
    """Change what is given; `client_secret=""` removes the stored secret,
    None leaves it."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise AppError(f"Unknown field(s): {', '.join(sorted(unknown))}.", code="invalid")
    values = _validate({**{field: getattr(provider, field) for field in EDITABLE}, **changes})
    for field, value in values.items():
        setattr(provider, field, value)
    _secret_store(provider, client_secret)
    return _save(provider)


def identity_provider_delete(*, provider: IdentityProvider) -> None:
    """Remove a provider; its external identities go with it (the users stay,
    and sign in again as new identities if the provider comes back)."""
    provider.delete()

"""A provider's discovery document and signing keys, fetched over HTTP and
cached (Django's cache, Redis).

Endpoints follow Azure AD's layout: the discovery document is at
`{authority}/{tenant_id}/v2.0/.well-known/openid-configuration`; every other
endpoint (authorize, token, keys, end session) comes from it.

Key rotation: a token signed with a `kid` that the cached key set lacks makes
one fresh fetch of the key set (at most one per
IDENTITY_JWKS_REFETCH_MIN_SECONDS per provider, so tokens with made-up `kid`s
cannot turn us into a flood of requests to the provider); a `kid` still
unknown after it is refused.
"""

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.conf import settings
from django.core.cache import cache

from apps.identity.models import IdentityProvider
from apps.identity.types import ProviderUnavailable, SignInRefused

logger = logging.getLogger(__name__)
TENANT_PLACEHOLDER = "{tenantid}"


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str  # may hold "{tenantid}" (Azure's multi-tenant documents)
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str

    def issuer_for(self, tenant_id: str) -> str:
        return self.issuer.replace(TENANT_PLACEHOLDER, tenant_id)


def discovery_url(provider: IdentityProvider) -> str:
    return f"{provider.authority.rstrip('/')}/{provider.tenant_id}/v2.0/.well-known/openid-configuration"


def _key(kind: str, url: str) -> str:
    return f"identity:oidc:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=settings.IDENTITY_OIDC_TIMEOUT_SECONDS)
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("identity provider %s at %s failed: %s", what, url, exc)
        raise ProviderUnavailable(
            f"The identity provider's {what} could not be read ({type(exc).__name__}); try again shortly."
        ) from None
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"The identity provider's {what} is not a JSON object.")
    return body


def provider_metadata(provider: IdentityProvider) -> ProviderMetadata:
    url = discovery_url(provider)
    key = _key("discovery", url)
    document = cache.get(key)
    if document is None:
        document = _get_json(url, "discovery document")
        cache.set(key, document, timeout=settings.IDENTITY_DISCOVERY_CACHE_SECONDS)
    try:
        return ProviderMetadata(
            issuer=document["issuer"],
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            end_session_endpoint=document.get("end_session_endpoint", ""),
        )
    except KeyError as exc:
        cache.delete(key)
        raise ProviderUnavailable(f"The identity provider's discovery document lacks {exc.args[0]!r}.") from None


def _jwks(url: str, *, fresh: bool) -> dict[str, Any]:
    key = _key("jwks", url)
    keys = None if fresh else cache.get(key)
    if keys is None:
        keys = _get_json(url, "signing keys (JWKS)")
        cache.set(key, keys, timeout=settings.IDENTITY_JWKS_CACHE_SECONDS)
    return keys


def _find(keys: dict[str, Any], kid: str) -> dict[str, Any] | None:
    for jwk in keys.get("keys") or []:
        if not (isinstance(jwk, dict) and jwk.get("kid") == kid and jwk.get("kty") == "RSA"):
            continue
        if jwk.get("use", "sig") == "sig" and jwk.get("alg", "RS256") == "RS256":
            return jwk
    return None


def _refetch_allowed(url: str) -> bool:
    interval = settings.IDENTITY_JWKS_REFETCH_MIN_SECONDS
    return interval <= 0 or cache.add(_key("jwks-refetch", url), 1, timeout=interval)


def signing_key(provider: IdentityProvider, kid: str) -> jwt.PyJWK:
    """The provider's RSA signing key `kid`: from the cached key set, else
    from one fresh fetch of it; refused when still unknown."""
    url = provider_metadata(provider).jwks_uri
    jwk = _find(_jwks(url, fresh=False), kid)
    if jwk is None and _refetch_allowed(url):
        jwk = _find(_jwks(url, fresh=True), kid)
    if jwk is None:
        raise SignInRefused(
            "The token is signed with a key the identity provider does not publish; sign in again.",
            code="unknown_signing_key",
        )
    return jwt.PyJWK(jwk, algorithm="RS256")

"""Bearer access tokens a client's identity provider issued for our API
(docs/identity.md, "API access with provider tokens"): told apart from our own
JWTs, verified, and resolved to the user keyed on (tid, oid). One
verification for every path that takes a bearer token: the DRF API
(apps.identity.oidc.drf) and, through core's registry
(apps.core.bearer_tokens), the WebSocket's `?token=`.

Told apart from our own JWTs (HS256, no `tid`) by the unverified header and
claims: an RS256 token with a `kid` and a `tid` claim is a provider's; the
unverified `tid` and `aud` only choose which provider to verify it against,
then everything is verified (apps.identity.oidc.tokens.access_token_verify:
signature, v1 or v2 issuer, tenant, `aud` = application_id or
api://application_id, exp/nbf, `scp` or app `roles`). A person who never
signed in through the console is unknown here and refused.
"""

from typing import Any

import jwt
from django.contrib.auth.base_user import AbstractBaseUser

from apps.core.bearer_tokens import BearerCredential, BearerRefused
from apps.identity.oidc.tokens import access_token_verify
from apps.identity.selectors.providers import providers_for_tenant
from apps.identity.selectors.sign_in import external_identity_user
from apps.identity.types import SignInRefused


def provider_token_claims(token: str) -> dict[str, Any] | None:
    """The unverified claims when the token looks like a provider's, else None."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("tid"), str):
        return None
    if header.get("alg") == "HS256" and "kid" not in header and "iss" not in claims:
        return None  # one of ours
    return claims


def provider_bearer_authenticate(token: str) -> tuple[AbstractBaseUser, dict[str, Any]] | None:
    """(user, verified claims) of a provider's access token; None when the
    token is not a provider's; SignInRefused (its message names why) when it
    is and does not verify or names nobody known here. ProviderUnavailable when
    the provider's keys cannot be read."""
    unverified = provider_token_claims(token)
    if unverified is None:
        return None
    candidates = providers_for_tenant(tenant_id=unverified["tid"])
    if not candidates:
        raise SignInRefused("No identity provider here is registered for this token's tenant.", code="unknown_tenant")
    aud = unverified.get("aud")
    provider = next((p for p in candidates if aud in (p.application_id, f"api://{p.application_id}")), candidates[0])
    claims = access_token_verify(provider=provider, token=token)
    user = external_identity_user(tenant_id=claims["tid"], object_id=claims["oid"])
    if user is None:
        raise SignInRefused(
            "This token's user has not signed in to this platform yet (or was deactivated): "
            "sign in once through the console.",
            code="unknown_user",
        )
    return user, claims


def provider_access_token_credential(token: str) -> BearerCredential | None:
    """Core's bearer verifier (registered in IdentityConfig.ready)."""
    try:
        found = provider_bearer_authenticate(token)
    except SignInRefused as exc:
        raise BearerRefused(exc.message, code=exc.code) from None
    if found is None:
        return None
    user, claims = found
    return BearerCredential(user=user, expires_at=float(claims["exp"]), claims=claims)

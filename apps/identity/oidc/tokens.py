"""Verification of the tokens a provider issues: ID tokens at sign-in and
access tokens presented to the API. Every check mozilla-django-oidc leaves
out for Azure AD is here (docs/identity.md, "What is checked"):

- RS256 only: `alg: none`, HS* (a token "signed" with a public key as an
  HMAC secret) and anything else are refused before any key is looked at;
- the signature, against the provider's published keys (apps.identity.oidc.discovery);
- `tid` is the provider's tenant, and `iss` equals the provider's issuer
  with that tenant in it, compared exactly;
- `aud` is the app registration (`application_id`; for access tokens also
  `api://{application_id}`);
- `exp` and `nbf` with IDENTITY_OIDC_LEEWAY_SECONDS of clock leeway;
- ID tokens: the nonce equals the one stored in the session for this
  sign-in, and a nonce is accepted once only;
- access tokens: the v2 issuer or the v1 one (`https://sts.windows.net/{tid}/`),
  and the required scope (`scp`) or an accepted application role (`roles`).

Claims are read from the verified token only, never from userinfo.
"""

import hashlib
import time
from typing import Any

import jwt
from django.conf import settings
from django.core.cache import cache

from apps.identity.models import IdentityProvider
from apps.identity.oidc.discovery import provider_metadata, signing_key
from apps.identity.types import SignInRefused

ALGORITHM = "RS256"


def _refused(message: str, code: str) -> SignInRefused:
    return SignInRefused(message, code=code)


def unverified_header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _refused("The token is not a well-formed JWT.", "malformed_token") from None
    return header


def _signed_claims(provider: IdentityProvider, token: str, audiences: list[str]) -> dict[str, Any]:
    header = unverified_header(token)
    if header.get("alg") != ALGORITHM:
        raise _refused(
            f"The token's algorithm {header.get('alg')!r} is not accepted; only {ALGORITHM} tokens are.",
            "token_algorithm",
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _refused("The token names no signing key (kid).", "unknown_signing_key")
    key = signing_key(provider, kid)
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audiences,
            leeway=settings.IDENTITY_OIDC_LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud", "tid", "oid"], "verify_iss": False},
        )
    except jwt.InvalidSignatureError:
        raise _refused(
            "The token's signature does not verify: it was not issued by the provider.", "bad_signature"
        ) from None
    except jwt.ExpiredSignatureError:
        raise _refused("The token has expired; sign in again.", "token_expired") from None
    except jwt.ImmatureSignatureError:
        raise _refused("The token is not valid yet (nbf or iat in the future).", "token_not_yet_valid") from None
    except jwt.InvalidAudienceError:
        raise _refused("The token was issued for another application (wrong audience).", "wrong_audience") from None
    except jwt.MissingRequiredClaimError as exc:
        raise _refused(f"The token lacks the {exc.claim!r} claim.", "missing_claim") from None
    except jwt.PyJWTError as exc:
        raise _refused(f"The token could not be verified ({exc}).", "invalid_token") from None


def _tenant_checked(provider: IdentityProvider, claims: dict[str, Any]) -> str:
    tid = claims.get("tid")
    if tid != provider.tenant_id:
        raise _refused("The token comes from another tenant (directory) than this provider's.", "wrong_tenant")
    return tid


def id_token_verify(*, provider: IdentityProvider, token: str, nonce: str | None) -> dict[str, Any]:
    """The verified claims of a sign-in's ID token, or SignInRefused."""
    if not nonce:
        raise _refused("This sign-in has no nonce in the session; start signing in again.", "missing_nonce")
    claims = _signed_claims(provider, token, [provider.application_id])
    tid = _tenant_checked(provider, claims)
    if claims.get("iss") != provider_metadata(provider).issuer_for(tid):
        raise _refused("The token's issuer is not this provider's.", "wrong_issuer")
    if claims.get("nonce") != nonce:
        raise _refused("The token's nonce does not match this sign-in (a replayed token?).", "nonce_mismatch")
    _nonce_consume(provider, nonce, claims)
    return claims


def _nonce_consume(provider: IdentityProvider, nonce: str, claims: dict[str, Any]) -> None:
    """Accept a nonce once: a token presented again (or a sign-in replayed
    with the same state and nonce) is refused. Remembered until the token
    could no longer be accepted anyway."""
    digest = hashlib.sha256(f"{provider.pk}:{nonce}".encode()).hexdigest()
    remaining = int(claims["exp"]) - int(time.time()) + settings.IDENTITY_OIDC_LEEWAY_SECONDS
    if not cache.add(f"identity:oidc:nonce:{digest}", 1, timeout=max(remaining, 60)):
        raise _refused("This sign-in's nonce was used already (a replayed token).", "nonce_replayed")


def access_token_verify(*, provider: IdentityProvider, token: str) -> dict[str, Any]:
    """The verified claims of an access token issued for our API, or SignInRefused."""
    app = provider.application_id
    claims = _signed_claims(provider, token, [app, f"api://{app}"])
    tid = _tenant_checked(provider, claims)
    issuers = {
        provider_metadata(provider).issuer_for(tid),
        f"{settings.IDENTITY_AZURE_V1_ISSUER_BASE.rstrip('/')}/{tid}/",
    }
    if claims.get("iss") not in issuers:
        raise _refused("The token's issuer is not this provider's.", "wrong_issuer")
    scopes = str(claims.get("scp") or "").split()
    roles = claims.get("roles") or []
    accepted_roles = set(settings.IDENTITY_API_APP_ROLES)
    if settings.IDENTITY_API_SCOPE not in scopes and not (isinstance(roles, list) and accepted_roles & set(roles)):
        raise _refused(
            f"The token does not grant this API: it needs the scope {settings.IDENTITY_API_SCOPE!r} "
            "or an accepted application role.",
            "insufficient_scope",
        )
    return claims

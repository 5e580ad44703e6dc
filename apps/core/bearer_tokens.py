"""Bearer tokens other than our own JWTs, for the paths core serves itself
(WebSocket `?token=`, apps.core.ws_auth, and its re-checks in
apps.core.ws_revocation).

Core cannot import the apps that know those tokens (the layers contract), so
they register a verifier from `AppConfig.ready()`; identity registers the one
for access tokens a client's identity provider issued for our API (the same
verification as its DRF bearer authentication):

    bearer_verifier_register(provider_access_token_credential)

A verifier takes the raw token and answers None when the token is not of its
kind (the next verifier, or nobody, is asked), a `BearerCredential` when it
verifies, or raises `BearerRefused` (with the message a person is shown) when
it is of its kind and refused.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from apps.core.errors import AppError


class BearerRefused(AppError):
    """A bearer token of a registered kind that does not verify (forged,
    expired, wrong audience, issuer or tenant, unknown user...)."""

    status_code = 401
    code = "bearer_refused"


@dataclass(frozen=True)
class BearerCredential:
    user: Any  # the active user the token stands for
    expires_at: float  # the token's `exp` (epoch seconds)
    claims: dict[str, Any] = field(default_factory=dict)
    raw: str = field(default="", repr=False)  # the token itself (set by bearer_verify), to verify it again


BearerVerifier = Callable[[str], BearerCredential | None]

_VERIFIERS: list[BearerVerifier] = []


def bearer_verifier_register(verifier: BearerVerifier) -> None:
    """Add a verifier of foreign bearer tokens (idempotent)."""
    if verifier not in _VERIFIERS:
        _VERIFIERS.append(verifier)


def bearer_verify(raw: str) -> BearerCredential | None:
    """The credential of the first registered verifier that knows this token;
    None when none does. Raises BearerRefused when one knows it and refuses it.
    Sync: verifiers read the database and may fetch the provider's keys."""
    for verifier in _VERIFIERS:
        credential = verifier(raw)
        if credential is not None:
            return replace(credential, raw=raw)
    return None

"""DRF authentication for bearer access tokens a client's identity provider
issued for our API (docs/identity.md, "API access with provider tokens").

Told apart from our own JWTs (HS256, no `tid`) by the unverified header and
claims: an RS256 token with a `kid` and a `tid` claim is a provider's; the
unverified `tid` and `aud` only choose which provider to verify it against,
then everything is verified (apps.identity.oidc.tokens.access_token_verify:
signature, v1 or v2 issuer, tenant, `aud` = application_id or
api://application_id, exp/nbf, `scp` or app `roles`). The user is the one
keyed on (tid, oid): a person who never signed in through the console is
unknown here and answered 401. Anything else is left to the next class.
"""

import jwt
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from apps.identity.oidc.tokens import access_token_verify
from apps.identity.selectors.providers import providers_for_tenant
from apps.identity.selectors.sign_in import external_identity_user
from apps.identity.types import SignInRefused


def _provider_token(token: str) -> dict | None:
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


class ProviderBearerAuthentication(BaseAuthentication):
    www_authenticate_realm = "api"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        token = parts[1].decode("latin-1")
        unverified = _provider_token(token)
        if unverified is None:
            return None
        candidates = providers_for_tenant(tenant_id=unverified["tid"])
        if not candidates:
            raise AuthenticationFailed(
                "No identity provider here is registered for this token's tenant.", code="unknown_tenant"
            )
        aud = unverified.get("aud")
        provider = next(
            (p for p in candidates if aud in (p.application_id, f"api://{p.application_id}")), candidates[0]
        )
        try:
            claims = access_token_verify(provider=provider, token=token)
        except SignInRefused as exc:
            raise AuthenticationFailed(exc.message, code=exc.code) from None
        user = external_identity_user(tenant_id=claims["tid"], object_id=claims["oid"])
        if user is None:
            raise AuthenticationFailed(
                "This token's user has not signed in to this platform yet (or was deactivated): "
                "sign in once through the console.",
                code="unknown_user",
            )
        return user, claims

    def authenticate_header(self, request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'

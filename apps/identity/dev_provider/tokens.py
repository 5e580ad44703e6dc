"""Access tokens as JWTs shaped like Azure AD's (django-oauth-toolkit's
ACCESS_TOKEN_GENERATOR; its own are opaque), signed with the provider's key
under the `kid` its JWKS publishes. The application's DevProviderApplication
row picks v1 or v2 (v2 when it has none)."""

import json

from jwcrypto import jwt
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem

from apps.identity.dev_provider.accounts import person_of
from apps.identity.dev_provider.claims import access_token_claims, provider_root
from apps.identity.models import DevProviderApplication


def access_token_version(application) -> int:
    row = DevProviderApplication.objects.filter(application=application).first()
    return row.access_token_version if row else DevProviderApplication.AccessTokenVersion.V2


def token_sign(claims: dict) -> str:
    key = jwk_from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY)
    header = {"typ": "JWT", "alg": "RS256", "kid": key.thumbprint()}
    token = jwt.JWT(header=json.dumps(header), claims=json.dumps(claims))
    token.make_signed_token(key)
    return token.serialize()


def access_token_generate(request) -> str:
    """oauthlib's token generator: `request` is its request (user, client, scopes, uri)."""
    person = person_of(request.user)
    if person is None:
        raise RuntimeError("the development provider issued a token for a user who is not a development identity")
    claims = access_token_claims(
        person,
        client_id=request.client.client_id,
        scopes=list(request.scopes or []),
        root=provider_root(request),
        version=access_token_version(request.client),
        lifetime_seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS,
    )
    return token_sign(claims)

"""Identity settings: sign-in through identity providers, directory sync
from Microsoft Graph and the development OIDC provider (docs/identity.md,
docs/directory-sync.md). Part of the settings in base.py, which imports
everything here; it reads the same environment (base.py has loaded the
checkout's .env by then)."""

import base64

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

# --- Sign-in through identity providers (docs/identity.md, "Settings") ---------
# Clock leeway for exp/nbf of ID and access tokens, and the HTTP timeout of
# every call to a provider (discovery, keys, token endpoint).
IDENTITY_OIDC_LEEWAY_SECONDS = env.int("IDENTITY_OIDC_LEEWAY_SECONDS", default=120)
IDENTITY_OIDC_TIMEOUT_SECONDS = env.float("IDENTITY_OIDC_TIMEOUT_SECONDS", default=10.0)
IDENTITY_OIDC_SCOPES = env("IDENTITY_OIDC_SCOPES", default="openid profile email")
# How long discovery documents and key sets are cached; an unknown `kid`
# refetches the key set at most once per IDENTITY_JWKS_REFETCH_MIN_SECONDS.
IDENTITY_DISCOVERY_CACHE_SECONDS = env.int("IDENTITY_DISCOVERY_CACHE_SECONDS", default=3600)
IDENTITY_JWKS_CACHE_SECONDS = env.int("IDENTITY_JWKS_CACHE_SECONDS", default=3600)
IDENTITY_JWKS_REFETCH_MIN_SECONDS = env.int("IDENTITY_JWKS_REFETCH_MIN_SECONDS", default=10)
# Bearer access tokens for the API: the scope (`scp`) they must carry, or one
# of these application roles (`roles`, app-only tokens); the v1 issuer's base.
IDENTITY_API_SCOPE = env("IDENTITY_API_SCOPE", default="access_as_user")
IDENTITY_API_APP_ROLES = env.list("IDENTITY_API_APP_ROLES", default=["access_as_application"])
IDENTITY_AZURE_V1_ISSUER_BASE = env("IDENTITY_AZURE_V1_ISSUER_BASE", default="https://sts.windows.net")
# Requests per address to every sign-in path (login page posts, /auth/oidc/login/ and callback).
# Generous: a whole office behind one address signs in through it (2-3 requests each).
IDENTITY_SIGN_IN_RATE = env("IDENTITY_SIGN_IN_RATE", default="120/minute")

# --- Directory sync from Microsoft Graph (docs/directory-sync.md) ---------------
# Every enabled Azure AD provider of every active client is synced every
# AE_DIRECTORY_SYNC_INTERVAL_MINUTES (read by celery_app/schedule.py from the
# environment). A Graph call is tried at most AE_GRAPH_MAX_ATTEMPTS times on a
# 429, a 5xx or a connection error; a 429's Retry-After is honoured up to
# AE_GRAPH_RETRY_AFTER_MAX_SECONDS, other retries back off exponentially from
# AE_GRAPH_BACKOFF_BASE_SECONDS to the same cap. An app-only token is reused
# until AE_GRAPH_TOKEN_REFRESH_MARGIN_SECONDS before it expires.
AE_DIRECTORY_SYNC_INTERVAL_MINUTES = env.int("AE_DIRECTORY_SYNC_INTERVAL_MINUTES", default=60)
AE_GRAPH_TIMEOUT_SECONDS = env.float("AE_GRAPH_TIMEOUT_SECONDS", default=30.0)
AE_GRAPH_MAX_ATTEMPTS = env.int("AE_GRAPH_MAX_ATTEMPTS", default=6)
AE_GRAPH_RETRY_AFTER_MAX_SECONDS = env.float("AE_GRAPH_RETRY_AFTER_MAX_SECONDS", default=120.0)
AE_GRAPH_BACKOFF_BASE_SECONDS = env.float("AE_GRAPH_BACKOFF_BASE_SECONDS", default=1.0)
AE_GRAPH_TOKEN_REFRESH_MARGIN_SECONDS = env.int("AE_GRAPH_TOKEN_REFRESH_MARGIN_SECONDS", default=300)

# --- Development OIDC provider (docs/identity.md, "The development provider") ---
# An issuer inside the platform shaped like Azure AD v2 (django-oauth-toolkit),
# under /idp/. Off unless switched on: `make run` and the test settings turn it
# on; a deployment never does (its URLs are then not even routed).
AE_DEV_IDP_ENABLED = env.bool("AE_DEV_IDP_ENABLED", default=False)
# Where browsers and the platform's back channel reach it: `make run` serves it
# on a second daphne process (port IDP_PORT, settings analytics_engine.settings.dev_idp).
AE_DEV_IDP_BASE_URL = env("AE_DEV_IDP_BASE_URL", default="http://127.0.0.1:8001").rstrip("/")
# The demo client's sign-in callback(s), registered as redirect URIs by `manage.py idp_seed`.
AE_DEV_IDP_REDIRECT_URIS = env.list(
    "AE_DEV_IDP_REDIRECT_URIS",
    default=[f"http://{host}:{env('PORT', default='8000')}/auth/oidc/callback/" for host in ("127.0.0.1", "localhost")],
)
# More groups than this and a token carries Azure AD's overage form instead of `groups`.
AE_DEV_IDP_GROUPS_OVERAGE_LIMIT = env.int("AE_DEV_IDP_GROUPS_OVERAGE_LIMIT", default=200)
# Its signing key: a PEM RSA private key, base64-encoded on one line; scripts/env_secrets.py
# writes a fresh one into the checkout's .env (no key is built in, in any mode).
AE_DEV_IDP_RSA_KEY = base64.b64decode(env("AE_DEV_IDP_RSA_KEY", default="")).decode("ascii")
if AE_DEV_IDP_ENABLED and not AE_DEV_IDP_RSA_KEY:
    raise ImproperlyConfigured(
        "AE_DEV_IDP_ENABLED is on but AE_DEV_IDP_RSA_KEY is not set: `python3 scripts/env_secrets.py` writes "
        "a random signing key for the development provider into .env."
    )
# Named (django-oauth-toolkit's default) so identity's migration can refer to it.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": AE_DEV_IDP_RSA_KEY,
    "OAUTH2_VALIDATOR_CLASS": "apps.identity.dev_provider.validator.AzureParityValidator",
    "SCOPES_BACKEND_CLASS": "apps.identity.dev_provider.scopes.AzureScopes",
    # Access tokens are JWTs like Azure AD's (refresh tokens stay opaque).
    "ACCESS_TOKEN_GENERATOR": "apps.identity.dev_provider.tokens.access_token_generate",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "ID_TOKEN_EXPIRE_SECONDS": 3600,
    "PKCE_REQUIRED": True,
    # OAuth 2.0 Security BCP (RFC 9700): authorization code + PKCE (S256) only,
    # no token in a URL, tokens stored hashed, a replayed refresh token revokes its family.
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # RFC 9207: the authorization response names its issuer (the per-tenant one, views.AuthorizeView).
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # Local callbacks are plain http (127.0.0.1:PORT); with the provider off, nothing but https.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"] if AE_DEV_IDP_ENABLED else ["https"],
    "ALLOWED_SCHEMES": ["http", "https"] if AE_DEV_IDP_ENABLED else ["https"],
}

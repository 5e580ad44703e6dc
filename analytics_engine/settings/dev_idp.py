"""Settings of the development provider's own server (`make run`: a second
daphne on IDP_PORT; docs/identity.md, "The development provider"): the
platform's settings, serving only /idp/."""

from analytics_engine.settings.base import *  # noqa: F403

AE_DEV_IDP_ENABLED = True
# Its local callbacks are plain http (base.py allows only https with the provider off).
OAUTH2_PROVIDER = {
    **OAUTH2_PROVIDER,  # noqa: F405
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    "ALLOWED_SCHEMES": ["http", "https"],
}
ROOT_URLCONF = "apps.identity.dev_provider.server_urls"
if not AE_DEV_IDP_RSA_KEY:  # noqa: F405
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("AE_DEV_IDP_RSA_KEY is not set: `python3 scripts/env_secrets.py` writes one into .env.")

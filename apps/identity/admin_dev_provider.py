"""django-oauth-toolkit's own admin pages (applications, access, refresh and ID
tokens, grants) belong to the development provider: shown only when it is on
(AE_DEV_IDP_ENABLED). Off (a deployment's settings), nothing in the admin lists
or edits the provider's tables.

oauth2_provider comes before apps.identity in INSTALLED_APPS, so the admin's
autodiscovery has registered its pages by the time this module runs."""

from django.conf import settings
from django.contrib import admin
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

DEV_PROVIDER_MODELS = (
    get_application_model(),
    get_access_token_model(),
    get_refresh_token_model(),
    get_id_token_model(),
    get_grant_model(),
)

if not settings.AE_DEV_IDP_ENABLED:
    for model in DEV_PROVIDER_MODELS:
        if admin.site.is_registered(model):
            admin.site.unregister(model)

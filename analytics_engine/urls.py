from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from apps.core.urls import path_optional_slash
from apps.core.views import LogoutView
from apps.identity.views import SignInView
from apps.observability.views import health, metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("", include("apps.identity.urls")),
    path_optional_slash("health", health, name="health"),
    path_optional_slash("metrics", metrics, name="metrics"),
    path("api/v1/", include("apps.core.api.urls")),
    path("api/v1/", include("apps.observability.api.urls")),
    path("api/v1/", include("apps.ontology.api.urls")),
    path("api/v1/", include("apps.ontology.api.data_urls")),
    path("api/v1/", include("apps.ontology.api.drift_urls")),
    path("api/v1/", include("apps.ontology.api.artifact_urls")),
    path("api/v1/", include("apps.ontology.api.client_config_urls")),
    path("api/v1/", include("apps.warehouse.api.urls")),
    path("api/v1/", include("apps.calculations.api.urls")),
    path("api/v1/", include("apps.calculations.api.rollup_urls")),
    path("api/v1/", include("apps.calculations.api.threshold_urls")),
    path("api/v1/", include("apps.calculations.api.row_policy_preview_urls")),
    path("api/v1/", include("apps.governance.api.urls")),
    # sources/jobs/ before the other sources/ routes (connections, their files)
    path("api/v1/", include("apps.ingestion.api.urls")),
    path("api/v1/sources/", include("apps.connectors.api.urls")),
    path("api/v1/sources/", include("apps.connectors.api.file_urls")),
    path("api/v1/", include("apps.messaging.api.urls")),
    path("api/v1/", include("apps.simulation.api.urls")),
    path("api/v1/", include("apps.streams.api.urls")),
    path("api/v1/", include("apps.identity.api.roles_urls")),
    path("api/v1/", include("apps.identity.api.providers_urls")),
    path("api/v1/", include("apps.identity.api.directory_urls")),
    path("", include("apps.web.urls")),
]

# The development OIDC provider (docs/identity.md): not even routed unless switched on (never in production).
if settings.AE_DEV_IDP_ENABLED:
    urlpatterns.insert(0, path("idp/", include("apps.identity.dev_provider.urls")))

# Under /api/ these answer the API's JSON error shape; elsewhere Django's pages (apps/core/api/error_pages.py).
handler400 = "apps.core.api.error_pages.bad_request"
handler403 = "apps.core.api.error_pages.permission_denied"
handler404 = "apps.core.api.error_pages.page_not_found"
handler500 = "apps.core.api.error_pages.server_error"

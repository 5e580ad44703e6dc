from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from apps.core.urls import path_optional_slash
from apps.core.views import LogoutView
from apps.observability.views import health, metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path_optional_slash("health", health, name="health"),
    path_optional_slash("metrics", metrics, name="metrics"),
    path("api/v1/", include("apps.core.api.urls")),
    path("api/v1/", include("apps.observability.api.urls")),
    path("api/v1/", include("apps.ontology.api.urls")),
    path("api/v1/", include("apps.ontology.api.data_urls")),
    path("api/v1/", include("apps.ontology.api.drift_urls")),
    path("api/v1/", include("apps.ontology.api.artifact_urls")),
    path("api/v1/", include("apps.warehouse.api.urls")),
    path("api/v1/", include("apps.calculations.api.urls")),
    path("api/v1/", include("apps.calculations.api.rollup_urls")),
    path("api/v1/", include("apps.calculations.api.threshold_urls")),
    path("api/v1/", include("apps.calculations.api.row_policy_preview_urls")),
    path("api/v1/", include("apps.governance.api.urls")),
    path("api/v1/", include("apps.messaging.api.urls")),
    path("api/v1/", include("apps.simulation.api.urls")),
    path("api/v1/", include("apps.streams.api.urls")),
    path("", include("apps.web.urls")),
]

# Under /api/ these answer the API's JSON error shape; elsewhere Django's pages (apps/core/api/error_pages.py).
handler400 = "apps.core.api.error_pages.bad_request"
handler403 = "apps.core.api.error_pages.permission_denied"
handler404 = "apps.core.api.error_pages.page_not_found"
handler500 = "apps.core.api.error_pages.server_error"

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework_simplejwt.views import TokenRefreshView

from apps.core.api.artifact_views import SensitiveArtifactViewSet
from apps.core.api.auth_views import TokenObtainView
from apps.core.api.routers import OptionalSlashRouter
from apps.core.api.views import LogoutView, MeView
from apps.core.urls import path_optional_slash

router = OptionalSlashRouter()
router.register("secure-artifacts", SensitiveArtifactViewSet, basename="secure-artifact")

urlpatterns = [
    *router.urls,
    path_optional_slash("auth/token/", TokenObtainView.as_view(), name="token-obtain"),
    path_optional_slash("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path_optional_slash("auth/logout/", LogoutView.as_view(), name="token-logout"),
    path_optional_slash("me/", MeView.as_view(), name="me"),
    path_optional_slash("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up code as a script of its own (?script), not
    # inline: the Content-Security-Policy allows no inline script.
    path_optional_slash("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]

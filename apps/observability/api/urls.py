from apps.core.urls import path_optional_slash
from apps.observability.api.views import SystemHealthView

urlpatterns = [path_optional_slash("system/health/", SystemHealthView.as_view(), name="system-health")]

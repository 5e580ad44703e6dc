from apps.core.urls import path_optional_slash
from apps.streams.api import views

urlpatterns = [
    path_optional_slash(r"streams/telemetry/current/", views.TelemetryCurrentView.as_view(), name="telemetry-current"),
]

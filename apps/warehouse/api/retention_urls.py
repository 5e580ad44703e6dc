from apps.core.api.routers import OptionalSlashRouter
from apps.core.urls import path_optional_slash
from apps.warehouse.api.retention_views import (
    RetentionJobListView,
    RetentionPolicyViewSet,
    RetentionStatusView,
    TriggerArchivalView,
)

router = OptionalSlashRouter()
router.register("database/retention/policies", RetentionPolicyViewSet, basename="retention-policy")

urlpatterns = [
    path_optional_slash("database/retention/status/", RetentionStatusView.as_view(), name="retention-status"),
    path_optional_slash("database/retention/jobs/", RetentionJobListView.as_view(), name="retention-jobs"),
    path_optional_slash(
        "database/retention/trigger-archival/", TriggerArchivalView.as_view(), name="retention-trigger-archival"
    ),
    *router.urls,
]

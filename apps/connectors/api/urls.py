"""Connection routes under `/api/v1/sources/` (jobs have their own module
in apps/ingestion/api)."""

from apps.connectors.api.views import ConnectionViewSet
from apps.core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("connections", ConnectionViewSet, basename="source-connection")

urlpatterns = router.urls

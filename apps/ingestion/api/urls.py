from apps.core.api.routers import OptionalSlashRouter
from apps.ingestion.api.views import JobViewSet

router = OptionalSlashRouter()
router.register("sources/jobs", JobViewSet, basename="ingestion-job")

urlpatterns = router.urls

from apps.calculations.api.rollup_views import RollupViewSet
from apps.core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("calculations/rollups", RollupViewSet, basename="calculations-rollup")

urlpatterns = router.urls

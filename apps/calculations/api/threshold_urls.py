from apps.calculations.api.threshold_views import ThresholdRuleViewSet
from apps.core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("calculations/threshold-rules", ThresholdRuleViewSet, basename="calculations-threshold-rule")

urlpatterns = router.urls

from apps.core.api.routers import OptionalSlashRouter
from apps.governance.api.views import RowPolicyViewSet

router = OptionalSlashRouter()
router.register("row-policies", RowPolicyViewSet, basename="row-policy")

urlpatterns = router.urls

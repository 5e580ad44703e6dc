from apps.core.api.routers import OptionalSlashRouter
from apps.identity.api.providers_views import IdentityProviderViewSet

router = OptionalSlashRouter()
router.register("identity-providers", IdentityProviderViewSet, basename="identity-provider")

urlpatterns = router.urls

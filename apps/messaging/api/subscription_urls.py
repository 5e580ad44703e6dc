from apps.core.api.routers import OptionalSlashRouter
from apps.messaging.api import subscription_views

router = OptionalSlashRouter()
router.register("messaging/subscriptions", subscription_views.SubscriptionViewSet, basename="messaging-subscription")

urlpatterns = [*router.urls]

from apps.core.api.routers import OptionalSlashRouter
from apps.core.urls import path_optional_slash
from apps.messaging.api import subscription_urls
from apps.messaging.api.views import CommandPublishView, DeadLetterViewSet, EventPublishView

router = OptionalSlashRouter()
router.register("messaging/dead-letters", DeadLetterViewSet, basename="messaging-dead-letter")

urlpatterns = [
    path_optional_slash("messaging/events/", EventPublishView.as_view(), name="messaging-events"),
    # Any type up to the slash: a malformed one answers the API's 400, not the router's 404.
    path_optional_slash(
        r"messaging/commands/(?P<command_type>[^/]+)/", CommandPublishView.as_view(), name="messaging-commands"
    ),
    *router.urls,
]
urlpatterns += subscription_urls.urlpatterns

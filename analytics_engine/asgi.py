"""ASGI entry point: Django HTTP plus Channels WebSockets on /ws/."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_engine.settings.base")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.core.routing import websocket_urlpatterns  # noqa: E402
from apps.core.ws_auth import WebSocketAuthMiddleware  # noqa: E402
from apps.core.ws_server import websocket_fail_cleanly  # noqa: E402

websocket_fail_cleanly()  # a frame over daphne's limit: a close frame with a reason, not a TCP reset

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
